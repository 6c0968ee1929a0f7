#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"

int ls_open_unlinked(const char *dir, const char *prefix)
{
    size_t n = strlen(dir) + strlen(prefix) + sizeof("/-XXXXXX");
    char *path = ls_xmalloc(n);
    snprintf(path, n, "%s/%s-XXXXXX", dir, prefix);
    int fd = mkostemp(path, O_CLOEXEC);
    int r = fd < 0 ? -errno : fd;
    if (fd >= 0)
        unlink(path);
    free(path);
    return r;
}

int ls_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, c, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        c += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

ssize_t ls_pread_full(int fd, void *p, size_t n, off_t off)
{
    char *c = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, c + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}
