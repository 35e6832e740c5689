#!/bin/bash
# pull.sh [RUNS]: `ctr images pull` (fetch + unpack) of the peer's busybox and big images from a
# real registry on 127.0.0.1 (Debian's docker-registry, plain HTTP), ours against Debian's
# containerd 1.6 on the same registry, each from an empty store every run (default 3 runs,
# median). Also the peak memory during the pull, sampled every 20 ms (bench/memsample.py): RSS
# and PSS summed over all our processes, against containerd's daemon alone.
# BASELINE_BIN=DIR adds, interleaved in the same runs, the same pulls by another build of ours
# (e.g. an older commit's build/bin) and the ratio of this build's time to it: a change that
# should not slow the pull is checked against the machine's noise of the moment.
set -euo pipefail
RUNS=${1:-3}
. "$(dirname "$0")/lib.sh"
start_registry

"$top/scripts/push-image.py" busybox "$registry/busybox:latest" >/dev/null
bash "$top/tests/integration/make-peer-layers.sh" big "$scratch/big"
mapfile -t names < "$scratch/big/layers.txt"
args=()
for n in "${names[@]}"; do args+=(--layer "$scratch/big/$n.tar.gz"); done
"$top/scripts/push-image.py" image "$registry/big:latest" "${args[@]}" >/dev/null
rm -rf "$scratch/big"
echo "registry $registry: busybox, big (${#names[@]} layers)"

# sampled PID... -- CMD: runs CMD while memsample.py watches PID (and children); sets T_NS and MEM.
sampled() {
  local pids=()
  while [ "$1" != -- ]; do pids+=("$1"); shift; done
  shift
  rm -f "$scratch/mem"
  python3 "$top/bench/memsample.py" "$scratch/mem" "${pids[@]}" &
  local sampler=$!
  while [ ! -s "$scratch/mem" ]; do sleep 0.01; done
  local t0 t1
  t0=$(now); "$@" >/dev/null; t1=$(now)
  kill -TERM $sampler; wait $sampler || true
  T_NS=$((t1 - t0)); MEM=$(cat "$scratch/mem")
}

declare -A mine base theirs_t rss_ours pss_ours rss_theirs pss_theirs
for image in busybox big; do
  for _ in $(seq "$RUNS"); do
    # Ours, from an empty root.
    [ -n "$daemon" ] && { kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=; }
    rm -rf "$scratch/root" "$scratch/state"
    start_ours
    sync
    sampled "$daemon" -- ours images pull "$registry/$image:latest"
    mine[$image]+="$T_NS "; read -r r p <<<"$MEM"; rss_ours[$image]+="$r "; pss_ours[$image]+="$p "
    if [ -n "${BASELINE_BIN:-}" ]; then
      kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
      rm -rf "$scratch/root" "$scratch/state"
      start_ours "$BASELINE_BIN"
      sync
      sampled "$daemon" -- ours images pull "$registry/$image:latest"
      base[$image]+="$T_NS "
      cur_bin=$bin
    fi
    if have_peer; then
      "$peer/containerd.sh" clean >/dev/null 2>&1 || true
      start_peer
      sync
      sampled "$("$peer/containerd.sh" pid)" -- theirs images pull --plain-http "$registry/$image:latest"
      theirs_t[$image]+="$T_NS "; read -r r p <<<"$MEM"; rss_theirs[$image]+="$r "; pss_theirs[$image]+="$p "
    fi
  done
done
[ -n "$peer_started" ] && "$peer/containerd.sh" clean >/dev/null 2>&1 || true
peer_started=

med() { printf '%s\n' $1 | median; }
printf '%-8s %10s %12s %6s   %-28s %-28s\n' image ours containerd ratio "peak RSS/PSS kB, ours (all)" "peak RSS/PSS kB, containerd"
for image in busybox big; do
  m=$(med "${mine[$image]}")
  ours_mem="$(med "${rss_ours[$image]}")/$(med "${pss_ours[$image]}")"
  if have_peer; then
    t=$(med "${theirs_t[$image]}")
    printf '%-8s %8sms %10sms %6s   %-28s %-28s\n' "$image" "$(ms "$m")" "$(ms "$t")" "$(ratio "$m" "$t")" \
      "$ours_mem" "$(med "${rss_theirs[$image]}")/$(med "${pss_theirs[$image]}")"
  else
    printf '%-8s %8sms %12s %6s   %-28s %-28s\n' "$image" "$(ms "$m")" - - "$ours_mem" -
  fi
done
if [ -n "${BASELINE_BIN:-}" ]; then
  printf '\n%-8s %10s %12s %6s   (baseline: %s)\n' image ours baseline ratio "$BASELINE_BIN"
  for image in busybox big; do
    m=$(med "${mine[$image]}"); b=$(med "${base[$image]}")
    printf '%-8s %8sms %10sms %6s\n' "$image" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")"
  done
fi
have_peer || no_peer
