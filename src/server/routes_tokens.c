#include "server/routes_tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"

json_t *ls_token_json(const ls_token_info *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(t->id));
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "scope", json_string(ls_scope_name(t->scope)));
    if (t->scope == LS_SCOPE_BUILD)
        json_object_set_new(o, "build", json_integer(t->build_id));
    json_object_set_new(o, "created_ms", json_integer(t->created_ms));
    json_object_set_new(o, "expires_ms", t->expires_ms ? json_integer(t->expires_ms) : json_null());
    return o;
}

static enum MHD_Result store_failed(ls_req *r, const char *what)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "storage failed while %s: %s (see the server log)", what,
             ls_store_last_error());
    return ls_req_respond_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "store_error", msg, NULL);
}

static enum MHD_Result tokens_create(ls_req *r)
{
    json_t *body = ls_req_json_body(r);
    if (!body)
        return MHD_YES;
    enum MHD_Result ret;
    ls_scope scope;
    json_t *jname = json_object_get(body, "name");
    const char *scope_name = json_string_value(json_object_get(body, "scope"));
    if (!scope_name || ls_scope_parse(scope_name, &scope) < 0 || scope == LS_SCOPE_BUILD) {
        ret = ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_token",
                                   "\"scope\" must be \"worker\", \"read\" or \"admin\" (upload "
                                   "tokens come with each new build)",
                                   NULL);
        goto out;
    }
    if (!json_is_string(jname) || json_string_length(jname) == 0 ||
        json_string_length(jname) >= LS_NAME_MAX ||
        strlen(json_string_value(jname)) != json_string_length(jname)) {
        ret = ls_req_respond_error(r, MHD_HTTP_BAD_REQUEST, "bad_token",
                                   "\"name\" must be 1 to 255 bytes of text without NUL, saying "
                                   "who or what uses the token",
                                   NULL);
        goto out;
    }
    char text[LS_TOKEN_BUF];
    int64_t id = 0;
    int rc = ls_auth_issue(r->srv, scope, json_string_value(jname), 0, 0, text, &id);
    if (rc < 0) {
        ret = store_failed(r, "creating the token");
        goto out;
    }
    ls_token_info t;
    unsigned char hash[LS_TOKEN_HASH_LEN];
    ls_token_hash(text, LS_TOKEN_LEN, hash);
    if (ls_store_find_token(r->srv->store, hash, &t) < 0) {
        ret = store_failed(r, "reading the new token");
        goto out;
    }
    json_t *obj = ls_token_json(&t);
    json_object_set_new(obj, "token", json_string(text));
    memset(text, 0, sizeof(text));
    ret = ls_req_respond_json(r, MHD_HTTP_CREATED, obj);
out:
    json_decref(body);
    return ret;
}

static enum MHD_Result tokens_list(ls_req *r)
{
    ls_token_info *tokens = NULL;
    size_t n = 0;
    if (ls_store_list_tokens(r->srv->store, &tokens, &n) < 0)
        return store_failed(r, "listing tokens");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ls_token_json(&tokens[i]));
    free(tokens);
    return ls_req_respond_json(r, MHD_HTTP_OK, json_pack("{s:o}", "tokens", arr));
}

static enum MHD_Result token_delete(ls_req *r)
{
    ls_token_info *tokens = NULL, victim = {0};
    size_t n = 0, admins = 0;
    bool found = false;
    if (ls_store_list_tokens(r->srv->store, &tokens, &n) < 0)
        return store_failed(r, "listing tokens");
    for (size_t i = 0; i < n; i++) {
        admins += tokens[i].scope == LS_SCOPE_ADMIN;
        if (tokens[i].id == r->route.token) {
            victim = tokens[i];
            found = true;
        }
    }
    free(tokens);
    char msg[200];
    if (!found) {
        snprintf(msg, sizeof(msg), "there is no token %lld (GET /api/v1/tokens lists them)",
                 (long long)r->route.token);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    if (victim.scope == LS_SCOPE_ADMIN && admins <= 1)
        return ls_req_respond_error(r, MHD_HTTP_CONFLICT, "last_admin",
                                    "this is the only admin token: create another admin token "
                                    "before deleting it",
                                    NULL);
    int rc = ls_store_delete_token(r->srv->store, victim.id);
    if (rc == -ENOENT) {
        snprintf(msg, sizeof(msg), "there is no token %lld", (long long)victim.id);
        return ls_req_respond_error(r, MHD_HTTP_NOT_FOUND, "not_found", msg, NULL);
    }
    if (rc < 0)
        return store_failed(r, "deleting the token");
    return ls_req_respond_json(r, MHD_HTTP_OK, ls_token_json(&victim));
}

const ls_handler ls_tokens_list_handler = {.begin = tokens_list};
const ls_handler ls_tokens_create_handler = {.finish = tokens_create};
const ls_handler ls_token_delete_handler = {.begin = token_delete};
