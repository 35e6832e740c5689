#!/bin/bash
# pull-floor.sh [RUNS]: `ctr images pull` of busybox and the peer's big image from a real registry
# on 127.0.0.1, against the floor (the same layers through `igzip -dc | tar -x`, one layer after
# the other, and as many layers at once as there are cores) and against Debian's containerd 1.6,
# all in one run; warm (the registry's blobs and the layer files in the page cache) and cold
# (`echo 3 > /proc/sys/vm/drop_caches` before each). Then 10 pulls at once of 10 different small
# images (a shared base layer and one of their own each), as a CI machine does: total time and
# peak memory, ours against containerd's. Medians of RUNS (default 3).
#
# Before every timed step the previous one's files are deleted, then `sync` and drop_caches:
# on this machine's ext4 (no journal) the inode allocator skips inodes freed in the last 60 s
# (360 s while their inode table block is dirty), one buffer lookup each (`recently_deleted()`
# in fs/ext4/ialloc.c); right after a big tree is removed, `tar -x` of big takes 10 s instead
# of 3 s. Dropping the clean buffers ends that for everyone alike (see bench/README.md).
set -euo pipefail
RUNS=${1:-3}
. "$(dirname "$0")/lib.sh"
command -v igzip >/dev/null || { echo "pull-floor.sh: needs igzip (Debian's isal package)" >&2; exit 1; }
start_registry

# The layers, as files for the floor and pushed for the pulls.
push_big_and_busybox
declare -A layers=([busybox]="busybox-layer" [big]="${big_layers[*]}")
# Ten small images: the busybox layer under a tenth of /usr/include each.
mkdir -p "$scratch/small"
for i in $(seq 0 9); do
  (cd / && find usr/include -type f | sort | awk -v i=$i 'NR % 10 == i') |
    tar -C / -cf "$scratch/small/part$i.tar" -T -
  "$top/scripts/push-image.py" image "$registry/small$i:latest" \
    --layer "$scratch/layers/busybox-layer.tar.gz" --layer "$scratch/small/part$i.tar" >/dev/null
done
echo "registry $registry: busybox (1 layer), big (${#big_layers[@]} layers), small0..9 (2 layers)"

# settle warm|cold: what the last step wrote reaches the disk and leaves the caches; warm reads
# back what a pull or the floor reads (the registry's blobs, the layer files).
settle() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
  if [ "$1" = warm ]; then
    find "$scratch/registry" "$scratch/layers" -type f -exec cat {} + > /dev/null
    cat "$bin"/* /usr/bin/ctr /usr/bin/containerd "$(command -v igzip)" > /dev/null
  fi
}
timed() { local t0; t0=$(now); "$@" > /dev/null; T_NS=$(($(now) - t0)); }

floor_layer() { mkdir -p "$scratch/floor/$1" && igzip -dc "$scratch/layers/$1.tar.gz" | tar -x -C "$scratch/floor/$1"; }
export -f floor_layer
export scratch
floor_seq() { for n in $1; do floor_layer "$n"; done; }
floor_par() { printf '%s\n' $1 | xargs -P "$(nproc)" -I{} bash -c 'floor_layer {}'; }

fresh_ours() {
  [ -n "$daemon" ] && { kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=; }
  rm -rf "$scratch/root" "$scratch/state"
  start_ours
}
fresh_theirs() {
  "$peer/containerd.sh" clean >/dev/null 2>&1 || true
  start_peer
}

declare -A t
for mode in warm cold; do
  for image in busybox big; do
    for _ in $(seq "$RUNS"); do
      rm -rf "$scratch/floor"; settle $mode
      timed floor_seq "${layers[$image]}"; t[$mode,$image,seq]+="$T_NS "
      rm -rf "$scratch/floor"; settle $mode
      timed floor_par "${layers[$image]}"; t[$mode,$image,par]+="$T_NS "
      rm -rf "$scratch/floor"
      fresh_ours; settle $mode
      timed ours images pull "$registry/$image:latest"; t[$mode,$image,ours]+="$T_NS "
      if have_peer; then
        fresh_theirs; settle $mode
        timed theirs images pull --plain-http "$registry/$image:latest"
        t[$mode,$image,theirs]+="$T_NS "
      fi
    done
  done
done

# Ten pulls at once, with the memory of the daemon (all its processes) and of the ten clients
# sampled meanwhile: containerd 1.6's ctr fetches and unpacks in the client.
pulls_at_once() {
  local pids=() i
  while [ ! -e "$scratch/go" ]; do sleep 0.005; done
  for i in $(seq 0 9); do "$@" "$registry/small$i:latest" > /dev/null & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || echo failed >> "$scratch/failed"; done
}
sampled_pulls() {
  local root=$1; shift
  rm -f "$scratch/mem" "$scratch/go" "$scratch/failed"
  pulls_at_once "$@" &
  local batch=$!
  python3 "$top/bench/memsample.py" "$scratch/mem" "$root" "$batch" &
  local sampler=$!
  while [ ! -s "$scratch/mem" ]; do sleep 0.01; done
  local t0; t0=$(now)
  touch "$scratch/go"
  wait $batch
  T_NS=$(($(now) - t0))
  kill -TERM $sampler; wait $sampler || true
  read -r RSS PSS < "$scratch/mem"
  FAILED=0
  if [ -f "$scratch/failed" ]; then FAILED=$(wc -l < "$scratch/failed"); fi
}
declare -A many
for _ in $(seq "$RUNS"); do
  fresh_ours; settle warm
  sampled_pulls "$daemon" ours images pull
  many[ours,t]+="$T_NS "; many[ours,rss]+="$RSS "; many[ours,pss]+="$PSS "
  many[ours,failed]=$((${many[ours,failed]:-0} + FAILED))
  if have_peer; then
    fresh_theirs; settle warm
    sampled_pulls "$("$peer/containerd.sh" pid)" theirs images pull --plain-http
    many[theirs,t]+="$T_NS "; many[theirs,rss]+="$RSS "; many[theirs,pss]+="$PSS "
    many[theirs,failed]=$((${many[theirs,failed]:-0} + FAILED))
  fi
done
[ -n "$peer_started" ] && "$peer/containerd.sh" clean >/dev/null 2>&1 || true
peer_started=

med() { printf '%s\n' $1 | median; }
echo
printf '%-5s %-8s %11s %11s %11s %11s   %-8s %-8s %-8s\n' cache image "floor seq" "floor par" \
  ours containerd "ours/fl" "ctrd/fl" "ours/ctrd"
for mode in warm cold; do
  for image in busybox big; do
    s=$(med "${t[$mode,$image,seq]}"); p=$(med "${t[$mode,$image,par]}")
    o=$(med "${t[$mode,$image,ours]}")
    floor=$(( s < p ? s : p ))
    if have_peer; then
      c=$(med "${t[$mode,$image,theirs]}")
      printf '%-5s %-8s %9sms %9sms %9sms %9sms   %-8s %-8s %-8s\n' $mode $image "$(ms $s)" \
        "$(ms $p)" "$(ms $o)" "$(ms $c)" "$(ratio $o $floor)" "$(ratio $c $floor)" "$(ratio $o $c)"
    else
      printf '%-5s %-8s %9sms %9sms %9sms %11s   %-8s\n' $mode $image "$(ms $s)" "$(ms $p)" \
        "$(ms $o)" - "$(ratio $o $floor)"
    fi
  done
done
echo "(floor: the faster of seq and par; ratios of medians)"
echo
printf '%-26s %10s %8s %24s\n' "10 small pulls at once" "total" failed "peak RSS/PSS kB"
printf '%-26s %8sms %8s %24s\n' ours "$(ms "$(med "${many[ours,t]}")")" "${many[ours,failed]}" \
  "$(med "${many[ours,rss]}")/$(med "${many[ours,pss]}") (daemon, services, clients)"
if have_peer; then
  printf '%-26s %8sms %8s %24s\n' "containerd" "$(ms "$(med "${many[theirs,t]}")")" \
    "${many[theirs,failed]}" \
    "$(med "${many[theirs,rss]}")/$(med "${many[theirs,pss]}") (daemon, clients)"
  echo "ours/containerd: $(ratio "$(med "${many[ours,t]}")" "$(med "${many[theirs,t]}")")"
else
  no_peer
fi
