/* The build and step objects of the HTTP API (docs/api.md), as the terminal
 * viewer needs them. */
#ifndef LS_CLI_BUILD_INFO_H
#define LS_CLI_BUILD_INFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct ls_step_info {
    int number;      /* 1-based, steps first then services */
    char *name;      /* owned */
    bool service;    /* kind == "service" */
    char status[16]; /* pending, running, success, failure, canceled, ... */
    bool has_exit_code;
    int exit_code;
    int64_t lines;
} ls_step_info;

typedef struct ls_build_info {
    int64_t id;
    char *name; /* owned */
    char status[16];
    char *url;           /* owned, may be NULL */
    ls_step_info *steps; /* owned, sorted by number */
    size_t nsteps;
} ls_build_info;

/* Fills *ret from a build object (with "steps"). Returns 0 or -EINVAL when a
 * required field is missing or has the wrong type. ret is untouched on
 * failure; on success the caller frees it with ls_build_info_clear. */
int ls_build_info_from_json(const json_t *obj, ls_build_info *ret);

/* Parses a step object into *ret (name owned by ret). Returns 0 or -EINVAL. */
int ls_step_info_from_json(const json_t *obj, ls_step_info *ret);

/* Replaces the step with the same number in b (or appends it), taking
 * ownership of step->name. */
void ls_build_info_update_step(ls_build_info *b, ls_step_info *step);

/* Returns the step with this number, or NULL. */
ls_step_info *ls_build_info_step(const ls_build_info *b, int number);

/* Returns the step with this name (the first when several share it), or NULL. */
ls_step_info *ls_build_info_step_by_name(const ls_build_info *b, const char *name);

/* True for a status that will not change any more. */
bool ls_status_name_is_final(const char *status);

/* Frees what b owns and zeroes it. */
void ls_build_info_clear(ls_build_info *b);

#endif
