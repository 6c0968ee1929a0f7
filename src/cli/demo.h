/* `logstream demo [--once] [--listen 127.0.0.1:8080] [--data DIR]
 * [--pipeline examples/hello.yml]`: starts an embedded server (SQLite in
 * --data), runs the pipeline with `logstream run` as a child process, prints
 * the build's URL and follows its logs in the terminal. Then, unless --once,
 * keeps the server running (for the web UI) until SIGINT/SIGTERM.
 *
 * When the --listen port is taken, it says so and listens on a free port of
 * the same host instead. When the pipeline file does not exist and --pipeline
 * was not given, the built-in copy of the sample pipeline is written to
 * DATA/hello.yml and used. Exit status: the pipeline's (`logstream run`'s),
 * or 1 when the server could not start, 2 for a usage error. */
#ifndef LS_CLI_DEMO_H
#define LS_CLI_DEMO_H

/* argv holds the words after "demo". */
int ls_demo_main(int argc, char **argv);

#endif
