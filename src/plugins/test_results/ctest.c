/* test-results: CTest.
 *
 * One line per test: "1/4 Test #1: totals ......   ***Failed    0.01 sec"
 * (Passed; ***Failed, ***Timeout, ***Exception are failed; ***Skipped and
 * ***Not Run -- disabled, or an executable that does not exist, which ctest's
 * own summary counts as failed but its JUnit XML as skipped -- are skipped, as
 * the counting rules say of tests that did not run). ctest's "N% tests passed, F tests failed out
 * of M" leaves skipped tests out, so the per-test lines are counted instead; the run ends at "Total
 * Test time (real) = 1.03 sec" (its duration). With
 * --output-on-failure a failed test's output follows its line: that is its
 * message. */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

typedef struct ctest_state {
    bool active;
    tr_run run;
    tr_failure *current;
} ctest_state;

/* "1/4 Test #1: name ....   Status   0.01 sec": status kind 0 pass, 1 fail, 2 skip. */
static bool test_line(const char *s, size_t len, const char **name, size_t *nlen, int *kind)
{
    const char *p = s, *end = s + len;
    uint64_t a, b;
    tr_skip_spaces(&p, end);
    if (!tr_read_u64(&p, end, &a) || p >= end || *p != '/')
        return false;
    p++;
    if (!tr_read_u64(&p, end, &b) || !tr_starts(p, (size_t)(end - p), " Test"))
        return false;
    p += 5;
    tr_skip_spaces(&p, end);
    if (p >= end || *p != '#')
        return false;
    p++;
    if (!tr_read_u64(&p, end, &a) || !tr_starts(p, (size_t)(end - p), ": "))
        return false;
    p += 2;
    const char *dots = tr_find(p, (size_t)(end - p), " .");
    if (!dots || !tr_ends(s, len, " sec"))
        return false;
    *name = p;
    *nlen = (size_t)(dots - p);
    const char *st = dots + 1;
    while (st < end && *st == '.')
        st++;
    size_t rest = (size_t)(end - st);
    const char *status = tr_trim(st, &rest);
    if (tr_starts(status, rest, "Passed"))
        *kind = 0;
    else if (tr_starts(status, rest, "***Skipped") || tr_starts(status, rest, "***Not Run"))
        *kind = 2;
    else if (tr_starts(status, rest, "***") || tr_starts(status, rest, "Exception"))
        *kind = 1;
    else
        return false;
    return true;
}

static void ctest_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    ctest_state *st = state;
    st->run.max_failures = sink->max_failures;
    const char *name;
    size_t nlen;
    int kind;
    if (test_line(s, len, &name, &nlen, &kind)) {
        if (!st->active) {
            tr_run_reset(&st->run, "ctest");
            st->active = true;
        }
        st->current = NULL;
        if (kind == 0) {
            st->run.passed++;
        } else if (kind == 2) {
            st->run.skipped++;
        } else {
            st->run.failed++;
            st->current = tr_run_add_failure(&st->run, name, nlen);
        }
        return;
    }
    if (!st->active)
        return;
    if (tr_starts(s, len, "Total Test time (real) = ")) {
        const char *p = s + 25, *end = s + len;
        int64_t ms;
        tr_skip_spaces(&p, end);
        if (tr_read_milli(&p, end, &ms))
            st->run.duration_ms = ms;
        tr_emit(sink, &st->run);
        st->active = false;
        st->current = NULL;
        return;
    }
    size_t ind = tr_indent(s, len);
    if (tr_starts(s + ind, len - ind, "Start ") || tr_find(s, len, "% tests passed, ")) {
        st->current = NULL;
        return;
    }
    tr_failure_add_line(st->current, s, len);
}

static void ctest_end(void *state, const tr_sink *sink)
{
    ctest_state *st = state;
    if (st->active)
        tr_emit(sink, &st->run); /* interrupted before its total time */
    tr_run_clear(&st->run);
    st->active = false;
    st->current = NULL;
}

static void ctest_free(void *state)
{
    tr_run_clear(&((ctest_state *)state)->run);
}

const tr_parser tr_ctest = {
    .name = "ctest",
    .state_size = sizeof(ctest_state),
    .line = ctest_line,
    .end = ctest_end,
    .free = ctest_free,
};
