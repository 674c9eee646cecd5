#!/bin/bash
# netlab noisy host: the load a backup host sees beside its transfers, as measured in
# REAL-PATHS (processes forking about a hundred short-lived children per second, and a
# compiler running). Started and stopped by tests/netlab/scenario.sh --noisy, in its own
# process group, so the runner stops all of it at once; it also ends by itself after
# SECONDS (default 120).
#
# usage: noisy.sh [SECONDS]
set -u
LIMIT=${1:-120}
end=$(( $(date +%s) + LIMIT ))
WORK=$(mktemp -d /tmp/netlab-noisy.XXXXXX)
trap 'rm -rf "$WORK"; kill -- $(jobs -p) 2>/dev/null' EXIT
trap 'exit 143' TERM INT

# The compiler-like process: g++ -O2 on a template-heavy unit, again and again (CPU and
# memory churn, like a build); a shell busy loop where there is no g++.
compile_loop() {
  if command -v g++ >/dev/null; then
    cat >"$WORK/unit.cpp" <<'CPP'
#include <map>
#include <regex>
#include <string>
#include <vector>
template <int N> struct Fib { static constexpr long value = Fib<N - 1>::value + Fib<N - 2>::value; };
template <> struct Fib<1> { static constexpr long value = 1; };
template <> struct Fib<0> { static constexpr long value = 0; };
long f(const std::string& s) {
  std::map<std::string, std::vector<std::regex>> m;
  m[s].emplace_back(s);
  return Fib<80>::value + static_cast<long>(m.size());
}
CPP
    while (( $(date +%s) < end )); do
      timeout $(( end - $(date +%s) + 1 )) g++ -O2 -c "$WORK/unit.cpp" -o "$WORK/unit.o" 2>/dev/null
    done
  else
    while (( $(date +%s) < end )); do :; done
  fi
}

# About a hundred short-lived children a second: ten at a time, ten times a second.
fork_loop() {
  while (( $(date +%s) < end )); do
    for _ in 1 2 3 4 5 6 7 8 9 10; do /bin/true & done
    wait
    sleep 0.1
  done
}

compile_loop &
fork_loop &
wait
