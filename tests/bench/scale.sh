#!/bin/bash
# Scale and memory of one daemon (docs/MEMORY.md, issue 10 items 1-3). Phases:
#   probe  PROBE_N connections, each one Initiate carrying 16 bytes at offset 4 MiB - 16
#          and nothing else (curvecp_scale_probe): the daemon's RSS growth per connection.
#          Also PROBE_N connections with the 16 bytes at offset 0 (an idle connection).
#   hold   HOLD_N connections established and echoed (16 bytes through cat), then held
#          open together (at most HOLD_S seconds): RSS, descriptors and CPU per held
#          connection, all of them finishing afterwards. While they are established, a
#          line every SAMPLE_S seconds: programs running, descriptors, RSS, and the daemon's
#          CPU per connection started in that interval (does spawning slow down as the
#          descriptor table grows?). With SERVE_FLAGS=--program-socket a connection costs
#          the daemon one descriptor instead of two.
#   burst  BURST_N clients started at once, each echoing 4 KiB through cat and closing.
#   rate   RATE_N short connections (4 KiB echo through cat) started at RATE per second:
#          the rate achieved, the daemon's CPU per connection, every one finishing.
# Each phase runs against a fresh daemon; peak RSS is the daemon's VmHWM (/proc), CPU its
# utime + stime. Figures are printed as "scale: ..." lines; with MODE=test the script
# also fails unless every connection finished and the probe's RSS per connection stays
# under PROBE_LIMIT_KIB (default 1024: a far-ahead Initiate must not commit the window).
# Speed is never asserted.
#
# usage: scale.sh CURVECP LOADGEN PROBE
#   environment: MODE=bench|test PHASES="probe hold burst rate" PROBE_N PROBE_PROG HOLD_N HOLD_S HOLD_PROCS
#                HOLD_RATE SAMPLE_S BURST_N RATE_N RATE SERVE_FLAGS
# CURVECP may be another build (e.g. main's) for the reference figures.
set -euo pipefail
CURVECP=$1
LOADGEN=$(readlink -f "$2") PROBE=$(readlink -f "$3")
# A benchmark run takes minutes; ctest sets its own limit.
export TEST_TIME_LIMIT=${TEST_TIME_LIMIT:-1800}
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
MODE=${MODE:-bench}
PROBE_N=${PROBE_N:-200}
HOLD_N=${HOLD_N:-10000}
HOLD_S=${HOLD_S:-600}
SAMPLE_S=${SAMPLE_S:-5}
BURST_N=${BURST_N:-2000}
RATE_N=${RATE_N:-5000}
RATE=${RATE:-1000}
PROBE_LIMIT_KIB=${PROBE_LIMIT_KIB:-1024}
PHASES=" ${PHASES:-probe hold burst rate} "
phase() { [[ "$PHASES" == *" $1 "* ]]; }
# Two pipe ends per daemon connection (one socket with --program-socket), one UDP socket
# per load-generator connection (several generators: each has its own limit).
# As root the hard limit can be raised; otherwise whatever it is.
fds_per_conn=2
[[ " ${SERVE_FLAGS:-} " == *" --program-socket "* ]] && fds_per_conn=1
want_fds=$(( fds_per_conn * HOLD_N + 1000 ))
if (( $(ulimit -Hn) < want_fds )); then ulimit -Hn "$want_fds" 2>/dev/null || true; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -Hn) < want_fds )); then
  # Without CAP_SYS_RESOURCE the hard limit stays; the daemon needs 2 (or 1) per connection + 64.
  fit=$(( ($(ulimit -Hn) - 64) / fds_per_conn - 10 ))
  note "descriptor hard limit $(ulimit -Hn) (cannot raise it here): holding $fit connections instead of $HOLD_N"
  HOLD_N=$fit
fi

KEY_IMPL=ours make_key "$WORK/serverkey"
KEY_HEX=$(cat "$WORK/serverkey.hex")
note "host: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg) (busy host: figures are indicative)"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# Children of PID (its programs), without ps walking all of /proc.
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null | wc -w; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tick_hz=$(getconf CLK_TCK)

# serve_fresh MAX PROG...: a new daemon for one phase.
serve_fresh() {
  local max=$1
  shift
  # The previous phase's log must go first: start_server would otherwise find its
  # "listening on" line before the new server's shell has truncated the file.
  rm -f "$WORK/server.log"
  SERVER_FLAGS="--max-connections $max ${SERVE_FLAGS:-}" start_server ours "$WORK/serverkey" "$@"
  BASE_RSS=$(rss_kib "$SERVER_PID")
  BASE_CPU=$(cpu_ticks "$SERVER_PID")
}

# loadgen_run NAME ARGS...: the load generator; its summary line must say all ok in MODE=test.
loadgen_run() {
  local name=$1 rc=0
  shift
  timeout $(( $(time_left) - 20 )) "$LOADGEN" --name "$SNAME" --server-key "$KEY_HEX" --ext "$EXT" "$@" \
    127.0.0.1 "$PORT" >"$WORK/$name.out" 2>"$WORK/$name.log" || rc=$?
  LOADGEN_LINE=$(grep '^loadgen: [0-9]* connections' "$WORK/$name.out" | tail -n 1 || true)
  note "$name: $LOADGEN_LINE (exit $rc)"
  if [[ "$MODE" = test && $rc -ne 0 ]]; then fail "$name: not every connection finished: $LOADGEN_LINE"; fi
  return 0
}

per_conn() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.1f", (a - b) / n }'; }

# server_outcome: the server's own count of ended connections (its counters on SIGUSR1):
# a connection it counts as failed had output unacknowledged when its client left (the
# client had all its bytes: it only checks what it received).
# With MODE=test, server_check PHASE N fails unless the server counts N finished and none
# failed (waiting up to 15 s for the last ones to end).
server_outcome() {
  kill -USR1 "$SERVER_PID" 2>/dev/null || true
  sleep 1
  OUTCOME=$(grep -o 'finished=[0-9]* failed=[0-9]* close_timeout=[0-9]*' "$WORK/server.log" | tail -n 1)
  echo "$OUTCOME (connections ended so far); socket receive-queue drops $(udp_drops)"
}
# The kernel's count of datagrams dropped at the server's socket (receive queue full):
# the drops column of its line in /proc/net/udp.
udp_drops() {
  awk -v a="$(printf '0100007F:%04X' "$PORT")" '$2 == a { print $NF }' /proc/net/udp | head -n 1
}
server_check() {
  [[ "$MODE" = test ]] || return 0
  local i
  for (( i = 0; i < 15; i++ )); do
    server_outcome >/dev/null
    [[ "$OUTCOME" == "finished=$2 "* ]] && return 0
    [[ "$OUTCOME" == *" failed=0 close_timeout=0" ]] || break
  done
  fail "$1: the server counts $OUTCOME of $2 connections (clients all had their echo)"
}

# --- probe: a far-ahead Initiate per connection, and an idle one ---
phase probe && for offset in $(( (4 << 20) - 16 )) 0; do
  # shellcheck disable=SC2086  # PROBE_PROG is a command line
  serve_fresh $(( PROBE_N + 10 )) ${PROBE_PROG:-cat}
  "$PROBE" --name "$SNAME" --server-key "$KEY_HEX" --ext "$EXT" --connections "$PROBE_N" --offset "$offset" \
    127.0.0.1 "$PORT" >"$WORK/probe.out" 2>"$WORK/probe.log" || fail "probe failed: $(cat "$WORK/probe.log")"
  sleep 1  # let the daemon take in the last Initiates and start the programs
  rss=$(rss_kib "$SERVER_PID")
  per=$(per_conn "$rss" "$BASE_RSS" "$PROBE_N")
  if [[ $offset = 0 ]]; then what="idle connection (16 bytes at offset 0)"; else what="Initiate with 16 bytes at offset 4 MiB - 16"; fi
  echo "scale: probe: $PROBE_N connections, $what: daemon RSS $BASE_RSS -> $rss KiB, $per KiB per connection"
  if [[ "$MODE" = test ]] && awk -v p="$per" -v l="$PROBE_LIMIT_KIB" 'BEGIN { exit !(p > l) }'; then
    fail "probe: $per KiB per connection (limit $PROBE_LIMIT_KIB KiB)"
  fi
  # The probe's connections never finish (the client is gone): the second SIGTERM fails them.
  kill -TERM "$SERVER_PID"
  sleep 0.5
  stop_server 0 30
done

# --- hold: HOLD_N concurrent established connections ---
# Split over HOLD_PROCS load generators (default: one per 2500 connections): each client
# connection holds a few libsodium secure allocations (guard pages), three mappings each,
# and one process may have only vm.max_map_count (65530) mappings.
if phase hold; then
# Room for a few connections whose client has started its handshake over (loadgen
# --restart-after) after the server had taken its first Initiate after all: they hold a
# slot until their idle timeout. Within the descriptor limit.
hold_max=$(( HOLD_N + HOLD_N / 20 + 10 ))
fd_room=$(( ($(ulimit -Hn) - 64) / fds_per_conn ))
(( hold_max <= fd_room )) || hold_max=$fd_room
serve_fresh "$hold_max" cat
procs=${HOLD_PROCS:-$(( (HOLD_N + 2499) / 2500 ))}
hold_pids=()
rm -f "$WORK/release"
hold_start=$(now_s)
for (( k = 0; k < procs; k++ )); do
  n=$(( HOLD_N / procs + (k < HOLD_N % procs ? 1 : 0) ))
  # In a process group of its own that the test's cleanup ends (common.sh), like bg's.
  setsid timeout $(( $(time_left) - 20 )) "$LOADGEN" --name "$SNAME" --server-key "$KEY_HEX" --ext "$EXT" \
    --connections "$n" --bytes 16 --rate "$(( ${HOLD_RATE:-150} / procs ))" --hold "$HOLD_S" \
    --release-file "$WORK/release" --timeout "$(( $(time_left) - 40 - HOLD_S ))" 127.0.0.1 "$PORT" \
    >"$WORK/hold$k.out" 2>"$WORK/hold$k.log" &
  hold_pids+=($!)
  GROUPS_STARTED+=($!)
done
# Held: every generator has all its connections echoed (they hold until $WORK/release).
held=0 last_sample=0 last_programs=0 last_cpu=$BASE_CPU
while :; do
  holding=$(cat "$WORK"/hold*.out 2>/dev/null | grep -c '^loadgen: holding' || true)
  if (( holding == procs )); then held=1; break; fi
  alive=0
  for p in "${hold_pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  (( alive )) || break
  if (( SECONDS - last_sample >= SAMPLE_S )); then
    last_sample=$SECONDS
    programs=$(children_of "$SERVER_PID") cpu=$(cpu_ticks "$SERVER_PID")
    started=$(( programs - last_programs ))
    echo "scale: hold: $(awk -v a="$hold_start" -v b="$(now_s)" 'BEGIN { printf "%.0f", b - a }') s: $programs programs, daemon $(ls "/proc/$SERVER_PID/fd" | wc -l) descriptors, RSS $(rss_kib "$SERVER_PID") KiB, CPU $(awk -v c="$(( cpu - last_cpu ))" -v h="$tick_hz" -v n="$started" 'BEGIN { if (n > 0) printf "%.2f ms", 1000 * c / h / n; else print "-" }') per program started since the last line"
    last_programs=$programs last_cpu=$cpu
  fi
  sleep 0.2
done
if (( held )); then
  sleep 0.5
  rss=$(rss_kib "$SERVER_PID")
  conns=$(children_of "$SERVER_PID")
  fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
  cpu=$(( $(cpu_ticks "$SERVER_PID") - BASE_CPU ))
  echo "scale: hold: $HOLD_N connections held open at once from $procs load generators after $(awk -v a="$hold_start" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }') s ($conns programs running, daemon $fds descriptors): daemon RSS $BASE_RSS -> $rss KiB, $(per_conn "$rss" "$BASE_RSS" "$HOLD_N") KiB per connection; CPU $(awk -v c="$cpu" -v h="$tick_hz" -v n="$HOLD_N" 'BEGIN { printf "%.2f ms", 1000 * c / h / n }') per connection"
fi
touch "$WORK/release"
release_at=$(now_s)
rc=0
for p in "${hold_pids[@]}"; do wait "$p" || rc=$?; done
echo "scale: hold: released; the generators were done $(awk -v a="$release_at" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }') s later"
echo "scale: hold: server: $(server_outcome)"
server_check hold "$HOLD_N"
note "hold: $(cat "$WORK"/hold*.out | grep '^loadgen: [0-9]* connections' | tr '\n' ' ') (last non-zero exit $rc)"
if (( ! held )) || [[ $rc -ne 0 ]]; then
  [[ "$MODE" = test ]] && fail "hold: not every connection was established and finished"
  echo "scale: hold: FAILED (held=$held exit $rc): $(cat "$WORK"/hold*.out | tail -n 2 | tr '\n' ' ')"
fi
stop_server 0 60
fi

# --- burst: BURST_N clients at once, 4 KiB echo each ---
if phase burst; then
serve_fresh $(( BURST_N + 10 )) cat
start=$(now_s)
loadgen_run burst --connections "$BURST_N" --bytes 4096 --timeout "$(( $(time_left) - 40 ))"
end=$(now_s)
cpu=$(( $(cpu_ticks "$SERVER_PID") - BASE_CPU ))
hwm=$(hwm_kib "$SERVER_PID")
echo "scale: burst: $BURST_N clients at once, 4 KiB echo each: $LOADGEN_LINE; daemon peak RSS $hwm KiB ($(per_conn "$hwm" "$BASE_RSS" "$BURST_N") KiB per connection over $BASE_RSS), CPU $(awk -v c="$cpu" -v h="$tick_hz" -v n="$BURST_N" 'BEGIN { printf "%.2f ms", 1000 * c / h / n }') per connection"
echo "scale: burst: server: $(server_outcome)"
server_check burst "$BURST_N"
stop_server 0 60
fi

# --- rate: short connections at RATE per second ---
if phase rate; then
serve_fresh $(( RATE_N + 10 )) cat
loadgen_run rate --connections "$RATE_N" --bytes 4096 --rate "$RATE" --timeout "$(( $(time_left) - 40 ))"
cpu=$(( $(cpu_ticks "$SERVER_PID") - BASE_CPU ))
hwm=$(hwm_kib "$SERVER_PID")
elapsed=$(sed -n 's/.* in \([0-9.]*\) s;.*/\1/p' <<<"$LOADGEN_LINE")
ok=$(sed -n 's/.* \([0-9]*\) ok,.*/\1/p' <<<"$LOADGEN_LINE")
echo "scale: rate: $RATE_N short connections offered at $RATE/s: ${ok:-0} finished in ${elapsed:-?} s ($(awk -v n="${ok:-0}" -v e="${elapsed:-0}" 'BEGIN { if (e > 0) printf "%.0f", n / e; else print "?" }')/s); daemon peak RSS $hwm KiB ($(per_conn "$hwm" "$BASE_RSS" "$RATE_N") KiB per connection over $BASE_RSS), CPU $(awk -v c="$cpu" -v h="$tick_hz" -v n="$RATE_N" 'BEGIN { printf "%.2f ms", 1000 * c / h / n }') per connection, i.e. $(awk -v c="$cpu" -v h="$tick_hz" -v n="$RATE_N" 'BEGIN { if (c > 0) printf "%.0f", n * h / c; else print "?" }') connections/s on one free core"
echo "scale: rate: server: $(server_outcome)"
server_check rate "$RATE_N"
stop_server 0 60
fi
finish
