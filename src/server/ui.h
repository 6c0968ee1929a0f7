/* The web UI's assets, embedded into the binary at build time by
 * cmake/embed_web.cmake (which generates the ls_ui_assets table from web/),
 * and the handler that serves them:
 *   /                                  -> index.html
 *   /builds/{id}, /builds/{id}/steps/{n} -> index.html (routes of the page)
 *   /static/{name}                     -> the asset web/{name}
 * Responses carry an ETag (from the file's SHA-1) and answer If-None-Match
 * with 304, so a browser revalidates instead of downloading again. */
#ifndef LS_SERVER_UI_H
#define LS_SERVER_UI_H

#include <stdbool.h>
#include <stddef.h>

#include "server/http.h"

/* One embedded file. */
typedef struct ls_ui_asset {
    const char *name;          /* file name in web/, e.g. "app.js" */
    const unsigned char *data; /* its bytes (static storage) */
    size_t len;
    const char *etag; /* quoted strong ETag, e.g. "\"0123abcd\"" */
} ls_ui_asset;

/* The generated table (ls_ui_asset_count entries). */
extern const ls_ui_asset ls_ui_assets[];
extern const size_t ls_ui_asset_count;

/* The Content-Type served for a file name, from its extension
 * (application/octet-stream when unknown). Never NULL. */
const char *ls_ui_content_type(const char *name);

/* Finds the asset that answers a request path (without query string).
 * Returns 0 and *ret_asset (static, never freed), or -ENOENT when the path
 * is not one of the UI's. */
int ls_ui_find(const char *path, const ls_ui_asset **ret_asset);

/* Same, as data, length and Content-Type (all static). Returns 0 or -ENOENT;
 * outputs are untouched on failure. */
int ls_ui_lookup(const char *path, const unsigned char **ret_data, size_t *ret_len,
                 const char **ret_content_type);

/* True when path has the shape of a UI path (/, /builds/..., /static/...),
 * whether or not an asset exists for it: such paths are answered by
 * ls_ui_respond (404 for a missing asset). */
bool ls_ui_claims(const char *path);

/* Answers a request for a UI path: the asset (GET and HEAD), 304 when
 * If-None-Match matches, 404 for a missing asset, 405 for other methods.
 * Returns MHD_YES or MHD_NO like MHD_queue_response. */
enum MHD_Result ls_ui_respond(ls_req *r, const char *path);

#endif
