#!/bin/bash
# Many simultaneous connections through one daemon: the load generator (one process, the
# client library's own connection code) opens N connections at once, each sending BYTES
# to an echo program (cat) and checking every byte that comes back.
#
# usage: concurrent.sh CURVECP_BINARY LOADGEN_BINARY CONNECTIONS BYTES
set -u
CURVECP=$1 LOADGEN=$2 CONNECTIONS=$3 BYTES=$4
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK" || exit 1
# One UDP socket per client connection plus two pipes per server connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

KEY_IMPL=ours make_key "$WORK/serverkey"
PORT=$(free_udp_port)
SERVER_FLAGS="-v --max-connections $(( CONNECTIONS + 10 ))" start_server ours "$WORK/serverkey" "$PORT" cat
LIMIT=$(( 120 + CONNECTIONS * BYTES / 2000000 ))
timeout $(( LIMIT + 30 )) "$LOADGEN" --name "$SNAME" --server-key "$(cat "$WORK/serverkey.hex")" --ext "$EXT" \
  --connections "$CONNECTIONS" --bytes "$BYTES" --timeout "$LIMIT" 127.0.0.1 "$PORT" >"$WORK/loadgen.out" 2>"$WORK/loadgen.log"
rc=$?
cat "$WORK/loadgen.out"
[[ $rc -eq 0 ]] || fail "load generator exited $rc"
grep -q " $CONNECTIONS ok, 0 failed, 0 unfinished" "$WORK/loadgen.out" || fail "not every connection succeeded"
kill -0 "$SERVER_PID" 2>/dev/null || fail "server died under load"
stop_group "$SERVER_PID"
note "$(grep -o 'connections=.*' "$WORK/server.log" | tail -1)"
echo "PASS"
