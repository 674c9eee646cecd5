#!/bin/bash
# `curvecp push` into `curvecp serve ... -- curvecp receive DIR` (curvecp-push(1),
# curvecp-receive(1)), through the real binary on loopback:
#   1. a tree of NSMALL small files (modes, times with nanoseconds, a symlink, an empty
#      file and an empty directory) and one file of BIG bytes arrive byte-exact with their
#      modes and times, and no temporary file is left; SIGUSR1 prints a status line;
#   2. pushed again, nothing is sent (every file verified as already there);
#   3. into --to SUBDIR, the push is killed half-way through the big file (past half of
#      it) and run again:
#      the small files are skipped and only the missing bytes are sent, as the sender's
#      and the receiver's counters show.
#
# usage: push.sh CURVECP_BINARY NSMALL BIG_BYTES
set -euo pipefail
CURVECP=$1
NSMALL=$2
BIG=$3
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"

# The source: NSMALL files over 10 directories, varied sizes, modes and times.
mkdir -p src/tree/empty-dir
for (( d = 0; d < 10; d++ )); do mkdir -p "src/tree/d$d"; done
for (( i = 0; i < NSMALL; i++ )); do
  f="src/tree/d$(( i % 10 ))/f$i"
  head -c $(( (i * 37) % 3000 )) /dev/urandom >"$f"
  case $(( i % 3 )) in 0) chmod 600 "$f" ;; 1) chmod 755 "$f" ;; *) chmod 640 "$f" ;; esac
  touch -d "@$(( 1600000000 + i )).$(printf '%09d' $(( i * 7919 )))" "$f"
done
: >src/tree/d0/f0  # an empty file
ln -s d1/f1 src/tree/link
touch -h -d @1650000000.5 src/tree/link
chmod 750 src/tree/d3
touch -d @1500000000.25 src/tree/d3 src/tree
head -c "$BIG" /dev/urandom >src/big.bin
touch -d @1700000000.123456789 src/big.bin

start_server ours "$WORK/serverkey" "$CURVECP" receive "$WORK/dest"
mkdir dest
PUSH=("$CURVECP" push --name "$SNAME" --server-key "$(cat serverkey.hex)" --ext "$EXT")

# listing DIR NAME...: one line per entry, with type, mode, time and link target (sizes:
# contents compares every file, and a directory's size depends on the file system).
listing() { (cd "$1" && shift && find "$@" -printf '%p %y %m %T@ %l\n' | sort); }
contents() { (cd "$1" && shift && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum); }
same_tree() {  # same_tree DEST_DIR: the pushed tree and file arrived exactly
  diff <(listing src tree big.bin) <(listing "$1" tree big.bin) >"$WORK/diff.txt" ||
    fail "metadata differ in $1: $(head -5 "$WORK/diff.txt")"
  diff <(contents src tree big.bin) <(contents "$1" tree big.bin) >"$WORK/diff.txt" ||
    fail "contents differ in $1: $(head -5 "$WORK/diff.txt")"
  [[ -z "$(find "$1" -name '.curvecp-push-*')" ]] || fail "temporary files left in $1"
}
# counter LOG WORD: the number before WORD in the push summary line.
counter() { sed -n "s/.*push: .* \([0-9][0-9]*\) $2.*/\1/p" "$1" | tail -n 1; }

# 1. The whole push, with a status line asked for half-way.
bg push1 "${PUSH[@]}" 127.0.0.1 "$PORT" src/tree src/big.bin
pid=$BG_PID
for (( i = 0; i < 2000; i++ )); do
  part=$(find dest -name '.curvecp-push-*' -size +1k 2>/dev/null | head -n 1 || true)
  [[ -n "$part" ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -USR1 "$pid" 2>/dev/null || true
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 0 ]] || fail "push exited $rc"
same_tree dest
note "push 1: $(grep 'push: .*entries' "$WORK/push1.log")"
if [[ -n "${part:-}" ]]; then
  grep -q 'push: sent .* of .*files' "$WORK/push1.log" || fail "no status line after SIGUSR1"
  note "SIGUSR1: $(grep 'push: sent ' "$WORK/push1.log" | head -n 1)"
fi
[[ "$(counter "$WORK/push1.log" 'bytes sent')" -ge "$BIG" ]] || fail "push 1 sent fewer bytes than the big file"

# 2. Again: everything is already there and verified.
timeout "$(time_left)" "${PUSH[@]}" 127.0.0.1 "$PORT" src/tree src/big.bin 2>"$WORK/push2.log" || fail "second push exited $?"
note "push 2: $(grep 'push: .*entries' "$WORK/push2.log")"
[[ "$(counter "$WORK/push2.log" 'files sent')" = 0 ]] || fail "second push sent files again"
[[ "$(counter "$WORK/push2.log" 'already there')" = $(( NSMALL + 1 )) ]] || fail "second push did not skip every file"
[[ "$(counter "$WORK/push2.log" 'bytes sent')" = 0 ]] || fail "second push sent bytes"
same_tree dest

# 3. Interrupted and resumed, into --to SUBDIR.
bg push3 "${PUSH[@]}" --to sub/dir 127.0.0.1 "$PORT" src/tree src/big.bin
pid=$BG_PID
killed=0
for (( i = 0; i < 4000; i++ )); do
  big_part=$(find dest/sub/dir -maxdepth 1 -name '.curvecp-push-*' -size +$(( BIG / 2048 ))k 2>/dev/null | head -n 1 || true)
  if [[ -n "$big_part" ]]; then kill -KILL "$pid"; killed=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.02
done
wait "$pid" 2>/dev/null || true
(( killed )) || fail "the push ended before half of the big file arrived; nothing to resume"
# The receiver sees the connection end before the push did: it fails and keeps the part.
wait_log_line "$WORK/server.log" 'receive: .*(ended|closed)' 30 || fail "the receiver did not notice the interrupted push"
partial=$(stat -c %s "$big_part")
note "push 3 killed with $partial of $BIG bytes of big.bin received"
(( partial > 0 && partial < BIG )) || fail "partial file has $partial bytes"
[[ ! -e dest/sub/dir/big.bin ]] || fail "an incomplete big.bin is visible under its final name"

timeout "$(time_left)" "${PUSH[@]}" --to sub/dir 127.0.0.1 "$PORT" src/tree src/big.bin 2>"$WORK/push4.log" || fail "resumed push exited $?"
note "push 4 (resumed): $(grep 'push: .*entries' "$WORK/push4.log")"
sent=$(counter "$WORK/push4.log" 'bytes sent')
[[ "$sent" = $(( BIG - partial )) ]] || fail "resumed push sent $sent bytes, expected the $(( BIG - partial )) missing"
[[ "$(counter "$WORK/push4.log" 'already there')" = "$NSMALL" ]] || fail "resumed push did not skip the small files"
grep -E "receive: 1 files written, $NSMALL skipped, $(( BIG - partial )) bytes received, 0 failed" "$WORK/server.log" >/dev/null ||
  fail "the receiver's counters do not show a resumed push"
same_tree dest/sub/dir

# 4. By alias (curvecp-servers(5)): the line `pubkey --servers-line` prints, then PATHs.
mkdir -p "$WORK/config/curvecp"
"$CURVECP" pubkey --servers-line backup 127.0.0.1 "$PORT" "$SNAME" --ext "$EXT" "$WORK/serverkey" \
  >"$WORK/config/curvecp/servers" || fail "pubkey --servers-line exited $?"
echo "by alias" >src/alias.txt
XDG_CONFIG_HOME="$WORK/config" timeout "$(time_left)" "$CURVECP" push --to by-alias backup src/alias.txt \
  2>"$WORK/push5.log" || fail "push by alias exited $?: $(tail -3 "$WORK/push5.log")"
cmp -s src/alias.txt dest/by-alias/alias.txt || fail "push by alias: file not there intact"
note "push 5 (alias): $(grep 'push: .*entries' "$WORK/push5.log")"

stop_server
finish
