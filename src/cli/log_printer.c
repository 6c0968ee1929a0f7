#include "cli/log_printer.h"

#include <errno.h>
#include <stdarg.h>
#include <time.h>

static void write_bytes(ls_printer *p, const char *data, size_t len)
{
    if (len)
        fwrite(data, 1, len, p->out);
}

/* Another stream's unfinished line would glue onto ours: end it first. */
static void claim_line(ls_printer *p, const void *owner)
{
    if (p->mid_line && p->mid_line != owner) {
        ls_print_stream *other = (ls_print_stream *)p->mid_line;
        fputc('\n', p->out);
        other->mid_line = false;
        p->mid_line = NULL;
    }
}

static void write_time(ls_printer *p, int64_t ts_ms)
{
    time_t secs = (time_t)(ts_ms / 1000);
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&secs, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm)) {
        fputs("(bad time) ", p->out);
        return;
    }
    fprintf(p->out, "%s.%03dZ ", buf, (int)(ts_ms % 1000));
}

static void write_text(ls_printer *p, ls_print_stream *s, const char *text, size_t len)
{
    if (!p->strip_ansi) {
        write_bytes(p, text, len);
        return;
    }
    ls_buf_reset(&p->scratch);
    ls_ansi_strip_feed(&s->ansi, text, len, &p->scratch);
    write_bytes(p, p->scratch.data, p->scratch.len);
}

void ls_printer_line(ls_printer *p, ls_print_stream *s, int64_t ts_ms, const char *text, size_t len,
                     bool continued)
{
    claim_line(p, s);
    if (!s->mid_line) {
        if (p->timestamps)
            write_time(p, ts_ms);
        if (s->prefix)
            fputs(s->prefix, p->out);
    }
    write_text(p, s, text, len);
    s->mid_line = continued;
    if (continued) {
        p->mid_line = s;
        return;
    }
    p->mid_line = NULL;
    ls_ansi_strip_reset(&s->ansi);
    fputc('\n', p->out);
}

void ls_printer_raw(ls_printer *p, ls_print_stream *s, const char *data, size_t len)
{
    claim_line(p, s);
    write_text(p, s, data, len);
    if (len) {
        s->mid_line = data[len - 1] != '\n';
        p->mid_line = s->mid_line ? s : NULL;
    }
}

void ls_printer_note(ls_printer *p, const char *fmt, ...)
{
    claim_line(p, NULL);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
}

int ls_printer_flush(ls_printer *p)
{
    if (fflush(p->out) != 0 || ferror(p->out))
        return errno ? -errno : -EIO;
    return 0;
}

void ls_printer_free(ls_printer *p)
{
    ls_buf_free(&p->scratch);
}
