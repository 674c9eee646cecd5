#!/usr/bin/env bash
# Builds and runs the whole test suite with ctest.
# Usage: scripts/test.sh [--sanitize] [ctest args...]
#   --sanitize  runs the suite on the ASan+UBSan build (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
mode=()
if [ "${1:-}" = "--sanitize" ]; then dir=build-asan; mode=(--sanitize); shift; fi
# build.sh without a target builds everything, the tests included.
scripts/build.sh "${mode[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$dir"
ctest --output-on-failure --timeout 900 "$@"
