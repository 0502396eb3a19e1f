/*
 * progress.h - a one-line progress meter on stderr for long runs
 * (generate, compare, the benchmark).  It is shown only when stderr is a
 * terminal (isatty) and the run is longer than PROGRESS_MIN items, so
 * scripts, pipes and tests never see it.  Output is at most ~5 updates a
 * second, rewritten in place with '\r', and ends with a newline.
 */
#ifndef MOCKHOST_PROGRESS_H
#define MOCKHOST_PROGRESS_H

#include <stdint.h>

/* Runs of at most this many items show nothing. */
#define PROGRESS_MIN 3000u

struct progress {
    const char *what;   /* label, e.g. "generate" (borrowed) */
    uint64_t total;     /* 0 = unknown */
    uint64_t done;
    int active;         /* 1 when stderr is a TTY and total > PROGRESS_MIN */
    double t0, last;    /* monotonic seconds */
};

/* Starts a meter; force: -1 = decide by isatty(2), 0 = never, 1 = always
 * (tests).  total may be 0 when unknown (then the meter shows counts only,
 * and is active on a TTY). */
void progress_start(struct progress *p, const char *what, uint64_t total,
                    int force);
/* Adds n done items; redraws when due. */
void progress_add(struct progress *p, uint64_t n);
/* Final line (count, rate) and a newline, if active. */
void progress_end(struct progress *p);

/* Monotonic clock in seconds. */
double progress_now(void);

#endif /* MOCKHOST_PROGRESS_H */
