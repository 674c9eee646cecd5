#!/usr/bin/env bash
# Configures and builds curvecp.
# Usage: scripts/build.sh [--sanitize | --release | --fuzz] [TARGET...]
#   TARGET...   build only these targets (`scripts/build.sh curvecp`: the binary alone, what
#               scripts/demo.sh needs, a few minutes less than everything); default: all
#   (default)   build/          RelWithDebInfo
#   --sanitize  build-asan/     AddressSanitizer + UndefinedBehaviorSanitizer
#   --release   build-release/  Release (-O3), what a packager builds; warnings stay errors
#   --fuzz      build-fuzz/     clang + libFuzzer targets
# The gcc builds pass CURVECP_REQUIRE_INTEROP=ON: there the interoperability tests against
# nacl-tools are required, never quietly left out.
# CMake's configure output is kept quiet but not hidden: warnings, errors and the status
# lines that say something is missing are printed; the full log is in <dir>/configure.log.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCURVECP_REQUIRE_INTEROP=ON)
case "${1:-}" in
  --sanitize) dir=build-asan; args+=(-DCURVECP_SANITIZE=ON); shift ;;
  --release) dir=build-release; args=(-DCMAKE_BUILD_TYPE=Release -DCURVECP_REQUIRE_INTEROP=ON); shift ;;
  --fuzz) dir=build-fuzz; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCURVECP_FUZZ=ON -DCURVECP_WERROR=OFF -DCMAKE_CXX_COMPILER=clang++); shift ;;
  -*) echo "build.sh: unknown option $1 (use --sanitize, --release or --fuzz, then targets)" >&2; exit 100 ;;
esac
# The tests are always configured (a build directory configured without them gets them
# back): scripts/test.sh relies on this script building them.
args+=(-DCURVECP_TESTS=ON)
targets=("$@")

jobs=$(nproc 2>/dev/null || echo 2)
# ccache, when the machine has it, makes rebuilds in several checkouts cheap.
if command -v ccache >/dev/null 2>&1; then
  args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(cd .. && pwd)}"
fi
mkdir -p "$dir"
log="$dir/configure.log"
if ! cmake -S . -B "$dir" -G Ninja "${args[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  echo "build.sh: cmake configure failed (log: $log)" >&2
  exit 1
fi
# Everything that is not a "-- " status line (CMake Warning/Deprecation/Error blocks,
# message(NOTICE)), and the status lines about missing tools or tests not registered.
grep -vE '^-- ' "$log" | cat -s | sed '/./,$!d' || true
grep -iE '^-- .*(nacl-tools|not found|could not|not registered|warning|error)' "$log" || true

if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
elif [ "$dir" = build-fuzz ]; then
  # Only the libFuzzer targets (named fuzz_*); the rest is covered by the gcc builds.
  targets=$(ninja -C "$dir" -t targets all | grep -oE '^fuzz_[A-Za-z0-9_]+:' | tr -d : | sort -u || true)
  [ -n "$targets" ] || { echo "build.sh: no fuzz_* targets defined" >&2; exit 1; }
  # shellcheck disable=SC2086
  cmake --build "$dir" -j "$jobs" --target $targets
else
  cmake --build "$dir" -j "$jobs"
fi
