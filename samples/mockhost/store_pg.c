/*
 * store_pg.c - the mock host's store on PostgreSQL, through libpq
 * (store_backend.h).  `--db postgresql://...` (or any libpq connection
 * string) selects it; several mock host processes ("nodes") may share one
 * database and deliver the same messages at once.
 *
 * The tables and their idempotency rules are the SQLite store's (store.c):
 *
 *   items        INSERT ... ON CONFLICT (item_id) DO NOTHING
 *   landing,     INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE the new
 *   case_notes   revision is greater (a stale or repeated one is a no-op)
 *   records      INSERT ... ON CONFLICT (record_id) DO NOTHING
 *   quarantine   INSERT ... ON CONFLICT (quarantine_id) DO NOTHING
 *   state        compare-and-set: INSERT ... ON CONFLICT DO NOTHING for
 *                version 0, else UPDATE ... WHERE version = expected; one
 *                row changed means the write won, none means CONFLICT.
 *
 * Isolation: READ COMMITTED (PostgreSQL's default) is enough and is what
 * the plugin expects.  Every write above is one statement whose conflict
 * check is done under the row's lock: a second node writing the same key
 * waits for the first node's transaction, then re-checks against the
 * committed row (PostgreSQL's EvalPlanQual), so a compare-and-set never
 * succeeds twice on one version and an insert-or-ignore never inserts
 * twice.  Each state_get is a fresh snapshot, so after a CONFLICT the
 * plugin's re-read sees the winner's value.
 *
 * One delivery is one transaction (store_delivery_begin/_end; no group
 * commit here, unlike the SQLite store: each delivery commits at its end,
 * and store_batch_commit has nothing to do), and other nodes run at the same time; their row locks are
 * held until commit.  A deadlock (SQLSTATE 40P01), a serialization failure
 * (40001, only under a stricter default_transaction_isolation), a lock or
 * statement timeout, an operator cancel or a lost connection aborts the
 * delivery's transaction: every later call in the delivery then returns
 * CPIS_ERR_RETRY without reaching the server (the delivery is "doomed"),
 * and store_delivery_end rolls back and returns CPIS_ERR_RETRY, so the
 * host delivers the event again in a fresh transaction.  Nothing of the
 * doomed attempt stays: no lost or doubled effect.  A lost connection is
 * re-established (PQreset) at the next call.
 *
 * A kill -9 of a node mid-delivery: the server rolls the open transaction
 * back when the connection drops, so the message is as if never delivered
 * by that node; another node's (or a second run's) delivery acts once.
 *
 * One connection per store, guarded by a recursive mutex as in store.c.
 * Statements are prepared once per connection (PQprepare), again after a
 * reconnect.
 */
#include "store_backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

/* The schema's version, kept in store_schema; bump it with a migration. */
#define PG_SCHEMA_VERSION 1

/* Any fixed number: the advisory lock that serialises schema creation when
 * several nodes start at once on an empty database. */
#define PG_SCHEMA_LOCK 7163746916

/* Table for table, column for column the SQLite schema (store.c), in
 * PostgreSQL types: the report's queries are shared.  created_seq and the
 * deliveries/closures/quarantine sequence numbers come from sequences. */
static const char PG_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS items ("
    "  item_id TEXT PRIMARY KEY, kind INTEGER NOT NULL, case_id TEXT,"
    "  recipient TEXT, notification_id TEXT, access_id TEXT, subject TEXT,"
    "  body TEXT, followup INTEGER NOT NULL DEFAULT 0, occurred_at BIGINT,"
    "  status TEXT NOT NULL DEFAULT 'open', closed_reason TEXT);"
    "CREATE TABLE IF NOT EXISTS landing ("
    "  id TEXT PRIMARY KEY, revision BIGINT NOT NULL, case_id TEXT,"
    "  worker TEXT, team TEXT, notification_id TEXT, title TEXT, body TEXT,"
    "  detail_json TEXT, updated_at BIGINT, created_seq BIGSERIAL,"
    "  update_count BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS case_notes ("
    "  id TEXT PRIMARY KEY, revision BIGINT NOT NULL, case_id TEXT,"
    "  worker TEXT, team TEXT, notification_id TEXT, title TEXT, body TEXT,"
    "  detail_json TEXT, updated_at BIGINT, created_seq BIGSERIAL,"
    "  update_count BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS records ("
    "  record_id TEXT PRIMARY KEY, nhs_number TEXT, case_id TEXT,"
    "  notification_id TEXT, summary TEXT, detail_json TEXT,"
    "  accessed_at BIGINT);"
    "CREATE TABLE IF NOT EXISTS state ("
    "  key TEXT PRIMARY KEY, value BYTEA, version BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS quarantine ("
    "  quarantine_id TEXT PRIMARY KEY, error INTEGER, error_name TEXT,"
    "  detail TEXT, source_name TEXT, transport_id TEXT,"
    "  notification_id TEXT, payload BYTEA, received_at BIGINT,"
    "  status TEXT NOT NULL DEFAULT 'quarantined', seq BIGSERIAL);"
    "CREATE TABLE IF NOT EXISTS deliveries ("
    "  seq BIGSERIAL PRIMARY KEY, source_name TEXT,"
    "  transport_id TEXT, status TEXT NOT NULL, kind TEXT,"
    "  notification_id TEXT, accesses INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT, detail TEXT, delivered_at BIGINT);"
    "CREATE TABLE IF NOT EXISTS closures ("
    "  seq BIGSERIAL PRIMARY KEY, kind INTEGER NOT NULL,"
    "  reason TEXT, closed BIGINT NOT NULL, closed_at BIGINT);"
    /* completed case notes (the note commands still need a SQLite store:
     * on PostgreSQL this table stays empty, and notes_completed is 0) */
    "CREATE TABLE IF NOT EXISTS note_actions ("
    "  note_id TEXT PRIMARY KEY, action TEXT NOT NULL, completed_at BIGINT);"
    "CREATE INDEX IF NOT EXISTS landing_created_seq ON landing (created_seq);"
    "CREATE INDEX IF NOT EXISTS case_notes_created_seq"
    "  ON case_notes (created_seq);"
    "CREATE INDEX IF NOT EXISTS items_kind_status ON items (kind, status);";

enum pg_stmt {
    P_ITEM_INSERT,
    P_ITEMS_CLOSE,
    P_CLOSURE_INSERT,
    P_LANDING_UPSERT,
    P_NOTE_UPSERT,
    P_RECORD_INSERT,
    P_QUARANTINE_INSERT,
    P_STATE_GET,
    P_STATE_INSERT,
    P_STATE_UPDATE,
    P_DELIVERY_INSERT,
    P_COUNT
};

#define PG_UPSERT_SQL(T)                                                      \
    "INSERT INTO " T " AS t (id, revision, case_id, worker, team,"            \
    " notification_id, title, body, detail_json, updated_at)"                 \
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"                       \
    " ON CONFLICT (id) DO UPDATE SET revision = excluded.revision,"           \
    " case_id = excluded.case_id, worker = excluded.worker,"                  \
    " team = excluded.team, notification_id = excluded.notification_id,"      \
    " title = excluded.title, body = excluded.body,"                          \
    " detail_json = excluded.detail_json, updated_at = excluded.updated_at,"  \
    " update_count = t.update_count + 1"                                      \
    " WHERE excluded.revision > t.revision"                                   \
    " RETURNING update_count"

static const struct {
    const char *sql;
    int nparams;
} PG_SQL[P_COUNT] = {
    [P_ITEM_INSERT] = {"INSERT INTO items (item_id, kind, case_id, recipient,"
                       " notification_id, access_id, subject, body, followup,"
                       " occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                       " $9, $10) ON CONFLICT (item_id) DO NOTHING", 10},
    [P_ITEMS_CLOSE] = {"UPDATE items SET status = 'closed', closed_reason = $1"
                       " WHERE kind = $2 AND status = 'open'", 2},
    [P_CLOSURE_INSERT] = {"INSERT INTO closures (kind, reason, closed,"
                          " closed_at) VALUES ($1, $2, $3, $4)", 4},
    [P_LANDING_UPSERT] = {PG_UPSERT_SQL("landing"), 10},
    [P_NOTE_UPSERT] = {PG_UPSERT_SQL("case_notes"), 10},
    [P_RECORD_INSERT] = {"INSERT INTO records (record_id, nhs_number, case_id,"
                         " notification_id, summary, detail_json, accessed_at)"
                         " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                         " ON CONFLICT (record_id) DO NOTHING", 7},
    [P_QUARANTINE_INSERT] = {"INSERT INTO quarantine (quarantine_id, error,"
                             " error_name, detail, source_name, transport_id,"
                             " notification_id, payload, received_at)"
                             " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                             " ON CONFLICT (quarantine_id) DO NOTHING", 9},
    [P_STATE_GET] = {"SELECT value, version FROM state WHERE key = $1", 1},
    [P_STATE_INSERT] = {"INSERT INTO state (key, value, version)"
                        " VALUES ($1, $2, 1) ON CONFLICT (key) DO NOTHING", 2},
    [P_STATE_UPDATE] = {"UPDATE state SET value = $2, version = version + 1"
                        " WHERE key = $1 AND version = $3", 3},
    [P_DELIVERY_INSERT] = {"INSERT INTO deliveries (source_name, transport_id,"
                           " status, kind, notification_id, accesses, error,"
                           " detail, delivered_at) VALUES ($1, $2, $3, $4, $5,"
                           " $6, $7, $8, $9)", 9},
};

struct pgstore {
    PGconn *conn;
    pthread_mutex_t lock;    /* recursive, as in store.c */
    int prepared[P_COUNT];   /* prepared on this connection */
    int in_delivery;         /* a delivery's BEGIN succeeded */
    int delivery_depth;
    int doomed;              /* the delivery's transaction was aborted */
    int doomed_status;       /* CPIS_ERR_RETRY or CPIS_ERR_HOST */
};

/* ---- statuses ------------------------------------------------------------ */

/* The SQLSTATEs that mean "the same work may succeed if tried again":
 * serialization failure, deadlock, lock not available, query cancelled
 * (statement_timeout), connection exceptions (class 08), insufficient
 * resources (53), operator intervention (57P01-57P03: shutdown, crash). */
static int transient_sqlstate(const char *s)
{
    if (s == NULL)
        return 1; /* no SQLSTATE: the client lost the server */
    return strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 ||
           strcmp(s, "55P03") == 0 || strcmp(s, "57014") == 0 ||
           strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 ||
           strncmp(s, "57P0", 4) == 0;
}

/* Maps a result to a status (and clears it on error).  Writes the server's
 * message to stderr for a permanent failure; transient ones are the host's
 * ordinary retry path and are said once, briefly. */
static int result_status(struct pgstore *pg, PGresult *res)
{
    ExecStatusType t = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
        return CPIS_OK;
    const char *state =
        res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    int rc = (PQstatus(pg->conn) != CONNECTION_OK || transient_sqlstate(state))
                 ? CPIS_ERR_RETRY
                 : CPIS_ERR_HOST;
    if (rc == CPIS_ERR_HOST)
        fprintf(stderr, "cpis-mockhost: store (postgresql): %s",
                res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn));
    if (pg->in_delivery && !pg->doomed) {
        /* PostgreSQL aborts the whole transaction on any error. */
        pg->doomed = 1;
        pg->doomed_status = rc;
    }
    return rc;
}

/* Before talking to the server: a doomed delivery fails fast; a lost
 * connection outside a delivery is re-established. */
static int usable(struct pgstore *pg)
{
    if (pg->doomed)
        return pg->doomed_status;
    if (PQstatus(pg->conn) == CONNECTION_OK)
        return CPIS_OK;
    if (pg->in_delivery) {
        pg->doomed = 1;
        pg->doomed_status = CPIS_ERR_RETRY;
        return CPIS_ERR_RETRY;
    }
    PQreset(pg->conn);
    memset(pg->prepared, 0, sizeof pg->prepared);
    return PQstatus(pg->conn) == CONNECTION_OK ? CPIS_OK : CPIS_ERR_RETRY;
}

/* Runs a cached statement; *res (may be NULL) gets the result on success,
 * to be PQclear'd by the caller.  fmt: per-parameter formats (NULL = all
 * text); binary parameters need lens. */
static int run(struct pgstore *pg, enum pg_stmt id, const char *const *vals,
               const int *lens, const int *fmts, PGresult **res)
{
    if (res != NULL)
        *res = NULL;
    int rc = usable(pg);
    if (rc != CPIS_OK)
        return rc;
    char name[16];
    snprintf(name, sizeof name, "cpis_%d", (int)id);
    if (!pg->prepared[id]) {
        PGresult *r = PQprepare(pg->conn, name, PG_SQL[id].sql,
                                PG_SQL[id].nparams, NULL);
        rc = result_status(pg, r);
        PQclear(r);
        if (rc != CPIS_OK)
            return rc;
        pg->prepared[id] = 1;
    }
    PGresult *r = PQexecPrepared(pg->conn, name, PG_SQL[id].nparams, vals, lens,
                                 fmts, 0);
    rc = result_status(pg, r);
    if (rc == CPIS_OK && res != NULL)
        *res = r;
    else
        PQclear(r);
    return rc;
}

/* A parameterless command (BEGIN, COMMIT, ...). */
static int command(struct pgstore *pg, const char *sql)
{
    int rc = usable(pg);
    if (rc != CPIS_OK)
        return rc;
    PGresult *r = PQexec(pg->conn, sql);
    rc = result_status(pg, r);
    PQclear(r);
    return rc;
}

/* Rows changed by the last INSERT/UPDATE. */
static long affected(PGresult *res)
{
    return strtol(PQcmdTuples(res), NULL, 10);
}

static const char *nz(const char *s) { return s != NULL ? s : ""; }

/* A decimal rendering of an integer parameter, in caller storage. */
#define I64(buf, v) (snprintf((buf), sizeof(buf), "%lld", (long long)(v)), (buf))

/* ---- open / close -------------------------------------------------------- */

int store_pg_is_conninfo(const char *db)
{
    if (db == NULL)
        return 0;
    if (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0)
        return 1;
    /* keyword=value: the first word must be one of libpq's keywords */
    size_t klen = strspn(db, "abcdefghijklmnopqrstuvwxyz_");
    const char *p = db + klen;
    while (*p == ' ')
        p++;
    if (klen == 0 || *p != '=')
        return 0;
    PQconninfoOption *opts = PQconndefaults();
    int found = 0;
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
        if (strlen(o->keyword) == klen && strncmp(o->keyword, db, klen) == 0)
            found = 1;
    PQconninfoFree(opts);
    return found;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like */
}

static void pg_close(void *be)
{
    struct pgstore *pg = be;
    if (pg == NULL)
        return;
    if (pg->conn != NULL)
        PQfinish(pg->conn);
    pthread_mutex_destroy(&pg->lock);
    free(pg);
}

/* Runs one step of the schema transaction; on failure remembers whether
 * it was transient (another node creating the schema at the same time
 * under a stricter isolation level, or a dropped connection, re-made
 * here) and rolls back. */
static int schema_step(struct pgstore *pg, const char *sql, ExecStatusType want,
                       PGresult **keep, int *transient)
{
    PGresult *r = PQexec(pg->conn, sql);
    if (PQresultStatus(r) == want) {
        if (keep != NULL)
            *keep = r;
        else
            PQclear(r);
        return 0;
    }
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        /* the server dropped us (restart, an operator): connect again */
        PQclear(r);
        PQreset(pg->conn);
        *transient = PQstatus(pg->conn) == CONNECTION_OK;
        return -1;
    }
    *transient = transient_sqlstate(PQresultErrorField(r, PG_DIAG_SQLSTATE));
    PQclear(r);
    PQclear(PQexec(pg->conn, "ROLLBACK"));
    return -1;
}

/* Creates the tables on first use and records the schema version; refuses
 * a database whose schema is newer than this program.  Several nodes
 * starting at once serialise on an advisory lock (and retry a
 * serialization failure). */
static int create_schema(struct pgstore *pg, char *err, size_t err_cap)
{
    char sql[200];
    for (int attempt = 0; attempt < 100; attempt++) {
        int transient = 0;
        PGresult *r = NULL;
        snprintf(sql, sizeof sql,
                 "BEGIN ISOLATION LEVEL READ COMMITTED;"
                 " SELECT pg_advisory_xact_lock(%lld);"
                 " CREATE TABLE IF NOT EXISTS store_schema ("
                 " name TEXT PRIMARY KEY, version INTEGER NOT NULL)",
                 (long long)PG_SCHEMA_LOCK);
        if (schema_step(pg, sql, PGRES_COMMAND_OK, NULL, &transient) == 0 &&
            schema_step(pg, "SELECT version FROM store_schema"
                            " WHERE name = 'cpis-mockhost'",
                        PGRES_TUPLES_OK, &r, &transient) == 0) {
            long have = PQntuples(r) == 1 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
            PQclear(r);
            if (have > PG_SCHEMA_VERSION) {
                snprintf(err, err_cap,
                         "the database's store schema is version %ld; this"
                         " program knows up to version %d",
                         have, PG_SCHEMA_VERSION);
                PQclear(PQexec(pg->conn, "ROLLBACK"));
                return -1;
            }
            /* Version 1 is the first: nothing to migrate from yet. */
            snprintf(sql, sizeof sql,
                     "INSERT INTO store_schema VALUES ('cpis-mockhost', %d)"
                     " ON CONFLICT (name) DO UPDATE SET version = %d",
                     PG_SCHEMA_VERSION, PG_SCHEMA_VERSION);
            if ((have == PG_SCHEMA_VERSION ||
                 (schema_step(pg, PG_SCHEMA, PGRES_COMMAND_OK, NULL, &transient) == 0 &&
                  schema_step(pg, sql, PGRES_COMMAND_OK, NULL, &transient) == 0)) &&
                schema_step(pg, "COMMIT", PGRES_COMMAND_OK, NULL, &transient) == 0)
                return 0;
        }
        if (!transient)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    snprintf(err, err_cap, "cannot create the store's tables: %s",
             PQerrorMessage(pg->conn));
    return -1;
}

void *store_pg_open(const char *conninfo, char *err, size_t err_cap)
{
    struct pgstore *pg = calloc(1, sizeof *pg);
    if (pg == NULL) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    pthread_mutexattr_t attr;
    int bad = pthread_mutexattr_init(&attr) != 0;
    if (!bad) {
        bad = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE) != 0 ||
              pthread_mutex_init(&pg->lock, &attr) != 0;
        pthread_mutexattr_destroy(&attr);
    }
    if (bad) {
        snprintf(err, err_cap, "cannot create a mutex");
        free(pg);
        return NULL;
    }
    pg->conn = PQconnectdb(conninfo);
    if (pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK) {
        /* libpq's message names the server and the reason, never a
         * password (the connection string itself is not echoed). */
        snprintf(err, err_cap, "cannot connect to PostgreSQL: %s",
                 pg->conn != NULL ? PQerrorMessage(pg->conn) : "out of memory");
        size_t n = strlen(err);
        while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        pg_close(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg->conn, quiet_notice, NULL);
    if (create_schema(pg, err, err_cap) != 0) {
        size_t n = strlen(err);
        while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
        pg_close(pg);
        return NULL;
    }
    return pg;
}

/* ---- one delivery, one transaction --------------------------------------- */

static int pg_delivery_begin(void *be)
{
    struct pgstore *pg = be;
    pthread_mutex_lock(&pg->lock); /* held until pg_delivery_end */
    if (pg->delivery_depth++ > 0)
        return CPIS_OK;
    pg->doomed = 0;
    int rc = command(pg, "BEGIN");
    pg->in_delivery = rc == CPIS_OK;
    return rc;
}

static int pg_delivery_end(void *be)
{
    struct pgstore *pg = be;
    int rc = CPIS_OK;
    if (--pg->delivery_depth == 0 && pg->in_delivery) {
        if (pg->doomed) {
            rc = pg->doomed_status;
            pg->doomed = 0;
            pg->in_delivery = 0;
            if (PQstatus(pg->conn) == CONNECTION_OK)
                PQclear(PQexec(pg->conn, "ROLLBACK"));
        } else {
            /* A COMMIT that loses the connection has an unknown outcome:
             * retry_later; the plugin's idempotent writes make a second
             * delivery of a committed one a duplicate, never a double. */
            rc = command(pg, "COMMIT");
            pg->in_delivery = 0;
            pg->doomed = 0;
            if (rc != CPIS_OK && PQstatus(pg->conn) == CONNECTION_OK &&
                PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
                PQclear(PQexec(pg->conn, "ROLLBACK"));
        }
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_delivery_doomed(void *be)
{
    struct pgstore *pg = be;
    pthread_mutex_lock(&pg->lock);
    int d = pg->doomed;
    pthread_mutex_unlock(&pg->lock);
    return d;
}

/* ---- the host table's writes -------------------------------------------- */

static int pg_create_item(void *be, const struct cpis_item *item,
                          const char *access_id, int *changed)
{
    struct pgstore *pg = be;
    char kind[24], at[24];
    const char *vals[10] = {
        nz(item->item_id), I64(kind, item->kind), nz(item->case_id),
        nz(item->recipient), nz(item->notification_id), nz(access_id),
        nz(item->subject), nz(item->body), item->followup != 0 ? "1" : "0",
        I64(at, item->occurred_at)};
    *changed = 0;
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = run(pg, P_ITEM_INSERT, vals, NULL, NULL, &res);
    if (rc == CPIS_OK) {
        *changed = affected(res) > 0;
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_upsert_document(void *be, enum store_doc_table table,
                              const struct cpis_document *doc,
                              enum store_upsert *what)
{
    struct pgstore *pg = be;
    char rev[24], at[24];
    const char *vals[10] = {
        nz(doc->id), I64(rev, doc->revision), nz(doc->case_id),
        nz(doc->worker), nz(doc->team), nz(doc->notification_id),
        nz(doc->title), nz(doc->body), doc->detail_json /* NULL = SQL NULL */,
        I64(at, doc->updated_at)};
    *what = STORE_UNCHANGED;
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = run(pg, table == STORE_LANDING ? P_LANDING_UPSERT : P_NOTE_UPSERT,
                 vals, NULL, NULL, &res);
    if (rc == CPIS_OK) {
        /* no row = unchanged; update_count 0 = inserted, else updated */
        if (PQntuples(res) == 1)
            *what = strtoll(PQgetvalue(res, 0, 0), NULL, 10) == 0 ? STORE_INSERTED
                                                                  : STORE_UPDATED;
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_keep_record(void *be, const struct cpis_record *rec, int *changed)
{
    struct pgstore *pg = be;
    char at[24];
    const char *vals[7] = {nz(rec->record_id), nz(rec->nhs_number),
                           nz(rec->case_id), nz(rec->notification_id),
                           nz(rec->summary), nz(rec->detail_json),
                           I64(at, rec->accessed_at)};
    *changed = 0;
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = run(pg, P_RECORD_INSERT, vals, NULL, NULL, &res);
    if (rc == CPIS_OK) {
        *changed = affected(res) > 0;
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_quarantine(void *be, const struct cpis_quarantine *q,
                         int64_t received_at_ms, int *changed)
{
    struct pgstore *pg = be;
    char err[24], at[24];
    const char *vals[9] = {nz(q->quarantine_id), I64(err, q->error),
                           nz(q->error_name), nz(q->detail), nz(q->source_name),
                           nz(q->transport_id), nz(q->notification_id),
                           q->payload != NULL ? (const char *)q->payload : "",
                           I64(at, received_at_ms)};
    int lens[9] = {0, 0, 0, 0, 0, 0, 0,
                   q->payload != NULL ? (int)q->payload_len : 0, 0};
    int fmts[9] = {0, 0, 0, 0, 0, 0, 0, 1, 0}; /* the payload is binary */
    *changed = 0;
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = run(pg, P_QUARANTINE_INSERT, vals, lens, fmts, &res);
    if (rc == CPIS_OK) {
        *changed = affected(res) > 0;
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

/* ---- state ---------------------------------------------------------------- */

static int pg_state_get(void *be, const char *key, char *buf, size_t cap,
                        size_t *len, uint64_t *version)
{
    struct pgstore *pg = be;
    const char *vals[1] = {key};
    *len = 0;
    *version = 0;
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = run(pg, P_STATE_GET, vals, NULL, NULL, &res);
    if (rc == CPIS_OK) {
        if (PQntuples(res) == 0) {
            rc = CPIS_ERR_NOT_FOUND;
        } else {
            size_t n = 0;
            unsigned char *val =
                PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &n);
            *version = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
            if (val == NULL) {
                rc = CPIS_ERR_NOMEM;
            } else if (buf == NULL || cap < n + 1) {
                *len = n + 1; /* the value and its terminating NUL */
                rc = CPIS_ERR_BUFFER;
            } else {
                if (n > 0)
                    memcpy(buf, val, n);
                buf[n] = '\0';
                *len = n;
            }
            PQfreemem(val);
        }
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_state_put(void *be, const char *key, const char *value, size_t len,
                        uint64_t expected_version)
{
    struct pgstore *pg = be;
    char ver[24];
    const char *vals[3] = {key, value != NULL ? value : "",
                           I64(ver, expected_version)};
    int lens[3] = {0, (int)len, 0};
    int fmts[3] = {0, 1, 0}; /* the value is bytes */
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = run(pg, expected_version == 0 ? P_STATE_INSERT : P_STATE_UPDATE,
                 vals, lens, fmts, &res);
    if (rc == CPIS_OK) {
        if (affected(res) != 1)
            rc = CPIS_ERR_CONFLICT;
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_close_items(void *be, int kind, const char *reason, int64_t at_ms,
                          uint64_t *closed)
{
    struct pgstore *pg = be;
    char k[24], n[24], at[24];
    *closed = 0;
    pthread_mutex_lock(&pg->lock);
    /* Outside a delivery: its own transaction (the update and its count go
     * together); inside one, part of the delivery's. */
    int own = !pg->in_delivery;
    int rc = own ? command(pg, "BEGIN") : CPIS_OK;
    PGresult *res = NULL;
    if (rc == CPIS_OK) {
        const char *vals[2] = {nz(reason), I64(k, kind)};
        rc = run(pg, P_ITEMS_CLOSE, vals, NULL, NULL, &res);
    }
    if (rc == CPIS_OK) {
        *closed = (uint64_t)affected(res);
        PQclear(res);
        if (*closed > 0) {
            const char *vals[4] = {k, nz(reason), I64(n, *closed), I64(at, at_ms)};
            rc = run(pg, P_CLOSURE_INSERT, vals, NULL, NULL, NULL);
        }
    }
    if (own) {
        if (rc == CPIS_OK)
            rc = command(pg, "COMMIT");
        else if (PQstatus(pg->conn) == CONNECTION_OK)
            PQclear(PQexec(pg->conn, "ROLLBACK"));
    }
    if (rc != CPIS_OK)
        *closed = 0;
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_add_delivery(void *be, const char *source_name,
                           const char *transport_id, const char *status,
                           const char *kind, const char *notification_id,
                           uint32_t accesses, const char *error,
                           const char *detail, int64_t at_ms)
{
    struct pgstore *pg = be;
    char acc[24], at[24];
    const char *vals[9] = {nz(source_name), nz(transport_id), nz(status),
                           nz(kind), nz(notification_id), I64(acc, accesses),
                           nz(error), nz(detail), I64(at, at_ms)};
    pthread_mutex_lock(&pg->lock);
    int rc = run(pg, P_DELIVERY_INSERT, vals, NULL, NULL, NULL);
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

/* ---- queries --------------------------------------------------------------- */

/* A one-off query with text parameters. */
static int query(struct pgstore *pg, const char *sql, int nparams,
                 const char *const *vals, PGresult **res)
{
    *res = NULL;
    int rc = usable(pg);
    if (rc != CPIS_OK)
        return rc;
    PGresult *r = PQexecParams(pg->conn, sql, nparams, NULL, vals, NULL, NULL, 0);
    rc = result_status(pg, r);
    if (rc == CPIS_OK)
        *res = r;
    else
        PQclear(r);
    return rc;
}

static int pg_query_int(void *be, const char *sql, int64_t *out)
{
    struct pgstore *pg = be;
    *out = 0;
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = query(pg, sql, 0, NULL, &res);
    if (rc == CPIS_OK) {
        if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
            *out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

#define PG_QUARANTINE_COLUMNS                                                 \
    "quarantine_id, error_name, detail, source_name, transport_id,"          \
    " notification_id, status, received_at, payload"

static int row_from_result(PGresult *res, int i, struct store_quarantine_row *row)
{
    memset(row, 0, sizeof *row);
    char **f[7] = {&row->quarantine_id, &row->error_name, &row->detail,
                   &row->source_name, &row->transport_id,
                   &row->notification_id, &row->status};
    int bad = 0;
    for (int c = 0; c < 7; c++)
        bad |= (*f[c] = strdup(PQgetvalue(res, i, c))) == NULL;
    row->received_at_ms = strtoll(PQgetvalue(res, i, 7), NULL, 10);
    size_t n = 0;
    unsigned char *p = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 8), &n);
    row->payload = malloc(n > 0 ? n : 1);
    if (row->payload != NULL && p != NULL && n > 0)
        memcpy(row->payload, p, n);
    row->payload_len = n;
    bad |= p == NULL || row->payload == NULL;
    PQfreemem(p);
    if (bad) {
        store_quarantine_row_free(row);
        return CPIS_ERR_NOMEM;
    }
    return CPIS_OK;
}

static int pg_quarantine_each(void *be,
                              void (*fn)(void *user,
                                         const struct store_quarantine_row *row),
                              void *user)
{
    struct pgstore *pg = be;
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = query(pg, "SELECT " PG_QUARANTINE_COLUMNS " FROM quarantine"
                       " ORDER BY received_at, seq", 0, NULL, &res);
    for (int i = 0; rc == CPIS_OK && i < PQntuples(res); i++) {
        struct store_quarantine_row row;
        rc = row_from_result(res, i, &row);
        if (rc == CPIS_OK) {
            fn(user, &row);
            store_quarantine_row_free(&row);
        }
    }
    PQclear(res);
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_quarantine_get(void *be, const char *quarantine_id,
                             struct store_quarantine_row *row)
{
    struct pgstore *pg = be;
    const char *vals[1] = {quarantine_id};
    memset(row, 0, sizeof *row);
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = query(pg, "SELECT " PG_QUARANTINE_COLUMNS " FROM quarantine"
                       " WHERE quarantine_id = $1", 1, vals, &res);
    if (rc == CPIS_OK)
        rc = PQntuples(res) == 1 ? row_from_result(res, 0, row) : CPIS_ERR_NOT_FOUND;
    PQclear(res);
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_quarantine_mark(void *be, const char *quarantine_id,
                              const char *status)
{
    struct pgstore *pg = be;
    const char *vals[2] = {quarantine_id, status};
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = query(pg, "UPDATE quarantine SET status = $2"
                       " WHERE quarantine_id = $1", 2, vals, &res);
    if (rc == CPIS_OK) {
        if (affected(res) == 0)
            rc = CPIS_ERR_NOT_FOUND;
        PQclear(res);
    }
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

static int pg_landing_each(void *be, const char *worker, const char *team,
                           const char *marker,
                           void (*fn)(void *user, const struct store_landing_row *row),
                           void *user)
{
    /* store.c's query in PostgreSQL's words (strpos, btrim, right): only
     * the note's state and the NHS number's last four digits leave the
     * server. */
    static const char sql[] =
        "SELECT l.id, l.revision, l.case_id, l.worker, l.team,"
        " l.notification_id, l.title, COALESCE(l.detail_json, ''),"
        " l.updated_at, COALESCE(n.revision, 0),"
        " CASE WHEN n.id IS NULL THEN 0"
        "      WHEN strpos(n.body, $3) = 0 THEN 1"
        "      WHEN length(btrim(substr(n.body, strpos(n.body, $3) + length($3)),"
        "                        ' ' || chr(9) || chr(10) || chr(13))) = 0 THEN 2"
        "      ELSE 3 END,"
        " COALESCE((SELECT right(r.nhs_number, 4) FROM records r"
        "           WHERE r.case_id = l.case_id AND r.case_id <> ''"
        "           AND length(r.nhs_number) = 10 LIMIT 1), '')"
        " FROM landing l LEFT JOIN case_notes n ON n.id = 'note/' || l.id"
        " WHERE ($1::text IS NOT NULL AND l.worker = $1)"
        "    OR ($2::text IS NOT NULL AND l.team = $2)"
        " ORDER BY l.updated_at DESC, l.created_seq DESC, l.id";
    struct pgstore *pg = be;
    const char *vals[3] = {worker, team, marker}; /* NULL = SQL NULL */
    pthread_mutex_lock(&pg->lock);
    PGresult *res;
    int rc = query(pg, sql, 3, vals, &res);
    for (int i = 0; rc == CPIS_OK && i < PQntuples(res); i++) {
        struct store_landing_row row = {
            .id = PQgetvalue(res, i, 0),
            .revision = strtoll(PQgetvalue(res, i, 1), NULL, 10),
            .case_id = PQgetvalue(res, i, 2),
            .worker = PQgetvalue(res, i, 3),
            .team = PQgetvalue(res, i, 4),
            .notification_id = PQgetvalue(res, i, 5),
            .title = PQgetvalue(res, i, 6),
            .detail_json = PQgetvalue(res, i, 7),
            .updated_at = strtoll(PQgetvalue(res, i, 8), NULL, 10),
            .note_revision = strtoll(PQgetvalue(res, i, 9), NULL, 10),
            .note_state = (int)strtol(PQgetvalue(res, i, 10), NULL, 10),
            .nhs_last4 = PQgetvalue(res, i, 11),
        };
        fn(user, &row);
    }
    PQclear(res);
    pthread_mutex_unlock(&pg->lock);
    return rc;
}

const struct store_ops store_pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .delivery_begin = pg_delivery_begin,
    .delivery_end = pg_delivery_end,
    .delivery_doomed = pg_delivery_doomed,
    .create_item = pg_create_item,
    .upsert_document = pg_upsert_document,
    .keep_record = pg_keep_record,
    .quarantine = pg_quarantine,
    .state_get = pg_state_get,
    .state_put = pg_state_put,
    .close_items = pg_close_items,
    .add_delivery = pg_add_delivery,
    .query_int = pg_query_int,
    .quarantine_each = pg_quarantine_each,
    .quarantine_get = pg_quarantine_get,
    .quarantine_mark = pg_quarantine_mark,
    .landing_each = pg_landing_each,
};
