#!/usr/bin/env python3
"""MULTI/EXEC throughput against plain SET on a 3-process synod-kv cluster
on loopback (issue 14, docs/benchmarks.md "synod-kv transactions").

  python3 bench/kv_txn_bench.py --bin build/examples/synod-kv [--memory] [--seconds S]
                                [--shards N]

One client process, one thread, many connections (selectors), each sending
pipelined batches of prebuilt requests and counting reply bytes (every
reply here has a known length), so the client spends little CPU per
command. Workloads, 256-byte values:
  set      16 SETs per batch
  multi    4 transactions per batch, each MULTI, 4 SETs, EXEC (16 SETs)
Prints SETs/s for each and the ratio multi/set; a transaction is one log
entry holding its 4 SETs, so the ratio says what MULTI/EXEC costs per
command. A single-shard transaction's latency is printed too (one
connection, one transaction at a time, p50 and p99).

--shards N (N > 1) starts the cluster with --shards N and puts every key in
shard 1 (a {hash tag} whose slot shard 1 holds), sent to shard 1's leader:
the same figures for one shard of a sharded cluster, the other shards idle.
With --two-shard-latency, only the latency: one client's MULTI + 4 SETs +
EXEC with every key in shard 1, then with two keys in shard 1 and two in
shard 2 (a cross-shard transaction through the commit protocol, docs/kv.md),
p50 and p99 of each and the ratio of the p50s (issue 14: at most 3).
"""
import argparse
import os
import selectors
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_bench import KvCluster, info, wait_port  # noqa: E402

VALUE = b"v" * 256
TAG = b""  # with --shards: "{tag}" putting every key in shard 1


def crc16(data):
    """CRC16/XMODEM, Redis Cluster's key hash (examples/kv/hash_slot.h)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tag_for_shard(shards, shard=0):
    """A hash tag whose slot lies in the 0-based shard's range of SlotMap
    (contiguous ranges, the first ones one slot longer)."""
    base, extra = divmod(16384, shards)
    first = shard * base + min(shard, extra)
    last = first + base + (1 if shard < extra else 0) - 1
    for n in range(100000):
        t = b"s%d" % n
        if first <= crc16(t) % 16384 <= last:
            return b"{" + t + b"}"
    raise RuntimeError("no tag found")


def shard_leader(cluster, timeout=20.0):
    """The node leading shard 1, once every node agrees for a second."""
    end, last, since = time.time() + timeout, None, None
    while time.time() < end:
        seen = set()
        for i in cluster.ids:
            x = info(cluster.client[i]) or {}
            fields = dict(kv.split("=") for kv in x.get("shard1", "leader=0").split(","))
            seen.add(int(fields["leader"]))
        now = seen.pop() if len(seen) == 1 else 0
        if now and now == last and time.time() - since >= 1.0:
            return now
        if now != last:
            last, since = now, time.time()
        time.sleep(0.1)
    return None


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def batch(kind, conn_id):
    """(request bytes, reply length, SETs in it)."""
    if kind == "set":
        req = b"".join(command(b"SET", TAG + b"k%d.%d" % (conn_id, i), VALUE) for i in range(16))
        return req, 16 * len(b"+OK\r\n"), 16
    parts, reply = [], 0
    for t in range(4):
        parts.append(command(b"MULTI"))
        for i in range(4):
            parts.append(command(b"SET", TAG + b"k%d.%d" % (conn_id, 4 * t + i), VALUE))
        parts.append(command(b"EXEC"))
        reply += len(b"+OK\r\n") + 4 * len(b"+QUEUED\r\n") + len(b"*4\r\n") + 4 * len(b"+OK\r\n")
    return b"".join(parts), reply, 16


def run(port, kind, connections, seconds):
    sel = selectors.DefaultSelector()
    state = {}
    for c in range(connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req, reply, sets = batch(kind, c)
        s.sendall(req)
        s.setblocking(False)
        state[s] = [req, reply, 0]
        sel.register(s, selectors.EVENT_READ)
    done_sets, start = 0, time.time()
    end = start + seconds
    while time.time() < end:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            st = state[s]
            data = s.recv(1 << 20)
            if not data:
                raise RuntimeError("server closed a connection")
            if data[:1] == b"-":
                raise RuntimeError("error reply: %r" % data[:200])
            st[2] += len(data)
            while st[2] >= st[1]:
                st[2] -= st[1]
                done_sets += 16
                s.sendall(st[0])
    took = time.time() - start
    for s in state:
        sel.unregister(s)
        s.close()
    return done_sets / took


def latency(port, n=500, tags=None):
    """One client, one MULTI + 4 SETs + EXEC at a time: p50 and p99 in us.
    The SETs' keys take the tags in turn (two tags of two shards: a
    cross-shard transaction, the first key's shard coordinating)."""
    tags = tags or [TAG]
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    one = b"".join([command(b"MULTI")]
                   + [command(b"SET", tags[i % len(tags)] + b"lat.%d" % i, VALUE) for i in range(4)]
                   + [command(b"EXEC")])
    want = len(b"+OK\r\n") + 4 * len(b"+QUEUED\r\n") + len(b"*4\r\n") + 4 * len(b"+OK\r\n")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(one)
        got = b""
        while len(got) < want:
            got += s.recv(65536)
            if b"-" in got[:1] or b"\r\n-" in got:
                raise RuntimeError("error reply: %r" % got[:200])
        times.append(time.perf_counter() - t0)
    s.close()
    times.sort()
    return times[len(times) // 2] * 1e6, times[len(times) * 99 // 100] * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/examples/synod-kv")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--base-port", type=int, default=27700)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--two-shard-latency", action="store_true",
                    help="with --shards N > 1: only single-shard vs two-shard MULTI/EXEC latency")
    args = ap.parse_args()
    if args.two_shard_latency and args.shards < 2:
        ap.error("--two-shard-latency needs --shards 2 or more")
    global TAG
    workdir = tempfile.mkdtemp(prefix="synod-kv-txn-bench-")
    extra = ["--shards", str(args.shards)] if args.shards > 1 else []
    cluster = KvCluster(os.path.abspath(args.bin), workdir, args.base_port, args.memory, extra)
    try:
        for port in cluster.client.values():
            if not wait_port(port):
                raise RuntimeError("synod-kv did not listen on %d" % port)
        if args.shards > 1:
            TAG = tag_for_shard(args.shards)
            time.sleep(4)  # GroupHost's balancing settles the leaders (every 3 s)
            leader = shard_leader(cluster)
        else:
            leader = cluster.stable_leader()
        if leader is None:
            raise RuntimeError("no stable leader (logs in %s)" % workdir)
        port = cluster.client[leader]
        if args.two_shard_latency:
            # Shard 2 led by another node: the commit protocol's messages
            # cross the network (GroupHost spreads the leaders).
            two = [TAG, tag_for_shard(args.shards, 1)]
            latency(port, 100)
            latency(port, 100, two)  # warm up both paths
            for _ in range(2):
                p50, p99 = latency(port, 1000)
                print("single-shard MULTI + 4 SET + EXEC: p50 %.0f us, p99 %.0f us  (load %.2f)"
                      % (p50, p99, os.getloadavg()[0]), flush=True)
                q50, q99 = latency(port, 1000, two)
                print("two-shard    MULTI + 4 SET + EXEC: p50 %.0f us, p99 %.0f us  (load %.2f)"
                      % (q50, q99, os.getloadavg()[0]), flush=True)
                print("two-shard / single-shard p50: %.2f (target <= 3)" % (q50 / p50), flush=True)
            x = info(port) or {}
            print("coordinator node: txn_committed %s, txn_aborted %s, shard2 %s" % (
                x.get("txn_committed"), x.get("txn_aborted"), x.get("shard2")))
            return
        run(port, "set", args.connections, 1.0)  # warm up
        rates = {}
        for kind in ("set", "multi", "set", "multi"):
            rate = run(port, kind, args.connections, args.seconds)
            rates.setdefault(kind, []).append(rate)
            print("%-6s %10.0f SETs/s  (load %.2f)" % (kind, rate, os.getloadavg()[0]), flush=True)
        best = {k: max(v) for k, v in rates.items()}
        print("multi/set per SET: %.2f (best of 2 runs each, %s logs, %d connections, %s)"
              % (best["multi"] / best["set"], "memory" if args.memory else "durable", args.connections,
                 "one group" if args.shards == 1 else "shard 1 of %d" % args.shards))
        p50, p99 = latency(port)
        print("one-client MULTI + 4 SET + EXEC latency: p50 %.0f us, p99 %.0f us" % (p50, p99))
        s = socket.create_connection(("127.0.0.1", port))
        times = []
        for i in range(500):
            t0 = time.perf_counter()
            s.sendall(command(b"SET", TAG + b"lat.set", VALUE))
            s.recv(64)
            times.append(time.perf_counter() - t0)
        s.close()
        times.sort()
        print("one-client SET latency: p50 %.0f us, p99 %.0f us"
              % (times[len(times) // 2] * 1e6, times[len(times) * 99 // 100] * 1e6))
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
