"""Sharded synod-kv (--shards 4) on 3 processes with durable logs, driven by
stock Redis Cluster clients (docs/kv.md, "Shards"):

1. CLUSTER INFO/SLOTS/SHARDS/NODES/MYID agree with each other on every node:
   16384 slots assigned, each shard led by one node, leaders spread.
2. redis-cli -c follows -MOVED from any node: SET on one node, GET on
   another; without -c the reply is -MOVED <slot> <leader's address>.
3. redis-benchmark --cluster reads CLUSTER NODES and runs SET/GET on every
   master without an error.
4. python3-redis RedisCluster (CLUSTER SLOTS on connect, follows MOVED)
   writes keys over every shard; keys on two shards in one MSET are set
   together (one MSETNX gets -CROSSSLOT); the leader of a shard is killed -9, RedisCluster keeps
   writing after the failover, the node restarts from its group log, and
   every acknowledged write is on every replica of its shard.
5. The data dir of a 4-shard node is refused under --shards 2.

  /usr/bin/python3 tests/e2e/kv_shards.py --bin build/examples/synod-kv
"""
import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_cluster import Cluster  # noqa: E402
from resp_client import RespClient, RespError, info  # noqa: E402

import redis  # python3-redis (scripts/install-deps.sh)
from redis.cluster import RedisCluster

SHARDS = 4
# python3-redis logs each refused connection to the killed node with a
# traceback; the test's own checks say what matters.
logging.getLogger("redis").setLevel(logging.CRITICAL)


class ShardedCluster(Cluster):
    """kv_cluster's three processes, each with --shards and a short election
    timeout (0.5 s to 1 s) so failovers fit the test's time."""

    def __init__(self, binary, base_port, workdir):
        super().__init__(binary, base_port, workdir)
        # The extra flags ride on a tiny shell wrapper, so kv_cluster's
        # command line stays the one source of the common flags.
        script = os.path.join(workdir, "synod-kv-sharded")
        with open(script, "w") as f:
            f.write("#!/bin/sh\nexec %s \"$@\" --shards %d --election-ticks 50\n" % (binary, SHARDS))
        os.chmod(script, 0o755)
        self.binary = script

    def clean_up(self, ok):
        """kill -9 of what still runs; the work directory goes after a pass
        and is kept (and named) after a failure."""
        for i in self.ids:
            if i in self.procs and self.procs[i].poll() is None:
                self.kill(i)
        if ok:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print("logs kept in", self.workdir)


def shard_leaders(port):
    """{shard number: leader id} from INFO shards, or None."""
    i = info(port)
    if not i:
        return None
    out = {}
    for s in range(1, SHARDS + 1):
        fields = dict(kv.split("=") for kv in i["shard%d" % s].split(","))
        out[s] = int(fields["leader"])
    return out


def wait_for(what, check, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def cli(port, *args, cluster_mode=False):
    cmd = ["redis-cli", "-p", str(port)] + (["-c"] if cluster_mode else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()


def check_views(c):
    ports = [c.client_port[i] for i in c.ids]
    wait_for("every shard led", lambda: all(
        "cluster_state:ok" in cli(p, "CLUSTER", "INFO") for p in ports))
    # Leaders spread over the three nodes (first placement, or GroupHost's
    # balancing every 3 s when one node won every first election).
    leaders = wait_for("leaders spread over the nodes", lambda: (
        lambda l: l if l and len(set(l.values())) == 3 and 0 not in l.values() else None)(
            shard_leaders(ports[0])))
    wait_for("every node sees the same leaders",
             lambda: all(shard_leaders(p) == leaders for p in ports))
    r = RespClient(ports[1])  # raw replies: python3-redis reshapes CLUSTER's
    cinfo = r.call("CLUSTER", "INFO")
    assert "cluster_slots_assigned:16384" in cinfo and "cluster_known_nodes:3" in cinfo, cinfo
    slots = r.call("CLUSTER", "SLOTS")
    assert sorted((s[0], s[1]) for s in slots) == [(0, 4095), (4096, 8191), (8192, 12287),
                                                    (12288, 16383)], slots
    for s in slots:
        shard = s[0] // 4096 + 1
        assert s[2][1] == c.client_port[leaders[shard]], (s, leaders)
        # The leader only: every node leads a shard, so it is a master, and
        # a node is listed with one role (docs/kv.md, "Redis Cluster's views").
        assert len(s) == 3, s
    assert r.call("CLUSTER", "MYID") == "%040x" % 2
    nodes = r.call("CLUSTER", "NODES")
    assert ("%040x 127.0.0.1:%d@%d myself," % (2, c.client_port[2], c.peer_port[2])) in nodes, nodes
    masters = [line for line in nodes.splitlines() if " master " in line or ",master " in line]
    assert len(masters) == 3, nodes
    shards = r.call("CLUSTER", "SHARDS")
    assert len(shards) == 3, shards  # one per master, with all its ranges
    assert sorted(len(s[1]) for s in shards) == [2, 2, 4], shards
    assert r.call("READONLY") == "OK" and r.call("READWRITE") == "OK" and r.call("ASKING") == "OK"
    print("views: leaders %s, CLUSTER SLOTS/SHARDS/NODES/INFO/MYID consistent" % leaders)
    return leaders


def check_redis_cli(c):
    p1, p2, p3 = (c.client_port[i] for i in c.ids)
    for k in range(20):
        assert cli([p1, p2, p3][k % 3], "SET", "cli%d" % k, "v%d" % k, cluster_mode=True) == "OK"
    for k in range(20):
        assert cli([p3, p1, p2][k % 3], "GET", "cli%d" % k, cluster_mode=True) == "v%d" % k
    # Without -c: some node does not lead foo's shard and redirects.
    answers = [cli(p, "GET", "foo") for p in (p1, p2, p3)]
    moved = [a for a in answers if a.startswith("MOVED")]
    assert len(moved) == 2 and all(a.startswith("MOVED 12182 127.0.0.1:") for a in moved), answers
    print("redis-cli -c: 20 SETs and GETs through any node; plain redis-cli gets MOVED 12182")


def check_redis_benchmark(c):
    if not shutil.which("redis-benchmark"):
        print("redis-benchmark not installed: its check skipped")
        return
    out = subprocess.run(["redis-benchmark", "--cluster", "-p", str(c.client_port[1]),
                          "-t", "set,get", "-n", "20000", "-c", "12", "-P", "4", "-q"],
                         capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert text.count("Master ") == 3, text
    assert "requests per second" in text and "SET:" in text and "GET:" in text, text
    assert "error" not in text.lower(), text
    print("redis-benchmark --cluster: 3 masters, SET and GET without an error")


def check_redis_cluster_failover(c, leaders):
    rc = RedisCluster(host="127.0.0.1", port=c.client_port[3], cluster_error_retry_attempts=10)
    acked = {}
    for k in range(400):
        rc.set("rc%d" % k, k)
        acked["rc%d" % k] = k
    assert all(int(rc.get(key)) == v for key, v in acked.items())
    per_shard = [info(c.client_port[1])["shard%d" % s] for s in range(1, SHARDS + 1)]
    assert all("keys=0" not in s for s in per_shard), per_shard
    # Every leader is a primary to the client, so DBSIZE summed over the
    # primaries counts every key once (python3-redis 4.3 sends a bare
    # dbsize() to one node; later releases to the primaries).
    assert sorted(n.port for n in rc.get_primaries()) == sorted(c.client_port.values())

    def keys_in_shards():
        return sum(int(field.split("=")[1]) for s in range(1, SHARDS + 1)
                   for field in info(c.client_port[1])["shard%d" % s].split(",")
                   if field.startswith("keys="))
    wait_for("DBSIZE over the primaries counts every key",
             lambda: rc.dbsize(target_nodes=RedisCluster.PRIMARIES) == keys_in_shards())
    # RedisCluster refuses such an MSET itself; sent raw to foo's leader it
    # runs as a cross-shard transaction (tests/e2e/kv_shards_txn.py), and
    # MSETNX over two shards is refused:
    r = RespClient(c.client_port[leaders[3]])
    assert r.call("MSET", "foo", "1", "bar", "2") == "OK"
    assert r.call("MGET", "foo", "bar") == ["1", "2"]
    try:
        r.call("MSETNX", "foo", "1", "bar", "2")
        raise AssertionError("MSETNX over two shards accepted")
    except RespError as e:
        assert str(e).startswith("CROSSSLOT"), e

    victim = leaders[1]
    c.kill(victim)
    survivor = [i for i in c.ids if i != victim][0]
    wait_for("shard 1 led again", lambda: (shard_leaders(c.client_port[survivor]) or {}).get(1)
             not in (None, 0, victim))
    reconnects = 0
    for k in range(400, 600):
        for attempt in range(50):
            try:
                rc.set("rc%d" % k, k)
                acked["rc%d" % k] = k
                break
            except redis.exceptions.RedisClusterException:
                # python3-redis 4.3 cannot rebuild its slot map once the dead
                # node's connection is gone ("cannot pickle '_thread.lock'",
                # its deepcopy of the connection arguments): a new client
                # from a live node reads CLUSTER SLOTS afresh.
                rc = RedisCluster(host="127.0.0.1", port=c.client_port[survivor])
                reconnects += 1
            except (redis.exceptions.ConnectionError, redis.exceptions.ClusterError,
                    redis.exceptions.TryAgainError, redis.exceptions.ResponseError) as e:
                # -UNKNOWN: the write may or may not be there; not acknowledged.
                if isinstance(e, redis.exceptions.ResponseError) and "UNKNOWN" not in str(e):
                    raise
                time.sleep(0.1)
    assert len(acked) == 600, len(acked)
    c.start(victim)
    wait_for("the restarted node caught up", lambda: converged(c))
    for i in c.ids:
        assert info(c.client_port[i])["keys"] == info(c.client_port[survivor])["keys"]
    rc2 = RedisCluster(host="127.0.0.1", port=c.client_port[victim])
    missing = [key for key, v in acked.items() if rc2.get(key) != str(v).encode()]
    assert not missing, "acknowledged writes missing: %s" % missing[:10]
    print("RedisCluster: 600 acknowledged writes over 4 shards, leader of shard 1 (node %d) "
          "killed -9 and restarted, all present, replicas agree" % victim)


def converged(c):
    infos = [info(c.client_port[i]) for i in c.ids]
    if not all(infos):
        return False
    shards = [[x["shard%d" % s].split(",")[4:] for s in range(1, SHARDS + 1)] for x in infos]
    return all(s == shards[0] for s in shards) and len({x["digest"] for x in infos}) == 1


def check_shard_count_refused(c, binary):
    c.kill(2)
    out = subprocess.run([binary, "--id", "2", "--peers", "1=127.0.0.1:1,2=127.0.0.1:2",
                          "--listen", "127.0.0.1:3", "--data-dir", c.data_dir(2), "--shards", "2"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode != 0 and "start with --shards 4" in out.stderr, out.stderr
    print("a 4-shard data dir is refused under --shards 2")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--base-port", type=int, default=26400)
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    workdir = tempfile.mkdtemp(prefix="synod-kv-shards-")
    c = ShardedCluster(binary, args.base_port, workdir)
    ok = False
    try:
        for i in c.ids:
            c.start(i)
        leaders = check_views(c)
        check_redis_cli(c)
        check_redis_benchmark(c)
        check_redis_cluster_failover(c, leaders)
        check_shard_count_refused(c, binary)
        c.check_alive()
        assert not c.unexpected_exits, c.unexpected_exits
        ok = True
    finally:
        c.clean_up(ok)
    print("PASS")


if __name__ == "__main__":
    main()
