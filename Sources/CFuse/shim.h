#ifndef CIDCACHE_CFUSE_SHIM_H
#define CIDCACHE_CFUSE_SHIM_H
// libfuse needs FUSE_USE_VERSION before its headers, and its loop entry
// point is a function-like macro; this header settles both for Swift.
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <errno.h>
#include <sys/xattr.h>

static inline int cidcache_fuse_loop_mt(struct fuse_session *se, struct fuse_loop_config *config) {
    return fuse_session_loop_mt(se, config);
}

// Bitfields of fuse_file_info, set from Swift.
static inline void cidcache_fi_set_direct_io(struct fuse_file_info *fi, int v) { fi->direct_io = v; }
static inline void cidcache_fi_set_keep_cache(struct fuse_file_info *fi, int v) { fi->keep_cache = v; }
static inline void cidcache_fi_set_nonseekable(struct fuse_file_info *fi, int v) { fi->nonseekable = v; }
static inline void cidcache_fi_set_cache_readdir(struct fuse_file_info *fi, int v) { fi->cache_readdir = v; }
static inline void cidcache_fi_set_noflush(struct fuse_file_info *fi, int v) { fi->noflush = v; }
#endif
