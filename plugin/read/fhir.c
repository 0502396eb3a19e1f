/*
 * fhir.c - the CP-IS FHIR API's AuditEvent search
 * -> struct cpis_notification.
 *
 * NHS England publishes no FHIR notification.  What it publishes is the
 * CP-IS FHIR R4 API, whose GET /AuditEvent?patient:identifier=...
 * (with _include of the requesting PractitionerRole) answers a Bundle of
 * type "searchset": one AuditEvent per earlier access to the child's CP-IS
 * record.  Per the API's data mapping: date and time = AuditEvent.recorded;
 * viewer = PractitionerRole.practitioner.display; role =
 * PractitionerRole.code.coding.display (SNOMED); organisation =
 * PractitionerRole.organization.display (e.g. "TRUST NAME - TEAM (RKEAA)").
 * That is what is read here:
 *  - one access per AuditEvent; its id is the access's access_id;
 *  - the child: the agent whose type (or role) is coded PAT, its
 *    who.identifier with system https://fhir.nhs.uk/Id/nhs-number;
 *  - the viewer: the agent with requestor true (a JSON boolean, or the
 *    string "true" as in the published examples); its who refers to an
 *    included PractitionerRole (by fullUrl, "PractitionerRole/id", or an
 *    identifier sds-role-profile-id the PractitionerRole also carries),
 *    else an AuditEvent.entity whose what refers to one (the search's
 *    _include names entity-type ASSIGNED); without one, the agent's own
 *    name / who.display and location;
 *  - the location: PractitionerRole.organization (else the agent's own
 *    who / location): an ODS identifier (ods-organization-code or
 *    ods-site-code) when present, else the code in brackets at the end of
 *    its display; its display is the location's name as the message gives
 *    it;
 *  - the job role: the PractitionerRole.code coding with system
 *    http://snomed.info/sct (code and display), else the first coding;
 *  - message_id: Bundle.id, else "auditevent-search-" and a hash of the
 *    AuditEvent ids; created: Bundle.timestamp, else meta.lastUpdated,
 *    else the latest access.  The same accesses polled twice give the same
 *    access keys (act.c), so they act once.
 * The invented Bundle of type "message" (MessageHeader) this reader once
 * took is gone: it is unsupported_message, as is any other resource.
 *
 * Strictness: parsed with cpis_json_parse_strict (a key given twice in one
 * object, a raw control byte or \u0000 in a string: malformed); an
 * identifier holding a control character is refused with the code of its
 * kind (NHS number: invalid_nhs_number; ODS code: invalid_ods_code; any
 * other id: malformed).  An NHS number or ODS code given as a JSON number is
 * invalid_*, not missing_field.  Out of memory is reported as malformed.
 * Error details name fields, never values.  No global cJSON state.
 */
#include "ids.h"
#include "json.h"
#include "parse.h"
#include "record.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYS_NHS "https://fhir.nhs.uk/Id/nhs-number"
#define SYS_ODS_ORG "https://fhir.nhs.uk/Id/ods-organization-code"
#define SYS_ODS_SITE "https://fhir.nhs.uk/Id/ods-site-code"
#define SYS_SDS_USER "https://fhir.nhs.uk/Id/sds-user-id"
#define SYS_SDS_ROLE_PROFILE "https://fhir.nhs.uk/Id/sds-role-profile-id"
#define SYS_SNOMED "http://snomed.info/sct"

struct entry {
    const char *full_url; /* NULL when absent */
    const char *type;     /* resourceType */
    const char *id;       /* NULL when absent */
    const cJSON *res;
};

struct ctx {
    struct entry *entries; /* bundle order */
    size_t n;
    struct entry **by_url; /* sorted by full_url, only entries that have one */
    size_t n_url;
    struct entry **by_tid; /* sorted by (type, id), only entries with an id */
    size_t n_tid;
    struct cpis_parse_error *err;
};


/* ---- small JSON helpers ------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *key)
{
    if (!cJSON_IsObject(o))
        return NULL;
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A string member, or NULL when absent or not a string. */
static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = get(o, key);
    return (cJSON_IsString(v) && v->valuestring != NULL) ? v->valuestring : NULL;
}

/* FHIR repeats elements in arrays; tolerate a single object too.  EACH
 * walks the linked list (cJSON_GetArrayItem is O(i): indexing in a loop
 * would be quadratic on a hostile array). */
static const cJSON *first_el(const cJSON *v)
{
    if (cJSON_IsArray(v))
        return v->child;
    return (v != NULL && !cJSON_IsNull(v)) ? v : NULL;
}

static const cJSON *next_el(const cJSON *v, const cJSON *cur)
{
    return cJSON_IsArray(v) ? cur->next : NULL;
}

#define EACH(x, v) for (const cJSON *x = first_el(v); x != NULL; x = next_el((v), x))

/* Find the identifier with this system in an identifier list (array or a
 * single object).  Returns its "value" item (may be of any type, or NULL
 * when the identifier has no value); *found tells whether the system was
 * seen at all. */
static const cJSON *ident_value(const cJSON *ids, const char *system, int *found)
{
    EACH(id, ids) {
        const char *sys = get_str(id, "system");
        if (sys != NULL && strcmp(sys, system) == 0) {
            if (found)
                *found = 1;
            return get(id, "value");
        }
    }
    return NULL;
}

static const char *ident_str(const cJSON *ids, const char *system)
{
    const cJSON *v = ident_value(ids, system, NULL);
    return (cJSON_IsString(v) && v->valuestring != NULL) ? v->valuestring : NULL;
}

/* ---- bundle index and references --------------------------------------- */

static int cmp_url(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a;
    const struct entry *y = *(const struct entry *const *)b;
    return strcmp(x->full_url, y->full_url);
}

static int cmp_tid(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a;
    const struct entry *y = *(const struct entry *const *)b;
    int c = strcmp(x->type, y->type);
    return c != 0 ? c : strcmp(x->id, y->id);
}

static void ctx_free(struct ctx *c)
{
    free(c->entries);
    free(c->by_url);
    free(c->by_tid);
    memset(c, 0, sizeof *c);
}

static int build_index(struct ctx *c, const cJSON *entry_arr)
{
    int n = cJSON_GetArraySize(entry_arr);
    if (n <= 0)
        return CPIS_MSG_OK;
    c->entries = calloc((size_t)n, sizeof *c->entries);
    c->by_url = calloc((size_t)n, sizeof *c->by_url);
    c->by_tid = calloc((size_t)n, sizeof *c->by_tid);
    if (c->entries == NULL || c->by_url == NULL || c->by_tid == NULL)
        return cpis_fail(c->err, CPIS_MSG_MALFORMED, "out of memory indexing the bundle");
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, entry_arr) {
        if (!cJSON_IsObject(e))
            return cpis_fail(c->err, CPIS_MSG_MALFORMED, "Bundle.entry[%d] is not an object", i);
        const cJSON *res = get(e, "resource");
        if (!cJSON_IsObject(res))
            return cpis_fail(c->err, CPIS_MSG_MALFORMED,
                             "Bundle.entry[%d].resource is absent or not an object", i);
        const char *type = get_str(res, "resourceType");
        if (type == NULL || type[0] == '\0')
            return cpis_fail(c->err, CPIS_MSG_MALFORMED,
                             "Bundle.entry[%d].resource.resourceType is absent or not a string", i);
        const cJSON *fu = get(e, "fullUrl");
        if (fu != NULL && !cJSON_IsString(fu))
            return cpis_fail(c->err, CPIS_MSG_MALFORMED,
                             "Bundle.entry[%d].fullUrl is not a string", i);
        struct entry *en = &c->entries[c->n++];
        en->type = type;
        en->res = res;
        en->full_url = (fu != NULL && fu->valuestring[0] != '\0') ? fu->valuestring : NULL;
        en->id = get_str(res, "id");
        if (en->full_url)
            c->by_url[c->n_url++] = en;
        if (en->id)
            c->by_tid[c->n_tid++] = en;
        i++;
    }
    qsort(c->by_url, c->n_url, sizeof *c->by_url, cmp_url);
    qsort(c->by_tid, c->n_tid, sizeof *c->by_tid, cmp_tid);
    for (size_t k = 1; k < c->n_url; k++)
        if (strcmp(c->by_url[k - 1]->full_url, c->by_url[k]->full_url) == 0)
            return cpis_fail(c->err, CPIS_MSG_MALFORMED, "two Bundle entries share one fullUrl");
    return CPIS_MSG_OK;
}

static const struct entry *find_url(const struct ctx *c, const char *url)
{
    struct entry key = {.full_url = url};
    const struct entry *kp = &key;
    struct entry **hit = bsearch(&kp, c->by_url, c->n_url, sizeof *c->by_url, cmp_url);
    return hit ? *hit : NULL;
}

static const struct entry *find_tid(const struct ctx *c, const char *type, const char *id)
{
    struct entry key = {.type = type, .id = id};
    const struct entry *kp = &key;
    struct entry **hit = bsearch(&kp, c->by_tid, c->n_tid, sizeof *c->by_tid, cmp_tid);
    return hit ? *hit : NULL;
}

/* Resolve a Reference object to the resource it points at, or NULL. */
static const cJSON *resolve(const struct ctx *c, const cJSON *ref)
{
    const char *r = get_str(ref, "reference");
    if (r == NULL || r[0] == '\0')
        return NULL;
    const struct entry *e = find_url(c, r);
    if (e != NULL)
        return e->res;
    /* "Type/id", possibly absolute ("https://x/fhir/Type/id") and possibly
     * versioned ("Type/id/_history/2"): take the last Type/id pair. */
    char buf[256];
    size_t len = strlen(r);
    if (len >= sizeof buf)
        return NULL;
    memcpy(buf, r, len + 1);
    char *hist = strstr(buf, "/_history/");
    if (hist != NULL)
        *hist = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf || slash[1] == '\0')
        return NULL;
    *slash = '\0';
    const char *id = slash + 1;
    char *prev = strrchr(buf, '/');
    const char *type = prev ? prev + 1 : buf;
    if (type[0] == '\0')
        return NULL;
    e = find_tid(c, type, id);
    return e ? e->res : NULL;
}

/* Resolve and require a resourceType. */
static const cJSON *resolve_type(const struct ctx *c, const cJSON *ref, const char *type)
{
    const cJSON *res = resolve(c, ref);
    const char *t = get_str(res, "resourceType");
    return (t != NULL && strcmp(t, type) == 0) ? res : NULL;
}

/* ---- text helpers ------------------------------------------------------ */

/* cpis_copy_text, then control characters (a JSON string may carry any of
 * them through escapes) become spaces: the record's text fields end up in
 * host screens, case notes and JSON lines. */
static void copy_text(char *dst, size_t cap, const char *src)
{
    cpis_copy_text(dst, cap, src);
    for (char *p = dst; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = ' ';
}

/* "S8000:G8000:R8000" -> "R8000"; "R0260" unchanged. */
static void job_role(const char *code, char *out, size_t cap)
{
    const char *colon = code ? strrchr(code, ':') : NULL;
    copy_text(out, cap, colon ? colon + 1 : code);
}

/* The job role: the SNOMED coding of a CodeableConcept list, else the first
 * coding that has a code. */
static void role_coding(const cJSON *concepts, const char **code, const char **display)
{
    *code = *display = NULL;
    EACH(cc, concepts) {
        EACH(cd, get(cc, "coding")) {
            const char *c = get_str(cd, "code");
            if (c == NULL || c[0] == '\0')
                continue;
            const char *sys = get_str(cd, "system");
            int snomed = sys != NULL && strcmp(sys, SYS_SNOMED) == 0;
            if (*code == NULL || snomed) {
                *code = c;
                *display = get_str(cd, "display");
            }
            if (snomed)
                return;
        }
    }
}

/* Does a CodeableConcept (or a list of them) carry this code? */
static int has_code(const cJSON *concepts, const char *code)
{
    EACH(cc, concepts) {
        EACH(cd, get(cc, "coding")) {
            const char *c = get_str(cd, "code");
            if (c != NULL && strcmp(c, code) == 0)
                return 1;
        }
    }
    return 0;
}

static int has_control(const char *s)
{
    return s != NULL && cpis_json_has_control(s, strlen(s));
}

/* ---- identifiers ------------------------------------------------------- */

/* Validate an NHS number value item; what names the field for details. */
static int nhs_from_value(struct ctx *c, const cJSON *v, int found, char *out,
                          const char *what)
{
    if (!found)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "%s.identifier with system nhs-number is absent", what);
    if (v == NULL || cJSON_IsNull(v))
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "%s.identifier (nhs-number) has no value", what);
    if (!cJSON_IsString(v))
        return cpis_fail(c->err, CPIS_MSG_INVALID_NHS_NUMBER,
                         "%s NHS number is not a JSON string", what);
    if (has_control(v->valuestring))
        return cpis_fail(c->err, CPIS_MSG_INVALID_NHS_NUMBER,
                         "%s NHS number holds a control character", what);
    int rc = cpis_nhs_normalise(v->valuestring, out, 11);
    if (rc == -2)
        return cpis_fail(c->err, CPIS_MSG_INVALID_NHS_NUMBER,
                         "%s NHS number fails the Modulus 11 check", what);
    if (rc != 0)
        return cpis_fail(c->err, CPIS_MSG_INVALID_NHS_NUMBER,
                         "%s NHS number is not 10 digits", what);
    return CPIS_MSG_OK;
}

/* The code in brackets at the end of a display ("TRUST - TEAM (RKEAA)"):
 * 1 with the code copied, 0 when there is none, -1 when the brackets hold
 * something that is not an ODS code. */
static int bracketed_code(const char *disp, char *code, size_t cap)
{
    if (disp == NULL)
        return 0;
    size_t n = strlen(disp);
    while (n > 0 && (disp[n - 1] == ' ' || disp[n - 1] == '\t'))
        n--;
    if (n < 3 || disp[n - 1] != ')')
        return 0;
    const char *open = NULL;
    for (size_t i = n - 1; i > 0; i--)
        if (disp[i - 1] == '(') {
            open = disp + i;
            break;
        }
    if (open == NULL)
        return 0;
    size_t len = (size_t)(disp + n - 1 - open);
    char tmp[REC_CODE_MAX];
    if (len == 0 || len >= sizeof tmp)
        return -1;
    memcpy(tmp, open, len);
    tmp[len] = '\0';
    if (!cpis_ods_code_valid(tmp))
        return -1;
    copy_text(code, cap, tmp);
    return 1;
}

/* The location from an organisation Reference (PractitionerRole.organization,
 * or an agent's who): ODS identifier, else the bracketed code in display. */
static int location_from(struct ctx *c, const cJSON *ref, struct cpis_access *a,
                         const char *what)
{
    const cJSON *org = resolve_type(c, ref, "Organization");
    const cJSON *v = NULL;
    int found = 0, site = 0;
    const cJSON *sources[2] = {get(ref, "identifier"), get(org, "identifier")};
    for (int s = 0; s < 2 && !found; s++) {
        v = ident_value(sources[s], SYS_ODS_ORG, &found);
        if (!found) {
            v = ident_value(sources[s], SYS_ODS_SITE, &found);
            site = found;
        }
    }
    const char *disp = get_str(ref, "display");
    if (disp == NULL || disp[0] == '\0')
        disp = get_str(org, "name");
    copy_text(a->location_name, sizeof a->location_name, disp);
    if (found) {
        if (v == NULL || cJSON_IsNull(v))
            return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "%s ODS code has no value", what);
        if (!cJSON_IsString(v))
            return cpis_fail(c->err, CPIS_MSG_INVALID_ODS_CODE,
                             "%s ODS code is not a JSON string", what);
        if (has_control(v->valuestring) || !cpis_ods_code_valid(v->valuestring))
            return cpis_fail(c->err, CPIS_MSG_INVALID_ODS_CODE,
                             "%s ODS code is not 1-9 letters and digits", what);
        copy_text(a->location_code, sizeof a->location_code, v->valuestring);
        a->location_is_site = site;
        return CPIS_MSG_OK;
    }
    int b = bracketed_code(disp, a->location_code, sizeof a->location_code);
    if (b < 0 || (b > 0 && has_control(disp)))
        return cpis_fail(c->err, CPIS_MSG_INVALID_ODS_CODE,
                         "%s.display: the code in brackets is not 1-9 letters and digits", what);
    if (b == 0)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "%s has neither an ODS identifier nor a code in brackets in its "
                         "display", what);
    return CPIS_MSG_OK;
}

static int timestamp(struct ctx *c, const cJSON *holder, const char *key, int64_t *out,
                     const char *what)
{
    const cJSON *v = get(holder, key);
    if (v == NULL || cJSON_IsNull(v))
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "%s is absent", what);
    if (!cJSON_IsString(v))
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "%s is not a string", what);
    if (cpis_iso_ts_parse(v->valuestring, out) != 0)
        return cpis_fail(c->err, CPIS_MSG_INVALID_TIMESTAMP,
                         "%s is not an ISO 8601 instant with a zone", what);
    return CPIS_MSG_OK;
}

/* An identifier that must hold no control character (else malformed). */
static int copy_id(struct ctx *c, char *dst, size_t cap, const char *src, const char *what)
{
    if (has_control(src))
        return cpis_fail(c->err, CPIS_MSG_MALFORMED, "%s holds a control character", what);
    if (src != NULL && !cpis_copy_text(dst, cap, src))
        return cpis_fail(c->err, CPIS_MSG_MALFORMED, "%s is too long", what);
    return CPIS_MSG_OK;
}

/* ---- one AuditEvent ------------------------------------------------------ */

static int is_requestor(const cJSON *agent)
{
    const cJSON *r = get(agent, "requestor");
    if (cJSON_IsTrue(r))
        return 1;
    return cJSON_IsString(r) && r->valuestring != NULL && strcmp(r->valuestring, "true") == 0;
}

/* The included PractitionerRole the requestor's who points at: by
 * reference, else by its role profile identifier. */
static const cJSON *requestor_role(const struct ctx *c, const cJSON *who)
{
    const cJSON *role = resolve_type(c, who, "PractitionerRole");
    if (role != NULL)
        return role;
    const char *rp = ident_str(get(who, "identifier"), SYS_SDS_ROLE_PROFILE);
    if (rp == NULL || rp[0] == '\0')
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->entries[i].type, "PractitionerRole") != 0)
            continue;
        const char *v = ident_str(get(c->entries[i].res, "identifier"), SYS_SDS_ROLE_PROFILE);
        if (v != NULL && strcmp(v, rp) == 0)
            return c->entries[i].res;
    }
    return NULL;
}

static int audit_event(struct ctx *c, const cJSON *ev, struct cpis_access *a)
{
    memset(a, 0, sizeof *a);
    a->author_kind = AUTHOR_PERSON;
    int rc = copy_id(c, a->access_id, sizeof a->access_id, get_str(ev, "id"), "AuditEvent.id");
    if (rc != CPIS_MSG_OK)
        return rc;
    rc = timestamp(c, ev, "recorded", &a->accessed_at, "AuditEvent.recorded");
    if (rc != CPIS_MSG_OK)
        return rc;
    const cJSON *agents = get(ev, "agent");
    const cJSON *pat = NULL, *req = NULL;
    EACH(ag, agents) {
        if (pat == NULL && (has_code(get(ag, "type"), "PAT") || has_code(get(ag, "role"), "PAT")))
            pat = ag;
        if (req == NULL && is_requestor(ag))
            req = ag;
    }
    if (pat == NULL)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "AuditEvent.agent with type PAT (the child) is absent");
    int found = 0;
    const cJSON *v = ident_value(get(get(pat, "who"), "identifier"), SYS_NHS, &found);
    rc = nhs_from_value(c, v, found, a->nhs_number, "AuditEvent.agent (PAT).who");
    if (rc != CPIS_MSG_OK)
        return rc;
    if (req == NULL)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "AuditEvent.agent with requestor true (the viewer) is absent");
    const cJSON *who = get(req, "who");
    const cJSON *role = requestor_role(c, who);
    /* the search's _include names AuditEvent.entity of type ASSIGNED: a
     * PractitionerRole referred to from an entity serves too */
    EACH(ent, get(ev, "entity")) {
        if (role != NULL)
            break;
        role = resolve_type(c, get(ent, "what"), "PractitionerRole");
    }
    if (role != NULL) {
        rc = copy_id(c, a->viewer_role_profile, sizeof a->viewer_role_profile,
                     ident_str(get(role, "identifier"), SYS_SDS_ROLE_PROFILE),
                     "PractitionerRole.identifier (sds-role-profile-id)");
        const cJSON *prac = get(role, "practitioner");
        if (rc == CPIS_MSG_OK)
            rc = copy_id(c, a->viewer_user_id, sizeof a->viewer_user_id,
                         ident_str(get(prac, "identifier"), SYS_SDS_USER),
                         "PractitionerRole.practitioner.identifier (sds-user-id)");
        if (rc != CPIS_MSG_OK)
            return rc;
        copy_text(a->viewer, sizeof a->viewer, get_str(prac, "display"));
        const char *code, *display;
        role_coding(get(role, "code"), &code, &display);
        job_role(code, a->viewer_role, sizeof a->viewer_role);
        copy_text(a->viewer_role_name, sizeof a->viewer_role_name, display);
        return location_from(c, get(role, "organization"), a, "PractitionerRole.organization");
    }
    /* No PractitionerRole included: what the agent itself says. */
    const char *name = get_str(req, "name");
    copy_text(a->viewer, sizeof a->viewer, name ? name : get_str(who, "display"));
    rc = copy_id(c, a->viewer_role_profile, sizeof a->viewer_role_profile,
                 ident_str(get(who, "identifier"), SYS_SDS_ROLE_PROFILE),
                 "AuditEvent.agent.who.identifier (sds-role-profile-id)");
    if (rc != CPIS_MSG_OK)
        return rc;
    const cJSON *loc = get(req, "location");
    return location_from(c, loc != NULL ? loc : who, a,
                         "AuditEvent.agent (requestor), with no PractitionerRole included,");
}

/* ---- the Bundle ------------------------------------------------------------ */

static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; s != NULL && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int parse_bundle(struct ctx *c, const cJSON *root, struct cpis_notification *out)
{
    if (!cJSON_IsObject(root))
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED, "the JSON text is not a FHIR resource");
    const char *rt = get_str(root, "resourceType");
    if (rt == NULL)
        return cpis_fail(c->err, CPIS_MSG_MALFORMED, "resourceType is absent or not a string");
    if (strcmp(rt, "Bundle") != 0)
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED,
                         "a FHIR %s is not the CP-IS AuditEvent search Bundle",
                         strcmp(rt, "OperationOutcome") == 0 ? "OperationOutcome" : "resource");
    const char *type = get_str(root, "type");
    if (type == NULL || strcmp(type, "searchset") != 0)
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED,
                         "Bundle.type is not searchset (the CP-IS FHIR API's AuditEvent "
                         "search answers a searchset)");
    const cJSON *entries = get(root, "entry");
    if (entries != NULL && !cJSON_IsArray(entries))
        return cpis_fail(c->err, CPIS_MSG_MALFORMED, "Bundle.entry is not an array");
    int rc = entries ? build_index(c, entries) : CPIS_MSG_OK;
    if (rc != CPIS_MSG_OK)
        return rc;

    size_t n_ev = 0;
    for (size_t i = 0; i < c->n; i++)
        n_ev += strcmp(c->entries[i].type, "AuditEvent") == 0;
    out->kind = n_ev ? REC_KIND_ACCESS : REC_KIND_EMPTY;
    out->total_records = (long)n_ev;
    if (n_ev) {
        out->access = calloc(n_ev, sizeof *out->access);
        if (out->access == NULL)
            return cpis_fail(c->err, CPIS_MSG_MALFORMED, "out of memory");
    }
    uint64_t h = 14695981039346656037ULL;
    int64_t latest = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->entries[i].type, "AuditEvent") != 0)
            continue;
        struct cpis_access *a = &out->access[out->n_access];
        rc = audit_event(c, c->entries[i].res, a);
        if (rc != CPIS_MSG_OK) {
            size_t dl = strlen(c->err->detail);
            snprintf(c->err->detail + dl, sizeof c->err->detail - dl, " (AuditEvent %zu)",
                     out->n_access + 1);
            return rc;
        }
        h = fnv1a(a->access_id, h);
        h = fnv1a("|", h);
        if (a->accessed_at > latest)
            latest = a->accessed_at;
        out->n_access++;
    }

    rc = copy_id(c, out->message_id, sizeof out->message_id, get_str(root, "id"), "Bundle.id");
    if (rc != CPIS_MSG_OK)
        return rc;
    if (out->message_id[0] == '\0')
        snprintf(out->message_id, sizeof out->message_id, "auditevent-search-%016llx",
                 (unsigned long long)h);
    if (get(root, "timestamp") != NULL)
        return timestamp(c, root, "timestamp", &out->created, "Bundle.timestamp");
    if (get(get(root, "meta"), "lastUpdated") != NULL)
        return timestamp(c, get(root, "meta"), "lastUpdated", &out->created,
                         "Bundle.meta.lastUpdated");
    out->created = latest;
    return CPIS_MSG_OK;
}


/* Strict UTF-8 (no overlongs, no surrogates, max U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
            cp = b & 0x1F;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            cp = b & 0x0F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (n - i <= need)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

int cpis_parse_fhir(const uint8_t *buf, size_t len, struct cpis_notification *out,
                    struct cpis_parse_error *err)
{
    struct cpis_parse_error scratch;
    if (err == NULL)
        err = &scratch;
    memset(err, 0, sizeof *err);
    if (out == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "no output record");
    memset(out, 0, sizeof *out);
    out->format = REC_FORMAT_FHIR;
    out->total_records = -1;
    if (buf == NULL || len == 0)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "empty message");
    if (len >= 2 && ((buf[0] == 0xFF && buf[1] == 0xFE) || (buf[0] == 0xFE && buf[1] == 0xFF)))
        return cpis_fail(err, CPIS_MSG_BAD_ENCODING, "UTF-16 byte order mark; JSON must be UTF-8");
    if (memchr(buf, '\0', len) != NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "NUL byte in the JSON text");
    if (!utf8_valid(buf, len))
        return cpis_fail(err, CPIS_MSG_BAD_ENCODING, "JSON text is not valid UTF-8");
    if (len > SIZE_MAX - 1)
        return cpis_fail(err, CPIS_MSG_TOO_LARGE, "message too large");

    char why[128] = "";
    cJSON *root = cpis_json_parse_strict((const char *)buf, len, why, sizeof why);
    if (root == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "not acceptable JSON: %s", why);

    struct ctx c = {.err = err};
    int rc = parse_bundle(&c, root, out);
    ctx_free(&c);
    cJSON_Delete(root);
    if (rc != CPIS_MSG_OK) {
        if (err->code == CPIS_MSG_OK)
            cpis_fail(err, rc, "rejected");
        cpis_notification_free(out);
        memset(out, 0, sizeof *out);
        return rc;
    }
    err->code = CPIS_MSG_OK;
    err->detail[0] = '\0';
    return CPIS_MSG_OK;
}
