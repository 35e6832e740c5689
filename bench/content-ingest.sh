#!/bin/bash
# content-ingest.sh [MB] [RUNS]: ingest throughput against the hashing floor and the peer.
set -euo pipefail
MB=${1:-1024}
RUNS=${2:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build/bin
peer=$(cd "$top/../shared/peer" 2>/dev/null && pwd || true)
scratch=$(mktemp -d /tmp/bench-ingest-XXXXXX)
chmod 755 "$scratch"
daemon=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  if [ -n "${peer_started:-}" ]; then "$peer/containerd.sh" clean >/dev/null 2>&1 || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

now() { date +%s%N; }
median() { sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
mbps() { awk -v mb="$MB" -v ns="$1" 'BEGIN{printf "%.0f", mb * 1048576 / 1e6 / (ns / 1e9)}'; }

file=$scratch/blob
head -c $((MB << 20)) /dev/urandom > "$file"
digest=sha256:$(openssl dgst -sha256 -r "$file" | cut -c1-64)

floor=()
for _ in $(seq "$RUNS"); do
  t0=$(now); openssl dgst -sha256 "$file" >/dev/null; t1=$(now); floor+=($((t1 - t0)))
done
floor_ns=$(printf '%s\n' "${floor[@]}" | median)

cat > "$scratch/config.toml" <<CFG
root = "$scratch/root"
state = "$scratch/state"
[services.content]
uid = 64101
gid = 64101
[services.snapshot]
uid = 64102
gid = 64102
[services.diff]
uid = 64103
gid = 64103
CFG
"$bin/containerd" --config "$scratch/config.toml" 2>"$scratch/containerd.log" &
daemon=$!
ctr() { "$bin/ctr" --address "$scratch/state/containerd.sock" "$@"; }
for _ in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done

ours=()
for i in $(seq "$RUNS"); do
  t0=$(now); ctr content ingest "bench-$i" < "$file"; t1=$(now); ours+=($((t1 - t0)))
  ctr content rm "$digest"
done
ours_ns=$(printf '%s\n' "${ours[@]}" | median)

printf '%-44s %8s ms %6s MB/s\n' "openssl dgst -sha256 (floor)" $((floor_ns / 1000000)) "$(mbps "$floor_ns")"
printf '%-44s %8s ms %6s MB/s  %.2f of floor\n' "ctr content ingest (ours)" $((ours_ns / 1000000)) \
  "$(mbps "$ours_ns")" "$(awk -v f="$floor_ns" -v o="$ours_ns" 'BEGIN{print f/o}')"

if [ -n "$peer" ] && command -v containerd >/dev/null && [ -x /usr/bin/ctr ]; then
  "$peer/containerd.sh" start >/dev/null 2>&1 && peer_started=1
  . "$peer/common.sh"
  theirs=()
  for i in $(seq "$RUNS"); do
    t0=$(now); /usr/bin/ctr --address "$CTRD_SOCK" content ingest "bench-$i" < "$file"; t1=$(now)
    theirs+=($((t1 - t0)))
    /usr/bin/ctr --address "$CTRD_SOCK" content rm "$digest" >/dev/null
  done
  theirs_ns=$(printf '%s\n' "${theirs[@]}" | median)
  printf '%-44s %8s ms %6s MB/s  %.2f of floor; ours is %.1fx faster\n' \
    "containerd ctr content ingest (peer)" $((theirs_ns / 1000000)) "$(mbps "$theirs_ns")" \
    "$(awk -v f="$floor_ns" -v o="$theirs_ns" 'BEGIN{print f/o}')" \
    "$(awk -v t="$theirs_ns" -v o="$ours_ns" 'BEGIN{print t/o}')"
else
  echo "containerd (peer): not installed here; ../shared/peer/install-deps.sh installs it"
fi
