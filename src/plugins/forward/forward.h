/* The first-party log plugin "forward": sends every line, labelled and
 * timestamped, to Grafana Loki, an HTTP endpoint (NDJSON), syslog (RFC 5424,
 * TCP or UDP) or a file, in batches from a bounded queue with retries. */
#ifndef LS_PLUGINS_FORWARD_H
#define LS_PLUGINS_FORWARD_H

#include "logstream/plugin.h"

extern const ls_plugin_v1 ls_plugin_forward;

/* For the worker, which stores only a notice on the server for a step whose
 * log is forwarded with replace_log (docs/forward.md): reads the plugin's
 * settings (settings_json, the JSON object the context gives the plugin) the
 * way the plugin does. Returns 1 and stores in *ret_display (malloc'ed, the
 * caller frees it) where the lines go, e.g. "Loki at http://loki:3100/…"
 * (without credentials), when the settings are valid and replace_log covers
 * the step or service named step_name; 0 otherwise (no target, replace_log
 * off or not naming it, settings the plugin would refuse: then the whole log
 * is stored as usual and the plugin says what is wrong). */
int ls_forward_replaced_log(const char *settings_json, const char *step_name, char **ret_display);

#endif
