/* A plugin's run: its context (what the plugin sees of the job and the host
 * functions it may call) and its thread (init, every queued line, finalize,
 * destroy). The structures live in internal.h. */
#ifndef LS_PLUGINHOST_RUNNER_H
#define LS_PLUGINHOST_RUNNER_H

#include "pluginhost/internal.h"

/* Creates a runner for def (not started); free with ls_runner_free. */
ls_runner *ls_runner_new(struct ls_pluginhost *h, const ls_plugin_v1 *def);
/* Frees a runner whose thread has exited or never started; NULL is a no-op. */
void ls_runner_free(ls_runner *r);

#endif
