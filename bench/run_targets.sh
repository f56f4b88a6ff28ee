#!/bin/sh
# The figures of docs/benchmarks.md: each target of issue 6, three runs each
# (every figure is the median of the three), then the memory check of issue 5.
# Writes one JSON per row.
#   bench/run_targets.sh [build-dir] [out-dir] [data-dir]
set -eu
build=${1:-build}
out=${2:-bench-results}
data=${3:-/var/tmp}
bench="$build/bench/synod-bench"
mkdir -p "$out"

run() {
  name=$1
  shift
  echo "== $name: synod-bench $*"
  "$bench" "$@" --repeat 3 --json "$out/$name.json" 2>/dev/null
  echo
}

# In-memory transport, one process, 256 B values, 3 replicas.
run memory-batched       --transport memory
run memory-batched-core  --transport memory --duration 1 --warmup 0.3 --prefault-mb 4096
run memory-unbatched     --transport memory --batch-max 1
run memory-one           --transport memory --clients 1 --outstanding 1
# TCP on loopback, one process per replica.
run tcp-batched          --transport tcp
run tcp-one              --transport tcp --clients 1 --outstanding 1
run tcp-log              --transport tcp --storage log --data-dir "$data" --clients 64 --outstanding 64
# Issue 5: a long run holds memory flat with compaction (compare
# rss_10pct_bytes with rss_100pct_bytes), and grows without it.
run memory-flat          --transport memory --commands 50000000 --snapshot-every 10000
run memory-flat-default  --transport memory --commands 50000000
run memory-no-compaction --transport memory --commands 5000000 --snapshot-every 0
