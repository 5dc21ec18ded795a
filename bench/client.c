/* bench/client.c: the C side of the cidcache benchmark (built by bench/run).
 *
 *   client lat   OUT N PATH           open, read to EOF, close PATH N times
 *   client query OUT N PATH REQFILE   N query-file transactions (O_RDWR, write, read to EOF, close)
 *   client rand  OUT LISTFILE         open, read to EOF, close of each path in LISTFILE (one a line)
 *   client tput  SECONDS THREADS PATH open, read to EOF, close in THREADS pthreads; prints ops/s
 *   client gen   PATH FIRST COUNT THREADS
 *                                     COUNT distinct chat requests through the query file PATH
 *                                     (contents "bench-entry-<i>", i from FIRST); prints done/failed
 *
 * Latency modes write one little-endian uint32 of nanoseconds a sample to OUT
 * (after 5% warm-up iterations that are not recorded, except in `rand`).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *path) {
    fprintf(stderr, "client: %s %s: %s\n", what, path ? path : "", strerror(errno));
    exit(1);
}

/* One open, read to EOF, close; the number of bytes read, or -1. */
static long read_file(const char *path, char *buffer, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, buffer, size);
        if (n < 0) { if (errno == EINTR) continue; close(fd); return -1; }
        if (n == 0) break;
        total += n;
    }
    close(fd);
    return total;
}

/* One query transaction; the number of answer bytes, or -1. */
static long transact(const char *path, const char *request, size_t length, char *buffer, size_t size) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    if (write(fd, request, length) != (ssize_t)length) { close(fd); return -1; }
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, buffer, size);
        if (n < 0) { if (errno == EINTR) continue; close(fd); return -1; }
        if (n == 0) break;
        total += n;
    }
    close(fd);
    return total;
}

static char *slurp(const char *path, size_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (fread(data, 1, (size_t)size, f) != (size_t)size) die("cannot read", path);
    data[size] = 0;
    fclose(f);
    *length = (size_t)size;
    return data;
}

static void write_samples(const char *out, uint32_t *samples, size_t n) {
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(samples, sizeof(uint32_t), n, f) != n) die("cannot write", out);
    fclose(f);
}

static uint32_t clamp32(uint64_t ns) { return ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns; }

/* ---- throughput ---- */

struct worker {
    const char *path;
    volatile int *stop;
    uint64_t ops, failures;
    pthread_t thread;
};

static void *tput_worker(void *arg) {
    struct worker *w = arg;
    char buffer[65536];
    while (!*w->stop) {
        if (read_file(w->path, buffer, sizeof buffer) < 0) w->failures++;
        else w->ops++;
    }
    return NULL;
}

/* ---- generation ---- */

static const char *gen_path;
static atomic_long gen_next, gen_end, gen_done, gen_failed;

static void *gen_worker(void *arg) {
    (void)arg;
    char request[256], buffer[65536];
    for (;;) {
        long i = atomic_fetch_add(&gen_next, 1);
        if (i >= gen_end) break;
        int length = snprintf(request, sizeof request,
                              "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"bench-entry-%ld\"}],"
                              "\"temperature\":0}", i);
        long got = -1;
        for (int attempt = 0; attempt < 5 && got < 0; attempt++) {
            got = transact(gen_path, request, (size_t)length, buffer, sizeof buffer);
            if (got < 0) usleep(20000);
        }
        if (got < 0) atomic_fetch_add(&gen_failed, 1);
        else atomic_fetch_add(&gen_done, 1);
    }
    return NULL;
}

int main(int argc, char **argv) {
    static char buffer[65536];
    if (argc < 2) goto usage;
    const char *mode = argv[1];
    if (!strcmp(mode, "lat") && argc == 5) {
        size_t n = strtoul(argv[3], NULL, 10), warm = n / 20 + 1;
        uint32_t *samples = malloc(n * sizeof *samples);
        for (size_t i = 0; i < warm; i++)
            if (read_file(argv[4], buffer, sizeof buffer) < 0) die("cannot read", argv[4]);
        for (size_t i = 0; i < n; i++) {
            uint64_t t = now_ns();
            if (read_file(argv[4], buffer, sizeof buffer) < 0) die("cannot read", argv[4]);
            samples[i] = clamp32(now_ns() - t);
        }
        write_samples(argv[2], samples, n);
        return 0;
    }
    if (!strcmp(mode, "query") && argc == 6) {
        size_t n = strtoul(argv[3], NULL, 10), warm = n / 20 + 1, length;
        char *request = slurp(argv[5], &length);
        uint32_t *samples = malloc(n * sizeof *samples);
        for (size_t i = 0; i < warm; i++)
            if (transact(argv[4], request, length, buffer, sizeof buffer) < 0) die("query failed", argv[4]);
        for (size_t i = 0; i < n; i++) {
            uint64_t t = now_ns();
            if (transact(argv[4], request, length, buffer, sizeof buffer) < 0) die("query failed", argv[4]);
            samples[i] = clamp32(now_ns() - t);
        }
        write_samples(argv[2], samples, n);
        return 0;
    }
    if (!strcmp(mode, "rand") && argc == 4) {
        size_t length;
        char *list = slurp(argv[3], &length);
        size_t n = 0, cap = 1024;
        uint32_t *samples = malloc(cap * sizeof *samples);
        for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
            uint64_t t = now_ns();
            if (read_file(line, buffer, sizeof buffer) < 0) die("cannot read", line);
            if (n == cap) samples = realloc(samples, (cap *= 2) * sizeof *samples);
            samples[n++] = clamp32(now_ns() - t);
        }
        write_samples(argv[2], samples, n);
        return 0;
    }
    if (!strcmp(mode, "tput") && argc == 5) {
        double seconds = atof(argv[2]);
        int threads = atoi(argv[3]);
        volatile int stop = 0;
        struct worker *workers = calloc((size_t)threads, sizeof *workers);
        uint64_t start = now_ns();
        for (int i = 0; i < threads; i++) {
            workers[i].path = argv[4];
            workers[i].stop = &stop;
            pthread_create(&workers[i].thread, NULL, tput_worker, &workers[i]);
        }
        usleep((useconds_t)(seconds * 1e6));
        stop = 1;
        uint64_t ops = 0, failures = 0;
        for (int i = 0; i < threads; i++) {
            pthread_join(workers[i].thread, NULL);
            ops += workers[i].ops;
            failures += workers[i].failures;
        }
        double elapsed = (double)(now_ns() - start) / 1e9;
        printf("%.1f %llu\n", (double)ops / elapsed, (unsigned long long)failures);
        return 0;
    }
    if (!strcmp(mode, "gen") && argc == 6) {
        gen_path = argv[2];
        long first = atol(argv[3]), count = atol(argv[4]);
        int threads = atoi(argv[5]);
        atomic_store(&gen_next, first);
        atomic_store(&gen_end, first + count);
        pthread_t *pool = calloc((size_t)threads, sizeof *pool);
        for (int i = 0; i < threads; i++) pthread_create(&pool[i], NULL, gen_worker, NULL);
        for (int i = 0; i < threads; i++) pthread_join(pool[i], NULL);
        printf("%ld %ld\n", atomic_load(&gen_done), atomic_load(&gen_failed));
        return 0;
    }
usage:
    fprintf(stderr, "usage: client lat OUT N PATH | query OUT N PATH REQFILE | rand OUT LISTFILE | "
                    "tput SECONDS THREADS PATH | gen PATH FIRST COUNT THREADS\n");
    return 2;
}
