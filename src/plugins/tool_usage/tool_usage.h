/* The first-party log plugin "tool-usage": recognises publishes and deploys
 * (recognizer.h) and sends each event to the server's
 * POST /api/v1/builds/{build}/tool-usage as it is recognised. */
#ifndef LS_PLUGINS_TOOL_USAGE_H
#define LS_PLUGINS_TOOL_USAGE_H

#include "logstream/plugin.h"

extern const ls_plugin_v1 ls_plugin_tool_usage;

#endif
