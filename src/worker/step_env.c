#include "worker/step_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

static void push(ls_env *e, char *var)
{
    if (e->n + 2 > e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->vars = ls_xreallocarray(e->vars, e->cap, sizeof(*e->vars));
    }
    e->vars[e->n++] = var;
    e->vars[e->n] = NULL;
}

void ls_env_init(ls_env *e, char *const *base)
{
    *e = (ls_env){0};
    push(e, NULL);
    e->n = 0;
    for (size_t i = 0; base && base[i]; i++) {
        const char *eq = strchr(base[i], '=');
        if (!eq || eq == base[i])
            continue;
        char *key = ls_xmemdup0(base[i], (size_t)(eq - base[i]));
        ls_env_set(e, key, eq + 1);
        free(key);
    }
}

static size_t find(const ls_env *e, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->vars[i], key, klen) == 0 && e->vars[i][klen] == '=')
            return i;
    }
    return e->n;
}

void ls_env_set(ls_env *e, const char *key, const char *value)
{
    size_t n = strlen(key) + strlen(value) + 2;
    char *var = ls_xmalloc(n);
    snprintf(var, n, "%s=%s", key, value);
    size_t i = find(e, key);
    if (i < e->n) {
        free(e->vars[i]);
        e->vars[i] = var;
        return;
    }
    push(e, var);
}

const char *ls_env_get(const ls_env *e, const char *key)
{
    size_t i = find(e, key);
    return i < e->n ? e->vars[i] + strlen(key) + 1 : NULL;
}

void ls_env_free(ls_env *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->vars[i]);
    free(e->vars);
    *e = (ls_env){0};
}
