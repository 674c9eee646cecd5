#!/bin/bash
# `curvecp connect` command-line errors: each is one "curvecp connect: ..." line on stderr
# and exit 100 naming "curvecp connect --help", before anything is sent; a missing program
# is a temporary failure (111). The same style for keygen, pubkey and the bare binary;
# --version on every subcommand (curvecp(1), DIAGNOSTICS).
#
# usage: connect_usage.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY=$(printf '%064d' 0 | tr 0 a)
# No servers file of the user running the tests can change the outcome.
export XDG_CONFIG_HOME="$WORK/config"

expect_run() {  # expect_run STATUS PREFIX DESCRIPTION ARGS...: runs curvecp ARGS
  local want=$1 prefix=$2 what=$3 rc=0
  shift 3
  timeout 10 "$CURVECP" "$@" </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq $want ]] || fail "$what: exit $rc, expected $want (stderr: $(cat "$WORK/err"))"
  [[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "$what: expected exactly one line on stderr, got: $(cat "$WORK/err")"
  grep -q "^$prefix: " "$WORK/err" || fail "$what: stderr line does not start with '$prefix: '"
  if [[ $want -eq 100 ]]; then
    grep -qF "; see '$prefix --help'" "$WORK/err" || fail "$what: the usage error does not name '$prefix --help'"
  fi
  [[ ! -s "$WORK/out" ]] || fail "$what: unexpected output on stdout"
  note "$what: exit $rc: $(cat "$WORK/err")"
}
expect() {  # expect STATUS DESCRIPTION ARGS...: runs connect with ARGS
  local want=$1 what=$2
  shift 2
  expect_run "$want" "curvecp connect" "$what" connect "$@"
}

expect 100 "short server key" --name n --server-key abc 127.0.0.1 1
expect 100 "non-hex server key" --name n --server-key "$(printf '%064d' 0 | tr 0 g)" 127.0.0.1 1
expect 100 "bad extension" --name n --server-key "$KEY" --ext 1234 127.0.0.1 1
expect 100 "bad IPv4 (and no such alias)" --name n --server-key "$KEY" 127.0.0.300
expect 100 "host name without a port" --name n --server-key "$KEY" localhost
expect 100 "port 0" --name n --server-key "$KEY" 127.0.0.1 0
expect 100 "port too large" --name n --server-key "$KEY" ::1 65536
expect 100 "unknown scheduler" --name n --server-key "$KEY" --scheduler no-such 127.0.0.1 1
expect 100 "server name label over 63 bytes" --name "$(printf '%064d' 0)" --server-key "$KEY" 127.0.0.1 1
expect 100 "missing port" --name n --server-key "$KEY" 127.0.0.1
expect 100 "missing --name" --server-key "$KEY" 127.0.0.1 1
expect 100 "missing --server-key" --name n 127.0.0.1 1
expect 100 "no server at all" --name n --server-key "$KEY"
expect 100 "unknown option" --name n --server-key "$KEY" --no-such-option 127.0.0.1 1
expect 100 "option after the server" --name n --server-key "$KEY" 127.0.0.1 1 -v
expect 100 "option value the parser rejects" --timeout soon --name n --server-key "$KEY" 127.0.0.1 1
expect 100 "zero --timeout" --timeout 0 --name n --server-key "$KEY" 127.0.0.1 1
expect 111 "program not found (no -- before it)" --name n --server-key "$KEY" 127.0.0.1 1 no-such-program-here
expect 111 "program not found (after --)" --name n --server-key "$KEY" 127.0.0.1 1 -- no-such-program-here

expect_run 100 "curvecp keygen" "keygen without DIR" keygen
expect_run 100 "curvecp pubkey" "pubkey with extra arguments" pubkey a b
expect_run 111 "curvecp pubkey" "pubkey of a missing directory" pubkey "$WORK/missing"
"$CURVECP" keygen "$WORK/key" >/dev/null
expect_run 100 "curvecp pubkey" "pubkey --servers-line with a bad port" pubkey --servers-line a h 0 n "$WORK/key"
expect_run 100 "curvecp pubkey" "pubkey --servers-line with a short extension" \
  pubkey --servers-line a h 1 n --ext 12 "$WORK/key"
expect_run 100 "curvecp pubkey" "pubkey --servers-line with too few values" pubkey --servers-line a h 1 "$WORK/key"
expect_run 100 "curvecp" "no subcommand"
expect_run 100 "curvecp" "unknown subcommand" no-such-command

for sub in "" connect serve keygen pubkey; do
  # shellcheck disable=SC2086
  out=$("$CURVECP" $sub --version 2>&1) || fail "curvecp $sub --version failed: $out"
  [[ "$out" = "curvecp 0.1.0" ]] || fail "curvecp $sub --version printed '$out'"
done
note "--version works on the binary and on every subcommand"
finish
