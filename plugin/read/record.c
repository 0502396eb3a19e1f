/* record.c - helpers for the normalised notification record. */
#include "record.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cpis_notification_free(struct cpis_notification *n)
{
    if (n == NULL)
        return;
    free(n->access);
    n->access = NULL;
    n->n_access = 0;
    free(n->inactive);
    n->inactive = NULL;
    n->n_inactive = 0;
}

void cpis_message_free(struct cpis_message *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        cpis_notification_free(&m->v[i]);
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

struct cpis_notification *cpis_message_add(struct cpis_message *m)
{
    struct cpis_notification *v = realloc(m->v, (m->n + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    m->v = v;
    memset(&v[m->n], 0, sizeof v[m->n]);
    v[m->n].total_records = -1;
    return &v[m->n++];
}

int cpis_copy_text(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return src == NULL || src[0] == '\0';
    dst[0] = '\0';
    if (src == NULL)
        return 1;
    while (*src && isspace((unsigned char)*src))
        src++;
    size_t n = strlen(src);
    while (n > 0 && isspace((unsigned char)src[n - 1]))
        n--;
    int fits = n < cap;
    if (n >= cap) {
        n = cap - 1;
        /* do not cut a UTF-8 sequence: back up to a lead byte */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return fits;
}

int cpis_fail(struct cpis_parse_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->detail, sizeof err->detail, fmt, ap);
        va_end(ap);
    }
    return code;
}
