/*
 * scrub.h - keep NHS numbers and names out of log lines, for the plugin and
 * the mock host alike (the mock host links plugin/scrub.c too, so both sides
 * mask the same way).  No dependencies beyond the C library.
 */
#ifndef CPIS_SCRUB_H
#define CPIS_SCRUB_H

#include <stddef.h>

/* In place: every run of digits that could be an NHS number is masked to
 * its last four digits ('*' for the others).  A run is digits in any
 * grouping: groups joined by ONE space, '-' or '_' ("9449305552",
 * "944 930 5552", "944-930-5552", "94-49-30-55-52"), glued to letters or
 * not ("child9449305552"); it is masked when it holds 10 or more digits.
 * Left alone, so that they stay usable: identifiers the plugin and the
 * hosts print, that is a UUID (8-4-4-4-12 hexadecimal), a token of 16 or
 * more hexadecimal characters with at least one letter (hashes, access
 * keys), and a quarantine id "q-" + 16 hexadecimal characters (even all
 * digits).  Known limit: ten digits hidden inside such a hexadecimal token
 * ("abcdef9449305552") are not masked.  '.' and '/' do not join groups
 * (OIDs such as 2.16.840.1.113883.2.1.4.1 and paths stay readable). */
void cpis_scrub_digits(char *s);

/* A file name (or path) for a log line: copied into out (cut to cap - 1
 * bytes), the digits masked as above, and in its last component every
 * word that looks like a person's name - a capital letter followed by
 * lower-case letters, three letters or more ("Patel", "Sam") - reduced to
 * its initial ("P****").  A heuristic: a name written in lower case is not
 * recognised; what is masked is masked whole. */
void cpis_scrub_file_name(const char *name, char *out, size_t cap);

#endif
