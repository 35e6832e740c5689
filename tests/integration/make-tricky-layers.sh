#!/bin/bash
# make-tricky-layers.sh OUTDIR: builds the three layers of the peer's tricky:latest image with
# the peer's own make-images.sh functions (../shared/peer), without umoci, skopeo or a registry,
# so that our unpack can be compared with ref/tricky.containerd-*.list. Exit 77: no peer here.
set -euo pipefail
out=$1
peer=${PEER_DIR:-$(cd "$(dirname "$0")/../../../shared/peer" 2>/dev/null && pwd || true)}
[ -n "$peer" ] && [ -f "$peer/make-images.sh" ] || { echo "no ../shared/peer" >&2; exit 77; }
for t in busybox setfattr setcap tar; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 77; }; done
EPOCH=1704067200
IMG_DIR=$out
L=$out/oci
PEER_DIR=$peer
# The functions only, not the script's checks and main: everything from mktar() to the
# dispatch at the end. Then the image-assembly steps become no-ops: only the tars are wanted.
eval "$(sed -n '/^mktar() {/,/^case /p' "$peer/make-images.sh" | sed '$d')"
log() { :; }
new_image() { :; }
add_layer() { :; }
finish_config() { :; }
push() { :; }
umoci() { :; }
python3() { :; }
mkdir -p "$out"
build_tricky
ls "$out"/tricky-l1.tar "$out"/tricky-l2.tar "$out"/tricky-l3.tar >/dev/null
