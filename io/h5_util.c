/* h5_util.c - checked HDF5 helpers: quiet error handling, opening files and
 * images, atomic writers, dataset reads with shape/dtype/size checks, and
 * string attributes in the forms Keras and h5py write. */
#define _POSIX_C_SOURCE 200809L

#include "io/h5_util.h"

#include "io/h5_heap_check_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* More names than any real model has; a guard against absurd attributes. */
#define MAX_ATTR_STRINGS ((hssize_t)1 << 20)
#define MAX_ATTR_BYTES ((size_t)1 << 30)
#define MAX_CHUNKS 100000

void rnnc_h5_quiet_begin(rnnc_h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void rnnc_h5_quiet_end(const rnnc_h5_quiet *q)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct {
    char *buf;
    size_t cap;
} detail_sink;

static herr_t detail_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    detail_sink *d = data;
    /* Walking upward, entry 0 is the most specific message. */
    if (n == 0 && e && e->desc)
        snprintf(d->buf, d->cap, "%s", e->desc);
    return 0;
}

const char *rnnc_h5_error_detail(char *buf, size_t cap)
{
    detail_sink d = {buf, cap};
    if (cap)
        buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_walk, &d);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

/* Formats " (HDF5: <detail>)" or "" into buf. */
static const char *hdf5_says(char *buf, size_t cap)
{
    char d[512];
    rnnc_h5_error_detail(d, sizeof d);
    if (d[0])
        snprintf(buf, cap, " (HDF5: %s)", d);
    else if (cap)
        buf[0] = '\0';
    return buf;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

rnnc_status rnnc_h5_open_read(const char *path, hid_t *out)
{
    struct stat st;
    char why[600];
    *out = -1;
    if (!path || !path[0])
        return rnnc_fail(RNNC_E_ARG, "HDF5 file: no path given");
    if (stat(path, &st) != 0)
        return rnnc_fail(RNNC_E_IO, "'%s': cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return rnnc_fail(RNNC_E_IO, "'%s' is a directory, not an HDF5 file", path);
    if (!S_ISREG(st.st_mode))
        return rnnc_fail(RNNC_E_IO, "'%s' is not a regular file", path);
    if (st.st_size == 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is empty (0 bytes), not an HDF5 file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return rnnc_fail(RNNC_E_IO, "'%s': cannot open: %s", path, strerror(errno));
    fclose(fp);
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        rnnc_h5_quiet_end(&q);
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is not an HDF5 file (no HDF5 signature; %lld bytes)",
                         path, (long long)st.st_size);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = -1;
    if (fapl >= 0) {
        /* Closing the file must close everything in it: no leaked handles. */
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
        f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        H5Pclose(fapl);
    }
    if (f < 0) {
        hdf5_says(why, sizeof why);
        rnnc_h5_quiet_end(&q);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': cannot open as HDF5 (damaged or truncated file?)%s",
                         path, why);
    }
    rnnc_h5_quiet_end(&q);
    *out = f;
    return RNNC_OK;
}

rnnc_status rnnc_h5_open_image(const void *buf, size_t size, const char *label, hid_t *out)
{
    char why[600];
    *out = -1;
    if (!buf || size == 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is empty, not an HDF5 file", label);
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    /* The superblock sits at 0, 512, 1024, 2048, ... (after a user block). */
    bool found = false;
    for (size_t off = 0; off + 8 <= size && !found; off = off ? off * 2 : 512)
        found = memcmp((const unsigned char *)buf + off, sig, 8) == 0;
    if (!found)
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is not an HDF5 file (no HDF5 signature; %zu bytes)",
                         label, size);
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    if (fapl >= 0) {
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
        /* The core driver tells open files apart by name: make it unique. */
        static unsigned serial;
        char name[64];
        snprintf(name, sizeof name, "rnnc-image-%u", serial++);
        if (H5Pset_fapl_core(fapl, 1 << 16, 0) >= 0 && H5Pset_file_image(fapl, (void *)buf, size) >= 0)
            f = H5Fopen(name, H5F_ACC_RDONLY, fapl);
        H5Pclose(fapl);
    }
    if (f < 0) {
        hdf5_says(why, sizeof why);
        rnnc_h5_quiet_end(&q);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': cannot open as HDF5 (damaged or truncated file?)%s",
                         label, why);
    }
    rnnc_h5_quiet_end(&q);
    *out = f;
    return RNNC_OK;
}

void rnnc_h5_close(hid_t f)
{
    if (f >= 0) {
        rnnc_h5_quiet q;
        rnnc_h5_quiet_begin(&q);
        H5Fclose(f);
        rnnc_h5_quiet_end(&q);
    }
}

/* ---- atomic writer ----
 *
 * HDF5 builds the file in memory (the core driver without a backing store)
 * and rnnc writes the finished image itself: every write, fsync and close
 * of the temporary file is ours, so a failure is seen with the OS's own
 * reason (errno; HDF5's sec2 driver loses it) and HDF5 is never left with
 * a half-flushed file on disk that it would try to flush again at exit. */

#define WRITE_CHUNK ((size_t)1 << 20)

/* The core driver's memory, through HDF5's file image callbacks: when the
 * file closes, its buffer is kept (not freed) and written out from there,
 * so a file needs its size in memory once, not twice. */
typedef struct writer_image {
    unsigned char *mem; /* the file's buffer (kept after close), or NULL */
    size_t cap;         /* its size in bytes (>= the file's) */
    bool kept;          /* HDF5 closed the file and handed mem over */
} writer_image;

static bool is_file_op(H5FD_file_image_op_t op)
{
    return op == H5FD_FILE_IMAGE_OP_FILE_OPEN || op == H5FD_FILE_IMAGE_OP_FILE_RESIZE;
}

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    writer_image *im = udata;
    void *p = malloc(size ? size : 1);
    if (p && is_file_op(op)) {
        im->mem = p;
        im->cap = size;
    }
    return p;
}

static void *image_memcpy(void *dst, const void *src, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    (void)udata;
    return memcpy(dst, src, size);
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    writer_image *im = udata;
    void *p = realloc(ptr, size ? size : 1);
    if (p && (is_file_op(op) || ptr == im->mem)) {
        im->mem = p;
        im->cap = size;
    }
    return p;
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    writer_image *im = udata;
    if (ptr && ptr == im->mem && op == H5FD_FILE_IMAGE_OP_FILE_CLOSE) {
        im->kept = true; /* ours now: written, then freed, by the writer */
        return 0;
    }
    if (ptr == im->mem) {
        im->mem = NULL;
        im->cap = 0;
    }
    free(ptr);
    return 0;
}

/* The callbacks' udata is the writer's image record itself (no copies). */
static void *image_udata_copy(void *udata) { return udata; }
static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

static void writer_free(rnnc_h5_writer *w)
{
    writer_image *im = w->image;
    if (im)
        free(im->mem);
    free(im);
    free(w->path);
    free(w->tmp);
    w->path = w->tmp = NULL;
    w->image = NULL;
    w->file = -1;
    w->fd = -1;
}

/* The folder part of path into buf ("." when none). */
static const char *dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == path)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
    return buf;
}

/* Whether `name` is "<base>.<tag>.<pid>.<n>[.more]" of a writer that is gone
 * (no such process) or was this process (a leftover of an earlier writer of
 * ours: only one writer per destination runs at a time). */
static bool stale_tmp_name(const char *name, const char *base, const char *tag)
{
    size_t lb = strlen(base), lt = strlen(tag);
    if (strncmp(name, base, lb) != 0 || name[lb] != '.' || strncmp(name + lb + 1, tag, lt) != 0 ||
        name[lb + 1 + lt] != '.')
        return false;
    const char *p = name + lb + 1 + lt + 1;
    char *end;
    if (*p < '1' || *p > '9')
        return false;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (errno || pid <= 0 || *end != '.' || end[1] < '0' || end[1] > '9')
        return false;
    if ((pid_t)pid == getpid())
        return true;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int rnnc_h5_clean_stale_tmp(const char *path, const char *tag)
{
    char dir[4096], full[8400];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int n = 0;
    if (!base[0] || strlen(path) >= sizeof dir)
        return 0;
    DIR *d = opendir(dir_of(path, dir, sizeof dir));
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!stale_tmp_name(e->d_name, base, tag ? tag : "tmp"))
            continue;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && unlink(full) == 0)
            n++;
    }
    closedir(d);
    return n;
}

rnnc_status rnnc_h5_writer_begin_tagged(const char *path, const char *tag, rnnc_h5_writer *w)
{
    static unsigned counter;
    char why[600];
    struct stat st;
    w->file = -1;
    w->fd = -1;
    w->path = w->tmp = NULL;
    w->image = NULL;
    if (!path || !path[0])
        return rnnc_fail(RNNC_E_ARG, "HDF5 writer: no path given");
    if (!tag || !tag[0])
        tag = "tmp";
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return rnnc_fail(RNNC_E_IO, "'%s' is a directory; cannot write a file there", path);
    /* Temporary files a killed writer of this destination left behind. */
    rnnc_h5_clean_stale_tmp(path, tag);
    size_t n = strlen(path) + strlen(tag) + 64;
    w->path = dup_str(path);
    w->tmp = malloc(n);
    w->image = calloc(1, sizeof(writer_image));
    if (!w->path || !w->tmp || !w->image) {
        writer_free(w);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    /* Reserve a unique name with O_EXCL (0666 & ~umask, like any new file);
     * the descriptor stays open for the image. */
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(w->tmp, n, "%s.%s.%ld.%u", path, tag, (long)getpid(), counter++);
        fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        rnnc_status s = rnnc_fail(RNNC_E_IO, "cannot write '%s': %s (creating a temporary file beside it)",
                                  path, strerror(errno));
        writer_free(w);
        return s;
    }
    w->fd = fd;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* A name no file can have ("<tmp>/mem": tmp is a file, not a folder):
     * HDF5 probes the name on disk before creating, and must find nothing. */
    char *mem = malloc(n + 8);
    if (fapl >= 0 && mem) {
        snprintf(mem, n + 8, "%s/mem", w->tmp);
        H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy, image_realloc, image_free,
                                          image_udata_copy, image_udata_free, w->image};
        if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 &&
            H5Pset_fapl_core(fapl, WRITE_CHUNK, 0) >= 0 && H5Pset_file_image_callbacks(fapl, &cb) >= 0)
            w->file = H5Fcreate(mem, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    }
    free(mem);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (w->file < 0) {
        hdf5_says(why, sizeof why);
        rnnc_h5_quiet_end(&q);
        close(w->fd);
        unlink(w->tmp);
        rnnc_status s = rnnc_fail(RNNC_E_IO, "cannot write '%s': HDF5 cannot create a file in memory%s", path, why);
        writer_free(w);
        return s;
    }
    rnnc_h5_quiet_end(&q);
    return RNNC_OK;
}

rnnc_status rnnc_h5_writer_begin(const char *path, rnnc_h5_writer *w)
{
    return rnnc_h5_writer_begin_tagged(path, "tmp", w);
}

void rnnc_h5_writer_discard(rnnc_h5_writer *w)
{
    if (!w)
        return;
    rnnc_h5_close(w->file); /* in memory: nothing reaches the disk */
    w->file = -1;
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->tmp)
        unlink(w->tmp);
    writer_free(w);
}

/* fsync of the folder that holds path, so the rename is durable. Some file
 * systems refuse to sync a folder (EINVAL); the rename is done either way. */
static void fsync_dir_of(const char *path)
{
    char dir[4096];
    int fd = open(dir_of(path, dir, sizeof dir), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Writes all of buf to fd; 0, or the errno of the failing write. */
static int write_all(int fd, const unsigned char *buf, size_t size)
{
    size_t done = 0;
    while (done < size) {
        size_t part = size - done < WRITE_CHUNK ? size - done : WRITE_CHUNK;
        ssize_t k = write(fd, buf + done, part);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno ? errno : EIO;
        if (k == 0)
            return ENOSPC; /* a regular file that takes nothing is full */
        done += (size_t)k;
    }
    return 0;
}

rnnc_status rnnc_h5_writer_commit(rnnc_h5_writer *w)
{
    char why[600];
    rnnc_status s = RNNC_OK;
    ssize_t size = -1;
    /* 1. The finished file, in memory (HDF5 touches no disk here): its size
     * (the end of its allocated space) once flushed, its bytes in the
     * buffer that closing hands over (see image_free). */
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) >= 0)
        size = H5Fget_file_image(w->file, NULL, 0);
    if (size <= 0)
        s = rnnc_fail(RNNC_E_IO, "cannot write '%s': HDF5 cannot finish the file%s", w->path,
                      hdf5_says(why, sizeof why));
    /* The id is released even when close reports an error (STRONG degree, in memory). */
    if (H5Fclose(w->file) < 0 && s == RNNC_OK)
        s = rnnc_fail(RNNC_E_IO, "cannot write '%s': HDF5 cannot close the file%s", w->path,
                      hdf5_says(why, sizeof why));
    w->file = -1;
    rnnc_h5_quiet_end(&q);
    writer_image *im = w->image;
    if (s == RNNC_OK && (!im->kept || !im->mem || im->cap < (size_t)size))
        s = rnnc_fail(RNNC_E_IO, "cannot write '%s': HDF5 did not hand over the file's %lld bytes", w->path,
                      (long long)size);
    const unsigned char *img = s == RNNC_OK ? im->mem : NULL;
    /* 2. Onto the disk: write, fsync, close, each with the OS's reason. */
    int err = 0;
    const char *step = "";
    if (s == RNNC_OK && (err = write_all(w->fd, img, (size_t)size)) != 0)
        step = "writing";
    else if (s == RNNC_OK && fsync(w->fd) != 0 && errno != EINVAL)
        err = errno, step = "flushing to disk";
    if (close(w->fd) != 0 && s == RNNC_OK && !err && errno != EINTR)
        err = errno, step = "closing";
    w->fd = -1;
    if (s == RNNC_OK && !err && rename(w->tmp, w->path) != 0)
        err = errno, step = "renaming the temporary file onto it";
    if (s == RNNC_OK && err)
        s = rnnc_fail(RNNC_E_IO, "cannot write '%s': %s (%s; nothing written there, an earlier file of that name is unchanged)",
                      w->path, strerror(err), step);
    if (s != RNNC_OK)
        unlink(w->tmp);
    else
        fsync_dir_of(w->path);
    writer_free(w);
    return s;
}

/* ---- paths and groups ---- */

const char *rnnc_h5_path(hid_t loc, const char *rel, char *buf, size_t cap)
{
    char base[1024] = "";
    if (cap == 0)
        return buf;
    if (rel && rel[0] == '/') {
        snprintf(buf, cap, "%s", rel);
        return buf;
    }
    ssize_t n = H5Iget_name(loc, base, sizeof base);
    if (n <= 0)
        base[0] = '\0';
    bool root = strcmp(base, "/") == 0 || base[0] == '\0';
    if (!rel || !rel[0])
        snprintf(buf, cap, "%s", root ? "/" : base);
    else
        snprintf(buf, cap, "%s/%s", root ? "" : base, rel);
    return buf;
}

bool rnnc_h5_exists(hid_t loc, const char *rel)
{
    char part[1024];
    size_t len = strlen(rel);
    if (len == 0 || len >= sizeof part)
        return false;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    bool ok = true;
    /* H5Lexists fails on a missing intermediate group, so walk prefixes. */
    for (size_t i = 0; ok && i <= len; i++) {
        if (rel[i] != '/' && rel[i] != '\0')
            continue;
        if (i == 0)
            continue;
        memcpy(part, rel, i);
        part[i] = '\0';
        ok = H5Lexists(loc, part, H5P_DEFAULT) > 0;
        if (ok && rel[i] == '/') {
            hid_t o = H5Oopen(loc, part, H5P_DEFAULT);
            ok = o >= 0 && H5Iget_type(o) == H5I_GROUP;
            if (o >= 0)
                H5Oclose(o);
        }
    }
    rnnc_h5_quiet_end(&q);
    return ok;
}

rnnc_status rnnc_h5_group_open(hid_t loc, const char *rel, const char *file, hid_t *out)
{
    char p[1200];
    *out = -1;
    if (!rnnc_h5_exists(loc, rel))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': group '%s' is missing", file,
                         rnnc_h5_path(loc, rel, p, sizeof p));
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t o = H5Oopen(loc, rel, H5P_DEFAULT);
    if (o < 0 || H5Iget_type(o) != H5I_GROUP) {
        if (o >= 0)
            H5Oclose(o);
        rnnc_h5_quiet_end(&q);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': '%s' is not a group", file,
                         rnnc_h5_path(loc, rel, p, sizeof p));
    }
    rnnc_h5_quiet_end(&q);
    *out = o;
    return RNNC_OK;
}

rnnc_status rnnc_h5_group_create(hid_t loc, const char *rel, const char *file, hid_t *out)
{
    char p[1200], why[600];
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t lcpl = H5P_DEFAULT;
    if (strchr(rel, '/') && ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0))
        *out = -1;
    else
        *out = H5Gcreate2(loc, rel, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (lcpl != H5P_DEFAULT && lcpl >= 0)
        H5Pclose(lcpl);
    rnnc_status s = RNNC_OK;
    if (*out < 0)
        s = rnnc_fail(RNNC_E_IO, "'%s': cannot create group '%s'%s", file, rnnc_h5_path(loc, rel, p, sizeof p),
                      rnnc_h5_error_detail(why, sizeof why));
    rnnc_h5_quiet_end(&q);
    return s;
}

rnnc_status rnnc_h5_group_count(hid_t grp, const char *file, size_t *n)
{
    H5G_info_t info;
    char p[1200];
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    herr_t e = H5Gget_info(grp, &info);
    rnnc_h5_quiet_end(&q);
    if (e < 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': cannot list group '%s'", file,
                         rnnc_h5_path(grp, "", p, sizeof p));
    *n = (size_t)info.nlinks;
    return RNNC_OK;
}

/* ---- datasets ---- */

/* What an on-disk numeric type is: its rnnc dtype and element size. */
typedef struct {
    H5T_class_t cls;   /* H5T_FLOAT, H5T_INTEGER or H5T_ENUM */
    size_t size;       /* bytes per element on disk */
    bool is_signed;
    rnnc_dtype dtype;  /* nearest rnnc dtype */
} disk_type;

/* Why a float type is not exactly IEEE binary32 / binary64 in either byte
 * order (into why), or NULL when it is. A type that passes has no padding
 * bits (every bit is sign, exponent or mantissa), so its pad settings
 * cannot change a value. */
static const char *float_layout_problem(hid_t t, size_t size, char *why, size_t cap)
{
    /* size 2: IEEE binary16 (Keras's float16 policy stores its variables so) */
    const bool f32 = size == 4, f16 = size == 2;
    const size_t bits = 8 * size, e_pos = f16 ? 10 : f32 ? 23 : 52,
                 e_size = f16 ? 5 : f32 ? 8 : 11, bias = f16 ? 15 : f32 ? 127 : 1023;
    const char *name = f16 ? "float16" : f32 ? "float32" : "float64";
    size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    const H5T_order_t order = H5Tget_order(t);
    const size_t prec = H5Tget_precision(t);
    const int offset = H5Tget_offset(t);
    if (order != H5T_ORDER_LE && order != H5T_ORDER_BE)
        snprintf(why, cap, "its byte order is neither little- nor big-endian");
    else if (prec != bits || offset != 0)
        snprintf(why, cap, "it has %zu significant bits at bit offset %d (IEEE %s: %zu at 0)", prec, offset, name,
                 bits);
    else if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) < 0 || spos != bits - 1 || epos != e_pos ||
             esize != e_size || mpos != 0 || msize != e_pos)
        snprintf(why, cap, "its sign is at bit %zu, exponent %zu bits at %zu, mantissa %zu bits at %zu (IEEE %s: sign %zu, exponent %zu at %zu, mantissa %zu at 0)",
                 spos, esize, epos, msize, mpos, name, bits - 1, e_size, e_pos, e_pos);
    else if (H5Tget_ebias(t) != bias)
        snprintf(why, cap, "its exponent bias is %zu (IEEE %s: %zu)", H5Tget_ebias(t), name, bias);
    else if (H5Tget_norm(t) != H5T_NORM_IMPLIED)
        snprintf(why, cap, "its mantissa is not normalized with an implied leading 1 as IEEE's");
    else
        return NULL;
    return why;
}

/* The same for an integer type of `size` bytes: all bits significant, from bit 0. */
static const char *int_layout_problem(hid_t t, size_t size, char *why, size_t cap)
{
    const H5T_order_t order = H5Tget_order(t);
    const size_t prec = H5Tget_precision(t);
    const int offset = H5Tget_offset(t);
    if (order != H5T_ORDER_LE && order != H5T_ORDER_BE)
        snprintf(why, cap, "its byte order is neither little- nor big-endian");
    else if (prec != 8 * size || offset != 0)
        snprintf(why, cap, "it has %zu significant bits at bit offset %d (a %zu-byte integer: %zu at 0)", prec, offset,
                 size, 8 * size);
    else if (H5Tget_sign(t) != H5T_SGN_NONE && H5Tget_sign(t) != H5T_SGN_2)
        snprintf(why, cap, "its sign convention is neither unsigned nor two's complement");
    else
        return NULL;
    return why;
}

static rnnc_status classify(hid_t type, const char *file, const char *path, disk_type *out)
{
    char why[300];
    H5T_class_t c = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    out->cls = c;
    out->size = size;
    out->is_signed = false;
    if (c == H5T_FLOAT) {
        if (size == 4 || size == 2) /* float16 (Keras's float16 policy) is read as float32 */
            out->dtype = RNNC_F32;
        else if (size == 8)
            out->dtype = RNNC_F64;
        else
            return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' holds %zu-byte floats; only float16, float32 and float64 are supported",
                             file, path, size);
        if (float_layout_problem(type, size, why, sizeof why))
            return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' has a %zu-byte float type that is not IEEE %s: %s; the file is damaged or was not written for rnnc",
                             file, path, size, size == 2 ? "float16" : size == 4 ? "float32" : "float64", why);
        return RNNC_OK;
    }
    if (c == H5T_INTEGER || c == H5T_ENUM) {
        hid_t base = c == H5T_ENUM ? H5Tget_super(type) : H5Tcopy(type);
        if (base < 0)
            return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s': unreadable enum type", file, path);
        out->is_signed = H5Tget_sign(base) == H5T_SGN_2;
        const bool base_ok = H5Tget_class(base) == H5T_INTEGER && H5Tget_size(base) == size;
        const char *bad = base_ok ? int_layout_problem(base, size, why, sizeof why) : NULL;
        H5Tclose(base);
        if (size != 1 && size != 2 && size != 4 && size != 8)
            return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' holds %zu-byte integers", file, path, size);
        if (!base_ok)
            return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s': an enum whose base is not a %zu-byte integer", file,
                             path, size);
        if (bad)
            return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' has a %zu-byte integer type that is not plain: %s; the file is damaged or was not written for rnnc",
                             file, path, size, bad);
        out->dtype = size == 1 && !out->is_signed ? RNNC_U8 : size <= 4 ? RNNC_I32 : RNNC_I64;
        if (size == 4 && !out->is_signed)
            out->dtype = RNNC_I64;
        return RNNC_OK;
    }
    static const char *const names[] = {"integer", "float", "time", "string", "bitfield", "opaque",
                                        "compound", "reference", "enum", "variable-length", "array"};
    const char *name = (c >= 0 && (int)c < (int)(sizeof names / sizeof names[0])) ? names[c] : "unknown";
    return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' has %s type; expected numbers (float32 or float64)",
                     file, path, name);
}

/* An open dataset with its checked shape and type. */
typedef struct {
    hid_t dset, type, space;
    rnnc_shape shape;
    disk_type dt;
    char path[1200];
} open_dataset;

static void od_close(open_dataset *d)
{
    if (d->space >= 0)
        H5Sclose(d->space);
    if (d->type >= 0)
        H5Tclose(d->type);
    if (d->dset >= 0)
        H5Dclose(d->dset);
    d->dset = d->type = d->space = -1;
}

/* The bytes the dataset stores must be what its shape and type declare:
 * exactly numel x size for contiguous and compact layouts; for chunks, no
 * more than its chunks can hold (whole chunks without filters; twice that
 * with filters, which may leave a chunk slightly larger than raw). */
static rnnc_status check_storage(const open_dataset *d, const char *file, H5D_layout_t layout,
                                 int n_filters, int chunk_rank, const hsize_t *chunk, double bytes)
{
    char sh[160];
    const double stored = (double)H5Dget_storage_size(d->dset);
    if (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT) {
        if (stored == bytes)
            return RNNC_OK;
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' stores %.0f bytes but its shape %s and %zu-byte type need %.0f; the file is damaged",
                         file, d->path, stored, rnnc_shape_str(&d->shape, sh, sizeof sh), d->dt.size, bytes);
    }
    if (layout != H5D_CHUNKED || chunk_rank != d->shape.ndim)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' has a storage layout that does not match its rank %d; the file is damaged",
                         file, d->path, d->shape.ndim);
    double n_chunks = 1, chunk_bytes = (double)d->dt.size;
    for (int i = 0; i < chunk_rank; i++) {
        if (chunk[i] == 0)
            return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' has a chunk dimension of 0; the file is damaged",
                             file, d->path);
        n_chunks *= ceil((double)d->shape.dim[i] / (double)chunk[i]);
        chunk_bytes *= (double)chunk[i];
    }
    const double most = n_chunks * chunk_bytes * (n_filters ? 2.0 : 1.0) + (n_filters ? 4096.0 : 0.0);
    if (stored <= most)
        return RNNC_OK;
    return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' stores %.0f bytes, more than its shape %s can hold in %.0f chunks of %.0f bytes; the file is damaged",
                     file, d->path, stored, rnnc_shape_str(&d->shape, sh, sizeof sh), n_chunks, chunk_bytes);
}

/* Opens rel as a dataset and checks everything knowable without reading:
 * object kind, storage (no external or virtual data), rank, dims, element
 * count, and that the declared size is possible for this file. Runs with
 * HDF5 printing off (caller's quiet scope). */
static rnnc_status od_open(hid_t loc, const char *rel, const char *file, open_dataset *d)
{
    char why[600], sh[160];
    d->dset = d->type = d->space = -1;
    rnnc_h5_path(loc, rel, d->path, sizeof d->path);
    if (!rnnc_h5_exists(loc, rel))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' is missing", file, d->path);
    hid_t o = H5Oopen(loc, rel, H5P_DEFAULT);
    if (o < 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': cannot open '%s'%s", file, d->path, hdf5_says(why, sizeof why));
    if (H5Iget_type(o) != H5I_DATASET) {
        H5Oclose(o);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': '%s' is a group, expected a dataset", file, d->path);
    }
    d->dset = o;
    hid_t dcpl = H5Dget_create_plist(d->dset);
    if (dcpl < 0) {
        od_close(d);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s': unreadable storage properties%s", file,
                         d->path, hdf5_says(why, sizeof why));
    }
    H5D_layout_t layout = H5Pget_layout(dcpl);
    int n_ext = H5Pget_external_count(dcpl);
    int n_filters = H5Pget_nfilters(dcpl);
    hsize_t chunk[H5S_MAX_RANK];
    int chunk_rank = layout == H5D_CHUNKED ? H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) : 0;
    H5Pclose(dcpl);
    /* External and virtual storage would make us read other files. */
    if (layout == H5D_VIRTUAL || n_ext != 0 || layout < 0 || n_filters < 0) {
        od_close(d);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' uses external or virtual storage, which is not accepted",
                         file, d->path);
    }
    d->type = H5Dget_type(d->dset);
    d->space = H5Dget_space(d->dset);
    if (d->type < 0 || d->space < 0) {
        od_close(d);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s': unreadable type or shape%s", file,
                         d->path, hdf5_says(why, sizeof why));
    }
    rnnc_status s = classify(d->type, file, d->path, &d->dt);
    if (s != RNNC_OK) {
        od_close(d);
        return s;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(d->space);
    int nd = H5Sget_simple_extent_ndims(d->space);
    if (sc == H5S_NULL || nd < 0 || nd > RNNC_MAX_DIMS) {
        od_close(d);
        return rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '%s' has rank %d; at most %d is supported",
                         file, d->path, nd, RNNC_MAX_DIMS);
    }
    hsize_t dims[RNNC_MAX_DIMS];
    H5Sget_simple_extent_dims(d->space, dims, NULL);
    d->shape.ndim = nd;
    for (int i = 0; i < nd; i++) {
        if (dims[i] > (hsize_t)INT64_MAX) {
            od_close(d);
            return rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '%s': dimension %d is absurd (%llu)", file,
                             d->path, i, (unsigned long long)dims[i]);
        }
        d->shape.dim[i] = (int64_t)dims[i];
    }
    size_t numel;
    s = rnnc_shape_numel(&d->shape, &numel);
    if (s != RNNC_OK) {
        od_close(d);
        return rnnc_fail_context(s, "'%s': dataset '%s': ", file, d->path);
    }
    /* Never trust a declared size: without filters the bytes must be in the
     * file; with compression, deflate cannot exceed ~1032:1. */
    hsize_t fsize = 0;
    hid_t fid = H5Iget_file_id(d->dset);
    if (fid >= 0) {
        H5Fget_filesize(fid, &fsize);
        H5Fclose(fid);
    }
    double bytes = (double)numel * (double)d->dt.size;
    double limit = n_filters == 0 ? (double)fsize : 1100.0 * (double)fsize + (double)(1 << 20);
    if (bytes > limit) {
        od_close(d);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' declares shape %s (%.0f bytes) but the file has only %llu bytes",
                         file, d->path, rnnc_shape_str(&d->shape, sh, sizeof sh), bytes,
                         (unsigned long long)fsize);
    }
    s = check_storage(d, file, layout, n_filters, chunk_rank, chunk, bytes);
    if (s != RNNC_OK)
        od_close(d);
    return s;
}

rnnc_status rnnc_h5_dataset_info(hid_t loc, const char *rel, const char *file,
                                 rnnc_shape *shape, rnnc_dtype *dtype)
{
    open_dataset d;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    rnnc_status s = od_open(loc, rel, file, &d);
    if (s == RNNC_OK) {
        *shape = d.shape;
        *dtype = d.dt.dtype;
        od_close(&d);
    }
    rnnc_h5_quiet_end(&q);
    return s;
}

/* Reads d into t (same element count; t float or integer as checked by caller). */
static rnnc_status od_read(open_dataset *d, const char *file, rnnc_tensor *t)
{
    char why[600];
    if (t->numel == 0)
        return RNNC_OK;
    if (rnnc_dtype_is_float(t->dtype)) {
        hid_t mem = t->dtype == RNNC_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
        if (H5Dread(d->dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0)
            return rnnc_fail(RNNC_E_FORMAT, "'%s': reading dataset '%s' failed%s", file, d->path,
                             hdf5_says(why, sizeof why));
        return RNNC_OK;
    }
    /* Integers and booleans: read in the native form of the disk type, then
     * widen with a range check (HDF5 would saturate silently). */
    hid_t mem = H5Tget_native_type(d->type, H5T_DIR_ASCEND);
    if (mem < 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s': no native type%s", file, d->path,
                         hdf5_says(why, sizeof why));
    size_t es = H5Tget_size(mem);
    if (es != d->dt.size || t->numel > SIZE_MAX / es) {
        H5Tclose(mem);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s': unexpected integer layout", file, d->path);
    }
    unsigned char *raw = malloc(t->numel * es);
    if (!raw) {
        H5Tclose(mem);
        return rnnc_fail(RNNC_E_NOMEM, "'%s': out of memory reading dataset '%s'", file, d->path);
    }
    herr_t e = H5Dread(d->dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
    H5Tclose(mem);
    if (e < 0) {
        free(raw);
        return rnnc_fail(RNNC_E_FORMAT, "'%s': reading dataset '%s' failed%s", file, d->path,
                         hdf5_says(why, sizeof why));
    }
    for (size_t i = 0; i < t->numel; i++) {
        const unsigned char *p = raw + i * es;
        int64_t v;
        bool big = false;
        if (es == 1)
            v = d->dt.is_signed ? (int64_t)*(const int8_t *)p : (int64_t)*(const uint8_t *)p;
        else if (es == 2) {
            int16_t a;
            uint16_t b;
            memcpy(&a, p, 2);
            memcpy(&b, p, 2);
            v = d->dt.is_signed ? a : b;
        } else if (es == 4) {
            int32_t a;
            uint32_t b;
            memcpy(&a, p, 4);
            memcpy(&b, p, 4);
            v = d->dt.is_signed ? a : (int64_t)b;
        } else {
            uint64_t b;
            memcpy(&b, p, 8);
            big = !d->dt.is_signed && b > (uint64_t)INT64_MAX;
            memcpy(&v, p, 8);
        }
        bool fits = !big && (t->dtype == RNNC_I64 ||
                             (t->dtype == RNNC_I32 && v >= INT32_MIN && v <= INT32_MAX) ||
                             (t->dtype == RNNC_U8 && v >= 0 && v <= 255));
        if (!fits) {
            free(raw);
            return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s': value at flat index %zu does not fit %s",
                             file, d->path, i, rnnc_dtype_name(t->dtype));
        }
        if (t->dtype == RNNC_I64)
            ((int64_t *)t->data)[i] = v; /* exact beyond 2^53 */
        else if (t->dtype == RNNC_I32)
            ((int32_t *)t->data)[i] = (int32_t)v;
        else
            ((uint8_t *)t->data)[i] = (uint8_t)v;
    }
    free(raw);
    return RNNC_OK;
}

rnnc_status rnnc_h5_read_tensor(hid_t loc, const char *rel, const char *file, rnnc_dtype dtype,
                                bool allow_int, rnnc_tensor **out)
{
    open_dataset d;
    rnnc_tensor *t = NULL;
    *out = NULL;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    rnnc_status s = od_open(loc, rel, file, &d);
    if (s != RNNC_OK)
        goto done;
    bool disk_float = d.dt.cls == H5T_FLOAT;
    if (rnnc_dtype_is_float(dtype) && !disk_float && !allow_int) {
        s = rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' holds integers (%s); expected float32 or float64",
                      file, d.path, rnnc_dtype_name(d.dt.dtype));
    } else if (!rnnc_dtype_is_float(dtype) && disk_float) {
        s = rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' holds %s; expected integers (%s)", file,
                      d.path, rnnc_dtype_name(d.dt.dtype), rnnc_dtype_name(dtype));
    } else if ((s = rnnc_tensor_create(dtype, &d.shape, &t)) != RNNC_OK) {
        rnnc_fail_context(s, "'%s': dataset '%s': ", file, d.path);
    } else if ((s = od_read(&d, file, t)) != RNNC_OK) {
        rnnc_tensor_destroy(t);
        t = NULL;
    }
    od_close(&d);
done:
    rnnc_h5_quiet_end(&q);
    *out = t;
    return s;
}

rnnc_status rnnc_h5_read_into(hid_t loc, const char *rel, const char *file, rnnc_tensor *dst)
{
    open_dataset d;
    char a[160], b[160];
    if (!rnnc_dtype_is_float(dst->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "'%s': reading '%s' into a %s tensor is not supported", file,
                         rel, rnnc_dtype_name(dst->dtype));
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    rnnc_status s = od_open(loc, rel, file, &d);
    if (s == RNNC_OK) {
        if (d.dt.cls != H5T_FLOAT)
            s = rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '%s' holds integers (%s); expected float32 or float64",
                          file, d.path, rnnc_dtype_name(d.dt.dtype));
        else if (!rnnc_shape_eq(&d.shape, &dst->shape))
            s = rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '%s' has shape %s, expected %s", file, d.path,
                          rnnc_shape_str(&d.shape, a, sizeof a),
                          rnnc_shape_str(&dst->shape, b, sizeof b));
        else
            s = od_read(&d, file, dst);
        od_close(&d);
    }
    rnnc_h5_quiet_end(&q);
    return s;
}

rnnc_status rnnc_h5_write_tensor(hid_t loc, const char *name, const rnnc_tensor *t,
                                 const char *file)
{
    char why[600], p[1200];
    hid_t ftype, mtype;
    switch (t->dtype) {
    case RNNC_F32: ftype = H5T_IEEE_F32LE; mtype = H5T_NATIVE_FLOAT; break;
    case RNNC_F64: ftype = H5T_IEEE_F64LE; mtype = H5T_NATIVE_DOUBLE; break;
    case RNNC_I32: ftype = H5T_STD_I32LE; mtype = H5T_NATIVE_INT32; break;
    case RNNC_I64: ftype = H5T_STD_I64LE; mtype = H5T_NATIVE_INT64; break;
    case RNNC_U8: ftype = H5T_STD_U8LE; mtype = H5T_NATIVE_UINT8; break;
    default:
        return rnnc_fail(RNNC_E_DTYPE, "'%s': cannot write dtype %d", file, (int)t->dtype);
    }
    hsize_t dims[RNNC_MAX_DIMS];
    for (int i = 0; i < t->shape.ndim; i++)
        dims[i] = (hsize_t)t->shape.dim[i];
    rnnc_status s = RNNC_OK;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t space = t->shape.ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(t->shape.ndim, dims, NULL);
    hid_t ds = space >= 0 ? H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    bool ok = ds >= 0 && (!t->numel || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) >= 0);
    /* Each id is closed exactly once; a failing close is a failed write. */
    if (ds >= 0 && H5Dclose(ds) < 0)
        ok = false;
    if (space >= 0 && H5Sclose(space) < 0)
        ok = false;
    if (!ok)
        s = rnnc_fail(RNNC_E_IO, "'%s': writing dataset '%s' failed%s", file,
                      rnnc_h5_path(loc, name, p, sizeof p), hdf5_says(why, sizeof why));
    rnnc_h5_quiet_end(&q);
    return s;
}

rnnc_status rnnc_h5_write_fixed_string(hid_t loc, const char *name, const char *value,
                                       const char *file)
{
    char why[600], p[1200];
    size_t len = strlen(value);
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), ds = -1;
    bool ok = type >= 0 && space >= 0 && H5Tset_size(type, len ? len : 1) >= 0 &&
              H5Tset_strpad(type, H5T_STR_NULLPAD) >= 0 && H5Tset_cset(type, H5T_CSET_UTF8) >= 0 &&
              (ds = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
              H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, len ? value : "") >= 0;
    if (ds >= 0 && H5Dclose(ds) < 0)
        ok = false;
    if (space >= 0 && H5Sclose(space) < 0)
        ok = false;
    if (type >= 0 && H5Tclose(type) < 0)
        ok = false;
    rnnc_status s = RNNC_OK;
    if (!ok)
        s = rnnc_fail(RNNC_E_IO, "'%s': writing string dataset '%s' failed%s", file,
                      rnnc_h5_path(loc, name, p, sizeof p), hdf5_says(why, sizeof why));
    rnnc_h5_quiet_end(&q);
    return s;
}

/* The size in bytes of the file that holds obj (0 when unknown). */
static hsize_t file_size_of(hid_t obj)
{
    hsize_t size = 0;
    hid_t f = H5Iget_file_id(obj);
    if (f >= 0) {
        if (H5Fget_filesize(f, &size) < 0)
            size = 0;
        H5Fclose(f);
    }
    return size;
}

rnnc_status rnnc_h5_read_fixed_string(hid_t loc, const char *name, const char *file, char **out)
{
    char why[600], p[1200];
    *out = NULL;
    rnnc_h5_path(loc, name, p, sizeof p);
    if (!rnnc_h5_exists(loc, name))
        return rnnc_fail(RNNC_E_FORMAT, "'%s': string dataset '%s' is missing", file, p);
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    rnnc_status s = RNNC_OK;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT), ft = -1, sp = -1, mt = -1;
    size_t size = 0;
    hsize_t fsize = d >= 0 ? file_size_of(d) : 0;
    if (d < 0 || (ft = H5Dget_type(d)) < 0 || (sp = H5Dget_space(d)) < 0) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': cannot open dataset '%s'%s", file, p, hdf5_says(why, sizeof why));
    } else if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_type(sp) != H5S_SCALAR) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' must be a scalar fixed-length string", file, p);
    } else if (H5Tis_variable_str(ft) != 0) {
        /* Its bytes would be fetched from the global heap, whose damage
         * HDF5 1.10 does not always survive. */
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '%s' is a variable-length string, which rnnc does not read here (damaged file, or written by an older rnnc?)",
                      file, p);
    } else if ((size = H5Tget_size(ft)) == 0 || (fsize && size > fsize) || size > MAX_ATTR_BYTES) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': string dataset '%s' declares %zu bytes in a file of %llu bytes (damaged file)",
                      file, p, size, (unsigned long long)fsize);
    } else if (H5Dget_storage_size(d) != (hsize_t)size) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': string dataset '%s' stores %llu bytes, expected %zu (damaged file)", file,
                      p, (unsigned long long)H5Dget_storage_size(d), size);
    } else if (!(*out = malloc(size + 1))) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    } else if ((mt = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(mt, size) < 0 ||
               H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 || H5Tset_cset(mt, H5Tget_cset(ft)) < 0 ||
               H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': cannot read dataset '%s'%s", file, p, hdf5_says(why, sizeof why));
    } else {
        (*out)[size] = '\0';
    }
    if (s != RNNC_OK) {
        free(*out);
        *out = NULL;
    }
    if (mt >= 0)
        H5Tclose(mt);
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (d >= 0)
        H5Dclose(d);
    rnnc_h5_quiet_end(&q);
    return s;
}

/* ---- string attributes ---- */

void rnnc_h5_strings_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static rnnc_status push_str(char ***v, size_t *n, size_t *cap, const char *s, size_t len)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 8;
        char **p = realloc(*v, nc * sizeof *p);
        if (!p)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        *v = p;
        *cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    memcpy(c, s, len);
    c[len] = '\0';
    (*v)[(*n)++] = c;
    return RNNC_OK;
}

/* Appends the strings of one attribute to v. Runs inside a quiet scope. */
static rnnc_status read_attr(hid_t obj, const char *name, const char *file, char ***v, size_t *n,
                             size_t *cap)
{
    char p[1200], why[600];
    rnnc_status s = RNNC_OK;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': cannot open attribute '%s' of '%s'%s", file, name,
                         rnnc_h5_path(obj, "", p, sizeof p), hdf5_says(why, sizeof why));
    hid_t space = H5Aget_space(attr), type = H5Aget_type(attr), mem = -1;
    hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space < 0 || type < 0 || count < 0) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': attribute '%s' of '%s' is unreadable", file, name,
                      rnnc_h5_path(obj, "", p, sizeof p));
        goto out;
    }
    if (count == 0) /* Keras writes an empty list as float64 [] */
        goto out;
    if (H5Tget_class(type) != H5T_STRING) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': attribute '%s' of '%s' is not a string", file, name,
                      rnnc_h5_path(obj, "", p, sizeof p));
        goto out;
    }
    if (count > MAX_ATTR_STRINGS) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': attribute '%s' of '%s' has an absurd number of strings (%lld)",
                      file, name, rnnc_h5_path(obj, "", p, sizeof p), (long long)count);
        goto out;
    }
    size_t cnt = (size_t)count;
    mem = H5Tcopy(H5T_C_S1);
    if (mem < 0) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto out;
    }
    H5Tset_cset(mem, H5Tget_cset(type));
    if (H5Tis_variable_str(type) > 0 && (s = rnnc__h5_heap_refs_check(obj, name, count, file)))
        goto out;
    if (H5Tis_variable_str(type) > 0) {
        H5Tset_size(mem, H5T_VARIABLE);
        char **buf = calloc(cnt, sizeof *buf);
        if (!buf) {
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
            goto out;
        }
        if (H5Aread(attr, mem, buf) < 0) {
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': reading attribute '%s' of '%s' failed%s", file, name,
                          rnnc_h5_path(obj, "", p, sizeof p), hdf5_says(why, sizeof why));
            free(buf);
            goto out;
        }
        for (size_t i = 0; i < cnt && s == RNNC_OK; i++)
            s = push_str(v, n, cap, buf[i] ? buf[i] : "", buf[i] ? strlen(buf[i]) : 0);
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
        free(buf);
    } else {
        size_t size = H5Tget_size(type);
        if (size == 0 || size > MAX_ATTR_BYTES / cnt) {
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': attribute '%s' of '%s' is absurdly large", file, name,
                          rnnc_h5_path(obj, "", p, sizeof p));
            goto out;
        }
        /* Null-padded: a name that fills its slot has no NUL. */
        H5Tset_size(mem, size);
        H5Tset_strpad(mem, H5T_STR_NULLPAD);
        char *buf = malloc(cnt * size);
        if (!buf) {
            s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
            goto out;
        }
        if (H5Aread(attr, mem, buf) < 0) {
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': reading attribute '%s' of '%s' failed%s", file, name,
                          rnnc_h5_path(obj, "", p, sizeof p), hdf5_says(why, sizeof why));
            free(buf);
            goto out;
        }
        for (size_t i = 0; i < cnt && s == RNNC_OK; i++) {
            const char *e = buf + i * size;
            size_t len = 0;
            while (len < size && e[len])
                len++;
            s = push_str(v, n, cap, e, len);
        }
        free(buf);
    }
out:
    if (mem >= 0)
        H5Tclose(mem);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Aclose(attr);
    return s;
}

/* Reads `name`, or its chunks name0, name1, ..., appending to v. */
static rnnc_status read_attr_chunks(hid_t obj, const char *name, const char *file, bool *found,
                                    char ***v, size_t *n, size_t *cap)
{
    char key[300];
    rnnc_status s = RNNC_OK;
    *found = false;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    if (H5Aexists(obj, name) > 0) {
        *found = true;
        s = read_attr(obj, name, file, v, n, cap);
    } else {
        for (int i = 0; i < MAX_CHUNKS && s == RNNC_OK; i++) {
            snprintf(key, sizeof key, "%s%d", name, i);
            if (H5Aexists(obj, key) <= 0)
                break;
            *found = true;
            s = read_attr(obj, key, file, v, n, cap);
        }
    }
    rnnc_h5_quiet_end(&q);
    return s;
}

rnnc_status rnnc_h5_attr_strings(hid_t obj, const char *name, const char *file, bool *found,
                                 char ***out, size_t *n)
{
    char p[1200];
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    bool f = false;
    *out = NULL;
    *n = 0;
    rnnc_status s = read_attr_chunks(obj, name, file, &f, &v, &cnt, &cap);
    if (s != RNNC_OK) {
        rnnc_h5_strings_free(v, cnt);
        return s;
    }
    if (found)
        *found = f;
    else if (!f)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': attribute '%s' is missing on '%s'", file, name,
                         rnnc_h5_path(obj, "", p, sizeof p));
    *out = v;
    *n = cnt;
    return RNNC_OK;
}

rnnc_status rnnc_h5_attr_string(hid_t obj, const char *name, const char *file, bool *found,
                                char **out)
{
    char **v = NULL;
    size_t cnt = 0;
    *out = NULL;
    RNNC_TRY(rnnc_h5_attr_strings(obj, name, file, found, &v, &cnt));
    if (!v && found && !*found)
        return RNNC_OK;
    /* Chunks of one long value are concatenated. */
    size_t total = 1;
    for (size_t i = 0; i < cnt; i++)
        total += strlen(v[i]);
    char *s = malloc(total);
    if (!s) {
        rnnc_h5_strings_free(v, cnt);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    s[0] = '\0';
    size_t at = 0;
    for (size_t i = 0; i < cnt; i++) {
        size_t l = strlen(v[i]);
        memcpy(s + at, v[i], l);
        at += l;
    }
    s[at] = '\0';
    rnnc_h5_strings_free(v, cnt);
    *out = s;
    return RNNC_OK;
}

/* Variable-length strings (as h5py writes them), or, with `fixed`, one
 * scalar fixed-length null-padded string (no global heap). */
static rnnc_status write_str_attr(hid_t obj, const char *name, const char *const *v, size_t n,
                                  bool scalar, bool fixed, const char *file)
{
    char p[1200], why[600];
    rnnc_status s = RNNC_OK;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t type = H5Tcopy(H5T_C_S1);
    hsize_t dim = n;
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t attr = -1;
    size_t flen = fixed ? strlen(v[0]) : 0;
    if (type >= 0 && space >= 0 &&
        (fixed ? H5Tset_size(type, flen ? flen : 1) >= 0 && H5Tset_strpad(type, H5T_STR_NULLPAD) >= 0
               : H5Tset_size(type, H5T_VARIABLE) >= 0) &&
        H5Tset_cset(type, H5T_CSET_UTF8) >= 0) {
        if (H5Aexists(obj, name) > 0)
            H5Adelete(obj, name);
        attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    }
    bool ok = attr >= 0 && (!n || H5Awrite(attr, type, fixed ? (const void *)v[0] : (const void *)v) >= 0);
    if (attr >= 0 && H5Aclose(attr) < 0)
        ok = false;
    if (space >= 0 && H5Sclose(space) < 0)
        ok = false;
    if (type >= 0 && H5Tclose(type) < 0)
        ok = false;
    if (!ok)
        s = rnnc_fail(RNNC_E_IO, "'%s': writing attribute '%s' on '%s' failed%s", file, name,
                      rnnc_h5_path(obj, "", p, sizeof p), hdf5_says(why, sizeof why));
    rnnc_h5_quiet_end(&q);
    return s;
}

rnnc_status rnnc_h5_attr_write_string(hid_t obj, const char *name, const char *value,
                                      const char *file)
{
    const char *v[1] = {value};
    return write_str_attr(obj, name, v, 1, true, false, file);
}

rnnc_status rnnc_h5_attr_write_fixed_string(hid_t obj, const char *name, const char *value,
                                            const char *file)
{
    const char *v[1] = {value[0] ? value : ""};
    return write_str_attr(obj, name, v, 1, true, true, file);
}

rnnc_status rnnc_h5_attr_fixed_string(hid_t obj, const char *name, const char *file, bool *found,
                                     char **out)
{
    char p[1200];
    *out = NULL;
    if (found)
        *found = false;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    htri_t exists = H5Aexists(obj, name);
    hid_t a = exists > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    int kind = t < 0 ? -1 : H5Tget_class(t) != H5T_STRING ? 0 : H5Tis_variable_str(t) != 0 ? 1 : 2;
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    rnnc_h5_quiet_end(&q);
    if (exists <= 0) {
        if (found)
            return RNNC_OK;
        return rnnc_fail(RNNC_E_FORMAT, "'%s': attribute '%s' is missing on '%s'", file, name,
                         rnnc_h5_path(obj, "", p, sizeof p));
    }
    if (kind != 2)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': attribute '%s' of '%s' must be a fixed-length string%s", file,
                         name, rnnc_h5_path(obj, "", p, sizeof p),
                         kind == 1 ? " (a variable-length one is not read here: damaged file, or written by an older rnnc?)"
                                   : "");
    return rnnc_h5_attr_string(obj, name, file, found, out);
}

rnnc_status rnnc_h5_attr_write_strings(hid_t obj, const char *name, const char *const *v,
                                       size_t n, const char *file)
{
    return write_str_attr(obj, name, v, n, false, false, file);
}
