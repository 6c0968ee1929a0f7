#include "common/json_text.h"

#include <stdbool.h>

static const char hex[] = "0123456789abcdef";

size_t ls_utf8_decode(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
        *ret_cp = c;
        return 1;
    }
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
    /* overlong 3/4-byte forms, surrogates, above U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    *ret_cp = cp;
    return n;
}

static bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static void put_escape(ls_buf *out, unsigned char c)
{
    switch (c) {
    case '"':
        ls_buf_append(out, "\\\"", 2);
        return;
    case '\\':
        ls_buf_append(out, "\\\\", 2);
        return;
    case '\n':
        ls_buf_append(out, "\\n", 2);
        return;
    case '\r':
        ls_buf_append(out, "\\r", 2);
        return;
    case '\t':
        ls_buf_append(out, "\\t", 2);
        return;
    default: {
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        ls_buf_append(out, u, sizeof(u));
    }
    }
}

void ls_json_put_string(ls_buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    ls_buf_reserve(out, len + 2);
    ls_buf_putc(out, '"');
    while (i < len) {
        size_t run = i;
        while (run < len && plain_byte(p[run]))
            run++;
        if (run > i) {
            ls_buf_append(out, p + i, run - i);
            i = run;
            continue;
        }
        if (p[i] < 0x80) {
            put_escape(out, p[i]);
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = ls_utf8_decode(p + i, len - i, &cp);
        if (n) {
            ls_buf_append(out, p + i, n);
            i += n;
        } else {
            ls_buf_append(out, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    ls_buf_putc(out, '"');
}
