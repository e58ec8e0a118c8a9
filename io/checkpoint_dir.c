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

const char *rnnc_checkpoint_filename_at(const char *dir, rnnc_checkpoint_pos pos, char *buf, size_t cap)
{
    if (pos.batch > 0)
        snprintf(buf, cap, "%s/ckpt-%06lld-batch%06lld.weights.h5", dir, (long long)pos.epoch, (long long)pos.batch);
    else
        snprintf(buf, cap, "%s/ckpt-%06lld.weights.h5", dir, (long long)pos.epoch);
    return buf;
}

const char *rnnc_checkpoint_filename(const char *dir, int64_t epoch, char *buf, size_t cap)
{
    return rnnc_checkpoint_filename_at(dir, (rnnc_checkpoint_pos){epoch, 0}, buf, cap);
}

rnnc_status rnnc_checkpoint_mkdir(const char *dir) { return rnnc_mkdir_parents("checkpoint directory", dir); }

rnnc_status rnnc_mkdir_parents(const char *what, const char *dir)
{
    char path[4096];
    struct stat st;
    if (strlen(dir) >= sizeof path)
        return rnnc_fail(RNNC_E_ARG, "%s path is too long: '%.80s...'", what, dir);
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (stat(path, &st) != 0) {
            if (mkdir(path, 0777) != 0 && errno != EEXIST)
                return rnnc_fail(RNNC_E_IO, "cannot create %s '%s': %s", what, path, strerror(errno));
        } else if (!S_ISDIR(st.st_mode)) {
            return rnnc_fail(RNNC_E_IO, "%s '%s': '%s' exists and is not a directory", what, dir, path);
        }
        *p = c;
        if (c == '\0')
            break;
    }
    return RNNC_OK;
}

/* Digits at *p (at least one) into *v; advances *p. */
static bool digits(const char **p, int64_t *v)
{
    int64_t x = 0;
    const char *q = *p;
    for (; *q >= '0' && *q <= '9'; q++) {
        if (x > (INT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (*q - '0');
    }
    if (q == *p)
        return false;
    *p = q;
    *v = x;
    return true;
}

bool rnnc_checkpoint_parse_name(const char *name, rnnc_checkpoint_pos *pos)
{
    rnnc_checkpoint_pos at = {0, 0};
    const char *p = name;
    if (strncmp(p, "ckpt-", 5) != 0)
        return false;
    p += 5;
    if (!digits(&p, &at.epoch))
        return false;
    if (strncmp(p, "-batch", 6) == 0) {
        p += 6;
        if (!digits(&p, &at.batch) || at.batch == 0)
            return false;
    }
    if (strcmp(p, ".weights.h5") != 0)
        return false;
    /* Only the canonical spelling, so the name rebuilt from the position is this file. */
    char canon[128];
    rnnc_checkpoint_filename_at("", at, canon, sizeof canon);
    if (strcmp(canon + 1, name) != 0)
        return false;
    if (pos)
        *pos = at;
    return true;
}

int rnnc_checkpoint_pos_cmp(rnnc_checkpoint_pos a, rnnc_checkpoint_pos b)
{
    if (a.epoch != b.epoch)
        return a.epoch < b.epoch ? -1 : 1;
    return (a.batch > b.batch) - (a.batch < b.batch);
}

static int cmp_pos(const void *a, const void *b)
{
    return rnnc_checkpoint_pos_cmp(*(const rnnc_checkpoint_pos *)a, *(const rnnc_checkpoint_pos *)b);
}

rnnc_status rnnc_checkpoint_list(const char *dir, rnnc_checkpoint_pos **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return rnnc_fail(RNNC_E_IO, "cannot read checkpoint directory '%s': %s", dir, strerror(errno));
    size_t cap = 0;
    struct dirent *e;
    rnnc_status s = RNNC_OK;
    while ((e = readdir(d))) {
        rnnc_checkpoint_pos pos;
        if (!rnnc_checkpoint_parse_name(e->d_name, &pos))
            continue;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            rnnc_checkpoint_pos *p = realloc(*out, nc * sizeof *p);
            if (!p) {
                s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
                break;
            }
            *out = p;
            cap = nc;
        }
        (*out)[(*n)++] = pos;
    }
    closedir(d);
    if (s != RNNC_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
        return s;
    }
    if (*n > 1)
        qsort(*out, *n, sizeof **out, cmp_pos);
    return RNNC_OK;
}

rnnc_status rnnc_checkpoint_rotate(const char *dir, int64_t keep, rnnc_checkpoint_pos *own, size_t *n)
{
    char path[4200];
    if (keep < 1)
        return rnnc_fail(RNNC_E_ARG, "checkpoint: keep must be >= 1, got %lld", (long long)keep);
    if (*n > 1)
        qsort(own, *n, sizeof *own, cmp_pos);
    size_t drop = 0;
    rnnc_status s = RNNC_OK;
    while (*n - drop > (size_t)keep) {
        rnnc_checkpoint_filename_at(dir, own[drop], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            s = rnnc_fail(RNNC_E_IO, "cannot delete old checkpoint '%s': %s", path, strerror(errno));
            break;
        }
        drop++;
    }
    memmove(own, own + drop, (*n - drop) * sizeof *own);
    *n -= drop;
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
    if (!rnnc_checkpoint_parse_name(base, NULL))
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
    rnnc_checkpoint_pos *all;
    size_t n;
    *found = false;
    RNNC_TRY(rnnc_checkpoint_list(dir, &all, &n));
    if (n > 0) {
        rnnc_checkpoint_filename_at(dir, all[n - 1], buf, cap);
        *found = true;
    }
    free(all);
    return RNNC_OK;
}
