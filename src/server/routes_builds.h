/* Builds and steps API (docs/api.md, "Builds and steps"): create, list, get
 * and PATCH builds and steps, with jansson. Status changes are published to
 * the live step (so followers get `end`) and to build-event subscribers. */
#ifndef LS_SERVER_ROUTES_BUILDS_H
#define LS_SERVER_ROUTES_BUILDS_H

#include <jansson.h>

#include "server/http.h"
#include "store/store.h"

extern const ls_handler ls_builds_list_handler;
extern const ls_handler ls_builds_create_handler;
extern const ls_handler ls_build_get_handler;
extern const ls_handler ls_build_patch_handler;
extern const ls_handler ls_step_get_handler;
extern const ls_handler ls_step_patch_handler;

/* The step object of docs/api.md (new reference). Counters come from the
 * live object when there is one (it is never behind the store). */
json_t *ls_step_json(ls_server *srv, const ls_step_info *st);
/* The build object; with "steps" when steps is not NULL. */
json_t *ls_build_json(ls_server *srv, const ls_build_info *b, const ls_step_info *steps,
                      size_t n_steps);
/* Reads a build with its steps from the store and returns its JSON, or NULL
 * when it does not exist or the store fails. */
json_t *ls_build_json_load(ls_server *srv, int64_t build_id);

#endif
