/* The first-party log plugin "test-results": recognises test runners'
 * console output line by line and publishes each run to the server
 * (POST /api/v1/builds/{build}/tests) as soon as it is complete; at finalize
 * it also reads JUnit XML files matching the "junit" setting's globs. */
#ifndef LS_PLUGINS_TEST_RESULTS_H
#define LS_PLUGINS_TEST_RESULTS_H

#include "logstream/plugin.h"

extern const ls_plugin_v1 ls_plugin_test_results;

#endif
