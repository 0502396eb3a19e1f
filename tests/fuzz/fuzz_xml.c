/*
 * fuzz_xml.c - libFuzzer target for the message parser on XML input.
 *
 * Build and run: `make fuzz FUZZ_TARGETS=xml` (or `make build/fuzz/xml`, then
 *   build/fuzz/xml -max_len=65536 tests/fuzz/corpus/xml).
 *
 * Every input goes through cpis_parse_message (content type
 * "application/xml", 1 MiB limit) and the MESH control-file parser.  Every
 * notification of a successful parse is checked for internal consistency
 * (never fewer or more accesses than stated, "empty" only for a stated 0,
 * every inactive subject and ignored file well formed) and freed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Invariants of one notification of a successful parse. */
static void check(const struct cpis_notification *n)
{
    if (n->message_id[0] == '\0' && n->kind != REC_KIND_IGNORED)
        abort();
    if (n->kind == REC_KIND_ACCESS && (n->n_access == 0 || n->access == NULL))
        abort();
    if (n->kind != REC_KIND_ACCESS && n->n_access != 0)
        abort();
    if (n->kind == REC_KIND_ACCESS && n->total_records >= 0 &&
        (size_t)n->total_records != n->n_access)
        abort(); /* never fewer (or more) accesses than stated */
    if (n->kind == REC_KIND_EMPTY && n->total_records != 0)
        abort(); /* empty only for a stated 0 */
    for (size_t i = 0; i < n->n_access; i++)
        if (strlen(n->access[i].nhs_number) != 10 || n->access[i].location_code[0] == '\0')
            abort();
    if (n->kind == REC_KIND_INACTIVE && (n->n_inactive == 0 || n->inactive == NULL))
        abort();
    for (size_t i = 0; i < n->n_inactive; i++)
        if (strlen(n->inactive[i].nhs_number) != 10)
            abort();
    if (n->kind == REC_KIND_IGNORED && n->reason[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cpis_message m;
    struct cpis_parse_error err;
    int rc = cpis_parse_message(data, size, "application/xml", 1024u * 1024u, &m, &err);
    if (rc == CPIS_MSG_OK) {
        if (m.n == 0 || m.v == NULL)
            abort();
        for (size_t i = 0; i < m.n; i++)
            check(&m.v[i]);
    } else {
        if (m.v != NULL || m.n != 0 || err.code != rc ||
            memchr(err.detail, '\0', sizeof err.detail) == NULL)
            abort();
    }
    cpis_message_free(&m);

    char dts[64], local[64];
    (void)cpis_parse_mesh_ctl(data, size, dts, sizeof dts, local, sizeof local, &err);
    return 0;
}
