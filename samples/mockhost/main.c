/*
 * main.c - cpis-mockhost: the command line (docs/reference.md, "The mock
 * host's command line").  It is also the reference for host integrators:
 * read it top-down for the order a host does things in.
 *
 *   1. read the case fixture and the admin configuration;
 *   2. open the store (SQLite, in memory or --db FILE);
 *   3. load the plugin (loader.c: dlopen, entry symbol, ABI check);
 *   4. init it with the host table (host.c) and the configuration;
 *   5. hand it events (deliver) or messages to parse (parse);
 *   6. shutdown hook, descriptor->shutdown, dlclose; free everything.
 *
 * Exit status: 0 every input accepted, 1 any input rejected, quarantined,
 * failed or unreadable (or an unknown worker or team), 2 usage or
 * configuration error (including a named file that does not exist).
 *
 * Conventions: options before or after the command, "--opt=value" as well
 * as "--opt value", "--" ends the options, --version, "help COMMAND", and
 * tables on a terminal where a script gets JSON (report, quarantine list;
 * --json forces JSON).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libxml/parser.h>

#include "cpis/plugin.h"

#include "cases.h"
#include "configcmd.h"
#include "compare.h"
#include "generate.h"
#include "host.h"
#include "inputs.h"
#include "landing.h"
#include "notes.h"
#include "loader.h"
#include "paths.h"
#include "progress.h"
#include "store.h"
#include "store_backend.h"

enum { EXIT_ACCEPTED = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2 };

/* The largest file the mock host reads (the plugin applies its own, smaller
 * limit from the configuration and rejects a larger message as too_large). */
#define MAX_INPUT_BYTES (64u * 1024u * 1024u)

static const char PROG[] = "cpis-mockhost";
/* The mock host's own version (the plugin reports its own). */
#define MOCKHOST_VERSION "0.1.0"

/* ---- usage ---------------------------------------------------------------- */

static const char USAGE[] =
    "usage: cpis-mockhost [--plugin SO] [--config JSON] [--cases JSON]\n"
    "                     [--ods PATH]... [--db FILE] [-v] COMMAND ARGS\n"
    "\n"
    "commands:\n"
    "  parse FILE...          one JSON line per access record found, or one\n"
    "                         error line per rejected file\n"
    "  deliver PATH...        deliver files (or every file in a folder, MESH\n"
    "                         .ctl/.dat pairs included) as inbound events, in\n"
    "                         name order; one JSON line per host action taken\n"
    "  replay PATH...         like deliver, then one JSON summary line of this\n"
    "                         run's counts\n"
    "  report                 the summary of what the --db store holds\n"
    "                         (a table on a terminal, JSON with --json)\n"
    "  quarantine list        the quarantined messages (a table on a terminal,\n"
    "                         one JSON line each with --json)\n"
    "  quarantine redeliver ID\n"
    "                         deliver a quarantined message again\n"
    "  landing --worker ID --html FILE\n"
    "                         the worker's (or --team NAME's) CP-IS landing-page\n"
    "                         module, as a self-contained HTML page, from --db\n"
    "  config check FILE      validate an admin configuration; every problem\n"
    "                         is named with its key and the expected value\n"
    "  config show            the effective --config: each value and its source\n"
    "  generate [OPTIONS] OUT_DIR\n"
    "                         write a reproducible notification workload and\n"
    "                         its case fixture (generate --help)\n"
    "  compare CONFIG_A CONFIG_B PATH... [--json]\n"
    "                         replay the same stream under two configs and\n"
    "                         print each count side by side (compare --help)\n"
    "  help [COMMAND]         this text, or one command's\n"
    "\n"
    "options (\"--opt value\" or \"--opt=value\"; \"--\" ends the options):\n"
    "  --plugin SO    the plugin (default: cpis_notify.so beside this program)\n"
    "  --config JSON  admin configuration (default: samples/config/v6.json)\n"
    "  --cases JSON   case fixture (default: samples/cases.json)\n"
    "  --ods PATH     ODS file or folder; repeatable; replaces ods.paths\n"
    "  --db FILE      persistent store (default: in memory): a SQLite file, or\n"
    "                 a PostgreSQL connection string (postgresql://..., or\n"
    "                 \"host=/run/pg dbname=cpis\"), which several mock host\n"
    "                 processes (nodes) may share;\n"
    "                 report, quarantine and landing need an existing one\n"
    "  --reconfigure JSON\n"
    "                 after init, hand this config to the plugin's\n"
    "                 config-changed hook; if refused, the error is printed,\n"
    "                 the command runs on the old config and exits 2\n"
    "  --commit-every N\n"
    "                 deliver, replay, quarantine redeliver: deliveries per\n"
    "                 store transaction (group commit; default 256; 1 = one\n"
    "                 transaction per delivery); a SQLite store only\n"
    "  --commit-ms MS the longest a group-commit batch stays open (default\n"
    "                 50).  Output about a delivery is printed only after the\n"
    "                 commit that holds it\n"
    "  --json         report, quarantine list: JSON even on a terminal\n"
    "  -v             pass every plugin log line, at every level, to stderr\n"
    "                 (without -v: only the plugin's errors that no line of\n"
    "                 the mock host already reports)\n"
    "  --version      the mock host's version, the plugin's version and ABI\n"
    "  --help         this text; COMMAND --help for one command\n"
    "\n"
    "Defaults are looked up relative to the current folder, then relative to\n"
    "the program's ../samples.  A file named in an option must exist.\n"
    "\n"
    "Exit status: 0 every input accepted; 1 any input rejected, quarantined,\n"
    "failed or unreadable, or an unknown worker or team; 2 usage or\n"
    "configuration error (a missing --config, --cases, --plugin or --db file\n"
    "included).\n"
    "\n"
    "test knobs (environment): CPIS_MOCK_NOW_MS=ms fixes the host clock;\n"
    "CPIS_MOCK_FAIL_CALL=k fails the k-th host call once with retry_later\n"
    "(CPIS_MOCK_FAIL_COUNT=n: n calls in a row; CPIS_MOCK_FAIL_MODE=permanent:\n"
    "host_failure instead);\n"
    "CPIS_MOCK_OMIT=clock_ms,publish_landing,write_case_note,close_items\n"
    "offers a host table without those optional functions;\n"
    "CPIS_MOCK_FAIL_COMMIT=k rolls the k-th group-commit batch back instead;\n"
    "CPIS_MOCK_KILL_AFTER=n kills the process (SIGKILL) as delivery n+1\n"
    "starts, before the batch holding delivery n is committed.\n";

/* The exit-status paragraph of the input commands' help. */
#define EXIT_INPUTS                                                           \
    "Exit status: 0 every input accepted (duplicates included); 1 any input\n" \
    "rejected, quarantined, failed or unreadable (the others are still\n"     \
    "handled); 2 usage or configuration error.\n"
#define EXIT_STORE                                                            \
    "Exit status: 0 printed; 2 usage error, or the store is missing or\n"     \
    "cannot be read.\n"

struct command_help {
    const char *name;
    const char *text;
};

static const struct command_help COMMAND_HELP[] = {
    {"parse",
     "usage: cpis-mockhost [OPTIONS] parse FILE...\n"
     "Parse and enrich each message without acting on it.  Prints the\n"
     "plugin's JSON lines: one per access record, or one error line\n"
     "{\"file\":..,\"ok\":false,\"error\":CODE,\"detail\":..} per rejected file.\n"
     "Folders stand for their files; a MESH .dat is parsed without its .ctl.\n"
     "The lines are documented in docs/reference.md.\n"
     EXIT_INPUTS},
    {"deliver",
     "usage: cpis-mockhost [OPTIONS] deliver PATH...\n"
     "Deliver each file, or every file of a folder in name order, as an\n"
     "inbound event.  NAME.ctl beside NAME.dat is one MESH message (DTSId and\n"
     "LocalId from the control file).  Prints one JSON line per host action\n"
     "that changed the store ({\"action\":KIND,\"case\":..,\"recipient\":..,\n"
     "\"notification\":..,\"id\":..}) and {\"action\":\"duplicate\",..} for a\n"
     "message already handled.  Action lines also carry \"file\" and, by\n"
     "kind, \"revision\", \"team\", \"followup\" or \"error\"; a legacy switch\n"
     "that closes items prints {\"action\":\"items_closed\",\"kind\":..,\"closed\":..}.\n"
     "A retry_later outcome is delivered again up to 3 times.  Files named\n"
     "on the command line go in the order given; a folder's files in name\n"
     "order.  A missing or unreadable file is named on stderr.\n"
     EXIT_INPUTS},
    {"replay",
     "usage: cpis-mockhost [OPTIONS] replay PATH...\n"
     "Like deliver, then print one JSON summary line with the keys of report,\n"
     "counting what this run did (with --db, `report` gives the store's\n"
     "totals).\n"
     EXIT_INPUTS},
    {"report",
     "usage: cpis-mockhost --db FILE report [--json]\n"
     "Print the summary of the store: notifications, accesses, duplicates,\n"
     "rejected, activities, first_response_alerts, first_response_followups,\n"
     "landing_entries, case_notes, episodes, records_kept, quarantined,\n"
     "closed_on_switch, data_quality_items, landing_updates, failed,\n"
     "ignored, repeat_entries (landing entries marked as a repeat),\n"
     "notes_completed\n"
     "(docs/reference.md says what each counts).  On a terminal, a table;\n"
     "otherwise, or with --json, one JSON line.  Without --db the store\n"
     "would be a new, empty one in memory: that is an error.\n"
     EXIT_STORE},
    {"quarantine",
     "usage: cpis-mockhost --db FILE quarantine list [--json]\n"
     "       cpis-mockhost [OPTIONS] --db FILE quarantine redeliver ID\n"
     "list: the quarantined messages, oldest first: a table on a terminal,\n"
     "otherwise (or with --json) one JSON line each (id, error, detail,\n"
     "source, transport_id, notification, time, status, bytes).\n"
     "redeliver: deliver the stored payload again as a new event; on\n"
     "success it is marked redelivered.\n"
     "Exit status: list: 0 printed, 2 usage error or no readable store;\n"
     "redeliver: 0 accepted, 1 rejected again, 2 usage error or no such id.\n"},
    {"help",
     "usage: cpis-mockhost help [COMMAND]\n"
     "The overview, or one command's help (the same as COMMAND --help).\n"
     "Exit status: 0, or 2 for an unknown command.\n"},
    {"landing", LANDING_HELP},
    {"note", NOTE_HELP},
    {"config", CONFIG_HELP},
};

static const char *command_help(const char *name)
{
    for (size_t i = 0; i < sizeof COMMAND_HELP / sizeof COMMAND_HELP[0]; i++)
        if (strcmp(COMMAND_HELP[i].name, name) == 0)
            return COMMAND_HELP[i].text;
    return NULL;
}

static int usage_error(const char *fmt, ...) CPIS_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", PROG);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (try %s --help)\n", PROG);
    return EXIT_USAGE;
}

/* ---- options ---------------------------------------------------------------- */

struct options {
    const char *plugin_path;
    const char *config_path;
    const char *cases_path;
    const char **ods;   /* NULL-terminated, or NULL when no --ods */
    size_t nods;
    const char *db;
    const char *reconfigure; /* a config applied through the config hook */
    const char *commit_every; /* --commit-every N (NULL: the store's default) */
    const char *commit_ms;    /* --commit-ms MS */
    int reconfigure_refused; /* set when the plugin refused it */
    int verbose;
    int help;
    int version;        /* --version */
    int json;           /* --json: report and quarantine list as JSON */
    const char *command;
    char **args;        /* the command's operands (not options) */
    size_t nargs;
    /* defaults found beside the binary, owned here */
    char *owned_plugin, *owned_config, *owned_cases;
};

static void options_free(struct options *o)
{
    free(o->ods);
    free(o->args);
    free(o->owned_plugin);
    free(o->owned_config);
    free(o->owned_cases);
}

/* Options may come before or after the command; "--" ends them.  Returns
 * 0, or EXIT_USAGE after printing why. */
static int parse_options(struct options *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->args = calloc((size_t)argc + 1, sizeof *o->args);
    o->ods = calloc((size_t)argc + 1, sizeof *o->ods);
    if (o->args == NULL || o->ods == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return EXIT_USAGE;
    }
    int only_operands = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_operands && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) {
                only_operands = 1;
                continue;
            }
            if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                o->help = 1;
                continue;
            }
            if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
                o->verbose = 1;
                continue;
            }
            if (strcmp(a, "--version") == 0) {
                o->version = 1;
                continue;
            }
            int own_options = o->command != NULL && (strcmp(o->command, "landing") == 0 ||
                                                     strcmp(o->command, "note") == 0 ||
                                                     strcmp(o->command, "config") == 0);
            if (strcmp(a, "--json") == 0 && !own_options) {
                o->json = 1;
                continue;
            }
            const char **slot = NULL;
            if (strcmp(a, "--plugin") == 0)
                slot = &o->plugin_path;
            else if (strcmp(a, "--config") == 0)
                slot = &o->config_path;
            else if (strcmp(a, "--cases") == 0)
                slot = &o->cases_path;
            else if (strcmp(a, "--db") == 0)
                slot = &o->db;
            else if (strcmp(a, "--reconfigure") == 0)
                slot = &o->reconfigure;
            else if (strcmp(a, "--commit-every") == 0)
                slot = &o->commit_every;
            else if (strcmp(a, "--commit-ms") == 0)
                slot = &o->commit_ms;
            else if (strcmp(a, "--ods") == 0)
                slot = &o->ods[o->nods];
            else if (own_options) {
                /* landing and config read their own options (--worker,
                 * --team, --html, --json): landing.c, configcmd.c */
                o->args[o->nargs++] = argv[i];
                continue;
            } else
                return usage_error("unknown option %s", a);
            if (i + 1 >= argc)
                return usage_error("option %s needs a value", a);
            *slot = argv[++i];
            if (slot == &o->ods[o->nods])
                o->nods++;
            continue;
        }
        if (o->command == NULL)
            o->command = a;
        else
            o->args[o->nargs++] = argv[i];
    }
    if (o->nods == 0) {
        free(o->ods);
        o->ods = NULL; /* no --ods: the config's ods.paths apply */
    }
    const char *const *nums[] = {&o->commit_every, &o->commit_ms};
    const char *const names[] = {"--commit-every", "--commit-ms"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = *nums[i];
        if (v != NULL && (v[0] == '\0' || strspn(v, "0123456789") != strlen(v) ||
                          strlen(v) > 9 || (i == 0 && strtoul(v, NULL, 10) == 0)))
            return usage_error("%s needs a %s number (got \"%s\")", names[i],
                               i == 0 ? "positive" : "whole", v);
    }
    return 0;
}

/* ---- default paths ------------------------------------------------------------ */

/* A default sample file: `rel` under the current folder if it exists, else
 * under the program's ../ (the build folder sits beside samples/).  When
 * neither exists, the cwd-relative name, so the error names what was
 * looked for.  *owned receives what must be freed. */
static const char *default_sample(const char *rel, char **owned)
{
    if (access(rel, R_OK) == 0)
        return rel;
    size_t n = strlen(rel) + 4;
    char up[PATH_MAX];
    if (n > sizeof up)
        return rel;
    snprintf(up, sizeof up, "../%s", rel);
    char *p = beside_program(up);
    if (p != NULL && access(p, R_OK) == 0) {
        *owned = p;
        return p;
    }
    free(p);
    return rel;
}

static int resolve_defaults(struct options *o)
{
    if (o->plugin_path == NULL) {
        o->owned_plugin = beside_program("cpis_notify.so");
        if (o->owned_plugin == NULL) {
            fprintf(stderr, "%s: cannot find the program's folder; use --plugin\n",
                    PROG);
            return EXIT_USAGE;
        }
        o->plugin_path = o->owned_plugin;
    }
    if (o->config_path == NULL)
        o->config_path = default_sample("samples/config/v6.json", &o->owned_config);
    if (o->cases_path == NULL)
        o->cases_path = default_sample("samples/cases.json", &o->owned_cases);
    if (o->plugin_path == NULL || o->config_path == NULL || o->cases_path == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return EXIT_USAGE;
    }
    return 0;
}

/* ---- the session: store, fixture, configuration, plugin ----------------------- */

struct session {
    struct options *opt;
    struct mock_host host;
    struct loaded_plugin lp;
    char *config_text;
    size_t config_len;
    char *config_dir;
    /* replay: the store's counts before this run, read before the plugin's
     * init (a switch of version closes items during init: this run's). */
    int want_before;
    struct store_summary before;
};

static void session_close(struct session *s)
{
    /* whatever a run left uncommitted (each command commits its own) */
    host_batch_commit(&s->host);
    plugin_unload(&s->lp, &s->host);
    store_close(s->host.store);
    cases_free(s->host.cases);
    free(s->config_text);
    free(s->config_dir);
    memset(&s->host, 0, sizeof s->host);
}

/* The folder part of a path ("." when none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Opens the store only (report, quarantine list). */
static int session_open_store(struct session *s, struct options *o)
{
    char err[512];
    memset(s, 0, sizeof *s);
    s->opt = o;
    if (host_read_env(&s->host, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        return EXIT_USAGE;
    }
    s->host.verbose = o->verbose;
    s->host.store = store_open(o->db, err, sizeof err);
    if (s->host.store == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, store_label(o->db),
                err);
        return EXIT_USAGE;
    }
    store_set_commit_every(
        s->host.store,
        o->commit_every ? (unsigned)strtoul(o->commit_every, NULL, 10) : STORE_COMMIT_EVERY,
        o->commit_ms ? (unsigned)strtoul(o->commit_ms, NULL, 10) : STORE_COMMIT_MS);
    return 0;
}

/* A configuration change while running, the way a host applies an admin's
 * edit: the new config goes to the plugin's config-changed hook; a refused
 * config leaves the running one in place (the plugin's promise), so the
 * command still runs, but the process exits 2 at the end. */
static int session_reconfigure(struct session *s, const char *path)
{
    char err[1024];
    size_t len = 0;
    char *text = (char *)read_file(path, MAX_INPUT_BYTES, &len, err, sizeof err);
    if (text == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, path, err);
        return EXIT_USAGE;
    }
    char *dir = dir_of(path);
    if (s->host.on_config == NULL || dir == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, path,
                dir == NULL ? "out of memory"
                            : "the plugin registered no config-changed hook");
        free(text);
        free(dir);
        return EXIT_USAGE;
    }
    struct cpis_config_source src;
    memset(&src, 0, sizeof src);
    src.struct_size = (uint32_t)sizeof src;
    src.json = text;
    src.json_len = len;
    src.base_dir = dir;
    src.ods_paths = s->opt->ods;
    err[0] = '\0';
    s->host.reconfiguring = 1; /* the refusal is printed below, once */
    int rc = s->host.on_config(s->host.config_user, &src, err, sizeof err);
    s->host.reconfiguring = 0;
    free(text);
    free(dir);
    if (rc != CPIS_OK) {
        /* one line: the problems (one per line in err) joined by "; " */
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        for (char *nl = strchr(err, '\n'); nl != NULL; nl = strchr(nl, '\n'))
            *nl = ';';
        fprintf(stderr, "%s: %s: refused, the running configuration is kept: %s\n",
                PROG, path, err[0] != '\0' ? err : host_status_name(rc));
        s->opt->reconfigure_refused = 1;
    }
    return 0;
}

/* Everything: store, fixture, configuration, plugin loaded and initialised.
 * `actions`: where action lines go during init and later (NULL: nowhere). */
static int session_open(struct session *s, struct options *o, FILE *actions,
                        int want_before)
{
    int rc = session_open_store(s, o);
    if (rc != 0)
        return rc;
    s->want_before = want_before;
    if (want_before && store_summary(s->host.store, &s->before) != CPIS_OK) {
        fprintf(stderr, "%s: cannot read the store\n", PROG);
        return EXIT_USAGE;
    }
    char err[1024];

    s->host.cases = cases_load(o->cases_path, err, sizeof err);
    if (s->host.cases == NULL) {
        fprintf(stderr, "%s: %s: %s\n", PROG, o->cases_path, err);
        return EXIT_USAGE;
    }

    size_t len = 0;
    s->config_text = (char *)read_file(o->config_path, MAX_INPUT_BYTES, &len,
                                       err, sizeof err);
    if (s->config_text == NULL) {
        host_print_file_error(o->config_path, err);
        return EXIT_USAGE;
    }
    s->config_len = len;
    s->config_dir = dir_of(o->config_path);
    if (s->config_dir == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return EXIT_USAGE;
    }

    if (plugin_load(&s->lp, o->plugin_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, o->plugin_path, err);
        return EXIT_USAGE;
    }

    /* The configuration is borrowed for the call; relative paths in it are
     * resolved against the config file's folder; --ods replaces ods.paths. */
    struct cpis_config_source src;
    memset(&src, 0, sizeof src);
    src.struct_size = (uint32_t)sizeof src;
    src.json = s->config_text;
    src.json_len = s->config_len;
    src.base_dir = s->config_dir;
    src.ods_paths = o->ods;

    s->host.actions = actions;
    if (plugin_init(&s->lp, &s->host, &src, err, sizeof err) != 0) {
        host_print_file_error(o->config_path, err);
        return EXIT_USAGE;
    }
    if (o->reconfigure != NULL)
        return session_reconfigure(s, o->reconfigure);
    return 0;
}

/* ---- time and JSON output ---------------------------------------------------- */

static void iso_time(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "%lld", (long long)ms);
}

/* Prints a cJSON object as one line on stdout, then deletes it. */
static void print_json_line(cJSON *o)
{
    char *line = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    if (line != NULL) {
        fputs(line, stdout);
        fputc('\n', stdout);
        free(line);
    }
    cJSON_Delete(o);
}

/* Like print_json_line, through host_ack (a delivery's acknowledgement). */
static void ack_json_line(struct mock_host *h, cJSON *o)
{
    char *line = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    if (line != NULL) {
        host_ack(h, stdout, "%s\n", line);
        free(line);
    }
    cJSON_Delete(o);
}

/* ---- delivering one event ------------------------------------------------------ */

/* Delivers one event through the notification hook, retrying a transient
 * failure, records the outcome in the store and reports it.  Returns the
 * final status. */
static int deliver_event(struct session *s, const struct cpis_event *ev)
{
    struct cpis_outcome out;
    struct mock_host *h = &s->host;
    /* One savepoint of the store's shared transaction per delivery,
     * retries included (host.h).  What is printed here acknowledges the
     * delivery: host_ack holds it until the commit that holds its effects. */
    int status = host_deliver(h, PROG, ev, 1, &out);
    const char *error = status == CPIS_REJECTED ? host_message_error_name(out.error) : "";

    switch (status) {
    case CPIS_OK:
        if (strcmp(out.kind, "ignored") == 0) {
            /* not a notification (a MESH report): nothing acted on */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "action", "ignored");
            cJSON_AddStringToObject(o, "case", "");
            cJSON_AddStringToObject(o, "recipient", "");
            cJSON_AddStringToObject(o, "file", ev->source_name);
            cJSON_AddStringToObject(o, "notification", out.notification_id);
            cJSON_AddStringToObject(o, "reason", out.detail);
            ack_json_line(h, o);
        }
        break;
    case CPIS_DUPLICATE: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "action", "duplicate");
        cJSON_AddStringToObject(o, "case", "");      /* nothing was acted on */
        cJSON_AddStringToObject(o, "recipient", "");
        cJSON_AddStringToObject(o, "file", ev->source_name);
        cJSON_AddStringToObject(o, "notification", out.notification_id);
        ack_json_line(h, o);
        break;
    }
    case CPIS_REJECTED:
        host_ack(h, stderr, "%s: %s: rejected: %s%s%s\n", PROG, FILE_LABEL(ev->source_name),
                 error, out.detail[0] ? ": " : "", out.detail);
        break;
    case CPIS_ERR_RETRY:
        host_ack(h, stderr, "%s: %s: failed: still retry_later after %d retries%s%s\n",
                 PROG, FILE_LABEL(ev->source_name), HOST_MAX_RETRIES,
                 out.detail[0] ? ": " : "", out.detail);
        break;
    default:
        host_ack(h, stderr, "%s: %s: failed: %s%s%s%s\n", PROG, FILE_LABEL(ev->source_name),
                 host_status_name(status), out.detail[0] ? ": " : "", out.detail,
                 h->verbose ? "" : " (-v shows the plugin's log)");
        break;
    }
    return status;
}

/* An input that could not be delivered at all (unreadable, a bad MESH
 * control file): its row, then its error line. */
static void input_error(struct session *s, const char *path, const char *shown,
                        const char *err)
{
    struct mock_host *h = &s->host;
    store_add_delivery(h->store, path, "", "input_error", "", "", 0, "", err,
                       host_now_ms(h));
    host_ack(h, stderr, "%s: %s: %s\n", PROG, FILE_LABEL(shown), err);
}

/* Builds and delivers the event for one input.  Returns 1 when the input
 * was accepted (handled or a duplicate), 0 otherwise. */
static int deliver_input(struct session *s, const struct input *in)
{
    char err[512];
    struct mock_host *h = &s->host;
    if (in->error != NULL) {
        input_error(s, in->path, in->path, in->error);
        return 0;
    }
    struct mesh_control ctl;
    memset(&ctl, 0, sizeof ctl);
    if (in->ctl_path != NULL &&
        mesh_read_control(in->ctl_path, &ctl, err, sizeof err) != 0) {
        input_error(s, in->path, in->ctl_path, err);
        mesh_control_free(&ctl);
        return 0;
    }
    size_t len = 0;
    uint8_t *payload = read_file(in->path, MAX_INPUT_BYTES, &len, err, sizeof err);
    if (payload == NULL) {
        input_error(s, in->path, in->path, err);
        mesh_control_free(&ctl);
        return 0;
    }
    struct cpis_event ev;
    memset(&ev, 0, sizeof ev);
    ev.struct_size = (uint32_t)sizeof ev;
    ev.kind = CPIS_EVENT_NOTIFICATION;
    ev.payload = payload;
    ev.payload_len = len;
    ev.content_type = in->content_type;
    ev.source_name = in->path;
    mesh_control_event(in->ctl_path != NULL ? &ctl : NULL, &ev);
    ev.received_at_ms = host_now_ms(h);
    int status = deliver_event(s, &ev);
    free(payload);
    mesh_control_free(&ctl);
    return status == CPIS_OK || status == CPIS_DUPLICATE;
}

/* ---- commands ------------------------------------------------------------------- */

/* The summary's keys: the contract's first, in its order; then the
 * additions.  Documented in docs/reference.md ("Report keys"). */
#define SUMMARY_KEYS(X)                                                       \
    X(notifications) X(accesses) X(duplicates) X(rejected) X(activities)      \
    X(first_response_alerts) X(first_response_followups) X(landing_entries)   \
    X(case_notes) X(episodes) X(records_kept) X(quarantined)                  \
    X(closed_on_switch) X(data_quality_items) X(landing_updates) X(failed)     \
    X(ignored) X(repeat_entries) X(notes_completed)

static int read_summary(struct store *st, struct store_summary *sum)
{
    if (store_summary(st, sum) != CPIS_OK) {
        fprintf(stderr, "%s: cannot read the store\n", PROG);
        return EXIT_USAGE;
    }
    return 0;
}

/* Prints the summary `now` minus `base` (base NULL: the store's totals):
 * one JSON line, or with `table` two aligned columns for a person. */
static void print_summary(const struct store_summary *now,
                          const struct store_summary *base, int table)
{
    cJSON *o = table ? NULL : cJSON_CreateObject();
#define SUMMARY_ONE(k)                                                        \
    {                                                                         \
        int64_t v = now->k - (base != NULL ? base->k : 0);                    \
        if (table)                                                            \
            printf("%-26s %10lld\n", #k, (long long)v);                       \
        else if (o != NULL)                                                   \
            cJSON_AddNumberToObject(o, #k, (double)v);                        \
    }
    SUMMARY_KEYS(SUMMARY_ONE)
#undef SUMMARY_ONE
    if (!table)
        print_json_line(o);
}

/* Tables for a person at a terminal; JSON for scripts, pipes and --json. */
static int want_table(const struct options *o)
{
    return !o->json && isatty(STDOUT_FILENO);
}

/* report and quarantine list read a store; without --db that would be a
 * new, empty one in memory, which is never what was meant. */
static int need_db(const struct options *o, const char *what)
{
    if (o->db != NULL)
        return 0;
    fprintf(stderr,
            "%s: %s: no --db FILE given, so the store is a new one in memory "
            "and empty; give --db FILE, the store that deliver or replay "
            "--db FILE wrote\n", PROG, what);
    return EXIT_USAGE;
}

static int need_operands(const struct options *o, const char *what)
{
    if (o->nargs == 0)
        return usage_error("%s: nothing to do (give one or more paths)", what);
    return 0;
}

static int cmd_deliver(struct options *o, int with_summary)
{
    int rc = need_operands(o, o->command);
    if (rc != 0)
        return rc;
    struct session s;
    rc = session_open(&s, o, stdout, with_summary);
    if (rc == 0 && s.host.on_notification == NULL) {
        fprintf(stderr, "%s: %s: the plugin registered no notification hook\n",
                PROG, o->plugin_path);
        rc = EXIT_USAGE;
    }
    if (rc != 0) {
        session_close(&s);
        return rc;
    }
    struct input_list list = {0};
    if (inputs_expand(&list, o->args, o->nargs) != 0) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        inputs_free(&list);
        session_close(&s);
        return EXIT_USAGE;
    }
    /* A meter on stderr for a long run, only when stderr is a terminal
     * (progress.h), so scripts and tests never see it. */
    struct progress prog;
    progress_start(&prog, o->command, list.n, -1);
    int all_accepted = 1;
    for (size_t i = 0; i < list.n; i++) {
        if (!deliver_input(&s, &list.items[i]))
            all_accepted = 0;
        progress_add(&prog, 1);
    }
    progress_end(&prog);
    inputs_free(&list);
    /* The last batch: committed, then acknowledged, before anything is
     * reported; a batch that could not be committed was not accepted. */
    host_batch_commit(&s.host);
    if (s.host.lost > 0)
        all_accepted = 0;
    /* What sharing the store with other nodes cost (0 and 0 alone). */
    uint64_t conflicts = atomic_load(&s.host.conflicts);
    uint64_t rounds = atomic_load(&s.host.rounds_retried);
    if (conflicts > 0 || rounds > 0)
        fprintf(stderr, "%s: shared store: %llu compare-and-set conflict(s) retried,"
                " %llu delivery(ies) rolled back and run again\n", PROG,
                (unsigned long long)conflicts, (unsigned long long)rounds);
    rc = all_accepted ? EXIT_ACCEPTED : EXIT_REJECTED;
    if (with_summary) {
        struct store_summary after;
        if (read_summary(s.host.store, &after) != 0)
            rc = EXIT_USAGE;
        else
            print_summary(&after, &s.before, 0); /* this run: after - before */
    }
    session_close(&s);
    return rc;
}

/* Calls descriptor->parse, growing the buffer on CPIS_ERR_BUFFER, and prints
 * what it wrote.  Returns the parse status. */
static int parse_one(struct session *s, const struct cpis_event *ev)
{
    size_t cap = 16 * 1024, need = 0;
    char *buf = NULL;
    int rc = CPIS_ERR_BUFFER;
    for (int tries = 0; rc == CPIS_ERR_BUFFER && tries < 8; tries++) {
        char *bigger = realloc(buf, cap);
        if (bigger == NULL) {
            rc = CPIS_ERR_NOMEM;
            break;
        }
        buf = bigger;
        need = 0;
        rc = s->lp.desc->parse(s->lp.plugin, ev, buf, cap, &need);
        if (rc == CPIS_ERR_BUFFER)
            cap = need >= cap ? need + 1 : cap * 2; /* room for the NUL */
    }
    if (rc == CPIS_OK || rc == CPIS_REJECTED) {
        size_t n = strnlen(buf, cap);
        fwrite(buf, 1, n, stdout);
        if (n > 0 && buf[n - 1] != '\n')
            fputc('\n', stdout);
    } else {
        fprintf(stderr, "%s: %s: parse failed: %s\n", PROG, FILE_LABEL(ev->source_name),
                host_status_name(rc));
    }
    free(buf);
    return rc;
}

static int cmd_parse(struct options *o)
{
    int rc = need_operands(o, "parse");
    if (rc != 0)
        return rc;
    struct session s;
    rc = session_open(&s, o, NULL, 0);
    if (rc != 0) {
        session_close(&s);
        return rc;
    }
    struct input_list list = {0};
    if (inputs_expand(&list, o->args, o->nargs) != 0) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        inputs_free(&list);
        session_close(&s);
        return EXIT_USAGE;
    }
    int all_ok = 1;
    for (size_t i = 0; i < list.n; i++) {
        const struct input *in = &list.items[i];
        char err[512];
        size_t len = 0;
        uint8_t *payload = NULL;
        if (in->error != NULL) {
            fprintf(stderr, "%s: %s: %s\n", PROG, FILE_LABEL(in->path), in->error);
            all_ok = 0;
            continue;
        }
        /* a MESH pair: the control file says what the payload is */
        struct mesh_control ctl;
        memset(&ctl, 0, sizeof ctl);
        if (in->ctl_path != NULL &&
            mesh_read_control(in->ctl_path, &ctl, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s: %s\n", PROG, in->ctl_path, err);
            mesh_control_free(&ctl);
            all_ok = 0;
            continue;
        }
        payload = read_file(in->path, MAX_INPUT_BYTES, &len, err, sizeof err);
        if (payload == NULL) {
            fprintf(stderr, "%s: %s: %s\n", PROG, FILE_LABEL(in->path), err);
            mesh_control_free(&ctl);
            all_ok = 0;
            continue;
        }
        struct cpis_event ev;
        memset(&ev, 0, sizeof ev);
        ev.struct_size = (uint32_t)sizeof ev;
        ev.kind = CPIS_EVENT_NOTIFICATION;
        ev.payload = payload;
        ev.payload_len = len;
        ev.content_type = in->content_type;
        ev.source_name = in->path;
        mesh_control_event(in->ctl_path != NULL ? &ctl : NULL, &ev);
        ev.received_at_ms = host_now_ms(&s.host);
        if (parse_one(&s, &ev) != CPIS_OK)
            all_ok = 0;
        free(payload);
        mesh_control_free(&ctl);
    }
    fflush(stdout);
    inputs_free(&list);
    session_close(&s);
    return all_ok ? EXIT_ACCEPTED : EXIT_REJECTED;
}

static int cmd_report(struct options *o)
{
    if (o->nargs != 0)
        return usage_error("report takes no operands (got %s)", o->args[0]);
    int rc = need_db(o, "report");
    if (rc != 0)
        return rc;
    struct session s;
    rc = session_open_store(&s, o);
    struct store_summary sum;
    if (rc == 0)
        rc = read_summary(s.host.store, &sum);
    if (rc == 0) {
        if (want_table(o))
            printf("Store %s\n\n", o->db);
        print_summary(&sum, NULL, want_table(o));
    }
    session_close(&s);
    return rc;
}

static void print_quarantine_row(void *user, const struct store_quarantine_row *r)
{
    int *table = user;
    char when[32];
    iso_time(r->received_at_ms, when, sizeof when);
    if (table[0]) {
        if (table[1]++ == 0)
            printf("%-20s %-20s %-11s %-20s %s\n", "ID", "RECEIVED", "STATUS",
                   "ERROR", "SOURCE: DETAIL");
        printf("%-20s %-20s %-11s %-20s %s%s%s\n", r->quarantine_id, when,
               r->status, r->error_name, r->source_name, r->detail[0] ? ": " : "",
               r->detail);
        return;
    }
    table[1]++;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->quarantine_id);
    cJSON_AddStringToObject(o, "error", r->error_name);
    cJSON_AddStringToObject(o, "detail", r->detail);
    cJSON_AddStringToObject(o, "source", r->source_name);
    cJSON_AddStringToObject(o, "transport_id", r->transport_id);
    cJSON_AddStringToObject(o, "notification", r->notification_id);
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddStringToObject(o, "status", r->status);
    cJSON_AddNumberToObject(o, "bytes", (double)r->payload_len);
    print_json_line(o);
}

static int cmd_note(struct options *o)
{
    struct session s;
    int rc = note_needs_plugin(o->args, o->nargs) ? session_open(&s, o, stdout, 0)
                                                  : session_open_store(&s, o);
    if (rc == 0 && s.host.cases == NULL) {
        char err[512];
        s.host.cases = cases_load(o->cases_path, err, sizeof err);
        if (s.host.cases == NULL) {
            fprintf(stderr, "%s: %s: %s\n", PROG, o->cases_path, err);
            rc = EXIT_USAGE;
        }
    }
    if (rc == 0)
        rc = note_main(&s.host, o->args, o->nargs);
    session_close(&s);
    return rc;
}

static int cmd_quarantine(struct options *o)
{
    const char *sub = o->nargs > 0 ? o->args[0] : NULL;
    if (sub == NULL)
        return usage_error("quarantine: %s", "expected list or redeliver ID");
    if (strcmp(sub, "list") == 0) {
        if (o->nargs != 1)
            return usage_error("quarantine list takes no operands (got %s)",
                               o->args[1]);
        int rc = need_db(o, "quarantine list");
        if (rc != 0)
            return rc;
        struct session s;
        int table[2] = {want_table(o), 0}; /* table?, rows printed */
        rc = session_open_store(&s, o);
        if (rc == 0 && store_quarantine_each(s.host.store, print_quarantine_row,
                                             table) != CPIS_OK) {
            fprintf(stderr, "%s: cannot read the store\n", PROG);
            rc = EXIT_USAGE;
        }
        if (rc == 0 && table[0] && table[1] == 0)
            printf("Nothing is quarantined in %s.\n", o->db);
        session_close(&s);
        return rc;
    }
    if (strcmp(sub, "redeliver") != 0)
        return usage_error("quarantine: unknown subcommand %s", sub);
    if (o->nargs != 2)
        return usage_error("quarantine redeliver: %s", "expected one ID");
    const char *id = o->args[1];
    int rc = need_db(o, "quarantine redeliver");
    if (rc != 0)
        return rc;

    struct session s;
    rc = session_open(&s, o, stdout, 0);
    if (rc == 0 && s.host.on_notification == NULL) {
        fprintf(stderr, "%s: %s: the plugin registered no notification hook\n",
                PROG, o->plugin_path);
        rc = EXIT_USAGE;
    }
    struct store_quarantine_row row;
    memset(&row, 0, sizeof row);
    if (rc == 0) {
        int got = store_quarantine_get(s.host.store, id, &row);
        if (got == CPIS_ERR_NOT_FOUND) {
            fprintf(stderr, "%s: quarantine %s: no such message\n", PROG, id);
            rc = EXIT_USAGE;
        } else if (got != CPIS_OK) {
            fprintf(stderr, "%s: quarantine %s: cannot read the store\n", PROG, id);
            rc = EXIT_USAGE;
        }
    }
    if (rc == 0) {
        /* A new event with the stored payload; the original source name and
         * MESH id, so errors and the plugin's dedupe see the same message. */
        struct cpis_event ev;
        memset(&ev, 0, sizeof ev);
        ev.struct_size = (uint32_t)sizeof ev;
        ev.kind = CPIS_EVENT_NOTIFICATION;
        ev.payload = row.payload;
        ev.payload_len = row.payload_len;
        ev.content_type = inputs_content_type(row.source_name);
        ev.source_name = row.source_name;
        ev.transport_id = row.transport_id;
        ev.local_id = "";
        ev.received_at_ms = host_now_ms(&s.host);
        int status = deliver_event(&s, &ev);
        /* committed (and acknowledged) before it is marked redelivered */
        if (host_batch_commit(&s.host) != CPIS_OK)
            status = CPIS_ERR_HOST;
        if (status == CPIS_OK || status == CPIS_DUPLICATE) {
            store_quarantine_mark(s.host.store, id, "redelivered");
            rc = EXIT_ACCEPTED;
        } else {
            rc = EXIT_REJECTED;
        }
    }
    store_quarantine_row_free(&row);
    session_close(&s);
    return rc;
}

/* ---- conventions: --opt=value, --version, named files ---------------------- */

/* A copy of argv in which every "--opt=value" before "--" is split into
 * "--opt" "value", so every parser below (and generate, compare, landing,
 * config) sees one form.  The names are copied into `names` (one block,
 * freed by the caller with the vector); values point into argv. */
static char **split_equals(int argc, char **argv, int *out_argc, char **names)
{
    size_t room = 0;
    for (int i = 0; i < argc; i++)
        room += strlen(argv[i]) + 1;
    char **v = calloc((size_t)argc * 2 + 1, sizeof *v);
    char *buf = malloc(room + 1);
    if (v == NULL || buf == NULL) {
        free(v);
        free(buf);
        return NULL;
    }
    *names = buf;
    int n = 0, ended = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        char *eq = strchr(a, '=');
        if (i > 0 && !ended && strcmp(a, "--") == 0)
            ended = 1;
        if (i > 0 && !ended && a[0] == '-' && a[1] == '-' && eq != NULL && eq > a + 2) {
            size_t len = (size_t)(eq - a);
            memcpy(buf, a, len);
            buf[len] = '\0';
            v[n++] = buf;
            buf += len + 1;
            v[n++] = eq + 1;
        } else {
            v[n++] = a;
        }
    }
    v[n] = NULL;
    *out_argc = n;
    return v;
}

/* --version: the mock host's version and ABI, then the plugin's (loaded
 * and checked as for any command, never initialised). */
static int print_version(struct options *o)
{
    printf("cpis-mockhost %s (host ABI %u.%u)\n", MOCKHOST_VERSION,
           (unsigned)CPIS_ABI_MAJOR, (unsigned)CPIS_ABI_MINOR);
    fflush(stdout);
    struct loaded_plugin lp;
    struct mock_host h;
    char err[512];
    memset(&h, 0, sizeof h);
    if (plugin_load(&lp, o->plugin_path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, o->plugin_path, err);
        plugin_unload(&lp, &h);
        return EXIT_USAGE;
    }
    printf("plugin %s: %s %s (ABI %u.%u)\n", o->plugin_path,
           lp.desc->name != NULL ? lp.desc->name : "(unnamed)",
           lp.desc->version != NULL ? lp.desc->version : "(no version)",
           (unsigned)lp.desc->abi_major, (unsigned)lp.desc->abi_minor);
    plugin_unload(&lp, &h);
    return 0;
}

/* Every file named in an option must exist, whether or not the command
 * reads it (a mistyped --config is never ignored).  --db must exist for
 * the commands that only read a store.  Returns 0 or EXIT_USAGE. */
static int check_named_files(const struct options *o)
{
    const struct {
        const char *opt, *path;
    } named[] = {{"--plugin", o->plugin_path}, {"--config", o->config_path},
                 {"--cases", o->cases_path}, {"--reconfigure", o->reconfigure}};
    int rc = 0;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        struct stat st;
        if (named[i].path == NULL)
            continue;
        if (stat(named[i].path, &st) != 0) {
            fprintf(stderr, "%s: %s %s: %s\n", PROG, named[i].opt, named[i].path,
                    strerror(errno));
            rc = EXIT_USAGE;
        } else if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: %s %s: is a folder, not a file\n", PROG,
                    named[i].opt, named[i].path);
            rc = EXIT_USAGE;
        }
    }
    for (size_t i = 0; i < o->nods; i++)
        if (access(o->ods[i], F_OK) != 0) {
            fprintf(stderr, "%s: --ods %s: %s\n", PROG, o->ods[i], strerror(errno));
            rc = EXIT_USAGE;
        }
    int reads_store = strcmp(o->command, "report") == 0 ||
                      strcmp(o->command, "quarantine") == 0 ||
                      strcmp(o->command, "landing") == 0 ||
                      strcmp(o->command, "note") == 0;
    /* a SQLite file must exist; a PostgreSQL connection string is checked
     * when the store is opened (and is never echoed: it may hold a password) */
    if (reads_store && o->db != NULL && !store_pg_is_conninfo(o->db) &&
        access(o->db, F_OK) != 0) {
        fprintf(stderr, "%s: --db %s: %s (deliver or replay with --db creates "
                        "a store)\n", PROG, o->db, strerror(errno));
        rc = EXIT_USAGE;
    }
    return rc;
}

/* ---- main ---------------------------------------------------------------------- */

static int run(int argc, char **argv)
{
    struct options o;
    int rc;
    /* generate and compare parse their own options (compare.c). */
    if (figures_dispatch(argc, argv, &rc))
        return rc;
    rc = parse_options(&o, argc, argv);
    if (rc != 0) {
        options_free(&o);
        return rc;
    }
    if (o.version) {
        rc = resolve_defaults(&o);
        if (rc == 0)
            rc = check_named_files(&(struct options){.plugin_path = o.plugin_path,
                                                     .command = ""});
        if (rc == 0)
            rc = print_version(&o);
        options_free(&o);
        return rc;
    }
    /* "help COMMAND" is "COMMAND --help"; "help" alone the overview. */
    if (o.command != NULL && strcmp(o.command, "help") == 0 && !o.help) {
        if (o.nargs > 1) {
            rc = usage_error("help: one command at a time (got %s %s)", o.args[0],
                             o.args[1]);
            options_free(&o);
            return rc;
        }
        o.help = 1;
        o.command = o.nargs == 1 ? o.args[0] : NULL;
        if (o.command != NULL && strcmp(o.command, "generate") == 0) {
            options_free(&o);
            return gen_command(2, (char *[]){"generate", "--help", NULL});
        }
        if (o.command != NULL && strcmp(o.command, "compare") == 0) {
            options_free(&o);
            return compare_command(3, (char *[]){"cpis-mockhost", "compare", "--help", NULL});
        }
    }
    if (o.help || o.command == NULL) {
        const char *text = o.command != NULL ? command_help(o.command) : USAGE;
        if (text == NULL) {
            rc = usage_error("unknown command %s", o.command);
        } else if (o.command == NULL && !o.help) {
            fputs(USAGE, stderr); /* no command at all: a usage error */
            rc = EXIT_USAGE;
        } else {
            fputs(text, stdout);
        }
        options_free(&o);
        return rc;
    }
    if (command_help(o.command) == NULL || strcmp(o.command, "help") == 0) {
        rc = usage_error("unknown command %s", o.command);
        options_free(&o);
        return rc;
    }
    rc = check_named_files(&o);
    if (rc == 0)
        rc = resolve_defaults(&o);
    if (rc != 0) {
        options_free(&o);
        return rc;
    }

    /* libxml2 is process-global state owned by the host: initialise it once
     * here, before any plugin thread could, and clean it up at the very end
     * after the plugin is unloaded (the plugin itself must never do either
     * of the cleanups). */
    xmlInitParser();

    if (strcmp(o.command, "parse") == 0)
        rc = cmd_parse(&o);
    else if (strcmp(o.command, "deliver") == 0)
        rc = cmd_deliver(&o, 0);
    else if (strcmp(o.command, "replay") == 0)
        rc = cmd_deliver(&o, 1);
    else if (strcmp(o.command, "report") == 0)
        rc = cmd_report(&o);
    else if (strcmp(o.command, "landing") == 0)
        rc = landing_main(o.db, o.cases_path, o.args, o.nargs);
    else if (strcmp(o.command, "note") == 0)
        rc = cmd_note(&o);
    else if (strcmp(o.command, "config") == 0)
        rc = config_main(o.plugin_path, o.config_path, o.ods, o.args, o.nargs);
    else
        rc = cmd_quarantine(&o);

    if (o.reconfigure_refused)
        rc = EXIT_USAGE;
    fflush(stdout);
    options_free(&o);
    xmlCleanupParser();
    return rc;
}

int main(int argc, char **argv)
{
    char *names = NULL;
    int n = 0;
    char **v = split_equals(argc, argv, &n, &names);
    if (v == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return EXIT_USAGE;
    }
    int rc = run(n, v);
    free(v);
    free(names);
    return rc;
}
