#!/bin/bash
# Handshake-flood benchmark (a program that prints figures, never a test).
#
# usage: flood.sh CURVECP_BINARY FLOOD_CLIENT_BINARY
# environment: SIZE (bytes per download, default 100000000), RUNS (default 3),
#              FLOOD_PROCS (flood generators, default 2), HANDSHAKES (the server's
#              --handshakes-per-wakeup, default: the server's default)
#
# One curvecp serve on 127.0.0.1 whose program writes SIZE zero bytes; curvecp connect
# downloads them, RUNS times alone and RUNS times while FLOOD_PROCS flood_client processes
# on the same machine send Hellos (two scalar multiplications each for the server) and
# wrong-name Initiates as fast as they can. Prints each run's MB/s, the medians and their
# ratio, and the server's counters (hello_answered, handshake_over_budget, ...). The
# generators share the CPU with the server and the client: on a 2-core machine the figure
# mixes the daemon's fairness with plain CPU contention; say which machine it ran on.
set -u
CURVECP=$1 FLOOD=$2
SIZE=${SIZE:-100000000} RUNS=${RUNS:-3} FLOOD_PROCS=${FLOOD_PROCS:-2}
source "$(dirname "$0")/../interop/common.sh"
set +e +o pipefail
require_curvecp
FLOOD=$(readlink -f "$FLOOD")
cd "$WORK" || exit 1
KEY_IMPL=ours make_key "$WORK/serverkey"
[[ -n "${HANDSHAKES:-}" ]] && SERVER_FLAGS="--handshakes-per-wakeup $HANDSHAKES"
start_server ours "$WORK/serverkey" sh -c "head -c $SIZE /dev/zero"
client_cmd ours "$WORK/serverkey" "$PORT"

# download: one transfer, prints MB/s (or FAILED).
download() {
  local t0 t1 got
  t0=$(date +%s.%N)
  got=$(timeout 600 "${CLIENT_CMD[@]}" sh -c 'exec wc -c <&6' </dev/null 2>>"$WORK/client.log")
  t1=$(date +%s.%N)
  if [[ "$got" != "$SIZE" ]]; then echo FAILED; return; fi
  awk -v s="$SIZE" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", s / (b - a) / 1e6 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "?"; else print v[int((NR + 1) / 2)] }'; }

alone=()
for ((i = 1; i <= RUNS; i++)); do
  alone+=("$(download)")
  note "alone, run $i: ${alone[-1]} MB/s"
done
flooders=()
for ((k = 0; k < FLOOD_PROCS; k++)); do
  "$FLOOD" 127.0.0.1 "$PORT" "$(cat "$WORK/serverkey.hex")" "$EXT" 100000 >"$WORK/flood$k.out" 2>&1 &
  flooders+=($!)
done
sleep 2
flooded=()
for ((i = 1; i <= RUNS; i++)); do
  flooded+=("$(download)")
  note "during the flood, run $i: ${flooded[-1]} MB/s"
done
for p in "${flooders[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
kill -USR1 "$SERVER_PID" 2>/dev/null
sleep 0.5
a=$(printf '%s\n' "${alone[@]}" | grep -v FAILED | median)
f=$(printf '%s\n' "${flooded[@]}" | grep -v FAILED | median)
echo "flood benchmark: SIZE=$SIZE RUNS=$RUNS FLOOD_PROCS=$FLOOD_PROCS nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
echo "alone:   ${alone[*]} MB/s (median $a)"
echo "flooded: ${flooded[*]} MB/s (median $f)"
awk -v a="$a" -v f="$f" 'BEGIN { if (a > 0 && f > 0) printf "ratio flooded/alone: %.2f\n", f / a }'
grep -o 'hello_answered=[0-9]*.*' "$WORK/server.log" | tail -n 1 | sed 's/^/server counters: /'
stop_server
echo "PASS"
