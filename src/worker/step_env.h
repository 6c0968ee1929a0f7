/* A process environment under construction: the worker's environment, then
 * the pipeline's, the step's and its secrets, each overriding the ones before
 * by name. */
#ifndef LS_WORKER_STEP_ENV_H
#define LS_WORKER_STEP_ENV_H

#include <stddef.h>

typedef struct ls_env {
    char **vars; /* "KEY=VALUE" strings, NULL-terminated, owned */
    size_t n;
    size_t cap;
} ls_env;

/* Starts from a copy of base (NULL-terminated "KEY=VALUE" strings, e.g.
 * environ; NULL = empty). */
void ls_env_init(ls_env *e, char *const *base);
/* Sets key to value, replacing an earlier entry of the same key. */
void ls_env_set(ls_env *e, const char *key, const char *value);
/* The value of key, or NULL (borrowed). */
const char *ls_env_get(const ls_env *e, const char *key);
/* Frees every string; e can be initialised again. */
void ls_env_free(ls_env *e);

#endif
