#!/bin/bash
# `serve --user USER` (curvecp-serve(1)): the server binds and loads the key as root, then
# drops to USER (groups, gid, uid); the programs run as USER. The secret key stays
# root-only (so it was read before the drop); the nonce files belong to USER.
# Errors: an unknown user, and nonce files USER cannot write, are one line and exit 111
# before any client is served. Run as root (CI is); as another user only the "needs
# root" error can be shown, and the test is skipped (77).
#
# usage: serve_user.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"

refused() {  # refused MESSAGE ARGS...: serve ARGS exits 111 with the one line MESSAGE
  local want=$1 rc=0
  shift
  # Its own control socket: a daemon answering on the default one would add a warning.
  timeout 10 "$CURVECP" serve --no-timestamps --control "$WORK/refused-control.sock" "$@" </dev/null \
    >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq 111 ]] || fail "serve $*: exit $rc, expected 111 ($(cat "$WORK/err"))"
  [[ "$(cat "$WORK/err")" = "$want" ]] || fail "serve $*: got '$(cat "$WORK/err")', expected '$want'"
  note "refused: $want"
}
SERVE=(--key "$WORK/serverkey" --name "$SNAME" 127.0.0.1 0 -- id -u)

if [[ $(id -u) -ne 0 ]]; then
  refused "curvecp serve: --user: --user needs root (running as uid $(id -u))" --user nobody "${SERVE[@]}"
  echo "SKIP: not root: dropping privileges cannot be shown"
  exit 77
fi
NOBODY_UID=$(id -u nobody) || fail "no user nobody on this machine"
NOBODY_GID=$(id -g nobody)

refused "curvecp serve: --user: unknown user: no-such-user-curvecp" --user no-such-user-curvecp "${SERVE[@]}"

# nobody must reach the key directory; its nonce files are root's at first.
chmod 755 "$WORK" "$WORK/serverkey"
chmod 711 "$WORK/serverkey/.expertsonly"
refused "curvecp serve: --user nobody: nonce lock file not writable: $WORK/serverkey/.expertsonly/lock: Permission denied (the key directory's .expertsonly files must be the user's)" \
  --user nobody "${SERVE[@]}"

# The nonce files become nobody's; the secret key stays root's, mode 600.
chown nobody "$WORK/serverkey/.expertsonly/lock" "$WORK/serverkey/.expertsonly/noncekey" \
  "$WORK/serverkey/.expertsonly/noncecounter"
[[ "$(stat -c '%U %a' "$WORK/serverkey/.expertsonly/secretkey")" = "root 600" ]] ||
  fail "the secret key is not root's with mode 600: $(stat -c '%U %a' "$WORK/serverkey/.expertsonly/secretkey")"

SERVER_FLAGS="--user nobody" start_server ours "$WORK/serverkey" \
  sh -c 'id -u; id -g; id -G; cat /proc/$$/status | grep -E "^(Uid|Gid|Groups):"; cat "$0" 2>&1 || echo cannot-read-secret-key' \
  "$WORK/serverkey/.expertsonly/secretkey"
server_uid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$SERVER_PID/status")
[[ "$server_uid" = "$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID" ]] ||
  fail "the server runs with uids '$server_uid', expected nobody's ($NOBODY_UID)"

client_cmd ours "$WORK/serverkey" "$PORT"
timeout "$(time_left)" "${CLIENT_CMD[@]}" </dev/null >"$WORK/client.out" 2>"$WORK/client.err" ||
  fail "client failed: $(cat "$WORK/client.err")"
mapfile -t got <"$WORK/client.out"
[[ "${got[0]}" = "$NOBODY_UID" ]] || fail "the program's id -u is '${got[0]}', expected $NOBODY_UID (nobody): $(cat "$WORK/client.out")"
[[ "${got[1]}" = "$NOBODY_GID" ]] || fail "the program's id -g is '${got[1]}', expected $NOBODY_GID"
[[ "${got[2]}" = "$NOBODY_GID" ]] || fail "the program's groups are '${got[2]}', expected only $NOBODY_GID"
grep -q "Permission denied" "$WORK/client.out" || fail "the program could read the root-only secret key"
note "program ran as: $(tr '\n' ' ' <"$WORK/client.out")"
# The server still draws cookie nonces as nobody: a second connection works.
timeout "$(time_left)" "${CLIENT_CMD[@]}" </dev/null >"$WORK/client2.out" 2>"$WORK/client.err" ||
  fail "second client failed: $(cat "$WORK/client.err")"
stop_server
finish
