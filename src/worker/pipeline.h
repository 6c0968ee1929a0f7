/* Pipeline file parser (libyaml). The subset of the format logstream runs:
 *
 *   version: "1"
 *   name: hello                  # optional; defaults to the file's base name
 *   environment: {KEY: value}    # for every step and service
 *   steps:
 *     - name: build
 *       image: alpine:latest     # accepted, ignored: steps run on the host shell
 *       commands: [make, make test]
 *       environment: {KEY: value}
 *       secrets: [API_TOKEN]     # values taken from the worker's environment, masked
 *       tty: false               # run under a pseudo-terminal
 *       timeout: 10m             # step timeout (duration, see ls_parse_duration_ms)
 *       ruleset: {continue: true}  # the build goes on when this step fails
 *   services:                    # background processes for the whole build
 *     - name: db
 *       commands: [...]          # same keys as a step
 *
 * Every error names file:line:column and what to do. */
#ifndef LS_WORKER_PIPELINE_H
#define LS_WORKER_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ls_kv {
    char *key;
    char *value;
} ls_kv;

typedef struct ls_pipeline_step {
    char *name;
    char *image;          /* NULL when absent */
    bool service;
    char **commands;
    size_t n_commands;
    ls_kv *env;
    size_t n_env;
    char **secrets;       /* names of worker environment variables */
    size_t n_secrets;
    bool tty;
    bool continue_on_failure;
    int64_t timeout_ms;   /* 0 = no timeout */
    int line;             /* 1-based position of the step in the file */
    int column;
} ls_pipeline_step;

typedef struct ls_pipeline {
    char *version;
    char *name;
    ls_kv *env;
    size_t n_env;
    ls_pipeline_step *steps;
    size_t n_steps;
    ls_pipeline_step *services;
    size_t n_services;
} ls_pipeline;

/* Parses len bytes of YAML; filename is used in messages only. On success
 * returns 0 and *ret (free with ls_pipeline_free). On failure returns -EINVAL
 * and writes "FILE:LINE:COLUMN: message" into err (errlen bytes). */
int ls_pipeline_parse(const char *data, size_t len, const char *filename, ls_pipeline **ret,
                      char *err, size_t errlen);

/* Reads and parses a file. -ENOENT etc. when unreadable (err says so). */
int ls_pipeline_load(const char *path, ls_pipeline **ret, char *err, size_t errlen);

/* Frees; NULL is a no-op. */
void ls_pipeline_free(ls_pipeline *p);

#endif
