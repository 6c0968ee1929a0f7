/* test-results: JUnit XML files, read at finalize with expat (streaming: a
 * file is never held whole; only counters and the listed failures are kept).
 *
 * <testcase> elements are the tests: one containing <failure> or <error> is
 * failed, one containing <skipped> is skipped, any other passed. A failure's
 * name is "classname.name" (or name), its message the failure's message
 * attribute then its text. The duration is the root element's time
 * attribute, or else the sum of its <testsuite> children's. One file is one
 * run (framework "junit"). Internal to src/plugins/test_results. */
#ifndef LS_PLUGINS_TR_JUNIT_H
#define LS_PLUGINS_TR_JUNIT_H

#include <stddef.h>
#include <stdint.h>

#include "logstream/plugin.h"
#include "plugins/test_results/tr.h"

/* Defaults of the junit_max_bytes and junit_max_files settings. */
#define TR_JUNIT_MAX_BYTES (256L * 1024 * 1024) /* larger files are skipped */
#define TR_JUNIT_MAX_FILES 1000                 /* files read per job */

/* Parses XML text fed in pieces into r (reset to framework "junit" first).
 * Returns 0, or -EBADMSG with a message in err for malformed XML or a root
 * that is not <testsuites>/<testsuite>. */
typedef struct tr_junit tr_junit;
tr_junit *tr_junit_new(tr_run *r);
int tr_junit_feed(tr_junit *j, const char *data, size_t len, bool last, char *err, size_t errlen);
void tr_junit_free(tr_junit *j);

/* Reads one file into r: 0, -errno (cannot read; larger than max_bytes:
 * -EFBIG), or -EBADMSG with err. */
int tr_junit_parse_file(const char *path, int64_t max_bytes, tr_run *r, char *err, size_t errlen);

struct tr_plugin;

/* Reads every file matching the plugin's "junit" globs and publishes one run
 * per file through tr_plugin_publish (settings: see test_results.c). */
void tr_junit_collect(const ls_plugin_context *ctx, struct tr_plugin *p);

/* A whole-number setting of the plugin (a size may say 64KiB) in [min, max]:
 * def when absent, def with a message to the user when wrong (junit.c). */
int64_t tr_setting_int(const ls_plugin_context *ctx, const char *key, int64_t def, int64_t min,
                       int64_t max);

/* The max_failures setting (test_results.c): failed tests listed per run. */
size_t tr_plugin_max_failures(const struct tr_plugin *p);

/* Publishes (test_results.c) a run of step `number`. */
void tr_plugin_publish(struct tr_plugin *p, const char *step_name, int number, const tr_run *run);

#endif
