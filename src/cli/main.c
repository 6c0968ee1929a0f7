/* logstream: one binary, several commands. main() only dispatches: each
 * command parses its own flags (argv after the command name). */
#include <stdio.h>
#include <string.h>

#include "cli/demo.h"
#include "cli/logs.h"
#include "pluginhost/host.h"
#include "server/server.h"
#include "worker/run.h"

#ifndef LS_VERSION
#define LS_VERSION "0.1.0"
#endif

typedef int (*command_fn)(int argc, char **argv);

typedef struct command {
    const char *name;
    command_fn fn;
    const char *help;
} command;

static const command commands[] = {
    {"server", ls_server_main, "HTTP API, live log fan-out, storage and web UI"},
    {"run", ls_run_main, "run a pipeline file and stream its logs to a server"},
    {"logs", ls_logs_main, "print or follow (-f) a build's or a step's logs"},
    {"demo", ls_demo_main, "start an embedded server, run the sample pipeline, follow it"},
    {"plugin-host", ls_pluginhost_main, "out-of-process log plugin host (started by `run`)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: logstream COMMAND [FLAGS] [ARGS]\n\ncommands:\n");
    for (const command *c = commands; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->help);
    fprintf(f, "  %-12s %s\n", "help", "show this list");
    fprintf(f, "  %-12s %s\n", "version", "print the version");
    fprintf(f, "\n`logstream COMMAND --help` lists the command's flags and their defaults.\n"
               "Every flag can also be set as LOGSTREAM_<FLAG> in the environment.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        printf("logstream %s\n", LS_VERSION);
        return 0;
    }
    for (const command *c = commands; c->name; c++) {
        if (!strcmp(name, c->name))
            return c->fn(argc - 2, argv + 2);
    }
    fprintf(stderr,
            "logstream: unknown command '%s'\n"
            "Run `logstream --help` to list the commands.\n",
            name);
    return 2;
}
