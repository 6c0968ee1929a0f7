/* test-results: Jest.
 *
 * Jest prints each file's result ("PASS ./a.test.js", "FAIL ..."), the
 * failed tests ("  ● suite › test" and an indented message), then one grand
 * total: "Tests:       2 failed, 1 skipped, 1 todo, 3 passed, 7 total",
 * "Time:        2.037 s" and "Ran all test suites." which ends the run.
 * failed = failed, skipped = skipped + todo + pending, passed = passed (the
 * total is their sum). */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

typedef struct jest_state {
    bool active, have_tests;
    tr_run run;
    tr_failure *current;
} jest_state;

typedef struct jest_counts {
    uint64_t passed, failed, skipped;
    bool bad;
} jest_counts;

static void count(void *ud, uint64_t n, const char *w, size_t wlen)
{
    jest_counts *c = ud;
    if (tr_word_is(w, wlen, "passed"))
        c->passed += n;
    else if (tr_word_is(w, wlen, "failed"))
        c->failed += n;
    else if (tr_word_is(w, wlen, "skipped") || tr_word_is(w, wlen, "todo") ||
             tr_word_is(w, wlen, "pending"))
        c->skipped += n;
    else if (!tr_word_is(w, wlen, "total"))
        c->bad = true;
}

static void start(jest_state *st)
{
    if (!st->active) {
        tr_run_reset(&st->run, "jest");
        st->active = true;
        st->have_tests = false;
        st->current = NULL;
    }
}

static void finish(jest_state *st, const tr_sink *sink)
{
    if (st->active && st->have_tests)
        tr_emit(sink, &st->run);
    tr_run_clear(&st->run);
    st->active = st->have_tests = false;
    st->current = NULL;
}

static void jest_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    jest_state *st = state;
    st->run.max_failures = sink->max_failures;
    size_t lead = len && s[0] == ' ' ? 1 : 0; /* " PASS " when coloured */
    if (tr_starts(s + lead, len - lead, "PASS ") || tr_starts(s + lead, len - lead, "FAIL ") ||
        tr_starts(s, len, "Test Suites:")) {
        start(st);
        st->current = NULL;
        return;
    }
    if (tr_starts(s, len, "Tests:") && st->active) {
        jest_counts c = {0};
        const char *p = s + 6;
        if (tr_count_pairs(p, len - 6, ", ", count, &c) > 0 && !c.bad) {
            st->run.passed = c.passed;
            st->run.failed = c.failed;
            st->run.skipped = c.skipped;
            st->have_tests = true;
        }
        st->current = NULL;
        return;
    }
    if (!st->active)
        return;
    if (tr_starts(s, len, "Time:")) {
        const char *p = s + 5, *end = s + len;
        int64_t ms;
        tr_skip_spaces(&p, end);
        if (tr_read_milli(&p, end, &ms) && tr_starts(p, (size_t)(end - p), " s"))
            st->run.duration_ms = ms;
        return;
    }
    if (tr_starts(s, len, "Ran all test suites")) {
        finish(st, sink);
        return;
    }
    if (tr_starts(s, len, "Test Suites:") || tr_starts(s, len, "Snapshots:")) {
        st->current = NULL;
        return;
    }
    size_t ind = tr_indent(s, len);
    if (ind == 2 && tr_starts(s + 2, len - 2, "\xE2\x97\x8F ")) { /* ● */
        st->current = tr_run_add_failure(&st->run, s + 6, len - 6);
        return;
    }
    if (st->current) {
        size_t k = ind < 4 ? ind : 4;
        tr_failure_add_line(st->current, s + k, len - k);
    }
}

static void jest_end(void *state, const tr_sink *sink)
{
    finish(state, sink);
}

static void jest_free(void *state)
{
    tr_run_clear(&((jest_state *)state)->run);
}

const tr_parser tr_jest = {
    .name = "jest",
    .state_size = sizeof(jest_state),
    .line = jest_line,
    .end = jest_end,
    .free = jest_free,
};
