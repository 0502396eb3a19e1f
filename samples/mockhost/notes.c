/*
 * notes.c - `cpis-mockhost note list|show|complete` (see notes.h).
 *
 * A real host shows case-note stubs on the child's case and lets the
 * practitioner fill in what they did; this command does the same from the
 * store.  The practitioner's action is kept apart from the stub (the store's
 * note_actions table), so a later revision of the stub (a further view in
 * the same episode) never overwrites what the practitioner wrote.
 */
#include "notes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cases.h"
#include "store.h"

static const char PROG[] = "cpis-mockhost";

const char NOTE_HELP[] =
    "usage: cpis-mockhost [--db FILE] note list --case CASE_ID\n"
    "       cpis-mockhost [--db FILE] note show ID\n"
    "       cpis-mockhost [OPTIONS] note complete ID --text TEXT\n"
    "list: one JSON line per case-note stub on the case, oldest first: id,\n"
    "state (awaiting_action or done), first, last (the episode's first and\n"
    "latest view, UTC), revision, and completed_at once done.\n"
    "show: the stub's text, followed by the action recorded, if any.\n"
    "complete: record the practitioner's action (TEXT, not empty) as the host\n"
    "would, then tell the plugin (its note-completed hook), which marks the\n"
    "episode's landing entry done; prints the landing update line and\n"
    "{\"action\":\"note_completed\",...}.  Completing again replaces the text.\n"
    "Exit status: 0 done, 1 no such note or case (named on stderr) or the\n"
    "plugin could not mark the entry, 2 usage or store error.\n";

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2 };

static int usage(const char *what)
{
    fprintf(stderr, "%s: note: %s (try %s note --help)\n", PROG, what, PROG);
    return EXIT_USAGE;
}

static void iso(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int note_needs_plugin(char **args, size_t nargs)
{
    return nargs > 0 && strcmp(args[0], "complete") == 0;
}

/* ---- list ----------------------------------------------------------------- */

static void list_one(void *user, const struct store_note_row *r)
{
    size_t *n = user;
    char t[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "case_id", r->case_id);
    cJSON_AddStringToObject(o, "state", r->completed_at ? "done" : "awaiting_action");
    iso(r->first, t, sizeof t);
    cJSON_AddStringToObject(o, "first", t);
    iso(r->last, t, sizeof t);
    cJSON_AddStringToObject(o, "last", t);
    cJSON_AddNumberToObject(o, "revision", (double)r->revision);
    if (r->completed_at) {
        iso(r->completed_at / 1000, t, sizeof t);
        cJSON_AddStringToObject(o, "completed_at", t);
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line != NULL) {
        puts(line);
        free(line);
    }
    (*n)++;
}

/* ---- show / complete: one stub -------------------------------------------- */

struct one_note {
    int found;
    char *case_id, *body, *action;
    int64_t completed_at;
};

static void keep_one(void *user, const struct store_note_row *r)
{
    struct one_note *n = user;
    if (n->found++)
        return;
    n->case_id = strdup(r->case_id);
    n->body = strdup(r->body);
    n->action = strdup(r->action);
    n->completed_at = r->completed_at;
}

static void one_free(struct one_note *n)
{
    free(n->case_id);
    free(n->body);
    free(n->action);
}

static int find_note(struct mock_host *h, const char *id, struct one_note *n)
{
    memset(n, 0, sizeof *n);
    if (store_note_each(h->store, NULL, id, keep_one, n) != CPIS_OK) {
        fprintf(stderr, "%s: note: cannot read the store\n", PROG);
        return EXIT_USAGE;
    }
    if (!n->found) {
        fprintf(stderr, "%s: note: %s: no such case-note stub\n", PROG, id);
        return EXIT_REJECTED;
    }
    if (n->case_id == NULL || n->body == NULL || n->action == NULL) {
        fprintf(stderr, "%s: note: out of memory\n", PROG);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static int show(struct mock_host *h, const char *id)
{
    struct one_note n;
    int rc = find_note(h, id, &n);
    if (rc == EXIT_OK) {
        fputs(n.body, stdout);
        if (n.completed_at) {
            char t[32];
            iso(n.completed_at / 1000, t, sizeof t);
            printf("%s\n\n(completed %s)\n", n.action, t);
        }
    }
    one_free(&n);
    return rc;
}

static int complete(struct mock_host *h, const char *id, const char *text)
{
    struct one_note n;
    int rc = find_note(h, id, &n);
    if (rc != EXIT_OK) {
        one_free(&n);
        return rc;
    }
    const char *nhs = cases_nhs_of_case(h->cases, n.case_id);
    if (nhs == NULL) {
        fprintf(stderr, "%s: note: %s: its case %s is not in the case fixture\n", PROG,
                id, n.case_id);
        one_free(&n);
        return EXIT_REJECTED;
    }
    int64_t now_ms = host_now_ms(h);
    if (store_note_complete(h->store, id, text, now_ms) != CPIS_OK) {
        fprintf(stderr, "%s: note: %s: cannot record the action\n", PROG, id);
        one_free(&n);
        return EXIT_USAGE;
    }
    if (h->on_note_completed == NULL) {
        fprintf(stderr, "%s: note: %s: action recorded, but the plugin registered no "
                "note-completed hook: its landing entry is unchanged\n", PROG, id);
        one_free(&n);
        return EXIT_REJECTED;
    }
    struct cpis_note_completion nc;
    memset(&nc, 0, sizeof nc);
    nc.struct_size = (uint32_t)sizeof nc;
    nc.note_id = id;
    nc.case_id = n.case_id;
    nc.nhs_number = nhs;
    nc.completed_at = now_ms / 1000;
    int st = h->on_note_completed(h->note_user, &nc);
    if (st != CPIS_OK) {
        fprintf(stderr, "%s: note: %s: action recorded; the plugin could not mark the "
                "landing entry done (%s)\n", PROG, id, host_status_name(st));
        one_free(&n);
        return EXIT_REJECTED;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "action", "note_completed");
    cJSON_AddStringToObject(o, "case", n.case_id);
    cJSON_AddStringToObject(o, "id", id);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line != NULL) {
        puts(line);
        free(line);
    }
    one_free(&n);
    return EXIT_OK;
}

int note_main(struct mock_host *h, char **args, size_t nargs)
{
    if (nargs == 0)
        return usage("give list, show or complete");
    const char *sub = args[0];
    const char *case_id = NULL, *text = NULL, *id = NULL;
    for (size_t i = 1; i < nargs; i++) {
        const char **slot = NULL;
        if (strcmp(args[i], "--case") == 0)
            slot = &case_id;
        else if (strcmp(args[i], "--text") == 0)
            slot = &text;
        else if (args[i][0] == '-' && args[i][1] != '\0') {
            fprintf(stderr, "%s: note: unknown option %s (try %s note --help)\n", PROG,
                    args[i], PROG);
            return EXIT_USAGE;
        } else if (id == NULL) {
            id = args[i];
            continue;
        } else {
            return usage("more than one note id given");
        }
        if (i + 1 >= nargs)
            return usage("an option needs a value");
        *slot = args[++i];
    }
    if (strcmp(sub, "list") == 0) {
        if (case_id == NULL || case_id[0] == '\0' || id != NULL || text != NULL)
            return usage("list takes --case CASE_ID only");
        size_t n = 0;
        if (store_note_each(h->store, case_id, NULL, list_one, &n) != CPIS_OK) {
            fprintf(stderr, "%s: note: cannot read the store\n", PROG);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    }
    if (strcmp(sub, "show") == 0) {
        if (id == NULL || case_id != NULL || text != NULL)
            return usage("show takes one note id");
        return show(h, id);
    }
    if (strcmp(sub, "complete") == 0) {
        if (id == NULL || case_id != NULL)
            return usage("complete takes one note id and --text TEXT");
        if (text == NULL || text[strspn(text, " \t\r\n")] == '\0')
            return usage("complete needs --text with what was done (not empty)");
        return complete(h, id, text);
    }
    return usage("unknown subcommand (give list, show or complete)");
}
