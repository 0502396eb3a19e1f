#!/usr/bin/env bash
# hl7_schemas.sh - every HL7 V3 message the project ships or writes validates
# against NHS Digital's published CP-IS schemas: samples/ (MESH .dat payloads
# included), tests/data/hl7ok/ (the real-shape files the tests read) and a
# small `cpis-mockhost generate` run.  Wrapped files (SOAP, ITK, MCCI, a
# container) are checked payload by payload.  tests/data/hl7/ holds the
# deliberately invalid negative tests and is not validated.
#
# The schemas are not part of this repository: they are read from
# CPIS_REFERENCE (default: ../shared/reference beside the repository), and the
# copy libxml2 can compile is written into the build folder by the
# reference's own script.  Without them the test says so and skips.
#
# Environment (set by `make check`): CPIS_MOCKHOST, CPIS_SAMPLES.
set -euo pipefail

: "${CPIS_MOCKHOST:?set CPIS_MOCKHOST to the cpis-mockhost binary}"
: "${CPIS_SAMPLES:?set CPIS_SAMPLES to the samples folder}"
ROOT=$(cd "$CPIS_SAMPLES/.." && pwd)
REF=${CPIS_REFERENCE:-$ROOT/../shared/reference}
SCRIPT=$REF/cpis-hl7v3-schemas-for-libxml2.py
BUILD_DIR=$(cd "$(dirname "$CPIS_MOCKHOST")" && pwd)
XSD=$BUILD_DIR/hl7-schemas

if [ ! -f "$SCRIPT" ] || [ ! -d "$REF/cpis-hl7v3-schemas" ]; then
    echo "hl7_schemas: SKIPPED: the published CP-IS schemas are not at $REF"
    echo "hl7_schemas: 0 passed, 0 failed"
    exit 0
fi
for tool in python3 xmllint; do
    command -v "$tool" >/dev/null || { echo "hl7_schemas: needs $tool"; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

rm -rf "$XSD"
python3 "$SCRIPT" "$XSD" >/dev/null || { echo "hl7_schemas: the schema script failed"; exit 1; }
[ -f "$XSD/Schemas/REPC_MT000004GB01.xsd" ] && ok || fail "no libxml2 schema copy in $XSD"

# A small generated stream (HL7 V3 files, MESH pairs, FHIR files).
"$CPIS_MOCKHOST" generate --seed 11 --notifications 40 "$tmp/gen" >/dev/null 2>"$tmp/gen.err" ||
    fail "generate: $(head -c 300 "$tmp/gen.err")"

# Split every file into its CP-IS payloads (by namespace and name, as the
# plugin finds them) and name the schema each one must meet.
split_payloads() {
    python3 - "$tmp/payloads" "$@" <<'EOF'
import os, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
V3 = '{urn:hl7-org:v3}'
SCHEMA = {V3 + 'CP-ISAccessToServiceNotification': 'REPC_MT000004GB01',
          V3 + 'CP-ISInactiveNHSNumberNotification': 'REPC_MT000005GB01',
          V3 + 'FileResponse': 'REPC_MT000003GB01'}
n = 0
import gzip, io
for path in sys.argv[2:]:
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)  # a compressed MESH payload
    head = data[:64].lstrip(b'\xef\xbb\xbf \r\n\t')
    if not head.startswith(b'<'):
        continue  # FHIR JSON, or an empty MESH report payload
    root = ET.parse(io.BytesIO(data)).getroot()
    found = []
    def walk(el):
        if el.tag in SCHEMA:
            found.append(el)
            return
        for c in el:
            walk(c)
    walk(root)
    if not found:
        print('NOPAYLOAD\t%s' % path)
    for i, el in enumerate(found):
        n += 1
        name = os.path.join(out, '%05d.xml' % n)
        # the file itself (inflated), byte for byte, or the payload element
        payload = data if el is root else ET.tostring(el, encoding='utf-8')
        with open(name, 'wb') as f:
            f.write(payload)
        print('%s\t%s\t%s#%d' % (SCHEMA[el.tag], name, path, i + 1))
EOF
}

mapfile -t files < <(find "$CPIS_SAMPLES/cascade" "$CPIS_SAMPLES/messages" "$CPIS_SAMPLES/mesh" \
    "$CPIS_SAMPLES/mesh-gzip" \
    "$ROOT/tests/data/hl7ok" "$tmp/gen" -type f \( -name '*.xml' -o -name '*.dat' \) | sort)
split_payloads "${files[@]}" >"$tmp/list" || fail "splitting the files into payloads failed"

declare -A per_schema=()
while IFS=$'\t' read -r schema file origin; do
    if [ "$schema" = NOPAYLOAD ]; then
        fail "no CP-IS payload in $file"
        continue
    fi
    if xmllint --noout --schema "$XSD/Schemas/$schema.xsd" "$file" >"$tmp/x.out" 2>&1; then
        ok
        per_schema[$schema]=$((${per_schema[$schema]:-0} + 1))
    else
        fail "$origin does not validate against $schema: $(grep -v 'fails to validate' "$tmp/x.out" | head -3)"
    fi
done <"$tmp/list"

# Each schema is exercised, and generate's files are among those checked.
for s in REPC_MT000004GB01 REPC_MT000005GB01 REPC_MT000003GB01; do
    [ "${per_schema[$s]:-0}" -gt 0 ] && ok || fail "no message checked against $s"
done
ngen=$(grep -c "$tmp/gen/" "$tmp/list" || true)
[ "$ngen" -gt 10 ] && ok || fail "only $ngen generated payloads checked"
nsamples=$(grep -c "$CPIS_SAMPLES/" "$tmp/list" || true)
[ "$nsamples" -ge 18 ] && ok || fail "only $nsamples sample payloads checked"

echo "hl7_schemas: validated ${per_schema[REPC_MT000004GB01]:-0} access, ${per_schema[REPC_MT000005GB01]:-0} inactive, ${per_schema[REPC_MT000003GB01]:-0} acknowledgement payloads ($nsamples from samples/, $ngen from generate)"
echo "hl7_schemas: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
