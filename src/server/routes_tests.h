/* Test results API (docs/api.md, "Test results"):
 *
 *   POST /api/v1/builds/{build}/tests   stores one test run, as the
 *        test-results plugin publishes it:
 *        {"step":N,"framework":"pytest","passed":..,"failed":..,"skipped":..,
 *         "total":..,"duration_ms":..|null,"partial":bool,
 *         "failures":[{"name":..,"message":..}]}
 *        validated strictly (every field required, no other field, total =
 *        passed + failed + skipped, the step exists): 201 with the stored run,
 *        400 naming the bad field, 404 for a missing build or step, 409 when
 *        the build already has --max-test-runs runs.
 *   GET  /api/v1/builds/{build}/tests   the build's runs in the order they
 *        were stored, and their sums: {"build":ID,"passed":..,"failed":..,
 *        "skipped":..,"total":..,"runs":[{"id":..,"step":..,...,
 *        "created_ms":..}]}. */
#ifndef LS_SERVER_ROUTES_TESTS_H
#define LS_SERVER_ROUTES_TESTS_H

#include "server/http.h"

#define LS_MAX_TEST_NAME 1024                /* bytes of a failed test's name */
#define LS_MAX_TEST_MESSAGE 65536            /* bytes of a failure message */
#define LS_MAX_TEST_COUNT 9007199254740991LL /* 2^53 - 1 */

extern const ls_handler ls_tests_post_handler;
extern const ls_handler ls_tests_get_handler;

/* Validates a run document (a parsed POST body) and fills *ret (framework,
 * counters, duration, partial, step; failures_json is malloc'ed compact JSON
 * the caller frees). "failures" may list at most max_failures tests (the
 * server's --max-test-failures). Returns 0, or -EINVAL with a message for
 * the user in msg. Pure: unit tested and fuzzed. */
struct ls_test_run;
int ls_test_run_parse(json_t *body, size_t max_failures, struct ls_test_run *ret, char *msg,
                      size_t msglen);

#endif
