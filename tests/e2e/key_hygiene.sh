#!/bin/bash
# `curvecp serve` and the secret key (curvecp-serve(1), FILES): it refuses, with one line
# and exit 111 before "listening",
#   1. a secret key that group or others may read (mode 0640), running as nobody (as root
#      the permission bits would not even be needed to read it);
#   2. a secret key owned by another user (root running with nobody's key);
#   3. a secret key, .expertsonly or key directory that is a symbolic link (O_NOFOLLOW);
# and 4. when another process holds the nonce lock, it waits a bounded time and says so
#    (exit 111) instead of hanging; once the lock is free it starts.
#
# usage: key_hygiene.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$(readlink -f "$1")
[[ -x "$CURVECP" ]] || { echo "FAIL: no curvecp binary at $1" >&2; exit 1; }
command -v setpriv >/dev/null || { echo "FAIL: setpriv (util-linux) is required" >&2; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 is required (to hold a POSIX lock)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "FAIL: must run as root (chown, setpriv)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/curvecp-key-hygiene.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
note() { echo "# $*"; }

# refuses WANT_LINE CMD...: CMD must exit 111 within 20 s with exactly WANT_LINE on stderr.
refuses() {
  local want=$1 rc=0
  shift
  timeout -k 2 20 "$@" </dev/null >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc -eq 111 ]] || fail "exit $rc, expected 111: $* (stderr: $(cat "$WORK/err"))"
  [[ "$(cat "$WORK/err")" == "$want" ]] || fail "stderr was '$(cat "$WORK/err")', expected '$want'"
  [[ -s "$WORK/out" ]] && fail "unexpected output on stdout: $(cat "$WORK/out")"
  note "refused (exit 111): $want"
}

# starts CMD...: CMD must say "listening on" within 20 s, then end cleanly on SIGTERM.
STARTS=0
starts() {
  # A fresh log per call: a stale "listening on" must not be seen before this one starts.
  STARTS=$((STARTS + 1))
  local err="$WORK/start$STARTS.err"
  "$@" </dev/null >"$WORK/start.out" 2>"$err" &
  local pid=$! i rc=0
  PIDS+=("$pid")
  for ((i = 0; i < 400; i++)); do
    grep -q "listening on" "$err" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  grep -q "listening on" "$err" || fail "did not start: $* ($(cat "$err"))"
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || fail "exited $rc after SIGTERM: $*"
  note "started and stopped cleanly"
}

chmod 0755 "$WORK"
"$CURVECP" keygen "$WORK/key" >/dev/null
AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
serve() { echo "$CURVECP" serve -v --no-timestamps --key "$1" --name test.name 127.0.0.1 0 cat; }

# --- 1. mode 0640, as nobody -------------------------------------------------------------
cp -a "$WORK/key" "$WORK/nobody-key"
chown -R 65534:65534 "$WORK/nobody-key"
# shellcheck disable=SC2046
starts "${AS_NOBODY[@]}" $(serve "$WORK/nobody-key")
chmod 0640 "$WORK/nobody-key/.expertsonly/secretkey"
# shellcheck disable=SC2046
refuses "curvecp serve: refusing secret key $WORK/nobody-key/.expertsonly/secretkey: mode 0640 lets group or others read or write it (chmod 600 it)" \
  "${AS_NOBODY[@]}" $(serve "$WORK/nobody-key")

# --- 2. another owner, as root -------------------------------------------------------------
cp -a "$WORK/key" "$WORK/foreign-key"
chown 65534:65534 "$WORK/foreign-key/.expertsonly/secretkey"
# shellcheck disable=SC2046
refuses "curvecp serve: refusing secret key $WORK/foreign-key/.expertsonly/secretkey: owned by uid 65534, not by this user (uid 0)" \
  $(serve "$WORK/foreign-key")

# --- 3. symbolic links ---------------------------------------------------------------------
cp -a "$WORK/key" "$WORK/link-key"
mv "$WORK/link-key/.expertsonly/secretkey" "$WORK/elsewhere"
ln -s "$WORK/elsewhere" "$WORK/link-key/.expertsonly/secretkey"
# shellcheck disable=SC2046
refuses "curvecp serve: refusing $WORK/link-key/.expertsonly/secretkey: it is a symbolic link" \
  $(serve "$WORK/link-key")
ln -s "$WORK/key" "$WORK/alias"
# shellcheck disable=SC2046
refuses "curvecp serve: refusing key directory $WORK/alias: it is a symbolic link" $(serve "$WORK/alias")

# --- 4. the nonce lock held by another process -------------------------------------------
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "r+b")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(120)
' "$WORK/key/.expertsonly/lock" "$WORK/locked" &
HOLDER=$!
PIDS+=("$HOLDER")
for ((i = 0; i < 200; i++)); do [[ -e "$WORK/locked" ]] && break; sleep 0.05; done
[[ -e "$WORK/locked" ]] || fail "the lock holder did not start"
t0=$(date +%s)
# shellcheck disable=SC2046
refuses "curvecp serve: nonce lock busy: $WORK/key/.expertsonly/lock is held by another process" $(serve "$WORK/key")
note "gave up after $(( $(date +%s) - t0 )) s"
kill -KILL "$HOLDER"
wait "$HOLDER" 2>/dev/null || true
# shellcheck disable=SC2046
starts $(serve "$WORK/key")

echo "PASS"
