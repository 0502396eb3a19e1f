#!/usr/bin/env bash
# people_cli.sh - the commands people use: `config check`, `config show`,
# `landing`; their --help, errors (on stderr, naming the file and the
# reason) and exit codes (0 ok, 1 rejected input, 2 usage or config error).
#
# Environment (set by `make test-run`): CPIS_MOCKHOST, CPIS_SAMPLES.
# Uses jq and sqlite3 when installed (the checks needing them are skipped,
# and say so, otherwise).
set -uo pipefail

: "${CPIS_MOCKHOST:?set CPIS_MOCKHOST to the cpis-mockhost binary}"
: "${CPIS_SAMPLES:?set CPIS_SAMPLES to the samples folder}"
M=$CPIS_MOCKHOST
S=$CPIS_SAMPLES

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# run NAME EXPECTED_STATUS CMD... : stdout to $tmp/out, stderr to $tmp/err.
run() {
    local name=$1 want=$2 got=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        fail "$name: exit $got, expected $want; stderr: $(head -c 400 "$tmp/err")"
    fi
}
expect_in() { # NAME FILE FIXED_STRING
    if grep -qF -- "$3" "$2"; then ok; else
        fail "$1: '$3' not in $(basename "$2"): $(head -c 600 "$2")"
    fi
}
expect_not_in() { # NAME FILE FIXED_STRING
    if grep -qF -- "$3" "$2"; then fail "$1: '$3' found in $(basename "$2")"; else ok; fi
}
expect_re() { # NAME FILE EXTENDED_REGEX
    if grep -qE -- "$3" "$2"; then ok; else
        fail "$1: /$3/ not in $(basename "$2"): $(head -c 600 "$2")"
    fi
}
expect_lines() { # NAME FILE N
    local n
    n=$(grep -c '' "$2")
    if [ "$n" -eq "$3" ]; then ok; else fail "$1: $n lines in $(basename "$2"), expected $3"; fi
}
have() { command -v "$1" >/dev/null 2>&1; }

# ---- --help on every new command --------------------------------------------
run "--help" 0 "$M" --help
expect_in "--help lists landing" "$tmp/out" "landing --worker ID --html FILE"
expect_in "--help lists config check" "$tmp/out" "config check FILE"
expect_in "--help lists config show" "$tmp/out" "config show"
run "landing --help" 0 "$M" landing --help
expect_in "landing --help usage" "$tmp/out" "usage: cpis-mockhost --db FILE landing"
expect_in "landing --help options" "$tmp/out" "--worker ID"
expect_in "landing --help exit codes" "$tmp/out" "Exit status"
run "config --help" 0 "$M" config --help
expect_in "config --help usage" "$tmp/out" "config check FILE"
expect_in "config --help show" "$tmp/out" "config show"
expect_in "config --help sources" "$tmp/out" "version N default"
run "config check --help" 0 "$M" config check --help
expect_in "config check --help is the config help" "$tmp/out" "usage: cpis-mockhost"

# ---- config check: valid ---------------------------------------------------------
run "check v6" 0 "$M" config check "$S/config/v6.json"
expect_in "check v6 ok line" "$tmp/out" "$S/config/v6.json: ok"
expect_in "check v6 version" "$tmp/out" "workflow version 6"
expect_in "check v6 on flags" "$tmp/out" "on:  landing_page, case_note_stubs, episodes"
expect_lines "check v6 quiet stderr" "$tmp/err" 0
run "check v5" 0 "$M" config check "$S/config/v5.json"
expect_in "check v5 ok line" "$tmp/out" "$S/config/v5.json: ok"
expect_in "check v5 version" "$tmp/out" "workflow version 5"
expect_in "check v5 on flags" "$tmp/out" "on:  task_activities, first_response_routing"
expect_in "check v5 defaults" "$tmp/out" "flags set explicitly: 0 of 5"

# ---- config check: invalid, each problem names the file and the key ---------------
bad() { # NAME JSON KEY_TEXT
    printf '%s\n' "$2" >"$tmp/$1.json"
    run "check $1" 2 "$M" config check "$tmp/$1.json"
    expect_in "check $1 names the key" "$tmp/err" "$tmp/$1.json: $3"
    expect_in "check $1 says invalid" "$tmp/err" "$tmp/$1.json: invalid configuration"
    expect_lines "check $1 stdout empty" "$tmp/out" 0
}
bad version '{"workflow":{"version":7}}' "workflow.version: expected 5 (legacy) or 6 (revised)"
bad flagtype '{"flags":{"episodes":"yes"}}' "flags.episodes: expected true or false, got a string"
bad flagtypo '{"flags":{"landng_page":true}}' "flags.landng_page: unknown key (expected one of:"
bad window '{"episodes":{"window_minutes":0}}' "episodes.window_minutes: expected a whole number from 1 to 10080"
bad limit '{"limits":{"max_message_bytes":10}}' "limits.max_message_bytes: expected a whole number"
bad toplevel '{"flagz":{}}' "flagz: unknown key"
bad odsmissing '{"ods":{"paths":["no-such-ods"]}}' "ods.paths[0]:"
bad notjson 'not json' "config: not valid JSON"

# several problems: every one reported, one line each, plus the summary line
printf '%s\n' '{"workflow":{"version":4},"flags":{"episodes":1,"landing":true},"episodes":{"window_minutes":0}}' >"$tmp/many.json"
run "check many" 2 "$M" config check "$tmp/many.json"
expect_in "many: version" "$tmp/err" "workflow.version"
expect_in "many: flag type" "$tmp/err" "flags.episodes"
expect_in "many: unknown flag" "$tmp/err" "flags.landing:"
expect_in "many: window" "$tmp/err" "episodes.window_minutes"
expect_in "many: count" "$tmp/err" "invalid configuration (4 problems)"
expect_lines "many: one line per problem + summary" "$tmp/err" 5

# relative ODS paths resolve against the config file's folder
mkdir -p "$tmp/elsewhere"
cp "$S/config/v6.json" "$tmp/elsewhere/v6.json"
run "check moved v6 (../ods missing there)" 2 "$M" config check "$tmp/elsewhere/v6.json"
expect_in "moved v6 names the resolved path" "$tmp/err" "$tmp/elsewhere/../ods"
run "check moved v6 with --ods" 0 "$M" --ods "$S/ods" config check "$tmp/elsewhere/v6.json"

# usage and file errors
run "check missing file" 2 "$M" config check "$tmp/absent.json"
expect_in "missing file named" "$tmp/err" "$tmp/absent.json: cannot read"
run "check no FILE" 2 "$M" config check
expect_in "check no FILE says so" "$tmp/err" "expected the FILE to check"
run "config no subcommand" 2 "$M" config
run "config unknown subcommand" 2 "$M" config frob
expect_in "unknown subcommand named" "$tmp/err" "unknown subcommand frob"
run "config unknown option" 2 "$M" config check "$S/config/v6.json" --frob
expect_in "unknown option named" "$tmp/err" "unknown option --frob"
run "check two files" 2 "$M" config check "$S/config/v6.json" "$S/config/v5.json"

# --json
if have jq; then
    run "check --json valid" 0 "$M" config check --json "$S/config/v6.json"
    if jq -e '.ok == true and .problems == [] and .effective.workflow.version == 6' "$tmp/out" >/dev/null; then ok; else fail "check --json valid: $(cat "$tmp/out")"; fi
    run "check --json invalid" 2 "$M" config check --json "$tmp/many.json"
    if jq -e '.ok == false and (.problems | length) == 4 and (.problems[0] | startswith("workflow.version"))' "$tmp/out" >/dev/null; then ok; else fail "check --json invalid: $(cat "$tmp/out")"; fi
else
    echo "people_cli: note: jq not installed; --json output not parsed"
fi

# ---- config show ---------------------------------------------------------------
row() { # NAME KEY VALUE SOURCE : a table row "KEY  VALUE  SOURCE"
    expect_re "$1" "$tmp/out" "^$2 +$3 +$4\$"
}
run "show v6" 0 "$M" --config "$S/config/v6.json" config show
expect_in "show v6 title" "$tmp/out" "Effective configuration of $S/config/v6.json"
expect_re "show v6 header" "$tmp/out" "^KEY +VALUE +SOURCE$"
row "v6 version" workflow.version 6 explicit
row "v6 landing_page" flags.landing_page true explicit
row "v6 task_activities" flags.task_activities false explicit
row "v6 window" episodes.window_minutes 720 explicit
row "v6 recipients default" first_response.recipients "first.response.inbox, first.response.duty" default
row "v6 data_quality default" data_quality.owner cpis.data.quality default
row "v6 ods setting" ods.settings.RYA ambulance explicit

run "show v5" 0 "$M" --config "$S/config/v5.json" config show
row "v5 task_activities" flags.task_activities true "version 5 default"
row "v5 first_response_routing" flags.first_response_routing true "version 5 default"
row "v5 landing_page" flags.landing_page false "version 5 default"
row "v5 case_note_stubs" flags.case_note_stubs false "version 5 default"
row "v5 episodes" flags.episodes false "version 5 default"

# a flag mix: version 5 with the landing page turned on explicitly
printf '%s\n' '{"workflow":{"version":5},"flags":{"landing_page":true,"task_activities":false}}' >"$tmp/mix.json"
run "show mix" 0 "$M" --config "$tmp/mix.json" config show
row "mix landing_page" flags.landing_page true explicit
row "mix task_activities" flags.task_activities false explicit
row "mix first_response_routing" flags.first_response_routing true "version 5 default"
row "mix episodes" flags.episodes false "version 5 default"
row "mix window default" episodes.window_minutes 720 default
row "mix ods none" ods.paths "\\(none\\)" default
# version left out: version 6 defaults
printf '%s\n' '{"flags":{"episodes":false}}' >"$tmp/nover.json"
run "show no version" 0 "$M" --config "$tmp/nover.json" config show
row "no version: 6 by default" workflow.version 6 default
row "no version: landing_page" flags.landing_page true "version 6 default"
row "no version: episodes off" flags.episodes false explicit
# --ods replaces ods.paths
run "show --ods" 0 "$M" --config "$tmp/mix.json" --ods "$S/ods" config show
row "--ods source" ods.paths "$S/ods" "--ods"

run "show invalid" 2 "$M" --config "$tmp/many.json" config show
expect_in "show invalid names the file" "$tmp/err" "$tmp/many.json: workflow.version"
run "show missing config" 2 "$M" --config "$tmp/absent.json" config show
expect_in "show missing config named" "$tmp/err" "$tmp/absent.json"
run "show operand" 2 "$M" config show "$S/config/v6.json"

if have jq; then
    run "show --json" 0 "$M" --config "$tmp/mix.json" config show --json
    if jq -e '.ok == true and ([.keys[] | select(.key == "flags.landing_page")][0] == {"key":"flags.landing_page","value":true,"source":"explicit"}) and ([.keys[] | select(.key == "flags.episodes")][0].source == "version 5 default") and .effective.flags.landing_page.value == true' "$tmp/out" >/dev/null; then ok; else fail "show --json: $(head -c 600 "$tmp/out")"; fi
    if jq -e '[.keys[].key] | length >= 15' "$tmp/out" >/dev/null; then ok; else fail "show --json: too few keys"; fi
fi

# ---- landing -------------------------------------------------------------------
DB="$tmp/store.db"
run "replay into a store" 0 "$M" --config "$S/config/v6.json" --cases "$S/cases.json" \
    --db "$DB" replay "$S/cascade" "$S/messages"
run "landing sw.ahmed" 0 "$M" --db "$DB" landing --worker sw.ahmed --html "$tmp/p.html"
P="$tmp/p.html"
expect_in "doctype" "$P" "<!DOCTYPE html>"
expect_in "lang" "$P" '<html lang="en-GB">'
expect_in "charset" "$P" '<meta charset="utf-8">'
expect_in "inline css" "$P" "<style>"
expect_in "main" "$P" '<main id="main"'
expect_in "h1" "$P" "<h1>CP-IS notifications</h1>"
expect_in "h2" "$P" '<h2 id="awaiting-h">Awaiting your action</h2>'
expect_lines "three cards" <(grep -o '<article class="card"' "$P") 3
expect_lines "three h3" <(grep -o '<h3 id="card-' "$P") 3
expect_lines "three timelines" <(grep -o '<ol class="timeline"' "$P") 3
expect_in "time element" "$P" '<time datetime="2024-03-15T14:02:00Z">'
expect_in "tel link" "$P" 'href="tel:+441782715444"'
expect_in "place" "$P" "Royal Stoke University Hospital"
expect_in "setting badge" "$P" '<span class="badge b-ambulance">Ambulance service</span>'
expect_in "entry state" "$P" "Awaiting your action</p>"
expect_in "child named" "$P" '<span class="child">Amelia Hughes</span>'
expect_in "masked NHS number" "$P" "*** *** 5552"
expect_lines "each place once" <(grep -o 'class="place">Royal Stoke University Hospital' "$P") 1
expect_in "focus style" "$P" ":focus-visible"
expect_in "skip link" "$P" '<a class="skip" href="#main">'
expect_not_in "no details when nothing is done" "$P" "<details"
expect_not_in "no script" "$P" "<script"
expect_not_in "no full NHS number" "$P" "9449305552"
expect_not_in "no spaced NHS number" "$P" "944 930 5552"
if grep -qE '(^|[^0-9])[0-9]{10}([^0-9]|$)' "$P"; then fail "a 10-digit number in the page"; else ok; fi
# the repeat first (C-1003, 22 Mar), then newest: C-1003 16 Mar, C-1001 15 Mar
order=$(grep -oE 'Latest <time datetime="[^"]+"' "$P" | sed 's/.*="//; s/"//' | tr '\n' ' ')
if [ "$order" = "2024-03-22T15:20:00Z 2024-03-16T09:41:12Z 2024-03-15T18:45:00Z " ]; then ok; else fail "card order: $order"; fi

run "landing to stdout" 0 "$M" --db "$DB" landing --worker sw.ahmed --html -
if cmp -s "$tmp/out" "$P"; then ok; else fail "--html - differs from the file"; fi
run "landing --team" 0 "$M" --db "$DB" landing --team "Cannock South" --html "$tmp/t.html"
expect_in "team page worker" "$tmp/t.html" "Allocated to <strong>sw.okafor</strong>"
expect_not_in "team page other team" "$tmp/t.html" "C-1001"
expect_lines "team cards" <(grep -o '<article class="card"' "$tmp/t.html") 2
run "landing unknown worker" 1 "$M" --db "$DB" landing --worker sw.nobody --html "$tmp/n.html"
expect_in "unknown worker named" "$tmp/err" 'unknown worker "sw.nobody"'
expect_in "nearest known ids listed" "$tmp/err" "nearest known: sw.ahmed"
if [ -e "$tmp/n.html" ]; then fail "unknown worker: a page was written"; else ok; fi
run "landing unknown team" 1 "$M" --db "$DB" landing --team "Nowhere" --html "$tmp/n.html"
expect_in "unknown team named" "$tmp/err" 'unknown team "Nowhere"'
# ids as a person types them: case does not matter
run "landing worker in capitals" 0 "$M" --db "$DB" landing --worker SW.AHMED --html "$tmp/caps.html"
expect_in "capitals: the worker's cards" "$tmp/caps.html" "C-1001"
run "landing team in lower case" 0 "$M" --db "$DB" landing --team "cannock south" --html "$tmp/lc.html"
expect_in "lower case: the team's cards" "$tmp/lc.html" "C-1002"
# a known worker (a manager here) with no entries: a page saying so
run "landing known worker, no entries" 0 "$M" --db "$DB" landing --worker tm.lewis --html "$tmp/e.html"
expect_in "empty state" "$tmp/e.html" "There are no CP-IS notifications for tm.lewis."
expect_in "empty state heading" "$tmp/e.html" "<h2 id=\"empty-h\">No notifications</h2>"
expect_not_in "empty state no card" "$tmp/e.html" "<article"

# v5 store: no landing entries, so the page is empty
DB5="$tmp/store5.db"
run "replay v5" 0 "$M" --config "$S/config/v5.json" --db "$DB5" replay "$S/cascade"
run "landing on v5 store" 0 "$M" --db "$DB5" landing --worker sw.ahmed --html "$tmp/v5.html"
expect_in "v5: empty state" "$tmp/v5.html" "There are no CP-IS notifications for sw.ahmed."
expect_in "empty state heading" "$tmp/v5.html" "<h2 id=\"empty-h\">No notifications</h2>"
expect_not_in "empty state no card" "$tmp/v5.html" "<article"

# usage errors and file errors (exit 2, on stderr, naming the file)
run "landing no --html" 2 "$M" --db "$DB" landing --worker sw.ahmed
expect_in "no --html says so" "$tmp/err" "give --html FILE"
run "landing no worker" 2 "$M" --db "$DB" landing --html "$tmp/x.html"
expect_in "no worker says so" "$tmp/err" "give --worker ID or --team NAME"
run "landing no --db" 2 "$M" landing --worker sw.ahmed --html "$tmp/x.html"
expect_in "no --db says so" "$tmp/err" "needs --db FILE"
run "landing absent store" 2 "$M" --db "$tmp/absent.db" landing --worker a --html "$tmp/x.html"
expect_in "absent store named" "$tmp/err" "--db $tmp/absent.db: No such file or directory"
if [ -e "$tmp/absent.db" ]; then fail "landing created the absent store"; else ok; fi
run "landing unwritable page" 2 "$M" --db "$DB" landing --worker sw.ahmed --html "$tmp/no/such/dir/p.html"
expect_in "unwritable page named" "$tmp/err" "$tmp/no/such/dir/p.html: cannot write the page"
run "landing unknown option" 2 "$M" --db "$DB" landing --worker a --html "$tmp/x.html" --frob
expect_in "unknown option named" "$tmp/err" "unknown option --frob"
run "landing option without value" 2 "$M" --db "$DB" landing --html "$tmp/x.html" --worker
expect_in "missing value named" "$tmp/err" "option --worker needs a value"
run "landing stray operand" 2 "$M" --db "$DB" landing --worker a --html "$tmp/x.html" extra
run "landing empty worker" 2 "$M" --db "$DB" landing --worker "" --html "$tmp/x.html"

# hostile strings from the store are escaped; NHS-number-shaped text masked;
# an unreadable detail_json is shown degraded with exit 1
if have sqlite3; then
    cp "$DB" "$tmp/evil.db"
    sqlite3 "$tmp/evil.db" "INSERT INTO landing (id, revision, case_id, worker, team, notification_id, title, body, detail_json, updated_at, created_seq) VALUES ('ep-evil', 1, 'C-<b>9</b>', 'sw.evil', 'T', 'N', 't', 'b', '{\"timeline\":[{\"at\":\"2024-07-01T12:00:00Z\",\"place\":\"<script>alert(1)</script> 9449305552\",\"setting\":\"x\\\" onmouseover=\\\"y\",\"setting_label\":\"L&L\",\"phone\":\"0300 \\\"><i>\",\"viewer\":\"A 944 930 5552\",\"system\":false}]}', 1719835200, 99); INSERT INTO landing (id, revision, case_id, worker, team, notification_id, title, body, detail_json, updated_at, created_seq) VALUES ('ep-broken', 1, 'C-7', 'sw.evil', 'T', 'N', 'Broken entry title', 'b', '{not json', 1, 100);"
    run "landing hostile store" 1 "$M" --db "$tmp/evil.db" landing --worker sw.evil --html "$tmp/evil.html"
    expect_in "broken entry named on stderr" "$tmp/err" "landing entry ep-broken"
    expect_in "broken entry shown by title" "$tmp/evil.html" "Broken entry title"
    expect_in "case id escaped" "$tmp/evil.html" "C-&lt;b&gt;9&lt;/b&gt;"
    expect_in "place escaped" "$tmp/evil.html" "&lt;script&gt;alert(1)&lt;/script&gt;"
    expect_not_in "no raw script" "$tmp/evil.html" "<script>"
    expect_in "10-digit run masked" "$tmp/evil.html" "&lt;/script&gt; *** *** 5552"
    expect_in "spaced number masked" "$tmp/evil.html" "A *** *** 5552"
    expect_not_in "no injected attribute" "$tmp/evil.html" '" onmouseover="'
    expect_in "ampersand escaped" "$tmp/evil.html" "L&amp;L"
    expect_in "July is BST" "$tmp/evil.html" "13:00</span> <span class=\"zone\">BST"
    expect_not_in "phone markup escaped" "$tmp/evil.html" "<i>"
    if grep -qE '(^|[^0-9])[0-9]{10}([^0-9]|$)' "$tmp/evil.html"; then fail "10-digit number in hostile page"; else ok; fi
else
    echo "people_cli: note: sqlite3 not installed; escaping checks skipped"
fi

echo "people_cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
