/* The encodings of a secret that the masker looks for. Each function appends
 * the encoded form of data[0..len) to out. Private to src/mask. */
#ifndef LS_MASK_ENCODE_H
#define LS_MASK_ENCODE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* The base64 characters that depend only on the secret when it sits at byte
 * offset align (0, 1 or 2) of a 3-byte group inside a larger encoded text:
 * characters that would also carry bits of the bytes before or after it (or
 * padding) are left out. url_safe selects the "-_" alphabet instead of "+/". */
void ls_mask_base64_inner(ls_buf *out, const unsigned char *data, size_t len, unsigned align,
                          bool url_safe);

typedef enum {
    LS_MASK_JSON_UPPER_HEX = 1 << 0,   /* \u001F instead of \u001f */
    LS_MASK_JSON_ALL_UNICODE = 1 << 1, /* every control char as \u00XX, no \n \t ... */
    LS_MASK_JSON_SLASH = 1 << 2,       /* '/' as \/ (PHP's default) */
    LS_MASK_JSON_ASCII = 1 << 3,       /* non-ASCII as \uXXXX (Python's default) */
} ls_mask_json_flags;

/* The JSON string escaping of data (without the surrounding quotes): '"' and
 * '\' escaped, control characters as \b \f \n \r \t or \u00xx. Returns false
 * (out unchanged) when LS_MASK_JSON_ASCII is asked for and data is not valid
 * UTF-8. */
bool ls_mask_json_escape(ls_buf *out, const unsigned char *data, size_t len, unsigned flags);

/* Percent-encoding of every byte outside the unreserved set A-Z a-z 0-9 - . _ ~,
 * with upper or lower case hex digits; form encoding writes ' ' as '+'. */
void ls_mask_url_encode(ls_buf *out, const unsigned char *data, size_t len, bool lower_hex,
                        bool form);

#endif
