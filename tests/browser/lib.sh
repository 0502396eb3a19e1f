# lib.sh - what the browser tests share (sourced, after NAME is set): the
# paths (HERE, ROOT, M, S), Chromium found or the test skipped (exit 0, saying
# so), the pass/fail counters and check(), a scratch folder T removed on exit,
# and chrome() running headless Chromium with its own profile in T.
HERE=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
M=${CPIS_MOCKHOST:-$ROOT/build/cpis-mockhost}
S=${CPIS_SAMPLES:-$ROOT/samples}

CHROME=${CHROMIUM:-}
if [ -z "$CHROME" ]; then
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null 2>&1; then CHROME=$(command -v "$c"); break; fi
  done
fi
if [ -z "$CHROME" ]; then
  echo "$NAME: SKIPPED: chromium is not installed (apt-get install -y chromium)"
  echo "$NAME: 0 passed, 0 failed"
  exit 0
fi

pass=0; fail=0
ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@" >/dev/null 2>&1; then ok; else bad "$d"; fi
}

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PROFILE="$T/profile"
mkdir -p "$PROFILE"

chrome() {
  timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --disable-extensions --hide-scrollbars \
    --user-data-dir="$PROFILE" "$@" 2>"$T/chrome.err"
}
