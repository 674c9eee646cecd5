#!/bin/bash
# One file transfer between a CurveCP client and server, each either ours or the reference
# (Debian nacl-tools), compared by sha256 (CURVECP.md 8.1, 8.2).
#
# usage: transfer.sh CURVECP_BINARY CLIENT_IMPL SERVER_IMPL up|down BYTES [nc|prog]
#   CLIENT_IMPL, SERVER_IMPL: ours | ref
#   nc:   our client in netcat mode (stdin to the server, the server's stream to stdout)
#   prog: the client runs a program on fds 6/7 (the only mode the reference has)
# The client must exit 0 and the receiver must hold exactly the bytes that were sent.
set -euo pipefail
CURVECP=$1 CLIENT_IMPL=$2 SERVER_IMPL=$3 DIRECTION=$4 BYTES=$5 MODE=${6:-prog}
source "$(dirname "$0")/common.sh"
[[ "$CLIENT_IMPL" = ref && "$SERVER_IMPL" = ref ]] || require_curvecp
[[ "$CLIENT_IMPL" = ours ]] || MODE=prog

cd "$WORK"
make_key "$WORK/serverkey"
head -c "$BYTES" /dev/urandom >"$WORK/data.in"
# ~1 MB/s is the reference's loopback rate (CURVECP.md 8.3); allow ten times as long.
# The ctest TIMEOUT (CMakeLists.txt) is above LIMIT plus the server's drain, so a slow run
# ends here with a diagnosis, not as a ctest kill.
LIMIT=$(( 30 + BYTES / 100000 ))
(( LIMIT <= $(time_left) - 25 )) || LIMIT=$(( $(time_left) - 25 ))

if [[ "$DIRECTION" = up ]]; then
  start_server "$SERVER_IMPL" "$WORK/serverkey" sh -c "cat > '$WORK/data.tmp' && mv '$WORK/data.tmp' '$WORK/data.out'"
else
  start_server "$SERVER_IMPL" "$WORK/serverkey" cat "$WORK/data.in"
fi

client_cmd "$CLIENT_IMPL" "$WORK/serverkey" "$PORT"
start=$(now_s)
rc=0
if [[ "$MODE" = nc ]]; then
  if [[ "$DIRECTION" = up ]]; then
    timeout "$LIMIT" "${CLIENT_CMD[@]}" <"$WORK/data.in" >"$WORK/client.out" 2>"$WORK/client.log" || rc=$?
  else
    timeout "$LIMIT" "${CLIENT_CMD[@]}" </dev/null >"$WORK/data.out" 2>"$WORK/client.log" || rc=$?
  fi
else
  if [[ "$DIRECTION" = up ]]; then
    timeout "$LIMIT" "${CLIENT_CMD[@]}" sh -c "cat '$WORK/data.in' >&7" </dev/null >"$WORK/client.out" 2>"$WORK/client.log" || rc=$?
  else
    timeout "$LIMIT" "${CLIENT_CMD[@]}" sh -c "cat <&6 > '$WORK/data.out'" </dev/null >"$WORK/client.out" 2>"$WORK/client.log" || rc=$?
  fi
fi
elapsed=$(awk -v a="$start" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }')
note "client $CLIENT_IMPL, server $SERVER_IMPL, $DIRECTION $BYTES bytes ($MODE): exit $rc after ${elapsed}s"
[[ $rc -eq 124 ]] && fail "client did not finish within ${LIMIT}s"
[[ $rc -eq 0 ]] || fail "client exited $rc"

if [[ "$DIRECTION" = up ]]; then
  # The server's program finishes a moment after the client has exited.
  wait_for_file "$WORK/data.out" 20 || fail "server program never finished writing data.out"
  [[ -s "$WORK/client.out" ]] && fail "client printed unexpected output on an upload"
fi
want=$(sha_of "$WORK/data.in")
got=$(sha_of "$WORK/data.out")
[[ "$want" = "$got" ]] || fail "sha256 differs: sent $want, received $got ($(stat -c %s "$WORK/data.out") of $BYTES bytes)"
note "sha256 $got matches"
stop_server
finish
