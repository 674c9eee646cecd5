#!/bin/bash
# A program killed in the middle of a stream shows as a failure at the far end, and the
# other connections of the same daemon carry on:
#   A: the server-side program (an endless producer) is killed with SIGKILL; the client
#      must then exit 111 (the server ends the stream with FAIL; curvecp-connect(1)).
#   C: the client-side program is killed with SIGKILL; `curvecp connect` must exit 111.
#   B: a connection running alongside both must deliver its data byte-exact and exit 0.
#
# usage: killed_program.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"

head -c 2097152 /dev/urandom >"$WORK/dataB"
cat "$WORK/dataB" "$WORK/dataB" >"$WORK/wantB"
KEY_IMPL=ours make_key "$WORK/serverkey"
# Each connection first sends a one-line tag naming itself; the server-side program
# records its pid under that tag, then produces: A forever, B and C dataB twice, slowly.
# C's connection outlives its client: the server ends it only at the idle timeout (not by
# the 10 s silent-client rule of curvecp-serve(1); reported), so a short --idle-timeout
# keeps the drain after SIGTERM bounded.
SERVER_FLAGS="--idle-timeout 8" start_server ours "$WORK/serverkey" sh -c '
  read tag; echo $$ > "'"$WORK"'/server-pid.$tag"
  if [ "$tag" = A ]; then exec cat /dev/zero; fi
  exec sh -c "sleep 1; cat '"$WORK"'/dataB; sleep 2; cat '"$WORK"'/dataB"'
client_cmd ours "$WORK/serverkey" "$PORT"

run() {  # run TAG PROGRAM-SUFFIX: one client; exit status to $WORK/rc.TAG
  local rc=0
  timeout 60 "${CLIENT_CMD[@]}" sh -c "echo $1 >&7; exec 7>&-; echo \$\$ > '$WORK/client-pid.$1'; $2" \
    </dev/null >"$WORK/out.$1" 2>"$WORK/client.$1.log" || rc=$?
  echo "$rc" >"$WORK/rc.$1"
  note "connection $1 finished at $(date +%s.%N)"
}
run A 'exec cat <&6 >/dev/null' &
PA=$!
run B 'exec cat <&6' &
PB=$!
run C 'exec cat <&6 >/dev/null' &
PC=$!

wait_for_file "$WORK/server-pid.A" 10 || fail "connection A never started its server program"
wait_for_file "$WORK/client-pid.C" 10 || fail "connection C never started its client program"
kill -KILL "$(cat "$WORK/server-pid.A")" || fail "could not kill A's server program"
kill -KILL "$(cat "$WORK/client-pid.C")" || fail "could not kill C's client program"
note "killed A's server-side program and C's client-side program"
wait "$PA" "$PB" "$PC"

for t in A B C; do note "connection $t: exit $(cat "$WORK/rc.$t"): $(tr '\n' ' ' <"$WORK/client.$t.log")"; done
[[ "$(cat "$WORK/rc.A")" = 111 ]] || fail "A's client exited $(cat "$WORK/rc.A") after the server's program was killed, expected 111"
[[ "$(cat "$WORK/rc.C")" = 111 ]] || fail "C's client did not exit 111 after its program was killed"
[[ "$(cat "$WORK/rc.B")" = 0 ]] || fail "B's client exited $(cat "$WORK/rc.B")"
[[ "$(sha_of "$WORK/out.B")" = "$(sha_of "$WORK/wantB")" ]] || fail "B's data differs ($(stat -c %s "$WORK/out.B") bytes)"
kill -0 "$SERVER_PID" 2>/dev/null || fail "server died"
note "B's data arrived intact alongside both failures"
stop_server 0 30
finish
