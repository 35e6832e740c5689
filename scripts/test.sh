#!/bin/bash
# Checks the format, builds, runs each fuzz target briefly, then the whole test suite (as root:
# the tests start the daemon, enter seccomp and capability profiles, and mount). CTest's summary
# closes the output.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/check-format.sh
./scripts/build.sh
./scripts/fuzz.sh 20
ctest --test-dir build --output-on-failure -j2 --timeout 300
