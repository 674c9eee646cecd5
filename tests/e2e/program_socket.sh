#!/bin/bash
# serve --program-socket: the program gets one Unix stream socket on fds 0 and 1 (as under
# tcpserver) instead of two pipes, so the daemon holds one descriptor per connection.
#   echo      2 MiB through cat, byte-exact both ways
#   peer EOF  the client's EOF reaches the program as end of input (shutdown SHUT_WR on
#             the daemon's end); the program answers after it (sha256sum)
#   our EOF   the program closes fd 1 alone (nothing ends), then ends its output with
#             shutdown(SHUT_WR) while still reading: the client sees EOF, writes after
#             it, and the program receives that (half-close the other way)
#   failure   a program that exits 3 with unread input: the client exits 111
#   fds       connections held open cost the daemon one descriptor each
#   limit     --max-connections is checked against one descriptor per connection
#
# usage: program_socket.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
command -v python3 >/dev/null || fail "python3 is missing (scripts/install-deps.sh)"
HELPER="$(readlink -f "$(dirname "$0")")/socket_program.py"
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
head -c 2097152 /dev/urandom >"$WORK/data"

# client NAME [PROGRAM...]: one client, stdin from $WORK/data; exit status in $WORK/rc.NAME.
client() {
  local name=$1 rc=0
  shift
  client_cmd ours "$WORK/serverkey" "$PORT"
  timeout "$(( $(time_left) - 10 ))" "${CLIENT_CMD[@]}" "$@" <"$WORK/data" >"$WORK/out.$name" \
    2>"$WORK/client.$name.log" || rc=$?
  echo "$rc" >"$WORK/rc.$name"
  note "$name: client exit $rc"
}

# --- echo, peer EOF ---
SERVER_FLAGS="--program-socket" start_server ours "$WORK/serverkey" cat
client echo
[[ "$(cat "$WORK/rc.echo")" = 0 ]] || fail "echo: client exited $(cat "$WORK/rc.echo")"
[[ "$(sha_of "$WORK/out.echo")" = "$(sha_of "$WORK/data")" ]] || fail "echo: $(stat -c %s "$WORK/out.echo") bytes differ"
stop_server 0 30

SERVER_FLAGS="--program-socket" start_server ours "$WORK/serverkey" sha256sum
client peer_eof
[[ "$(cat "$WORK/rc.peer_eof")" = 0 ]] || fail "peer EOF: client exited $(cat "$WORK/rc.peer_eof")"
[[ "$(cut -d' ' -f1 "$WORK/out.peer_eof")" = "$(sha_of "$WORK/data")" ]] ||
  fail "peer EOF: the program's answer after end of input is wrong: $(cat "$WORK/out.peer_eof")"
note "the client's EOF reached the program as end of input; its answer came back after it"
stop_server 0 30

# --- our EOF while still reading ---
SERVER_FLAGS="--program-socket" start_server ours "$WORK/serverkey" python3 "$HELPER" hello "$WORK/after"
# The client program writes only once it has seen the server's EOF on fd 6.
client our_eof sh -c 'cat <&6; echo after-eof >&7'
[[ "$(cat "$WORK/rc.our_eof")" = 0 ]] || fail "our EOF: client exited $(cat "$WORK/rc.our_eof")"
[[ "$(cat "$WORK/out.our_eof")" = hello ]] || fail "our EOF: client got '$(cat "$WORK/out.our_eof")', expected hello"
wait_for_file "$WORK/after" 10 || fail "our EOF: the program never saw its input end"
[[ "$(cat "$WORK/after")" = after-eof ]] || fail "our EOF: the program read '$(cat "$WORK/after")' after its shutdown"
note "closing fd 1 alone ended nothing; shutdown(SHUT_WR) did, and input still arrived after it"
stop_server 0 30

# --- failure ---
SERVER_FLAGS="--program-socket" start_server ours "$WORK/serverkey" sh -c 'head -c 1000 >/dev/null; echo partial; exit 3'
client failure
[[ "$(cat "$WORK/rc.failure")" = 111 ]] || fail "failure: client exited $(cat "$WORK/rc.failure"), expected 111"
note "a failed program is a failure at the client: $(tail -n 1 "$WORK/client.failure.log")"

# --- one descriptor per held connection (the daemon has served a connection already,
# so everything made on first use exists) ---
sleep 1
base=$(ls "/proc/$SERVER_PID/fd" | wc -l)
hold_pids=()
for k in 1 2 3 4; do
  client_cmd ours "$WORK/serverkey" "$PORT"
  # Each holds its connection until the marker file appears.
  "${CLIENT_CMD[@]}" sh -c "while [ ! -e '$WORK/release' ]; do sleep 0.2; done" </dev/null >/dev/null \
    2>"$WORK/client.hold$k.log" &
  hold_pids+=($!)
done
fds=0
for (( i = 0; i < 200; i++ )); do
  programs=$( (ps -o pid= --ppid "$SERVER_PID" || true) | wc -l)
  fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
  (( programs == 4 && fds == base + 4 )) && break
  sleep 0.1
done
touch "$WORK/release"
for p in "${hold_pids[@]}"; do wait "$p" || true; done
(( fds == base + 4 )) || fail "fds: 4 held connections ($programs programs): daemon descriptors $base -> $fds, expected +4"
note "4 held connections: daemon descriptors $base -> $fds"
stop_server 0 30

# --- the descriptor limit counts one per connection ---
ulimit -n 700
rc=0
"$CURVECP" serve --name "$SNAME" --key "$WORK/serverkey" --max-connections 600 --control none 127.0.0.1 0 cat \
  >/dev/null 2>"$WORK/limit.log" || rc=$?
[[ $rc = 111 ]] && grep -q 'needs about 1264 descriptors' "$WORK/limit.log" ||
  fail "limit: pipes need 1264 descriptors, serve exited $rc: $(cat "$WORK/limit.log")"
SERVER_FLAGS="--program-socket --max-connections 600" start_server ours "$WORK/serverkey" cat
client limit
[[ "$(cat "$WORK/rc.limit")" = 0 ]] || fail "limit: client exited $(cat "$WORK/rc.limit")"
stop_server 0 30
finish
