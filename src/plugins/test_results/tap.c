/* test-results: TAP streams, prove, and node's TAP reporter.
 *
 * A TAP stream ("TAP version 13", a plan "1..N", "ok N - name", "not ok N -
 * name # TODO ...") counts its top-level test points: ok is passed, not ok is
 * failed, a "# SKIP" or "# TODO" directive is skipped, and planned tests that
 * never ran are skipped (not run). Nested (indented) subtests are summarised
 * by their parent's test point and not counted again. The run ends at a new
 * "TAP version", at the first non-TAP line once the plan is complete, or at the
 * end of the step.
 *
 * node --test's TAP reporter is such a stream with a footer ("# tests 6",
 * "# pass 2", "# fail 4", "# cancelled 0", "# skipped 0", "# todo 0",
 * "# duration_ms 156.4"): node counts every test, nested ones included
 * (suites are not tests), so its footer gives the run (framework "node"):
 * failed = fail + cancelled, skipped = skipped + todo. A failed test's message
 * is the "error:" of its YAML block; a test or suite that failed only through
 * its subtests (failureType 'subtestsFailed') is counted but not listed.
 *
 * prove ("t/a.t ..... ok", "Failed 2/4 subtests", "Files=2, Tests=5, 1
 * wallclock secs ...", "Result: FAIL") gives one run per prove (framework
 * "prove"): Tests= is the total; with -v the files' TAP lines give failed
 * and skipped; without -v the "Failed X/Y subtests" lines give failed and
 * "(less N skipped subtests: ...)" the skips of failed files, but the skips
 * and TODOs of passing files are not printed, so the run is marked partial. Test::More's "# Failed
 * test 'name'" diagnostics name the failed tests and give their messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugins/test_results/tr_stream.h"

#define TAP_DEPTH 16

enum { T_NONE, T_STREAM, T_PROVE };

typedef struct tap_state {
    int mode;
    tr_run run;
    bool run_ready;
    /* stream */
    uint64_t pass, fail, skip, points;
    uint64_t planned;
    bool plan_seen;
    /* node footer */
    bool node;
    uint64_t n_pass, n_fail, n_cancelled, n_skipped, n_todo;
    int64_t n_ms;
    /* prove */
    bool prove_tap;
    uint64_t prove_failed, prove_tests, prove_skipped;
    int64_t prove_ms;
    bool prove_totals;
    /* names of "# Subtest:" by depth, for node's nested names */
    char names[TAP_DEPTH][128];
    /* a failed test being described */
    tr_failure *pending;
    size_t pending_indent;
    bool pending_drop;
    bool in_yaml;
    bool in_error_block;
    size_t error_indent;
    bool in_diag;
} tap_state;

static void ensure_run(tap_state *st)
{
    if (!st->run_ready) {
        tr_run_reset(&st->run, "tap");
        st->run_ready = true;
    }
}

/* Drops the pending failure from the list (the last one added). */
static void drop_pending(tap_state *st)
{
    if (st->pending && st->pending_drop && st->run.n_failures &&
        st->pending == st->run.failures[st->run.n_failures - 1])
        tr_run_drop_last_failure(&st->run);
    st->pending = NULL;
    st->pending_drop = false;
    st->in_yaml = st->in_error_block = st->in_diag = false;
}

static void clear_counts(tap_state *st)
{
    st->pass = st->fail = st->skip = st->points = st->planned = 0;
    st->plan_seen = st->node = false;
    st->n_pass = st->n_fail = st->n_cancelled = st->n_skipped = st->n_todo = 0;
    st->n_ms = -1;
    st->prove_tap = st->prove_totals = false;
    st->prove_failed = st->prove_tests = st->prove_skipped = 0;
    st->prove_ms = -1;
    memset(st->names, 0, sizeof(st->names));
}

static void finish(tap_state *st, const tr_sink *sink)
{
    drop_pending(st);
    if (st->mode == T_STREAM && st->points > 0) {
        if (st->node) {
            snprintf(st->run.framework, sizeof(st->run.framework), "node");
            st->run.passed = st->n_pass;
            st->run.failed = st->n_fail + st->n_cancelled;
            st->run.skipped = st->n_skipped + st->n_todo;
            st->run.duration_ms = st->n_ms;
        } else {
            st->run.passed = st->pass;
            st->run.failed = st->fail;
            st->run.skipped = st->skip;
            if (st->plan_seen && st->planned > st->points)
                st->run.skipped += st->planned - st->points;
        }
        tr_emit(sink, &st->run);
    } else if (st->mode == T_PROVE && st->prove_totals) {
        snprintf(st->run.framework, sizeof(st->run.framework), "prove");
        uint64_t total = st->prove_tests;
        uint64_t failed = st->prove_tap ? st->fail : st->prove_failed;
        uint64_t skipped = st->prove_tap ? st->skip : st->prove_skipped;
        /* without -v prove shows the skips of failed files only */
        st->run.partial = !st->prove_tap;
        if (failed > total)
            failed = total;
        if (skipped > total - failed)
            skipped = total - failed;
        st->run.failed = failed;
        st->run.skipped = skipped;
        st->run.passed = total - failed - skipped;
        st->run.duration_ms = st->prove_ms;
        tr_emit(sink, &st->run);
    }
    tr_run_clear(&st->run);
    st->run_ready = false;
    st->mode = T_NONE;
    clear_counts(st);
}

static void start_stream(tap_state *st, const tr_sink *sink)
{
    if (st->mode == T_STREAM && st->points > 0)
        finish(st, sink);
    if (st->mode != T_STREAM) {
        /* keep failures already described by Test::More diagnostics */
        if (st->mode != T_NONE)
            finish(st, sink);
        clear_counts(st);
        st->mode = T_STREAM;
    }
    ensure_run(st);
}

/* "ok 3 - name # SKIP why" at s (after indentation): kind 1 ok, 2 not ok;
 * sets the name and the directive (0 none, 1 skip, 2 todo). */
static int test_point(const char *s, size_t len, const char **ret_name, size_t *ret_nlen,
                      int *ret_directive)
{
    int kind;
    const char *p, *end = s + len;
    if (tr_starts(s, len, "ok") && (len == 2 || s[2] == ' ')) {
        kind = 1;
        p = s + 2;
    } else if (tr_starts(s, len, "not ok") && (len == 6 || s[6] == ' ')) {
        kind = 2;
        p = s + 6;
    } else {
        return 0;
    }
    tr_skip_spaces(&p, end);
    uint64_t num;
    tr_read_u64(&p, end, &num);
    tr_skip_spaces(&p, end);
    if (p < end && *p == '-') {
        p++;
        tr_skip_spaces(&p, end);
    }
    const char *name = p;
    const char *hash = NULL;
    for (const char *q = p; q < end; q++) {
        if (*q == '#' && (q == p || q[-1] == ' ') && (q == s || q[-1] != '\\')) {
            hash = q;
            break;
        }
    }
    int directive = 0;
    if (hash) {
        const char *d = hash + 1;
        tr_skip_spaces(&d, end);
        if ((size_t)(end - d) >= 4 && strncasecmp(d, "skip", 4) == 0)
            directive = 1;
        else if ((size_t)(end - d) >= 4 && strncasecmp(d, "todo", 4) == 0)
            directive = 2;
    }
    size_t nlen = (size_t)((hash ? hash : end) - name);
    *ret_name = tr_trim(name, &nlen);
    *ret_nlen = nlen;
    *ret_directive = directive;
    return kind;
}

/* "t/math.t ..... ok", "t/shop.t .. ", "t/whole.t .. skipped: why" */
static bool prove_file_line(const char *s, size_t len)
{
    const char *sp = memchr(s, ' ', len);
    if (!sp || sp == s || (size_t)(s + len - sp) < 3 || sp[1] != '.' || sp[2] != '.')
        return false;
    const char *p = sp + 1, *end = s + len;
    while (p < end && *p == '.')
        p++;
    return p == end || *p == ' ';
}

/* Full node name of the test at depth d named name. */
static void node_name(tap_state *st, size_t depth, const char *name, size_t nlen, char *out,
                      size_t outlen)
{
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < depth && i < TAP_DEPTH; i++) {
        if (!st->names[i][0])
            continue;
        int w = snprintf(out + k, outlen - k, "%s > ", st->names[i]);
        if (w < 0 || (size_t)w >= outlen - k)
            return;
        k += (size_t)w;
    }
    snprintf(out + k, outlen - k, "%.*s", (int)nlen, name);
}

static void footer(tap_state *st, const char *s, size_t len)
{
    static const char *const keys[] = {"tests ",     "suites ",  "pass ", "fail ",
                                       "cancelled ", "skipped ", "todo ", "duration_ms "};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!tr_starts(s, len, keys[i]))
            continue;
        const char *p = s + strlen(keys[i]), *end = s + len;
        uint64_t v;
        int64_t ms;
        if (i == 7) {
            if (tr_read_milli(&p, end, &ms))
                st->n_ms = ms / 1000;
            return;
        }
        if (!tr_read_u64(&p, end, &v) || p != end)
            return;
        st->node = true;
        if (i == 2)
            st->n_pass = v;
        else if (i == 3)
            st->n_fail = v;
        else if (i == 4)
            st->n_cancelled = v;
        else if (i == 5)
            st->n_skipped = v;
        else if (i == 6)
            st->n_todo = v;
        return;
    }
}

/* A YAML line of a failed test's diagnostics (node: error:, failureType:, type:). */
static void yaml_line(tap_state *st, const char *s, size_t len, size_t ind)
{
    const char *t = s + ind;
    size_t n = len - ind;
    if (st->in_error_block) {
        if (ind >= st->error_indent || n == 0) {
            size_t k = ind < st->error_indent ? ind : st->error_indent;
            tr_failure_add_line(st->pending, s + k, len - k);
            return;
        }
        st->in_error_block = false;
    }
    if (tr_starts(t, n, "error: |") || tr_starts(t, n, "message: |")) {
        st->in_error_block = true;
        st->error_indent = ind + 2;
    } else if (tr_starts(t, n, "error: ") || tr_starts(t, n, "message: ")) {
        const char *v = memchr(t, ':', n) + 2;
        size_t vlen = (size_t)(t + n - v);
        if (vlen >= 2 && (v[0] == '\'' || v[0] == '"') && v[vlen - 1] == v[0]) {
            v++;
            vlen -= 2;
        }
        tr_failure_add_line(st->pending, v, vlen);
    } else if (tr_starts(t, n, "failureType: 'subtestsFailed'") ||
               tr_starts(t, n, "type: 'suite'")) {
        st->pending_drop = true;
    }
}

static void tap_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    tap_state *st = state;
    st->run.max_failures = sink->max_failures;
    size_t ind = tr_indent(s, len);
    const char *t = s + ind;
    size_t n = len - ind;

    if (st->in_yaml) {
        if (ind > st->pending_indent && tr_word_is(t, n, "...")) {
            drop_pending(st);
            return;
        }
        if (ind > st->pending_indent || n == 0) {
            if (!tr_word_is(t, n, "---"))
                yaml_line(st, s, len, ind);
            return;
        }
        drop_pending(st);
    }

    if (tr_starts(s, len, "TAP version ")) {
        start_stream(st, sink);
        return;
    }
    if (prove_file_line(s, len)) {
        if (st->mode == T_STREAM && st->points > 0)
            finish(st, sink);
        if (st->mode != T_PROVE) {
            clear_counts(st);
            st->mode = T_PROVE;
        }
        ensure_run(st);
        drop_pending(st);
        return;
    }
    if (st->mode == T_PROVE) {
        const char *p = s + 7, *end = s + len;
        uint64_t v;
        if (tr_starts(s, len, "Failed ") && tr_read_u64(&p, end, &v) && p < end && *p == '/') {
            st->prove_failed += v;
            return;
        }
        size_t ind0 = tr_indent(s, len);
        if (tr_starts(s + ind0, len - ind0, "(less ")) {
            /* "\t(less 1 skipped subtest: 0 okay)" under a failed file */
            p = s + ind0 + 6;
            if (tr_read_u64(&p, end, &v) && tr_starts(p, (size_t)(end - p), " skipped subtest"))
                st->prove_skipped += v;
            return;
        }
        if (tr_starts(s, len, "Files=")) {
            const char *tests = tr_find(s, len, "Tests=");
            if (tests) {
                p = tests + 6;
                if (tr_read_u64(&p, end, &v)) {
                    st->prove_tests = v;
                    st->prove_totals = true;
                }
            }
            const char *wall = tr_find(s, len, " wallclock secs");
            if (wall) {
                const char *q = wall;
                while (q > s && q[-1] >= '0' && q[-1] <= '9')
                    q--;
                if (tr_read_u64(&q, end, &v))
                    st->prove_ms = (int64_t)(v > 1000000 ? 1000000 : v) * 1000;
            }
            return;
        }
        if (tr_starts(s, len, "Result: ")) {
            finish(st, sink);
            return;
        }
    }

    const char *name;
    size_t nlen;
    int directive;
    int kind = test_point(t, n, &name, &nlen, &directive);
    if (kind && st->mode == T_PROVE && ind == 0 && (n == 2 || n == 6))
        return; /* prove's "ok" / "not ok" result of a file, not a test point */
    if (kind && st->mode == T_NONE) {
        /* outside a TAP stream, only a numbered test point starts one (not go's "ok  \tpkg") */
        const char *q = t + (kind == 1 ? 2 : 6), *end = t + n;
        uint64_t num;
        tr_skip_spaces(&q, end);
        if (q == t + n || !(q[-1] == ' ' && tr_read_u64(&q, end, &num)))
            return;
        start_stream(st, sink);
    }
    if (kind) {
        drop_pending(st);
        ensure_run(st);
        if (st->mode == T_PROVE)
            st->prove_tap = true;
        if (ind == 0) {
            st->points++;
            if (directive)
                st->skip++;
            else if (kind == 1)
                st->pass++;
            else
                st->fail++;
        }
        if (kind == 2 && !directive) {
            char full[TR_MAX_NAME + 1];
            node_name(st, ind / 4, name, nlen, full, sizeof(full));
            st->pending = tr_run_add_failure(&st->run, full, strlen(full));
            st->pending_indent = ind;
            st->in_yaml = st->pending != NULL;
            st->in_diag = st->pending != NULL;
        }
        return;
    }
    if (n >= 2 && t[0] == '#' && t[1] == ' ') {
        const char *c = t + 2;
        size_t cn = n - 2;
        if (tr_starts(c, cn, "Subtest: ")) {
            size_t d = ind / 4;
            if (d < TAP_DEPTH) {
                snprintf(st->names[d], sizeof(st->names[d]), "%.*s", (int)(cn - 9), c + 9);
                for (size_t i = d + 1; i < TAP_DEPTH; i++)
                    st->names[i][0] = '\0';
            }
            return;
        }
        if (st->mode == T_STREAM && ind == 0)
            footer(st, c, cn);
        if (st->node && tr_starts(c, cn, "duration_ms ")) {
            finish(st, sink);
            return;
        }
        size_t k = 0;
        while (k < cn && c[k] == ' ')
            k++;
        if (tr_starts(c + k, cn - k, "Failed test ") || tr_starts(c + k, cn - k, "Failed test\t")) {
            /* Test::More: "#   Failed test 'name'" (after its "not ok" with -v,
             * alone without it) */
            const char *q = c + k + 12, *end = c + cn;
            size_t qn = (size_t)(end - q);
            if (qn >= 2 && q[0] == '\'' && end[-1] == '\'') {
                q++;
                qn -= 2;
            }
            if (!(st->pending && st->in_diag)) {
                ensure_run(st);
                st->pending = tr_run_find_failure(&st->run, q, qn);
                if (!st->pending)
                    st->pending = tr_run_add_failure(&st->run, q, qn);
                st->pending_drop = false;
                st->in_diag = st->pending != NULL;
                st->in_yaml = false;
            }
            tr_failure_add_line(st->pending, c + k, cn - k);
            return;
        }
        if (tr_starts(c + k, cn - k, "Looks like ")) {
            st->in_diag = false;
            return;
        }
        if (st->in_diag) {
            tr_failure_add_line(st->pending, c + k, cn - k);
            return;
        }
        return;
    }
    if (n > 3 && t[0] == '1' && t[1] == '.' && t[2] == '.') {
        const char *p = t + 3, *end = t + n;
        uint64_t v;
        if (tr_read_u64(&p, end, &v)) {
            if (st->mode == T_NONE)
                start_stream(st, sink);
            if (ind == 0 && st->mode == T_STREAM) {
                st->planned = v;
                st->plan_seen = true;
            }
            return;
        }
    }
    st->in_diag = false;
    if (st->mode == T_STREAM && st->plan_seen && st->points >= st->planned && !st->node &&
        ind == 0 && n > 0)
        finish(st, sink);
}

static void tap_end(void *state, const tr_sink *sink)
{
    tap_state *st = state;
    if (st->mode == T_PROVE)
        st->mode = T_NONE; /* prove without its totals: no run */
    finish(st, sink);
}

static void tap_free(void *state)
{
    tr_run_clear(&((tap_state *)state)->run);
}

const tr_parser tr_tap = {
    .name = "tap",
    .state_size = sizeof(tap_state),
    .line = tap_line,
    .end = tap_end,
    .free = tap_free,
};
