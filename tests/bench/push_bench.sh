#!/bin/bash
# File-push benchmark (a program that prints figures, never a test).
#
# usage: push_bench.sh CURVECP_BINARY
# environment: BIG (bytes of the single file, default 1073741824 = 1 GiB),
#              FILES (number of small files, default 10000), RUN_LIMIT (s, default 1800),
#              RUNS (rounds, default 3: every figure is the median), CLOSE (the fraction of
#              plain connect's rate that counts as "close", default 0.8)
#
# In one run, over 127.0.0.1, into a fresh directory each time:
#   one BIG-byte file, then a tree of FILES small files (0-8 KiB, 100 directories), with
#     curvecp push      -> curvecp serve ... -- curvecp receive DIR (verified, synced)
#     scp -r            -> a throw-away sshd (chacha20-poly1305)
#     rsync -a over ssh -> the same sshd
#   and, for the big file, a plain `curvecp connect` (netcat mode) into `cat > FILE` as
#   the ceiling push should come close to.
# Prints, for each, the median wall seconds of RUNS rounds (every round runs every system,
# so a busy host weighs on all of them alike), MB/s, and the CPU seconds the whole machine
# spent meanwhile (/proc/stat: both ends, every process; on a machine with few cores that,
# not the network, sets the pace); the ratios scp/push and rsync/push (above 1: push is
# faster) and push/connect (rates), and whether each goal of the acceptance (issue 11) is
# met: push faster than scp and rsync on both, and the single
# file at CLOSE or more of plain connect's rate. Needs openssh-server, openssh-client and rsync (apt-get install
# openssh-server rsync); nothing outside the scratch directory is configured, only
# /run/sshd (sshd's privilege-separation directory) is created if absent.
set -u
CURVECP=$1
BIG=${BIG:-1073741824} FILES=${FILES:-10000} RUN_LIMIT=${RUN_LIMIT:-1800} RUNS=${RUNS:-3} CLOSE=${CLOSE:-0.8}
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
bg sink "$CURVECP" serve -v --name "$SNAME" --key "$WORK/serverkey" --ext "$EXT" --control "$WORK/sink-control.sock" 127.0.0.1 0 -- sh -c "cat > '$WORK/sink/big.bin'"
wait_log_line "$WORK/sink.log" 'listening on ' 10 || fail "sink server did not start"
SINK_PORT=$(listening_port "$WORK/sink.log")
HEX=$(cat serverkey.hex)

# busy_ticks: the whole machine's non-idle CPU time so far (/proc/stat, USER_HZ ticks).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# seconds CMD...: wall seconds of CMD (empty if it failed); the CPU seconds the whole
# machine spent meanwhile go to $WORK/cpu.last (every process of both ends, sshd's too).
seconds() {
  local start end b0 b1
  rm -f "$WORK/cpu.last"
  b0=$(busy_ticks); start=$(date +%s.%N)
  timeout "$RUN_LIMIT" "$@" >>"$WORK/runs.log" 2>&1 || { echo ""; return; }
  end=$(date +%s.%N); b1=$(busy_ticks)
  awk -v a="$b0" -v b="$b1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }' >"$WORK/cpu.last"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}
fresh() { rm -rf "$WORK/dst"; mkdir "$WORK/dst"; sync; }

# One round: every system on both workloads, into fresh directories; the figures of
# round R go to T[WHAT.SYSTEM.R].
declare -A T C
round() {
  local r=$1 what item
  for what in big tree; do
    if [[ $what = big ]]; then item=src/big.bin; else item=src/tree; fi
    rm -rf recv/*; sync
    T[$what.push.$r]=$(seconds "$CURVECP" push --name "$SNAME" --server-key "$HEX" --ext "$EXT" 127.0.0.1 "$CURVECP_PORT" "$item")
    C[$what.push.$r]=$(cat "$WORK/cpu.last" 2>/dev/null)
    if [[ $what = big ]]; then
      cmp -s src/big.bin recv/big.bin || { note "push: the big file that arrived differs"; T[$what.push.$r]=""; }
    else
      diff -r src/tree recv/tree >/dev/null || { note "push: the tree that arrived differs"; T[$what.push.$r]=""; }
    fi
    fresh
    # shellcheck disable=SC2086
    T[$what.scp.$r]=$(seconds scp -q -r -P "$SSH_PORT" $SSH_OPTS "$item" "$USER_AT:$WORK/dst/")
    C[$what.scp.$r]=$(cat "$WORK/cpu.last" 2>/dev/null)
    fresh
    T[$what.rsync.$r]=$(seconds rsync -a -e "ssh $SSH_OPTS -p $SSH_PORT" "$item" "$USER_AT:$WORK/dst/")
    C[$what.rsync.$r]=$(cat "$WORK/cpu.last" 2>/dev/null)
  done
  rm -f sink/big.bin; sync
  T[big.connect.$r]=$(seconds "$CURVECP" connect --name "$SNAME" --server-key "$HEX" --ext "$EXT" 127.0.0.1 "$SINK_PORT" <src/big.bin)
  C[big.connect.$r]=$(cat "$WORK/cpu.last" 2>/dev/null)
  cmp -s src/big.bin sink/big.bin || { note "plain connect: the copy differs"; T[big.connect.$r]=""; }
}
for (( r = 1; r <= RUNS; r++ )); do
  note "round $r of $RUNS"
  round "$r"
done

# median_of ARRAY WHAT SYSTEM: the median of the rounds' figures in ARRAY (T: wall
# seconds, C: CPU seconds); empty if any round failed.
median_of() {
  local -n figures=$1
  local r v all=()
  for (( r = 1; r <= RUNS; r++ )); do
    v=${figures[$2.$3.$r]-}
    [[ -n "$v" && -n "${T[$2.$3.$r]-}" ]] || { echo ""; return; }
    all+=("$v")
  done
  printf '%s\n' "${all[@]}" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
median() { median_of T "$1" "$2"; }
declare -A M MC
for key in big.push big.scp big.rsync big.connect tree.push tree.scp tree.rsync; do
  M[$key]=$(median "${key%%.*}" "${key#*.}")
  MC[$key]=$(median_of C "${key%%.*}" "${key#*.}")
done

tree_bytes=$(du -sb src/tree | cut -f1)
report() {  # report WHAT BYTES LABEL
  local sys t runs r
  echo
  echo "$3 ($2 bytes), median of $RUNS"
  for sys in push scp rsync connect; do
    [[ -n "${T[$1.$sys.1]+set}" ]] || continue
    runs=""
    for (( r = 1; r <= RUNS; r++ )); do runs+=" ${T[$1.$sys.$r]:-failed}"; done
    t=${M[$1.$sys]}
    if [[ -z "$t" ]]; then printf '  %-8s failed (runs:%s; see runs.log)\n' "$sys" "$runs"; continue; fi
    awk -v s="$sys" -v t="$t" -v b="$2" -v runs="$runs" -v cpu="${MC[$1.$sys]:-?}" 'BEGIN {
      printf "  %-8s %8.2f s %8.1f MB/s   CPU %5s s   (runs:%s)\n", s, t, b / t / 1e6, cpu, runs }'
  done
}
# ratio A B: A / B to two places, or empty.
ratio() { [[ -n "$1" && -n "$2" ]] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict GOAL CONDITION(awk) A B
verdict() {
  local label=$1 cond=$2 a=$3 b=$4
  if [[ -z "$a" || -z "$b" ]]; then echo "  NOT SHOWN  $label (a run failed)"; return; fi
  if awk -v a="$a" -v b="$b" "BEGIN { exit !($cond) }"; then echo "  MET        $label"; else echo "  NOT MET    $label"; fi
}
echo
echo "push benchmark on 127.0.0.1 ($(nproc) cores; $RUNS rounds; figures from a busy host if others run)"
echo "CPU: seconds of CPU the whole machine spent during the run (both ends, every process; median)"
report big "$BIG" "one file"
report tree "$tree_bytes" "tree of $FILES small files"
echo
echo "ratios of the medians (time ratios above 1: push is faster; push/connect is a rate ratio)"
echo "  one file: scp/push $(ratio "${M[big.scp]}" "${M[big.push]}"), rsync/push $(ratio "${M[big.rsync]}" "${M[big.push]}"), push/connect $(ratio "${M[big.connect]}" "${M[big.push]}")"
echo "  tree:     scp/push $(ratio "${M[tree.scp]}" "${M[tree.push]}"), rsync/push $(ratio "${M[tree.rsync]}" "${M[tree.push]}")"
echo
echo "goals (push verifies every file and syncs it to disk before its rename; scp and rsync do neither)"
verdict "one file: push faster than scp" "a < b" "${M[big.push]}" "${M[big.scp]}"
verdict "one file: push faster than rsync" "a < b" "${M[big.push]}" "${M[big.rsync]}"
verdict "tree: push faster than scp" "a < b" "${M[tree.push]}" "${M[tree.scp]}"
verdict "tree: push faster than rsync" "a < b" "${M[tree.push]}" "${M[tree.rsync]}"
verdict "one file: push at $CLOSE or more of plain connect's rate" "b / a >= $CLOSE" "${M[big.push]}" "${M[big.connect]}"
stop_group "$SSHD_PID" 2>/dev/null
