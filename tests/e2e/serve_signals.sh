#!/bin/bash
# Signals of `curvecp serve` (curvecp-serve(1), SIGNALS):
#   SIGUSR1 with -v prints the counters and one line per connection, and serving goes on;
#   without -v it prints nothing (no counters) and the server stays up;
#   SIGINT drains like SIGTERM: no new clients (their programs never run), the running
#   connection finishes byte-exact, then exit 0;
#   a second SIGINT fails the running connections: their programs get SIGTERM, their
#   clients hear FAIL (exit 111), and the server exits 0 once the programs have gone:
#   a TERM handler that takes 0.3 s to clean up finishes before the server exits
#   (SIGKILL only after the 2 s grace);
#   a third signal, while a program ignoring SIGTERM holds the exit, kills it at once.
#
# usage: serve_signals.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
# group_gone PGID: within 2 s, no live member of the group is left. Zombies do not count:
# they have stopped, and a container's init may reap orphans only every few seconds.
group_gone() {
  local i
  for (( i = 0; i < 40; i++ )); do
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }' || return 0
    sleep 0.05
  done
  return 1
}

# --- SIGUSR1, then SIGINT drains -------------------------------------------------------
# Each connection's program records that it ran, waits for the test's go, then answers.
start_server ours "$WORK/serverkey" sh -c \
  "echo \$\$ >> '$WORK/programs'; while [ ! -e '$WORK/go' ]; do sleep 0.05; done; echo done"
client_cmd ours "$WORK/serverkey" "$PORT"
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'  # netcat mode
timeout 30 "${CLIENT_CMD[@]}" </dev/null >"$WORK/first.out" 2>"$WORK/client-first.log" &
FIRST=$!
wait_for_file "$WORK/programs" 10 || fail "the first connection's program never started"

kill -USR1 "$SERVER_PID"
wait_log_line "$WORK/server.log" 'connections=1 ' 5 || fail "SIGUSR1 printed no counters line with connections=1"
wait_log_line "$WORK/server.log" ' program=running ' 5 || fail "SIGUSR1 printed no line for the running connection"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited on SIGUSR1"
note "SIGUSR1: $(grep -o 'connections=1 .*' "$WORK/server.log" | head -n 1 | cut -c1-120)..."

kill -INT "$SERVER_PID"
wait_log_line "$WORK/server.log" 'Interrupt: finishing 1 connection' 5 || fail "no 'Interrupt: finishing 1 connection(s)' line after SIGINT"
# A client that comes during the drain is not served: its program never runs.
timeout 4 "${CLIENT_CMD[@]}" </dev/null >"$WORK/late.out" 2>"$WORK/client-late.log" &
LATE=$!
late_rc=0
wait "$LATE" || late_rc=$?
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited on SIGINT with a connection running"
[[ $(wc -l <"$WORK/programs") -eq 1 ]] || fail "a client that came after SIGINT was served"
[[ $late_rc -ne 0 && ! -s "$WORK/late.out" ]] || fail "the late client exited $late_rc with output '$(cat "$WORK/late.out")'"
note "during the drain a new client got nothing (exit $late_rc after its 4 s limit)"
touch "$WORK/go"
rc=0
wait "$FIRST" || rc=$?
[[ $rc -eq 0 ]] || fail "the running connection's client exited $rc after SIGINT"
[[ "$(cat "$WORK/first.out")" = done ]] || fail "the running connection got '$(cat "$WORK/first.out")' instead of 'done'"
# The server exits 0 by itself once the connection has finished (within its 2 s linger).
for (( i = 0; i < 200; i++ )); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVER_PID" 2>/dev/null && fail "the server was still running 10 s after its last connection finished"
rc=0
wait "$SERVER_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "the server exited $rc after draining on SIGINT, expected 0"
note "SIGINT: the running connection finished, then the server exited 0"
check_logs
mv "$WORK/server.log" "$WORK/server-1.log.txt"
rm -f "$WORK/go"

# --- a second SIGINT: the program gets SIGTERM and its grace -----------------------------
# The program's TERM trap takes 0.3 s (a foreground sleep) before it writes its file: the
# server must not exit (and SIGKILL the group) before it has.
# abort_running NAME TRAP: a server whose program runs TRAP on SIGTERM (and writes its
# process group to $WORK/NAME.pgid), one netcat client connected (CLIENT_PID, output in
# $WORK/NAME.out, log in $WORK/client-NAME.log), then SIGINT twice.
abort_running() {
  local name=$1 trap_action=$2
  start_server ours "$WORK/serverkey" sh -c \
    "trap '$trap_action' TERM; echo \$\$ > '$WORK/$name.pgid'; echo started; while :; do sleep 0.05; done"
  client_cmd ours "$WORK/serverkey" "$PORT"
  unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'
  timeout 20 "${CLIENT_CMD[@]}" </dev/null >"$WORK/$name.out" 2>"$WORK/client-$name.log" &
  CLIENT_PID=$!
  wait_for_file "$WORK/$name.pgid" 10 || fail "$name: the server's program never started"
  wait_log_line "$WORK/$name.out" started 10 || fail "$name: the program's first line never reached the client"
  kill -INT "$SERVER_PID"
  # The first SIGINT must have been handled before the second is sent (two pending
  # signals of one kind would merge into one).
  wait_log_line "$WORK/server.log" 'Interrupt: finishing 1 connection' 5 || fail "$name: no 'Interrupt: finishing 1 connection(s)' line after SIGINT"
  kill -0 "$SERVER_PID" 2>/dev/null || fail "$name: the server exited on the first SIGINT with a connection running"
  kill -INT "$SERVER_PID"
}
abort_running second "sleep 0.3; echo term > \"$WORK/program-got-term\"; exit 0"
SECOND=$CLIENT_PID
t0=$(date +%s%N)
for (( i = 0; i < 100; i++ )); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVER_PID" 2>/dev/null && fail "the server was still running 5 s after a second SIGINT"
rc=0
wait "$SERVER_PID" || rc=$?
note "second SIGINT: server exited $rc after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[[ $rc -eq 0 ]] || fail "the server exited $rc after a second SIGINT, expected 0"
# Checked at once, not waited for: the server must have let the handler finish.
[[ -e "$WORK/program-got-term" ]] ||
  fail "the server exited before its program's TERM handler had finished (it got SIGKILL, or no SIGTERM)"
group_gone "$(cat "$WORK/second.pgid")" || fail "the program's group was still there after the server exited"
# The client of the cut connection is told at once (FAIL), not left to its own timeouts.
crc=0
wait "$SECOND" || crc=$?
[[ $crc -eq 111 ]] || fail "the cut connection's client exited $crc, expected 111"
grep -q "the server ended the connection with a failure" "$WORK/client-second.log" ||
  fail "the cut connection's client did not report the server's failure: $(cat "$WORK/client-second.log")"
mv "$WORK/server.log" "$WORK/server-2.log.txt"
# --- a third signal ends the wait for a program that ignores SIGTERM ---------------------
abort_running third ""
THIRD=$CLIENT_PID
wait_log_line "$WORK/server.log" 'waiting for 1 stopped program group' 5 ||
  fail "the server did not wait for a program that ignores SIGTERM"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited while a program it stopped was still there"
kill -INT "$SERVER_PID"
wait_log_line "$WORK/server.log" 'Interrupt again: killing 1 program group' 5 ||
  fail "a third SIGINT did not kill the program group"
rc=0
wait "$SERVER_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "the server exited $rc after a third SIGINT, expected 0"
group_gone "$(cat "$WORK/third.pgid")" || fail "the program ignoring SIGTERM survived the server"
crc=0
wait "$THIRD" || crc=$?
[[ $crc -eq 111 ]] || fail "the third connection's client exited $crc, expected 111"
note "third SIGINT: the program ignoring SIGTERM was killed, server exited 0"
# --- SIGUSR1 without -v: nothing printed, still serving ----------------------------------
bg quiet "$CURVECP" serve --name "$SNAME" --key "$WORK/serverkey" --ext "$EXT" --control "$WORK/quiet-control.sock" 127.0.0.1 0 cat
QUIET=$BG_PID
# Wait until the process catches SIGUSR1 (bit 10 of SigCgt in /proc/PID/status), i.e. its
# handler is installed.
caught=0
for (( i = 0; i < 100; i++ )); do
  mask=$(awk '/^SigCgt:/ { print $2 }' "/proc/$QUIET/status" 2>/dev/null || true)
  if [[ -n "$mask" ]] && (( (16#$mask >> 9) & 1 )); then caught=1; break; fi
  sleep 0.05
done
[[ $caught = 1 ]] || fail "a server without -v never installed a SIGUSR1 handler"
kill -USR1 "$QUIET"
kill -USR1 "$QUIET"
sleep 0.5  # a negative check: time for the (absent) output to appear
kill -0 "$QUIET" 2>/dev/null || fail "a server without -v died of SIGUSR1"
[[ "$(grep -v 'listening on ' "$WORK/quiet.log")" = "" ]] ||
  fail "a server without -v printed on SIGUSR1: $(head -n 2 "$WORK/quiet.log")"
kill -TERM "$QUIET"
qrc=0
wait "$QUIET" || qrc=$?
[[ $qrc -eq 0 ]] || fail "a server without -v exited $qrc after SIGTERM with no connections"
note "SIGUSR1 without -v: nothing printed, server kept running, then exited 0 on SIGTERM"
# --- SIGHUP is caught and ignored: the server keeps serving -----------------------------
mv "$WORK/server.log" "$WORK/server-3.log.txt"
start_server ours "$WORK/serverkey" cat
kill -HUP "$SERVER_PID"
wait_log_line "$WORK/server.log" 'SIGHUP: nothing to reload, still serving' 5 "$SERVER_PID" ||
  fail "no 'SIGHUP: nothing to reload' line after SIGHUP"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died of SIGHUP"
echo "after the hang-up" >"$WORK/hup.in"
client_cmd ours "$WORK/serverkey" "$PORT"
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'
timeout 20 "${CLIENT_CMD[@]}" <"$WORK/hup.in" >"$WORK/hup.out" 2>"$WORK/client-hup.log" ||
  fail "a client after SIGHUP failed: $(cat "$WORK/client-hup.log")"
cmp -s "$WORK/hup.in" "$WORK/hup.out" || fail "the echo after SIGHUP differs"
stop_server
note "SIGHUP: noted, still serving; then SIGTERM exited 0"
finish
