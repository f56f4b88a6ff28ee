#!/usr/bin/env bash
# Installs synod's build and test dependencies from Debian's packages (run as
# root on Debian 12). Skips apt when everything is already there.
set -euo pipefail
packages=(meson ninja-build g++ pkg-config python3 libfmt-dev libuv1-dev libssl-dev openssl
          flatbuffers-compiler libflatbuffers-dev doctest-dev redis-tools redis-server python3-redis
          libjemalloc-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
