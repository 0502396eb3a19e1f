/*
 * compare.h - the `compare` command (a what-if replay of one stream under two
 * configurations) and the in-process runner it shares with the benchmark:
 * one plugin instance, one store, deliveries recorded exactly the way
 * `deliver` records them, so the summary is the `report` summary.
 *
 * figures_dispatch() is the one entry point main.c calls: it handles the
 * commands that parse their own options (generate, compare).
 */
#ifndef MOCKHOST_COMPARE_H
#define MOCKHOST_COMPARE_H

#include <stddef.h>
#include <stdint.h>

#include "cpis/plugin.h"

#include "host.h"
#include "loader.h"
#include "store.h"

struct fig_run_opts {
    const char *plugin_path;  /* required */
    const char *config_path;  /* required */
    const char *cases_path;   /* required, unless case_lookup is set */
    const char *const *ods;   /* NULL-terminated --ods list, or NULL */
    const char *db;           /* NULL = in memory */
    /* Optional replacement for the host table's case_lookup (the benchmark's
     * indexed lookup); ctx is the struct fig_run. */
    int (*case_lookup)(void *ctx, const char *nhs_number, struct cpis_case *out);
    void *lookup_user;
    const char *label;        /* prefix for error lines, e.g. "A" (may be NULL) */
};

struct fig_run {
    struct mock_host host;    /* first: the host table's ctx */
    struct loaded_plugin lp;
    char *config_text;
    char *config_dir;
    void *lookup_user;
    const char *label;
    uint64_t delivered, accepted, not_accepted;
};

/* Store, fixture, configuration, plugin loaded and initialised.  Returns 0,
 * or 2 (a usage/configuration error) after printing why; call fig_run_close
 * either way. */
int fig_run_open(struct fig_run *r, const struct fig_run_opts *o);

/* Delivers one message (retrying CPIS_ERR_RETRY up to 3 times), records the
 * delivery in the store, prints a rejection to stderr.  Returns the final
 * status (CPIS_OK, CPIS_DUPLICATE, CPIS_REJECTED, ...). */
struct mesh_control;
int fig_run_deliver(struct fig_run *r, const char *source_name,
                    const uint8_t *payload, size_t len, const char *content_type,
                    const struct mesh_control *mesh);

void fig_run_close(struct fig_run *r);

/* The summary keys in the report's order, for tables. */
struct fig_key {
    const char *key;
    size_t offset; /* into struct store_summary */
};
extern const struct fig_key FIG_KEYS[];
extern const size_t FIG_NKEYS;

/* main.c: if argv names generate or compare, runs it, stores its exit
 * status in *rc and returns 1; otherwise returns 0 and touches nothing. */
int figures_dispatch(int argc, char **argv, int *rc);

/* `compare CONFIG_A CONFIG_B PATH... [--json]` (argv[0] = "compare"
 * or after the global options; see the usage text). */
int compare_command(int argc, char **argv);

#endif /* MOCKHOST_COMPARE_H */
