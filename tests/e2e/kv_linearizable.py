"""synod-kv under kill -9 and SIGSTOP, its client history checked for
linearizability (10 s runs are in the default suite; longer ones by hand).

Three processes (or --nodes N) with durable logs (optionally --shards N,
--lease-reads).
Worker threads, each one client at a time, SET unique values and GET a few
keys through any node, following -MOVED; a nemesis kills -9 a node (the
leader half the time) and restarts it, or stops one with SIGSTOP and
continues it, one node at a time. Every operation's invocation and
response times are recorded, and each key's history (a register) is
checked with Wing and Gong's search, Lowe's memoisation of (linearized
set, value) pairs:

- SET answered +OK took effect between its invocation and its reply;
- SET answered -UNKNOWN, timed out or lost its connection may have taken
  effect at any time after its invocation, or never;
- SET answered -MOVED or -TRYAGAIN was never proposed (docs/kv.md): it must
  not take effect, so a GET that returns its value fails the check;
- GET answered a value (or nil) read it at some point between the two.

Run:
  /usr/bin/python3 tests/e2e/kv_linearizable.py --bin build/examples/synod-kv \
      [--seconds 60] [--shards 4] [--lease-reads] [--seed N]
Exits non-zero, naming the key and printing its history around the first
operation no linearization can place, if the history is not linearizable,
or if a node exited by itself.
"""
import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_cluster import Cluster  # noqa: E402
from resp_client import RespClient, RespError  # noqa: E402

INF = float("inf")


class Op:
    __slots__ = ("inv", "res", "kind", "value", "worker")

    def __init__(self, inv, res, kind, value, worker):
        self.inv, self.res, self.kind, self.value, self.worker = inv, res, kind, value, worker

    def __repr__(self):
        res = "?" if self.res == INF else "%.4f" % self.res
        return "%s(%r) w%d [%.4f, %s]" % (self.kind, self.value, self.worker, self.inv, res)


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = {}  # key -> [Op]
        self.refused = {}  # key -> set of values whose SET was refused (MOVED, TRYAGAIN)
        self.counts = {"ok": 0, "indeterminate": 0, "refused": 0, "reads": 0, "read_errors": 0}
        self.errors = []  # what no reply of the protocol explains; fails the run

    def add(self, key, op):
        with self.lock:
            self.ops.setdefault(key, []).append(op)

    def refuse(self, key, value):
        with self.lock:
            self.refused.setdefault(key, set()).add(value)
            self.counts["refused"] += 1

    def error(self, text):
        with self.lock:
            self.errors.append(text)

    def count(self, what):
        with self.lock:
            self.counts[what] += 1


def linearizable(ops):
    """Wing and Gong's search over one register's history, memoised on
    (linearized set, value) as in Lowe's version. Operations with res INF
    may be left out. Returns (True, None) or (False, index of the first
    operation every linearization got stuck before)."""
    ops = sorted(ops, key=lambda o: o.inv)
    n = len(ops)
    must = 0
    for i, o in enumerate(ops):
        if o.res != INF:
            must |= 1 << i
    seen = set()
    stack = [(0, None)]
    deepest = 0
    while stack:
        done, value = stack.pop()
        if done & must == must:
            return True, None
        if (done, value) in seen:
            continue
        seen.add((done, value))
        lo = (~done & (done + 1)).bit_length() - 1  # the first operation not linearized
        deepest = max(deepest, lo)
        # The earliest response among those not linearized: an operation
        # invoked after it cannot come next. Responses follow invocations,
        # so the scan stops at the first invocation past it.
        first_res = INF
        i = lo
        while i < n and ops[i].inv <= first_res:
            if not (done >> i) & 1 and ops[i].res < first_res:
                first_res = ops[i].res
            i += 1
        for j in range(lo, i):
            if (done >> j) & 1 or ops[j].inv > first_res:
                continue
            o = ops[j]
            if o.kind == "get":
                if o.value == value:
                    stack.append((done | 1 << j, value))
            else:
                stack.append((done | 1 << j, o.value))
    return False, deepest


def check_the_checker():
    """The search must refuse what is not linearizable, or the run proves
    nothing: a stale read, and a read that goes back in time."""
    def h(*ops):
        return [Op(inv, res, kind, value, 0) for inv, res, kind, value in ops]
    assert linearizable(h((0, 1, "set", "a"), (2, 3, "get", "a")))[0]
    assert not linearizable(h((0, 1, "set", "a"), (2, 3, "set", "b"), (4, 5, "get", "a")))[0]
    assert linearizable(h((0, INF, "set", "a"), (5, 6, "get", "a"), (7, 8, "get", "a")))[0]
    assert linearizable(h((0, INF, "set", "a"), (5, 6, "get", None)))[0]
    assert not linearizable(h((0, 10, "set", "a"), (1, 2, "get", "a"), (3, 4, "get", None)))[0]
    assert not linearizable(h((0, 1, "set", "a"), (2, 3, "get", "b")))[0]


class Nodes:
    """Where each worker sends: a connection per node, opened lazily."""

    def __init__(self, cluster, timeout):
        self.cluster, self.timeout = cluster, timeout
        self.conns = {}
        self.by_port = {cluster.client_port[i]: i for i in cluster.ids}

    def get(self, i):
        if i not in self.conns:
            self.conns[i] = self.cluster.connect(i, self.timeout)
        return self.conns[i]

    def drop(self, i):
        c = self.conns.pop(i, None)
        if c:
            try:
                c.close()
            except OSError:
                pass


def moved_target(nodes, text):
    # "MOVED <slot> <host>:<port>"
    try:
        return nodes.by_port.get(int(text.split()[2].rsplit(":", 1)[1]))
    except (IndexError, ValueError):
        return None


def worker(w, cluster, keys, history, stop, rng):
    try:
        work(w, cluster, keys, history, stop, rng)
    except Exception as e:  # a worker that died would thin the run silently
        history.error("worker %d stopped: %r" % (w, e))


def work(w, cluster, keys, history, stop, rng):
    nodes = Nodes(cluster, timeout=2.0)
    # Where each key was last found led (with --shards, keys on different
    # shards have different leaders), as a cluster client keeps a slot map.
    targets = {key: rng.choice(cluster.ids) for key in keys}
    seq = 0
    while not stop.is_set():
        key = rng.choice(keys)
        target = targets[key]
        write = rng.random() < 0.5
        seq += 1
        value = "w%d-%d" % (w, seq)
        inv = time.monotonic()
        try:
            conn = nodes.get(target)
            reply = conn.call("SET", key, value) if write else conn.call("GET", key)
            res = time.monotonic()
            if write and reply != "OK":
                history.error("SET %s %s answered %r" % (key, value, reply))
                history.add(key, Op(inv, INF, "set", value, w))
            elif write:
                history.add(key, Op(inv, res, "set", value, w))
                history.count("ok")
            else:
                history.add(key, Op(inv, res, "get", reply, w))
                history.count("reads")
        except RespError as e:
            text = e.text
            if text.startswith("MOVED") or text.startswith("TRYAGAIN"):
                if write:
                    history.refuse(key, value)
                if text.startswith("MOVED"):
                    targets[key] = moved_target(nodes, text) or rng.choice(cluster.ids)
                else:
                    time.sleep(0.02)
            elif write:  # -UNKNOWN and anything else: it may be applied
                history.add(key, Op(inv, INF, "set", value, w))
                history.count("indeterminate")
            else:
                history.count("read_errors")
                time.sleep(0.02)
        except (OSError, ConnectionError):
            if write:
                history.add(key, Op(inv, INF, "set", value, w))
                history.count("indeterminate")
            else:
                history.count("read_errors")
            nodes.drop(target)
            targets[key] = rng.choice(cluster.ids)
            time.sleep(0.05)
    for i in list(nodes.conns):
        nodes.drop(i)


def final_read(cluster, key, history):
    """One GET of key, following -MOVED, recorded; False if none answered."""
    by_port = {cluster.client_port[i]: i for i in cluster.ids}
    target = cluster.ids[0]
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            conn = cluster.connect(target, 2.0)
            try:
                inv = time.monotonic()
                reply = conn.call("GET", key)
                history.add(key, Op(inv, time.monotonic(), "get", reply, -1))
                return True
            finally:
                conn.close()
        except RespError as e:
            if e.text.startswith("MOVED"):
                target = by_port.get(int(e.text.split()[2].rsplit(":", 1)[1]), target)
            else:
                time.sleep(0.1)
        except (OSError, ConnectionError):
            target = cluster.ids[(cluster.ids.index(target) + 1) % len(cluster.ids)]
            time.sleep(0.1)
    return False


def a_leader(cluster, timeout):
    """A node that leads (with --shards, one that leads a shard), or None."""
    end = time.time() + timeout
    while time.time() < end:
        for i in cluster.ids:
            if cluster.procs[i].poll() is not None:
                continue
            inf = cluster.info(i) or {}
            if inf.get("synod_role") == "leader" or int(inf.get("shards_led", 0) or 0) > 0:
                return i
        time.sleep(0.05)
    return None


def nemesis(cluster, stop, rng, log):
    while not stop.wait(rng.uniform(1.5, 3.0)):
        leader = a_leader(cluster, timeout=1.0)
        victim = leader if leader and rng.random() < 0.5 else rng.choice(cluster.ids)
        proc = cluster.procs[victim]
        if rng.random() < 0.5:
            log.append("%.1f kill -9 node %d%s" % (time.monotonic(), victim,
                                                     " (leader)" if victim == leader else ""))
            cluster.kill(victim)
            stop.wait(rng.uniform(0.5, 2.0))
            cluster.start(victim)
        else:
            log.append("%.1f SIGSTOP node %d%s" % (time.monotonic(), victim,
                                                     " (leader)" if victim == leader else ""))
            proc.send_signal(signal.SIGSTOP)
            stop.wait(rng.uniform(0.5, 3.0))
            proc.send_signal(signal.SIGCONT)
        stop.wait(1.0)  # the cluster settles before the next fault


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--keys", type=int, default=12)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--nodes", type=int, default=3, choices=range(3, 10))
    ap.add_argument("--lease-reads", action="store_true")
    ap.add_argument("--tls", action="store_true",
                    help="peer links over mutual TLS (certificates made by scripts/make-certs.sh)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--base-port", type=int, default=27400)
    args = ap.parse_args()
    check_the_checker()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    workdir = tempfile.mkdtemp(prefix="synod-kv-lin-")
    extra = ["--election-ticks", "50"]
    if args.shards > 1:
        extra += ["--shards", str(args.shards)]
    if args.lease_reads:
        extra += ["--lease-reads"]
    script = os.path.join(workdir, "synod-kv-wrapped")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexec %s \"$@\" %s\n" % (os.path.abspath(args.bin), " ".join(extra)))
    os.chmod(script, 0o755)
    tls_dir = None
    if args.tls:
        tls_dir = os.path.join(workdir, "pki")
        make_certs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                                  "make-certs.sh")
        subprocess.run(["bash", make_certs, tls_dir, "1"] + [str(i) for i in range(1, args.nodes + 1)],
                       check=True, stdout=subprocess.DEVNULL)
    cluster = Cluster(script, args.base_port, workdir, nodes=args.nodes, tls_dir=tls_dir)
    print("seed %d, %s%s, work dir %s" % (seed, " ".join(extra), ", peer TLS" if args.tls else "",
                                           workdir))
    for i in cluster.ids:
        cluster.start(i)
    try:
        failed = run(args, rng, cluster)
    finally:
        for i in cluster.ids:  # whatever still runs, stopped or not
            if cluster.procs[i].poll() is None:
                cluster.procs[i].send_signal(signal.SIGCONT)
        cluster.stop_all()
    if cluster.unexpected_exits:
        print("nodes exited by themselves: %s\n%s" % (cluster.unexpected_exits, cluster.log_tails()))
        failed = True
    if failed:
        print("FAIL (seed %d, logs in %s)" % (seed, workdir))
        sys.exit(1)
    print("PASS")


def run(args, rng, cluster):
    """The workload, the faults and the check; True if the check failed."""
    if not a_leader(cluster, timeout=15):
        print("no leader within 15 s:\n" + cluster.log_tails())
        return True
    time.sleep(1.0)

    keys = ["lin%d" % k for k in range(args.keys)]
    history = History()
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(w, cluster, keys, history, stop,
                                                     random.Random(rng.random())))
               for w in range(args.workers)]
    faults = []
    nem = threading.Thread(target=nemesis, args=(cluster, stop, random.Random(rng.random()), faults))
    for t in threads + [nem]:
        t.start()
    time.sleep(args.seconds)
    stop.set()
    for t in threads + [nem]:
        t.join()
    for i in cluster.ids:  # the nemesis restarted what it killed; continue what it stopped
        cluster.procs[i].send_signal(signal.SIGCONT)
    cluster.check_alive()
    failed_reads = False
    # Final reads, after the faults, so the last writes are checked too.
    for key in keys:
        if not final_read(cluster, key, history):
            print("%s: no final read within 20 s" % key)
            failed_reads = True

    print("faults: " + "; ".join(f.split(" ", 1)[1] for f in faults))
    print("operations: %s" % history.counts)
    failed = failed_reads
    for e in history.errors[:10]:
        print("client error: " + e)
    failed = failed or bool(history.errors)
    for key in keys:
        ops = history.ops.get(key, [])
        refused = history.refused.get(key, set())
        bad = [o for o in ops if o.kind == "get" and o.value in refused]
        if bad:
            print("%s: a refused SET (MOVED/TRYAGAIN) took effect: %s" % (key, bad[:3]))
            failed = True
            continue
        # A SET of unknown outcome whose value nobody read can be left out
        # of any linearization (a later write or no read at all follows it),
        # so only the observed ones stay, which keeps the search small.
        read = {o.value for o in ops if o.kind == "get"}
        ops = [o for o in ops if o.kind == "get" or o.res != INF or o.value in read]
        ok, stuck = linearizable(ops)
        if not ok:
            ordered = sorted(ops, key=lambda o: o.inv)
            print("%s: NOT linearizable; stuck at operation %d of %d:" % (key, stuck, len(ops)))
            for o in ordered[max(0, stuck - 10):stuck + 10]:
                print("    %r" % o)
            failed = True
    if not failed:
        print("linearizable: %d keys, %d operations checked" %
              (len(keys), sum(len(v) for v in history.ops.values())))
    return failed


if __name__ == "__main__":
    main()
