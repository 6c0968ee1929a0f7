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
 *   plugins:                     # log plugins (docs/plugins.md); all optional
 *     enabled: true              # false: no plugin runs unless listed in enable
 *     disable: [forward]         # these never run
 *     enable: [resave]           # these run (even with enabled: false)
 *     settings:                  # per plugin: a mapping given to it as JSON
 *       resave: {dir: /tmp/copies}
 *
 * Rules:
 * - version is optional; "1" (or 1) is the only version. Unknown keys are
 *   errors (the message lists the known keys).
 * - steps is required and not empty; services may be absent or null. Step and
 *   service names are required, single-line, unique across both lists.
 * - commands: a non-empty list of non-empty strings (a block scalar "|" makes
 *   a multi-line command).
 * - environment values must be scalars and keep their text as written
 *   (8080, true, 1.50); a YAML null (empty, ~, null) is the empty string.
 *   Names must be shell variable names, as must the names in secrets.
 * - tty and ruleset.continue: true/false (also yes/no/on/off).
 * - timeout: a duration with a unit (30s, 10m, 1h); a bare number other than
 *   0 is refused, since ls_parse_duration_ms would read it as milliseconds.
 * - anchors and aliases work; a second YAML document is an error.
 * - plugins: plugin names are 1..32 of a-z, 0-9 and '-'; a name may not be in
 *   both enable and disable; settings values are mappings (or null), turned
 *   into JSON objects: plain scalars true/false, null and numbers keep their
 *   JSON type, everything else is a string.
 *
 * Every error names file:line:column (1-based) and what to do. */
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
    char *image; /* NULL when absent */
    bool service;
    char **commands;
    size_t n_commands;
    ls_kv *env;
    size_t n_env;
    char **secrets; /* names of worker environment variables */
    size_t n_secrets;
    bool tty;
    bool continue_on_failure;
    int64_t timeout_ms; /* 0 = no timeout */
    int line;           /* 1-based position of the step in the file */
    int column;
} ls_pipeline_step;

/* Settings of one plugin from the pipeline's plugins.settings. */
typedef struct ls_pipeline_plugin_settings {
    char *name;
    char *json; /* a compact JSON object */
} ls_pipeline_plugin_settings;

/* The pipeline's plugins: key. Absent = enabled, nothing listed. */
typedef struct ls_pipeline_plugins {
    bool enabled;  /* plugins.enabled (default true) */
    char **enable; /* plugins.enable: run these whatever enabled says */
    size_t n_enable;
    char **disable; /* plugins.disable: never run these */
    size_t n_disable;
    ls_pipeline_plugin_settings *settings;
    size_t n_settings;
} ls_pipeline_plugins;

typedef struct ls_pipeline {
    char *version;
    char *name;
    ls_kv *env;
    size_t n_env;
    ls_pipeline_step *steps;
    size_t n_steps;
    ls_pipeline_step *services;
    size_t n_services;
    ls_pipeline_plugins plugins;
} ls_pipeline;

/* Hard limits applied while parsing (a pipeline file is untrusted input).
 * A field left 0 takes the default shown. */
typedef struct ls_pipeline_limits {
    size_t max_file_bytes;     /* whole file; 0 = 1 MiB */
    size_t max_steps;          /* steps and services together; 0 = 256 */
    size_t max_commands;       /* per step; 0 = 1000 */
    size_t max_env;            /* entries of one environment map, or secrets of a step; 0 = 1000 */
    size_t max_value_bytes;    /* one command or environment value; 0 = 64 KiB */
    size_t max_name_bytes;     /* a step or pipeline name; 0 = 128 */
    size_t max_depth;          /* nesting of lists and mappings; 0 = 32 */
    size_t max_nodes;          /* YAML nodes (scalars, lists, mappings, aliases); 0 = 50000 */
    size_t max_expanded_bytes; /* all strings kept, after aliases are expanded; 0 = 8 MiB */
} ls_pipeline_limits;

/* Like ls_pipeline_parse with explicit limits (NULL = all defaults). */
int ls_pipeline_parse_limits(const char *data, size_t len, const char *filename,
                             const ls_pipeline_limits *limits, ls_pipeline **ret, char *err,
                             size_t errlen);

/* Parses len bytes of YAML; filename is used in messages only. On success
 * returns 0 and *ret (free with ls_pipeline_free). On failure returns -EINVAL
 * and writes "FILE:LINE:COLUMN: message" into err (errlen bytes). */
int ls_pipeline_parse(const char *data, size_t len, const char *filename, ls_pipeline **ret,
                      char *err, size_t errlen);

/* Reads and parses a file. -ENOENT etc. when unreadable (err says so),
 * -EFBIG when larger than the file limit. */
int ls_pipeline_load(const char *path, ls_pipeline **ret, char *err, size_t errlen);

/* Like ls_pipeline_load with explicit limits (NULL = all defaults). */
int ls_pipeline_load_limits(const char *path, const ls_pipeline_limits *limits, ls_pipeline **ret,
                            char *err, size_t errlen);

/* Frees; NULL is a no-op. */
void ls_pipeline_free(ls_pipeline *p);

#endif
