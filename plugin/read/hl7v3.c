/*
 * hl7v3.c - HL7 V3 CP-IS notifications (libxml2 2.9.14), read safely.
 *
 * Safe reading (cpis_xml_read, also used by mesh.c):
 *   - one parser context per call (xmlNewParserCtxt + xmlCtxtReadMemory);
 *     options XML_PARSE_NONET | XML_PARSE_IGNORE_ENC only, the buffer being
 *     read as the UTF-8 it was checked to be.  Never NOENT, DTDLOAD, DTDATTR,
 *     HUGE or XINCLUDE: libxml2's default depth limit (256) stays on.
 *   - SAX hooks on that context's own handler: a DOCTYPE (internalSubset /
 *     externalSubset), any entity/notation declaration, any entity reference
 *     other than the five predefined ones (getEntity, getParameterEntity,
 *     reference, resolveEntity) mark the read "forbidden" and stop the
 *     parser.  2.9.14 still hands back a partial document after
 *     xmlStopParser(): it is freed and never looked at.
 *   - errors go to this context's structured handler (sax->serror), which
 *     keeps only the libxml2 error code and line, never the message (it may
 *     quote input).  The few errors libxml2 raises without a context (some
 *     encoding-conversion paths) would go to the thread's structured
 *     handler: for the duration of the call that is pointed at the same
 *     quiet handler and restored afterwards (libxml2 keeps that handler per
 *     thread, so other threads are unaffected).
 *   - an external entity loader that refuses: see cpis_xml_loader_install.
 *
 * Then the tree is searched by namespace (urn:hl7-org:v3), local element
 * name and identifier root, never by absolute path: any prefix, any order,
 * comments, white space and unknown elements are tolerated.
 *
 * Error details name the field and the access record number, never a value
 * (no NHS number, name or message text).
 */
#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "parse.h"

#define V3_NS "urn:hl7-org:v3"
#define XML_MAX_DEPTH 256
#define MAX_ACCESS_RECORDS 1000

#define ROOT_NHS "2.16.840.1.113883.2.1.4.1"
#define ROOT_LA_LOCAL "2.16.840.1.113883.2.1.3.2.4.18.24"
#define ROOT_SDS_USER "1.2.826.0.1285.0.2.0.65"
#define ROOT_SDS_ROLE_PROFILE "1.2.826.0.1285.0.2.0.67"
#define ROOT_ASID "1.2.826.0.1285.0.2.0.107"
#define ROOT_ODS_ORG "2.16.840.1.113883.2.1.3.2.4.19.1"
#define ROOT_ODS_SITE "2.16.840.1.113883.2.1.3.2.4.19.2"

#define FOCAL_ASN "CP-ISAccessToServiceNotification"
#define FOCAL_INACTIVE "CP-ISInactiveNHSNumberNotification"
#define RECORD_ACCESS "CP-ISRecordAccess"

/* ======================================================================== */
/* Safe read                                                                 */
/* ======================================================================== */

struct xml_state {
    int forbidden;       /* DOCTYPE, declaration, entity, external load */
    const char *what;    /* static text naming the construct */
    int err_code;        /* first libxml2 error of level >= ERROR */
    int err_domain;
    int err_line;
};

static void xml_record_error(struct xml_state *st, const xmlError *e)
{
    if (st == NULL || e == NULL || e->level < XML_ERR_ERROR)
        return;
    if (st->err_code == 0) {
        st->err_code = e->code;
        st->err_domain = e->domain;
        st->err_line = e->line;
    }
}

/* Per-context structured handler: data is ctxt->userData (the context). */
static void xml_ctx_serror(void *data, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = data;
    xml_record_error(ctxt != NULL ? ctxt->_private : NULL, e);
}

/* Thread-level handler for the duration of a call: data is our state. */
static void xml_thread_serror(void *data, xmlErrorPtr e)
{
    xml_record_error(data, e);
}

/* Generic (printf-style) channels: never print, just note an error. */
static void xml_quiet_error(void *ctx, const char *msg, ...)
{
    (void)msg;
    xmlParserCtxtPtr ctxt = ctx;
    struct xml_state *st = ctxt != NULL ? ctxt->_private : NULL;
    if (st != NULL && st->err_code == 0)
        st->err_code = XML_ERR_INTERNAL_ERROR;
}

static void xml_quiet_warning(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static int is_our_ctxt(const xmlParserCtxt *ctxt)
{
    return ctxt != NULL && ctxt->sax != NULL && ctxt->sax->serror == xml_ctx_serror &&
           ctxt->_private != NULL;
}

static void forbid(void *ctx, const char *what)
{
    xmlParserCtxtPtr ctxt = ctx;
    if (!is_our_ctxt(ctxt))
        return;
    struct xml_state *st = ctxt->_private;
    if (!st->forbidden) {
        st->forbidden = 1;
        st->what = what;
    }
    xmlStopParser(ctxt);
}

static void hook_internal_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
                                 const xmlChar *sys)
{
    (void)name;
    forbid(ctx, (ext != NULL || sys != NULL) ? "DOCTYPE with an external reference"
                                             : "DOCTYPE");
}

static void hook_external_subset(void *ctx, const xmlChar *name, const xmlChar *ext,
                                 const xmlChar *sys)
{
    (void)name;
    (void)ext;
    (void)sys;
    forbid(ctx, "external DTD subset");
}

static void hook_entity_decl(void *ctx, const xmlChar *name, int type,
                             const xmlChar *pub, const xmlChar *sys, xmlChar *content)
{
    (void)name;
    (void)pub;
    (void)sys;
    (void)content;
    if (type == XML_INTERNAL_PARAMETER_ENTITY || type == XML_EXTERNAL_PARAMETER_ENTITY)
        forbid(ctx, "parameter entity declaration");
    else if (type == XML_EXTERNAL_GENERAL_PARSED_ENTITY ||
             type == XML_EXTERNAL_GENERAL_UNPARSED_ENTITY)
        forbid(ctx, "external entity declaration");
    else
        forbid(ctx, "entity declaration");
}

static void hook_unparsed_entity_decl(void *ctx, const xmlChar *name, const xmlChar *pub,
                                      const xmlChar *sys, const xmlChar *notation)
{
    (void)name;
    (void)pub;
    (void)sys;
    (void)notation;
    forbid(ctx, "external entity declaration");
}

static void hook_notation_decl(void *ctx, const xmlChar *name, const xmlChar *pub,
                               const xmlChar *sys)
{
    (void)name;
    (void)pub;
    (void)sys;
    forbid(ctx, "notation declaration");
}

static xmlEntityPtr hook_get_entity(void *ctx, const xmlChar *name)
{
    (void)name;
    forbid(ctx, "entity reference");
    return NULL;
}

static xmlEntityPtr hook_get_pe(void *ctx, const xmlChar *name)
{
    (void)name;
    forbid(ctx, "parameter entity reference");
    return NULL;
}

static void hook_reference(void *ctx, const xmlChar *name)
{
    (void)name;
    forbid(ctx, "entity reference");
}

static xmlParserInputPtr hook_resolve_entity(void *ctx, const xmlChar *pub,
                                             const xmlChar *sys)
{
    (void)pub;
    (void)sys;
    forbid(ctx, "external reference");
    return NULL;
}

/*
 * External entity loader.  libxml2 2.9.14 has only a process-global hook
 * (xmlSetExternalEntityLoader); there is no per-context one.  The trade-off:
 *   - For every context created here (recognised by its per-context error
 *     handler) the loader refuses everything, marks the read forbidden and
 *     returns NULL.  With DOCTYPEs already refused by the SAX hooks this is
 *     a second line of defence.
 *   - A host that also uses libxml2 keeps whatever loader it had: requests
 *     from its own contexts are passed to the loader that was installed
 *     before ours.  Refusing them too would silently break the host (e.g.
 *     schema imports); the host's safety remains the host's choice.
 *   - The pointer lives in the process while the plugin is loaded; call
 *     cpis_parse_shutdown() (cpis_xml_loader_remove) before dlclose(), or a
 *     host parse would jump into unmapped code.  If someone else replaced
 *     the loader after us, we leave theirs alone.
 */
static pthread_mutex_t loader_mu = PTHREAD_MUTEX_INITIALIZER;
static xmlExternalEntityLoader prev_loader = NULL;
static int loader_installed = 0;

static xmlParserInputPtr refusing_loader(const char *url, const char *id,
                                         xmlParserCtxtPtr ctxt)
{
    if (ctxt == NULL || is_our_ctxt(ctxt)) {
        if (ctxt != NULL)
            forbid(ctxt, "external reference");
        return NULL;
    }
    xmlExternalEntityLoader prev = prev_loader;
    if (prev != NULL && prev != refusing_loader)
        return prev(url, id, ctxt);
    return NULL;
}

void cpis_xml_loader_install(void)
{
    pthread_mutex_lock(&loader_mu);
    if (!loader_installed) {
        prev_loader = xmlGetExternalEntityLoader();
        if (prev_loader == refusing_loader)
            prev_loader = NULL;
        xmlSetExternalEntityLoader(refusing_loader);
        loader_installed = 1;
    }
    pthread_mutex_unlock(&loader_mu);
}

void cpis_xml_loader_remove(void)
{
    pthread_mutex_lock(&loader_mu);
    if (loader_installed) {
        if (xmlGetExternalEntityLoader() == refusing_loader)
            xmlSetExternalEntityLoader(prev_loader);
        loader_installed = 0;
    }
    pthread_mutex_unlock(&loader_mu);
}

static int map_xml_error(const struct xml_state *st)
{
    if (st->err_domain == XML_FROM_I18N)
        return CPIS_MSG_BAD_ENCODING;
    switch (st->err_code) {
    case XML_ERR_INVALID_ENCODING:
    case XML_ERR_UNKNOWN_ENCODING:
    case XML_ERR_UNSUPPORTED_ENCODING:
        return CPIS_MSG_BAD_ENCODING;
    case XML_ERR_UNDECLARED_ENTITY:
    case XML_WAR_UNDECLARED_ENTITY:
    case XML_ERR_ENTITY_LOOP:
    case XML_ERR_UNPARSED_ENTITY:
    case XML_ERR_EXT_ENTITY_STANDALONE:
    case XML_ERR_ENTITY_IS_EXTERNAL:
    case XML_ERR_ENTITY_IS_PARAMETER:
    case XML_ERR_DOCTYPE_NOT_FINISHED:
        return CPIS_MSG_FORBIDDEN_CONSTRUCT;
    default:
        return CPIS_MSG_MALFORMED;
    }
}

/* Maximum element depth of a tree, without recursion. */
static int tree_depth_exceeds(xmlNode *root, int limit)
{
    int depth = 1;
    xmlNode *n = root;
    while (n != NULL) {
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            if (++depth > limit)
                return 1;
            continue;
        }
        while (n != NULL && n != root && n->next == NULL) {
            n = n->parent;
            depth--;
        }
        if (n == NULL || n == root)
            break;
        n = n->next;
    }
    return 0;
}

/*
 * libxml2 2.9.14 checks attribute names for duplicates with a linear scan
 * per attribute: one start tag with 100 000 attributes (under 1 MiB) takes
 * minutes.  A linear lexical pre-scan counts the '=' signs outside quotes in
 * every start tag (comments, CDATA sections and processing instructions are
 * skipped) and refuses a tag with more than MAX_ATTRS_PER_TAG.  CP-IS
 * elements carry fewer than ten attributes.  The scan never rejects a
 * well-formed document with fewer attributes per element.
 */
#define MAX_ATTRS_PER_TAG 256

static const uint8_t *find_seq(const uint8_t *p, const uint8_t *end, const char *seq)
{
    size_t n = strlen(seq);
    while ((size_t)(end - p) >= n) {
        const uint8_t *q = memchr(p, seq[0], (size_t)(end - p) - n + 1);
        if (q == NULL)
            return NULL;
        if (memcmp(q, seq, n) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

static int too_many_attributes(const uint8_t *buf, size_t len)
{
    const uint8_t *p = buf, *end = buf + len;
    while (p < end) {
        const uint8_t *lt = memchr(p, '<', (size_t)(end - p));
        if (lt == NULL)
            return 0;
        p = lt + 1;
        const char *close = NULL;
        if (end - p >= 3 && memcmp(p, "!--", 3) == 0)
            close = "-->";
        else if (end - p >= 8 && memcmp(p, "![CDATA[", 8) == 0)
            close = "]]>";
        else if (p < end && *p == '?')
            close = "?>";
        if (close != NULL) {
            const uint8_t *q = find_seq(p, end, close);
            if (q == NULL)
                return 0; /* unterminated: the parser reports it */
            p = q + strlen(close);
            continue;
        }
        /* a start tag, end tag or declaration: count '=' outside quotes */
        unsigned count = 0;
        uint8_t quote = 0;
        while (p < end) {
            uint8_t c = *p++;
            if (quote != 0) {
                if (c == quote)
                    quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '=') {
                if (++count > MAX_ATTRS_PER_TAG)
                    return 1;
            } else if (c == '>' || c == '<') {
                if (c == '<')
                    p--;
                break;
            }
        }
    }
    return 0;
}

int cpis_xml_read(const uint8_t *buf, size_t len, struct _xmlDoc **doc,
                  struct cpis_parse_error *err)
{
    *doc = NULL;
    if (buf == NULL || len == 0)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "empty XML document");
    if (len > (size_t)INT_MAX)
        return cpis_fail(err, CPIS_MSG_TOO_LARGE, "XML document over 2 GiB");
    int enc = cpis_utf8_check(buf, len);
    if (enc == -2)
        return cpis_fail(err, CPIS_MSG_BAD_ENCODING, "NUL byte in message");
    if (enc != 0)
        return cpis_fail(err, CPIS_MSG_BAD_ENCODING, "message is not valid UTF-8");
    if (too_many_attributes(buf, len))
        return cpis_fail(err, CPIS_MSG_MALFORMED, "an element has more than %d attributes",
                         MAX_ATTRS_PER_TAG);
    if (cpis_parse_init() != 0)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "parser initialisation failed");

    struct xml_state st;
    memset(&st, 0, sizeof st);
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL || ctxt->sax == NULL) {
        xmlFreeParserCtxt(ctxt);
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory creating a parser");
    }
    ctxt->_private = &st;
    xmlSAXHandler *sax = ctxt->sax; /* this context's own copy */
    sax->internalSubset = hook_internal_subset;
    sax->externalSubset = hook_external_subset;
    sax->entityDecl = hook_entity_decl;
    sax->unparsedEntityDecl = hook_unparsed_entity_decl;
    sax->notationDecl = hook_notation_decl;
    sax->getEntity = hook_get_entity;
    sax->getParameterEntity = hook_get_pe;
    sax->reference = hook_reference;
    sax->resolveEntity = hook_resolve_entity;
    sax->serror = xml_ctx_serror;
    sax->error = xml_quiet_error;
    sax->fatalError = xml_quiet_error;
    sax->warning = xml_quiet_warning;

    xmlStructuredErrorFunc saved_fn = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(&st, xml_thread_serror);

    xmlDocPtr d = xmlCtxtReadMemory(ctxt, (const char *)buf, (int)len, NULL, "UTF-8",
                                    XML_PARSE_NONET | XML_PARSE_IGNORE_ENC);

    xmlSetStructuredErrorFunc(saved_ctx, saved_fn);
    int well_formed = ctxt->wellFormed;
    int ns_well_formed = ctxt->nsWellFormed;
    int err_no = ctxt->errNo;
    ctxt->_private = NULL;
    xmlFreeParserCtxt(ctxt);

    if (st.forbidden) {
        xmlFreeDoc(d); /* partial document: never looked at */
        return cpis_fail(err, CPIS_MSG_FORBIDDEN_CONSTRUCT, "%s not allowed",
                         st.what != NULL ? st.what : "DTD construct");
    }
    if (d == NULL || !well_formed || st.err_code != 0) {
        xmlFreeDoc(d);
        if (st.err_code == 0)
            st.err_code = err_no != 0 ? err_no : XML_ERR_DOCUMENT_END;
        return cpis_fail(err, map_xml_error(&st),
                         "XML not well-formed (libxml2 error %d at line %d)",
                         st.err_code, st.err_line);
    }
    if (!ns_well_formed) {
        xmlFreeDoc(d);
        return cpis_fail(err, CPIS_MSG_MALFORMED, "XML namespace error");
    }
    xmlNode *root = xmlDocGetRootElement(d);
    if (root == NULL) {
        xmlFreeDoc(d);
        return cpis_fail(err, CPIS_MSG_MALFORMED, "XML document has no root element");
    }
    if (tree_depth_exceeds(root, XML_MAX_DEPTH)) {
        xmlFreeDoc(d);
        return cpis_fail(err, CPIS_MSG_MALFORMED, "XML nested deeper than %d", XML_MAX_DEPTH);
    }
    *doc = d;
    return CPIS_MSG_OK;
}

/* ======================================================================== */
/* Tree helpers                                                              */
/* ======================================================================== */

static int is_el(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
           n->ns->href != NULL && xmlStrEqual(n->ns->href, BAD_CAST V3_NS) &&
           xmlStrEqual(n->name, BAD_CAST name);
}

/* Pre-order successor of n inside top's subtree (top itself excluded). */
static xmlNode *walk_next(xmlNode *n, xmlNode *top, int descend)
{
    if (descend && n->type == XML_ELEMENT_NODE && n->children != NULL)
        return n->children;
    while (n != NULL && n != top) {
        if (n->next != NULL)
            return n->next;
        n = n->parent;
    }
    return NULL;
}

static int is_inside(const xmlNode *n, const xmlNode *anc)
{
    for (const xmlNode *p = n; p != NULL; p = p->parent)
        if (p == anc)
            return 1;
    return 0;
}

static int is_org_el(const xmlNode *n)
{
    return is_el(n, "representedOrganization") || is_el(n, "maintainingOrganization") ||
           is_el(n, "Organization") || is_el(n, "AssignedOrganization") ||
           is_el(n, "organization") || is_el(n, "Organisation");
}

/* First descendant element called name; does not look inside elements
 * called skip (may be NULL) nor, when skip_orgs, inside organisations. */
static xmlNode *find_el_ex(xmlNode *top, const char *name, const char *skip, int skip_orgs)
{
    if (top == NULL)
        return NULL;
    xmlNode *n = walk_next(top, top, 1);
    while (n != NULL) {
        int descend = 1;
        if (n->type == XML_ELEMENT_NODE) {
            if (is_el(n, name))
                return n;
            if ((skip != NULL && is_el(n, skip)) || (skip_orgs && is_org_el(n)))
                descend = 0;
        }
        n = walk_next(n, top, descend);
    }
    return NULL;
}

static xmlNode *find_el(xmlNode *top, const char *name)
{
    return find_el_ex(top, name, NULL, 0);
}

static xmlNode *child_el(xmlNode *parent, const char *name)
{
    if (parent == NULL)
        return NULL;
    for (xmlNode *c = parent->children; c != NULL; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

enum { ATTR_ABSENT = 0, ATTR_OK = 1, ATTR_TOO_LONG = 2 };

/* Copy an unqualified attribute (trimmed). */
static int get_attr(xmlNode *n, const char *name, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (n == NULL)
        return ATTR_ABSENT;
    xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
    if (v == NULL)
        return ATTR_ABSENT;
    int rc = cpis_copy_text(dst, cap, (const char *)v) ? ATTR_OK : ATTR_TOO_LONG;
    xmlFree(v);
    return rc;
}

static int attr_equals(xmlNode *n, const char *name, const char *want)
{
    char buf[128];
    return get_attr(n, name, buf, sizeof buf) == ATTR_OK && strcmp(buf, want) == 0;
}

/* First descendant `id` with @root == root (not inside elements named skip). */
static xmlNode *find_id_ex(xmlNode *top, const char *root, const char *skip)
{
    if (top == NULL)
        return NULL;
    xmlNode *n = walk_next(top, top, 1);
    while (n != NULL) {
        int descend = 1;
        if (n->type == XML_ELEMENT_NODE) {
            if (is_el(n, "id") && attr_equals(n, "root", root))
                return n;
            if (skip != NULL && is_el(n, skip))
                descend = 0;
        }
        n = walk_next(n, top, descend);
    }
    return NULL;
}

static xmlNode *find_id(xmlNode *top, const char *root)
{
    return find_id_ex(top, root, NULL);
}

/* Text content with white-space runs collapsed to one space. */
static void node_text(xmlNode *n, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (n == NULL)
        return;
    xmlChar *c = xmlNodeGetContent(n);
    if (c == NULL)
        return;
    char *s = (char *)c;
    size_t w = 0;
    int sp = 0;
    for (size_t r = 0; s[r] != '\0'; r++) {
        char ch = s[r];
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
            sp = 1;
            continue;
        }
        if (sp && w > 0)
            s[w++] = ' ';
        sp = 0;
        s[w++] = ch;
    }
    s[w] = '\0';
    cpis_copy_text(dst, cap, s);
    xmlFree(c);
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

/* HL7 PN: prefix*, given*, family* (in that order); plain text if none. */
static void compose_name(xmlNode *name, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (name == NULL)
        return;
    static const char *const parts[] = {"prefix", "given", "family"};
    char word[REC_TEXT_MAX];
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        for (xmlNode *c = name->children; c != NULL; c = c->next) {
            if (is_el(c, parts[p])) {
                node_text(c, word, sizeof word);
                append_word(dst, cap, word);
            }
        }
    }
    if (dst[0] == '\0')
        node_text(name, dst, cap);
}

/* ======================================================================== */
/* Record building                                                           */
/* ======================================================================== */

/* Copy an identifier attribute that must fit (codes, ids). */
static int copy_id_attr(xmlNode *n, const char *attr, char *dst, size_t cap,
                        const char *field, struct cpis_parse_error *err)
{
    int a = get_attr(n, attr, dst, cap);
    if (a == ATTR_TOO_LONG)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "%s is too long", field);
    return CPIS_MSG_OK;
}

static int get_ts(xmlNode *el, const char *field, const char *where, int64_t *out,
                  struct cpis_parse_error *err)
{
    char v[64];
    int a = get_attr(el, "value", v, sizeof v);
    if (a == ATTR_ABSENT || v[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing %s%s", field, where);
    if (a == ATTR_TOO_LONG || cpis_hl7_ts_parse(v, out) != 0)
        return cpis_fail(err, CPIS_MSG_INVALID_TIMESTAMP, "invalid %s%s", field, where);
    return CPIS_MSG_OK;
}

static int get_nhs(xmlNode *scope, char *out, const char *field, const char *where,
                   struct cpis_parse_error *err)
{
    xmlNode *id = NULL;
    /* prefer an NHS number under a subject; else anywhere but the author */
    xmlNode *subj = find_el_ex(scope, "subject", NULL, 0);
    while (subj != NULL && id == NULL) {
        id = find_id(subj, ROOT_NHS);
        if (id != NULL)
            break;
        xmlNode *n = walk_next(subj, scope, 0);
        subj = NULL;
        while (n != NULL) {
            if (is_el(n, "subject")) {
                subj = n;
                break;
            }
            n = walk_next(n, scope, 1);
        }
    }
    if (id == NULL)
        id = find_id_ex(scope, ROOT_NHS, "author");
    char raw[64];
    int a = id != NULL ? get_attr(id, "extension", raw, sizeof raw) : ATTR_ABSENT;
    if (a == ATTR_ABSENT || raw[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing %s%s", field, where);
    if (a == ATTR_TOO_LONG)
        return cpis_fail(err, CPIS_MSG_INVALID_NHS_NUMBER, "%s%s has a bad shape", field,
                         where);
    int rc = cpis_nhs_normalise(raw, out, 11);
    if (rc == -2)
        return cpis_fail(err, CPIS_MSG_INVALID_NHS_NUMBER,
                         "%s%s fails the Modulus 11 check", field, where);
    if (rc != 0)
        return cpis_fail(err, CPIS_MSG_INVALID_NHS_NUMBER, "%s%s has a bad shape", field,
                         where);
    return CPIS_MSG_OK;
}

/* Recipient LA (optional). */
static int get_la(xmlNode *focal, struct cpis_notification *out, struct cpis_parse_error *err)
{
    xmlNode *pir = find_el_ex(focal, "primaryInformationRecipient", RECORD_ACCESS, 0);
    xmlNode *id = find_id(pir, ROOT_ODS_ORG);
    if (id == NULL)
        return CPIS_MSG_OK;
    int a = get_attr(id, "extension", out->la_code, sizeof out->la_code);
    if (a == ATTR_TOO_LONG || (a == ATTR_OK && out->la_code[0] != '\0' &&
                               !cpis_ods_code_valid(out->la_code)))
        return cpis_fail(err, CPIS_MSG_INVALID_ODS_CODE, "invalid recipient LA code");
    return CPIS_MSG_OK;
}

static int get_total(xmlNode *focal, struct cpis_notification *out,
                     struct cpis_parse_error *err)
{
    out->total_records = -1;
    xmlNode *t = find_el_ex(focal, "TotalReturnedRecords", RECORD_ACCESS, 0);
    if (t == NULL)
        return CPIS_MSG_OK;
    xmlNode *v = child_el(t, "value");
    if (v == NULL)
        v = find_el(t, "value");
    char s[32];
    int a = get_attr(v, "value", s, sizeof s);
    if (a == ATTR_ABSENT)
        return CPIS_MSG_OK;
    if (a == ATTR_TOO_LONG || s[0] == '\0' || strlen(s) > 9)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "TotalReturnedRecords is not a count");
    long val = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return cpis_fail(err, CPIS_MSG_MALFORMED, "TotalReturnedRecords is not a count");
        val = val * 10 + (*p - '0');
    }
    out->total_records = val;
    return CPIS_MSG_OK;
}

static int get_message_id(xmlNode *focal, struct cpis_notification *out,
                          struct cpis_parse_error *err)
{
    for (xmlNode *c = focal->children; c != NULL; c = c->next) {
        if (!is_el(c, "id"))
            continue;
        int a = get_attr(c, "root", out->message_id, sizeof out->message_id);
        if (a == ATTR_TOO_LONG)
            return cpis_fail(err, CPIS_MSG_MALFORMED, "notification id is too long");
        if (a == ATTR_OK && out->message_id[0] != '\0')
            return CPIS_MSG_OK;
    }
    return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing notification id (id/@root)");
}

/* An organisation element's ODS id: site root preferred over org root. */
static int org_ods(xmlNode *org, xmlNode **id_out, int *is_site)
{
    xmlNode *org_id = NULL;
    for (xmlNode *c = org->children; c != NULL; c = c->next) {
        if (!is_el(c, "id"))
            continue;
        if (attr_equals(c, "root", ROOT_ODS_SITE)) {
            *id_out = c;
            *is_site = 1;
            return 1;
        }
        if (org_id == NULL && attr_equals(c, "root", ROOT_ODS_ORG))
            org_id = c;
    }
    if (org_id != NULL) {
        *id_out = org_id;
        *is_site = 0;
        return 1;
    }
    return 0;
}

/* First organisation element called name under scope carrying an ODS id. */
static xmlNode *find_org(xmlNode *scope, const char *name, const char *skip,
                         xmlNode **id_out, int *is_site)
{
    if (scope == NULL)
        return NULL;
    xmlNode *n = walk_next(scope, scope, 1);
    while (n != NULL) {
        int descend = 1;
        if (n->type == XML_ELEMENT_NODE) {
            if (is_el(n, name) && org_ods(n, id_out, is_site))
                return n;
            if (skip != NULL && is_el(n, skip))
                descend = 0;
        }
        n = walk_next(n, scope, descend);
    }
    return NULL;
}

static int get_location(xmlNode *scope, struct cpis_access *a, const char *where,
                        struct cpis_parse_error *err)
{
    xmlNode *id = NULL;
    int site = 0;
    /* a system's own organisation first, then the person's; never the child's */
    xmlNode *org = find_org(scope, "maintainingOrganization", "subject", &id, &site);
    if (org == NULL)
        org = find_org(scope, "representedOrganization", "subject", &id, &site);
    if (org == NULL)
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing access location%s", where);
    int r = get_attr(id, "extension", a->location_code, sizeof a->location_code);
    if (r == ATTR_ABSENT || a->location_code[0] == '\0')
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing access location code%s",
                         where);
    if (r == ATTR_TOO_LONG || !cpis_ods_code_valid(a->location_code))
        return cpis_fail(err, CPIS_MSG_INVALID_ODS_CODE, "invalid access location code%s",
                         where);
    a->location_is_site = site;
    node_text(child_el(org, "name"), a->location_name, sizeof a->location_name);
    return CPIS_MSG_OK;
}

static int get_person_ids(xmlNode *scope, struct cpis_access *a, struct cpis_parse_error *err)
{
    int rc = copy_id_attr(find_id(scope, ROOT_SDS_USER), "extension", a->viewer_user_id,
                          sizeof a->viewer_user_id, "SDS user id", err);
    if (rc == CPIS_MSG_OK)
        rc = copy_id_attr(find_id(scope, ROOT_SDS_ROLE_PROFILE), "extension",
                          a->viewer_role_profile, sizeof a->viewer_role_profile,
                          "SDS role profile id", err);
    return rc;
}

static int get_role(xmlNode *code, struct cpis_access *a, struct cpis_parse_error *err)
{
    if (code == NULL)
        return CPIS_MSG_OK;
    int rc = copy_id_attr(code, "code", a->viewer_role, sizeof a->viewer_role,
                          "job role code", err);
    if (rc == CPIS_MSG_OK)
        get_attr(code, "displayName", a->viewer_role_name, sizeof a->viewer_role_name);
    return rc;
}

static int parse_access(xmlNode *rec, size_t idx, struct cpis_access *a,
                        struct cpis_parse_error *err)
{
    char where[48];
    snprintf(where, sizeof where, " (access record %zu)", idx + 1);
    memset(a, 0, sizeof *a);

    /* access time: the record's own effectiveTime, else the query's */
    xmlNode *et = child_el(rec, "effectiveTime");
    if (et == NULL)
        et = child_el(find_el(rec, "CP-ISNHSQuery"), "effectiveTime");
    if (et == NULL)
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing access time%s", where);
    int rc = get_ts(et, "access time", where, &a->accessed_at, err);
    if (rc != CPIS_MSG_OK)
        return rc;

    rc = get_nhs(rec, a->nhs_number, "NHS number", where, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xmlNode *lid = find_id_ex(rec, ROOT_LA_LOCAL, "author");
    get_attr(lid, "extension", a->la_child_id, sizeof a->la_child_id);

    xmlNode *person = find_el_ex(rec, "AssignedAuthor", "subject", 0);
    xmlNode *sys = find_el_ex(rec, "System", "subject", 0);
    xmlNode *author_scope = rec;
    if (sys != NULL && (person == NULL || is_inside(person, sys))) {
        /* a System author (possibly with a person in indirectAuthority) */
        a->author_kind = AUTHOR_SYSTEM;
        author_scope = sys;
        rc = copy_id_attr(find_id_ex(sys, ROOT_ASID, "indirectAuthority"), "extension",
                          a->system_asid, sizeof a->system_asid, "ASID", err);
        if (rc != CPIS_MSG_OK)
            return rc;
        xmlNode *sname = child_el(sys, "name");
        if (sname == NULL)
            sname = child_el(sys, "softwareName");
        node_text(sname, a->system_name, sizeof a->system_name);
        /* the responsible person: first indirectAuthority naming someone */
        for (xmlNode *ia = find_el(sys, "indirectAuthority"); ia != NULL;) {
            xmlNode *nm = find_el_ex(ia, "name", NULL, 1);
            if (nm != NULL) {
                compose_name(nm, a->viewer, sizeof a->viewer);
                rc = get_person_ids(ia, a, err);
                if (rc == CPIS_MSG_OK)
                    rc = get_role(find_el_ex(ia, "code", NULL, 1), a, err);
                if (rc != CPIS_MSG_OK)
                    return rc;
                break;
            }
            xmlNode *n = walk_next(ia, sys, 0);
            ia = NULL;
            while (n != NULL) {
                if (is_el(n, "indirectAuthority")) {
                    ia = n;
                    break;
                }
                n = walk_next(n, sys, 1);
            }
        }
    } else if (person != NULL) {
        a->author_kind = AUTHOR_PERSON;
        author_scope = person;
        rc = get_person_ids(person, a, err);
        if (rc != CPIS_MSG_OK)
            return rc;
        xmlNode *code = child_el(person, "code");
        if (code == NULL)
            code = find_el_ex(person, "code", NULL, 1);
        rc = get_role(code, a, err);
        if (rc != CPIS_MSG_OK)
            return rc;
        xmlNode *ap = find_el_ex(person, "assignedPerson", NULL, 1);
        xmlNode *nm = find_el_ex(ap != NULL ? ap : person, "name", NULL, 1);
        compose_name(nm, a->viewer, sizeof a->viewer);
    }
    /* location: within the author, else anywhere in the record but the child */
    rc = get_location(author_scope, a, where, err);
    if (rc == CPIS_MSG_MISSING_FIELD && author_scope != rec)
        rc = get_location(rec, a, where, err);
    return rc;
}

/* ---- recognition ---- */

enum msg_kind { MK_NONE = 0, MK_ASN, MK_INACTIVE, MK_OTHER };

static int kind_of_root_name(const xmlNode *root)
{
    if (is_el(root, "REPC_IN000004GB01") || is_el(root, "REPC_MT000004GB01") ||
        is_el(root, FOCAL_ASN))
        return MK_ASN;
    if (is_el(root, "REPC_IN000005GB01") || is_el(root, "REPC_MT000005GB01") ||
        is_el(root, FOCAL_INACTIVE))
        return MK_INACTIVE;
    return MK_NONE;
}

static int kind_of_interaction(const char *s)
{
    if (strstr(s, FOCAL_ASN) != NULL || strstr(s, "REPC_IN000004GB01") != NULL)
        return MK_ASN;
    if (strstr(s, FOCAL_INACTIVE) != NULL || strstr(s, "REPC_IN000005GB01") != NULL)
        return MK_INACTIVE;
    return MK_OTHER;
}

static int kind_of_interaction_id(xmlNode *root)
{
    xmlNode *iid = child_el(root, "interactionId");
    if (iid == NULL)
        iid = find_el_ex(root, "interactionId", NULL, 0);
    if (iid == NULL)
        return MK_NONE;
    char v[256];
    if (get_attr(iid, "extension", v, sizeof v) != ATTR_ABSENT && v[0] != '\0')
        return kind_of_interaction(v);
    if (get_attr(iid, "root", v, sizeof v) != ATTR_ABSENT && v[0] != '\0') {
        int k = kind_of_interaction(v);
        return k == MK_OTHER ? MK_NONE : k; /* a bare OID root says nothing */
    }
    return MK_NONE;
}

static xmlNode *find_focal(xmlNode *root, const char *name)
{
    if (is_el(root, name))
        return root;
    return find_el(root, name);
}

/* What both notification kinds carry on the focal act: id, created, the
 * recipient LA, the upload file and the record count. */
static int get_header(xmlNode *focal, struct cpis_notification *out,
                      struct cpis_parse_error *err)
{
    int rc = get_message_id(focal, out, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xmlNode *et = child_el(focal, "effectiveTime");
    if (et == NULL)
        return cpis_fail(err, CPIS_MSG_MISSING_FIELD, "missing effectiveTime (created)");
    if ((rc = get_ts(et, "effectiveTime (created)", "", &out->created, err)) != CPIS_MSG_OK)
        return rc;
    if ((rc = get_la(focal, out, err)) != CPIS_MSG_OK)
        return rc;
    if ((rc = get_total(focal, out, err)) != CPIS_MSG_OK)
        return rc;
    return CPIS_MSG_OK;
}

static int build_asn(xmlNode *focal, struct cpis_notification *out,
                     struct cpis_parse_error *err)
{
    int rc = get_header(focal, out, err);
    if (rc != CPIS_MSG_OK)
        return rc;

    size_t n = 0;
    for (xmlNode *x = walk_next(focal, focal, 1); x != NULL;) {
        int isrec = is_el(x, RECORD_ACCESS);
        if (isrec)
            n++;
        x = walk_next(x, focal, !isrec);
    }
    if (n == 0) {
        if (out->total_records > 0)
            return cpis_fail(err, CPIS_MSG_MISSING_FIELD,
                             "missing CP-ISRecordAccess (TotalReturnedRecords is %ld)",
                             out->total_records);
        out->kind = REC_KIND_EMPTY;
        return CPIS_MSG_OK;
    }
    if (n > MAX_ACCESS_RECORDS)
        return cpis_fail(err, CPIS_MSG_TOO_LARGE, "more than %d access records",
                         MAX_ACCESS_RECORDS);
    out->access = calloc(n, sizeof *out->access);
    if (out->access == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
    size_t i = 0;
    for (xmlNode *x = walk_next(focal, focal, 1); x != NULL && i < n;) {
        int isrec = is_el(x, RECORD_ACCESS);
        if (isrec) {
            rc = parse_access(x, i, &out->access[i], err);
            if (rc != CPIS_MSG_OK)
                return rc;
            i++;
        }
        x = walk_next(x, focal, !isrec);
    }
    out->n_access = i;
    out->kind = REC_KIND_ACCESS;
    return CPIS_MSG_OK;
}

static int build_inactive(xmlNode *focal, struct cpis_notification *out,
                          struct cpis_parse_error *err)
{
    int rc = get_header(focal, out, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    out->inactive = calloc(1, sizeof *out->inactive);
    if (out->inactive == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
    out->n_inactive = 1;
    rc = get_nhs(focal, out->inactive[0].nhs_number, "inactive NHS number", "", err);
    if (rc != CPIS_MSG_OK)
        return rc;
    out->kind = REC_KIND_INACTIVE;
    return CPIS_MSG_OK;
}

static int parse_one(const uint8_t *buf, size_t len, struct cpis_notification *out,
                     struct cpis_parse_error *err)
{
    if (out == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "no output record");
    memset(out, 0, sizeof *out);
    out->format = REC_FORMAT_HL7V3;
    out->total_records = -1;

    xmlDocPtr doc = NULL;
    int rc = cpis_xml_read(buf, len, &doc, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xmlNode *root = xmlDocGetRootElement(doc);

    int by_root = kind_of_root_name(root);
    int by_iid = kind_of_interaction_id(root);
    xmlNode *asn = find_focal(root, FOCAL_ASN);
    xmlNode *ina = find_focal(root, FOCAL_INACTIVE);

    int kind = MK_NONE;
    if (by_iid == MK_OTHER) {
        rc = cpis_fail(err, CPIS_MSG_UNSUPPORTED, "unsupported HL7 V3 interaction");
    } else if (by_root != MK_NONE && by_iid != MK_NONE && by_root != by_iid) {
        rc = cpis_fail(err, CPIS_MSG_UNSUPPORTED,
                       "root element and interaction id disagree");
    } else {
        int expect = by_root != MK_NONE ? by_root : by_iid;
        if (expect == MK_ASN)
            kind = asn != NULL ? MK_ASN : MK_NONE;
        else if (expect == MK_INACTIVE)
            kind = ina != NULL ? MK_INACTIVE : MK_NONE;
        else if (asn != NULL && ina == NULL)
            kind = MK_ASN;
        else if (ina != NULL && asn == NULL)
            kind = MK_INACTIVE;
        if (kind == MK_NONE)
            rc = cpis_fail(err, CPIS_MSG_UNSUPPORTED,
                           expect != MK_NONE ? "focal act not found"
                                             : "not a CP-IS notification");
    }
    if (rc == CPIS_MSG_OK)
        rc = kind == MK_ASN ? build_asn(asn, out, err) : build_inactive(ina, out, err);
    xmlFreeDoc(doc);
    if (rc != CPIS_MSG_OK) {
        cpis_notification_free(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

/* Interim (the rewrite to the published schemas follows): one per file. */
int cpis_parse_hl7v3(const uint8_t *buf, size_t len, struct cpis_message *out,
                     struct cpis_parse_error *err)
{
    memset(out, 0, sizeof *out);
    struct cpis_notification *n = cpis_message_add(out);
    if (n == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
    int rc = parse_one(buf, len, n, err);
    if (rc != CPIS_MSG_OK)
        cpis_message_free(out);
    return rc;
}
