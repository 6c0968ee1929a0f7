/* The thread-local message behind ls_store_last_error(). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "store/store_backend.h"

#define ERROR_MAX 512

static _Thread_local char last_error[ERROR_MAX];

const char *ls_store_last_error(void)
{
    return last_error[0] ? last_error : "no error";
}

void ls_store_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
}

int ls_store_no_step(int64_t build_id, int step)
{
    ls_store_set_error("no step %d in build %lld", step, (long long)build_id);
    return -ENOENT;
}
