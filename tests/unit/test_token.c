/* links: common */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/sha256.h"
#include "common/token.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* FIPS 180-4 / NIST CAVS vectors. */
static void test_sha256_vectors(void **state)
{
    static const struct {
        const char *msg;
        const char *digest;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char d[LS_SHA256_LEN];
        char h[2 * LS_SHA256_LEN + 1];
        ls_sha256_digest(v[i].msg, strlen(v[i].msg), d);
        hex(d, sizeof(d), h);
        assert_string_equal(h, v[i].digest);
    }
}

/* One million 'a' fed in uneven pieces crosses every block boundary case. */
static void test_sha256_million_a_in_pieces(void **state)
{
    static char buf[1000];
    memset(buf, 'a', sizeof(buf));
    ls_sha256 c;
    ls_sha256_init(&c);
    size_t left = 1000000, piece = 1;
    while (left) {
        size_t n = piece < left ? piece : left;
        ls_sha256_update(&c, buf, n);
        left -= n;
        piece = piece % 991 + 7; /* at most 997 <= sizeof(buf) */
    }
    unsigned char d[LS_SHA256_LEN];
    char h[2 * LS_SHA256_LEN + 1];
    ls_sha256_final(&c, d);
    hex(d, sizeof(d), h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Messages of 55, 56, 63, 64 and 65 bytes pad into one or two blocks. */
static void test_sha256_padding_edges(void **state)
{
    static const struct {
        size_t len;
        const char *digest;
    } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    };
    char msg[128];
    memset(msg, 'a', sizeof(msg));
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        unsigned char d[LS_SHA256_LEN];
        char h[2 * LS_SHA256_LEN + 1];
        ls_sha256_digest(msg, v[i].len, d);
        hex(d, sizeof(d), h);
        assert_string_equal(h, v[i].digest);
    }
}

static void test_generate_shape_and_uniqueness(void **state)
{
    char a[LS_TOKEN_BUF], b[LS_TOKEN_BUF];
    assert_int_equal(ls_token_generate(a), 0);
    assert_int_equal(ls_token_generate(b), 0);
    assert_int_equal(strlen(a), LS_TOKEN_LEN);
    assert_true(ls_token_well_formed(a, strlen(a)));
    assert_true(ls_token_well_formed(b, strlen(b)));
    assert_memory_equal(a, "lst_", 4);
    assert_string_not_equal(a, b);
}

/* Every random character position takes many values over 200 tokens: a
 * stuck byte (e.g. an unfilled buffer) would show as one value. */
static void test_generate_is_random(void **state)
{
    unsigned seen[LS_TOKEN_LEN][64];
    memset(seen, 0, sizeof(seen));
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int n = 0; n < 200; n++) {
        char t[LS_TOKEN_BUF];
        assert_int_equal(ls_token_generate(t), 0);
        for (size_t i = 4; i < LS_TOKEN_LEN; i++)
            seen[i][strchr(alpha, t[i]) - alpha]++;
    }
    for (size_t i = 4; i < LS_TOKEN_LEN - 1; i++) {
        int distinct = 0;
        for (int k = 0; k < 64; k++)
            distinct += seen[i][k] > 0;
        if (distinct < 30)
            fail_msg("position %zu took only %d distinct values", i, distinct);
    }
}

static void test_well_formed_rejects(void **state)
{
    char t[LS_TOKEN_BUF];
    assert_int_equal(ls_token_generate(t), 0);
    assert_false(ls_token_well_formed(t, LS_TOKEN_LEN - 1));
    assert_false(ls_token_well_formed("", 0));
    assert_false(ls_token_well_formed(NULL, 0));
    char bad[LS_TOKEN_BUF];
    memcpy(bad, t, sizeof(bad));
    bad[10] = '+';
    assert_false(ls_token_well_formed(bad, LS_TOKEN_LEN));
    memcpy(bad, t, sizeof(bad));
    bad[0] = 'x';
    assert_false(ls_token_well_formed(bad, LS_TOKEN_LEN));
    memcpy(bad, t, sizeof(bad));
    bad[20] = '\0';
    assert_false(ls_token_well_formed(bad, LS_TOKEN_LEN));
}

static void test_hash_is_sha256_of_text(void **state)
{
    unsigned char d[LS_TOKEN_HASH_LEN], e[LS_TOKEN_HASH_LEN];
    char h[2 * LS_SHA256_LEN + 1];
    ls_token_hash("lst_x", 5, d);
    hex(d, sizeof(d), h);
    assert_string_equal(h, "c9a1265bfb242dfbaa21ad6589babd4a1c3f258dbedcd5ba5199c951f05b2e6d");
    ls_token_hash("lst_y", 5, e);
    assert_false(ls_token_equal(d, e, sizeof(d)));
}

static void test_equal(void **state)
{
    unsigned char a[32], b[32];
    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(ls_token_equal(a, b, 32));
    assert_true(ls_token_equal(a, b, 0));
    for (int i = 0; i < 32; i++) {
        b[i] ^= 1;
        assert_false(ls_token_equal(a, b, 32));
        b[i] ^= 1;
    }
    b[31] = 0x80;
    assert_false(ls_token_equal(a, b, 32));
}

static void test_bearer(void **state)
{
    size_t n = 0;
    const char *p = ls_token_from_bearer("Bearer lst_abc", &n);
    assert_non_null(p);
    assert_int_equal(n, 7);
    assert_memory_equal(p, "lst_abc", 7);
    p = ls_token_from_bearer("  bearer \t lst_abc  ", &n);
    assert_non_null(p);
    assert_int_equal(n, 7);
    assert_null(ls_token_from_bearer("Basic dXNlcjpwYXNz", &n));
    assert_null(ls_token_from_bearer("Bearer", &n));
    assert_null(ls_token_from_bearer("Bearer   ", &n));
    assert_null(ls_token_from_bearer("Bearerlst_abc", &n));
    assert_null(ls_token_from_bearer(NULL, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_million_a_in_pieces),
        cmocka_unit_test(test_sha256_padding_edges),
        cmocka_unit_test(test_generate_shape_and_uniqueness),
        cmocka_unit_test(test_generate_is_random),
        cmocka_unit_test(test_well_formed_rejects),
        cmocka_unit_test(test_hash_is_sha256_of_text),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_bearer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
