/* `logstream logs [-f] [--server URL] BUILD[/STEP]`: prints a build's logs, or
 * follows them live.
 *
 * Without -f it prints what the server holds: every step in order, each under
 * a header line such as `── step 1: build (success, exit 0) ──`, then the
 * services the same way; with BUILD/STEP only that step's raw log, without a
 * header (so it can be redirected to a file). STEP is a number or a name.
 * BUILD may also be a build's URL (http://HOST:PORT/builds/ID), which sets the
 * server too.
 *
 * With -f it follows the build until it ends (see cli/follow.h): steps one
 * after another, services interleaved as their lines arrive, prefixed with
 * "SERVICE | ".
 *
 * ANSI colours are passed through unless --no-color (or NO_COLOR is set in the
 * environment). Exit status: 0 when the logs were printed, 1 when the server
 * could not be reached, the build or step does not exist, the token was
 * refused, or the output was closed, 2 for a usage error.
 *
 * --token (or LOGSTREAM_TOKEN) is a read token, sent as a bearer token; a
 * server started with --public-read needs none. */
#ifndef LS_CLI_LOGS_H
#define LS_CLI_LOGS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* The `logs` command; argv holds the words after "logs". */
int ls_logs_main(int argc, char **argv);

/* Follows a whole build to stdout as `logstream logs -f BUILD` does with its
 * default settings (for `logstream demo`), sending token (a read token; NULL =
 * none). Returns 0 or a -errno from
 * ls_follow_build with a message in err. */
int ls_logs_follow_build(const char *server, const char *token, int64_t build_id,
                         volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif
