#!/usr/bin/env bash
# e2e_hardening.sh - the build products are hardened (issue 5 item 6):
# full RELRO (a GNU_RELRO segment and BIND_NOW / FLAGS_1 NOW), the stack
# protector (__stack_chk_fail referenced) and FORTIFY_SOURCE (some __*_chk
# function referenced) in build/cpis_notify.so and build/cpis-mockhost, and
# the plugin exports cpis_plugin_entry and nothing else.  Checks the plain
# build beside $CPIS_MOCKHOST (the sanitizer builds drop FORTIFY on purpose:
# skipped there).
set -euo pipefail
. "$(dirname "$0")/../data/e2e/lib.sh"

case "$M" in
*/san/* | */tsan/*)
    echo "e2e_hardening: SKIPPED ($M is a sanitizer build, built without FORTIFY)"
    echo "e2e_hardening: 0 passed, 0 failed"
    exit 0
    ;;
esac
for tool in readelf nm; do
    command -v "$tool" >/dev/null 2>&1 || { fail "$tool not installed (binutils)"; finish e2e_hardening; exit 1; }
done
BUILD_DIR=$(dirname "$M")
SO=$BUILD_DIR/cpis_notify.so

for bin in "$SO" "$M"; do
    b=$(basename "$bin")
    [ -f "$bin" ] && ok || { fail "$bin missing"; continue; }
    readelf -lW "$bin" >"$tmp/segments"
    readelf -dW "$bin" >"$tmp/dynamic"
    expect_in "$b: GNU_RELRO segment" "$tmp/segments" GNU_RELRO
    if grep -qE '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' "$tmp/dynamic"; then ok; else
        fail "$b: no BIND_NOW / FLAGS_1 NOW (partial RELRO only)"
    fi
    nm -D --undefined-only "$bin" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$tmp/undef"
    expect_in "$b: stack protector (__stack_chk_fail)" "$tmp/undef" __stack_chk_fail
    if grep -qE '^__[a-z_]+_chk$' <(grep -v '^__stack_chk_fail$' "$tmp/undef"); then ok; else
        fail "$b: no FORTIFY_SOURCE __*_chk function referenced"
    fi
    echo "$b: FORTIFY functions: $(grep -E '^__[a-z_]+_chk$' "$tmp/undef" | grep -v '^__stack_chk_fail$' | tr '\n' ' ')"
done

nm -D --defined-only "$SO" | awk 'NF >= 3 {print $3}' | sed 's/@.*//' | sort -u >"$tmp/exports"
expect_eq "the plugin exports only cpis_plugin_entry" "$(tr '\n' ' ' <"$tmp/exports")" "cpis_plugin_entry "

finish e2e_hardening
