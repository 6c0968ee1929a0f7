/* The sample log plugin "resave": copies each step's log into a file in the
 * job's temp directory and says where at finalize. */
#ifndef LS_PLUGINS_RESAVE_H
#define LS_PLUGINS_RESAVE_H

#include "logstream/plugin.h"

extern const ls_plugin_v1 ls_plugin_resave;

#endif
