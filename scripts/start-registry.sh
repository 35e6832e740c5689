#!/bin/bash
# start-registry.sh ADDRESS DIR: Debian's docker-registry on ADDRESS (127.0.0.1:PORT), plain HTTP,
# storage and log in DIR, in the background; waits until it answers and prints its pid.
set -euo pipefail
address=$1
dir=$2
mkdir -p "$dir"
cat > "$dir/registry.yml" <<CFG
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $address
CFG
docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do
  if curl -fsS -o /dev/null "http://$address/v2/" 2>/dev/null; then echo $pid; exit 0; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
cat "$dir/registry.log" >&2
echo "start-registry.sh: docker-registry did not come up on $address" >&2
exit 1
