#!/usr/bin/env bash
# Checks the layering rules of ARCHITECTURE.md that the compiler cannot see, over a plain
# source tree (no git needed). Usage: layering_check.sh SOURCE_DIR
#   - <sodium.h> / sodium/... only in crypto/ (and tests/): one folder owns the crypto library.
#   - <uv.h> / uv/... only in daemon/ and client/ (and tests/): only the shell does I/O.
#   - core/ and scheduler/ never read a clock or the random source: time arrives as a
#     `Timestamp now` argument and randomness through an injected Rng&, which is what lets
#     the seeded simulator drive the real engines.
#   - project includes follow the arrows core <- crypto, core <- scheduler,
#     crypto + scheduler <- daemon <- client (the build enforces this for compiled files;
#     this also covers headers that no library source includes).
# Comments are ignored (// to end of line). Prints every violation; exit 1 if any.
set -euo pipefail

src=${1:?usage: layering_check.sh SOURCE_DIR}
[ -d "$src/core" ] && [ -d "$src/crypto" ] || { echo "layering_check: $src is not the curvecp source tree" >&2; exit 2; }

violations=0

# scan FOLDER ERE WHAT: report code lines (comments stripped) in FOLDER's sources matching ERE.
scan() {
  local folder=$1 pattern=$2 what=$3 hit file rest line code
  [ -d "$src/$folder" ] || return 0
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    code=${rest#*:}
    code=${code%%//*}
    if printf '%s\n' "$code" | grep -qE "$pattern"; then
      echo "${file#"$src"/}:$line: $what: $(printf '%s' "${rest#*:}" | sed -E 's/^[[:space:]]+//')"
      violations=$((violations + 1))
    fi
  done < <(grep -rnE --include='*.h' --include='*.hpp' --include='*.cpp' --include='*.cc' \
             "$pattern" "$src/$folder" || true)
}

sodium='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](sodium\.h|sodium/)'
uv='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](uv\.h|uv/)'
clock='(uv_hrtime|uv_now|steady_clock::now|system_clock::now|high_resolution_clock::now|clock_gettime|gettimeofday|randombytes|random_device)'
project_include='^[[:space:]]*#[[:space:]]*include[[:space:]]*"'

# Every top-level folder with sources except tests/ and build directories.
folders=()
for dir in "$src"/*/; do
  name=$(basename "$dir")
  [ "$name" = tests ] && continue
  [ -f "$dir/CMakeCache.txt" ] && continue
  folders+=("$name")
done

for folder in "${folders[@]}"; do
  [ "$folder" = crypto ] || scan "$folder" "$sodium" "<sodium.h> outside crypto/"
  case $folder in
    daemon|client) ;;
    *) scan "$folder" "$uv" "<uv.h> outside daemon/ and client/" ;;
  esac
done
for folder in core scheduler; do
  scan "$folder" "$clock" "clock or random source in the sans-I/O layer $folder/"
done

# Arrows: the project folders each layer may include (besides its own).
declare -A allowed=(
  [core]=""
  [crypto]="core"
  [scheduler]="core"
  [daemon]="core crypto scheduler"
  [client]="core crypto scheduler daemon"
)
for folder in "${!allowed[@]}"; do
  others=()
  for target in "${!allowed[@]}" tests; do
    [ "$target" = "$folder" ] && continue
    case " ${allowed[$folder]} " in *" $target "*) continue ;; esac
    others+=("$target")
  done
  alternation=$(IFS='|'; echo "${others[*]}")
  scan "$folder" "${project_include}(${alternation})/" "include against the layering ($folder/ may use: ${allowed[$folder]:-the standard library only})"
done

if [ "$violations" -ne 0 ]; then
  echo "layering_check: $violations violation(s) of the layering rules (ARCHITECTURE.md)" >&2
  exit 1
fi
echo "layering_check: ok (${folders[*]})"
