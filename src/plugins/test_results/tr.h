/* test-results: the pieces every runner parser shares. Internal to
 * src/plugins/test_results.
 *
 * A parser sees a step's lines one at a time (ANSI colours and a trailing CR
 * already removed, see tr_ansi.h), recognises its runner's output, counts
 * into a tr_run, and calls tr_emit() as soon as the run is complete (its
 * summary line, or the first line that cannot belong to it). Nothing keeps
 * the whole log: a run holds its counters and at most max_failures failed
 * tests (the plugin's max_failures setting, default TR_DEFAULT_MAX_FAILURES),
 * each with at most TR_MAX_MESSAGE bytes / TR_MAX_MESSAGE_LINES lines of
 * message.
 *
 * Counting rules (docs/plugins.md, "test-results"): every test case counts
 * once in exactly one of passed / failed / skipped and total is their sum;
 * failed includes errors, crashes, timeouts and cancelled tests; skipped
 * includes xfail, todo, pending, disabled and not-run tests; a summary printed
 * per binary/class and again as a grand total is counted once; per-binary
 * summaries without a grand total are summed; a runner that prints only its
 * failures gives a run marked partial. */
#ifndef LS_PLUGINS_TR_H
#define LS_PLUGINS_TR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

#define TR_DEFAULT_MAX_FAILURES 100 /* failed tests listed per run (all are counted) */
#define TR_MAX_MAX_FAILURES 100000  /* the largest max_failures setting */
#define TR_MAX_NAME 512             /* bytes of a failed test's name */
#define TR_MAX_MESSAGE 4096         /* bytes of a failure message */
#define TR_MAX_MESSAGE_LINES 60     /* lines of a failure message */
#define TR_MAX_FRAMEWORK 32

typedef struct tr_failure {
    char *name;
    ls_buf message; /* lines joined with '\n' */
    size_t message_lines;
    bool message_full; /* a limit was hit: further lines are ignored */
} tr_failure;

typedef struct tr_run {
    char framework[TR_MAX_FRAMEWORK];
    uint64_t passed, failed, skipped;
    int64_t duration_ms;   /* -1: the runner printed none */
    bool partial;          /* the log shows only part of the tests (e.g. go test without -v) */
    tr_failure **failures; /* each allocated alone: a tr_failure * stays valid */
    size_t n_failures, cap_failures;
    size_t max_failures; /* failures listed at most; 0 = TR_DEFAULT_MAX_FAILURES; kept by reset */
} tr_run;

/* a + b for durations (both >= 0), stopping at INT64_MAX instead of
 * overflowing (per-binary durations summed from a hostile log). */
static inline int64_t tr_add_ms(int64_t a, int64_t b)
{
    return b > INT64_MAX - a ? INT64_MAX : a + b;
}

/* Where complete runs go. step_ud identifies the step to the callback. */
typedef struct tr_sink {
    void (*emit)(void *ud, const tr_run *run);
    void *ud;
    size_t max_failures; /* each parser sets its run's max_failures from it on every line */
} tr_sink;

/* Empties r (freeing its failures) and names its framework; keeps max_failures. */
void tr_run_reset(tr_run *r, const char *framework);
/* Frees what r holds; r stays usable (as after reset with framework ""), with
 * its max_failures. */
void tr_run_clear(tr_run *r);
/* Adds a failed test named name[0..len) to the list (not to the counters).
 * Storage grows with the list, up to max_failures entries. Returns it, or
 * NULL when max_failures are listed already. */
tr_failure *tr_run_add_failure(tr_run *r, const char *name, size_t len);
/* Unlists the last failure added and frees it (a no-op when none). */
void tr_run_drop_last_failure(tr_run *r);
/* The listed failure with exactly this name, or NULL. */
tr_failure *tr_run_find_failure(tr_run *r, const char *name, size_t len);
/* Replaces a failure's name. */
void tr_failure_rename(tr_failure *f, const char *name, size_t len);
/* Appends one line to a failure's message (f may be NULL: no-op). Stops
 * silently at the limits. */
void tr_failure_add_line(tr_failure *f, const char *line, size_t len);
/* Removes trailing empty lines from the message. */
void tr_failure_trim(tr_failure *f);
/* Hands r to the sink when it holds anything (a run with no test and no
 * failure is no run: logs without test results publish nothing), then
 * resets it to framework "". */
void tr_emit(const tr_sink *sink, tr_run *r);

/* The JSON document of POST /api/v1/builds/{build}/tests for run r of step
 * number step, appended to out (compact, fixed key order; invalid UTF-8 is
 * replaced with U+FFFD). */
void tr_run_json(const tr_run *r, int step, ls_buf *out);

/* ---- small text helpers for the parsers (len-bounded, no NUL needed) ---- */

/* true when s[0..len) starts with prefix (inline: called for every line by
 * every parser, and most lines differ at the first byte). */
static inline bool tr_starts(const char *s, size_t len, const char *prefix)
{
    if (!prefix[0])
        return true;
    if (len == 0 || s[0] != prefix[0])
        return false;
    size_t n = __builtin_strlen(prefix);
    return len >= n && __builtin_memcmp(s, prefix, n) == 0;
}
/* true when s[0..len) ends with suffix. Inline, like tr_starts, so that the
 * length of a literal is known at compile time (they run for every line). */
static inline bool tr_ends(const char *s, size_t len, const char *suffix)
{
    size_t n = __builtin_strlen(suffix);
    return len >= n && __builtin_memcmp(s + len - n, suffix, n) == 0;
}
/* The first occurrence of needle in s[0..len), or NULL. */
static inline const char *tr_find(const char *s, size_t len, const char *needle)
{
    return memmem(s, len, needle, __builtin_strlen(needle));
}
/* Number of leading spaces (a tab counts as one). */
size_t tr_indent(const char *s, size_t len);
/* Skips spaces at *p (up to end). */
void tr_skip_spaces(const char **p, const char *end);
/* Reads decimal digits at *p into *ret (saturating); false when there is no digit. */
bool tr_read_u64(const char **p, const char *end, uint64_t *ret);
/* Reads "12", "1.5", "0.003" at *p as thousandths (1.5 -> 1500); false when no digit. */
bool tr_read_milli(const char **p, const char *end, int64_t *ret);
/* Parses "<number> <word>" pairs separated by ", " in s[0..len) (e.g. "4 failed, 1 passed"),
 * calling fn for each; returns the number of pairs, or -1 at the first thing that
 * is not such a pair. */
int tr_count_pairs(const char *s, size_t len, const char *sep,
                   void (*fn)(void *ud, uint64_t n, const char *word, size_t wlen), void *ud);
/* true when word[0..wlen) equals w. */
static inline bool tr_word_is(const char *word, size_t wlen, const char *w)
{
    return __builtin_strlen(w) == wlen && __builtin_memcmp(word, w, wlen) == 0;
}
/* Trims leading and trailing spaces of s[0..*len): returns the new start. */
const char *tr_trim(const char *s, size_t *len);

#endif
