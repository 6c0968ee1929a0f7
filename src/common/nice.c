#include "common/nice.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static id_t self_tid(void)
{
    return (id_t)syscall(SYS_gettid);
}

int ls_nice_get(void)
{
    errno = 0;
    int v = getpriority(PRIO_PROCESS, self_tid());
    return errno ? 0 : v;
}

int ls_nice_thread(int n)
{
    if (n <= 0)
        return 0;
    int target = ls_nice_get() + n;
    if (target > 19)
        target = 19;
    return setpriority(PRIO_PROCESS, self_tid(), target) < 0 ? -errno : 0;
}
