#include "common/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void out_of_memory(size_t n)
{
    fprintf(stderr, "logstream: out of memory allocating %zu bytes\n", n);
    abort();
}

void *ls_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *ls_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(count * size);
    return p;
}

void *ls_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

void *ls_xreallocarray(void *p, size_t count, size_t size)
{
    void *q = reallocarray(p, count ? count : 1, size ? size : 1);
    if (!q)
        out_of_memory(count * size);
    return q;
}

char *ls_xstrdup(const char *s)
{
    return s ? ls_xmemdup0(s, strlen(s)) : NULL;
}

char *ls_xmemdup0(const void *s, size_t len)
{
    char *p = ls_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
