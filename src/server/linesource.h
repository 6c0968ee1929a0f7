/* Reading a step's lines wherever they are: from the live object's memory
 * when it still holds them, else from the store (every line older than what
 * memory holds is durable). Used by the log reads and the SSE follower, so
 * viewers never miss or repeat a line across the memory/store boundary. */
#ifndef LS_SERVER_LINESOURCE_H
#define LS_SERVER_LINESOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "server/live.h"
#include "server/srv.h"

/* Delivers lines after `after` with seq <= upto (0 = no bound), at most
 * max_lines (> 0), in order, stopping early when cb returns 1. *ret_state (may
 * be NULL) is the live state seen. Returns the number of lines delivered (0:
 * none past `after` yet), or a negative errno when the store fails. */
int ls_linesource_read(ls_server *srv, ls_live_step *step, uint64_t after, uint64_t upto,
                       size_t max_lines, ls_live_line_cb cb, void *arg, ls_live_state *ret_state);

/* Opens the live object of an existing step (creating it from the store
 * when needed; with several instances, refreshing it from the store, see
 * ls_live_refresh). Returns 0 and a reference in *ret (release it), -ENOENT when
 * the build or step does not exist, or another negative errno. ret_info may
 * be NULL. */
int ls_linesource_open_step(ls_server *srv, int64_t build, int step, ls_live_step **ret,
                            ls_step_info *ret_info);

/* The live object's starting state from a step read from the store. */
void ls_linesource_init_of(const ls_step_info *info, ls_live_init *ret);

#endif
