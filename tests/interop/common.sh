# Shared helpers for the shell-level tests (tests/interop, tests/e2e). Sourced, not run;
# the sourcing script has `set -euo pipefail`.
#
# Every test gets its own scratch directory, starts each background process in its own
# process group (setsid) and, on exit, ends exactly those groups by id. Nothing here
# touches any address other than loopback.
#
# A daemon the test starts is ended by the test with stop_server, which requires its
# expected exit status; finish (or fail) then scans every log for sanitizer and runtime
# error reports, so a server that crashes after the data has arrived fails the test.
#
# Implementations: "ref" is the Debian nacl-tools reference (curvecpserver/curvecpclient
# wrapped around curvecpmessage, CURVECP.md 8); "ours" is the curvecp binary in $CURVECP.

set -euo pipefail

EXT=31415926535897932384626433832795
SNAME=this.machine.name
CURVECP=${CURVECP:-}
[[ -n "$CURVECP" ]] && CURVECP=$(readlink -f "$CURVECP")  # scripts cd into their scratch directory
SERVER_IP=${SERVER_IP:-127.0.0.1}  # ours only; the reference is IPv4-only (CURVECP.md 2.1)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/curvecp-test.XXXXXX")
declare -a GROUPS_STARTED=()
# Sanitizer and runtime-error reports (ASan, UBSan, LSan, TSan); any of them fails a test.
SANITIZER_PATTERN='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|SUMMARY: [A-Za-z]*Sanitizer|ThreadSanitizer|UndefinedBehaviorSanitizer|AddressSanitizer:DEADLYSIGNAL'

cleanup() {
  local pg
  trap - ERR
  set +e
  for pg in "${GROUPS_STARTED[@]}"; do
    kill -TERM -- "-$pg" 2>/dev/null
  done
  for pg in "${GROUPS_STARTED[@]}"; do
    kill -KILL -- "-$pg" 2>/dev/null
  done
  wait 2>/dev/null
  if [[ "${KEEP_WORK:-0}" = 1 ]]; then echo "scratch kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# fail REASON: one line, then the tail of every log of this test; exits 1.
fail() {
  trap - ERR
  echo "FAIL: $*" >&2
  local f
  for f in "$WORK"/*.log; do
    [[ -s "$f" ]] || continue
    echo "--- $(basename "$f") (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

note() { echo "# $*"; }

# A command that fails where no test expected it (set -e) still ends with a reason.
set -E
trap 'fail "unexpected exit status $? at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR

# A missing reference tool: exit 77 (ctest SKIP_RETURN_CODE) for users' builds, a failure
# when the build requires interop (CURVECP_REQUIRE_INTEROP=1, set by ctest).
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null && continue
    if [[ "${CURVECP_REQUIRE_INTEROP:-0}" = 1 ]]; then
      fail "$tool (Debian package nacl-tools) is missing and CURVECP_REQUIRE_INTEROP=1"
    fi
    echo "SKIP: $tool (Debian package nacl-tools) is not installed"
    exit 77
  done
}

# Seconds since the epoch with nanoseconds, for ordering events (never asserted as speed).
now_s() { date +%s.%N; }

# A UDP port on 127.0.0.1 that nothing is bound to right now (checks /proc/net/udp{,6}).
# Only for the reference curvecpserver, which cannot bind port 0: start_server retries
# the whole start when another process takes the port first.
free_udp_port() {
  local port hex tries=0
  while (( tries < 200 )); do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    hex=$(printf ':%04X ' "$port")
    if ! grep -q "$hex" /proc/net/udp /proc/net/udp6 2>/dev/null; then
      echo "$port"
      return 0
    fi
    tries=$((tries + 1))
  done
  fail "no free UDP port found"
}

# make_key DIR: a server key directory (byte-compatible either way, CURVECP.md 1).
# Prints nothing; the hex public key is then in DIR.hex.
make_key() {
  local dir=$1
  if [[ "${KEY_IMPL:-ref}" = ours ]]; then
    "$CURVECP" keygen "$dir" >/dev/null || fail "curvecp keygen failed"
    "$CURVECP" pubkey "$dir" >"$dir.hex" || fail "curvecp pubkey failed"
  else
    require_tools curvecpmakekey curvecpprintkey
    curvecpmakekey "$dir" || fail "curvecpmakekey failed"
    curvecpprintkey "$dir" >"$dir.hex" || fail "curvecpprintkey failed"
  fi
}

# bg NAME CMD...: runs CMD in the background in its own process group, stdout and stderr
# to $WORK/NAME.log; sets BG_PID (the group's id: setsid execs CMD in the same process).
bg() {
  local name=$1
  shift
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  BG_PID=$!
  GROUPS_STARTED+=("$BG_PID")
}

# wait_log_line FILE REGEX SECONDS [PID]: true once a line of FILE matches REGEX; false
# after SECONDS or as soon as PID (if given) has exited.
wait_log_line() {
  local file=$1 re=$2 i
  for (( i = 0; i < $3 * 20; i++ )); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    [[ -n "${4:-}" ]] && ! kill -0 "$4" 2>/dev/null && { grep -qE "$re" "$file" 2>/dev/null; return; }
    sleep 0.05
  done
  return 1
}

# listening_port FILE: the port of the "listening on IP:PORT" line in FILE.
listening_port() {
  sed -n 's/^.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$1" | head -n 1
}

# udp_port_owned_by PORT PID: true once PID holds a UDP socket bound to 127.0.0.1:PORT
# (looks the socket's inode up in /proc/PID/fd), so a port taken by someone else is not
# mistaken for the server's.
udp_port_owned_by() {
  local hex inode
  hex=$(printf '0100007F:%04X' "$1")
  for inode in $(awk -v a="$hex" '$2 == a { print $10 }' /proc/net/udp 2>/dev/null); do
    [[ "$(ls -l "/proc/$2/fd" 2>/dev/null || true)" == *"socket:[$inode]"* ]] && return 0
  done
  return 1
}

# start_server IMPL KEYDIR PROG...: a server on $SERVER_IP whose per-connection program
# speaks on fd 0 (from the client) and fd 1 (to the client). Sets SERVER_PID, SERVER_IMPL
# and PORT. Extra flags for our server can be given in SERVER_FLAGS (a string), for the
# reference in REF_SERVER_FLAGS.
#   ours: binds port 0 and reads the port back from its "listening on" line (-v).
#   ref:  curvecpserver cannot bind port 0, so a port that is free now is probed; if
#         another process binds it first, curvecpserver exits and the whole start is
#         retried with another port (at most 5 times).
start_server() {
  local impl=$1 keydir=$2 attempt
  shift 2
  SERVER_IMPL=$impl
  if [[ "$impl" = ours ]]; then
    # Each test's daemon has its own control socket, unless the test chooses one: the
    # default (/run/curvecp/serve.sock for root) is one per machine, and a daemon already
    # answering there (another test, a benchmark, the operator's) makes serve warn.
    local control=()
    [[ " ${SERVER_FLAGS:-} " == *" --control "* ]] || control=(--control "$WORK/serve-control.sock")
    # The previous server's log goes first: its "listening on" line could otherwise be
    # found before the new server's shell has truncated the file (then no port is read).
    rm -f "$WORK/server.log"
    # shellcheck disable=SC2086
    bg server "$CURVECP" serve -v --name "$SNAME" --key "$keydir" --ext "$EXT" "${control[@]}" ${SERVER_FLAGS:-} \
      "$SERVER_IP" 0 -- "$@"
    SERVER_PID=$BG_PID
    wait_log_line "$WORK/server.log" 'listening on ' 10 "$SERVER_PID" || fail "server (ours) did not start listening within 10 s"
    PORT=$(listening_port "$WORK/server.log")
    [[ -n "$PORT" ]] || fail "no port in the server's 'listening on' line"
    return 0
  fi
  require_tools curvecpserver curvecpmessage
  for attempt in 1 2 3 4 5; do
    PORT=$(free_udp_port)
    # shellcheck disable=SC2086
    bg server curvecpserver ${REF_SERVER_FLAGS:-} "$SNAME" "$keydir" 127.0.0.1 "$PORT" "$EXT" curvecpmessage "$@"
    SERVER_PID=$BG_PID
    local i
    for i in $(seq 100); do
      udp_port_owned_by "$PORT" "$SERVER_PID" && return 0
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    note "reference server did not bind 127.0.0.1:$PORT (attempt $attempt): $(tail -n 1 "$WORK/server.log" 2>/dev/null)"
  done
  fail "reference server did not bind a port in 5 attempts"
}

# stop_server [STATUS] [SECONDS]: SIGTERM to the server, then waits for it to exit and
# requires STATUS. Ours drains (the running connections finish, then exit 0, see
# curvecp-serve(1)); the reference dies of the signal (143). Default SECONDS: 20.
stop_server() {
  local want=${1:-} limit=${2:-20} rc=0 i
  if [[ -z "$want" ]]; then
    if [[ "$SERVER_IMPL" = ours ]]; then want=0; else want=143; fi
  fi
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for (( i = 0; i < limit * 20; i++ )); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    fail "server ($SERVER_IMPL) still running ${limit} s after SIGTERM"
  fi
  wait "$SERVER_PID" || rc=$?
  note "server ($SERVER_IMPL) exited $rc after SIGTERM"
  check_logs  # first, so that a crash is reported with its sanitizer report
  [[ "$rc" = "$want" ]] || fail "server ($SERVER_IMPL) exited $rc after SIGTERM, expected $want"
}

# check_logs: fails on any sanitizer or runtime-error report in the test's logs.
check_logs() {
  local f
  for f in "$WORK"/*.log; do
    [[ -e "$f" ]] || continue
    if grep -qE "$SANITIZER_PATTERN" "$f"; then
      echo "FAIL: sanitizer or runtime error report in $(basename "$f"):" >&2
      grep -E -m 5 "$SANITIZER_PATTERN" "$f" >&2
      fail "sanitizer report in $(basename "$f")"
    fi
  done
}

# finish: the last line of a passing test (after every daemon was stopped).
finish() {
  check_logs
  echo "PASS"
}

# client_cmd IMPL KEYDIR PORT: prints nothing, fills the array CLIENT_CMD with the command
# prefix; the caller appends the program (fd 6 = from server, fd 7 = to server).
# For "ours" with no program appended the client runs in netcat mode (stdin/stdout).
client_cmd() {
  local impl=$1 keydir=$2 port=$3
  if [[ "$impl" = ours ]]; then
    # shellcheck disable=SC2206
    CLIENT_CMD=("$CURVECP" connect --name "$SNAME" --server-key "$(cat "$keydir.hex")" --ext "$EXT" \
      ${CLIENT_FLAGS:-} "$SERVER_IP" "$port" --)
  else
    require_tools curvecpclient curvecpmessage
    CLIENT_CMD=(curvecpclient "$SNAME" "$(cat "$keydir.hex")" 127.0.0.1 "$port" "$EXT" curvecpmessage -c)
  fi
}

# wait_for_file PATH SECONDS: true once PATH exists.
wait_for_file() {
  local i
  for (( i = 0; i < $2 * 10; i++ )); do
    [[ -e "$1" ]] && return 0
    sleep 0.1
  done
  return 1
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

require_curvecp() {
  [[ -n "$CURVECP" && -x "$CURVECP" ]] || fail "curvecp binary not given (CURVECP=$CURVECP)"
}

# stop_group PID: ends a process group started with bg without judging how it ended. For
# benchmarks only; a test uses stop_server.
stop_group() {
  kill -TERM -- "-$1" 2>/dev/null || true
  local i
  for i in $(seq 20); do
    kill -0 -- "-$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# The test's own time limit: TEST_TIME_LIMIT (set by ctest a little below the test's
# TIMEOUT, so that a slow run ends here with a diagnosis instead of a ctest kill).
# time_left: seconds left of it for the next bounded step (at least 1).
TIME_LIMIT=${TEST_TIME_LIMIT:-120}
time_left() {
  local left=$(( TIME_LIMIT - SECONDS ))
  (( left > 0 )) || left=1
  echo "$left"
}
