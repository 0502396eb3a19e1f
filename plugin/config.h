/*
 * config.h - the administrators' configuration (docs/reference.md), parsed and
 * validated with cJSON.  A parsed config is immutable and shared read-only
 * between threads; a change builds a new one and swaps it whole.
 */
#ifndef CPIS_CONFIG_H
#define CPIS_CONFIG_H

#include <stddef.h>

enum cpis_flag {
    FLAG_TASK_ACTIVITIES = 0,
    FLAG_FIRST_RESPONSE_ROUTING,
    FLAG_LANDING_PAGE,
    FLAG_CASE_NOTE_STUBS,
    FLAG_EPISODES,
    FLAG_COUNT_
};

struct cpis_setting_override {
    char code[16];
    char setting[40];
};

struct cpis_config {
    int version;                   /* 5 or 6 */
    int flag[FLAG_COUNT_];         /* effective value, 0/1 */
    int flag_explicit[FLAG_COUNT_];/* 1 when written in the file */
    int window_minutes;            /* episodes.window_minutes (720) */
    int max_span_minutes;          /* episodes.max_span_minutes (4320) */
    int threshold_count;           /* first_response.threshold_count (3) */
    int threshold_days;            /* first_response.threshold_days (183) */
    int repeat_window_days;        /* repeats.window_days (183) */
    int repeat_threshold;          /* repeats.threshold (2) */
    size_t max_message_bytes;      /* limits.max_message_bytes (1048576) */
    char data_quality_owner[64];   /* data_quality.owner ("cpis.data.quality") */
    char first_response_inbox[64]; /* first_response.recipients[0] */
    char first_response_duty[64];  /* first_response.recipients[1] */
    char **ods_paths;              /* resolved against base_dir */
    size_t n_ods_paths;
    struct cpis_setting_override *overrides;
    size_t n_overrides;
};

extern const char *const cpis_flag_names[FLAG_COUNT_];

/* Parse and validate.  json NULL means "no configuration given": all
 * defaults (version 6).  Text that is empty, only whitespace, not one JSON
 * object, or that gives a key twice is refused (cpis_json_parse_strict).  ods_override (NULL-terminated, may be NULL) replaces
 * ods.paths.  On error returns -1 and err holds every problem, one per line,
 * each naming the key and what was expected; *out is left untouched. */
int cpis_config_parse(const char *json, size_t len, const char *base_dir,
                      const char *const *ods_override, struct cpis_config *out,
                      char *err, size_t err_cap);
void cpis_config_free(struct cpis_config *c);

/* The effective configuration as JSON: every flag with value and source
 * ("version default" / "explicit").  Returns bytes needed (excluding NUL). */
size_t cpis_config_effective_json(const struct cpis_config *c, char *out, size_t cap);

#endif
