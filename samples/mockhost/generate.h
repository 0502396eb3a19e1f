/*
 * generate.h - a reproducible, realistic CP-IS notification workload.
 *
 * From a seed, the generator plans a cohort of children (open and closed
 * cases), then writes their notifications: incidents that cascade through
 * NHS 111 (a system author) -> ambulance control -> crew -> A&E -> ward with
 * realistic gaps, single accesses elsewhere (walk-in, out of hours, urgent
 * care, GP, SARC), repeat incidents weeks apart, in HL7 V3 and/or FHIR (the
 * element shapes of samples/cascade), some as MESH .ctl/.dat pairs; plus
 * exact duplicates (a resend of the same payload, or of the same access under
 * a new notification id) and bad messages, neither of which may act.
 *
 * Every original notification carries exactly one access, on a child in the
 * case fixture the generator also writes, so under version 5 the stream
 * produces exactly 3 x open + 2 x closed task activities and alerts.
 *
 * Order: children are handled in blocks of GEN_BLOCK_CHILDREN; each block's
 * messages are sorted by time (a stream of up to a few tens of thousands of
 * notifications is one block, fully in time order); a larger stream is a
 * sequence of such blocks, which keeps memory bounded for the benchmark.
 *
 * NHS numbers are in the NHS test range (999 prefix) and pass Modulus 11.
 * ODS codes are those of samples/ods, so every location resolves.
 */
#ifndef MOCKHOST_GENERATE_H
#define MOCKHOST_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#define GEN_BLOCK_CHILDREN 4096u

enum gen_format { GEN_MIXED = 0, GEN_HL7V3 = 1, GEN_FHIR = 2 };

struct gen_params {
    uint64_t seed;
    uint64_t open;        /* notifications (accesses) on open cases */
    uint64_t closed;      /* notifications (accesses) on closed cases */
    uint64_t duplicates;  /* extra resends (do not act) */
    uint64_t bad;         /* extra bad messages (quarantined) */
    enum gen_format format;
    int mesh_share_pct;   /* share of originals as MESH .ctl/.dat pairs */
    int64_t from, until;  /* every access time is in [from, until), epoch s */
};

/* The shortest date range gen_command accepts, in days. */
#define GEN_MIN_RANGE_DAYS 90

/* Sets the defaults: seed 1, the figures' mix (2253 open, 3739 closed),
 * 0 duplicates, 0 bad, mixed formats, 20% MESH pairs, the twelve months
 * before today (UTC). */
void gen_params_default(struct gen_params *p);

/* Date helpers (UTC): the start of t's day; the same day `months` months
 * earlier (the last day of the month when it has no such day); a strict
 * YYYY-MM-DD (0, or -1 when not a real date). */
int64_t gen_day_start(int64_t t);
int64_t gen_months_before(int64_t t, int months);
int gen_parse_date(const char *s, int64_t *out);

/* The kinds of message in the stream. */
enum gen_kind { GEN_ORIGINAL = 0, GEN_DUPLICATE = 1, GEN_BAD = 2 };

/* One message, borrowed for the sink call. */
struct gen_message {
    uint64_t seq;            /* position in the stream, from 1 */
    const char *name;        /* file name: "0000001-nhs111.xml", ... .dat */
    const char *payload;
    size_t payload_len;
    const char *ctl_name;    /* NAME.ctl for a MESH pair, else NULL */
    const char *ctl;         /* the DTSControl document, else NULL */
    size_t ctl_len;
    const char *dts_id;      /* "" when not a MESH pair */
    const char *local_id;    /* "" when not a MESH pair */
    const char *content_type; /* "application/fhir+json" for a .json, else NULL */
    enum gen_kind kind;
    int is_fhir;
    int open_case;           /* originals: 1 open, 0 closed */
};

/* Receives each message in stream order; non-zero stops the run. */
typedef int (*gen_sink)(void *user, const struct gen_message *m);

/* What a run produced (every count is exact). */
struct gen_stats {
    uint64_t children, children_open, children_closed;
    uint64_t open, closed;       /* original notifications by case status */
    uint64_t duplicates, bad;
    uint64_t hl7v3, fhir;        /* originals by format */
    uint64_t system_authors;     /* originals with a system (111) author */
    uint64_t mesh_pairs;         /* messages written as .ctl/.dat */
    uint64_t incidents, cascades; /* incidents; those with 2+ accesses */
    uint64_t messages;           /* everything: originals + dups + bad */
};

struct gen_plan;

/* Plans the cohort (children, their status and notification budgets).
 * NULL when out of memory. */
struct gen_plan *gen_plan_new(const struct gen_params *p);
void gen_plan_free(struct gen_plan *g);

/* Writes the case fixture (docs/reference.md, "The case fixture") for the plan's
 * children.  Returns 0, or -1 with errno set. */
int gen_write_cases(const struct gen_plan *g, const char *path);

/* Produces the stream.  Returns 0, the sink's non-zero value, or -1 when
 * out of memory.  st (may be NULL) receives the counts. */
int gen_run(const struct gen_plan *g, gen_sink sink, void *user,
            struct gen_stats *st);

/* The `generate` command: argv[0] is "generate".  Global options (--plugin
 * etc.) are not used by it.  Returns an exit status. */
int gen_command(int argc, char **argv);

/* The case fixture's answer for a child, from the plan, by binary search
 * (the benchmark's stand-in for a host's indexed case table).  Same fields
 * as gen_write_cases writes; a child not in the plan is CPIS_CASE_UNKNOWN. */
struct cpis_case;
int gen_plan_case(const struct gen_plan *g, const char *nhs_number,
                  struct cpis_case *out);

/* Modulus 11 check of a 10-digit NHS number (exposed for tests). */
int gen_nhs_valid(const char *s);

#endif /* MOCKHOST_GENERATE_H */
