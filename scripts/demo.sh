#!/usr/bin/env bash
# README command 1: install, build, and run a local 3-process synod-kv cluster
# on loopback: a concurrent Redis-protocol workload, kill -9 of the leader and
# of a follower with restarts, the failover time, the commit rate, and a check
# that every replica holds identical data. Then redis-benchmark against it.
# Between the two: many Paxos groups per process (synod::GroupHost): 1,000
# groups in each of 3 processes, idle CPU and memory, a proposal to a sleeping
# group, and kill -9 of a node leading a third of them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "== in-process: 3 replicas, in-memory network =="
./build/examples/synod-demo
echo
echo "== many groups: 3 processes over TCP, 1,000 Paxos groups in each (GroupHost) =="
./build/bench/synod-bench --transport tcp --groups 1000 --clients 0 --duration 3 --probe 100 \
  --failover
echo
echo "== 3 processes on loopback: synod-kv with durable logs, peer links over mutual TLS =="
python3 tests/e2e/kv_cluster.py --bin build/examples/synod-kv --demo --tls "$@"
