#!/bin/bash
# archive.sh [RUNS]: `ctr images export` and `ctr images import` of the peer's big image (6
# layers, 271 MB), ours against Debian's containerd 1.6, alternating, median of RUNS (default
# 3). Each import goes into an empty namespace and unpacks (both ctrs unpack by default); the
# image is removed with --sync after each run. First, the cross-check: each daemon imports the
# other's export (same digest, image complete), and both exports list the same entries.
set -euo pipefail
RUNS=${1:-3}
. "$(dirname "$0")/lib.sh"
have_peer || { no_peer; exit 1; }
big_in_both_daemons
ref=$registry/big:latest
echo "registry $registry: big pulled into both daemons"

digest_of() { awk -v r="$2" '$1 == r {print $3}' <<<"$1"; }
ours images export "$scratch/ours.tar" "$ref"
theirs images export "$scratch/theirs.tar" "$ref"
if [ "$(tar -tf "$scratch/ours.tar")" = "$(tar -tf "$scratch/theirs.tar")" ]; then
  echo "cross-check: both exports list the same $(tar -tf "$scratch/ours.tar" | wc -l) entries"
else
  echo "cross-check FAILED: the exports' entries differ"; diff <(tar -tf "$scratch/ours.tar") <(tar -tf "$scratch/theirs.tar") || true
fi
want=$(digest_of "$(ours images ls)" "$ref")
theirs -n cross images import "$scratch/ours.tar" >/dev/null
got=$(digest_of "$(theirs -n cross images ls)" "$ref")
echo "cross-check: containerd imports our export: $got ($([ "$got" = "$want" ] && echo same digest || echo DIFFERENT)), $(theirs -n cross images check | awk -v r="$ref" '$1 == r {print $4, "unpacked:", $NF}')"
ours -n cross images import "$scratch/theirs.tar" >/dev/null
got=$(digest_of "$(ours -n cross images ls)" "$ref")
echo "cross-check: we import containerd's export: $got ($([ "$got" = "$want" ] && echo same digest || echo DIFFERENT)), $(ours -n cross images check | awk -v r="$ref" '$1 == r {print $4, "unpacked:", $NF}')"
ours -n cross images rm --sync "$ref" >/dev/null
theirs -n cross images rm --sync "$ref" >/dev/null

timed() { local t0; t0=$(now); "$@" > /dev/null; T_NS=$(($(now) - t0)); }
declare -A t
for _ in $(seq "$RUNS"); do
  rm -f "$scratch/out.tar"; sync
  timed ours images export "$scratch/out.tar" "$ref"; t[ours,export]+="$T_NS "
  rm -f "$scratch/out.tar"; sync
  timed theirs images export "$scratch/out.tar" "$ref"; t[theirs,export]+="$T_NS "
  sync
  timed ours -n imp images import "$scratch/ours.tar"; t[ours,import]+="$T_NS "
  ours -n imp images rm --sync "$ref" >/dev/null
  sync
  timed theirs -n imp images import "$scratch/ours.tar"; t[theirs,import]+="$T_NS "
  theirs -n imp images rm --sync "$ref" >/dev/null
done

med() { echo $1 | tr ' ' '\n' | median; }
printf '\n%-28s %10s %12s %10s\n' "big (271 MB)" ours containerd ours/ctrd
for k in export import; do
  a=$(med "${t[ours,$k]}"); b=$(med "${t[theirs,$k]}")
  label=$([ $k = export ] && echo "export to a file" || echo "import and unpack")
  printf '%-28s %8sms %10sms %10s\n' "$label" "$(ms ${a%.*})" "$(ms ${b%.*})" "$(ratio "$a" "$b")"
done
echo "(median of $RUNS, alternating)"
