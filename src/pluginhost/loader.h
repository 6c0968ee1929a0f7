/* Third-party plugins: shared objects in the plugin directory, each
 * exporting an ls_plugin_v1 named LS_PLUGIN_SYMBOL. */
#ifndef LS_PLUGINHOST_LOADER_H
#define LS_PLUGINHOST_LOADER_H

#include <stddef.h>

#include "pluginhost/pluginhost.h"

/* Opens every "*.so" file of dir (in name order) and registers its plugin
 * with h. A file that cannot be loaded (dlopen or dlsym fails, the ABI
 * version differs, the name is invalid or taken) is skipped: the reason is
 * written, one line per file naming it, to *ret_errors (malloc'ed, NULL when
 * none; caller frees) and it is counted with ls_pluginhost_count_load_failure.
 * Returns the number of plugins registered, or -errno when dir cannot be
 * read. */
int ls_ph_load_dir(ls_pluginhost *h, const char *dir, char **ret_errors);

/* Loads one shared object and registers its plugin. Returns 0 or a negative
 * errno with the reason in err (errlen bytes). */
int ls_ph_load_file(ls_pluginhost *h, const char *path, char *err, size_t errlen);

#endif
