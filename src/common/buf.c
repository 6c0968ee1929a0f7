#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

void ls_buf_free(ls_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void ls_buf_reset(ls_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *ls_buf_reserve(ls_buf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = ls_xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

void ls_buf_append(ls_buf *b, const void *data, size_t n)
{
    char *p = ls_buf_reserve(b, n);
    if (n)
        memcpy(p, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ls_buf_puts(ls_buf *b, const char *s)
{
    ls_buf_append(b, s, strlen(s));
}

void ls_buf_putc(ls_buf *b, char c)
{
    ls_buf_append(b, &c, 1);
}

void ls_buf_vprintf(ls_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n <= 0)
        return;
    char *p = ls_buf_reserve(b, (size_t)n);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void ls_buf_printf(ls_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ls_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void ls_buf_consume(ls_buf *b, size_t n)
{
    if (n >= b->len) {
        ls_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *ls_buf_steal(ls_buf *b)
{
    char *s = b->data ? b->data : ls_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}
