/*
 * cases.h - the mock host's case fixture (docs/reference.md, "The case
 * fixture"):
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

/* Finds a worker (team = 0: the fixture's "worker" and "manager" ids) or a
 * team (team = 1: "team" names) the way a person types it: case does not
 * matter.  Returns the fixture's own spelling (owned by c), or NULL when no
 * case names it; then `near` receives up to three of the closest known
 * ids, comma-separated ("" when the fixture names none). */
const char *cases_find_person(const struct cases *c, const char *id, int team,
                              char *near, size_t near_cap);

#endif /* MOCKHOST_CASES_H */
