/* store.h test-run entry points: argument checks shared by every back end,
 * then dispatch to the back end's ops. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_tests.h"

#include "store/store_backend.h"

static int unsupported(void)
{
    ls_store_set_error("this storage back end does not keep test runs");
    return -ENOTSUP;
}

int ls_store_add_test_run(ls_store *st, const ls_test_run *run, int64_t *ret_id)
{
    if (!run || !run->failures_json || run->build_id <= 0 || run->step <= 0 ||
        strnlen(run->framework, LS_FRAMEWORK_MAX) == 0 ||
        strnlen(run->framework, LS_FRAMEWORK_MAX) >= LS_FRAMEWORK_MAX || run->duration_ms < -1 ||
        run->passed > INT64_MAX || run->failed > INT64_MAX || run->skipped > INT64_MAX) {
        ls_store_set_error("bad test run: build, step, framework, counts or duration out of range");
        return -EINVAL;
    }
    if (!st->ops->add_test_run)
        return unsupported();
    return st->ops->add_test_run(st, run, ret_id);
}

int ls_store_list_test_runs(ls_store *st, int64_t build_id, ls_test_run **ret_runs, size_t *ret_n)
{
    if (!ret_runs || !ret_n)
        return -EINVAL;
    if (!st->ops->list_test_runs)
        return unsupported();
    return st->ops->list_test_runs(st, build_id, ret_runs, ret_n);
}

void ls_test_runs_free(ls_test_run *runs, size_t n)
{
    if (!runs)
        return;
    for (size_t i = 0; i < n; i++)
        free(runs[i].failures_json);
    free(runs);
}
