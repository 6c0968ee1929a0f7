#include "common/token.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Fills buf from getrandom(), retrying short reads and EINTR. */
static int random_bytes(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    return 0;
}

int ls_token_generate(char out[LS_TOKEN_BUF])
{
    unsigned char raw[LS_TOKEN_RANDOM_BYTES + 1]; /* one zero byte pads to 33 = 11 * 3 */
    int r = random_bytes(raw, LS_TOKEN_RANDOM_BYTES);
    if (r < 0)
        return r;
    raw[LS_TOKEN_RANDOM_BYTES] = 0;
    char *p = out;
    memcpy(p, LS_TOKEN_PREFIX, 4);
    p += 4;
    /* 32 bytes = 256 bits = 42 full sextets + 4 bits: 43 characters. */
    for (size_t i = 0; i < sizeof(raw); i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        *p++ = b64url[(v >> 18) & 63];
        *p++ = b64url[(v >> 12) & 63];
        *p++ = b64url[(v >> 6) & 63];
        *p++ = b64url[v & 63];
    }
    out[LS_TOKEN_LEN] = '\0';
    memset(raw, 0, sizeof(raw));
    return 0;
}

bool ls_token_well_formed(const char *s, size_t len)
{
    if (!s || len != LS_TOKEN_LEN || memcmp(s, LS_TOKEN_PREFIX, 4) != 0)
        return false;
    for (size_t i = 4; i < len; i++) {
        if (!s[i] || !strchr(b64url, s[i]))
            return false;
    }
    return true;
}

void ls_token_hash(const char *s, size_t len, unsigned char out[LS_TOKEN_HASH_LEN])
{
    ls_sha256_digest(s, len, out);
}

bool ls_token_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}

const char *ls_token_from_bearer(const char *header, size_t *ret_len)
{
    if (!header)
        return NULL;
    while (*header == ' ' || *header == '\t')
        header++;
    if (strncasecmp(header, "Bearer", 6) != 0 || (header[6] != ' ' && header[6] != '\t'))
        return NULL;
    const char *p = header + 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (!len)
        return NULL;
    *ret_len = len;
    return p;
}
