/* store.h token entry points: scope names, argument checks shared by every
 * back end, then dispatch to the back end's ops. */
#include <errno.h>
#include <string.h>

#include "store/store_backend.h"

static const char *const scope_names[] = {
    [LS_SCOPE_ADMIN] = "admin",
    [LS_SCOPE_WORKER] = "worker",
    [LS_SCOPE_READ] = "read",
    [LS_SCOPE_BUILD] = "build",
};

const char *ls_scope_name(ls_scope s)
{
    if ((unsigned)s >= sizeof(scope_names) / sizeof(scope_names[0]))
        return "unknown";
    return scope_names[s];
}

int ls_scope_parse(const char *name, ls_scope *ret)
{
    for (size_t i = 0; name && i < sizeof(scope_names) / sizeof(scope_names[0]); i++) {
        if (strcmp(name, scope_names[i]) == 0) {
            *ret = (ls_scope)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* A back end that does not keep tokens yet answers -ENOTSUP. */
static int unsupported(void)
{
    ls_store_set_error("this storage back end does not keep API tokens");
    return -ENOTSUP;
}

int ls_store_create_token(ls_store *st, const ls_token_info *tok, int64_t *ret_id)
{
    if (!tok || (unsigned)tok->scope > LS_SCOPE_BUILD ||
        (tok->scope == LS_SCOPE_BUILD) != (tok->build_id > 0) ||
        strnlen(tok->name, LS_NAME_MAX) >= LS_NAME_MAX || tok->expires_ms < 0) {
        ls_store_set_error("bad token: scope, build id, name or expiry out of range");
        return -EINVAL;
    }
    if (!st->ops->create_token)
        return unsupported();
    return st->ops->create_token(st, tok, ret_id);
}

int ls_store_find_token(ls_store *st, const unsigned char hash[LS_TOKEN_HASH_BYTES],
                        ls_token_info *ret_token)
{
    if (!hash || !ret_token)
        return -EINVAL;
    if (!st->ops->find_token)
        return unsupported();
    return st->ops->find_token(st, hash, ret_token);
}

int ls_store_list_tokens(ls_store *st, ls_token_info **ret_tokens, size_t *ret_n)
{
    if (!ret_tokens || !ret_n)
        return -EINVAL;
    if (!st->ops->list_tokens)
        return unsupported();
    return st->ops->list_tokens(st, ret_tokens, ret_n);
}

int ls_store_delete_token(ls_store *st, int64_t id)
{
    if (id <= 0) {
        ls_store_set_error("no token %lld", (long long)id);
        return -ENOENT;
    }
    if (!st->ops->delete_token)
        return unsupported();
    return st->ops->delete_token(st, id);
}
