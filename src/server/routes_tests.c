/* Test results API, see routes_tests.h. */
#include "server/routes_tests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "store/store_tests.h"

static const char *const run_fields[] = {"step",  "framework",   "passed",  "failed",  "skipped",
                                         "total", "duration_ms", "partial", "failures"};

/* An integer 0..LS_MAX_TEST_COUNT. */
static bool get_count(json_t *body, const char *key, uint64_t *ret, char *msg, size_t msglen)
{
    json_t *v = json_object_get(body, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > LS_MAX_TEST_COUNT) {
        snprintf(msg, msglen, "\"%s\" must be an integer from 0 to 2^53-1", key);
        return false;
    }
    *ret = (uint64_t)json_integer_value(v);
    return true;
}

/* Text of 1..max bytes (or 0..max when may_be_empty), without NUL. */
static const char *get_text(json_t *v, size_t max, bool may_be_empty)
{
    if (!json_is_string(v))
        return NULL;
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if ((len == 0 && !may_be_empty) || len > max || strlen(s) != len)
        return NULL;
    return s;
}

static int check_failures(json_t *arr, size_t max, char *msg, size_t msglen)
{
    if (!json_is_array(arr)) {
        snprintf(msg, msglen, "\"failures\" must be an array of {\"name\":…,\"message\":…}");
        return -EINVAL;
    }
    if (json_array_size(arr) > max) {
        snprintf(msg, msglen, "\"failures\" lists at most %zu tests (--max-test-failures)", max);
        return -EINVAL;
    }
    size_t i;
    json_t *f;
    json_array_foreach(arr, i, f)
    {
        if (!json_is_object(f) || json_object_size(f) != 2 || !json_object_get(f, "name") ||
            !json_object_get(f, "message")) {
            snprintf(msg, msglen,
                     "failures[%zu] must be an object with exactly \"name\" and \"message\"", i);
            return -EINVAL;
        }
        if (!get_text(json_object_get(f, "name"), LS_MAX_TEST_NAME, false)) {
            snprintf(msg, msglen, "failures[%zu].name must be 1 to %d bytes of text without NUL", i,
                     LS_MAX_TEST_NAME);
            return -EINVAL;
        }
        if (!get_text(json_object_get(f, "message"), LS_MAX_TEST_MESSAGE, true)) {
            snprintf(msg, msglen,
                     "failures[%zu].message must be text of at most %d bytes without NUL", i,
                     LS_MAX_TEST_MESSAGE);
            return -EINVAL;
        }
    }
    return 0;
}

int ls_test_run_parse(json_t *body, size_t max_failures, ls_test_run *ret, char *msg, size_t msglen)
{
    ls_test_run run;
    memset(&run, 0, sizeof(run));
    const char *key;
    json_t *v;
    if (!json_is_object(body)) {
        snprintf(msg, msglen, "the body must be a JSON object");
        return -EINVAL;
    }
    json_object_foreach(body, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof(run_fields) / sizeof(run_fields[0]); i++)
            known = known || strcmp(key, run_fields[i]) == 0;
        if (!known) {
            snprintf(msg, msglen,
                     "unknown field \"%.64s\" (a test run has: step, framework, "
                     "passed, failed, skipped, total, duration_ms, partial, failures)",
                     key);
            return -EINVAL;
        }
    }
    v = json_object_get(body, "step");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000) {
        snprintf(msg, msglen, "\"step\" must be the step's number, an integer from 1 to 1000000");
        return -EINVAL;
    }
    run.step = (int)json_integer_value(v);
    const char *fw = get_text(json_object_get(body, "framework"), LS_FRAMEWORK_MAX - 1, false);
    bool printable = fw != NULL;
    for (const char *p = fw; p && *p; p++)
        printable = printable && (unsigned char)*p >= 0x20 && *p != 0x7F;
    if (!printable) {
        snprintf(msg, msglen, "\"framework\" must be 1 to %d printable bytes (e.g. \"pytest\")",
                 LS_FRAMEWORK_MAX - 1);
        return -EINVAL;
    }
    snprintf(run.framework, sizeof(run.framework), "%s", fw);
    uint64_t total;
    if (!get_count(body, "passed", &run.passed, msg, msglen) ||
        !get_count(body, "failed", &run.failed, msg, msglen) ||
        !get_count(body, "skipped", &run.skipped, msg, msglen) ||
        !get_count(body, "total", &total, msg, msglen))
        return -EINVAL;
    if (run.passed + run.failed + run.skipped != total) {
        snprintf(msg, msglen, "\"total\" (%llu) must be passed + failed + skipped (%llu)",
                 (unsigned long long)total,
                 (unsigned long long)(run.passed + run.failed + run.skipped));
        return -EINVAL;
    }
    v = json_object_get(body, "duration_ms");
    if (json_is_null(v)) {
        run.duration_ms = -1;
    } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
               json_integer_value(v) <= LS_MAX_TEST_COUNT) {
        run.duration_ms = json_integer_value(v);
    } else {
        snprintf(msg, msglen, "\"duration_ms\" must be null or an integer from 0 to 2^53-1");
        return -EINVAL;
    }
    v = json_object_get(body, "partial");
    if (!json_is_boolean(v)) {
        snprintf(msg, msglen, "\"partial\" must be true or false");
        return -EINVAL;
    }
    run.partial = json_is_true(v);
    json_t *failures = json_object_get(body, "failures");
    if (!failures) {
        snprintf(msg, msglen, "\"failures\" is missing (an empty array when none)");
        return -EINVAL;
    }
    if (check_failures(failures, max_failures, msg, msglen) < 0)
        return -EINVAL;
    run.failures_json = json_dumps(failures, JSON_COMPACT);
    if (!run.failures_json) {
        snprintf(msg, msglen, "out of memory");
        return -ENOMEM;
    }
    *ret = run;
    return 0;
}

static json_t *run_json(const ls_test_run *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(t->id));
    json_object_set_new(o, "step", json_integer(t->step));
    json_object_set_new(o, "framework", json_string(t->framework));
    json_object_set_new(o, "passed", json_integer((json_int_t)t->passed));
    json_object_set_new(o, "failed", json_integer((json_int_t)t->failed));
    json_object_set_new(o, "skipped", json_integer((json_int_t)t->skipped));
    json_object_set_new(o, "total", json_integer((json_int_t)(t->passed + t->failed + t->skipped)));
    json_object_set_new(o, "duration_ms",
                        t->duration_ms >= 0 ? json_integer(t->duration_ms) : json_null());
    json_object_set_new(o, "partial", json_boolean(t->partial));
    json_t *f = json_loads(t->failures_json ? t->failures_json : "[]", 0, NULL);
    json_object_set_new(o, "failures", f && json_is_array(f) ? f : json_array());
    if (f && !json_is_array(f))
        json_decref(f);
    json_object_set_new(o, "created_ms", json_integer(t->created_ms));
    return o;
}

static enum MHD_Result store_failed(ls_req *r, int rc, const char *what)
{
    char msg[300];
    if (rc == -ENOTSUP) {
        snprintf(msg, sizeof(msg), "this server's storage does not keep test runs");
        return ls_req_respond_error(r, MHD_HTTP_NOT_IMPLEMENTED, "not_supported", msg, NULL);
    }
    snprintf(msg, sizeof(msg), "storage failed while %s: %s (see the server log)", what,
             ls_store_last_error());
    return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", msg, NULL);
}

static enum MHD_Result no_build(ls_req *r)
{
    char msg[100];
    snprintf(msg, sizeof(msg), "there is no build %lld", (long long)r->route.build);
    return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
}

static enum MHD_Result tests_post(ls_req *r)
{
    json_t *body = ls_req_json_body(r);
    if (!body)
        return MHD_YES;
    enum MHD_Result ret;
    char msg[300];
    ls_test_run run;
    memset(&run, 0, sizeof(run));
    ls_test_run *runs = NULL;
    size_t n = 0;
    ls_step_info step;
    int rc = ls_test_run_parse(body, (size_t)r->srv->cfg.max_test_failures, &run, msg, sizeof(msg));
    if (rc < 0) {
        ret = ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_test_run", msg, NULL);
        goto out;
    }
    run.build_id = r->route.build;
    rc = ls_store_get_step(r->srv->store, run.build_id, run.step, &step);
    if (rc == -ENOENT) {
        ls_build_info b;
        if (ls_store_get_build(r->srv->store, run.build_id, &b, NULL, NULL) == -ENOENT) {
            ret = no_build(r);
        } else {
            snprintf(msg, sizeof(msg), "build %lld has no step %d", (long long)run.build_id,
                     run.step);
            ret = ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
        }
        goto out;
    }
    if (rc < 0) {
        ret = store_failed(r, rc, "reading the step");
        goto out;
    }
    rc = ls_store_list_test_runs(r->srv->store, run.build_id, &runs, &n);
    if (rc < 0) {
        ret = store_failed(r, rc, "counting the build's test runs");
        goto out;
    }
    if ((int64_t)n >= r->srv->cfg.max_test_runs) {
        snprintf(
            msg, sizeof(msg),
            "build %lld already has %zu test runs, the most it may have (--max-test-runs %lld)",
            (long long)run.build_id, n, (long long)r->srv->cfg.max_test_runs);
        ret = ls_req_respond_error(r, MHD_HTTP_CONFLICT, "too_many_test_runs", msg, NULL);
        goto out;
    }
    rc = ls_store_add_test_run(r->srv->store, &run, &run.id);
    if (rc < 0) {
        ret = rc == -ENOENT ? no_build(r) : store_failed(r, rc, "storing the test run");
        goto out;
    }
    run.created_ms = 0;
    json_t *o = run_json(&run);
    json_object_del(o, "created_ms");
    ret = ls_req_respond_json(r, MHD_HTTP_CREATED, o);
out:
    ls_test_runs_free(runs, n);
    free(run.failures_json);
    json_decref(body);
    return ret;
}

static enum MHD_Result tests_get(ls_req *r)
{
    ls_build_info b;
    int rc = ls_store_get_build(r->srv->store, r->route.build, &b, NULL, NULL);
    if (rc == -ENOENT)
        return no_build(r);
    if (rc < 0)
        return store_failed(r, rc, "reading the build");
    ls_test_run *runs = NULL;
    size_t n = 0;
    rc = ls_store_list_test_runs(r->srv->store, r->route.build, &runs, &n);
    if (rc < 0)
        return store_failed(r, rc, "listing test runs");
    uint64_t passed = 0, failed = 0, skipped = 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        passed += runs[i].passed;
        failed += runs[i].failed;
        skipped += runs[i].skipped;
        json_array_append_new(arr, run_json(&runs[i]));
    }
    ls_test_runs_free(runs, n);
    json_t *o = json_object();
    json_object_set_new(o, "build", json_integer(r->route.build));
    json_object_set_new(o, "passed", json_integer((json_int_t)passed));
    json_object_set_new(o, "failed", json_integer((json_int_t)failed));
    json_object_set_new(o, "skipped", json_integer((json_int_t)skipped));
    json_object_set_new(o, "total", json_integer((json_int_t)(passed + failed + skipped)));
    json_object_set_new(o, "runs", arr);
    return ls_req_respond_json(r, MHD_HTTP_OK, o);
}

const ls_handler ls_tests_post_handler = {.finish = tests_post};
const ls_handler ls_tests_get_handler = {.begin = tests_get};
