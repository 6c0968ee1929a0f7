/* JSON text for the hot paths that do not go through jansson (NDJSON log
 * lines, search answers, the forward and tool-usage plugins): UTF-8 decoding
 * and string literals that stay valid JSON whatever bytes a log line holds. */
#ifndef LS_COMMON_JSON_TEXT_H
#define LS_COMMON_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Decodes the UTF-8 character at s (len >= 1 bytes available) into *ret_cp.
 * Returns its length (1..4), or 0 when the bytes are not valid UTF-8
 * (overlong forms, surrogates, above U+10FFFF, truncated sequences);
 * *ret_cp is untouched then. */
size_t ls_utf8_decode(const unsigned char *s, size_t len, uint32_t *ret_cp);

/* Appends s (len bytes, any bytes) to out as a quoted JSON string: '"', '\\'
 * and control characters escaped, valid UTF-8 copied as is, each invalid
 * byte replaced by U+FFFD. */
void ls_json_put_string(ls_buf *out, const char *s, size_t len);

#endif
