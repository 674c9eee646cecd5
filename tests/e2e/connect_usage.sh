#!/bin/bash
# `curvecp connect` command-line errors: each is one "curvecp: ..." line on stderr and
# exit 100, before anything is sent; a missing program is a temporary failure (111).
#
# usage: connect_usage.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY=$(printf '%064d' 0 | tr 0 a)

expect() {  # expect STATUS DESCRIPTION ARGS...: runs connect with ARGS
  local want=$1 what=$2 rc=0
  shift 2
  timeout 10 "$CURVECP" connect "$@" </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq $want ]] || fail "$what: exit $rc, expected $want (stderr: $(cat "$WORK/err"))"
  [[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "$what: expected exactly one line on stderr, got: $(cat "$WORK/err")"
  grep -q '^curvecp: ' "$WORK/err" || fail "$what: stderr line does not start with 'curvecp: '"
  [[ ! -s "$WORK/out" ]] || fail "$what: unexpected output on stdout"
  note "$what: exit $rc: $(cat "$WORK/err")"
}

expect 100 "short server key" --name n --server-key abc 127.0.0.1 1
expect 100 "non-hex server key" --name n --server-key "$(printf '%064d' 0 | tr 0 g)" 127.0.0.1 1
expect 100 "bad extension" --name n --server-key "$KEY" --ext 1234 127.0.0.1 1
expect 100 "bad IPv4" --name n --server-key "$KEY" 127.0.0.300 1
expect 100 "host name instead of IP" --name n --server-key "$KEY" localhost 1
expect 100 "port 0" --name n --server-key "$KEY" 127.0.0.1 0
expect 100 "port too large" --name n --server-key "$KEY" ::1 65536
expect 100 "unknown scheduler" --name n --server-key "$KEY" --scheduler no-such 127.0.0.1 1
expect 100 "server name label over 63 bytes" --name "$(printf '%064d' 0)" --server-key "$KEY" 127.0.0.1 1
expect 100 "missing port" --name n --server-key "$KEY" 127.0.0.1
expect 100 "missing --name" --server-key "$KEY" 127.0.0.1 1
finish
