#!/bin/bash
# Loopback throughput benchmark (a program that prints figures, never a test).
#
# usage: throughput.sh CURVECP_BINARY TCP_HELPER_BINARY
# environment: SIZE (bytes, default 200000000), REF_SIZE (default 20000000), RUNS (default 3),
#              RUN_LIMIT (seconds per transfer, default 900)
#
# In one run, uploads a file of random bytes over 127.0.0.1 through
#   curvecp       curvecp connect (netcat mode) -> curvecp serve -- cat > /dev/null
#   reference     curvecpclient + curvecpmessage -c -> curvecpserver + curvecpmessage
#                 (REF_SIZE only: the reference moves ~1 MB/s on loopback, CURVECP.md 8.3)
#   ssh           ssh -c chacha20-poly1305@openssh.com -> a throw-away sshd on a loopback
#                 port with a throw-away host key and user key ("cat > /dev/null")
#   tcp           a plain TCP socket (TCP_HELPER send/sink)
# and prints, per system, the median of RUNS runs of: MB/s (bytes / wall time from client
# start to client exit) and CPU seconds (user + system) of client and server together,
# then the curvecp/ssh ratios. Needs GNU time (/usr/bin/time); ssh is skipped if sshd is
# missing (apt-get install openssh-server openssh-client). Nothing outside the scratch
# directory is configured; only /run/sshd (sshd's privilege-separation directory) is
# created if absent.
set -u
CURVECP=$1 TCP_HELPER=$2
SIZE=${SIZE:-200000000} REF_SIZE=${REF_SIZE:-20000000} RUNS=${RUNS:-3}
RUN_LIMIT=${RUN_LIMIT:-900}  # seconds per transfer; a run over it counts as failed
BENCH_DIR=$(readlink -f "$(dirname "$0")")
source "$BENCH_DIR/../interop/common.sh"
set +e +o pipefail  # a benchmark reports what it measured; it does not stop at the first failed probe
require_curvecp
TCP_HELPER=$(readlink -f "$TCP_HELPER")
[[ -x /usr/bin/time ]] || fail "GNU time (/usr/bin/time) is needed to measure CPU seconds"
cd "$WORK" || exit 1
TICKS=$(getconf CLK_TCK)

note "preparing $SIZE random bytes"
head -c "$SIZE" /dev/urandom >"$WORK/data"
head -c "$REF_SIZE" "$WORK/data" >"$WORK/data.ref"

# CPU seconds of a live process and its reaped children (utime stime cutime cstime).
proc_cpu() {
  awk -v t="$TICKS" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13 + $14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# "wall user sys" written by /usr/bin/time -f '%e %U %S' -o FILE.
time_wall() { awk '{ print $1 }' "$1"; }
time_cpu() { awk '{ printf "%.3f\n", $2 + $3 }' "$1"; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", a + b }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Each run_X prints "wall_seconds cpu_seconds" for one transfer, or nothing on failure.
# They run inside $(...): a server they start is stopped by them on every path, since the
# EXIT trap of the parent shell never learns of process groups started in a subshell.

run_curvecp() {
  local port pid before after
  # Port 0 and read back: nothing else can take it between the probe and the bind.
  bg curvecp-server "$CURVECP" serve -v --name "$SNAME" --key "$WORK/curvecpkey" "$SERVER_IP" 0 -- sh -c 'exec cat > /dev/null'
  pid=$BG_PID
  wait_log_line "$WORK/curvecp-server.log" 'listening on ' 10 "$pid" || { stop_group "$pid"; return 1; }
  port=$(listening_port "$WORK/curvecp-server.log")
  before=$(proc_cpu "$pid")
  /usr/bin/time -f '%e %U %S' -o "$WORK/client.time" timeout "$RUN_LIMIT" "$CURVECP" connect --name "$SNAME" \
    --server-key "$(cat "$WORK/curvecpkey.hex")" "$SERVER_IP" "$port" <"$WORK/data" >/dev/null 2>>"$WORK/curvecp-client.log" || { stop_group "$pid"; return 1; }
  sleep 0.3  # let the server reap its program, so its CPU is in cutime/cstime
  after=$(proc_cpu "$pid")
  stop_group "$pid"
  echo "$(time_wall "$WORK/client.time") $(add "$(time_cpu "$WORK/client.time")" "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')")"
}

run_reference() {
  local port pid before after
  port=$(free_udp_port)
  rm -f "$WORK/refprog.time"
  # curvecpserver ignores SIGCHLD, so its children's CPU never reaches its cutime:
  # GNU time measures the per-connection curvecpmessage (and its cat) instead.
  bg ref-server curvecpserver "$SNAME" "$WORK/refkey" 127.0.0.1 "$port" "$EXT" \
    /usr/bin/time -f '%e %U %S' -o "$WORK/refprog.time" curvecpmessage sh -c 'exec cat > /dev/null'
  pid=$BG_PID
  local i
  for (( i = 0; i < 200; i++ )); do udp_port_owned_by "$port" "$pid" && break; sleep 0.05; done
  udp_port_owned_by "$port" "$pid" || { stop_group "$pid"; return 1; }
  before=$(proc_cpu "$pid")
  /usr/bin/time -f '%e %U %S' -o "$WORK/client.time" timeout "$RUN_LIMIT" curvecpclient "$SNAME" "$(cat "$WORK/refkey.hex")" 127.0.0.1 \
    "$port" "$EXT" curvecpmessage -c sh -c "exec cat '$WORK/data.ref' >&7" </dev/null >/dev/null 2>>"$WORK/ref-client.log" || { stop_group "$pid"; return 1; }
  wait_for_file "$WORK/refprog.time" 30 || { stop_group "$pid"; return 1; }
  sleep 0.1
  after=$(proc_cpu "$pid")
  stop_group "$pid"
  echo "$(time_wall "$WORK/client.time") $(add "$(add "$(time_cpu "$WORK/client.time")" "$(time_cpu "$WORK/refprog.time")")" "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')")"
}

# The throw-away sshd (bench_sshd.sh, shared with push_bench.sh).
source "$BENCH_DIR/bench_sshd.sh"
run_ssh() {
  local before after
  before=$(proc_cpu "$SSHD_PID")
  /usr/bin/time -f '%e %U %S' -o "$WORK/client.time" timeout "$RUN_LIMIT" \
    ssh $SSH_OPTS -p "$SSH_PORT" "$(id -un)@127.0.0.1" 'cat > /dev/null' <"$WORK/data" 2>>"$WORK/ssh-client.log" || return
  sleep 0.3  # the per-connection sshd is reaped by the listener: its CPU lands in cutime
  after=$(proc_cpu "$SSHD_PID")
  echo "$(time_wall "$WORK/client.time") $(add "$(time_cpu "$WORK/client.time")" "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')")"
}

run_tcp() {
  local port=$(( $(free_udp_port) ))
  /usr/bin/time -f '%e %U %S' -o "$WORK/sink.time" "$TCP_HELPER" sink "$port" >/dev/null &
  local sink=$!
  sleep 0.2
  /usr/bin/time -f '%e %U %S' -o "$WORK/client.time" "$TCP_HELPER" send "$port" "$WORK/data" || return
  wait "$sink"
  echo "$(time_wall "$WORK/client.time") $(add "$(time_cpu "$WORK/client.time")" "$(time_cpu "$WORK/sink.time")")"
}

KEY_IMPL=ours make_key "$WORK/curvecpkey"
make_key "$WORK/refkey"
HAVE_SSH=0
if start_bench_sshd; then HAVE_SSH=1; else note "sshd not usable: ssh skipped (install openssh-server)"; fi

declare -A WALLS CPUS BYTES_OF
BYTES_OF=([curvecp]=$SIZE [reference]=$REF_SIZE [ssh]=$SIZE [tcp]=$SIZE)
SYSTEMS="curvecp reference tcp"
[[ $HAVE_SSH = 1 ]] && SYSTEMS="curvecp reference ssh tcp"
for run in $(seq "$RUNS"); do
  for sys in $SYSTEMS; do
    r=$("run_$sys")
    if [[ -z "$r" ]]; then
      note "run $run: $sys failed"
      continue
    fi
    read -r wall cpu <<<"$r"
    note "run $run: $sys ${BYTES_OF[$sys]} bytes in ${wall}s, ${cpu} CPU s"
    WALLS[$sys]="${WALLS[$sys]:-} $wall"
    CPUS[$sys]="${CPUS[$sys]:-} $cpu"
  done
done

echo
printf '%-34s %12s %10s %12s %22s\n' system bytes "MB/s" "CPU s" "wall s per run"
declare -A RATE CPU_MED
for sys in $SYSTEMS; do
  [[ -n "${WALLS[$sys]:-}" ]] || continue
  wall=$(median <<<"${WALLS[$sys]}")
  CPU_MED[$sys]=$(median <<<"${CPUS[$sys]}")
  RATE[$sys]=$(awk -v b="${BYTES_OF[$sys]}" -v w="$wall" 'BEGIN { printf "%.1f", (w > 0 ? b / w / 1e6 : 0) }')
  case $sys in
    curvecp) label="curvecp (chicago)" ;;
    reference) label="reference nacl-tools (smaller size)" ;;
    ssh) label="ssh chacha20-poly1305" ;;
    tcp) label="plain TCP" ;;
  esac
  printf '%-34s %12s %10s %12s %22s\n' "$label" "${BYTES_OF[$sys]}" "${RATE[$sys]}" "${CPU_MED[$sys]}" "${WALLS[$sys]# }"
done
if [[ -n "${RATE[curvecp]:-}" && -n "${RATE[ssh]:-}" ]]; then
  awk -v c="${RATE[curvecp]}" -v s="${RATE[ssh]}" -v cc="${CPU_MED[curvecp]}" -v sc="${CPU_MED[ssh]}" \
    -v cb="$SIZE" 'BEGIN { printf "\ncurvecp/ssh throughput ratio: %.2f   CPU seconds per byte ratio: %.2f\n", c / s, cc / sc }'
fi
echo "(median of $RUNS runs; MB = 10^6 bytes; CPU = user + system of client and server processes)"
