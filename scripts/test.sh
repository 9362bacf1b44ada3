#!/usr/bin/env bash
# Runs the test suite (building first if sources changed; tests needing ../shared skip without it; two shards of the
# one test binary at once, one per core), then every fuzz target for 5 s under ASan + UBSan: each first runs its
# committed regression inputs and seeds once, then fuzzes (scripts/fuzz.sh; about a minute in all; the long runs are
# `scripts/fuzz.sh TARGET --seconds 1800`, docs/security.md).
#
#   scripts/test.sh              the above (what .ci/run runs)
#   scripts/test.sh --sanitize   the tests that need no ../shared, built with ASan + UBSan in build-sanitize/
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--sanitize" ]; then
  if [ ! -f build-sanitize/build.ninja ]; then
    cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DARRAKIS_SANITIZE=ON
  fi
  cmake --build build-sanitize
  no_shared=$(mktemp -d)
  trap 'rm -rf "$no_shared"' EXIT
  # LibTorch is not instrumented; its one-time allocations at start-up are not leaks of ours (fuzz/lsan.supp).
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ARRAKIS_SHARED_DIR="$no_shared" \
    build-sanitize/arrakis_tests "${@:2}"
  exit
fi
[ $# -eq 0 ] || { echo "test.sh: unknown argument $1 (the only option is --sanitize)" >&2; exit 2; }

cmake --build build
ctest --test-dir build --output-on-failure --parallel 2
scripts/fuzz.sh --seconds 5 --seed 1
