#!/bin/bash
# rootless-pull.sh [RUNS] [USER]: `ctr images pull` of the peer's big image (and busybox) by a
# rootless daemon run by USER (default: a user made for the run, with a subordinate range),
# against the rootful daemon pulling the same image from the same registry, alternating, each
# into an empty store after `sync` and drop_caches (warm: the registry's blobs read back).
# Median of RUNS (default 3). Run as root (it starts the rootful daemon and switches to USER).
set -euo pipefail
RUNS=${1:-3}
. "$(dirname "$0")/lib.sh"
made_user=
user=${2:-}
if [ -z "$user" ]; then
  user=ctrdbench$$
  useradd --no-create-home --shell /usr/sbin/nologin -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$user"
  usermod --add-subuids 500000-565535 --add-subgids 500000-565535 "$user"
  made_user=1
fi
uid=$(id -u "$user")
gid=$(id -g "$user")
home=$scratch/home
mkdir -p "$home/run"
chown -R "$uid:$gid" "$home"
chmod 700 "$home/run"
as_user() {
  setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
    env -i HOME="$home" XDG_RUNTIME_DIR="$home/run" PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
rootless=
stop_rootless() {
  [ -n "$rootless" ] && { kill "$rootless" 2>/dev/null; wait "$rootless" 2>/dev/null || true; }
  rootless=
  return 0
}
finish() {
  stop_rootless
  if [ -n "$made_user" ]; then
    pkill -KILL -u "$user" || true
    sleep 0.5
    usermod --del-subuids 500000-565535 --del-subgids 500000-565535 "$user" || true
    userdel "$user" || true
  fi
  kill "$registry_pid" 2>/dev/null || true
  cleanup
}
start_registry
trap finish EXIT

push_big_and_busybox

settle() {
  sync
  echo 3 > /proc/sys/vm/drop_caches
  find "$scratch/registry" -type f -exec cat {} + > /dev/null
  cat "$bin"/* > /dev/null
}
timed() { local t0; t0=$(now); "$@" > /dev/null; T_NS=$(($(now) - t0)); }

fresh_rootful() {
  [ -n "$daemon" ] && { kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=; }
  rm -rf "$scratch/root" "$scratch/state"
  start_ours
}
fresh_rootless() {
  stop_rootless
  as_user rm -rf "$home/.local"
  # Not through as_user: $! must be the daemon itself (setpriv and env exec it), not a subshell.
  setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
    env -i HOME="$home" XDG_RUNTIME_DIR="$home/run" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    "$bin/containerd" 2> "$scratch/rootless.log" &
  rootless=$!
  for _ in $(seq 100); do as_user "$bin/ctr" version >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$scratch/rootless.log" >&2
  return 1
}

declare -A t
for image in busybox big; do
  for _ in $(seq "$RUNS"); do
    fresh_rootful; settle
    timed ours images pull "$registry/$image:latest"; t[$image,rootful]+="$T_NS "
    kill "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
    rm -rf "$scratch/root" "$scratch/state"
    fresh_rootless; settle
    timed as_user "$bin/ctr" images pull "$registry/$image:latest"; t[$image,rootless]+="$T_NS "
    stop_rootless
  done
done

printf '\n%-8s %12s %12s %16s\n' image rootful rootless rootless/rootful
for image in busybox big; do
  a=$(echo ${t[$image,rootful]} | tr ' ' '\n' | median)
  b=$(echo ${t[$image,rootless]} | tr ' ' '\n' | median)
  printf '%-8s %10sms %10sms %16s\n' "$image" "$(ms ${a%.*})" "$(ms ${b%.*})" "$(ratio "$b" "$a")"
done
echo "(median of $RUNS, alternating; user $user, uid $uid)"
