#!/bin/bash
# What `curvecp serve` logs (curvecp-serve(1), LOGGING), and readiness (--  Type=notify):
#   - without -v: the bound address and port (also with port 0), one line per connection
#     start (id, key, address) and end (how it ended, bytes each way, duration), each line
#     led by a UTC ISO 8601 time with milliseconds;
#   - --no-timestamps, and stderr being the systemd journal (JOURNAL_STREAM), drop the time;
#   - -q prints nothing but errors, -v adds diagnostics (counters at exit); -q with -v is a
#     usage error; connect has -q too;
#   - READY=1 reaches a NOTIFY_SOCKET listener once the server listens, and the programs
#     do not inherit NOTIFY_SOCKET;
#   - serve --version, and usage errors naming `curvecp serve --help`.
#
# usage: serve_logs.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
KEY_IMPL=ours make_key "$WORK/client"
CLIENT_HEX=$(cat "$WORK/client.hex")
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'

# serve_bg NAME FLAGS...: a server on port 0 running `sh -c 'echo "${NOTIFY_SOCKET-unset}"; cat'`.
# Each has its own control socket: a daemon already answering on the default path (a
# user's, on the machine running the tests) would add a warning line to the log.
serve_bg() {
  local name=$1
  shift
  bg "$name" "$CURVECP" serve "$@" --control "$WORK/$name.sock" --key "$WORK/serverkey" --name "$SNAME" --ext "$EXT" 127.0.0.1 "${BIND_PORT:-0}" -- \
    sh -c 'echo "${NOTIFY_SOCKET-unset}"; exec cat'
  SERVER_PID=$BG_PID
  SERVER_IMPL=ours
}
listen_port() {  # listen_port LOG: waits for the listening line, sets PORT
  wait_log_line "$WORK/$1.log" 'listening on ' 10 "$SERVER_PID" || fail "$1: no 'listening on' line: $(cat "$WORK/$1.log")"
  PORT=$(listening_port "$WORK/$1.log")
  [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -gt 0 ]] || fail "$1: no port in: $(cat "$WORK/$1.log")"
}
exchange() {  # exchange [connect flags]: sends "ping", expects "unset\nping" back
  CLIENT_FLAGS="--key $WORK/client $*" client_cmd ours "$WORK/serverkey" "$PORT"
  echo ping | timeout "$(time_left)" "${CLIENT_CMD[@]}" >"$WORK/client.out" 2>"$WORK/client.err" ||
    fail "client failed: $(cat "$WORK/client.err")"
  [[ "$(cat "$WORK/client.out")" = "$(printf 'unset\nping')" ]] || fail "client got '$(cat "$WORK/client.out")'"
}

# 1. Default: time-stamped start-up, start and end lines.
serve_bg default
listen_port default
grep -qE "^$TS curvecp serve: listening on 127\.0\.0\.1:$PORT\$" default.log || fail "start-up line: $(cat default.log)"
exchange
wait_log_line default.log "ended" 10 "$SERVER_PID" || fail "no end line: $(cat default.log)"
grep -qE "^$TS curvecp serve: #1 start key=$CLIENT_HEX from=127\.0\.0\.1:[0-9]+\$" default.log ||
  fail "no start line with id, key and address: $(cat default.log)"
grep -qE "^$TS curvecp serve: #1 ended \(finished\) key=$CLIENT_HEX from=127\.0\.0\.1:[0-9]+ received=5 sent=11 duration=[0-9]+\.[0-9]{3}s retransmissions=[0-9]+\$" default.log ||
  fail "no end line with bytes each way and duration: $(cat default.log)"
stop_server
grep -qE "^$TS curvecp serve: Terminated: finishing 0 connection\(s\)\$" default.log || fail "no drain line: $(cat default.log)"
[[ $(wc -l <default.log) -eq 4 ]] || fail "expected 4 lines without -v, got: $(cat default.log)"
note "default log: $(sed -n 3p default.log)"

# 2. --no-timestamps; and the journal (JOURNAL_STREAM = stderr's device:inode).
serve_bg plain --no-timestamps
listen_port plain
grep -qE "^curvecp serve: listening on 127\.0\.0\.1:$PORT\$" plain.log || fail "--no-timestamps: $(cat plain.log)"
stop_server
: >journal.log
JOURNAL_STREAM=$(stat -c '%d:%i' journal.log) bg journal "$CURVECP" serve --control "$WORK/journal.sock" --key "$WORK/serverkey" --name "$SNAME" \
  127.0.0.1 0 -- cat
SERVER_PID=$BG_PID
listen_port journal
grep -qE "^curvecp serve: listening on 127\.0\.0\.1:$PORT\$" journal.log || fail "journal: time stamps: $(cat journal.log)"
stop_server
JOURNAL_STREAM=1:2 bg notjournal "$CURVECP" serve --control "$WORK/notjournal.sock" --key "$WORK/serverkey" --name "$SNAME" 127.0.0.1 0 -- cat
SERVER_PID=$BG_PID
listen_port notjournal
grep -qE "^$TS curvecp serve: listening on " notjournal.log || fail "another JOURNAL_STREAM dropped the time: $(cat notjournal.log)"
stop_server

# 3. -q: nothing but errors; -v: diagnostics; connect -q.
PORT=$(free_udp_port)
BIND_PORT=$PORT serve_bg quiet -q
for _ in $(seq 200); do udp_port_owned_by "$PORT" "$SERVER_PID" && break; sleep 0.05; done
udp_port_owned_by "$PORT" "$SERVER_PID" || fail "-q: the server did not bind $PORT: $(cat quiet.log)"
exchange -q
[[ ! -s client.err ]] || fail "connect -q printed: $(cat client.err)"
stop_server
[[ ! -s quiet.log ]] || fail "serve -q logged: $(cat quiet.log)"
serve_bg verbose -v
listen_port verbose
exchange -v
grep -q "server accepted" client.err || fail "connect -v did not show the handshake: $(cat client.err)"
stop_server
grep -qE "^$TS curvecp serve: connections=0 .*accepted=1 " verbose.log || fail "-v: no counters at exit: $(cat verbose.log)"

# 4. Readiness: READY=1 on NOTIFY_SOCKET, which the programs do not inherit.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
s.settimeout(60)
while True:
    print(s.recv(4096).decode().replace("\n", " | "), flush=True)
' "$WORK/notify.sock" >"$WORK/notify.log" 2>&1 &
LISTENER=$!
GROUPS_STARTED+=("$LISTENER")
wait_log_line notify.log '^bound$' 10 "$LISTENER" || fail "the notify listener did not start"
NOTIFY_SOCKET=$WORK/notify.sock serve_bg notified
listen_port notified
wait_log_line notify.log '^READY=1 \| STATUS=listening on 127\.0\.0\.1:' 10 "$LISTENER" ||
  fail "no READY=1 on NOTIFY_SOCKET: $(cat notify.log)"
exchange  # the program printed NOTIFY_SOCKET as "unset"
stop_server
wait_log_line notify.log '^STOPPING=1$' 5 || fail "no STOPPING=1 at exit: $(cat notify.log)"
kill "$LISTENER" 2>/dev/null || true
note "notify socket got: $(tr '\n' ' ' <notify.log)"

# 5. --version and the usage-error form.
[[ "$("$CURVECP" serve --version)" =~ ^curvecp\ [0-9] ]] || fail "serve --version: $("$CURVECP" serve --version 2>&1)"
usage() {  # usage ARGS...: exit 100, one line "curvecp serve: ...; see 'curvecp serve --help'"
  local rc=0
  "$CURVECP" serve "$@" </dev/null >/dev/null 2>"$WORK/err" || rc=$?
  [[ $rc -eq 100 ]] || fail "serve $*: exit $rc, expected 100"
  [[ $(wc -l <"$WORK/err") -eq 1 ]] && grep -qE "^curvecp serve: .*; see 'curvecp serve --help'\$" "$WORK/err" ||
    fail "serve $*: not one usage line naming serve's help: $(cat "$WORK/err")"
}
usage -q -v --key "$WORK/serverkey" --name n 127.0.0.1 0 cat
usage --key "$WORK/serverkey" --name n --max-connections many 127.0.0.1 0 cat
usage --key "$WORK/serverkey" --name n 127.0.0.1 0
rc=0
"$CURVECP" connect -q -v --name n --server-key "$(cat serverkey.hex)" 127.0.0.1 1 </dev/null 2>"$WORK/err" || rc=$?
[[ $rc -eq 100 ]] || fail "connect -q -v: exit $rc, expected 100 ($(cat "$WORK/err"))"
finish
