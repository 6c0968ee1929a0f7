/* links: worker mask common */
/* Parses arbitrary bytes as a pipeline file. A failure must be -EINVAL with a
 * "FILE:LINE:COLUMN: message" error; a success must hold the invariants the
 * worker relies on (at least one step, named, unique names, non-empty
 * commands without NUL bytes), and its scripts must build. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "worker/executor.h"
#include "worker/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(const char *err)
{
    unsigned line = 0, col = 0;
    int used = 0;
    if (sscanf(err, "fuzz.yml:%u:%u: %n", &line, &col, &used) != 2 || !used || line < 1 ||
        col < 1 || !err[used])
        abort();
}

static void check_step(const ls_pipeline_step *s, bool service)
{
    if (!s->name || !*s->name || s->service != service || !s->n_commands || s->line < 1 ||
        s->column < 1 || s->timeout_ms < 0)
        abort();
    for (size_t i = 0; i < s->n_commands; i++) {
        if (!s->commands[i] || !*s->commands[i])
            abort();
    }
    for (size_t i = 0; i < s->n_env; i++) {
        if (!s->env[i].key || !s->env[i].value)
            abort();
    }
    ls_buf script = LS_BUF_INIT;
    ls_script_build(s, &script);
    if (strncmp(script.data, "set -e\n", 7) != 0)
        abort();
    ls_buf_free(&script);
}

static void check_pipeline(const ls_pipeline *p)
{
    if (!p->version || strcmp(p->version, "1") != 0 || !p->name || !p->n_steps)
        abort();
    size_t n = p->n_steps + p->n_services;
    for (size_t i = 0; i < n; i++) {
        const ls_pipeline_step *a = i < p->n_steps ? &p->steps[i] : &p->services[i - p->n_steps];
        check_step(a, i >= p->n_steps);
        for (size_t j = 0; j < i; j++) {
            const ls_pipeline_step *b =
                j < p->n_steps ? &p->steps[j] : &p->services[j - p->n_steps];
            if (!strcmp(a->name, b->name))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy so ASan catches any read past the end */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    ls_pipeline *p = NULL;
    char err[512];
    int r = ls_pipeline_parse(copy, size, "fuzz.yml", &p, err, sizeof(err));
    if (r == 0) {
        check_pipeline(p);
        ls_pipeline_free(p);
    } else {
        if (r != -EINVAL || p)
            abort();
        check_error(err);
    }
    free(copy);
    return 0;
}
