"""End-to-end test of synod-kv membership changes from Redis clients (issue 7):
a process joins a running cluster, becomes a voter, members are removed
(one dead, one the leader itself) and leadership is transferred by name.

  python3 tests/e2e/kv_membership.py --bin build/examples/synod-kv [--verbose]

1. join: three durable nodes start; clients write unique keys and INCR a
   counter throughout (kv_cluster.py's Workload). A 4th process starts with
   --join (its --peers list the three and itself) and CLUSTER ADDNODE 4 goes
   to the leader: +OK. Node 4 must then report member_role voter in INFO,
   every node voters 1,2,3,4, and once the clients stop, all four the same
   applied_index and key-space digest; every acknowledged write reads back.
2. kill and remove: kill -9 of the leader. The other three (a majority of
   the four voters) elect a leader and take new writes. CLUSTER DELNODE of
   the dead node on the new leader: +OK; the three remaining nodes list
   three voters, CLUSTER NODES no longer shows the dead node's addresses,
   they converge and every acknowledged write reads back.
3. transfer and self-removal: CLUSTER TRANSFER to a named follower: +OK, and
   that node reports itself leader. CLUSTER DELNODE of that leader, sent to
   itself: +OK; it steps down, one of the two others leads, both list two
   voters and no trace of the removed node in CLUSTER NODES, and writes
   still commit.

Every wait is a poll with a timeout (no fixed sleeps). On failure the script
names the phase and the check, prints every node's INFO fields, CLUSTER
NODES and log tail, keeps the logs, and exits 1. On success it removes them.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_cluster import Cluster, Workload, missing_writes  # noqa: E402
from resp_client import RespClient, RespError  # noqa: E402

INFO_FIELDS = ("synod_role", "member_role", "leader_id", "voters", "learners", "commit_index",
               "applied_index", "keys", "digest")


class Failure(Exception):
    pass


class MemberCluster(Cluster):
    """kv_cluster's Cluster for four node ids, where each process gets its own
    --peers list: the members when it started (and itself)."""

    def __init__(self, binary, base_port, workdir, flags):
        super().__init__(binary, base_port, workdir)
        self.flags = flags
        self.ids = [1, 2, 3, 4]
        for i in self.ids:
            self.host[i] = "127.0.0.1"
            self.peer_port[i] = base_port + i
            self.client_port[i] = base_port + 10 + i
        self.starts = {i: 0 for i in self.ids}

    def peer(self, i):
        return "127.0.0.1:%d" % self.peer_port[i]

    def client(self, i):
        return "127.0.0.1:%d" % self.client_port[i]

    def start_with(self, i, members, join=False):
        peers = ",".join("%d=%s" % (j, self.peer(j)) for j in members)
        clients = ",".join("%d=%s" % (j, self.client(j)) for j in members)
        cmd = [self.binary, "--id", str(i), "--peers", peers, "--clients", clients,
               "--listen", self.client(i), "--data-dir", self.data_dir(i)]
        cmd += ["--join"] if join else []
        cmd += self.flags
        self.starts[i] += 1
        with open(self.log_path(i), "a") as log:
            log.write("=== start %d of node %d: %s\n" % (self.starts[i], i, " ".join(cmd)))
            log.flush()
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log)

    def log_since_start(self, i):
        with open(self.log_path(i), errors="replace") as f:
            return f.read().rsplit("=== start ", 1)[-1]

    def alive(self, i):
        return i in self.procs and self.procs[i].poll() is None

    def call(self, i, *args, timeout=10.0):
        """One command on node i: its reply, or RespError."""
        c = RespClient(self.client_port[i], timeout=timeout)
        try:
            return c.call(*args)
        finally:
            c.close()

    def nodes(self, i):
        """CLUSTER NODES of node i as {id: (peer, client, flags)}, or None."""
        try:
            text = self.call(i, "CLUSTER", "NODES", timeout=2.0)
        except (OSError, ConnectionError, RespError):
            return None
        out = {}
        for line in text.splitlines():
            node, peer, client, flags = line.split(" ")
            out[int(node)] = (peer, client, flags)
        return out

    def diagnostics(self):
        out = []
        for i in self.ids:
            p = self.procs.get(i)
            state = "not started" if p is None else (
                "running" if p.poll() is None else "exited with %s" % p.returncode)
            x = self.info(i) if state == "running" else None
            out.append("--- node %d (%s): %s" % (i, state, " ".join(
                "%s=%s" % (k, x.get(k)) for k in INFO_FIELDS) if x else "no INFO"))
            if state == "running":
                out.append("    CLUSTER NODES: %s" % self.nodes(i))
        return "\n".join(out) + "\n" + self.log_tails(15)


def poll(what, pred, timeout=15.0, every=0.05):
    """pred()'s first truthy value; Failure naming `what` (and pred's last
    description, when it returns (False, why)) after the timeout."""
    end, last = time.time() + timeout, None
    while time.time() < end:
        got = pred()
        if isinstance(got, tuple):
            got, last = got
        if got:
            return got
        time.sleep(every)
    raise Failure("%s: not within %.0f s%s" % (what, timeout, "; last: %s" % last if last else ""))


class Test:
    def __init__(self, args, cluster):
        self.args, self.c = args, cluster
        self.say = print if args.verbose else (lambda *a: None)
        self.phase = "start-up"
        self.acked, self.incr_values, self.incr_uncertain = {}, [], 0
        self.running = []  # Workloads started and not yet finished

    def check(self, ok, what):
        if not ok:
            raise Failure(what)

    def leader(self, among, timeout=15.0):
        def find():
            for i in among:
                x = self.c.info(i) if self.c.alive(i) else None
                if x and x.get("synod_role") == "leader":
                    return i
            return None
        return poll("a leader among nodes %s" % among, find, timeout)

    def admin(self, among, args, done, timeout=20.0):
        """Sends a CLUSTER command to the leader among `among` until it
        answers +OK. A redirect, -BUSY (another change still governing) or
        -TRYAGAIN is retried; -UNKNOWN is retried unless done() shows the
        change happened. Any other error fails the test."""
        end = time.time() + timeout
        while True:
            self.check(time.time() < end, "CLUSTER %s: no +OK within %.0f s" % (" ".join(args), timeout))
            leader = self.leader(among)
            try:
                reply = self.c.call(leader, "CLUSTER", *args)
            except (OSError, ConnectionError):
                time.sleep(0.05)
                continue
            except RespError as e:
                code = e.text.split()[0]
                if code == "UNKNOWN" and done():
                    return
                self.check(code in ("MOVED", "NOTLEADER", "BUSY", "TRYAGAIN", "UNKNOWN"),
                           "CLUSTER %s on leader node %d answered -%s" % (" ".join(args), leader, e.text))
                self.say("  CLUSTER %s: -%s; retrying" % (" ".join(args), e.text))
                time.sleep(0.05)
                continue
            self.check(reply == "OK", "CLUSTER %s answered %r, not OK" % (" ".join(args), reply))
            return

    def voters(self, i):
        x = self.c.info(i)
        return x.get("voters") if x else None

    def same_voters(self, among, want):
        seen = {i: self.voters(i) for i in among}
        return all(v == want for v in seen.values()), seen

    def absorb(self, work):
        self.acked.update(work.acked)
        self.incr_values += work.incr_values
        self.incr_uncertain += work.incr_uncertain
        self.check(not work.errors, "wrong replies: %s" % work.errors[:5])

    def converge(self, among):
        def same():
            infos = {i: self.c.info(i) for i in among}
            if not all(infos.values()):
                return False, infos
            keys = {(x["applied_index"], x["digest"]) for x in infos.values()}
            return len(keys) == 1, {i: (x["applied_index"], x["digest"]) for i, x in infos.items()}
        poll("nodes %s at the same applied_index and digest" % among, same, timeout=20.0)
        x = self.c.info(among[0])
        self.say("  nodes %s converged: applied_index %s, %s keys, digest %s"
                 % (among, x["applied_index"], x["keys"], x["digest"]))

    def read_back(self):
        lost, unread = missing_writes(self.c, self.acked)
        self.check(not lost, "%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:3]))
        self.check(not unread, "%d acknowledged writes unreadable, e.g. %s" % (len(unread), unread[:3]))
        dups = len(self.incr_values) - len(set(self.incr_values))
        self.check(dups == 0, "%d INCR answers repeated a value" % dups)
        lo, hi = len(self.incr_values), len(self.incr_values) + self.incr_uncertain

        def counter():
            try:
                return int(self.c.call(self.c.leader(5.0), "GET", "ctr") or 0)
            except (OSError, ConnectionError, RespError, TypeError):
                return None
        final = poll("the INCR counter reads back", counter, timeout=10.0)
        self.check(lo <= final <= hi, "INCR counter is %d; expected %d acknowledged INCRs, up to %d "
                   "with those of unknown outcome" % (final, lo, hi))
        self.say("  all %d acknowledged writes read back; counter %d after %d acknowledged INCRs "
                 "(%d unknown), none answered twice"
                 % (len(self.acked), final, lo, self.incr_uncertain))

    def load(self, prefix, at_least, timeout=15.0):
        work = Workload(self.c, self.args.clients, "%s%d" % (prefix, os.getpid()),
                        incr_clients=1, counter="ctr").start()
        self.running.append(work)
        poll("%d acknowledged writes (phase %s)" % (at_least, self.phase),
             lambda: (work.count() >= at_least, "%d so far" % work.count()), timeout)
        return work

    def stop_load(self):
        """Stops every client still running (after a failure too: their
        threads would keep the script alive)."""
        for work in self.running:
            work.finish()
        self.running = []

    # --- phases ----------------------------------------------------------------

    def join(self):
        c, say = self.c, self.say
        self.phase = "join"
        for i in (1, 2, 3):
            c.start_with(i, [1, 2, 3])
        leader = self.leader([1, 2, 3])
        say("nodes 1-3 up (durable logs); node %d leads" % leader)
        work = self.load("j", 200)
        # Node 4 must catch up from a snapshot: wait until the log it would
        # need is compacted away everywhere.
        poll("nodes 1-3 snapshotted and compacted (first_log_index > 1)",
             lambda: (all(int((c.info(i) or {}).get("first_log_index", 0)) > 1 for i in (1, 2, 3)),
                      {i: (c.info(i) or {}).get("first_log_index") for i in (1, 2, 3)}))
        c.start_with(4, [1, 2, 3, 4], join=True)
        poll("node 4 (--join) answers INFO as a learner",
             lambda: (c.info(4) or {}).get("member_role") == "learner")
        t0 = time.time()
        self.admin([1, 2, 3], ["ADDNODE", "4", c.peer(4), c.client(4)],
                   done=lambda: "4" in (self.voters(leader) or "") + ",".join(
                       (c.info(leader) or {}).get("learners", "")))
        say("CLUSTER ADDNODE 4: +OK after %.2f s (%d writes acknowledged so far)"
            % (time.time() - t0, work.count()))
        poll("node 4 reports member_role voter",
             lambda: ((c.info(4) or {}).get("member_role") == "voter", c.info(4)))
        poll("every node lists voters 1,2,3,4", lambda: self.same_voters([1, 2, 3, 4], "1,2,3,4"))
        say("node 4 promoted to voter %.2f s after ADDNODE" % (time.time() - t0))
        self.check("restored the snapshot" in c.log_since_start(4),
                   "node 4 caught up without installing a snapshot (compaction-tail 50 should "
                   "have forced one)")
        before = work.count()
        poll("writes go on after the promotion",
             lambda: (work.count() >= before + 100, "%d new" % (work.count() - before)))
        self.stop_load()
        self.absorb(work)
        self.converge([1, 2, 3, 4])
        self.read_back()

    def kill_and_remove(self):
        c, say = self.c, self.say
        self.phase = "kill and remove"
        dead = self.leader([1, 2, 3, 4])
        work = self.load("k", 50)
        c.kill(dead)
        rest = [i for i in c.ids if i != dead]
        t0 = time.time()
        new = self.leader(rest)
        say("kill -9 of leader node %d; node %d leads after %.2f s" % (dead, new, time.time() - t0))
        before = work.count()
        poll("three of four voters commit writes",
             lambda: (work.count() >= before + 100, "%d new" % (work.count() - before)))
        self.admin(rest, ["DELNODE", str(dead)],
                   done=lambda: str(dead) not in (self.voters(new) or "").split(","))
        want = ",".join(map(str, rest))
        poll("the three remaining nodes list voters %s" % want, lambda: self.same_voters(rest, want))
        for i in rest:
            poll("CLUSTER NODES on node %d drops node %d and its addresses" % (i, dead),
                 lambda: self.forgotten(i, dead))
        say("CLUSTER DELNODE %d: +OK; voters now %s" % (dead, want))
        before = work.count()
        poll("the remaining voters commit writes",
             lambda: (work.count() >= before + 100, "%d new" % (work.count() - before)))
        self.stop_load()
        self.absorb(work)
        self.converge(rest)
        self.read_back()
        self.restart_original(rest)
        return rest

    def restart_original(self, members):
        """kill -9 and restart of an original member on its first command
        line (--peers 1,2,3): only its log and snapshot tell it about node 4."""
        c, say = self.c, self.say
        self.phase = "restart of an original member"
        node = next(i for i in members if i != 4 and i != self.leader(members))
        c.kill(node)
        c.start_with(node, [1, 2, 3])
        want = ",".join(map(str, members))
        poll("restarted node %d lists voters %s" % (node, want),
             lambda: (self.voters(node) == want, self.voters(node)))
        poll("restarted node %d knows node 4's addresses" % node,
             lambda: ((self.c.nodes(node) or {}).get(4, ("", ""))[:2] == (c.peer(4), c.client(4)),
                      self.c.nodes(node)))
        self.check("restored the snapshot" in c.log_since_start(node),
                   "restarted node %d did not restore its snapshot" % node)
        work = self.load("r", 100)
        self.stop_load()
        self.absorb(work)
        self.converge(members)
        self.check_moved(members)
        say("restarted node %d from its snapshot: it knows node 4's addresses and converged" % node)

    def check_moved(self, members):
        """Every follower redirects a write to the leader's client address."""
        leader = self.leader(members)
        for i in members:
            if i == leader:
                continue
            try:
                reply = self.c.call(i, "SET", "moved-probe", "x")
                got = "+" + str(reply)
            except RespError as e:
                got = "-" + e.text
            self.check(got == "-MOVED 0 " + self.c.client(leader),
                       "follower node %d answered a SET with %s, not -MOVED 0 %s"
                       % (i, got, self.c.client(leader)))

    def forgotten(self, i, gone):
        nodes = self.c.nodes(i)
        if nodes is None:
            return False, "no answer"
        text = " ".join("%s %s" % (r, cl) for r, cl, _ in nodes.values())
        ok = gone not in nodes and self.c.peer(gone) not in text and self.c.client(gone) not in text
        return ok, nodes

    def transfer_and_leave(self, members):
        c, say = self.c, self.say
        self.phase = "transfer and self-removal"
        leader = self.leader(members)
        target = next(i for i in members if i != leader)
        t0 = time.time()
        self.admin(members, ["TRANSFER", str(target)], done=lambda: False)
        poll("node %d reports itself leader after CLUSTER TRANSFER" % target,
             lambda: (c.info(target) or {}).get("synod_role") == "leader")
        say("CLUSTER TRANSFER %d: node %d leads after %.2f s" % (target, target, time.time() - t0))
        work = self.load("t", 50)
        # The leader removes itself: the command goes to it directly.
        t0 = time.time()
        reply = c.call(target, "CLUSTER", "DELNODE", str(target))
        self.check(reply == "OK", "CLUSTER DELNODE %d on itself answered %r" % (target, reply))
        rest = [i for i in members if i != target]
        new = self.leader(rest)
        poll("node %d no longer leads" % target,
             lambda: (c.info(target) or {}).get("synod_role") != "leader")
        say("CLUSTER DELNODE %d on the leader itself: +OK; node %d leads after %.2f s"
            % (target, new, time.time() - t0))
        want = ",".join(map(str, rest))
        poll("nodes %s list voters %s" % (rest, want), lambda: self.same_voters(rest, want))
        for i in rest:
            poll("CLUSTER NODES on node %d drops node %d" % (i, target), lambda: self.forgotten(i, target))
        before = work.count()
        poll("the two remaining voters commit writes",
             lambda: (work.count() >= before + 100, "%d new" % (work.count() - before)))
        self.stop_load()
        self.absorb(work)
        self.converge(rest)
        self.read_back()
        self.check_moved(rest)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--base-port", type=int, default=23100 + (os.getpid() % 200) * 25)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="synod-membership-")
    # Frequent snapshots and a short log tail: the joining node catches up
    # from a snapshot, and a restarted node restores one holding addresses.
    flags = ["--snapshot-bytes", "20000", "--compaction-tail", "50"]
    cluster = MemberCluster(os.path.abspath(args.bin), args.base_port, workdir, flags)
    test = Test(args, cluster)
    t0, failure = time.time(), None
    try:
        test.join()
        remaining = test.kill_and_remove()
        test.transfer_and_leave(remaining)
    except Failure as e:
        failure = "[%s] %s" % (test.phase, e)
        diagnostics = cluster.diagnostics()
    finally:
        test.stop_load()
        cluster.stop_all()
    if failure is None and cluster.unexpected_exits:
        failure = "[shutdown] synod-kv exits nobody asked for: %s" % cluster.unexpected_exits
        diagnostics = cluster.log_tails(15)
    took = time.time() - t0
    if failure:
        print("kv membership e2e FAILED after %.1f s:\n  %s" % (took, failure))
        print("logs kept in %s\n%s" % (workdir, diagnostics))
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("kv membership e2e: ok in %.1f s (%d acknowledged writes kept across a join, "
          "kill -9 and removal of the leader, a transfer and a leader removing itself)"
          % (took, len(test.acked)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
