/* The host's input: the context line, then `STEP_ID:TEXT` lines, then the
 * finish line `##[logplugin.finish]NONCE`. Read in large blocks at full speed
 * and dispatched to every running plugin's queue; a plugin whose queue is
 * full loses the line (counted) instead of slowing the input. Its functions
 * are declared in internal.h. */
#ifndef LS_PLUGINHOST_INPUT_H
#define LS_PLUGINHOST_INPUT_H

#include "pluginhost/internal.h"

/* The finish line's text before the nonce. */
#define LS_PH_FINISH_PREFIX "##[logplugin.finish]"

#endif
