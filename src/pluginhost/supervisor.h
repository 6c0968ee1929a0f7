/* The supervisor: the host thread that keeps time. It tells the user when a
 * plugin's queue is full and when it has caught up, trips the circuit breaker
 * (queue over --plugin-max-pending for --plugin-breaker-window), stops a
 * plugin that cannot drain its queue within the window after the finish line,
 * and abandons a finalize that exceeds --plugin-finalize-timeout. It waits on
 * a condition variable until the next deadline or state change: no polling.
 * Its functions are declared in internal.h. */
#ifndef LS_PLUGINHOST_SUPERVISOR_H
#define LS_PLUGINHOST_SUPERVISOR_H

#include "pluginhost/internal.h"

#endif
