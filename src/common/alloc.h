/* Allocation wrappers: the one place where running out of memory is handled.
 * Each aborts the process with a message on failure, so callers never see NULL. */
#ifndef LS_COMMON_ALLOC_H
#define LS_COMMON_ALLOC_H

#include <stddef.h>

/* malloc(n); never returns NULL. ls_xmalloc(0) returns a valid unique pointer. */
void *ls_xmalloc(size_t n);
/* calloc(count, size), checked for overflow; never returns NULL. */
void *ls_xcalloc(size_t count, size_t size);
/* realloc(p, n); never returns NULL. */
void *ls_xrealloc(void *p, size_t n);
/* reallocarray(p, count, size), checked for overflow; never returns NULL. */
void *ls_xreallocarray(void *p, size_t count, size_t size);
/* strdup(s); ls_xstrdup(NULL) returns NULL. */
char *ls_xstrdup(const char *s);
/* Copies len bytes of s and a terminating NUL. */
char *ls_xmemdup0(const void *s, size_t len);

#endif
