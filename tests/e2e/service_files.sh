#!/bin/bash
# contrib/: the systemd unit passes `systemd-analyze verify` (Debian package systemd) with
# ExecStart pointing at the binary under test and its Documentation= page resolved from
# man/; a broken copy of it does not pass (the check can fail); the supervise run scripts
# are valid sh.
#
# usage: service_files.sh CURVECP_BINARY SOURCE_DIR
set -euo pipefail
CURVECP=$1
SRC=$(readlink -f "$2")
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
command -v systemd-analyze >/dev/null || fail "systemd-analyze (Debian package systemd) is missing"
cd "$WORK"

mkdir -p "$WORK/units" "$WORK/man/man1"
cp "$SRC"/man/*.1 "$WORK/man/man1/"
sed "s#/usr/local/bin/curvecp #$CURVECP #" "$SRC/contrib/curvecp-serve.service" >"$WORK/units/curvecp-serve.service"
grep -qF "ExecStart=$CURVECP serve" "$WORK/units/curvecp-serve.service" || fail "the unit has no ExecStart=/usr/local/bin/curvecp serve"

verify() {  # verify UNIT_FILE: systemd-analyze's exit status; its output in $WORK/verify.out
  local rc=0
  MANPATH=$WORK/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$1" >"$WORK/verify.out" 2>&1 || rc=$?
  return $rc
}
verify "$WORK/units/curvecp-serve.service" || fail "systemd-analyze verify failed: $(cat "$WORK/verify.out")"
[[ ! -s "$WORK/verify.out" ]] || fail "systemd-analyze verify warned: $(cat "$WORK/verify.out")"
note "systemd-analyze verify: clean ($(systemd-analyze --version | head -n 1))"

# The same unit with a broken Type= must not pass.
mkdir -p "$WORK/broken"
sed 's/^Type=notify$/Type=notyfy/' "$WORK/units/curvecp-serve.service" >"$WORK/broken/curvecp-serve.service"
if verify "$WORK/broken/curvecp-serve.service" && [[ ! -s "$WORK/verify.out" ]]; then
  fail "systemd-analyze verify accepted Type=notyfy: the check cannot fail"
fi

for script in "$SRC/contrib/supervise/run" "$SRC/contrib/supervise/log/run"; do
  [[ -x "$script" ]] || fail "$script is not executable"
  sh -n "$script" || fail "$script is not valid sh"
done
grep -q -- "--user curvecp" "$SRC/contrib/supervise/run" || fail "the run script does not drop privileges"
finish
