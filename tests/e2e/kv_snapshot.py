"""End-to-end test of synod-kv's automatic snapshots and catch-up from them
(issue 5): three local 3-process clusters on loopback, one after the other.

  python3 tests/e2e/kv_snapshot.py --bin build/examples/synod-kv [--verbose]

1. new-disk: durable logs, --snapshot-bytes 20000 --compaction-tail 50.
   kill -9 of a follower; at least 3000 SETs of unique keys and 300 INCRs
   through the leader, 25 at a time, and more until the two others have
   snapshotted several times and compacted (snapshot_index > 0,
   first_log_index > 1; the tail counts slots, and a slot holds a batch).
   The stopped follower's data directory is deleted and it is restarted (no
   --bootstrap: it rejoins with empty storage). It must catch up by installing a snapshot: applied_index
   equal to the leader's commit_index, the same digest, snapshot_index > 0,
   first_log_index > 1, and "restored the snapshot" in its log; then leave
   synod_role rejoining. A sample of keys and the counters read back through
   the leader. Then kill -9 of the old leader: the caught-up replica and the
   other form the new majority and take 300 more writes. Finally the old
   leader is restarted on its own data dir: the first snapshot it restores
   is the one in its data dir, and it converges.
2. own-snapshot: durable logs, --snapshot-bytes 8 MiB --compaction-tail 20,
   384 MiB of 64 KiB SETs over 64 keys (synod-kv's log segments are 64 MiB,
   so compaction frees disk in 64 MiB steps). Every data dir must keep at
   most 3 segments, the first two gone, one snapshot file named by INFO's
   snapshot_index, and at most 55% of the bytes written (usually a third).
   kill -9 of a follower, 100 more writes, restart on the same data dir: it
   restores its own snapshot first and converges. 12.5 MiB more: every node
   snapshots again and the data dirs are checked again.
4. recycled: own-snapshot again with --log-format 2 (compacted segments
   recycled as later ones): the same checks, up to two spare segment
   files on disk, and some segment in use with format version 2 in its
   header; the restart after kill -9 reads a log of recycled segments.
3. memory: every node --memory, --snapshot-bytes 20000 --compaction-tail 50.
   At least 1800 SETs (more until every node compacted), then kill -9 of a
   follower, restarted empty: it reports rejoining, then follower or leader,
   and catches up through a snapshot; 200 more writes, sample read back.

Checks are polled with timeouts (no fixed sleeps). On failure the script
names the scenario and the check, prints every node's INFO, data dir and log
tail, and keeps the logs; exit status 1. On success it removes them.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_cluster import Cluster  # noqa: E402
from resp_client import RespError  # noqa: E402

RESTORED = re.compile(r"restored the snapshot of slot (\d+) \((\d+) keys\)")
INFO_FIELDS = ("synod_role", "leader_id", "commit_index", "applied_index", "snapshot_index",
               "first_log_index", "keys", "digest")


class Failure(Exception):
    pass


class SnapCluster(Cluster):
    """kv_cluster's Cluster with extra synod-kv flags on every start."""

    def __init__(self, binary, base_port, workdir, flags, memory=False):
        super().__init__(binary, base_port, workdir, memory=memory)
        self.flags = flags

    def start(self, i):
        peers = ",".join("%d=127.0.0.1:%d" % (j, self.peer_port[j]) for j in self.ids)
        clients = ",".join("%d=127.0.0.1:%d" % (j, self.client_port[j]) for j in self.ids)
        cmd = [self.binary, "--id", str(i), "--peers", peers, "--clients", clients,
               "--listen", "127.0.0.1:%d" % self.client_port[i]] + self.flags
        cmd += ["--memory"] if self.memory else ["--data-dir", self.data_dir(i)]
        self.starts[i] += 1
        with open(self.log_path(i), "a") as log:
            log.write("=== start %d of node %d: %s\n" % (self.starts[i], i, " ".join(cmd)))
            log.flush()
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log)

    def alive(self, i):
        return i in self.procs and self.procs[i].poll() is None

    def log_since_start(self, i):
        with open(self.log_path(i), errors="replace") as f:
            return f.read().rsplit("=== start ", 1)[-1]

    def diagnostics(self):
        out = []
        for i in self.ids:
            p = self.procs.get(i)
            state = "not started" if p is None else (
                "running" if p.poll() is None else "exited with %s" % p.returncode)
            x = self.info(i) if state == "running" else None
            out.append("--- node %d (%s): %s" % (i, state, " ".join(
                "%s=%s" % (k, x.get(k)) for k in INFO_FIELDS) if x else "no INFO"))
            if not self.memory and os.path.isdir(self.data_dir(i)):
                out.append("    data dir: " + ", ".join("%s %d" % (n, s) for n, s in dir_files(self.data_dir(i))))
        return "\n".join(out) + "\n" + self.log_tails(15)


def dir_files(path):
    """(name, size) of each file in path; a file removed meanwhile is skipped."""
    out = []
    for n in sorted(os.listdir(path)):
        try:
            out.append((n, os.path.getsize(os.path.join(path, n))))
        except OSError:
            pass
    return out


def segment_version(path):
    """The format version in a log segment's header (docs/storage.md):
    44 bytes of record header, the 8-byte magic, then u32 version; 0 when
    the file is gone or short."""
    try:
        with open(path, "rb") as f:
            head = f.read(56)
    except OSError:
        return 0
    return int.from_bytes(head[52:56], "little") if len(head) == 56 else 0


class Test:
    def __init__(self, args, workdir):
        self.args, self.workdir = args, workdir
        self.say = print if args.verbose else (lambda *a: None)
        self.cluster, self.scenario = None, ""
        self.base = args.base_port
        self.log_format = 1

    def check(self, ok, what):
        if not ok:
            raise Failure(what)

    def new_cluster(self, name, flags, memory=False):
        self.scenario = name
        c = SnapCluster(os.path.abspath(self.args.bin), self.base, os.path.join(self.workdir, name),
                        flags, memory=memory)
        self.base += 15
        os.makedirs(c.workdir)
        self.cluster = c
        for i in c.ids:
            c.start(i)
        return c

    def finish_cluster(self):
        c = self.cluster
        c.stop_all()
        self.check(not c.unexpected_exits, "synod-kv exits nobody asked for: %s" % c.unexpected_exits)

    # --- helpers -------------------------------------------------------------

    def leader(self, among=None, timeout=10.0):
        c, end = self.cluster, time.time() + timeout
        while time.time() < end:
            for i in among or c.ids:
                if c.alive(i):
                    x = c.info(i)
                    if x and x.get("synod_role") == "leader":
                        return i
            time.sleep(0.05)
        raise Failure("no leader among nodes %s within %.0f s" % (among or c.ids, timeout))

    def info(self, i):
        x = self.cluster.info(i)
        self.check(x is not None, "node %d does not answer INFO" % i)
        return x

    def run(self, cmds, batch=100, timeout=60.0):
        """Sends cmds through the leader, `batch` at a time, pipelined. A
        redirect or lost connection retries a SET (idempotent here) and an
        INCR that was never proposed (-MOVED, -TRYAGAIN, -BUSY); an INCR whose
        outcome is unknown is counted, not retried. Returns (replies by
        index, set of unknown indices)."""
        c, replies, unknown = self.cluster, {}, set()
        todo, conn, end = list(range(len(cmds))), None, time.time() + timeout
        while todo:
            self.check(time.time() < end, "%d of %d writes still not done after %.0f s"
                       % (len(todo), len(cmds), timeout))
            if conn is None:
                try:
                    conn = c.connect(self.leader(), timeout=10.0)
                except OSError:
                    time.sleep(0.05)
                    continue
            chunk, todo, retry = todo[:batch], todo[batch:], []
            broken, redirected = False, False
            try:
                for j in chunk:
                    conn.send(*cmds[j])
            except OSError:
                broken = True
            for j in chunk:
                if not broken:
                    try:
                        replies[j] = conn.read()
                        continue
                    except RespError as e:
                        code = e.text.split()[0]
                        self.check(code in ("MOVED", "TRYAGAIN", "BUSY", "UNKNOWN", "NOTLEADER"),
                                   "%s answered -%s" % (" ".join(map(str, cmds[j][:2])), e.text))
                        redirected |= code != "BUSY"
                        (unknown.add(j) if cmds[j][0] == "INCR" and code == "UNKNOWN" else retry.append(j))
                        continue
                    except OSError:
                        broken = True
                # Sent, no answer: a SET is retried, an INCR may have applied.
                (unknown.add(j) if cmds[j][0] == "INCR" else retry.append(j))
            if broken or redirected:
                conn.close()
                conn = None
            todo = retry + todo
        if conn is not None:
            conn.close()
        return replies, unknown

    def converged(self, nodes, timeout=20.0):
        """INFO of every node once all report applied_index equal to the
        leader's commit_index and the same digest."""
        c, end, last = self.cluster, time.time() + timeout, ""
        while time.time() < end:
            infos = {i: c.info(i) for i in nodes}
            leaders = [x for x in infos.values() if x and x["synod_role"] == "leader"]
            if all(infos.values()) and len(leaders) == 1:
                commit = leaders[0]["commit_index"]
                if (all(x["applied_index"] == commit for x in infos.values())
                        and len({x["digest"] for x in infos.values()}) == 1):
                    return infos
            last = "; ".join("node %d: %s" % (i, " ".join("%s=%s" % (k, x.get(k)) for k in INFO_FIELDS)
                                              if x else "no answer") for i, x in infos.items())
            time.sleep(0.05)
        raise Failure("nodes %s did not reach the leader's commit with one digest within %.0f s: %s"
                      % (nodes, timeout, last))

    def read_back(self, expected, what):
        """GETs every key of `expected` through the leader, pipelined."""
        keys = sorted(expected)
        replies, _ = self.run([("GET", k) for k in keys], batch=200)
        wrong = [(k, expected[k], replies[j]) for j, k in enumerate(keys) if replies[j] != expected[k]]
        self.check(not wrong, "%d of %d %s read back wrong through the leader, e.g. %s" % (
            len(wrong), len(keys), what, ", ".join("%s: wrote %r, read %r" % w for w in wrong[:3])))

    def restored(self, i):
        """The (slot, keys) of each snapshot restore node i logged since its
        last start."""
        return [(int(m.group(1)), int(m.group(2))) for m in RESTORED.finditer(self.cluster.log_since_start(i))]

    def own_snapshot_slot(self, i):
        """The slot of the snapshot file in node i's data dir (one expected)."""
        snaps = [n for n, _ in dir_files(self.cluster.data_dir(i)) if n.endswith(".snap")]
        self.check(len(snaps) == 1, "node %d's data dir holds snapshot files %s, expected one" % (i, snaps))
        return int(snaps[0][len("snapshot-"):-len(".snap")])

    def restart_from_own_snapshot(self, i):
        """Restarts node i (stopped) on its data dir; the first snapshot it
        restores must be the one in its data dir, not a peer's."""
        slot = self.own_snapshot_slot(i)
        self.cluster.start(i)
        infos = self.converged(self.cluster.ids)
        found = self.restored(i)
        self.check(found and found[0][0] == slot,
                   "node %d restarted on its data dir (snapshot of slot %d) did not restore that snapshot "
                   "first: restores logged %s" % (i, slot, found))
        return infos, found[0]

    def wait_role(self, i, roles, timeout=20.0):
        """The distinct synod_role values node i reported until one of roles."""
        seen, end = [], time.time() + timeout
        while time.time() < end:
            x = self.cluster.info(i)
            role = x.get("synod_role") if x else None
            if role and (not seen or seen[-1] != role):
                seen.append(role)
            if role in roles:
                return seen
            time.sleep(0.005)
        raise Failure("node %d reported roles %s, not %s, within %.0f s" % (i, seen, roles, timeout))

    def writes(self, prefix, n, incrs, counters):
        """n unique-key SETs and `incrs` INCRs spread over `counters`, mixed,
        25 at a time (a slot holds what the leader batched, so fewer at a
        time means more slots). Returns the expected values of the SETs."""
        cmds, expected = [], {}
        for k in range(n):
            key, val = "%s.k%d" % (prefix, k), "%s-%d-%s" % (prefix, k, "x" * 100)
            cmds.append(("SET", key, val))
            expected[key] = val
            if incrs and k % (n // incrs) == 0:
                cmds.append(("INCR", counters[len(cmds) % len(counters)]))
        replies, unknown = self.run(cmds, batch=25)
        for j, cmd in enumerate(cmds):
            if cmd[0] == "SET":
                self.check(replies.get(j) == "OK", "%s answered %r" % (cmd[1], replies.get(j)))
            elif cmd[0] == "INCR" and j not in unknown:
                self.counts[cmd[1]][0] += 1
        for j in unknown:
            self.counts[cmds[j][1]][1] += 1
        return expected

    def write_until_compacted(self, prefix, nodes, min_rounds, max_rounds=40):
        """Rounds of 300 SETs and 30 INCRs: at least min_rounds, then until
        every node in nodes snapshotted and compacted (snapshot_index > 0,
        first_log_index > 1). --compaction-tail counts slots, and how many
        commands share a slot depends on the machine's load, hence the loop.
        Returns the expected values, the snapshot_index values nodes[-1]
        reported after each round, and the last INFO of each node."""
        expected, seen = {}, set()
        for r in range(max_rounds):
            expected.update(self.writes("%s%d" % (prefix, r), 300, 30, sorted(self.counts)))
            infos = self.converged(nodes)
            seen.add(int(infos[nodes[-1]]["snapshot_index"]))
            if r + 1 >= min_rounds and all(int(x["snapshot_index"]) > 0 and int(x["first_log_index"]) > 1
                                           for x in infos.values()):
                return expected, seen, infos
        raise Failure("nodes %s did not all snapshot and compact after %d rounds of writes: %s" % (
            nodes, max_rounds, infos))

    def check_counters(self):
        keys = sorted(self.counts)
        replies, _ = self.run([("GET", k) for k in keys])
        for j, k in enumerate(keys):
            lo, unk = self.counts[k]
            self.check(replies[j] is not None and lo <= int(replies[j]) <= lo + unk,
                       "counter %s is %r after %d acknowledged INCRs and %d unknown" % (k, replies[j], lo, unk))

    # --- scenarios -----------------------------------------------------------

    def new_disk(self):
        c = self.new_cluster("new-disk", ["--snapshot-bytes", "20000", "--compaction-tail", "50"])
        self.counts = {"ctr%d" % k: [0, 0] for k in range(5)}
        leader = self.leader()
        follower, other = [i for i in c.ids if i != leader]
        c.kill(follower)
        self.say("[new-disk] leader %d; kill -9 of follower %d" % (leader, follower))
        expected, seen, infos = self.write_until_compacted("r", [leader, other], 10)
        seen.discard(0)
        self.check(len(seen) >= 3, "node %d snapshotted fewer than 3 times during the writes "
                   "(snapshot_index values seen: %s)" % (other, sorted(seen)))
        self.say("  %d keys written; node %d snapshotted at least %d times; now snapshot_index=%s "
                 "first_log_index=%s commit_index=%s" % (len(expected), other, len(seen),
                                                         infos[other]["snapshot_index"],
                                                         infos[other]["first_log_index"],
                                                         infos[leader]["commit_index"]))

        shutil.rmtree(c.data_dir(follower))
        t0 = time.time()
        c.start(follower)
        infos = self.converged(c.ids)
        x = infos[follower]
        self.say("  node %d restarted on an empty data dir; caught up in %.2f s: applied_index=%s "
                 "snapshot_index=%s first_log_index=%s digest=%s" % (
                     follower, time.time() - t0, x["applied_index"], x["snapshot_index"],
                     x["first_log_index"], x["digest"]))
        # It votes again only after rejoining (docs/protocol.md), which
        # needs every other voter: only then may the leader go.
        roles = self.wait_role(follower, ("follower", "leader"))
        self.say("  node %d reported synod_role %s after %.2f s" % (follower, " -> ".join(roles), time.time() - t0))
        self.check(int(x["snapshot_index"]) > 0 and int(x["first_log_index"]) > 1,
                   "node %d caught up without a snapshot: %s" % (follower, x))
        found = self.restored(follower)
        self.check(found, "node %d never logged 'restored the snapshot'" % follower)
        self.say("  its log: restored the snapshot of slot %d (%d keys)" % found[0])
        sample = dict(random.Random(5).sample(sorted(expected.items()), 300))
        self.read_back(sample, "sampled keys")
        self.check_counters()

        # The rejoined node usually leads now (a rejoin ends with a forced
        # campaign). Either way, with the old leader gone the majority left
        # needs the node that caught up from a snapshot.
        c.kill(leader)
        t0 = time.time()
        new_leader = self.leader(among=[follower, other])
        self.say("  kill -9 of node %d (the leader before the restart); node %d leads %.2f s later"
                 % (leader, new_leader, time.time() - t0))
        more = self.writes("after", 300, 30, sorted(self.counts))
        self.converged([follower, other])
        self.read_back(more, "keys written after the leader's kill")
        self.check_counters()

        _, (slot, nkeys) = self.restart_from_own_snapshot(leader)
        self.say("  old leader %d restarted on its data dir: restored its own snapshot of slot %d (%d keys), "
                 "converged" % (leader, slot, nkeys))
        self.read_back(sample, "sampled keys")
        self.finish_cluster()

    def recycled(self):
        self.own_snapshot(log_format=2)

    def own_snapshot(self, log_format=1):
        value_bytes, keys, n = 64 << 10, 64, 6144
        name = "own-snapshot" if log_format == 1 else "recycled"
        c = self.new_cluster(name, ["--snapshot-bytes", str(8 << 20), "--compaction-tail", "20",
                                    "--log-format", str(log_format)])
        self.log_format = log_format
        self.counts = {}
        pad = "y" * value_bytes
        big = lambda k: ("SET", "big%d" % (k % keys), "%d:%s" % (k, pad))  # noqa: E731
        t0 = time.time()
        replies, _ = self.run([big(k) for k in range(n)], batch=16)
        self.check(all(replies.get(j) == "OK" for j in range(n)), "a 64 KiB SET was not acknowledged")
        written = n * value_bytes
        self.converged(c.ids)
        self.say("[%s] %d MiB in %d SETs of 64 KiB over %d keys in %.1f s" % (
            name, written >> 20, n, keys, time.time() - t0))
        for i in c.ids:
            self.check_dir(i, written)
        victim = next(i for i in c.ids if i != self.leader())
        c.kill(victim)
        self.run([("SET", "small%d" % k, "v%d" % k) for k in range(100)])
        _, (slot, nkeys) = self.restart_from_own_snapshot(victim)
        self.say("  kill -9 of follower %d, 100 writes, restart on its data dir: restored its own snapshot "
                 "of slot %d (%d keys), converged" % (victim, slot, nkeys))
        # 12.5 MiB more: every node snapshots again, the restarted one too,
        # and the snapshot file it opened must go like any previous one.
        self.run([big(n + k) for k in range(200)], batch=16)
        written += 200 * value_bytes
        self.converged(c.ids)
        for i in c.ids:
            self.check_dir(i, written)
        self.check(self.own_snapshot_slot(victim) > slot, "node %d took no snapshot after its restart" % victim)
        self.finish_cluster()

    def check_dir(self, i, written, timeout=5.0):
        """Node i's data dir after `written` bytes of commands: at most 3
        segments of 64 MiB, the first two gone, one snapshot file (of INFO's
        snapshot_index), and at most 55% of what was written (3 segments and
        a snapshot; 1 or 2 segments are usual), spare segments aside: one
        being zeroed, and with --log-format 2 two, zeroed or recycled, of
        which the segments in use must show some (format version 2 in their
        header). Polled: a replaced snapshot file and compacted segments go
        right after the next sync."""
        end = time.time() + timeout
        while True:
            x = self.info(i)
            path = self.cluster.data_dir(i)
            files = dir_files(path)
            segments = [n for n, _ in files if n.endswith(".log")]
            snaps = [n for n, _ in files if n.endswith(".snap")]
            spares = [n for n, _ in files if n.endswith((".spare.tmp", ".recycled.tmp"))]
            total = sum(s for n, s in files if n not in spares)
            first = min(int(n[:-4], 16) for n in segments) if segments else 0
            problems = []
            if len(segments) > 3 or first < 3:
                problems.append("expected at most 3 segments of 64 MiB, the first two compacted away")
            if snaps != ["snapshot-%020d.snap" % int(x["snapshot_index"])]:
                problems.append("expected one snapshot file, of INFO's snapshot_index %s" % x["snapshot_index"])
            if total > written * 0.55:
                problems.append("%d MiB on disk, more than 55%% of the %d MiB written" % (total >> 20, written >> 20))
            if len(spares) > (2 if self.log_format == 2 else 1):
                problems.append("%d spare segments" % len(spares))
            if self.log_format == 2 and not any(segment_version(os.path.join(path, n)) == 2
                                                for n in segments):
                problems.append("no segment in use was recycled (format version 2)")
            if not problems:
                self.say("  node %d: %d MiB on disk after %d MiB written (%s)" % (
                    i, total >> 20, written >> 20, ", ".join(n for n, _ in files)))
                return
            if time.time() > end:
                raise Failure("node %d data dir (%s) after %d MiB written: %s" % (
                    i, ", ".join("%s %d" % f for f in files), written >> 20, "; ".join(problems)))
            time.sleep(0.05)

    def memory(self):
        c = self.new_cluster("memory", ["--snapshot-bytes", "20000", "--compaction-tail", "50"], memory=True)
        self.counts = {"mctr%d" % k: [0, 0] for k in range(3)}
        leader = self.leader()
        expected, _, _ = self.write_until_compacted("m", c.ids, 6)
        follower = next(i for i in c.ids if i != leader)
        c.kill(follower)
        c.start(follower)
        roles = self.wait_role(follower, ("follower", "leader"))
        self.check(roles[0] == "rejoining", "node %d restarted empty reported roles %s, not rejoining first"
                   % (follower, roles))
        infos = self.converged(c.ids)
        x = infos[follower]
        found = self.restored(follower)
        self.check(int(x["snapshot_index"]) > 0 and found,
                   "node %d restarted empty caught up without a snapshot: %s, restores logged %s"
                   % (follower, x, found))
        self.say("[memory] node %d restarted empty: %s, restored the snapshot of slot %d (%d keys), "
                 "converged at applied_index %s" % ((follower, " -> ".join(roles)) + found[0] + (x["applied_index"],)))
        expected.update(self.writes("m2", 200, 20, sorted(self.counts)))
        self.converged(c.ids)
        self.read_back(dict(random.Random(6).sample(sorted(expected.items()), 300)), "sampled keys")
        self.check_counters()
        self.finish_cluster()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--scenario", choices=["all", "new-disk", "own-snapshot", "memory", "recycled"],
                    default="all")
    ap.add_argument("--base-port", type=int, default=24000 + (os.getpid() % 160) * 50)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="synod-snap-e2e-")
    test, t0 = Test(args, workdir), time.time()
    steps = {"new-disk": test.new_disk, "own-snapshot": test.own_snapshot, "memory": test.memory,
             "recycled": test.recycled}
    try:
        for name, step in steps.items():
            if args.scenario in ("all", name):
                step()
    except Exception as e:
        why = str(e) if isinstance(e, Failure) else traceback.format_exc()
        print("kv snapshot e2e FAILED in scenario %s after %.1f s: %s" % (test.scenario, time.time() - t0, why))
        if test.cluster:
            print(test.cluster.diagnostics())
            test.cluster.stop_all()
        print("logs kept in %s" % workdir)
        return 1
    except BaseException:  # KeyboardInterrupt: no process left behind
        if test.cluster:
            test.cluster.stop_all()
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    print("kv snapshot e2e (%s): ok in %.1f s" % (args.scenario, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
