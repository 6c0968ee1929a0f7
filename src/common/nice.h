/* Thread priority: the worker's upload thread (and, when asked, the plugin
 * host) yields to the steps on a busy machine. */
#ifndef LS_COMMON_NICE_H
#define LS_COMMON_NICE_H

/* Raises the calling thread's nice value by n (Linux keeps nice values per
 * thread; threads it starts afterwards inherit the new value), at most to 19.
 * n <= 0 does nothing. Returns 0 or a negative errno. */
int ls_nice_thread(int n);

/* The calling thread's nice value. */
int ls_nice_get(void);

#endif
