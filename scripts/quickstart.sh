#!/bin/bash
# Installs the dependencies, builds, creates the service users, then does the main job on this
# machine alone: starts a local registry (Debian's docker-registry on 127.0.0.1), pushes a small
# image made here from Debian's busybox-static, starts the daemon in a scratch root, pulls the
# image with `ctr images pull` (showing the progress) and runs a container of it that prints a
# greeting (`ctr run --rm`, through containerd-tasks, a containerd-shim and runc). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
./scripts/setup-users.sh

scratch=$(mktemp -d /tmp/containerd-quickstart-XXXXXX)
chmod 755 "$scratch"
sock=$scratch/state/containerd.sock
registry=127.0.0.1:5000
pids=()
cleanup() {
  local status=$?
  set +ex
  kill "${pids[@]}" 2>/dev/null
  wait "$daemon" 2>/dev/null
  rm -rf "$scratch"
  exit $status
}
daemon=
trap cleanup EXIT

if ! curl -fsS -o /dev/null "http://$registry/v2/" 2>/dev/null; then
  pids+=("$(./scripts/start-registry.sh "$registry" "$scratch/registry")")
fi
./scripts/push-image.py busybox "$registry/busybox:latest"

build/bin/containerd --root "$scratch/root" --state "$scratch/state" 2>"$scratch/containerd.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 100); do
  build/bin/ctr --address "$sock" version >/dev/null 2>&1 && break
  kill -0 $daemon 2>/dev/null || { cat "$scratch/containerd.log"; exit 1; }
  sleep 0.1
done
set -x
build/bin/ctr --address "$sock" version
build/bin/ctr --address "$sock" images pull "$registry/busybox:latest"
build/bin/ctr --address "$sock" images ls
build/bin/ctr --address "$sock" run --rm "$registry/busybox:latest" hello \
  echo "hello from a container of the pulled busybox image"
