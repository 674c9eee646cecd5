#!/bin/bash
# The programs' environment through the binaries (curvecp-serve(1), curvecp-connect(1),
# ENVIRONMENT):
#   server side: CURVECPREMOTEPK is the client's real long-term public key (connect --key
#   DIR, as printed by `curvecp pubkey DIR`), CURVECPREMOTEEXT the client's extension;
#   an anonymous client shows a fresh random key each time;
#   client side: PROTO, CURVECPREMOTEPK (the server's key), CURVECPREMOTEIP/PORT and
#   CURVECPLOCALIP/PORT, the variables curvecp-connect(1) lists.
#
# usage: remote_env.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
"$CURVECP" keygen "$WORK/clientkey" >/dev/null || fail "curvecp keygen clientkey failed"
client_pk=$("$CURVECP" pubkey "$WORK/clientkey") || fail "curvecp pubkey clientkey failed"

# Each connection's server program stores its environment under the tag the client sends.
start_server ours "$WORK/serverkey" sh -c "read -r tag; env > '$WORK/server-env.'\$tag; echo ok"

run() {  # run TAG [connect flags]: one connection whose client program stores its environment
  local tag=$1 rc=0
  shift
  CLIENT_FLAGS="$*" client_cmd ours "$WORK/serverkey" "$PORT"
  timeout 15 "${CLIENT_CMD[@]}" sh -c "env > '$WORK/client-env.$tag'; echo $tag >&7; exec 7>&-; cat <&6" \
    </dev/null >"$WORK/out.$tag" 2>"$WORK/client-$tag.log" || rc=$?
  [[ $rc -eq 0 ]] || fail "connection $tag: client exited $rc"
  [[ "$(cat "$WORK/out.$tag")" = ok ]] || fail "connection $tag: got '$(cat "$WORK/out.$tag")'"
}
value() { grep "^$2=" "$WORK/$1" | head -n 1 | cut -d= -f2- || true; }

run keyed --key "$WORK/clientkey"
run anon1
run anon2

[[ "$(value server-env.keyed CURVECPREMOTEPK)" = "$client_pk" ]] ||
  fail "server's CURVECPREMOTEPK is '$(value server-env.keyed CURVECPREMOTEPK)', the client's key is $client_pk"
note "server saw CURVECPREMOTEPK=$client_pk, the key of connect --key"
[[ "$(value server-env.keyed CURVECPREMOTEEXT)" =~ ^[0-9a-f]{32}$ ]] ||
  fail "server's CURVECPREMOTEEXT is '$(value server-env.keyed CURVECPREMOTEEXT)'"
a1=$(value server-env.anon1 CURVECPREMOTEPK) a2=$(value server-env.anon2 CURVECPREMOTEPK)
[[ "$a1" =~ ^[0-9a-f]{64}$ && "$a2" =~ ^[0-9a-f]{64}$ ]] || fail "anonymous CURVECPREMOTEPK malformed: '$a1' '$a2'"
[[ "$a1" != "$a2" && "$a1" != "$client_pk" ]] || fail "anonymous clients did not get fresh keys: '$a1' '$a2'"

e=client-env.keyed
[[ "$(value $e PROTO)" = CURVECP ]] || fail "client program's PROTO is '$(value $e PROTO)'"
[[ "$(value $e CURVECPREMOTEPK)" = "$(cat "$WORK/serverkey.hex")" ]] || fail "client program's CURVECPREMOTEPK is '$(value $e CURVECPREMOTEPK)'"
[[ "$(value $e CURVECPREMOTEIP)" = 127.0.0.1 ]] || fail "client program's CURVECPREMOTEIP is '$(value $e CURVECPREMOTEIP)'"
[[ "$(value $e CURVECPREMOTEPORT)" = "$PORT" ]] || fail "client program's CURVECPREMOTEPORT is '$(value $e CURVECPREMOTEPORT)'"
[[ "$(value $e CURVECPLOCALIP)" = 127.0.0.1 ]] || fail "client program's CURVECPLOCALIP is '$(value $e CURVECPLOCALIP)'"
[[ "$(value $e CURVECPLOCALPORT)" =~ ^[1-9][0-9]*$ ]] || fail "client program's CURVECPLOCALPORT is '$(value $e CURVECPLOCALPORT)'"
[[ "$(value $e CURVECPREMOTEEXT)" = "$EXT" ]] || fail "client program's CURVECPREMOTEEXT is '$(value $e CURVECPREMOTEEXT)', expected the server's --ext $EXT"
note "client program's environment: $(grep -E '^(PROTO|CURVECP)' "$WORK/$e" | sort | tr '\n' ' ')"
stop_server
finish
