#!/bin/bash
# `curvecp serve` command-line errors (curvecp-serve(1), EXIT STATUS): each is exactly one
# "curvecp serve: ..." line on stderr and exit 100, before anything is bound or run; an
# unreadable key directory and an address in use are temporary failures, exit 111, one line.
#
# usage: serve_usage.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
K=$WORK/serverkey

expect() {  # expect STATUS DESCRIPTION ARGS...: runs serve with ARGS
  local want=$1 what=$2 rc=0
  shift 2
  timeout 5 "$CURVECP" serve --no-timestamps "$@" </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq $want ]] || fail "$what: exit $rc, expected $want (stderr: $(cat "$WORK/err"))"
  [[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "$what: expected exactly one line on stderr, got: $(cat "$WORK/err")"
  grep -q '^curvecp serve: ' "$WORK/err" || fail "$what: stderr line does not start with 'curvecp serve: '"
  if [[ $want -eq 100 ]]; then
    grep -q "; see 'curvecp serve --help'\$" "$WORK/err" || fail "$what: the usage line does not name serve's help"
  fi
  [[ ! -s "$WORK/out" ]] || fail "$what: unexpected output on stdout"
  [[ ! -e "$WORK/ran" ]] || fail "$what: the program ran"
  note "$what: exit $rc: $(cat "$WORK/err")"
}
PROG=(touch "$WORK/ran")

expect 100 "missing --key" --name n 127.0.0.1 0 "${PROG[@]}"
expect 100 "missing --name" --key "$K" 127.0.0.1 0 "${PROG[@]}"
expect 100 "bad extension" --key "$K" --name n --ext 1234 127.0.0.1 0 "${PROG[@]}"
expect 100 "bad IPv4" --key "$K" --name n 127.0.0.300 0 "${PROG[@]}"
expect 100 "host name instead of IP" --key "$K" --name n localhost 0 "${PROG[@]}"
expect 100 "port too large" --key "$K" --name n ::1 65536 "${PROG[@]}"
expect 100 "unknown scheduler" --key "$K" --name n --scheduler no-such 127.0.0.1 0 "${PROG[@]}"
expect 100 "--max-connections 0" --key "$K" --name n --max-connections 0 127.0.0.1 0 "${PROG[@]}"
expect 100 "--handshake-cpu over 100" --key "$K" --name n --handshake-cpu 101 127.0.0.1 0 "${PROG[@]}"
expect 100 "negative --idle-timeout" --key "$K" --name n --idle-timeout -1 127.0.0.1 0 "${PROG[@]}"
expect 100 "server name label over 63 bytes" --key "$K" --name "$(printf '%064d' 0)" 127.0.0.1 0 "${PROG[@]}"
expect 100 "missing program" --key "$K" --name n 127.0.0.1 0
expect 111 "missing key directory" --key "$WORK/no-such-key" --name n 127.0.0.1 0 "${PROG[@]}"

# Address in use: a second server on the port the first one holds.
start_server ours "$K" cat
expect 111 "address in use" --key "$K" --name "$SNAME" 127.0.0.1 "$PORT" "${PROG[@]}"
grep -qi 'in use' "$WORK/err" || fail "address in use: the message does not say so: $(cat "$WORK/err")"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the first server died"
stop_server
finish
