"""Runs a local 3-process synod-kv cluster on loopback under a concurrent
client workload and checks, after every fault, that no acknowledged write is
lost and that every replica converges to identical data (same applied_index
and digest in INFO).

  python3 tests/e2e/kv_cluster.py --bin build/examples/synod-kv [--demo]
  python3 tests/e2e/kv_cluster.py --bin build/examples/synod-kv --scenario memory

--scenario durable (the default): durable logs in --data-dir. kill -9 of the
leader midway and of a follower later, both restarted; then kill -9 of all
three processes at once under load, all restarted on the same data dirs.

--scenario memory: every process runs with --memory. kill -9 of a follower,
restarted with --memory (it lost everything): it must report synod_role
"rejoining", then vote again as follower or leader, catch up and converge.
The same then for the leader.

--scenario leader: kill -9 of the leader and its restart only (what
tests/e2e/netns_cluster.sh runs by default over emulated links).

--scenario single: a one-node cluster (durable log), killed with -9 under
load three times and restarted on its data dir. Its leader syncs each
batch on its loop (UvHostOptions::sole_voter_syncs_on_loop): a write
answered must be there after the restart. (kill -9 keeps the page cache, so
this checks that answers follow the log write and that recovery finds it,
not the fdatasync; tests/storage's fault file system covers lost syncs.)

--hosts H1,H2,H3 puts node i on address Hi (same ports on every node), and
--netns PREFIX starts node i under `ip netns exec PREFIXi`; the script itself
must then run where those addresses are reachable (netns_cluster.sh runs it
inside a client namespace).

--tls runs the peer links over mutual TLS, with a CA and node certificates
made for the run by scripts/make-certs.sh (docs/security.md).

--demo prints the story for people; without it the output is terse and the
exit status says whether every check held. A failure names the phase, the
check, and examples; the node logs are kept and their tails printed.
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
    """Three (or `nodes`) synod-kv processes. By default all on 127.0.0.1 with distinct
    ports; with hosts (one address per node) each node uses base_port + 1
    for consensus and base_port + 11 for clients on its own address, and
    wrap(i) gives the command prefix that runs node i (ip netns exec ...)."""

    def __init__(self, binary, base_port, workdir, memory=False, hosts=None, wrap=None, tls_dir=None,
                 nodes=3):
        self.binary, self.workdir, self.memory = binary, workdir, memory
        self.tls_dir = tls_dir  # peer mTLS with the certificates of scripts/make-certs.sh
        self.ids = list(range(1, nodes + 1))  # at most 9: client ports follow the peer ports
        self.host = {i: hosts[i - 1] if hosts else "127.0.0.1" for i in self.ids}
        self.peer_port = {i: base_port + (1 if hosts else i) for i in self.ids}
        self.client_port = {i: base_port + (11 if hosts else 10 + i) for i in self.ids}
        self.wrap = wrap or (lambda i: [])
        self.procs = {}
        self.starts = {i: 0 for i in self.ids}
        self.killed = set()  # processes this script killed or stopped
        self.unexpected_exits = []  # (node, status) of processes that died by themselves

    def start(self, i):
        peers = ",".join("%d=%s:%d" % (j, self.host[j], self.peer_port[j]) for j in self.ids)
        clients = ",".join("%d=%s:%d" % (j, self.host[j], self.client_port[j]) for j in self.ids)
        cmd = self.wrap(i) + [self.binary, "--id", str(i), "--peers", peers, "--clients", clients,
                              "--listen", "%s:%d" % (self.host[i], self.client_port[i])]
        cmd += ["--memory"] if self.memory else ["--data-dir", self.data_dir(i)]
        if self.host[i] != "127.0.0.1":
            # Clients come from another namespace: not loopback (docs/kv.md).
            cmd += ["--protected-mode", "no"]
        if self.tls_dir:
            cmd += ["--tls-cert", os.path.join(self.tls_dir, "node%d.crt" % i),
                    "--tls-key", os.path.join(self.tls_dir, "node%d.key" % i),
                    "--tls-ca", os.path.join(self.tls_dir, "ca.crt")]
        self.starts[i] += 1
        log = open(self.log_path(i), "a")
        log.write("=== start %d of node %d: %s\n" % (self.starts[i], i, " ".join(cmd)))
        log.flush()
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log)
        log.close()

    def info(self, i):
        return info(self.client_port[i], self.host[i])

    def connect(self, i, timeout):
        return RespClient(self.client_port[i], host=self.host[i], timeout=timeout)

    def data_dir(self, i):
        return os.path.join(self.workdir, "node%d" % i)

    def log_path(self, i):
        return os.path.join(self.workdir, "node%d.log" % i)

    def check_alive(self):
        """Records processes that exited although nobody killed them."""
        for i, p in self.procs.items():
            if p not in self.killed and p.poll() is not None:
                self.killed.add(p)
                self.unexpected_exits.append((i, p.returncode))

    def kill(self, i):
        self.check_alive()
        self.killed.add(self.procs[i])
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def kill_all(self):
        """kill -9 of every process at once: all signals go out before any wait."""
        self.check_alive()
        for p in self.procs.values():
            self.killed.add(p)
            p.send_signal(signal.SIGKILL)
        for p in self.procs.values():
            p.wait()

    def stop_all(self):
        """SIGTERM to every live process; a clean stop exits with status 0."""
        self.check_alive()
        live = {i: p for i, p in self.procs.items() if p.poll() is None}
        for p in live.values():
            self.killed.add(p)
            p.send_signal(signal.SIGTERM)
        for i, p in live.items():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.unexpected_exits.append((i, "still running 5 s after SIGTERM"))
                continue
            if p.returncode not in (0, -signal.SIGTERM):
                self.unexpected_exits.append((i, "%s on SIGTERM" % p.returncode))

    def leader(self, timeout=10.0):
        end = time.time() + timeout
        while time.time() < end:
            for i in self.ids:
                if i in self.procs and self.procs[i].poll() is None:
                    inf = self.info(i)
                    if inf and inf.get("synod_role") == "leader":
                        return i
            time.sleep(0.05)
        return None

    def log_tails(self, lines=8):
        out = []
        for i in self.ids:
            try:
                with open(self.log_path(i), errors="replace") as f:
                    tail = f.read().splitlines()[-lines:]
            except OSError:
                tail = ["(no log)"]
            out.append("--- node %d (%s), last %d lines:" % (i, self.log_path(i), len(tail)))
            out += ["    " + t for t in tail]
        return "\n".join(out)


class Workload:
    """Clients writing unique keys, each write followed by a pipelined read of
    it on the same connection. A write counts as acknowledged once its reply
    is +OK; -UNKNOWN replies and dropped connections are not acknowledged.

    The first incr_clients clients instead INCR one shared counter: every
    acknowledged INCR must return a distinct value, larger than that
    client's previous one, and the counter must end between the number of
    acknowledged INCRs and that plus the INCRs whose outcome is unknown (a
    command applied twice, or lost, shows up here)."""

    def __init__(self, cluster, clients, prefix, incr_clients=0, counter="ctr"):
        self.cluster, self.clients, self.prefix = cluster, clients, prefix
        self.incr_clients, self.counter = incr_clients, counter
        self.acked, self.unknown, self.errors = {}, 0, []
        self.incr_values, self.incr_uncertain = [], 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(c,))
                        for c in range(clients + incr_clients)]
        # Leader discovery as a Redis client does it: follow -MOVED, else try
        # the next node. No INFO polling (INFO costs the server O(keys)).
        self.hint, self.next_node = None, 0
        self.by_address = {"%s:%d" % (cluster.host[i], cluster.client_port[i]): i for i in cluster.ids}

    def connect(self):
        with self.lock:
            node = self.hint
            if node is None:
                self.next_node += 1
                node = self.cluster.ids[self.next_node % len(self.cluster.ids)]
        try:
            return node, self.cluster.connect(node, timeout=3.0)
        except OSError:
            # The caller's `node` is still the previous one: forget a hint
            # that names this dead node here, or every client keeps dialing it.
            self.redirected(node, "")
            raise

    def redirected(self, node, text):
        """-MOVED names the leader; anything else (no leader yet, rejoining,
        busy, a dead node): forget the hint and try the next node."""
        with self.lock:
            moved = self.by_address.get(text.split()[-1]) if text.startswith("MOVED") else None
            if moved is not None:
                self.hint = moved
            elif self.hint == node:
                self.hint = None

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()

    def count(self):
        with self.lock:
            return len(self.acked)

    def run(self, client):
        if client < self.incr_clients:
            return self.run_incr(client)
        seq, conn, node = 0, None, None
        while not self.stop.is_set():
            try:
                if conn is None:
                    node, conn = self.connect()
                key, val = "%s.k%d.%d" % (self.prefix, client, seq), "v%d" % seq
                seq += 1
                conn.send("SET", key, val)
                conn.send("GET", key)
                ok = conn.read()
                if ok != "OK":
                    with self.lock:
                        self.errors.append("SET %s answered %r" % (key, ok))
                    conn = self.reconnect(conn)
                    continue
                with self.lock:
                    self.acked[key] = val
                try:
                    got = conn.read()
                except RespError:
                    continue  # the read may fail over; the write stands
                if got != val:
                    with self.lock:
                        self.errors.append("GET %s right after its SET gave %r, not %r" % (key, got, val))
            except RespError as e:
                with self.lock:
                    if e.text.startswith("UNKNOWN"):
                        self.unknown += 1
                self.redirected(node, e.text)
                conn = self.reconnect(conn)
            except (OSError, ConnectionError):
                self.redirected(node, "")
                conn = self.reconnect(conn)
        if conn is not None:
            conn.close()

    def run_incr(self, client):
        last, conn, node = 0, None, None
        while not self.stop.is_set():
            sent = False
            try:
                if conn is None:
                    node, conn = self.connect()
                conn.send("INCR", self.counter)
                sent = True
                value = conn.read()
                with self.lock:
                    self.incr_values.append(value)
                    if not isinstance(value, int) or value <= last:
                        self.errors.append("INCR %s by client %d answered %r after %r" % (
                            self.counter, client, value, last))
                if isinstance(value, int):
                    last = value
            except RespError as e:
                with self.lock:
                    # -MOVED, -TRYAGAIN, -BUSY: never proposed. -UNKNOWN: maybe applied.
                    if e.text.startswith("UNKNOWN"):
                        self.unknown += 1
                        self.incr_uncertain += 1
                self.redirected(node, e.text)
                conn = self.reconnect(conn)
            except (OSError, ConnectionError):
                if sent:
                    with self.lock:
                        self.incr_uncertain += 1  # sent, no answer: maybe applied
                self.redirected(node, "")
                conn = self.reconnect(conn)
        if conn is not None:
            conn.close()

    @staticmethod
    def reconnect(conn):
        if conn is not None:
            conn.close()
        time.sleep(0.02)
        return None


def converge(cluster, timeout=20.0):
    """(infos, None) once every replica reports the same applied_index and
    digest; (None, description of the last disagreement) on timeout."""
    end, last = time.time() + timeout, "no replica answered INFO"
    while time.time() < end:
        infos = [cluster.info(i) for i in cluster.ids]
        if all(infos):
            applied = {x["applied_index"] for x in infos}
            digests = {x["digest"] for x in infos}
            if len(applied) == 1 and len(digests) == 1:
                return infos, None
        last = "; ".join("node %d: %s" % (i, "no answer" if not x else "%s applied=%s commit=%s keys=%s digest=%s" % (
            x.get("synod_role"), x.get("applied_index"), x.get("commit_index"), x.get("keys"), x.get("digest")))
            for i, x in zip(cluster.ids, infos))
        time.sleep(0.1)
    return None, last


def missing_writes(cluster, acked, timeout=30.0, batch=500):
    """Reads every acknowledged key back through the leader, pipelined in
    batches. Returns (lost, unread): keys whose value differs, and keys that
    could not be read at all before the timeout."""
    keys, lost = sorted(acked), []
    end, conn = time.time() + timeout, None
    pos = 0
    while pos < len(keys) and time.time() < end:
        chunk = keys[pos:pos + batch]
        try:
            if conn is None:
                leader = cluster.leader(5.0)
                if leader is None:
                    continue
                conn = cluster.connect(leader, timeout=5.0)
            for k in chunk:
                conn.send("GET", k)
            replies, failed = [], False
            for _ in chunk:
                try:
                    replies.append(conn.read())
                except RespError:
                    failed = True  # -MOVED or -UNKNOWN: read the rest, then retry the batch
            if failed:
                conn = Workload.reconnect(conn)
                continue
        except (OSError, ConnectionError):
            conn = Workload.reconnect(conn)
            continue
        lost += [(k, acked[k], got) for k, got in zip(chunk, replies) if got != acked[k]]
        pos += len(chunk)
    if conn is not None:
        conn.close()
    return lost, keys[pos:]


def watch_rejoin(cluster, node, timeout=20.0):
    """Polls INFO of a node just restarted with empty storage. Returns the
    distinct synod_role values it reported, in order, until it reports
    follower or leader (or the timeout), and the seconds that took."""
    t0, seen = time.time(), []
    while time.time() - t0 < timeout:
        inf = cluster.info(node)
        role = inf.get("synod_role") if inf else None
        if role and (not seen or seen[-1] != role):
            seen.append(role)
        if role in ("follower", "leader"):
            break
        time.sleep(0.005)
    return seen, time.time() - t0


class Run:
    """The phases share one Run: the cluster, every acknowledged write so
    far, and the failures, each tagged with its phase."""

    def __init__(self, cluster, args, say):
        self.cluster, self.args, self.say = cluster, args, say
        self.acked, self.unknown, self.failures = {}, 0, []
        self.incr_values, self.incr_uncertain = [], 0
        self.phase = "start-up"

    def fail(self, what):
        self.failures.append("[%s] %s" % (self.phase, what))
        self.say("  FAILED: " + what)

    def absorb(self, work):
        self.acked.update(work.acked)
        self.unknown += work.unknown
        self.incr_values += work.incr_values
        self.incr_uncertain += work.incr_uncertain
        for e in work.errors[:5]:
            self.fail("wrong reply: " + e)
        if len(work.errors) > 5:
            self.fail("%d more wrong replies" % (len(work.errors) - 5))

    def workload(self, prefix):
        return Workload(self.cluster, self.args.clients, "%s%d" % (prefix, os.getpid()),
                        incr_clients=self.args.incr_clients).start()

    def report_exits(self):
        for i, status in self.cluster.unexpected_exits:
            self.fail("node %d exited by itself with status %s" % (i, status))
        self.cluster.unexpected_exits = []

    def leader_or_die(self, why):
        leader = self.cluster.leader()
        if leader is None:
            self.fail("no leader elected " + why)
            raise PhaseAbort()
        return leader

    def new_leader(self, work, since):
        """The leader elected after a kill, or the phase ends in failure."""
        leader = self.cluster.leader()
        if leader is None:
            work.finish()
            self.absorb(work)
            self.fail("no new leader within 10 s of the kill")
            raise PhaseAbort()
        self.say("new leader: node %d after %.2f s" % (leader, time.time() - since))
        return leader

    def check(self, min_new=0, new=0):
        """Convergence, then every acknowledged write read back."""
        self.cluster.check_alive()
        self.report_exits()
        infos, why = converge(self.cluster)
        if infos is None:
            self.fail("replicas did not converge within 20 s: " + why)
        else:
            for i, x in zip(self.cluster.ids, infos):
                self.say("  node %d: %-9s applied=%s keys=%s digest=%s" % (
                    i, x["synod_role"], x["applied_index"], x["keys"], x["digest"]))
        t0 = time.time()
        lost, unread = missing_writes(self.cluster, self.acked)
        if lost:
            self.fail("%d of %d acknowledged writes lost or changed, e.g. %s" % (
                len(lost), len(self.acked),
                ", ".join("%s: wrote %r, read %r" % x for x in lost[:3])))
        if unread:
            self.fail("%d acknowledged writes could not be read back (no leader answered), e.g. %s"
                      % (len(unread), unread[:3]))
        self.check_counter()
        if new < min_new:
            self.fail("only %d writes acknowledged in this phase (expected at least %d)" % (new, min_new))
        if not lost and not unread:
            self.say("  all %d acknowledged writes so far read back from the leader (%.1f s)"
                     % (len(self.acked), time.time() - t0))


    def check_counter(self):
        """The shared INCR counter: distinct answers, and a final value that
        counts every acknowledged INCR once and nothing else but unknowns."""
        if not self.incr_values:
            return
        dups = len(self.incr_values) - len(set(self.incr_values))
        if dups:
            self.fail("%d INCR answers repeated a value another INCR got" % dups)
        lo, hi = len(self.incr_values), len(self.incr_values) + self.incr_uncertain
        final, end = None, time.time() + 10
        while final is None and time.time() < end:
            try:
                conn = self.cluster.connect(self.cluster.leader(5.0) or 1, timeout=5.0)
                final = conn.call("GET", "ctr")
                conn.close()
            except (OSError, ConnectionError, RespError):
                time.sleep(0.1)
        if final is None:
            self.fail("could not read the INCR counter")
        elif not lo <= int(final) <= hi:
            self.fail("INCR counter is %s; expected between %d acknowledged INCRs and %d "
                      "(with the %d whose outcome is unknown)" % (final, lo, hi, self.incr_uncertain))
        else:
            self.say("  INCR counter %s: %d acknowledged INCRs, %d unknown, no value given twice"
                     % (final, lo, self.incr_uncertain))


class PhaseAbort(Exception):
    pass


def durable_scenario(run):
    c, args, say = run.cluster, run.args, run.say
    run.phase = "kill -9 of leader, then of a follower"
    first = run.leader_or_die("at start-up")
    say("3 synod-kv processes up (durable logs); leader is node %d" % first)
    work = run.workload("a")
    t0 = time.time()
    time.sleep(args.seconds / 3)
    say("%d writes acknowledged; kill -9 of leader node %d" % (work.count(), first))
    t_kill = time.time()
    c.kill(first)
    second = run.new_leader(work, t_kill)
    time.sleep(args.seconds / 3)
    c.start(first)
    follower = next(i for i in c.ids if i not in (first, second))
    say("restarted node %d; kill -9 of follower node %d" % (first, follower))
    c.kill(follower)
    time.sleep(args.seconds / 6)
    c.start(follower)
    say("restarted node %d" % follower)
    time.sleep(args.seconds / 6)
    work.finish()
    elapsed = time.time() - t0
    run.absorb(work)
    say("%d writes acknowledged in %.1f s (%.0f writes/s, each followed by a read); "
        "%d -UNKNOWN replies" % (len(work.acked), elapsed, len(work.acked) / elapsed, work.unknown))
    run.check(min_new=100, new=len(work.acked))

    run.phase = "kill -9 of all three at once, restart on the same data dirs"
    work = run.workload("b")
    time.sleep(args.seconds / 4)
    n = work.count()
    c.kill_all()
    say("kill -9 of all three processes at once with %d writes of this phase acknowledged" % n)
    time.sleep(0.3)
    t_restart = time.time()
    for i in c.ids:
        c.start(i)
    leader = c.leader(15.0)
    if leader is None:
        work.finish()
        run.absorb(work)
        run.fail("no leader within 15 s of restarting all three")
        raise PhaseAbort()
    say("all three restarted; node %d leads after %.2f s" % (leader, time.time() - t_restart))
    time.sleep(args.seconds / 6)
    work.finish()
    run.absorb(work)
    say("%d writes acknowledged in this phase (%d before the kill)" % (len(work.acked), n))
    for i in c.ids:
        with open(c.log_path(i), errors="replace") as f:
            for line in f:
                if "torn tail" in line:
                    say("  node %d %s" % (i, line.strip()))
    run.check(min_new=50, new=len(work.acked))


def leader_scenario(run):
    c, args, say = run.cluster, run.args, run.say
    run.phase = "kill -9 of the leader, restart"
    first = run.leader_or_die("at start-up")
    say("3 synod-kv processes up (durable logs); leader is node %d" % first)
    work = run.workload("l")
    t0 = time.time()
    time.sleep(args.seconds / 2)
    say("%d writes acknowledged; kill -9 of leader node %d" % (work.count(), first))
    t_kill = time.time()
    c.kill(first)
    second = run.new_leader(work, t_kill)
    time.sleep(args.seconds / 4)
    c.start(first)
    say("restarted node %d" % first)
    time.sleep(args.seconds / 4)
    work.finish()
    elapsed = time.time() - t0
    run.absorb(work)
    say("%d writes acknowledged in %.1f s (%.0f writes/s, each followed by a read); "
        "%d -UNKNOWN replies" % (len(work.acked), elapsed, len(work.acked) / elapsed, work.unknown))
    run.check(min_new=100, new=len(work.acked))


def single_scenario(run):
    c, args, say = run.cluster, run.args, run.say
    run.phase = "one node, kill -9 under load and restart, three times"
    first = run.leader_or_die("at start-up")
    say("1 synod-kv process up (durable log); it leads")
    work = run.workload("s")
    t0 = time.time()
    for k in range(3):
        time.sleep(args.seconds / 4)
        say("%d writes acknowledged; kill -9 of node %d" % (work.count(), first))
        c.kill(first)
        time.sleep(0.2)
        t_restart = time.time()
        c.start(first)
        if c.leader(10.0) is None:
            work.finish()
            run.absorb(work)
            run.fail("no leader within 10 s of restart %d" % (k + 1))
            raise PhaseAbort()
        say("restarted; it leads again after %.2f s" % (time.time() - t_restart))
    time.sleep(args.seconds / 4)
    work.finish()
    elapsed = time.time() - t0
    run.absorb(work)
    say("%d writes acknowledged in %.1f s, %d -UNKNOWN replies" % (len(work.acked), elapsed, work.unknown))
    run.check(min_new=100, new=len(work.acked))


def memory_rejoin(run, node, what):
    c, say = run.cluster, run.say
    c.kill(node)
    say("kill -9 of %s node %d; restarting it with --memory (all its state is gone)" % (what, node))
    time.sleep(0.3)
    c.start(node)
    roles, took = watch_rejoin(c, node)
    say("  node %d reported synod_role %s within %.2f s" % (node, " -> ".join(roles) or "(nothing)", took))
    if not roles or roles[0] != "rejoining":
        run.fail("restarted node %d did not start as rejoining (INFO synod_role went %s)" % (
            node, " -> ".join(roles) or "unanswered"))
    elif roles[-1] not in ("follower", "leader"):
        run.fail("restarted node %d still %s after 20 s" % (node, roles[-1]))


def memory_scenario(run):
    c, args, say = run.cluster, run.args, run.say
    run.phase = "in-memory start-up"
    first = run.leader_or_die("at start-up")
    say("3 synod-kv processes up (--memory); leader is node %d" % first)
    work = run.workload("m")
    time.sleep(args.seconds / 3)
    follower = next(i for i in c.ids if i != first)
    run.phase = "follower restarted with --memory rejoins"
    memory_rejoin(run, follower, "follower")
    time.sleep(args.seconds / 6)
    work.finish()
    run.absorb(work)
    say("%d writes acknowledged, %d -UNKNOWN replies" % (len(work.acked), work.unknown))
    run.check(min_new=100, new=len(work.acked))

    run.phase = "leader restarted with --memory rejoins"
    leader = run.leader_or_die("before killing the leader")
    work = run.workload("n")
    time.sleep(args.seconds / 4)
    memory_rejoin(run, leader, "leader")
    time.sleep(args.seconds / 6)
    work.finish()
    run.absorb(work)
    say("%d writes acknowledged, %d -UNKNOWN replies" % (len(work.acked), work.unknown))
    run.check(min_new=50, new=len(work.acked))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--scenario", choices=["durable", "memory", "leader", "single"], default="durable")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--clients", type=int, default=8, help="clients writing unique keys")
    ap.add_argument("--incr-clients", type=int, default=2, help="clients INCRementing one counter")
    ap.add_argument("--base-port", type=int, default=17100 + (os.getpid() % 200) * 30)
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--hosts", help="H1,H2,H3: one address per node (default: all on 127.0.0.1)")
    ap.add_argument("--netns", help="run node i under 'ip netns exec NETNS<i>' (needs --hosts)")
    ap.add_argument("--tls", action="store_true",
                    help="peer links over mutual TLS (certificates made by scripts/make-certs.sh)")
    args = ap.parse_args()
    hosts = args.hosts.split(",") if args.hosts else None
    if (hosts and len(hosts) != 3) or (args.netns and not hosts):
        ap.error("--hosts needs three addresses, and --netns needs --hosts")
    wrap = (lambda i: ["ip", "netns", "exec", "%s%d" % (args.netns, i)]) if args.netns else None
    say = print if args.demo else (lambda *a: None)
    workdir = tempfile.mkdtemp(prefix="synod-e2e-")
    memory = args.scenario == "memory"
    tls_dir = None
    if args.tls:
        tls_dir = os.path.join(workdir, "pki")
        make_certs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                                  "make-certs.sh")
        subprocess.run(["bash", make_certs, tls_dir, "1", "1", "2", "3", "--"] + list(
            "IP:%s" % h for h in (hosts or [])), check=True, stdout=subprocess.DEVNULL)
    cluster = Cluster(os.path.abspath(args.bin), args.base_port, workdir, memory=memory,
                      hosts=hosts, wrap=wrap, tls_dir=tls_dir,
                      nodes=1 if args.scenario == "single" else 3)
    run = Run(cluster, args, say)
    t0 = time.time()
    try:
        for i in cluster.ids:
            cluster.start(i)
        {"durable": durable_scenario, "memory": memory_scenario,
         "leader": leader_scenario, "single": single_scenario}[args.scenario](run)
        if args.demo and not run.failures and not memory and shutil.which("redis-benchmark"):
            run_benchmark(cluster, say)
    except PhaseAbort:
        pass
    finally:
        cluster.stop_all()
        run.phase = "shutdown"
        run.report_exits()
    took = time.time() - t0
    if run.failures:
        print("kv cluster e2e (%s) FAILED after %.1f s:" % (args.scenario, took))
        for f in run.failures:
            print("  " + f)
        print("logs kept in %s\n%s" % (workdir, cluster.log_tails()))
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    what = {"memory": "kill -9 of a follower and of the leader, each restarted with --memory and rejoined",
            "durable": "kill -9 of leader, of a follower, and of all three at once",
            "leader": "kill -9 of the leader and its restart",
            "single": "three kill -9 of a one-node cluster"}[args.scenario]
    print("kv cluster e2e (%s%s): ok in %.1f s (%d acknowledged writes kept across %s; %d -UNKNOWN replies)"
          % (args.scenario, ", peer TLS" if args.tls else "", took, len(run.acked), what, run.unknown))
    return 0


def run_benchmark(cluster, say):
    leader = cluster.leader()
    if leader is None:
        say("no leader for redis-benchmark")
        return
    host, port = cluster.host[leader], cluster.client_port[leader]
    say("redis-benchmark -t set,get -P 16 -n 200000 against the leader (%s:%d):" % (host, port))
    try:
        out = subprocess.run(["redis-benchmark", "-h", host, "-p", str(port), "-t", "set,get", "-P", "16",
                              "-n", "200000", "-q"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        say("  redis-benchmark did not finish within 120 s")
        return
    lines = [x.strip() for x in out.stdout.replace("\r", "\n").splitlines()]
    results = [x for x in lines if "requests per second" in x]
    for line in results:
        say("  " + line)
    if not results or out.returncode != 0:
        say("  redis-benchmark exited with status %d: %s" % (
            out.returncode, " | ".join((lines + out.stderr.splitlines())[-3:])))

if __name__ == "__main__":
    sys.exit(main())
