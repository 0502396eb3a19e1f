/*
 * inputs.c - folders, MESH .ctl/.dat pairs and files (see inputs.h).
 */
#include "inputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cpis/plugin.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

/* ---- small string helpers ---------------------------------------------- */

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* path with its last `strip` bytes replaced by `suffix` (malloc'd). */
static char *with_suffix(const char *path, size_t strip, const char *suffix)
{
    size_t n = strlen(path) - strip, m = strlen(suffix);
    char *s = malloc(n + m + 1);
    if (s != NULL) {
        memcpy(s, path, n);
        memcpy(s + n, suffix, m + 1);
    }
    return s;
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir), m = strlen(name);
    int slash = n > 0 && dir[n - 1] != '/';
    char *s = malloc(n + (size_t)slash + m + 1);
    if (s != NULL) {
        memcpy(s, dir, n);
        if (slash)
            s[n] = '/';
        memcpy(s + n + (size_t)slash, name, m + 1);
    }
    return s;
}

static int is_regular(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A symbolic link: listed from a folder so that reading it is refused with
 * a reason (read_file never follows one), not skipped in silence. */
static int is_link(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode);
}

const char *inputs_content_type(const char *path)
{
    if (has_suffix(path, ".json"))
        return "application/fhir+json";
    return NULL; /* .xml, .dat and anything else: the plugin sniffs */
}

/* ---- the list ------------------------------------------------------------ */

static struct input *list_add(struct input_list *list)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        struct input *bigger = realloc(list->items, cap * sizeof *bigger);
        if (bigger == NULL)
            return NULL;
        list->items = bigger;
        list->cap = cap;
    }
    struct input *in = &list->items[list->n++];
    memset(in, 0, sizeof *in);
    return in;
}

void inputs_free(struct input_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].path);
        free(list->items[i].ctl_path);
        free(list->items[i].error);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* Adds one input with an error message (path copied). */
static int add_error(struct input_list *list, const char *path,
                     const char *why)
{
    struct input *in = list_add(list);
    if (in == NULL)
        return -1;
    in->path = strdup(path);
    in->error = strdup(why);
    return in->path != NULL && in->error != NULL ? 0 : -1;
}

/* True when `path` is also named in `names` (a .dat given next to its .ctl:
 * the pair is delivered once, at the .dat's place). */
static int listed(char *const *names, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], path) == 0)
            return 1;
    return 0;
}

/* Adds one regular file, pairing MESH files.  `siblings` are the other file
 * names being expanded in the same batch. */
static int add_file(struct input_list *list, const char *path,
                    char *const *siblings, size_t nsiblings)
{
    if (has_suffix(path, ".ctl")) {
        char *dat = with_suffix(path, 4, ".dat");
        if (dat == NULL)
            return -1;
        int rc = 0;
        if (!is_regular(dat)) {
            rc = add_error(list, path, "MESH control file without its .dat payload");
        } else if (!listed(siblings, nsiblings, dat)) {
            /* only the .ctl was named: deliver the pair here */
            struct input *in = list_add(list);
            if (in == NULL) {
                free(dat);
                return -1;
            }
            in->path = dat;
            dat = NULL;
            in->ctl_path = strdup(path);
            rc = in->ctl_path != NULL ? 0 : -1;
        }
        free(dat);
        return rc;
    }
    struct input *in = list_add(list);
    if (in == NULL || (in->path = strdup(path)) == NULL)
        return -1;
    in->content_type = inputs_content_type(path);
    if (has_suffix(path, ".dat")) {
        char *ctl = with_suffix(path, 4, ".ctl");
        if (ctl == NULL)
            return -1;
        if (is_regular(ctl))
            in->ctl_path = ctl;
        else
            free(ctl);
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every regular file of a folder, in name order. */
static int add_folder(struct input_list *list, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        char why[256];
        snprintf(why, sizeof why, "cannot read the folder: %s", strerror(errno));
        return add_error(list, dir, why);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *p = join_path(dir, e->d_name);
        if (p == NULL) {
            rc = -1;
            break;
        }
        if (!is_regular(p) && !is_link(p)) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **bigger = realloc(names, cap * sizeof *bigger);
            if (bigger == NULL) {
                free(p);
                rc = -1;
                break;
            }
            names = bigger;
        }
        names[n++] = p;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_file(list, names[i], names, n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int inputs_expand(struct input_list *list, char *const *paths, size_t npaths)
{
    for (size_t i = 0; i < npaths; i++) {
        struct stat sb;
        int rc;
        if (stat(paths[i], &sb) != 0) {
            char why[256];
            snprintf(why, sizeof why, "cannot read: %s", strerror(errno));
            rc = add_error(list, paths[i], why);
        } else if (S_ISDIR(sb.st_mode)) {
            rc = add_folder(list, paths[i]);
        } else if (S_ISREG(sb.st_mode)) {
            rc = add_file(list, paths[i], paths, npaths);
        } else {
            rc = add_error(list, paths[i], "not a regular file or a folder");
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- files --------------------------------------------------------------- */

uint8_t *read_file(const char *path, size_t max, size_t *len, char *err,
                   size_t err_cap)
{
    /* Inbox files are untrusted: a link is never followed (O_NOFOLLOW: an
     * inbox/x.dat -> /etc/shadow must not end up in the quarantine table),
     * and what is opened is checked on the descriptor itself (fstat), so it
     * cannot be swapped between the check and the read.  O_NONBLOCK keeps a
     * FIFO from blocking the open; it is refused as not a regular file. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ELOOP)
            snprintf(err, err_cap, "refused: a symbolic link (links are not followed)");
        else
            snprintf(err, err_cap, "cannot read: %s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(err, err_cap, "refused: not a regular file");
        close(fd);
        return NULL;
    }
    if ((uint64_t)sb.st_size > (uint64_t)max) {
        snprintf(err, err_cap, "larger than the mock host's %zu-byte limit", max);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size + 1);
    if (buf == NULL) {
        snprintf(err, err_cap, "out of memory");
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) {
        snprintf(err, err_cap, "read error (the file changed while it was read)");
        free(buf);
        return NULL;
    }
    buf[size] = 0;
    *len = size;
    return buf;
}

/* ---- MESH control files -------------------------------------------------- */

/* What the parser callbacks saw; reached through ctxt->_private (SAX2
 * needs ctxt->userData to stay the context itself). */
struct ctl_parse {
    int err_line;  /* line of the first error; -1 when unknown; 0 none */
    int doctype;   /* a DOCTYPE was seen (and parsing stopped) */
};

/* libxml2 reports parse errors here instead of printing them (its default
 * prints the offending input line to stderr).  We keep only the first
 * error's line number. */
static void ctl_error(void *user, xmlErrorPtr e)
{
    struct ctl_parse *cp = ((xmlParserCtxtPtr)user)->_private;
    if (cp->err_line == 0 && e != NULL)
        cp->err_line = e->line > 0 ? e->line : -1;
}

/* Called at <!DOCTYPE ...>, before any declaration in it is read: a MESH
 * control file never has one, so stop right there (no entity is ever
 * declared, let alone expanded or fetched). */
static void ctl_doctype(void *user, const xmlChar *name, const xmlChar *ext_id,
                        const xmlChar *system_id)
{
    (void)name;
    (void)ext_id;
    (void)system_id;
    xmlParserCtxtPtr ctxt = user;
    ((struct ctl_parse *)ctxt->_private)->doctype = 1;
    xmlStopParser(ctxt);
}

/* The whole text of the first child element named `name` of root, trimmed
 * (malloc'd; "" when absent or empty; NULL when out of memory). */
static char *child_text(xmlNodePtr root, const char *name)
{
    for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE ||
            xmlStrcmp(n->name, (const xmlChar *)name) != 0)
            continue;
        xmlChar *t = xmlNodeGetContent(n);
        if (t == NULL)
            break;
        /* trim surrounding whitespace (CRLF control files included) */
        const char *s = (const char *)t;
        s += strspn(s, " \t\r\n");
        size_t len = strlen(s);
        while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL)
            len--;
        char *out = strndup(s, len);
        xmlFree(t);
        return out;
    }
    return strdup("");
}

static int is_yes(const char *v)
{
    return v != NULL && (strcasecmp(v, "Y") == 0 || strcasecmp(v, "YES") == 0 ||
                         strcasecmp(v, "TRUE") == 0);
}

void mesh_control_free(struct mesh_control *c)
{
    free(c->dts_id);
    free(c->local_id);
    free(c->workflow_id);
    free(c->message_type);
    memset(c, 0, sizeof *c);
}

void mesh_control_event(const struct mesh_control *c, struct cpis_event *ev)
{
    ev->transport_id = c != NULL && c->dts_id != NULL ? c->dts_id : "";
    ev->local_id = c != NULL && c->local_id != NULL ? c->local_id : "";
    ev->workflow_id = c != NULL ? c->workflow_id : NULL;
    ev->mesh_message_type = c != NULL ? c->message_type : NULL;
    ev->content_encoding = c != NULL && c->compressed ? "gzip" : NULL;
}

int mesh_read_control(const char *path, struct mesh_control *out, char *err,
                      size_t err_cap)
{
    memset(out, 0, sizeof *out);
    size_t len = 0;
    /* A control file is a few hundred bytes; 64 KiB is generous. */
    uint8_t *text = read_file(path, 64 * 1024, &len, err, err_cap);
    if (text == NULL)
        return -1;
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        free(text);
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    struct ctl_parse cp = {0, 0};
    ctxt->_private = &cp;
    ctxt->sax->serror = ctl_error;         /* errors go to our handler */
    ctxt->sax->internalSubset = ctl_doctype; /* a DOCTYPE stops the parse */
    /* XML_PARSE_NONET only: no entity substitution (NOENT), no DTD loading
     * (DTDLOAD/DTDATTR), no HUGE.  A DOCTYPE is refused below. */
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, (const char *)text, (int)len,
                                      "mesh.ctl", NULL, XML_PARSE_NONET);
    int wellformed = ctxt->wellFormed;
    xmlFreeParserCtxt(ctxt);
    free(text);

    int rc = -1;
    xmlNodePtr root = doc != NULL ? xmlDocGetRootElement(doc) : NULL;
    if (cp.doctype || (doc != NULL && (doc->intSubset != NULL ||
                                       doc->extSubset != NULL))) {
        /* checked first: a stopped parse may still return a partial doc */
        snprintf(err, err_cap, "MESH control file has a DOCTYPE (refused)");
    } else if (doc == NULL || !wellformed || cp.err_line != 0) {
        if (cp.err_line > 0)
            snprintf(err, err_cap, "malformed MESH control file (line %d)",
                     cp.err_line);
        else
            snprintf(err, err_cap, "malformed MESH control file");
    } else if (root == NULL ||
               xmlStrcmp(root->name, (const xmlChar *)"DTSControl") != 0) {
        snprintf(err, err_cap, "not a MESH control file (root is not DTSControl)");
    } else {
        out->dts_id = child_text(root, "DTSId");
        out->local_id = child_text(root, "LocalId");
        out->workflow_id = child_text(root, "WorkflowId");
        out->message_type = child_text(root, "MessageType");
        char *compress = child_text(root, "Compress");
        char *is_compressed = child_text(root, "IsCompressed");
        out->compressed = is_yes(compress) || is_yes(is_compressed);
        int oom = compress == NULL || is_compressed == NULL || out->dts_id == NULL ||
                  out->local_id == NULL || out->workflow_id == NULL ||
                  out->message_type == NULL;
        free(compress);
        free(is_compressed);
        if (oom) {
            mesh_control_free(out);
            snprintf(err, err_cap, "out of memory");
        } else {
            rc = 0;
        }
    }
    xmlFreeDoc(doc);
    return rc;
}
