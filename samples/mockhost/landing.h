/*
 * landing.h - `cpis-mockhost landing`: the CP-IS notification module of a
 * practitioner's landing page, rendered from the store as a self-contained
 * HTML page (a preview of what a host shows; see docs/admin-guide.md).
 */
#ifndef MOCKHOST_LANDING_H
#define MOCKHOST_LANDING_H

#include <stddef.h>

/* The command's --help text. */
extern const char LANDING_HELP[];

/* Runs `landing` on the store `db` (the global --db; NULL = none given) with
 * the command's own operands and options (args[0..nargs)).  Worker and team
 * ids are matched without regard to case against the case fixture
 * `cases_path` (the global --cases), or taken as typed when the store holds
 * entries for them.  Returns the exit status: 0 page written, 1 an unknown
 * worker or team (named, with the nearest known ids; no page), or a page
 * written but an entry could not be read (shown degraded, named on stderr),
 * 2 usage error, no store, or the page could not be written. */
int landing_main(const char *db, const char *cases_path, char **args, size_t nargs);

#endif /* MOCKHOST_LANDING_H */
