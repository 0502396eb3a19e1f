/*
 * bench.c - cpis-bench: the benchmark driver behind `make bench`
 * (bench/run.sh runs it once per measurement, so each peak RSS is its own).
 *
 * The notifications are generated IN PROCESS (samples/mockhost/generate.c)
 * and handed straight to the plugin through the mock host's runner
 * (compare.h: the same loader, host table, store and delivery records as
 * `cpis-mockhost deliver`); no files are written.  Only the deliver calls
 * are timed, never the generation.  The host side is the mock host's own
 * code as shipped (store.c: cached statements, group commit - 256
 * deliveries or 50 ms a transaction, --commit-every 1 for one transaction
 * per delivery - WAL and a 64 MiB page cache for a file), except the case lookup: the plan's children by
 * binary search (gen_plan_case) rather than a fixture file loaded into
 * memory (cases.c), so that nothing proportional to the stream is held.
 *
 *   cpis-bench ratio --n N [--plugin SO] [--config JSON]
 *       N HL7 V3 notifications rendered into memory first; then the same
 *       bytes through bare libxml2 (xmlReadMemory + xmlFreeDoc) and through
 *       the full pipeline (in-memory store).  One JSON line.
 *   cpis-bench scale --n N [--db FILE] [--plugin SO] [--config JSON]
 *       N notifications (paper's open/closed ratio, mixed formats) streamed
 *       into the store (in memory, or the SQLite file --db).  One JSON line:
 *       seconds, microseconds per notification, rate, peak RSS.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "compare.h"
#include "generate.h"
#include "inputs.h"
#include "progress.h"

static double maxrss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

struct bench {
    struct fig_run run;
    const struct gen_plan *plan;
    double deliver_s;
    uint64_t n, not_ok;
    struct progress prog;
    /* ratio mode: the rendered messages */
    char **msg;
    size_t *len;
    size_t nmsg, cap;
};

static int deliver_sink(void *user, const struct gen_message *m)
{
    struct bench *b = user;
    double t0 = progress_now();
    /* A MESH pair carries its DTSId and LocalId (the generator writes no
     * compressed payloads, so the rest of the control stays empty). */
    struct mesh_control ctl = {.dts_id = (char *)m->dts_id, .local_id = (char *)m->local_id};
    int mesh = m->ctl != NULL && m->dts_id != NULL && m->dts_id[0] != '\0';
    int st = fig_run_deliver(&b->run, m->name, (const uint8_t *)m->payload,
                             m->payload_len, m->content_type, mesh ? &ctl : NULL);
    b->deliver_s += progress_now() - t0;
    b->n++;
    if (st != CPIS_OK)
        b->not_ok++;
    progress_add(&b->prog, 1);
    return 0;
}

static int keep_sink(void *user, const struct gen_message *m)
{
    struct bench *b = user;
    if (b->nmsg == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        char **nm = realloc(b->msg, cap * sizeof *nm);
        if (nm == NULL)
            return 1;
        b->msg = nm;
        size_t *nl = realloc(b->len, cap * sizeof *nl);
        if (nl == NULL)
            return 1;
        b->len = nl;
        b->cap = cap;
    }
    char *copy = malloc(m->payload_len + 1);
    if (copy == NULL)
        return 1;
    memcpy(copy, m->payload, m->payload_len);
    copy[m->payload_len] = '\0';
    b->msg[b->nmsg] = copy;
    b->len[b->nmsg++] = m->payload_len;
    return 0;
}

/* fig_run_opts.case_lookup: ctx is the struct fig_run (its lookup_user the
 * plan). */
static int plan_lookup(void *ctx, const char *nhs_number, struct cpis_case *out)
{
    const struct fig_run *r = ctx;
    return gen_plan_case(r->lookup_user, nhs_number, out);
}

static double bare_libxml2(struct bench *b)
{
    double t0 = progress_now();
    for (size_t i = 0; i < b->nmsg; i++) {
        xmlDocPtr d = xmlReadMemory(b->msg[i], (int)b->len[i], "bench.xml", NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR |
                                        XML_PARSE_NOWARNING);
        if (d == NULL) {
            fprintf(stderr, "cpis-bench: message %zu does not parse\n", i);
            exit(1);
        }
        xmlFreeDoc(d);
    }
    return progress_now() - t0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    const char *plugin = "build/cpis_notify.so", *config = "samples/config/v6.json";
    const char *db = NULL;
    uint64_t n = 10000, seed = 7;
    unsigned commit_every = STORE_COMMIT_EVERY; /* 1: one transaction a delivery */
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "cpis-bench: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--n") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--plugin") == 0)
            plugin = argv[i + 1];
        else if (strcmp(argv[i], "--config") == 0)
            config = argv[i + 1];
        else if (strcmp(argv[i], "--db") == 0)
            db = argv[i + 1];
        else if (strcmp(argv[i], "--commit-every") == 0)
            commit_every = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--tmp") == 0)
            ; /* accepted for bench/run.sh; nothing is written there now */
        else {
            fprintf(stderr, "cpis-bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(mode, "ratio") != 0 && strcmp(mode, "scale") != 0) {
        fprintf(stderr, "usage: cpis-bench ratio|scale --n N [--db FILE] [--plugin SO]"
                        " [--config JSON] [--seed S] [--tmp DIR] [--commit-every N]\n");
        return 2;
    }
    int ratio = strcmp(mode, "ratio") == 0;
    xmlInitParser();

    struct gen_params p;
    gen_params_default(&p);
    p.seed = seed;
    p.open = (n * 2253 + 5992 / 2) / 5992;
    p.closed = n - p.open;
    p.format = ratio ? GEN_HL7V3 : GEN_MIXED;
    p.mesh_share_pct = ratio ? 0 : 20;
    struct gen_plan *g = gen_plan_new(&p);
    if (g == NULL) {
        fprintf(stderr, "cpis-bench: cannot plan %" PRIu64 " notifications\n", n);
        return 2;
    }
    /* The host's case table: the plan's children by binary search
     * (gen_plan_case, the same answers as the fixture file cases.c would
     * load), as a host answers from its own indexed database.  Loading a
     * fixture file instead would hold a parsed copy of every child in this
     * process (about 1 KB a child, ~215 MB at 1 000 000 notifications). */
    static struct bench b;
    b.plan = g;
    struct fig_run_opts o;
    memset(&o, 0, sizeof o);
    o.plugin_path = plugin;
    o.config_path = config;
    o.cases_path = NULL;
    o.case_lookup = plan_lookup;
    o.lookup_user = g;
    o.db = db;
    double rss_before = 0;
    int rc = fig_run_open(&b.run, &o);
    if (rc != 0)
        return 2;
    store_set_commit_every(b.run.host.store, commit_every, STORE_COMMIT_MS);
    rss_before = maxrss_mb();

    if (ratio) {
        if (gen_run(g, keep_sink, &b, NULL) != 0) {
            fprintf(stderr, "cpis-bench: out of memory\n");
            return 2;
        }
        double bare1 = bare_libxml2(&b);
        double t0 = progress_now();
        for (size_t i = 0; i < b.nmsg; i++) {
            char name[32];
            snprintf(name, sizeof name, "m%zu.xml", i);
            if (fig_run_deliver(&b.run, name, (const uint8_t *)b.msg[i], b.len[i], NULL,
                                NULL) != CPIS_OK)
                b.not_ok++;
        }
        if (host_batch_commit(&b.run.host) != CPIS_OK)
            b.not_ok++;
        double full = progress_now() - t0;
        double bare2 = bare_libxml2(&b);
        double bare = bare1 < bare2 ? bare1 : bare2;
        size_t bytes = 0;
        for (size_t i = 0; i < b.nmsg; i++)
            bytes += b.len[i];
        printf("{\"mode\":\"ratio\",\"n\":%zu,\"avg_bytes\":%zu,\"bare_us\":%.2f,"
               "\"full_us\":%.2f,\"ratio\":%.2f,\"not_ok\":%" PRIu64 "}\n",
               b.nmsg, b.nmsg ? bytes / b.nmsg : 0, 1e6 * bare / (double)b.nmsg,
               1e6 * full / (double)b.nmsg, full / bare, b.not_ok);
        for (size_t i = 0; i < b.nmsg; i++)
            free(b.msg[i]);
        free(b.msg);
        free(b.len);
    } else {
        progress_start(&b.prog, db ? "bench (file store)" : "bench (memory store)", n, -1);
        double t0 = progress_now();
        if (gen_run(g, deliver_sink, &b, NULL) != 0) {
            fprintf(stderr, "cpis-bench: out of memory\n");
            return 2;
        }
        /* the last batch's commit is part of delivering (timed); the
         * earlier ones ran inside the deliver calls */
        double tc = progress_now();
        if (host_batch_commit(&b.run.host) != CPIS_OK)
            b.not_ok++;
        b.deliver_s += progress_now() - tc;
        double wall = progress_now() - t0;
        progress_end(&b.prog);
        struct store_summary sum;
        store_summary(b.run.host.store, &sum);
        printf("{\"mode\":\"scale\",\"store\":\"%s\",\"n\":%" PRIu64
               ",\"deliver_s\":%.3f,\"wall_s\":%.3f,\"us_per_notification\":%.2f,"
               "\"per_second\":%.0f,\"rss_before_mb\":%.1f,\"peak_rss_mb\":%.1f,"
               "\"notifications\":%" PRId64 ",\"records_kept\":%" PRId64
               ",\"episodes\":%" PRId64 ",\"not_ok\":%" PRIu64 ",\"commit_every\":%u}\n",
               db != NULL ? "file" : "memory", b.n, b.deliver_s, wall,
               1e6 * b.deliver_s / (double)b.n, (double)b.n / b.deliver_s, rss_before,
               maxrss_mb(), sum.notifications, sum.records_kept, sum.episodes, b.not_ok,
               commit_every);
    }
    fig_run_close(&b.run);
    gen_plan_free(g);
    xmlCleanupParser();
    return b.not_ok == 0 ? 0 : 1;
}
