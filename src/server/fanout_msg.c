#include "server/fanout_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/record.h"

static const char PREFIX[] = "logstream.";

size_t ls_fanout_subject(char *buf, ls_fanout_kind kind, int64_t build, int step)
{
    int n = 0;
    switch (kind) {
    case LS_FANOUT_LINES:
        n = snprintf(buf, LS_FANOUT_SUBJECT_MAX, "%s%" PRId64 ".%d.lines", PREFIX, build, step);
        break;
    case LS_FANOUT_STATUS:
        n = snprintf(buf, LS_FANOUT_SUBJECT_MAX, "%s%" PRId64 ".%d.status", PREFIX, build, step);
        break;
    case LS_FANOUT_STEP_ALL:
        n = snprintf(buf, LS_FANOUT_SUBJECT_MAX, "%s%" PRId64 ".%d.*", PREFIX, build, step);
        break;
    case LS_FANOUT_BUILD_EVENT:
        n = snprintf(buf, LS_FANOUT_SUBJECT_MAX, "%s%" PRId64 ".events", PREFIX, build);
        break;
    case LS_FANOUT_SERVER_EVENT:
        n = snprintf(buf, LS_FANOUT_SUBJECT_MAX, "%sevents", PREFIX);
        break;
    }
    return n > 0 ? (size_t)n : 0;
}

/* Parses a decimal number of 1..18 digits (no sign, no leading zero) at *p,
 * ending at '.' or NUL; advances *p past it. Returns 0 or -EINVAL. */
static int parse_num(const char **p, int64_t *ret)
{
    const char *s = *p;
    int64_t v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 18)
            return -EINVAL;
        v = v * 10 + (s[n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0') || (s[n] != '.' && s[n] != '\0'))
        return -EINVAL;
    *p = s + n;
    *ret = v;
    return 0;
}

int ls_fanout_subject_parse(const char *subject, ls_fanout_kind *ret_kind, int64_t *ret_build,
                            int *ret_step)
{
    if (strncmp(subject, PREFIX, sizeof(PREFIX) - 1) != 0)
        return -EINVAL;
    const char *p = subject + sizeof(PREFIX) - 1;
    if (strcmp(p, "events") == 0) {
        *ret_kind = LS_FANOUT_SERVER_EVENT;
        *ret_build = 0;
        *ret_step = 0;
        return 0;
    }
    int64_t build, step;
    if (parse_num(&p, &build) < 0 || build <= 0 || *p != '.')
        return -EINVAL;
    p++;
    if (strcmp(p, "events") == 0) {
        *ret_kind = LS_FANOUT_BUILD_EVENT;
        *ret_build = build;
        *ret_step = 0;
        return 0;
    }
    if (parse_num(&p, &step) < 0 || step <= 0 || step > INT32_MAX || *p != '.')
        return -EINVAL;
    p++;
    ls_fanout_kind kind;
    if (strcmp(p, "lines") == 0)
        kind = LS_FANOUT_LINES;
    else if (strcmp(p, "status") == 0)
        kind = LS_FANOUT_STATUS;
    else
        return -EINVAL;
    *ret_kind = kind;
    *ret_build = build;
    *ret_step = (int)step;
    return 0;
}

void ls_fanout_lines_add(ls_buf *out, const ls_line *line)
{
    ls_record_format(out, line);
}

int ls_fanout_lines_decode(const char *data, size_t len, size_t max_text, ls_fanout_line_cb cb,
                           void *arg)
{
    if (len == 0)
        return 0; /* (data may be NULL) */
    int n = 0;
    uint64_t last = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return -EINVAL; /* every record ends with '\n' */
        ls_line line;
        const char *perr = NULL;
        if (ls_record_parse(p, (size_t)(nl - p), max_text, &line, &perr) < 0)
            return -EINVAL;
        if (line.stream == LS_STREAM_HEARTBEAT || line.seq <= last)
            return -EINVAL;
        last = line.seq;
        n++;
        if (cb(arg, &line) != 0)
            return n;
        if (n == INT32_MAX)
            return n;
        p = nl + 1;
    }
    return n;
}

void ls_fanout_status_encode(ls_buf *out, const ls_fanout_status *st)
{
    if (st->has_exit_code)
        ls_buf_printf(out, "%s %d %" PRIu64 "\n", ls_status_name(st->status), st->exit_code,
                      st->lines);
    else
        ls_buf_printf(out, "%s - %" PRIu64 "\n", ls_status_name(st->status), st->lines);
}

int ls_fanout_status_decode(const char *data, size_t len, ls_fanout_status *ret)
{
    char buf[96], name[16], code[16], lines[24];
    int used = 0;
    if (len == 0 || len >= sizeof(buf) || memchr(data, '\0', len))
        return -EINVAL;
    memcpy(buf, data, len);
    buf[len] = '\0';
    if (sscanf(buf, "%15[a-z] %15[-0-9] %23[0-9]\n%n", name, code, lines, &used) != 3 ||
        (size_t)used != len || buf[len - 1] != '\n')
        return -EINVAL;
    char *e = NULL;
    errno = 0;
    unsigned long long n = strtoull(lines, &e, 10);
    if (errno || !e || *e)
        return -EINVAL;
    ls_fanout_status st = {.lines = n};
    if (ls_status_parse(name, &st.status) < 0)
        return -EINVAL;
    if (strcmp(code, "-") != 0) {
        errno = 0;
        long v = strtol(code, &e, 10);
        if (errno || !e || *e || e == code || v < INT32_MIN || v > INT32_MAX)
            return -EINVAL;
        st.has_exit_code = true;
        st.exit_code = (int)v;
    }
    *ret = st;
    return 0;
}

static bool good_name(const char *s, size_t n)
{
    if (n == 0 || n >= LS_FANOUT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return false;
    return true;
}

void ls_fanout_event_encode(ls_buf *out, const char *name, bool with_end, bool end,
                            const char *json)
{
    ls_buf_puts(out, name);
    if (with_end)
        ls_buf_puts(out, end ? " 1" : " 0");
    ls_buf_putc(out, '\n');
    ls_buf_puts(out, json);
}

int ls_fanout_event_decode(const char *data, size_t len, bool with_end, char *ret_name,
                           bool *ret_end, const char **ret_json, size_t *ret_json_len)
{
    const char *nl = memchr(data, '\n', len);
    if (!nl)
        return -EINVAL;
    size_t head = (size_t)(nl - data), name_len = head;
    bool end = false;
    if (with_end) {
        if (head < 3 || data[head - 2] != ' ' || (data[head - 1] != '0' && data[head - 1] != '1'))
            return -EINVAL;
        end = data[head - 1] == '1';
        name_len = head - 2;
    }
    if (!good_name(data, name_len))
        return -EINVAL;
    memcpy(ret_name, data, name_len);
    ret_name[name_len] = '\0';
    if (ret_end)
        *ret_end = end;
    *ret_json = nl + 1;
    *ret_json_len = len - head - 1;
    return 0;
}

int ls_fanout_urls_parse(const char *list, char ***ret_urls, size_t *ret_n, char *err,
                         size_t errlen)
{
    int rc = 0;
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    char **urls = ls_xcalloc(n, sizeof(*urls));
    size_t got = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *e = end;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t len = (size_t)(e - p);
        if (len == 0 || memchr(p, ' ', len) || memchr(p, '\t', len)) {
            snprintf(err, errlen,
                     "--nats: URL %zu of the list is %s; give nats://HOST:PORT or a "
                     "comma-separated list of them",
                     got + 1, len == 0 ? "empty" : "not one URL (a blank in it)");
            rc = -EINVAL;
            goto out;
        }
        urls[got] = ls_xmalloc(len + 1);
        memcpy(urls[got], p, len);
        urls[got][len] = '\0';
        got++;
        if (!*end)
            break;
        p = end + 1;
    }
out:
    if (rc < 0) {
        ls_fanout_urls_free(urls, got);
        urls = NULL;
        got = 0;
    }
    *ret_urls = urls;
    *ret_n = got;
    return rc;
}

void ls_fanout_urls_free(char **urls, size_t n)
{
    if (!urls)
        return;
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    free(urls);
}
