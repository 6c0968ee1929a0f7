/* SHA-256 (FIPS 180-4), self-contained: used to store API tokens as hashes
 * (src/common/token.h). Not for passwords (no salt, no stretching): tokens
 * are 256 random bits, so a plain hash is enough. */
#ifndef LS_COMMON_SHA256_H
#define LS_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define LS_SHA256_LEN 32

typedef struct ls_sha256 {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    unsigned char block[64];
    size_t used; /* bytes in block */
} ls_sha256;

/* Starts a hash. */
void ls_sha256_init(ls_sha256 *c);
/* Adds len bytes (data may be NULL when len is 0). */
void ls_sha256_update(ls_sha256 *c, const void *data, size_t len);
/* Writes the digest into out; c must be initialised again before reuse. */
void ls_sha256_final(ls_sha256 *c, unsigned char out[LS_SHA256_LEN]);
/* One-shot: the digest of data[0..len). */
void ls_sha256_digest(const void *data, size_t len, unsigned char out[LS_SHA256_LEN]);

#endif
