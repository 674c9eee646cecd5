#!/bin/bash
# Many simultaneous connections through one daemon: the load generator (one process, the
# client library's own connection code) opens N connections at once, each sending BYTES
# to an echo program (cat) and checking every byte that comes back.
#
# usage: concurrent.sh CURVECP_BINARY LOADGEN_BINARY CONNECTIONS BYTES
set -euo pipefail
CURVECP=$1 LOADGEN=$2 CONNECTIONS=$3 BYTES=$4
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
# One UDP socket per client connection plus two pipes per server connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

KEY_IMPL=ours make_key "$WORK/serverkey"
SERVER_FLAGS="--max-connections $(( CONNECTIONS + 10 ))" start_server ours "$WORK/serverkey" cat
# Against hangs, not a speed requirement: the test's limit (below the ctest TIMEOUT) less
# 30 s for the load generator's report and the server's drain.
LIMIT=$(( $(time_left) - 30 ))
(( LIMIT > 10 )) || fail "no time left for the load (TEST_TIME_LIMIT=$TIME_LIMIT)"
rc=0
timeout $(( LIMIT + 10 )) "$LOADGEN" --name "$SNAME" --server-key "$(cat "$WORK/serverkey.hex")" --ext "$EXT" \
  --connections "$CONNECTIONS" --bytes "$BYTES" --timeout "$LIMIT" 127.0.0.1 "$PORT" >"$WORK/loadgen.out" 2>"$WORK/loadgen.log" || rc=$?
cat "$WORK/loadgen.out"
if [[ $rc -ne 0 ]]; then
  kill -USR1 "$SERVER_PID" 2>/dev/null || true
  wait_log_line "$WORK/server.log" " program=" 3 || true  # the per-connection lines of SIGUSR1
  fail "load generator exited $rc (124: killed after $(( LIMIT + 10 )) s): $(tail -n 1 "$WORK/loadgen.out")"
fi
grep -q " $CONNECTIONS ok, 0 failed, 0 unfinished" "$WORK/loadgen.out" || fail "not every connection succeeded: $(tail -n 1 "$WORK/loadgen.out")"
kill -0 "$SERVER_PID" 2>/dev/null || fail "server died under load"
stop_server
note "$(grep -o 'connections=.*' "$WORK/server.log" | tail -1)"
finish
