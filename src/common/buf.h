/* A growable byte buffer. Always NUL-terminated after its contents (the NUL is
 * not counted in len), so data can be handed to string functions. */
#ifndef LS_COMMON_BUF_H
#define LS_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct ls_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
} ls_buf;

#define LS_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Frees the storage and resets to empty. */
void ls_buf_free(ls_buf *b);
/* Empties without freeing the storage. */
void ls_buf_reset(ls_buf *b);
/* Makes room for at least n more bytes; returns a pointer to the free space. */
char *ls_buf_reserve(ls_buf *b, size_t n);
/* Appends n bytes. */
void ls_buf_append(ls_buf *b, const void *data, size_t n);
/* Appends a NUL-terminated string. */
void ls_buf_puts(ls_buf *b, const char *s);
/* Appends one byte. */
void ls_buf_putc(ls_buf *b, char c);
/* Appends printf-formatted text. */
void ls_buf_printf(ls_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ls_buf_vprintf(ls_buf *b, const char *fmt, va_list ap);
/* Removes the first n bytes (n <= len). */
void ls_buf_consume(ls_buf *b, size_t n);
/* Returns the contents as a malloc'ed string owned by the caller and leaves b empty. */
char *ls_buf_steal(ls_buf *b);

#endif
