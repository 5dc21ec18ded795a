#define _GNU_SOURCE
#include <fcntl.h>
#include "CLinux.h"

int cidcache_reserve_blocks(int fd, long long offset, long long length) {
    return fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
}
