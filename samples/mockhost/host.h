/*
 * host.h - the mock host's implementation of struct cpis_host_api.
 *
 * struct mock_host is the `ctx` every host function receives.  It ties the
 * host table to the store, the case fixture, the hooks the plugin registered
 * and the action lines printed by `deliver`.
 *
 * Fault injection (for tests of the plugin's retry path):
 *   CPIS_MOCK_FAIL_CALL=k   the k-th host call (1-based, counting every table
 *                           function except log, clock_ms and register_hook,
 *                           from the start of the process, init included)
 *                           fails once with CPIS_ERR_RETRY, without touching
 *                           the store; every other call behaves normally.
 *   CPIS_MOCK_FAIL_COUNT=n  fail n consecutive calls from the k-th on
 *                           (default 1), e.g. to exhaust the retries.
 *   CPIS_MOCK_FAIL_MODE=permanent
 *                           the failing calls return CPIS_ERR_HOST instead.
 *   CPIS_MOCK_NOW_MS=ms     clock_ms (and the host's own time stamps) return
 *                           this fixed time instead of the real time.
 *   CPIS_MOCK_OMIT=a,b,...  leave these optional host functions NULL (any of
 *                           clock_ms, publish_landing, write_case_note,
 *                           close_items), to test the plugin's degraded mode.
 *   CPIS_MOCK_FAIL_COMMIT=k the k-th commit of a batch (counting those
 *                           with deliveries awaiting it) fails: the batch
 *                           is rolled back instead of committed.
 *   CPIS_MOCK_KILL_AFTER=n  the process kills itself (SIGKILL, as kill -9)
 *                           when the (n+1)-th delivery starts, before the
 *                           batch holding delivery n is committed: a crash
 *                           mid-batch, for the group-commit test.
 *
 * Group commit and acknowledgement: host_deliver runs each delivery inside
 * the store's shared transaction (store.h) and commits it when it is due,
 * before the next delivery starts; host_batch_commit commits at the end.
 * Everything that acknowledges a delivery - the action lines, the
 * duplicate/ignored lines and the outcome lines that deliver prints, the
 * mock host's equivalent of acknowledging a MESH message - is queued
 * (host_ack) while the delivery awaits its commit, and written only after
 * the commit that holds its effects.  A killed process loses the queue
 * with the uncommitted transaction: nothing is said done that is not.
 */
#ifndef MOCKHOST_HOST_H
#define MOCKHOST_HOST_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "cpis/plugin.h"

#include "cases.h"
#include "store.h"

enum {
    HOST_OMIT_CLOCK = 1u << 0,
    HOST_OMIT_LANDING = 1u << 1,
    HOST_OMIT_CASE_NOTE = 1u << 2,
    HOST_OMIT_CLOSE_ITEMS = 1u << 3
};

struct mock_host {
    /* set up by main before host_init */
    struct store *store;
    struct cases *cases;
    int verbose;           /* -v: pass every plugin log line to stderr */
    int reconfiguring;     /* the config-changed hook is running */
    FILE *actions;         /* where action lines go; NULL = not printed */
    const char *current_source; /* the file being delivered, for action lines */

    /* filled by the plugin through register_hook, during init only */
    int in_init;
    cpis_notification_hook on_notification;
    void *notification_user;
    cpis_config_hook on_config;
    void *config_user;
    cpis_shutdown_hook on_shutdown;
    void *shutdown_user;
    cpis_note_hook on_note_completed; /* ABI 1.1; NULL if not registered */
    void *note_user;

    /* fault injection and clock override, read from the environment */
    uint64_t fail_call;    /* 0 = off */
    uint64_t fail_count;   /* how many calls fail from fail_call on */
    int fail_status;       /* CPIS_ERR_RETRY or CPIS_ERR_HOST */
    _Atomic uint64_t calls; /* host calls so far (any thread) */
    int64_t fixed_now_ms;  /* -1 = real time */
    unsigned omit;         /* HOST_OMIT_* bits: optional functions left NULL */

    /* group commit (host_deliver, host_batch_commit) */
    uint64_t kill_after;   /* CPIS_MOCK_KILL_AFTER: 0 = off */
    uint64_t fail_commit;  /* CPIS_MOCK_FAIL_COMMIT: 0 = off */
    uint64_t commits;      /* host_batch_commit calls with deliveries awaiting */
    uint64_t delivered;    /* host_deliver calls so far */
    uint64_t lost;         /* deliveries whose batch failed to commit: never
                              acknowledged (deliver exits 1) */
    char *ack_buf;         /* queued acknowledgements: entries of
                              [FILE *][size_t length][bytes] */
    size_t ack_len, ack_cap;
    uint64_t awaiting;     /* deliveries awaiting their commit */
    char **pending;        /* their source names (as memory allowed) */
    size_t npending, pending_cap;

    /* what sharing the store with other nodes cost (host_deliver) */
    _Atomic uint64_t conflicts;      /* state_put answered CPIS_ERR_CONFLICT */
    _Atomic uint64_t rounds_retried; /* deliveries rolled back and run again */
};

/* Reads the environment knobs above into h (the rest of h untouched).
 * Returns 0, or -1 with a message in err for a malformed value. */
int host_read_env(struct mock_host *h, char *err, size_t err_cap);

/* Fills api: struct_size, ABI version, ctx = h, every function. */
void host_fill_api(struct mock_host *h, struct cpis_host_api *api);

/* The host's clock: CPIS_MOCK_NOW_MS or the real time, epoch ms. */
int64_t host_now_ms(const struct mock_host *h);

/* The name of a status code, from the header's list (never NULL). */
const char *host_status_name(int status);
/* The contract's name of a message error code ("invalid_nhs_number"). */
const char *host_message_error_name(uint32_t error);

/* How often a retry_later outcome is retried before the event fails. */
#define HOST_MAX_RETRIES 3
/* How often a delivery whose store transaction the server aborted (a
 * PostgreSQL deadlock or lost connection: store_delivery_doomed) is run
 * again from the start before the event fails. */
#define HOST_MAX_ROUNDS 20

/* Delivers one event the way a host must: first the deliveries before it
 * are committed if their batch is due (host_batch_commit); then one
 * savepoint of the store's shared transaction around the notification hook
 * (called again on retry_later, up to HOST_MAX_RETRIES times) and the
 * delivery's row (store.h).  A delivery that ends handled, duplicate or
 * rejected keeps its writes; one that fails is rolled back to its
 * savepoint (store_delivery_discard) with its queued action lines, and
 * only its row stays.  When the store's transaction was aborted instead
 * (PostgreSQL), it is rolled back whole and the event delivered again from
 * the start (up to HOST_MAX_ROUNDS).
 * Problems go to stderr as "PROG: SOURCE: ..."; with say_retries each
 * retry of the hook is said too.  *out gets the plugin's outcome (strings
 * terminated); returns the final status, CPIS_ERR_HOST when the delivery
 * could not be committed. */
int host_deliver(struct mock_host *h, const char *prog,
                 const struct cpis_event *ev, int say_retries,
                 struct cpis_outcome *out);

/* Writes an acknowledgement (a printf-style line, or lines) to `to`: at
 * once when no delivery awaits its commit, otherwise queued until
 * host_batch_commit (and dropped if that commit fails). */
void host_ack(struct mock_host *h, FILE *to, const char *fmt, ...) CPIS_PRINTF(3, 4);

/* Commits the deliveries awaiting their commit (store_batch_commit), then
 * writes their queued acknowledgements.  When the commit fails, none of
 * them stayed: the queue is dropped, each of them is named on stderr as
 * failed and not acknowledged, and h->lost counts them.  Call it at the
 * end of every run that delivered (before reading the summary and before
 * exit).  Returns the commit's status. */
int host_batch_commit(struct mock_host *h);

/* Print a (possibly multi-line) error about FILE to stderr, one line per
 * problem, each starting "cpis-mockhost: FILE: " (the plugin's config errors
 * list every problem, one per line). */
void host_print_file_error(const char *file, const char *err);

/* A file name as the mock host's error lines show it: NHS-number digits
 * and name-like words masked as the plugin masks its log lines
 * (plugin/scrub.h), e.g. child-944-930-5552-Patel.xml ->
 * child-***-***-5552-P****.xml.  FILE_LABEL(path) uses a compound literal
 * that lives until the end of the enclosing block (the fprintf call). */
const char *host_file_label(const char *path, char *buf, size_t cap);
#define FILE_LABEL(path) host_file_label((path), (char[512]){0}, 512)

#endif /* MOCKHOST_HOST_H */
