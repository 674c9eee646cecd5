#!/bin/bash
# File-push benchmark (a program that prints figures, never a test).
#
# usage: push_bench.sh CURVECP_BINARY
# environment: BIG (bytes of the single file, default 1073741824 = 1 GiB),
#              FILES (number of small files, default 10000), RUN_LIMIT (s, default 1800)
#
# In one run, over 127.0.0.1, into a fresh directory each time:
#   one BIG-byte file, then a tree of FILES small files (0-8 KiB, 100 directories), with
#     curvecp push      -> curvecp serve ... -- curvecp receive DIR (verified, synced)
#     scp -r            -> a throw-away sshd (chacha20-poly1305)
#     rsync -a over ssh -> the same sshd
#   and, for the big file, a plain `curvecp connect` (netcat mode) into `cat > FILE` as
#   the ceiling push should come close to.
# Prints the wall seconds of each, MB/s, and the ratios of scp and rsync to push (above 1:
# push is faster). Needs openssh-server, openssh-client and rsync (apt-get install
# openssh-server rsync); nothing outside the scratch directory is configured, only
# /run/sshd (sshd's privilege-separation directory) is created if absent.
set -u
CURVECP=$1
BIG=${BIG:-1073741824} FILES=${FILES:-10000} RUN_LIMIT=${RUN_LIMIT:-1800}
BENCH_DIR=$(readlink -f "$(dirname "$0")")
source "$BENCH_DIR/../interop/common.sh"
set +e +o pipefail
require_curvecp
for tool in /usr/sbin/sshd ssh scp rsync; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install openssh-server openssh-client rsync)"
done
cd "$WORK" || exit 1

note "preparing one file of $BIG bytes and $FILES small files"
mkdir -p src/tree
head -c "$BIG" /dev/urandom >src/big.bin
for (( d = 0; d < 100; d++ )); do mkdir -p "src/tree/d$d"; done
head -c $(( FILES * 8192 )) /dev/urandom >pool
# Sizes 0..8191 bytes from the pool (one dd per file would take minutes).
python3 - "$FILES" <<'PY' || fail "python3 is needed to lay out the small files"
import sys
n = int(sys.argv[1])
pool = open("pool", "rb").read()
for i in range(n):
    size = (i * 7919) % 8192
    with open(f"src/tree/d{i % 100}/f{i}", "wb") as f:
        f.write(pool[i * 8192:i * 8192 + size])
PY
rm -f pool

# sshd on a loopback port with throw-away keys (bench_sshd.sh, shared with throughput.sh).
source "$BENCH_DIR/bench_sshd.sh"
start_bench_sshd || fail "the throw-away sshd did not answer"
USER_AT="$(id -un)@127.0.0.1"

KEY_IMPL=ours make_key "$WORK/serverkey"
mkdir recv
start_server ours "$WORK/serverkey" "$CURVECP" receive "$WORK/recv"
CURVECP_PORT=$PORT
mkdir sink
bg sink "$CURVECP" serve -v --name "$SNAME" --key "$WORK/serverkey" --ext "$EXT" 127.0.0.1 0 -- sh -c "cat > '$WORK/sink/big.bin'"
wait_log_line "$WORK/sink.log" 'listening on ' 10 || fail "sink server did not start"
SINK_PORT=$(listening_port "$WORK/sink.log")
HEX=$(cat serverkey.hex)

# seconds CMD...: wall seconds of CMD (empty if it failed).
seconds() {
  local start end
  start=$(date +%s.%N)
  timeout "$RUN_LIMIT" "$@" >>"$WORK/runs.log" 2>&1 || { echo ""; return; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
fresh() { rm -rf "$WORK/dst"; mkdir "$WORK/dst"; sync; }

declare -A T
for what in big tree; do
  if [[ $what = big ]]; then item=src/big.bin; else item=src/tree; fi
  [[ $what = big ]] && { rm -rf recv/*; sync; }
  T[$what.push]=$(seconds "$CURVECP" push --name "$SNAME" --server-key "$HEX" --ext "$EXT" 127.0.0.1 "$CURVECP_PORT" "$item")
  fresh
  # shellcheck disable=SC2086
  T[$what.scp]=$(seconds scp -q -r -P "$SSH_PORT" $SSH_OPTS "$item" "$USER_AT:$WORK/dst/")
  fresh
  T[$what.rsync]=$(seconds rsync -a -e "ssh $SSH_OPTS -p $SSH_PORT" "$item" "$USER_AT:$WORK/dst/")
done
T[big.connect]=$(seconds "$CURVECP" connect --name "$SNAME" --server-key "$HEX" --ext "$EXT" 127.0.0.1 "$SINK_PORT" <src/big.bin)
cmp -s src/big.bin sink/big.bin || note "plain connect: the copy differs"
cmp -s src/big.bin recv/big.bin || note "push: the big file that arrived differs"
diff -r src/tree recv/tree >/dev/null || note "push: the tree that arrived differs"

tree_bytes=$(du -sb src/tree | cut -f1)
report() {  # report WHAT BYTES LABEL
  local sys t
  echo
  echo "$3 ($2 bytes)"
  for sys in push scp rsync connect; do
    t=${T[$1.$sys]-none}
    [[ $t = none ]] && continue
    if [[ -z "$t" ]]; then printf '  %-8s failed (see runs.log)\n' "$sys"; continue; fi
    awk -v s="$sys" -v t="$t" -v b="$2" -v p="${T[$1.push]}" 'BEGIN {
      printf "  %-8s %8.2f s %8.1f MB/s", s, t, b / t / 1e6
      if (p != "" && s != "push") printf "   %s/push time ratio %.2f", s, t / p
      printf "\n" }'
  done
}
echo
echo "push benchmark on 127.0.0.1 ($(nproc) cores; figures from a busy host if others run)"
report big "$BIG" "one file"
report tree "$tree_bytes" "tree of $FILES small files"
stop_group "$SSHD_PID" 2>/dev/null
