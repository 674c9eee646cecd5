#!/bin/bash
# The window extension over real UDP (docs/EXTENSIONS.md 1): between two curvecp peers the
# receiver announces its whole receive buffer (4 MiB), so a sender may have far more than
# the reference's 128 KiB beyond what the receiving program has read. The observable: the
# client's program reads nothing, and the server's per-connection line on SIGUSR1 (-v)
# reports how much the client has acknowledged (sent=). Under the reference rule that stops
# near 128 KiB plus what the pipe and the pump hold (about 256 KiB); the test requires more
# than 1 MiB. Then the program reads everything, byte-exact.
#
# usage: large_window.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
head -c 8388608 /dev/urandom >"$WORK/data"
start_server ours "$WORK/serverkey" cat "$WORK/data"
client_cmd ours "$WORK/serverkey" "$PORT"
# The client's program waits for the test's go before it reads fd 6.
timeout 40 "${CLIENT_CMD[@]}" sh -c "while [ ! -e '$WORK/go' ]; do sleep 0.05; done; cat <&6 > '$WORK/out'" \
  </dev/null >/dev/null 2>"$WORK/client.log" &
CLIENT=$!

acked=0
for i in $(seq 100); do
  kill -USR1 "$SERVER_PID"
  sleep 0.1
  acked=$(grep -o ' sent=[0-9]* received=[0-9]* in_flight' "$WORK/server.log" | tail -n 1 | sed 's/ sent=\([0-9]*\).*/\1/' || true)
  [[ -n "$acked" ]] || acked=0
  (( acked > 1048576 )) && break
done
note "acknowledged by the client while its program read nothing: $acked bytes"
touch "$WORK/go"
rc=0
wait "$CLIENT" || rc=$?
(( acked > 1048576 )) || fail "the client acknowledged only $acked bytes with its program not reading: no window beyond the reference's 128 KiB"
[[ $rc -eq 0 ]] || fail "client exited $rc"
[[ "$(sha_of "$WORK/out")" = "$(sha_of "$WORK/data")" ]] || fail "data differs ($(stat -c %s "$WORK/out") of 8388608 bytes)"
note "8 MiB arrived byte-exact"
stop_server
finish
