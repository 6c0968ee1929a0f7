/* Positioned file I/O that retries until done, and scratch files that leave
 * nothing behind (the spool and the plugins' spill files). */
#ifndef LS_COMMON_FILEIO_H
#define LS_COMMON_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Creates a file named DIR/PREFIX-XXXXXX, opened read-write and close-on-exec,
 * and unlinks it at once: it disappears with its descriptor. Returns the
 * descriptor or a negative errno. */
int ls_open_unlinked(const char *dir, const char *prefix);

/* Writes all n bytes at off (retrying short writes and EINTR). Returns 0 or
 * a negative errno (-EIO if the file takes nothing). */
int ls_pwrite_all(int fd, const void *p, size_t n, off_t off);

/* Reads up to n bytes at off, stopping early only at the end of the file.
 * Returns the bytes read or a negative errno. */
ssize_t ls_pread_full(int fd, void *p, size_t n, off_t off);

#endif
