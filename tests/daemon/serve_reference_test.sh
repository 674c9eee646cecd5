#!/bin/bash
# curvecp serve against the reference client (nacl-tools): a download with
# `curvecpmessage -c` and an upload with `curvecpmessage -C`, compared by sha256; the
# program's CURVECP* environment; SIGTERM after the connections ends the server with 0;
# SIGTERM during a connection drains it (byte-exact) and then exits 0; a second SIGTERM
# exits at once and ends the program; a nonce-generation disaster exits 111. Every server
# run is checked for sanitizer reports in its log.
# Usage: serve_reference_test.sh PATH/TO/curvecp
set -euo pipefail
CURVECP=$(realpath "$1")
EXT=31415926535897932384626433832795
NAME=this.machine.name

for tool in curvecpclient curvecpmessage curvecpmakekey curvecpprintkey; do
  command -v "$tool" >/dev/null && continue
  # Builds with CURVECP_REQUIRE_INTEROP=ON set CURVECP_REQUIRE_INTEROP=1: a failure there.
  [ "${CURVECP_REQUIRE_INTEROP:-0}" = 1 ] && { echo "FAIL: $tool (nacl-tools) not installed and CURVECP_REQUIRE_INTEROP=1"; exit 1; }
  echo "SKIP: $tool (nacl-tools) not installed"
  exit 77
done

WORK=$(mktemp -d /tmp/curvecp-serve-test.XXXXXX)
SERVER=""
CLIENT=""
cleanup() {
  trap - ERR
  set +e
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  [ -n "$CLIENT" ] && kill -9 "$CLIENT" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
fail() { trap - ERR; echo "FAIL: $*"; echo "--- server log (last 30 lines)"; tail -n 30 server.log 2>/dev/null; exit 1; }
# A command that fails where no check expected it (set -e) still ends with a reason.
trap 'fail "unexpected exit status $? at line $LINENO: $BASH_COMMAND"' ERR
# Sanitizer and runtime-error reports in the server's logs fail the test.
check_log() {
  # -q: status 0 on a match even when one of the files does not exist (yet).
  if grep -qsE 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer|SUMMARY: [A-Za-z]*Sanitizer|UndefinedBehaviorSanitizer' \
       server.old.log server.log; then
    fail "sanitizer report in the server's log"
  fi
  return 0
}

curvecpmakekey serverkey || fail "curvecpmakekey"
PK=$(curvecpprintkey serverkey) || fail "curvecpprintkey"

# Starts `curvecp serve` on a free port (port 0) and sets SERVER and PORT.
start_server() {
  # A fresh log: reading the last run's "listening on" line before the new server has
  # truncated the file would give the old port (a race seen once under ASan).
  if [ -e server.log ]; then cat server.log >> server.old.log; rm -f server.log; fi
  "$CURVECP" serve -v --key serverkey --name "$NAME" --ext "$EXT" --idle-timeout 30 127.0.0.1 0 -- "$@" \
    2> server.log &
  SERVER=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^.*curvecp serve: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' server.log 2>/dev/null || true)
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  fail "server did not start"
}

# Waits (at most 5 s) until the server has handled a first SIGTERM with one connection
# running: its "finishing 1 connection(s)" line (-v).
wait_finishing() {
  for _ in $(seq 100); do grep -q 'finishing 1 connection' server.log && return 0; sleep 0.05; done
  fail "no 'finishing 1 connection(s)' line within 5 s of SIGTERM"
}

# Stops the server with SIGTERM and expects a graceful exit 0 within 30 s.
stop_server() {
  kill -TERM "$SERVER"
  for _ in $(seq 300); do
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$SERVER" 2>/dev/null && fail "server still running 30 s after SIGTERM"
  local rc=0
  wait "$SERVER" || rc=$?
  SERVER=""
  [ "$rc" -eq 0 ] || fail "server exit status $rc after SIGTERM"
  check_log
}

# --- download: the server's program sends a file -------------------------------------
head -c 1500000 /dev/urandom > down.in
start_server sh -c 'env | grep -E "^(PROTO|CURVECP)" | sort > env.out; cat down.in'
rc=0
timeout 40 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" \
  curvecpmessage -c sh -c 'cat <&6 > down.out' || rc=$?
[ "$rc" -eq 0 ] || fail "download client exit status $rc"
[ "$(sha256sum < down.in)" = "$(sha256sum < down.out)" ] || fail "download differs"
grep -qx 'PROTO=CURVECP' env.out || fail "PROTO missing: $(cat env.out)"
grep -qx 'CURVECPREMOTEIP=127.0.0.1' env.out || fail "CURVECPREMOTEIP wrong"
grep -qx 'CURVECPLOCALIP=127.0.0.1' env.out || fail "CURVECPLOCALIP wrong"
grep -qx "CURVECPLOCALPORT=$PORT" env.out || fail "CURVECPLOCALPORT wrong"
grep -qE '^CURVECPREMOTEPORT=[0-9]+$' env.out || fail "CURVECPREMOTEPORT wrong"
grep -qx 'CURVECPREMOTEEXT=00000000000000000000000000000000' env.out || fail "CURVECPREMOTEEXT wrong"
grep -qE '^CURVECPREMOTEPK=[0-9a-f]{64}$' env.out || fail "CURVECPREMOTEPK wrong"
stop_server
grep -q 'accepted=1' server.log || fail "no accepted connection in the counters"
echo "download OK"

# --- upload: the reference client sends a file, the server's program stores it -------
head -c 1500000 /dev/urandom > up.in
start_server sh -c 'cat > up.tmp && mv up.tmp up.out'
rc=0
timeout 40 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" \
  curvecpmessage -C sh -c 'cat up.in >&7' || rc=$?
[ "$rc" -eq 0 ] || fail "upload client exit status $rc"
for _ in $(seq 100); do [ -e up.out ] && break; sleep 0.1; done
[ -e up.out ] || fail "upload not stored"
[ "$(sha256sum < up.in)" = "$(sha256sum < up.out)" ] || fail "upload differs"
stop_server
echo "upload OK"

# --- SIGTERM during a connection: no new clients, the running one finishes byte-exact,
# then the server exits 0 by itself (curvecp-serve(1), SIGNALS) --------------------------
start_server sh -c 'echo started; while [ ! -e go ]; do sleep 0.05; done; cat down.in'
timeout 40 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" curvecpmessage -c sh -c 'cat <&6 > drain.out' &
CLIENT=$!
for _ in $(seq 200); do grep -q started drain.out 2>/dev/null && break; sleep 0.05; done
grep -q started drain.out || fail "drain: program output did not arrive"
kill -TERM "$SERVER"
wait_finishing
kill -0 "$SERVER" 2>/dev/null || fail "drain: server exited with a connection still running"
touch go
rc=0
wait "$CLIENT" || rc=$?
CLIENT=""
[ "$rc" -eq 0 ] || fail "drain: client exit status $rc"
[ "$( (echo started; cat down.in) | sha256sum)" = "$(sha256sum < drain.out)" ] || fail "drain: the data differs"
for _ in $(seq 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVER" 2>/dev/null && fail "drain: server still running 15 s after its last connection finished"
rc=0
wait "$SERVER" || rc=$?
SERVER=""
[ "$rc" -eq 0 ] || fail "drain: server exit status $rc, expected 0"
check_log
rm -f go
echo "SIGTERM drain OK"

# --- SIGTERM with a connection running keeps serving it; a second SIGTERM exits at once
start_server sh -c 'echo started; exec sleep 60'
timeout 20 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" curvecpmessage -c sh -c 'cat <&6' > running.out 2>/dev/null &
CLIENT=$!
for _ in $(seq 100); do grep -q started running.out 2>/dev/null && break; sleep 0.05; done
grep -q started running.out || fail "program output did not arrive"
# The program execs sleep right after its first line: wait (bounded) until it has.
SLEEPER=""
for _ in $(seq 100); do SLEEPER=$(pgrep -P "$SERVER" -x sleep || true); [ -n "$SLEEPER" ] && break; sleep 0.05; done
[ -n "$SLEEPER" ] || fail "the connection's program (sleep) was not found among the server's children"
kill -TERM "$SERVER"
wait_finishing
kill -0 "$SERVER" 2>/dev/null || fail "server exited with a connection still running"
kill -TERM "$SERVER"
for _ in $(seq 40); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVER" 2>/dev/null && fail "server still running after a second SIGTERM"
rc=0
wait "$SERVER" || rc=$?
SERVER=""
[ "$rc" -eq 0 ] || fail "server exit status $rc after a second SIGTERM"
check_log
for _ in $(seq 40); do kill -0 "$SLEEPER" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SLEEPER" 2>/dev/null && { kill -9 "$SLEEPER"; fail "the program was left running"; }
kill "$CLIENT" 2>/dev/null || true
wait "$CLIENT" 2>/dev/null || true
CLIENT=""
echo "double SIGTERM OK"

# --- a key directory whose nonce key is gone: the first Hello is a nonce-generation
# disaster; with no connection running the server exits 111 at once ------------------
start_server cat
rm -f serverkey/.expertsonly/noncekey
# The client keeps sending Hellos (1 s apart, then further) until the server is gone.
timeout 20 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" curvecpmessage -c true >/dev/null 2>&1 &
CLIENT=$!
for _ in $(seq 300); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
kill "$CLIENT" 2>/dev/null || true
wait "$CLIENT" 2>/dev/null || true
CLIENT=""
kill -0 "$SERVER" 2>/dev/null && fail "server still running 15 s after the client's first Hello with the nonce key gone"
rc=0
wait "$SERVER" || rc=$?
SERVER=""
[ "$rc" -eq 111 ] || fail "server exit status $rc after a nonce-generation disaster, expected 111"
grep -q 'nonce-generation disaster' server.log || fail "no nonce-generation disaster message"
check_log
echo "nonce disaster OK"
