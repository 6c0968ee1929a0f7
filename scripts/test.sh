#!/usr/bin/env bash
# The whole test suite: install deps, build twice (optimised, and with
# AddressSanitizer + UndefinedBehaviorSanitizer), run every test in both.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLS_SANITIZE=ON -DLS_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang >/dev/null
cmake --build build-asan -j "$jobs"

# Both trees run even when the first has failures; the script fails if either did.
status=0
echo "== tests (optimised build)"
ctest --test-dir build --output-on-failure -j "$jobs" || status=1
echo "== tests (ASan + UBSan build)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs" || status=1
exit $status
