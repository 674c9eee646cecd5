#!/usr/bin/env bash
# End-to-end lifecycle of a connection through the real binary on loopback
# (curvecp-serve(1), curvecp-connect(1), "Failure semantics"):
#   1. Ctrl-C (SIGINT) on a client mid-upload into `sh -c 'cat > f; touch done'`: the
#      client exits 130, the server's program group is stopped (no `done`), promptly.
#   2. A client killed with SIGKILL: the server's keepalive goes unanswered, the idle
#      timeout fails the connection, the program group is stopped (no `done`).
#   3. A session left silent for several server idle timeouts survives (keepalives) and
#      then echoes a line.
#   4. connect to a loopback port with nothing listening fails at once: "connection refused".
#   5. The server drains on SIGTERM and exits 0; its log holds no sanitizer report.
#   6. Ctrl-C on a client whose own program cleans up on SIGTERM (0.3 s): the client waits
#      for it before exiting (SIGKILL only after the 2 s grace); with a program that ignores
#      SIGTERM, a second Ctrl-C during that wait kills it and the client exits at once.
# Usage: lifecycle.sh CURVECP
set -euo pipefail
CURVECP=$(readlink -f "$1")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/curvecp-lifecycle.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.log; do
    [ -s "$f" ] || continue
    echo "--- $(basename "$f") (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
  exit 1
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# The script's own limit, below ctest's TIMEOUT (TEST_TIME_LIMIT, tests/CMakeLists.txt), so
# that a slow run ends here with a diagnosis rather than being killed by ctest.
SCRIPT_END=$(( $(now_ms) + ${TEST_TIME_LIMIT:-110} * 1000 ))
# wait_for SECONDS WHAT CMD...: polls CMD every 20 ms, within the script's own limit.
wait_for() {
  local limit=$1 what=$2 end
  shift 2
  end=$(( $(now_ms) + limit * 1000 ))
  (( end < SCRIPT_END )) || end=$SCRIPT_END
  until "$@"; do
    (( $(now_ms) < end )) || fail "timed out after ${limit}s (or the script's own limit) waiting for $what"
    sleep 0.02
  done
}
# No live member left in process group $1. Zombies do not count: they have stopped, and
# this container's init reaps orphans only every couple of seconds.
# wait_exit PID SECONDS: waits (bounded) for our child PID to exit; its status in STATUS.
wait_exit() {
  wait_for "$2" "process $1 to exit" eval '! kill -0 "$1" 2>/dev/null'
  STATUS=0
  wait "$1" || STATUS=$?
}
group_gone() {
  ! ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
no_sanitizer_report() {
  ! grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer|SUMMARY: (Address|Undefined|Leak)" "$1" >/dev/null
}

"$CURVECP" keygen "$WORK/key" >/dev/null
KEY=$("$CURVECP" pubkey "$WORK/key")
NAME=lifecycle.test

# start_server NAME IDLE_S PROG...: a verbose server on a kernel-chosen port; sets SPID, PORT.
start_server() {
  local name=$1 idle=$2
  shift 2
  setsid "$CURVECP" serve -v --key "$WORK/key" --name "$NAME" --idle-timeout "$idle" \
    127.0.0.1 0 -- "$@" >"$WORK/$name.log" 2>&1 &
  SPID=$!
  PIDS+=("$SPID")
  wait_for 10 "$name to listen" grep -q "listening on" "$WORK/$name.log"
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/$name.log" | head -n 1)
  [ -n "$PORT" ] || fail "$name: no port in its log"
}
# stop_server NAME: SIGTERM, exit status 0 required, log clean.
stop_server() {
  local name=$1 status=0
  kill -TERM "$SPID"
  wait_for 15 "$name to exit after SIGTERM" eval '! kill -0 "$SPID" 2>/dev/null'
  wait "$SPID" || status=$?
  [ "$status" = 0 ] || fail "$name exited $status after SIGTERM (expected 0)"
  no_sanitizer_report "$WORK/$name.log" || fail "$name: sanitizer report in its log"
}

# --- 1. Ctrl-C mid-upload ---
mkdir -p "$WORK/up"
start_server server1 120 sh -c "echo \$\$ > '$WORK/up/pgid'; cat > '$WORK/up/f'; touch '$WORK/up/done'"
setsid "$CURVECP" connect --name "$NAME" --server-key "$KEY" 127.0.0.1 "$PORT" </dev/zero \
  >"$WORK/client1.out" 2>"$WORK/client1.log" &
CPID=$!
PIDS+=("$CPID")
wait_for 20 "upload to start" test -s "$WORK/up/f"
wait_for 5 "the program's pgid" test -s "$WORK/up/pgid"
PGID=$(cat "$WORK/up/pgid")
start=$(now_ms)
kill -INT "$CPID"
wait_for 5 "the server program group to go" group_gone "$PGID"
elapsed=$(( $(now_ms) - start ))
echo "# SIGINT on the client: server program group gone after ${elapsed} ms"
(( elapsed < 1000 )) || fail "program group took ${elapsed} ms to go (expected about one round trip)"
wait_exit "$CPID" 10
client_ms=$(( $(now_ms) - start ))
echo "# SIGINT on the client: client exited after ${client_ms} ms"
[ "$STATUS" = 130 ] || fail "client exited $STATUS after SIGINT (expected 130)"
grep -q "interrupted by signal 2" "$WORK/client1.log" || fail "client did not say it was interrupted"
[ ! -e "$WORK/up/done" ] || fail "the interrupted upload looked complete to the program (done exists)"
wait_for 5 "the server to log the failure" grep -q "ended (peer_failed)" "$WORK/server1.log"
stop_server server1

# --- 2. client killed with SIGKILL: keepalive + idle timeout ---
mkdir -p "$WORK/kill"
start_server server2 2 sh -c "echo \$\$ > '$WORK/kill/pgid'; cat > '$WORK/kill/f'; touch '$WORK/kill/done'"
mkfifo "$WORK/kill/in"
setsid "$CURVECP" connect --name "$NAME" --server-key "$KEY" 127.0.0.1 "$PORT" <"$WORK/kill/in" \
  >/dev/null 2>"$WORK/client2.log" &
CPID=$!
PIDS+=("$CPID")
exec 7>"$WORK/kill/in"
echo "some data" >&7
wait_for 20 "data to arrive" test -s "$WORK/kill/f"
PGID=$(cat "$WORK/kill/pgid")
start=$(now_ms)
kill -KILL "$CPID"
wait_exit "$CPID" 5
exec 7>&-
# keepalive every 2/3 s (a third of the idle timeout), idle timeout 2 s, stop grace 2 s.
wait_for 8 "the server program group to go after the client vanished" group_gone "$PGID"
elapsed=$(( $(now_ms) - start ))
echo "# SIGKILL on the client: server program group gone after ${elapsed} ms (idle timeout 2 s)"
[ ! -e "$WORK/kill/done" ] || fail "the vanished client's upload looked complete (done exists)"
wait_for 5 "the server to log the idle timeout" grep -q "ended (idle_timeout)" "$WORK/server2.log"
stop_server server2

# --- 3. a quiet session outlives several idle timeouts ---
start_server server3 2 cat
mkfifo "$WORK/quiet.in"
setsid "$CURVECP" connect -v --name "$NAME" --server-key "$KEY" 127.0.0.1 "$PORT" <"$WORK/quiet.in" \
  >"$WORK/quiet.out" 2>"$WORK/client3.log" &
CPID=$!
PIDS+=("$CPID")
exec 8>"$WORK/quiet.in"
echo "first" >&8
wait_for 10 "the first echo" grep -q first "$WORK/quiet.out"
sleep 7  # three and a half server idle timeouts of silence from both programs
echo "after the silence" >&8
wait_for 10 "the echo after the silence" grep -q "after the silence" "$WORK/quiet.out"
exec 8>&-
wait_exit "$CPID" 10
[ "$STATUS" = 0 ] || fail "quiet session client exited $STATUS (expected 0)"
for step in "sending Hellos to 127.0.0.1:$PORT" "Hello 1 sent" "Cookie received" "server accepted"; do
  grep -q "$step" "$WORK/client3.log" || fail "connect -v did not show the handshake step '$step'"
done
wait_for 10 "the quiet session to finish cleanly on the server" grep -q "ended (finished)" "$WORK/server3.log"
grep -q "idle_timeout" "$WORK/server3.log" && fail "the quiet session hit an idle timeout"
stop_server server3

# --- 4. nothing listening ---
probe_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
start=$(now_ms)
status=0
timeout 5 "$CURVECP" connect --name "$NAME" --server-key "$KEY" 127.0.0.1 "$probe_port" </dev/null \
  >/dev/null 2>"$WORK/refused.log" || status=$?
elapsed=$(( $(now_ms) - start ))
echo "# connect to a closed loopback port: exit $status after ${elapsed} ms"
[ "$status" = 111 ] || fail "connect to a closed port exited $status (expected 111)"
grep -q "connection refused" "$WORK/refused.log" || fail "connect to a closed port did not say 'connection refused'"
(( elapsed < 2000 )) || fail "connect to a closed port took ${elapsed} ms (expected under 2 s)"

# --- 6. the client's own program gets its grace; a second Ctrl-C cuts it short ---
mkdir -p "$WORK/own"
start_server server6 120 cat
setsid "$CURVECP" connect -v --name "$NAME" --server-key "$KEY" 127.0.0.1 "$PORT" -- sh -c \
  "trap 'sleep 0.3; echo cleaned > \"$WORK/own/cleaned\"; exit 0' TERM; echo \$\$ > '$WORK/own/pgid'; while :; do sleep 0.05; done" \
  >/dev/null 2>"$WORK/client6.log" &
CPID=$!
PIDS+=("$CPID")
wait_for 20 "the client's program to start" test -s "$WORK/own/pgid"
PGID=$(cat "$WORK/own/pgid")
kill -INT "$CPID"
wait_exit "$CPID" 10
[ "$STATUS" = 130 ] || fail "client exited $STATUS after SIGINT (expected 130)"
# Checked at once: the client must have let the TERM handler finish before it exited.
[ -e "$WORK/own/cleaned" ] || fail "the client exited before its program's TERM handler finished"
group_gone "$PGID" || fail "the client's program group was still there after the client exited"
grep -q "waiting for the stopped program to exit" "$WORK/client6.log" || fail "connect -v did not say it waited for its program"
echo "# SIGINT on a client: its program's 0.3 s TERM handler finished before the client exited"
setsid "$CURVECP" connect -v --name "$NAME" --server-key "$KEY" 127.0.0.1 "$PORT" -- sh -c \
  "trap '' TERM; echo \$\$ > '$WORK/own/pgid2'; while :; do sleep 0.05; done" >/dev/null 2>"$WORK/client6b.log" &
CPID=$!
PIDS+=("$CPID")
wait_for 20 "the second client's program to start" test -s "$WORK/own/pgid2"
PGID=$(cat "$WORK/own/pgid2")
kill -INT "$CPID"
wait_for 5 "the client to wait for its program" grep -q "waiting for the stopped program to exit" "$WORK/client6b.log"
kill -INT "$CPID"
wait_exit "$CPID" 5
[ "$STATUS" = 130 ] || fail "client exited $STATUS after two SIGINTs (expected 130)"
grep -q "signal 2: killing the program" "$WORK/client6b.log" || fail "a second SIGINT did not cut the wait for the program"
wait_for 5 "the program ignoring SIGTERM to go" group_gone "$PGID"
echo "# a second SIGINT while the client waited for a program ignoring SIGTERM killed it"
stop_server server6

echo "lifecycle: all checks passed"
