#!/bin/bash
# Fails, listing the files, when a C++ source differs from what clang-format (with the checked-in
# .clang-format) makes of it. `clang-format -i FILE` fixes one.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(git ls-files '*.cc' '*.h' | while read -r f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -n "$bad" ]; then
  echo "not formatted (clang-format -i):"
  echo "$bad"
  exit 1
fi
echo "format: $(git ls-files '*.cc' '*.h' | wc -l) files as clang-format makes them"
