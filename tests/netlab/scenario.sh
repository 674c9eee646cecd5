#!/bin/bash
# netlab scenario: one run of one benchmark scenario on a fresh emulated path, measured the
# same way for curvecp and for the kernel-TCP anchors, all in one topology (netlab.sh).
# Called by tests/bench/netlab_report once per scenario and run; prints figures, asserts none.
#
# usage: scenario.sh --curvecp BIN --delaybox BIN --meter BIN --out DIR --kind KIND
#                    --rate MBIT --rtt MS --buffer MS [--loss P] [--duration S] [--noisy]
#                    [--anchors "cubic bbr"] [--seed N] [--stalls BIN]
# KIND: alone | cubic | two | bg_cubic | bg_two | w2_cubic | switch (see docs/NETLAB.md).
#
# Each sub-run (the curvecp one, then one per anchor) gets DIR/SUBRUN/ with:
#   meta          key=value: t0 (epoch), flows (name:type:class:start:stop ...), base RTT,
#                 tbf and delaybox counters before/after, load average, switch times
#   ping.log      ping -D every 20 ms through the bottleneck queue
#   NAME.series   curvecp flows: the sink's "EPOCH BYTES" lines per 250 ms, "total N ok"
#   NAME.gen      curvecp flows: bytes the source wrote; NAME.rc the client's exit status
#   NAME.iperf.json  kernel-TCP flows: iperf3 server JSON (receiver side, 250 ms intervals)
#   NAME.launch   epoch at which the flow's client was started
#   host_stalls.txt  with --stalls BIN (curvecp_host_stalls): how late the host woke a
#                 sleeping process during the flows, the simulator's host noise
# A sub-run whose curvecp lacks a needed option is not run; DIR/SUBRUN/skipped says why.
# Everything is bounded in time; netlab_teardown (EXIT trap) stops what was started and
# deletes the namespaces, also on SIGINT/SIGTERM.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KIND=alone RATE=20 RTT=40 BUFFER=100 LOSS=0 DURATION=30 NOISY=0 ANCHORS="cubic bbr" SEED=1
CURVECP="" DELAYBOX="" METER="" OUT="" STALLS=""
usage() { echo "scenario.sh: $*" >&2; exit 100; }
while (( $# )); do
  case $1 in
    --curvecp) CURVECP=$(realpath "$2"); shift 2 ;;
    --delaybox) DELAYBOX=$(realpath "$2"); shift 2 ;;
    --meter) METER=$(realpath "$2"); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --kind) KIND=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --rtt) RTT=$2; shift 2 ;;
    --buffer) BUFFER=$2; shift 2 ;;
    --loss) LOSS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --noisy) NOISY=1; shift ;;
    --anchors) ANCHORS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --stalls) STALLS=$(realpath "$2"); shift 2 ;;
    *) usage "unknown option $1" ;;
  esac
done
[[ -x "$CURVECP" && -x "$DELAYBOX" && -x "$METER" && -n "$OUT" ]] || usage "--curvecp, --delaybox, --meter (executables) and --out are required"
mkdir -p "$OUT" || exit 111
OUT=$(realpath "$OUT")
D=$DURATION
# shellcheck source=tests/netlab/netlab.sh
source "$HERE/netlab.sh"

# The flows of each sub-run, NAME:TYPE:CLASS:START:STOP (seconds from the sub-run's t0).
# TYPE curvecp (CLASS: normal, background or a weight) or tcp (CLASS: the kernel's cc).
SUBRUNS=()
declare -A FLOWS
add_subrun() { SUBRUNS+=("$1"); FLOWS[$1]=$2; }
case $KIND in
  alone)
    add_subrun curvecp "c1:curvecp:normal:0:$D"
    for a in $ANCHORS; do add_subrun "anchor-$a" "t1:tcp:$a:0:$D"; done ;;
  cubic)
    add_subrun curvecp "c1:curvecp:normal:0:$D x1:tcp:cubic:0:$D"
    for a in $ANCHORS; do add_subrun "anchor-$a" "t1:tcp:$a:0:$D x1:tcp:cubic:0:$D"; done ;;
  two)
    add_subrun curvecp "c1:curvecp:normal:0:$((D + 10)) c2:curvecp:normal:10:$((D + 10))"
    for a in $ANCHORS; do add_subrun "anchor-$a" "t1:tcp:$a:0:$((D + 10)) t2:tcp:$a:10:$((D + 10))"; done ;;
  bg_cubic) add_subrun curvecp "c1:curvecp:background:0:$((D + 15)) x1:tcp:cubic:0:$D" ;;
  bg_two) add_subrun curvecp "c1:curvecp:background:0:$((D + 10)) c2:curvecp:background:10:$((D + 10))" ;;
  w2_cubic) add_subrun curvecp "c1:curvecp:2:0:$D x1:tcp:cubic:0:$D" ;;
  switch) add_subrun curvecp "c1:curvecp:background:0:$((3 * D)) x1:tcp:cubic:0:$((3 * D))" ;;
  *) usage "unknown --kind $KIND" ;;
esac

# What the curvecp binary offers (the priority classes and the control socket come from
# another branch): a sub-run that needs a missing option is reported, never faked.
# (The help is read whole before grep: grep -q leaving early would make a pipefail pipeline fail.)
has_option() { local help; help=$("$CURVECP" "$1" --help 2>/dev/null); grep -q -- "$2" <<<"$help"; }
has_subcommand() { local help; help=$("$CURVECP" --help 2>/dev/null); grep -qE "^ +$1( |$)" <<<"$help"; }
missing_feature() {  # FLOWS: prints what the sub-run needs and the binary lacks
  local f cls need=""
  for f in $1; do
    IFS=: read -r _ type cls _ _ <<<"$f"
    [[ $type == curvecp && $cls != normal ]] && ! has_option connect --priority && need+="connect --priority; "
  done
  if [[ $KIND == switch ]]; then
    has_option connect --control || need+="connect --control; "
    has_subcommand status || need+="status; "
    has_subcommand ctl || need+="ctl; "
  fi
  echo "${need%; }"
}

# Total time: every sub-run's longest flow plus 40 s of set-up, drain and grace.
total=60
for s in "${SUBRUNS[@]}"; do
  longest=0
  for f in ${FLOWS[$s]}; do IFS=: read -r _ _ _ _ stop <<<"$f"; (( stop > longest )) && longest=$stop; done
  total=$(( total + longest + 40 ))
done
export TEST_TIME_LIMIT=$total
netlab_init
delay_each_way=$(awk -v r="$RTT" 'BEGIN { printf "%g", r / 2 }')
if awk -v l="$LOSS" 'BEGIN { exit !(l > 0) }'; then NETLAB_DELAYBOX_ARGS="--loss $LOSS --seed $SEED"; fi
netlab_up "$DELAYBOX" "$RATE" "$BUFFER" "$delay_each_way" >"$OUT/topology.txt" || exit 111
W=$NETLAB_WORK
EXT=31415926535897932384626433832795
SNAME=netlab.bench
"$CURVECP" keygen "$W/serverkey" >/dev/null || netlab_fail "curvecp keygen"
SERVER_KEY=$("$CURVECP" pubkey "$W/serverkey") || netlab_fail "curvecp pubkey"

ip netns exec "$NETLAB_SND" ping -n -c 20 -i 0.05 -W 2 "$NETLAB_RCV_IP" >"$OUT/ping_idle.txt" 2>&1 \
  || netlab_fail "idle ping failed: $(tail -n 2 "$OUT/ping_idle.txt")"
read -r BASE_P50 _ _ < <(netlab_ping_stats "$OUT/ping_idle.txt")
BASE_MIN=$(sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$OUT/ping_idle.txt" | sort -n | head -n 1)

if (( NOISY )); then
  netlab_bg noisy "$NETLAB_SND" bash "$HERE/noisy.sh" "$TEST_TIME_LIMIT"
  NOISY_PID=$NETLAB_PID
fi

# counters FILE PREFIX: appends the data direction's tbf and delaybox counters to FILE.
counters() {
  local line
  line=$(ip netns exec "$NETLAB_ROUTER" tc -s qdisc show dev r1 | tr '\n' ' ')
  sed -n 's/.*Sent \([0-9]*\) bytes \([0-9]*\) pkt (dropped \([0-9]*\).*/'"$2"'_tbf_bytes=\1\n'"$2"'_tbf_pkts=\2\n'"$2"'_tbf_dropped=\3/p' <<<"$line" >>"$1"
  kill -USR1 "$NETLAB_DELAYBOX_PID" 2>/dev/null
  sleep 0.3
  grep 'delaybox a->b:' "$W/delaybox.log" | tail -n 1 \
    | sed -n 's/.*forwarded \([0-9]*\) lost \([0-9]*\) tail_dropped \([0-9]*\).* late_5ms \([0-9]*\) .*max_late_ms \([0-9.]*\).*/'"$2"'_box_forwarded=\1\n'"$2"'_box_lost=\2\n'"$2"'_box_dropped=\3\n'"$2"'_box_late_5ms=\4\n'"$2"'_box_max_late_ms=\5/p' >>"$1"
}

# wait_listening LOG PID: the port of a curvecp server's "listening on" line.
wait_listening() {
  local i
  for (( i = 0; i < 200; i++ )); do
    grep -q 'listening on ' "$1" 2>/dev/null && break
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  sed -n 's/^.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$1" | head -n 1
}

# status_json: the connections of the client's control socket, as JSON (switch scenario).
status_json() { timeout 15 "$CURVECP" status --control "$W/control.sock" --json 2>>"$W/status.log"; }

# switch_to DIR CLASS: ctl the client's one connection to CLASS; records time and status.
switch_to() {
  local dir=$1 cls=$2 id now
  id=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"][0]["id"])' 2>>"$W/status.log")
  now=$(date +%s.%N)
  if [[ -n "$id" ]] && timeout 15 "$CURVECP" ctl --control "$W/control.sock" "$id" --priority "$cls" >>"$W/status.log" 2>&1; then
    echo "switch=$now:$cls" >>"$dir/meta"
  else
    echo "switch_failed=$now:$cls" >>"$dir/meta"
  fi
  sleep 0.5
  status_json >"$dir/status-$cls.json" || true
}

# shellcheck disable=SC2016  # the bash -c scripts expand their own arguments
run_subrun() {
  local sub=$1 dir=$OUT/$1 f name type cls start stop port=5200 longest=0 t0 need
  mkdir -p "$dir"
  need=$(missing_feature "${FLOWS[$sub]}")
  if [[ -n "$need" ]]; then
    echo "curvecp binary lacks: $need" >"$dir/skipped"
    netlab_note "$sub not run: curvecp lacks $need"
    return
  fi
  {
    echo "kind=$KIND"; echo "rate_mbit=$RATE"; echo "rtt_ms=$RTT"; echo "buffer_ms=$BUFFER"
    echo "loss=$LOSS"; echo "noisy=$NOISY"; echo "base_rtt_p50=$BASE_P50"; echo "base_rtt_min=$BASE_MIN"
    echo "flows=${FLOWS[$sub]}"; echo "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$dir/meta"
  counters "$dir/meta" before
  local -a clients=()
  for f in ${FLOWS[$sub]}; do
    IFS=: read -r _ _ _ _ stop <<<"$f"
    (( stop > longest )) && longest=$stop
  done
  for f in ${FLOWS[$sub]}; do
    IFS=: read -r name type cls start stop <<<"$f"
    if [[ $type == curvecp ]]; then
      # Its own control socket: the default one is the machine's (an operator's daemon, tests).
      netlab_bg "$sub.$name.server" "$NETLAB_RCV" "$CURVECP" serve -v --name "$SNAME" --key "$W/serverkey" \
        --ext "$EXT" --control "$W/$sub.$name.control.sock" "$NETLAB_RCV_IP" 0 -- "$METER" sink --seed "$SEED" --out "$dir/$name.series"
      eval "PORT_$name=\$(wait_listening \"\$W/\$sub.\$name.server.log\" \$NETLAB_PID)" \
        || netlab_fail "$sub: curvecp server for $name did not start: $(tail -n 3 "$W/$sub.$name.server.log")"
    else
      port=$(( port + 1 ))
      eval "PORT_$name=$port"
      NETLAB_STDOUT=$dir/$name.iperf.json netlab_bg "$sub.$name.server" "$NETLAB_RCV" \
        timeout $(( longest + 30 )) iperf3 -s -1 -B "$NETLAB_RCV_IP" -p "$port" -i 0.25 -J
    fi
  done
  sleep 0.5
  t0=$(( $(date +%s) + 1 ))
  echo "t0=$t0" >>"$dir/meta"
  NETLAB_STDOUT=$dir/ping.log netlab_bg "$sub.ping" "$NETLAB_SND" bash -c 'sleep $(( $1 - $(date +%s) )); exec ping -D -n -i 0.02 -w "$2" "$3"' \
    _ "$t0" "$(( longest + 2 ))" "$NETLAB_RCV_IP"
  if [[ -n $STALLS ]]; then
    # Ends a second before the longest flow, so it has printed before the clean-up below.
    NETLAB_STDOUT=$dir/host_stalls.txt netlab_bg "$sub.stalls" "$NETLAB_SND" bash -c 'sleep $(( $1 - $(date +%s) )); exec "$2" "$3"' \
      _ "$t0" "$STALLS" "$(( longest > 2 ? longest - 1 : 1 ))"
  fi
  for f in ${FLOWS[$sub]}; do
    IFS=: read -r name type cls start stop <<<"$f"
    local p_var="PORT_$name" dur=$(( stop - start ))
    local -a opts=()
    if [[ $type == curvecp ]]; then
      [[ $cls != normal ]] && opts+=(--priority "$cls")
      [[ $KIND == switch ]] && opts+=(--control "$W/control.sock")
      NETLAB_STDOUT=/dev/null netlab_bg "$sub.$name.client" "$NETLAB_SND" bash -c '
        sleep "$(awk -v t="$1" "BEGIN { printf \"%.3f\", t - $(date +%s.%N) }")"; date +%s.%N >"$2.launch"
        "$3" gen --seed "$4" --seconds "$5" --report "$2.gen" | timeout "$(( $5 + 60 ))" "${@:6}"
        echo "${PIPESTATUS[1]}" >"$2.rc"' _ "$(( t0 + start ))" "$dir/$name" "$METER" "$SEED" "$dur" \
        "$CURVECP" connect --name "$SNAME" --server-key "$SERVER_KEY" --ext "$EXT" "${opts[@]}" "$NETLAB_RCV_IP" "${!p_var}"
    else
      NETLAB_STDOUT=$dir/$name.client.json netlab_bg "$sub.$name.client" "$NETLAB_SND" bash -c '
        sleep "$(awk -v t="$1" "BEGIN { printf \"%.3f\", t - $(date +%s.%N) }")"; date +%s.%N >"$2.launch"
        shift 2; exec "$@"' _ "$(( t0 + start ))" "$dir/$name" \
        timeout $(( dur + 30 )) iperf3 -c "$NETLAB_RCV_IP" -p "${!p_var}" -C "$cls" -t "$dur" -J --connect-timeout 5000
    fi
    clients+=("$NETLAB_PID")
  done
  if [[ $KIND == switch ]]; then
    sleep $(( t0 + D - $(date +%s) ))
    switch_to "$dir" normal
    sleep $(( t0 + 2 * D - $(date +%s) ))
    switch_to "$dir" 2
  fi
  # Every client ends on its own (its source stops at STOP); 60 s of grace, then it is stopped.
  local deadline=$(( t0 + longest + 60 )) pid
  for pid in "${clients[@]}"; do
    while kill -0 "$pid" 2>/dev/null && (( $(date +%s) < deadline )); do sleep 0.5; done
    kill -TERM -- "-$pid" 2>/dev/null
  done
  # The sinks write their totals when their connections end; then the servers go.
  for f in ${FLOWS[$sub]}; do
    IFS=: read -r name type _ _ _ <<<"$f"
    [[ $type == curvecp ]] || continue
    for (( i = 0; i < 50; i++ )); do grep -q '^total' "$dir/$name.series" 2>/dev/null && break; sleep 0.1; done
  done
  for pid in "${NETLAB_PIDS[@]}"; do
    [[ $pid == "$NETLAB_DELAYBOX_PID" ]] && continue
    [[ -n "${NOISY_PID:-}" && $pid == "$NOISY_PID" ]] && continue
    kill -TERM -- "-$pid" 2>/dev/null
  done
  sleep 1
  counters "$dir/meta" after
  echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$dir/meta"
  cp "$W/$sub".*.log "$dir/" 2>/dev/null
  netlab_note "$sub done"
  sleep 2  # the queues drain before the next sub-run
}

for s in "${SUBRUNS[@]}"; do run_subrun "$s"; done
cat /proc/loadavg >"$OUT/loadavg_end"
