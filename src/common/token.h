/* API tokens (docs/api.md, "Authentication"): generation from the kernel's
 * random source, the hash under which they are stored, and constant-time
 * comparison.
 *
 * A token is "lst_" followed by 43 base64url characters: 256 random bits
 * from getrandom(2). The prefix lets secret scanners and people recognise
 * one. The server keeps only SHA-256(token text); the token itself is shown
 * once, when it is created. */
#ifndef LS_COMMON_TOKEN_H
#define LS_COMMON_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/sha256.h"

#define LS_TOKEN_PREFIX "lst_"
/* Random bytes in a token. */
#define LS_TOKEN_RANDOM_BYTES 32
/* Length of a token's text (without NUL): prefix + base64url of 32 bytes. */
#define LS_TOKEN_LEN (4 + 43)
/* Size of a buffer for a token's text with its NUL. */
#define LS_TOKEN_BUF (LS_TOKEN_LEN + 1)
#define LS_TOKEN_HASH_LEN LS_SHA256_LEN

/* Writes a new random token and its NUL into out. Returns 0, or a negative
 * errno when the kernel's random source fails (never a weak token). */
int ls_token_generate(char out[LS_TOKEN_BUF]);

/* True when s[0..len) has the shape of a token (prefix, length, alphabet).
 * Says nothing about whether it is valid: it only rejects garbage early. */
bool ls_token_well_formed(const char *s, size_t len);

/* The stored form of a token: SHA-256 of its text s[0..len). */
void ls_token_hash(const char *s, size_t len, unsigned char out[LS_TOKEN_HASH_LEN]);

/* Compares a[0..n) and b[0..n) in time that depends only on n. */
bool ls_token_equal(const void *a, const void *b, size_t n);

/* Finds the token in an Authorization header value: "Bearer TOKEN" (scheme
 * case-insensitive, spaces around the token ignored). Returns a pointer into
 * header and *ret_len, or NULL when the header is not a bearer credential. */
const char *ls_token_from_bearer(const char *header, size_t *ret_len);

#endif
