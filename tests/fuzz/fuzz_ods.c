/*
 * fuzz_ods.c - libFuzzer target for the ODS loader (plugin/ods.c alone).
 * Build: clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Iplugin \
 *          -Iworkflow tests/fuzz/fuzz_ods.c plugin/ods.c -o /tmp/fuzz_ods
 * Run:   /tmp/fuzz_ods -max_total_time=120 tests/fuzz/corpus/ods
 *
 * Each input is loaded under a file name cycling etr / ets / epraccur /
 * other, with overrides set before loading, then a few codes are resolved:
 * fixed ones, and the first field of each of the first lines of the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ods.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_resolution(const struct cpis_ods *d, const char *code)
{
    struct cpis_ods_resolution r;
    cpis_ods_resolve(d, code, &r);
    /* Touch every string so ASan sees any dangling pointer. */
    size_t n = strlen(r.setting);
    if (!cpis_setting_valid(r.setting))
        __builtin_trap();
    if (r.resolved) {
        n += strlen(r.name);
        if (r.parent_code)
            n += strlen(r.parent_code);
        if (r.parent_name)
            n += strlen(r.parent_name);
        if (r.phone)
            n += strlen(r.phone);
        const struct cpis_ods_org *o = cpis_ods_find(d, code);
        if (!o)
            __builtin_trap();
        n += strlen(o->code) + strlen(o->phone) + strlen(o->parent_code) +
             strlen(o->close_date);
    } else if (r.name) {
        __builtin_trap();
    } else if (r.via_parent) {
        /* only the parent is known: its name is there */
        if (!r.parent_code || !r.parent_name)
            __builtin_trap();
        n += strlen(r.parent_code) + strlen(r.parent_name) + (r.phone ? strlen(r.phone) : 0);
    }
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "etr.csv", "ets.csv", "epraccur.csv",
                                         "eother.csv", "ebranchs.csv" };
    static unsigned turn;
    const char *name = names[turn++ % 5];

    struct cpis_ods *d = cpis_ods_new();
    if (!d)
        return 0;
    cpis_ods_set_setting(d, "RYA", "ambulance");
    cpis_ods_set_setting(d, "Q99001", "urgent_care");
    char err[256];
    int rc = cpis_ods_load_buffer(d, name, (const char *)data, size, err, sizeof err);
    if (rc != 0 && cpis_ods_count(d) != 0)
        __builtin_trap(); /* a failed buffer stored nothing (fresh directory) */
    /* one file report, its counts adding up */
    const struct cpis_ods_file_report *f = cpis_ods_file(d, 0);
    if (cpis_ods_file_count(d) != 1 || !f || (rc != 0) != (f->not_extract != 0))
        __builtin_trap();
    size_t skipped = 0;
    for (int k = 0; k < ODS_SKIP_N; k++)
        skipped += f->skipped[k];
    if (skipped != f->rows_skipped || (f->rows_read == 0) != (f->not_extract != 0))
        __builtin_trap();

    static const char *const fixed[] = { "RJE01", "rya01", "Q99001", "QQ1", "Q1",
                                         "", "ABCDEFGHIJ", "RJEAA", "Q99001001" };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_resolution(d, fixed[i]);

    /* The first field (unquoted, up to 15 bytes) of the first 8 lines. */
    size_t pos = 0;
    for (int line = 0; line < 8 && pos < size; line++) {
        char code[16];
        size_t k = 0;
        if (data[pos] == '"')
            pos++;
        while (pos < size && k < sizeof code - 1 && data[pos] != '"' &&
               data[pos] != ',' && data[pos] != '\n')
            code[k++] = (char)data[pos++];
        code[k] = '\0';
        check_resolution(d, code);
        while (pos < size && data[pos] != '\n')
            pos++;
        pos++;
    }
    cpis_ods_free(d);
    return 0;
}
