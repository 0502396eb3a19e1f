/*
 * compare.c - the what-if comparison and the in-process runner (compare.h).
 *
 * The runner mirrors main.c's session and deliver_event (which are static
 * there): same loader, same host table, same store, same retry rule, same
 * delivery rows, so `compare` reports exactly what two `replay` runs would.
 */
#include "compare.h"
#include "paths.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libxml/parser.h>

#include "cases.h"
#include "generate.h"
#include "inputs.h"
#include "progress.h"

#define MAX_INPUT_BYTES (64u * 1024u * 1024u)

static const char PROG[] = "cpis-mockhost";

/* ---- the runner ------------------------------------------------------------ */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int fig_run_open(struct fig_run *r, const struct fig_run_opts *o)
{
    char err[1024];
    memset(r, 0, sizeof *r);
    r->label = o->label;
    r->lookup_user = o->lookup_user;
    const char *lp = o->label ? o->label : "";
    const char *ls = o->label ? ": " : "";
    if (host_read_env(&r->host, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return 2;
    }
    r->host.store = store_open(o->db, err, sizeof err);
    if (r->host.store == NULL) {
        fprintf(stderr, "%s: %s%s%s: %s\n", PROG, lp, ls,
                o->db != NULL ? o->db : ":memory:", err);
        return 2;
    }
    /* No fixture file with a replacement case_lookup (the benchmark's):
     * the host table's own lookup, the only reader of host.cases, is not
     * used then. */
    if (o->cases_path == NULL && o->case_lookup != NULL)
        r->host.cases = NULL;
    else if ((r->host.cases = cases_load(o->cases_path, err, sizeof err)) == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, o->cases_path, err);
        return 2;
    }
    size_t len = 0;
    r->config_text = (char *)read_file(o->config_path, MAX_INPUT_BYTES, &len, err,
                                       sizeof err);
    if (r->config_text == NULL) {
        host_print_file_error(o->config_path, err);
        return 2;
    }
    r->config_dir = dir_of(o->config_path);
    if (r->config_dir == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return 2;
    }
    if (plugin_load(&r->lp, o->plugin_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, o->plugin_path, err);
        return 2;
    }
    struct cpis_config_source src;
    memset(&src, 0, sizeof src);
    src.struct_size = (uint32_t)sizeof src;
    src.json = r->config_text;
    src.json_len = len;
    src.base_dir = r->config_dir;
    src.ods_paths = o->ods;
    r->host.actions = NULL; /* no action lines */
    int rc;
    if (o->case_lookup == NULL) {
        rc = plugin_init(&r->lp, &r->host, &src, err, sizeof err);
    } else {
        /* plugin_init with one host function replaced (loader.c's steps). */
        host_fill_api(&r->host, &r->lp.api);
        r->lp.api.case_lookup = o->case_lookup;
        err[0] = '\0';
        r->host.in_init = 1;
        int st = r->lp.desc->init(&r->lp.api, &src, &r->lp.plugin, err, sizeof err);
        r->host.in_init = 0;
        rc = st == CPIS_OK && r->lp.plugin != NULL ? 0 : -1;
        if (rc != 0) {
            if (err[0] == '\0')
                snprintf(err, sizeof err, "init failed: %s", host_status_name(st));
            r->lp.plugin = NULL;
        }
    }
    if (rc != 0) {
        host_print_file_error(o->config_path, err);
        return 2;
    }
    if (r->host.on_notification == NULL) {
        fprintf(stderr, "%s: %s: the plugin registered no notification hook\n", PROG,
                o->plugin_path);
        return 2;
    }
    return 0;
}

void fig_run_close(struct fig_run *r)
{
    host_batch_commit(&r->host); /* the last group-commit batch (host.h) */
    plugin_unload(&r->lp, &r->host);
    store_close(r->host.store);
    cases_free(r->host.cases);
    free(r->config_text);
    free(r->config_dir);
    memset(r, 0, sizeof *r);
}

int fig_run_deliver(struct fig_run *r, const char *source_name,
                    const uint8_t *payload, size_t len, const char *content_type,
                    const struct mesh_control *mesh)
{
    struct mock_host *h = &r->host;
    struct cpis_event ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = (uint32_t)sizeof ev;
    ev.kind = CPIS_EVENT_NOTIFICATION;
    ev.payload = payload;
    ev.payload_len = len;
    ev.content_type = content_type;
    ev.source_name = source_name;
    mesh_control_event(mesh, &ev);
    ev.received_at_ms = host_now_ms(h);

    struct cpis_outcome out;
    /* One savepoint of the store's shared transaction per delivery, as
     * main.c's (host.h); due batches are committed by host_deliver. */
    int status = host_deliver(h, PROG, &ev, 0, &out);
    const char *error = status == CPIS_REJECTED ? host_message_error_name(out.error) : "";
    r->delivered++;
    const char *lp = r->label ? r->label : "";
    const char *ls = r->label ? ": " : "";
    if (status == CPIS_OK || status == CPIS_DUPLICATE) {
        r->accepted++;
    } else {
        r->not_accepted++;
        if (status == CPIS_REJECTED)
            fprintf(stderr, "%s: %s%s%s: rejected: %s%s%s\n", PROG, lp, ls, source_name,
                    error, out.detail[0] ? ": " : "", out.detail);
        else
            fprintf(stderr, "%s: %s%s%s: failed: %s%s%s\n", PROG, lp, ls, source_name,
                    host_status_name(status), out.detail[0] ? ": " : "", out.detail);
    }
    return status;
}

/* ---- summary keys ------------------------------------------------------------ */

#define K(name) {#name, offsetof(struct store_summary, name)}
const struct fig_key FIG_KEYS[] = {
    K(notifications),      K(accesses),
    K(duplicates),         K(rejected),
    K(activities),         K(first_response_alerts),
    K(first_response_followups), K(landing_entries),
    K(case_notes),         K(episodes),
    K(records_kept),       K(quarantined),
    K(closed_on_switch),   K(data_quality_items),
    K(landing_updates),    K(failed),
    K(ignored),
};
#undef K
const size_t FIG_NKEYS = sizeof FIG_KEYS / sizeof FIG_KEYS[0];

static int64_t key_value(const struct store_summary *s, size_t i)
{
    int64_t v;
    memcpy(&v, (const char *)s + FIG_KEYS[i].offset, sizeof v);
    return v;
}

/* ---- default paths (as main.c) ------------------------------------------------- */

/* ---- compare --------------------------------------------------------------------- */

static const char COMPARE_USAGE[] =
    "usage: cpis-mockhost [--plugin SO] [--cases JSON] [--ods PATH]... [-v]\n"
    "         compare CONFIG_A CONFIG_B PATH... [--json]\n"
    "Replays the same stream (files, or folders in name order, MESH pairs\n"
    "included) under each configuration, into two separate in-memory stores,\n"
    "and prints every count of the report summary for A, for B and B-A.\n"
    "--json: one JSON object {\"config_a\":..,\"config_b\":..,\"a\":{..},\n"
    "\"b\":{..},\"difference\":{..}} instead of the table.  Rejected messages\n"
    "are reported on stderr, prefixed A: or B:.  Exit status 0 every input\n"
    "accepted under both, 1 any input rejected, quarantined or failed, 2 usage\n"
    "or configuration error.  (--db and --config do not apply.)\n";

static int cmp_usage(const char *what, const char *arg)
{
    fprintf(stderr, "%s: compare: %s%s%s (try %s compare --help)\n", PROG, what,
            arg ? " " : "", arg ? arg : "", PROG);
    return 2;
}

/* Replays list under one config into a fresh in-memory store; fills sum.
 * Returns 0 all accepted, 1 some not, 2 error. */
static int replay_one(const struct fig_run_opts *o, const struct input_list *list,
                      struct store_summary *sum)
{
    struct fig_run r;
    int rc = fig_run_open(&r, o);
    if (rc != 0) {
        fig_run_close(&r);
        return rc;
    }
    struct progress prog;
    char what[64];
    snprintf(what, sizeof what, "compare %s", o->label ? o->label : "");
    progress_start(&prog, what, list->n, -1);
    int all = 1;
    for (size_t i = 0; i < list->n; i++) {
        const struct input *in = &list->items[i];
        char err[512];
        progress_add(&prog, 1);
        if (in->error != NULL) {
            fprintf(stderr, "%s: %s: %s: %s\n", PROG, o->label, in->path, in->error);
            store_add_delivery(r.host.store, in->path, "", "input_error", "", "", 0, "",
                               in->error, host_now_ms(&r.host));
            all = 0;
            continue;
        }
        struct mesh_control ctl;
        memset(&ctl, 0, sizeof ctl);
        if (in->ctl_path != NULL &&
            mesh_read_control(in->ctl_path, &ctl, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s: %s: %s\n", PROG, o->label, in->ctl_path, err);
            store_add_delivery(r.host.store, in->path, "", "input_error", "", "", 0, "",
                               err, host_now_ms(&r.host));
            mesh_control_free(&ctl);
            all = 0;
            continue;
        }
        size_t len = 0;
        uint8_t *payload = read_file(in->path, MAX_INPUT_BYTES, &len, err, sizeof err);
        if (payload == NULL) {
            fprintf(stderr, "%s: %s: %s: %s\n", PROG, o->label, in->path, err);
            store_add_delivery(r.host.store, in->path, "", "input_error", "", "", 0, "",
                               err, host_now_ms(&r.host));
            mesh_control_free(&ctl);
            all = 0;
            continue;
        }
        int st = fig_run_deliver(&r, in->path, payload, len, in->content_type,
                                 in->ctl_path != NULL ? &ctl : NULL);
        free(payload);
        mesh_control_free(&ctl);
        if (st != CPIS_OK && st != CPIS_DUPLICATE)
            all = 0;
    }
    progress_end(&prog);
    if (store_summary(r.host.store, sum) != CPIS_OK) {
        fprintf(stderr, "%s: %s: cannot read the store\n", PROG, o->label);
        rc = 2;
    } else {
        rc = all ? 0 : 1;
    }
    fig_run_close(&r);
    return rc;
}

static void print_table(const char *ca, const char *cb, const struct store_summary *a,
                        const struct store_summary *b)
{
    const char *na = strrchr(ca, '/') ? strrchr(ca, '/') + 1 : ca;
    const char *nb = strrchr(cb, '/') ? strrchr(cb, '/') + 1 : cb;
    printf("A: %s\nB: %s\n\n", ca, cb);
    char ha[64], hb[64];
    snprintf(ha, sizeof ha, "A %s", na);
    snprintf(hb, sizeof hb, "B %s", nb);
    printf("%-26s %14s %14s %12s\n", "count", ha, hb, "B-A");
    for (size_t i = 0; i < FIG_NKEYS; i++) {
        int64_t va = key_value(a, i), vb = key_value(b, i);
        printf("%-26s %14" PRId64 " %14" PRId64 " %+12" PRId64 "\n", FIG_KEYS[i].key,
               va, vb, vb - va);
    }
    /* The discussion paper's headline (docs/glossary.md): everything the legacy workflow asked people to do. */
    int64_t wa = a->activities + a->first_response_alerts;
    int64_t wb = b->activities + b->first_response_alerts;
    printf("%-26s %14" PRId64 " %14" PRId64 " %+12" PRId64 "\n",
           "activities+alerts", wa, wb, wb - wa);
}

static void print_json(const char *ca, const char *cb, const struct store_summary *a,
                       const struct store_summary *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "config_a", ca);
    cJSON_AddStringToObject(o, "config_b", cb);
    cJSON *ja = cJSON_AddObjectToObject(o, "a");
    cJSON *jb = cJSON_AddObjectToObject(o, "b");
    cJSON *jd = cJSON_AddObjectToObject(o, "difference");
    for (size_t i = 0; ja && jb && jd && i < FIG_NKEYS; i++) {
        int64_t va = key_value(a, i), vb = key_value(b, i);
        cJSON_AddNumberToObject(ja, FIG_KEYS[i].key, (double)va);
        cJSON_AddNumberToObject(jb, FIG_KEYS[i].key, (double)vb);
        cJSON_AddNumberToObject(jd, FIG_KEYS[i].key, (double)(vb - va));
    }
    char *line = cJSON_PrintUnformatted(o);
    if (line != NULL) {
        puts(line);
        free(line);
    }
    cJSON_Delete(o);
}

int compare_command(int argc, char **argv)
{
    const char *plugin = NULL, *cases = NULL;
    int json = 0, seen_cmd = 0, verbose = 0;
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    const char **ods = calloc((size_t)argc + 1, sizeof *ods);
    size_t npos = 0, nods = 0;
    int rc = 0;
    if (pos == NULL || ods == NULL) {
        free(pos);
        free(ods);
        fprintf(stderr, "%s: out of memory\n", PROG);
        return 2;
    }
    int only_operands = 0;
    for (int i = 1; rc == 0 && i < argc; i++) {
        const char *a = argv[i];
        if (!only_operands && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) {
                only_operands = 1;
            } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                fputs(COMPARE_USAGE, stdout);
                free(pos);
                free(ods);
                return 0;
            } else if (strcmp(a, "--json") == 0) {
                json = 1;
            } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
                verbose = 1;
            } else if (strcmp(a, "--plugin") == 0 || strcmp(a, "--cases") == 0 ||
                       strcmp(a, "--ods") == 0) {
                if (i + 1 >= argc) {
                    rc = cmp_usage("option needs a value:", a);
                    break;
                }
                const char *v = argv[++i];
                if (a[2] == 'p')
                    plugin = v;
                else if (a[2] == 'c')
                    cases = v;
                else
                    ods[nods++] = v;
            } else if (strcmp(a, "--db") == 0 || strcmp(a, "--config") == 0 ||
                       strcmp(a, "--reconfigure") == 0) {
                rc = cmp_usage("does not take", a);
            } else {
                rc = cmp_usage("unknown option", a);
            }
            continue;
        }
        if (!seen_cmd && strcmp(a, "compare") == 0) {
            seen_cmd = 1;
            continue;
        }
        pos[npos++] = argv[i];
    }
    if (rc == 0 && npos < 3)
        rc = cmp_usage("expected CONFIG_A CONFIG_B PATH...", NULL);
    char *owned_plugin = NULL, *owned_cases = NULL;
    if (rc == 0 && plugin == NULL) {
        owned_plugin = beside_program("cpis_notify.so");
        plugin = owned_plugin;
        if (plugin == NULL)
            rc = cmp_usage("cannot find the plugin; use --plugin", NULL);
    }
    if (rc == 0 && cases == NULL) {
        if (access("samples/cases.json", R_OK) == 0) {
            cases = "samples/cases.json";
        } else {
            owned_cases = beside_program("../samples/cases.json");
            cases = owned_cases != NULL ? owned_cases : "samples/cases.json";
        }
    }
    struct input_list list = {0};
    if (rc == 0 && inputs_expand(&list, pos + 2, npos - 2) != 0) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        rc = 2;
    }
    struct store_summary sa, sb;
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    if (rc == 0) {
        xmlInitParser();
        struct fig_run_opts o;
        memset(&o, 0, sizeof o);
        o.plugin_path = plugin;
        o.cases_path = cases;
        o.ods = nods > 0 ? ods : NULL;
        o.config_path = pos[0];
        o.label = "A";
        int ra = replay_one(&o, &list, &sa);
        int rb = 2;
        if (ra != 2) {
            o.config_path = pos[1];
            o.label = "B";
            rb = replay_one(&o, &list, &sb);
        }
        (void)verbose; /* the runner prints no plugin log lines; -v accepted */
        if (ra == 2 || rb == 2) {
            rc = 2;
        } else {
            if (json)
                print_json(pos[0], pos[1], &sa, &sb);
            else
                print_table(pos[0], pos[1], &sa, &sb);
            rc = ra != 0 || rb != 0 ? 1 : 0;
        }
        xmlCleanupParser();
    }
    fflush(stdout);
    inputs_free(&list);
    free(owned_plugin);
    free(owned_cases);
    free(pos);
    free(ods);
    return rc;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int figures_dispatch(int argc, char **argv, int *rc)
{
    /* Find the command word the way main.c's parser would: global options
     * that take a value are skipped with it. */
    static const char *const with_value[] = {"--plugin", "--config", "--cases",
                                             "--ods", "--db", "--reconfigure"};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc)
                a = argv[++i];
            else
                return 0;
        } else if (a[0] == '-' && a[1] != '\0') {
            for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
                if (strcmp(a, with_value[k]) == 0) {
                    i++;
                    break;
                }
            continue;
        }
        if (strcmp(a, "generate") == 0) {
            *rc = gen_command(argc - i, argv + i);
            return 1;
        }
        if (strcmp(a, "compare") == 0) {
            *rc = compare_command(argc, argv);
            return 1;
        }
        return 0;
    }
    return 0;
}
