#!/bin/bash
# Our client with a long-term key directory made by the reference curvecpmakekey, against
# the reference server: the connection works, the vouch nonce is reserved from the key
# directory's counter (safenonce, client flag: one value per run, CURVECP.md 1.4), and the
# program sees the connection's environment variables.
#
# usage: client_keydir_env.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/common.sh"
require_curvecp
cd "$WORK"

make_key "$WORK/serverkey"
curvecpmakekey "$WORK/clientkey" || fail "curvecpmakekey failed"
start_server ref "$WORK/serverkey" sh -c 'echo hi'
CLIENT_FLAGS="--key $WORK/clientkey" client_cmd ours "$WORK/serverkey" "$PORT"

for run in 1 2; do
  rc=0
  timeout 30 "${CLIENT_CMD[@]}" sh -c "env > '$WORK/env.$run'; cat <&6" </dev/null >"$WORK/out.$run" 2>"$WORK/client.log" || rc=$?
  [[ $rc -eq 0 ]] || fail "run $run: client exited $rc"
  [[ "$(cat "$WORK/out.$run")" = hi ]] || fail "run $run: got '$(cat "$WORK/out.$run")' instead of 'hi'"
done
# Two runs reserved two counter values: the 8-byte little-endian counter now reads 2.
counter=$(od -An -tu8 -N8 "$WORK/clientkey/.expertsonly/noncecounter" | tr -d ' ')
note "noncecounter after two runs: $counter"
[[ "$counter" = 2 ]] || fail "noncecounter is $counter, expected 2 (one vouch nonce per run)"

env_value() { grep "^$1=" "$WORK/env.1" | head -1 | cut -d= -f2- || true; }
[[ "$(env_value PROTO)" = CURVECP ]] || fail "PROTO is '$(env_value PROTO)'"
[[ "$(env_value CURVECPREMOTEPK)" = "$(cat "$WORK/serverkey.hex")" ]] || fail "CURVECPREMOTEPK is '$(env_value CURVECPREMOTEPK)'"
[[ "$(env_value CURVECPREMOTEIP)" = 127.0.0.1 ]] || fail "CURVECPREMOTEIP is '$(env_value CURVECPREMOTEIP)'"
[[ "$(env_value CURVECPREMOTEPORT)" = "$PORT" ]] || fail "CURVECPREMOTEPORT is '$(env_value CURVECPREMOTEPORT)'"
[[ "$(env_value CURVECPLOCALIP)" = 127.0.0.1 ]] || fail "CURVECPLOCALIP is '$(env_value CURVECPLOCALIP)'"
[[ "$(env_value CURVECPLOCALPORT)" =~ ^[1-9][0-9]*$ ]] || fail "CURVECPLOCALPORT is '$(env_value CURVECPLOCALPORT)'"
note "environment: $(grep -E '^(PROTO|CURVECP)' "$WORK/env.1" | tr '\n' ' ')"
stop_server
finish
