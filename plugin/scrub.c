/*
 * scrub.c - masking of NHS numbers and names in log lines (see scrub.h).
 */
#include "scrub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dig(char c) { return c >= '0' && c <= '9'; }
static int alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int alnum(char c) { return dig(c) || alpha(c); }
static int hex(char c) { return dig(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int joiner(char c) { return c == ' ' || c == '-' || c == '_'; }

/* At the start of an alphanumeric token (s[i], s[i-1] not alphanumeric):
 * the length of an identifier that must stay readable, else 0. */
static size_t id_length(const char *s, size_t i, size_t n)
{
    static const size_t uuid_groups[] = {8, 4, 4, 4, 12};
    size_t k = i;
    int uuid = 1;
    for (size_t g = 0; g < 5 && uuid; g++) {
        if (g > 0) {
            if (k >= n || s[k] != '-')
                uuid = 0;
            k++;
        }
        for (size_t d = 0; d < uuid_groups[g] && uuid; d++, k++)
            if (k >= n || !hex(s[k]))
                uuid = 0;
    }
    if (uuid && (k >= n || !alnum(s[k])))
        return k - i;

    size_t j = i;
    int all_hex = 1, letter = 0;
    while (j < n && alnum(s[j])) {
        all_hex &= hex(s[j]);
        letter |= alpha(s[j]);
        j++;
    }
    int quarantine_id = i >= 2 && s[i - 2] == 'q' && s[i - 1] == '-' &&
                        (i == 2 || !alnum(s[i - 3])) && j - i == 16;
    if (all_hex && (quarantine_id || (j - i >= 16 && letter)))
        return j - i;
    return 0;
}

static int token_start(const char *s, size_t i)
{
    return alnum(s[i]) && (i == 0 || !alnum(s[i - 1]));
}

void cpis_scrub_digits(char *s)
{
    if (s == NULL)
        return;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        if (token_start(s, i)) {
            size_t id = id_length(s, i, n);
            if (id > 0) {
                i += id;
                continue;
            }
        }
        if (!dig(s[i]) || (i > 0 && dig(s[i - 1]))) {
            i++;
            continue;
        }
        /* a chain of digit groups joined by single joiners */
        size_t j = i, digits = 0;
        for (;;) {
            while (j < n && dig(s[j])) {
                j++;
                digits++;
            }
            if (j + 1 < n && joiner(s[j]) && dig(s[j + 1]) &&
                !(token_start(s, j + 1) && id_length(s, j + 1, n) > 0))
                j++;
            else
                break;
        }
        if (digits >= 10) {
            size_t keep = 4;
            for (size_t k = j; k-- > i;) {
                if (!dig(s[k]))
                    continue;
                if (keep > 0)
                    keep--;
                else
                    s[k] = '*';
            }
        }
        i = j;
    }
}

void cpis_scrub_file_name(const char *name, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return;
    /* Masked whole, then cut: a cut first could leave the first digits of
     * a number unmasked. */
    size_t n = name != NULL ? strlen(name) : 0;
    char *full = malloc(n + 1);
    if (full == NULL) {
        snprintf(out, cap, "%s", "(a file)");
        return;
    }
    if (n > 0)
        memcpy(full, name, n);
    full[n] = '\0';
    cpis_scrub_digits(full);
    char *base = strrchr(full, '/');
    base = base != NULL ? base + 1 : full;
    for (char *p = base; *p != '\0';) {
        if (!alpha(*p)) {
            p++;
            continue;
        }
        char *q = p;
        while (alpha(*q))
            q++;
        int capitalised = *p >= 'A' && *p <= 'Z' && q - p >= 3;
        for (char *r = p + 1; r < q && capitalised; r++)
            capitalised = *r >= 'a' && *r <= 'z';
        if (capitalised)
            memset(p + 1, '*', (size_t)(q - p - 1));
        p = q;
    }
    snprintf(out, cap, "%s", full);
    free(full);
}
