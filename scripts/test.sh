#!/usr/bin/env bash
# README command 2: install, build and run the test suite. Ends with the line
# "N passed, N failed". Set BUILD_DIR and MESON_ARGS for other builds (.ci/run
# uses them for the sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${BUILD_DIR:-build}
# shellcheck disable=SC2086
[ -d "$build" ] || meson setup "$build" ${MESON_ARGS:-} >/dev/null
ninja -C "$build" >/dev/null
status=0
meson test -C "$build" --num-processes 2 --print-errorlogs || status=$?
python3 scripts/count-tests.py "$build/meson-logs/testlog.json"
exit $status
