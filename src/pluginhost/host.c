#include "pluginhost/host.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "common/nice.h"
#include "pluginhost/loader.h"
#include "pluginhost/pluginhost.h"

typedef struct cli_opts {
    char *plugin_dir;
    int64_t max_pending, max_spill, breaker_window, finalize_timeout, max_errors;
    int64_t max_line, max_context, max_output, http_timeout, read_size, max_malformed, nice;
    bool list;
} cli_opts;

static void flag_table(cli_opts *o, ls_flag *f)
{
    const ls_flag flags[] = {
        {"plugin-dir", 0, LS_FLAG_STRING, &o->plugin_dir, NULL,
         "directory of third-party plugins (*.so) to load besides the built-in ones"},
        {"plugin-max-pending", 0, LS_FLAG_SIZE, &o->max_pending, "10MiB",
         "bytes of lines queued in memory per plugin; beyond it they wait in a file in the "
         "job's temporary directory (--plugin-max-spill)"},
        {"plugin-max-spill", 0, LS_FLAG_SIZE, &o->max_spill, "1GiB",
         "bytes of lines waiting in that file per plugin; beyond it its lines are dropped "
         "(0 = no file: beyond --plugin-max-pending)"},
        {"plugin-breaker-window", 0, LS_FLAG_DURATION, &o->breaker_window, "100s",
         "a plugin with more than --plugin-max-pending waiting for this long is stopped"},
        {"plugin-finalize-timeout", 0, LS_FLAG_DURATION, &o->finalize_timeout, "60s",
         "a plugin's finalize must return within this"},
        {"plugin-max-errors", 0, LS_FLAG_INT, &o->max_errors, "100",
         "process_line errors in a row that stop a plugin"},
        {"plugin-max-line", 0, LS_FLAG_SIZE, &o->max_line, "128KiB",
         "longest input line; longer lines are given in pieces"},
        {"plugin-max-context", 0, LS_FLAG_SIZE, &o->max_context, "16MiB",
         "longest job context (line 1 of the input)"},
        {"plugin-max-output", 0, LS_FLAG_SIZE, &o->max_output, "1MiB",
         "bytes of user output per plugin"},
        {"plugin-http-timeout", 0, LS_FLAG_DURATION, &o->http_timeout, "10s",
         "timeout of a plugin's publish to the server"},
        {"plugin-read-size", 0, LS_FLAG_SIZE, &o->read_size, "256KiB",
         "bytes per read of the input"},
        {"plugin-max-malformed-reports", 0, LS_FLAG_INT, &o->max_malformed, "10",
         "malformed input lines reported one by one on stderr; the rest are only counted"},
        {"nice", 0, LS_FLAG_INT, &o->nice, "0",
         "raise the host's nice value by this much (0..19) before it starts, so that on a "
         "busy machine the job's steps come first (`logstream run` passes its "
         "--plugin-nice)"},
        {"list", 0, LS_FLAG_BOOL, &o->list, NULL, "list the available plugins and exit"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        f[i] = flags[i];
}

#define N_FLAGS 15
#define SYNOPSIS "[FLAGS] < CONTEXT_AND_LINES"

static void to_options(const cli_opts *o, ls_pluginhost_options *ho)
{
    ls_pluginhost_options_default(ho);
    ho->max_pending = o->max_pending;
    ho->max_spill = o->max_spill;
    ho->breaker_window_ms = o->breaker_window;
    ho->finalize_timeout_ms = o->finalize_timeout;
    ho->max_errors = o->max_errors;
    ho->max_line = o->max_line;
    ho->max_context = o->max_context;
    ho->max_output = o->max_output;
    ho->http_timeout_ms = o->http_timeout;
    ho->read_size = o->read_size;
    ho->max_malformed_reports = o->max_malformed;
}

static int register_plugins(ls_pluginhost *h, const char *dir, const ls_plugin_v1 *const *b,
                            size_t n)
{
    char err[512];
    for (size_t i = 0; i < n; i++) {
        if (ls_pluginhost_add(h, b[i], NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "plugin-host: built-in plugin refused: %s\n", err);
            ls_pluginhost_count_load_failure(h);
        }
    }
    if (!dir)
        return 0;
    char *errors = NULL;
    int rc = ls_ph_load_dir(h, dir, &errors);
    if (rc < 0) {
        fprintf(stderr, "plugin-host: cannot read --plugin-dir %s: %s\n", dir, strerror(-rc));
        printf("[plugin-host] cannot read the plugin directory %s: %s\n", dir, strerror(-rc));
        ls_pluginhost_count_load_failure(h);
    } else if (errors) {
        fprintf(stderr, "plugin-host: plugin not loaded: %s", errors);
        for (char *line = strtok(errors, "\n"); line; line = strtok(NULL, "\n"))
            printf("[plugin-host] plugin not loaded: %s\n", line);
    }
    fflush(stdout);
    free(errors);
    return 0;
}

static void list_plugins(const ls_plugin_v1 *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%-16s %s\n", b[i]->name, b[i]->description ? b[i]->description : "");
}

int ls_pluginhost_cli(int argc, char **argv, const ls_plugin_v1 *const *builtins, size_t n_builtins)
{
    cli_opts o = {0};
    ls_flag flags[N_FLAGS];
    char err[512];
    int npos = 0, status = LS_PLUGINHOST_EXIT_USAGE;
    ls_pluginhost *h = NULL;
    flag_table(&o, flags);
    int rc = ls_flags_parse(flags, argc, argv, NULL, 0, &npos, err, sizeof(err));
    if (rc == -EAGAIN) {
        ls_flags_usage(stdout, "plugin-host", SYNOPSIS, flags);
        status = LS_PLUGINHOST_EXIT_OK;
        goto out;
    }
    if (rc < 0 || npos > 0) {
        fprintf(stderr, "logstream plugin-host: %s\n",
                rc < 0 ? err : "unexpected argument (the input comes on stdin)");
        goto out;
    }
    if (o.list) {
        list_plugins(builtins, n_builtins);
        status = LS_PLUGINHOST_EXIT_OK;
        goto out;
    }
    if (o.nice < 0 || o.nice > 19) {
        fprintf(stderr, "logstream plugin-host: --nice must be 0..19\n");
        goto out;
    }
    ls_nice_thread((int)o.nice); /* before any thread starts: they inherit it */
    ls_pluginhost_options ho;
    to_options(&o, &ho);
    if (ls_pluginhost_new(&ho, &h) < 0) {
        fprintf(stderr,
                "logstream plugin-host: every limit must be positive (and "
                "--plugin-max-line between 1KiB and 64MiB, --plugin-read-size at most 64MiB)\n");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill the host */
    register_plugins(h, o.plugin_dir, builtins, n_builtins);
    ls_pluginhost_summary s;
    rc = ls_pluginhost_run(h, 0, &s);
    fprintf(stderr, "plugin-host: %llu lines, %u plugins ran, %u failed%s\n",
            (unsigned long long)s.lines, s.plugins_run, s.plugins_failed,
            s.finished ? "" : ", no finish line");
    status = rc < 0                 ? LS_PLUGINHOST_EXIT_USAGE
             : s.plugins_failed > 0 ? LS_PLUGINHOST_EXIT_FAILED
                                    : LS_PLUGINHOST_EXIT_OK;
out:
    ls_pluginhost_free(h);
    ls_flags_free(flags);
    return status;
}
