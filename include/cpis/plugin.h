/*
 * cpis/plugin.h - the whole contract between a case-management host
 * (CareDirector or the mock host) and the cpis-notify plugin.
 *
 * This header is self-contained: it includes only <stddef.h> and <stdint.h>,
 * compiles as C99 and C11, and no libxml2, cJSON, PCRE2 or SQLite type ever
 * crosses it.
 *
 * Lifecycle (see docs/host-integration.md for a walk-through):
 *
 *   1. The host dlopen()s the plugin and looks up ONE symbol, cpis_plugin_entry.
 *   2. cpis_plugin_entry() returns a static descriptor.  The host compares
 *      descriptor->abi_major with CPIS_ABI_MAJOR and refuses a mismatch.
 *   3. The host fills a struct cpis_host_api (its size first) and calls
 *      descriptor->init().  The plugin refuses a host whose ABI major differs or
 *      whose table is too short for the functions it requires, with a message
 *      that names both versions.  During init, and only then, the plugin calls
 *      host->register_hook() for the events it handles.
 *   4. The host calls the registered hooks, possibly from many threads at once.
 *   5. The host calls the shutdown hook, then descriptor->shutdown(), then dlclose().
 *
 * Conventions used on every function below:
 *   - [thread: any]      may be called from any thread, concurrently.
 *   - [thread: init]     called only while init/shutdown runs; never overlaps a hook.
 *   - "borrowed"         a pointer valid only for the duration of the call; the
 *                        callee copies what it wants to keep.
 *   - Nothing allocated on one side is ever freed by the other side; variable
 *     sized results are written into caller-supplied buffers.
 *   - Every function returning int returns a status from CPIS_STATUS_LIST.
 *
 * Compatibility: the host table and every struct start with their own size and
 * only ever grow by appending fields.  A minor ABI bump appends; a major bump
 * breaks.  A reader must check struct_size before touching a field that was
 * appended after the first release (see CPIS_HAS_FIELD).
 */
#ifndef CPIS_PLUGIN_H
#define CPIS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CPIS_ABI_MAJOR 1u
#define CPIS_ABI_MINOR 1u

/* The name of the single symbol a host looks up with dlsym(). */
#define CPIS_ENTRY_SYMBOL "cpis_plugin_entry"

#if defined(__GNUC__)
#define CPIS_EXPORT __attribute__((visibility("default")))
#define CPIS_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CPIS_EXPORT
#define CPIS_PRINTF(fmt, args)
#endif

/* True when a struct whose first member is its size holds FIELD. */
#define CPIS_HAS_FIELD(ptr, type, field)                                     \
    ((ptr) != NULL &&                                                        \
     (ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* ------------------------------------------------------------------------ */
/* Status codes: one list, one name each (cpis_descriptor.status_name).      */
/* ------------------------------------------------------------------------ */
#define CPIS_STATUS_LIST(X)                                                   \
    X(CPIS_OK, 0, "ok")                                                       \
    X(CPIS_DUPLICATE, 1, "duplicate")          /* already handled: no effect */ \
    X(CPIS_REJECTED, 2, "rejected")            /* message quarantined */      \
    X(CPIS_ERR_INVALID_ARG, -1, "invalid_argument")                           \
    X(CPIS_ERR_NOMEM, -2, "out_of_memory")                                    \
    X(CPIS_ERR_ABI, -3, "abi_mismatch")                                       \
    X(CPIS_ERR_STATE, -4, "wrong_state")       /* e.g. registration after init */ \
    X(CPIS_ERR_NOT_FOUND, -5, "not_found")                                    \
    X(CPIS_ERR_CONFLICT, -6, "conflict")       /* state_put version mismatch */ \
    X(CPIS_ERR_RETRY, -7, "retry_later")       /* transient: deliver again later */ \
    X(CPIS_ERR_HOST, -8, "host_failure")       /* permanent host failure */   \
    X(CPIS_ERR_CONFIG, -9, "bad_config")                                      \
    X(CPIS_ERR_UNSUPPORTED, -10, "unsupported")                               \
    X(CPIS_ERR_BUFFER, -11, "buffer_too_small")                               \
    X(CPIS_ERR_INTERNAL, -12, "internal_error")

enum cpis_status {
#define CPIS_X_ENUM(sym, val, name) sym = (val),
    CPIS_STATUS_LIST(CPIS_X_ENUM)
#undef CPIS_X_ENUM
    CPIS_STATUS_END_ = 3
};

/* Why a message was rejected (the contract's parse error codes). */
#define CPIS_MESSAGE_ERROR_LIST(X)                                            \
    X(CPIS_MSG_OK, 0, "ok")                                                   \
    X(CPIS_MSG_MALFORMED, 1, "malformed")                                     \
    X(CPIS_MSG_UNSUPPORTED, 2, "unsupported_message")                         \
    X(CPIS_MSG_MISSING_FIELD, 3, "missing_field")                             \
    X(CPIS_MSG_INVALID_NHS_NUMBER, 4, "invalid_nhs_number")                   \
    X(CPIS_MSG_INVALID_ODS_CODE, 5, "invalid_ods_code")                       \
    X(CPIS_MSG_INVALID_TIMESTAMP, 6, "invalid_timestamp")                     \
    X(CPIS_MSG_TOO_LARGE, 7, "too_large")                                     \
    X(CPIS_MSG_FORBIDDEN_CONSTRUCT, 8, "forbidden_construct")                 \
    X(CPIS_MSG_BAD_ENCODING, 9, "bad_encoding")                               \
    X(CPIS_MSG_HOST_FAILURE, 10, "host_failure")

enum cpis_message_error {
#define CPIS_X_ENUM(sym, val, name) sym = (val),
    CPIS_MESSAGE_ERROR_LIST(CPIS_X_ENUM)
#undef CPIS_X_ENUM
    CPIS_MSG_END_ = 11
};

/* ------------------------------------------------------------------------ */
/* Plain data exchanged through the host table.                             */
/* All strings are NUL-terminated UTF-8.  All times are Unix epoch seconds,  */
/* UTC, unless the name ends in _ms.                                         */
/* ------------------------------------------------------------------------ */

enum cpis_log_level {
    CPIS_LOG_ERROR = 0,
    CPIS_LOG_WARN = 1,
    CPIS_LOG_INFO = 2,
    CPIS_LOG_DEBUG = 3
};

enum cpis_case_status {
    CPIS_CASE_UNKNOWN = 0, /* the host has no case for this child */
    CPIS_CASE_OPEN = 1,
    CPIS_CASE_CLOSED = 2
};

/* Filled by host->case_lookup.  Fixed-size fields: the host truncates.
 * The caller (the plugin) zeroes the struct and sets struct_size to the size
 * it knows; the host writes only the fields that fit in struct_size (check
 * with CPIS_HAS_FIELD) and, from ABI 1.1 on, sets struct_size to the size it
 * filled (the smaller of the two).  A 1.0 host leaves the appended fields
 * untouched (so still zero): the plugin reads them only when the host's
 * table says ABI 1.1 or later and CPIS_HAS_FIELD holds after the call. */
struct cpis_case {
    uint32_t struct_size;
    uint32_t status; /* enum cpis_case_status */
    char case_id[64];
    char worker[64];  /* allocated social worker's user id, "" if none */
    char manager[64]; /* team manager's user id, "" if none */
    char team[128];   /* team name / team inbox, "" if none */
    /* ---- appended in ABI 1.1 ---- */
    char child_name[128];   /* the child's name as the host knows it, "" if none */
    char date_of_birth[16]; /* "YYYY-MM-DD", "" if unknown */
};

enum cpis_item_kind {
    CPIS_ITEM_TASK_ACTIVITY = 1,       /* legacy: a task activity */
    CPIS_ITEM_FIRST_RESPONSE_ALERT = 2, /* legacy: an alert to First Response */
    CPIS_ITEM_DATA_QUALITY = 3         /* inactive NHS number: fix the upload */
};

/* A work item (task activity, First Response alert, data-quality item).
 * item_id is the idempotency key: a host given the same item_id twice keeps
 * one item and returns CPIS_OK.  Two exceptions, for First Response alerts
 * and the legacy follow-up rule (an access arriving late can bring earlier
 * accesses to the threshold; the plugin then sends their alerts again with
 * followup 1 and no notification id, a "raise"):
 *   - the kept item has followup 0 and the new one 1: the host sets the
 *     kept item's followup to 1, takes the new subject and puts the new
 *     body above the kept one;
 *   - the kept item has no notification id (it was created by a raise that
 *     reached the host first) and the new one has: the host takes the new
 *     notification id and puts the new body below the kept one.
 * Otherwise the second is a no-op.  The follow-up flag never goes down. */
struct cpis_item {
    uint32_t struct_size;
    uint32_t kind;               /* enum cpis_item_kind */
    const char *item_id;         /* borrowed, required */
    const char *case_id;         /* borrowed, "" when no case */
    const char *recipient;       /* borrowed, user id, team inbox or role */
    const char *notification_id; /* borrowed */
    const char *subject;         /* borrowed, one line */
    const char *body;            /* borrowed, plain text, may hold newlines */
    uint32_t followup;           /* 1 when the legacy follow-up rule is met */
    uint32_t reserved_;
    int64_t occurred_at;         /* access time the item is about */
    const char *access_id;       /* borrowed, the access the item is about
                                    (items of one access share it), "" if none */
};

/* An entry in a practitioner's landing-page CP-IS module, and a case-note
 * stub: both are upserts keyed by id.  A later revision replaces an earlier
 * one; a revision not greater than the stored one is a no-op returning
 * CPIS_OK (so re-delivery never duplicates). */
struct cpis_document {
    uint32_t struct_size;
    uint32_t revision;           /* 1 for the first version */
    const char *id;              /* borrowed, required, stable across updates */
    const char *case_id;         /* borrowed */
    const char *worker;          /* borrowed, "" if none */
    const char *team;            /* borrowed, "" if none */
    const char *notification_id; /* borrowed, latest notification */
    const char *title;           /* borrowed, one line */
    const char *body;            /* borrowed, plain text */
    const char *detail_json;     /* borrowed, machine-readable JSON, may be NULL */
    int64_t updated_at;          /* latest access time in the document */
};

/* One access kept on the child's record.  record_id is the idempotency key. */
struct cpis_record {
    uint32_t struct_size;
    uint32_t reserved_;
    const char *record_id;       /* borrowed */
    const char *nhs_number;      /* borrowed, 10 digits */
    const char *case_id;         /* borrowed, "" when unknown */
    const char *notification_id; /* borrowed */
    const char *summary;         /* borrowed, one line */
    const char *detail_json;     /* borrowed, JSON */
    int64_t accessed_at;
};

/* A message the plugin could not handle.  quarantine_id is idempotent. */
struct cpis_quarantine {
    uint32_t struct_size;
    uint32_t error;              /* enum cpis_message_error */
    const char *quarantine_id;   /* borrowed */
    const char *error_name;      /* borrowed, e.g. "invalid_nhs_number" */
    const char *detail;          /* borrowed, never holds an NHS number or text */
    const char *source_name;     /* borrowed, from the event */
    const char *transport_id;    /* borrowed, MESH message id or "" */
    const char *notification_id; /* borrowed, "" when not known */
    const uint8_t *payload;      /* borrowed, the message as received */
    size_t payload_len;
};

/* ABI 1.1: the host tells the plugin that a practitioner completed a
 * case-note stub the plugin wrote (through write_case_note). */
struct cpis_note_completion {
    uint32_t struct_size;
    uint32_t reserved_;
    const char *note_id;         /* borrowed, the cpis_document id of the stub */
    const char *case_id;         /* borrowed, the case the stub is on */
    const char *nhs_number;      /* borrowed, the case's child, 10 digits */
    int64_t completed_at;        /* when the practitioner completed it */
};

enum cpis_event_kind {
    CPIS_EVENT_NOTIFICATION = 1
};

/* An inbound message, as the host's MESH inbox received it. */
struct cpis_event {
    uint32_t struct_size;
    uint32_t kind;              /* enum cpis_event_kind */
    const uint8_t *payload;     /* borrowed, payload_len bytes, not NUL-terminated */
    size_t payload_len;
    const char *content_type;   /* borrowed, e.g. "application/xml",
                                   "application/fhir+json"; NULL = sniff */
    const char *source_name;    /* borrowed, file or message name for errors */
    const char *transport_id;   /* borrowed, MESH DTSId, NULL/"" if none */
    const char *local_id;       /* borrowed, MESH LocalId, NULL/"" if none */
    int64_t received_at_ms;
    /* ---- appended in ABI 1.1 (check with CPIS_HAS_FIELD) ---- */
    const char *content_encoding; /* borrowed, "gzip" when the MESH control
                                     file says Compress or IsCompressed Y;
                                     the plugin inflates the payload under
                                     its size limit (applied to the inflated
                                     bytes).  NULL/"" = as is */
    const char *mesh_message_type; /* borrowed, the control file's
                                      MessageType ("Data", "Report"); a
                                      "Report" is a MESH delivery report,
                                      not a notification: outcome kind
                                      "ignored".  NULL/"" = Data */
    const char *workflow_id;    /* borrowed, MESH WorkflowId, kept on the
                                   record; NULL/"" if none */
};

/* What the plugin did with one event, written by the notification hook. */
struct cpis_outcome {
    uint32_t struct_size;       /* set by the host */
    int32_t status;             /* the hook's return value */
    uint32_t error;             /* enum cpis_message_error when REJECTED */
    uint32_t accesses;          /* access records in the notification(s) */
    char kind[24];              /* "access", "inactive_nhs_number", "empty",
                                   "ignored" (not a notification: detail says
                                   what, e.g. the upload acknowledgement or a
                                   MESH report; status CPIS_OK, nothing
                                   written); for a file holding several
                                   notifications, the first one's kind and id */
    char notification_id[128];
    char detail[256];           /* human-readable reason; no NHS number or text */
};

/* Configuration handed to init and to the configuration-changed hook. */
struct cpis_config_source {
    uint32_t struct_size;
    uint32_t reserved_;
    const char *json;           /* borrowed, the admin config (docs/reference.md) */
    size_t json_len;
    const char *base_dir;       /* borrowed, for relative paths; NULL = cwd */
    const char *const *ods_paths; /* borrowed, NULL-terminated; overrides
                                     ods.paths when non-NULL */
};

/* ------------------------------------------------------------------------ */
/* Hooks the plugin registers during init.                                   */
/* ------------------------------------------------------------------------ */
enum cpis_hook_kind {
    CPIS_HOOK_NOTIFICATION = 1,  /* cpis_notification_hook */
    CPIS_HOOK_CONFIG_CHANGED = 2, /* cpis_config_hook */
    CPIS_HOOK_SHUTDOWN = 3,      /* cpis_shutdown_hook */
    /* ---- appended in ABI 1.1 ---- */
    CPIS_HOOK_NOTE_COMPLETED = 4 /* cpis_note_hook; a 1.0 host answers
                                    CPIS_ERR_UNSUPPORTED and the plugin
                                    works without it (entries stay
                                    awaiting action) */
};

/* [thread: any] Handle one inbound event.  Returns CPIS_OK (handled),
 * CPIS_DUPLICATE (already handled: nothing done), CPIS_REJECTED (quarantined
 * through the host), CPIS_ERR_RETRY (a host call failed transiently: deliver
 * the same event again later; whatever had succeeded is not repeated), or
 * another error.  out may be NULL. */
typedef int (*cpis_notification_hook)(void *user, const struct cpis_event *ev,
                                      struct cpis_outcome *out);
/* [thread: any] Apply a new configuration.  On error the running config is
 * kept and err (may be NULL) names the key and the reason. */
typedef int (*cpis_config_hook)(void *user, const struct cpis_config_source *src,
                                char *err, size_t err_cap);
/* [thread: any] (ABI 1.1) A case-note stub was completed: the plugin marks
 * the episode's landing entry done (publish_landing with a new revision).
 * CPIS_OK (also when it was already done), CPIS_ERR_NOT_FOUND when the
 * plugin no longer knows the stub's episode, CPIS_ERR_RETRY, or another
 * error. */
typedef int (*cpis_note_hook)(void *user, const struct cpis_note_completion *nc);
/* [thread: init] The host is about to shut the plugin down. */
typedef void (*cpis_shutdown_hook)(void *user);

/* ------------------------------------------------------------------------ */
/* The host API table.  The host owns it; it must stay valid until          */
/* descriptor->shutdown returns.  Grows only by appending.                  */
/* ------------------------------------------------------------------------ */
struct cpis_host_api {
    uint32_t struct_size;  /* sizeof(struct cpis_host_api) as the host knows it */
    uint32_t abi_major;    /* CPIS_ABI_MAJOR the host was built with */
    uint32_t abi_minor;
    uint32_t reserved_;
    void *ctx;             /* passed back as the first argument of every call */
    const char *host_name; /* borrowed for the plugin's lifetime */

    /* ---- required functions (ABI 1.0) ---- */

    /* [thread: any] A line for the host's log.  msg is borrowed and already
     * free of NHS numbers, names and message text. */
    void (*log)(void *ctx, int level, const char *msg);

    /* [thread: init] Register a hook; fn is one of the cpis_*_hook types cast
     * to void (*)(void).  Outside init the host returns CPIS_ERR_STATE. */
    int (*register_hook)(void *ctx, int hook_kind, void (*fn)(void), void *user);

    /* [thread: any] Look up the child's case.  nhs_number is 10 digits.
     * CPIS_OK with out->status set, or CPIS_ERR_RETRY. */
    int (*case_lookup)(void *ctx, const char *nhs_number, struct cpis_case *out);

    /* [thread: any] Create a work item; idempotent on item->item_id. */
    int (*create_item)(void *ctx, const struct cpis_item *item);

    /* [thread: any] Keep an access on the child's record; idempotent. */
    int (*keep_record)(void *ctx, const struct cpis_record *rec);

    /* [thread: any] The plugin's durable keyed state (the plugin keeps none of
     * its own).  state_get copies the value into buf; CPIS_ERR_BUFFER with
     * *len set to the size needed when cap is too small; CPIS_ERR_NOT_FOUND
     * when absent (*version = 0).  state_put writes only when the stored
     * version equals expected_version (0 = must not exist), then the stored
     * version becomes expected_version + 1; else CPIS_ERR_CONFLICT. */
    int (*state_get)(void *ctx, const char *key, char *buf, size_t cap,
                     size_t *len, uint64_t *version);
    int (*state_put)(void *ctx, const char *key, const char *value, size_t len,
                     uint64_t expected_version);

    /* [thread: any] Keep a message that could not be handled; idempotent. */
    int (*quarantine)(void *ctx, const struct cpis_quarantine *q);

    /* ---- optional functions (ABI 1.0): NULL means "not offered" ---- */

    /* [thread: any] Current time, epoch milliseconds. NULL: the plugin uses
     * the system clock. */
    int64_t (*clock_ms)(void *ctx);

    /* [thread: any] Publish or update a landing-page module entry.
     * NULL: the host has no landing page; the plugin works degraded. */
    int (*publish_landing)(void *ctx, const struct cpis_document *entry);

    /* [thread: any] Write or update a case-note stub on a case.
     * NULL: the plugin works degraded. */
    int (*write_case_note)(void *ctx, const struct cpis_document *note);

    /* [thread: any] Close every still-open item of this kind that this plugin
     * created, with a note saying why; *closed gets how many. Idempotent.
     * NULL: the plugin logs that legacy items must be closed by hand. */
    int (*close_items)(void *ctx, int item_kind, const char *reason,
                       uint64_t *closed);
};

/* The first host-table size the plugin accepts: every required function. */
#define CPIS_HOST_API_MIN_SIZE                                                \
    (offsetof(struct cpis_host_api, quarantine) + sizeof(void (*)(void)))

/* ------------------------------------------------------------------------ */
/* The plugin descriptor and the single exported entry point.               */
/* ------------------------------------------------------------------------ */
struct cpis_plugin; /* opaque, owned by the plugin */

struct cpis_descriptor {
    uint32_t struct_size;
    uint32_t abi_major;    /* CPIS_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;
    uint32_t reserved_;
    const char *name;      /* static */
    const char *version;   /* static, the plugin's own version */

    /* [thread: init] Check the host table, read the configuration, register
     * hooks.  host must stay valid until shutdown.  On failure returns an
     * error, writes a reason into err (may be NULL) and *out stays NULL. */
    int (*init)(const struct cpis_host_api *host,
                const struct cpis_config_source *config,
                struct cpis_plugin **out, char *err, size_t err_cap);

    /* [thread: init] Release everything init created.  NULL is allowed. */
    void (*shutdown)(struct cpis_plugin *plugin);

    /* [thread: any] Parse and enrich a message without acting on it: writes
     * the contract's `parse` JSON lines (one per access record, or one error
     * line) into out, NUL-terminated.  CPIS_OK, CPIS_REJECTED (an error line
     * was written), or CPIS_ERR_BUFFER with *len = bytes needed. */
    int (*parse)(struct cpis_plugin *plugin, const struct cpis_event *ev,
                 char *out, size_t cap, size_t *len);

    /* [thread: any] Static name of a status or message error code. */
    const char *(*status_name)(int status);
    const char *(*message_error_name)(int error);

    /* [thread: any] Check a configuration without applying it; err gets every
     * problem, one per line, naming the key and the expected value.  With
     * effective non-NULL, writes the effective configuration as JSON (every
     * flag with its value and "default" or "explicit"). */
    int (*config_check)(const struct cpis_config_source *config, char *err,
                        size_t err_cap, char *effective, size_t eff_cap);
};

typedef const struct cpis_descriptor *(*cpis_entry_fn)(void);

/* The only symbol the plugin exports. [thread: any] Returns a static
 * descriptor; never NULL. */
CPIS_EXPORT const struct cpis_descriptor *cpis_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif /* CPIS_PLUGIN_H */
