#!/bin/bash
# --scheduler reference-chicago on the command line of both serve and connect (curvecp(1)):
# data moves byte-exact both ways (an upload answered by its sha256, and a download).
# Then chicago with CURVECP_CC_TRACE on the client: the trace file gets its decisions
# (docs/NETLAB.md), the data still arrives, and an unwritable trace path is one warning.
#
# usage: scheduler_option.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
head -c 4194304 /dev/urandom >"$WORK/data"
want=$(sha_of "$WORK/data")
# reference-chicago is the reference's controller, faithfully: on a busy host its rate
# collapses to a few hundred kB/s (timeouts double its per-block interval; its recovery
# takes seconds per step), so it moves 1 MiB here: what is checked is that the option is
# honoured and the data arrives, not how fast.
head -c 1048576 "$WORK/data" >"$WORK/data-ref"
want_ref=$(sha_of "$WORK/data-ref")

SERVER_FLAGS="--scheduler reference-chicago" start_server ours "$WORK/serverkey" \
  sh -c "if read -r what && [ \"\$what\" = down ]; then exec cat '$WORK/data-ref'; else exec sha256sum; fi"
CLIENT_FLAGS="--scheduler reference-chicago" client_cmd ours "$WORK/serverkey" "$PORT"
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'  # netcat mode

rc=0
{ echo up; cat "$WORK/data-ref"; } | timeout $(( ($(time_left) - 25) / 2 )) "${CLIENT_CMD[@]}" >"$WORK/reply" 2>"$WORK/client-up.log" || rc=$?
[[ $rc -eq 0 ]] || fail "upload: client exited $rc"
# The server's program read "up\n" first, then hashed the rest.
[[ "$(cut -d' ' -f1 <"$WORK/reply")" = "$want_ref" ]] || fail "upload: sha256 differs: sent $want_ref, server saw '$(cat "$WORK/reply")'"
note "upload of 1 MiB with reference-chicago both ends: sha256 matches"

rc=0
echo down | timeout $(( $(time_left) - 25 )) "${CLIENT_CMD[@]}" >"$WORK/down" 2>"$WORK/client-down.log" || rc=$?
[[ $rc -eq 0 ]] || fail "download: client exited $rc"
[[ "$(sha_of "$WORK/down")" = "$want_ref" ]] || fail "download: sha256 differs ($(stat -c %s "$WORK/down") of 1048576 bytes)"
note "download of 1 MiB with reference-chicago both ends: sha256 matches"
stop_server

start_server ours "$WORK/serverkey" sha256sum
client_cmd ours "$WORK/serverkey" "$PORT"
unset 'CLIENT_CMD[${#CLIENT_CMD[@]}-1]'  # netcat mode
rc=0
CURVECP_CC_TRACE="$WORK/trace-%p.txt" timeout $(( $(time_left) - 20 )) "${CLIENT_CMD[@]}" <"$WORK/data" >"$WORK/reply" \
  2>"$WORK/client-trace.log" || rc=$?
[[ $rc -eq 0 ]] || fail "traced upload: client exited $rc"
[[ "$(cut -d' ' -f1 <"$WORK/reply")" = "$want" ]] || fail "traced upload: sha256 differs"
trace=$(ls "$WORK"/trace-*.txt 2>/dev/null | head -n 1)
[[ -n $trace && $trace != *%p* ]] || fail "CURVECP_CC_TRACE: no trace file with the process id in its name"
grep -q '^[0-9.]* chicago round mode=[0-3] rate=' "$trace" || fail "trace has no per-round state"
note "CURVECP_CC_TRACE: $(wc -l <"$trace") lines of chicago decisions, upload byte-exact"
rc=0
CURVECP_CC_TRACE=/nonexistent-dir/trace timeout 20 "${CLIENT_CMD[@]}" </dev/null >/dev/null 2>"$WORK/client-badtrace.log" || rc=$?
[[ $rc -eq 0 ]] || fail "an unwritable CURVECP_CC_TRACE made the client fail ($rc)"
grep -q 'cannot open CURVECP_CC_TRACE file /nonexistent-dir/trace' "$WORK/client-badtrace.log" \
  || fail "no warning for an unwritable trace file: $(cat "$WORK/client-badtrace.log")"
stop_server
finish
