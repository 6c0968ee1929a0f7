/* store_tools.h entry points: argument checks shared by every back end, then
 * dispatch to the back end's ops. */
#include <errno.h>
#include <string.h>

#include "store/store_tools.h"

#include "store/store_backend.h"

static int unsupported(void)
{
    ls_store_set_error("this storage back end does not keep tool-usage events");
    return -ENOTSUP;
}

static bool text_ok(const char *s, size_t min, size_t max)
{
    size_t n = strnlen(s, max);
    return n >= min && n < max;
}

int ls_store_add_tool_events(ls_store *st, const ls_tool_event *events, size_t n, bool *ret_added)
{
    if (n == 0)
        return 0;
    if (!events)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        const ls_tool_event *e = &events[i];
        if (e->build_id <= 0 || e->step <= 0 || e->seq < 0 || e->line < 0 ||
            !text_ok(e->tool, 1, LS_TOOL_NAME_MAX) || !text_ok(e->action, 1, LS_TOOL_NAME_MAX) ||
            !text_ok(e->target, 0, LS_TOOL_TEXT_MAX) || !text_ok(e->details, 0, LS_TOOL_TEXT_MAX) ||
            !text_ok(e->outcome, 1, 16) || !text_ok(e->source, 1, 16)) {
            ls_store_set_error("bad tool-usage event %zu: build, step, seq or a text field out of "
                               "range",
                               i);
            return -EINVAL;
        }
    }
    if (!st->ops->add_tool_events)
        return unsupported();
    return st->ops->add_tool_events(st, events, n, ret_added);
}

int ls_store_list_tool_events(ls_store *st, int64_t build_id, int64_t after_id, size_t limit,
                              ls_tool_event **ret_events, size_t *ret_n)
{
    if (!ret_events || !ret_n || after_id < 0)
        return -EINVAL;
    if (!st->ops->list_tool_events)
        return unsupported();
    return st->ops->list_tool_events(st, build_id, after_id, limit, ret_events, ret_n);
}
