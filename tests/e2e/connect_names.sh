#!/bin/bash
# `curvecp connect` by name (curvecp-connect(1), curvecp-servers(5)):
#   - `localhost PORT` resolves and connects;
#   - a list of addresses is tried in turn: [::1] (nothing listens there: ICMP) is skipped
#     for 127.0.0.1, which answers, through one socket per address family;
#   - an ALIAS from a servers file found through XDG_CONFIG_HOME (the line printed by
#     `curvecp pubkey --servers-line`), with a program given without `--`; and from
#     ~/.config/curvecp/servers when XDG_CONFIG_HOME is unset;
#   - an option overrides the file's value (a wrong --name is then not accepted);
#   - an unknown alias and a malformed line are usage errors (100) naming the alias or
#     FILE:LINE; a name that does not resolve (RFC 6761 .invalid) is a failure (111).
#
# usage: connect_names.sh CURVECP_BINARY
set -euo pipefail
CURVECP=$1
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
cd "$WORK"
KEY_IMPL=ours make_key "$WORK/serverkey"
KEY=$(cat "$WORK/serverkey.hex")
start_server ours "$WORK/serverkey" cat   # an echo server on 127.0.0.1

# run NAME STATUS ARGS...: connect with ARGS, "hello NAME" on stdin; requires STATUS and,
# for 0, the echo on stdout.
run() {
  local name=$1 want=$2 rc=0
  shift 2
  echo "hello $name" | timeout 60 "$CURVECP" connect "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" || rc=$?
  [[ $rc -eq $want ]] || fail "$name: connect exited $rc, expected $want: $(cat "$WORK/$name.log")"
  if [[ $want -eq 0 ]]; then
    [[ "$(cat "$WORK/$name.out")" = "hello $name" ]] || fail "$name: the echo is '$(cat "$WORK/$name.out")'"
  fi
  note "$name: exit $rc${want:+ }$(tail -n 1 "$WORK/$name.log")"
}

export XDG_CONFIG_HOME="$WORK/config"
run localhost 0 -v --name "$SNAME" --server-key "$KEY" --ext "$EXT" localhost "$PORT"
grep -q "sending Hellos to 127.0.0.1:$PORT" "$WORK/localhost.log" || fail "localhost: no Hellos to 127.0.0.1:$PORT"

run list 0 -v --name "$SNAME" --server-key "$KEY" --ext "$EXT" "::1,127.0.0.1" "$PORT"
grep -q "Hello 1 sent to \[::1\]:$PORT" "$WORK/list.log" || fail "list: the first Hello did not go to [::1]:$PORT"
grep -q "Hello 2 sent to 127.0.0.1:$PORT" "$WORK/list.log" || fail "list: the second Hello did not go to 127.0.0.1:$PORT"

mkdir -p "$WORK/config/curvecp"
{
  echo "# curvecp servers for this test"
  echo
  "$CURVECP" pubkey --servers-line backup localhost "$PORT" "$SNAME" --ext "$EXT" "$WORK/serverkey"
} >"$WORK/config/curvecp/servers"
note "servers file: $(grep backup "$WORK/config/curvecp/servers")"
run alias 0 backup
# A program after the alias, no `--`: fd 7 to the server, fd 6 from it.
rc=0
timeout 60 "$CURVECP" connect backup sh -c 'echo "from a program" >&7; exec 7>&-; cat <&6' \
  >"$WORK/prog.out" 2>"$WORK/prog.log" </dev/null || rc=$?
[[ $rc -eq 0 && "$(cat "$WORK/prog.out")" = "from a program" ]] ||
  fail "connect backup PROG: exit $rc, output '$(cat "$WORK/prog.out")': $(cat "$WORK/prog.log")"
note "connect backup sh -c ...: the program's bytes came back"

# ~/.config/curvecp/servers when XDG_CONFIG_HOME is unset.
mkdir -p "$WORK/home/.config"
cp -r "$WORK/config/curvecp" "$WORK/home/.config/"
rc=0
echo "hello home" | env -u XDG_CONFIG_HOME HOME="$WORK/home" timeout 60 "$CURVECP" connect backup \
  >"$WORK/home.out" 2>"$WORK/home.log" || rc=$?
[[ $rc -eq 0 && "$(cat "$WORK/home.out")" = "hello home" ]] || fail "alias from HOME: exit $rc: $(cat "$WORK/home.log")"
note "alias from \$HOME/.config/curvecp/servers: exit 0"

# An explicit option overrides the file: a wrong name, so the server does not accept.
run override 111 --timeout 3 --name wrong.name backup
grep -q "did not accept" "$WORK/override.log" || fail "override: expected 'did not accept': $(cat "$WORK/override.log")"

run unknown 100 nosuch
grep -q "^curvecp connect: unknown alias 'nosuch'" "$WORK/unknown.log" || fail "unknown alias: $(cat "$WORK/unknown.log")"

echo "broken localhost $PORT" >>"$WORK/config/curvecp/servers"
lines=$(wc -l <"$WORK/config/curvecp/servers")
run malformed 100 backup
grep -qF "curvecp connect: $WORK/config/curvecp/servers:$lines: expected ALIAS HOST PORT NAME KEY [EXT], found 3 fields" \
  "$WORK/malformed.log" || fail "malformed line: $(cat "$WORK/malformed.log")"

sed -i '$d' "$WORK/config/curvecp/servers"  # the broken line is read for any name but an IP
run unresolvable 111 --name "$SNAME" --server-key "$KEY" no-such-host.invalid "$PORT"
grep -q "^curvecp connect: cannot resolve no-such-host.invalid: " "$WORK/unresolvable.log" ||
  fail "unresolvable: $(cat "$WORK/unresolvable.log")"
[[ $(wc -l <"$WORK/unresolvable.log") -eq 1 ]] || fail "unresolvable: more than one line"

stop_server
finish
