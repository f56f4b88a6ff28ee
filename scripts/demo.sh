#!/usr/bin/env bash
# README command 1: install, build, and run the local 3-replica cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
./build/examples/synod-demo "$@"
