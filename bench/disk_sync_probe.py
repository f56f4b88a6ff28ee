#!/usr/bin/env python3
"""What one write+fdatasync costs on this disk, alone and with two other
processes doing the same (three synod-kv replicas on one machine share one
disk), by write size and by write mode (docs/benchmarks.md, "The disk under
three replicas (eighth round)").

  python3 bench/disk_sync_probe.py [--dir DIR] [--seconds S] [--sizes 4,32,128,512]

Each stream overwrites its own file, zeroed and synced first (as synod's
segments are zeroed ahead), in place, write then sync, for S seconds:
  buffered  pwrite, then fdatasync            (synod's log writer)
  direct    O_DIRECT pwrite, then fdatasync
  dsync     O_DIRECT pwritev with RWF_DSYNC    (one system call)
Prints, per size, mode and stream count, the syncs per second of all streams
together, each stream's p50 and p90 latency, and the CPU time (user+system)
per write+sync of the streams together. Needs about 256 MiB per stream in DIR.
"""
import argparse
import mmap
import multiprocessing as mp
import os
import resource
import time

FILE_BYTES = 256 << 20


def prepare(path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk = b"\0" * (1 << 20)
    for _ in range(FILE_BYTES // len(chunk)):
        os.write(fd, chunk)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def stream(path, seconds, size, mode, out):
    flags = os.O_RDWR | (os.O_DIRECT if mode != "buffered" else 0)
    fd = os.open(path, flags)
    buf = mmap.mmap(-1, size)  # page-aligned, as O_DIRECT wants
    buf.write(b"x" * size)
    lat, off = [], 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        if mode == "dsync":
            os.pwritev(fd, [buf], off, os.RWF_DSYNC)
        else:
            os.pwritev(fd, [buf], off)
            os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
        off = (off + size) % (FILE_BYTES - size)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    os.close(fd)
    lat.sort()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out.put((len(lat), lat[len(lat) // 2], lat[int(len(lat) * 0.9)], cpu))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/tmp", help="where the files go (the disk measured)")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--sizes", default="4,32,128,512", help="write sizes in KiB")
    args = ap.parse_args()
    paths = [os.path.join(args.dir, "disk_sync_probe.%d.%d" % (os.getpid(), i)) for i in range(3)]
    try:
        for p in paths:
            prepare(p)
        print("size   mode      streams  syncs/s  p50 ms (each stream)   p90 ms (each stream)   CPU us/sync")
        for kib in (int(s) for s in args.sizes.split(",")):
            for mode in ("buffered", "direct", "dsync"):
                for k in (1, 3):
                    q = mp.Queue()
                    ps = [mp.Process(target=stream, args=(paths[i], args.seconds, kib << 10, mode, q))
                          for i in range(k)]
                    for p in ps:
                        p.start()
                    rs = [q.get() for _ in ps]
                    for p in ps:
                        p.join()
                    syncs = sum(r[0] for r in rs)
                    print("%4d K  %-8s  %7d  %7.0f  %-21s  %-21s  %6.1f" % (
                        kib, mode, k, syncs / args.seconds,
                        " ".join("%.2f" % (r[1] * 1e3) for r in rs),
                        " ".join("%.2f" % (r[2] * 1e3) for r in rs),
                        sum(r[3] for r in rs) / max(syncs, 1) * 1e6), flush=True)
    finally:
        for p in paths:
            if os.path.exists(p):
                os.remove(p)


if __name__ == "__main__":
    main()
