#!/bin/bash
# make-peer-layers.sh IMAGE OUTDIR: builds the layers of the peer's IMAGE (tricky or big) with the
# peer's own make-images.sh functions (../shared/peer), without umoci, skopeo or a registry.
# Each layer lands in OUTDIR as NAME.tar.gz (and, for tricky, NAME.tar as well), in order, with
# their names in OUTDIR/layers.txt. Exit 77: no peer scripts or tools here.
set -euo pipefail
image=$1
out=$2
peer=${PEER_DIR:-$(cd "$(dirname "$0")/../../../shared/peer" 2>/dev/null && pwd || true)}
[ -n "$peer" ] && [ -f "$peer/make-images.sh" ] || { echo "no ../shared/peer" >&2; exit 77; }
for t in busybox setfattr setcap tar gzip; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 77; }; done
EPOCH=1704067200
IMG_DIR=$out
L=$out/oci
PEER_DIR=$peer
# The functions only, not the script's checks and main: everything from mktar() to the
# dispatch at the end. Then the image-assembly steps become no-ops, except that each layer is
# kept, gzip'd as umoci would (the peer deletes the big tars once added).
eval "$(sed -n '/^mktar() {/,/^case /p' "$peer/make-images.sh" | sed '$d')"
log() { :; }
new_image() { :; }
add_layer() {
  local name
  name=$(basename "$2" .tar)
  gzip -n -c "$2" > "$out/$name.tar.gz"
  echo "$name" >> "$out/layers.txt"
}
finish_config() { :; }
push() { :; }
umoci() { :; }
python3() { :; }
mkdir -p "$out"
: > "$out/layers.txt"
case "$image" in
  tricky) build_tricky ;;
  big) build_big ;;
  *) echo "unknown image $image" >&2; exit 2 ;;
esac
rm -rf "$out/stage"
