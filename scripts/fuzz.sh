#!/usr/bin/env bash
# The fuzzing campaign: builds the libFuzzer targets (scripts/build.sh --fuzz) and runs
# each for SECONDS (default 60) from its checked-in seed corpus (tests/*/corpus/NAME/)
# plus what earlier runs found (build-fuzz/fuzz-corpus/NAME/, kept between runs).
#   usage: scripts/fuzz.sh [SECONDS] [NAME...]     (NAMEs: only these targets)
#   FUZZ_JOBS=N   run N targets at once (default 1; the machine has few cores)
#   FUZZ_EXECS=N  stop each target after N executions (SECONDS stays the upper bound, so
#                 give a generous one: `FUZZ_EXECS=10000000 scripts/fuzz.sh 3600`)
#   FUZZ_FLAGS="..." more libFuzzer flags for every target (e.g. -seed=1)
#   FUZZ_MERGE=1  after a clean run, merge what it found into the checked-in seeds
#                 (libFuzzer -merge=1: only inputs with new features, named by SHA-1);
#                 when that would leave more than 200 files, only inputs with new edges
#                 (-use_counters=0), so the committed corpus stays small. Commit them.
# Prints one line per target: executions, executions per second, corpus size, and
# whether it crashed. A crashing input is copied into the target's seed corpus as
# crash-<sha1> (commit it: the *_corpus ctest then replays it as a regression test) and
# the script exits 1. A target stopped with SIGINT (libFuzzer's exit 72, after its final
# statistics) counts as "interrupted", not as a failure. CI's short run (.ci/run, 30 s per
# target) is separate.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: SECONDS must be a positive integer, not '$seconds'" >&2
  exit 100
fi
shift || true
jobs=${FUZZ_JOBS:-1}
runs=()
if [ -n "${FUZZ_EXECS:-}" ]; then
  if ! [[ "$FUZZ_EXECS" =~ ^[1-9][0-9]*$ ]]; then
    echo "fuzz.sh: FUZZ_EXECS must be a positive integer, not '$FUZZ_EXECS'" >&2
    exit 100
  fi
  runs=(-runs="$FUZZ_EXECS")
fi

scripts/build.sh --fuzz >/dev/null
dir=build-fuzz
targets=()
for f in "$dir"/tests/*/fuzz_*; do
  if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
  name=$(basename "$f")
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  targets+=("$f")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz targets built (or none named $*)" >&2; exit 1; }

# libFuzzer's entropic schedule keeps as "rare" the 100 rarest coverage features plus every
# feature seen fewer than 256 times, and for each feature of each execution searches that
# list linearly. The handshake targets reach 14,000+ features, so the list runs to
# thousands and the search took half of their CPU time (perf, fuzz_server_endpoint and
# fuzz_client_engine: fuzzer::InputCorpus::UpdateFeatureFrequency ~51% self, the target
# itself ~17%). A threshold of 32 keeps the schedule (energy still goes to inputs with the
# rarest features) while the list stays short: +54% executions per CPU-second on
# fuzz_server_endpoint from the same corpus, with as many features reached per execution
# (numbers in the campaign's commit message).
tuning=(-entropic_feature_frequency_threshold=32)
# shellcheck disable=SC2206  # FUZZ_FLAGS is a list of flags, split on spaces on purpose
extra=(${FUZZ_FLAGS:-})

# run_one BINARY: fuzzes it for $seconds and prints its summary line; false on a crash.
run_one() {
  local bin=$1 name seeds corpus artifacts log execs rate size
  name=$(basename "$bin")
  seeds=$(find tests -type d -path "*/corpus/$name" | head -n 1)
  [ -n "$seeds" ] || { echo "fuzz.sh: no seed corpus tests/*/corpus/$name" >&2; return 1; }
  corpus=$dir/fuzz-corpus/$name
  artifacts=$dir/fuzz-artifacts/$name
  log=$dir/fuzz-logs/$name.log
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  rm -f "$artifacts"/*  # earlier runs' findings were copied into the seeds then
  cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  rm -f "$corpus"/README.md
  local rc=0
  "$bin" -max_total_time="$seconds" "${runs[@]}" -max_len=2048 -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    "${tuning[@]}" "${extra[@]}" -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  size=$(find "$corpus" -type f | wc -l)
  local found=0
  for crash in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/leak-*; do
    [ -f "$crash" ] || continue
    found=1
    local keep
    keep="$seeds/crash-$(sha1sum "$crash" | cut -c1-16)"
    cp "$crash" "$keep"
    echo "fuzz.sh: $name: $(basename "$crash") kept as $keep (log: $log)" >&2
  done
  local verdict="FAILED (exit $rc, log $log)"
  if [ "$found" = 0 ] && [ "$rc" = 72 ]; then verdict=interrupted; rc=0; fi
  if [ "$found" = 0 ] && [ "$rc" = 0 ] && [ "$verdict" != interrupted ]; then verdict=ok; fi
  printf '%-24s executions=%s exec_per_s=%s corpus=%s %s\n' "$name" "${execs:-?}" "${rate:-?}" "$size" "$verdict"
  [ "$found" = 0 ] && [ "$rc" = 0 ] || return 1
  [ "${FUZZ_MERGE:-0}" = 1 ] && merge_into_seeds "$bin" "$seeds" "$corpus"
  return 0
}

# merge_into_seeds BINARY SEEDS CORPUS: adds CORPUS's inputs that bring new features (or,
# past 200 files, new edges) to the checked-in SEEDS directory, and says how many.
merge_into_seeds() {
  local bin=$1 seeds=$2 corpus=$3 tmp before mode=features
  tmp=$(mktemp -d)
  before=$(find "$seeds" -type f | wc -l)
  cp "$seeds"/* "$tmp"/
  "$bin" -merge=1 -max_len=2048 "$tmp" "$corpus" >/dev/null 2>&1
  if [ "$(find "$tmp" -type f | wc -l)" -gt 200 ]; then
    mode=edges
    rm -rf "$tmp" && tmp=$(mktemp -d) && cp "$seeds"/* "$tmp"/
    "$bin" -merge=1 -use_counters=0 -max_len=2048 "$tmp" "$corpus" >/dev/null 2>&1
  fi
  cp -n "$tmp"/* "$seeds"/
  rm -rf "$tmp"
  echo "fuzz.sh: $(basename "$bin"): merged by $mode into $seeds: $before -> $(find "$seeds" -type f | wc -l) files" >&2
}

status=0
pids=()
for bin in "${targets[@]}"; do
  run_one "$bin" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit "$status"
