/* `logstream plugin-host`: the command the worker starts beside a job. It
 * reads the job context and log lines on stdin, runs the log plugins, writes
 * their output for the user on stdout (one "[name] message" line each; the
 * worker streams it as the build's "plugins" log) and diagnostics on stderr.
 * Protocol and flags: docs/plugins.md. */
#ifndef LS_PLUGINHOST_HOST_H
#define LS_PLUGINHOST_HOST_H

#include <stddef.h>

#include "logstream/plugin.h"
#include "plugins/builtin.h"

/* Exit statuses of the command. */
#define LS_PLUGINHOST_EXIT_OK 0     /* every plugin that ran finished (or declined) */
#define LS_PLUGINHOST_EXIT_FAILED 1 /* a plugin failed, was stopped, or could not load */
#define LS_PLUGINHOST_EXIT_USAGE 2  /* bad flags, or the context was refused */

/* Runs the command with the given built-in plugins plus those found in
 * --plugin-dir. argv holds the words after "plugin-host" (argv[0] is the
 * first flag, as ls_flags_parse expects). Returns the exit status. */
int ls_pluginhost_cli(int argc, char **argv, const ls_plugin_v1 *const *builtins,
                      size_t n_builtins);

/* The `plugin-host` subcommand with the first-party plugins: what main()
 * calls. Inline so that the call binds the built-in table (ls_plugins) and the
 * host (ls_pluginhost) without a link-order cycle between the two libraries. */
static inline int ls_pluginhost_main(int argc, char **argv)
{
    size_t n;
    const ls_plugin_v1 *const *builtins = ls_builtin_plugins(&n);
    return ls_pluginhost_cli(argc, argv, builtins, n);
}

#endif
