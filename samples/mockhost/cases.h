/*
 * cases.h - the mock host's case fixture (contract.md, "Host case data"):
 * a JSON array of { nhs_number, case_id, status, worker, manager, team },
 * loaded once at start and read-only afterwards, so lookups need no lock.
 */
#ifndef MOCKHOST_CASES_H
#define MOCKHOST_CASES_H

#include <stddef.h>

#include "cpis/plugin.h"

struct cases;

/* Loads the fixture file.  On failure returns NULL and writes a reason
 * (naming the entry or key at fault) into err. */
struct cases *cases_load(const char *path, char *err, size_t err_cap);
void cases_free(struct cases *c);

/* Fills out (whose struct_size the caller set) for the child.  A child not
 * in the fixture is CPIS_CASE_UNKNOWN with empty strings.  Fields longer
 * than the fixed-size buffers are truncated. */
void cases_lookup(const struct cases *c, const char *nhs_number,
                  struct cpis_case *out);

#endif /* MOCKHOST_CASES_H */
