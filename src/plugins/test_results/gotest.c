/* test-results: go test.
 *
 * Every "--- PASS/FAIL/SKIP: Name (0.00s)" line is one test, subtests
 * ("    --- FAIL: TestX/case") included; a parent go marks FAIL because of
 * a subtest is failed. A run is one `go test` invocation: its package lines
 * ("ok  \tpkg\t0.01s", "FAIL\tpkg\t0.01s", "?   \tpkg\t[no test files]")
 * have no grand total, so they are summed (duration = sum of the packages'
 * times), and the run ends at the first line after a package line that is not
 * go test's own, or at the end of the step. Without -v (no "=== RUN" lines)
 * go prints only failed tests: the run is marked partial.
 *
 * Messages: with -v, a test's indented output comes between its "=== RUN"
 * (or "=== CONT"/"=== NAME") and its result line; without -v, after its
 * "--- FAIL" line. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "plugins/test_results/tr_stream.h"

#define GO_PENDING 64 /* tests whose output is kept while they run */

typedef struct go_pending {
    char *name;
    ls_buf out;
    size_t lines;
} go_pending;

typedef struct go_state {
    bool active, verbose, after_package, have_duration;
    tr_run run;
    go_pending pending[GO_PENDING];
    size_t next_slot;
    go_pending *current; /* the test "=== RUN/CONT/NAME" named last */
    tr_failure *last_fail;
} go_state;

static void pending_clear(go_pending *p)
{
    free(p->name);
    ls_buf_free(&p->out);
    memset(p, 0, sizeof(*p));
}

static go_pending *pending_find(go_state *st, const char *name, size_t len)
{
    for (size_t i = 0; i < GO_PENDING; i++) {
        go_pending *p = &st->pending[i];
        if (p->name && strlen(p->name) == len && memcmp(p->name, name, len) == 0)
            return p;
    }
    return NULL;
}

static go_pending *pending_get(go_state *st, const char *name, size_t len)
{
    go_pending *p = pending_find(st, name, len);
    if (p)
        return p;
    p = &st->pending[st->next_slot];
    st->next_slot = (st->next_slot + 1) % GO_PENDING;
    pending_clear(p);
    p->name = ls_xmemdup0(name, len > TR_MAX_NAME ? TR_MAX_NAME : len);
    return p;
}

static void reset(go_state *st)
{
    tr_run_clear(&st->run);
    for (size_t i = 0; i < GO_PENDING; i++)
        pending_clear(&st->pending[i]);
    st->active = st->verbose = st->after_package = st->have_duration = false;
    st->current = NULL;
    st->last_fail = NULL;
    st->next_slot = 0;
}

static void start(go_state *st)
{
    if (st->active)
        return;
    reset(st);
    tr_run_reset(&st->run, "go");
    st->active = true;
}

static void finish(go_state *st, const tr_sink *sink)
{
    if (st->active) {
        st->run.partial = !st->verbose;
        if (!st->have_duration)
            st->run.duration_ms = -1;
        tr_emit(sink, &st->run);
    }
    reset(st);
}

/* Adds the message lines kept in out to f, without their indentation. */
static void add_message(tr_failure *f, const ls_buf *out)
{
    const char *p = out->data, *end = out->data + out->len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        size_t k = tr_indent(p, n);
        tr_failure_add_line(f, p + k, n - k);
        p = nl ? nl + 1 : end;
    }
}

/* "--- FAIL: Name (0.00s)" at s (after the indentation). */
static bool result_line(go_state *st, const char *s, size_t len)
{
    int kind;
    if (tr_starts(s, len, "--- PASS: "))
        kind = 0;
    else if (tr_starts(s, len, "--- FAIL: "))
        kind = 1;
    else if (tr_starts(s, len, "--- SKIP: "))
        kind = 2;
    else
        return false;
    const char *name = s + 10;
    const char *paren = NULL;
    for (const char *p = s + len; p-- > name;) {
        if (*p == '(') {
            paren = p;
            break;
        }
    }
    if (!paren || paren == name || s[len - 1] != ')')
        return false;
    size_t nlen = (size_t)(paren - name);
    name = tr_trim(name, &nlen);
    start(st);
    go_pending *p = pending_find(st, name, nlen);
    st->last_fail = NULL;
    if (kind == 0) {
        st->run.passed++;
    } else if (kind == 2) {
        st->run.skipped++;
    } else {
        st->run.failed++;
        tr_failure *f = tr_run_add_failure(&st->run, name, nlen);
        if (p && p->out.len)
            add_message(f, &p->out);
        else
            st->last_fail = f;
    }
    if (p) {
        if (st->current == p)
            st->current = NULL;
        pending_clear(p);
    }
    return true;
}

/* "ok  \tpkg\t0.003s", "FAIL\tpkg\t0.003s", "?   \tpkg\t[no test files]" */
static bool package_line(go_state *st, const char *s, size_t len)
{
    if (!(tr_starts(s, len, "ok  \t") || tr_starts(s, len, "FAIL\t") ||
          tr_starts(s, len, "?   \t")))
        return false;
    const char *tab = memchr(s + 5, '\t', len - 5);
    start(st);
    st->after_package = true;
    if (tab) {
        const char *p = tab + 1, *end = s + len;
        int64_t ms;
        if (tr_read_milli(&p, end, &ms) && p < end && *p == 's') {
            if (!st->have_duration)
                st->run.duration_ms = 0;
            st->run.duration_ms = tr_add_ms(st->run.duration_ms, ms);
            st->have_duration = true;
        }
    }
    return true;
}

static void go_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    go_state *st = state;
    st->run.max_failures = sink->max_failures;
    size_t ind = tr_indent(s, len);
    if (tr_starts(s, len, "=== RUN   ") || tr_starts(s, len, "=== CONT  ") ||
        tr_starts(s, len, "=== NAME  ") || tr_starts(s, len, "=== PAUSE ")) {
        if (st->after_package && !st->verbose)
            finish(st, sink);
        start(st);
        st->verbose = true;
        st->after_package = false;
        size_t n = len - 10;
        const char *name = tr_trim(s + 10, &n);
        st->current = n ? pending_get(st, name, n) : NULL;
        st->last_fail = NULL;
        return;
    }
    if (result_line(st, s + ind, len - ind) || package_line(st, s, len))
        return;
    if (!st->active)
        return;
    if ((len == 4 && memcmp(s, "PASS", 4) == 0) || (len == 4 && memcmp(s, "FAIL", 4) == 0) ||
        tr_starts(s, len, "panic: ") || tr_starts(s, len, "exit status ") ||
        tr_starts(s, len, "testing: "))
        return;
    if (ind > 0 && ind < len) {
        if (st->last_fail) {
            tr_failure_add_line(st->last_fail, s + ind, len - ind);
        } else if (st->current && st->current->lines < TR_MAX_MESSAGE_LINES &&
                   st->current->out.len + len < TR_MAX_MESSAGE) {
            ls_buf_append(&st->current->out, s, len);
            ls_buf_putc(&st->current->out, '\n');
            st->current->lines++;
        }
        return;
    }
    if (st->after_package)
        finish(st, sink); /* the first line that is not go test's ends the run */
}

static void go_end(void *state, const tr_sink *sink)
{
    finish(state, sink);
}

static void go_free(void *state)
{
    reset(state);
}

const tr_parser tr_gotest = {
    .name = "go",
    .state_size = sizeof(go_state),
    .line = go_line,
    .end = go_end,
    .free = go_free,
};
