#!/bin/bash
# Creates the system users the unprivileged services run as (run as root). Idempotent.
# The daemon looks them up by name: [services.content] user = "containerd-content", etc.
set -euo pipefail
for name in containerd-content containerd-snapshot containerd-diff; do
  if ! getent passwd "$name" >/dev/null; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --user-group "$name"
    echo "created user $name (uid $(id -u "$name"))"
  fi
done
