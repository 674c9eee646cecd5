# Shared helpers for the shell-level tests (tests/interop, tests/e2e). Sourced, not run.
#
# Every test gets its own scratch directory and its own free UDP port, starts each
# background process in its own process group (setsid) and, on exit, ends exactly those
# groups by id. Nothing here touches any address other than loopback.
#
# Implementations: "ref" is the Debian nacl-tools reference (curvecpserver/curvecpclient
# wrapped around curvecpmessage, CURVECP.md 8); "ours" is the curvecp binary in $CURVECP.

set -u

EXT=31415926535897932384626433832795
SNAME=this.machine.name
CURVECP=${CURVECP:-}
[[ -n "$CURVECP" ]] && CURVECP=$(readlink -f "$CURVECP")  # scripts cd into their scratch directory
SERVER_IP=${SERVER_IP:-127.0.0.1}  # ours only; the reference is IPv4-only (CURVECP.md 2.1)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/curvecp-test.XXXXXX")
declare -a GROUPS_STARTED=()

cleanup() {
  local pg
  for pg in "${GROUPS_STARTED[@]}"; do
    kill -TERM -- "-$pg" 2>/dev/null
  done
  sleep 0.2
  for pg in "${GROUPS_STARTED[@]}"; do
    kill -KILL -- "-$pg" 2>/dev/null
  done
  wait 2>/dev/null
  if [[ "${KEEP_WORK:-0}" = 1 ]]; then echo "scratch kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.log; do
    [[ -s "$f" ]] || continue
    echo "--- $(basename "$f") (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
  exit 1
}

note() { echo "# $*"; }

# Seconds since the epoch with nanoseconds, for ordering events (never asserted as speed).
now_s() { date +%s.%N; }

# A UDP port on 127.0.0.1 that nothing is bound to right now (checks /proc/net/udp{,6}).
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
    curvecpmakekey "$dir" || fail "curvecpmakekey failed"
    curvecpprintkey "$dir" >"$dir.hex" || fail "curvecpprintkey failed"
  fi
}

# bg NAME CMD...: runs CMD in the background in its own process group, stdout and stderr
# to $WORK/NAME.log; sets BG_PID.
bg() {
  local name=$1
  shift
  setsid "$@" >"$WORK/$name.log" 2>&1 &
  BG_PID=$!
  GROUPS_STARTED+=("$BG_PID")
}

# stop_group PID: ends a process group started with bg. Our server drains on the first
# SIGTERM and exits at once on the second; anything left after 2 s gets SIGKILL.
stop_group() {
  kill -TERM -- "-$1" 2>/dev/null
  sleep 0.2
  kill -TERM -- "-$1" 2>/dev/null
  local i
  for i in $(seq 20); do
    kill -0 -- "-$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null
  wait "$1" 2>/dev/null
  return 0
}

# start_server IMPL KEYDIR PORT PROG...: a server on 127.0.0.1:PORT whose per-connection
# program speaks on fd 0 (from the client) and fd 1 (to the client). Sets SERVER_PID.
# Extra flags for our server can be given in SERVER_FLAGS (array-free string).
start_server() {
  local impl=$1 keydir=$2 port=$3
  shift 3
  if [[ "$impl" = ours ]]; then
    # shellcheck disable=SC2086
    bg server "$CURVECP" serve --name "$SNAME" --key "$keydir" --ext "$EXT" ${SERVER_FLAGS:-} \
      "$SERVER_IP" "$port" -- "$@"
  else
    bg server curvecpserver ${REF_SERVER_FLAGS:-} "$SNAME" "$keydir" 127.0.0.1 "$port" "$EXT" curvecpmessage "$@"
  fi
  SERVER_PID=$BG_PID
  wait_udp_bound "$port" || fail "server ($impl) did not bind 127.0.0.1:$port"
}

# wait_udp_bound PORT: true once something is bound to the UDP port (at most 5 s).
wait_udp_bound() {
  local hex i
  hex=$(printf ':%04X ' "$1")
  for i in $(seq 50); do
    grep -q "$hex" /proc/net/udp /proc/net/udp6 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# client_cmd IMPL KEYDIR PORT: prints nothing, fills the array CLIENT_CMD with the command
# prefix; the caller appends the program (fd 6 = from server, fd 7 = to server).
# For "ours" with no program appended the client runs in netcat mode (stdin/stdout).
client_cmd() {
  local impl=$1 keydir=$2 port=$3
  if [[ "$impl" = ours ]]; then
    CLIENT_CMD=("$CURVECP" connect --name "$SNAME" --server-key "$(cat "$keydir.hex")" --ext "$EXT" \
      ${CLIENT_FLAGS:-} "$SERVER_IP" "$port" --)
  else
    CLIENT_CMD=(curvecpclient "$SNAME" "$(cat "$keydir.hex")" 127.0.0.1 "$port" "$EXT" curvecpmessage -c)
  fi
}

# wait_for_file PATH SECONDS: true once PATH exists.
wait_for_file() {
  local i
  for i in $(seq $(( $2 * 10 ))); do
    [[ -e "$1" ]] && return 0
    sleep 0.1
  done
  return 1
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

require_curvecp() {
  [[ -n "$CURVECP" && -x "$CURVECP" ]] || fail "curvecp binary not given (CURVECP=$CURVECP)"
}
