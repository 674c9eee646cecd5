#!/usr/bin/env bash
# Configures and builds curvecp. Usage: scripts/build.sh [--sanitize] [--fuzz]
#   (default)   build/          RelWithDebInfo
#   --sanitize  build-asan/     AddressSanitizer + UndefinedBehaviorSanitizer
#   --fuzz      build-fuzz/     clang + libFuzzer targets
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
case "${1:-}" in
  --sanitize) dir=build-asan; args+=(-DCURVECP_SANITIZE=ON) ;;
  --fuzz) dir=build-fuzz; args+=(-DCURVECP_FUZZ=ON -DCURVECP_WERROR=OFF -DCMAKE_CXX_COMPILER=clang++) ;;
  "") ;;
  *) echo "build.sh: unknown option $1 (use --sanitize or --fuzz)" >&2; exit 100 ;;
esac

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" -G Ninja "${args[@]}" >/dev/null
if [ "$dir" = build-fuzz ]; then
  # Only the libFuzzer targets (named fuzz_*); the rest is covered by the gcc builds.
  targets=$(ninja -C "$dir" -t targets all | grep -oE '^fuzz_[A-Za-z0-9_]+:' | tr -d : | sort -u || true)
  [ -n "$targets" ] || { echo "build.sh: no fuzz_* targets defined" >&2; exit 1; }
  # shellcheck disable=SC2086
  cmake --build "$dir" -j "$jobs" --target $targets
else
  cmake --build "$dir" -j "$jobs"
fi
