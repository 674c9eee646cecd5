#!/bin/bash
# A server that never answers: the client keeps sending Hellos, further and further apart
# (CURVECP.md 4.4), then gives up after its handshake --timeout with exit 111 and "no
# answer from ADDR within N s" naming the likely causes. A program is never started,
# since no Cookie ever came.
#
# A silent listener on loopback (python3) counts the Hellos it receives: 224-byte
# datagrams starting with the Hello magic "QvnQ5XlH" (CURVECP.md 2.2). The exact number
# and the reference's timing are not asserted (the give-up time may be an option); at
# least two Hellos with growing gaps are.
#
# usage: hello_give_up.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
command -v python3 >/dev/null || fail "python3 (for the silent listener) is missing"
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"

cat >"$WORK/listener.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
start = time.monotonic()
while True:
    data, peer = s.recvfrom(4096)
    kind = "hello" if len(data) == 224 and data[:8] == b"QvnQ5XlH" else "other"
    print("%s %.3f %d" % (kind, time.monotonic() - start, len(data)), flush=True)
PY
bg listener python3 "$WORK/listener.py"
LISTENER_PID=$BG_PID
wait_log_line "$WORK/listener.log" 'listening on ' 10 "$LISTENER_PID" || fail "the silent listener did not start"
PORT=$(listening_port "$WORK/listener.log")

# The lead may replace the reference schedule (8 Hellos, 49-98 s) by a --timeout option.
connect_help=$("$CURVECP" connect --help 2>&1 || true)
if grep -qE -- '(^|[[:space:],])--timeout([[:space:]=]|$)' <<<"$connect_help"; then
  CLIENT_FLAGS="--timeout 5"
  note "connect has --timeout: giving up after 5 s"
fi
client_cmd ours "$WORK/serverkey" "$PORT"
start=$(now_s)
LIMIT=$(( $(time_left) - 5 ))  # covers the reference's 98 s maximum (ctest TIMEOUT 125)
rc=0
timeout "$LIMIT" "${CLIENT_CMD[@]}" sh -c "touch '$WORK/program-ran'" </dev/null >"$WORK/out" 2>"$WORK/client.log" || rc=$?
elapsed=$(awk -v a="$start" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
kill -TERM "$LISTENER_PID" 2>/dev/null || true
wait "$LISTENER_PID" 2>/dev/null || true
hellos=$(grep -c '^hello ' "$WORK/listener.log" || true)
note "exit $rc after ${elapsed}s, $hellos Hellos at $(awk '/^hello / { printf "%s ", $2 }' "$WORK/listener.log")s: $(cat "$WORK/client.log")"
[[ $rc -ne 124 ]] || fail "the client was still sending Hellos after ${LIMIT}s"
[[ $rc -eq 111 ]] || fail "expected exit 111, got $rc"
[[ $(wc -l <"$WORK/client.log") -eq 1 ]] || fail "expected one line on stderr"
grep -q "no answer from 127.0.0.1:$PORT within 5 s" "$WORK/client.log" || fail "expected 'no answer from 127.0.0.1:$PORT within 5 s' on stderr"
grep -q -- '--server-key' "$WORK/client.log" || fail "the message does not name the likely causes"
[[ ! -e "$WORK/program-ran" ]] || fail "the program ran although no server answered"
[[ ! -s "$WORK/out" ]] || fail "unexpected output on stdout"
! grep -q '^other ' "$WORK/listener.log" || fail "the client sent something other than 224-byte Hellos"
(( hellos >= 2 )) || fail "only $hellos Hello(s) arrived before the client gave up"
# Back-off: each wait is 1.5^i s scaled by a random factor in [1, 2) (CURVECP.md 4.4), so
# one gap may be shorter than the one before, but every gap is longer than the gap two
# before it (1.5^2 > 2), and no gap is shorter than the first wait's 1 s minimum.
awk '/^hello / { t[n++] = $2 }
     END { for (i = 1; i < n; i++) g[i] = t[i] - t[i-1]
           for (i = 1; i < n; i++) if (g[i] < 0.9) { print "gap " i " is " g[i] " s"; exit 1 }
           for (i = 3; i < n; i++) if (g[i] <= g[i-2]) { print "gap " i " not longer than gap " i-2; exit 1 } }' \
  "$WORK/listener.log" >"$WORK/gaps.out" || fail "the gaps between Hellos do not grow: $(cat "$WORK/gaps.out")"
finish
