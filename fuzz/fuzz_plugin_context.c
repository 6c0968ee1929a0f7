/* links: pluginhost common */
/* Fuzzes the plugin host's context parser (line 1 of its stdin, written by
 * the worker but parsed as untrusted input) and the step lookup built from
 * it. Every accepted context must give consistent steps and plugin entries. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pluginhost/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ls_job *job = NULL;
    char *warnings = NULL, err[256];
    if (ls_job_parse((const char *)data, size, &job, &warnings, err, sizeof(err)) != 0) {
        if (!err[0])
            abort(); /* a refusal always says why */
        return 0;
    }
    if (!job->finish_nonce[0])
        abort();
    for (size_t i = 0; i < job->n_steps; i++) {
        const ls_plugin_step *s = &job->steps[i];
        if (s->index != i || strchr(s->id, ':') || ls_job_find_step(job, s->id, strlen(s->id)) != s)
            abort();
    }
    /* Look up every prefix of the input as a step id: must never crash. */
    for (size_t n = 0; n <= size && n <= LS_JOB_MAX_STEP_ID; n++)
        ls_job_find_step(job, (const char *)data, n);
    for (size_t i = 0; i < job->n_plugins; i++)
        if (ls_job_plugin(job, job->plugins[i].name) == NULL || !job->plugins[i].settings_json)
            abort();
    free(warnings);
    ls_job_free(job);
    return 0;
}
