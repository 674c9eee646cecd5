#!/bin/bash
# netlab meter: the benchmark's source and sink agree on a stream, the sink reports every
# interval (also empty ones) and catches a corrupted or foreign stream. No root needed.
# usage: meter_test.sh METER_BINARY
set -euo pipefail
METER=$1
W=$(mktemp -d /tmp/netlab-meter.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. 5 MB through a pipe: byte-exact, the totals agree, the interval bytes add up.
"$METER" gen --seed 7 --bytes 5000000 --report "$W/gen" | "$METER" sink --seed 7 --out "$W/series" \
  || fail "sink rejected its own stream: $(tail -n 1 "$W/series")"
grep -qx 'bytes 5000000' "$W/gen" || fail "gen report: $(cat "$W/gen")"
grep -qx 'total 5000000 ok' "$W/series" || fail "sink total: $(tail -n 1 "$W/series")"
sum=$(awk 'NF == 2 && $1 != "total" { s += $2 } END { print s }' "$W/series")
[[ $sum -eq 5000000 ]] || fail "intervals add up to $sum"

# 2. A quiet second still gives intervals (4 at 250 ms), each with 0 bytes.
(sleep 1.1; "$METER" gen --seed 7 --bytes 10) | "$METER" sink --seed 7 --out "$W/quiet"
zeros=$(awk 'NF == 2 && $1 != "total" && $2 == 0' "$W/quiet" | wc -l)
(( zeros >= 3 )) || fail "expected >= 3 empty intervals in a quiet second, got $zeros"

# 3. One flipped byte, and a stream of another seed, are caught (exit 111, the offset).
"$METER" gen --seed 7 --bytes 100000 >"$W/stream"
printf '\x00' | dd of="$W/stream" bs=1 seek=70001 conv=notrunc status=none
cmp -s <("$METER" gen --seed 7 --bytes 100000) "$W/stream" && fail "the flip did not change the stream"
rc=0; "$METER" sink --seed 7 --out "$W/bad" <"$W/stream" || rc=$?
[[ $rc -eq 111 ]] || fail "corrupted stream: sink exit $rc, expected 111"
grep -qx 'total 100000 mismatch at 70001' "$W/bad" || fail "corrupted stream: $(tail -n 1 "$W/bad")"
rc=0; "$METER" gen --seed 8 --bytes 1000 | "$METER" sink --seed 7 --out "$W/foreign" || rc=$?
[[ $rc -eq 111 ]] || fail "foreign stream: sink exit $rc, expected 111"

# 4. Bad usage: one line, exit 100.
rc=0; "$METER" gen --seed 7 2>"$W/err" || rc=$?
[[ $rc -eq 100 && $(wc -l <"$W/err") -eq 1 ]] || fail "gen without a length: exit $rc, $(cat "$W/err")"
rc=0; "$METER" sink --seed x --out "$W/x" 2>"$W/err" || rc=$?
[[ $rc -eq 100 ]] || fail "bad seed: exit $rc"
echo "PASS: netlab meter"
