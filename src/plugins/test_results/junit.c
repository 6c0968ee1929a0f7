/* test-results: JUnit XML (not yet). */
#include "plugins/test_results/junit.h"

void tr_junit_collect(const ls_plugin_context *ctx, struct tr_plugin *p)
{
    (void)ctx;
    (void)p;
}
