/* The first-party log plugins compiled into logstream: one table, in the
 * order they run. A new built-in plugin adds its descriptor here. */
#ifndef LS_PLUGINS_BUILTIN_H
#define LS_PLUGINS_BUILTIN_H

#include <stddef.h>

#include "logstream/plugin.h"

/* Returns the built-in plugins (static table) and stores their count in *ret_count. */
const ls_plugin_v1 *const *ls_builtin_plugins(size_t *ret_count);

#endif
