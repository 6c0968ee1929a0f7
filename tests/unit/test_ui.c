/* links: server store common */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "server/ui.h"

static void lookup_ok(const char *path, const char *want_name)
{
    const ls_ui_asset *a = NULL;
    assert_int_equal(ls_ui_find(path, &a), 0);
    assert_non_null(a);
    assert_string_equal(a->name, want_name);
    assert_true(ls_ui_claims(path));
}

static void lookup_missing(const char *path)
{
    const ls_ui_asset *a = NULL;
    const unsigned char *data = (const unsigned char *)"untouched";
    size_t len = 42;
    const char *type = "untouched";
    assert_int_equal(ls_ui_find(path, &a), -ENOENT);
    assert_null(a);
    assert_int_equal(ls_ui_lookup(path, &data, &len, &type), -ENOENT);
    assert_int_equal(len, 42);
    assert_string_equal(type, "untouched");
}

static void page_routes_serve_index(void **state)
{
    lookup_ok("/", "index.html");
    lookup_ok("/builds/1", "index.html");
    lookup_ok("/builds/123456", "index.html");
    lookup_ok("/builds/7/steps/2", "index.html");
    lookup_ok("/favicon.ico", "favicon.svg");
}

static void static_assets_by_name(void **state)
{
    lookup_ok("/static/index.html", "index.html");
    lookup_ok("/static/app.js", "app.js");
    lookup_ok("/static/ansi.js", "ansi.js");
    lookup_ok("/static/app.css", "app.css");
}

static void bad_paths_are_not_found(void **state)
{
    lookup_missing("/builds");
    lookup_missing("/builds/");
    lookup_missing("/builds/0");
    lookup_missing("/builds/01");
    lookup_missing("/builds/1/");
    lookup_missing("/builds/abc");
    lookup_missing("/builds/1/steps");
    lookup_missing("/builds/1/steps/x");
    lookup_missing("/builds/1/steps/2/logs");
    lookup_missing("/builds/12345678901234567890");
    lookup_missing("/static/");
    lookup_missing("/static/nope.js");
    lookup_missing("/static/../index.html");
    lookup_missing("/static/.hidden");
    lookup_missing("/static/sub/app.js");
    lookup_missing("/index.html");
    lookup_missing("");
    lookup_missing(NULL);
    assert_false(ls_ui_claims("/api/v1/builds"));
    assert_false(ls_ui_claims("/healthz"));
    assert_false(ls_ui_claims(NULL));
}

static void content_types_follow_extension(void **state)
{
    assert_string_equal(ls_ui_content_type("a.html"), "text/html; charset=utf-8");
    assert_string_equal(ls_ui_content_type("a.js"), "text/javascript; charset=utf-8");
    assert_string_equal(ls_ui_content_type("a.css"), "text/css; charset=utf-8");
    assert_string_equal(ls_ui_content_type("a.svg"), "image/svg+xml");
    assert_string_equal(ls_ui_content_type("a.png"), "image/png");
    assert_string_equal(ls_ui_content_type("js"), "application/octet-stream");
    assert_string_equal(ls_ui_content_type("a.json5"), "application/octet-stream");
}

/* The generated table holds the real files: the page is HTML that loads the
 * app, every asset has bytes and a quoted ETag, and names are unique. */
static void embedded_table_is_consistent(void **state)
{
    const unsigned char *data;
    size_t len;
    const char *type;
    assert_int_equal(ls_ui_lookup("/", &data, &len, &type), 0);
    assert_string_equal(type, "text/html; charset=utf-8");
    assert_true(len > 15);
    assert_int_equal(strncasecmp((const char *)data, "<!doctype html>", 15), 0);
    assert_non_null(memmem(data, len, "/static/app.js", 14));
    assert_true(ls_ui_asset_count >= 4);
    for (size_t i = 0; i < ls_ui_asset_count; i++) {
        const ls_ui_asset *a = &ls_ui_assets[i];
        assert_true(a->len > 0);
        assert_int_equal(a->etag[0], '"');
        assert_int_equal(strlen(a->etag), 18);
        for (size_t j = i + 1; j < ls_ui_asset_count; j++)
            assert_string_not_equal(a->name, ls_ui_assets[j].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_routes_serve_index),
        cmocka_unit_test(static_assets_by_name),
        cmocka_unit_test(bad_paths_are_not_found),
        cmocka_unit_test(content_types_follow_extension),
        cmocka_unit_test(embedded_table_is_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
