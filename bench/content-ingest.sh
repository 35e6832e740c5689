#!/bin/bash
# content-ingest.sh [MB] [RUNS]: ingest throughput against the hashing floor and the peer.
set -euo pipefail
MB=${1:-1024}
RUNS=${2:-5}
. "$(dirname "$0")/lib.sh"
mbps() { awk -v mb="$MB" -v ns="$1" 'BEGIN{printf "%.0f", mb * 1048576 / 1e6 / (ns / 1e9)}'; }

file=$scratch/blob
head -c $((MB << 20)) /dev/urandom > "$file"
digest=sha256:$(openssl dgst -sha256 -r "$file" | cut -c1-64)

floor=()
for _ in $(seq "$RUNS"); do
  t0=$(now); openssl dgst -sha256 "$file" >/dev/null; t1=$(now); floor+=($((t1 - t0)))
done
floor_ns=$(printf '%s\n' "${floor[@]}" | median)

start_ours
mine=()
for i in $(seq "$RUNS"); do
  t0=$(now); ours content ingest "bench-$i" < "$file"; t1=$(now); mine+=($((t1 - t0)))
  ours content rm "$digest"
done
mine_ns=$(printf '%s\n' "${mine[@]}" | median)

printf '%-40s %7s ms %6s MB/s\n' "openssl dgst -sha256 (floor)" "$(ms "$floor_ns")" "$(mbps "$floor_ns")"
printf '%-40s %7s ms %6s MB/s  %s of floor\n' "ctr content ingest (ours)" "$(ms "$mine_ns")" \
  "$(mbps "$mine_ns")" "$(ratio "$floor_ns" "$mine_ns")"

if have_peer && start_peer; then
  peer_runs=()
  for i in $(seq "$RUNS"); do
    t0=$(now); theirs content ingest "bench-$i" < "$file"; t1=$(now); peer_runs+=($((t1 - t0)))
    theirs content rm "$digest" >/dev/null
  done
  peer_ns=$(printf '%s\n' "${peer_runs[@]}" | median)
  printf '%-40s %7s ms %6s MB/s  %s of floor; ours is %sx faster\n' \
    "containerd ctr content ingest (peer)" "$(ms "$peer_ns")" "$(mbps "$peer_ns")" \
    "$(ratio "$floor_ns" "$peer_ns")" "$(ratio "$peer_ns" "$mine_ns")"
else
  no_peer
fi
