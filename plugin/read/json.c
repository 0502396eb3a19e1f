/*
 * json.c - strict JSON on top of cJSON (see json.h).
 *
 * Two checks cJSON 1.7.15 does not make, both linear:
 *   1. before parsing, one pass over the text: inside a string, a raw byte
 *      below 0x20 (RFC 8259 requires it escaped; cJSON accepts it) or the
 *      escape \u0000 (cJSON decodes it into a NUL that cuts the C string,
 *      so "9449305552\u0000junk" would read as a valid NHS number);
 *   2. after parsing, every object's keys are compared with a small sorted
 *      copy of its member names, so a key given twice is refused whatever
 *      its case-sensitive spelling.
 */
#include "json.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(char *why, size_t cap, const char *text)
{
    if (why != NULL && cap > 0)
        snprintf(why, cap, "%s", text);
}

/* 0 when the strings in the text are clean, else a static reason. */
static const char *scan_strings(const char *t, size_t len)
{
    int in = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!in) {
            if (c == '"')
                in = 1;
            continue;
        }
        if (c == '"') {
            in = 0;
        } else if (c < 0x20) {
            return "a string holds a raw control character (it must be escaped)";
        } else if (c == '\\' && i + 1 < len) {
            if (t[i + 1] == 'u' && i + 5 < len && memcmp(t + i + 2, "0000", 4) == 0)
                return "a string holds \\u0000 (NUL)";
            i++; /* skip the escaped character */
        }
    }
    return NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted member names of one object, compared neighbour to neighbour. */
static const char *object_duplicate(const cJSON *obj, int *oom)
{
    size_t k = 0;
    for (const cJSON *c = obj->child; c != NULL; c = c->next)
        k++;
    if (k < 2)
        return NULL;
    const char **names = malloc(k * sizeof *names);
    if (names == NULL) {
        *oom = 1;
        return NULL;
    }
    size_t i = 0;
    for (const cJSON *c = obj->child; c != NULL; c = c->next)
        names[i++] = c->string != NULL ? c->string : "";
    qsort(names, k, sizeof *names, cmp_names);
    const char *dup = NULL;
    for (i = 1; i < k && dup == NULL; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            dup = names[i];
    free(names);
    return dup;
}

/* The first duplicated key in any object of the tree, or NULL.  Recursive:
 * cJSON refuses nesting deeper than 1000, which bounds the depth. */
static const char *find_duplicate(const cJSON *n, int *oom)
{
    if (cJSON_IsObject(n)) {
        const char *d = object_duplicate(n, oom);
        if (d != NULL || *oom)
            return d;
    }
    if (cJSON_IsObject(n) || cJSON_IsArray(n))
        for (const cJSON *c = n->child; c != NULL; c = c->next) {
            const char *d = find_duplicate(c, oom);
            if (d != NULL || *oom)
                return d;
        }
    return NULL;
}

static int printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

cJSON *cpis_json_parse_strict(const char *buf, size_t len, char *why, size_t why_cap)
{
    say(why, why_cap, "");
    if (buf == NULL || len == 0) {
        say(why, why_cap, "empty text: expected one JSON value");
        return NULL;
    }
    if (memchr(buf, '\0', len) != NULL) {
        say(why, why_cap, "the text holds a NUL byte");
        return NULL;
    }
    const char *bad = scan_strings(buf, len);
    if (bad != NULL) {
        say(why, why_cap, bad);
        return NULL;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        say(why, why_cap, "out of memory");
        return NULL;
    }
    memcpy(copy, buf, len);
    copy[len] = '\0';
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
    free(copy);
    if (root == NULL) {
        say(why, why_cap,
            "not well-formed JSON (syntax error, text after the value, or nesting deeper "
            "than 1000)");
        return NULL;
    }
    int oom = 0;
    const char *dup = find_duplicate(root, &oom);
    if (dup != NULL || oom) {
        if (oom)
            say(why, why_cap, "out of memory");
        else if (strlen(dup) <= 40 && printable_ascii(dup) && why != NULL && why_cap > 0)
            snprintf(why, why_cap, "duplicated key \"%s\" in one object", dup);
        else
            say(why, why_cap, "a key is given twice in one object");
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int cpis_json_has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 1;
    }
    return 0;
}
