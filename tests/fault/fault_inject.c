/* fault_inject.c - an LD_PRELOAD shim for tests: makes the n-th write,
 * flush or close of the files whose path contains a pattern fail, as a
 * full disk or a failing device would, so a test can check a program's
 * reaction to a failure at every point of a save.
 *
 * Counted calls, on file descriptors whose path (readlink /proc/self/fd/N)
 * contains RNNC_FAULT_PATTERN: write, pwrite, pwrite64, writev, pwritev,
 * pwritev64, fsync, fdatasync, close, ftruncate, ftruncate64.
 *
 * Environment:
 *   RNNC_FAULT_PATTERN     substring of the path (required; unset: no-op)
 *   RNNC_FAULT_N           the counted call that fails (1-based; 0 or
 *                          unset: none fails, calls are only counted)
 *   RNNC_FAULT_ERRNO       errno of the failure (default 28, ENOSPC)
 *   RNNC_FAULT_COUNT_FILE  at exit, the number of counted calls is
 *                          written here (as decimal text)
 *   RNNC_FAULT_LOG         at exit, one line per counted call ("3 fsync
 *                          /tmp/x.h5.tmp.1.0") is written here
 *
 * A failing close closes the descriptor first (Linux always releases it).
 * A failing write writes nothing. Built without sanitizers (it runs inside
 * sanitized programs, which then need ASAN_OPTIONS=verify_asan_link_order=0). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOG_MAX 256

static long counted;
static char log_lines[LOG_MAX][160];

/* A symbol of the next library (libc) as a function pointer. */
static void *next_sym(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

/* Whether fd's path holds the pattern. */
static int matches(int fd)
{
    const char *pat = getenv("RNNC_FAULT_PATTERN");
    char link[64], path[4096];
    if (!pat || !pat[0] || fd < 0)
        return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    return strstr(path, pat) != NULL;
}

/* Counts a call on fd; returns the errno to fail it with, or 0. */
static int should_fail(int fd, const char *what)
{
    if (!matches(fd))
        return 0;
    long k = __atomic_add_fetch(&counted, 1, __ATOMIC_SEQ_CST);
    if (k <= LOG_MAX) {
        char link[64], path[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        path[n > 0 ? n : 0] = '\0';
        /* The path's tail is what tells files apart. */
        size_t len = strlen(path);
        const char *tail = len > 120 ? path + len - 120 : path;
        snprintf(log_lines[k - 1], sizeof log_lines[0], "%ld %s %.120s", k, what, tail);
    }
    const char *nth = getenv("RNNC_FAULT_N");
    if (!nth || atol(nth) != k)
        return 0;
    const char *e = getenv("RNNC_FAULT_ERRNO");
    int err = e ? atoi(e) : ENOSPC;
    return err > 0 ? err : ENOSPC;
}

#define FAIL_OR(fd, what, call)                                                                    \
    do {                                                                                           \
        int err_ = should_fail(fd, what);                                                          \
        if (err_) {                                                                                \
            errno = err_;                                                                          \
            return -1;                                                                             \
        }                                                                                          \
        return call;                                                                               \
    } while (0)

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev64_fn)(int, const struct iovec *, int, off64_t);
typedef int (*fd_fn)(int);
typedef int (*trunc_fn)(int, off_t);
typedef int (*trunc64_fn)(int, off64_t);

/* Function pointers from dlsym, converted without a cast between object
 * and function pointers (-Wpedantic). */
#define NEXT(type, name, var)                                                                      \
    type var;                                                                                      \
    do {                                                                                           \
        void *p_ = next_sym(name);                                                                 \
        memcpy(&var, &p_, sizeof var);                                                             \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    NEXT(write_fn, "write", f);
    FAIL_OR(fd, "write", f(fd, buf, n));
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    NEXT(pwrite_fn, "pwrite", f);
    FAIL_OR(fd, "pwrite", f(fd, buf, n, off));
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    NEXT(pwrite64_fn, "pwrite64", f);
    FAIL_OR(fd, "pwrite64", f(fd, buf, n, off));
}

ssize_t writev(int fd, const struct iovec *v, int n)
{
    NEXT(writev_fn, "writev", f);
    FAIL_OR(fd, "writev", f(fd, v, n));
}

ssize_t pwritev(int fd, const struct iovec *v, int n, off_t off)
{
    NEXT(pwritev_fn, "pwritev", f);
    FAIL_OR(fd, "pwritev", f(fd, v, n, off));
}

ssize_t pwritev64(int fd, const struct iovec *v, int n, off64_t off)
{
    NEXT(pwritev64_fn, "pwritev64", f);
    FAIL_OR(fd, "pwritev64", f(fd, v, n, off));
}

int fsync(int fd)
{
    NEXT(fd_fn, "fsync", f);
    FAIL_OR(fd, "fsync", f(fd));
}

int fdatasync(int fd)
{
    NEXT(fd_fn, "fdatasync", f);
    FAIL_OR(fd, "fdatasync", f(fd));
}

int ftruncate(int fd, off_t len)
{
    NEXT(trunc_fn, "ftruncate", f);
    FAIL_OR(fd, "ftruncate", f(fd, len));
}

int ftruncate64(int fd, off64_t len)
{
    NEXT(trunc64_fn, "ftruncate64", f);
    FAIL_OR(fd, "ftruncate64", f(fd, len));
}

int close(int fd)
{
    NEXT(fd_fn, "close", f);
    int err = should_fail(fd, "close");
    int r = f(fd);
    if (err) {
        errno = err;
        return -1;
    }
    return r;
}

/* Writes text to a file with the real write (not counted). */
static void put_file(const char *path, const char *text, size_t n)
{
    NEXT(write_fn, "write", w);
    NEXT(fd_fn, "close", c);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    while (n > 0) {
        ssize_t k = w(fd, text, n);
        if (k <= 0)
            break;
        text += k;
        n -= (size_t)k;
    }
    c(fd);
}

__attribute__((destructor)) static void report(void)
{
    const char *cf = getenv("RNNC_FAULT_COUNT_FILE"), *lf = getenv("RNNC_FAULT_LOG");
    if (cf && cf[0]) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%ld\n", counted);
        put_file(cf, buf, (size_t)n);
    }
    if (lf && lf[0]) {
        static char all[LOG_MAX * 162];
        size_t at = 0;
        for (long i = 0; i < counted && i < LOG_MAX; i++)
            at += (size_t)snprintf(all + at, sizeof all - at, "%s\n", log_lines[i]);
        put_file(lf, all, at);
    }
}
