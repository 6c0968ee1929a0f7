#include "mask/encode.h"

#include <stdint.h>
#include <string.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Bit b of the stream made of align zero bytes followed by data (bit 0 is the
 * most significant bit of the first byte). */
static unsigned stream_bit(const unsigned char *data, size_t align, size_t b)
{
    size_t byte = b / 8;
    if (byte < align)
        return 0;
    return (data[byte - align] >> (7 - b % 8)) & 1u;
}

/* Character j of the encoded stream covers bits [6j, 6j+6). It depends only on
 * the secret when 8*align <= 6j and 6j+6 <= 8*(align+len). */
void ls_mask_base64_inner(ls_buf *out, const unsigned char *data, size_t len, unsigned align,
                          bool url_safe)
{
    const char *alphabet = url_safe ? b64_url : b64_std;
    size_t first = (8 * (size_t)align + 5) / 6;
    size_t end = 8 * ((size_t)align + len) / 6;
    for (size_t j = first; j < end; j++) {
        unsigned v = 0;
        for (size_t b = 6 * j; b < 6 * j + 6; b++)
            v = (v << 1) | stream_bit(data, align, b);
        ls_buf_putc(out, alphabet[v]);
    }
}

static void put_u_escape(ls_buf *out, unsigned cp, bool upper)
{
    ls_buf_printf(out, upper ? "\\u%04X" : "\\u%04x", cp);
}

/* Decodes one UTF-8 sequence at p (n bytes available); returns its length,
 * or 0 when it is not valid UTF-8. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
    if (len == 0 || p[0] >= 0xf8 || len > n)
        return 0;
    uint32_t v = p[0] & (0x3fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3fu);
    }
    if (v < min_cp[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static const char *short_escape(unsigned char c)
{
    switch (c) {
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        return NULL;
    }
}

/* Appends the \uXXXX form of a non-ASCII sequence; returns bytes consumed or 0. */
static size_t put_non_ascii(ls_buf *out, const unsigned char *p, size_t n, bool upper)
{
    uint32_t cp;
    size_t used = utf8_decode(p, n, &cp);
    if (used == 0)
        return 0;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        put_u_escape(out, 0xd800 + (cp >> 10), upper);
        put_u_escape(out, 0xdc00 + (cp & 0x3ff), upper);
    } else {
        put_u_escape(out, cp, upper);
    }
    return used;
}

bool ls_mask_json_escape(ls_buf *out, const unsigned char *data, size_t len, unsigned flags)
{
    bool upper = flags & LS_MASK_JSON_UPPER_HEX;
    size_t start_len = out->len;
    for (size_t i = 0; i < len;) {
        unsigned char c = data[i];
        const char *esc = short_escape(c);
        if (c >= 0x80 && (flags & LS_MASK_JSON_ASCII)) {
            size_t used = put_non_ascii(out, data + i, len - i, upper);
            if (used == 0) {
                out->len = start_len;
                if (out->data)
                    out->data[start_len] = '\0';
                return false;
            }
            i += used;
            continue;
        }
        if (c == '"' || c == '\\' || (c == '/' && (flags & LS_MASK_JSON_SLASH))) {
            ls_buf_putc(out, '\\');
            ls_buf_putc(out, (char)c);
        } else if (c < 0x20 && esc && !(flags & LS_MASK_JSON_ALL_UNICODE)) {
            ls_buf_puts(out, esc);
        } else if (c < 0x20) {
            put_u_escape(out, c, upper);
        } else {
            ls_buf_putc(out, (char)c);
        }
        i++;
    }
    return true;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

void ls_mask_url_encode(ls_buf *out, const unsigned char *data, size_t len, bool lower_hex,
                        bool form)
{
    const char *hex = lower_hex ? "0123456789abcdef" : "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = data[i];
        if (is_unreserved(c)) {
            ls_buf_putc(out, (char)c);
        } else if (c == ' ' && form) {
            ls_buf_putc(out, '+');
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            ls_buf_append(out, e, 3);
        }
    }
}
