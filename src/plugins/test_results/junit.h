/* test-results: JUnit XML files read at finalize (expat, streaming). */
#ifndef LS_PLUGINS_TR_JUNIT_H
#define LS_PLUGINS_TR_JUNIT_H

#include <stddef.h>

#include "logstream/plugin.h"
#include "plugins/test_results/tr.h"

struct tr_plugin;

/* Publishes through p one run per file matching the plugin's "junit"
 * globs (see test_results.c). */
void tr_junit_collect(const ls_plugin_context *ctx, struct tr_plugin *p);

/* Publishes (tr_plugin.c) a run of step `number`. */
void tr_plugin_publish(struct tr_plugin *p, const char *step_name, int number, const tr_run *run);

#endif
