/* Build and step status names, shared by every back end and the API layer. */
#include "store/store.h"

#include <errno.h>
#include <string.h>

static const char *const status_names[] = {
    [LS_STATUS_PENDING] = "pending",   [LS_STATUS_RUNNING] = "running",
    [LS_STATUS_SUCCESS] = "success",   [LS_STATUS_FAILURE] = "failure",
    [LS_STATUS_CANCELED] = "canceled",
};

#define N_STATUS (sizeof(status_names) / sizeof(status_names[0]))

const char *ls_status_name(ls_status s)
{
    if ((unsigned)s >= N_STATUS)
        return "unknown";
    return status_names[s];
}

int ls_status_parse(const char *name, ls_status *ret)
{
    if (!name)
        return -EINVAL;
    for (size_t i = 0; i < N_STATUS; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *ret = (ls_status)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool ls_status_is_final(ls_status s)
{
    return s == LS_STATUS_SUCCESS || s == LS_STATUS_FAILURE || s == LS_STATUS_CANCELED;
}
