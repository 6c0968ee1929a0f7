#include "server/ui.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct ext_type {
    const char *ext;
    const char *type;
} ext_type;

static const ext_type content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
};

/* The page may load only its own scripts, styles and images and talk only to
 * its own server; log text never becomes markup (the UI builds DOM nodes),
 * and inline styles for ANSI colours are set through the CSSOM. */
static const char page_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'";

const char *ls_ui_content_type(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
        size_t elen = strlen(content_types[i].ext);
        if (len > elen && strcmp(name + len - elen, content_types[i].ext) == 0)
            return content_types[i].type;
    }
    return "application/octet-stream";
}

/* True when s[0..len) is a non-empty run of digits without a leading zero. */
static bool is_id(const char *s, size_t len)
{
    if (len == 0 || len > 19 || s[0] == '0')
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Consumes "/{id}" at *p. */
static bool take_id(const char **p)
{
    if (**p != '/')
        return false;
    const char *s = *p + 1;
    size_t len = strcspn(s, "/");
    if (!is_id(s, len))
        return false;
    *p = s + len;
    return true;
}

/* /builds/{id} or /builds/{id}/steps/{n}: pages of the single-page app. */
static bool is_page_route(const char *path)
{
    static const char builds[] = "/builds";
    static const char steps[] = "/steps";
    if (strncmp(path, builds, sizeof(builds) - 1) != 0)
        return false;
    const char *p = path + sizeof(builds) - 1;
    if (!take_id(&p))
        return false;
    if (*p == '\0')
        return true;
    if (strncmp(p, steps, sizeof(steps) - 1) != 0)
        return false;
    p += sizeof(steps) - 1;
    return take_id(&p) && *p == '\0';
}

static const ls_ui_asset *asset_named(const char *name)
{
    for (size_t i = 0; i < ls_ui_asset_count; i++)
        if (strcmp(ls_ui_assets[i].name, name) == 0)
            return &ls_ui_assets[i];
    return NULL;
}

bool ls_ui_claims(const char *path)
{
    if (!path)
        return false;
    return strcmp(path, "/") == 0 || strcmp(path, "/favicon.ico") == 0 ||
           strncmp(path, "/builds/", 8) == 0 || strncmp(path, "/static/", 8) == 0;
}

int ls_ui_find(const char *path, const ls_ui_asset **ret_asset)
{
    const ls_ui_asset *a = NULL;
    if (!path)
        return -ENOENT;
    if (strcmp(path, "/") == 0 || is_page_route(path))
        a = asset_named("index.html");
    else if (strcmp(path, "/favicon.ico") == 0)
        a = asset_named("favicon.svg");
    else if (strncmp(path, "/static/", 8) == 0 && !strchr(path + 8, '/') && path[8] != '.')
        a = asset_named(path + 8);
    if (!a || !a->name[0])
        return -ENOENT;
    *ret_asset = a;
    return 0;
}

int ls_ui_lookup(const char *path, const unsigned char **ret_data, size_t *ret_len,
                 const char **ret_content_type)
{
    const ls_ui_asset *a;
    int rc = ls_ui_find(path, &a);
    if (rc < 0)
        return rc;
    *ret_data = a->data;
    *ret_len = a->len;
    *ret_content_type = ls_ui_content_type(a->name);
    return 0;
}

/* True when an If-None-Match header lists etag (or is "*"). */
static bool etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    if (strcmp(if_none_match, "*") == 0)
        return true;
    size_t elen = strlen(etag);
    for (const char *p = strstr(if_none_match, etag); p; p = strstr(p + 1, etag)) {
        bool start = p == if_none_match || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/';
        bool end = p[elen] == '\0' || p[elen] == ',' || p[elen] == ' ';
        if (start && end)
            return true;
    }
    return false;
}

static enum MHD_Result queue_asset(ls_req *r, const ls_ui_asset *a, bool not_modified)
{
    struct MHD_Response *resp =
        not_modified
            ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
            : MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    const char *type = ls_ui_content_type(a->name);
    if (!not_modified)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
    /* revalidate every time: cheap (304) and never a stale UI after an upgrade */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (strncmp(type, "text/html", 9) == 0) {
        MHD_add_response_header(resp, "Content-Security-Policy", page_csp);
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    }
    enum MHD_Result ret =
        MHD_queue_response(r->conn, not_modified ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    if (ret == MHD_YES)
        r->responded = true;
    return ret;
}

enum MHD_Result ls_ui_respond(ls_req *r, const char *path)
{
    char msg[200];
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        snprintf(msg, sizeof(msg), "method %.20s is not allowed on %.120s (the web UI)", r->method,
                 path);
        return ls_req_respond_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed", msg,
                                    NULL);
    }
    const ls_ui_asset *a;
    if (ls_ui_find(path, &a) < 0) {
        snprintf(msg, sizeof(msg), "there is no %.120s in the web UI; open / for the builds list",
                 path);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    return queue_asset(r, a, etag_matches(ls_req_header(r, "If-None-Match"), a->etag));
}
