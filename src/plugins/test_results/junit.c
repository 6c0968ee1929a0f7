/* test-results: JUnit XML (junit.h). */
#include "plugins/test_results/junit.h"

#include <errno.h>
#include <expat.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/flags.h"

struct tr_junit {
    XML_Parser xp;
    tr_run *run;
    int depth;
    bool root_checked, root_ok, root_has_time;
    int case_depth;      /* depth of the open <testcase>, 0 = none */
    int case_state;      /* 0 passed, 1 failed, 2 skipped */
    ls_buf case_name;    /* "classname.name" */
    tr_failure *current; /* failure whose text is being read */
    int text_depth;      /* depth of the <failure>/<error> whose text we keep */
    ls_buf text;         /* its text, bounded */
    int64_t suites_ms;
    bool have_suites_ms;
};

static const char *attr(const XML_Char **atts, const char *name)
{
    for (size_t i = 0; atts && atts[i]; i += 2)
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    return NULL;
}

static bool parse_seconds(const char *s, int64_t *ret_ms)
{
    if (!s)
        return false;
    const char *p = s, *end = s + strlen(s);
    return tr_read_milli(&p, end, ret_ms) && p == end;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    tr_junit *j = ud;
    j->depth++;
    if (!j->root_checked) {
        j->root_checked = true;
        j->root_ok = strcmp(name, "testsuites") == 0 || strcmp(name, "testsuite") == 0;
        int64_t ms;
        if (j->root_ok && parse_seconds(attr(atts, "time"), &ms)) {
            j->run->duration_ms = ms;
            j->root_has_time = true;
        }
        if (!j->root_ok)
            XML_StopParser(j->xp, XML_FALSE);
        return;
    }
    if (j->depth == 2 && strcmp(name, "testsuite") == 0) {
        int64_t ms;
        if (parse_seconds(attr(atts, "time"), &ms)) {
            j->suites_ms += ms;
            j->have_suites_ms = true;
        }
        return;
    }
    if (strcmp(name, "testcase") == 0 && !j->case_depth) {
        j->case_depth = j->depth;
        j->case_state = 0;
        ls_buf_reset(&j->case_name);
        const char *cls = attr(atts, "classname"), *n = attr(atts, "name");
        if (cls && *cls && !(n && strcmp(cls, n) == 0)) {
            ls_buf_puts(&j->case_name, cls);
            ls_buf_putc(&j->case_name, '.');
        }
        ls_buf_puts(&j->case_name, n ? n : "(unnamed)");
        return;
    }
    if (!j->case_depth || j->depth != j->case_depth + 1)
        return;
    if (strcmp(name, "failure") == 0 || strcmp(name, "error") == 0) {
        if (j->case_state != 1) {
            j->case_state = 1;
            j->current = tr_run_add_failure(j->run, j->case_name.data ? j->case_name.data : "",
                                            j->case_name.len);
        }
        const char *msg = attr(atts, "message");
        if (msg && *msg) {
            const char *p = msg;
            while (*p) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                tr_failure_add_line(j->current, p, n);
                p = nl ? nl + 1 : p + n;
            }
        }
        j->text_depth = j->depth;
        ls_buf_reset(&j->text);
    } else if (strcmp(name, "skipped") == 0 && j->case_state == 0) {
        j->case_state = 2;
    }
}

static void flush_text(tr_junit *j)
{
    if (!j->text.data)
        return;
    const char *p = j->text.data, *end = p + j->text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        tr_failure_add_line(j->current, p, n);
        p = nl ? nl + 1 : end;
    }
    ls_buf_reset(&j->text);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    tr_junit *j = ud;
    (void)name;
    if (j->text_depth && j->depth == j->text_depth) {
        flush_text(j);
        j->text_depth = 0;
    }
    if (j->case_depth && j->depth == j->case_depth) {
        if (j->case_state == 0)
            j->run->passed++;
        else if (j->case_state == 1)
            j->run->failed++;
        else
            j->run->skipped++;
        j->case_depth = 0;
        j->current = NULL;
    }
    j->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    tr_junit *j = ud;
    if (j->text_depth && j->current && j->text.len + (size_t)len <= TR_MAX_MESSAGE)
        ls_buf_append(&j->text, s, (size_t)len);
}

tr_junit *tr_junit_new(tr_run *r)
{
    tr_junit *j = ls_xcalloc(1, sizeof(*j));
    j->run = r;
    tr_run_reset(r, "junit");
    j->xp = XML_ParserCreate(NULL);
    if (!j->xp)
        abort(); /* out of memory, like ls_xmalloc */
    XML_SetUserData(j->xp, j);
    XML_SetElementHandler(j->xp, on_start, on_end);
    XML_SetCharacterDataHandler(j->xp, on_text);
    return j;
}

int tr_junit_feed(tr_junit *j, const char *data, size_t len, bool last, char *err, size_t errlen)
{
    while (len > 0 || last) {
        int n = len > (1u << 30) ? 1 << 30 : (int)len;
        bool fin = last && (size_t)n == len;
        if (XML_Parse(j->xp, data, n, fin) == XML_STATUS_ERROR) {
            if (j->root_checked && !j->root_ok)
                snprintf(err, errlen, "the root element is not <testsuites> or <testsuite>");
            else
                snprintf(err, errlen, "%s at line %lu", XML_ErrorString(XML_GetErrorCode(j->xp)),
                         (unsigned long)XML_GetCurrentLineNumber(j->xp));
            return -EBADMSG;
        }
        data += n;
        len -= (size_t)n;
        if (fin)
            break;
    }
    if (last) {
        if (!j->root_has_time && j->have_suites_ms)
            j->run->duration_ms = j->suites_ms;
    }
    return 0;
}

void tr_junit_free(tr_junit *j)
{
    if (!j)
        return;
    XML_ParserFree(j->xp);
    ls_buf_free(&j->case_name);
    ls_buf_free(&j->text);
    free(j);
}

int tr_junit_parse_file(const char *path, int64_t max_bytes, tr_run *r, char *err, size_t errlen)
{
    struct stat sb;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -errno;
    }
    if (fstat(fileno(f), &sb) == 0 && sb.st_size > max_bytes) {
        fclose(f);
        snprintf(err, errlen, "larger than %lld bytes (the junit_max_bytes setting)",
                 (long long)max_bytes);
        return -EFBIG;
    }
    tr_junit *j = tr_junit_new(r);
    char buf[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        rc = tr_junit_feed(j, buf, n, false, err, errlen);
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "read error");
        rc = -EIO;
    }
    if (rc == 0)
        rc = tr_junit_feed(j, "", 0, true, err, errlen);
    tr_junit_free(j);
    fclose(f);
    return rc;
}

/* The "junit" setting: globs from a string ("a,b") or an array of strings. */
static void add_globs(json_t *v, glob_t *g, const char *base, int *flags)
{
    char pattern[4096];
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) add_globs(e, g, base, flags);
        return;
    }
    if (!json_is_string(v))
        return;
    const char *s = json_string_value(v);
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        const char *t = tr_trim(s, &n);
        if (n > 0) {
            if (t[0] == '/')
                snprintf(pattern, sizeof(pattern), "%.*s", (int)n, t);
            else
                snprintf(pattern, sizeof(pattern), "%s/%.*s", base, (int)n, t);
            if (glob(pattern, *flags, NULL, g) == 0)
                *flags |= GLOB_APPEND;
        }
        s = comma ? comma + 1 : s + strlen(s);
    }
}

int64_t tr_setting_int(const ls_plugin_context *ctx, const char *key, int64_t def, int64_t min,
                       int64_t max)
{
    const char *v = ctx->setting(ctx, key);
    int64_t out;
    if (!v || !*v)
        return def;
    if (ls_parse_size(v, &out) < 0 || out < min || out > max) {
        ctx->output(ctx,
                    "setting \"%s\" must be a number from %lld to %lld, not \"%s\"; using %lld",
                    key, (long long)min, (long long)max, v, (long long)def);
        return def;
    }
    return out;
}

void tr_junit_collect(const ls_plugin_context *ctx, struct tr_plugin *p)
{
    json_t *settings = json_loads(ctx->settings_json, 0, NULL);
    json_t *globs = json_object_get(settings, "junit");
    if (!globs) {
        json_decref(settings);
        return;
    }
    const char *base = ctx->setting(ctx, "junit_dir");
    if (!base || !*base)
        base = ctx->n_repositories && *ctx->repositories[0].path ? ctx->repositories[0].path : ".";
    int number = (int)ctx->n_steps;
    const char *step_name = ctx->n_steps ? ctx->steps[ctx->n_steps - 1].name : "";
    const char *js = ctx->setting(ctx, "junit_step");
    if (js) {
        uint64_t v;
        const char *q = js;
        if (tr_read_u64(&q, js + strlen(js), &v) && *q == '\0' && v >= 1 && v <= 1000000) {
            number = (int)v;
            step_name = v <= ctx->n_steps ? ctx->steps[v - 1].name : js;
        }
    }
    if (number < 1)
        number = 1;
    glob_t g;
    memset(&g, 0, sizeof(g));
    int flags = 0;
    add_globs(globs, &g, base, &flags);
    if (!(flags & GLOB_APPEND)) {
        ctx->output(ctx, "no JUnit XML file matches the \"junit\" setting (under %s)", base);
        json_decref(settings);
        return;
    }
    int64_t max_files = tr_setting_int(ctx, "junit_max_files", TR_JUNIT_MAX_FILES, 1, 1000000);
    int64_t max_bytes =
        tr_setting_int(ctx, "junit_max_bytes", TR_JUNIT_MAX_BYTES, 1, (int64_t)1 << 40);
    tr_run run;
    memset(&run, 0, sizeof(run));
    run.max_failures = tr_plugin_max_failures(p);
    size_t n = g.gl_pathc < (size_t)max_files ? g.gl_pathc : (size_t)max_files;
    if (g.gl_pathc > n)
        ctx->output(ctx, "%zu JUnit XML files match; only the first %zu are read (junit_max_files)",
                    g.gl_pathc, n);
    for (size_t i = 0; i < n; i++) {
        char err[256];
        int rc = tr_junit_parse_file(g.gl_pathv[i], max_bytes, &run, err, sizeof(err));
        if (rc < 0) {
            ctx->output(ctx, "JUnit XML %s skipped: %s", g.gl_pathv[i], err);
        } else {
            for (size_t k = 0; k < run.n_failures; k++)
                tr_failure_trim(run.failures[k]);
            if (run.passed + run.failed + run.skipped + run.n_failures > 0)
                tr_plugin_publish(p, step_name, number, &run);
        }
        tr_run_clear(&run);
    }
    globfree(&g);
    json_decref(settings);
}
