#include "plugins/builtin.h"

#include "plugins/forward/forward.h"
#include "plugins/resave/resave.h"
#include "plugins/test_results/test_results.h"
#include "plugins/tool_usage/tool_usage.h"

static const ls_plugin_v1 *const builtin_plugins[] = {
    &ls_plugin_resave,
    &ls_plugin_test_results,
    &ls_plugin_tool_usage,
    &ls_plugin_forward,
};

const ls_plugin_v1 *const *ls_builtin_plugins(size_t *ret_count)
{
    *ret_count = sizeof(builtin_plugins) / sizeof(builtin_plugins[0]);
    return builtin_plugins;
}
