/* links: mask common */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/buf.h"
#include "mask/aho.h"
#include "mask/masker.h"

#define MIN_LEN 4

/* ---- helpers ------------------------------------------------------------ */

static char *mask_str(ls_masker *m, const char *text, size_t *ret_regions)
{
    ls_buf out = LS_BUF_INIT;
    size_t n = ls_masker_apply(m, text, strlen(text), &out);
    if (ret_regions)
        *ret_regions = n;
    if (!out.data)
        return strdup("");
    return ls_buf_steal(&out);
}

static void assert_masked(ls_masker *m, const char *text, const char *want, size_t regions)
{
    size_t n = 0;
    char *got = mask_str(m, text, &n);
    if (strcmp(got, want) != 0 || n != regions)
        fail_msg("masking '%s'\n got  '%s' (%zu regions)\n want '%s' (%zu regions)", text, got, n,
                 want, regions);
    free(got);
}

/* Independent encoders for the table test (not the masker's own code). */
static char *json_form(const char *s, size_t flags)
{
    json_t *j = json_stringn(s, strlen(s));
    assert_non_null(j);
    char *dump = json_dumps(j, JSON_ENCODE_ANY | flags);
    json_decref(j);
    assert_non_null(dump);
    size_t n = strlen(dump);
    memmove(dump, dump + 1, n - 2); /* drop the quotes */
    dump[n - 2] = '\0';
    return dump;
}

static char *url_form(const char *s, bool lower, bool form)
{
    ls_buf b = LS_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p))
            ls_buf_putc(&b, (char)*p);
        else if (*p == ' ' && form)
            ls_buf_putc(&b, '+');
        else
            ls_buf_printf(&b, lower ? "%%%02x" : "%%%02X", *p);
    }
    return ls_buf_steal(&b);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64_encode(const unsigned char *p, size_t n)
{
    ls_buf b = LS_BUF_INIT;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        ls_buf_putc(&b, b64[(v >> 18) & 63]);
        ls_buf_putc(&b, b64[(v >> 12) & 63]);
        ls_buf_putc(&b, i + 1 < n ? b64[(v >> 6) & 63] : '=');
        ls_buf_putc(&b, i + 2 < n ? b64[v & 63] : '=');
    }
    return ls_buf_steal(&b);
}

/* Decodes the base64 characters of run starting at character offset skip,
 * ignoring what is left over; appends the bytes to out. */
static void base64_decode_run(const char *run, size_t len, size_t skip, ls_buf *out)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = skip; i < len; i++) {
        const char *c = strchr(b64, run[i]);
        if (!c || !*c)
            break;
        acc = (acc << 6) | (uint32_t)(c - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            ls_buf_putc(out, (char)((acc >> bits) & 0xff));
        }
    }
}

/* True when the secret can be decoded from any run of base64 characters left
 * in text, starting at any character offset. */
static bool base64_leaks(const char *text, const char *secret)
{
    size_t n = strlen(text);
    for (size_t start = 0; start < n; start++) {
        ls_buf dec = LS_BUF_INIT;
        base64_decode_run(text + start, n - start, 0, &dec);
        bool found = dec.len && memmem(dec.data, dec.len, secret, strlen(secret));
        ls_buf_free(&dec);
        if (found)
            return true;
    }
    return false;
}

/* ---- basic behaviour ---------------------------------------------------- */

static void test_too_short_refused(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    assert_int_equal(ls_masker_add(m, "abc", 3), -EINVAL);
    assert_int_equal(ls_masker_add(m, "", 0), -EINVAL);
    assert_int_equal(ls_masker_count(m), 0);
    assert_masked(m, "abc is not masked", "abc is not masked", 0);
    assert_int_equal(ls_masker_add(m, "abcd", 4), 0);
    assert_masked(m, "abcd is masked", "*** is masked", 1);
    ls_masker_free(m);
    ls_masker_free(NULL);
}

static void test_positions(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    assert_int_equal(ls_masker_add(m, "hunter22", 8), 0);
    assert_masked(m, "hunter22", "***", 1);
    assert_masked(m, "hunter22 at start", "*** at start", 1);
    assert_masked(m, "in the hunter22 middle", "in the *** middle", 1);
    assert_masked(m, "at the end hunter22", "at the end ***", 1);
    assert_masked(m, "two hunter22 and hunter22.", "two *** and ***.", 2);
    assert_masked(m, "adjacent hunter22hunter22!", "adjacent ***!", 1);
    assert_masked(m, "almost hunter2 hunter2X", "almost hunter2 hunter2X", 0);
    assert_masked(m, "", "", 0);
    ls_masker_free(m);
}

static void test_overlapping_secrets(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    assert_int_equal(ls_masker_add(m, "abcdef12", 8), 0);
    assert_int_equal(ls_masker_add(m, "ef12ghij", 8), 0);
    assert_int_equal(ls_masker_add(m, "cdef", 4), 0);
    assert_masked(m, "x abcdef12ghij y", "x *** y", 1);
    assert_masked(m, "x zzcdefzz y", "x zz***zz y", 1);
    /* a longer match ending later swallows an earlier shorter one */
    assert_masked(m, "[abcdef12]", "[***]", 1);
    /* adjacent different secrets merge */
    assert_masked(m, "cdefabcdef12", "***", 1);
    ls_masker_free(m);
}

static void test_lazy_rebuild_and_dedup(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    assert_int_equal(ls_masker_add(m, "first-secret", 12), 0);
    size_t count = ls_masker_count(m);
    assert_true(count > 1); /* value and encodings */
    assert_masked(m, "first-secret second-secret", "*** second-secret", 1);
    assert_int_equal(ls_masker_add(m, "first-secret", 12), 0);
    assert_int_equal(ls_masker_count(m), count);
    assert_int_equal(ls_masker_add(m, "second-secret", 13), 0);
    assert_true(ls_masker_count(m) > count);
    assert_masked(m, "first-secret second-secret", "*** ***", 2);
    ls_masker_free(m);
}

static void test_pattern_limit(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    size_t len = LS_MASKER_MAX_PATTERN_BYTES / 4;
    char *big = malloc(len);
    for (size_t i = 0; i < len; i++)
        big[i] = (char)('a' + i % 26);
    /* value + several base64 forms exceed the limit: refused, nothing added */
    assert_int_equal(ls_masker_add(m, big, len), -E2BIG);
    assert_int_equal(ls_masker_count(m), 0);
    free(big);
    ls_masker_free(m);
}

/* ---- the table: secrets x encodings x positions -------------------------- */

static const char *const table_secrets[] = {
    "s3cr3t-T0ken_value",                                 /* plain */
    "p@ss.w*rd[0-9]+$^(x|y)?",                            /* regex metacharacters */
    "quote\"back\\slash/yes",                             /* JSON specials */
    "pass word & more=1%",                                /* URL specials */
    "tab\there\x01\x02-ctrl\x1f!",                        /* control characters */
    "p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac\xf0\x9f\x94\x91", /* UTF-8 incl. astral */
};

typedef char *(*encoder_fn)(const char *secret);

static char *enc_value(const char *s)
{
    return strdup(s);
}
static char *enc_json(const char *s)
{
    return json_form(s, 0);
}
static char *enc_json_ascii(const char *s)
{
    return json_form(s, JSON_ENSURE_ASCII);
}
static char *enc_json_slash(const char *s)
{
    return json_form(s, JSON_ESCAPE_SLASH);
}
static char *enc_url_upper(const char *s)
{
    return url_form(s, false, false);
}
static char *enc_url_lower(const char *s)
{
    return url_form(s, true, false);
}
static char *enc_url_form(const char *s)
{
    return url_form(s, false, true);
}
static char *enc_url_form_lower(const char *s)
{
    return url_form(s, true, true);
}
static char *enc_base64(const char *s)
{
    return base64_encode((const unsigned char *)s, strlen(s));
}

static const struct {
    const char *name;
    encoder_fn fn;
} encoders[] = {
    {"value", enc_value},           {"json", enc_json},
    {"json-ascii", enc_json_ascii}, {"json-slash", enc_json_slash},
    {"url", enc_url_upper},         {"url-lower", enc_url_lower},
    {"url-form", enc_url_form},     {"url-form-lower", enc_url_form_lower},
    {"base64", enc_base64},
};

static const char *const positions[][2] = {
    {"", ""},
    {"start ", ""},
    {"", " end"},
    {"in the ", " middle"},
};

static void test_table(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    size_t nsecrets = sizeof(table_secrets) / sizeof(table_secrets[0]);
    for (size_t i = 0; i < nsecrets; i++)
        assert_int_equal(ls_masker_add(m, table_secrets[i], strlen(table_secrets[i])), 0);
    for (size_t i = 0; i < nsecrets; i++) {
        for (size_t e = 0; e < sizeof(encoders) / sizeof(encoders[0]); e++) {
            char *enc = encoders[e].fn(table_secrets[i]);
            for (size_t p = 0; p < sizeof(positions) / sizeof(positions[0]); p++) {
                ls_buf text = LS_BUF_INIT, want = LS_BUF_INIT;
                ls_buf_printf(&text, "%s%s%s", positions[p][0], enc, positions[p][1]);
                ls_buf_printf(&want, "%s***%s", positions[p][0], positions[p][1]);
                size_t n = 0;
                char *got = mask_str(m, text.data, &n);
                bool is_b64 = strcmp(encoders[e].name, "base64") == 0;
                /* base64 keeps the edge characters that mix in padding bits */
                bool ok = is_b64 ? n == 1 && !base64_leaks(got, table_secrets[i])
                                 : n == 1 && strcmp(got, want.data) == 0;
                if (!ok)
                    fail_msg("secret %zu, encoding %s, position %zu: '%s' -> '%s' (%zu)", i,
                             encoders[e].name, p, text.data, got, n);
                free(got);
                ls_buf_free(&text);
                ls_buf_free(&want);
            }
            free(enc);
        }
    }
    ls_masker_free(m);
}

/* The secret embedded in a longer text at every offset mod 3, the whole text
 * base64'ed: the secret cannot be decoded back from what is left. */
static void test_base64_all_alignments(void **state)
{
    const char *secrets[] = {"correct horse battery staple", "AKIAIOSFODNN7EXAMPLE",
                             "\xff\xfe\x00\x01binary?"};
    size_t lens[] = {28, 20, 11};
    ls_masker *m = ls_masker_new(MIN_LEN);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ls_masker_add(m, secrets[i], lens[i]), 0);
    for (size_t i = 0; i < 3; i++) {
        for (size_t prefix = 0; prefix < 9; prefix++) {
            for (size_t suffix = 0; suffix < 4; suffix++) {
                unsigned char plain[128];
                memcpy(plain, "{\"auth\": \"", prefix);
                memcpy(plain + prefix, secrets[i], lens[i]);
                memcpy(plain + prefix + lens[i], "\"}\n", suffix);
                size_t n = prefix + lens[i] + suffix;
                char *enc = base64_encode(plain, n);
                size_t regions = 0;
                char *got = mask_str(m, enc, &regions);
                assert_int_equal(regions, 1);
                assert_non_null(strstr(got, "***"));
                /* the characters made only of prefix bytes are kept */
                size_t keep = prefix * 8 / 6;
                assert_memory_equal(got, enc, keep);
                /* decode every run of what is left: no secret */
                ls_buf dec = LS_BUF_INIT;
                for (size_t s = 0; got[s]; s++)
                    base64_decode_run(got + s, strlen(got + s), 0, &dec);
                bool leak = dec.len && memmem(dec.data, dec.len, secrets[i], lens[i]);
                if (leak)
                    fail_msg("secret %zu prefix %zu suffix %zu leaks: %s", i, prefix, suffix, got);
                ls_buf_free(&dec);
                free(enc);
                free(got);
            }
        }
    }
    ls_masker_free(m);
}

static void test_multiline_secret(void **state)
{
    const char *key = "-----BEGIN KEY-----\r\n"
                      "MIIBOgIBAAJBAKj34GkxFhD9\n"
                      "abc\n"
                      "-----END KEY-----";
    ls_masker *m = ls_masker_new(MIN_LEN);
    assert_int_equal(ls_masker_add(m, key, strlen(key)), 0);
    assert_masked(m, "MIIBOgIBAAJBAKj34GkxFhD9", "***", 1);
    assert_masked(m, "  -----BEGIN KEY-----", "  ***", 1);
    assert_masked(m, "-----END KEY----- done", "*** done", 1);
    /* a line shorter than min_len is not masked on its own */
    assert_masked(m, "abc", "abc", 0);
    /* the JSON form of the whole key */
    char *json = json_form(key, 0);
    ls_buf text = LS_BUF_INIT;
    ls_buf_printf(&text, "{\"key\":\"%s\"}", json);
    assert_masked(m, text.data, "{\"key\":\"***\"}", 1);
    ls_buf_free(&text);
    free(json);
    ls_masker_free(m);
}

/* ---- the automaton against a naive search ------------------------------ */

typedef struct coverage {
    bool *covered;
    size_t last_end;
    bool order_ok;
} coverage;

static void cover(void *userdata, size_t start, size_t end)
{
    coverage *c = userdata;
    if (end < c->last_end)
        c->order_ok = false;
    c->last_end = end;
    for (size_t i = start; i < end; i++)
        c->covered[i] = true;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_automaton_matches_naive(void **state)
{
    uint64_t rng = 0x1234567887654321ULL;
    for (int round = 0; round < 400; round++) {
        unsigned alpha = 2 + round % 4;
        size_t npat = 1 + rng_next(&rng) % 12;
        size_t min_pat = 1 + round % 7;
        unsigned char pats[12][16];
        const unsigned char *pp[12];
        size_t lens[12];
        for (size_t i = 0; i < npat; i++) {
            lens[i] = min_pat + rng_next(&rng) % 8;
            for (size_t j = 0; j < lens[i]; j++)
                pats[i][j] = (unsigned char)('a' + rng_next(&rng) % alpha);
            pp[i] = pats[i];
        }
        size_t len = rng_next(&rng) % 300;
        unsigned char *text = malloc(len + 1);
        for (size_t j = 0; j < len; j++)
            text[j] = (unsigned char)('a' + rng_next(&rng) % (alpha + 1));

        bool want[300] = {false}, got[300] = {false};
        for (size_t s = 0; s < len; s++)
            for (size_t i = 0; i < npat; i++)
                if (s + lens[i] <= len && memcmp(text + s, pats[i], lens[i]) == 0)
                    for (size_t k = 0; k < lens[i]; k++)
                        want[s + k] = true;

        ls_aho *a = ls_aho_build(pp, lens, npat);
        assert_non_null(a);
        coverage c = {got, 0, true};
        ls_aho_scan(a, text, len, cover, &c);
        assert_true(c.order_ok);
        if (memcmp(want, got, sizeof(want)) != 0)
            fail_msg("round %d: coverage differs from the naive search", round);
        ls_aho_free(a);
        free(text);
    }
}

static void test_automaton_limits(void **state)
{
    const unsigned char *pp[1] = {(const unsigned char *)"x"};
    size_t zero = 0;
    assert_null(ls_aho_build(pp, &zero, 1));
    assert_null(ls_aho_build(pp, &zero, 0));
}

/* ---- hold-back (issue 5: a line is never cut inside a secret) ----------- */

typedef struct hold_case {
    const char *secrets[3]; /* NULL-terminated */
    const char *text;
    size_t want;
} hold_case;

static const hold_case hold_cases[] = {
    /* no patterns */
    {{NULL}, "abc SEC", 0},
    {{NULL}, "", 0},
    /* one secret: a suffix that is a proper prefix of it */
    {{"SECRET", NULL}, "xx SEC", 3},
    {{"SECRET", NULL}, "xx S", 1},
    {{"SECRET", NULL}, "SECRE", 5},      /* all of it */
    {{"SECRET", NULL}, "xx SECRETS", 1}, /* "S" may start it again */
    /* whole, but its last "T" starts an encoded form (base64 "TRUNSRV"): the
     * cut goes before the whole match, not inside it */
    {{"SECRET", NULL}, "xx SECRET", 6},
    {{"SECRET", NULL}, "xx SECRET!", 0}, /* whole: masked in this piece */
    {{"SECRET", NULL}, "xx SEX", 0},
    {{"SECRET", NULL}, "xx SECRETSEC", 3},
    /* several secrets: the longest suffix wins */
    {{"SECRET", "TOKEN99", NULL}, "a TOK", 3},
    {{"SECRET", "TOKEN99", NULL}, "a SECRETTO", 2},
    {{"SECRET", "ETOKEN9", NULL}, "a SECRET", 6}, /* "SECRET" whole, but "ET" starts ETOKEN9 */
    /* a secret that is a prefix of another */
    {{"KEYKEY", "KEYKEYKEY", NULL}, "a KEYKEY", 6},
    /* a suffix of the secret is a prefix of it: after a whole match, "WXYZ"
     * still begins another one, but the cut moves back before the match */
    {{"WXYZWXYZ", NULL}, "a WXYZWXYZ", 8},
    {{"WXYZWXYZ", NULL}, "a WXYZWX", 6},
    /* overlapping secrets: the suffix "CDXY" starts one, a whole other one
     * ends there; cutting before "CDXY" would split "ABCD": cut before it */
    {{"ABCD", "CDXYZ", NULL}, "a ABCD", 4},
    {{"ABCD", "CDXYZ", NULL}, "a ABC", 3},
    {{"ABCD", "CDXYZ", NULL}, "a QCD", 2},
};

static void test_hold_back_table(void **state)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof(hold_cases) / sizeof(hold_cases[0]); i++) {
        const hold_case *c = &hold_cases[i];
        ls_masker *m = ls_masker_new(MIN_LEN);
        for (size_t k = 0; c->secrets[k]; k++)
            assert_int_equal(ls_masker_add(m, c->secrets[k], strlen(c->secrets[k])), 0);
        size_t got = ls_masker_hold_back(m, c->text, strlen(c->text), strlen(c->text));
        if (got != c->want) {
            print_error("case %zu: hold_back('%s') = %zu, want %zu\n", i, c->text, got, c->want);
            bad++;
        }
        ls_masker_free(m);
    }
    assert_int_equal(bad, 0);
}

/* A secret added after a first call (::add-mask:: mid-step) counts at once. */
static void test_hold_back_after_add(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    assert_int_equal(ls_masker_hold_back(m, "xx SEC", 6, 6), 0);
    assert_int_equal(ls_masker_add(m, "SECRET", 6), 0);
    assert_int_equal(ls_masker_hold_back(m, "xx SEC", 6, 6), 3);
    assert_int_equal(ls_masker_add(m, "x SECOND", 8), 0);
    assert_int_equal(ls_masker_hold_back(m, "xx SEC", 6, 6), 5);
    ls_masker_free(m);
}

/* A caller that must cut (max_hold < what would be kept): a match in the
 * text stays whole, the cut goes after it; else at len - max_hold. */
static void test_hold_back_capped(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    assert_int_equal(ls_masker_add(m, "K3YAB12", 7), 0);
    assert_int_equal(ls_masker_add(m, "AB12ZZQ", 7), 0);
    assert_int_equal(ls_masker_add(m, "LONGSECRETVALUE", 15), 0);
    /* "K3Y" may start K3YAB12: all of it is kept when allowed */
    assert_int_equal(ls_masker_hold_back(m, "K3YAB1", 6, 6), 6);
    assert_int_equal(ls_masker_hold_back(m, "K3YAB1", 6, 5), 5);
    /* "AB12ZZ" may start AB12ZZQ but cutting before it splits K3YAB12: kept
     * from "K3Y" on when allowed, else cut after K3YAB12 */
    assert_int_equal(ls_masker_hold_back(m, "xK3YAB12ZZ", 10, 9), 9);
    assert_int_equal(ls_masker_hold_back(m, "K3YAB12ZZ", 9, 8), 2);
    /* one merged match fills the text: not cut inside, nothing kept */
    assert_int_equal(ls_masker_hold_back(m, "K3YAB12ZZQ", 10, 9), 0);
    /* a secret longer than the piece: the latest cut allowed */
    assert_int_equal(ls_masker_hold_back(m, "xLONGSECR", 9, 9), 8);
    assert_int_equal(ls_masker_hold_back(m, "xLONGSECR", 9, 8), 8);
    assert_int_equal(ls_masker_hold_back(m, "LONGSECR", 8, 7), 7);
    assert_int_equal(ls_masker_hold_back(m, "LONGSECR", 8, 0), 0);
    ls_masker_free(m);
}

/* A multi-line secret: each line is a pattern, held on its own line. */
static void test_hold_back_multiline(void **state)
{
    ls_masker *m = ls_masker_new(MIN_LEN);
    const char *secret = "FIRSTLINE\nSECONDLINE";
    assert_int_equal(ls_masker_add(m, secret, strlen(secret)), 0);
    assert_int_equal(ls_masker_hold_back(m, "x SECON", 7, 7), 5);
    assert_int_equal(ls_masker_hold_back(m, "x FIRST", 7, 7), 5);
    ls_masker_free(m);
}

/* ls_aho_prefix_suffix against a naive search, on small alphabets. */
static void test_prefix_suffix_naive(void **state)
{
    uint64_t rng = 0x5eed5eed12345678ULL;
    for (int round = 0; round < 400; round++) {
        unsigned alpha = 2 + round % 3;
        size_t npat = 1 + rng_next(&rng) % 8;
        unsigned char pats[8][12];
        const unsigned char *pp[8];
        size_t lens[8];
        for (size_t i = 0; i < npat; i++) {
            lens[i] = 1 + rng_next(&rng) % 11;
            for (size_t j = 0; j < lens[i]; j++)
                pats[i][j] = (unsigned char)('a' + rng_next(&rng) % alpha);
            pp[i] = pats[i];
        }
        unsigned char text[64];
        size_t len = rng_next(&rng) % sizeof(text);
        for (size_t j = 0; j < len; j++)
            text[j] = (unsigned char)('a' + rng_next(&rng) % (alpha + 1));
        size_t want = 0;
        for (size_t k = len; k > 0 && !want; k--)
            for (size_t i = 0; i < npat; i++)
                if (k < lens[i] && memcmp(text + len - k, pats[i], k) == 0)
                    want = k;
        ls_aho *a = ls_aho_build(pp, lens, npat);
        assert_non_null(a);
        size_t got = ls_aho_prefix_suffix(a, text, len);
        if (got != want)
            fail_msg("round %d: prefix_suffix = %zu, naive %zu", round, got, want);
        ls_aho_free(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_too_short_refused),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_overlapping_secrets),
        cmocka_unit_test(test_lazy_rebuild_and_dedup),
        cmocka_unit_test(test_pattern_limit),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_base64_all_alignments),
        cmocka_unit_test(test_multiline_secret),
        cmocka_unit_test(test_automaton_matches_naive),
        cmocka_unit_test(test_automaton_limits),
        cmocka_unit_test(test_hold_back_table),
        cmocka_unit_test(test_hold_back_after_add),
        cmocka_unit_test(test_hold_back_capped),
        cmocka_unit_test(test_hold_back_multiline),
        cmocka_unit_test(test_prefix_suffix_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
