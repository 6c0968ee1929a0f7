#include "pluginhost/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "logstream/plugin.h"

int ls_ph_load_file(ls_pluginhost *h, const char *path, char *err, size_t errlen)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(err, errlen, "cannot load: %s", dlerror());
        return -ENOEXEC;
    }
    const ls_plugin_v1 *def = dlsym(dl, LS_PLUGIN_SYMBOL);
    if (!def) {
        snprintf(err, errlen, "no exported '%s' descriptor: not a logstream plugin",
                 LS_PLUGIN_SYMBOL);
        dlclose(dl);
        return -ENOEXEC;
    }
    /* abi_version is first in every version of the descriptor: safe to read
     * before knowing which version this is. */
    int rc = ls_pluginhost_add(h, def, dl, err, errlen);
    if (rc < 0)
        dlclose(dl);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_shared_object(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 3 && e->d_name[0] != '.' && strcmp(e->d_name + n - 3, ".so") == 0;
}

int ls_ph_load_dir(ls_pluginhost *h, const char *dir, char **ret_errors)
{
    struct dirent **names = NULL;
    ls_buf errors = LS_BUF_INIT, path = LS_BUF_INIT;
    int n = scandir(dir, &names, is_shared_object, by_name);
    if (n < 0)
        return -errno;
    int loaded = 0;
    for (int i = 0; i < n; i++) {
        char err[512];
        ls_buf_reset(&path);
        ls_buf_printf(&path, "%s/%s", dir, names[i]->d_name);
        if (ls_ph_load_file(h, path.data, err, sizeof(err)) == 0) {
            loaded++;
        } else {
            ls_buf_printf(&errors, "%s: %s\n", path.data, err);
            ls_pluginhost_count_load_failure(h);
        }
        free(names[i]);
    }
    free(names);
    ls_buf_free(&path);
    *ret_errors = errors.len ? ls_buf_steal(&errors) : NULL;
    ls_buf_free(&errors);
    return loaded;
}
