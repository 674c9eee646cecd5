#!/bin/bash
# The man pages: every page of man/ renders with `groff -ww -man -Tutf8` and `man -l`
# without a warning; every curvecp page another page refers to exists; curvecp(1) lists
# exactly the schedulers the binary knows (curvecp-serve(1) and curvecp-connect(1) point
# there); and `cmake --install` into a DESTDIR installs a stripped curvecp and every page
# in its section's directory.
#
# usage: man_pages.sh SOURCE_DIR BUILD_DIR CURVECP_BINARY
set -euo pipefail
SRC=$1 BUILD=$2 CURVECP=$3
source "$(dirname "$0")/../interop/common.sh"
require_curvecp
for tool in groff man readelf cmake; do
  command -v "$tool" >/dev/null || fail "$tool is missing (Debian packages groff-base, man-db, binutils, cmake)"
done

pages=("$SRC"/man/*.[1-8])
[[ ${#pages[@]} -ge 6 ]] || fail "expected at least 6 man pages in $SRC/man, found ${#pages[@]}"
for page in "${pages[@]}"; do
  name=$(basename "$page")
  groff -ww -man -Tutf8 "$page" >/dev/null 2>"$WORK/groff.err"
  [[ ! -s "$WORK/groff.err" ]] || fail "groff -ww warns about $name: $(head -n 3 "$WORK/groff.err")"
  MANWIDTH=80 man --warnings -l "$page" >"$WORK/$name.txt" 2>"$WORK/man.err"
  [[ ! -s "$WORK/man.err" ]] || fail "man -l warns about $name: $(head -n 3 "$WORK/man.err")"
  [[ $(wc -l <"$WORK/$name.txt") -gt 10 ]] || fail "man -l $name rendered almost nothing"
  # Every curvecp page referred to, e.g. ".BR curvecp\-servers (5)", is in man/.
  for ref in $(grep -ohE 'curvecp(\\-[a-z]+)? \([1-8]\)' "$page" | sed 's/\\-/-/; s/ (/./; s/)//' | sort -u); do
    [[ -e "$SRC/man/$ref" ]] || fail "$name refers to $ref, which is not in man/"
  done
done
note "${#pages[@]} pages render cleanly with groff -ww and man -l"

# The schedulers section of curvecp(1) against the binary's own list (its usage error).
known=$({ "$CURVECP" connect --scheduler no-such 127.0.0.1 1 2>&1 </dev/null || true; } | sed -n 's/.*(known: \([^)]*\)).*/\1/p' | tr -d ' ' | tr ',' '\n' | sort)
[[ -n "$known" ]] || fail "no list of known schedulers in connect's usage error"
listed=$(sed -n '/^\.SH SCHEDULERS/,/^\.SH /p' "$SRC/man/curvecp.1" | sed -n '/^\.TP/{n;s/^\.B //;s/\\-/-/g;p}' | sort)
[[ "$known" = "$listed" ]] || fail "curvecp(1) SCHEDULERS lists '$(echo $listed)', the binary knows '$(echo $known)'"
note "curvecp(1) lists the schedulers the binary knows: $(echo $known)"

# Installation into a scratch DESTDIR.
DESTDIR="$WORK/dest" cmake --install "$BUILD" --prefix /usr/local >"$WORK/install.log" 2>&1 ||
  fail "cmake --install failed: $(tail -n 3 "$WORK/install.log")"
bin="$WORK/dest/usr/local/bin/curvecp"
[[ -x "$bin" ]] || fail "no executable $bin after cmake --install"
! readelf -S "$bin" | grep -qE '\.debug_|\.symtab' || fail "the installed curvecp is not stripped"
"$bin" --version >/dev/null || fail "the installed curvecp does not run"
for page in "${pages[@]}"; do
  name=$(basename "$page")
  [[ -f "$WORK/dest/usr/local/share/man/man${name##*.}/$name" ]] || fail "$name not installed in share/man/man${name##*.}"
done
note "cmake --install: stripped curvecp ($(stat -c %s "$bin") bytes, build: $(stat -c %s "$CURVECP")) and ${#pages[@]} man pages"
finish
