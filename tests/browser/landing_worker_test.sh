#!/usr/bin/env bash
# landing_worker_test.sh - what a social worker sees, in headless Chromium,
# read from the DOM Chromium built (no font metrics involved):
#   - a repeat, an awaiting and a done entry: the child named (name, date of
#     birth, case), the repeat marked and listed first, what awaits action
#     before what is done, the done entry folded in a closed <details>;
#   - keyboard order: no positive tabindex, and the focusable elements (skip
#     link, Call links, the Done toggle) come in reading order;
#   - a 400-pixel-wide screen: nothing is wider than the window (measured by
#     a copy of the page with a one-line script, since the page itself has
#     none and forbids scripts);
#   - the team view's wording and the allocated worker on each card;
#   - landing --json and note list agree with the page; an unknown worker is
#     an error.
# Skips (exit 0, saying so) without Chromium.  Environment as
# landing_test.sh: CPIS_MOCKHOST, CPIS_SAMPLES, CHROMIUM, TEST_NAME.
set -u
NAME=${TEST_NAME:-landing_worker_test}
source "$(dirname "$0")/lib.sh"

# ---- the store: the samples, then sw.ahmed completes the cascade's note ------
DB="$T/store.db"
"$M" --config "$S/config/v6.json" --cases "$S/cases.json" --db "$DB" \
  replay "$S/cascade" "$S/messages" >"$T/replay.out" 2>"$T/replay.err"
check "replay exits 0" test $? -eq 0
check "report counts 2 repeat entries" grep -q '"repeat_entries":2' "$T/replay.out"
"$M" --db "$DB" note list --case C-1001 >"$T/notes.out"
check "note list: one awaiting stub on C-1001" \
  test "$(grep -c '"state":"awaiting_action"' "$T/notes.out")" -eq 1
NOTE=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$T/notes.out" | head -1)
check "note id is the episode's" grep -q '^note/ep-' <<<"$NOTE"
"$M" --config "$S/config/v6.json" --db "$DB" note complete "$NOTE" \
  --text "Called the ward: planned admission, no concern." >"$T/complete.out" 2>"$T/complete.err"
check "note complete exits 0" test $? -eq 0
check "note complete: the landing entry is updated" grep -q '"action":"landing_update"' "$T/complete.out"
"$M" --db "$DB" note list --case C-1001 >"$T/notes2.out"
check "note list: the stub is done" grep -q '"state":"done"' "$T/notes2.out"
"$M" --db "$DB" note show "$NOTE" >"$T/show.out"
check "note show: the child named, full number on the case note" \
  grep -q '^Child: Amelia Hughes, born 12 May 2015, NHS number 944 930 5552$' "$T/show.out"
check "note show: the action recorded" grep -q 'Called the ward' "$T/show.out"
"$M" --db "$DB" note show note/ep-nothing >/dev/null 2>"$T/nonote.err"
check "note show of an unknown id exits 1" test $? -eq 1
check "... naming it" grep -q 'note/ep-nothing' "$T/nonote.err"

"$M" --db "$DB" landing --worker sw.ahmed --json >"$T/landing.json"
check "landing --json exits 0" test $? -eq 0
first=$(head -1 "$T/landing.json")
check "json: a repeat first" grep -q '"repeat":true' <<<"$first"
check "json: the repeat is Noah Clarke's 2nd episode" \
  grep -q '"child_name":"Noah Clarke".*"episodes_in_window":2' <<<"$first"
check "json: the done entry last" grep -q '"state":"done"' <<<"$(tail -1 "$T/landing.json")"
check "json: the done entry is Amelia Hughes's cascade with 5 places" \
  grep -q '"child_name":"Amelia Hughes".*"places":\["[^]]*","[^]]*","[^]]*","[^]]*","[^]]*"\]' \
  <<<"$(tail -1 "$T/landing.json")"
check "json: no full NHS number" bash -c "! grep -qE '[0-9]{10}|[0-9]{3} [0-9]{3} [0-9]{4}' '$T/landing.json'"
"$M" --db "$DB" landing --worker sw.nobody --json >/dev/null 2>"$T/nobody.err"
check "unknown worker exits 1" test $? -eq 1
check "... naming the id" grep -q 'sw.nobody' "$T/nobody.err"

PAGE="$T/worker.html"
"$M" --db "$DB" landing --worker sw.ahmed --html "$PAGE"
check "landing --html exits 0" test $? -eq 0

# ---- the DOM ------------------------------------------------------------------------
chrome --dump-dom "file://$PAGE" >"$T/dom.html"
DOM="$T/dom.html"
check "dump-dom succeeded" test -s "$DOM"
check "h2: awaiting your action" grep -q '<h2 id="awaiting-h">Awaiting your action</h2>' "$DOM"
check "h2: what to do (guidance on the page)" grep -q '<h2 id="todo-h">What to do</h2>' "$DOM"
check "h2: done" grep -q '<h2 id="done-h">Done</h2>' "$DOM"
# the order of things in the page
pos() { grep -n -m1 -F -- "$1" "$DOM" | cut -d: -f1; }
a=$(pos 'id="awaiting-h"'); d=$(pos 'id="done-h"'); r=$(pos 'class="repeat-flag"')
check "awaiting section before done section" test -n "$a" -a -n "$d" -a "${a:-0}" -lt "${d:-0}"
check "the repeat mark inside the awaiting section" test -n "$r" -a "${r:-0}" -gt "${a:-0}" -a "${r:-0}" -lt "${d:-0}"
names=$(grep -oE '<h3 id="card-[0-9]+"><span class="child">[^<]+' "$DOM" | sed 's/.*>//' | tr '\n' '|')
check "cards: the repeat first, then newest, the done one last (got: $names)" \
  test "$names" = "Noah Clarke|Noah Clarke|Amelia Hughes|"
check "the first card is marked as a repeat" grep -q '<article class="card" data-repeat="true" aria-labelledby="card-1">' "$DOM"
check "repeat text with the earlier date and place" \
  grep -q 'Repeat</span>2nd episode for this child in 183 days: earlier 16 Mar 2024, Kestrelmoor Health Care CIC - NHS 111 West Midlands' "$DOM"
check "date of birth shown" grep -q 'Born <strong>3 Nov 2019</strong>' "$DOM"
check "awaiting state shown" grep -q 'Awaiting your action</p>' "$DOM"
check "done card folded in a closed <details>" \
  bash -c "sed -n '/<details class=\"done\">/,/<\/details>/p' '$DOM' | grep -q 'Amelia Hughes'"
check "details closed" bash -c "! grep -q '<details class=\"done\" open' '$DOM'"
check "done state with its time" grep -q 'Done: case note completed <time datetime=' "$DOM"
check "done toggle names the count" grep -q '<summary>Show 1 done episode</summary>' "$DOM"
check "each place once: Royal Stoke once with two times" \
  test "$(grep -c 'class="place">Royal Stoke University Hospital' "$DOM")" -eq 1
check "Royal Stoke's two times in one step" \
  grep -q '15:10</span>.*</time>, <time datetime="2024-03-15T18:45:00Z">' "$DOM"
check "role names, not codes" bash -c "! grep -qE 'class=\"viewer\"[^<]*.*\\(R[0-9]{4}\\)' '$DOM'"
check "allocated worker on each card" \
  test "$(grep -c 'Allocated to <strong>sw.ahmed</strong>' "$DOM")" -eq 3
check "no full NHS number in the page" \
  bash -c "! grep -qE '(^|[^0-9])([0-9]{10}|[0-9]{3} [0-9]{3} [0-9]{4})([^0-9]|$)' '$DOM'"
check "masked number shown" grep -qF 'NHS number <strong>*** *** 3903' "$DOM"

# ---- keyboard order -------------------------------------------------------------------
check "no positive tabindex" bash -c "! grep -qE 'tabindex=\"[1-9]' '$DOM'"
# focusable elements in DOM order = tab order (no tabindex): skip link first,
# then the Call links of the awaiting cards, the Done toggle last
grep -oE '<a [^>]*href="[^"]*"|<summary' "$DOM" | sed -E 's/.*href="([^"]*)".*/\1/' >"$T/tab.txt"
check "tab order starts with the skip link" test "$(head -1 "$T/tab.txt")" = "#main"
check "tab order: NHS 111's Call link (2nd card) before the Done toggle" \
  bash -c "n=\$(grep -n 'tel:+443069990404' '$T/tab.txt' | head -1 | cut -d: -f1); s=\$(grep -n '<summary' '$T/tab.txt' | cut -d: -f1); [ -n \"\$n\" ] && [ -n \"\$s\" ] && [ \"\$n\" -lt \"\$s\" ]"
check "tab order: the Done toggle before the done card's Call links" \
  bash -c "s=\$(grep -n '<summary' '$T/tab.txt' | cut -d: -f1); r=\$(grep -n 'tel:+441782715444' '$T/tab.txt' | tail -1 | cut -d: -f1); [ -n \"\$s\" ] && [ -n \"\$r\" ] && [ \"\$s\" -lt \"\$r\" ]"

# ---- a 400-pixel-wide screen -------------------------------------------------------------
# Headless Chromium will not make a window narrower than 500 pixels, so the
# page is laid out in a 400-pixel-wide frame: a copy of it, without its CSP,
# with one script that reports the widest scroll width and its own width to
# the frame's parent, which writes them into the DOM that --dump-dom prints.
sed -e '/Content-Security-Policy/d' \
    -e 's#</body>#<script>parent.postMessage(String(Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)) + " " + String(window.innerWidth), "*");</script></body>#' \
    "$PAGE" >"$T/narrow.html"
cat >"$T/frame.html" <<'EOF'
<!DOCTYPE html><html><body style="margin:0">
<script>window.addEventListener("message", function (e) { document.body.setAttribute("data-widths", e.data); });</script>
<iframe src="narrow.html" style="width:400px;height:900px;border:0"></iframe>
</body></html>
EOF
chrome --window-size=800,1000 --virtual-time-budget=5000 --dump-dom "file://$T/frame.html" >"$T/narrow.dom"
read -r sw iw <<<"$(grep -oE 'data-widths="[0-9]+ [0-9]+"' "$T/narrow.dom" | grep -oE '[0-9]+ [0-9]+')"
check "400px: laid out at 400 (got ${iw:-none})" test "${iw:-0}" -eq 400
check "400px: nothing wider than the screen (scroll width ${sw:-none})" test -n "${sw:-}" -a "${sw:-9999}" -le 400
chrome --screenshot="$T/narrow.png" --window-size=500,900 "file://$PAGE" >/dev/null
check "narrow screenshot written" test -s "$T/narrow.png"

# ---- the team view ------------------------------------------------------------------------
"$M" --db "$DB" landing --team "Stafford North" --html "$T/team.html"
check "landing --team exits 0" test $? -eq 0
chrome --dump-dom "file://$T/team.html" >"$T/team.dom"
check "team: awaiting the team's action" grep -q 'Awaiting the team’s action\|Awaiting the team&rsquo;s action' "$T/team.dom"
check "team: never 'your action'" bash -c "! grep -q 'your action' '$T/team.dom'"
check "team: allocated worker on every card" \
  test "$(grep -c 'Allocated to <strong>sw.ahmed</strong>' "$T/team.dom")" -eq 3

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
