/* bench/query_ll.c: the query-file floor (built by bench/run).
 *
 *   query_ll ANSWERFILE [--mt] -f MOUNTPOINT
 *
 * The least a FUSE file that answers a write can cost: one file, `query`,
 * opened as cidcache opens its query files (direct I/O, not seekable, no
 * flush); a write is taken whole and a read returns ANSWERFILE's bytes from
 * the offset asked. A transaction (open, write, read to EOF, close) makes the
 * same round trips as a query-file hit: OPEN, WRITE, READ, READ at EOF, RELEASE.
 * A read at the kernel's offset gets the answer from that offset less the
 * bytes written on the handle (a write advanced the file position), so the
 * answer starts at the first read, as a query file's does.
 * Single-threaded loop (with --mt: libfuse's multi-threaded loop, configured
 * as cidcache's), no state beyond the answer: the floor, not a cache.
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *query_name = "query";
static char *answer;
static size_t answer_size;

static void stat_of(fuse_ino_t ino, struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == 1) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | 0666;
        st->st_nlink = 1;
    }
}

static void query_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
    if (parent != 1 || strcmp(name, query_name) != 0) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = 2;
    e.attr_timeout = 86400.0;
    e.entry_timeout = 86400.0;
    stat_of(2, &e.attr);
    fuse_reply_entry(req, &e);
}

static void query_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void)fi;
    if (ino != 1 && ino != 2) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    stat_of(ino, &st);
    fuse_reply_attr(req, &st, 86400.0);
}

static void query_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    if (ino != 2) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    size_t *written = calloc(1, sizeof *written);
    if (!written) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)written;
    fi->direct_io = 1;
    fi->nonseekable = 1;
    fi->noflush = 1;
    fuse_reply_open(req, fi);
}

static void query_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                        struct fuse_file_info *fi) {
    (void)ino; (void)buf;
    size_t *written = (size_t *)(uintptr_t)fi->fh;
    if ((size_t)off + size > *written) *written = (size_t)off + size;
    fuse_reply_write(req, size);
}

static void query_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)ino;
    size_t written = *(size_t *)(uintptr_t)fi->fh;
    size_t at = (size_t)off > written ? (size_t)off - written : 0;
    if (at >= answer_size) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size_t left = answer_size - at;
    fuse_reply_buf(req, answer + at, size < left ? size : left);
}

static void query_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    (void)ino;
    free((void *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops operations = {
    .lookup = query_lookup,
    .getattr = query_getattr,
    .open = query_open,
    .write = query_write,
    .read = query_read,
    .release = query_release,
};

static int load_answer(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return -1; }
    long size = ftell(f);
    rewind(f);
    answer = malloc(size > 0 ? (size_t)size : 1);
    answer_size = answer ? fread(answer, 1, (size_t)size, f) : 0;
    fclose(f);
    return answer && answer_size == (size_t)size ? 0 : -1;
}

int main(int argc, char *argv[]) {
    if (argc < 2 || load_answer(argv[1]) != 0) {
        fprintf(stderr, "usage: query_ll ANSWERFILE [--mt] [fuse options] MOUNTPOINT\n");
        return 1;
    }
    int multithreaded = argc > 2 && strcmp(argv[2], "--mt") == 0;
    int skip = multithreaded ? 2 : 1;
    argv[skip] = argv[0];
    struct fuse_args args = FUSE_ARGS_INIT(argc - skip, argv + skip);
    struct fuse_cmdline_opts opts;
    if (fuse_parse_cmdline(&args, &opts) != 0 || !opts.mountpoint) return 1;
    int status = 1;
    struct fuse_session *se = fuse_session_new(&args, &operations, sizeof operations, NULL);
    if (se && fuse_set_signal_handlers(se) == 0) {
        if (fuse_session_mount(se, opts.mountpoint) == 0) {
            if (multithreaded) {
                struct fuse_loop_config *config = fuse_loop_cfg_create();
                fuse_loop_cfg_set_clone_fd(config, 0);
                fuse_loop_cfg_set_idle_threads(config, 8);
                fuse_loop_cfg_set_max_threads(config, 64);
                status = fuse_session_loop_mt(se, config) != 0;
                fuse_loop_cfg_destroy(config);
            } else {
                status = fuse_session_loop(se) != 0;
            }
            fuse_session_unmount(se);
        }
        fuse_remove_signal_handlers(se);
    }
    if (se) fuse_session_destroy(se);
    free(opts.mountpoint);
    fuse_opt_free_args(&args);
    return status;
}
