#!/bin/bash
# Builds and runs the whole test suite (as root: the tests start the daemon, enter seccomp and
# capability profiles, and later mount).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 300
