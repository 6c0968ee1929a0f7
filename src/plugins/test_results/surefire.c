/* test-results: Maven Surefire (and Failsafe) console output.
 *
 * After "[INFO]  T E S T S" each test class prints "Tests run: 3, Failures:
 * 1, Errors: 1, Skipped: 0, Time elapsed: 0.491 s - in demo.ShopTest" and its
 * failed tests ("[ERROR] totals(demo.ShopTest)  Time elapsed: 0.035 s  <<<
 * FAILURE!" then the message and stack up to an empty line). After
 * "Results:" the module's grand total "Tests run: 4, Failures: 1, Errors: 1,
 * Skipped: 0" ends the run: per-class lines are not counted again. failed =
 * failures + errors, skipped = skipped, passed = the rest; the duration is
 * the sum of the classes' times. A multi-module build gives one run per
 * module. */
#include <string.h>

#include "plugins/test_results/tr_stream.h"

typedef struct surefire_state {
    bool active, results, have_time;
    tr_run run;
    tr_failure *current;
} surefire_state;

typedef struct sf_counts {
    uint64_t run, failures, errors, skipped;
    int64_t ms;
    bool timed, bad;
} sf_counts;

/* "Tests run: 3, Failures: 1, Errors: 1, Skipped: 0[, Time elapsed: 0.4 s ...]" */
static bool counts_line(const char *s, size_t len, sf_counts *c)
{
    static const char *const keys[] = {"Tests run: ", ", Failures: ", ", Errors: ", ", Skipped: "};
    uint64_t *slots[] = {&c->run, &c->failures, &c->errors, &c->skipped};
    const char *p = s, *end = s + len;
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < 4; i++) {
        if (!tr_starts(p, (size_t)(end - p), keys[i]))
            return false;
        p += strlen(keys[i]);
        if (!tr_read_u64(&p, end, slots[i]))
            return false;
    }
    if (tr_starts(p, (size_t)(end - p), ", Time elapsed: ")) {
        p += 16;
        c->timed = tr_read_milli(&p, end, &c->ms);
    }
    return true;
}

static void surefire_line(void *state, const tr_sink *sink, const char *s, size_t len)
{
    surefire_state *st = state;
    st->run.max_failures = sink->max_failures;
    /* "[INFO] ", "[ERROR] ", "[WARNING] " */
    if (len && s[0] == '[') {
        const char *rb = memchr(s, ']', len < 12 ? len : 12);
        if (rb) {
            size_t k = (size_t)(rb - s) + 1;
            if (k < len && s[k] == ' ')
                k++;
            s += k;
            len -= k;
        }
    }
    if (tr_word_is(s, len, " T E S T S")) {
        tr_run_reset(&st->run, "surefire");
        st->active = true;
        st->results = st->have_time = false;
        st->current = NULL;
        return;
    }
    if (!st->active)
        return;
    sf_counts c;
    if (counts_line(s, len, &c)) {
        st->current = NULL;
        if (c.timed) {
            if (!st->have_time)
                st->run.duration_ms = 0;
            st->run.duration_ms = tr_add_ms(st->run.duration_ms, c.ms);
            st->have_time = true;
        }
        if (!st->results || c.timed)
            return; /* a class's line */
        uint64_t failed = c.failures + c.errors;
        if (failed > c.run)
            failed = c.run;
        uint64_t skipped = c.skipped > c.run - failed ? c.run - failed : c.skipped;
        st->run.failed = failed;
        st->run.skipped = skipped;
        st->run.passed = c.run - failed - skipped;
        tr_emit(sink, &st->run);
        st->active = false;
        return;
    }
    if (tr_word_is(s, len, "Results:")) {
        st->results = true;
        st->current = NULL;
        return;
    }
    if (st->results)
        return;
    const char *te = tr_find(s, len, "  Time elapsed: ");
    if (!te)
        te = tr_find(s, len, " -- Time elapsed: ");
    if (te && (tr_ends(s, len, "<<< FAILURE!") || tr_ends(s, len, "<<< ERROR!"))) {
        st->current = tr_run_add_failure(&st->run, s, (size_t)(te - s));
        return;
    }
    if (len == 0) {
        st->current = NULL;
        return;
    }
    if (tr_starts(s, len, "Running "))
        return;
    tr_failure_add_line(st->current, s, len);
}

static void surefire_end(void *state, const tr_sink *sink)
{
    surefire_state *st = state;
    (void)sink;
    tr_run_clear(&st->run);
    st->active = st->results = false;
    st->current = NULL;
}

static void surefire_free(void *state)
{
    tr_run_clear(&((surefire_state *)state)->run);
}

const tr_parser tr_surefire = {
    .name = "surefire",
    .state_size = sizeof(surefire_state),
    .line = surefire_line,
    .end = surefire_end,
    .free = surefire_free,
};
