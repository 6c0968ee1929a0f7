/* test-results: Jasmine (its default console reporter).
 *
 * "Failures:" lists "1) suite spec" with "  Message:" and "  Stack:" blocks
 * (indented by 4 under them); then the totals "3 specs, 2 failures, 1 pending
 * spec" (total, failed, skipped; passed is the rest) and "Finished in 0.025
 * seconds", which ends the run. */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

enum { J_NONE, J_FAILURES, J_OTHER };

typedef struct jasmine_state {
    int section;
    bool have_totals;
    tr_run run;
    tr_failure *current;
    uint64_t specs;
} jasmine_state;

typedef struct jas_counts {
    uint64_t specs, failures, pending;
    bool bad;
} jas_counts;

static void count(void *ud, uint64_t n, const char *w, size_t wlen)
{
    jas_counts *c = ud;
    if (tr_word_is(w, wlen, "spec") || tr_word_is(w, wlen, "specs"))
        c->specs = n;
    else if (tr_word_is(w, wlen, "failure") || tr_word_is(w, wlen, "failures"))
        c->failures = n;
    else if (tr_word_is(w, wlen, "pending spec") || tr_word_is(w, wlen, "pending specs"))
        c->pending = n;
    else
        c->bad = true;
}

static void ensure(jasmine_state *st)
{
    if (!st->run.framework[0])
        tr_run_reset(&st->run, "jasmine");
}

static void jasmine_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    jasmine_state *st = state;
    st->run.max_failures = sink->max_failures;
    if (tr_word_is(s, len, "Failures:")) {
        ensure(st);
        st->section = J_FAILURES;
        st->current = NULL;
        return;
    }
    if (tr_word_is(s, len, "Pending:")) {
        st->section = J_OTHER;
        st->current = NULL;
        return;
    }
    jas_counts c = {0};
    const char *p = s;
    uint64_t dummy;
    if (len && s[0] >= '1' && s[0] <= '9' && tr_read_u64(&p, s + len, &dummy) &&
        tr_starts(p, (size_t)(s + len - p), " spec") &&
        tr_count_pairs(s, len, ", ", count, &c) > 0 && !c.bad) {
        ensure(st);
        uint64_t failed = c.failures > c.specs ? c.specs : c.failures;
        uint64_t skipped = c.pending > c.specs - failed ? c.specs - failed : c.pending;
        st->run.failed = failed;
        st->run.skipped = skipped;
        st->run.passed = c.specs - failed - skipped;
        st->have_totals = true;
        st->section = J_OTHER;
        st->current = NULL;
        return;
    }
    if (tr_starts(s, len, "Finished in ") && st->have_totals) {
        const char *q = s + 12, *end = s + len;
        int64_t ms;
        if (tr_read_milli(&q, end, &ms) && tr_starts(q, (size_t)(end - q), " second"))
            st->run.duration_ms = ms;
        tr_emit(sink, &st->run);
        st->have_totals = false;
        st->section = J_NONE;
        return;
    }
    if (st->section != J_FAILURES)
        return;
    /* "1) suite spec" */
    const char *q = s, *end = s + len;
    uint64_t n;
    if (tr_read_u64(&q, end, &n) && tr_starts(q, (size_t)(end - q), ") ")) {
        st->current = tr_run_add_failure(&st->run, q + 2, (size_t)(end - q - 2));
        return;
    }
    size_t ind = tr_indent(s, len);
    if (ind == 2 &&
        (tr_word_is(s + 2, len - 2, "Message:") || tr_word_is(s + 2, len - 2, "Stack:")))
        return;
    if (ind >= 4 || (len == 0 && st->current && st->current->message_lines))
        tr_failure_add_line(st->current, len ? s + 4 : "", len ? len - 4 : 0);
}

static void jasmine_end(void *state, const tr_sink *sink)
{
    jasmine_state *st = state;
    (void)sink;
    if (st->have_totals)
        tr_emit(sink, &st->run);
    tr_run_clear(&st->run);
    st->have_totals = false;
    st->section = J_NONE;
    st->current = NULL;
}

static void jasmine_free(void *state)
{
    tr_run_clear(&((jasmine_state *)state)->run);
}

const tr_parser tr_jasmine = {
    .name = "jasmine",
    .state_size = sizeof(jasmine_state),
    .line = jasmine_line,
    .end = jasmine_end,
    .free = jasmine_free,
};
