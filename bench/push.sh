#!/bin/bash
# push.sh [RUNS]: `ctr images push` of the peer's big image (6 layers, 271 MB) to an empty
# registry (a fresh docker-registry on 127.0.0.1 each run, so that nothing can be mounted or
# skipped), ours against Debian's containerd 1.6 (`ctr images push --plain-http`), alternating;
# then a second push of the same image to the same registry (everything there already).
# Median of RUNS (default 3).
set -euo pipefail
RUNS=${1:-3}
. "$(dirname "$0")/lib.sh"
have_peer || { no_peer; exit 1; }
big_in_both_daemons
echo "source registry $registry: big pulled into both daemons"

targets=()
fresh_target() {
  local address dir pid
  address=127.0.0.1:$(free_port)
  dir=$scratch/target-${#targets[@]}
  pid=$("$top/scripts/start-registry.sh" "$address" "$dir")
  targets+=("$pid")
  target=$address
}
stop_targets() { for p in "${targets[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_targets; kill $registry_pid 2>/dev/null; cleanup' EXIT
timed() { local t0; t0=$(now); "$@" > /dev/null; T_NS=$(($(now) - t0)); }

declare -A t
for _ in $(seq "$RUNS"); do
  fresh_target
  sync
  timed ours images push "$target/big:1" "$registry/big:latest"; t[ours,first]+="$T_NS "
  timed ours images push "$target/big:1" "$registry/big:latest"; t[ours,again]+="$T_NS "
  fresh_target
  sync
  timed theirs images push --plain-http "$target/big:1" "$registry/big:latest"; t[theirs,first]+="$T_NS "
  timed theirs images push --plain-http "$target/big:1" "$registry/big:latest"; t[theirs,again]+="$T_NS "
done

med() { echo $1 | tr ' ' '\n' | median; }
printf '\n%-24s %10s %12s %10s\n' "push of big" ours containerd ours/ctrd
for k in first again; do
  a=$(med "${t[ours,$k]}"); b=$(med "${t[theirs,$k]}")
  label=$([ $k = first ] && echo "to an empty registry" || echo "again (all there)")
  printf '%-24s %8sms %10sms %10s\n' "$label" "$(ms ${a%.*})" "$(ms ${b%.*})" "$(ratio "$a" "$b")"
done
echo "(median of $RUNS, alternating)"
