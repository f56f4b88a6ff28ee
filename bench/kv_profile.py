#!/usr/bin/env python3
"""Instructions per command of each synod-kv process, under callgrind
(issue 15, docs/benchmarks.md "synod-kv").

  python3 bench/kv_profile.py --bin build/examples/synod-kv [--workload set16|get16|set1]
                              [--requests N] [--memory] [--keep DIR] [--cache-sim]

CPU time per command swings by 2x with the load of this shared machine;
instruction counts do not. This starts the same 3-process cluster as
kv_bench.py but each process under `valgrind --tool=callgrind` (with a long
election timeout, since callgrind runs ~50x slower), waits for a stable
leader, runs the workload once to fill the key space (--warmup), zeroes the counters, runs redis-benchmark against the leader, waits
until every replica has applied what the leader committed, and dumps the
counters. It prints instructions (user space only: system calls and the
kernel are not counted) per command for the leader and each follower, and
keeps the callgrind files for callgrind_annotate in --keep DIR.

The figures depend on batch sizes, which callgrind's slowness changes (the
slower the processes, the larger each round): compare runs of this script
with each other, not with kv_bench.py.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from kv_bench import KvCluster, wait_port  # noqa: E402
from resp_client import info  # noqa: E402

WORKLOADS = {
    "set16": ["-t", "set", "-d", "256", "-c", "50", "-P", "16"],
    "get16": ["-t", "get", "-d", "256", "-c", "50", "-P", "16"],
    "set1": ["-t", "set", "-d", "256", "-c", "50"],
}


def callgrind_totals(path):
    """The totals of one callgrind dump, by event name (Ir; with
    --cache-sim also D1mr, DLmr, ...)."""
    events = ["Ir"]
    with open(path) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            m = re.match(r"(?:summary|totals):\s+([\d ]+)", line)
            if m:
                return dict(zip(events, (int(v) for v in m.group(1).split())))
    raise RuntimeError("no total in " + path)


def callgrind_total(path):
    """The Ir total of one callgrind dump."""
    return callgrind_totals(path)["Ir"]


def applied(cluster, i):
    x = info(cluster.client[i]) or {}
    return int(x.get("applied_index", -1)), int(x.get("commit_index", -1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/examples/synod-kv")
    ap.add_argument("--workload", default="set16", choices=sorted(WORKLOADS))
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--warmup", type=int, default=100000,
                    help="requests of the same workload run before counting, so SETs overwrite keys as in a long run")
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--base-port", type=int, default=27600)
    ap.add_argument("--keep", help="directory to keep the callgrind dumps in")
    ap.add_argument("--cache-sim", action="store_true",
                    help="also simulate the caches (callgrind --cache-sim=yes) and print data cache "
                         "misses per command: first level (D1) and last level (DL), reads and writes")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="kv_profile.")
    out = os.path.join(workdir, "callgrind.out.%p")
    wrapper = os.path.join(workdir, "under_callgrind.sh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind %s--callgrind-out-file=%s %s \"$@\"\n"
                % ("--cache-sim=yes " if args.cache_sim else "", out, os.path.abspath(args.bin)))
    os.chmod(wrapper, 0o755)
    # Ticks of 10 ms, elections after 20 s: callgrind's slowness and the
    # machine's load never cost the leadership.
    cluster = KvCluster(wrapper, workdir, args.base_port, args.memory, extra=["--election-ticks", "2000"])
    ok = False
    try:
        for port in cluster.client.values():
            if not wait_port(port, timeout=60):
                raise RuntimeError("synod-kv did not listen on %d (logs in %s)" % (port, workdir))
        leader = cluster.stable_leader(hold=1.0, timeout=120)
        if leader is None:
            raise RuntimeError("no stable leader (logs in %s)" % workdir)
        # The valgrind process is the wrapper's pid (exec).
        pids = {i: p.pid for i, p in cluster.procs.items()}
        changes0 = cluster.leader_changes()
        if args.warmup:
            subprocess.run(["redis-benchmark", "-p", str(cluster.client[leader]), "-n", str(args.warmup),
                            "-r", "100000", "-q"] + WORKLOADS[args.workload],
                           check=True, capture_output=True, timeout=1800)
        subprocess.run(["callgrind_control", "-z"] + [str(p) for p in pids.values()], check=True,
                       capture_output=True)
        t0 = time.time()
        subprocess.run(["redis-benchmark", "-p", str(cluster.client[leader]), "-n", str(args.requests),
                        "-r", "100000", "-q"] + WORKLOADS[args.workload],
                       check=True, capture_output=True, timeout=1800)
        elapsed = time.time() - t0
        # Every replica applies what was committed before its counters stop.
        end = time.time() + 120
        while time.time() < end:
            target = applied(cluster, leader)[1]
            if all(applied(cluster, i)[0] >= target for i in cluster.ids):
                break
            time.sleep(0.5)
        for f in glob.glob(os.path.join(workdir, "callgrind.out.*")):
            os.remove(f)
        subprocess.run(["callgrind_control", "-d"] + [str(p) for p in pids.values()], check=True,
                       capture_output=True)
        changes = cluster.leader_changes() - changes0
        print("workload %s, %d requests, %s logs, %.1f s under callgrind, leader changes %d, load %s" % (
            args.workload, args.requests, "memory" if args.memory else "durable", elapsed, changes,
            open("/proc/loadavg").read().split()[0]))
        for i in cluster.ids:
            dumps = glob.glob(os.path.join(workdir, "callgrind.out.%d.*" % pids[i]))
            totals = [callgrind_totals(d) for d in dumps]
            total = sum(t["Ir"] for t in totals)
            role = "leader" if i == leader else "follower"
            line = "node %d %-8s %10.0f instructions per command" % (i, role, total / args.requests)
            if args.cache_sim:
                per = {e: sum(t.get(e, 0) for t in totals) / args.requests
                       for e in ("D1mr", "D1mw", "DLmr", "DLmw")}
                line += ", data misses per command: D1 %.1f read %.1f write, LL %.1f read %.1f write" % (
                    per["D1mr"], per["D1mw"], per["DLmr"], per["DLmw"])
            print(line)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                for d in dumps:
                    shutil.copy(d, os.path.join(args.keep, "%s-%d.%s" % (role, i, os.path.basename(d))))
        ok = True
    finally:
        cluster.stop()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("logs kept in", workdir, file=sys.stderr)


if __name__ == "__main__":
    main()
