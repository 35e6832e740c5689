#!/bin/bash
# apply-layers.sh [IMAGE] [RUNS]: unpack of the peer's IMAGE layers (default big, 3 runs) onto an
# overlayfs snapshot chain (prepare + apply + commit each), against `tar -xzf` of the same layers
# in sequence (the floor), from an empty snapshotter each run. containerd's unpack time for the
# same image is in ../shared/peer/RESULTS.md ("unpack only"; re-measure with its bench.sh).
set -euo pipefail
IMAGE=${1:-big}
RUNS=${2:-3}
. "$(dirname "$0")/lib.sh"
layers=$scratch/layers
bash "$top/tests/integration/make-peer-layers.sh" "$IMAGE" "$layers"
mapfile -t names < "$layers/layers.txt"
entries=0
for n in "${names[@]}"; do entries=$((entries + $(tar -tzf "$layers/$n.tar.gz" | wc -l))); done
gz_bytes=$(cat "${names[@]/#/$layers/}" 2>/dev/null | wc -c || true)
gz_bytes=$(for n in "${names[@]}"; do stat -c %s "$layers/$n.tar.gz"; done | awk '{s+=$1} END{print s}')

floor=()
for _ in $(seq "$RUNS"); do
  rm -rf "$scratch/floor"; mkdir -p "$scratch/floor"; sync
  t0=$(now)
  for n in "${names[@]}"; do tar --numeric-owner -xzf "$layers/$n.tar.gz" -C "$scratch/floor"; done
  t1=$(now); floor+=($((t1 - t0)))
done
rm -rf "$scratch/floor"
floor_ns=$(printf '%s\n' "${floor[@]}" | median)

start_ours
digests=()
for n in "${names[@]}"; do
  ours content ingest "layer-$n" < "$layers/$n.tar.gz"
  digests+=("sha256:$(sha256sum "$layers/$n.tar.gz" | cut -c1-64)")
done
mine=()
for _ in $(seq "$RUNS"); do
  sync
  read -r seconds bytes count < <("$top/build/bench/apply-layers" "$scratch/state/containerd.sock" overlayfs "${digests[@]}")
  mine+=("$(awk -v s="$seconds" 'BEGIN{printf "%d", s*1e9}')")
  for i in $(seq $((count + 2)) -1 3); do ours snapshots rm "bench-layer-$i" >/dev/null; done
done
mine_ns=$(printf '%s\n' "${mine[@]}" | median)

echo "$IMAGE: ${#names[@]} layers, $((gz_bytes / 1000000)) MB gzip, $((bytes / 1000000)) MB tar, $entries entries"
printf '%-40s %7s ms\n' "tar -xzf, layer after layer (floor)" "$(ms "$floor_ns")"
printf '%-40s %7s ms  %s MB/s, %s entries/s, %s of the floor time\n' "prepare+apply+commit (ours)" \
  "$(ms "$mine_ns")" "$(awk -v b="$bytes" -v n="$mine_ns" 'BEGIN{printf "%.0f", b/1e6/(n/1e9)}')" \
  "$(awk -v e="$entries" -v n="$mine_ns" 'BEGIN{printf "%.0f", e/(n/1e9)}')" \
  "$(ratio "$mine_ns" "$floor_ns")"
