/*
 * state.h - the child's workflow state (struct wf_child) as text in the
 * host's keyed store.  The plugin keeps no durable state of its own.
 */
#ifndef CPIS_STATE_H
#define CPIS_STATE_H

#include <stddef.h>

#include "workflow.h"

/* Serialise (format 4, see state.c): malloc'd NUL-terminated text, NULL on
 * allocation failure. */
char *cpis_state_encode(const struct wf_child *c);

/* Deserialise into *c (zeroed first).  0 on success, -1 when the text is not
 * a state this plugin wrote (the caller treats that as an internal error and
 * does not overwrite it). */
int cpis_state_decode(const char *json, size_t len, struct wf_child *c);

#endif
