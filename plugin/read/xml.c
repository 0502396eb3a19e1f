/*
 * xml.c - the safe libxml2 read (libxml2 2.9.14) used by every XML reader
 * (hl7v3.c, mesh.c).
 *
 *   - one parser context per call (xmlNewParserCtxt + xmlCtxtReadMemory);
 *     options XML_PARSE_NONET | XML_PARSE_IGNORE_ENC | XML_PARSE_COMPACT
 *     only, the buffer being read as the UTF-8 it was checked to be.  Never
 *     NOENT, DTDLOAD, DTDATTR, HUGE or XINCLUDE: libxml2's default depth
 *     limit (256) stays on.
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
 *   - a linear pre-scan refuses start tags with too many attributes, and the
 *     finished tree is refused when nested deeper than XML_MAX_DEPTH.
 *   - with CPIS_XML_DROP_BLANKS, white space between elements builds no
 *     text node (see hook_blanks): the tree holds what the readers read.
 */
#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

#define XML_MAX_DEPTH 256

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
 * White space between elements (libxml2's "ignorable" white space: only
 * blanks, between element tags, in an element that holds no other text) is
 * indentation; with CPIS_XML_DROP_BLANKS it builds no text node, saving
 * the node's allocation, its copy and its freeing (about a tenth of the
 * parse of an indented message).  The option XML_PARSE_NOBLANKS would do
 * the same everywhere; this hook keeps it inside any element called "name"
 * (and its descendants), whose whole text content the HL7 V3 reader takes
 * (PN and ON are mixed content: `<name><given>A</given> <family>B</family>`
 * reads "A B", never "AB").  Everywhere else the readers look only at
 * elements and attributes, so the tree they see is unchanged.  libxml2
 * calls this only where its own heuristic finds blanks ignorable (never
 * in an empty element, never after text in the same element), and only
 * because this hook differs from the characters callback.
 */
static void hook_blanks(void *ctx, const xmlChar *ch, int len)
{
    xmlParserCtxtPtr ctxt = ctx;
    for (const xmlNode *n = ctxt != NULL ? ctxt->node : NULL;
         n != NULL && n->type == XML_ELEMENT_NODE; n = n->parent) {
        if (n->name != NULL && n->name[0] == 'n' && strcmp((const char *)n->name, "name") == 0) {
            xmlSAX2Characters(ctx, ch, len);
            return;
        }
    }
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

/* More than limit '=' in the whole buffer?  When not, no tag can hold more
 * than limit, and the lexical scan below need not run (a notification
 * holds a few dozen '=' in all; memchr skips the rest). */
static int more_eq_signs_than(const uint8_t *p, size_t len, unsigned limit)
{
    const uint8_t *end = p + len;
    unsigned count = 0;
    while (p < end && (p = memchr(p, '=', (size_t)(end - p))) != NULL) {
        if (++count > limit)
            return 1;
        p++;
    }
    return 0;
}

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
    if (!more_eq_signs_than(buf, len, MAX_ATTRS_PER_TAG))
        return 0;
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

int cpis_xml_read(const uint8_t *buf, size_t len, unsigned flags, struct _xmlDoc **doc,
                  struct cpis_parse_error *err)
{
    *doc = NULL;
    if (buf == NULL || len == 0)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "empty XML document");
    if (len > (size_t)INT_MAX)
        return cpis_fail(err, CPIS_MSG_TOO_LARGE, "XML document over 2 GiB");
    int enc = (flags & CPIS_XML_UTF8_CHECKED) ? 0 : cpis_utf8_check(buf, len);
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
    if (flags & CPIS_XML_DROP_BLANKS)
        sax->ignorableWhitespace = hook_blanks; /* not the option: see hook_blanks */

    xmlStructuredErrorFunc saved_fn = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(&st, xml_thread_serror);

    /* XML_PARSE_COMPACT: short text nodes are stored inside the node rather
     * than in a malloc'd string of their own (the tree is read, never
     * edited); under callgrind the parse costs 19% fewer instructions.
     * No encoding is named: libxml2's "UTF-8" handler only copies the bytes
     * into a second buffer, chunk by chunk (UTF8ToUTF8 is a memcpy), for
     * about 5% of the parse.  Unnamed, the encoding is UTF-8 all the same:
     * IGNORE_ENC ignores the declaration, and the first four bytes of
     * checked UTF-8 (no NUL, no lone FE/FF/A7) can only be sniffed as a
     * UTF-8 byte order mark (skipped, as the handler skipped it) or as
     * nothing. */
    xmlDocPtr d = xmlCtxtReadMemory(ctxt, (const char *)buf, (int)len, NULL, NULL,
                                    XML_PARSE_NONET | XML_PARSE_IGNORE_ENC |
                                        XML_PARSE_COMPACT);

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
