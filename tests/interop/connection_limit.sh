#!/bin/bash
# Connection limit (CURVECP.md 8.5, adapted): a server limited to one connection serves
# the first client in full while a second client is kept out; the second, which keeps
# retrying its Initiate (curvecp-serve(1), --max-connections), must get in once the first
# connection has ended, and never alongside it.
#
# usage: connection_limit.sh CURVECP_BINARY [SERVER_IMPL [CLIENT_IMPL [HOLD_SECONDS]]]
# Defaults: ours ours 3. (ref ref reproduces the reference recipe, but the reference
# client retries only after ~60 s, CURVECP.md 6.8, so it is not part of the suite.)
set -euo pipefail
CURVECP=$1 SERVER_IMPL=${2:-ours} CLIENT_IMPL=${3:-ours} HOLD=${4:-3}
source "$(dirname "$0")/common.sh"
[[ "$CLIENT_IMPL" = ref && "$SERVER_IMPL" = ref ]] || require_curvecp

cd "$WORK"
make_key "$WORK/serverkey"
SERVER_FLAGS="--max-connections 1" REF_SERVER_FLAGS="-c 1" \
  start_server "$SERVER_IMPL" "$WORK/serverkey" sh -c "touch '$WORK/started'; sleep $HOLD; echo hi"

client_cmd "$CLIENT_IMPL" "$WORK/serverkey" "$PORT"
run_client() {  # run_client N: one client that prints what the server says
  local rc=0
  timeout $(( $(time_left) - 25 )) "${CLIENT_CMD[@]}" sh -c 'cat <&6' </dev/null >"$WORK/c$1.out" 2>"$WORK/c$1.log" || rc=$?
  echo "$rc $(now_s)" >"$WORK/c$1.result"
}
run_client 1 &
C1=$!
# The second client starts once the first connection holds the only slot.
wait_for_file "$WORK/started" 20 || fail "the first connection's program never started"
run_client 2 &
C2=$!
wait "$C1" "$C2"

read -r rc1 end1 <"$WORK/c1.result"
read -r rc2 end2 <"$WORK/c2.result"
note "client 1: exit $rc1, output '$(cat "$WORK/c1.out")'"
note "client 2: exit $rc2, output '$(cat "$WORK/c2.out")', finished $(awk -v a="$end1" -v b="$end2" 'BEGIN { printf "%.2f", b - a }')s after client 1"

# The first connection is unaffected by the refused one.
[[ "$rc1" = 0 ]] || fail "first client exited $rc1"
[[ "$(cat "$WORK/c1.out")" = hi ]] || fail "first client got '$(cat "$WORK/c1.out")' instead of 'hi'"
# The second was served in full, and not alongside the first: its own HOLD seconds of
# service started only once the first connection had finished.
[[ "$rc2" = 0 ]] || fail "second client exited $rc2: it never got in after the first connection ended"
[[ "$(cat "$WORK/c2.out")" = hi ]] || fail "second client got '$(cat "$WORK/c2.out")' instead of 'hi'"
awk -v a="$end1" -v b="$end2" -v h="$HOLD" 'BEGIN { exit !(b - a >= h - 0.5) }' ||
  fail "second client was served while the first connection was running"
note "second client was served after the first connection ended"
stop_server
finish
