/*
 * cases.h - the mock host's case fixture (contract.md, "Host case data"):
 * a JSON array of { nhs_number, case_id, status, worker, manager, team,
 * child_name, date_of_birth } (the last two optional, ABI 1.1),
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

/* The NHS number of the child whose case is case_id (a linear scan: used
 * once per `note complete`), or NULL. */
const char *cases_nhs_of_case(const struct cases *c, const char *case_id);

/* 1 when some case is allocated to worker (non-NULL) or team (non-NULL). */
int cases_knows(const struct cases *c, const char *worker, const char *team);

#endif /* MOCKHOST_CASES_H */
