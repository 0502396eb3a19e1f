/*
 * progress.c - see progress.h.
 */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void draw(struct progress *p, double now)
{
    double el = now - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0.0;
    if (p->total > 0)
        fprintf(stderr, "\r%s: %llu/%llu (%3.0f%%) %.0f/s   ", p->what,
                (unsigned long long)p->done, (unsigned long long)p->total,
                100.0 * (double)p->done / (double)p->total, rate);
    else
        fprintf(stderr, "\r%s: %llu %.0f/s   ", p->what,
                (unsigned long long)p->done, rate);
    fflush(stderr);
    p->last = now;
}

void progress_start(struct progress *p, const char *what, uint64_t total,
                    int force)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->total = total;
    if (force < 0)
        p->active = isatty(STDERR_FILENO) && (total == 0 || total > PROGRESS_MIN);
    else
        p->active = force != 0;
    p->t0 = p->last = progress_now();
}

void progress_add(struct progress *p, uint64_t n)
{
    p->done += n;
    if (!p->active)
        return;
    /* Checking the clock is cheap, but not free: every 64 items. */
    if ((p->done & 63u) != 0 && p->done != p->total)
        return;
    double now = progress_now();
    if (now - p->last >= 0.2)
        draw(p, now);
}

void progress_end(struct progress *p)
{
    if (!p->active)
        return;
    draw(p, progress_now());
    fputc('\n', stderr);
    fflush(stderr);
    p->active = 0;
}
