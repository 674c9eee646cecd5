#!/bin/bash
# Handshake-flood benchmark (a program that prints figures, never a test; issue 10 item 5).
#
# usage: flood.sh CURVECP_BINARY FLOOD_CLIENT_BINARY
# environment: WINDOW (seconds per measurement, default 10), FLOOD_PROCS (flood
#              generators, default 2), HANDSHAKES (the server's --handshakes-per-wakeup,
#              default: the server's default), HANDSHAKE_CPU (its --handshake-cpu),
#              MODE=test (CI: fail unless the newcomer got through during the flood and
#              the download survived it; rates are printed, never asserted)
#
# One curvecp serve on 127.0.0.1 whose program writes zeros without end. ONE download is
# established first (curvecp connect; its program counts bytes with dd's progress), and
# its rate is measured over WINDOW seconds alone, then over WINDOW seconds while
# FLOOD_PROCS flood_client processes on the same machine send Hellos (two scalar
# multiplications each for the server) and wrong-name Initiates (and a replay of each) as
# fast as they can, then alone again. Prints the three rates and the ratio flooded/alone,
# how long a newcomer (a fresh curvecp connect) took to get its first bytes
# during the flood, and the server's counters. The generators share the CPU with the
# server and the client: on a 2-core machine the figure mixes the daemon's fairness with
# plain CPU contention; say which machine it ran on.
set -u
CURVECP=$1 FLOOD=$2
WINDOW=${WINDOW:-10} FLOOD_PROCS=${FLOOD_PROCS:-2}
export TEST_TIME_LIMIT=${TEST_TIME_LIMIT:-$(( 6 * WINDOW + 120 ))}
source "$(dirname "$0")/../interop/common.sh"
set +e +o pipefail
trap - ERR  # a benchmark: report what happened instead of failing on the first non-zero status
require_curvecp
FLOOD=$(readlink -f "$FLOOD")
cd "$WORK" || exit 1
KEY_IMPL=ours make_key "$WORK/serverkey"
SERVER_FLAGS=
[[ -n "${HANDSHAKES:-}" ]] && SERVER_FLAGS="--handshakes-per-wakeup $HANDSHAKES"
[[ -n "${HANDSHAKE_CPU:-}" ]] && SERVER_FLAGS="$SERVER_FLAGS --handshake-cpu $HANDSHAKE_CPU"
start_server ours "$WORK/serverkey" cat /dev/zero
client_cmd ours "$WORK/serverkey" "$PORT"

# The measured download: dd prints "BYTES bytes (...) copied, SECONDS s, ..." every second.
bg download "${CLIENT_CMD[@]}" sh -c "exec dd of=/dev/null bs=64k status=progress <&6 2>'$WORK/progress'"
DL_PID=$BG_PID
# progress: "BYTES SECONDS" of dd's latest report.
progress() {
  tr '\r' '\n' <"$WORK/progress" 2>/dev/null | sed -n 's/^\([0-9]*\) bytes.* copied, \([0-9.]*\) s,.*/\1 \2/p' | tail -n 1
}
wait_for_progress() {
  local i
  for i in $(seq 300); do
    [[ -n "$(progress)" ]] && return 0
    sleep 0.1
  done
  return 1
}
# window: MB/s of the download over WINDOW seconds (dd's own clock).
window() {
  local b0 s0 b1 s1
  read -r b0 s0 <<<"$(progress)"
  sleep "$WINDOW"
  read -r b1 s1 <<<"$(progress)"
  kill -0 "$DL_PID" 2>/dev/null || { echo FAILED; return; }
  awk -v a="$b0" -v b="$b1" -v s="$s0" -v t="$s1" 'BEGIN { if (t > s) printf "%.1f\n", (b - a) / (t - s) / 1e6; else print "?" }'
}
wait_for_progress || fail "the download did not start within 30 s"
sleep 2
alone=$(window)
note "alone: $alone MB/s"

flooders=()
for ((k = 0; k < FLOOD_PROCS; k++)); do
  bg "flood$k" "$FLOOD" 127.0.0.1 "$PORT" "$(cat "$WORK/serverkey.hex")" "$EXT" $(( 3 * WINDOW + 60 ))
  flooders+=("$BG_PID")
done
sleep 2
# A newcomer during the flood: how long until its first bytes arrive (the program sends
# zeros, so they are counted in a file, not caught in a shell variable, which drops NULs).
# Then it stops reading (flow control holds the server back: no second download in the
# measured window) and stays connected until the flood is over, so that its end (FAIL)
# is not lost in the flood.
t0=$(now_s) t1=
bg newcomer "${CLIENT_CMD[@]}" sh -c "head -c 5 <&6 >'$WORK/newcomer.out'; exec sleep 600"
NEWCOMER_PID=$BG_PID
for ((i = 0; i < 10 * (2 * WINDOW + 30); i++)); do
  if (( $(stat -c %s "$WORK/newcomer.out" 2>/dev/null || echo 0) >= 5 )); then t1=$(now_s); break; fi
  kill -0 "$NEWCOMER_PID" 2>/dev/null || break
  sleep 0.1
done
flooded=$(window)
note "during the flood: $flooded MB/s"
for p in "${flooders[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
kill -TERM -- "-$NEWCOMER_PID" 2>/dev/null
sleep 2
after=$(window)
note "after the flood: $after MB/s"
kill -USR1 "$SERVER_PID" 2>/dev/null
sleep 0.5
echo "flood benchmark: WINDOW=$WINDOW s FLOOD_PROCS=$FLOOD_PROCS nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg) (busy host: indicative)"
echo "established download: alone $alone MB/s, during the flood $flooded MB/s, after $after MB/s"
awk -v a="$alone" -v f="$flooded" 'BEGIN { if (a > 0 && f > 0) printf "ratio flooded/alone: %.2f\n", f / a }'
if [[ -n "$t1" ]]; then
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "a newcomer during the flood got its first bytes within %.1f s\n", b - a }'
else
  echo "a newcomer during the flood did not get through ($(tail -n 1 "$WORK/newcomer.log"))"
fi
cat "$WORK"/flood*.log 2>/dev/null | sed 's/^/generator: /'
grep -o 'hello_answered=[0-9]*.*' "$WORK/server.log" | tail -n 1 | sed 's/^/server counters: /'
if [[ "${MODE:-bench}" = test ]]; then
  [[ -n "$t1" ]] || fail "a newcomer did not get through during the flood"
  [[ "$flooded" != FAILED && "$after" != FAILED ]] || fail "the established download did not survive the flood"
fi
kill -TERM -- "-$DL_PID" 2>/dev/null
stop_server 0 30
echo "PASS"
