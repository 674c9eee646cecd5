#!/bin/bash
# `curvecp receive` never writes outside its DIR (curvecp-receive(1), SECURITY), and both
# ends say so:
#   - a sender offering an absolute name or a '..' name: the receiver stops the push with
#     an error the sender sees, and logs it; nothing is created;
#   - a symlink whose target leaves the tree (absolute or climbing): refused, the push
#     exits 111 naming it, everything else arrives;
#   - a symlink already in DIR pointing out: a push through it is refused, nothing is
#     written where it points;
#   - --to with '..' is refused before connecting; --to through a symlink by the receiver.
#
# usage: push_traversal.sh CURVECP_BINARY PUSH_HOSTILE_BINARY
set -euo pipefail
CURVECP=$1
HOSTILE=$(readlink -f "$2")
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
mkdir dest outside
ln -s "$WORK/outside" dest/evil
start_server ours "$WORK/serverkey" "$CURVECP" receive "$WORK/dest"
PUSH=("$CURVECP" push --name "$SNAME" --server-key "$(cat serverkey.hex)" --ext "$EXT")
client_cmd ours "$WORK/serverkey" "$PORT"

hostile() {  # hostile EXPECTED-REGEX ARGS...: one hostile sender; its report must match
  local want=$1 rc=0
  shift
  "${CLIENT_CMD[@]}" "$HOSTILE" "$@" >"$WORK/hostile.out" 2>"$WORK/hostile.log" </dev/null || rc=$?
  grep -qE "$want" "$WORK/hostile.out" || fail "hostile sender '$*': got '$(cat "$WORK/hostile.out")' (exit $rc)"
  note "hostile '$*': $(cat "$WORK/hostile.out")"
}
hostile "^error: absolute path '$WORK/outside/x' refused" "$WORK/outside/x"
hostile "^error: path '../outside/x' with '..' refused" ../outside/x
hostile "^error: path 'a/../../outside/x' with '..' refused" a/../../outside/x
hostile "^refused: symlink 'l' -> '/etc' points out of the tree" l /etc
hostile "^refused: symlink 'l' -> '../outside' points out" l ../outside
hostile "^refused: 'evil' is a symlink or not a directory" evil/x
wait_log_line "$WORK/server.log" "receive: absolute path '$WORK/outside/x' refused" 10 || fail "the receiver did not log the refusal"
wait_log_line "$WORK/server.log" "receive: path '../outside/x' with '..' refused" 10 || fail "the receiver did not log the '..' refusal"

# A real tree with a link pointing out and a directory named like the planted symlink.
mkdir -p src/t src/evil
echo inside >src/t/file
ln -s ../../outside src/t/up
ln -s file src/t/ok-link
echo payload >src/evil/x
rc=0
"${PUSH[@]}" 127.0.0.1 "$PORT" src/t src/evil 2>"$WORK/push.log" || rc=$?
[[ $rc -eq 111 ]] || fail "push with links out of the tree exited $rc, expected 111"
grep -q "push: failed: t/up: refused by the receiver: symlink 't/up' -> '../../outside' points out of the tree" "$WORK/push.log" ||
  fail "push did not name the refused link: $(cat "$WORK/push.log")"
grep -q "push: failed: evil: refused by the receiver: exists on the receiver and is not a directory" "$WORK/push.log" ||
  fail "push did not name the refused directory: $(cat "$WORK/push.log")"
grep -q "push: failed: evil/x: refused by the receiver: 'evil' is a symlink" "$WORK/push.log" ||
  fail "push did not name the refused file: $(cat "$WORK/push.log")"
grep -q "receive: t/up: symlink 't/up' -> '../../outside' points out of the tree" "$WORK/server.log" ||
  fail "the receiver did not log the refused link"
[[ "$(cat dest/t/file)" = inside && "$(readlink dest/t/ok-link)" = file ]] || fail "the rest of the tree did not arrive"
[[ ! -e dest/t/up && ! -L dest/t/up ]] || fail "the link out of the tree was made"
[[ -z "$(ls -A outside)" ]] || fail "something was written outside DIR: $(ls -A outside)"
note "links out refused, rest arrived; $(grep 'push: .*entries' "$WORK/push.log")"

# --to.
rc=0
"${PUSH[@]}" --to ../up 127.0.0.1 "$PORT" src/t 2>"$WORK/to.log" || rc=$?
[[ $rc -eq 100 ]] && grep -q "push: --to: path '../up' with '..' refused" "$WORK/to.log" ||
  fail "--to ../up: exit $rc, $(cat "$WORK/to.log")"
rc=0
"${PUSH[@]}" --to evil/sub 127.0.0.1 "$PORT" src/t 2>"$WORK/to.log" || rc=$?
[[ $rc -eq 111 ]] && grep -q "the receiver stopped: --to evil/sub: 'evil' is a symlink or not a directory: refused" "$WORK/to.log" ||
  fail "--to evil/sub: exit $rc, $(cat "$WORK/to.log")"
[[ -z "$(ls -A outside)" ]] || fail "something was written outside DIR: $(ls -A outside)"
rc=0
"${PUSH[@]}" --to in/here 127.0.0.1 "$PORT" src/t 2>"$WORK/to.log" || rc=$?
[[ $rc -eq 111 && "$(cat dest/in/here/t/file)" = inside ]] || fail "--to in/here: exit $rc, $(cat "$WORK/to.log")"
note "--to: '..' refused (100), through a symlink refused (111), in/here made"

stop_server
finish
