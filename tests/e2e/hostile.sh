#!/bin/bash
# Hostile network: a relay between our client and our server forwards the real traffic
# and throws random, truncated, bit-flipped and replayed datagrams at both ends (and
# random ones at the server from a foreign port). The transfer must still complete
# byte-exact, and the server must have dropped and counted the junk.
#
# usage: hostile.sh CURVECP_BINARY CHAOS_RELAY_BINARY BYTES
# The relay's random choices follow SEED (printed; give SEED=n in the environment to
# replay a run).
set -euo pipefail
CURVECP=$1 RELAY=$2 BYTES=$3
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
SEED=${SEED:-$(( (RANDOM << 15) | RANDOM ))}
note "SEED=$SEED (replay with SEED=$SEED in the environment)"

head -c "$BYTES" /dev/urandom >"$WORK/data.in"
want=$(sha_of "$WORK/data.in")
KEY_IMPL=ours make_key "$WORK/serverkey"
start_server ours "$WORK/serverkey" sha256sum
bg relay "$RELAY" 0 "$PORT" 0.1 "$SEED"
RELAY_PID=$BG_PID
wait_log_line "$WORK/relay.log" 'listening on ' 10 "$RELAY_PID" || fail "relay did not start"
RELAY_PORT=$(listening_port "$WORK/relay.log")

client_cmd ours "$WORK/serverkey" "$RELAY_PORT"
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'  # netcat mode
LIMIT=$(( $(time_left) - 25 ))
rc=0
timeout "$LIMIT" "${CLIENT_CMD[@]}" <"$WORK/data.in" >"$WORK/reply" 2>"$WORK/client.log" || rc=$?
kill -TERM "$RELAY_PID"
wait_log_line "$WORK/relay.log" to-client 5 || note "relay printed no counts"
rrc=0
wait "$RELAY_PID" || rrc=$?
note "relay (exit $rrc): $(tr '\n' ';' <"$WORK/relay.log")"
[[ $rrc -eq 0 ]] || fail "relay exited $rrc"
stop_server
counters=$(grep -o 'connections=.*' "$WORK/server.log" | tail -1 || true)
note "server: $counters"

[[ $rc -eq 0 ]] || fail "client exited $rc (124: killed after the test's ${LIMIT} s limit) with SEED=$SEED"
got=$(cut -d' ' -f1 <"$WORK/reply")
[[ "$got" = "$want" ]] || fail "sha256 differs: sent $want, server saw '$got' (SEED=$SEED)"
note "sha256 $got matches"
injected=$(awk '/to-server/ { print $5 + $7 + $9 + $11 + $13 }' "$WORK/relay.log")
drops=$(grep -o ' drops=[0-9]*' <<<"$counters" | cut -d= -f2 || true)
[[ -n "$injected" && "$injected" -gt 0 ]] || fail "relay injected nothing toward the server (SEED=$SEED)"
[[ -n "$drops" && "$drops" -gt 0 ]] || fail "server counted no drops although $injected datagrams were injected (SEED=$SEED)"
note "server dropped and counted $drops of $injected injected datagrams (replayed Hellos are answered, not dropped)"
finish
