/* JSON string literals for the plugins' hand-built JSON (the forward plugin
 * encodes every log line, so it does not go through jansson): escapes what
 * JSON requires and replaces invalid UTF-8 with U+FFFD, so any log byte
 * sequence gives valid JSON. Shared by the forward and tool-usage plugins. */
#ifndef LS_PLUGINS_FORWARD_JSON_TEXT_H
#define LS_PLUGINS_FORWARD_JSON_TEXT_H

#include <stddef.h>

#include "common/buf.h"
#include "common/json_text.h"

/* Quoted JSON strings: ls_json_put_string() from common/json_text.h. */

/* Length of the longest prefix of s (at most max bytes of len) that does not
 * end inside a UTF-8 sequence: for cutting text without splitting a character. */
size_t ls_plugin_utf8_cut(const char *s, size_t len, size_t max);

#endif
