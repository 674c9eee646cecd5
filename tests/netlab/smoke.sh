#!/bin/bash
# netlab smoke: one CurveCP transfer over an emulated real path (20 Mbit/s tbf bottleneck
# with a 100 ms drop-tail buffer, 20 ms each way from the delay box, 40 ms base RTT).
#
# usage: smoke.sh CURVECP_BINARY DELAYBOX_BINARY [BYTES]
#
# Asserts behaviour: the base RTT is the configured one (38-50 ms), the data arrives
# byte-exact, the server exits 0 on SIGTERM, no sanitizer report in any log.
# Prints, never asserts, speed: goodput (Mbit/s and share of the CurveCP ceiling, 1024 data
# bytes per 1212 IP bytes of the link rate) and the ping RTT under load (p50/p95, 100 ms
# probes through the same queue). When iperf3 is installed, a kernel-TCP anchor (cubic,
# 10 s) runs through the same path and is reported the same way.
set -euo pipefail
CURVECP=$(realpath "$1")
DELAYBOX=$(realpath "$2")
BYTES=${3:-10000000}  # 10 MB: about 5 s on a quiet host, under 20 s on a busy one
RATE_MBIT=20
# shellcheck source=tests/netlab/netlab.sh
source "$(dirname "$0")/netlab.sh"
netlab_init
SANITIZER_PATTERN='ERROR: AddressSanitizer|runtime error:|LeakSanitizer|SUMMARY: [A-Za-z]*Sanitizer|AddressSanitizer:DEADLYSIGNAL'
EXT=31415926535897932384626433832795
SNAME=netlab.smoke
W=$NETLAB_WORK

netlab_up "$DELAYBOX" "$RATE_MBIT" 100 20

# 1. Base RTT on the idle path.
ip netns exec "$NETLAB_SND" ping -n -c 10 -i 0.2 -W 2 "$NETLAB_RCV_IP" >"$W/ping_idle.txt" \
  || netlab_fail "ping $NETLAB_SND -> $NETLAB_RCV_IP failed: $(cat "$W/ping_idle.txt")"
read -r base_p50 _ base_n < <(netlab_ping_stats "$W/ping_idle.txt")
netlab_note "base RTT p50 ${base_p50} ms over $base_n pings"
awk -v r="$base_p50" 'BEGIN { exit !(r >= 38 && r <= 50) }' \
  || netlab_fail "base RTT ${base_p50} ms outside 38-50 ms"

# 2. CurveCP: BYTES of random data from snd to a server in rcv.
head -c "$BYTES" /dev/urandom >"$W/data"
want=$(sha256sum <"$W/data" | cut -d' ' -f1)
"$CURVECP" keygen "$W/serverkey" >/dev/null || netlab_fail "curvecp keygen"
"$CURVECP" pubkey "$W/serverkey" >"$W/serverkey.hex" || netlab_fail "curvecp pubkey"
netlab_bg server "$NETLAB_RCV" "$CURVECP" serve -v --name "$SNAME" --key "$W/serverkey" --ext "$EXT" --control "$W/control.sock" \
  "$NETLAB_RCV_IP" 0 -- sh -c "cat > '$W/received'"
SERVER_PID=$NETLAB_PID
for (( i = 0; i < 200; i++ )); do
  grep -q 'listening on ' "$W/server.log" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || netlab_fail "server exited before listening"
  sleep 0.05
done
PORT=$(sed -n 's/^.*listening on .*:\([0-9][0-9]*\)$/\1/p' "$W/server.log" | head -n 1)
[[ -n "$PORT" ]] || netlab_fail "no port in the server's 'listening on' line"

netlab_bg ping_curvecp "$NETLAB_SND" ping -n -i 0.1 "$NETLAB_RCV_IP"
PING_PID=$NETLAB_PID
LIMIT=$(( $(netlab_time_left) - 25 ))
(( LIMIT > 5 )) || netlab_fail "no time left for the transfer"
start_ns=$(date +%s%N)
rc=0
NETLAB_STDIN=$W/data NETLAB_STDOUT=/dev/null netlab_run client "$NETLAB_SND" timeout "$LIMIT" \
  "$CURVECP" connect --name "$SNAME" --server-key "$(cat "$W/serverkey.hex")" --ext "$EXT" \
  "$NETLAB_RCV_IP" "$PORT" -- || rc=$?
end_ns=$(date +%s%N)
kill -TERM -- "-$PING_PID" 2>/dev/null || true
wait "$PING_PID" 2>/dev/null || true
[[ $rc -eq 0 ]] || netlab_fail "client exited $rc (124: not done within ${LIMIT}s)"
# The server's program may still be writing the last bytes when the client sees EOF.
for (( i = 0; i < 50; i++ )); do
  [[ $(stat -c %s "$W/received" 2>/dev/null || echo 0) -ge $BYTES ]] && break
  sleep 0.1
done
got=$(sha256sum <"$W/received" | cut -d' ' -f1)
[[ "$got" = "$want" ]] || netlab_fail "sha256 differs: sent $want, received $got ($(stat -c %s "$W/received") bytes)"
netlab_note "$BYTES bytes byte-exact (sha256 $got)"

kill -TERM "$SERVER_PID"
src=0
wait "$SERVER_PID" || src=$?
[[ $src -eq 0 ]] || netlab_fail "server exited $src after SIGTERM, expected 0"

read -r load_p50 load_p95 load_n < <(netlab_ping_stats "$W/ping_curvecp.log")
awk -v bytes="$BYTES" -v ns=$(( end_ns - start_ns )) -v rate="$RATE_MBIT" -v b="$base_p50" \
    -v p50="$load_p50" -v p95="$load_p95" -v n="$load_n" 'BEGIN {
  s = ns / 1e9; mbit = bytes * 8 / s / 1e6; ceiling = rate * 1024 / 1212
  printf "netlab: RESULT curvecp goodput %.2f Mbit/s in %.2f s = %.3f of the link, %.3f of the CurveCP ceiling (%.2f Mbit/s)\n", mbit, s, mbit / rate, mbit / ceiling, ceiling
  printf "netlab: RESULT curvecp RTT under load p50 %.1f ms p95 %.1f ms (%d pings; base %.1f ms, p95 increase %+.1f ms)\n", p50, p95, n, b, p95 - b
}'

# 3. Kernel-TCP anchor through the same path, when iperf3 is installed.
if command -v iperf3 >/dev/null; then
  if (( $(netlab_time_left) > 20 )); then
    netlab_bg iperf3_server "$NETLAB_RCV" iperf3 -s -1 -B "$NETLAB_RCV_IP"
    sleep 0.5
    netlab_bg ping_tcp "$NETLAB_SND" ping -n -i 0.1 "$NETLAB_RCV_IP"
    PING_PID=$NETLAB_PID
    rc=0
    NETLAB_STDOUT=$W/iperf3.json netlab_run iperf3_client "$NETLAB_SND" \
      timeout 15 iperf3 -c "$NETLAB_RCV_IP" -C cubic -t 10 -J || rc=$?
    kill -TERM -- "-$PING_PID" 2>/dev/null || true
    wait "$PING_PID" 2>/dev/null || true
    if [[ $rc -eq 0 ]]; then
      tcp_mbit=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e6))' "$W/iperf3.json")
      read -r tcp_p50 tcp_p95 tcp_n < <(netlab_ping_stats "$W/ping_tcp.log")
      awk -v m="$tcp_mbit" -v rate="$RATE_MBIT" -v p50="$tcp_p50" -v p95="$tcp_p95" -v n="$tcp_n" -v b="$base_p50" 'BEGIN {
        printf "netlab: RESULT tcp-cubic goodput %.2f Mbit/s = %.3f of the link\n", m, m / rate
        printf "netlab: RESULT tcp-cubic RTT under load p50 %.1f ms p95 %.1f ms (%d pings; p95 increase %+.1f ms)\n", p50, p95, n, p95 - b
      }'
    else
      netlab_note "iperf3 anchor failed (exit $rc), not reported: $(tail -n 3 "$W/iperf3_client.log")"
    fi
  else
    netlab_note "iperf3 anchor skipped: not enough time left"
  fi
else
  netlab_note "iperf3 not installed: kernel-TCP anchor skipped"
fi

kill -TERM "$NETLAB_DELAYBOX_PID"
wait "$NETLAB_DELAYBOX_PID" || netlab_fail "delaybox exited $? on SIGTERM, expected 0"
netlab_note "$(grep -v 'delaybox ready' "$W/delaybox.log" | tr '\n' ' ')"
for f in "$W"/*.log; do
  if grep -qE "$SANITIZER_PATTERN" "$f"; then
    grep -E -m 5 "$SANITIZER_PATTERN" "$f" >&2
    netlab_fail "sanitizer report in $(basename "$f")"
  fi
done
echo "PASS: netlab smoke"
