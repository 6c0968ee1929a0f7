/* The tokens API (docs/api.md, "Authentication"), admin only:
 *   POST   /api/v1/tokens {"scope":"worker"|"read"|"admin","name":"ci-runner-1"}
 *          -> 201 token object with "token": the secret, shown this once;
 *   GET    /api/v1/tokens -> {"tokens":[token object…]} without secrets
 *          (build-scoped upload tokens are not listed);
 *   DELETE /api/v1/tokens/{id} -> the deleted token object; the last admin
 *          token cannot be deleted (409). */
#ifndef LS_SERVER_ROUTES_TOKENS_H
#define LS_SERVER_ROUTES_TOKENS_H

#include <jansson.h>

#include "server/http.h"
#include "store/store.h"

extern const ls_handler ls_tokens_list_handler;
extern const ls_handler ls_tokens_create_handler;
extern const ls_handler ls_token_delete_handler;

/* The token object of docs/api.md (new reference), never with the secret. */
json_t *ls_token_json(const ls_token_info *t);

#endif
