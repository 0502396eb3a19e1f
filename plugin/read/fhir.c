/*
 * fhir.c - the project's FHIR R4 JSON notification (docs/reference.md, section 3)
 * -> struct cpis_notification.
 *
 * Shape: a Bundle of type "message"; its first MessageHeader carries the
 * notification id, the event code (urn:oid:2.16.840.1.113883.2.1.3.2.4.17.470
 * "05" access, "06" inactive NHS number) and destination[0].receiver (the LA
 * Organization); Bundle.timestamp is the creation time; each AuditEvent is
 * one access.  References are resolved through entry.fullUrl (urn:uuid:...)
 * first, then as "ResourceType/id" (also matching an absolute fullUrl ending
 * in "/ResourceType/id").  A Reference may instead carry an inline
 * identifier (logical reference) where only a code is needed: receiver,
 * PractitionerRole.organization, Device.owner, AuditEvent.entity.what.
 *
 * Decisions (documented here because the public material is silent):
 *  - Author of an access: AuditEvent.agent[0].who -> PractitionerRole
 *    (person) or Device (system).  For a Device author the responsible
 *    person is the first later agent (agent[1], agent[2], ...) whose who
 *    resolves to a Practitioner or a PractitionerRole; its name (and SDS user
 *    id, and for a PractitionerRole its job role and role profile) fill the
 *    viewer fields.  No extension is read for this.
 *  - The child: the first AuditEvent.entity whose what resolves to a Patient
 *    (or carries an inline NHS number identifier); normally entity[0].
 *  - An NHS number given as a JSON number (not a string) is
 *    invalid_nhs_number, not missing_field: the identifier is there with the
 *    NHS number system, but its value is not a valid NHS number (a JSON
 *    number cannot carry the canonical text, leading zeros or spacing, and
 *    cJSON converts it through a double).  The same rule makes a numeric ODS
 *    code invalid_ods_code.
 *  - SDS job role codes in the compound form "S8000:G8000:R8000" are reduced
 *    to their last segment ("R8000"), so both forms compare equal.
 *  - Wrong types: a Bundle.entry that is not an array, an entry or resource
 *    that is not an object, a resource without a string resourceType, or two
 *    entries with the same fullUrl are "malformed"; a required value that is
 *    absent or of the wrong type is "missing_field" naming the field.
 *  - total_records is -1 (FHIR states no count); the LA upload file is read
 *    from an optional MessageHeader extension whose url ends in
 *    "LAUploadFile" (valueString or valueIdentifier.value).
 *  - CarePlan categories are not recorded (struct cpis_access has no field).
 *  - Text fields have control characters replaced by spaces.
 *  - Bytes: a NUL byte is malformed; invalid UTF-8 or a UTF-16 BOM is
 *    bad_encoding; a UTF-8 BOM and trailing white space are accepted.
 *  - Out of memory is reported as malformed (the contract has no transient
 *    parse error code); unfinished: the dispatcher may want to map it to a
 *    retry instead.
 *
 * No global cJSON state: no cJSON_InitHooks, no cJSON_GetErrorPtr.
 * Error details name fields, never values.
 */
#include "ids.h"
#include "parse.h"
#include "record.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYS_EVENT "urn:oid:2.16.840.1.113883.2.1.3.2.4.17.470"
#define SYS_NHS "https://fhir.nhs.uk/Id/nhs-number"
#define SYS_ODS_ORG "https://fhir.nhs.uk/Id/ods-organization-code"
#define SYS_ODS_SITE "https://fhir.nhs.uk/Id/ods-site-code"
#define SYS_SDS_USER "https://fhir.nhs.uk/Id/sds-user-id"
#define SYS_SDS_ROLE_PROFILE "https://fhir.nhs.uk/Id/sds-role-profile-id"
#define SYS_ASID "https://fhir.nhs.uk/Id/nhsSpineASID"
#define SYS_LOCAL_ID "urn:oid:2.16.840.1.113883.2.1.3.2.4.18.24"

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

struct sbuf {
    char *p;
    size_t cap, len;
};

static void sb_add(struct sbuf *b, const char *s)
{
    if (s == NULL)
        return;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n == 0)
        return;
    if (b->len > 0 && b->len + 1 < b->cap)
        b->p[b->len++] = ' ';
    if (b->len + n >= b->cap)
        n = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* A string or an array of strings, each appended. */
static void sb_add_parts(struct sbuf *b, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        sb_add(b, v->valuestring);
        return;
    }
    if (!cJSON_IsArray(v))
        return;
    EACH(x, v) {
        if (cJSON_IsString(x))
            sb_add(b, x->valuestring);
    }
}

/* HumanName list -> "prefix given family" (the official name if marked,
 * else the first); falls back to HumanName.text. */
static void human_name(const cJSON *names, char *out, size_t cap)
{
    const cJSON *name = NULL;
    EACH(nm, names) {
        const char *use = get_str(nm, "use");
        if (use != NULL && strcmp(use, "official") == 0) {
            name = nm;
            break;
        }
    }
    if (name == NULL)
        name = first_el(names);
    char tmp[REC_TEXT_MAX * 2];
    struct sbuf b = {tmp, sizeof tmp, 0};
    tmp[0] = '\0';
    if (cJSON_IsObject(name)) {
        sb_add_parts(&b, get(name, "prefix"));
        sb_add_parts(&b, get(name, "given"));
        sb_add_parts(&b, get(name, "family"));
        if (b.len == 0)
            sb_add(&b, get_str(name, "text"));
    }
    copy_text(out, cap, tmp);
}

/* "S8000:G8000:R8000" -> "R8000"; "R0260" unchanged. */
static void job_role(const char *code, char *out, size_t cap)
{
    const char *colon = code ? strrchr(code, ':') : NULL;
    copy_text(out, cap, colon ? colon + 1 : code);
}

/* CodeableConcept list -> first coding that has a code. */
static void first_coding(const cJSON *concepts, const char **code, const char **display)
{
    *code = *display = NULL;
    EACH(cc, concepts) {
        const cJSON *codings = get(cc, "coding");
        EACH(cd, codings) {
            const char *c = get_str(cd, "code");
            if (c != NULL && c[0] != '\0') {
                *code = c;
                *display = get_str(cd, "display");
                return;
            }
        }
    }
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
    int rc = cpis_nhs_normalise(v->valuestring, out, 11);
    if (rc == -2)
        return cpis_fail(c->err, CPIS_MSG_INVALID_NHS_NUMBER,
                         "%s NHS number fails the Modulus 11 check", what);
    if (rc != 0)
        return cpis_fail(c->err, CPIS_MSG_INVALID_NHS_NUMBER,
                         "%s NHS number is not 10 digits", what);
    return CPIS_MSG_OK;
}

/* An ODS code from a Reference (inline identifier) or the Organization it
 * points at.  systems: org and site accepted when allow_site.  Fills code,
 * is_site and name (Reference.display, else Organization.name). */
static int ods_from_ref(struct ctx *c, const cJSON *ref, int allow_site, char *code,
                        size_t code_cap, int *is_site, char *name, size_t name_cap,
                        const char *what)
{
    const cJSON *org = resolve(c, ref);
    const char *rt = get_str(org, "resourceType");
    if (rt != NULL && strcmp(rt, "Organization") != 0)
        org = NULL;
    const cJSON *v = NULL;
    int found = 0, site = 0;
    const cJSON *sources[2] = {get(ref, "identifier"), get(org, "identifier")};
    for (int s = 0; s < 2 && !found; s++) {
        v = ident_value(sources[s], SYS_ODS_ORG, &found);
        if (!found && allow_site) {
            v = ident_value(sources[s], SYS_ODS_SITE, &found);
            site = found;
        }
    }
    if (!found)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "%s ODS code identifier is absent",
                         what);
    if (v == NULL || cJSON_IsNull(v))
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "%s ODS code has no value", what);
    if (!cJSON_IsString(v))
        return cpis_fail(c->err, CPIS_MSG_INVALID_ODS_CODE, "%s ODS code is not a JSON string",
                         what);
    if (!cpis_ods_code_valid(v->valuestring))
        return cpis_fail(c->err, CPIS_MSG_INVALID_ODS_CODE,
                         "%s ODS code is not 1-9 letters and digits", what);
    copy_text(code, code_cap, v->valuestring);
    if (is_site)
        *is_site = site;
    if (name != NULL) {
        const char *disp = get_str(ref, "display");
        if (disp == NULL || disp[0] == '\0')
            disp = get_str(org, "name");
        copy_text(name, name_cap, disp);
    }
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

/* ---- authors ----------------------------------------------------------- */

/* Practitioner -> viewer name and SDS user id. */
static void practitioner_into(const struct ctx *c, const cJSON *ref, struct cpis_access *a)
{
    const cJSON *prac = resolve_type(c, ref, "Practitioner");
    if (prac != NULL) {
        human_name(get(prac, "name"), a->viewer, sizeof a->viewer);
        copy_text(a->viewer_user_id, sizeof a->viewer_user_id,
                       ident_str(get(prac, "identifier"), SYS_SDS_USER));
    }
    /* Logical reference or a display only. */
    if (a->viewer_user_id[0] == '\0')
        copy_text(a->viewer_user_id, sizeof a->viewer_user_id,
                       ident_str(get(ref, "identifier"), SYS_SDS_USER));
    if (a->viewer[0] == '\0')
        copy_text(a->viewer, sizeof a->viewer, get_str(ref, "display"));
}

/* PractitionerRole -> role, role profile and the practitioner. */
static void role_into(const struct ctx *c, const cJSON *role, struct cpis_access *a)
{
    const char *code, *display;
    first_coding(get(role, "code"), &code, &display);
    job_role(code, a->viewer_role, sizeof a->viewer_role);
    copy_text(a->viewer_role_name, sizeof a->viewer_role_name, display);
    copy_text(a->viewer_role_profile, sizeof a->viewer_role_profile,
                   ident_str(get(role, "identifier"), SYS_SDS_ROLE_PROFILE));
    practitioner_into(c, get(role, "practitioner"), a);
}

static int person_author(struct ctx *c, const cJSON *role, struct cpis_access *a)
{
    a->author_kind = AUTHOR_PERSON;
    role_into(c, role, a);
    return ods_from_ref(c, get(role, "organization"), 1, a->location_code,
                        sizeof a->location_code, &a->location_is_site, a->location_name,
                        sizeof a->location_name, "PractitionerRole.organization");
}

static int system_author(struct ctx *c, const cJSON *dev, const cJSON *who_ref,
                         const cJSON *agents, struct cpis_access *a)
{
    a->author_kind = AUTHOR_SYSTEM;
    copy_text(a->system_asid, sizeof a->system_asid,
                   ident_str(get(dev, "identifier"), SYS_ASID));
    const char *name = get_str(first_el(get(dev, "deviceName")), "name");
    if (name == NULL || name[0] == '\0')
        name = get_str(who_ref, "display");
    copy_text(a->system_name, sizeof a->system_name, name);
    /* Responsible person: the first later agent naming a Practitioner or a
     * PractitionerRole. */
    const cJSON *first = first_el(agents);
    EACH(ag, agents) {
        if (ag == first)
            continue;
        const cJSON *ref = get(ag, "who");
        const cJSON *res = resolve(c, ref);
        const char *t = get_str(res, "resourceType");
        if (t == NULL)
            continue;
        if (strcmp(t, "Practitioner") == 0) {
            practitioner_into(c, ref, a);
            break;
        }
        if (strcmp(t, "PractitionerRole") == 0) {
            role_into(c, res, a);
            break;
        }
    }
    return ods_from_ref(c, get(dev, "owner"), 1, a->location_code, sizeof a->location_code,
                        &a->location_is_site, a->location_name, sizeof a->location_name,
                        "Device.owner");
}

/* ---- one AuditEvent ---------------------------------------------------- */

static int patient_nhs(struct ctx *c, const cJSON *ref, const cJSON *patient, char *nhs,
                       char *local_id, size_t local_cap, const char *what)
{
    int found = 0;
    const cJSON *v = ident_value(get(patient, "identifier"), SYS_NHS, &found);
    if (!found && ref != NULL)
        v = ident_value(get(ref, "identifier"), SYS_NHS, &found);
    int rc = nhs_from_value(c, v, found, nhs, what);
    if (rc != CPIS_MSG_OK)
        return rc;
    if (local_id != NULL) {
        const char *lid = ident_str(get(patient, "identifier"), SYS_LOCAL_ID);
        if (lid == NULL)
            lid = ident_str(get(ref, "identifier"), SYS_LOCAL_ID);
        copy_text(local_id, local_cap, lid);
    }
    return CPIS_MSG_OK;
}

static int audit_event(struct ctx *c, const cJSON *ev, struct cpis_access *a)
{
    int rc = timestamp(c, ev, "recorded", &a->accessed_at, "AuditEvent.recorded");
    if (rc != CPIS_MSG_OK)
        return rc;

    /* The child. */
    const cJSON *ents = get(ev, "entity");
    const cJSON *pref = NULL, *patient = NULL;
    EACH(en, ents) {
        if (patient != NULL)
            break;
        const cJSON *ref = get(en, "what");
        const cJSON *p = resolve_type(c, ref, "Patient");
        if (p != NULL) {
            pref = ref;
            patient = p;
        } else if (pref == NULL && get(ref, "identifier") != NULL) {
            pref = ref; /* a logical reference: keep looking for a resource */
        }
    }
    if (pref == NULL)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "AuditEvent.entity[].what does not reference a Patient");
    rc = patient_nhs(c, pref, patient, a->nhs_number, a->local_id, sizeof a->local_id,
                     "Patient");
    if (rc != CPIS_MSG_OK)
        return rc;

    /* The author. */
    const cJSON *agents = get(ev, "agent");
    const cJSON *who = get(first_el(agents), "who");
    if (who == NULL)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "AuditEvent.agent[0].who is absent");
    const cJSON *res = resolve(c, who);
    const char *t = get_str(res, "resourceType");
    if (t != NULL && strcmp(t, "PractitionerRole") == 0)
        return person_author(c, res, a);
    if (t != NULL && strcmp(t, "Device") == 0)
        return system_author(c, res, who, agents, a);
    return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                     "AuditEvent.agent[0].who does not reference a PractitionerRole or Device");
}

/* ---- the message ------------------------------------------------------- */

static void upload_file(const cJSON *header, char *out, size_t cap)
{
    const cJSON *exts = get(header, "extension");
    EACH(x, exts) {
        const char *url = get_str(x, "url");
        size_t ul = url ? strlen(url) : 0;
        if (ul < 12 || strcmp(url + ul - 12, "LAUploadFile") != 0)
            continue;
        const char *v = get_str(x, "valueString");
        if (v == NULL)
            v = get_str(get(x, "valueIdentifier"), "value");
        copy_text(out, cap, v);
        return;
    }
}

static int inactive(struct ctx *c, const cJSON *header, struct cpis_notification *out)
{
    const cJSON *patient = NULL, *pref = NULL;
    const cJSON *focus = get(header, "focus");
    EACH(ref, focus) {
        const cJSON *p = resolve_type(c, ref, "Patient");
        if (p != NULL) {
            patient = p;
            pref = ref;
            break;
        }
    }
    if (patient == NULL) {
        size_t seen = 0;
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->entries[i].type, "Patient") == 0) {
                patient = c->entries[i].res;
                seen++;
            }
        if (seen != 1)
            return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                             seen == 0 ? "inactive NHS number notification has no Patient"
                                       : "MessageHeader.focus names no Patient and the "
                                         "bundle holds several");
    }
    return patient_nhs(c, pref, patient, out->inactive_nhs_number, NULL, 0, "Patient");
}

static int parse_bundle(struct ctx *c, const cJSON *root, struct cpis_notification *out)
{
    if (!cJSON_IsObject(root))
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED, "JSON document is not an object");
    const char *rt = get_str(root, "resourceType");
    if (rt == NULL || strcmp(rt, "Bundle") != 0)
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED, "resourceType is not Bundle");
    const char *bt = get_str(root, "type");
    if (bt == NULL || strcmp(bt, "message") != 0)
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED, "Bundle.type is not message");

    const cJSON *entry = get(root, "entry");
    if (entry != NULL && !cJSON_IsArray(entry))
        return cpis_fail(c->err, CPIS_MSG_MALFORMED, "Bundle.entry is not an array");
    int rc = build_index(c, entry);
    if (rc != CPIS_MSG_OK)
        return rc;

    /* FHIR: the MessageHeader is the first entry; tolerate it elsewhere. */
    const cJSON *header = NULL;
    size_t n_audit = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (header == NULL && strcmp(c->entries[i].type, "MessageHeader") == 0)
            header = c->entries[i].res;
        else if (strcmp(c->entries[i].type, "AuditEvent") == 0)
            n_audit++;
    }
    if (header == NULL)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "Bundle has no MessageHeader");

    /* Event code decides the kind before any other field is checked. */
    const cJSON *ev = get(header, "eventCoding");
    if (ev == NULL)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD, "MessageHeader.eventCoding is absent");
    const char *sys = get_str(ev, "system"), *code = get_str(ev, "code");
    if (code == NULL)
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "MessageHeader.eventCoding.code is absent or not a string");
    if (sys == NULL || strcmp(sys, SYS_EVENT) != 0)
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED,
                         "MessageHeader.eventCoding.system is not the CP-IS message type system");
    int is_inactive;
    if (strcmp(code, "05") == 0)
        is_inactive = 0;
    else if (strcmp(code, "06") == 0)
        is_inactive = 1;
    else
        return cpis_fail(c->err, CPIS_MSG_UNSUPPORTED,
                         "MessageHeader.eventCoding.code is not 05 or 06");

    const char *id = get_str(header, "id");
    if (id == NULL || id[0] == '\0')
        return cpis_fail(c->err, CPIS_MSG_MISSING_FIELD,
                         "MessageHeader.id is absent or not a string");
    if (strlen(id) >= sizeof out->message_id)
        return cpis_fail(c->err, CPIS_MSG_MALFORMED, "MessageHeader.id is longer than %zu bytes",
                         sizeof out->message_id - 1);
    memcpy(out->message_id, id, strlen(id) + 1);

    rc = timestamp(c, root, "timestamp", &out->created, "Bundle.timestamp");
    if (rc != CPIS_MSG_OK)
        return rc;

    /* The recipient LA: optional, validated when present. */
    const cJSON *dest = first_el(get(header, "destination"));
    const cJSON *recv = get(dest, "receiver");
    if (recv != NULL) {
        rc = ods_from_ref(c, recv, 0, out->la_code, sizeof out->la_code, NULL, NULL, 0,
                          "MessageHeader.destination[0].receiver");
        if (rc != CPIS_MSG_OK)
            return rc;
    }
    upload_file(header, out->upload_file, sizeof out->upload_file);

    if (is_inactive) {
        out->kind = REC_KIND_INACTIVE;
        return inactive(c, header, out);
    }
    if (n_audit == 0) {
        out->kind = REC_KIND_EMPTY;
        return CPIS_MSG_OK;
    }
    out->kind = REC_KIND_ACCESS;
    /* Grow as accesses validate: a hostile bundle of thousands of empty
     * AuditEvents must not cost thousands of records before the first fails. */
    size_t cap = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->entries[i].type, "AuditEvent") != 0)
            continue;
        if (out->n_access == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            if (ncap > n_audit)
                ncap = n_audit;
            struct cpis_access *na = realloc(out->access, ncap * sizeof *na);
            if (na == NULL)
                return cpis_fail(c->err, CPIS_MSG_MALFORMED, "out of memory");
            memset(na + cap, 0, (ncap - cap) * sizeof *na);
            out->access = na;
            cap = ncap;
        }
        rc = audit_event(c, c->entries[i].res, &out->access[out->n_access]);
        if (rc != CPIS_MSG_OK) {
            /* Say which access failed (the index, never a value). */
            size_t dl = strlen(c->err->detail);
            snprintf(c->err->detail + dl, sizeof c->err->detail - dl, " (access %zu)",
                     out->n_access + 1);
            return rc;
        }
        out->n_access++;
    }
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

    /* cJSON wants a NUL-terminated buffer to reject trailing text. */
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
    memcpy(copy, buf, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (root == NULL) {
        free(copy);
        /* end is not set on failure; the offset would point into the text,
         * which is harmless, but the detail stays generic on purpose. */
        return cpis_fail(err, CPIS_MSG_MALFORMED,
                         "not well-formed JSON (syntax error, trailing text or nesting "
                         "deeper than 1000)");
    }

    struct ctx c = {.err = err};
    int rc = parse_bundle(&c, root, out);
    ctx_free(&c);
    cJSON_Delete(root);
    free(copy);
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
