#!/bin/bash
# `curvecp serve` refuses to start, with one line and exit 111, when what it will need
# for its first client is missing (curvecp-serve(1), EXIT STATUS):
#   1. the program is not found in PATH, or not executable (no x bit, a directory);
#   2. the key directory's nonce counter cannot be opened read-write.
# Each refusal must come before "listening" and leave nothing running (timeout would
# turn a server that started into exit 124, which fails the exact status check).
#
# Tests run as root, where permission bits do not stop writes. Case 2 is exercised
#   a) for real as an unprivileged user: `setpriv --reuid=65534` runs the server as
#      nobody, owning a key directory whose counter is mode 0400 (EACCES); a control run
#      with the counter 0600 must start and stop cleanly, so the refusal is the check's
#      doing and not some other effect of the uid change;
#   b) as root: the counter path is a directory, which not even root can open
#      read-write (EISDIR).
#
# usage: serve_startup_checks.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$(readlink -f "$1")
[[ -x "$CURVECP" ]] || { echo "FAIL: no curvecp binary at $1" >&2; exit 1; }
command -v setpriv >/dev/null || { echo "FAIL: setpriv (util-linux) is required" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/curvecp-serve-checks.XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
note() { echo "# $*"; }

# refuses WANT_LINE CMD...: CMD must exit 111 within 10 s with exactly WANT_LINE on
# stderr and nothing on stdout.
refuses() {
  local want=$1
  shift
  local rc=0
  timeout -k 2 10 "$@" </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq 111 ]] || fail "exit $rc, expected 111: $* (stderr: $(cat "$WORK/err"))"
  [[ "$(cat "$WORK/err")" == "$want" ]] || fail "stderr was '$(cat "$WORK/err")', expected '$want'"
  [[ -s "$WORK/out" ]] && fail "unexpected output on stdout: $(cat "$WORK/out")"
  note "refused (exit 111): $want"
}

"$CURVECP" keygen "$WORK/key" >/dev/null
SERVE=("$CURVECP" serve --no-timestamps --key "$WORK/key" --name test.name 127.0.0.1 0)

# --- 1. the program --------------------------------------------------------------------
refuses "curvecp serve: program not found or not executable: curvecp-no-such-program" \
  "${SERVE[@]}" curvecp-no-such-program arg
printf '#!/bin/sh\ncat\n' >"$WORK/not-executable"
chmod 0644 "$WORK/not-executable"
refuses "curvecp serve: program not found or not executable: $WORK/not-executable" \
  "${SERVE[@]}" -- "$WORK/not-executable"
refuses "curvecp serve: program not found or not executable: $WORK" "${SERVE[@]}" "$WORK"
# Looked up in the PATH serve runs with, like execvp.
refuses "curvecp serve: program not found or not executable: not-executable" \
  env PATH="$WORK:/usr/bin:/bin" "${SERVE[@]}" not-executable

# --- 2a. a nonce counter nobody may write, as nobody -----------------------------------
chmod 0755 "$WORK"  # mktemp made it 0700; nobody must reach the key directory
cp -a "$WORK/key" "$WORK/nobody-key"
chown -R 65534:65534 "$WORK/nobody-key"
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
COUNTER="$WORK/nobody-key/.expertsonly/noncecounter"

# Control: writable counter, nobody starts, says "listening", ends cleanly on SIGTERM.
"${AS_NOBODY[@]}" "$CURVECP" serve -v --key "$WORK/nobody-key" --name test.name 127.0.0.1 0 cat \
  </dev/null >"$WORK/control.out" 2>"$WORK/control.err" &
SERVER_PID=$!
for ((i = 0; i < 200; i++)); do
  grep -q "listening on" "$WORK/control.err" && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.05
done
grep -q "listening on" "$WORK/control.err" || fail "control server did not start: $(cat "$WORK/control.err")"
kill -TERM "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=
[[ $rc -eq 0 ]] || fail "control server exited $rc after SIGTERM: $(cat "$WORK/control.err")"
note "control: nobody with a writable counter starts and stops cleanly"

# (Read after the control run: a server reserves its first nonces before listening.)
before=$(od -An -tx1 "$COUNTER")
chmod 0400 "$COUNTER"
refuses "curvecp serve: nonce counter not writable: $COUNTER: Permission denied" \
  "${AS_NOBODY[@]}" "$CURVECP" serve --no-timestamps --key "$WORK/nobody-key" --name test.name 127.0.0.1 0 cat
[[ "$(od -An -tx1 "$COUNTER")" == "$before" ]] || fail "the check changed the counter"

# A lock file nobody may write is refused the same way.
chmod 0600 "$COUNTER"
chmod 0400 "$WORK/nobody-key/.expertsonly/lock"
refuses "curvecp serve: nonce lock file not writable: $WORK/nobody-key/.expertsonly/lock: Permission denied" \
  "${AS_NOBODY[@]}" "$CURVECP" serve --no-timestamps --key "$WORK/nobody-key" --name test.name 127.0.0.1 0 cat

# --- 2b. as root: a counter that is a directory ----------------------------------------
cp -a "$WORK/key" "$WORK/dir-key"
rm "$WORK/dir-key/.expertsonly/noncecounter"
mkdir "$WORK/dir-key/.expertsonly/noncecounter"
refuses "curvecp serve: nonce counter not writable: $WORK/dir-key/.expertsonly/noncecounter: Is a directory" \
  "$CURVECP" serve --no-timestamps --key "$WORK/dir-key" --name test.name 127.0.0.1 0 cat

echo "PASS"
