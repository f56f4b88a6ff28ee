"""How fdatasync latency on this machine's disk grows when several processes
sync at once, as three synod-kv replicas on one machine do (docs/benchmarks.md,
"The thirteenth round"). Each writer rewrites 8 KiB at a time of a 64 MiB file
it wrote and synced first, and fdatasyncs after every write; one writer, then
three at once, twice. Prints each writer's p50 and p99.

    python3 bench/fsync_probe.py [DIR]      (default /var/tmp; needs 64 MiB a writer)
"""
import multiprocessing as mp
import os
import sys
import time


def worker(path, n, q):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"\0" * (64 << 20))
    os.fsync(fd)
    buf = b"x" * 8192
    lat = []
    for i in range(n):
        t = time.perf_counter()
        os.pwrite(fd, buf, i * 8192)
        os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
    os.close(fd)
    os.unlink(path)
    lat.sort()
    q.put((lat[len(lat) // 2] * 1e6, lat[int(len(lat) * 0.99)] * 1e6))


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp"
    for k in (1, 3, 1, 3):
        q = mp.Queue()
        ps = [mp.Process(target=worker, args=(os.path.join(directory, "fsync-probe-%d" % j), 3000, q))
              for j in range(k)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        r = [q.get() for _ in ps]
        print("%d writer(s): fdatasync of 8 KiB p50 %s us, p99 %s us"
              % (k, ", ".join("%.0f" % a for a, _ in r), ", ".join("%.0f" % b for _, b in r)))


if __name__ == "__main__":
    main()
