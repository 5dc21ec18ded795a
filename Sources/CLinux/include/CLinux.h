#ifndef CIDCACHE_CLINUX_H
#define CIDCACHE_CLINUX_H

/// Reserves disk blocks for [offset, offset + length) of a file without
/// changing its size (fallocate with FALLOC_FL_KEEP_SIZE, which glibc
/// declares only for _GNU_SOURCE). 0 on success, -1 with errno set.
int cidcache_reserve_blocks(int fd, long long offset, long long length);

#endif
