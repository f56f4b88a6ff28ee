"""Cross-shard transactions on a sharded synod-kv (--shards 4, 3 processes,
durable group logs; docs/kv.md, "Transactions across shards"):

1. redis-cli -c: MSET and MGET over keys of several shards answer as one
   command (atomic through the commit protocol, not -CROSSSLOT); MSETNX over
   several shards is refused with -CROSSSLOT.
2. A bank: 12 accounts over the 4 shards. Four clients run transfers, each
   MULTI / DECRBY a / INCRBY b / SET ledger:<id> / EXEC on the node leading
   a's shard (following -MOVED, retrying -TRYAGAIN), while a reader checks
   the total with one cross-shard MGET of every account. Meanwhile the
   leader of a coordinator's shard, and then of a participant's shard, are
   killed -9 and restarted from their logs.
   A RedisCluster client meanwhile GETs and INCRBYs 0 single accounts (the
   lock wait). WATCH of keys on two shards commits or answers nil.
3. Afterwards: the replicas of every shard agree (INFO digests), nothing is
   left prepared, the total is intact, every acknowledged transfer's ledger
   key is there, and the balances are exactly the initial ones moved by the
   ledger keys present (no transfer half applied); then every finished
   transaction is forgotten on every node (INFO txn_records, txn_finished).

  /usr/bin/python3 tests/e2e/kv_shards_txn.py --bin build/examples/synod-kv
"""
import argparse
import logging
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_shards import SHARDS, ShardedCluster, cli, shard_leaders, wait_for  # noqa: E402
from resp_client import RespClient, RespError, info  # noqa: E402

import redis  # python3-redis (scripts/install-deps.sh)
from redis.cluster import RedisCluster

ACCOUNTS = ["acct%d" % i for i in range(12)]
START = 1000
logging.getLogger("redis").setLevel(logging.CRITICAL)


def slot_shard(port, key):
    return RespClient(port).call("CLUSTER", "KEYSLOT", key) * SHARDS // 16384 + 1


class Bank:
    """Transfer clients and an all-balances reader."""

    def __init__(self, c, shard_of):
        self.c, self.shard_of = c, shard_of
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked, self.unknown, self.retries = {}, set(), 0
        self.reads, self.bad_reads, self.errors = 0, [], []
        self.single_ops = 0
        self.next_id = 0

    def port_for(self, node):
        return self.c.client_port[node]

    def call_on_leader(self, first_key, commands):
        """Sends MULTI ... EXEC to the node leading first_key's shard,
        following -MOVED. Returns EXEC's reply, or raises."""
        port = self.port_for(random.choice(self.c.ids))
        for _ in range(20):
            try:
                r = RespClient(port, timeout=5)
            except OSError:
                port = self.port_for(random.choice(self.c.ids))
                time.sleep(0.05)
                continue
            try:
                if commands is None:
                    return r.call("MGET", *ACCOUNTS)
                r.call("MULTI")
                for cmd in commands:
                    r.call(*cmd)
                return r.call("EXEC")
            except RespError as e:
                if e.text.startswith("MOVED"):
                    port = int(e.text.split()[2].rsplit(":", 1)[1])
                    continue
                raise
            finally:
                r.close()
        raise RespError("TRYAGAIN too many redirects")

    def transfer_loop(self, seed):
        rnd = random.Random(seed)
        while not self.stop.is_set():
            a, b = rnd.sample(ACCOUNTS, 2)
            if self.shard_of[a] == self.shard_of[b]:
                continue
            with self.lock:
                self.next_id += 1
                tid = "%d-%d" % (seed, self.next_id)
            amount = rnd.randint(1, 20)
            cmds = [("DECRBY", a, amount), ("INCRBY", b, amount),
                    ("SET", "ledger:" + tid, "%s %s %d" % (a, b, amount))]
            for attempt in range(40):
                try:
                    r = self.call_on_leader(a, cmds)
                    if isinstance(r, list) and len(r) == 3 and r[2] == "OK":
                        with self.lock:
                            self.acked[tid] = (a, b, amount)
                    else:
                        self.errors.append("transfer %s: %r" % (tid, r))
                    break
                except RespError as e:
                    if e.text.startswith("TRYAGAIN"):  # nothing applied: retry
                        self.retries += 1
                        time.sleep(0.05)
                        continue
                    if e.text.startswith("UNKNOWN"):
                        self.unknown.add(tid)
                        break
                    self.errors.append("transfer %s: %s" % (tid, e.text))
                    break
                except (OSError, ConnectionError):
                    self.unknown.add(tid)  # the EXEC may have been sent
                    break

    def read_loop(self):
        while not self.stop.is_set():
            try:
                values = self.call_on_leader(ACCOUNTS[0], None)
            except (RespError, OSError, ConnectionError):
                time.sleep(0.05)
                continue
            total = sum(int(v) for v in values)
            self.reads += 1
            if total != START * len(ACCOUNTS):
                self.bad_reads.append(values)
            time.sleep(0.02)

    def single_key_loop(self):
        """RedisCluster (cluster-aware) GETs and no-op INCRBYs on the
        accounts: single-key commands on keys transfers lock, which wait for
        the decision (docs/kv.md, "Lock wait")."""
        rc, rnd = None, random.Random(7)
        while not self.stop.is_set():
            try:
                if rc is None:
                    rc = RedisCluster(host="127.0.0.1", port=self.port_for(rnd.choice(self.c.ids)))
                a = rnd.choice(ACCOUNTS)
                if rnd.random() < 0.5:
                    int(rc.get(a))
                else:
                    rc.incrby(a, 0)
                self.single_ops += 1
            except redis.exceptions.ResponseError as e:
                if not str(e).startswith(("TRYAGAIN", "UNKNOWN")):
                    self.errors.append("single-key: %s" % e)
            except (redis.exceptions.RedisError, OSError):
                rc = None  # a killed node: a new client reads CLUSTER SLOTS afresh
                time.sleep(0.1)

    def run(self, seconds_before, faults):
        threads = [threading.Thread(target=self.transfer_loop, args=(s,)) for s in range(1, 5)]
        threads.append(threading.Thread(target=self.read_loop))
        threads.append(threading.Thread(target=self.single_key_loop))
        for t in threads:
            t.start()
        try:
            time.sleep(seconds_before)
            faults()
        finally:
            self.stop.set()
            for t in threads:
                t.join()


def converged(c):
    infos = [info(c.client_port[i]) for i in c.ids]
    if not all(infos):
        return False
    views = [[x["shard%d" % s].split(",")[4:] for s in range(1, SHARDS + 1)] for x in infos]
    prepared = all("prepared=0" in x["shard%d" % s] for x in infos for s in range(1, SHARDS + 1))
    return prepared and all(v == views[0] for v in views) and len({x["digest"] for x in infos}) == 1


def check_cli_multi_key(c):
    p1, p2, p3 = (c.client_port[i] for i in c.ids)
    keys = ["mk%d" % k for k in range(8)]
    assert len({slot_shard(p1, k) for k in keys}) > 1
    args = []
    for k in keys:
        args += [k, "v" + k]
    assert cli(p2, "MSET", *args, cluster_mode=True) == "OK"
    got = cli(p3, "MGET", *keys, cluster_mode=True).split("\n")
    assert got == ["v" + k for k in keys], got
    assert cli(p1, "DEL", *keys[:4], cluster_mode=True) == "4"
    assert cli(p1, "EXISTS", *keys, cluster_mode=True) == "4"
    out = cli(p1, "MSETNX", keys[0], "x", keys[5], "y", cluster_mode=True)
    assert "CROSSSLOT" in out, out
    print("redis-cli -c: MSET/MGET/DEL/EXISTS over %d shards answer as one command; "
          "MSETNX over several is CROSSSLOT" % len({slot_shard(p1, k) for k in keys}))


def exec_anywhere(c, watch, commands, between=None):
    """WATCH, then MULTI ... EXEC on each node until one leads the first
    key's shard (the others answer EXEC with -MOVED)."""
    for i in c.ids:
        r = RespClient(c.client_port[i])
        try:
            if watch:
                assert r.call("WATCH", *watch) == "OK"
            if between:
                between()
            r.call("MULTI")
            for cmd in commands:
                assert r.call(*cmd) == "QUEUED"
            return r.call("EXEC")
        except RespError as e:
            if not e.text.startswith("MOVED"):
                raise
        finally:
            r.close()
    raise AssertionError("no node ran the EXEC")


def check_watch(c):
    p1 = c.client_port[1]
    w1 = "w1"
    w2 = next("w2-%d" % i for i in range(100) if slot_shard(p1, "w2-%d" % i) != slot_shard(p1, w1))
    got = exec_anywhere(c, [w1, w2], [("SET", w1, "a"), ("SET", w2, "b")])
    assert got == ["OK", "OK"], got
    got = exec_anywhere(c, [w1, w2], [("SET", w1, "c"), ("SET", w2, "d")],
                        between=lambda: cli(p1, "SET", w2, "changed", cluster_mode=True))
    assert got == [], got  # *-1: resp_client reads a nil array as an empty one
    assert cli(p1, "MGET", w1, w2, cluster_mode=True).split("\n") == ["a", "changed"]
    print("WATCH of keys on two shards: EXEC commits when neither changed, nil (nothing "
          "applied) when one did")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--base-port", type=int, default=26600)
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    workdir = tempfile.mkdtemp(prefix="synod-kv-shards-txn-")
    c = ShardedCluster(binary, args.base_port, workdir)
    ok = False
    try:
        for i in c.ids:
            c.start(i)
        ports = [c.client_port[i] for i in c.ids]
        wait_for("every shard led", lambda: all(
            "cluster_state:ok" in cli(p, "CLUSTER", "INFO") for p in ports))
        check_cli_multi_key(c)
        check_watch(c)

        shard_of = {a: slot_shard(ports[0], a) for a in ACCOUNTS}
        assert len(set(shard_of.values())) == SHARDS, shard_of
        args_mset = []
        for a in ACCOUNTS:
            args_mset += [a, str(START)]
        assert cli(ports[0], "MSET", *args_mset, cluster_mode=True) == "OK"
        bank = Bank(c, shard_of)

        def faults():
            for shard in (shard_of[ACCOUNTS[0]], shard_of[ACCOUNTS[1]]
                          if shard_of[ACCOUNTS[1]] != shard_of[ACCOUNTS[0]]
                          else (shard_of[ACCOUNTS[0]] % SHARDS) + 1):
                leaders = wait_for("shard leaders", lambda: shard_leaders(ports[0]))
                victim = leaders[shard]
                before = len(bank.acked)
                c.kill(victim)
                live = [i for i in c.ids if i != victim]
                wait_for("shard %d led again" % shard, lambda: (
                    shard_leaders(c.client_port[live[0]]) or {}).get(shard) not in (None, 0, victim))
                time.sleep(1.5)
                c.start(victim)
                time.sleep(1.5)
                print("killed -9 node %d (leader of shard %d) with %d transfers acknowledged; "
                      "%d more since" % (victim, shard, before, len(bank.acked) - before))

        bank.run(2.0, faults)
        assert not bank.errors, bank.errors[:5]
        wait_for("replicas agree and nothing is prepared", lambda: converged(c), timeout=30)

        final = RespClient(ports[0])
        values = None
        for _ in range(50):
            try:
                values = bank.call_on_leader(ACCOUNTS[0], None)
                break
            except RespError:
                time.sleep(0.1)
        balances = dict(zip(ACCOUNTS, (int(v) for v in values)))
        assert sum(balances.values()) == START * len(ACCOUNTS), balances
        present = {}
        for tid in list(bank.acked) + sorted(bank.unknown):
            v = cli(ports[0], "GET", "ledger:" + tid, cluster_mode=True)
            if v:
                a, b, amount = v.split()
                present[tid] = (a, b, int(amount))
        missing = [t for t in bank.acked if t not in present]
        assert not missing, "acknowledged transfers missing: %s" % missing[:10]
        expect = {a: START for a in ACCOUNTS}
        for a, b, amount in present.values():
            expect[a] -= amount
            expect[b] += amount
        assert expect == balances, (expect, balances)
        assert not bank.bad_reads, bank.bad_reads[:3]
        assert bank.reads > 10, bank.reads
        final.close()
        assert bank.single_ops > 50, bank.single_ops
        t = [info(p) for p in ports]
        print("bank: %d transfers acknowledged, %d unknown (%d of them applied), %d TRYAGAIN "
              "retries, %d all-balance reads all %d; balances match the ledger; replicas agree; "
              "txn committed per node %s; %d single-key GET/INCRBY 0 by RedisCluster, lock "
              "waits per node %s" % (
                  len(bank.acked), len(bank.unknown),
                  len([u for u in bank.unknown if u in present]), bank.retries, bank.reads,
                  START * len(ACCOUNTS), [x["txn_committed"] for x in t], bank.single_ops,
                  [x["lock_waits"] for x in t]))
        # Forgetting (docs/kv.md): once quiet, every coordinator record and
        # every participant's finished record goes, on every node.
        def forgotten():
            xs = [info(p) for p in ports]
            return all(x["txn_records"] == "0" and x["txn_finished"] == "0" for x in xs)
        wait_for("every finished transaction forgotten on every node", forgotten, timeout=20)
        print("forgotten: txn_records and txn_finished 0 on every node")
        c.check_alive()
        assert not c.unexpected_exits, c.unexpected_exits
        ok = True
    finally:
        c.clean_up(ok)
    print("PASS")


if __name__ == "__main__":
    main()
