#!/bin/bash
# snapshot-list.sh [COUNT] [RUNS]: what listing every snapshot costs when the records stay with
# containerd-snapshot (the question of where snapshot records live, bin/containerd/metadata/
# README.md). `ctr snapshots ls` over COUNT committed snapshots against the same over none: the
# difference is the snapshot service's list and one RPC carrying all of them, what GC's mark
# will pay per run. Median of RUNS.
set -euo pipefail
COUNT=${1:-2000}
RUNS=${2:-5}
. "$(dirname "$0")/lib.sh"

time_ls() {  # median ns of `ctr snapshots ls`
  local runs=() t0 t1 i
  for i in $(seq "$RUNS"); do
    t0=$(now); ours snapshots ls >/dev/null; t1=$(now); runs+=($((t1 - t0)))
  done
  printf '%s\n' "${runs[@]}" | median
}

start_ours
empty_ns=$(time_ls)
for i in $(seq "$COUNT"); do
  ours snapshots prepare "a$i" >/dev/null
  ours snapshots commit "c$i" "a$i"
done
full_ns=$(time_ls)
printf '%-44s %7s ms\n' "ctr snapshots ls, 0 snapshots" "$(ms "$empty_ns")"
printf '%-44s %7s ms  (%s us per snapshot listed)\n' "ctr snapshots ls, $COUNT snapshots" \
  "$(ms "$full_ns")" "$(awk -v a="$full_ns" -v b="$empty_ns" -v n="$COUNT" \
  'BEGIN{printf "%.1f", (a-b)/n/1e3}')"
