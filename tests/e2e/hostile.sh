#!/bin/bash
# Hostile network: a relay between our client and our server forwards the real traffic
# and throws random, truncated, bit-flipped and replayed datagrams at both ends (and
# random ones at the server from a foreign port). The transfer must still complete
# byte-exact, and the server must have dropped and counted the junk.
#
# usage: hostile.sh CURVECP_BINARY CHAOS_RELAY_BINARY BYTES
set -u
CURVECP=$1 RELAY=$2 BYTES=$3
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK" || exit 1

head -c "$BYTES" /dev/urandom >"$WORK/data.in"
want=$(sha_of "$WORK/data.in")
KEY_IMPL=ours make_key "$WORK/serverkey"
PORT=$(free_udp_port)
SERVER_FLAGS="-v" start_server ours "$WORK/serverkey" "$PORT" sha256sum
RELAY_PORT=$(free_udp_port)
bg relay "$RELAY" "$RELAY_PORT" "$PORT" 0.1 "${SEED:-$RANDOM}"
RELAY_PID=$BG_PID
wait_udp_bound "$RELAY_PORT" || fail "relay did not start"

client_cmd ours "$WORK/serverkey" "$RELAY_PORT"
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'  # netcat mode
timeout $(( 60 + BYTES / 500000 )) "${CLIENT_CMD[@]}" <"$WORK/data.in" >"$WORK/reply" 2>"$WORK/client.log"
rc=$?
kill -TERM "$RELAY_PID"
for i in $(seq 20); do grep -q to-client "$WORK/relay.log" && break; sleep 0.1; done
note "relay: $(tr '\n' ';' <"$WORK/relay.log")"
stop_group "$SERVER_PID"
for i in $(seq 20); do grep -q 'drops=' "$WORK/server.log" && break; sleep 0.1; done
counters=$(grep -o 'connections=.*' "$WORK/server.log" | tail -1)
note "server: $counters"

[[ $rc -eq 0 ]] || fail "client exited $rc"
got=$(cut -d' ' -f1 <"$WORK/reply")
[[ "$got" = "$want" ]] || fail "sha256 differs: sent $want, server saw '$got'"
note "sha256 $got matches"
injected=$(awk '/to-server/ { print $5 + $7 + $9 + $11 + $13 }' "$WORK/relay.log")
drops=$(grep -o ' drops=[0-9]*' <<<"$counters" | cut -d= -f2)
[[ -n "$injected" && "$injected" -gt 0 ]] || fail "relay injected nothing toward the server"
[[ -n "$drops" && "$drops" -gt 0 ]] || fail "server counted no drops although $injected datagrams were injected"
note "server dropped and counted $drops of $injected injected datagrams (replayed Hellos are answered, not dropped)"
echo "PASS"
