#!/bin/bash
# gc.sh [IMAGES] [BLOBS_PER_IMAGE]: garbage collection over a store of IMAGES images and
# IMAGES*BLOBS_PER_IMAGE blobs (default 200 and 10: 2,000 blobs): the time of a full mark and
# sweep with nothing to free and after half the images were removed, and the longest any API
# call (`images list`, back to back from the same client) waited while it ran.
set -euo pipefail
IMAGES=${1:-200}
PER_IMAGE=${2:-10}
. "$(dirname "$0")/lib.sh"
start_ours
"$top/build/bench/gc-store" "$scratch/state/containerd.sock" "$IMAGES" "$PER_IMAGE"
grep "garbage collection: removed" "$scratch/containerd.log" | tail -2 | sed 's/^.*msg="/daemon log: /; s/" .*$//'
