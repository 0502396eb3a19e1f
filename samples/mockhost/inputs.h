/*
 * inputs.h - turning command-line paths into inbound messages, the way a
 * host's MESH inbox would hand them over.
 *
 * A folder stands for every regular file in it (names starting with '.' are
 * skipped), in byte-wise name order.  A file NAME.dat with a NAME.ctl beside
 * it is one MESH message: the .ctl is the DTSControl envelope (parsed for
 * DTSId and LocalId), the .dat is the payload.  A .ctl with no .dat beside it
 * is an error.  Any other file is a bare payload with no transport ids.
 */
#ifndef MOCKHOST_INPUTS_H
#define MOCKHOST_INPUTS_H

#include <stddef.h>
#include <stdint.h>

struct input {
    char *path;         /* the payload file (the .dat of a MESH pair) */
    char *ctl_path;     /* the MESH control file, or NULL */
    char *error;        /* non-NULL: this input cannot be delivered (why) */
    const char *content_type; /* static: NULL = let the plugin sniff */
};

struct input_list {
    struct input *items;
    size_t n, cap;
};

/* Expands paths into list (appending).  Unreadable paths and lone .ctl files
 * become inputs with `error` set, so the caller reports them in order.
 * Returns 0, or -1 when out of memory. */
int inputs_expand(struct input_list *list, char *const *paths, size_t npaths);
void inputs_free(struct input_list *list);

/* The content type the mock host declares for a payload file name:
 * ".json" -> "application/fhir+json"; everything else (".xml", ".dat", ...)
 * -> NULL, so the plugin sniffs. */
const char *inputs_content_type(const char *path);

/* The MESH envelope fields the host passes on.  Every string is whole
 * (malloc'd, never cut: two DTSIds sharing a long prefix stay two ids) and
 * "" when the element is absent or empty. */
struct mesh_control {
    char *dts_id;
    char *local_id;
    char *workflow_id;
    char *message_type;  /* "Data", "Report", ... */
    int compressed;      /* Compress or IsCompressed is Y: a gzip payload */
};

/* Parses a DTSControl file: no DTD, no entities, no network; CRLF, no XML
 * declaration, an empty DTSId and elements it does not know are fine.
 * Returns 0, or -1 with a reason in err (never quoting the file's content);
 * release with mesh_control_free either way. */
int mesh_read_control(const char *path, struct mesh_control *out, char *err,
                      size_t err_cap);
void mesh_control_free(struct mesh_control *c);

/* Sets the event's MESH fields from c (NULL: none).  The mock host leaves
 * the payload as received: the plugin inflates a compressed one under its
 * own size limit (docs/host-integration.md). */
struct cpis_event;
void mesh_control_event(const struct mesh_control *c, struct cpis_event *ev);

/* Reads a whole file (at most max bytes).  Returns a malloc'd buffer (with a
 * NUL after the data, not counted in *len) or NULL with a reason in err. */
uint8_t *read_file(const char *path, size_t max, size_t *len, char *err,
                   size_t err_cap);

#endif /* MOCKHOST_INPUTS_H */
