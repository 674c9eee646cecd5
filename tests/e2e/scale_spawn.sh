#!/bin/bash
# How `curvecp serve` starts programs (curvecp-serve(1), --clean-env, --env, --keep-fds,
# --max-connections; docs/MEMORY.md):
#   a descriptor the server inherited without close-on-exec does not reach programs,
#   unless --keep-fds; --clean-env passes only PATH, PROTO, CURVECP* and --env names;
#   --max-connections beyond what the descriptor hard limit holds is refused at start
#   with one line naming both figures (exit 111).
#
# usage: scale_spawn.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"

# The program reports its environment and whether descriptor 9 is open.
PROG=(sh -c 'env; if [ -e /proc/$$/fd/9 ]; then echo FD9=open; else echo FD9=closed; fi')

# one_connection NAME SERVER_FLAGS: a server with fd 9 inherited (no close-on-exec), one
# connection in netcat mode; the program's report lands in $WORK/NAME.out.
one_connection() {
  local name=$1 rc=0
  rm -f "$WORK/server.log"  # else the previous server's "listening on" line could be found
  exec 9</dev/null
  MEMTEST_SECRET=hidden MEMTEST_PASSED=passed SERVER_FLAGS="$2" start_server ours "$WORK/serverkey" "${PROG[@]}"
  exec 9<&-
  client_cmd ours "$WORK/serverkey" "$PORT"
  timeout 20 "${CLIENT_CMD[@]}" </dev/null >"$WORK/$name.out" 2>"$WORK/client-$name.log" || rc=$?
  [[ $rc -eq 0 ]] || fail "$name: client exited $rc"
  stop_server
}
has() { grep -qx "$2" "$WORK/$1.out"; }

one_connection default ""
has default FD9=closed || fail "default: descriptor 9 of the server reached the program"
has default MEMTEST_SECRET=hidden || fail "default: the program did not get the server's environment"
note "default: inherited fd 9 closed in the program, whole environment passed"

one_connection kept "--keep-fds"
has kept FD9=open || fail "--keep-fds: descriptor 9 did not reach the program"
note "--keep-fds: inherited fd 9 reaches the program"

one_connection clean "--clean-env --env MEMTEST_PASSED"
has clean MEMTEST_PASSED=passed || fail "--clean-env --env MEMTEST_PASSED: the variable was not passed"
has clean PROTO=CURVECP || fail "--clean-env: PROTO missing"
grep -q '^CURVECPREMOTEPK=' "$WORK/clean.out" || fail "--clean-env: CURVECPREMOTEPK missing"
grep -q '^PATH=' "$WORK/clean.out" || fail "--clean-env: PATH missing"
! grep -q '^MEMTEST_SECRET=' "$WORK/clean.out" || fail "--clean-env: MEMTEST_SECRET was passed"
! grep -q '^HOME=' "$WORK/clean.out" || fail "--clean-env: HOME was passed"
note "--clean-env: only PATH, PROTO, CURVECP* and --env names"

# A hard limit of 256 descriptors holds (256 - 64) / 2 = 96 connections.
rc=0
(ulimit -n 256 && ulimit -Hn 256 && exec "$CURVECP" serve --name "$SNAME" --key "$WORK/serverkey" \
  --max-connections 200 127.0.0.1 0 cat) >"$WORK/limit.out" 2>"$WORK/limit.err" || rc=$?
[[ $rc -eq 111 ]] || fail "--max-connections 200 under a hard limit of 256: exit $rc, expected 111"
[[ $(wc -l <"$WORK/limit.err") -eq 1 ]] && grep -q "max-connections 200 needs about 464 descriptors, but the limit is 256" "$WORK/limit.err" ||
  fail "unexpected message: $(cat "$WORK/limit.err")"
note "refused: $(cat "$WORK/limit.err")"
finish
