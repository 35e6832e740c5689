#!/bin/bash
# Builds the libFuzzer targets (clang, AddressSanitizer) into build-fuzz/ and runs each for
# SECONDS (default 30) from its seed corpus in tests/fuzz/corpus/<target>/. Exits non-zero on
# any crash, leak or failed check; prints executions per target.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz-documents fuzz-references fuzz-filters fuzz-hosts-toml fuzz-layer-apply fuzz-gzip-inflate fuzz-archive-import)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCTRD_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer" \
  >build-fuzz.log 2>&1 || { tail -50 build-fuzz.log; exit 1; }
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}" >>build-fuzz.log 2>&1 ||
  { grep -E 'error' -A3 build-fuzz.log | head -50; exit 1; }
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$t/." "$work/"
  # A fresh corpus directory each run: what it finds is printed, the seeds stay as committed.
  if ! ASAN_OPTIONS=detect_leaks=0 "build-fuzz/fuzz/$t" -max_total_time="$seconds" -timeout=60 \
      -artifact_prefix="$work/" \
      -rss_limit_mb=4096 -print_final_stats=1 "$work" >"$work.log" 2>&1; then
    tail -40 "$work.log"
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null | while read -r f; do
      echo "input: $(base64 -w0 "$f")"
    done
    echo "fuzz: $t FAILED"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz: $t: $runs executions in ${seconds}s, 0 crashes"
  rm -rf "$work" "$work.log"
done
