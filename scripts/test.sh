#!/usr/bin/env bash
# Runs the test suite (building first if sources changed). Tests needing ../shared skip without it.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build
ctest --test-dir build --output-on-failure
