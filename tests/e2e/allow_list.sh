#!/bin/bash
# `serve --allow FILE` through the binaries (curvecp-serve(1), ALLOW FILE; docs/EXTENSIONS.md
# section 5):
#   - an allowed key connects and its label reaches the program as CURVECPCLIENTLABEL;
#   - a key not on the list is refused: the client says "refused by the server: this
#     client's key is not allowed" and exits 111, the server logs the key and address,
#     and no program starts;
#   - the reference client (nacl-tools), refused, sees an ordinary end of stream (it
#     treats FAIL as EOF, CURVECP.md 9 item 21): its program gets no data and it ends;
#   - SIGHUP reloads the list while a transfer runs: the running connection (whose key
#     the new list drops) ends byte-exact, the new key is admitted, the dropped key is
#     refused from then on; a broken file on reload keeps the old list with one line;
#   - a broken file at start-up is one line and exit 111.
#
# usage: allow_list.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
for c in alice bob carol; do KEY_IMPL=ours make_key "$WORK/$c"; done
ALICE=$(cat alice.hex) BOB=$(cat bob.hex) CAROL=$(cat carol.hex)

# Start-up: a broken file is one line, exit 111, nothing bound.
printf '%s\nnot-a-key\n' "$ALICE" >"$WORK/broken.allow"
rc=0
timeout 10 "$CURVECP" serve --no-timestamps --allow "$WORK/broken.allow" --key "$WORK/serverkey" --name "$SNAME" \
  127.0.0.1 0 true </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
[[ $rc -eq 111 ]] || fail "broken allow file: exit $rc, expected 111 ($(cat "$WORK/err"))"
[[ $(wc -l <"$WORK/err") -eq 1 ]] || fail "broken allow file: expected one line, got: $(cat "$WORK/err")"
grep -qF "curvecp serve: --allow: $WORK/broken.allow: line 2: not a key" "$WORK/err" ||
  fail "broken allow file: unexpected message: $(cat "$WORK/err")"
note "broken allow file at start: $(cat "$WORK/err")"

cat >"$WORK/allow" <<EOT
# test clients
$ALICE priority=background label=alice laptop   # the label has a space
EOT
# The program tells who it thinks it serves, leaves a mark per key, then echoes.
SERVER_FLAGS="--allow $WORK/allow" start_server ours "$WORK/serverkey" \
  sh -c "touch '$WORK/started.'\"\$CURVECPREMOTEPK\"; printf 'label=%s\n' \"\${CURVECPCLIENTLABEL-unset}\"; exec cat"

connect_as() {  # connect_as NAME: netcat-mode client with key NAME, stdin from the caller
  CLIENT_FLAGS="--key $WORK/$1" client_cmd ours "$WORK/serverkey" "$PORT"
  timeout "$(time_left)" "${CLIENT_CMD[@]}"
}

# 1. An allowed key: its label reaches the program.
echo hello | connect_as alice >"$WORK/alice.out" 2>"$WORK/alice.err" || fail "alice: client failed: $(cat "$WORK/alice.err")"
[[ "$(cat "$WORK/alice.out")" = "$(printf 'label=alice laptop\nhello')" ]] ||
  fail "alice: got '$(cat "$WORK/alice.out")'"
[[ -e "$WORK/started.$ALICE" ]] || fail "alice: no program ran for her key"
wait_log_line "$WORK/server.log" "#1 ended \(finished\) key=$ALICE" 10 "$SERVER_PID" || fail "no end line for alice"
note "alice connected; her program saw CURVECPCLIENTLABEL='alice laptop'"

# 2. A key not on the list: the distinct message, a log line, no program.
rc=0
connect_as bob </dev/null >"$WORK/bob.out" 2>"$WORK/bob.err" || rc=$?
[[ $rc -eq 111 ]] || fail "bob: client exited $rc, expected 111 ($(cat "$WORK/bob.err"))"
grep -q "refused by the server: this client's key is not allowed" "$WORK/bob.err" ||
  fail "bob: the client did not say it was refused: $(cat "$WORK/bob.err")"
[[ $(wc -l <"$WORK/bob.err") -eq 1 ]] || fail "bob: expected one line, got: $(cat "$WORK/bob.err")"
wait_log_line "$WORK/server.log" "refused key=$BOB from=127\.0\.0\.1:[0-9]+: not in the allow list" 10 "$SERVER_PID" ||
  fail "the server did not log the refusal of bob's key with his address"
[[ ! -e "$WORK/started.$BOB" ]] || fail "a program ran for bob's refused key"
[[ ! -s "$WORK/bob.out" ]] || fail "bob got output: $(cat "$WORK/bob.out")"
note "bob refused: $(cat "$WORK/bob.err")"

# 3. The reference client, refused (an anonymous key): an ordinary end, no data, no
# program on the server. It waits for its program, so the program ends on its EOF.
if command -v curvecpclient >/dev/null; then
  client_cmd ref "$WORK/serverkey" "$PORT"
  rc=0
  # It ends once its own end is acknowledged: a server that forgot the refused
  # connection as soon as its FAIL was acknowledged left it resending that end until
  # curvecpmessage's idle exit (10 s, CURVECP.md 6.9), or longer on a busy host.
  timeout 8 "${CLIENT_CMD[@]}" sh -c 'cat <&6; echo "eof after $(wc -c <"$0") bytes"' /dev/null \
    </dev/null >"$WORK/ref.out" 2>"$WORK/ref.err" || rc=$?
  [[ $rc -ne 124 ]] || fail "reference client: still running after 8 s (its end was never acknowledged?)"
  [[ "$(cat "$WORK/ref.out")" = "eof after 0 bytes" ]] || fail "reference client's program got: $(cat "$WORK/ref.out")"
  note "reference client refused: its program saw end of stream with no data; exit $rc"
else
  require_tools curvecpclient
fi
[[ $(ls "$WORK"/started.* | wc -l) -eq 1 ]] || fail "programs ran for refused clients: $(ls "$WORK"/started.*)"

# 4. SIGHUP during a transfer. Alice uploads 8 MiB through `cat`; half goes first, the
# rest only after the reload, so the reload happens mid-transfer.
head -c 8388608 /dev/urandom >"$WORK/data"
{
  head -c 4194304 "$WORK/data"
  wait_for_file "$WORK/reloaded" 60 || exit 1
  tail -c +4194305 "$WORK/data"
} | connect_as alice >"$WORK/transfer.out" 2>"$WORK/transfer.err" &
TRANSFER=$!
wait_log_line "$WORK/server.log" "#[0-9]+ start key=$ALICE" 20 "$SERVER_PID" || fail "alice's second connection did not start"
for _ in $(seq 200); do [[ $(stat -c %s "$WORK/transfer.out") -gt 1000000 ]] && break; sleep 0.05; done
[[ $(stat -c %s "$WORK/transfer.out") -gt 1000000 ]] || fail "the transfer did not get going"
# Her connection runs in her class from the allow file (SIGUSR1 lists the connections, -v).
grep -qE "#[0-9]+ start key=$ALICE from=[0-9.:]+ priority=background label=\"alice laptop\"" "$WORK/server.log" ||
  fail "alice's start line does not show her class and label"
kill -USR1 "$SERVER_PID"
wait_log_line "$WORK/server.log" " program=running .* priority=background " 10 "$SERVER_PID" ||
  fail "alice's running connection is not in class background"

# A broken file: the old list stays (alice is still allowed, carol still refused).
printf 'garbage\n' >"$WORK/allow.new" && mv "$WORK/allow.new" "$WORK/allow"
kill -HUP "$SERVER_PID"
wait_log_line "$WORK/server.log" "SIGHUP: keeping the old allow list: $WORK/allow: line 1: not a key" 10 "$SERVER_PID" ||
  fail "no 'keeping the old allow list' line after a broken reload"
rc=0
connect_as carol </dev/null >/dev/null 2>"$WORK/carol1.err" || rc=$?
[[ $rc -eq 111 ]] && grep -q "refused by the server" "$WORK/carol1.err" || fail "carol admitted by a broken reload (exit $rc)"

# The new list drops alice and admits carol.
printf '%s label=carol\n' "$CAROL" >"$WORK/allow.new" && mv "$WORK/allow.new" "$WORK/allow"
kill -HUP "$SERVER_PID"
wait_log_line "$WORK/server.log" "SIGHUP: reloaded $WORK/allow \(1 key\(s\)\)" 10 "$SERVER_PID" || fail "no reload line"
echo hi | connect_as carol >"$WORK/carol.out" 2>"$WORK/carol.err" || fail "carol: client failed after the reload: $(cat "$WORK/carol.err")"
[[ "$(cat "$WORK/carol.out")" = "$(printf 'label=carol\nhi')" ]] || fail "carol: got '$(cat "$WORK/carol.out")'"
rc=0
connect_as alice </dev/null >/dev/null 2>"$WORK/alice2.err" || rc=$?
[[ $rc -eq 111 ]] && grep -q "refused by the server" "$WORK/alice2.err" ||
  fail "alice was not refused after the reload dropped her key (exit $rc: $(cat "$WORK/alice2.err"))"
kill -0 "$TRANSFER" 2>/dev/null || fail "the running transfer ended before its second half was sent"
touch "$WORK/reloaded"

rc=0
wait "$TRANSFER" || rc=$?
[[ $rc -eq 0 ]] || fail "the running transfer failed across the reload: exit $rc: $(cat "$WORK/transfer.err")"
{ printf 'label=alice laptop\n'; cat "$WORK/data"; } >"$WORK/expected"
[[ "$(sha_of "$WORK/transfer.out")" = "$(sha_of "$WORK/expected")" ]] ||
  fail "the running transfer is not byte-exact ($(stat -c %s "$WORK/transfer.out") bytes)"
note "8 MiB transfer ran across two SIGHUP reloads and arrived byte-exact"
wait_log_line "$WORK/server.log" "ended \(finished\) key=$ALICE .*received=8388608 sent=8388627 " 15 "$SERVER_PID" ||
  fail "no end line with the transfer's byte counts"

stop_server
finish
