#include "plugins/forward/json_text.h"

#include <stdbool.h>
#include <stdint.h>

static const char hex[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (2..4), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0) {
        n = 2;
        cp = c & 0x1F;
    } else if (c < 0xF0) {
        n = 3;
        cp = c & 0x0F;
    } else {
        n = 4;
        cp = c & 0x07;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

void ls_plugin_json_string(ls_buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    ls_buf_reserve(out, len + 2);
    ls_buf_putc(out, '"');
    while (i < len) {
        size_t run = i;
        while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            ls_buf_append(out, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = utf8_seq_len(p + i, len - i);
            if (n) {
                ls_buf_append(out, s + i, n);
                i += n;
            } else {
                ls_buf_append(out, "\\ufffd", 6);
                i++;
            }
            continue;
        }
        switch (c) {
        case '"':
            ls_buf_append(out, "\\\"", 2);
            break;
        case '\\':
            ls_buf_append(out, "\\\\", 2);
            break;
        case '\n':
            ls_buf_append(out, "\\n", 2);
            break;
        case '\r':
            ls_buf_append(out, "\\r", 2);
            break;
        case '\t':
            ls_buf_append(out, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ls_buf_append(out, u, sizeof(u));
        }
        }
        i++;
    }
    ls_buf_putc(out, '"');
}

size_t ls_plugin_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* step back over continuation bytes to the start of the cut character */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}
