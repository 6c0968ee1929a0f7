/* The job context: line 1 of the plugin host's stdin, a JSON object (see
 * docs/plugins.md, "The context"). Parsed once, then read-only and shared by
 * every plugin thread. */
#ifndef LS_PLUGINHOST_JOB_H
#define LS_PLUGINHOST_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "logstream/plugin.h"

/* One entry of the context's "plugins" object. */
typedef struct ls_job_plugin_conf {
    char *name;
    bool enabled;
    char *settings_json;          /* compact JSON object text, "{}" when none */
    ls_plugin_variable *settings; /* scalar settings as text (name = key) */
    size_t n_settings;
} ls_job_plugin_conf;

typedef struct ls_job {
    char *build_id;
    char *server_url; /* without trailing '/' */
    char *token;
    char *temp_dir;
    char *finish_nonce;

    ls_plugin_variable *variables;
    size_t n_variables;
    ls_plugin_step *steps;
    size_t n_steps;
    ls_plugin_repository *repositories;
    size_t n_repositories;

    bool plugins_listed; /* the context has a "plugins" object: run only those */
    ls_job_plugin_conf *plugins;
    size_t n_plugins;

    size_t *step_index; /* open-addressing hash of step ids: slot -> index + 1, 0 = empty */
    size_t step_index_mask;
} ls_job;

/* Longest step id accepted, in bytes. */
#define LS_JOB_MAX_STEP_ID 256

/* Parses the context text (len bytes, need not be NUL-terminated). A context
 * that is not a JSON object or lacks a finish nonce is refused: returns
 * -EINVAL and writes why into err (errlen bytes). Entries that are wrong
 * but can be skipped (a step without an id, a variable that is not a string)
 * are skipped: each is described, one per line, in *ret_warnings (malloc'ed,
 * NULL when none; caller frees). On success stores a new job (free with
 * ls_job_free) in *ret_job and returns 0. */
int ls_job_parse(const char *text, size_t len, ls_job **ret_job, char **ret_warnings, char *err,
                 size_t errlen);

/* Frees a job; NULL is a no-op. */
void ls_job_free(ls_job *job);

/* Returns the step whose id is the len bytes at id, or NULL. */
const ls_plugin_step *ls_job_find_step(const ls_job *job, const char *id, size_t len);

/* Returns the context's configuration for plugin `name`, or NULL. */
const ls_job_plugin_conf *ls_job_plugin(const ls_job *job, const char *name);

/* The "plugins" entry that applies to every plugin the context does not
 * name (e.g. {"*": true, "forward": false}: all but forward). */
#define LS_JOB_PLUGIN_DEFAULT "*"

/* Whether plugin `name` runs for this job: when the context lists plugins,
 * only those listed (or, failing that, covered by "*") and not
 * "enabled": false; otherwise every plugin. */
bool ls_job_plugin_enabled(const ls_job *job, const char *name);

#endif
