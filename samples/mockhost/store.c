/*
 * store.c - the mock host's SQLite store (see store.h), and the front of
 * the other back ends (store_backend.h: PostgreSQL, store_pg.c), which
 * share its tables and its `report` queries.
 *
 * A real host would map these tables onto its own case-management database;
 * what matters for an integrator is the idempotency rule of each write, which
 * the plugin relies on to make re-delivery and retries safe:
 *
 *   items        insert-or-ignore on item_id (a repeat changes nothing)
 *   landing,     upsert on id, applied only when the revision is greater
 *   case_notes   than the stored one (a stale or repeated revision is a no-op)
 *   records      insert-or-ignore on record_id
 *   quarantine   insert-or-ignore on quarantine_id
 *   state        compare-and-set on version (0 = must not exist)
 *
 * Locking: one recursive pthread mutex around every function, because the
 * plugin may call the host table from several threads at once and a
 * statement and the read of its effect (sqlite3_changes) must not be
 * interleaved.  store_delivery_begin takes the same mutex and keeps it until
 * store_delivery_end (store.h): one delivery is one savepoint, and another
 * thread's host calls wait for it instead of landing inside it.
 *
 * Group commit (store.h): the deliveries' savepoints live in one BEGIN
 * IMMEDIATE transaction that store_batch_commit commits, when the host
 * says the batch is due (256 deliveries or 50 ms by default).  A call
 * outside a delivery commits the open batch first (lock_store).  On a file
 * store one delivery alone wrote ~27 pages to the WAL, mostly the same hot
 * pages the next delivery writes again; a batch writes each once.
 *
 * Statements: every statement a delivery runs is prepared once per
 * connection (SQLITE_PREPARE_PERSISTENT) and kept in st->stmt[]; each use
 * binds, steps, then resets and clears the bindings (stmt_get/stmt_done).
 * One-off queries (summary, listings) are still prepared per call.
 *
 * File store: WAL journal and synchronous=NORMAL (store_open).  A commit
 * then writes the WAL without an fsync; the WAL is synced at checkpoints.
 * The database can never be corrupted by a crash, but a power cut (not a
 * process crash) may lose the last few committed deliveries.  That is the
 * trade a MESH host makes knowingly: a message is acknowledged to MESH only
 * after the commit that holds its delivery, and MESH delivers at least
 * once, so a lost delivery is received again and the plugin's idempotent
 * writes complete it.
 */
#include "store.h"
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

/* The cached statements (prepared on first use, kept until store_close). */
enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_DELIVERY_SAVEPOINT,
    S_DELIVERY_RELEASE,
    S_DELIVERY_ROLLBACK_TO,
    S_ITEM_INSERT,
    S_ITEM_RAISE,
    S_ITEMS_CLOSE,
    S_CLOSURE_INSERT,
    S_LANDING_UPSERT,
    S_NOTE_UPSERT,
    S_RECORD_INSERT,
    S_QUARANTINE_INSERT,
    S_STATE_GET,
    S_STATE_INSERT,
    S_STATE_UPDATE,
    S_DELIVERY_INSERT,
    S_COUNT
};

/* The landing and case-note upsert, one statement: insert a new id, or
 * update an existing one only when the revision is greater.  RETURNING
 * says what happened: no row = unchanged, update_count 0 = inserted,
 * >= 1 = updated.  created_seq (creation order, for the landing page's
 * ordering) is MAX + 1 through the created_seq index: O(log n). */
#define UPSERT_SQL(T)                                                         \
    "INSERT INTO " T " (id, revision, case_id, worker, team,"                 \
    " notification_id, title, body, detail_json, updated_at, created_seq)"    \
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"                       \
    " (SELECT COALESCE(MAX(created_seq), 0) + 1 FROM " T "))"                 \
    " ON CONFLICT (id) DO UPDATE SET revision = excluded.revision,"           \
    " case_id = excluded.case_id, worker = excluded.worker,"                  \
    " team = excluded.team, notification_id = excluded.notification_id,"      \
    " title = excluded.title, body = excluded.body,"                          \
    " detail_json = excluded.detail_json, updated_at = excluded.updated_at,"  \
    " update_count = update_count + 1"                                        \
    " WHERE excluded.revision > " T ".revision"                               \
    " RETURNING update_count"

static const char *const STMT_SQL[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT store_op",
    [S_RELEASE] = "RELEASE store_op",
    [S_ROLLBACK_TO] = "ROLLBACK TO store_op",
    /* one delivery inside the group-commit transaction */
    [S_DELIVERY_SAVEPOINT] = "SAVEPOINT delivery",
    [S_DELIVERY_RELEASE] = "RELEASE delivery",
    [S_DELIVERY_ROLLBACK_TO] = "ROLLBACK TO delivery",
    [S_ITEM_INSERT] =
        "INSERT OR IGNORE INTO items (item_id, kind, case_id, recipient,"
        " notification_id, access_id, subject, body, followup, occurred_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_ITEMS_CLOSE] = "UPDATE items SET status = 'closed', closed_reason = ?1"
                      " WHERE kind = ?2 AND status = 'open'",
    /* ?2 = the new followup, ?3 subject, ?4 body, ?5 notification id; the
     * right-hand sides all read the kept row */
    [S_ITEM_RAISE] =
        "UPDATE items SET followup = MAX(followup, ?2),"
        " subject = CASE WHEN ?2 > followup THEN ?3 ELSE subject END,"
        " body = CASE WHEN ?2 > followup THEN ?4 || body ELSE body || ?4 END,"
        " notification_id = CASE WHEN notification_id = '' THEN ?5"
        "  ELSE notification_id END"
        " WHERE item_id = ?1 AND kind = 2"
        " AND (?2 > followup OR (notification_id = '' AND ?5 <> ''))",
    [S_CLOSURE_INSERT] = "INSERT INTO closures (kind, reason, closed, closed_at)"
                         " VALUES (?1, ?2, ?3, ?4)",
    [S_LANDING_UPSERT] = UPSERT_SQL("landing"),
    [S_NOTE_UPSERT] = UPSERT_SQL("case_notes"),
    [S_RECORD_INSERT] =
        "INSERT OR IGNORE INTO records (record_id, nhs_number, case_id,"
        " notification_id, summary, detail_json, accessed_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_QUARANTINE_INSERT] =
        "INSERT OR IGNORE INTO quarantine (quarantine_id, error, error_name,"
        " detail, source_name, transport_id, notification_id, payload,"
        " received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_STATE_GET] = "SELECT value, version FROM state WHERE key = ?1",
    /* version 0 = "must not exist": a plain INSERT that a present key makes
     * a no-op; otherwise an UPDATE that only matches the expected version.
     * Either way exactly one changed row means the compare-and-set won. */
    [S_STATE_INSERT] =
        "INSERT OR IGNORE INTO state (key, value, version) VALUES (?1, ?2, 1)",
    [S_STATE_UPDATE] = "UPDATE state SET value = ?2, version = version + 1"
                       " WHERE key = ?1 AND version = ?3",
    [S_DELIVERY_INSERT] =
        "INSERT INTO deliveries (source_name, transport_id, status, kind,"
        " notification_id, accesses, error, detail, delivered_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};

struct store {
    sqlite3 *db;
    pthread_mutex_t lock;      /* recursive: see the top of this file */
    sqlite3_stmt *stmt[S_COUNT];
    int in_delivery;           /* the delivery's savepoint is open */
    int delivery_depth;        /* nested begin/end pairs (same thread) */
    /* Group commit (store.h, store_set_commit_every): the transaction that
     * deliveries share, open from the first delivery's begin until
     * store_batch_commit (or a call outside a delivery, or close). */
    unsigned batch_max;        /* deliveries per transaction (1: each its own) */
    unsigned batch_ms;         /* the longest a batch stays open, in ms */
    int batch_open;            /* BEGIN IMMEDIATE done, not yet committed */
    unsigned batch_n;          /* deliveries released into it */
    int64_t batch_t0;          /* CLOCK_MONOTONIC ms when it began */
    int batch_lost;            /* a batch was rolled back or failed to commit
                                  outside store_batch_commit: reported there */
    /* Another back end (store_backend.h), or NULL for this file's SQLite:
     * every store_* function below hands its call to ops when set. */
    const struct store_ops *ops;
    void *be;
    /* The in-memory store's reserved region (memory_region below), or NULL. */
    void *mem;
    size_t mem_cap;
    int is_file;               /* a SQLite file (WAL, the 64 MiB cache) */
};

static const char SCHEMA[] =
    /* Work items.  access_id identifies the access an item is about; the
     * header's struct cpis_item has no access id yet, so the host derives
     * one from notification_id and occurred_at (see access_key below). */
    "CREATE TABLE IF NOT EXISTS items ("
    "  item_id TEXT PRIMARY KEY, kind INTEGER NOT NULL, case_id TEXT,"
    "  recipient TEXT, notification_id TEXT, access_id TEXT, subject TEXT,"
    "  body TEXT, followup INTEGER NOT NULL DEFAULT 0, occurred_at INTEGER,"
    "  status TEXT NOT NULL DEFAULT 'open', closed_reason TEXT);"
    /* Landing-page entries and case-note stubs: same shape.  update_count
     * counts the revisions applied after the first (summary landing_updates). */
    "CREATE TABLE IF NOT EXISTS landing ("
    "  id TEXT PRIMARY KEY, revision INTEGER NOT NULL, case_id TEXT,"
    "  worker TEXT, team TEXT, notification_id TEXT, title TEXT, body TEXT,"
    "  detail_json TEXT, updated_at INTEGER, created_seq INTEGER,"
    "  update_count INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS case_notes ("
    "  id TEXT PRIMARY KEY, revision INTEGER NOT NULL, case_id TEXT,"
    "  worker TEXT, team TEXT, notification_id TEXT, title TEXT, body TEXT,"
    "  detail_json TEXT, updated_at INTEGER, created_seq INTEGER,"
    "  update_count INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS records ("
    "  record_id TEXT PRIMARY KEY, nhs_number TEXT, case_id TEXT,"
    "  notification_id TEXT, summary TEXT, detail_json TEXT,"
    "  accessed_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS state ("
    "  key TEXT PRIMARY KEY, value BLOB, version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS quarantine ("
    "  quarantine_id TEXT PRIMARY KEY, error INTEGER, error_name TEXT,"
    "  detail TEXT, source_name TEXT, transport_id TEXT,"
    "  notification_id TEXT, payload BLOB, received_at INTEGER,"
    "  status TEXT NOT NULL DEFAULT 'quarantined');"
    /* The mock host's own log of what happened to each delivered event. */
    "CREATE TABLE IF NOT EXISTS deliveries ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, source_name TEXT,"
    "  transport_id TEXT, status TEXT NOT NULL, kind TEXT,"
    "  notification_id TEXT, accesses INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT, detail TEXT, delivered_at INTEGER);"
    /* One row per close_items call that closed something. */
    "CREATE TABLE IF NOT EXISTS closures ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL,"
    "  reason TEXT, closed INTEGER NOT NULL, closed_at INTEGER);"
    /* MAX(created_seq) on every new landing entry or case note: without
     * these it is a scan of the table per write (added to older files too). */
    /* What a practitioner recorded when completing a case-note stub (the
     * host's side of `note complete`), apart from the stub the plugin
     * upserts.  A separate table, so older store files gain it too. */
    "CREATE TABLE IF NOT EXISTS note_actions ("
    "  note_id TEXT PRIMARY KEY, action TEXT NOT NULL, completed_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS landing_created_seq ON landing (created_seq);"
    "CREATE INDEX IF NOT EXISTS case_notes_created_seq"
    "  ON case_notes (created_seq);";

/* ---- small helpers ----------------------------------------------------- */

static const char *nz(const char *s) { return s != NULL ? s : ""; }

static int bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
    return sqlite3_bind_text(stmt, idx, nz(s), -1, SQLITE_TRANSIENT);
}

/* Prepares sql; CPIS_ERR_HOST (and a stderr line naming SQLite's reason)
 * when it fails, which only happens on a programming error or a bad file. */
static int prepare(struct store *st, const char *sql, sqlite3_stmt **stmt)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "cpis-mockhost: store: %s\n", sqlite3_errmsg(st->db));
        *stmt = NULL;
        return CPIS_ERR_HOST;
    }
    return CPIS_OK;
}

/* Maps a step result to a status: a busy or locked database (another
 * process holds the --db file) is transient, anything else is permanent. */
static int step_status(struct store *st, int rc)
{
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return CPIS_OK;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return CPIS_ERR_RETRY;
    fprintf(stderr, "cpis-mockhost: store: %s\n", sqlite3_errmsg(st->db));
    return CPIS_ERR_HOST;
}

/* The cached statement id, prepared on first use (NULL + a stderr line on
 * failure, which only happens on a programming error or a bad file). */
static sqlite3_stmt *stmt_get(struct store *st, enum stmt_id id)
{
    if (st->stmt[id] == NULL &&
        sqlite3_prepare_v3(st->db, STMT_SQL[id], -1, SQLITE_PREPARE_PERSISTENT,
                           &st->stmt[id], NULL) != SQLITE_OK) {
        fprintf(stderr, "cpis-mockhost: store: %s\n", sqlite3_errmsg(st->db));
        st->stmt[id] = NULL;
    }
    return st->stmt[id];
}

/* Ready for the next use: reset (ends its read) and drop the bindings. */
static void stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Runs a cached statement with no parameters and no rows (BEGIN, COMMIT,
 * SAVEPOINT...). */
static int run_cached(struct store *st, enum stmt_id id)
{
    sqlite3_stmt *stmt = stmt_get(st, id);
    if (stmt == NULL)
        return CPIS_ERR_HOST;
    int rc = step_status(st, sqlite3_step(stmt));
    stmt_done(stmt);
    return rc;
}

/* A group of statements that must apply together (close_items).  Inside a
 * delivery's transaction it is a savepoint; otherwise its own BEGIN
 * IMMEDIATE transaction, so another process cannot interleave. */
static int group_begin(struct store *st)
{
    return run_cached(st, st->in_delivery ? S_SAVEPOINT : S_BEGIN);
}

static int group_end(struct store *st, int rc)
{
    if (rc == CPIS_OK)
        rc = run_cached(st, st->in_delivery ? S_RELEASE : S_COMMIT);
    if (rc != CPIS_OK) {
        if (st->in_delivery) {
            run_cached(st, S_ROLLBACK_TO);
            run_cached(st, S_RELEASE);
        } else {
            run_cached(st, S_ROLLBACK);
        }
    }
    return rc;
}

/* ---- group commit ------------------------------------------------------ */

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Commits the open batch (the caller holds the lock).  On failure the
 * batch is rolled back whole: none of its deliveries stayed. */
static int batch_commit_locked(struct store *st)
{
    if (!st->batch_open)
        return CPIS_OK;
    st->batch_open = 0;
    st->batch_n = 0;
    int rc = run_cached(st, S_COMMIT);
    if (rc != CPIS_OK && !sqlite3_get_autocommit(st->db))
        run_cached(st, S_ROLLBACK);
    return rc;
}

/* Every store function but the delivery bracket starts here.  A call made
 * outside a delivery while a batch is open (another thread's call between
 * two deliveries, `report` after a run, a close_items at init) first
 * commits the batch: such a call is its own transaction, as it always was,
 * and never reads or writes inside deliveries nobody committed yet.  A
 * failure of that commit is kept for store_batch_commit to report. */
static void lock_store(struct store *st)
{
    pthread_mutex_lock(&st->lock);
    if (st->delivery_depth == 0 && st->batch_open &&
        batch_commit_locked(st) != CPIS_OK)
        st->batch_lost = 1;
}

/* A single integer query (COUNT, SUM) with no parameters. */
static int query_int(struct store *st, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt;
    int rc = prepare(st, sql, &stmt);
    if (rc != CPIS_OK)
        return rc;
    int s = sqlite3_step(stmt);
    *out = s == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    rc = step_status(st, s);
    sqlite3_finalize(stmt);
    return rc;
}

/* ---- open / close ------------------------------------------------------ */

/* A database in a file (not ":memory:", "" or a URI naming a memory db). */
static int is_file_db(const char *path)
{
    if (path == NULL || path[0] == '\0' || strcmp(path, ":memory:") == 0)
        return 0;
    if (strncmp(path, "file:", 5) == 0 &&
        (strstr(path, "mode=memory") != NULL || strstr(path, "vfs=memdb") != NULL ||
         strncmp(path, "file::memory:", 13) == 0))
        return 0;
    return 1;
}

/* journal_mode=WAL needs the file to itself for a moment: when several
 * processes open one --db at once, the switch can fail with SQLITE_BUSY
 * without the busy handler being called, so it is retried here (up to the
 * busy timeout).  Once the file is in WAL mode the pragma is a no-op. */
static int set_wal(sqlite3 *db, char **msg)
{
    int rc = SQLITE_BUSY;
    for (int tries = 0; tries < 3000; tries++) {
        sqlite3_free(*msg);
        *msg = NULL;
        rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, msg);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
            break;
        sqlite3_sleep(10);
    }
    if (rc != SQLITE_OK)
        return rc;
    /* cache_size: see STORE_FILE_CACHE_KB in store.h */
    char sql[160];
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000;"
             " PRAGMA cache_size=-%d;", STORE_FILE_CACHE_KB);
    return sqlite3_exec(db, sql, NULL, NULL, msg);
}

/* The in-memory store (issue 15): memdb's database image is one buffer
 * that memdb enlarges with sqlite3_realloc as the store grows, so a growing
 * store was copied whole (when realloc could not grow it in place) and
 * stopped at SQLite's ~2 GB single-allocation limit (near 720 000
 * notifications).  Instead the image lives in a region of address space
 * reserved once (MEMORY_RESERVE, MAP_NORESERVE: no memory is committed
 * until a page is written), handed to memdb with sqlite3_deserialize as a
 * fixed-size buffer: memdb never reallocates it, nothing is ever copied,
 * and the store's memory is what it has written (about 4 KB a
 * notification: payload, record, items, landing entries, state).  Returns
 * 0, or -1 (nothing changed) when the region cannot be reserved, e.g.
 * under a ulimit -v. */
#define MEMORY_RESERVE ((size_t)64 << 30) /* 64 GiB: ~15 million notifications */

static int memory_region(struct store *st)
{
    void *m = mmap(NULL, MEMORY_RESERVE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    /* Flags 0: not SQLITE_DESERIALIZE_FREEONCLOSE (store_close unmaps it)
     * nor RESIZEABLE (memdb must never realloc what mmap gave). */
    if (sqlite3_deserialize(st->db, "main", m, 0, (sqlite3_int64)MEMORY_RESERVE, 0) !=
        SQLITE_OK) {
        munmap(m, MEMORY_RESERVE);
        return -1;
    }
    st->mem = m;
    st->mem_cap = MEMORY_RESERVE;
    return 0;
}

/* Each delivery is a savepoint inside the batch's transaction: the pages
 * it changes are first copied to a sub-journal, which SQLite keeps in
 * memory only up to 64 KiB by default and then spills to a temporary file
 * (a delivery changes ~27 pages, ~110 KiB).  Up to 4 MiB stays in memory,
 * freed at each RELEASE.  (Not temp_store=MEMORY: that would also keep
 * the `report` queries' sorts in memory, ~100 MB at 1 000 000
 * deliveries.)  A process-wide setting, accepted only before SQLite's
 * first use; later it is refused and the default stays, which is only
 * slower. */
static void config_once(void)
{
    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 4 << 20);
}

struct store *store_open(const char *path, char *err, size_t err_cap)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, config_once);
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    st->batch_max = STORE_COMMIT_EVERY;
    st->batch_ms = STORE_COMMIT_MS;
    pthread_mutexattr_t attr;
    int bad = pthread_mutexattr_init(&attr) != 0;
    if (!bad) {
        bad = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE) != 0 ||
              pthread_mutex_init(&st->lock, &attr) != 0;
        pthread_mutexattr_destroy(&attr);
    }
    if (bad) {
        snprintf(err, err_cap, "cannot create a mutex");
        free(st);
        return NULL;
    }
    /* A PostgreSQL connection string: that back end (store_pg.c) instead. */
    if (store_pg_is_conninfo(path)) {
        st->ops = &store_pg_ops;
        st->be = store_pg_open(path, err, err_cap);
        if (st->be == NULL) {
            st->ops = NULL;
            store_close(st);
            return NULL;
        }
        return st;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI;
    /* In memory: the "memdb" VFS (a private in-memory file behind a normal
     * pager), not ":memory:".  A ":memory:" database commits by walking
     * every page it holds (sqlite3PagerCommitPhaseTwo), so with one commit
     * per delivery the cost of a delivery grew with the store: 143 us at
     * 10 000 notifications, ~400 us at 100 000. */
    if (path == NULL || strcmp(path, ":memory:") == 0)
        path = "file:cpis-mockhost-store?vfs=memdb";
    /* The store holds NHS numbers, children's names and whole message
     * payloads: the file is the owner's only (0600), whatever the umask.
     * SQLite gives its -wal and -shm files the mode of the database file.
     * The file is created here, not by SQLite (which would use 0644), and
     * an existing store that others can read is narrowed to 0600. */
    if (is_file_db(path) && strncmp(path, "file:", 5) != 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
            ((sb.st_mode & 077) != 0 && fchmod(fd, 0600) != 0)) {
            snprintf(err, err_cap, "cannot create the store owner-only (0600): %s",
                     fd < 0 ? strerror(errno) : "not a regular file, or chmod refused");
            if (fd >= 0)
                close(fd);
            store_close(st);
            return NULL;
        }
        close(fd);
    }
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, err_cap, "cannot open the store: %s",
                 st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return NULL;
    }
    if (!is_file_db(path) && memory_region(st) != 0) {
        /* No region could be reserved: memdb's own buffer, its cap (1 GiB
         * by default) lifted; it then grows by sqlite3_realloc, in ONE
         * allocation that SQLite 3.40 limits to ~2 GB (about 500 000
         * notifications). */
        sqlite3_int64 limit = (sqlite3_int64)1 << 40;
        sqlite3_file_control(st->db, "main", SQLITE_FCNTL_SIZE_LIMIT, &limit);
    }
    /* Another process using the same --db file: wait, not fail.  Processes
     * sharing a file serialise per batch (BEGIN IMMEDIATE), so the wait is
     * for whole batches of the others: allow it to be long.  (SQLite's
     * busy handler does not queue the waiters: one process may run many
     * batches before another gets its turn, as it ran many deliveries
     * before group commit.) */
    sqlite3_busy_timeout(st->db, 30000);
    char *msg = NULL;
    /* WAL + synchronous=NORMAL for a file: one write per commit and no
     * fsync (see the top of this file for what a power cut may lose).
     * Checkpoint every 10 000 WAL pages (~40 MB) rather than 1 000: each
     * delivery rewrites the same hot pages (the tables' last leaves), and a
     * rarer checkpoint copies each of them back once (~15% faster). */
    st->is_file = is_file_db(path);
    if (st->is_file && set_wal(st->db, &msg) != SQLITE_OK) {
        snprintf(err, err_cap, "cannot set the store's journal mode: %s",
                 msg != NULL ? msg : "?");
        sqlite3_free(msg);
        store_close(st);
        return NULL;
    }
    if (sqlite3_exec(st->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_cap, "cannot create the store's tables: %s",
                 msg != NULL ? msg : "?");
        sqlite3_free(msg);
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    if (st->ops != NULL)
        st->ops->close(st->be);
    /* An open batch is committed: the host acknowledges its deliveries only
     * after store_batch_commit, so a host that reaches close without it
     * (an error path) has acknowledged none of them; committing keeps their
     * effects, which a redelivery then finds done (duplicates). */
    if (st->db != NULL && st->batch_open && batch_commit_locked(st) != CPIS_OK)
        fprintf(stderr, "cpis-mockhost: store: the last deliveries could not be"
                        " committed: %s\n", sqlite3_errmsg(st->db));
    for (size_t i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    if (st->db != NULL)
        sqlite3_close(st->db);
    if (st->mem != NULL)
        munmap(st->mem, st->mem_cap); /* after the close: memdb's buffer */
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* ---- one delivery, one savepoint; batches of deliveries, one transaction */

int store_delivery_begin(struct store *st)
{
    if (st->ops != NULL)
        return st->ops->delivery_begin(st->be);
    pthread_mutex_lock(&st->lock); /* held until store_delivery_end */
    if (st->delivery_depth++ > 0)
        return CPIS_OK; /* nested on this thread: the outer one commits */
    int rc = CPIS_OK;
    if (!st->batch_open) {
        rc = run_cached(st, S_BEGIN);
        st->batch_open = rc == CPIS_OK;
        st->batch_n = 0;
        st->batch_t0 = monotonic_ms();
    }
    if (rc == CPIS_OK)
        rc = run_cached(st, S_DELIVERY_SAVEPOINT);
    st->in_delivery = rc == CPIS_OK;
    return rc;
}

int store_delivery_discard(struct store *st)
{
    if (st->ops != NULL || !st->in_delivery)
        return 0;
    /* ROLLBACK TO keeps the savepoint open: the delivery row still joins */
    return run_cached(st, S_DELIVERY_ROLLBACK_TO) == CPIS_OK;
}

int store_delivery_end(struct store *st)
{
    if (st->ops != NULL)
        return st->ops->delivery_end(st->be);
    int rc = CPIS_OK;
    if (--st->delivery_depth == 0 && st->in_delivery) {
        st->in_delivery = 0;
        if (sqlite3_get_autocommit(st->db)) {
            /* SQLite rolled the whole transaction back on an error (disk
             * full, I/O error): this delivery and every other one of the
             * batch are gone. */
            st->batch_open = 0;
            st->batch_n = 0;
            st->batch_lost = 1;
            rc = CPIS_ERR_HOST;
        } else {
            rc = run_cached(st, S_DELIVERY_RELEASE);
            st->batch_n++;
            /* --commit-every 1: each delivery its own transaction, committed
             * here (a failed COMMIT: CPIS_ERR_RETRY or an error, nothing of
             * the delivery stayed), as before group commit */
            if (rc == CPIS_OK && st->batch_max <= 1) {
                rc = batch_commit_locked(st);
                /* not transient: the host does not deliver it again, so
                 * store_batch_commit must say it did not stay */
                if (rc != CPIS_OK && rc != CPIS_ERR_RETRY)
                    st->batch_lost = 1;
            } else if (rc != CPIS_OK) {
                batch_commit_locked(st); /* RELEASE failed: give up the batch */
                st->batch_lost = 1;
            }
        }
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

void store_set_commit_every(struct store *st, unsigned deliveries, unsigned ms)
{
    pthread_mutex_lock(&st->lock);
    st->batch_max = deliveries > 0 ? deliveries : 1;
    st->batch_ms = ms;
    pthread_mutex_unlock(&st->lock);
}

int store_batch_due(struct store *st)
{
    if (st->ops != NULL)
        return 1; /* PostgreSQL: each delivery committed by its end */
    pthread_mutex_lock(&st->lock);
    int due = st->delivery_depth == 0 &&
              (!st->batch_open || st->batch_n >= st->batch_max ||
               monotonic_ms() - st->batch_t0 >= (int64_t)st->batch_ms);
    pthread_mutex_unlock(&st->lock);
    return due;
}

int store_batch_commit(struct store *st)
{
    if (st->ops != NULL)
        return CPIS_OK;
    pthread_mutex_lock(&st->lock);
    int rc = CPIS_OK;
    if (st->delivery_depth == 0) {
        rc = batch_commit_locked(st);
        if (st->batch_lost) {
            st->batch_lost = 0;
            rc = CPIS_ERR_HOST;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int store_batch_abort(struct store *st)
{
    if (st->ops != NULL)
        return CPIS_OK;
    pthread_mutex_lock(&st->lock);
    int rc = CPIS_OK;
    if (st->delivery_depth == 0 && st->batch_open) {
        st->batch_open = 0;
        st->batch_n = 0;
        st->batch_lost = 0;
        run_cached(st, S_ROLLBACK);
        rc = CPIS_ERR_HOST;
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

const char *store_label(const char *db)
{
    if (db == NULL)
        return ":memory:";
    return store_pg_is_conninfo(db) ? "the PostgreSQL store (--db)" : db;
}

int store_delivery_doomed(struct store *st)
{
    return st->ops != NULL && st->ops->delivery_doomed(st->be);
}

/* ---- items ------------------------------------------------------------- */

/* The access an item is about: the plugin's access id (ABI 1.0 field
 * access_id; checked with CPIS_HAS_FIELD for a shorter struct), else the
 * notification id and access time. */
static void access_key(const struct cpis_item *item, char *out, size_t cap)
{
    if (CPIS_HAS_FIELD(item, struct cpis_item, access_id) && item->access_id &&
        item->access_id[0])
        snprintf(out, cap, "%s", item->access_id);
    else
        snprintf(out, cap, "%s@%lld", nz(item->notification_id),
                 (long long)item->occurred_at);
}

int store_create_item(struct store *st, const struct cpis_item *item,
                      int *changed)
{
    char akey[256];
    access_key(item, akey, sizeof akey);
    if (st->ops != NULL)
        return st->ops->create_item(st->be, item, akey, changed);
    *changed = 0;
    lock_store(st);
    int rc = CPIS_ERR_HOST;
    sqlite3_stmt *stmt = stmt_get(st, S_ITEM_INSERT);
    if (stmt != NULL) {
        bind_text(stmt, 1, item->item_id);
        sqlite3_bind_int64(stmt, 2, item->kind);
        bind_text(stmt, 3, item->case_id);
        bind_text(stmt, 4, item->recipient);
        bind_text(stmt, 5, item->notification_id);
        bind_text(stmt, 6, akey);
        bind_text(stmt, 7, item->subject);
        bind_text(stmt, 8, item->body);
        sqlite3_bind_int64(stmt, 9, item->followup != 0);
        sqlite3_bind_int64(stmt, 10, item->occurred_at);
        rc = step_status(st, sqlite3_step(stmt));
        *changed = rc == CPIS_OK && sqlite3_changes(st->db) > 0;
        stmt_done(stmt);
    }
    /* Kept already: the follow-up raise, or the completion of an item a
     * raise created (cpis/plugin.h, struct cpis_item). */
    stmt = rc == CPIS_OK && !*changed ? stmt_get(st, S_ITEM_RAISE) : NULL;
    if (stmt != NULL) {
        bind_text(stmt, 1, item->item_id);
        sqlite3_bind_int64(stmt, 2, item->followup != 0);
        bind_text(stmt, 3, item->subject);
        bind_text(stmt, 4, item->body);
        bind_text(stmt, 5, item->notification_id);
        rc = step_status(st, sqlite3_step(stmt));
        if (rc == CPIS_OK && sqlite3_changes(st->db) > 0)
            *changed = 2;
        stmt_done(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int store_close_items(struct store *st, int kind, const char *reason,
                      int64_t at_ms, uint64_t *closed)
{
    if (st->ops != NULL)
        return st->ops->close_items(st->be, kind, reason, at_ms, closed);
    *closed = 0;
    lock_store(st);
    int rc = group_begin(st);
    if (rc != CPIS_OK)
        goto out;
    sqlite3_stmt *stmt = stmt_get(st, S_ITEMS_CLOSE);
    rc = stmt != NULL ? CPIS_OK : CPIS_ERR_HOST;
    if (rc == CPIS_OK) {
        bind_text(stmt, 1, reason);
        sqlite3_bind_int64(stmt, 2, kind);
        rc = step_status(st, sqlite3_step(stmt));
        if (rc == CPIS_OK)
            *closed = (uint64_t)sqlite3_changes(st->db);
        stmt_done(stmt);
    }
    if (rc == CPIS_OK && *closed > 0) {
        stmt = stmt_get(st, S_CLOSURE_INSERT);
        rc = stmt != NULL ? CPIS_OK : CPIS_ERR_HOST;
        if (rc == CPIS_OK) {
            sqlite3_bind_int64(stmt, 1, kind);
            bind_text(stmt, 2, reason);
            sqlite3_bind_int64(stmt, 3, (sqlite3_int64)*closed);
            sqlite3_bind_int64(stmt, 4, at_ms);
            rc = step_status(st, sqlite3_step(stmt));
            stmt_done(stmt);
        }
    }
    rc = group_end(st, rc);
    if (rc != CPIS_OK)
        *closed = 0;
out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- landing entries and case notes ------------------------------------ */

int store_upsert_document(struct store *st, enum store_doc_table table,
                          const struct cpis_document *doc,
                          enum store_upsert *what)
{
    if (st->ops != NULL)
        return st->ops->upsert_document(st->be, table, doc, what);
    *what = STORE_UNCHANGED;
    lock_store(st);
    int rc = CPIS_ERR_HOST;
    sqlite3_stmt *stmt =
        stmt_get(st, table == STORE_LANDING ? S_LANDING_UPSERT : S_NOTE_UPSERT);
    if (stmt != NULL) {
        bind_text(stmt, 1, doc->id);
        sqlite3_bind_int64(stmt, 2, (sqlite3_int64)doc->revision);
        bind_text(stmt, 3, doc->case_id);
        bind_text(stmt, 4, doc->worker);
        bind_text(stmt, 5, doc->team);
        bind_text(stmt, 6, doc->notification_id);
        bind_text(stmt, 7, doc->title);
        bind_text(stmt, 8, doc->body);
        if (doc->detail_json != NULL)
            bind_text(stmt, 9, doc->detail_json);
        else
            sqlite3_bind_null(stmt, 9);
        sqlite3_bind_int64(stmt, 10, doc->updated_at);
        /* One statement: atomic on its own, no explicit transaction. */
        int s = sqlite3_step(stmt);
        enum store_upsert got = STORE_UNCHANGED;
        if (s == SQLITE_ROW) {
            got = sqlite3_column_int64(stmt, 0) == 0 ? STORE_INSERTED : STORE_UPDATED;
            s = sqlite3_step(stmt); /* SQLITE_DONE */
        }
        rc = step_status(st, s);
        if (rc == CPIS_OK)
            *what = got;
        stmt_done(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- records and quarantine -------------------------------------------- */

int store_keep_record(struct store *st, const struct cpis_record *rec,
                      int *changed)
{
    if (st->ops != NULL)
        return st->ops->keep_record(st->be, rec, changed);
    *changed = 0;
    lock_store(st);
    int rc = CPIS_ERR_HOST;
    sqlite3_stmt *stmt = stmt_get(st, S_RECORD_INSERT);
    if (stmt != NULL) {
        bind_text(stmt, 1, rec->record_id);
        bind_text(stmt, 2, rec->nhs_number);
        bind_text(stmt, 3, rec->case_id);
        bind_text(stmt, 4, rec->notification_id);
        bind_text(stmt, 5, rec->summary);
        bind_text(stmt, 6, rec->detail_json);
        sqlite3_bind_int64(stmt, 7, rec->accessed_at);
        rc = step_status(st, sqlite3_step(stmt));
        *changed = rc == CPIS_OK && sqlite3_changes(st->db) > 0;
        stmt_done(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int store_quarantine(struct store *st, const struct cpis_quarantine *q,
                     int64_t received_at_ms, int *changed)
{
    if (st->ops != NULL)
        return st->ops->quarantine(st->be, q, received_at_ms, changed);
    *changed = 0;
    lock_store(st);
    int rc = CPIS_ERR_HOST;
    sqlite3_stmt *stmt = stmt_get(st, S_QUARANTINE_INSERT);
    if (stmt != NULL) {
        bind_text(stmt, 1, q->quarantine_id);
        sqlite3_bind_int64(stmt, 2, q->error);
        bind_text(stmt, 3, q->error_name);
        bind_text(stmt, 4, q->detail);
        bind_text(stmt, 5, q->source_name);
        bind_text(stmt, 6, q->transport_id);
        bind_text(stmt, 7, q->notification_id);
        if (q->payload != NULL)
            sqlite3_bind_blob64(stmt, 8, q->payload, q->payload_len,
                                SQLITE_TRANSIENT);
        else
            sqlite3_bind_zeroblob(stmt, 8, 0);
        sqlite3_bind_int64(stmt, 9, received_at_ms);
        rc = step_status(st, sqlite3_step(stmt));
        *changed = rc == CPIS_OK && sqlite3_changes(st->db) > 0;
        stmt_done(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- state ------------------------------------------------------------- */

int store_state_get(struct store *st, const char *key, char *buf, size_t cap,
                    size_t *len, uint64_t *version)
{
    if (st->ops != NULL)
        return st->ops->state_get(st->be, key, buf, cap, len, version);
    *len = 0;
    *version = 0;
    lock_store(st);
    int rc = CPIS_ERR_HOST;
    sqlite3_stmt *stmt = stmt_get(st, S_STATE_GET);
    if (stmt != NULL) {
        rc = CPIS_OK;
        bind_text(stmt, 1, key);
        int s = sqlite3_step(stmt);
        if (s == SQLITE_ROW) {
            const void *val = sqlite3_column_blob(stmt, 0);
            size_t n = (size_t)sqlite3_column_bytes(stmt, 0);
            *version = (uint64_t)sqlite3_column_int64(stmt, 1);
            if (buf == NULL || cap < n + 1) {
                /* Needed: the value and its terminating NUL. */
                *len = n + 1;
                rc = CPIS_ERR_BUFFER;
            } else {
                if (n > 0)
                    memcpy(buf, val, n);
                buf[n] = '\0';
                *len = n;
            }
        } else {
            rc = step_status(st, s);
            if (rc == CPIS_OK)
                rc = CPIS_ERR_NOT_FOUND;
        }
        stmt_done(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int store_state_put(struct store *st, const char *key, const char *value,
                    size_t len, uint64_t expected_version)
{
    if (st->ops != NULL)
        return st->ops->state_put(st->be, key, value, len, expected_version);
    lock_store(st);
    int rc = CPIS_ERR_HOST;
    sqlite3_stmt *stmt =
        stmt_get(st, expected_version == 0 ? S_STATE_INSERT : S_STATE_UPDATE);
    if (stmt != NULL) {
        bind_text(stmt, 1, key);
        sqlite3_bind_blob64(stmt, 2, value != NULL ? value : "", len,
                            SQLITE_TRANSIENT);
        if (expected_version != 0)
            sqlite3_bind_int64(stmt, 3, (sqlite3_int64)expected_version);
        rc = step_status(st, sqlite3_step(stmt));
        if (rc == CPIS_OK && sqlite3_changes(st->db) != 1)
            rc = CPIS_ERR_CONFLICT;
        stmt_done(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- deliveries and the summary ---------------------------------------- */

int store_add_delivery(struct store *st, const char *source_name,
                       const char *transport_id, const char *status,
                       const char *kind, const char *notification_id,
                       uint32_t accesses, const char *error,
                       const char *detail, int64_t at_ms)
{
    if (st->ops != NULL)
        return st->ops->add_delivery(st->be, source_name, transport_id, status,
                                     kind, notification_id, accesses, error,
                                     detail, at_ms);
    lock_store(st);
    int rc = CPIS_ERR_HOST;
    sqlite3_stmt *stmt = stmt_get(st, S_DELIVERY_INSERT);
    if (stmt != NULL) {
        bind_text(stmt, 1, source_name);
        bind_text(stmt, 2, transport_id);
        bind_text(stmt, 3, status);
        bind_text(stmt, 4, kind);
        bind_text(stmt, 5, notification_id);
        sqlite3_bind_int64(stmt, 6, accesses);
        bind_text(stmt, 7, error);
        bind_text(stmt, 8, detail);
        sqlite3_bind_int64(stmt, 9, at_ms);
        rc = step_status(st, sqlite3_step(stmt));
        stmt_done(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* Each message's current state, for the summary (issue 12: the summary
 * counts messages, the deliveries table keeps the events).
 *
 * A message is what one delivery names: its source (file) name and its
 * transport (MESH) id.  The same file delivered again - a second replay,
 * another node, a redelivery from quarantine - is the same message; a MESH
 * resend under a new id, or a copy under another name, is another message
 * (which the plugin then judges a duplicate by its notification id).
 *
 * Its state: 'ok' once any delivery of it was accepted (a later delivery
 * of an accepted message reports "duplicate" but does not make it one);
 * otherwise the status of its latest delivery (seq order), so a message
 * rejected on five replays is one rejected message, and a failure that a
 * later delivery cured is no longer a failure.
 *
 * For another host's store (issue 16, PostgreSQL): the same definition,
 * e.g. DISTINCT ON (source_name, transport_id) ... ORDER BY seq DESC plus
 * bool_or(status = 'ok') over the same partition. */
#define MESSAGE_STATES                                                          \
    "WITH m AS (SELECT CASE WHEN ever_ok = 1 THEN 'ok' ELSE status END AS state" \
    " FROM (SELECT status,"                                                     \
    " MAX(CASE WHEN status = 'ok' THEN 1 ELSE 0 END)"                           \
    "  OVER (PARTITION BY source_name, transport_id) AS ever_ok,"               \
    " ROW_NUMBER() OVER (PARTITION BY source_name, transport_id"                \
    "  ORDER BY seq DESC) AS rn FROM deliveries) AS per_delivery"               \
    " WHERE rn = 1) "

int store_summary(struct store *st, struct store_summary *out)
{
    /* Each summary key and the query that computes it from the tables. */
    const struct {
        int64_t *dst;
        const char *sql;
    } q[] = {
        /* messages accepted: distinct notification ids delivered "ok" */
        {&out->notifications,
         "SELECT COUNT(DISTINCT notification_id) FROM deliveries"
         " WHERE status = 'ok' AND COALESCE(kind, '') <> 'ignored'"},
        /* CP-IS files that are not notifications (upload acknowledgements,
         * MESH reports): passed by, neither notifications nor rejected;
         * each file once however often it is delivered (by its id, else
         * its MESH id, else its name) */
        {&out->ignored,
         "SELECT COUNT(DISTINCT COALESCE(NULLIF(notification_id, ''),"
         " NULLIF(transport_id, ''), source_name)) FROM deliveries"
         " WHERE status = 'ok' AND kind = 'ignored'"},
        /* access records in them, each notification counted once */
        {&out->accesses,
         "SELECT COALESCE(SUM(a), 0) FROM (SELECT MAX(accesses) AS a"
         " FROM deliveries WHERE status = 'ok' AND COALESCE(kind, '') <> 'ignored'"
         " GROUP BY notification_id) AS per_notification"},
        /* duplicates, rejected, failed: MESSAGES by their current state
         * (MESSAGE_STATES above), not delivery events */
        {&out->duplicates,
         MESSAGE_STATES "SELECT COUNT(*) FROM m WHERE state = 'duplicate'"},
        {&out->rejected,
         MESSAGE_STATES "SELECT COUNT(*) FROM m WHERE state = 'rejected'"},
        /* messages the plugin neither handled nor quarantined on their
         * latest delivery (host failure, retries exhausted, internal error,
         * unreadable input); a later delivery that succeeds takes them off */
        {&out->failed,
         MESSAGE_STATES "SELECT COUNT(*) FROM m WHERE state NOT IN"
         " ('ok', 'duplicate', 'rejected')"},
        {&out->activities, "SELECT COUNT(*) FROM items WHERE kind = 1"},
        {&out->first_response_alerts,
         "SELECT COUNT(*) FROM items WHERE kind = 2"},
        /* accesses (not alerts: there are 2 alerts per access) that met the
         * follow-up rule; see access_key() for the access identity */
        {&out->first_response_followups,
         "SELECT COUNT(DISTINCT access_id) FROM items"
         " WHERE kind = 2 AND followup = 1"},
        {&out->data_quality_items,
         "SELECT COUNT(*) FROM items WHERE kind = 3"},
        {&out->landing_entries, "SELECT COUNT(*) FROM landing"},
        {&out->landing_updates,
         "SELECT COALESCE(SUM(update_count), 0) FROM landing"},
        {&out->case_notes, "SELECT COUNT(*) FROM case_notes"},
        /* No host-table channel reports episodes yet: the plugin writes one
         * state key "episode/..." per episode it opens, and the mock host
         * counts those keys.  (Episodes on closed or unknown cases have no
         * landing entry, so landing rows cannot be used.) */
        {&out->episodes,
         "SELECT COUNT(*) FROM state WHERE substr(key, 1, 8) = 'episode/'"},
        {&out->records_kept, "SELECT COUNT(*) FROM records"},
        /* messages still held (a redelivered one is no longer counted) */
        {&out->quarantined,
         "SELECT COUNT(*) FROM quarantine WHERE status = 'quarantined'"},
        {&out->closed_on_switch,
         "SELECT COALESCE(SUM(closed), 0) FROM closures"},
        /* the plugin marks a repeat in the entry's detail (docs) */
        {&out->repeat_entries,
         /* plain SQL both stores run: the plugin writes the detail as
          * compact JSON, and "repeat" is a top-level key no other key ends in */
         "SELECT COUNT(*) FROM landing WHERE detail_json LIKE '%\"repeat\":true%'"},
        {&out->notes_completed, "SELECT COUNT(*) FROM note_actions"},
    };
    memset(out, 0, sizeof *out);
    int rc = CPIS_OK;
    lock_store(st);
    /* The summary sorts whole tables (a million rows at 1 000 000
     * deliveries); SQLite's sorter keeps up to cache_size in memory before
     * it spills to a temporary file, so with the file store's 64 MiB page
     * cache these queries would hold a second 64 MiB.  They run with
     * SQLite's default cache instead, restored afterwards. */
    int small_cache = st->ops == NULL && st->is_file &&
                      sqlite3_exec(st->db, "PRAGMA cache_size=-2000", NULL, NULL, NULL) ==
                          SQLITE_OK;
    for (size_t i = 0; i < sizeof q / sizeof q[0] && rc == CPIS_OK; i++)
        rc = st->ops != NULL ? st->ops->query_int(st->be, q[i].sql, q[i].dst)
                             : query_int(st, q[i].sql, q[i].dst);
    if (small_cache) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", STORE_FILE_CACHE_KB);
        sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- quarantine listing and redelivery --------------------------------- */

static char *column_dup(sqlite3_stmt *stmt, int col)
{
    const unsigned char *s = sqlite3_column_text(stmt, col);
    return strdup(s != NULL ? (const char *)s : "");
}

void store_quarantine_row_free(struct store_quarantine_row *row)
{
    free(row->quarantine_id);
    free(row->error_name);
    free(row->detail);
    free(row->source_name);
    free(row->transport_id);
    free(row->notification_id);
    free(row->status);
    free(row->payload);
    memset(row, 0, sizeof *row);
}

/* Fills row from the current result row of a SELECT of QUARANTINE_COLUMNS. */
#define QUARANTINE_COLUMNS                                                    \
    "quarantine_id, error_name, detail, source_name, transport_id,"          \
    " notification_id, status, received_at, payload"

static int row_from_stmt(sqlite3_stmt *stmt, struct store_quarantine_row *row)
{
    memset(row, 0, sizeof *row);
    row->quarantine_id = column_dup(stmt, 0);
    row->error_name = column_dup(stmt, 1);
    row->detail = column_dup(stmt, 2);
    row->source_name = column_dup(stmt, 3);
    row->transport_id = column_dup(stmt, 4);
    row->notification_id = column_dup(stmt, 5);
    row->status = column_dup(stmt, 6);
    row->received_at_ms = sqlite3_column_int64(stmt, 7);
    const void *p = sqlite3_column_blob(stmt, 8);
    size_t n = (size_t)sqlite3_column_bytes(stmt, 8);
    row->payload = malloc(n > 0 ? n : 1);
    if (row->payload != NULL && n > 0)
        memcpy(row->payload, p, n);
    row->payload_len = n;
    if (row->quarantine_id == NULL || row->error_name == NULL ||
        row->detail == NULL || row->source_name == NULL ||
        row->transport_id == NULL || row->notification_id == NULL ||
        row->status == NULL || row->payload == NULL) {
        store_quarantine_row_free(row);
        return CPIS_ERR_NOMEM;
    }
    return CPIS_OK;
}

int store_quarantine_each(struct store *st,
                          void (*fn)(void *user,
                                     const struct store_quarantine_row *row),
                          void *user)
{
    if (st->ops != NULL)
        return st->ops->quarantine_each(st->be, fn, user);
    lock_store(st);
    sqlite3_stmt *stmt;
    int rc = prepare(st, "SELECT " QUARANTINE_COLUMNS " FROM quarantine"
                         " ORDER BY received_at, rowid", &stmt);
    if (rc == CPIS_OK) {
        int s;
        while (rc == CPIS_OK && (s = sqlite3_step(stmt)) == SQLITE_ROW) {
            struct store_quarantine_row row;
            rc = row_from_stmt(stmt, &row);
            if (rc == CPIS_OK) {
                fn(user, &row);
                store_quarantine_row_free(&row);
            }
        }
        if (rc == CPIS_OK)
            rc = step_status(st, s);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int store_quarantine_get(struct store *st, const char *quarantine_id,
                         struct store_quarantine_row *row)
{
    if (st->ops != NULL)
        return st->ops->quarantine_get(st->be, quarantine_id, row);
    memset(row, 0, sizeof *row);
    lock_store(st);
    sqlite3_stmt *stmt;
    int rc = prepare(st, "SELECT " QUARANTINE_COLUMNS " FROM quarantine"
                         " WHERE quarantine_id = ?1", &stmt);
    if (rc == CPIS_OK) {
        bind_text(stmt, 1, quarantine_id);
        int s = sqlite3_step(stmt);
        if (s == SQLITE_ROW)
            rc = row_from_stmt(stmt, row);
        else if ((rc = step_status(st, s)) == CPIS_OK)
            rc = CPIS_ERR_NOT_FOUND;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int store_quarantine_mark(struct store *st, const char *quarantine_id,
                          const char *status)
{
    if (st->ops != NULL)
        return st->ops->quarantine_mark(st->be, quarantine_id, status);
    lock_store(st);
    sqlite3_stmt *stmt;
    int rc = prepare(st, "UPDATE quarantine SET status = ?2"
                         " WHERE quarantine_id = ?1", &stmt);
    if (rc == CPIS_OK) {
        bind_text(stmt, 1, quarantine_id);
        bind_text(stmt, 2, status);
        rc = step_status(st, sqlite3_step(stmt));
        if (rc == CPIS_OK && sqlite3_changes(st->db) == 0)
            rc = CPIS_ERR_NOT_FOUND;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- landing-page preview queries -------------------------------------- */

/* The heading the workflow's case-note stub puts before the space the
 * social worker fills in (workflow/render.c); text after it means the
 * worker has recorded the action taken. */
static const char NOTE_ACTION_MARKER[] =
    "ACTION TAKEN (to be completed by the social worker):";

static const char *column_text(sqlite3_stmt *stmt, int col)
{
    const unsigned char *s = sqlite3_column_text(stmt, col);
    return s != NULL ? (const char *)s : "";
}

int store_landing_each(struct store *st, const char *worker, const char *team,
                       void (*fn)(void *user, const struct store_landing_row *row),
                       void *user)
{
    if (st->ops != NULL)
        return st->ops->landing_each(st->be, worker, team, NOTE_ACTION_MARKER,
                                     fn, user);
    /* The note body holds the child's NHS number: only the state derived
     * from it leaves SQLite, never the text.  Likewise only the last four
     * digits of the NHS number on the child's kept records. */
    static const char sql[] =
        "SELECT l.id, l.revision, l.case_id, l.worker, l.team,"
        " l.notification_id, l.title, COALESCE(l.detail_json, ''),"
        " l.updated_at, COALESCE(n.revision, 0),"
        " CASE WHEN n.id IS NULL THEN 0"
        "      WHEN instr(n.body, ?3) = 0 THEN 1"
        "      WHEN length(trim(substr(n.body, instr(n.body, ?3) + length(?3)),"
        "                       ' ' || char(9, 10, 13))) = 0 THEN 2"
        "      ELSE 3 END,"
        " COALESCE((SELECT substr(r.nhs_number, -4) FROM records r"
        "           WHERE r.case_id = l.case_id AND r.case_id <> ''"
        "           AND length(r.nhs_number) = 10 LIMIT 1), '')"
        " FROM landing l LEFT JOIN case_notes n ON n.id = 'note/' || l.id"
        " WHERE (?1 IS NOT NULL AND l.worker = ?1)"
        "    OR (?2 IS NOT NULL AND l.team = ?2)"
        " ORDER BY l.updated_at DESC, l.created_seq DESC, l.id";
    lock_store(st);
    sqlite3_stmt *stmt;
    int rc = prepare(st, sql, &stmt);
    if (rc == CPIS_OK) {
        if (worker != NULL)
            sqlite3_bind_text(stmt, 1, worker, -1, SQLITE_TRANSIENT);
        if (team != NULL)
            sqlite3_bind_text(stmt, 2, team, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 3, NOTE_ACTION_MARKER, -1, SQLITE_STATIC);
        int s;
        while ((s = sqlite3_step(stmt)) == SQLITE_ROW) {
            struct store_landing_row row = {
                .id = column_text(stmt, 0),
                .revision = sqlite3_column_int64(stmt, 1),
                .case_id = column_text(stmt, 2),
                .worker = column_text(stmt, 3),
                .team = column_text(stmt, 4),
                .notification_id = column_text(stmt, 5),
                .title = column_text(stmt, 6),
                .detail_json = column_text(stmt, 7),
                .updated_at = sqlite3_column_int64(stmt, 8),
                .note_revision = sqlite3_column_int64(stmt, 9),
                .note_state = sqlite3_column_int(stmt, 10),
                .nhs_last4 = column_text(stmt, 11),
            };
            fn(user, &row);
        }
        rc = step_status(st, s);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* ---- case-note stubs and their completion ------------------------------ */

/* Not done: the note commands read the SQLite tables directly, so on the
 * PostgreSQL store they refuse, saying why. */
static int notes_supported(const struct store *st)
{
    if (st->ops == NULL)
        return 1;
    fprintf(stderr, "cpis-mockhost: the note commands need a SQLite store "
                    "(not yet available on PostgreSQL)\n");
    return 0;
}

int store_note_each(struct store *st, const char *case_id, const char *id,
                    void (*fn)(void *user, const struct store_note_row *row),
                    void *user)
{
    if (!notes_supported(st))
        return CPIS_ERR_HOST;
    static const char sql[] =
        "SELECT n.id, n.case_id, n.worker, n.team, n.body, n.revision,"
        " COALESCE(CASE WHEN json_valid(n.detail_json)"
        "   THEN unixepoch(json_extract(n.detail_json, '$.first')) END,"
        "   n.updated_at),"
        " n.updated_at, COALESCE(a.completed_at, 0), COALESCE(a.action, '')"
        " FROM case_notes n LEFT JOIN note_actions a ON a.note_id = n.id"
        " WHERE (?1 IS NOT NULL AND n.case_id = ?1) OR (?2 IS NOT NULL AND n.id = ?2)"
        " ORDER BY n.created_seq, n.id";
    lock_store(st);
    sqlite3_stmt *stmt;
    int rc = prepare(st, sql, &stmt);
    if (rc == CPIS_OK) {
        if (case_id != NULL)
            sqlite3_bind_text(stmt, 1, case_id, -1, SQLITE_TRANSIENT);
        if (id != NULL)
            sqlite3_bind_text(stmt, 2, id, -1, SQLITE_TRANSIENT);
        int s;
        while ((s = sqlite3_step(stmt)) == SQLITE_ROW) {
            struct store_note_row row = {
                .id = column_text(stmt, 0),
                .case_id = column_text(stmt, 1),
                .worker = column_text(stmt, 2),
                .team = column_text(stmt, 3),
                .body = column_text(stmt, 4),
                .revision = sqlite3_column_int64(stmt, 5),
                .first = sqlite3_column_int64(stmt, 6),
                .last = sqlite3_column_int64(stmt, 7),
                .completed_at = sqlite3_column_int64(stmt, 8),
                .action = column_text(stmt, 9),
            };
            fn(user, &row);
        }
        rc = step_status(st, s);
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

int store_note_complete(struct store *st, const char *id, const char *action,
                        int64_t at_ms)
{
    if (!notes_supported(st))
        return CPIS_ERR_HOST;
    lock_store(st);
    sqlite3_stmt *stmt;
    int rc = prepare(st,
                     "INSERT INTO note_actions (note_id, action, completed_at)"
                     " SELECT id, ?2, ?3 FROM case_notes WHERE id = ?1"
                     " ON CONFLICT (note_id) DO UPDATE SET action = excluded.action,"
                     " completed_at = excluded.completed_at",
                     &stmt);
    if (rc == CPIS_OK) {
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(stmt, 2, action, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(stmt, 3, at_ms);
        rc = step_status(st, sqlite3_step(stmt));
        if (rc == CPIS_OK && sqlite3_changes(st->db) == 0)
            rc = CPIS_ERR_NOT_FOUND;
        sqlite3_finalize(stmt);
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}
