#!/usr/bin/env bash
# Makes a cluster CA and one certificate per node for synod's mutual TLS
# (docs/security.md explains each step and the naming rule).
#
#   bash scripts/make-certs.sh DIR CLUSTER_ID NODE_ID... [-- EXTRA_SAN...]
#
# DIR gets ca.crt/ca.key (keep ca.key offline in production) and, for each
# node id N, nodeN.crt/nodeN.key whose subjectAltName carries the URI
# synod://CLUSTER_ID/node/N (the identity peers check) plus DNS:localhost,
# IP:127.0.0.1 and any EXTRA_SAN given (e.g. DNS:kv1.example.com or
# IP:10.0.0.5, for clients that check the server's host name). An existing
# CA in DIR is reused, so nodes can be added later.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 DIR CLUSTER_ID NODE_ID... [-- EXTRA_SAN...]" >&2
  exit 2
fi
dir=$1 cluster=$2
shift 2
nodes=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  nodes+=("$1")
  shift
done
[ $# -gt 0 ] && shift
extra=""
for san in "$@"; do extra+=",$san"; done
for n in "$cluster" "${nodes[@]}"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
mkdir -p "$dir"
umask 077
cd "$dir"
if [ ! -f ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=synod cluster $cluster CA" -keyout ca.key -out ca.crt 2>/dev/null
fi
for id in "${nodes[@]}"; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=synod node $id" \
    -keyout "node$id.key" -out "node$id.csr" 2>/dev/null
  cat >"node$id.ext" <<EOF
subjectAltName=URI:synod://$cluster/node/$id,DNS:localhost,IP:127.0.0.1$extra
extendedKeyUsage=serverAuth,clientAuth
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
EOF
  openssl x509 -req -in "node$id.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
    -extfile "node$id.ext" -out "node$id.crt" 2>/dev/null
  rm -f "node$id.csr" "node$id.ext"
done
chmod 644 ca.crt ./*.crt
echo "made $(printf 'node%s ' "${nodes[@]}")in $dir (cluster $cluster)"
