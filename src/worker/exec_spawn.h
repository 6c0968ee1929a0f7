/* Private to the executor: starting "/bin/sh -e" with its output on pipes or
 * on a pseudo-terminal. */
#ifndef LS_WORKER_EXEC_SPAWN_H
#define LS_WORKER_EXEC_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct ls_exec_spawn_req {
    const char *script;
    char *const *env; /* NULL = the caller's environment */
    const char *workdir;
    bool tty;
    unsigned short cols, rows;
    int pipe_size; /* capacity asked for the output pipes (F_SETPIPE_SZ; the kernel may
                    * refuse it); 0 = 1 MiB */
} ls_exec_spawn_req;

typedef struct ls_exec_spawned {
    pid_t pid;  /* also the process group id */
    int out_fd; /* stdout, or the PTY master; non-blocking, close-on-exec */
    int err_fd; /* stderr; -1 with a PTY */
} ls_exec_spawned;

/* Forks and execs the shell. Returns 0 and *ret (the caller owns the fds and
 * must reap the pid), or a negative errno: setup failures, or the errno of
 * execve/chdir reported by the child (which is then already reaped). */
int ls_exec_spawn(const ls_exec_spawn_req *req, ls_exec_spawned *ret);

#endif
