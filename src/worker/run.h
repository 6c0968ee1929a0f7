/* The `logstream run PIPELINE.yml --server URL` command: runs a pipeline's
 * steps and services on this host and streams their logs to the server. */
#ifndef LS_WORKER_RUN_H
#define LS_WORKER_RUN_H

/* argv = the words after "run". Returns the process exit code: 0 when the
 * build succeeded, 1 when it failed (or its logs could not all be uploaded),
 * 2 for a usage or pipeline-file error. Prints to stdout exactly one line,
 * "build ID URL", and progress to stderr. */
int ls_run_main(int argc, char **argv);

#endif
