#!/usr/bin/env bash
# people_browser.sh - the landing-page preview in a real browser: runs
# tests/browser/landing_test.sh (headless Chromium; skips cleanly, exit 0,
# when Chromium is not installed).  Gets $CPIS_MOCKHOST and $CPIS_SAMPLES
# from `make test-run`.
HERE=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=people_browser exec bash "$HERE/../browser/landing_test.sh"
