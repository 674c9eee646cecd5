#!/bin/bash
# netlab_report usage: bad options and bad scenario values get one line on stderr and exit
# 100 before anything is set up; --help prints the usage. Needs no root, runs nothing.
# usage: report_usage_test.sh NETLAB_REPORT
set -uo pipefail
REPORT=$1
ERR=$(mktemp /tmp/netlab-usage.XXXXXX)
trap 'rm -f "$ERR"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_usage() {  # ARGS...: exit 100, exactly one line on stderr, nothing written
  local rc=0
  bash "$REPORT" "$@" --out /nonexistent/netlab-usage-test >/dev/null 2>"$ERR" || rc=$?
  [[ $rc -eq 100 ]] || fail "netlab_report $*: exit $rc, expected 100 ($(cat "$ERR"))"
  [[ $(wc -l <"$ERR") -eq 1 ]] || fail "netlab_report $*: expected one line on stderr, got: $(cat "$ERR")"
  grep -q '^netlab_report: ' "$ERR" || fail "netlab_report $*: unprefixed error: $(cat "$ERR")"
}

expect_usage --runs 0
expect_usage --runs x
expect_usage --duration 5
expect_usage --kinds "alone bogus"
expect_usage --losses 2
expect_usage --losses 1  # 100%: nothing would arrive (it is 0.01 for 1%)
expect_usage --rates 20x
expect_usage --frobnicate
expect_usage --out
bash "$REPORT" --help >"$ERR" 2>&1 || fail "--help exit $?"
if ! grep -q -- '--runs N' "$ERR" || ! grep -q -- '--full' "$ERR"; then
  fail "--help lacks the options: $(head -n 5 "$ERR")"
fi
echo "PASS: netlab_report usage"
