/*
 * fakehost.h - an in-memory host for unit tests: the whole host table, with
 * a call counter for fault injection, captured log lines and a canonical
 * dump of the store for comparing runs.  Thread-safe (one mutex).
 */
#ifndef CPIS_FAKEHOST_H
#define CPIS_FAKEHOST_H

#include <pthread.h>
#include <stddef.h>

#include "cpis/plugin.h"

struct fh_row {
    char *key;      /* id */
    char *a, *b, *c, *d, *e; /* kind-specific text columns */
    long n1, n2, n3; /* kind-specific numbers */
    unsigned char *blob;
    size_t blob_len;
};

struct fh_table {
    size_t n, cap;
    struct fh_row *v;
};

struct fake_host {
    struct cpis_host_api api;
    pthread_mutex_t lock;
    int in_init;
    cpis_notification_hook on_note;
    void *note_user;
    cpis_config_hook on_config;
    void *config_user;
    cpis_shutdown_hook on_shutdown;
    void *shutdown_user;
    cpis_note_hook on_note_done;  /* ABI 1.1 note-completed hook */
    void *note_done_user;
    int hooks_registered;
    int abi10_cases;            /* 1: case_lookup behaves as a 1.0 host (writes
                                   the 1.0 fields only, leaves struct_size) */

    struct fh_table cases;      /* key nhs; a case_id b worker c manager d team;
                                   e child name; blob date of birth (NUL-ended); n1 status */
    struct fh_table items;      /* key id; a case b recipient c nid d access e subject; n1 kind n2 followup n3 open; blob body */
    struct fh_table landing;    /* key id; a case b worker c team d title e body; n1 revision */
    struct fh_table notes;      /* same shape as landing */
    struct fh_table records;    /* key id; a nhs b case c nid d summary; n1 accessed_at */
    struct fh_table state;      /* key; blob value; n1 version */
    struct fh_table quarantine; /* key id; a error_name b detail c source d transport; blob payload */
    struct fh_table logs;       /* key line; n1 level */
    long closed_task_activities, closed_alerts;

    long cas_conflicts;         /* state_put calls refused for a stale version */
    long calls;                 /* counted host calls (not log/clock/register) */
    long fail_at;               /* fail the call with this number (1-based), 0 = never */
    int fail_rc;                /* status returned by the failing call */
    int fail_repeat;            /* 1: fail every call from fail_at on */
    long now_ms;
};

void fake_host_init(struct fake_host *fh);
void fake_host_free(struct fake_host *fh);
void fake_host_add_case(struct fake_host *fh, const char *nhs, int status, const char *case_id,
                        const char *worker, const char *manager, const char *team);

/* What the host knows of the child of an added case (ABI 1.1). */
void fake_host_set_child(struct fake_host *fh, const char *nhs, const char *name,
                         const char *dob);

/* Tell the plugin a case-note stub was completed (the ABI 1.1 hook);
 * CPIS_ERR_UNSUPPORTED when the plugin registered none. */
int fake_host_complete_note(struct fake_host *fh, const char *note_id, const char *case_id,
                            const char *nhs, int64_t completed_at);

/* Counts. */
size_t fake_host_count_items(struct fake_host *fh, int kind, int open_only);
size_t fake_host_count_followups(struct fake_host *fh); /* distinct access ids */
size_t fake_host_count_prefix(struct fake_host *fh, const char *state_prefix);

/* Find a row by id (NULL when absent). */
const struct fh_row *fake_host_find(struct fh_table *t, const char *key);

/* Canonical text of the store (sorted rows, every column but logs);
 * malloc'd. */
char *fake_host_dump(struct fake_host *fh);

/* 1 when any captured log line matches the POSIX ERE pattern. */
int fake_host_log_matches(struct fake_host *fh, const char *ere);

/* Load the real plugin .so (path from env CPIS_PLUGIN_SO) and init it with
 * this host and config JSON (NULL = defaults; base_dir for relative paths).
 * Returns the descriptor's init status; *desc / *plugin / *dl are set. */
int fake_host_load(struct fake_host *fh, const char *config_json, const char *base_dir,
                   const struct cpis_descriptor **desc, struct cpis_plugin **plugin,
                   void **dl, char *err, size_t cap);

/* Deliver bytes through the registered notification hook. */
int fake_host_deliver(struct fake_host *fh, const char *name, const void *buf, size_t len,
                      const char *transport_id, struct cpis_outcome *out);

/* Read a whole file; malloc'd, *len set; NULL on error. */
char *fake_host_read_file(const char *path, size_t *len);

/* Absolute path of a file under the samples folder (env CPIS_SAMPLES or
 * "samples"); static buffer per call site is not thread-safe: copy it. */
const char *fake_host_sample(const char *rel, char *buf, size_t cap);

#endif
