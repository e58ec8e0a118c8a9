/* history_files.c - history.json and history.csv (history_files.h). */
#define _POSIX_C_SOURCE 200809L
#include "apps/history_files.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_writer.h"
#include "io/spec_reader.h"
#include "optim/trainer.h"

static int cmp_key(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static double item(const rnnc_cfg *list, size_t i)
{
    if (!list || i >= list->n)
        return NAN;
    const rnnc_cfg *v = list->items[i];
    return v->type == RNNC_CFG_FLOAT ? v->v.f : v->type == RNNC_CFG_INT ? (double)v->v.i : NAN;
}

/* The CSV text: epoch,<sorted keys> and one row per epoch. */
static rnnc_status csv_text(const rnnc_cfg *h, int64_t first, char **out)
{
    size_t rows = 0;
    for (size_t i = 0; i < h->n; i++)
        rows = h->items[i]->n > rows ? h->items[i]->n : rows;
    const char **keys = malloc((h->n + 1) * sizeof *keys);
    size_t cap = 64 + rows * 24 * (h->n + 1), at = 0;
    for (size_t i = 0; i < h->n; i++)
        cap += strlen(h->keys[i]) + 1;
    char *t = malloc(cap);
    if (!keys || !t) {
        free(keys);
        free(t);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory writing the history");
    }
    for (size_t i = 0; i < h->n; i++)
        keys[i] = h->keys[i];
    qsort(keys, h->n, sizeof *keys, cmp_key);
    at += (size_t)snprintf(t + at, cap - at, "epoch");
    for (size_t i = 0; i < h->n; i++)
        at += (size_t)snprintf(t + at, cap - at, ",%s", keys[i]);
    at += (size_t)snprintf(t + at, cap - at, "\r\n");
    for (size_t r = 0; r < rows; r++) {
        at += (size_t)snprintf(t + at, cap - at, "%lld", (long long)(first + (int64_t)r));
        for (size_t i = 0; i < h->n; i++) {
            char v[40];
            rnnc_format_float_repr(item(rnnc_cfg_peek(h, keys[i]), r), v, sizeof v);
            at += (size_t)snprintf(t + at, cap - at, ",%s", v);
        }
        at += (size_t)snprintf(t + at, cap - at, "\r\n");
    }
    free(keys);
    *out = t;
    return RNNC_OK;
}

/* text to path through "<path>.tmp": written, fsync'd, renamed into place. */
static rnnc_status write_atomic(const char *path, const char *text)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return rnnc_fail(RNNC_E_IO, "cannot create '%s' (to write '%s'): %s", tmp, path, strerror(errno));
    size_t n = strlen(text);
    bool ok = fwrite(text, 1, n, f) == n && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        remove(tmp);
        return rnnc_fail(RNNC_E_IO, "cannot write '%s': %s", path, strerror(err));
    }
    return RNNC_OK;
}

rnnc_status rnnc_history_files_write(const char *dir, const rnnc_cfg *history, int64_t first_epoch)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/history.json", dir);
    /* strict JSON: null, not NaN / Infinity, where an epoch has no value
     * (no validation that epoch) or a non-finite one (history.csv keeps it) */
    rnnc_cfg *strict = rnnc_cfg_clone(history);
    if (!strict)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory writing the history");
    for (size_t i = 0; i < strict->n; i++)
        for (size_t k = 0; strict->items[i]->type == RNNC_CFG_LIST && k < strict->items[i]->n; k++) {
            rnnc_cfg *v = strict->items[i]->items[k];
            if (v->type == RNNC_CFG_FLOAT && !isfinite(v->v.f))
                v->type = RNNC_CFG_NULL;
        }
    rnnc_status js = rnnc_json_write_file(strict, -1, path);
    rnnc_cfg_destroy(strict);
    RNNC_TRY(js);
    char *csv = NULL;
    RNNC_TRY(csv_text(history, first_epoch, &csv));
    snprintf(path, sizeof path, "%s/history.csv", dir);
    rnnc_status s = write_atomic(path, csv);
    free(csv);
    return s;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A CSV of CSVLogger's form: header epoch,<keys>, then numbers ("NA", "" -> NaN). */
static rnnc_status read_csv(const char *path, rnnc_cfg **out, int64_t *first_epoch)
{
    size_t len;
    FILE *f = fopen(path, "rb");
    if (!f)
        return rnnc_fail(RNNC_E_IO, "cannot open '%s': %s", path, strerror(errno));
    char *text = malloc(RNNC_SPEC_MAX_FILE_BYTES + 1);
    len = text ? fread(text, 1, RNNC_SPEC_MAX_FILE_BYTES, f) : 0;
    fclose(f);
    if (!text)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory reading '%s'", path);
    text[len] = '\0';
    rnnc_cfg *h = rnnc_cfg_map();
    char *keys[RNNC_LOGS_MAX * 2];
    int nk = 0, line = 1;
    rnnc_status s = h ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "out of memory");
    char sep = ',';
    char *save = NULL, *ln = strtok_r(text, "\r\n", &save);
    if (!s && !ln)
        s = rnnc_fail(RNNC_E_FORMAT, "%s: empty; a history CSV starts with a header line 'epoch,loss,...'", path);
    if (!s) {
        if (strncmp(ln, "epoch", 5) != 0 || !ln[5])
            s = rnnc_fail(RNNC_E_FORMAT, "%s:1: the header must start with 'epoch' and a separator, e.g. 'epoch,loss,val_loss'",
                          path);
        else
            sep = ln[5];
    }
    if (!s) {
        char *p = ln + 6;
        while (p && *p && nk < RNNC_LOGS_MAX * 2) {
            char *e = strchr(p, sep);
            if (e)
                *e = '\0';
            keys[nk++] = p;
            if (!s)
                s = rnnc_cfg_set(h, p, rnnc_cfg_list());
            p = e ? e + 1 : NULL;
        }
        if (!s && nk == 0)
            s = rnnc_fail(RNNC_E_FORMAT, "%s:1: the header names no values after 'epoch'", path);
    }
    int64_t rows = 0;
    while (!s && (ln = strtok_r(NULL, "\r\n", &save))) {
        line++;
        char *p = ln, *end;
        long long ep = strtoll(p, &end, 10);
        if (end == p || *end != sep) {
            s = rnnc_fail(RNNC_E_FORMAT, "%s:%d: a row must start with the epoch number and '%c'", path, line, sep);
            break;
        }
        if (rows++ == 0)
            *first_epoch = ep;
        p = end + 1;
        for (int k = 0; k < nk && !s; k++) {
            char *e = strchr(p, sep);
            if (e)
                *e = '\0';
            double v = strtod(p, &end);
            if (end == p || *end)
                v = NAN; /* "NA", "" */
            s = rnnc_cfg_push((rnnc_cfg *)rnnc_cfg_peek(h, keys[k]), rnnc_cfg_float(v));
            p = e ? e + 1 : p + strlen(p);
        }
    }
    free(text);
    if (s) {
        rnnc_cfg_destroy(h);
        return s;
    }
    *out = h;
    return RNNC_OK;
}

rnnc_status rnnc_history_files_read(const char *path, rnnc_cfg **out, int64_t *first_epoch)
{
    char buf[4200];
    struct stat st;
    *out = NULL;
    *first_epoch = 0;
    if (stat(path, &st) != 0)
        return rnnc_fail(RNNC_E_IO, "'%s' does not exist (%s); give a history.json, a history.csv or their folder", path,
                         strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        snprintf(buf, sizeof buf, "%s/history.json", path);
        path = buf;
    }
    if (ends_with(path, ".csv"))
        return read_csv(path, out, first_epoch);
    rnnc_cfg *h;
    RNNC_TRY(rnnc_spec_read_file(path, &h));
    char w[300];
    rnnc_status s = RNNC_OK;
    if (h->type != RNNC_CFG_MAP || h->n == 0)
        s = rnnc_fail(RNNC_E_FORMAT, "%s: a history is a map {\"loss\": [...], ...}, got a %s%s", path,
                      rnnc_cfg_type_name(h->type), rnnc_cfg_where(h, w, sizeof w));
    for (size_t i = 0; !s && i < h->n; i++) {
        const rnnc_cfg *l = h->items[i];
        if (l->type != RNNC_CFG_LIST) {
            s = rnnc_fail(RNNC_E_FORMAT, "%s: '%s' must be a list of numbers%s", path, h->keys[i],
                          rnnc_cfg_where(l, w, sizeof w));
            break;
        }
        for (size_t k = 0; !s && k < l->n; k++)
            if (l->items[k]->type != RNNC_CFG_FLOAT && l->items[k]->type != RNNC_CFG_INT &&
                l->items[k]->type != RNNC_CFG_NULL)
                s = rnnc_fail(RNNC_E_FORMAT, "%s: '%s' entry %zu is not a number%s", path, h->keys[i], k,
                              rnnc_cfg_where(l->items[k], w, sizeof w));
    }
    if (s) {
        rnnc_cfg_destroy(h);
        return s;
    }
    *out = h;
    return RNNC_OK;
}
