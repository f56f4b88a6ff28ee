"""Runs a local 3-process synod-kv cluster on loopback under a concurrent
client workload, kills the leader (kill -9) midway and a follower later,
restarts both, and checks that no acknowledged write is lost and that every
replica converges to identical data.

  python3 tests/e2e/kv_cluster.py --bin build/examples/synod-kv [--demo]

--demo prints the story for people; without it the output is terse and the
exit status says whether every check held.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from resp_client import RespClient, RespError, info  # noqa: E402


class Cluster:
    def __init__(self, binary, base_port, workdir, memory=False):
        self.binary, self.workdir, self.memory = binary, workdir, memory
        self.ids = [1, 2, 3]
        self.peer_port = {i: base_port + i for i in self.ids}
        self.client_port = {i: base_port + 10 + i for i in self.ids}
        self.procs = {}

    def start(self, i):
        peers = ",".join("%d=127.0.0.1:%d" % (j, self.peer_port[j]) for j in self.ids)
        clients = ",".join("%d=127.0.0.1:%d" % (j, self.client_port[j]) for j in self.ids)
        cmd = [self.binary, "--id", str(i), "--peers", peers, "--clients", clients,
               "--listen", "127.0.0.1:%d" % self.client_port[i]]
        cmd += ["--memory"] if self.memory else ["--data-dir", os.path.join(self.workdir, "node%d" % i)]
        log = open(os.path.join(self.workdir, "node%d.log" % i), "a")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log)

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()

    def leader(self, timeout=10.0):
        end = time.time() + timeout
        while time.time() < end:
            for i in self.ids:
                if self.procs[i].poll() is None:
                    inf = info(self.client_port[i])
                    if inf and inf.get("synod_role") == "leader":
                        return i
            time.sleep(0.05)
        return None


class Workload:
    """Clients writing unique keys; each remembers what was acknowledged."""

    def __init__(self, cluster, clients):
        self.cluster, self.clients = cluster, clients
        self.acked, self.unknown, self.errors = {}, 0, 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(c,)) for c in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def run(self, client):
        seq, port, conn = 0, None, None
        while not self.stop.is_set():
            try:
                if conn is None:
                    port = self.cluster.client_port[self.cluster.leader(2.0) or 1]
                    conn = RespClient(port, timeout=3.0)
                key, val = "k%d.%d" % (client, seq), "v%d" % seq
                seq += 1
                # Pipelined pairs: the write, then a read of it.
                conn.send("SET", key, val)
                conn.send("GET", key)
                ok, got = conn.read(), None
                try:
                    got = conn.read()
                except RespError:
                    pass
                with self.lock:
                    self.acked[key] = val
                    if ok != "OK" or (got is not None and got != val):
                        self.errors += 1
            except RespError as e:
                with self.lock:
                    if e.text.startswith("UNKNOWN"):
                        self.unknown += 1
                conn = self.reconnect(conn)
            except (OSError, ConnectionError):
                conn = self.reconnect(conn)

    @staticmethod
    def reconnect(conn):
        if conn is not None:
            conn.close()
        time.sleep(0.02)
        return None


def converge(cluster, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        infos = [info(cluster.client_port[i]) for i in cluster.ids]
        if all(infos):
            applied = {x["applied_index"] for x in infos}
            digests = {x["digest"] for x in infos}
            if len(applied) == 1 and len(digests) == 1:
                return infos
        time.sleep(0.1)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--base-port", type=int, default=17100 + (os.getpid() % 200) * 30)
    ap.add_argument("--demo", action="store_true")
    args = ap.parse_args()
    say = print if args.demo else (lambda *a: None)
    workdir = tempfile.mkdtemp(prefix="synod-e2e-")
    cluster = Cluster(os.path.abspath(args.bin), args.base_port, workdir)
    failures = []
    try:
        for i in cluster.ids:
            cluster.start(i)
        first = cluster.leader()
        if first is None:
            raise SystemExit("no leader elected; logs in " + workdir)
        say("3 synod-kv processes up; leader is node %d" % first)
        work = Workload(cluster, args.clients)
        t0 = time.time()
        work.start()
        time.sleep(args.seconds / 3)
        before = len(work.acked)
        say("%d writes acknowledged; kill -9 of leader node %d" % (before, first))
        t_kill = time.time()
        cluster.kill(first)
        second = cluster.leader()
        say("new leader: node %s after %.2f s" % (second, time.time() - t_kill))
        time.sleep(args.seconds / 3)
        cluster.start(first)
        follower = next(i for i in cluster.ids if i not in (first, second))
        say("restarted node %d; kill -9 of follower node %d" % (first, follower))
        cluster.kill(follower)
        time.sleep(args.seconds / 6)
        cluster.start(follower)
        time.sleep(args.seconds / 6)
        work.finish()
        elapsed = time.time() - t0
        say("%d writes acknowledged in %.1f s (%.0f writes/s, each followed by a read); "
            "%d outcomes unknown" % (len(work.acked), elapsed, len(work.acked) / elapsed, work.unknown))
        infos = converge(cluster)
        if infos is None:
            failures.append("replicas did not converge")
        else:
            for i, x in zip(cluster.ids, infos):
                say("node %d: %-8s applied=%s keys=%s digest=%s" % (
                    i, x["synod_role"], x["applied_index"], x["keys"], x["digest"]))
        leader = cluster.leader()
        c = RespClient(cluster.client_port[leader])
        lost = [k for k, v in work.acked.items() if c.call("GET", k) != v]
        c.close()
        if lost:
            failures.append("%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:3]))
        if work.errors:
            failures.append("%d wrong replies" % work.errors)
        if len(work.acked) < 100:
            failures.append("only %d writes acknowledged" % len(work.acked))
        say("all %d acknowledged writes present on every replica" % len(work.acked)
            if not failures else "FAILED: " + "; ".join(failures))
        if args.demo and not failures and shutil.which("redis-benchmark"):
            port = cluster.client_port[cluster.leader()]
            say("redis-benchmark -t set,get -P 16 -n 200000 against the leader (port %d):" % port)
            out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set,get", "-P", "16",
                                  "-n", "200000", "-q"], capture_output=True, text=True, timeout=120)
            for line in out.stdout.replace("\r", "\n").splitlines():
                if "requests per second" in line:
                    say("  " + line.strip())
    finally:
        cluster.stop_all()
    if failures:
        print("kv cluster e2e FAILED: " + "; ".join(failures) + " (logs in %s)" % workdir)
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("kv cluster e2e: ok (%d acknowledged writes kept across kill -9 of leader and follower)"
          % len(work.acked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
