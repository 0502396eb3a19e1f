/*
 * internal.h - the plugin instance, shared by entry.c, act.c and log.c.
 * Nothing here is exported (the build hides every symbol but the entry).
 */
#ifndef CPIS_INTERNAL_H
#define CPIS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "cpis/plugin.h"
#include "ods.h"
#include "record.h"
#include "workflow.h"

/* Everything derived from one configuration: immutable once built, shared
 * by every hook running on it, freed when the last user releases it after a
 * configuration change swapped it out. */
struct runtime {
    unsigned refs;            /* guarded by cpis_plugin.lock */
    struct cpis_config cfg;
    struct cpis_ods *ods;
    struct wf_policy pol;
};

struct cpis_plugin {
    const struct cpis_host_api *host;
    pthread_mutex_t lock;     /* guards rt, refs and switch_pending */
    struct runtime *rt;
    int switch_pending;       /* closing legacy items failed: try again */
};

/* log.c: format, scrub anything that looks like an NHS number, hand to the
 * host.  Callers never pass names or message text. */
void cpis_log(const struct cpis_plugin *p, int level, const char *fmt, ...)
    CPIS_PRINTF(3, 4);

/* scrub.c: cpis_scrub_digits, cpis_scrub_file_name (scrub.h). */
#include "scrub.h"

/* entry.c: the contract's name of a message error code. */
const char *cpis_message_error_name(int error);

/* act.c */
int cpis_handle_event(struct cpis_plugin *p, struct runtime *rt,
                      const struct cpis_event *ev, struct cpis_outcome *out);
int cpis_apply_switch(struct cpis_plugin *p, const struct runtime *rt);
/* The ABI 1.1 note hook's work: mark the stub's landing entry done. */
int cpis_note_completed(struct cpis_plugin *p, const struct runtime *rt,
                        const struct cpis_note_completion *nc);
/* Fill the parse view of one access (ODS enrichment) for parse output and
 * the workflow. */
void cpis_enrich_access(const struct runtime *rt, const struct cpis_access *a,
                        struct wf_access *w, const char *notification_id);
/* Map a host status: CPIS_OK stays, CPIS_ERR_RETRY stays, anything else
 * becomes CPIS_ERR_HOST. */
int cpis_host_status(int rc);

#endif
