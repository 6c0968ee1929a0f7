/* What a storage back end implements behind store.h. Internal to src/store.
 *
 * store.c checks the arguments every back end would check (NULL pointers,
 * name lengths) and then dispatches through ls_store.ops. */
#ifndef LS_STORE_STORE_BACKEND_H
#define LS_STORE_STORE_BACKEND_H

#include "store/store.h"
#include "store/store_tests.h"
#include "store/store_tools.h"

typedef struct ls_store_ops {
    void (*free)(ls_store *st);
    int (*create_build)(ls_store *st, const char *name, const ls_step_info *steps, size_t n_steps,
                        ls_build_info *ret_build);
    int (*get_build)(ls_store *st, int64_t build_id, ls_build_info *ret_build,
                     ls_step_info **ret_steps, size_t *ret_n_steps);
    int (*list_builds)(ls_store *st, int64_t before_id, size_t limit, ls_build_info **ret_builds,
                       size_t *ret_n);
    int (*get_step)(ls_store *st, int64_t build_id, int step, ls_step_info *ret_step);
    int (*update_step)(ls_store *st, const ls_step_info *step);
    int (*update_build)(ls_store *st, const ls_build_info *build);
    int (*append)(ls_store *st, const ls_store_batch *batches, size_t n_batches);
    int (*read)(ls_store *st, int64_t build_id, int step, uint64_t from_seq, uint64_t limit,
                ls_store_line_cb cb, void *userdata);
    /* API tokens (store.h): ls_store_create_token etc. after store_tokens.c has
     * checked the scope, build_id and name. */
    int (*create_token)(ls_store *st, const ls_token_info *tok, int64_t *ret_id);
    int (*find_token)(ls_store *st, const unsigned char hash[LS_TOKEN_HASH_BYTES],
                      ls_token_info *ret_token);
    int (*list_tokens)(ls_store *st, ls_token_info **ret_tokens, size_t *ret_n);
    int (*delete_token)(ls_store *st, int64_t id);
    /* Size limits and retention (store.h); optional: NULL makes the
     * ls_store_* call fail with -EOPNOTSUPP. */
    int (*drop_middle)(ls_store *st, int64_t build_id, int step, uint64_t head_bytes,
                       uint64_t excess_bytes, ls_step_info *ret_step);
    int (*build_bytes)(ls_store *st, int64_t build_id, uint64_t *ret_bytes);
    int (*delete_build)(ls_store *st, int64_t build_id);
    int (*list_finished_before)(ls_store *st, int64_t before_ms, int64_t after_id, size_t max,
                                int64_t **ret_ids, size_t *ret_n);
    /* Test runs (store_tests.h); optional: NULL makes the ls_store_* call fail
     * with -ENOTSUP. store_tests.c has checked the arguments. */
    int (*add_test_run)(ls_store *st, const ls_test_run *run, int64_t *ret_id);
    int (*list_test_runs)(ls_store *st, int64_t build_id, ls_test_run **ret_runs, size_t *ret_n);
    /* Tool-usage events (store_tools.h); optional like the test runs.
     * store_tools.c has checked the arguments. */
    int (*add_tool_events)(ls_store *st, const ls_tool_event *events, size_t n, bool *ret_added);
    int (*list_tool_events)(ls_store *st, int64_t build_id, int64_t after_id, size_t limit,
                            ls_tool_event **ret_events, size_t *ret_n);
} ls_store_ops;

/* The first member of every back end's store object. */
struct ls_store {
    const ls_store_ops *ops;
};

/* Sets this thread's ls_store_last_error() message (printf format). */
void ls_store_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sets the message "no step STEP in build BUILD" and returns -ENOENT. */
int ls_store_no_step(int64_t build_id, int step);

#endif
