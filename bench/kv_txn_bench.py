#!/usr/bin/env python3
"""MULTI/EXEC throughput against plain SET on a 3-process synod-kv cluster
on loopback (issue 14, docs/benchmarks.md "synod-kv transactions").

  python3 bench/kv_txn_bench.py --bin build/examples/synod-kv [--memory] [--seconds S]

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
from kv_bench import KvCluster, wait_port  # noqa: E402

VALUE = b"v" * 256


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def batch(kind, conn_id):
    """(request bytes, reply length, SETs in it)."""
    if kind == "set":
        req = b"".join(command(b"SET", b"k%d.%d" % (conn_id, i), VALUE) for i in range(16))
        return req, 16 * len(b"+OK\r\n"), 16
    parts, reply = [], 0
    for t in range(4):
        parts.append(command(b"MULTI"))
        for i in range(4):
            parts.append(command(b"SET", b"k%d.%d" % (conn_id, 4 * t + i), VALUE))
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


def latency(port, n=500):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    one = b"".join([command(b"MULTI")] + [command(b"SET", b"lat.%d" % i, VALUE) for i in range(4)]
                   + [command(b"EXEC")])
    want = len(b"+OK\r\n") + 4 * len(b"+QUEUED\r\n") + len(b"*4\r\n") + 4 * len(b"+OK\r\n")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(one)
        got = 0
        while got < want:
            got += len(s.recv(65536))
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
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="synod-kv-txn-bench-")
    cluster = KvCluster(os.path.abspath(args.bin), workdir, args.base_port, args.memory)
    try:
        for port in cluster.client.values():
            if not wait_port(port):
                raise RuntimeError("synod-kv did not listen on %d" % port)
        leader = cluster.stable_leader()
        if leader is None:
            raise RuntimeError("no stable leader (logs in %s)" % workdir)
        port = cluster.client[leader]
        run(port, "set", args.connections, 1.0)  # warm up
        rates = {}
        for kind in ("set", "multi", "set", "multi"):
            rate = run(port, kind, args.connections, args.seconds)
            rates.setdefault(kind, []).append(rate)
            print("%-6s %10.0f SETs/s  (load %.2f)" % (kind, rate, os.getloadavg()[0]), flush=True)
        best = {k: max(v) for k, v in rates.items()}
        print("multi/set per SET: %.2f (best of 2 runs each, %s logs, %d connections)"
              % (best["multi"] / best["set"], "memory" if args.memory else "durable", args.connections))
        p50, p99 = latency(port)
        print("one-client MULTI + 4 SET + EXEC latency: p50 %.0f us, p99 %.0f us" % (p50, p99))
        s = socket.create_connection(("127.0.0.1", port))
        times = []
        for i in range(500):
            t0 = time.perf_counter()
            s.sendall(command(b"SET", b"lat.set", VALUE))
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
