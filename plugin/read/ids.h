/*
 * ids.h - identifier and timestamp validation (PCRE2-backed).
 * cpis_ids_init() compiles the patterns once; after it every function is
 * thread-safe (match data is created per call).
 */
#ifndef CPIS_IDS_H
#define CPIS_IDS_H

#include <stddef.h>
#include <stdint.h>

int cpis_ids_init(void);   /* idempotent, thread-safe; 0 on success */

/* Validate an NHS number (spaces allowed between digit groups: "944 930 5552").
 * On success writes the 10 digits + NUL into out (cap >= 11) and returns 0.
 * Returns -1 on a bad shape, -2 on a failed Modulus 11 check. */
int cpis_nhs_normalise(const char *in, char *out, size_t cap);

/* Mask for logs: "*** *** 5552" (cap >= 13). */
void cpis_nhs_mask(const char *nhs, char *out, size_t cap);

/* "944 930 5552" (cap >= 13). */
void cpis_nhs_display(const char *nhs, char *out, size_t cap);

/* ODS code: 1 to 9 letters and digits. Returns 1 when valid. */
int cpis_ods_code_valid(const char *code);

/* HL7 TS "YYYYMMDD[HH[MM[SS[.f{1,9}]]]][+|-HHMM]" -> epoch seconds UTC
 * (fractions of a second are dropped).  Without an offset the time is UK
 * local time (Europe/London, see cpis_london_to_utc); a date alone is local
 * midnight.  Impossible dates and junk are errors (-1). */
int cpis_hl7_ts_parse(const char *ts, int64_t *out);

/* A Europe/London wall-clock time, given as if it were UTC epoch seconds,
 * -> epoch seconds UTC, computed from the UK rule (BST from 01:00 UTC on
 * the last Sunday of March to 01:00 UTC on the last Sunday of October),
 * never from the process's TZ.  The repeated October hour (01:00-01:59
 * local) is read as its first occurrence (BST); the March hour that the
 * clock skips is read as GMT. */
int64_t cpis_london_to_utc(int64_t local);

/* ISO 8601 / FHIR instant "YYYY-MM-DDThh:mm[:ss[.fff]](Z|+hh:mm)" or a
 * plain date "YYYY-MM-DD" -> epoch seconds UTC. -1 on error. */
int cpis_iso_ts_parse(const char *ts, int64_t *out);

/* epoch seconds -> "2024-03-15T14:29:58Z" (cap >= 21). */
void cpis_iso_format(int64_t t, char *out, size_t cap);

/* Days-from-civil helper: epoch seconds of a UTC calendar time; -1 when the
 * fields are out of range. */
int cpis_utc_from_fields(int y, int mo, int d, int h, int mi, int s, int64_t *out);

#endif
