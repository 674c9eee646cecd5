#!/bin/bash
# A large transfer, ours with ours, byte-exact by sha256.
#
# usage: big_transfer.sh CURVECP_BINARY up|down BYTES [SERVER_IP]
#   up:   netcat-mode client uploads BYTES; the server's program (sha256sum) answers
#         with the hash of what it received, which comes back on the client's stdout
#         (so both directions and both EOFs are exercised).
#   down: the server's program sends BYTES; the client hashes its stdout.
# The data is an AES-CTR keystream (fast, incompressible, reproducible), or /dev/urandom
# when openssl is missing; its hash is computed separately beforehand.
set -euo pipefail
CURVECP=$1 DIRECTION=$2 BYTES=$3
SERVER_IP=${4:-127.0.0.1}
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"

if command -v openssl >/dev/null; then
  GEN="openssl enc -aes-128-ctr -nosalt -pass pass:curvecp-e2e -pbkdf2 -in /dev/zero 2>/dev/null | head -c $BYTES"
  want=$(sh -c "$GEN" | sha256sum | cut -d' ' -f1)
else
  head -c "$BYTES" /dev/urandom >"$WORK/data"
  GEN="cat '$WORK/data'"
  want=$(sha_of "$WORK/data")
fi

KEY_IMPL=ours make_key "$WORK/serverkey"
# The bound is against hangs, not a speed requirement: the whole test's limit
# (TEST_TIME_LIMIT, below the ctest TIMEOUT) less 25 s for the server's drain.
LIMIT=$(( $(time_left) - 25 ))
(( LIMIT > 10 )) || fail "no time left for the transfer (TEST_TIME_LIMIT=$TIME_LIMIT)"

if [[ "$DIRECTION" = up ]]; then
  start_server ours "$WORK/serverkey" sha256sum
else
  start_server ours "$WORK/serverkey" sh -c "$GEN"
fi
client_cmd ours "$WORK/serverkey" "$PORT"
# Netcat mode: no program after the "--" that client_cmd ends with.
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'

start=$(now_s)
rc=0
if [[ "$DIRECTION" = up ]]; then
  sh -c "$GEN" | timeout "$LIMIT" "${CLIENT_CMD[@]}" >"$WORK/reply" 2>"$WORK/client.log" || rc=$?
else
  set +e
  timeout "$LIMIT" "${CLIENT_CMD[@]}" </dev/null 2>"$WORK/client.log" | sha256sum >"$WORK/reply"
  rc=${PIPESTATUS[0]}
  set -e
fi
got=$(cut -d' ' -f1 <"$WORK/reply")
elapsed=$(awk -v a="$start" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }')
note "$DIRECTION $BYTES bytes over $SERVER_IP: client exit $rc after ${elapsed}s"
if [[ $rc -eq 124 ]]; then
  kill -USR1 "$SERVER_PID" 2>/dev/null || true
  wait_log_line "$WORK/server.log" " program=" 3 || true  # the per-connection lines of SIGUSR1
  fail "client did not finish within ${LIMIT}s (the test's limit; the server's state follows)"
fi
[[ $rc -eq 0 ]] || fail "client exited $rc"
[[ "$got" = "$want" ]] || fail "sha256 differs: sent $want, received '$got'"
note "sha256 $got matches"
stop_server
finish
