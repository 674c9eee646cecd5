#!/bin/bash
# curvecp serve against the reference client (nacl-tools): a download with
# `curvecpmessage -c` and an upload with `curvecpmessage -C`, compared by sha256; the
# program's CURVECP* environment; SIGTERM after the connections ends the server with 0.
# Usage: serve_reference_test.sh PATH/TO/curvecp
set -u
CURVECP=$(realpath "$1")
EXT=31415926535897932384626433832795
NAME=this.machine.name

for tool in curvecpclient curvecpmessage curvecpmakekey curvecpprintkey; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool (nacl-tools) not installed"; exit 77; }
done

WORK=$(mktemp -d /tmp/curvecp-serve-test.XXXXXX)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill -9 "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
fail() { echo "FAIL: $*"; echo "--- server log"; cat server.log 2>/dev/null; exit 1; }

curvecpmakekey serverkey || fail "curvecpmakekey"
PK=$(curvecpprintkey serverkey) || fail "curvecpprintkey"

# Starts `curvecp serve` on a free port (port 0) and sets SERVER and PORT.
start_server() {
  "$CURVECP" serve -v --key serverkey --name "$NAME" --ext "$EXT" --idle-timeout 30 127.0.0.1 0 -- "$@" \
    2> server.log &
  SERVER=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/^curvecp serve: listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' server.log)
    [ -n "$PORT" ] && return 0
    sleep 0.05
  done
  fail "server did not start"
}

# Stops the server with SIGTERM and expects a graceful exit 0 within 30 s.
stop_server() {
  kill -TERM "$SERVER"
  for _ in $(seq 300); do
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$SERVER" 2>/dev/null && fail "server still running 30 s after SIGTERM"
  wait "$SERVER"
  local rc=$?
  SERVER=""
  [ "$rc" -eq 0 ] || fail "server exit status $rc after SIGTERM"
}

# --- download: the server's program sends a file -------------------------------------
head -c 1500000 /dev/urandom > down.in
start_server sh -c 'env | grep -E "^(PROTO|CURVECP)" | sort > env.out; cat down.in'
timeout 120 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" \
  curvecpmessage -c sh -c 'cat <&6 > down.out' || fail "download client exit status $?"
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
timeout 120 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" \
  curvecpmessage -C sh -c 'cat up.in >&7' || fail "upload client exit status $?"
for _ in $(seq 100); do [ -e up.out ] && break; sleep 0.1; done
[ -e up.out ] || fail "upload not stored"
[ "$(sha256sum < up.in)" = "$(sha256sum < up.out)" ] || fail "upload differs"
stop_server
echo "upload OK"

# --- SIGTERM with a connection running keeps serving it; a second SIGTERM exits at once
start_server sh -c 'echo started; exec sleep 60'
timeout 20 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" curvecpmessage -c sh -c 'cat <&6' > running.out 2>/dev/null &
CLIENT=$!
for _ in $(seq 100); do grep -q started running.out 2>/dev/null && break; sleep 0.05; done
grep -q started running.out || fail "program output did not arrive"
SLEEPER=$(pgrep -P "$SERVER" sleep)
kill -TERM "$SERVER"
sleep 0.5
kill -0 "$SERVER" 2>/dev/null || fail "server exited with a connection still running"
kill -TERM "$SERVER"
for _ in $(seq 40); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVER" 2>/dev/null && fail "server still running after a second SIGTERM"
wait "$SERVER"
rc=$?
SERVER=""
[ "$rc" -eq 0 ] || fail "server exit status $rc after a second SIGTERM"
if [ -n "$SLEEPER" ]; then
  for _ in $(seq 40); do kill -0 "$SLEEPER" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$SLEEPER" 2>/dev/null && { kill -9 "$SLEEPER"; fail "the program was left running"; }
fi
kill "$CLIENT" 2>/dev/null
wait "$CLIENT" 2>/dev/null
echo "double SIGTERM OK"

# --- a key directory whose nonce key is gone: the first Hello is a nonce-generation
# disaster; with no connection running the server exits 111 at once ------------------
start_server cat
rm -f serverkey/.expertsonly/noncekey
timeout 3 curvecpclient "$NAME" "$PK" 127.0.0.1 "$PORT" "$EXT" curvecpmessage -c true >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SERVER" 2>/dev/null && fail "server still running after a nonce-generation disaster"
wait "$SERVER"
rc=$?
SERVER=""
[ "$rc" -eq 111 ] || fail "server exit status $rc after a nonce-generation disaster, expected 111"
grep -q 'nonce-generation disaster' server.log || fail "no nonce-generation disaster message"
echo "nonce disaster OK"
