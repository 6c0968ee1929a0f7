/* test-results: Python unittest (python -m unittest, and runners built on
 * its TextTestRunner such as Django's).
 *
 * Failure blocks come first ("=====" / "FAIL: name (id)" or "ERROR: ..." /
 * "-----" / traceback), then "Ran N tests in 0.001s", a blank line and the
 * result line "OK", "OK (skipped=2, expected failures=1)" or "FAILED
 * (failures=2, errors=1, unexpected successes=1)", which ends the run.
 * failed = failures + errors + unexpected successes, skipped = skipped +
 * expected failures, passed = N - failed - skipped. */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

enum { U_NONE, U_AFTER_EQ, U_HEADER, U_BODY, U_RAN };

typedef struct unittest_state {
    int mode;
    tr_failure *current;
    uint64_t ran;
    int64_t ms;
    tr_run run;
    bool have_run;
} unittest_state;

static bool rule(const char *s, size_t len, char c)
{
    if (len < 20)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] != c)
            return false;
    return true;
}

/* "Ran 4 tests in 0.001s" */
static bool ran_line(const char *s, size_t len, uint64_t *n, int64_t *ms)
{
    if (!tr_starts(s, len, "Ran "))
        return false;
    const char *p = s + 4, *end = s + len;
    if (!tr_read_u64(&p, end, n))
        return false;
    size_t rest = (size_t)(end - p);
    if (tr_starts(p, rest, " tests in "))
        p += 10;
    else if (tr_starts(p, rest, " test in "))
        p += 9;
    else
        return false;
    if (!tr_read_milli(&p, end, ms) || p + 1 != end || *p != 's')
        return false;
    return true;
}

/* "(failures=2, errors=1, skipped=3)" into the run, with ran as the total. */
static bool result_line(unittest_state *st, const char *s, size_t len)
{
    const char *p, *end = s + len;
    if (len == 2 && memcmp(s, "OK", 2) == 0)
        p = end;
    else if (tr_starts(s, len, "OK (") && s[len - 1] == ')')
        p = s + 4;
    else if (tr_starts(s, len, "FAILED (") && s[len - 1] == ')')
        p = s + 8;
    else
        return false;
    uint64_t failed = 0, skipped = 0;
    if (p < end)
        end--; /* the ')' */
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq)
            return false;
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        uint64_t n;
        if (!tr_read_u64(&v, end, &n))
            return false;
        if (tr_word_is(p, klen, "failures") || tr_word_is(p, klen, "errors") ||
            tr_word_is(p, klen, "unexpected successes"))
            failed += n;
        else if (tr_word_is(p, klen, "skipped") || tr_word_is(p, klen, "expected failures"))
            skipped += n;
        else
            return false;
        p = v;
        if (p < end) {
            if (!tr_starts(p, (size_t)(end - p), ", "))
                return false;
            p += 2;
        }
    }
    if (failed + skipped > st->ran)
        failed = st->ran > skipped ? st->ran - skipped : 0;
    st->run.failed = failed;
    st->run.skipped = skipped;
    st->run.passed = st->ran - failed - skipped;
    st->run.duration_ms = st->ms;
    return true;
}

static void unittest_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    unittest_state *st = state;
    st->run.max_failures = sink->max_failures;
    if (!st->have_run) {
        tr_run_reset(&st->run, "unittest");
        st->have_run = true;
    }
    if (st->mode == U_RAN) {
        if (len == 0)
            return;
        st->mode = U_NONE;
        if (result_line(st, s, len)) {
            tr_emit(sink, &st->run);
            st->have_run = false;
            return;
        }
        tr_run_clear(&st->run);
        st->have_run = false;
        return;
    }
    uint64_t n;
    int64_t ms;
    if (ran_line(s, len, &n, &ms)) {
        st->ran = n;
        st->ms = ms;
        st->mode = U_RAN;
        st->current = NULL;
        return;
    }
    if (rule(s, len, '=')) {
        st->mode = U_AFTER_EQ;
        st->current = NULL;
        return;
    }
    switch (st->mode) {
    case U_AFTER_EQ:
        st->mode = U_NONE;
        for (int i = 0; i < 3; i++) {
            static const char *const kinds[] = {"FAIL: ", "ERROR: ", "UNEXPECTED SUCCESS: "};
            if (tr_starts(s, len, kinds[i])) {
                size_t k = strlen(kinds[i]);
                st->current = tr_run_add_failure(&st->run, s + k, len - k);
                st->mode = U_HEADER;
                break;
            }
        }
        break;
    case U_HEADER:
        if (rule(s, len, '-'))
            st->mode = U_BODY;
        else
            tr_failure_add_line(st->current, s, len); /* a docstring line */
        break;
    case U_BODY:
        if (rule(s, len, '-'))
            st->mode = U_NONE; /* the line before "Ran N tests" */
        else
            tr_failure_add_line(st->current, s, len);
        break;
    default:
        break;
    }
}

static void unittest_end(void *state, const tr_sink *sink)
{
    unittest_state *st = state;
    (void)sink;
    tr_run_clear(&st->run);
    st->have_run = false;
    st->mode = U_NONE;
    st->current = NULL;
}

static void unittest_free(void *state)
{
    tr_run_clear(&((unittest_state *)state)->run);
}

const tr_parser tr_unittest = {
    .name = "unittest",
    .state_size = sizeof(unittest_state),
    .line = unittest_line,
    .end = unittest_end,
    .free = unittest_free,
};
