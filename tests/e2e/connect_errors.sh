#!/bin/bash
# `curvecp connect` with a standard output that cannot be written (>/dev/full): a write
# error on standard output is a temporary failure, exit 111 with one "curvecp connect: " line
# (curvecp-connect(1), EXIT STATUS). The server sees the connection end and still drains.
#
# usage: connect_errors.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
[[ -w /dev/full ]] || fail "/dev/full is not writable here"
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
head -c 1048576 /dev/urandom >"$WORK/data"
start_server ours "$WORK/serverkey" cat "$WORK/data"
client_cmd ours "$WORK/serverkey" "$PORT"
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'  # netcat mode
rc=0
timeout 30 "${CLIENT_CMD[@]}" </dev/null >/dev/full 2>"$WORK/client.log" || rc=$?
note "connect >/dev/full: exit $rc: $(cat "$WORK/client.log")"
[[ $rc -ne 124 ]] || fail "connect did not notice the write error within 30 s"
[[ $rc -eq 111 ]] || fail "connect >/dev/full exited $rc, expected 111"
[[ $(wc -l <"$WORK/client.log") -eq 1 ]] || fail "expected one line on stderr"
grep -q '^curvecp connect: ' "$WORK/client.log" || fail "stderr line does not start with 'curvecp connect: '"
stop_server
finish
