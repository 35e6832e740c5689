#!/bin/bash
# run.sh [RUNS] [SIZES]: the cost of running a container, side by side in one run.
#   1. `ctr run --rm IMAGE ID true` (the busybox image made by scripts/push-image.py, pulled from
#      a real registry on 127.0.0.1): ours, Debian's containerd 1.6 with its ctr, and the floor,
#      bare `runc run` of a bundle holding the same rootfs and a `runc spec` config; alternating,
#      median of RUNS (default 20).
#   2. For each N of SIZES (default "50"; the README's table: "1 50 100 500"), N sleeping
#      containers (`ctr run -d ... sleep 600`) started one after another, for each daemon: the
#      median start time over all N and over the last tenth (flat as N grows, or not), the shims'
#      memory (PSS summed over every shim process, divided by N) and the daemon's (PSS summed
#      over its processes but the shims).
set -euo pipefail
RUNS=${1:-20}
SIZES=${2:-50}
. "$(dirname "$0")/lib.sh"
start_registry
"$top/scripts/push-image.py" busybox "$registry/busybox:latest" >/dev/null
image=$registry/busybox:latest
start_ours
ours images pull --plain-http "$image" >/dev/null
with_peer=""
if have_peer && start_peer; then
  theirs images pull --plain-http "$image" >/dev/null
  with_peer=1
fi

# The floor's bundle: the image's rootfs as our snapshot shows it, and runc's own default spec.
bundle=$scratch/bundle
mkdir -p "$bundle/rootfs" "$scratch/mnt"
ours images mount "$image" "$scratch/mnt" >/dev/null
cp -a "$scratch/mnt/." "$bundle/rootfs/"
ours images unmount "$scratch/mnt" >/dev/null
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p))
s["process"]["args"] = ["true"]; s["process"]["terminal"] = False
json.dump(s, open(p, "w"))
PY

ms_since() { echo $((($(now) - $1) / 1000000)); }
mine=() theirs_t=() floor=() share=()
for i in 0 1; do   # warm-up, not counted
  ours run --rm "$image" warm-$i true
  [ -n "$with_peer" ] && theirs run --rm "$image" warm-$i true
  runc run --bundle "$bundle" warm-$i
done
for i in $(seq "$RUNS"); do
  t=$(now); ours run --rm "$image" run-$i true; mine+=("$(ms_since "$t")")
  if [ -n "$with_peer" ]; then t=$(now); theirs run --rm "$image" run-$i true; theirs_t+=("$(ms_since "$t")"); fi
  t=$(now); runc run --bundle "$bundle" floor-$i; floor+=("$(ms_since "$t")")
  # What ours spends in runc itself: the shim's two commands, `run --detach`, `delete --force`.
  t=$(now); runc run --detach --bundle "$bundle" share-$i </dev/null
  runc delete --force share-$i; share+=("$(ms_since "$t")")
done
med() { printf '%s\n' "$@" | median; }
f=$(med "${floor[@]}"); m=$(med "${mine[@]}")
printf '%-34s %8s %10s\n' "ctr run --rm IMAGE ID true" "median" "÷ floor"
printf '%-34s %6s ms %10s\n' "floor: runc run (same rootfs)" "$f" 1.00
r=$(med "${share[@]}")
printf '%-34s %6s ms %10s\n' "runc run -d + delete (runc's share)" "$r" "$(ratio "$r" "$f")"
printf '%-34s %6s ms %10s\n' "ours" "$m" "$(ratio "$m" "$f")"
if [ -n "$with_peer" ]; then
  c=$(med "${theirs_t[@]}")
  printf '%-34s %6s ms %10s\n' "containerd 1.6 + runc" "$c" "$(ratio "$c" "$f")"
fi

# shim_pss PID...: PSS (kB) summed over the given processes.
shim_pss() {
  local sum=0 p v
  for p in "$@"; do
    v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    sum=$((sum + ${v:-0}))
  done
  echo $sum
}
# many N LABEL CTR-FUNCTION SHIM-PATTERN DAEMON-PATTERN: N sleeping containers; prints start
# times and memory, then removes them.
many() {
  local n=$1 label=$2 cli=$3 pattern=$4 daemon_pattern=$5 t0 starts=() i pids dpids
  for i in $(seq "$n"); do
    t0=$(now); $cli run -d "$image" many-$i sleep 600 >/dev/null; starts+=("$(ms_since "$t0")")
  done
  sleep 1
  mapfile -t pids < <(pgrep -f "$pattern")
  mapfile -t dpids < <(pgrep -f "$daemon_pattern" | grep -vxF -f <(printf '%s\n' "${pids[@]}"))
  local pss dpss tenth=$(((n + 9) / 10))
  pss=$(shim_pss "${pids[@]}")
  dpss=$(shim_pss "${dpids[@]}")
  printf '%-16s %5s  start median %4s ms, last tenth %4s ms   shims: %4s processes, %5s kB per container   daemon: %6s kB\n' \
    "$label" "$n" "$(med "${starts[@]}")" "$(med "${starts[@]: -$tenth}")" "${#pids[@]}" \
    "$((pss / n))" "$dpss"
  for i in $(seq "$n"); do
    $cli tasks kill -s KILL many-$i >/dev/null 2>&1 || true
  done
  for i in $(seq "$n"); do
    $cli tasks wait many-$i >/dev/null 2>&1 || true
    $cli tasks rm many-$i >/dev/null 2>&1 || true
    $cli containers rm many-$i >/dev/null 2>&1 || true
  done
}
echo
for n in $SIZES; do
  many "$n" "ours" ours "containerd-shim --namespace default --id many-.* --bundle $scratch/state" \
    "$bin/containerd"
  if [ -n "$with_peer" ]; then
    many "$n" "containerd 1.6" theirs \
      "containerd-shim-runc-v2 -namespace default -id many-.* -address $CTRD_SOCK" \
      "containerd --config $CTRD_DIR/config.toml"
  fi
done
have_peer || no_peer
