"""Leadership stays put under load: a local 3-process synod-kv cluster with
default settings, redis-benchmark against the leader, and INFO polled on the
leader ten times a second. Asserts that no node saw a leader change or
started an election after the first leader was elected, and that no client
got an error; prints the throughput, INFO latency and the loop stalls every
node counted (docs/kv.md, "Staying leader under load").

  python3 tests/e2e/kv_soak.py --bin build/examples/synod-kv            # 60 s
  python3 tests/e2e/kv_soak.py --bin build/examples/synod-kv --seconds 5

The workload is `redis-benchmark -t set,get -d 256 -c 50 -P 16`, run in
rounds of --requests until --seconds have passed; --keyspace N adds -r N
(N random keys, so the key space and the snapshots grow).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_cluster import Cluster  # noqa: E402
from resp_client import RespClient  # noqa: E402

COUNTERS = ("elections_started", "leader_changes", "loop_stalls", "longest_stall_ms")


def parse_info(text):
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v
    return fields


class InfoPoller(threading.Thread):
    """INFO (every section) on one node, `hz` times a second, on one
    connection; records each answer's latency and any error."""

    def __init__(self, cluster, node, hz):
        super().__init__(daemon=True)
        self.cluster, self.node, self.period = cluster, node, 1.0 / hz
        self.latencies, self.errors = [], []
        self.done = threading.Event()

    def run(self):
        try:
            conn = self.cluster.connect(self.node, timeout=10.0)
        except OSError as e:
            self.errors.append("connect: %s" % e)
            return
        while not self.done.is_set():
            t0 = time.time()
            try:
                reply = conn.call("INFO")
                text = reply.decode() if isinstance(reply, bytes) else str(reply)
                if "leader_changes" not in text:
                    self.errors.append("INFO without leader_changes: %r" % text[:200])
            except Exception as e:  # noqa: BLE001 - any failure is a client error here
                self.errors.append("INFO: %s" % e)
                return
            self.latencies.append(time.time() - t0)
            self.done.wait(max(0.0, self.period - (time.time() - t0)))
        conn.close()


def benchmark_round(host, port, requests, keyspace, timeout):
    cmd = ["redis-benchmark", "-h", host, "-p", str(port), "-t", "set,get", "-d", "256",
           "-c", "50", "-P", "16", "-n", str(requests), "-q"]
    if keyspace:
        cmd += ["-r", str(keyspace)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [x.strip() for x in (out.stdout + out.stderr).replace("\r", "\n").splitlines() if x.strip()]
    rps = {}
    for x in lines:
        # "SET: 123456.79 requests per second, p50=..."
        if "requests per second" in x:
            name, rest = x.split(":", 1)
            rps[name] = float(rest.split()[0])
    errors = [x for x in lines if "error" in x.lower() or "MOVED" in x or "TRYAGAIN" in x]
    if out.returncode != 0 and not errors:
        errors.append("redis-benchmark exited with status %d" % out.returncode)
    if not errors and set(rps) != {"SET", "GET"}:
        errors.append("redis-benchmark printed no SET and GET figures: %s" % " | ".join(lines[-3:]))
    return rps, errors


def counters(cluster):
    out = {}
    for i in cluster.ids:
        x = cluster.info(i)
        out[i] = {k: int(x[k]) for k in COUNTERS} if x and all(k in x for k in COUNTERS) else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--requests", type=int, default=100000, help="requests per benchmark round")
    ap.add_argument("--keyspace", type=int, default=0, help="redis-benchmark -r (0: one key)")
    ap.add_argument("--info-hz", type=float, default=10.0)
    ap.add_argument("--base-port", type=int, default=19100 + (os.getpid() % 200) * 30)
    args = ap.parse_args()
    if not shutil.which("redis-benchmark"):
        print("kv soak FAILED: redis-benchmark not found (scripts/install-deps.sh installs redis-tools)")
        return 1
    workdir = tempfile.mkdtemp(prefix="synod-soak-")
    cluster = Cluster(os.path.abspath(args.bin), args.base_port, workdir)
    failures = []
    t0 = time.time()
    try:
        for i in cluster.ids:
            cluster.start(i)
        leader = cluster.leader(timeout=20.0)
        if leader is None:
            failures.append("no leader within 20 s")
            raise RuntimeError
        # The first election is over once every node knows the leader.
        end = time.time() + 10
        while time.time() < end:
            if all((cluster.info(i) or {}).get("leader_id") == str(leader) for i in cluster.ids):
                break
            time.sleep(0.05)
        before = counters(cluster)
        poller = InfoPoller(cluster, leader, args.info_hz)
        poller.start()
        rounds, rps_sum, bench_errors = 0, {"SET": 0.0, "GET": 0.0}, []
        start = time.time()
        while time.time() - start < args.seconds and not bench_errors:
            rps, errs = benchmark_round(cluster.host[leader], cluster.client_port[leader],
                                        args.requests, args.keyspace, timeout=args.seconds + 120)
            bench_errors += errs
            if not errs:
                rounds += 1
                for k in rps_sum:
                    rps_sum[k] += rps[k]
        elapsed = time.time() - start
        poller.done.set()
        poller.join(timeout=15)
        after = counters(cluster)
        cluster.check_alive()
        for i, code in cluster.unexpected_exits:
            failures.append("node %d exited by itself (%s)" % (i, code))
        failures += ["client: " + e for e in bench_errors[:5]]
        failures += ["INFO poller: " + e for e in poller.errors[:5]]
        for i in cluster.ids:
            if before[i] is None or after[i] is None:
                failures.append("node %d answered no INFO counters" % i)
                continue
            for k in ("leader_changes", "elections_started"):
                if after[i][k] != before[i][k]:
                    failures.append("node %d: %s went from %d to %d" % (i, k, before[i][k], after[i][k]))
        lat = sorted(poller.latencies)
        print("kv soak: %.0f s, %d benchmark rounds of %d requests (-t set,get -d 256 -c 50 -P 16%s)"
              % (elapsed, rounds, args.requests, " -r %d" % args.keyspace if args.keyspace else ""))
        if rounds:
            print("  mean of rounds: SET %.0f requests/s, GET %.0f requests/s"
                  % (rps_sum["SET"] / rounds, rps_sum["GET"] / rounds))
        if lat:
            print("  INFO on the leader: %d answered, median %.1f ms, max %.1f ms"
                  % (len(lat), 1000 * lat[len(lat) // 2], 1000 * lat[-1]))
        for i in cluster.ids:
            if before[i] and after[i]:
                print("  node %d%s: leader_changes %d, elections_started %d, loop_stalls %d, longest_stall_ms %d"
                      % (i, " (leader)" if i == leader else "",
                         after[i]["leader_changes"] - before[i]["leader_changes"],
                         after[i]["elections_started"] - before[i]["elections_started"],
                         after[i]["loop_stalls"] - before[i]["loop_stalls"], after[i]["longest_stall_ms"]))
    except RuntimeError:
        pass
    finally:
        cluster.stop_all()
    if failures:
        print("kv soak FAILED after %.1f s:" % (time.time() - t0))
        for f in failures:
            print("  " + f)
        print("logs kept in %s\n%s" % (workdir, cluster.log_tails()))
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("kv soak: ok, no leader change, no election, no client error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
