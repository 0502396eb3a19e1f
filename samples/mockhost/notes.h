/*
 * notes.h - `cpis-mockhost note`: the case-note stubs the plugin wrote, as a
 * practitioner meets them in the host (list, show), and completing one
 * (complete), after which the host tells the plugin through its
 * note-completed hook (ABI 1.1) and the plugin marks the landing entry done.
 */
#ifndef MOCKHOST_NOTES_H
#define MOCKHOST_NOTES_H

#include <stddef.h>

#include "host.h"

extern const char NOTE_HELP[];

/* 1 when `note` with these operands needs the plugin loaded (complete). */
int note_needs_plugin(char **args, size_t nargs);

/* Runs `note` with its operands and options.  h has the store and the case
 * fixture; for complete also the loaded plugin's hooks.  Returns the exit
 * status: 0 done, 1 an unknown note or case, or the plugin refused, 2 usage
 * or store error. */
int note_main(struct mock_host *h, char **args, size_t nargs);

#endif /* MOCKHOST_NOTES_H */
