/*
 * store.h - the mock host's durable store, backed by SQLite (a file or in
 * memory, the default) or by PostgreSQL (store_pg.c, through the table of
 * functions in store_backend.h) when --db is a libpq connection string.
 *
 * This is the "host side" of everything the plugin keeps through the host
 * table: work items, landing-page entries, case-note stubs, records, the
 * plugin's keyed state and the quarantine.  It also keeps what the mock host
 * itself needs for `report`: one row per delivered event and the counts of
 * items closed when the workflow switched.
 *
 * Every function here is thread-safe: one (recursive) mutex guards the
 * SQLite connection, so a write and the read of its effect (sqlite3_changes)
 * are never interleaved with another thread's statements.
 *
 * Transactions: a host call outside a delivery is its own transaction (one
 * statement; close_items a BEGIN IMMEDIATE group).  Deliveries share
 * transactions (group commit): store_delivery_begin/_end bracket one
 * delivery (the notification hook, its retries and the delivery row) as a
 * SAVEPOINT inside a transaction that several deliveries share, which
 * store_batch_commit commits; see there.  The PostgreSQL store stays one
 * transaction per delivery.
 *
 * A file store runs in WAL mode with synchronous=NORMAL: a power cut may
 * lose the last committed deliveries (never corrupt the file); MESH's
 * at-least-once redelivery sends them again (store.c explains).
 *
 * Each write reports whether it changed the store (*changed), which is how
 * the mock host knows whether to print an action line: a repeated, idempotent
 * write changes nothing and prints nothing.
 */
#ifndef MOCKHOST_STORE_H
#define MOCKHOST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cpis/plugin.h"

struct store;

/* What a document upsert did. */
enum store_upsert {
    STORE_UNCHANGED = 0, /* revision not greater than the stored one: no-op */
    STORE_INSERTED = 1,  /* a new id */
    STORE_UPDATED = 2    /* an existing id with a greater revision */
};

/* Which document table an upsert writes. */
enum store_doc_table {
    STORE_LANDING = 0,
    STORE_CASE_NOTES = 1
};

/* The `report` summary (docs/reference.md), computed from the tables. */
struct store_summary {
    int64_t notifications;
    int64_t accesses;
    int64_t duplicates;
    int64_t rejected;
    int64_t failed;
    int64_t activities;
    int64_t first_response_alerts;
    int64_t first_response_followups;
    int64_t data_quality_items;
    int64_t landing_entries;
    int64_t landing_updates;
    int64_t case_notes;
    int64_t episodes;
    int64_t records_kept;
    int64_t quarantined;
    int64_t closed_on_switch;
    int64_t ignored;         /* CP-IS files passed by, not notifications (an
                                upload acknowledgement, a MESH report) */
    int64_t repeat_entries;  /* landing entries marked as a repeat */
    int64_t notes_completed; /* case-note stubs completed (note complete) */
};

/* One quarantined message, for `quarantine list` and `redeliver`.  Every
 * pointer is owned by the struct; release with store_quarantine_row_free. */
struct store_quarantine_row {
    char *quarantine_id;
    char *error_name;
    char *detail;
    char *source_name;
    char *transport_id;
    char *notification_id;
    char *status;        /* "quarantined" or "redelivered" */
    int64_t received_at_ms;
    uint8_t *payload;
    size_t payload_len;
};

/* The file store's page cache (PRAGMA cache_size), in KiB: 64 MiB, so the
 * B-tree pages a delivery touches stay in memory as the file grows past
 * SQLite's 2 MiB default (docs/performance.md). */
#define STORE_FILE_CACHE_KB 65536

/* Opens (and creates the tables of) the store.  path NULL = in memory; a
 * postgresql:// or postgres:// URI, or a libpq keyword/value string
 * ("host=/run/pg dbname=cpis"), opens the PostgreSQL store, which several
 * mock host processes may share (store_pg.c); anything else is a SQLite
 * file.  On failure returns NULL and writes a reason into err. */
struct store *store_open(const char *path, char *err, size_t err_cap);
/* How to name --db in a message: the path, or a fixed phrase for a
 * PostgreSQL connection string (which may hold a password). */
const char *store_label(const char *db);
void store_close(struct store *st);

/* Group commit (SQLite stores, file and memory).  One transaction (BEGIN
 * IMMEDIATE, waiting up to 30 s for another process holding the same --db
 * file) is opened by the first delivery's store_delivery_begin and shared
 * by the deliveries after it until store_batch_commit commits it; each
 * delivery inside it is a SAVEPOINT.  The host commits when
 * store_batch_due says the batch holds `deliveries` deliveries or has been
 * open `ms` milliseconds, and always before it reports anything and before
 * it exits.  The HOST ACKNOWLEDGES A DELIVERY (to MESH; the mock host: its
 * output lines) ONLY AFTER store_batch_commit RETURNED CPIS_OK for the
 * batch that holds it: a crash before that loses the uncommitted
 * deliveries and their acknowledgements together, and the sender's
 * redelivery does them once (docs/host-integration.md).
 *
 * Defaults: STORE_COMMIT_EVERY deliveries, STORE_COMMIT_MS ms;
 * deliveries = 1 is one transaction per delivery, committed by
 * store_delivery_end (the behaviour before group commit).  The batch is
 * per store handle (per connection): threads sharing one handle share its
 * batch; processes sharing a --db file take turns per batch (the writer
 * holds the file's write lock while its batch is open). */
#define STORE_COMMIT_EVERY 256
#define STORE_COMMIT_MS 50
void store_set_commit_every(struct store *st, unsigned deliveries, unsigned ms);

/* One delivery.  store_delivery_begin takes the store's mutex and keeps it
 * (on the calling thread) until store_delivery_end, opens the batch's
 * transaction if none is open, and a savepoint for this delivery.  Every
 * store call the plugin makes from this thread meanwhile joins it; calls
 * from other threads wait for the delivery's end, so two deliveries never
 * interleave.  (The mock host delivers from one thread; a host that runs
 * the hook on several threads with one handle gets deliveries serialised
 * by this mutex: simple and correct, and no slower for SQLite, which has
 * one writer anyway.)  A store call from any thread outside a delivery
 * first commits the open batch (that call stays its own transaction).
 *
 * store_delivery_discard rolls back what the delivery wrote so far (its
 * savepoint stays open, so the delivery row still joins it): the host
 * calls it when the delivery failed (retries exhausted, a host failure),
 * so an unacknowledged delivery leaves nothing behind; it returns 1 when
 * it rolled back, 0 when it could not (the PostgreSQL store, which keeps
 * the partial work as its contract allows; a delivery that runs without a
 * transaction).  Either is safe: the plugin keeps nothing of its own, its
 * writes are idempotent and its "seen" marks come last.
 *
 * store_delivery_end releases the savepoint into the batch.  Begin/end
 * pairs nest on one thread (the outer one counts).  begin returns
 * CPIS_ERR_RETRY when the file stayed locked (the delivery then runs
 * without the outer transaction, each call committing on its own, as it
 * would without this bracket); end returns CPIS_OK, or the failure of the
 * delivery's own commit with deliveries = 1 (CPIS_ERR_RETRY: nothing of it
 * stayed; host_deliver delivers the event again), or CPIS_ERR_HOST when
 * the batch was lost (then store_batch_commit says so too).  The
 * PostgreSQL store keeps one transaction per delivery, committed by end,
 * with other nodes writing at the same time: its transaction holds row
 * locks instead of the whole file (store_pg.c). */
int store_delivery_begin(struct store *st);
int store_delivery_discard(struct store *st);
int store_delivery_end(struct store *st);
/* True when no delivery is running and the deliveries awaiting their
 * commit should be committed now: the batch holds the configured number of
 * deliveries or has been open the configured time, or no batch is open
 * (they were committed already: deliveries = 1, a call outside a delivery,
 * the PostgreSQL store), so store_batch_commit only confirms it. */
int store_batch_due(struct store *st);
/* Commits the open batch (CPIS_OK when none is open).  Not CPIS_OK: the
 * batch (or one an earlier call outside a delivery tried to commit, or
 * that SQLite rolled back on an error) was rolled back whole; none of the
 * deliveries since the last successful store_batch_commit stayed, and
 * none of them may be acknowledged. */
int store_batch_commit(struct store *st);
/* Rolls the open batch back instead (the test knob CPIS_MOCK_FAIL_COMMIT:
 * a commit that fails).  CPIS_ERR_HOST when there was one to roll back,
 * CPIS_OK when none was open (nothing lost). */
int store_batch_abort(struct store *st);
/* True when the delivery's transaction was aborted by the server (only the
 * PostgreSQL store: a deadlock, a serialization failure, a lost
 * connection): every call until store_delivery_end returns retry_later,
 * and store_delivery_end rolls back and returns CPIS_ERR_RETRY; the host
 * then delivers the event again from the start (host_deliver). */
int store_delivery_doomed(struct store *st);

/* ---- what the plugin writes through the host table ---- */

/* Insert-or-ignore on item_id, but for a First Response alert's follow-up
 * raise and the completion of an item a raise created (cpis/plugin.h,
 * struct cpis_item).  *changed = 1 when a new item was created, 2 when a
 * kept one was raised or completed, 0 when nothing changed. */
int store_create_item(struct store *st, const struct cpis_item *item,
                      int *changed);

/* Upsert keyed by doc->id, effective only for a greater revision. */
int store_upsert_document(struct store *st, enum store_doc_table table,
                          const struct cpis_document *doc,
                          enum store_upsert *what);

/* Insert-or-ignore on record_id; accessed_at_ms is host bookkeeping only. */
int store_keep_record(struct store *st, const struct cpis_record *rec,
                      int *changed);

/* Insert-or-ignore on quarantine_id, stamped with received_at_ms. */
int store_quarantine(struct store *st, const struct cpis_quarantine *q,
                     int64_t received_at_ms, int *changed);

/* The state contract of plugin.h.  state_get: CPIS_OK with the value copied
 * into buf and NUL-terminated (so cap must be at least value length + 1;
 * *len = the value length); CPIS_ERR_BUFFER with *len = length + 1 (the
 * bytes needed) when cap is smaller; CPIS_ERR_NOT_FOUND with *version = 0. */
int store_state_get(struct store *st, const char *key, char *buf, size_t cap,
                    size_t *len, uint64_t *version);
int store_state_put(struct store *st, const char *key, const char *value,
                    size_t len, uint64_t expected_version);

/* Closes every open item of the kind with the reason; *closed = how many.
 * Records the count (summary key closed_on_switch). */
int store_close_items(struct store *st, int kind, const char *reason,
                      int64_t at_ms, uint64_t *closed);

/* ---- the mock host's own bookkeeping ---- */

/* One row per event delivered (after retries): status is a status name
 * ("ok", "duplicate", "rejected", "retry_later", ...). */
int store_add_delivery(struct store *st, const char *source_name,
                       const char *transport_id, const char *status,
                       const char *kind, const char *notification_id,
                       uint32_t accesses, const char *error,
                       const char *detail, int64_t at_ms);

int store_summary(struct store *st, struct store_summary *out);

/* Calls fn once per quarantined message, oldest first.  The row is borrowed
 * for the call.  Returns CPIS_OK or the first error. */
int store_quarantine_each(struct store *st,
                          void (*fn)(void *user,
                                     const struct store_quarantine_row *row),
                          void *user);

/* Fills *row (owned by the caller; free with store_quarantine_row_free).
 * CPIS_ERR_NOT_FOUND when no such id. */
int store_quarantine_get(struct store *st, const char *quarantine_id,
                         struct store_quarantine_row *row);
void store_quarantine_row_free(struct store_quarantine_row *row);
int store_quarantine_mark(struct store *st, const char *quarantine_id,
                          const char *status);


/* ---- read-only queries for the landing-page preview (landing.c) ---- */

/* One landing-page entry as a practitioner's module shows it, with the state
 * of its case-note stub.  Borrowed for the callback.  No NHS number: only
 * its last four digits (nhs_last4, "" when the store has no record for the
 * case), so the full number never reaches the page renderer. */
enum store_note_state {
    STORE_NOTE_NONE = 0,     /* no case-note stub for this entry */
    STORE_NOTE_WRITTEN = 1,  /* a stub exists (no action section found) */
    STORE_NOTE_AWAITING = 2, /* the stub's action section is still empty */
    STORE_NOTE_ACTIONED = 3  /* the worker has written the action taken */
};

struct store_landing_row {
    const char *id;
    int64_t revision;
    const char *case_id;
    const char *worker;
    const char *team;
    const char *notification_id;
    const char *title;
    const char *detail_json;  /* "" when the plugin sent none */
    int64_t updated_at;       /* epoch seconds, latest access in the entry */
    int64_t note_revision;    /* 0 when no stub */
    int note_state;           /* enum store_note_state */
    const char *nhs_last4;
};

/* Calls fn for every landing entry whose worker equals `worker` or whose
 * team equals `team` (either may be NULL = not matched), newest first
 * (updated_at, then creation order).  Returns CPIS_OK or the first error. */
int store_landing_each(struct store *st, const char *worker, const char *team,
                       void (*fn)(void *user, const struct store_landing_row *row),
                       void *user);

/* ---- case-note stubs and their completion (`note` command, notes.c) ---- */

/* One case-note stub.  Borrowed for the callback.  completed_at is 0 and
 * action "" until a practitioner completed it; the action is kept apart from
 * the stub's body, so a later revision of the stub never overwrites it. */
struct store_note_row {
    const char *id;
    const char *case_id;
    const char *worker;
    const char *team;
    const char *body;
    int64_t revision;
    int64_t first;           /* epoch seconds, from the stub's detail */
    int64_t last;            /* updated_at */
    int64_t completed_at;    /* epoch ms, 0 = not completed */
    const char *action;
};

/* Calls fn for each stub on the case (case_id NULL: the stub `id` only),
 * oldest first.  Returns CPIS_OK (also when none matched) or an error. */
int store_note_each(struct store *st, const char *case_id, const char *id,
                    void (*fn)(void *user, const struct store_note_row *row),
                    void *user);

/* Records the practitioner's action on stub `id` at at_ms (a second
 * completion replaces the first).  CPIS_ERR_NOT_FOUND when no such stub. */
int store_note_complete(struct store *st, const char *id, const char *action,
                        int64_t at_ms);

#endif /* MOCKHOST_STORE_H */
