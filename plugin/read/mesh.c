/*
 * mesh.c - MESH control files (DTSControl XML), read with the same safe
 * libxml2 settings as HL7 V3 (cpis_xml_read: no DTD, no entities, no
 * network, errors never printed).  Only DTSId and LocalId are taken; they
 * may be absent ("").  Elements are matched by local name in no namespace
 * (or any namespace: MESH clients do not use one, but tolerate it).
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "parse.h"

static xmlNode *find_local(xmlNode *top, const char *name)
{
    xmlNode *n = top->children;
    while (n != NULL) {
        if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name))
            return n;
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != NULL && n != top && n->next == NULL)
            n = n->parent;
        if (n == NULL || n == top)
            break;
        n = n->next;
    }
    return NULL;
}

static int copy_text(xmlNode *el, char *dst, size_t cap, const char *field,
                     struct cpis_parse_error *err)
{
    if (dst == NULL || cap == 0)
        return CPIS_MSG_OK;
    dst[0] = '\0';
    if (el == NULL)
        return CPIS_MSG_OK;
    xmlChar *c = xmlNodeGetContent(el);
    if (c == NULL)
        return CPIS_MSG_OK;
    /* an identifier must fit whole: a truncated id would dedupe wrongly */
    int fits = cpis_copy_text(dst, cap, (const char *)c);
    xmlFree(c);
    if (!fits) {
        dst[0] = '\0';
        return cpis_fail(err, CPIS_MSG_MALFORMED, "MESH %s is too long", field);
    }
    return CPIS_MSG_OK;
}

int cpis_parse_mesh_ctl(const uint8_t *buf, size_t len, char *dts_id, size_t dts_cap,
                        char *local_id, size_t local_cap, struct cpis_parse_error *err)
{
    if (dts_id != NULL && dts_cap > 0)
        dts_id[0] = '\0';
    if (local_id != NULL && local_cap > 0)
        local_id[0] = '\0';
    if (err != NULL) {
        err->code = CPIS_MSG_OK;
        err->detail[0] = '\0';
    }
    xmlDocPtr doc = NULL;
    int rc = cpis_xml_read(buf, len, 0, &doc, err);
    if (rc != CPIS_MSG_OK)
        return rc;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (root == NULL || !xmlStrEqual(root->name, BAD_CAST "DTSControl")) {
        xmlFreeDoc(doc);
        return cpis_fail(err, CPIS_MSG_UNSUPPORTED, "not a MESH DTSControl file");
    }
    rc = copy_text(find_local(root, "DTSId"), dts_id, dts_cap, "DTSId", err);
    if (rc == CPIS_MSG_OK)
        rc = copy_text(find_local(root, "LocalId"), local_id, local_cap, "LocalId", err);
    xmlFreeDoc(doc);
    if (rc != CPIS_MSG_OK) {
        if (dts_id != NULL && dts_cap > 0)
            dts_id[0] = '\0';
        if (local_id != NULL && local_cap > 0)
            local_id[0] = '\0';
    }
    return rc;
}
