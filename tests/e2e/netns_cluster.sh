#!/usr/bin/env bash
# Opt-in multi-host test (root only; not part of `meson test`): three synod-kv
# nodes, each in its own network namespace with its own address, joined by a
# bridge that lives in a fifth namespace, with `tc netem` delay and loss on
# every node's interface. A client namespace drives the workload of
# tests/e2e/kv_cluster.py (default scenario: kill -9 of the leader, restart,
# convergence, no acknowledged write lost).
#
#   sudo bash tests/e2e/netns_cluster.sh [--bin build/examples/synod-kv]
#        [--scenario leader|durable|memory] [--delay 5ms] [--jitter 2ms]
#        [--loss 1%] [--require-netem] [--rate RATE] [--seconds 6]
#        [--timeout 180] [--demo]
#
# Addresses: 10.231.0.1-3 (nodes) and 10.231.0.100 (client), on interfaces
# that exist only inside the namespaces this script creates; no namespace has
# a default route, so no packet can leave them. Everything this script made is
# removed on every exit (trap), and the run is bounded by --timeout.
#
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or iproute2 missing).
# Without kernel netem support the run continues without delay and loss and
# says so, unless --require-netem is given (then it fails). --rate 10mbit
# also limits each node's egress with a token bucket (tbf, under netem when
# netem is there): its queue adds delay under load and drops on overflow, a
# rough stand-in on kernels without netem.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

bin=build/examples/synod-kv
scenario=leader
delay=5ms
jitter=2ms
loss=1%
require_netem=0
rate=
seconds=6
limit=180
demo=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin=$2; shift ;;
    --scenario) scenario=$2; shift ;;
    --delay) delay=$2; shift ;;
    --jitter) jitter=$2; shift ;;
    --loss) loss=$2; shift ;;
    --require-netem) require_netem=1 ;;
    --rate) rate=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --timeout) limit=$2; shift ;;
    --demo) demo=(--demo) ;;
    *) echo "netns_cluster: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "netns_cluster: $*"; }

if [ "$(id -u)" != 0 ]; then
  say "SKIPPED: needs root (network namespaces, veth, tc)"; exit 77
fi
for tool in ip tc python3 timeout; do
  if ! command -v "$tool" >/dev/null; then
    say "SKIPPED: '$tool' not found (ip and tc come with iproute2: apt-get install iproute2)"; exit 77
  fi
done
if [ ! -x "$bin" ]; then
  say "FAILED: no synod-kv at $bin (build it with: ninja -C build)"; exit 1
fi
bin=$(realpath "$bin")

# Short, per-run names: interface names are at most 15 characters.
tag=$(( $$ % 100000 ))
ns=synod$tag-              # namespaces synod<tag>-1..3, -c (client), -sw (bridge)
sw=${ns}sw
cl=${ns}c
made_ns=()
driver_pid=

# shellcheck disable=SC2317  # invoked by the traps
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  [ -n "$driver_pid" ] && kill -TERM "$driver_pid" 2>/dev/null
  # Every process still inside one of our namespaces was started by this
  # script: kill those, by pid, before deleting the namespaces.
  local n pids
  for n in "${made_ns[@]}"; do
    mapfile -t pids < <(ip netns pids "$n" 2>/dev/null)
    [ ${#pids[@]} -gt 0 ] && kill -KILL "${pids[@]}" 2>/dev/null
  done
  sleep 0.2
  # Deleting a namespace destroys the veth ends and the bridge inside it.
  for n in "${made_ns[@]}"; do ip netns del "$n" 2>/dev/null; done
  local left
  left=$(ip netns list | grep -c "^${ns}" || true)
  [ "$left" != 0 ] && say "WARNING: $left namespaces named ${ns}* remain; remove with: ip netns del NAME"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 1' INT TERM HUP

mkns() {
  ip netns add "$1" || { say "FAILED: ip netns add $1"; exit 1; }
  made_ns+=("$1")
  ip -n "$1" link set lo up
}

# The switch: a bridge in its own namespace, so nothing touches the host's
# network stack.
mkns "$sw"
ip -n "$sw" link add br0 type bridge || { say "FAILED: cannot create a bridge"; exit 1; }
ip -n "$sw" link set br0 up

# attach NAMESPACE ADDRESS: a veth pair, one end (eth0) in the namespace with
# the address, the other enslaved to the bridge.
attach() {
  local n=$1 addr=$2
  local port=p${n##*-}
  ip -n "$sw" link add "$port" type veth peer name eth0 netns "$n" ||
    { say "FAILED: cannot create a veth pair for $n"; exit 1; }
  ip -n "$sw" link set "$port" master br0 up
  ip -n "$n" addr add "$addr/24" dev eth0
  ip -n "$n" link set eth0 up
}

for i in 1 2 3; do
  mkns "$ns$i"
  attach "$ns$i" "10.231.0.$i"
done
mkns "$cl"
attach "$cl" 10.231.0.100

# Emulated WAN on every node's interface (egress: each packet a node sends).
netem=(delay "$delay" "$jitter" loss "$loss")
netem_note="none"
tbf_parent=(root)
if out=$(ip netns exec "${ns}1" tc qdisc add dev eth0 root handle 1: netem "${netem[@]}" 2>&1); then
  for i in 2 3; do ip netns exec "$ns$i" tc qdisc add dev eth0 root handle 1: netem "${netem[@]}"; done
  netem_note="netem ${netem[*]} on each node's eth0"
  tbf_parent=(parent 1:1)
  say "applied tc netem ${netem[*]} on every node's interface"
else
  if [ $require_netem = 1 ]; then
    say "FAILED: tc netem unavailable and --require-netem given (tc said: $out)"; exit 1
  fi
  say "NETEM SKIPPED: this kernel has no netem qdisc (tc said: ${out//$'\n'/ })."
  say "NETEM SKIPPED: the cluster runs over namespaces and veth WITHOUT added delay or loss."
fi
if [ -n "$rate" ]; then
  tbf=(tbf rate "$rate" burst 32kbit latency 20ms)
  for i in 1 2 3; do
    ip netns exec "$ns$i" tc qdisc add dev eth0 "${tbf_parent[@]}" handle 10: "${tbf[@]}" ||
      { say "FAILED: tc qdisc add ... ${tbf[*]}"; exit 1; }
  done
  netem_note="$netem_note; ${tbf[*]} on each node's eth0"
  say "applied tc ${tbf[*]} on every node's interface"
fi
tc_state=$(for i in 1 2 3; do ip netns exec "$ns$i" tc qdisc show dev eth0; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
say "qdiscs on the node interfaces: $tc_state"

# Connectivity inside the private subnet only.
for i in 1 2 3; do
  if ! ip netns exec "$cl" python3 -c "import socket,sys
s=socket.socket(); s.settimeout(2)
try: s.connect(('10.231.0.$i', 9))
except ConnectionRefusedError: sys.exit(0)
except OSError as e: print(e); sys.exit(1)" >/dev/null; then
    say "FAILED: 10.231.0.$i unreachable from the client namespace"; exit 1
  fi
done
say "namespaces ${ns}{1,2,3} (10.231.0.1-3), client ${cl} (10.231.0.100), bridge in ${sw}"

# The driver runs in the client namespace and starts node i with
# `ip netns exec ${ns}i synod-kv ...` (same ports on every node).
timeout --kill-after=10 "$limit" ip netns exec "$cl" python3 tests/e2e/kv_cluster.py \
  --bin "$bin" --scenario "$scenario" --seconds "$seconds" --base-port 7100 \
  --hosts 10.231.0.1,10.231.0.2,10.231.0.3 --netns "$ns" "${demo[@]}" &
driver_pid=$!
wait "$driver_pid"
rc=$?
driver_pid=
if [ $rc = 124 ] || [ $rc = 137 ]; then
  say "FAILED: the run did not finish within --timeout $limit s"; exit 1
fi
if [ $rc = 0 ]; then
  say "passed (scenario $scenario; link emulation: $netem_note)"
else
  say "FAILED (scenario $scenario; link emulation: $netem_note)"
fi
exit $rc
