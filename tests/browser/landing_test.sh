#!/usr/bin/env bash
# landing_test.sh - open the landing-page preview in headless Chromium and
# check what a social worker is shown.
#
# Builds a store from the samples under the version 6 config (the cascade,
# the sample messages, and one derived message dated five weeks earlier so
# that an "older" episode exists), renders `landing --worker sw.ahmed`, then:
#   - --dump-dom: the DOM after Chromium parsed and rendered it: structure
#     (main, h1/h2/h3, article per card, ol timeline, time[datetime], lang),
#     place names, tel: links, timeline order, repeats then newest first,
#     nothing awaiting action folded, no 10-digit number anywhere, no
#     script, no external resource;
#   - the text a reader is shown: the page's innerText (what is rendered,
#     without what is hidden, such as folded done entries), read
#     through --dump-dom of a small wrapper page that loads the landing page
#     in a frame.  innerText does not depend on font metrics (line breaks
#     made by wrapping are not in it), so the checks hold on any machine;
#   - --print-to-pdf + pdftotext (when poppler-utils is installed): only what
#     only a PDF shows: the page prints, its heading is printed, and no full
#     NHS number is printed.  (Never
#     a multi-word name: where a PDF's lines wrap depends on the fonts
#     installed.)
#   - --screenshot at 1366x900: a PNG of the right size that is not blank.
#     With CPIS_PREVIEW_PNG=FILE a taller full-page screenshot of this test's
#     page is also saved there.  (docs/landing-preview.png is not made here:
#     `make preview-png` makes it from the README's own commands.)
#
# Skips (exit 0, with a line saying so) when Chromium is not installed.
# Environment: CPIS_MOCKHOST, CPIS_SAMPLES (defaults: the build and samples
# beside this file), CHROMIUM (default: the first of chromium,
# chromium-browser, google-chrome found), TEST_NAME (for the summary line).
set -u
NAME=${TEST_NAME:-landing_test}
source "$(dirname "$0")/lib.sh"
mkdir -p "$T/extra"

# ---- build the store and the page --------------------------------------------
# An older episode for C-1003: the FHIR sample moved to 20 Feb 2024 with new ids.
sed -e 's/2024-03-16/2024-02-20/g' \
    -e 's/[Ee]9[Cc]24[Aa]7[Bb]-5[Dd]18-4[Ff]63-8[Bb]0[Ee]-1[Aa]7[Dd]3[Ff]6[Cc]9[Ee]52/B1D7E3A2-6C4F-4E8A-9D21-5F0C3B7A8E64/g' \
    -e 's/7c2e9a10-4d3b-4f8e-a1b2-3c4d5e6f7001/5c2e9a41-7b3d-4f86-a1c9-2e8d6f4b0a17/g' \
    "$S/messages/fhir-access-111.json" > "$T/extra/zz-older-episode.json"

DB="$T/store.db"
"$M" --config "$S/config/v6.json" --cases "$S/cases.json" --db "$DB" \
  replay "$S/cascade" "$S/messages" "$T/extra" >"$T/replay.out" 2>"$T/replay.err"
check "replay builds the store (exit 0)" test $? -eq 0
PAGE="$T/landing.html"
"$M" --db "$DB" landing --worker sw.ahmed --html "$PAGE" 2>"$T/landing.err"
check "landing --worker sw.ahmed exits 0" test $? -eq 0
check "the page was written" test -s "$PAGE"

# ---- the DOM after rendering ---------------------------------------------------
chrome --dump-dom "file://$PAGE" >"$T/dom.html"
check "chromium --dump-dom succeeded" test -s "$T/dom.html"
DOM="$T/dom.html"
has()   { grep -qF -- "$1" "$DOM"; }
count() { grep -oF -- "$1" "$DOM" | wc -l; }

check "html lang=en-GB" has '<html lang="en-GB">'
check "one main landmark" test "$(count '<main')" -eq 1
check "h1 CP-IS notifications" has '<h1>CP-IS notifications</h1>'
check "h2 Awaiting your action" grep -qE '<h2 id="awaiting-h">Awaiting your action</h2>' "$DOM"
check "four cards (articles)" test "$(count '<article class="card"')" -eq 4
check "four card headings (h3)" test "$(count '<h3 id="card-')" -eq 4
check "timelines are ordered lists" test "$(count '<ol class="timeline"')" -eq 4
check "time elements carry datetime" test "$(count '<time datetime="2024-')" -ge 13
for place in "Royal Stoke University Hospital" "WMAS Crestwood Emergency Operations Centre" \
             "Stafford Larkspur Ambulance Hub" "Kestrelmoor Health Care CIC - NHS 111 West Midlands" \
             "Leeds General Infirmary"; do
  check "place shown: $place" has "$place"
done
for s in "Ambulance service" "Hospital" "NHS 111"; do
  check "kind of setting shown: $s" has ">$s</span>"
done
check "tel: link Royal Stoke" has '<a href="tel:+441782715444">Call 01782 715444</a>'
check "tel: link ambulance (the crew hub has no phone: its trust's)" has '<a href="tel:+441384215555">Call 01384 215555</a>'
check "tel: link ambulance control (its own)" has '<a href="tel:+441214960555">Call 0121 496 0555</a>'
check "tel: link NHS 111" has '<a href="tel:+443069990404">Call 0306 999 0404</a>'
check "who viewed: a person" has '<strong>Olivia Bennett</strong>, Nurse Access Role'
check "who viewed: a system, and who was responsible" has 'Viewed by the <strong>NHS 111 system</strong>; responsible: <strong>Jo Clarke</strong>'
check "entry state shown" has 'Awaiting your action</p>'
check "masked NHS number shown" has '*** *** 5552'
check "case ids shown" grep -q 'C-1001' "$DOM"

# The cascade card's timeline, earliest first: 111, control, crew hub, Leeds,
# Royal Stoke 15:10, Royal Stoke 18:45.
awk '/<h3 id="card-[0-9]+"><span class="child">[^<]*<\/span> <span class="case">Case C-1001/{on=1} on&&/<\/article>/{exit} on' \
  "$DOM" >"$T/cascade.html"
order=$(grep -oE '<time datetime="[^"]+"' "$T/cascade.html" | sed 's/.*="//; s/"//' | tr '\n' ' ')
check "cascade timeline in time order (got: $order)" \
  test "$order" = "2024-03-15T18:45:00Z 2024-03-15T14:02:00Z 2024-03-15T14:05:00Z 2024-03-15T14:20:00Z 2024-03-15T14:29:58Z 2024-03-15T15:10:00Z 2024-03-15T18:45:00Z "
places=$(grep -oE 'class="place">[^<]+' "$T/cascade.html" | sed 's/.*>//' | tr '\n' '|')
check "cascade places in pathway order, each once" test "$places" = \
  "Kestrelmoor Health Care CIC - NHS 111 West Midlands |WMAS Crestwood Emergency Operations Centre |Stafford Larkspur Ambulance Hub |Leeds General Infirmary |Royal Stoke University Hospital |"

# Cards: repeats first (C-1003's 22 Mar and 16 Mar episodes), then newest;
# here that is also newest first.  The "Latest" time of each card, in order.
latest=$(grep -oE 'Latest <time datetime="[^"]+"' "$DOM" | sed 's/.*="//; s/"//')
check "cards newest first" test "$latest" = "$(printf '%s\n' $latest | sort -r)"
check "four latest times" test "$(printf '%s\n' $latest | wc -l)" -eq 4

# The 20 Feb episode awaits action: shown, never folded away as "older";
# the two later episodes of the same child are repeats (their counts were
# updated when the earlier episode arrived late).
check "Feb episode shown" grep -q '2024-02-20T09:41:12Z' "$DOM"
check "nothing folded while everything awaits action" bash -c "! grep -q '<details' '$DOM'"
check "two repeats marked" test "$(count 'data-repeat="true"')" -eq 2

# Privacy and self-containment.
check "no 10-digit number anywhere" bash -c "! grep -qE '(^|[^0-9])[0-9]{10}([^0-9]|$)' '$DOM'"
check "no spaced NHS number" bash -c "! grep -qE '(^|[^0-9])[0-9]{3} [0-9]{3} [0-9]{4}([^0-9]|$)' '$DOM'"
check "no script" bash -c "! grep -qi '<script' '$DOM'"
check "no external resource" bash -c "! grep -qiE '(src|href)=\"(https?:)?//' '$DOM'"
check "no web font" bash -c "! grep -qi '@font-face\|@import' '$DOM'"
check "visible focus style" has ':focus-visible'

# ---- the text shown to a reader (innerText, from the DOM) --------------------------
# The wrapper is ours, not the page's: the landing page itself has no script.
cat >"$T/shown.html" <<'WRAPPER'
<!DOCTYPE html><html><body>
<iframe id="f" src="landing.html" style="width:1366px;height:900px"></iframe>
<pre id="shown"></pre>
<script>
document.getElementById('f').addEventListener('load', function () {
  document.getElementById('shown').textContent = this.contentDocument.body.innerText;
});
</script></body></html>
WRAPPER
chrome --allow-file-access-from-files --virtual-time-budget=5000 --dump-dom \
  "file://$T/shown.html" >"$T/shown.dom"
sed -n '/<pre id="shown">/,/<\/pre>/p' "$T/shown.dom" | sed 's/<[^>]*>//g; s/&amp;/\&/g' >"$T/shown.txt"
SHOWN="$T/shown.txt"
check "innerText read through the DOM" test "$(wc -l <"$SHOWN")" -gt 20
check "shown: heading" grep -q 'CP-IS notifications' "$SHOWN"
for place in "Royal Stoke University Hospital" "WMAS Crestwood Emergency Operations Centre" \
             "Kestrelmoor Health Care CIC - NHS 111 West Midlands"; do
  check "shown: $place" grep -qF "$place" "$SHOWN"
done
check "shown: phone 01782 715444" grep -q 'Call 01782 715444' "$SHOWN"
check "shown: phone 0306 999 0404" grep -q 'Call 0306 999 0404' "$SHOWN"
check "shown: who viewed" grep -q 'Olivia Bennett' "$SHOWN"
check "shown: UK times" grep -q '18:45 GMT' "$SHOWN"
check "shown: entry state" grep -q 'Awaiting your action' "$SHOWN"
check "shown: the child named" grep -q 'Amelia Hughes' "$SHOWN"
check "shown: masked NHS number" grep -qF '*** *** 5552' "$SHOWN"
check "shown: the Feb episode (it awaits action: never folded away)" grep -q '20 Feb 2024' "$SHOWN"
check "shown: the repeat mark" grep -q 'Repeat' "$SHOWN"
check "shown text: no 10-digit number" bash -c "! grep -qE '(^|[^0-9])[0-9]{10}([^0-9]|$)' '$SHOWN'"
check "shown text in order: 111 before the ward" bash -c \
  "a=\$(grep -n 'WMAS Crestwood Emergency' '$SHOWN' | head -1 | cut -d: -f1); b=\$(grep -n '18:45 GMT' '$SHOWN' | tail -1 | cut -d: -f1); [ -n \"\$a\" ] && [ -n \"\$b\" ] && [ \"\$a\" -lt \"\$b\" ]"

# ---- what only a PDF shows: the printed page --------------------------------------
if command -v pdftotext >/dev/null 2>&1; then
  chrome --no-pdf-header-footer --print-to-pdf="$T/page.pdf" "file://$PAGE" >/dev/null
  check "print-to-pdf succeeded" test -s "$T/page.pdf"
  pdftotext -layout "$T/page.pdf" "$T/page.txt" 2>/dev/null
  TXT="$T/page.txt"
  check "printed: heading" grep -q 'CP-IS notifications' "$TXT"
  check "printed text: no 10-digit number" bash -c "! grep -qE '(^|[^0-9])[0-9]{10}([^0-9]|$)' '$TXT'"
else
  echo "$NAME: note: pdftotext not installed (poppler-utils): the printed page not checked"
fi

# ---- screenshot ----------------------------------------------------------------------
chrome --screenshot="$T/shot.png" --window-size=1366,900 "file://$PAGE" >/dev/null
check "screenshot written" test -s "$T/shot.png"
dims=$(od -An -tu1 -j16 -N8 "$T/shot.png" | tr -s ' ' | sed 's/^ //')
# width and height, big-endian, from the IHDR chunk
read -r w1 w2 w3 w4 h1 h2 h3 h4 <<<"$dims"
w=$(( (w1 << 24) | (w2 << 16) | (w3 << 8) | w4 )); h=$(( (h1 << 24) | (h2 << 16) | (h3 << 8) | h4 ))
check "screenshot is 1366x900 (got ${w}x${h})" test "$w" -eq 1366 -a "$h" -eq 900
# a blank page compresses to a few kB; a rendered one does not
check "screenshot is not blank" test "$(stat -c %s "$T/shot.png")" -gt 30000
if [ -n "${CPIS_PREVIEW_PNG:-}" ]; then
  chrome --screenshot="$CPIS_PREVIEW_PNG" --window-size=1366,1640 "file://$PAGE" >/dev/null
  check "preview PNG saved to $CPIS_PREVIEW_PNG" test -s "$CPIS_PREVIEW_PNG"
fi

# ---- other views ------------------------------------------------------------------------
"$M" --db "$DB" landing --team "Cannock South" --html "$T/team.html" 2>/dev/null
check "landing --team exits 0" test $? -eq 0
chrome --dump-dom "file://$T/team.html" >"$T/team.dom"
check "team page: C-1002 cards" grep -q 'C-1002' "$T/team.dom"
check "team page: allocated worker shown" grep -q 'Allocated to <strong>sw.okafor</strong>' "$T/team.dom"
check "team page: no other team's case" bash -c "! grep -q 'C-1001' '$T/team.dom'"
"$M" --db "$DB" landing --worker sw.nobody --html "$T/nobody.html" 2>"$T/nobody.err"
check "unknown worker exits 1" test $? -eq 1
check "unknown worker named" grep -q 'unknown worker "sw.nobody"' "$T/nobody.err"
check "unknown worker: no page" test ! -e "$T/nobody.html"
# tm.lewis manages cases but has no landing entries: a page that says so
"$M" --db "$DB" landing --worker tm.lewis --html "$T/empty.html" 2>/dev/null
check "known worker without entries exits 0" test $? -eq 0
chrome --dump-dom "file://$T/empty.html" >"$T/empty.dom"
check "empty state says so" grep -q 'There are no CP-IS notifications for tm.lewis' "$T/empty.dom"
check "empty state has no cards" bash -c "! grep -q '<article' '$T/empty.dom'"

echo "$NAME: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
