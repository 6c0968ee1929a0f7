/* store.h entry points: argument checks shared by every back end, then
 * dispatch to the back end's ops. */
#include <errno.h>
#include <string.h>

#include "store/store_backend.h"

/* A name must be non-empty and fit an ls_*_info name field with its NUL. */
static int check_name(const char *name, const char *what)
{
    size_t n = name ? strnlen(name, LS_NAME_MAX) : 0;
    if (n == 0 || n >= LS_NAME_MAX) {
        ls_store_set_error("%s name must be 1 to %d bytes", what, LS_NAME_MAX - 1);
        return -EINVAL;
    }
    return 0;
}

void ls_store_free(ls_store *st)
{
    if (st)
        st->ops->free(st);
}

int ls_store_create_build(ls_store *st, const char *name, const ls_step_info *steps, size_t n_steps,
                          ls_build_info *ret_build)
{
    int r = check_name(name, "build");
    if (r < 0)
        return r;
    if (n_steps && !steps)
        return -EINVAL;
    for (size_t i = 0; i < n_steps; i++) {
        r = check_name(steps[i].name, "step");
        if (r < 0)
            return r;
    }
    return st->ops->create_build(st, name, steps, n_steps, ret_build);
}

int ls_store_get_build(ls_store *st, int64_t build_id, ls_build_info *ret_build,
                       ls_step_info **ret_steps, size_t *ret_n_steps)
{
    if (ret_steps && !ret_n_steps)
        return -EINVAL;
    return st->ops->get_build(st, build_id, ret_build, ret_steps, ret_n_steps);
}

int ls_store_list_builds(ls_store *st, int64_t before_id, size_t limit, ls_build_info **ret_builds,
                         size_t *ret_n)
{
    if (before_id < 0)
        return -EINVAL;
    return st->ops->list_builds(st, before_id, limit, ret_builds, ret_n);
}

int ls_store_get_step(ls_store *st, int64_t build_id, int step, ls_step_info *ret_step)
{
    return st->ops->get_step(st, build_id, step, ret_step);
}

int ls_store_update_step(ls_store *st, const ls_step_info *step)
{
    return st->ops->update_step(st, step);
}

int ls_store_update_build(ls_store *st, const ls_build_info *build)
{
    return st->ops->update_build(st, build);
}

int ls_store_append(ls_store *st, const ls_store_batch *batches, size_t n_batches)
{
    if (n_batches == 0)
        return 0;
    if (!batches)
        return -EINVAL;
    return st->ops->append(st, batches, n_batches);
}

int ls_store_read(ls_store *st, int64_t build_id, int step, uint64_t from_seq, uint64_t limit,
                  ls_store_line_cb cb, void *userdata)
{
    if (!cb)
        return -EINVAL;
    return st->ops->read(st, build_id, step, from_seq, limit, cb, userdata);
}

bool ls_store_is_pg_url(const char *s)
{
    return s && (strncmp(s, "postgres://", 11) == 0 || strncmp(s, "postgresql://", 13) == 0);
}

int ls_store_open_url(const char *url_or_path, const ls_store_options *opts, ls_store **ret_store)
{
    if (ls_store_is_pg_url(url_or_path))
        return ls_store_open_pg(url_or_path, opts, ret_store);
    return ls_store_open_sqlite(url_or_path, opts, ret_store);
}

static int no_limits(void)
{
    ls_store_set_error("this storage back end cannot drop or delete logs");
    return -EOPNOTSUPP;
}

int ls_store_drop_middle(ls_store *st, int64_t build_id, int step, uint64_t head_bytes,
                         uint64_t excess_bytes, ls_step_info *ret_step)
{
    if (!st->ops->drop_middle)
        return no_limits();
    return st->ops->drop_middle(st, build_id, step, head_bytes, excess_bytes, ret_step);
}

int ls_store_build_bytes(ls_store *st, int64_t build_id, uint64_t *ret_bytes)
{
    if (!ret_bytes)
        return -EINVAL;
    if (!st->ops->build_bytes)
        return no_limits();
    return st->ops->build_bytes(st, build_id, ret_bytes);
}

int ls_store_delete_build(ls_store *st, int64_t build_id)
{
    if (!st->ops->delete_build)
        return no_limits();
    return st->ops->delete_build(st, build_id);
}

int ls_store_list_finished_before(ls_store *st, int64_t before_ms, int64_t after_id, size_t max,
                                  int64_t **ret_ids, size_t *ret_n)
{
    if (!ret_ids || !ret_n || after_id < 0)
        return -EINVAL;
    if (!st->ops->list_finished_before)
        return no_limits();
    return st->ops->list_finished_before(st, before_ms, after_id, max, ret_ids, ret_n);
}
