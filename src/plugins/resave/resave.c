/* resave: the sample log plugin, the one to copy when writing your own.
 *
 * It writes each step's lines to <dir>/<N>-<step name>.log, where <dir> is the
 * "dir" setting or else <temp_dir>/resave, and N is the step's position (1,
 * 2, ...), and at finalize tells the user where each file is. It uses only
 * <logstream/plugin.h> and the C library, so it builds both into logstream
 * and as a shared object:
 *
 *     cc -shared -fPIC -DLS_PLUGIN_SHARED -Iinclude -o resave.so resave.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "logstream/plugin.h"

#define RESAVE_BUFFER (64 * 1024)

/* One open file per step that has printed something. */
typedef struct resave_file {
    FILE *f;
    char *path;
    unsigned long long lines;
} resave_file;

typedef struct resave {
    char *dir;
    int in_temp_dir;    /* no "dir" setting: the copies go with the job's temp directory */
    resave_file *files; /* indexed by ls_plugin_step.index */
    size_t n_files;
} resave;

static void resave_destroy(void *state)
{
    resave *rs = state;
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_files; i++) {
        if (rs->files[i].f)
            fclose(rs->files[i].f);
        free(rs->files[i].path);
    }
    free(rs->files);
    free(rs->dir);
    free(rs);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int resave_init(const ls_plugin_context *ctx, void **ret_state)
{
    const char *dir = ctx->setting(ctx, "dir");
    if ((!dir || !*dir) && !*ctx->temp_dir) {
        ctx->trace(ctx, "no temp_dir in the context and no \"dir\" setting: nothing to do");
        return LS_PLUGIN_DECLINE;
    }
    resave *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return -ENOMEM;
    rs->dir = dir && *dir ? strdup(dir) : join(ctx->temp_dir, "resave");
    rs->in_temp_dir = !(dir && *dir);
    rs->n_files = ctx->n_steps;
    rs->files = calloc(ctx->n_steps + 1, sizeof(*rs->files));
    if (!rs->dir || !rs->files) {
        resave_destroy(rs);
        return -ENOMEM;
    }
    if (mkdir(rs->dir, 0700) < 0 && errno != EEXIST) {
        int err = -errno;
        ctx->output(ctx, "cannot create %s: %s", rs->dir, strerror(errno));
        resave_destroy(rs);
        return err;
    }
    *ret_state = rs;
    return LS_PLUGIN_RUN;
}

/* "<N>-<name>.log" with anything but [A-Za-z0-9._-] in the name made '_'. */
static char *file_name(const ls_plugin_step *step)
{
    size_t n = strlen(step->name) + 32;
    char *s = malloc(n);
    if (!s)
        return NULL;
    int k = snprintf(s, n, "%zu-", step->index + 1);
    for (const char *p = step->name; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        s[k++] = ok ? c : '_';
    }
    strcpy(s + k, ".log");
    return s;
}

static resave_file *open_step_file(const ls_plugin_context *ctx, resave *rs,
                                   const ls_plugin_step *step)
{
    resave_file *rf = &rs->files[step->index];
    if (rf->f)
        return rf;
    char *name = file_name(step);
    rf->path = name ? join(rs->dir, name) : NULL;
    free(name);
    rf->f = rf->path ? fopen(rf->path, "w") : NULL;
    if (!rf->f) {
        ctx->trace(ctx, "cannot open %s: %s", rf->path ? rf->path : "a file", strerror(errno));
        return NULL;
    }
    setvbuf(rf->f, NULL, _IOFBF, RESAVE_BUFFER); /* few, large writes: lines come fast */
    return rf;
}

static int resave_process_line(const ls_plugin_context *ctx, void *state,
                               const ls_plugin_step *step, const char *line, size_t len)
{
    resave_file *rf = open_step_file(ctx, state, step);
    if (!rf)
        return -EIO;
    if (fwrite(line, 1, len, rf->f) != len || putc('\n', rf->f) == EOF)
        return -EIO;
    rf->lines++;
    return 0;
}

static int resave_finalize(const ls_plugin_context *ctx, void *state)
{
    resave *rs = state;
    int rc = 0, saved = 0;
    for (size_t i = 0; i < rs->n_files; i++) {
        resave_file *rf = &rs->files[i];
        if (!rf->f)
            continue;
        int failed = fclose(rf->f) != 0;
        rf->f = NULL;
        if (failed) {
            ctx->output(ctx, "step %s: writing %s failed", ctx->steps[i].name, rf->path);
            rc = -EIO;
            continue;
        }
        ctx->output(ctx, "step %s: %llu lines saved to %s", ctx->steps[i].name, rf->lines,
                    rf->path);
        saved++;
    }
    /* temp_dir is for transient files (plugin.h): logstream run removes it
     * when the build ends, so say so rather than name a file that will be gone */
    if (saved && rs->in_temp_dir)
        ctx->output(ctx, "these copies are in the job's temporary directory, which is removed "
                         "when the build ends: give resave a \"dir\" setting to keep them");
    return rc;
}

LS_PLUGIN_EXPORT const ls_plugin_v1 LS_PLUGIN_DESCRIPTOR(resave) = {
    .abi_version = LS_PLUGIN_ABI_VERSION,
    .name = "resave",
    .description = "copies each step's log to a file in the job's temp directory",
    .init = resave_init,
    .process_line = resave_process_line,
    .finalize = resave_finalize,
    .destroy = resave_destroy,
};
