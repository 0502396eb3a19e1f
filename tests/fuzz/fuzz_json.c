/*
 * fuzz_json.c - libFuzzer target for the FHIR JSON parser.
 *
 * Build (see tests/fuzz/corpus/json/ for the seeds: CP-IS FHIR API AuditEvent searchset Bundles, the samples and variants from tests/data/fhir):
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Iplugin -Iworkflow \
 *     tests/fuzz/fuzz_json.c plugin/read/fhir.c plugin/read/json.c plugin/read/ids.c plugin/read/record.c \
 *     $(pkg-config --cflags --libs libcjson libpcre2-8) -lpthread -o /tmp/fuzz_json
 *   /tmp/fuzz_json -max_total_time=180 /tmp/corpus tests/fuzz/corpus/json
 *
 * Besides the sanitizers, the target traps when an invariant breaks: a
 * result code outside the contract's list, an error that leaves a record
 * behind, an unterminated detail, or an accepted record with a malformed
 * NHS number.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ids.h"
#include "parse.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cpis_notification n;
    struct cpis_parse_error e;
    int rc = cpis_parse_fhir(data, size, &n, &e);
    if (rc < CPIS_MSG_OK || rc >= CPIS_MSG_END_ || e.code != rc)
        __builtin_trap();
    if (memchr(e.detail, '\0', sizeof e.detail) == NULL)
        __builtin_trap();
    if (rc != CPIS_MSG_OK) {
        if (n.access != NULL || n.n_access != 0 || e.detail[0] == '\0')
            __builtin_trap();
        return 0;
    }
    if (n.format != REC_FORMAT_FHIR || (n.kind == REC_KIND_ACCESS) != (n.n_access > 0))
        __builtin_trap();
    for (size_t i = 0; i < n.n_access; i++) {
        const struct cpis_access *a = &n.access[i];
        if (strlen(a->nhs_number) != 10 || !cpis_ods_code_valid(a->location_code))
            __builtin_trap();
    }
    cpis_notification_free(&n);
    return 0;
}
