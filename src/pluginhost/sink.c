#include "pluginhost/sink.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"

void ls_ph_sink_init(ls_ph_sink *s, int fd)
{
    s->fd = fd;
    s->broken = false;
    pthread_mutex_init(&s->lock, NULL);
}

void ls_ph_sink_destroy(ls_ph_sink *s)
{
    pthread_mutex_destroy(&s->lock);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Formats text as prefixed lines into out. */
static void format_lines(ls_buf *out, const char *prefix, const char *text, size_t len)
{
    if (len > 0 && text[len - 1] == '\n')
        len--;
    size_t plen = strlen(prefix);
    const char *end = text + len;
    for (;;) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        const char *stop = nl ? nl : end;
        ls_buf_append(out, prefix, plen);
        ls_buf_append(out, text, (size_t)(stop - text));
        ls_buf_putc(out, '\n');
        if (!nl)
            break;
        text = nl + 1;
    }
}

int ls_ph_sink_write(ls_ph_sink *s, const char *prefix, const char *text, size_t len)
{
    ls_buf out = LS_BUF_INIT;
    format_lines(&out, prefix, text, len);
    int r = -EPIPE;
    pthread_mutex_lock(&s->lock);
    if (!s->broken) {
        r = write_all(s->fd, out.data, out.len);
        s->broken = r < 0;
    }
    pthread_mutex_unlock(&s->lock);
    ls_buf_free(&out);
    return r;
}

int ls_ph_sink_vprintf(ls_ph_sink *s, const char *prefix, const char *fmt, va_list ap)
{
    ls_buf text = LS_BUF_INIT;
    ls_buf_vprintf(&text, fmt, ap);
    int r = ls_ph_sink_write(s, prefix, text.data ? text.data : "", text.len);
    ls_buf_free(&text);
    return r;
}

int ls_ph_sink_printf(ls_ph_sink *s, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = ls_ph_sink_vprintf(s, prefix, fmt, ap);
    va_end(ap);
    return r;
}
