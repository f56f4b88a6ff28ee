"""synod-kv's transactions and new commands on a 3-process cluster (one
group, durable logs), against redis-server as the reference:

1. The same command sequences (INCRBY, DECRBY, DECR, GETSET, MSET, MGET,
   MSETNX, MULTI/EXEC/DISCARD/WATCH/UNWATCH and their errors) sent to
   synod-kv's leader and to a redis-server on a unix socket: every reply
   must be the same.
2. python3-redis: pipelines with transaction=True, WATCH with a change by
   another client (WatchError), and optimistic increments from 4 threads
   (WATCH/GET/MULTI/SET/EXEC, retried on nil) that must add up exactly; a
   MULTI queue over the log's 1 MiB refused, counted in INFO, EXECABORT.
3. A bank: 4 clients transfer between 10 accounts with MULTI/DECRBY/INCRBY/
   SET marker/EXEC while another reads every balance in one MULTI/MGET/EXEC,
   and the leader is killed -9 and restarted midway. Every read sees the
   total; afterwards the total is intact on every replica and every
   acknowledged transfer's marker is there.

  /usr/bin/python3 tests/e2e/kv_txn.py --bin build/examples/synod-kv
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv_cluster import Cluster, converge  # noqa: E402
from resp_client import RespClient, RespError, info  # noqa: E402

import redis  # python3-redis (scripts/install-deps.sh)

ACCOUNTS, START = 10, 100

# Sequences sent on one connection each; "%" in a key is replaced by a
# per-run prefix so reruns start clean.
SCRIPTS = [
    [["SET", "%n", "5"], ["INCRBY", "%n", "10"], ["DECRBY", "%n", "3"], ["DECR", "%n"],
     ["DECR", "%fresh"], ["INCRBY", "%n", "x"], ["INCRBY", "%n", "9223372036854775807"],
     ["DECRBY", "%n", "-9223372036854775808"], ["SET", "%s", "abc"], ["DECR", "%s"],
     ["INCRBY", "%n"], ["GET", "%n"]],
    [["GETSET", "%g", "1"], ["GETSET", "%g", "2"], ["GET", "%g"], ["GETSET", "%g"]],
    [["MSET", "%a", "1", "%b", "2", "%a", "3"], ["MGET", "%a", "%b", "%nope"], ["MSET", "%a"],
     ["MSET", "%a", "1", "%b"], ["MSETNX", "%a", "9", "%c", "9"], ["MGET", "%c"],
     ["MSETNX", "%c", "1", "%d", "2"], ["MGET", "%c", "%d"], ["MSETNX", "%e"]],
    [["EXEC"], ["DISCARD"], ["MULTI"], ["MULTI"], ["SET", "%x", "1"], ["WATCH", "%x"],
     ["INCR", "%x"], ["GET", "%x"], ["MGET", "%x", "%y"], ["EXISTS", "%x"], ["EXEC"],
     ["MULTI"], ["SET", "%y", "3"], ["DISCARD"], ["GET", "%y"],
     ["MULTI"], ["SET", "%x"], ["SET", "%y", "2"], ["EXEC"], ["GET", "%y"],
     ["MULTI"], ["NOSUCHCOMMAND", "a"], ["EXEC"],
     ["MULTI"], ["SET", "%s", "abc"], ["INCR", "%s"], ["GET", "%s"], ["EXEC"]],
    [["WATCH", "%w"], ["SET", "%w", "1"], ["MULTI"], ["GET", "%w"], ["EXEC"],
     ["WATCH", "%w", "%v"], ["MULTI"], ["SET", "%v", "1"], ["EXEC"],
     ["WATCH", "%w"], ["DEL", "%w"], ["SET", "%w", "2"], ["MULTI"], ["EXEC"],
     ["WATCH", "%w"], ["UNWATCH"], ["SET", "%w", "3"], ["MULTI"], ["GET", "%w"], ["EXEC"],
     ["WATCH"], ["MULTI"], ["EXEC"]],
]

# Sent whole before any reply is read (each 20 times, keys fresh each time):
# a later write of the connection is on its way while its earlier read
# waits for its ReadIndex. Redis answers in order: the GET sees "old", and
# the EXEC aborts (the client's own SET after WATCH counts).
PIPELINED = [
    [["SET", "%p", "old"], ["GET", "%p"], ["SET", "%p", "new"], ["GET", "%p"]],
    [["SET", "%q", "0"], ["WATCH", "%q"], ["SET", "%q", "mine"], ["MULTI"], ["SET", "%q", "txn"],
     ["EXEC"], ["GET", "%q"]],
]


def read_any(conn):
    """One reply, errors as ("error", text) at any depth (RespClient.read
    raises on the first, which would leave the rest of an array unread)."""
    line = conn._line()
    kind, rest = line[:1], line[1:]
    if kind == b"-":
        return ("error", rest.decode())
    if kind == b"*" and int(rest) >= 0:
        return [read_any(conn) for _ in range(int(rest))]
    if kind == b"*":
        return None
    conn.buf = line + b"\r\n" + conn.buf
    return conn.read()


def raw(conn, args):
    conn.send(*args)
    return read_any(conn)


def normal(v):
    """redis-py's reply in read_any's shape."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [normal(x) for x in v]
    if isinstance(v, redis.ResponseError):
        return ("error", str(v))
    return v


def same_reply(got, want):
    if isinstance(got, tuple) and isinstance(want, tuple):
        # redis-py drops the "ERR " code of errors; the text must match.
        return got[1].endswith(want[1])
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(same_reply(g, w) for g, w in zip(got, want))
    return got == want


def redis_reply(conn):
    """redis-server's next reply on a raw redis-py connection, in read_any's
    shape."""
    try:
        return normal(conn.read_response())
    except redis.ResponseError as e:
        return ("error", str(e))


def compare_with_redis(port, redis_sock, prefix):
    """Mismatches between synod-kv and redis-server, as text."""
    ours = RespClient(port)
    theirs = redis.Redis(unix_socket_path=redis_sock)
    theirs_raw = theirs.connection_pool.get_connection("_")
    bad = []
    for script in SCRIPTS:
        for args in script:
            args = [a.replace("%", prefix) for a in args]
            got = raw(ours, args)
            theirs_raw.send_command(*args)
            want = redis_reply(theirs_raw)
            if not same_reply(got, want):
                bad.append("%s: synod-kv %r, redis-server %r" % (" ".join(args), got, want))
    for script in PIPELINED:
        for rep in range(20):
            cmds = [[a.replace("%", "%sp%d." % (prefix, rep)) for a in args] for args in script]
            for args in cmds:
                ours.send(*args)
                theirs_raw.send_command(*args)
            for args in cmds:
                got = read_any(ours)
                want = redis_reply(theirs_raw)
                if not same_reply(got, want):
                    bad.append("pipelined %s: synod-kv %r, redis-server %r" % (" ".join(args), got, want))
    ours.close()
    return bad


def redis_py_checks(port):
    bad = []
    r = redis.Redis(port=port, decode_responses=True)
    p = r.pipeline(transaction=True)
    p.set("py.k", "1").incr("py.k").get("py.k").mget("py.k", "py.none")
    res = p.execute()
    if res != [True, 2, "2", ["2", None]]:
        bad.append("pipeline(transaction=True) gave %r" % (res,))
    with r.pipeline() as p:
        p.watch("py.k")
        r.set("py.k", "changed")  # another client
        p.multi()
        p.set("py.k", "mine")
        try:
            p.execute()
            bad.append("EXEC after a watched key changed did not raise WatchError")
        except redis.WatchError:
            pass
    if r.get("py.k") != "changed":
        bad.append("the aborted transaction wrote py.k")
    r.set("py.ctr", "0")
    retries = [0]

    def bump():
        c = redis.Redis(port=port, decode_responses=True)
        for _ in range(25):
            while True:
                with c.pipeline() as p:
                    try:
                        p.watch("py.ctr")
                        v = int(p.get("py.ctr"))
                        p.multi()
                        p.set("py.ctr", v + 1)
                        p.execute()
                        break
                    except redis.WatchError:
                        retries[0] += 1
    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if r.get("py.ctr") != "100":
        bad.append("4 x 25 optimistic increments ended at %r, not 100" % r.get("py.ctr"))
    return bad, retries[0]


def queue_limit_checks(port):
    """A MULTI queue past the log's command size is refused, counted in INFO
    (txn_queue_refusals), and EXEC then answers EXECABORT."""
    bad = []
    c = RespClient(port, timeout=10.0)
    before = int(info(port).get("txn_queue_refusals", -1))
    big = "v" * (600 * 1024)
    replies = [raw(c, ["MULTI"]), raw(c, ["SET", "big.1", big]), raw(c, ["SET", "big.2", big]),
               raw(c, ["EXEC"]), raw(c, ["EXISTS", "big.1", "big.2"])]
    c.close()
    if replies[:2] != ["OK", "QUEUED"] or not isinstance(replies[2], tuple) \
            or "transaction too large" not in replies[2][1]:
        bad.append("a MULTI queue over 1 MiB was not refused: %r" % (replies[:3],))
    if not isinstance(replies[3], tuple) or not replies[3][1].startswith("EXECABORT"):
        bad.append("EXEC after a refused queued command answered %r" % (replies[3],))
    if replies[4] != 0:
        bad.append("the aborted transaction wrote %r keys" % (replies[4],))
    after = int(info(port).get("txn_queue_refusals", -1))
    if after != before + 1:
        bad.append("INFO txn_queue_refusals went from %d to %d, not up by 1" % (before, after))
    return bad


class Bank:
    def __init__(self, cluster):
        self.cluster = cluster
        self.hint = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked, self.unknown, self.errors, self.reads, self.bad_reads = [], 0, [], 0, []
        self.by_address = {"127.0.0.1:%d" % cluster.client_port[i]: i for i in cluster.ids}

    def conn(self):
        with self.lock:
            node = self.hint or random.choice(self.cluster.ids)
        return node, self.cluster.connect(node, timeout=3.0)

    def moved(self, node, text):
        with self.lock:
            if text.startswith("MOVED"):
                self.hint = self.by_address.get(text.split()[-1])
            elif self.hint == node:
                self.hint = None

    def transfer_loop(self, n):
        seq, c, node = 0, None, None
        rnd = random.Random(n)
        while not self.stop.is_set():
            try:
                if c is None:
                    node, c = self.conn()
                a, b = rnd.sample(range(ACCOUNTS), 2)
                amount = rnd.randint(1, 10)
                marker = "bank.tx.%d.%d" % (n, seq)
                seq += 1
                for cmd in (["MULTI"], ["DECRBY", "bank.%d" % a, amount],
                            ["INCRBY", "bank.%d" % b, amount], ["SET", marker, "1"], ["EXEC"]):
                    c.send(*cmd)
                replies = []
                err = None
                for _ in range(5):
                    try:
                        replies.append(c.read())
                    except RespError as e:
                        err = err or e.text
                if err is not None:
                    with self.lock:
                        if err.startswith("UNKNOWN"):
                            self.unknown += 1
                    self.moved(node, err)
                    c.close()
                    c = None
                    continue
                exec_reply = replies[-1]
                if not isinstance(exec_reply, list) or len(exec_reply) != 3 or exec_reply[2] != "OK":
                    with self.lock:
                        self.errors.append("transfer EXEC answered %r" % (exec_reply,))
                    continue
                with self.lock:
                    self.acked.append(marker)
            except (OSError, ConnectionError):
                self.moved(node, "")
                c = None
                time.sleep(0.02)

    def read_loop(self):
        c, node = None, None
        keys = ["bank.%d" % i for i in range(ACCOUNTS)]
        while not self.stop.is_set():
            try:
                if c is None:
                    node, c = self.conn()
                for cmd in (["MULTI"], ["MGET"] + keys, ["EXEC"]):
                    c.send(*cmd)
                replies, err = [], None
                for _ in range(3):
                    try:
                        replies.append(c.read())
                    except RespError as e:
                        err = err or e.text
                if err is not None:
                    self.moved(node, err)
                    c.close()
                    c = None
                    continue
                values = replies[-1][0]
                total = sum(int(v) for v in values)
                with self.lock:
                    self.reads += 1
                    if total != ACCOUNTS * START:
                        self.bad_reads.append(values)
            except (OSError, ConnectionError):
                self.moved(node, "")
                c = None
                time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seconds", type=float, default=3.0, help="bank run before and after the kill")
    ap.add_argument("--base-port", type=int, default=19100 + (os.getpid() % 200) * 30)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="synod-kv-txn-")
    redis_sock = os.path.join(workdir, "redis.sock")
    ref = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", redis_sock, "--save", "",
                            "--appendonly", "no", "--dir", workdir],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cluster = Cluster(os.path.abspath(args.bin), args.base_port, workdir)
    failures = []
    t0 = time.time()
    try:
        for i in cluster.ids:
            cluster.start(i)
        leader = cluster.leader(timeout=15)
        if leader is None:
            raise RuntimeError("no leader within 15 s")
        end = time.time() + 5
        while not os.path.exists(redis_sock) and time.time() < end:
            time.sleep(0.05)
        port = cluster.client_port[leader]
        failures += compare_with_redis(port, redis_sock, "t%d." % os.getpid())
        bad, retries = redis_py_checks(port)
        failures += bad
        failures += queue_limit_checks(port)

        setup = RespClient(port)
        setup.call("MSET", *sum([["bank.%d" % i, START] for i in range(ACCOUNTS)], []))
        setup.close()
        bank = Bank(cluster)
        bank.hint = leader
        threads = [threading.Thread(target=bank.transfer_loop, args=(n,)) for n in range(4)]
        threads.append(threading.Thread(target=bank.read_loop))
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        cluster.kill(leader)
        time.sleep(args.seconds)
        cluster.start(leader)
        time.sleep(1.0)
        bank.stop.set()
        for t in threads:
            t.join()
        infos, why = converge(cluster)
        if infos is None:
            failures.append("replicas did not converge: %s" % why)
        new_leader = cluster.leader()
        c = RespClient(cluster.client_port[new_leader])
        balances = c.call("MGET", *["bank.%d" % i for i in range(ACCOUNTS)])
        total = sum(int(v) for v in balances)
        if total != ACCOUNTS * START:
            failures.append("the bank's total is %d, not %d: %r" % (total, ACCOUNTS * START, balances))
        missing = [m for m in bank.acked if c.call("EXISTS", m) != 1]
        c.close()
        if missing:
            failures.append("%d acknowledged transfers lost, e.g. %s" % (len(missing), missing[:3]))
        if bank.bad_reads:
            failures.append("%d reads saw a total that never existed, e.g. %r"
                            % (len(bank.bad_reads), bank.bad_reads[0]))
        failures += bank.errors[:5]
        if len(bank.acked) < 50 or bank.reads < 10:
            failures.append("too little happened: %d transfers, %d reads" % (len(bank.acked), bank.reads))
    except Exception as e:  # noqa: BLE001 - reported as a failure with the logs
        failures.append("%s: %s" % (type(e).__name__, e))
    finally:
        cluster.stop_all()
        ref.terminate()
        ref.wait()
    took = time.time() - t0
    if failures or cluster.unexpected_exits:
        print("kv txn e2e FAILED after %.1f s:" % took)
        for f in failures:
            print("  " + f)
        for node, status in cluster.unexpected_exits:
            print("  node %d exited by itself: %s" % (node, status))
        print("logs kept in %s\n%s" % (workdir, cluster.log_tails()))
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    print("kv txn e2e: ok in %.1f s (replies identical to redis-server; %d WATCH retries; "
          "%d transfers acknowledged, %d -UNKNOWN, %d consistent reads, leader %d killed -9)"
          % (took, retries, len(bank.acked), bank.unknown, bank.reads, leader))
    return 0


if __name__ == "__main__":
    sys.exit(main())
