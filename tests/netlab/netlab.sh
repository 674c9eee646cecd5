# shellcheck shell=bash
# Sourced helpers for the real-path testbed: network namespaces joined by veths, a tbf
# bottleneck in a middle router namespace, and the user-space delay box (delaybox.cpp),
# because these kernels have no netem. The topology and its reasons are those measured for
# this machine kind:
#
#   snd ns [s0] ==veth== [r0] router ns [r1] == delaybox (two TUNs) == [c0] rcv ns
#                        tbf on r0 (reverse path)   tbf on r1 (data path)
#
# Addresses (10.77.1.0/24 snd-router, 10.77.2.0/24 router-rcv) exist only inside the run's
# own namespaces, whose names end in the shell's pid, so parallel runs do not collide.
# netlab_teardown (installed as the EXIT trap by netlab_init) stops exactly the processes the
# script started, by process group, then deletes its namespaces by name.
#
# Use: source netlab.sh; netlab_init; netlab_up DELAYBOX RATE BUFFER_MS DELAY_MS; netlab_bg ...

NETLAB_SND_IP=10.77.1.1
NETLAB_ROUTER_IP=10.77.1.2
NETLAB_RCV_IP=10.77.2.2
NETLAB_PIDS=()
NETLAB_NAMESPACES=()

netlab_note() { echo "netlab: $*"; }
netlab_fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# netlab_init: names of this run's namespaces, a work directory, the EXIT trap.
netlab_init() {
  [[ $(id -u) -eq 0 ]] || { echo "netlab: needs root (network namespaces); skipped"; exit 77; }
  command -v ip >/dev/null || { echo "netlab: iproute2 missing; skipped"; exit 77; }
  [[ -c /dev/net/tun ]] || { echo "netlab: /dev/net/tun missing; skipped"; exit 77; }
  NETLAB_SND=nlsnd$$
  NETLAB_ROUTER=nlrtr$$
  NETLAB_RCV=nlrcv$$
  NETLAB_WORK=$(mktemp -d /tmp/netlab.XXXXXX)
  NETLAB_START_S=$(date +%s)
  trap netlab_teardown EXIT
  trap 'exit 143' TERM INT
}

# netlab_time_left: seconds left of TEST_TIME_LIMIT (default 80).
netlab_time_left() {
  echo $(( ${TEST_TIME_LIMIT:-80} - ($(date +%s) - NETLAB_START_S) ))
}

# netlab_bg NAME NS CMD...: runs CMD inside namespace NS in the background, in its own
# process group, stdin from $NETLAB_STDIN (default /dev/null), stdout to $NETLAB_STDOUT
# (default $NETLAB_WORK/NAME.log), stderr to $NETLAB_WORK/NAME.log; sets NETLAB_PID
# (pid == process group, since ip netns exec and setsid exec in place).
netlab_bg() {
  local name=$1 ns=$2
  shift 2
  setsid ip netns exec "$ns" "$@" <"${NETLAB_STDIN:-/dev/null}" \
    >"${NETLAB_STDOUT:-$NETLAB_WORK/$name.log}" 2>>"$NETLAB_WORK/$name.log" &
  NETLAB_PID=$!
  NETLAB_PIDS+=("$NETLAB_PID")
}

# netlab_run NAME NS CMD...: netlab_bg, then waits for CMD; returns its exit status. Waiting
# with the wait builtin (not a foreground command) lets SIGTERM/SIGINT reach the script's
# trap at once, and the teardown then stops CMD's process group too.
netlab_run() {
  local rc=0
  netlab_bg "$@"
  wait "$NETLAB_PID" || rc=$?
  return "$rc"
}

netlab_teardown() {
  local rc=$? pid ns i
  trap - EXIT
  for pid in "${NETLAB_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for (( i = 0; i < 30; i++ )); do
    local alive=0
    for pid in "${NETLAB_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.1
  done
  for pid in "${NETLAB_PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for ns in "${NETLAB_NAMESPACES[@]}"; do
    # Every process inside (ours or a stray one) goes first, then the namespace.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  if [[ $rc -ne 0 && -d "$NETLAB_WORK" ]]; then
    for f in "$NETLAB_WORK"/*.log; do
      [[ -s "$f" ]] || continue
      echo "---- $(basename "$f") (last 15 lines)" >&2
      tail -n 15 "$f" >&2
    done
  fi
  [[ -n "${NETLAB_WORK:-}" ]] && rm -rf "$NETLAB_WORK"
  exit "$rc"
}

# netlab_offloads_off NS DEV: TSO/GSO/GRO off so that the bottleneck sees MTU-sized packets.
netlab_offloads_off() {
  if [[ -n "$NETLAB_ETHTOOL" ]]; then
    ip netns exec "$1" "$NETLAB_ETHTOOL" -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
  fi
}

# netlab_up DELAYBOX RATE_MBIT BUFFER_MS DELAY_MS: builds the topology above and starts the
# delay box (DELAY_MS each way; more delaybox options, e.g. "--loss 0.01 --seed 7", in
# NETLAB_DELAYBOX_ARGS). The tbf limit is BUFFER_MS of the rate, in bytes.
netlab_up() {
  local delaybox=$1 rate_mbit=$2 buffer_ms=$3 delay_ms=$4 burst limit
  NETLAB_ETHTOOL=$(command -v ethtool || true)
  if [[ -n "$NETLAB_ETHTOOL" ]]; then
    burst=3028  # two full-size packets: the offloads are off, nothing larger reaches tbf
  else
    # Without ethtool, GSO/GRO stay on and tbf may see 64 KiB aggregates: size the burst so
    # that one fits (tbf segments what does not, but the rate is then less exact).
    netlab_note "ethtool missing: offloads stay on, tbf burst raised to 64 KiB"
    burst=65536
  fi
  limit=$(( rate_mbit * 1000000 * buffer_ms / 8000 ))
  for ns in "$NETLAB_SND" "$NETLAB_ROUTER" "$NETLAB_RCV"; do
    ip netns add "$ns" || netlab_fail "ip netns add $ns"
    NETLAB_NAMESPACES+=("$ns")
    ip -n "$ns" link set lo up
  done
  ip link add s0 netns "$NETLAB_SND" type veth peer name r0 netns "$NETLAB_ROUTER" \
    || netlab_fail "veth pair"
  ip -n "$NETLAB_ROUTER" tuntap add dev r1 mode tun || netlab_fail "tun r1"
  ip -n "$NETLAB_RCV" tuntap add dev c0 mode tun || netlab_fail "tun c0"
  netlab_offloads_off "$NETLAB_SND" s0
  netlab_offloads_off "$NETLAB_ROUTER" r0
  netlab_offloads_off "$NETLAB_ROUTER" r1
  netlab_offloads_off "$NETLAB_RCV" c0

  ip -n "$NETLAB_SND" addr add "$NETLAB_SND_IP/24" dev s0
  ip -n "$NETLAB_SND" link set s0 up
  ip -n "$NETLAB_SND" route add default via "$NETLAB_ROUTER_IP"
  ip -n "$NETLAB_ROUTER" addr add "$NETLAB_ROUTER_IP/24" dev r0
  ip -n "$NETLAB_ROUTER" addr add 10.77.2.1/24 dev r1
  ip -n "$NETLAB_ROUTER" link set r0 up
  ip -n "$NETLAB_ROUTER" link set r1 up
  ip netns exec "$NETLAB_ROUTER" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$NETLAB_RCV" addr add "$NETLAB_RCV_IP/24" dev c0
  ip -n "$NETLAB_RCV" link set c0 up
  ip -n "$NETLAB_RCV" route add default dev c0

  # The bottleneck, both ways, in the router (never on the sender's own device).
  ip netns exec "$NETLAB_ROUTER" tc qdisc add dev r1 root tbf rate "${rate_mbit}mbit" burst "$burst" limit "$limit" \
    || netlab_fail "tbf on r1"
  ip netns exec "$NETLAB_ROUTER" tc qdisc add dev r0 root tbf rate "${rate_mbit}mbit" burst "$burst" limit "$limit" \
    || netlab_fail "tbf on r0"

  # The box is the path: it runs SCHED_FIFO (NETLAB_DELAYBOX_REALTIME, default priority 50;
  # 0: normal priority) so that a busy host stalls the end hosts, not the path's routers.
  local realtime=()
  [[ "${NETLAB_DELAYBOX_REALTIME:-50}" != 0 ]] && realtime=(--realtime "${NETLAB_DELAYBOX_REALTIME:-50}")
  # shellcheck disable=SC2086  # NETLAB_DELAYBOX_ARGS is a word list
  netlab_bg delaybox "$NETLAB_ROUTER" "$delaybox" --a "$NETLAB_ROUTER:r1" --b "$NETLAB_RCV:c0" \
    --delay-ms "$delay_ms" --time-limit-s "$(netlab_time_left)" "${realtime[@]}" ${NETLAB_DELAYBOX_ARGS:-}
  NETLAB_DELAYBOX_PID=$NETLAB_PID
  local i
  for (( i = 0; i < 100; i++ )); do
    grep -q 'delaybox ready' "$NETLAB_WORK/delaybox.log" 2>/dev/null && break
    kill -0 "$NETLAB_DELAYBOX_PID" 2>/dev/null || netlab_fail "delaybox exited: $(cat "$NETLAB_WORK/delaybox.log")"
    sleep 0.05
  done
  grep -q 'delaybox ready' "$NETLAB_WORK/delaybox.log" || netlab_fail "delaybox not ready within 5 s"
  netlab_note "topology up: $NETLAB_SND -> $NETLAB_ROUTER (tbf ${rate_mbit} Mbit/s, ${buffer_ms} ms = $limit B) -> delaybox ${delay_ms} ms each way -> $NETLAB_RCV"
}

# netlab_ping_stats FILE: "p50 p95 count" of the time= values of a ping log, in ms.
netlab_ping_stats() {
  sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p' "$1" | sort -n | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "nan nan 0"; exit }
      i50 = int(0.50 * NR + 0.5); if (i50 < 1) i50 = 1
      i95 = int(0.95 * NR + 0.5); if (i95 < 1) i95 = 1; if (i95 > NR) i95 = NR
      printf "%.1f %.1f %d\n", v[i50], v[i95], NR
    }'
}
