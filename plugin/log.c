/*
 * log.c - the plugin's only way to say anything.  Every line passes through
 * cpis_scrub_digits (scrub.c) so that even a mistake elsewhere cannot put a
 * full NHS number in the host's log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

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
