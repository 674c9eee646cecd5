#!/usr/bin/env bash
# The main job on an example: make a server key, start `curvecp serve` on loopback,
# push a file through it with `curvecp connect`, and check that it arrived intact.
# Usage: scripts/demo.sh [SIZE_MB]   (default 64)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/build/curvecp
[ -x "$bin" ] || { echo "demo: $bin not built; run scripts/build.sh curvecp first" >&2; exit 100; }
size_mb=${1:-64}

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "demo: making a server key pair in $work/serverkey"
"$bin" keygen "$work/serverkey"
server_key=$("$bin" pubkey "$work/serverkey")
echo "demo: server public key $server_key"

head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$work/data.in"

echo "demo: curvecp serve on 127.0.0.1 (a port the kernel picks), storing what a client sends"
(cd "$work" && exec "$bin" serve -v --key serverkey --name demo.example 127.0.0.1 0 -- sh -c 'cat > data.out') \
  2> "$work/server.log" &
server_pid=$!
# Wait for "listening on 127.0.0.1:PORT": a client that came earlier would be refused.
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 111; }
  sleep 0.05
done
[ -n "$port" ] || { echo "demo: the server did not start listening" >&2; cat "$work/server.log" >&2; exit 111; }
echo "demo: server listening on 127.0.0.1:$port"

echo "demo: pushing $size_mb MiB with curvecp connect"
t0=$(date +%s.%N)
"$bin" connect --name demo.example --server-key "$server_key" 127.0.0.1 "$port" < "$work/data.in" > /dev/null
t1=$(date +%s.%N)

# The server's program finishes writing once it has seen our EOF; wait for the file.
for _ in $(seq 1 100); do
  [ -f "$work/data.out" ] && [ "$(stat -c %s "$work/data.out")" -eq "$(stat -c %s "$work/data.in")" ] && break
  sleep 0.1
done
sent=$(sha256sum < "$work/data.in" | cut -d' ' -f1)
got=$(sha256sum < "$work/data.out" | cut -d' ' -f1)
rate=$(python3 -c "print(f'{$size_mb * 1.048576 / ($t1 - $t0):.1f}')")
if [ "$sent" = "$got" ]; then
  echo "demo: OK, $size_mb MiB arrived intact (sha256 $sent) at $rate MB/s"
else
  echo "demo: FAILED, sha256 sent $sent, received $got" >&2
  exit 1
fi
