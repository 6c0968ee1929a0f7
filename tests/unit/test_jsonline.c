/* links: server store common */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/jsonline.h"

static void check_string(const char *in, size_t len, const char *want)
{
    ls_buf b = LS_BUF_INIT;
    ls_json_put_string(&b, in, len);
    assert_string_equal(b.data, want);
    ls_buf_free(&b);
}

static void test_escapes(void **state)
{
    check_string("plain", 5, "\"plain\"");
    check_string("", 0, "\"\"");
    check_string("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
    check_string("\t\r\n\x01\x1f\x7f", 6, "\"\\t\\r\\n\\u0001\\u001f\x7f\"");
    check_string("nul\0x", 5, "\"nul\\u0000x\"");
}

static void test_utf8_kept_and_invalid_replaced(void **state)
{
    check_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
                 "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* lone continuation, truncated sequence, overlong, surrogate, > U+10FFFF */
    check_string("\x80", 1, "\"\xef\xbf\xbd\"");
    check_string("a\xc3", 2, "\"a\xef\xbf\xbd\"");
    check_string("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    check_string("\xe0\x80\xaf", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_string("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_string("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_string("\xff ok", 4, "\"\xef\xbf\xbd ok\"");
}

static void test_line_object(void **state)
{
    ls_buf b = LS_BUF_INIT;
    ls_line l = {.seq = 12, .ts_ms = 1700000000123, .stream = 'e', .len = 2, .text = "hi"};
    ls_jsonline_format(&b, &l);
    assert_string_equal(b.data,
                        "{\"seq\":12,\"ts\":1700000000123,\"stream\":\"e\",\"text\":\"hi\"}");
    ls_buf_reset(&b);
    l.continued = true;
    l.len = 0;
    ls_jsonline_format(&b, &l);
    assert_string_equal(
        b.data,
        "{\"seq\":12,\"ts\":1700000000123,\"stream\":\"e\",\"text\":\"\",\"continued\":true}");
    ls_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_utf8_kept_and_invalid_replaced),
        cmocka_unit_test(test_line_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
