#!/usr/bin/env bash
# readme_blocks.sh - the README runs top to bottom: every ```sh block of
# README.md is run, in order, in a scratch folder, as a reader would paste
# it, and its output is compared with the ```text block that follows it
# (the output the README quotes).  docs/admin-guide.md's blocks likewise,
# in a scratch folder of their own.
#
# How blocks are read:
#   - a ```sh block is a command block; a ```text block right after it (only
#     blank lines between) is what it prints (stdout and stderr together);
#     other blocks (```json, plain ```) are examples and are not run;
#   - a line "<!-- readme-test: skip ... -->" before a block: not run (the
#     install-and-test block: .ci/run does that; this script checks that its
#     package list is .ci/run's);
#     "<!-- readme-test: exit N -->": the block must end with status N
#     (default 0; every command but the last must succeed: set -e);
#     "<!-- readme-test: terminal -->": run on a terminal (script(1)), for
#     output meant for a person (tables).
# How outputs are compared: every quoted line must appear in the output, in
# the quoted order (other lines may come between); "..." inside a line
# stands for anything, a line that is only "..." for lines left out; runs of
# spaces count as one.
#
# The blocks run in a scratch folder holding links to the repository's top
# level, with "/tmp/" rewritten to a scratch tmp folder (so a fresh store is
# fresh), build/cpis-mockhost to $CPIS_MOCKHOST (the build under test) and
# `make demo` to the same build.
#
# Refreshing the quoted outputs after a change: `README_SHOW=1 bash
# tests/scenarios/readme_blocks.sh` prints every block's actual output
# (with /tmp/ as the README writes it); paste the lines worth quoting into
# the ```text block, eliding with "...".  A failing block prints its actual
# output too.
#
# Environment (set by `make check`): CPIS_MOCKHOST; README (default: the
# repository's README.md, then docs/admin-guide.md; give one file to run
# only that one).
set -u
NAME=readme_blocks
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MH=${CPIS_MOCKHOST:-$ROOT/build/cpis-mockhost}
FILES=${README:-$ROOT/README.md $ROOT/docs/admin-guide.md}
SHOW=${README_SHOW:-0}
MHDIR=$(cd "$(dirname "$MH")" && pwd)
BUILD_REL=${MHDIR#"$ROOT"/}

pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

run_file() {
README_FILE=$1
S=$(mktemp -d)
SCRATCH+=("$S")
mkdir -p "$S/work" "$S/tmp" "$S/blocks"
for e in "$ROOT"/* "$ROOT"/.ci; do ln -s "$e" "$S/work/$(basename "$e")"; done

# ---- split the README into blocks -------------------------------------------------
awk -v out="$S/blocks" '
  function flush_meta() { meta = "" }
  /^<!-- readme-test: / {
    m = $0; sub(/^<!-- readme-test: /, "", m); sub(/ -->$/, "", m); meta = m; next }
  /^```/ && !infence {
    infence = 1; info = substr($0, 4)
    if (info == "sh") {
      n++; kind = "sh"; file = sprintf("%s/%03d.sh", out, n)
      printf "" > file
      printf "%s\n", meta > sprintf("%s/%03d.meta", out, n)
      last_sh = n
    } else if (info == "text" && last_sh == n && n > 0 && !gap) {
      kind = "text"; file = sprintf("%s/%03d.expect", out, n)
      printf "" > file
    } else { kind = "other"; last_sh = -1 }
    meta = ""; gap = 0; next }
  /^```/ && infence { infence = 0; if (kind == "text") last_sh = -1; next }
  infence && (kind == "sh" || kind == "text") { print > file; next }
  infence { next }
  /^[ \t]*$/ { next }
  { if (last_sh == n) gap = 1 }
' "$README_FILE"

nblocks=$(ls "$S/blocks"/*.sh 2>/dev/null | wc -l)
check_n() { if [ "$nblocks" -ge "$1" ]; then ok; else bad "only $nblocks command blocks found in $README_FILE"; fi; }
check_n 5

# ---- the install line is .ci/run's ----------------------------------------------------
pkgs_readme=$(grep -m1 -o 'apt-get install -y --no-install-recommends [^&]*' "$README_FILE" \
  | sed 's/.*--no-install-recommends //' | tr ' ' '\n' | grep -v '^$' | sort | tr '\n' ' ')
pkgs_ci=$(sed -n '/apt-get install -y --no-install-recommends/,/^[[:space:]]*$/p' "$ROOT/.ci/run" \
  | sed 's/.*--no-install-recommends//; s/\\$//; s/\$SUDO//g' | tr ' ' '\n' \
  | grep -E '^[a-z0-9][a-z0-9.+-]*$' | grep -vx 'make' | sort | tr '\n' ' ')
if [ "$README_FILE" = "$ROOT/README.md" ]; then
  if [ -n "$pkgs_readme" ] && [ "$pkgs_readme" = "$pkgs_ci" ]; then ok; else
    bad "README's install line and .ci/run install different packages: README: $pkgs_readme; .ci/run: $pkgs_ci"
  fi
fi

# ---- run each block ---------------------------------------------------------------------
norm() { # the actual output as the README would write it
  sed -e "s|$S/tmp/|/tmp/|g" -e "s|$MH|build/cpis-mockhost|g" -e 's/\r$//' \
      -e 's/[[:space:]]\{1,\}/ /g' -e 's/ $//'
}
# matches EXPECT_FILE ACTUAL_FILE: each quoted line, in order, somewhere in the output
matches() {
  local -a got
  mapfile -t got <"$2"
  local i=0 line p missing=""
  while IFS= read -r line || [ -n "$line" ]; do
    line=$(printf '%s' "$line" | sed -e 's/[[:space:]]\{1,\}/ /g' -e 's/ $//')
    [ -z "$line" ] && continue
    [ "$line" = "..." ] && continue
    p=${line//\\/\\\\}; p=${p//\*/\\*}; p=${p//\?/\\?}; p=${p//\[/\\[}
    p=${p//.../*}
    while [ $i -lt ${#got[@]} ]; do
      # shellcheck disable=SC2053
      if [[ ${got[$i]} == $p ]]; then i=$((i + 1)); continue 2; fi
      i=$((i + 1))
    done
    missing=$line
    break
  done <"$1"
  [ -z "$missing" ] && return 0
  echo "  quoted line not printed (in this order): $missing"
  return 1
}

# a terminal for the blocks meant for one, when script(1) can make one
HAVE_TTY=0
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then HAVE_TTY=1; fi

for f in "$S/blocks"/*.sh; do
  k=$(basename "$f" .sh)
  meta=$(cat "$S/blocks/$k.meta")
  first=$(grep -m1 -v '^[[:space:]]*\(#\|$\)' "$f")
  if [[ $meta == skip* ]]; then
    echo "$NAME: block $k skipped ($first ...): ${meta#skip }"
    continue
  fi
  want=0
  [[ $meta == exit\ * ]] && want=${meta#exit }
  # the block as pasted, with the scratch folders and the build under test
  sed -e "s|/tmp/|$S/tmp/|g" -e "s|\(\./\)\{0,1\}build/cpis-mockhost|$MH|g" \
      -e "s|^make demo\$|make -s --no-print-directory BUILD=$BUILD_REL demo|" "$f" >"$S/run.sh"
  notty=0
  if [[ $meta == terminal* ]] && [ "$HAVE_TTY" = 0 ]; then
    notty=1
    echo "$NAME: note: block $k is meant for a terminal and no pseudo-terminal can be made here: run, output not compared"
  fi
  if [[ $meta == terminal* ]] && [ "$HAVE_TTY" = 1 ]; then
    (cd "$S/work" && MAKEFLAGS= script -qec "bash -e $S/run.sh" /dev/null) >"$S/out" 2>&1 </dev/null
  else
    (cd "$S/work" && MAKEFLAGS= bash -e "$S/run.sh") >"$S/out" 2>&1 </dev/null
  fi
  rc=$?
  norm <"$S/out" >"$S/got"
  if [ "$SHOW" = 1 ]; then
    echo "==== block $k: $first (exit $rc)"
    sed -e "s|$S/tmp/|/tmp/|g" -e "s|$MH|build/cpis-mockhost|g" -e 's/\r$//' "$S/out"
  fi
  if [ "$rc" -eq "$want" ]; then ok; else
    bad "block $k ($first): exit $rc, expected $want"
    sed 's/^/  | /' "$S/got" | head -40
    continue
  fi
  if [ -f "$S/blocks/$k.expect" ] && [ "$notty" = 0 ]; then
    if msg=$(matches "$S/blocks/$k.expect" "$S/got"); then ok; else
      bad "block $k ($first): output differs from the README's"
      echo "$msg"
      echo "  actual output (README_SHOW=1 shows every block):"
      sed 's/^/  | /' "$S/got" | head -60
    fi
  fi
done

}

SCRATCH=()
trap 'rm -rf "${SCRATCH[@]}"' EXIT
for file in $FILES; do
  echo "$NAME: $file"
  run_file "$file"
done

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
