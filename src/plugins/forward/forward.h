/* The first-party log plugin "forward": sends every line, labelled and
 * timestamped, to Grafana Loki, an HTTP endpoint (NDJSON), syslog (RFC 5424,
 * TCP or UDP) or a file, in batches from a bounded queue with retries. */
#ifndef LS_PLUGINS_FORWARD_H
#define LS_PLUGINS_FORWARD_H

#include "logstream/plugin.h"

extern const ls_plugin_v1 ls_plugin_forward;

#endif
