#!/bin/bash
# Soak benchmark (issue 10 item 8, docs/MEMORY.md): one `curvecp serve` (program: cat)
# for DURATION seconds under a mix of
#   short   batches of loadgen connections, 4 KiB echoed each, every byte checked;
#   long    `curvecp connect` sending LONG_BYTES of random data and checking the echo (sha256);
#   killed clients   a connect sending endlessly, SIGKILLed after a second or two;
#   killed programs  a connect (its own key) sending endlessly whose server-side cat is
#                    SIGKILLed: the client must exit non-zero (fails loudly);
#   junk     bursts of random datagrams of random sizes;
#   replays  flood_client: Hellos, wrong-name Initiates and a replay of each.
# Every SAMPLE_S seconds the daemon's RSS (VmRSS), descriptor count and running programs
# go to soak.csv (and a gnuplot PNG, soak.png, when gnuplot is there), both copied to OUT.
#
# Checks (exit 1 on any): every short and long transfer arrived byte-exact (client side);
# every killed-program client exited non-zero; on the server, every connection that ended
# "finished" echoed exactly what it received, no connection of a killed program or a
# killed client ended "finished", and the connections that echoed a whole transfer are at
# least the transfers the clients saw succeed; the mean RSS of the last quarter of the run is within
# RSS_TOLERANCE (default 10 %) of the second quarter's (flat); after the load stops and the
# last connections time out, the descriptor count is back to its baseline (within 2:
# handles made on first use and kept); the daemon
# drains and exits 0.
#
# usage: soak.sh CURVECP LOADGEN FLOOD_CLIENT
#   environment: DURATION (seconds, default 1800) SAMPLE_S (default 10) LONG_BYTES
#                (default 20 MiB) OUT (directory for soak.csv / soak.png, default .)
set -euo pipefail
CURVECP=$1
LOADGEN=$(readlink -f "$2") FLOOD=$(readlink -f "$3")
DURATION=${DURATION:-1800}
SAMPLE_S=${SAMPLE_S:-10}
LONG_BYTES=${LONG_BYTES:-20971520}
RSS_TOLERANCE=${RSS_TOLERANCE:-0.10}
OUT=$(readlink -f "${OUT:-.}")
export TEST_TIME_LIMIT=${TEST_TIME_LIMIT:-$(( DURATION + 300 ))}
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
KEY_HEX=$(cat "$WORK/serverkey.hex")
"$CURVECP" keygen "$WORK/victimkey" >/dev/null
"$CURVECP" pubkey "$WORK/victimkey" >"$WORK/victimkey.hex"
"$CURVECP" keygen "$WORK/killedkey" >/dev/null
"$CURVECP" pubkey "$WORK/killedkey" >"$WORK/killedkey.hex"
VICTIM_HEX=$(cat "$WORK/victimkey.hex") KILLED_HEX=$(cat "$WORK/killedkey.hex")
head -c "$LONG_BYTES" /dev/urandom >"$WORK/long.data"
LONG_SHA=$(sha_of "$WORK/long.data")
note "host: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg) (busy host: figures are indicative)"

# A killed client's connection lingers until the idle timeout: keep it short so the
# descriptor count can come back to its baseline within the run.
SERVER_FLAGS="--idle-timeout 10 --max-connections 400" start_server ours "$WORK/serverkey" cat
client_cmd ours "$WORK/serverkey" "$PORT"
END=$(( $(date +%s) + DURATION ))
running() { (( $(date +%s) < END )); }
fd_count() { ls "/proc/$SERVER_PID/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
programs() { (ps -o pid= --ppid "$SERVER_PID" || true) | wc -l; }
# The baseline after one connection: the first Hello opens the key directory's nonce
# file, which stays open.
echo warm | timeout 60 "${CLIENT_CMD[@]::${#CLIENT_CMD[@]}-1}" >/dev/null 2>"$WORK/warm.log" || fail "the first connection failed"
sleep 1
BASE_FDS=$(fd_count)

sampler() {
  local t0
  t0=$(date +%s)
  echo "seconds,rss_kib,fds,programs" >"$WORK/soak.csv"
  while running; do
    echo "$(( $(date +%s) - t0 )),$(rss_kib),$(fd_count),$(programs)" >>"$WORK/soak.csv"
    sleep "$SAMPLE_S"
  done
}

short_worker() {
  local n=0 rc
  while running; do
    rc=0
    timeout 120 "$LOADGEN" --name "$SNAME" --server-key "$KEY_HEX" --ext "$EXT" --connections 20 --bytes 4096 \
      --rate 40 --timeout 100 127.0.0.1 "$PORT" >"$WORK/short.out" 2>>"$WORK/short.log" || rc=$?
    if [[ $rc -eq 0 ]]; then echo ok >>"$WORK/short.results"; else echo "FAIL $(tail -n 1 "$WORK/short.out")" >>"$WORK/short.results"; fi
    n=$((n + 1))
  done
}

long_worker() {
  local rc
  while running; do
    rc=0
    timeout 300 "${CLIENT_CMD[@]}" sh -c 'cat long.data >&7 & exec 7>&-; cat <&6 >long.out; wait' \
      </dev/null 2>>"$WORK/long.log" || rc=$?
    if [[ $rc -eq 0 && "$(sha_of "$WORK/long.out")" = "$LONG_SHA" ]]; then
      echo ok >>"$WORK/long.results"
    else
      echo "FAIL exit $rc, $(wc -c <"$WORK/long.out") bytes" >>"$WORK/long.results"
    fi
  done
}

# A client killed in the middle; the server ends its connection at the idle timeout.
killed_client_worker() {
  local pid
  while running; do
    setsid "$CURVECP" connect --key "$WORK/killedkey" --name "$SNAME" --server-key "$KEY_HEX" --ext "$EXT" \
      127.0.0.1 "$PORT" -- sh -c 'cat /dev/zero >&7 & cat <&6 >/dev/null' </dev/null >/dev/null 2>>"$WORK/killed.log" &
    pid=$!
    sleep "$(( RANDOM % 3 + 1 ))"
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    sleep 1
  done
}

# The server-side program of a victim connection is killed: its client must fail.
killed_program_worker() {
  local pid rc p found
  while running; do
    "$CURVECP" connect --key "$WORK/victimkey" --name "$SNAME" --server-key "$KEY_HEX" --ext "$EXT" \
      127.0.0.1 "$PORT" -- sh -c 'cat /dev/zero >&7 & cat <&6 >/dev/null' </dev/null >/dev/null 2>>"$WORK/victim.log" &
    pid=$!
    found=0
    for _ in $(seq 100); do
      sleep 0.1
      for p in $(ps -o pid= --ppid "$SERVER_PID" || true); do
        if { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "CURVECPREMOTEPK=$VICTIM_HEX"; then
          kill -KILL "$p" 2>/dev/null && found=1
        fi
      done
      (( found )) && break
    done
    rc=0
    timeout 60 tail --pid="$pid" -f /dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    if (( ! found )); then echo "FAIL its program never appeared" >>"$WORK/victim.results"
    elif [[ $rc -ne 0 ]]; then echo ok >>"$WORK/victim.results"
    else echo "FAIL the client exited 0 although its program was killed" >>"$WORK/victim.results"
    fi
    sleep 2
  done
}

junk_worker() {
  local i
  while running; do
    for i in $(seq 50); do
      head -c $(( RANDOM % 1400 + 1 )) /dev/urandom >/dev/udp/127.0.0.1/"$PORT" 2>/dev/null || true
    done
    sleep 1
  done
}

replay_worker() {
  while running; do
    timeout 10 "$FLOOD" 127.0.0.1 "$PORT" "$KEY_HEX" "$EXT" 0.3 64 >>"$WORK/replay.out" 2>&1 || true
    sleep 4
  done
}

workers=()
for w in sampler short_worker long_worker killed_client_worker killed_program_worker junk_worker replay_worker; do
  "$w" &
  workers+=($!)
done
note "soak: $DURATION s against daemon $SERVER_PID (port $PORT), baseline $BASE_FDS descriptors"
for p in "${workers[@]}"; do wait "$p" || fail "a soak worker failed"; done

# The load has stopped: killed clients' connections end at the idle timeout (10 s).
# Slack: handles made on first use and kept (the reaper's escalation timer, made at the
# first program stopped) are not a leak; a leak grows with the run.
FD_SLACK=2
fds_back=0
for _ in $(seq 60); do
  if (( $(fd_count) <= BASE_FDS + FD_SLACK )); then fds_back=1; break; fi
  sleep 1
done
END_FDS=$(fd_count)
kill -USR1 "$SERVER_PID" 2>/dev/null || true
sleep 0.5
stop_server 0 60

# --- figures ---
cp "$WORK/soak.csv" "$OUT/soak.csv"
if command -v gnuplot >/dev/null; then
  gnuplot -e "set terminal png size 900,500; set output '$OUT/soak.png'; set datafile separator ',';
    set xlabel 'seconds'; set ylabel 'RSS (KiB)'; set y2label 'descriptors / programs'; set y2tics; set ytics nomirror;
    set key top left;
    plot '$WORK/soak.csv' every ::1 using 1:2 with lines title 'daemon RSS (KiB)',
         '' every ::1 using 1:3 axes x1y2 with lines title 'descriptors',
         '' every ::1 using 1:4 axes x1y2 with lines title 'programs'" || note "gnuplot failed"
fi
count() { grep -c "$2" "$WORK/$1.results" 2>/dev/null || true; }
short_ok=$(count short '^ok') short_bad=$(count short '^FAIL')
long_ok=$(count long '^ok') long_bad=$(count long '^FAIL')
victim_ok=$(count victim '^ok') victim_bad=$(count victim '^FAIL')
read -r q2 q4 peak <<<"$(awk -F, 'NR > 1 { t[NR] = $1; r[NR] = $2; if ($2 > p) p = $2; n = NR }
  END { for (i = 2; i <= n; i++) { f = (i - 1) / (n - 1);
          if (f > 0.25 && f <= 0.5) { a += r[i]; na++ } if (f > 0.75) { b += r[i]; nb++ } }
        printf "%.0f %.0f %d\n", na ? a / na : 0, nb ? b / nb : 0, p }' "$WORK/soak.csv")"
read -r fd_min fd_max <<<"$(awk -F, 'NR > 1 { if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3 } END { print min, max }' "$WORK/soak.csv")"
server_finished=$(grep -c ' ended (finished)' "$WORK/server.log" || true)
server_failed=$(grep ' ended (' "$WORK/server.log" | grep -vc ' ended (finished)' || true)
bad_echo=$(grep ' ended (finished)' "$WORK/server.log" | awk '{ r = s = ""; for (i = 1; i <= NF; i++) {
    if ($i ~ /^received=/) r = substr($i, 10); if ($i ~ /^sent=/) s = substr($i, 6) } if (r != s) n++ } END { print n + 0 }')
# Connections whose whole upload reached the server, whatever the end (the client has
# checked the echo byte by byte): a client that got its echo and left may take the
# server's last acknowledgement with it, and then the server's sent= (acknowledged bytes)
# stays short of the echo and the connection ends at the idle timeout.
complete=$(grep ' ended (' "$WORK/server.log" | awk -v l="$LONG_BYTES" '{ r = s = ""; for (i = 1; i <= NF; i++) {
    if ($i ~ /^received=/) r = substr($i, 10); if ($i ~ /^sent=/) s = substr($i, 6) }
    if (r == 4096 || r == l) n++ } END { print n + 0 }')
killed_finished=$(grep ' ended (finished)' "$WORK/server.log" | grep -cE "key=($VICTIM_HEX|$KILLED_HEX)" || true)
echo "soak: $DURATION s, samples every $SAMPLE_S s: short transfers $short_ok batches of 20 ok, $short_bad failed; long $long_ok ok, $long_bad failed; killed programs $victim_ok failed loudly, $victim_bad not"
echo "soak: daemon RSS mean $q2 KiB (second quarter) -> $q4 KiB (last quarter), peak $peak KiB; descriptors $BASE_FDS at start, $fd_min..$fd_max during, $END_FDS after the load"
echo "soak: server: $server_finished connections finished (echo exact: $(( server_finished - bad_echo ))), $server_failed failed, $complete with a whole transfer echoed; $(grep -o 'drops=.*' "$WORK/server.log" | tail -n 1 | cut -c1-200)"
echo "soak: curves in $OUT/soak.csv$([[ -e "$OUT/soak.png" ]] && echo " and $OUT/soak.png")"
(( short_bad == 0 && long_bad == 0 && victim_bad == 0 )) || fail "transfers failed: $(grep -h FAIL "$WORK"/*.results | head -n 3)"
(( short_ok > 0 && long_ok > 0 && victim_ok > 0 )) || fail "a kind of transfer never completed (short $short_ok, long $long_ok, killed programs $victim_ok)"
(( bad_echo == 0 )) || fail "$bad_echo finished connections echoed a different byte count than they received"
(( killed_finished == 0 )) || fail "$killed_finished connections of killed clients or programs ended as finished"
(( complete >= short_ok * 20 + long_ok )) || fail "the server echoed $complete whole transfers, clients saw $(( short_ok * 20 + long_ok )) succeed"
(( fds_back )) || fail "descriptors did not come back to $BASE_FDS (+$FD_SLACK) after the load ($END_FDS)"
awk -v a="$q2" -v b="$q4" -v t="$RSS_TOLERANCE" 'BEGIN { exit !(a > 0 && b <= a * (1 + t)) }' ||
  fail "RSS not flat: second quarter $q2 KiB, last quarter $q4 KiB (tolerance $RSS_TOLERANCE)"
finish
