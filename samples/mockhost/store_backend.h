/*
 * store_backend.h - the table of functions behind store.h for a store that
 * is not the built-in SQLite one (today: PostgreSQL, store_pg.c).
 *
 * store.c keeps the public store_* functions (store.h) and the SQLite back
 * end; when store_open is given a PostgreSQL connection string it opens the
 * PostgreSQL back end instead, and every store_* function hands its call to
 * this table.  Each function has the contract of the store.h function of
 * the same name, with the back end's own handle as its first argument.
 *
 * The back ends keep the SAME tables with the same columns (store.c's
 * SCHEMA), so the `report` queries (store_summary's list, in store.c) are
 * shared: a back end only runs them (query_int).
 */
#ifndef MOCKHOST_STORE_BACKEND_H
#define MOCKHOST_STORE_BACKEND_H

#include "store.h"

struct store_ops {
    const char *name; /* "postgresql" */
    void (*close)(void *be);
    int (*delivery_begin)(void *be);
    int (*delivery_end)(void *be);
    int (*delivery_doomed)(void *be);
    /* access_id: the access key store.c derived for the item */
    int (*create_item)(void *be, const struct cpis_item *item,
                       const char *access_id, int *changed);
    int (*upsert_document)(void *be, enum store_doc_table table,
                           const struct cpis_document *doc,
                           enum store_upsert *what);
    int (*keep_record)(void *be, const struct cpis_record *rec, int *changed);
    int (*quarantine)(void *be, const struct cpis_quarantine *q,
                      int64_t received_at_ms, int *changed);
    int (*state_get)(void *be, const char *key, char *buf, size_t cap,
                     size_t *len, uint64_t *version);
    int (*state_put)(void *be, const char *key, const char *value, size_t len,
                     uint64_t expected_version);
    int (*close_items)(void *be, int kind, const char *reason, int64_t at_ms,
                       uint64_t *closed);
    int (*add_delivery)(void *be, const char *source_name,
                        const char *transport_id, const char *status,
                        const char *kind, const char *notification_id,
                        uint32_t accesses, const char *error,
                        const char *detail, int64_t at_ms);
    /* One integer from a parameterless query (a `report` line). */
    int (*query_int)(void *be, const char *sql, int64_t *out);
    int (*quarantine_each)(void *be,
                           void (*fn)(void *user,
                                      const struct store_quarantine_row *row),
                           void *user);
    int (*quarantine_get)(void *be, const char *quarantine_id,
                          struct store_quarantine_row *row);
    int (*quarantine_mark)(void *be, const char *quarantine_id,
                           const char *status);
    /* marker: the case-note heading after which the worker's action is
     * written (store.c's NOTE_ACTION_MARKER). */
    int (*landing_each)(void *be, const char *worker, const char *team,
                        const char *marker,
                        void (*fn)(void *user,
                                   const struct store_landing_row *row),
                        void *user);
};

/* ---- PostgreSQL (store_pg.c) ---- */

/* True when `db` names a PostgreSQL database rather than a SQLite file: a
 * postgresql:// or postgres:// URI, or a libpq keyword/value string whose
 * first word is a libpq keyword ("host=/tmp/pg dbname=cpis"). */
int store_pg_is_conninfo(const char *db);

extern const struct store_ops store_pg_ops;

/* Connects and creates (or checks the version of) the schema.  NULL with a
 * reason in err on failure. */
void *store_pg_open(const char *conninfo, char *err, size_t err_cap);

#endif /* MOCKHOST_STORE_BACKEND_H */
