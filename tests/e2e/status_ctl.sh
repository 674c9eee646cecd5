#!/bin/bash
# The control socket through the binaries (curvecp-status(1), curvecp-ctl(1)): while a
# paced upload runs through serve and connect,
#   - `status --json` on serve's --control socket is exactly {"connections": [...]} with
#     every documented field, and the connection's byte count grows;
#   - serve --priority 3 is the connection's starting class; `ctl ID --priority
#     background` is seen in the next status;
#   - the server's program switches its own class with `ctl --priority normal` and no
#     ID or socket (CURVECPCONTROL, CURVECPCONNID); so does the client's program on
#     connect's --control socket (connect --priority background, then 4);
#   - the upload ends byte-exact (sha256), both sockets are mode 0600 and are removed;
#   - bad requests and commands get one line and a non-zero exit: an unknown id, a bad
#     class, nothing listening, a live socket taken by a second serve, raw garbage;
#   - a connect without --control gives its program a working default socket.
#
# usage: status_ctl.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
command -v python3 >/dev/null || fail "python3 is missing (scripts/install-deps.sh installs it)"
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
SSOCK=$WORK/serve.sock
CSOCK=$WORK/connect.sock

# The client's program: a paced writer (64 KiB every 50 ms) of known bytes on fd 7,
# until the file "stop" appears (at most 100 s); on "go-client" it switches its own
# connection's class with `curvecp ctl --priority 4` (socket and id from the environment).
cat >"$WORK/writer.py" <<'PY'
import hashlib, os, subprocess, sys, time
work, curvecp = sys.argv[1], sys.argv[2]
digest, switched, i = hashlib.sha256(), False, 0
end = time.monotonic() + 100
while time.monotonic() < end and not os.path.exists(work + "/stop"):
    if not switched and os.path.exists(work + "/go-client"):
        r = subprocess.run([curvecp, "ctl", "--priority", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with open(work + "/client-ctl.result", "w") as f:
            f.write("%d %r %r\n" % (r.returncode, r.stdout, r.stderr))
        switched = True
    block = hashlib.sha256(str(i).encode()).digest() * 2048
    view = memoryview(block)
    while view:
        view = view[os.write(7, view):]
    digest.update(block)
    i += 1
    time.sleep(0.05)
os.close(7)
with open(work + "/sent.sha256", "w") as f:
    f.write(digest.hexdigest())
PY

# status_json SOCKET OUT: `status --json` into OUT, checked for the exact documented shape.
status_json() {
  local rc=0
  timeout 20 "$CURVECP" status --control "$1" --json >"$2" 2>"$WORK/status.err" || rc=$?
  [[ $rc -eq 0 ]] || fail "status --control $1 exited $rc: $(cat "$WORK/status.err")"
  python3 - "$2" <<'PY' || fail "status --json output is not the documented shape: $(cat "$2")"
import json, sys
d = json.load(open(sys.argv[1]))
assert list(d.keys()) == ["connections"], d.keys()
want = ["id", "peer_key", "address", "priority", "bytes_sent", "bytes_received", "rate_bps",
        "rtt_ms", "loss", "retransmissions", "age_s"]
for c in d["connections"]:
    assert all(k in c for k in want), c
    assert isinstance(c["id"], int) and isinstance(c["peer_key"], str) and len(c["peer_key"]) == 64
    assert all(isinstance(c[k], int) for k in ["bytes_sent", "bytes_received", "rate_bps", "retransmissions"])
    assert all(isinstance(c[k], (int, float)) for k in ["rtt_ms", "loss", "age_s"])
    assert 0 <= c["loss"] <= 1
PY
}
# field FILE NAME: NAME of the only connection in a status --json FILE.
field() {
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["connections"]; assert len(c)==1, c; print(c[0][sys.argv[2]])' "$1" "$2" ||
    fail "no single connection in $(cat "$1")"
}
# wait_priority SOCKET CLASS: until the connection's class is CLASS (at most 20 s).
wait_priority() {
  local i
  for (( i = 0; i < 40; i++ )); do
    status_json "$1" "$WORK/wait.json"
    [[ "$(field "$WORK/wait.json" priority)" = "$2" ]] && return 0
    sleep 0.5
  done
  fail "priority on $1 never became $2: $(cat "$WORK/wait.json")"
}
# one_line_failure WANT_RC WHAT CMD...: CMD exits WANT_RC with exactly one stderr line.
one_line_failure() {
  local want=$1 what=$2 rc=0
  shift 2
  timeout 20 "$@" >"$WORK/fail.out" 2>"$WORK/fail.err" || rc=$?
  [[ $rc -eq $want ]] || fail "$what: exit $rc, expected $want (stderr: $(cat "$WORK/fail.err"))"
  [[ $(wc -l <"$WORK/fail.err") -eq 1 ]] || fail "$what: expected one line on stderr, got: $(cat "$WORK/fail.err")"
  [[ ! -s "$WORK/fail.out" ]] || fail "$what: printed on stdout: $(cat "$WORK/fail.out")"
  note "$what: $(cat "$WORK/fail.err")"
}

# The server's program stores the upload; on "go-server" it switches its own class.
SERVER_FLAGS="--control $SSOCK --priority 3" start_server ours "$WORK/serverkey" sh -c "
  ( i=0; while [ ! -e '$WORK/go-server' ] && [ \$i -lt 900 ]; do sleep 0.1; i=\$((i + 1)); done
    [ -e '$WORK/go-server' ] && '$CURVECP' ctl --priority normal 2>'$WORK/server-ctl.err' >'$WORK/server-ctl.out'; echo \$? >'$WORK/server-ctl.rc'
  ) </dev/null >/dev/null &
  cat >'$WORK/received'; wait"
grep -q "control socket $SSOCK" "$WORK/server.log" || fail "serve -v did not name its control socket"
[[ "$(stat -c %a "$SSOCK")" = 600 ]] || fail "serve's socket has mode $(stat -c %a "$SSOCK"), expected 600"

CLIENT_FLAGS="--control $CSOCK --priority background" client_cmd ours "$WORK/serverkey" "$PORT"
bg client "${CLIENT_CMD[@]}" python3 "$WORK/writer.py" "$WORK" "$CURVECP"
CLIENT_PID=$BG_PID

# The connection appears, starts in serve's --priority, and its byte count grows.
for (( i = 0; i < 100; i++ )); do
  status_json "$SSOCK" "$WORK/s1.json"
  grep -q '"id"' "$WORK/s1.json" && [[ $(field "$WORK/s1.json" bytes_received) -gt 0 ]] && break
  kill -0 "$CLIENT_PID" 2>/dev/null || fail "connect ended early"
  sleep 0.2
done
ID=$(field "$WORK/s1.json" id)
b1=$(field "$WORK/s1.json" bytes_received)
[[ $b1 -gt 0 ]] || fail "no bytes received after 20 s: $(cat "$WORK/s1.json")"
[[ "$(field "$WORK/s1.json" priority)" = 3 ]] || fail "serve --priority 3 not the starting class: $(cat "$WORK/s1.json")"
[[ "$(field "$WORK/s1.json" address)" = 127.0.0.1:* ]] || fail "address: $(cat "$WORK/s1.json")"
sleep 1
status_json "$SSOCK" "$WORK/s2.json"
b2=$(field "$WORK/s2.json" bytes_received)
[[ $b2 -gt $b1 ]] || fail "bytes_received did not grow: $b1 then $b2"
note "connection $ID: bytes_received $b1 then $b2; $(cat "$WORK/s2.json")"
timeout 20 "$CURVECP" status --control "$SSOCK" >"$WORK/table" || fail "status (table) failed"
grep -qE '^ *ID +PEER +ADDRESS +PRIORITY' "$WORK/table" || fail "no table header: $(cat "$WORK/table")"
note "status table: $(tail -n 1 "$WORK/table")"

# ctl by id, then the server's program by itself.
rc=0
timeout 20 "$CURVECP" ctl --control "$SSOCK" "$ID" --priority background >"$WORK/ctl.out" 2>"$WORK/ctl.err" || rc=$?
[[ $rc -eq 0 && ! -s "$WORK/ctl.out" && ! -s "$WORK/ctl.err" ]] || fail "ctl $ID exited $rc: $(cat "$WORK/ctl.out" "$WORK/ctl.err")"
status_json "$SSOCK" "$WORK/s3.json"
[[ "$(field "$WORK/s3.json" priority)" = background ]] || fail "ctl background not seen in the next status: $(cat "$WORK/s3.json")"
note "ctl $ID --priority background: next status shows background"
touch "$WORK/go-server"
wait_for_file "$WORK/server-ctl.rc" 20 || fail "the server's program did not run ctl"
[[ "$(cat "$WORK/server-ctl.rc")" = 0 ]] || fail "ctl in the server's program exited $(cat "$WORK/server-ctl.rc"): $(cat "$WORK/server-ctl.err")"
[[ ! -s "$WORK/server-ctl.out" ]] || fail "ctl printed on stdout: $(cat "$WORK/server-ctl.out")"
wait_priority "$SSOCK" normal
note "the server's program switched itself to normal (CURVECPCONTROL, CURVECPCONNID)"

# connect's own socket: one connection, id 1, its --priority, then the program's switch.
[[ "$(stat -c %a "$CSOCK")" = 600 ]] || fail "connect's socket has mode $(stat -c %a "$CSOCK"), expected 600"
status_json "$CSOCK" "$WORK/c1.json"
[[ "$(field "$WORK/c1.json" id)" = 1 && "$(field "$WORK/c1.json" priority)" = background ]] ||
  fail "connect's status: $(cat "$WORK/c1.json")"
[[ "$(field "$WORK/c1.json" peer_key)" = "$(cat "$WORK/serverkey.hex")" ]] || fail "connect's peer_key is not the server's key"
touch "$WORK/go-client"
wait_priority "$CSOCK" 4
grep -q '^0 ' "$WORK/client-ctl.result" || fail "ctl in the client's program: $(cat "$WORK/client-ctl.result")"
note "the client's program switched itself to 4; connect status: $(cat "$WORK/wait.json")"

# Errors: one line each, non-zero.
one_line_failure 111 "ctl with an unknown id" "$CURVECP" ctl --control "$SSOCK" 999 --priority normal
grep -q "no connection 999" "$WORK/fail.err" || fail "unknown id not named"
one_line_failure 100 "ctl with a bad class" "$CURVECP" ctl --control "$SSOCK" "$ID" --priority fast
grep -q "background, normal or a number N" "$WORK/fail.err" || fail "accepted forms not named"
one_line_failure 100 "ctl with weight 0.5" "$CURVECP" ctl --control "$SSOCK" "$ID" --priority 0.5
one_line_failure 100 "ctl with no id and no CURVECPCONNID" env -u CURVECPCONNID "$CURVECP" ctl --control "$SSOCK" --priority normal
one_line_failure 111 "status with nothing listening" "$CURVECP" status --control "$WORK/nothing.sock"
grep -q "no daemon is listening" "$WORK/fail.err" || fail "nothing listening not said"
one_line_failure 111 "ctl with nothing listening" "$CURVECP" ctl --control "$WORK/nothing.sock" 1 --priority normal
one_line_failure 100 "serve with a bad --priority" "$CURVECP" serve --key "$WORK/serverkey" --name "$SNAME" --priority x 127.0.0.1 0 -- cat
one_line_failure 100 "connect with a bad --priority" "$CURVECP" connect --name "$SNAME" --server-key "$(cat "$WORK/serverkey.hex")" --priority 101 127.0.0.1 "$PORT"
one_line_failure 111 "a second serve on a live socket" "$CURVECP" serve --key "$WORK/serverkey" --name "$SNAME" --control "$SSOCK" 127.0.0.1 0 -- cat
grep -q "another daemon is answering" "$WORK/fail.err" || fail "live socket not explained"
python3 - "$SSOCK" <<'PY' || fail "raw protocol errors not answered as documented"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rwb")
for req, want in [(b"bogus\n", "unknown request"), (b"priority 1\n", "usage: priority"),
                  (b"priority 1 urgent\n", "bad priority"), (b"x" * 300 + b"\n", "too long")]:
    f.write(req); f.flush()
    reply = json.loads(f.readline())
    assert want in reply["error"], (req, reply)
PY
status_json "$SSOCK" "$WORK/s4.json"  # the daemon is unharmed
note "bad requests answered with errors; the daemon still serves status"

# The end: byte-exact, sockets removed.
touch "$WORK/stop"
rc=0
for (( i = 0; i < 300; i++ )); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$CLIENT_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "connect exited $rc"
[[ "$(sha_of "$WORK/received")" = "$(cat "$WORK/sent.sha256")" ]] ||
  fail "upload differs: sent $(cat "$WORK/sent.sha256"), received $(sha_of "$WORK/received") ($(stat -c %s "$WORK/received") bytes)"
note "upload of $(stat -c %s "$WORK/received") bytes through four class changes: sha256 matches"
[[ ! -e "$CSOCK" ]] || fail "connect left its socket behind"

# connect without --control: its program gets the default socket, which answers.
CLIENT_FLAGS="" client_cmd ours "$WORK/serverkey" "$PORT"
rc=0
timeout 20 "${CLIENT_CMD[@]}" sh -c "echo \"\$CURVECPCONTROL\" >'$WORK/default-path'
  '$CURVECP' status --json >'$WORK/own.json' 2>'$WORK/own.err'; echo \$? >'$WORK/own.rc'; exec 7>&-" \
  </dev/null >/dev/null 2>"$WORK/client-default.log" || rc=$?
[[ $rc -eq 0 ]] || fail "connect with the default socket exited $rc"
dpath=$(cat "$WORK/default-path")
[[ "$dpath" = */curvecp/connect.*.sock ]] || fail "default CURVECPCONTROL is '$dpath'"
[[ "$(cat "$WORK/own.rc")" = 0 ]] || fail "status from the program on $dpath failed: $(cat "$WORK/own.err")"
[[ "$(field "$WORK/own.json" id)" = 1 ]] || fail "own status: $(cat "$WORK/own.json")"
[[ ! -e "$dpath" ]] || fail "connect left its default socket $dpath behind"
note "connect's default socket $dpath answered its program and was removed"

stop_server
[[ ! -e "$SSOCK" ]] || fail "serve left its socket behind"
finish
