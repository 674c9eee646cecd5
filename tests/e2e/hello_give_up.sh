#!/bin/bash
# No server: the client sends its eight Hellos on the reference schedule (CURVECP.md 4.4,
# 49-98 s in all) and then gives up with exit 111 and "no response from server". A
# program is never started, since no Cookie ever came.
#
# usage: hello_give_up.sh CURVECP_BINARY
set -u
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK" || exit 1
KEY_IMPL=ours make_key "$WORK/serverkey"
PORT=$(free_udp_port)  # nothing listens here
client_cmd ours "$WORK/serverkey" "$PORT"
start=$(now_s)
timeout 130 "${CLIENT_CMD[@]}" sh -c "touch '$WORK/program-ran'" </dev/null >"$WORK/out" 2>"$WORK/err"
rc=$?
elapsed=$(awk -v a="$start" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }')
note "exit $rc after ${elapsed}s: $(cat "$WORK/err")"
[[ $rc -eq 111 ]] || fail "expected exit 111, got $rc"
grep -q 'no response from server' "$WORK/err" || fail "expected 'no response from server' on stderr"
[[ -e "$WORK/program-ran" ]] && fail "the program ran although no server answered"
# Eight waits of at least 1, 1.5, ... 17.09 s: giving up earlier means a short schedule.
awk -v e="$elapsed" 'BEGIN { exit !(e >= 49) }' || fail "gave up after ${elapsed}s, before the 49 s minimum of the schedule"
echo "PASS"
