#!/usr/bin/env bash
# people_worker_browser.sh - what a social worker sees (a repeat, an
# awaiting and a done entry, keyboard order, a 400-pixel-wide frame, the team
# view) in headless Chromium, read from the DOM: runs
# tests/browser/landing_worker_test.sh (skips cleanly, exit 0, without
# Chromium).  Gets $CPIS_MOCKHOST and $CPIS_SAMPLES from `make test-run`.
HERE=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=people_worker_browser exec bash "$HERE/../browser/landing_worker_test.sh"
