#!/bin/bash
# Port forwarding (curvecp-serve(1) --forward, curvecp-connect(1) --listen) with real
# services from Debian, on loopback only:
#   ssh     OpenSSH's sshd, run by the test on a loopback port with its own host key,
#           config and authorized_keys, reached with ssh through `connect --listen` and
#           `serve --forward`: SIZE bytes up ('cat > f') and down ('cat f'), sha256 equal.
#   http    python3 -m http.server behind a second pair, fetched with curl: byte-exact.
#   half    a client that sends, then shuts down its write side, still gets the whole
#           reply (forward_peers.py echo: the service answers only after the FIN), and
#           8 such clients at once through one --listen.
#           A TCP client over --max-forwards is reset at once.
#   refused a --forward target with no listener: the TCP client in front of --listen
#           sees a reset (never a clean end), the server logs "connection refused".
#   killed  `connect --listen` stopped by SIGTERM, and another killed by SIGKILL (the
#           server then notices by its idle timeout): the service's TCP connection is
#           reset both times, never ended cleanly.
#   admin   the allow list (a listed key gets its priority and label, an unlisted one is
#           refused and its TCP client reset) and the control sockets of both daemons
#           (curvecp status, curvecp ctl) work for forwarded connections.
# Every daemon's exit status is checked.
#
# usage: forward.sh CURVECP_BINARY [SIZE]
set -euo pipefail
CURVECP=$1
SIZE=${2:-4194304}
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
PEERS="$(readlink -f "$(dirname "$0")")/forward_peers.py"
for tool in /usr/sbin/sshd ssh ssh-keygen curl python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh: openssh-server, openssh-client, curl, python3)"
done
cd "$WORK"

KEY_IMPL=ours make_key "$WORK/serverkey"
SKEY=$(cat "$WORK/serverkey.hex")

# A TCP port on 127.0.0.1 free right now (sshd cannot be told to pick one and say so).
free_tcp_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_forward NAME TARGET [FLAGS...]: `serve --forward TARGET`; sets FWD_PID, FWD_PORT.
start_forward() {
  local name=$1 target=$2
  shift 2
  local control=(--control none)
  [[ " $* " != *" --control "* ]] || control=()
  bg "$name" "$CURVECP" serve -v "${control[@]}" --name "$SNAME" --key "$WORK/serverkey" --ext "$EXT" "$@" \
    --forward "$target" 127.0.0.1 0
  FWD_PID=$BG_PID
  wait_log_line "$WORK/$name.log" 'listening on ' 10 "$FWD_PID" || fail "$name did not start listening"
  FWD_PORT=$(listening_port "$WORK/$name.log")
}

# start_listen NAME SERVER_PORT [FLAGS...]: `connect --listen 127.0.0.1:0`; sets
# LISTEN_PID and LISTEN_PORT (from its "listening on IP:PORT, forwarding to" line).
start_listen() {
  local name=$1 port=$2
  shift 2
  local control=(--control none)
  [[ " $* " != *" --control "* ]] || control=()
  bg "$name" "$CURVECP" connect "${control[@]}" --name "$SNAME" --server-key "$SKEY" --ext "$EXT" "$@" \
    --listen 127.0.0.1:0 127.0.0.1 "$port"
  LISTEN_PID=$BG_PID
  wait_log_line "$WORK/$name.log" 'listening on ' 10 "$LISTEN_PID" || fail "$name did not start listening"
  LISTEN_PORT=$(sed -n 's/^.*listening on [0-9.]*:\([0-9]*\),.*$/\1/p' "$WORK/$name.log" | head -n 1)
  [[ -n "$LISTEN_PORT" ]] || fail "no port in $name's 'listening on' line"
}

# stop_pid NAME PID STATUS: SIGTERM, then the exit status must be STATUS.
stop_pid() {
  local rc=0
  kill -TERM "$2" 2>/dev/null || true
  timeout 30 tail --pid="$2" -f /dev/null || fail "$1 still running 30 s after SIGTERM"
  wait "$2" || rc=$?
  [[ "$rc" = "$3" ]] || fail "$1 exited $rc after SIGTERM, expected $3"
  note "$1 exited $rc after SIGTERM"
}

# --- ssh: sshd with everything of its own, in $WORK ---
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/userkey"
cp "$WORK/userkey.pub" "$WORK/authorized_keys"
# As root sshd wants its privilege-separation directory (the package makes it at boot).
[[ "$(id -u)" != 0 ]] || mkdir -p /run/sshd
for attempt in 1 2 3 4 5; do
  SSHD_PORT=$(free_tcp_port)
  cat >"$WORK/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $WORK/hostkey
AuthorizedKeysFile $WORK/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
EOF
  bg sshd /usr/sbin/sshd -D -e -f "$WORK/sshd_config"
  SSHD_PID=$BG_PID
  wait_log_line "$WORK/sshd.log" "Server listening on 127.0.0.1 port $SSHD_PORT" 10 "$SSHD_PID" && break
  note "sshd did not start on port $SSHD_PORT (attempt $attempt): $(tail -n 1 "$WORK/sshd.log")"
  kill -KILL "$SSHD_PID" 2>/dev/null || true
  SSHD_PID=
done
[[ -n "$SSHD_PID" ]] || fail "sshd did not start in 5 attempts"

start_forward server "127.0.0.1:$SSHD_PORT"
SSH_SERVER_PID=$FWD_PID
start_listen listen "$FWD_PORT"
SSH_LISTEN_PID=$LISTEN_PID
SSH_LISTEN_PORT=$LISTEN_PORT
note "sshd on $SSHD_PORT, serve --forward on UDP $FWD_PORT, connect --listen on $SSH_LISTEN_PORT"

ssh_cmd() {
  timeout "$(time_left)" ssh -F /dev/null -p "$SSH_LISTEN_PORT" -i "$WORK/userkey" -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile="$WORK/known_hosts" -o LogLevel=ERROR \
    "$(id -un)@127.0.0.1" "$@"
}
head -c "$SIZE" /dev/urandom >"$WORK/up.bin"
ssh_cmd "cat > '$WORK/remote-up.bin'" <"$WORK/up.bin" || fail "ssh upload through the forward failed"
[[ "$(sha_of "$WORK/remote-up.bin")" = "$(sha_of "$WORK/up.bin")" ]] || fail "ssh upload differs"
head -c "$SIZE" /dev/urandom >"$WORK/remote-down.bin"
ssh_cmd "cat '$WORK/remote-down.bin'" </dev/null >"$WORK/down.bin" || fail "ssh download through the forward failed"
[[ "$(sha_of "$WORK/down.bin")" = "$(sha_of "$WORK/remote-down.bin")" ]] || fail "ssh download differs"
note "ssh: $SIZE bytes up and $SIZE bytes down through the forward, sha256 equal"
wait_log_line "$WORK/listen.log" "#2 ended \(finished\) from=.* sent=[0-9]+ received=[0-9]{7,} " 20 ||
  fail "connect --listen logged no clean end (with its byte counts) for the download"
wait_log_line "$WORK/server.log" "#2 ended \(finished\)" 20 || fail "serve logged no clean end for the download"

# --- http: python's http.server behind a second pair ---
mkdir "$WORK/www"
head -c "$SIZE" /dev/urandom >"$WORK/www/file.bin"
for attempt in 1 2 3 4 5; do
  HTTP_PORT=$(free_tcp_port)
  bg http python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$HTTP_PORT"
  HTTP_PID=$BG_PID
  wait_log_line "$WORK/http.log" "Serving HTTP" 10 "$HTTP_PID" && break
  kill -KILL "$HTTP_PID" 2>/dev/null || true
  HTTP_PID=
done
[[ -n "$HTTP_PID" ]] || fail "http.server did not start"
start_forward server-http "127.0.0.1:$HTTP_PORT"
HTTP_SERVER_PID=$FWD_PID
start_listen listen-http "$FWD_PORT"
HTTP_LISTEN_PID=$LISTEN_PID
timeout "$(time_left)" curl -sS --fail -o "$WORK/fetched.bin" "http://127.0.0.1:$LISTEN_PORT/file.bin" ||
  fail "curl through the forward failed"
[[ "$(sha_of "$WORK/fetched.bin")" = "$(sha_of "$WORK/www/file.bin")" ]] || fail "http fetch differs"
note "http: $SIZE bytes fetched with curl through the forward, sha256 equal"
stop_pid listen-http "$HTTP_LISTEN_PID" 0
stop_pid server-http "$HTTP_SERVER_PID" 0

# --- half-close and several clients at once, through one --listen ---
mkdir "$WORK/svc"
bg service python3 "$PEERS" service "$WORK/svc"
wait_for_file "$WORK/svc/port" 10 || fail "the test service did not start"
SVC_PORT=$(cat "$WORK/svc/port")
# Only alice's key is allowed, with a class and a label.
KEY_IMPL=ours make_key "$WORK/alice"
ALICE=$(cat "$WORK/alice.hex")
echo "$ALICE priority=background label=fwd" >"$WORK/svc.allow"
start_forward server-svc "127.0.0.1:$SVC_PORT" --idle-timeout 3 --keepalive 1 --allow "$WORK/svc.allow" \
  --control "$WORK/serve.sock"
SVC_SERVER_PID=$FWD_PID
SVC_UDP_PORT=$FWD_PORT
start_listen listen-svc "$SVC_UDP_PORT" --max-forwards 16 --key "$WORK/alice" --control "$WORK/listen.sock"
SVC_LISTEN_PID=$LISTEN_PID
timeout "$(time_left)" python3 "$PEERS" echo "$LISTEN_PORT" 1048576 1 || fail "half-close: reply not byte-exact"
pids=()
for i in 1 2 3 4 5 6 7 8; do
  timeout "$(time_left)" python3 "$PEERS" echo "$LISTEN_PORT" 262144 "$((i + 1))" >"$WORK/echo.$i.out" 2>&1 &
  pids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
  wait "${pids[$((i - 1))]}" || fail "concurrent client $i: $(cat "$WORK/echo.$i.out")"
done
note "8 clients at once through one --listen: all replies byte-exact"

# --- killed connect: the service's TCP connection is reset ---
timeout "$(time_left)" python3 "$PEERS" hold "$LISTEN_PORT" "$WORK/held.1" >"$WORK/hold.1.out" 2>&1 &
HOLD1=$!
wait_for_file "$WORK/held.1" 20 || fail "hold client 1 did not connect"
wait_log_line "$WORK/server-svc.log" "#10 start" 20 || fail "the held connection did not reach the server"
sleep 0.5
grep -qE "#1 start key=$ALICE from=[0-9.:]+ priority=background label=\"fwd\" forward=127.0.0.1:$SVC_PORT" \
  "$WORK/server-svc.log" || fail "the allow list's class and label are not in the forward's start line"
"$CURVECP" status --control "$WORK/listen.sock" >"$WORK/status-listen.out" 2>&1 ||
  fail "curvecp status on connect --listen: $(cat "$WORK/status-listen.out")"
grep -q "127.0.0.1:$SVC_UDP_PORT" "$WORK/status-listen.out" || fail "status of connect --listen lists no connection"
"$CURVECP" ctl --control "$WORK/listen.sock" --priority 5 10 >"$WORK/ctl.out" 2>&1 ||
  fail "curvecp ctl on connect --listen's connection 10: $(cat "$WORK/ctl.out")"
"$CURVECP" status --control "$WORK/serve.sock" >"$WORK/status-serve.out" 2>&1 ||
  fail "curvecp status on serve --forward: $(cat "$WORK/status-serve.out")"
grep -q "background" "$WORK/status-serve.out" || fail "serve's status does not show the allowed key's class"
note "allow list class and label, status and ctl on both sides: working for forwarded connections"
stop_pid listen-svc "$SVC_LISTEN_PID" 0
wait "$HOLD1" || true
[[ "$(cat "$WORK/hold.1.out")" = reset ]] || fail "TCP client of a stopped connect saw '$(cat "$WORK/hold.1.out")', not a reset"
wait_for_file "$WORK/svc/outcome.10" 20 || fail "the service never saw connection 10 end"
[[ "$(cat "$WORK/svc/outcome.10")" = reset ]] || fail "service saw '$(cat "$WORK/svc/outcome.10")' after connect was stopped, not a reset"
note "connect --listen stopped by SIGTERM: both TCP sides were reset"

# A key not in the allow list: refused, and its TCP client reset.
start_listen listen-anon "$SVC_UDP_PORT"
timeout "$(time_left)" python3 "$PEERS" expect-reset "$LISTEN_PORT" >"$WORK/anon.out" 2>&1 ||
  fail "a refused key's TCP client: $(cat "$WORK/anon.out")"
wait_log_line "$WORK/server-svc.log" "refused key=.*not in the allow list" 10 || fail "serve did not log the refused key"
stop_pid listen-anon "$LISTEN_PID" 0
note "a key not in the allow list: refused, its TCP client reset"

start_listen listen-svc2 "$SVC_UDP_PORT" --key "$WORK/alice" --max-forwards 1
timeout "$(time_left)" python3 "$PEERS" hold "$LISTEN_PORT" "$WORK/held.2" >"$WORK/hold.2.out" 2>&1 &
HOLD2=$!
wait_for_file "$WORK/held.2" 20 || fail "hold client 2 did not connect"
wait_log_line "$WORK/server-svc.log" "#11 start" 20 || fail "the second held connection did not reach the server"
sleep 0.5
# --max-forwards 1, and one is held: the next TCP client is reset at once, with a line.
timeout "$(time_left)" python3 "$PEERS" expect-reset "$LISTEN_PORT" >"$WORK/over.out" 2>&1 ||
  fail "a TCP client over --max-forwards: $(cat "$WORK/over.out")"
grep -q "refused: 1 forwarded connections already (--max-forwards)" "$WORK/listen-svc2.log" ||
  fail "connect --listen did not say why it reset the client over --max-forwards"
kill -KILL "$LISTEN_PID"
wait "$LISTEN_PID" 2>/dev/null || true
wait_for_file "$WORK/svc/outcome.11" "$(time_left)" || fail "the service never saw connection 11 end after connect was killed"
[[ "$(cat "$WORK/svc/outcome.11")" = reset ]] || fail "service saw '$(cat "$WORK/svc/outcome.11")' after connect was killed, not a reset"
wait "$HOLD2" || true
note "connect --listen killed by SIGKILL: the service's connection was reset (server idle timeout)"
stop_pid server-svc "$SVC_SERVER_PID" 0

# --- refused target: a failure, never a clean end ---
DEAD_PORT=$(free_tcp_port)
start_forward server-dead "127.0.0.1:$DEAD_PORT"
DEAD_SERVER_PID=$FWD_PID
start_listen listen-dead "$FWD_PORT"
timeout "$(time_left)" python3 "$PEERS" expect-reset "$LISTEN_PORT" >"$WORK/refused.out" 2>&1 ||
  fail "forward to a refused target: $(cat "$WORK/refused.out")"
wait_log_line "$WORK/server-dead.log" "connect to 127.0.0.1:$DEAD_PORT: connection refused" 10 ||
  fail "serve did not log the refused connect"
wait_log_line "$WORK/listen-dead.log" "#1 ended \((peer_failed|program_failed)\)" 10 ||
  fail "connect --listen did not log the failure"
note "refused target: the TCP client saw a reset; both daemons logged the failure"
stop_pid listen-dead "$LISTEN_PID" 0
stop_pid server-dead "$DEAD_SERVER_PID" 0

stop_pid listen "$SSH_LISTEN_PID" 0
stop_pid server "$SSH_SERVER_PID" 0
finish
