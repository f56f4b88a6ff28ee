#!/usr/bin/env python3
"""Throughput and CPU per command of a 3-process synod-kv cluster on loopback
(issue 15, docs/benchmarks.md "synod-kv").

  python3 bench/kv_bench.py --bin build/examples/synod-kv [--memory] [--requests N] [--syscalls]
                            [--server-args "--log-format 2"] [--nodes 1|3|5]
                            [--warmup N] [--steady] [--threads] [--budget] [--repeat N]

Starts three synod-kv processes (--nodes: one or five; durable logs in a
temp dir unless --memory),
waits for a leader that stays leader, then runs redis-benchmark against the
leader with each workload below (after --warmup unmeasured requests of it).
With --steady it first sends SETs until the processes' resident sets stop
growing, so that the figures are those of a server that has run a while
rather than of one still touching its heap for the first time; every run
prints each process's RSS before and after it, so either state is visible.
Around every run it reads utime+stime of each process (all threads, and the
children it reaped) from /proc/PID/stat, and INFO stability leader_changes, and
prints one table: commands/s, CPU microseconds per command on the leader and
on each follower, redis-benchmark's latency percentiles (p50, p99 and the
maximum, ms), leader changes during the run, and the machine load. With
--repeat N (N >= 2) it ends with the median of each column over the N runs
of each workload, the figure to compare: runs of one binary on this machine
spread by +-15 % in throughput, mostly through their slowest commits. The
machine (CPU, cores, kernel, the file system of the data directory) and the
command line head the output.
--threads splits each process's CPU per command into user and system time
by thread (the loop, the log writer "synod-log", the snapshot worker
"kv-snapshot") from /proc/PID/task/*/stat, with the peak RSS; --syscalls
counts system calls per command, in total and by kind (perf stat);
--budget adds redis-benchmark's own CPU per command and the machine's CPU
by kind over each run (/proc/stat), the whole two cores' budget.

Where redis-server is installed the same workloads run against it too
(no persistence, and appendfsync always) for comparison; it is not required.

The temp dir is Python's: TMPDIR=/dev/shm puts the three logs and redis's
append-only file on tmpfs, where fdatasync costs nothing, which separates
what the disk costs from what the durable code path costs (the machine line
then says "logs on tmpfs").
"""
import argparse
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from resp_client import info  # noqa: E402

# (label, redis-benchmark arguments): the targets of issue 15.
WORKLOADS = [
    ("set -P16", ["-t", "set", "-d", "256", "-c", "50", "-P", "16"]),
    ("get -P16", ["-t", "get", "-d", "256", "-c", "50", "-P", "16"]),
    ("set -P1", ["-t", "set", "-d", "256", "-c", "50"]),
    # Opt-in (named with --workload only): one client, one command at a
    # time, so its p50 is the latency of one commit on an idle cluster.
    ("set -c1", ["-t", "set", "-d", "256", "-c", "1"]),
]
DEFAULT_WORKLOADS = ("set -P16", "get -P16", "set -P1")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def minor_faults(pid):
    """Minor page faults of a process so far (field 10 of /proc/PID/stat):
    first touches of fresh heap and copy-on-write after a snapshot's fork,
    each a trap into the kernel (and, after a fork, a TLB flush on every
    CPU the process runs on)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def cpu_seconds(pid, children=True):
    """utime + stime of a process, in seconds (fields 14 and 15 of
    /proc/PID/stat), all its threads; with children, plus cutime + cstime
    (16 and 17): children it waited for, such as a snapshot child of a build
    that forks, whose CPU would otherwise be missing from the figure."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / CLK_TCK


def thread_times(pid):
    """{thread name: [utime, stime, minor faults]} of a process's live
    threads (/proc/PID/task/TID/stat fields 14, 15 and 10), summed over
    threads of one name; the thread whose id is the pid is "loop" (libuv's
    event loop). CPU in seconds."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                text = f.read()
        except OSError:
            continue  # the thread ended
        name = "loop" if int(tid) == pid else text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        acc = out.setdefault(name, [0.0, 0.0, 0])
        acc[0] += int(fields[11]) / CLK_TCK
        acc[1] += int(fields[12]) / CLK_TCK
        acc[2] += int(fields[7])
    return out


def status_mb(pid, field):
    """A size field of /proc/PID/status (VmRSS: the resident set now; VmHWM:
    the largest so far), in MB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def peak_rss_mb(pid):
    return status_mb(pid, "VmHWM")


def rss_mb(pid):
    return status_mb(pid, "VmRSS")


def warm_to_steady(port, pids, chunk=500000, grown_below=0.02, most=12):
    """--steady: SETs (the set -P16 workload) in chunks until no process's
    resident set grew by more than grown_below over the last chunk, at most
    `most` chunks. Until then a run measures a heap still being touched for
    the first time: the in-memory log, the snapshot images and the key
    space come from fresh pages, each a fault and a 2 MiB huge page zeroed
    (clear_page_erms was a fifth of a follower's CPU samples after 100 000
    SETs; docs/benchmarks.md, "The steady state (seventh round)"). Returns
    the SETs sent."""
    sent = 0
    for _ in range(most):
        before = {i: rss_mb(p) for i, p in pids.items()}
        run_benchmark(port, WORKLOADS[0][1], chunk)
        sent += chunk
        after = {i: rss_mb(p) for i, p in pids.items()}
        grown = max((after[i] - before[i]) / max(before[i], 1.0) for i in pids)
        print("  warm-up: %d SETs, RSS %s MB (grew %.1f%% at most over the last %d)" % (
            sent, " ".join("%.0f" % after[i] for i in sorted(after)), 100 * grown, chunk), flush=True)
        if grown < grown_below:
            return sent
    print("  warm-up: RSS still growing after %d SETs; measuring anyway" % sent, flush=True)
    return sent


def print_thread_split(role, before, after, rss_mb, requests):
    """One line per process: user/sys microseconds and minor faults per
    command of each thread that used CPU in the run."""
    cells = []
    for name in sorted(after, key=lambda n: (n != "loop", n)):
        b = before.get(name, [0.0, 0.0, 0])
        a = after[name]
        user, sys_, faults = ((a[0] - b[0]) * 1e6 / requests, (a[1] - b[1]) * 1e6 / requests,
                              (a[2] - b[2]) / requests)
        if user or sys_ or faults:
            cells.append("%s %.2f/%.2f %.3f" % (name, user, sys_, faults))
    print("  threads, user/sys µs and faults per command, %s (peak RSS %.0f MB): %s" % (
        role, rss_mb, ", ".join(cells) or "-"), flush=True)


# System calls counted by kind (--syscalls): what a replica's loop, log
# writer and snapshot worker make; the total (raw_syscalls) counts all.
SYSCALL_KINDS = ["read", "readv", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg", "pwrite64",
                 "pwritev", "fdatasync", "fsync", "futex", "epoll_wait", "epoll_pwait", "epoll_ctl", "madvise",
                 "mmap", "munmap", "brk", "openat", "ftruncate", "fallocate", "rename", "unlinkat"]


class SyscallCounter:
    """perf stat of raw_syscalls:sys_enter, and of the kinds above, on some
    processes (--syscalls): system calls per command do not depend on the
    machine's load the way CPU time does."""

    def __init__(self, pids):
        events = ["raw_syscalls:sys_enter"] + ["syscalls:sys_enter_" + k for k in SYSCALL_KINDS]
        self.procs = [subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(events), "-p", str(pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                      for pid in pids]
        time.sleep(0.3)  # perf attaches

    def counts(self):
        """Per process: (total, {kind: count}) with the kinds seen; -1 for
        a total perf did not give."""
        out = []
        for p in self.procs:
            p.send_signal(signal.SIGINT)
            err = p.communicate(timeout=10)[1]
            total, kinds = -1, {}
            for line in err.splitlines():
                cells = line.split(",")
                if len(cells) < 3 or not cells[0].isdigit():
                    continue
                if cells[2] == "raw_syscalls:sys_enter":
                    total = int(cells[0])
                elif cells[2].startswith("syscalls:sys_enter_") and int(cells[0]):
                    kinds[cells[2][len("syscalls:sys_enter_"):]] = int(cells[0])
            out.append((total, kinds))
        return out


def selected(args):
    """The workloads --workload names (DEFAULT_WORKLOADS when none is named)."""
    return [w for w in WORKLOADS if w[0] in (args.workload or DEFAULT_WORKLOADS)]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Result:
    """One redis-benchmark run: requests per second, and the latency
    percentiles of its --csv line (milliseconds)."""

    def __init__(self, rate, p50, p99, max_ms):
        self.rate, self.p50, self.p99, self.max_ms = rate, p50, p99, max_ms


def machine_ticks():
    """The first line of /proc/stat: the whole machine's CPU time by kind
    (user, nice, system, idle, iowait, irq, softirq, steal), in ticks."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:9]]


def run_benchmark(port, args, requests, budget=False):
    """Runs redis-benchmark; returns the Result of its one test. Its --csv
    columns: test, rps, avg, min, p50, p95, p99, max (ms). With budget, also
    prints redis-benchmark's own CPU per command and how busy the machine
    was: on two cores the client is a third process competing for them."""
    ticks0, child0 = machine_ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(requests), "-r", "100000", "--csv"]
                         + args, capture_output=True, text=True, timeout=600)
    if budget:
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        d = [b - a for a, b in zip(ticks0, machine_ticks())]
        total = max(sum(d), 1)
        client_us = (child1.ru_utime + child1.ru_stime - child0.ru_utime - child0.ru_stime) * 1e6 / requests
        print("  redis-benchmark's own CPU per command %.2f us; machine over the run: %s" % (
            client_us, ", ".join("%s %.0f%%" % (k, 100.0 * v / total) for k, v in zip(
                ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"), d) if v)),
            flush=True)
    for line in out.stdout.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 8 and cells[0] in ("SET", "GET"):
            return Result(float(cells[1]), float(cells[4]), float(cells[6]), float(cells[7]))
    raise RuntimeError("redis-benchmark gave no figure: %s %s" % (out.stdout, out.stderr))


class KvCluster:
    def __init__(self, binary, workdir, base_port, memory, extra=(), nodes=3):
        self.ids = list(range(1, nodes + 1))
        self.peer = {i: base_port + i for i in self.ids}
        self.client = {i: base_port + 10 + i for i in self.ids}
        self.procs = {}
        peers = ",".join("%d=127.0.0.1:%d" % (i, self.peer[i]) for i in self.ids)
        clients = ",".join("%d=127.0.0.1:%d" % (i, self.client[i]) for i in self.ids)
        for i in self.ids:
            cmd = [binary, "--id", str(i), "--peers", peers, "--clients", clients,
                   "--listen", "127.0.0.1:%d" % self.client[i]]
            cmd += ["--memory"] if memory else ["--data-dir", os.path.join(workdir, "node%d" % i)]
            cmd += list(extra)
            log = open(os.path.join(workdir, "node%d.log" % i), "w")
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log)
            log.close()

    def stable_leader(self, hold=1.0, timeout=20.0):
        """The node that reports itself leader, with every node agreeing on
        leader_id, for `hold` seconds in a row."""
        end, since, last = time.time() + timeout, None, None
        while time.time() < end:
            infos = {i: info(self.client[i]) for i in self.ids}
            leaders = [i for i, x in infos.items() if x and x.get("synod_role") == "leader"]
            agreed = len(leaders) == 1 and all(x and x.get("leader_id") == str(leaders[0]) for x in infos.values())
            if agreed and leaders[0] == last:
                if time.time() - since >= hold:
                    return last
            else:
                last, since = (leaders[0] if agreed else None), time.time()
            time.sleep(0.1)
        return None

    def leader_changes(self):
        return sum(int((info(self.client[i]) or {}).get("leader_changes", 0)) for i in self.ids)

    def stop(self):
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def measure_kv(args, workdir):
    cluster = KvCluster(args.bin, workdir, args.base_port, args.memory,
                        shlex.split(args.server_args), args.nodes)
    rows = []
    try:
        for port in cluster.client.values():
            if not wait_port(port):
                raise RuntimeError("synod-kv did not listen on %d (logs in %s)" % (port, workdir))
        leader = cluster.stable_leader()
        if leader is None:
            raise RuntimeError("no stable leader (logs in %s)" % workdir)
        followers = [i for i in cluster.ids if i != leader]
        pids = {i: p.pid for i, p in cluster.procs.items()}
        if args.steady:
            warm_to_steady(cluster.client[leader], pids)
        for label, wl in selected(args):
            if args.warmup:
                # A key space already full, as in a long run: SETs overwrite,
                # and the first snapshot (every 64 MiB of commands) falls
                # inside the measured run rather than after it.
                run_benchmark(cluster.client[leader], wl, args.warmup)
            for rep in range(args.repeat):
                changes0 = cluster.leader_changes()
                counter = SyscallCounter([pids[leader]] + [pids[f] for f in followers[:1]]) \
                    if args.syscalls else None
                threads0 = {i: thread_times(pids[i]) for i in cluster.ids} if args.threads else None
                cpu0 = {i: cpu_seconds(pids[i]) for i in cluster.ids}
                faults0 = {i: minor_faults(pids[i]) for i in cluster.ids}
                rss0 = {i: rss_mb(pids[i]) for i in cluster.ids}
                result = run_benchmark(cluster.client[leader], wl, args.requests, args.budget)
                cpu1 = {i: cpu_seconds(pids[i]) for i in cluster.ids}
                print("  RSS during the run, MB: leader %.0f -> %.0f, followers %s" % (
                    rss0[leader], rss_mb(pids[leader]), ", ".join(
                        "%.0f -> %.0f" % (rss0[f], rss_mb(pids[f])) for f in followers)), flush=True)
                if threads0:
                    for role, i in [("leader", leader)] + [("follower %d" % f, f) for f in followers]:
                        print_thread_split(role, threads0[i], thread_times(pids[i]), peak_rss_mb(pids[i]),
                                           args.requests)
                faults = {i: (minor_faults(pids[i]) - faults0[i]) / args.requests for i in cluster.ids}
                print("  minor page faults per command: leader %.3f, followers %s" % (
                    faults[leader], " ".join("%.3f" % faults[f] for f in followers)), flush=True)
                if counter:
                    for role, (total, kinds) in zip(("leader", "follower"), counter.counts()):
                        print("  system calls per command, %s: %.3f (%s)" % (
                            role, total / args.requests, ", ".join(
                                "%s %.3f" % (k, n / args.requests)
                                for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))), flush=True)
                changes = cluster.leader_changes() - changes0
                us = {i: (cpu1[i] - cpu0[i]) * 1e6 / args.requests for i in cluster.ids}
                server = "synod-kv" + (" memory" if args.memory else " durable") + \
                    ("" if args.nodes == 3 else " x%d" % args.nodes)
                rows.append((server, label, result, us[leader],
                             [us[f] for f in followers], changes, os.getloadavg()[0]))
                print_row(rows[-1])
    finally:
        cluster.stop()
    return rows


def measure_redis(args, workdir, mode):
    port = args.base_port + 30
    cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", ""]
    cmd += ["--appendonly", "yes", "--appendfsync", "always"] if mode == "fsync" else ["--appendonly", "no"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        if not wait_port(port):
            raise RuntimeError("redis-server did not start")
        for label, wl in selected(args):
            for rep in range(args.repeat):
                cpu0 = cpu_seconds(proc.pid)
                result = run_benchmark(port, wl, args.requests, args.budget)
                us = (cpu_seconds(proc.pid) - cpu0) * 1e6 / args.requests
                rows.append(("redis " + ("fsync always" if mode == "fsync" else "no persist"), label, result, us,
                             [], 0, os.getloadavg()[0]))
                print_row(rows[-1])
    finally:
        proc.terminate()
        proc.wait()
    return rows


HEADER = "%-22s %-9s %10s %10s %18s %7s %7s %7s %8s %6s" % (
    "server", "workload", "ops/s", "leader µs", "followers µs", "p50 ms", "p99 ms", "max ms", "changes", "load")


def print_row(r, server_suffix=""):
    server, label, res, leader_us, follower_us, changes, load = r
    print("%-22s %-9s %10.0f %10.2f %18s %7.2f %7.2f %7.1f %8d %6.2f" % (
        server + server_suffix, label, res.rate, leader_us, " ".join("%.2f" % f for f in follower_us) or "-",
        res.p50, res.p99, res.max_ms, changes, load), flush=True)


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def print_medians(rows):
    """Per server and workload with two runs or more: the median of each
    column over its runs, taken column by column (so a median row need not
    be one of the runs). The followers' CPU is the median over every
    follower of every run."""
    groups = {}
    for r in rows:
        groups.setdefault((r[0], r[1]), []).append(r)
    medians = [g for g in groups.values() if len(g) >= 2]
    if not medians:
        return
    print("medians over the runs above (--repeat %d):" % len(medians[0]))
    for g in medians:
        res = Result(median([r[2].rate for r in g]), median([r[2].p50 for r in g]),
                     median([r[2].p99 for r in g]), median([r[2].max_ms for r in g]))
        followers = [f for r in g for f in r[4]]
        print_row((g[0][0], g[0][1], res, median([r[3] for r in g]), [median(followers)] if followers else [],
                   sum(r[5] for r in g), median([r[6] for r in g])), " (med)")


def machine():
    """The CPU model, cores, kernel and the file system under the temp dir
    (where the durable logs go): what a figure was measured on."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    fs = subprocess.run(["df", "--output=source,fstype", tempfile.gettempdir()], capture_output=True,
                        text=True).stdout.split("\n")[1:2]
    return "%s, %d cpus, Linux %s, logs on %s" % (model, os.cpu_count(), os.uname().release,
                                                  " ".join(fs[0].split()) if fs else "?")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/examples/synod-kv")
    ap.add_argument("--memory", action="store_true", help="--memory logs instead of durable ones")
    ap.add_argument("--requests", type=int, default=300000, help="requests per redis-benchmark run")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each workload")
    ap.add_argument("--warmup", type=int, default=0,
                    help="requests of each workload run, unmeasured, before it is measured")
    ap.add_argument("--steady", action="store_true",
                    help="before measuring, SETs in chunks of 500 000 until no process's resident set grows "
                    "by 2%% over a chunk (a long-running server's heap; without it a short run pays the first "
                    "touch of the heap)")
    ap.add_argument("--base-port", type=int, default=27400)
    ap.add_argument("--syscalls", action="store_true",
                    help="also count system calls per command on the leader and a follower, in total and by "
                    "kind (perf stat)")
    ap.add_argument("--threads", action="store_true",
                    help="also split each process's CPU per command into user and system time by thread, "
                    "with minor faults per command and peak RSS")
    ap.add_argument("--budget", action="store_true",
                    help="also print redis-benchmark's own CPU per command and the machine's CPU over each "
                    "run by kind (/proc/stat): where the two cores went")
    ap.add_argument("--workload", action="append", choices=[w[0] for w in WORKLOADS],
                    help="run only this workload (repeatable; default: the first three; "
                    "'set -c1' runs only when named)")
    ap.add_argument("--no-redis", action="store_true", help="skip redis-server even if installed")
    ap.add_argument("--nodes", type=int, default=3, choices=[1, 3, 5],
                    help="synod-kv processes (default 3; 1: a one-node cluster, the server's own path "
                    "without replication, to set beside redis-server)")
    ap.add_argument("--server-args", default="",
                    help="more flags for every synod-kv process, one string "
                         "(e.g. --server-args '--log-format 2')")
    args = ap.parse_args()
    # SIGTERM (and SIGINT, which a background job ignores) end the run
    # through the finally blocks, so the three servers never outlive it.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit("kv_bench: interrupted"))
    if not shutil.which("redis-benchmark"):
        sys.exit("redis-benchmark not found (apt-get install -y redis-tools)")
    print("command:", " ".join(sys.argv))
    print("machine:", machine())
    print("uptime:", open("/proc/loadavg").read().strip(), "cpus:", os.cpu_count())
    print(HEADER, flush=True)
    workdir = tempfile.mkdtemp(prefix="kv_bench.")
    ok = False
    try:
        rows = measure_kv(args, workdir)
        if not args.no_redis and shutil.which("redis-server"):
            rows += measure_redis(args, workdir, "none")
            rows += measure_redis(args, workdir, "fsync")
        print_medians(rows)
        ok = True
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("logs kept in", workdir, file=sys.stderr)


if __name__ == "__main__":
    main()
