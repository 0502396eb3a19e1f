/*
 * log.c - the plugin's only way to say anything.  Every line passes through
 * cpis_scrub_digits so that even a mistake elsewhere cannot put a full NHS
 * number in the host's log.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

void cpis_scrub_digits(char *s)
{
    size_t i = 0, n = strlen(s);
    while (i < n) {
        if (!isdigit((unsigned char)s[i])) {
            i++;
            continue;
        }
        /* a run of digits, allowing single spaces between groups */
        size_t j = i, digits = 0, last_digit = i;
        while (j < n && (isdigit((unsigned char)s[j]) ||
                         (s[j] == ' ' && j + 1 < n && isdigit((unsigned char)s[j + 1]) &&
                          digits > 0))) {
            if (isdigit((unsigned char)s[j])) {
                digits++;
                last_digit = j;
            }
            j++;
        }
        if (digits >= 10) {
            /* keep the last four digits, star the rest */
            size_t keep = 0;
            for (size_t k = last_digit + 1; k-- > i;) {
                if (isdigit((unsigned char)s[k])) {
                    if (keep < 4)
                        keep++;
                    else
                        s[k] = '*';
                }
            }
        }
        i = j > i ? j : i + 1;
    }
}

void cpis_log(const struct cpis_plugin *p, int level, const char *fmt, ...)
{
    if (p == NULL || p->host == NULL || p->host->log == NULL)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cpis_scrub_digits(line);
    p->host->log(p->host->ctx, level, line);
}
