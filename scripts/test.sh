#!/bin/bash
# Builds and runs the whole test suite (as root: the tests start the daemon, enter seccomp and
# capability profiles, and later mount), and each fuzz target briefly (first, so that CTest's
# summary closes the output).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
./scripts/fuzz.sh 30
ctest --test-dir build --output-on-failure -j2 --timeout 300
