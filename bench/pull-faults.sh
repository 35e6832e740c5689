#!/bin/bash
# pull-faults.sh [TRIALS]: fault injection. Each trial pulls a 4-layer image (12 MB, through a
# proxy limited to 12 MB/s) into a namespace of its own, kills one of containerd-content,
# containerd-snapshot or containerd-diff (chosen at random) with SIGKILL at a random moment
# (0-1.5 s in), waits for the supervisor to restart it, and pulls again. A trial has recovered
# when that second pull succeeds, `images check` says complete, every blob's bytes match its
# digest, and within 8 s no extract-* snapshot and no ingest of the trial is left.
# Prints one line per failed trial and then "recovered N/TRIALS". Default 100 trials.
set -euo pipefail
TRIALS=${1:-100}
. "$(dirname "$0")/lib.sh"
start_registry
proxy_port=$(free_port)
python3 "$top/tests/integration/registry-proxy.py" --port "$proxy_port" --upstream "$registry" \
  --rate 12000000 2>/dev/null &
proxy_pid=$!
trap 'kill $registry_pid $proxy_pid 2>/dev/null; cleanup' EXIT
args=()
for i in 0 1 2 3; do
  mkdir -p "$scratch/layers/$i/d$i"
  head -c $((3 << 20)) /dev/urandom > "$scratch/layers/$i/d$i/blob"
  for f in $(seq 200); do echo "$f $i" > "$scratch/layers/$i/d$i/f$f"; done
  args+=(--layer "$scratch/layers/$i")
done
"$top/scripts/push-image.py" image "$registry/faults:1" "${args[@]}" >/dev/null
ref=127.0.0.1:$proxy_port/faults:1
# A copy of the executables: a rebuild during the run must not change them under it.
cp -r "$bin" "$scratch/bin"
bin=$scratch/bin
start_ours

service_pid() {
  # Empty while the daemon cannot say (a service restarting).
  ours info 2>/dev/null | python3 -c 'import json,sys
try:
    for p in json.load(sys.stdin).get("processes", []):
        if p["id"] == sys.argv[1] and p["status"] == "ok": print(p["pid"])
except ValueError:
    pass' "$1" || true
}

services=(containerd-content containerd-snapshot containerd-diff)
recovered=0
for t in $(seq "$TRIALS"); do
  ns=t$t
  service=${services[$((RANDOM % 3))]}
  delay=$(awk -v r=$RANDOM 'BEGIN{printf "%.2f", r / 32767 * 1.5}')
  ours -n "$ns" images pull "$ref" >/dev/null 2>&1 &
  puller=$!
  sleep "$delay"
  pid=$(service_pid "$service")
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  wait "$puller" 2>/dev/null || true
  for _ in $(seq 100); do
    now=$(service_pid "$service")
    [ -n "$now" ] && [ "$now" != "$pid" ] && break
    sleep 0.1
  done
  why=
  if ! out=$(ours -n "$ns" images pull "$ref" 2>&1); then
    why="second pull failed: $(echo "$out" | tail -1)"
  elif ! ours -n "$ns" images check | grep -q 'complete (6/6)'; then
    why="images check: $(ours -n "$ns" images check | tail -1)"
  else
    for d in $(ours -n "$ns" content ls -q); do
      [ "sha256:$(ours -n "$ns" content get "$d" | sha256sum | cut -c1-64)" = "$d" ] || why="blob $d corrupt"
    done
    for _ in $(seq 80); do
      leftovers=$(ours -n "$ns" snapshots ls | grep -c extract- || true)
      ingests=$(ours -n "$ns" content active | grep -c layer- || true)
      [ "$leftovers" = 0 ] && [ "$ingests" = 0 ] && break
      sleep 0.1
    done
    [ "$leftovers" = 0 ] || why="$leftovers extract snapshots left"
    [ "$ingests" = 0 ] || why="$ingests ingests left"
  fi
  if [ -z "$why" ]; then
    recovered=$((recovered + 1))
  else
    echo "trial $t: $service killed at ${delay}s: $why"
  fi
done
echo "recovered $recovered/$TRIALS"
