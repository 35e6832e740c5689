# Shared by the benchmarks: start our daemon in a scratch root, start the peer, time, median.
# Sourced; sets $scratch, $bin, $peer; `ours` and `theirs` run their ctr against their daemon.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$top/build/bin
peer=$(cd "$top/../shared/peer" 2>/dev/null && pwd || true)
scratch=$(mktemp -d /tmp/bench-XXXXXX)
chmod 755 "$scratch"
daemon=
peer_started=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ -n "$peer_started" ] && "$peer/containerd.sh" clean >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT

now() { date +%s%N; }
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
ms() { echo $(($1 / 1000000)); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

# start_ours [BIN_DIR]: our daemon from BIN_DIR (default: this tree's build) in a fresh config;
# `ours` then runs that build's ctr.
start_ours() {
  cur_bin=${1:-$bin}
  cat > "$scratch/config.toml" <<CFG
root = "$scratch/root"
state = "$scratch/state"
[services.content]
uid = 64101
gid = 64101
[services.snapshot]
uid = 64102
gid = 64102
[services.diff]
uid = 64103
gid = 64103
CFG
  "$cur_bin/containerd" --log-level ${LOG_LEVEL:-info} --config "$scratch/config.toml" 2>"$scratch/containerd.log" &
  daemon=$!
  for _ in $(seq 100); do ours version >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$scratch/containerd.log" >&2
  return 1
}
ours() { "${cur_bin:-$bin}/ctr" --address "$scratch/state/containerd.sock" "$@"; }

have_peer() { [ -n "$peer" ] && command -v containerd >/dev/null && [ -x /usr/bin/ctr ]; }
start_peer() {
  "$peer/containerd.sh" start >/dev/null 2>&1 || return 1
  peer_started=1
  . "$peer/common.sh"
}
theirs() { /usr/bin/ctr --address "$CTRD_SOCK" "$@"; }
no_peer() { echo "containerd (peer): not installed here; ../shared/peer/install-deps.sh installs it"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Debian's docker-registry on a free 127.0.0.1 port, stored in the scratch root; sets $registry
# and $registry_pid (stopped with the rest at exit).
start_registry() {
  registry=127.0.0.1:$(free_port)
  registry_pid=$("$top/scripts/start-registry.sh" "$registry" "$scratch/registry")
  trap 'kill $registry_pid 2>/dev/null; cleanup' EXIT
}

# push_big_and_busybox: the peer's big image's layers built into $scratch/layers (names in order
# in $big_layers) and pushed as $registry/big:latest, with busybox's layer as busybox:latest.
push_big_and_busybox() {
  bash "$top/tests/integration/make-peer-layers.sh" big "$scratch/layers" >/dev/null
  mapfile -t big_layers < "$scratch/layers/layers.txt"
  local args=() n
  for n in "${big_layers[@]}"; do args+=(--layer "$scratch/layers/$n.tar.gz"); done
  "$top/scripts/push-image.py" image "$registry/big:latest" "${args[@]}" >/dev/null
  "$top/scripts/push-image.py" image "$registry/busybox:latest" \
    --layer "$scratch/layers/busybox-layer.tar.gz" >/dev/null
}

# big_in_both_daemons: a registry with the peer's images (push_big_and_busybox), both daemons
# started, and big pulled into each.
big_in_both_daemons() {
  start_registry
  push_big_and_busybox
  start_ours
  ours images pull "$registry/big:latest" >/dev/null
  start_peer
  theirs images pull --plain-http "$registry/big:latest" >/dev/null
}
