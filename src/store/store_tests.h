/* Storage of test runs, the part of the store API (store.h) that keeps what
 * the test-results plugin publishes. Every back end may implement it through
 * the add_test_run / list_test_runs ops of store_backend.h; one that does not
 * answers -ENOTSUP. */
#ifndef LS_STORE_STORE_TESTS_H
#define LS_STORE_STORE_TESTS_H

#include "store/store.h"

/* ---- Test runs (docs/api.md, "Test results") ------------------------------
 * One run of a test runner in a step, as the test-results plugin publishes it
 * (POST /api/v1/builds/{build}/tests). A back end stores the fields as they
 * are and returns a build's runs in the order they were added; runs go with
 * their build. failures_json is the run's "failures" array as compact JSON
 * text, validated by the server and stored and returned verbatim. */
#define LS_FRAMEWORK_MAX 64

typedef struct ls_test_run {
    int64_t id; /* assigned by ls_store_add_test_run */
    int64_t build_id;
    int step; /* the step's number in the build */
    char framework[LS_FRAMEWORK_MAX];
    uint64_t passed, failed, skipped; /* total is their sum */
    int64_t duration_ms;              /* -1 = not known */
    bool partial;                     /* the log showed only some of the tests */
    int64_t created_ms;               /* set by ls_store_add_test_run */
    char *failures_json;              /* owned (ls_test_runs_free); "[]" when none */
} ls_test_run;

/* Stores a run (its id and created_ms are ignored) and returns the new id in
 * *ret_id (may be NULL). -ENOENT when the build or its step does not exist,
 * -EINVAL for an empty framework or a NULL failures_json, -ENOTSUP when the
 * back end does not keep test runs. */
int ls_store_add_test_run(ls_store *st, const ls_test_run *run, int64_t *ret_id);

/* The runs of a build in the order they were added (none for a missing
 * build). *ret_runs is malloc'ed; free it with ls_test_runs_free. */
int ls_store_list_test_runs(ls_store *st, int64_t build_id, ls_test_run **ret_runs, size_t *ret_n);

/* Frees runs[0..n) and the array; NULL is a no-op. */
void ls_test_runs_free(ls_test_run *runs, size_t n);

#endif
