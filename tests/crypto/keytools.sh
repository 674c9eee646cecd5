#!/bin/bash
# curvecp keygen / pubkey against the reference curvecpmakekey / curvecpprintkey
# (CURVECP.md 1.1, 1.2): same layout and modes, same printed key both ways, exit codes.
# Usage: keytools.sh PATH/TO/curvecp
set -euo pipefail
CURVECP=$1
fail() { trap - ERR; echo "FAIL: $*" >&2; exit 1; }
# A command that fails where no check expected it (set -e) still ends with a reason.
trap 'fail "unexpected exit status $? at line $LINENO: $BASH_COMMAND"' ERR
# A missing tool skips (77) in users' builds and fails when the build requires interop.
if ! command -v curvecpmakekey >/dev/null || ! command -v curvecpprintkey >/dev/null; then
  [ "${CURVECP_REQUIRE_INTEROP:-0}" = 1 ] && fail "curvecpmakekey/curvecpprintkey (nacl-tools) missing and CURVECP_REQUIRE_INTEROP=1"
  echo "SKIP: nacl-tools missing"
  exit 77
fi
T=$(mktemp -d /tmp/curvecp-keytools-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
umask 077  # the modes must not depend on the caller's umask

# keygen: layout and modes
timeout 10 "$CURVECP" keygen ours || fail "keygen exit $?"
expect_mode() { [ "$(stat -c %a "$1")" = "$2" ] || fail "$1 has mode $(stat -c %a "$1"), want $2"; }
expect_size() { [ "$(stat -c %s "$1")" = "$2" ] || fail "$1 has size $(stat -c %s "$1"), want $2"; }
expect_mode ours 755
expect_mode ours/publickey 644
expect_mode ours/.expertsonly 700
for f in secretkey lock noncekey noncecounter; do expect_mode ours/.expertsonly/$f 600; done
expect_size ours/publickey 32
expect_size ours/.expertsonly/secretkey 32
expect_size ours/.expertsonly/lock 1
expect_size ours/.expertsonly/noncekey 32
expect_size ours/.expertsonly/noncecounter 8
[ "$(od -An -tx1 ours/.expertsonly/noncecounter | tr -d ' \n')" = 0000000000000000 ] || fail "counter not zero"
[ "$(od -An -tx1 ours/.expertsonly/lock | tr -d ' \n')" = 00 ] || fail "lock not one zero byte"

# the same layout as curvecpmakekey makes (names and modes)
curvecpmakekey theirs || fail "curvecpmakekey failed"
[ "$(cd ours && find . -printf '%p %m %s\n' | sort | sed 's/ [0-9]*$//')" = \
  "$(cd theirs && find . -printf '%p %m %s\n' | sort | sed 's/ [0-9]*$//')" ] || fail "layout differs from curvecpmakekey"

# printed keys agree both ways, 64 lowercase hex digits + newline
timeout 10 "$CURVECP" pubkey ours > ours.hex || fail "pubkey exit $?"
curvecpprintkey ours > ours.ref || fail "curvecpprintkey on our dir"
cmp -s ours.hex ours.ref || fail "curvecpprintkey and curvecp pubkey differ on a keygen dir"
expect_size ours.hex 65
grep -qxE '[0-9a-f]{64}' ours.hex || fail "pubkey output format"
[ "$(od -An -tx1 ours/publickey | tr -d ' \n')" = "$(head -c 64 ours.hex)" ] || fail "hex is not the publickey file"
timeout 10 "$CURVECP" pubkey theirs > theirs.hex || fail "pubkey on curvecpmakekey dir exit $?"
curvecpprintkey theirs > theirs.ref
cmp -s theirs.hex theirs.ref || fail "curvecp pubkey differs from curvecpprintkey on a curvecpmakekey dir"
! cmp -s ours.hex theirs.hex || fail "two key directories have the same key"

# existing DIR: refused (111), one line on stderr, the directory untouched
before=$(od -An -tx1 ours/.expertsonly/secretkey)
rc=0; timeout 10 "$CURVECP" keygen ours 2> err.txt || rc=$?
[ $rc = 111 ] || fail "keygen on existing dir exit $rc, want 111"
[ "$(wc -l < err.txt)" = 1 ] && grep -q '^curvecp keygen: ' err.txt || fail "keygen error not one 'curvecp keygen:' line: $(cat err.txt)"
[ "$before" = "$(od -An -tx1 ours/.expertsonly/secretkey)" ] || fail "existing key was changed"

# usage errors: 100
rc=0; timeout 10 "$CURVECP" keygen 2>/dev/null || rc=$?
[ $rc = 100 ] || fail "keygen without DIR exit $rc, want 100"
rc=0; timeout 10 "$CURVECP" pubkey 2>/dev/null || rc=$?
[ $rc = 100 ] || fail "pubkey without DIR exit $rc, want 100"

rc=0; timeout 10 "$CURVECP" keygen extra1 extra2 2>/dev/null || rc=$?
[ $rc = 100 ] || fail "keygen with two arguments exit $rc, want 100"
! [ -e extra1 ] || fail "keygen made a directory despite the usage error"

# unreadable or short key: 111, nothing on stdout
rc=0; timeout 10 "$CURVECP" pubkey missing > out.txt 2> err.txt || rc=$?
[ $rc = 111 ] || fail "pubkey on missing dir exit $rc"
! [ -s out.txt ] || fail "pubkey printed something on failure"
grep -q '^curvecp pubkey: ' err.txt || fail "no error line"
mkdir short && head -c 31 ours/publickey > short/publickey
rc=0; timeout 10 "$CURVECP" pubkey short > out.txt 2>/dev/null || rc=$?
[ $rc = 111 ] || fail "pubkey on short key exit $rc"
! [ -s out.txt ] || fail "pubkey printed a short key"

# write error on stdout: 111
if [ -w /dev/full ]; then
  rc=0; timeout 10 "$CURVECP" pubkey ours > /dev/full 2>/dev/null || rc=$?
  [ $rc = 111 ] || fail "pubkey to /dev/full exit $rc"
fi
echo "keytools: OK"
