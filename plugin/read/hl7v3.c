/*
 * hl7v3.c - the CP-IS HL7 V3 files an LA receives, read as NHS Digital's
 * published schemas define them (docs/messages.md has the element paths):
 *
 *   CP-ISAccessToServiceNotification     REPC_MT000004GB01  -> access / empty
 *   CP-ISInactiveNHSNumberNotification   REPC_MT000005GB01  -> inactive
 *   FileResponse (upload acknowledgement) REPC_MT000003GB01 -> ignored
 *
 * The XML is read by cpis_xml_read_light (xml.c: no DTD, no entity, no
 * network) into a light tree: elements, attributes, the text of names.
 * Then:
 *   - every payload element above is found by namespace (urn:hl7-org:v3) and
 *     local name wherever it sits: the bare payload as the root (what the
 *     Spine sends), or inside any wrapper (SOAP, ITK distribution envelope,
 *     MCCI, a container holding several).  One file may hold several: each
 *     is its own notification.  A payload is never searched inside another.
 *   - inside a payload every value is read from its schema path, child by
 *     child, by namespace, element name and identifier root: never by
 *     position or namespace prefix.  Elements of other namespaces (the
 *     npfitlc:contentId template markers, vendor extensions), comments and
 *     white space are ignored.  An element of the HL7 namespace that the
 *     schema does not put where an access or a subject must be (the
 *     notification, its record access and query chain, an inactive subject)
 *     rejects the file: an access the parser cannot read is never skipped.
 *   - the accesses found must match pertinentTotalReturnedRecords: fewer is
 *     missing_field (never "empty"), more is malformed; "empty" is only a
 *     stated 0 with no access.
 *
 * Error details name the field and the access or subject number, never a
 * value (no NHS number, name or message text).  Element names are quoted
 * only when they cannot carry data (see safe_name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parse.h"

#define V3_NS "urn:hl7-org:v3"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define MAX_ACCESS_RECORDS 1000 /* per notification */
#define MAX_SUBJECTS 1000       /* per inactive NHS number notification */
#define MAX_PAYLOADS 100        /* per file */

#define ROOT_NHS "2.16.840.1.113883.2.1.4.1"
#define ROOT_LA_CHILD "2.16.840.1.113883.2.1.3.2.4.18.24"
#define ROOT_SDS_USER "1.2.826.0.1285.0.2.0.65"
#define ROOT_SDS_ROLE_PROFILE "1.2.826.0.1285.0.2.0.67"
#define ROOT_ASID "1.2.826.0.1285.0.2.0.107"
#define ROOT_ODS_ORG "2.16.840.1.113883.2.1.3.2.4.19.1"
#define ROOT_ODS_SITE "2.16.840.1.113883.2.1.3.2.4.19.2"

#define EL_ASN "CP-ISAccessToServiceNotification"
#define EL_INACTIVE "CP-ISInactiveNHSNumberNotification"
#define EL_FILE_RESPONSE "FileResponse"

/* ======================================================================== */
/* Tree helpers                                                              */
/* ======================================================================== */

/* Names are compared with strcmp (an element without a name is never an
 * HL7 element); the local name first, as it tells most elements apart at
 * once, the namespace after. */
typedef const struct cpis_xnode xnode;

static int in_v3_ns(xnode *n)
{
    return n->ns != NULL && strcmp(n->ns, V3_NS) == 0;
}

static int is_v3(xnode *n)
{
    return n != NULL && n->type == CPIS_XN_ELEMENT && n->name != NULL && in_v3_ns(n);
}

static int is_el(xnode *n, const char *name)
{
    return n != NULL && n->type == CPIS_XN_ELEMENT && n->name != NULL &&
           strcmp(n->name, name) == 0 && in_v3_ns(n);
}

/* Elements every HL7 V3 class may carry (InfrastructureRootElements) and
 * the fixed ones the schemas allow zero times: never an access. */
static int is_infrastructure(xnode *n) /* n: an HL7 element (is_v3) */
{
    const char *nm = n->name;
    return strcmp(nm, "realmCode") == 0 || strcmp(nm, "typeId") == 0 ||
           strcmp(nm, "templateId") == 0 || strcmp(nm, "code") == 0;
}

/* The only child called name.  Returns 1 and sets *out (NULL when there is
 * none); 0 when there are several (the caller rejects: which one would be
 * the truth is unknown). */
static int only_child(xnode *parent, const char *name, xnode **out)
{
    *out = NULL;
    if (parent == NULL)
        return 1;
    for (xnode *c = parent->children; c != NULL; c = c->next) {
        if (!is_el(c, name))
            continue;
        if (*out != NULL)
            return 0;
        *out = c;
    }
    return 1;
}

/* First child called name (where the schema allows only one and a second
 * would change nothing the parser reads). */
static xnode *child_el(xnode *parent, const char *name)
{
    if (parent == NULL)
        return NULL;
    for (xnode *c = parent->children; c != NULL; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

/* Follow a path of single children: "a/b/c". */
static xnode *path_el(xnode *n, const char *path)
{
    char part[64];
    while (n != NULL && *path != '\0') {
        size_t k = strcspn(path, "/");
        if (k >= sizeof part)
            return NULL;
        memcpy(part, path, k);
        part[k] = '\0';
        n = child_el(n, part);
        path += k + (path[k] == '/');
    }
    return n;
}

enum { ATTR_ABSENT = 0, ATTR_OK = 1, ATTR_TOO_LONG = 2 };

/* The attribute of n called name in namespace ns (NULL: no namespace), as
 * xmlGetNoNsProp / xmlGetNsProp find it (no DTD defaults: a DOCTYPE is
 * refused); its value as they return it (xml.c keeps it so). */
static const struct cpis_xattr *find_attr(xnode *n, const char *name, const char *ns)
{
    if (n == NULL || n->type != CPIS_XN_ELEMENT)
        return NULL;
    for (const struct cpis_xattr *a = n->attrs; a != NULL; a = a->next) {
        if (strcmp(a->name, name) != 0)
            continue;
        if (ns == NULL ? a->ns == NULL : a->ns != NULL && strcmp(a->ns, ns) == 0)
            return a;
    }
    return NULL;
}

/* Copy an unqualified attribute (trimmed). */
static int get_attr(xnode *n, const char *name, char *dst, size_t cap)
{
    dst[0] = '\0';
    const struct cpis_xattr *a = find_attr(n, name, NULL);
    if (a == NULL)
        return ATTR_ABSENT;
    return cpis_copy_text(dst, cap, a->value) ? ATTR_OK : ATTR_TOO_LONG;
}

static int attr_equals(xnode *n, const char *name, const char *want)
{
    char buf[128];
    return get_attr(n, name, buf, sizeof buf) == ATTR_OK && strcmp(buf, want) == 0;
}

/* xsi:nil="true" (the schemas make some association elements nillable). */
static int is_nil(xnode *n)
{
    const struct cpis_xattr *a = find_attr(n, "nil", XSI_NS);
    return a != NULL && (strcmp(a->value, "true") == 0 || strcmp(a->value, "1") == 0);
}

/* The child called name (e.g. "id", "value") whose @root is root. */
static xnode *child_with_root(xnode *parent, const char *name, const char *root)
{
    if (parent == NULL)
        return NULL;
    for (xnode *c = parent->children; c != NULL; c = c->next)
        if (is_el(c, name) && attr_equals(c, "root", root))
            return c;
    return NULL;
}

/* The text of n and its descendants, in document order, appended to buf
 * (as xnodeGetContent joins it).  Returns the new length. */
static size_t gather_text(xnode *n, char *buf, size_t w)
{
    for (xnode *c = n->children; c != NULL; c = c->next) {
        if (c->type == CPIS_XN_TEXT) {
            memcpy(buf + w, c->text, c->len);
            w += c->len;
        } else {
            w = gather_text(c, buf, w);
        }
    }
    return w;
}

static size_t text_length(xnode *n)
{
    size_t len = 0;
    for (xnode *c = n->children; c != NULL; c = c->next)
        len += c->type == CPIS_XN_TEXT ? c->len : text_length(c);
    return len;
}

/* Text content with white-space runs collapsed to one space.  Only the
 * text of names and their descendants is in the light tree (xml.c), and
 * that is all this is called on. */
static void node_text(xnode *n, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (n == NULL)
        return;
    /* one text child (a name part, a plain name): read in place; anything
     * else joined first (on the stack when short) */
    xnode *t = n->children;
    char joined_local[512];
    char *joined = NULL;
    const char *s;
    size_t len;
    if (t != NULL && t->next == NULL && t->type == CPIS_XN_TEXT) {
        s = t->text;
        len = t->len;
    } else {
        len = text_length(n);
        joined = len < sizeof joined_local ? joined_local : malloc(len + 1);
        if (joined == NULL)
            return;
        gather_text(n, joined, 0);
        joined[len] = '\0';
        s = joined;
    }
    /* collapse into a copy (on the stack when short), then copy that */
    char local[512];
    char *buf = len < sizeof local ? local : malloc(len + 1);
    if (buf != NULL) {
        size_t w = 0;
        int sp = 0;
        for (size_t r = 0; r < len; r++) {
            char ch = s[r];
            if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
                sp = 1;
                continue;
            }
            if (sp && w > 0)
                buf[w++] = ' ';
            sp = 0;
            buf[w++] = ch;
        }
        buf[w] = '\0';
        cpis_copy_text(dst, cap, buf);
        if (buf != local)
            free(buf);
    }
    if (joined != joined_local)
        free(joined);
}

static void append_word(char *dst, size_t cap, const char *word)
{
    if (word[0] == '\0')
        return;
    size_t n = strlen(dst);
    if (n > 0 && n + 1 < cap) {
        dst[n++] = ' ';
        dst[n] = '\0';
    }
    cpis_copy_text(dst + n, cap - n, word);
}

/* HL7 PN: prefix*, given*, family*, suffix* (in that order, whatever the
 * order in the message); the plain text when it has none of them. */
static void compose_name(xnode *name, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (name == NULL)
        return;
    static const char *const parts[] = {"prefix", "given", "family", "suffix"};
    char word[REC_TEXT_MAX];
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        for (xnode *c = name->children; c != NULL; c = c->next) {
            if (is_el(c, parts[p])) {
                node_text(c, word, sizeof word);
                append_word(dst, cap, word);
            }
        }
    }
    if (dst[0] == '\0')
        node_text(name, dst, cap);
}

/* An element name fit for an error detail: letters, '-', '.', '_' and at
 * most two digits in a row (schema names such as COCT_TP145102GB01 have
 * runs of six, so those are named by what they are, not quoted). */
static const char *safe_name(xnode *n, char *buf, size_t cap)
{
    const char *s = n != NULL ? n->name : "";
    size_t len = strlen(s), run = 0;
    int ok = len > 0 && len < cap && len <= 48;
    for (size_t i = 0; ok && i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (++run > 2)
                ok = 0;
        } else {
            run = 0;
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '-' || c == '.' ||
                  c == '_'))
                ok = 0;
        }
    }
    snprintf(buf, cap, "%s", ok ? s : "(a name that is not quoted)");
    return buf;
}

/* Rejects an HL7-namespace child of parent that is none of the names
 * allowed (NULL-terminated list) nor infrastructure. */
static int check_children(xnode *parent, const char *const *allowed, const char *where,
                          struct cpis_parse_error *err)
{
    for (xnode *c = parent->children; c != NULL; c = c->next) {
        if (!is_v3(c) || is_infrastructure(c))
            continue;
        int known = 0;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(c->name, allowed[i]) == 0;
        if (!known) {
            char nm[64];
            return cpis_fail(err, CPIS_MSG_UNSUPPORTED,
                             "unknown HL7 element <%s> in %s: not read, so the file is "
                             "refused rather than an access lost",
                             safe_name(c, nm, sizeof nm), where);
        }
    }
    return CPIS_MSG_OK;
}

/* ======================================================================== */
/* Values                                                                    */
/* ======================================================================== */

/* Copy an identifier attribute that must fit (codes, ids). */
static int copy_id_attr(xnode *n, const char *attr, char *dst, size_t cap,
                        const char *field, const char *where, struct cpis_parse_error *err)
{
    if (get_attr(n, attr, dst, cap) == ATTR_TOO_LONG)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "%s%s is too long", field, where);
    return CPIS_MSG_OK;
}

/* A required single element: missing_field when absent, malformed when
 * repeated. */
static int need_one(xnode *parent, const char *name, xnode **out, const char *field,
                    const char *where, struct cpis_parse_error *err)
{
    if (!only_child(parent, name, out))
        return cpis_fail(err, CPIS_MSG_MALFORMED, "%s%s appears more than once", field, where);
    if (*out == NULL)
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing %s%s", field, where);
    return CPIS_MSG_OK;
}

/* effectiveTime/@value (or another TS element) -> epoch seconds. */
static int get_ts(xnode *parent, const char *name, const char *field, const char *where,
                  int64_t *out, struct cpis_parse_error *err)
{
    xnode *el;
    int rc = need_one(parent, name, &el, field, where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    char v[64];
    int a = get_attr(el, "value", v, sizeof v);
    if (a == ATTR_ABSENT || v[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing %s%s", field, where);
    if (a == ATTR_TOO_LONG || cpis_hl7_ts_parse(v, out) != 0)
        return cpis_fail(err, CPIS_MSG_INVALID_TIMESTAMP, "invalid %s%s", field, where);
    return CPIS_MSG_OK;
}

/* id/@root (a UUID on the wire) -> dst. */
static int get_id_root(xnode *parent, char *dst, size_t cap, const char *field,
                       const char *where, struct cpis_parse_error *err)
{
    xnode *id;
    int rc = need_one(parent, "id", &id, field, where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    int a = get_attr(id, "root", dst, cap);
    if (a == ATTR_TOO_LONG)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "%s%s is too long", field, where);
    if (a == ATTR_ABSENT || dst[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing %s (id/@root)%s", field, where);
    return CPIS_MSG_OK;
}

/* An NHS number from an identifier element's @extension. */
static int nhs_from(xnode *id, char *out, const char *field, const char *where,
                    struct cpis_parse_error *err)
{
    char raw[64];
    int a = id != NULL ? get_attr(id, "extension", raw, sizeof raw) : ATTR_ABSENT;
    if (a == ATTR_ABSENT || raw[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing %s%s", field, where);
    if (a == ATTR_TOO_LONG)
        return cpis_fail(err, CPIS_MSG_INVALID_NHS_NUMBER, "%s%s has a bad shape", field,
                         where);
    int rc = cpis_nhs_normalise(raw, out, 11);
    if (rc == -2)
        return cpis_fail(err, CPIS_MSG_INVALID_NHS_NUMBER, "%s%s fails the Modulus 11 check",
                         field, where);
    if (rc != 0)
        return cpis_fail(err, CPIS_MSG_INVALID_NHS_NUMBER, "%s%s has a bad shape", field,
                         where);
    return CPIS_MSG_OK;
}

/* An organisation (representedOrganization, maintainingOrganization):
 * id (root organisation or site) -> location code, name -> location name. */
static int get_location(xnode *org, struct cpis_access *a, const char *what,
                        const char *where, struct cpis_parse_error *err)
{
    if (org == NULL)
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing access location (%s)%s", what,
                         where);
    xnode *id = child_with_root(org, "id", ROOT_ODS_SITE);
    a->location_is_site = id != NULL;
    if (id == NULL)
        id = child_with_root(org, "id", ROOT_ODS_ORG);
    int r = get_attr(id, "extension", a->location_code, sizeof a->location_code);
    if (r == ATTR_ABSENT || a->location_code[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing access location code (%s/id)%s",
                         what, where);
    if (r == ATTR_TOO_LONG || !cpis_ods_code_valid(a->location_code))
        return cpis_fail(err, CPIS_MSG_INVALID_ODS_CODE, "invalid access location code%s",
                         where);
    node_text(child_el(org, "name"), a->location_name, sizeof a->location_name);
    return CPIS_MSG_OK;
}

/* A job role code (CV): @code and @displayName. */
static int get_role(xnode *code, struct cpis_access *a, const char *where,
                    struct cpis_parse_error *err)
{
    int rc = copy_id_attr(code, "code", a->viewer_role, sizeof a->viewer_role, "job role code",
                          where, err);
    if (rc == CPIS_MSG_OK)
        get_attr(code, "displayName", a->viewer_role_name, sizeof a->viewer_role_name);
    return rc;
}

/* ======================================================================== */
/* Access to Service Notification                                            */
/* ======================================================================== */

/* author/COCT_TP145102GB01.AssignedAuthor: a person. */
static int person_author(xnode *aa, struct cpis_access *a, const char *where,
                         struct cpis_parse_error *err)
{
    a->author_kind = AUTHOR_PERSON;
    int rc = get_role(child_el(aa, "code"), a, where, err);
    if (rc == CPIS_MSG_OK)
        rc = copy_id_attr(child_with_root(aa, "id", ROOT_SDS_USER), "extension",
                          a->viewer_user_id, sizeof a->viewer_user_id, "SDS user id", where,
                          err);
    if (rc == CPIS_MSG_OK)
        rc = copy_id_attr(child_with_root(aa, "id", ROOT_SDS_ROLE_PROFILE), "extension",
                          a->viewer_role_profile, sizeof a->viewer_role_profile,
                          "SDS role profile id", where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    compose_name(path_el(aa, "assignedAuthorPerson/name"), a->viewer, sizeof a->viewer);
    return get_location(child_el(aa, "representedOrganization"), a, "representedOrganization",
                        where, err);
}

/* author/COCT_TP145104GB01.System: a system (NHS 111, ambulance dispatch);
 * the person responsible comes from indirectAuthority. */
static int system_author(xnode *sys, struct cpis_access *a, const char *where,
                         struct cpis_parse_error *err)
{
    a->author_kind = AUTHOR_SYSTEM;
    int rc = copy_id_attr(child_with_root(sys, "id", ROOT_ASID), "extension", a->system_asid,
                          sizeof a->system_asid, "ASID", where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xnode *sup = path_el(sys, "indirectAuthority/superiorAssignedEntity");
    if (sup != NULL && !is_nil(sup)) {
        rc = get_role(child_el(sup, "code"), a, where, err);
        if (rc != CPIS_MSG_OK)
            return rc;
        compose_name(path_el(sup, "assignedPerson/name"), a->viewer, sizeof a->viewer);
    }
    return get_location(child_el(sys, "maintainingOrganization"), a, "maintainingOrganization",
                        where, err);
}

/* pertinentCP-ISNHSQuery: one access. */
static int read_query(xnode *q, struct cpis_access *a, const char *upload, size_t idx,
                      struct cpis_parse_error *err)
{
    char where[48];
    snprintf(where, sizeof where, " (access %zu)", idx + 1);
    memset(a, 0, sizeof *a);
    static const char *const allowed[] = {"effectiveTime", "id", "author", "queryByParameter",
                                          NULL};
    int rc = check_children(q, allowed, "pertinentCP-ISNHSQuery", err);
    if (rc == CPIS_MSG_OK)
        rc = get_ts(q, "effectiveTime", "access time (effectiveTime)", where, &a->accessed_at,
                    err);
    if (rc == CPIS_MSG_OK)
        rc = get_id_root(q, a->access_id, sizeof a->access_id, "access id", where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    cpis_copy_text(a->upload_file, sizeof a->upload_file, upload);

    /* the child: queryByParameter/person.id/value, by root */
    xnode *pid = path_el(q, "queryByParameter/person.id");
    rc = nhs_from(child_with_root(pid, "value", ROOT_NHS), a->nhs_number,
                  "NHS number (queryByParameter/person.id/value)", where, err);
    if (rc == CPIS_MSG_OK)
        rc = copy_id_attr(child_with_root(pid, "value", ROOT_LA_CHILD), "extension",
                          a->la_child_id, sizeof a->la_child_id, "LA child id", where, err);
    if (rc != CPIS_MSG_OK)
        return rc;

    /* the author: exactly one of the two templates */
    xnode *author;
    rc = need_one(q, "author", &author, "author", where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    static const char *const authors[] = {"COCT_TP145102GB01.AssignedAuthor",
                                          "COCT_TP145104GB01.System", NULL};
    rc = check_children(author, authors, "author", err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xnode *person, *sys;
    if (!only_child(author, authors[0], &person) || !only_child(author, authors[1], &sys) ||
        (person != NULL && sys != NULL))
        return cpis_fail(err, CPIS_MSG_MALFORMED, "author holds more than one author%s", where);
    if (person != NULL)
        return person_author(person, a, where, err);
    if (sys != NULL)
        return system_author(sys, a, where, err);
    return cpis_fail(err, CPIS_MSG_MISSING_FIELD,
                     "missing author (COCT_TP145102GB01.AssignedAuthor or "
                     "COCT_TP145104GB01.System)%s",
                     where);
}

/* Walk the notification's record accesses.  With out == NULL only counts
 * the queries (and notes nil or empty record accesses in gaps); otherwise
 * reads them into out->access. */
struct asn_walk {
    size_t queries;     /* pertinentCP-ISNHSQuery found */
    size_t accesses;    /* pertinentCP-ISRecordAccess found (not nil) */
    size_t nil_records; /* nil pertinentInformation1 / pertinentCP-ISRecordAccess */
    size_t bare_records; /* record accesses holding no query */
};

static int walk_records(xnode *focal, struct cpis_notification *out, struct asn_walk *w,
                        struct cpis_parse_error *err)
{
    static const char *const in_pi1[] = {"pertinentCP-ISRecordAccess", NULL};
    static const char *const in_rec[] = {"pertinentInformation2", "reference", NULL};
    static const char *const in_pi2[] = {"pertinentCP-ISNHSQuery", NULL};
    memset(w, 0, sizeof *w);
    for (xnode *pi1 = focal->children; pi1 != NULL; pi1 = pi1->next) {
        if (!is_el(pi1, "pertinentInformation1"))
            continue;
        if (is_nil(pi1)) {
            w->nil_records++;
            continue;
        }
        int rc = check_children(pi1, in_pi1, "pertinentInformation1", err);
        if (rc != CPIS_MSG_OK)
            return rc;
        xnode *rec;
        if (!only_child(pi1, "pertinentCP-ISRecordAccess", &rec))
            return cpis_fail(err, CPIS_MSG_MALFORMED,
                             "pertinentInformation1 holds more than one "
                             "pertinentCP-ISRecordAccess");
        if (rec == NULL || is_nil(rec)) {
            w->nil_records++;
            continue;
        }
        w->accesses++;
        if ((rc = check_children(rec, in_rec, "pertinentCP-ISRecordAccess", err)) != CPIS_MSG_OK)
            return rc;
        /* the upload file the plan came from: one per record access */
        char upload[REC_ID_MAX] = "";
        if (out != NULL) {
            xnode *v = path_el(rec, "reference/referredToLAUploadFile/value");
            if (get_attr(v, "extension", upload, sizeof upload) == ATTR_TOO_LONG)
                return cpis_fail(err, CPIS_MSG_MALFORMED,
                                 "upload file id (reference/referredToLAUploadFile) is too "
                                 "long (record access %zu)",
                                 w->accesses);
        }
        size_t before = w->queries;
        for (xnode *pi2 = rec->children; pi2 != NULL; pi2 = pi2->next) {
            if (!is_el(pi2, "pertinentInformation2"))
                continue;
            if ((rc = check_children(pi2, in_pi2, "pertinentInformation2", err)) != CPIS_MSG_OK)
                return rc;
            for (xnode *q = pi2->children; q != NULL; q = q->next) {
                if (!is_el(q, "pertinentCP-ISNHSQuery"))
                    continue;
                if (w->queries >= MAX_ACCESS_RECORDS)
                    return cpis_fail(err, CPIS_MSG_TOO_LARGE, "more than %d accesses",
                                     MAX_ACCESS_RECORDS);
                if (out != NULL) {
                    rc = read_query(q, &out->access[w->queries], upload, w->queries, err);
                    if (rc != CPIS_MSG_OK)
                        return rc;
                }
                w->queries++;
            }
        }
        if (w->queries == before)
            w->bare_records++;
    }
    return CPIS_MSG_OK;
}

/* pertinentInformation/pertinentTotalReturnedRecords/value/@value. */
static int get_total(xnode *focal, long *total, struct cpis_parse_error *err)
{
    xnode *pi;
    int rc = need_one(focal, "pertinentInformation", &pi,
                      "stated number of accesses (pertinentInformation)", "", err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xnode *v = path_el(pi, "pertinentTotalReturnedRecords/value");
    char s[32];
    int a = get_attr(v, "value", s, sizeof s);
    if (a == ATTR_ABSENT || s[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD,
                         "missing stated number of accesses "
                         "(pertinentTotalReturnedRecords/value/@value)");
    if (a == ATTR_TOO_LONG || strlen(s) > 9)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "pertinentTotalReturnedRecords is not a count");
    long val = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return cpis_fail(err, CPIS_MSG_MALFORMED,
                             "pertinentTotalReturnedRecords is not a count");
        val = val * 10 + (*p - '0');
    }
    *total = val;
    return CPIS_MSG_OK;
}

/* primaryInformationRecipient/COCT_TP145103GB01.IntendedRecipient/
 * representedSourceOrganization/id (root organisation): the LA.  Optional:
 * "" when absent, an error only when present and not an ODS code. */
static int get_la(xnode *focal, struct cpis_notification *out, struct cpis_parse_error *err)
{
    xnode *org = path_el(focal, "primaryInformationRecipient/"
                                  "COCT_TP145103GB01.IntendedRecipient/"
                                  "representedSourceOrganization");
    xnode *id = child_with_root(org, "id", ROOT_ODS_ORG);
    int a = get_attr(id, "extension", out->la_code, sizeof out->la_code);
    if (a == ATTR_TOO_LONG ||
        (a == ATTR_OK && out->la_code[0] != '\0' && !cpis_ods_code_valid(out->la_code)))
        return cpis_fail(err, CPIS_MSG_INVALID_ODS_CODE, "invalid recipient LA code");
    return CPIS_MSG_OK;
}

/* What both notifications carry: effectiveTime, id, the recipient LA. */
static int get_header(xnode *focal, struct cpis_notification *out,
                      struct cpis_parse_error *err)
{
    int rc = get_ts(focal, "effectiveTime", "notification time (effectiveTime)", "",
                    &out->created, err);
    if (rc == CPIS_MSG_OK)
        rc = get_id_root(focal, out->message_id, sizeof out->message_id, "notification id", "",
                         err);
    if (rc == CPIS_MSG_OK)
        rc = get_la(focal, out, err);
    return rc;
}

static int read_asn(xnode *focal, struct cpis_notification *out,
                    struct cpis_parse_error *err)
{
    static const char *const allowed[] = {"effectiveTime", "id", "pertinentInformation",
                                          "pertinentInformation1",
                                          "primaryInformationRecipient", NULL};
    int rc = check_children(focal, allowed, EL_ASN, err);
    if (rc == CPIS_MSG_OK)
        rc = get_header(focal, out, err);
    if (rc == CPIS_MSG_OK)
        rc = get_total(focal, &out->total_records, err);
    if (rc != CPIS_MSG_OK)
        return rc;

    struct asn_walk w;
    if ((rc = walk_records(focal, NULL, &w, err)) != CPIS_MSG_OK)
        return rc;
    if (w.queries < (size_t)out->total_records) {
        char gaps[96] = "";
        if (w.nil_records > 0 || w.bare_records > 0)
            snprintf(gaps, sizeof gaps, "; %zu record access(es) nil or absent, %zu without a "
                                        "query",
                     w.nil_records, w.bare_records);
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD,
                         "the notification states %ld access(es) "
                         "(pertinentTotalReturnedRecords) but holds %zu "
                         "pertinentCP-ISNHSQuery: %ld missing%s",
                         out->total_records, w.queries,
                         out->total_records - (long)w.queries, gaps);
    }
    if (w.queries > (size_t)out->total_records)
        return cpis_fail(err, CPIS_MSG_MALFORMED,
                         "the notification states %ld access(es) "
                         "(pertinentTotalReturnedRecords) but holds %zu pertinentCP-ISNHSQuery",
                         out->total_records, w.queries);
    if (w.queries == 0) {
        out->kind = REC_KIND_EMPTY; /* a stated 0 with no access */
        return CPIS_MSG_OK;
    }
    out->access = calloc(w.queries, sizeof *out->access);
    if (out->access == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
    out->n_access = w.queries;
    out->kind = REC_KIND_ACCESS;
    return walk_records(focal, out, &w, err);
}

/* ======================================================================== */
/* Inactive NHS Number Notification                                          */
/* ======================================================================== */

static int read_subject(xnode *subj, struct cpis_inactive_subject *s, size_t idx,
                        struct cpis_parse_error *err)
{
    char where[48];
    snprintf(where, sizeof where, " (subject %zu)", idx + 1);
    static const char *const in_subject[] = {"pDSInactivePatient", NULL};
    static const char *const in_patient[] = {"id", "replacedBy", "subjectOf", NULL};
    int rc = check_children(subj, in_subject, "subject", err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xnode *p;
    if ((rc = need_one(subj, "pDSInactivePatient", &p, "pDSInactivePatient", where, err)) !=
        CPIS_MSG_OK)
        return rc;
    if ((rc = check_children(p, in_patient, "pDSInactivePatient", err)) != CPIS_MSG_OK)
        return rc;
    rc = nhs_from(child_with_root(p, "id", ROOT_NHS), s->nhs_number,
                  "inactive NHS number (pDSInactivePatient/id)", where, err);
    if (rc == CPIS_MSG_OK)
        rc = copy_id_attr(child_with_root(p, "id", ROOT_LA_CHILD), "extension", s->la_child_id,
                          sizeof s->la_child_id, "LA child id", where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    /* replacedBy/newVersion/id/@extension: the number that replaces it */
    xnode *nv = path_el(p, "replacedBy/newVersion");
    xnode *nid = nv != NULL && !is_nil(nv) && !is_nil(child_el(p, "replacedBy"))
                       ? child_el(nv, "id")
                       : NULL;
    if (nid != NULL) {
        rc = nhs_from(nid, s->replacement_nhs_number,
                      "replacement NHS number (replacedBy/newVersion/id)", where, err);
        if (rc != CPIS_MSG_OK)
            return rc;
    }
    /* subjectOf/lAUploadFile/value/@extension: the upload file to correct */
    if (get_attr(path_el(p, "subjectOf/lAUploadFile/value"), "extension", s->upload_file,
                 sizeof s->upload_file) == ATTR_TOO_LONG)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "upload file id is too long%s", where);
    return CPIS_MSG_OK;
}

static int read_inactive(xnode *focal, struct cpis_notification *out,
                         struct cpis_parse_error *err)
{
    static const char *const allowed[] = {"effectiveTime", "id",
                                          "primaryInformationRecipient", "subject", NULL};
    int rc = check_children(focal, allowed, EL_INACTIVE, err);
    if (rc == CPIS_MSG_OK)
        rc = get_header(focal, out, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    size_t n = 0;
    for (xnode *c = focal->children; c != NULL; c = c->next)
        n += is_el(c, "subject");
    if (n == 0)
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing subject (no child named)");
    if (n > MAX_SUBJECTS)
        return cpis_fail(err, CPIS_MSG_TOO_LARGE, "more than %d subjects", MAX_SUBJECTS);
    out->inactive = calloc(n, sizeof *out->inactive);
    if (out->inactive == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
    out->kind = REC_KIND_INACTIVE;
    for (xnode *c = focal->children; c != NULL; c = c->next) {
        if (!is_el(c, "subject"))
            continue;
        rc = read_subject(c, &out->inactive[out->n_inactive], out->n_inactive, err);
        if (rc != CPIS_MSG_OK)
            return rc;
        out->n_inactive++;
    }
    return CPIS_MSG_OK;
}

/* ======================================================================== */
/* Upload acknowledgement: passed by                                         */
/* ======================================================================== */

static int read_file_response(xnode *focal, struct cpis_notification *out)
{
    out->kind = REC_KIND_IGNORED;
    cpis_copy_text(out->reason, sizeof out->reason,
                   "acknowledgement of the LA's own CP-IS upload (FileResponse, "
                   "REPC_MT000003GB01): not a notification");
    /* what it names, when readable; nothing here can reject it */
    xnode *id = child_el(focal, "id");
    if (get_attr(id, "extension", out->message_id, sizeof out->message_id) != ATTR_OK)
        out->message_id[0] = '\0';
    char v[64];
    if (get_attr(child_el(focal, "creationTime"), "value", v, sizeof v) != ATTR_OK ||
        cpis_hl7_ts_parse(v, &out->created) != 0)
        out->created = 0;
    xnode *org = path_el(focal, "communicationFunctionRcv/organisation");
    if (get_attr(child_with_root(org, "id", ROOT_ODS_ORG), "extension", out->la_code,
                 sizeof out->la_code) != ATTR_OK ||
        !cpis_ods_code_valid(out->la_code))
        out->la_code[0] = '\0';
    return CPIS_MSG_OK;
}

/* ======================================================================== */
/* The file                                                                  */
/* ======================================================================== */

static int payload_kind(xnode *n)
{
    if (is_el(n, EL_ASN))
        return 1;
    if (is_el(n, EL_INACTIVE))
        return 2;
    if (is_el(n, EL_FILE_RESPONSE))
        return 3;
    return 0;
}

/* Pre-order successor of n inside top's subtree (top itself excluded). */
static xnode *walk_next(xnode *n, xnode *top, int descend)
{
    if (descend && n->type == CPIS_XN_ELEMENT && n->children != NULL)
        return n->children;
    while (n != NULL && n != top) {
        if (n->next != NULL)
            return n->next;
        n = n->parent;
    }
    return NULL;
}

static int parse_hl7v3(const uint8_t *buf, size_t len, unsigned xml_flags,
                       struct cpis_message *out, struct cpis_parse_error *err)
{
    if (out == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "no output record");
    memset(out, 0, sizeof *out);
    struct cpis_xtree *tree = NULL;
    int rc = cpis_xml_read_light(buf, len, xml_flags, &tree, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xnode *root = cpis_xtree_root(tree);

    /* every payload element, in document order, wherever it sits */
    for (xnode *n = root; n != NULL && rc == CPIS_MSG_OK;) {
        int k = payload_kind(n);
        if (k == 0) {
            n = n == root ? (root->children != NULL ? root->children : NULL)
                          : walk_next(n, root, 1);
            continue;
        }
        if (out->n >= MAX_PAYLOADS) {
            rc = cpis_fail(err, CPIS_MSG_TOO_LARGE, "more than %d CP-IS payloads in one file",
                           MAX_PAYLOADS);
            break;
        }
        struct cpis_notification *note = cpis_message_add(out);
        if (note == NULL) {
            rc = cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
            break;
        }
        note->format = REC_FORMAT_HL7V3;
        rc = k == 1 ? read_asn(n, note, err)
             : k == 2 ? read_inactive(n, note, err)
                      : read_file_response(n, note);
        if (rc != CPIS_MSG_OK && out->n > 1) {
            /* say which notification of the file failed */
            size_t dl = strlen(err != NULL ? err->detail : "");
            if (err != NULL)
                snprintf(err->detail + dl, sizeof err->detail - dl, " (notification %zu)",
                         out->n);
        }
        n = n == root ? NULL : walk_next(n, root, 0); /* never inside a payload */
    }
    if (rc == CPIS_MSG_OK && out->n == 0)
        rc = cpis_fail(err, CPIS_MSG_UNSUPPORTED,
                       "no CP-IS notification or upload acknowledgement (" EL_ASN ", " EL_INACTIVE ", " EL_FILE_RESPONSE ")"
                       " in the HL7 V3 namespace");
    cpis_xtree_free(tree);
    if (rc != CPIS_MSG_OK)
        cpis_message_free(out);
    return rc;
}

int cpis_parse_hl7v3(const uint8_t *buf, size_t len, struct cpis_message *out,
                     struct cpis_parse_error *err)
{
    return parse_hl7v3(buf, len, 0, out, err);
}

int cpis_parse_hl7v3_utf8(const uint8_t *buf, size_t len, struct cpis_message *out,
                          struct cpis_parse_error *err)
{
    return parse_hl7v3(buf, len, CPIS_XML_UTF8_CHECKED, out, err);
}
