/* checkpoint_dir.c - the checkpoint directory (checkpoint_dir.h): naming,
 * creation, lookup of the newest file, rotation and stale temporary files. */
#define _POSIX_C_SOURCE 200809L
#include "io/checkpoint_dir.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

const char *rnnc_checkpoint_filename(const char *dir, int64_t epoch, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/ckpt-%06lld.weights.h5", dir, (long long)epoch);
    return buf;
}

rnnc_status rnnc_checkpoint_mkdir(const char *dir)
{
    char path[4096];
    struct stat st;
    if (strlen(dir) >= sizeof path)
        return rnnc_fail(RNNC_E_ARG, "checkpoint directory path is too long: '%.80s...'", dir);
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (stat(path, &st) != 0) {
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return rnnc_fail(RNNC_E_IO, "cannot create checkpoint directory '%s': %s", path, strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            return rnnc_fail(RNNC_E_IO, "checkpoint directory '%s': '%s' exists and is not a directory", dir, path);
        }
        *p = c;
        if (c == '\0')
            break;
    }
    return RNNC_OK;
}

/* The epoch of a checkpoint file name, or -1 for any other name. */
static int64_t parse_name(const char *name)
{
    const char *pre = "ckpt-", *suf = ".weights.h5";
    size_t n = strlen(name), lp = strlen(pre), ls = strlen(suf);
    if (n <= lp + ls || strncmp(name, pre, lp) != 0 || strcmp(name + n - ls, suf) != 0)
        return -1;
    int64_t e = 0;
    for (size_t i = lp; i < n - ls; i++) {
        if (name[i] < '0' || name[i] > '9' || e > (INT64_MAX - 9) / 10)
            return -1;
        e = e * 10 + (name[i] - '0');
    }
    /* Only the canonical spelling, so the name rebuilt from the epoch is this file. */
    char canon[64];
    snprintf(canon, sizeof canon, "ckpt-%06lld.weights.h5", (long long)e);
    return strcmp(canon, name) == 0 ? e : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Epochs of the checkpoint files in dir, ascending (malloc'd). */
static rnnc_status list_epochs(const char *dir, int64_t **epochs, size_t *n)
{
    *epochs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return rnnc_fail(RNNC_E_IO, "cannot read checkpoint directory '%s': %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    rnnc_status s = RNNC_OK;
    while ((e = readdir(d))) {
        int64_t ep = parse_name(e->d_name);
        if (ep < 0)
            continue;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            int64_t *p = realloc(*epochs, nc * sizeof *p);
            if (!p) {
                s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
                break;
            }
            *epochs = p;
            cap = nc;
        }
        (*epochs)[(*n)++] = ep;
    }
    closedir(d);
    if (s != RNNC_OK) {
        free(*epochs);
        *epochs = NULL;
        *n = 0;
        return s;
    }
    if (*n > 1)
        qsort(*epochs, *n, sizeof **epochs, cmp_i64);
    return RNNC_OK;
}

rnnc_status rnnc_checkpoint_rotate(const char *dir, int64_t keep)
{
    int64_t *ep;
    size_t n;
    char path[4200];
    if (keep < 1)
        return rnnc_fail(RNNC_E_ARG, "checkpoint: keep must be >= 1, got %lld", (long long)keep);
    RNNC_TRY(list_epochs(dir, &ep, &n));
    rnnc_status s = RNNC_OK;
    for (size_t i = 0; n > (size_t)keep && i < n - (size_t)keep; i++) {
        rnnc_checkpoint_filename(dir, ep[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            s = rnnc_fail(RNNC_E_IO, "cannot delete old checkpoint '%s': %s", path, strerror(errno));
            break;
        }
    }
    free(ep);
    return s;
}

/* The writer's pid in "ckpt-NNNNNN.weights.h5.partial.<pid>.<n>[...]", or -1. */
static long partial_pid(const char *name)
{
    const char *mark = strstr(name, ".weights.h5.partial.");
    if (strncmp(name, "ckpt-", 5) != 0 || !mark)
        return -1;
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)(mark - name) + 11, name);
    if (parse_name(base) < 0)
        return -1;
    char *end;
    long pid = strtol(mark + strlen(".weights.h5.partial."), &end, 10);
    return (pid > 0 && *end == '.') ? pid : -1;
}

rnnc_status rnnc_checkpoint_clean_stale(const char *dir, int *removed)
{
    char path[4400];
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return rnnc_fail(RNNC_E_IO, "cannot read checkpoint directory '%s': %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = partial_pid(e->d_name);
        /* Only files of writers that no longer run: a live one is still writing. */
        if (pid < 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0)
            n++;
    }
    closedir(d);
    if (removed)
        *removed = n;
    return RNNC_OK;
}

rnnc_status rnnc_checkpoint_latest(const char *dir, char *buf, size_t cap, bool *found)
{
    int64_t *ep;
    size_t n;
    *found = false;
    RNNC_TRY(list_epochs(dir, &ep, &n));
    if (n > 0) {
        rnnc_checkpoint_filename(dir, ep[n - 1], buf, cap);
        *found = true;
    }
    free(ep);
    return RNNC_OK;
}
