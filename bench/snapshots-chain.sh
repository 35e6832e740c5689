#!/bin/bash
# snapshots-chain.sh [LAYERS] [RUNS]: prepare + commit of a chain of LAYERS snapshots through
# ctr, ours against containerd's, from an empty store each run. Wall time of the whole chain.
set -euo pipefail
LAYERS=${1:-50}
RUNS=${2:-3}
. "$(dirname "$0")/lib.sh"

chain() {  # chain CTR-FUNCTION RUN -> builds the chain, removes it again
  local c=$1 run=$2 parent="" i
  for i in $(seq "$LAYERS"); do
    $c snapshots prepare "r$run-active-$i" $parent
    $c snapshots commit "r$run-layer-$i" "r$run-active-$i"
    parent="r$run-layer-$i"
  done
}
unchain() {
  local c=$1 run=$2 i
  for i in $(seq "$LAYERS" -1 1); do $c snapshots rm "r$run-layer-$i"; done
}

time_chain() {  # time_chain CTR-FUNCTION -> median ns
  local c=$1 runs=() run t0 t1
  for run in $(seq "$RUNS"); do
    t0=$(now); chain "$c" "$run"; t1=$(now); runs+=($((t1 - t0)))
    unchain "$c" "$run"
  done
  printf '%s\n' "${runs[@]}" | median
}

start_ours
mine_ns=$(time_chain ours)
printf '%-44s %7s ms  (%s ms per prepare+commit)\n' "chain of $LAYERS, ours" "$(ms "$mine_ns")" \
  "$(awk -v n="$mine_ns" -v l="$LAYERS" 'BEGIN{printf "%.1f", n/l/1e6}')"
if have_peer && start_peer; then
  peer_ns=$(time_chain theirs)
  printf '%-44s %7s ms  (%s ms per prepare+commit); ours takes %s of its time\n' \
    "chain of $LAYERS, containerd (peer)" "$(ms "$peer_ns")" \
    "$(awk -v n="$peer_ns" -v l="$LAYERS" 'BEGIN{printf "%.1f", n/l/1e6}')" \
    "$(ratio "$mine_ns" "$peer_ns")"
else
  no_peer
fi
