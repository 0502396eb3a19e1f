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
 *   - cpis_xml_read hands back libxml2's tree (mesh.c: tiny files);
 *     cpis_xml_read_light (hl7v3.c) parses through the very same context,
 *     options and hooks, but builds no libxml2 tree: SAX2 callbacks put
 *     elements, their attributes and the text of names into a light tree
 *     held in a few large blocks (see "The light tree" below).
 */
#include <libxml/globals.h>
#include <libxml/hash.h>
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

struct light_builder;

struct xml_state {
    struct light_builder *lt; /* NULL: libxml2 builds its own tree */
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

/* ======================================================================== */
/* The light tree (cpis_xml_read_light)                                      */
/* ======================================================================== */

/*
 * What the HL7 V3 reader reads of a document: elements (local name,
 * namespace URI, attributes in document order with their values as
 * libxml2's tree gives them), and the text inside any element called
 * "name" (and its descendants), the only text that reader takes.  Built
 * from libxml2's SAX2 callbacks on the same context as cpis_xml_read, in a
 * few large blocks (no allocation per node); names and namespace URIs are
 * libxml2's dictionary strings (the tree keeps a reference on the
 * dictionary).  Everything libxml2's own tree building would have refused
 * is refused the same way, with the same error:
 *   - a node nested deeper than XML_MAX_DEPTH (the parser itself lets an
 *     element at depth 257 through, and text, comments and processing
 *     instructions in one at 256);
 *   - a run of text (or of CDATA) longer than XML_MAX_TEXT_LENGTH in one
 *     node (libxml2 raises XML_ERR_NO_MEMORY "huge text node" when it
 *     joins the pieces of a text node);
 *   - an xml:id that is not an NCName, or twice the same xml:id
 *     (libxml2 registers xml:id attributes as IDs while building).
 * The text runs matter only in a document longer than XML_MAX_TEXT_LENGTH
 * (a run is never longer than the bytes it comes from), and only there are
 * they followed: which pieces libxml2's tree would join depends on which
 * white space it drops as "ignorable" outside names (the reader's tree
 * did not keep it), so that decision is taken again here (lt_blank) from
 * what libxml2's tree would have held.
 */
#define LT_BLOCK 16384
#define LT_HUGE_TEXT 10000000 /* XML_MAX_TEXT_LENGTH in libxml2 2.9.14 */

enum { LT_LAST_NONE = 0, LT_LAST_TEXT = 1, LT_LAST_CDATA = 2, LT_LAST_OTHER = 3 };

struct lt_block {
    struct lt_block *prev;
    size_t cap, used;
};
#define LT_HDR ((sizeof(struct lt_block) + 15u) & ~(size_t)15u)

struct light_builder {
    struct lt_block *blocks; /* the newest first */
    char *last_str;          /* the latest allocation when it is a string */
    struct cpis_xnode *root, *cur;
    int depth;               /* open elements */
    int name_depth;          /* depth of the outermost open "name", 0: none */
    int too_deep;
    int oom;
    int track_runs;          /* the document is longer than LT_HUGE_TEXT */
    size_t run_len;          /* length of the current text (or CDATA) run */
    xmlHashTablePtr ids;     /* xml:id values seen */
    xmlDictPtr dict;         /* a reference held while the tree lives */
};

static void *lt_alloc(struct light_builder *b, size_t size)
{
    size = (size + 7u) & ~(size_t)7u;
    struct lt_block *blk = b->blocks;
    if (blk == NULL || blk->cap - blk->used < size) {
        size_t cap = LT_BLOCK;
        if (cap < 2 * size)
            cap = 2 * size;
        blk = malloc(LT_HDR + cap);
        if (blk == NULL) {
            b->oom = 1;
            return NULL;
        }
        blk->prev = b->blocks;
        blk->cap = cap;
        blk->used = 0;
        b->blocks = blk;
    }
    void *p = (char *)blk + LT_HDR + blk->used;
    blk->used += size;
    b->last_str = NULL;
    return p;
}

static char *lt_strdup(struct light_builder *b, const xmlChar *s, size_t len)
{
    char *d = lt_alloc(b, len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    b->last_str = d;
    return d;
}

/* Append to the text of t: in place when it is the latest allocation and
 * its block has room, else into a new copy (a new block is at least twice
 * the size asked, so a growing text is copied a logarithmic number of
 * times). */
static void lt_text_append(struct light_builder *b, struct cpis_xnode *t, const xmlChar *ch,
                           size_t len)
{
    struct lt_block *blk = b->blocks;
    char *s = (char *)t->text;
    if (s != NULL && s == b->last_str && blk != NULL) {
        char *data = (char *)blk + LT_HDR;
        size_t end = (size_t)(s - data) + t->len + len + 1;
        if (end <= blk->cap) {
            memcpy(s + t->len, ch, len);
            t->len += len;
            s[t->len] = '\0';
            blk->used = (end + 7u) & ~(size_t)7u;
            return;
        }
    }
    char *d = lt_alloc(b, t->len + len + 1);
    if (d == NULL)
        return;
    if (t->len > 0)
        memcpy(d, t->text, t->len);
    memcpy(d + t->len, ch, len);
    t->len += len;
    d[t->len] = '\0';
    t->text = d;
    b->last_str = d;
}

static struct light_builder *lt_of(void *ctx)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct xml_state *st = ctxt != NULL ? ctxt->_private : NULL;
    return st != NULL ? st->lt : NULL;
}

/* An error libxml2's tree building raises, noted as xml_record_error would
 * (the first error of the read is the one reported). */
static void lt_error(xmlParserCtxtPtr ctxt, int code, int domain)
{
    struct xml_state *st = ctxt->_private;
    if (st->err_code == 0) {
        st->err_code = code;
        st->err_domain = domain;
        st->err_line = ctxt->input != NULL ? ctxt->input->line : 0;
    }
}

static void lt_out_of_memory(xmlParserCtxtPtr ctxt)
{
    lt_error(ctxt, XML_ERR_NO_MEMORY, XML_FROM_PARSER);
    xmlStopParser(ctxt);
}

/* A node at depth + 1 (the root is at depth 1). */
static void lt_node_at(struct light_builder *b)
{
    if (b->depth + 1 > XML_MAX_DEPTH)
        b->too_deep = 1;
}

/* An attribute value as libxml2's tree holds it.  A value the parser did
 * not have to rewrite points into the input (then *end is the closing
 * quote); a rewritten one (references, normalised white space) is its own
 * NUL-terminated copy in which the parser writes every '&' as "&#38;" (it
 * resolves every other reference itself: the five predefined entities and
 * character references; any other entity is refused by the hooks above),
 * and libxml2's tree turns "&#38;" back into '&'. */
static char *lt_attr_value(struct light_builder *b, const xmlChar *v, const xmlChar *end)
{
    size_t n = (size_t)(end - v);
    if (*end != 0 || memchr(v, '&', n) == NULL)
        return lt_strdup(b, v, n);
    char *d = lt_alloc(b, n + 1);
    if (d == NULL)
        return NULL;
    size_t w = 0;
    for (size_t r = 0; r < n;) {
        if (v[r] == '&' && n - r >= 5 && memcmp(v + r, "&#38;", 5) == 0) {
            d[w++] = '&';
            r += 5;
        } else {
            d[w++] = (char)v[r++];
        }
    }
    d[w] = '\0';
    return d;
}

/* xml:id, as libxml2's tree building registers it (xmlSAX2AttributeNs):
 * the raw value must be an NCName and unique in the document. */
static void lt_xml_id(xmlParserCtxtPtr ctxt, struct light_builder *b, const xmlChar *v,
                      const xmlChar *end)
{
    xmlChar *dup = xmlStrndup(v, (int)(end - v));
    if (dup == NULL) {
        lt_out_of_memory(ctxt);
        return;
    }
    if (xmlValidateNCName(dup, 1) != 0)
        lt_error(ctxt, XML_DTD_XMLID_VALUE, XML_FROM_DTD);
    if (b->ids == NULL)
        b->ids = xmlHashCreate(0);
    if (b->ids == NULL || xmlHashAddEntry(b->ids, dup, b) < 0) {
        if (b->ids != NULL)
            lt_error(ctxt, XML_DTD_ID_REDEFINED, XML_FROM_VALID);
        else
            lt_out_of_memory(ctxt);
    }
    xmlFree(dup);
}

static void lt_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_ns, const xmlChar **ns, int nb_attrs,
                     int nb_defaulted, const xmlChar **attrs)
{
    (void)prefix;
    (void)nb_ns;
    (void)ns;
    (void)nb_defaulted;
    xmlParserCtxtPtr ctxt = ctx;
    struct light_builder *b = lt_of(ctx);
    if (b == NULL)
        return;
    lt_node_at(b);
    struct cpis_xnode *n = lt_alloc(b, sizeof *n);
    if (n == NULL) {
        lt_out_of_memory(ctxt);
        return;
    }
    memset(n, 0, sizeof *n);
    n->type = CPIS_XN_ELEMENT;
    n->name = (const char *)localname;
    n->ns = (const char *)uri;
    n->parent = b->cur;
    if (b->cur != NULL) {
        if (b->cur->last != NULL)
            b->cur->last->next = n;
        else
            b->cur->children = n;
        b->cur->last = n;
        b->cur->last_kind = LT_LAST_OTHER;
    } else if (b->root == NULL) {
        b->root = n;
    }
    struct cpis_xattr **tail = &n->attrs;
    for (int i = 0; i < nb_attrs; i++) {
        const xmlChar **a = attrs + 5 * i;
        struct cpis_xattr *at = lt_alloc(b, sizeof *at);
        char *v = at != NULL ? lt_attr_value(b, a[3], a[4]) : NULL;
        if (v == NULL) {
            lt_out_of_memory(ctxt);
            return;
        }
        at->name = (const char *)a[0];
        at->ns = (const char *)a[2];
        at->value = v;
        at->next = NULL;
        *tail = at;
        tail = &at->next;
        if (a[1] != NULL && a[1] == ctxt->str_xml && strcmp((const char *)a[0], "id") == 0)
            lt_xml_id(ctxt, b, a[3], a[4]);
    }
    b->cur = n;
    b->depth++;
    if (b->name_depth == 0 && localname[0] == 'n' && strcmp((const char *)localname, "name") == 0)
        b->name_depth = b->depth;
}

static void lt_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                   const xmlChar *uri)
{
    (void)localname;
    (void)prefix;
    (void)uri;
    struct light_builder *b = lt_of(ctx);
    if (b == NULL || b->cur == NULL)
        return;
    if (b->name_depth == b->depth)
        b->name_depth = 0;
    b->cur = b->cur->parent;
    b->depth--;
}

static int lt_blank_ch(xmlChar c)
{
    return c == 0x20 || c == 0x9 || c == 0xA || c == 0xD;
}

/* Did the characters come from a character reference or one of the five
 * predefined entities (delivered as they are) rather than from the text
 * itself (which libxml2 may judge ignorable)?  The former come from outside
 * the input, the input just read ending in "&#...;" or "&name;" (text the
 * parser copied out of the input never holds a '&'). */
static int lt_from_reference(const xmlParserInput *in)
{
    const xmlChar *p = in->cur;
    if (p == NULL || in->base == NULL || p <= in->base || p[-1] != ';')
        return 0;
    p -= 2;
    while (p >= in->base && ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                             (*p >= 'A' && *p <= 'Z') || *p == '#'))
        p--;
    return p >= in->base && *p == '&';
}

/* Would libxml2's tree building have dropped these characters as
 * ignorable white space (parser.c, areBlanks, without a DTD), given what
 * the tree would hold in e?  Also notes, as the parser does in
 * ctxt->space, that e holds text that is not ignorable. */
static int lt_blank(xmlParserCtxtPtr ctxt, struct cpis_xnode *e, const xmlChar *ch, int len)
{
    const xmlParserInput *in = ctxt->input;
    int from_input = in != NULL && in->base != NULL && ch >= in->base && ch < in->end;
    const xmlChar *next; /* what follows the characters in the input */
    if (from_input) {
        if (len <= 0 || !lt_blank_ch(ch[0]))
            return 0; /* text that does not start blank: never judged */
        next = ch + len;
    } else {
        if (in == NULL || lt_from_reference(in))
            return 0;
        next = in->cur;
    }
    int space = ctxt->space != NULL ? *ctxt->space : 1;
    int blank = space != 1 && !(space == -1 && e->not_blank);
    for (int i = 0; blank && i < len; i++)
        blank = lt_blank_ch(ch[i]);
    if (blank && next[0] != '<' && next[0] != 0xD)
        blank = 0;
    if (blank && e->last_kind == LT_LAST_NONE && next[0] == '<' && next[1] == '/')
        blank = 0;
    if (blank && (e->last_kind == LT_LAST_TEXT || e->first_text))
        blank = 0;
    if (!blank && space == -1)
        e->not_blank = 1;
    return blank;
}

static void lt_text(void *ctx, const xmlChar *ch, int len, unsigned char kind)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct light_builder *b = lt_of(ctx);
    if (b == NULL || b->cur == NULL || len < 0)
        return;
    struct cpis_xnode *e = b->cur;
    if (b->track_runs) {
        if (kind == LT_LAST_TEXT && b->name_depth == 0 && lt_blank(ctxt, e, ch, len))
            return; /* libxml2's tree would hold nothing */
        if (e->last_kind == kind) {
            if (b->run_len + (size_t)len > LT_HUGE_TEXT) {
                lt_out_of_memory(ctxt); /* libxml2: "huge text node" */
                return;
            }
            b->run_len += (size_t)len;
        } else {
            b->run_len = (size_t)len;
        }
        if (e->last_kind == LT_LAST_NONE && kind == LT_LAST_TEXT)
            e->first_text = 1;
    }
    lt_node_at(b);
    e->last_kind = kind;
    if (b->name_depth == 0)
        return; /* outside names no text is read */
    struct cpis_xnode *t = e->last;
    if (t == NULL || t->type != CPIS_XN_TEXT) {
        t = lt_alloc(b, sizeof *t);
        if (t == NULL) {
            lt_out_of_memory(ctxt);
            return;
        }
        memset(t, 0, sizeof *t);
        t->type = CPIS_XN_TEXT;
        t->parent = e;
        if (e->last != NULL)
            e->last->next = t;
        else
            e->children = t;
        e->last = t;
    }
    lt_text_append(b, t, ch, (size_t)len);
    if (b->oom)
        lt_out_of_memory(ctxt);
}

static void lt_characters(void *ctx, const xmlChar *ch, int len)
{
    lt_text(ctx, ch, len, LT_LAST_TEXT);
}

static void lt_cdata(void *ctx, const xmlChar *ch, int len)
{
    lt_text(ctx, ch, len, LT_LAST_CDATA);
}

/* Comments and processing instructions: never read, but libxml2's tree
 * holds them (depth, and they end a text run). */
static void lt_other(struct light_builder *b)
{
    if (b == NULL || b->cur == NULL)
        return;
    lt_node_at(b);
    b->cur->last_kind = LT_LAST_OTHER;
}

static void lt_comment(void *ctx, const xmlChar *value)
{
    (void)value;
    lt_other(lt_of(ctx));
}

static void lt_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    (void)target;
    (void)data;
    lt_other(lt_of(ctx));
}

void cpis_xtree_free(struct cpis_xtree *t)
{
    struct light_builder *b = (struct light_builder *)t;
    if (b == NULL)
        return;
    while (b->blocks != NULL) {
        struct lt_block *prev = b->blocks->prev;
        free(b->blocks);
        b->blocks = prev;
    }
    if (b->ids != NULL)
        xmlHashFree(b->ids, NULL);
    if (b->dict != NULL)
        xmlDictFree(b->dict);
    free(b);
}

const struct cpis_xnode *cpis_xtree_root(const struct cpis_xtree *t)
{
    return t != NULL ? ((const struct light_builder *)t)->root : NULL;
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

/* The safe read both entry points share.  With lt == NULL libxml2 builds
 * its tree, handed back in *doc; otherwise the SAX2 callbacks above build
 * the light tree in lt and *doc is left NULL. */
static int safe_read(const uint8_t *buf, size_t len, unsigned flags, struct light_builder *lt,
                     xmlDocPtr *doc, struct cpis_parse_error *err)
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
    st.lt = lt;
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
    if (lt != NULL) {
        /* the document itself (startDocument, endDocument) is still
         * libxml2's: an empty xmlDoc, freed below */
        sax->startElementNs = lt_start;
        sax->endElementNs = lt_end;
        sax->characters = lt_characters;
        sax->ignorableWhitespace = lt_characters;
        sax->cdataBlock = lt_cdata;
        sax->comment = lt_comment;
        sax->processingInstruction = lt_pi;
    }

    xmlStructuredErrorFunc saved_fn = xmlStructuredError;
    void *saved_ctx = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(&st, xml_thread_serror);

    /* XML_PARSE_COMPACT: short text nodes are stored inside the node rather
     * than in a malloc'd string of their own (the tree is read, never
     * edited); under callgrind the parse costs 19% fewer instructions.
     * (It only concerns libxml2's tree: the light read passes it too, so
     * that both reads run the parser with the very same options.)
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
    if (lt != NULL && ctxt->dict != NULL && xmlDictReference(ctxt->dict) == 0)
        lt->dict = ctxt->dict; /* the names in the light tree */
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
    if (lt != NULL) {
        xmlFreeDoc(d);
        d = NULL;
        if (lt->dict == NULL)
            return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
        if (lt->root == NULL)
            return cpis_fail(err, CPIS_MSG_MALFORMED, "XML document has no root element");
        if (lt->too_deep)
            return cpis_fail(err, CPIS_MSG_MALFORMED, "XML nested deeper than %d",
                             XML_MAX_DEPTH);
        return CPIS_MSG_OK;
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

int cpis_xml_read(const uint8_t *buf, size_t len, unsigned flags, struct _xmlDoc **doc,
                  struct cpis_parse_error *err)
{
    return safe_read(buf, len, flags, NULL, doc, err);
}

int cpis_xml_read_light(const uint8_t *buf, size_t len, unsigned flags,
                        struct cpis_xtree **tree, struct cpis_parse_error *err)
{
    *tree = NULL;
    struct light_builder *b = calloc(1, sizeof *b);
    if (b == NULL)
        return cpis_fail(err, CPIS_MSG_MALFORMED, "out of memory");
    b->track_runs = len > LT_HUGE_TEXT;
    xmlDocPtr d;
    int rc = safe_read(buf, len, flags, b, &d, err);
    if (rc != CPIS_MSG_OK) {
        cpis_xtree_free((struct cpis_xtree *)b);
        return rc;
    }
    *tree = (struct cpis_xtree *)b;
    return CPIS_MSG_OK;
}
