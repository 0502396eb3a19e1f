/*
 * configcmd.c - `cpis-mockhost config check FILE` and `config show` (see
 * configcmd.h).
 *
 * Both load the plugin (loader.c: dlopen, the entry symbol, the ABI check)
 * but never init it: descriptor->config_check validates a configuration on
 * its own, the way a host's admin screen checks an edit before saving it.
 * Relative paths in a config file are resolved against the folder holding
 * the file, so base_dir is that folder.
 *
 * Sources shown by `show`: a flag is "explicit" when the file sets it, else
 * the default of the workflow version (the plugin says which); any other key
 * is "explicit" when the file sets it, else "default"; ods.paths replaced
 * on the command line is "--ods".
 */
#include "configcmd.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cpis/plugin.h"

#include "host.h"
#include "inputs.h"
#include "loader.h"

static const char PROG[] = "cpis-mockhost";

enum { EXIT_OK = 0, EXIT_USAGE = 2 };

/* Larger than any config the plugin accepts is not needed: the plugin
 * rejects what it cannot hold; this only bounds what is read. */
#define MAX_CONFIG_BYTES (1024u * 1024u)
#define PROBLEMS_CAP (64u * 1024u)

const char CONFIG_HELP[] =
    "usage: cpis-mockhost [--plugin SO] [--ods PATH]... config check FILE [--json]\n"
    "       cpis-mockhost [--plugin SO] [--config FILE] [--ods PATH]... config show [--json]\n"
    "\n"
    "check FILE  validate an admin configuration without applying it, the way\n"
    "            the plugin would on load or on a config change.  Every problem\n"
    "            is printed on stderr, one per line, naming the file, the key\n"
    "            and the expected value.  Valid: prints \"FILE: ok\" and a\n"
    "            summary on stdout.  Relative paths (ods.paths) are resolved\n"
    "            against the folder holding FILE; the ODS files are read.\n"
    "show        print the effective configuration of --config (default\n"
    "            samples/config/v6.json): every key with its value and where\n"
    "            the value came from: \"explicit\" (written in the file),\n"
    "            \"version N default\" (a flag left to workflow.version),\n"
    "            \"default\" (any other key left out) or \"--ods\".\n"
    "\n"
    "  --json    one JSON object on stdout instead of text: check prints\n"
    "            {\"file\",\"ok\",\"problems\":[..]}; show prints {\"file\",\"ok\",\n"
    "            \"keys\":[{\"key\",\"value\",\"source\"}..],\"effective\":{..}}.\n"
    "\n"
    "Exit status: 0 valid, 2 invalid configuration, unreadable file or usage\n"
    "error.\n";

static int usage(const char *fmt, ...) CPIS_PRINTF(1, 2);
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: config: ", PROG);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try %s config --help)\n", PROG);
    return EXIT_USAGE;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static void print_json_line(cJSON *o)
{
    char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    if (s != NULL) {
        puts(s);
        free(s);
    } else {
        fprintf(stderr, "%s: out of memory\n", PROG);
    }
    cJSON_Delete(o);
}

/* ---- running config_check ------------------------------------------------ */

struct checked {
    char *text;        /* the file as read */
    size_t len;
    int status;        /* config_check's return */
    char *problems;    /* one per line; "" when valid */
    char *effective;   /* effective JSON when valid */
};

static void checked_free(struct checked *c)
{
    free(c->text);
    free(c->problems);
    free(c->effective);
    memset(c, 0, sizeof *c);
}

/* Reads `path` and asks the plugin about it.  Returns 0 (c->status says
 * whether the config is valid) or EXIT_USAGE after printing why the check
 * could not be made. */
static int run_check(const char *plugin_path, const char *path,
                     const char *const *ods, struct checked *c)
{
    char err[1024];
    memset(c, 0, sizeof *c);
    c->text = (char *)read_file(path, MAX_CONFIG_BYTES, &c->len, err, sizeof err);
    if (c->text == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, path, err);
        return EXIT_USAGE;
    }
    struct loaded_plugin lp;
    struct mock_host h;
    memset(&h, 0, sizeof h);
    if (plugin_load(&lp, plugin_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, plugin_path, err);
        plugin_unload(&lp, &h);
        return EXIT_USAGE;
    }
    if (lp.desc->config_check == NULL) {
        fprintf(stderr, "%s: %s: the plugin offers no config_check\n", PROG,
                plugin_path);
        plugin_unload(&lp, &h);
        return EXIT_USAGE;
    }
    char *dir = dir_of(path);
    c->problems = calloc(1, PROBLEMS_CAP);
    size_t eff_cap = 16 * 1024;
    if (dir == NULL || c->problems == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        free(dir);
        plugin_unload(&lp, &h);
        return EXIT_USAGE;
    }
    struct cpis_config_source src;
    memset(&src, 0, sizeof src);
    src.struct_size = (uint32_t)sizeof src;
    src.json = c->text;
    src.json_len = c->len;
    src.base_dir = dir;
    src.ods_paths = ods;
    /* The effective JSON goes into a caller buffer; grow it on
     * CPIS_ERR_BUFFER (the plugin does not say how much it needs). */
    c->status = CPIS_ERR_BUFFER;
    for (int tries = 0; c->status == CPIS_ERR_BUFFER && tries < 8; tries++) {
        char *bigger = realloc(c->effective, eff_cap);
        if (bigger == NULL) {
            c->status = CPIS_ERR_NOMEM;
            break;
        }
        c->effective = bigger;
        c->effective[0] = '\0';
        c->problems[0] = '\0';
        c->status = lp.desc->config_check(&src, c->problems, PROBLEMS_CAP,
                                          c->effective, eff_cap);
        eff_cap *= 4;
    }
    free(dir);
    plugin_unload(&lp, &h);
    if (c->status != CPIS_OK && c->status != CPIS_ERR_CONFIG) {
        fprintf(stderr, "%s: %s: the check failed: %s\n", PROG, path,
                host_status_name(c->status));
        return EXIT_USAGE;
    }
    return 0;
}

/* Calls fn for each non-empty line of the problem text. */
static void each_problem(const char *problems, void (*fn)(void *, const char *, size_t),
                         void *user)
{
    const char *p = problems;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (n > 0)
            fn(user, p, n);
        p += n + (nl != NULL);
    }
}

struct problem_out {
    const char *path;
    cJSON *array;
    int count;
};

static void problem_to_stderr(void *user, const char *line, size_t n)
{
    struct problem_out *po = user;
    fprintf(stderr, "%s: %s: %.*s\n", PROG, po->path, (int)n, line);
    po->count++;
}

static void problem_to_json(void *user, const char *line, size_t n)
{
    struct problem_out *po = user;
    char *s = strndup(line, n);
    if (s != NULL)
        cJSON_AddItemToArray(po->array, cJSON_CreateString(s));
    free(s);
    po->count++;
}

/* Reports an invalid config; returns EXIT_USAGE. */
static int report_invalid(const char *path, const struct checked *c, int json)
{
    struct problem_out po = {path, NULL, 0};
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddBoolToObject(o, "ok", 0);
        po.array = cJSON_AddArrayToObject(o, "problems");
        each_problem(c->problems, problem_to_json, &po);
        if (po.count == 0)
            cJSON_AddItemToArray(po.array, cJSON_CreateString("config: refused (no reason given)"));
        print_json_line(o);
    } else {
        each_problem(c->problems, problem_to_stderr, &po);
        if (po.count == 0)
            fprintf(stderr, "%s: %s: refused by the plugin (no reason given)\n",
                    PROG, path);
    }
    fprintf(stderr, "%s: %s: invalid configuration (%d problem%s)\n", PROG, path,
            po.count > 0 ? po.count : 1, po.count == 1 || po.count == 0 ? "" : "s");
    return EXIT_USAGE;
}

/* ---- the effective configuration as key/value/source rows ------------------ */

struct row {
    char key[160];
    cJSON *value;      /* borrowed from the effective tree */
    char source[40];
};

struct rows {
    struct row *v;
    size_t n, cap;
};

static const cJSON *raw_lookup(const cJSON *raw, const char *dotted)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s", dotted);
    const cJSON *node = raw;
    char *save = NULL;
    for (char *seg = strtok_r(buf, ".", &save); seg != NULL && node != NULL;
         seg = strtok_r(NULL, ".", &save))
        node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, seg) : NULL;
    return node;
}

static int rows_add(struct rows *r, const char *key, cJSON *value, const char *source)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 32;
        struct row *v = realloc(r->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        r->v = v;
        r->cap = cap;
    }
    struct row *w = &r->v[r->n++];
    snprintf(w->key, sizeof w->key, "%s", key);
    w->value = value;
    snprintf(w->source, sizeof w->source, "%s", source);
    return 0;
}

/* Flattens the effective tree into rows.  A flag is an object
 * {"value","source"}; a map such as ods.settings becomes one row per entry
 * (or one "(none)" row when empty); arrays are one row. */
static int flatten(struct rows *r, cJSON *node, const char *prefix, const cJSON *raw,
                   int version, int ods_override)
{
    cJSON *it;
    cJSON_ArrayForEach(it, node)
    {
        char key[160];
        snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "",
                 it->string ? it->string : "?");
        cJSON *val = cJSON_GetObjectItemCaseSensitive(it, "value");
        cJSON *src = cJSON_GetObjectItemCaseSensitive(it, "source");
        if (cJSON_IsObject(it) && val != NULL && cJSON_IsString(src)) {
            char s[40];
            if (strcmp(src->valuestring, "version default") == 0)
                snprintf(s, sizeof s, "version %d default", version);
            else
                snprintf(s, sizeof s, "%s", src->valuestring);
            if (rows_add(r, key, val, s) != 0)
                return -1;
            continue;
        }
        if (cJSON_IsObject(it) && it->child != NULL) {
            if (flatten(r, it, key, raw, version, ods_override) != 0)
                return -1;
            continue;
        }
        const char *s = raw_lookup(raw, key) != NULL ? "explicit" : "default";
        if (ods_override && strcmp(key, "ods.paths") == 0)
            s = "--ods";
        if (rows_add(r, key, it, s) != 0)
            return -1;
    }
    return 0;
}

/* A value as table text (malloc'd). */
static char *value_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsBool(v))
        return strdup(cJSON_IsTrue(v) ? "true" : "false");
    if ((cJSON_IsArray(v) || cJSON_IsObject(v)) && v->child == NULL)
        return strdup("(none)");
    if (cJSON_IsArray(v)) {
        size_t cap = 1;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) cap += (cJSON_IsString(e) ? strlen(e->valuestring) : 32) + 2;
        char *s = calloc(1, cap);
        if (s == NULL)
            return NULL;
        cJSON_ArrayForEach(e, v)
        {
            if (s[0])
                strcat(s, ", ");
            if (cJSON_IsString(e))
                strcat(s, e->valuestring);
            else
                strcat(s, "?");
        }
        return s;
    }
    return cJSON_PrintUnformatted(v);
}

/* ---- check ------------------------------------------------------------------ */

static void put_flag_list(const cJSON *flags, int want)
{
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, flags)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        if (cJSON_IsTrue(v) == want) {
            printf("%s%s", n ? ", " : "", it->string);
            n++;
        }
    }
    if (n == 0)
        printf("(none)");
}

static int cmd_check(const char *plugin_path, const char *path, const char *const *ods,
                     int json)
{
    struct checked c;
    int rc = run_check(plugin_path, path, ods, &c);
    if (rc != 0) {
        checked_free(&c);
        return rc;
    }
    if (c.status != CPIS_OK) {
        rc = report_invalid(path, &c, json);
        checked_free(&c);
        return rc;
    }
    cJSON *eff = cJSON_Parse(c.effective);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddBoolToObject(o, "ok", 1);
        cJSON_AddArrayToObject(o, "problems");
        if (eff != NULL)
            cJSON_AddItemToObject(o, "effective", eff);
        print_json_line(o);
        checked_free(&c);
        return EXIT_OK;
    }
    printf("%s: ok\n", path);
    if (eff != NULL) {
        const cJSON *wf = cJSON_GetObjectItemCaseSensitive(eff, "workflow");
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(wf, "version");
        const cJSON *flags = cJSON_GetObjectItemCaseSensitive(eff, "flags");
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(eff, "episodes");
        const cJSON *ods_o = cJSON_GetObjectItemCaseSensitive(eff, "ods");
        const cJSON *lim = cJSON_GetObjectItemCaseSensitive(eff, "limits");
        int v = cJSON_IsNumber(ver) ? ver->valueint : 0;
        printf("  workflow version %d (%s)\n", v,
               v == 5 ? "legacy: task activities and First Response alerts"
                      : "revised: landing page and case-note stubs");
        printf("  on:  ");
        put_flag_list(flags, 1);
        printf("\n  off: ");
        put_flag_list(flags, 0);
        int explicit_n = 0, total = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, flags)
        {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "source");
            total++;
            explicit_n += cJSON_IsString(s) && strcmp(s->valuestring, "explicit") == 0;
        }
        if (explicit_n < total)
            printf("\n  flags set explicitly: %d of %d (the rest follow version %d)\n",
                   explicit_n, total, v);
        else
            printf("\n  flags set explicitly: %d of %d\n", explicit_n, total);
        printf("  episodes: window %d min, max span %d min\n",
               cJSON_GetObjectItemCaseSensitive(ep, "window_minutes")
                   ? cJSON_GetObjectItemCaseSensitive(ep, "window_minutes")->valueint : 0,
               cJSON_GetObjectItemCaseSensitive(ep, "max_span_minutes")
                   ? cJSON_GetObjectItemCaseSensitive(ep, "max_span_minutes")->valueint : 0);
        printf("  ODS data: %d path%s, %d setting override%s\n",
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ods_o, "paths")),
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ods_o, "paths")) == 1
                   ? "" : "s",
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ods_o, "settings")),
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ods_o, "settings")) == 1
                   ? "" : "s");
        /* per ODS file: rows read, rows skipped and why, or why it is not
         * an extract (then skipped, never fatal to the others) */
        const cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(eff, "ods_files"))
        {
            const cJSON *why = cJSON_GetObjectItemCaseSensitive(f, "not_an_extract");
            const cJSON *read = cJSON_GetObjectItemCaseSensitive(f, "rows_read");
            const cJSON *skip = cJSON_GetObjectItemCaseSensitive(f, "rows_skipped");
            printf("    %s: ", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path")));
            if (cJSON_IsString(why)) {
                printf("skipped: %s\n", why->valuestring);
                continue;
            }
            printf("%.0f rows read, %.0f skipped", cJSON_IsNumber(read) ? read->valuedouble : 0.0,
                   cJSON_IsNumber(skip) ? skip->valuedouble : 0.0);
            const cJSON *r;
            const char *sep = " (";
            cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(f, "skipped"))
            {
                printf("%s%.0f %s", sep, r->valuedouble, r->string);
                sep = ", ";
            }
            printf("%s\n", sep[0] == ',' ? ")" : "");
        }
        const cJSON *mb = cJSON_GetObjectItemCaseSensitive(lim, "max_message_bytes");
        printf("  largest message accepted: %.0f bytes\n",
               cJSON_IsNumber(mb) ? mb->valuedouble : 0.0);
        cJSON_Delete(eff);
    }
    checked_free(&c);
    return EXIT_OK;
}

/* ---- show ------------------------------------------------------------------- */

static int cmd_show(const char *plugin_path, const char *path, const char *const *ods,
                    int json)
{
    struct checked c;
    int rc = run_check(plugin_path, path, ods, &c);
    if (rc != 0) {
        checked_free(&c);
        return rc;
    }
    if (c.status != CPIS_OK) {
        rc = report_invalid(path, &c, json);
        checked_free(&c);
        return rc;
    }
    cJSON *eff = cJSON_Parse(c.effective);
    cJSON *raw = cJSON_ParseWithLength(c.text, c.len);
    struct rows r = {0};
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(eff, "workflow"), "version");
    if (eff == NULL ||
        flatten(&r, eff, "", raw, cJSON_IsNumber(ver) ? ver->valueint : 0,
                ods != NULL) != 0) {
        fprintf(stderr, "%s: %s: cannot read the effective configuration\n", PROG, path);
        free(r.v);
        cJSON_Delete(eff);
        cJSON_Delete(raw);
        checked_free(&c);
        return EXIT_USAGE;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        cJSON_AddBoolToObject(o, "ok", 1);
        cJSON *keys = cJSON_AddArrayToObject(o, "keys");
        for (size_t i = 0; i < r.n; i++) {
            cJSON *k = cJSON_CreateObject();
            cJSON_AddStringToObject(k, "key", r.v[i].key);
            cJSON_AddItemToObject(k, "value", cJSON_Duplicate(r.v[i].value, 1));
            cJSON_AddStringToObject(k, "source", r.v[i].source);
            cJSON_AddItemToArray(keys, k);
        }
        cJSON_AddItemReferenceToObject(o, "effective", eff);
        print_json_line(o);
    } else {
        char **vals = calloc(r.n ? r.n : 1, sizeof *vals);
        size_t wk = strlen("KEY"), wv = strlen("VALUE");
        for (size_t i = 0; vals != NULL && i < r.n; i++) {
            vals[i] = value_text(r.v[i].value);
            if (strlen(r.v[i].key) > wk)
                wk = strlen(r.v[i].key);
            if (vals[i] != NULL && strlen(vals[i]) > wv)
                wv = strlen(vals[i]);
        }
        if (wv > 48)
            wv = 48; /* a long path runs past its column rather than pad all */
        printf("Effective configuration of %s\n\n", path);
        printf("%-*s  %-*s  %s\n", (int)wk, "KEY", (int)wv, "VALUE", "SOURCE");
        for (size_t i = 0; vals != NULL && i < r.n; i++)
            printf("%-*s  %-*s  %s\n", (int)wk, r.v[i].key, (int)wv,
                   vals[i] != NULL ? vals[i] : "?", r.v[i].source);
        for (size_t i = 0; vals != NULL && i < r.n; i++)
            free(vals[i]);
        free(vals);
    }
    free(r.v);
    cJSON_Delete(eff);
    cJSON_Delete(raw);
    checked_free(&c);
    return EXIT_OK;
}

/* ---- the command ---------------------------------------------------------------- */

int config_main(const char *plugin_path, const char *config_path,
                const char *const *ods, char **args, size_t nargs)
{
    const char *sub = NULL, *file = NULL;
    int json = 0;
    for (size_t i = 0; i < nargs; i++) {
        const char *a = args[i];
        if (strcmp(a, "--json") == 0)
            json = 1;
        else if (a[0] == '-' && a[1] != '\0')
            return usage("unknown option %s", a);
        else if (sub == NULL)
            sub = a;
        else if (file == NULL)
            file = a;
        else
            return usage("unexpected operand %s", a);
    }
    if (sub == NULL)
        return usage("%s", "expected check FILE or show");
    if (strcmp(sub, "check") == 0) {
        if (file == NULL)
            return usage("%s", "check: expected the FILE to check");
        return cmd_check(plugin_path, file, ods, json);
    }
    if (strcmp(sub, "show") == 0) {
        if (file != NULL)
            return usage("show takes no operand (got %s); use --config FILE", file);
        return cmd_show(plugin_path, config_path, ods, json);
    }
    return usage("unknown subcommand %s (expected check or show)", sub);
}
