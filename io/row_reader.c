/* row_reader.c - HDF5 rows on demand (row_reader.h). */
#define _POSIX_C_SOURCE 200809L
#include "io/row_reader.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5_util.h"

typedef struct rows_set {
    hid_t ds;       /* -1: absent */
    char name[128];
    rnnc_shape shape;
    rnnc_dtype dtype; /* in memory */
} rows_set;

struct rnnc_dataset_rows {
    char *path;
    hid_t file;
    rows_set set[3]; /* x, y, sample_weight */
    int64_t n, read;
};

void rnnc_dataset_rows_close(rnnc_dataset_rows *r)
{
    if (!r)
        return;
    for (int k = 0; k < 3; k++)
        if (r->set[k].ds >= 0)
            H5Dclose(r->set[k].ds);
    rnnc_h5_close(r->file);
    free(r->path);
    free(r);
}

int64_t rnnc_dataset_rows_count(const rnnc_dataset_rows *r) { return r->n; }
int64_t rnnc_dataset_rows_read_so_far(const rnnc_dataset_rows *r) { return r->read; }

static rnnc_status open_set(rnnc_dataset_rows *r, rows_set *st, const char *name, rnnc_dtype want, bool required)
{
    st->ds = -1;
    snprintf(st->name, sizeof st->name, "%s", name);
    if (!rnnc_h5_exists(r->file, name)) {
        if (required)
            return rnnc_fail(RNNC_E_FORMAT, "'%s': no dataset '/%s'", r->path, name);
        return RNNC_OK;
    }
    rnnc_dtype disk;
    RNNC_TRY(rnnc_h5_dataset_info(r->file, name, r->path, &st->shape, &disk));
    if (st->shape.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' has no sample axis", r->path, name);
    const bool float_disk = disk == RNNC_F32 || disk == RNNC_F64;
    if (rnnc_dtype_is_float(want) && !float_disk && want != RNNC_F32)
        return rnnc_fail(RNNC_E_DTYPE, "'%s': dataset '/%s' is %s; expected float data", r->path, name,
                         rnnc_dtype_name(disk));
    st->dtype = want;
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    st->ds = H5Dopen2(r->file, name, H5P_DEFAULT);
    rnnc_h5_quiet_end(&q);
    if (st->ds < 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s': cannot open dataset '/%s'", r->path, name);
    return RNNC_OK;
}

rnnc_status rnnc_dataset_rows_open(const char *path, const rnnc_dataset_options *opts, rnnc_dataset_rows **out)
{
    rnnc_dataset_options o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    *out = NULL;
    rnnc_dataset_rows *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    r->file = -1;
    for (int k = 0; k < 3; k++)
        r->set[k].ds = -1;
    const rnnc_dtype xd = o.x_dtype ? o.x_dtype : RNNC_F32, yd = o.y_dtype ? o.y_dtype : RNNC_F32;
    rnnc_status s;
    if ((s = rnnc_h5_open_read(path, &r->file)) ||
        (s = open_set(r, &r->set[0], o.x_name ? o.x_name : "x", xd, true)) ||
        (s = open_set(r, &r->set[1], o.y_name ? o.y_name : "y", yd, true)) ||
        (s = open_set(r, &r->set[2], o.sample_weight_name ? o.sample_weight_name : "sample_weight", RNNC_F32,
                      false)))
        goto fail;
    r->n = r->set[0].shape.dim[0];
    for (int k = 1; k < 3; k++)
        if (r->set[k].ds >= 0 && r->set[k].shape.dim[0] != r->n) {
            s = rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' has %lld samples, '/%s' %lld", path, r->set[k].name,
                          (long long)r->set[k].shape.dim[0], r->set[0].name, (long long)r->n);
            goto fail;
        }
    if (r->set[2].ds >= 0 && r->set[2].shape.ndim > 2) {
        s = rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' must be (N,) or (N, T)", path, r->set[2].name);
        goto fail;
    }
    *out = r;
    return RNNC_OK;
fail:
    rnnc_dataset_rows_close(r);
    return s;
}

typedef struct row_at {
    int64_t row, at; /* file row, position in the request */
} row_at;

static int cmp_row(const void *a, const void *b)
{
    const int64_t x = ((const row_at *)a)->row, y = ((const row_at *)b)->row;
    return x < y ? -1 : x > y;
}

static hid_t mem_type(rnnc_dtype dt)
{
    switch (dt) {
    case RNNC_F64: return H5T_NATIVE_DOUBLE;
    case RNNC_I32: return H5T_NATIVE_INT32;
    case RNNC_I64: return H5T_NATIVE_INT64;
    default: return H5T_NATIVE_FLOAT;
    }
}

/* The distinct sorted rows of one request (sorted[0..nd)) as one read of
 * set st into a ctx tensor, then placed in request order. */
static rnnc_status read_set(rnnc_dataset_rows *r, const rows_set *st, rnnc_ctx *cx, const row_at *sorted,
                            int64_t count, const int64_t *distinct, int64_t nd, rnnc_tensor **out)
{
    rnnc_shape sh = st->shape;
    sh.dim[0] = count;
    RNNC_TRY(rnnc_ctx_tensor(cx, st->dtype, &sh, out));
    if (count == 0)
        return RNNC_OK;
    const size_t row = (*out)->numel / (size_t)count, es = rnnc_dtype_size(st->dtype);
    char *buf = malloc((size_t)nd * row * es);
    if (!buf)
        return rnnc_fail(RNNC_E_NOMEM, "'%s': out of memory reading %lld rows", r->path, (long long)nd);
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    hid_t fs = H5Dget_space(st->ds), ms = -1;
    hsize_t start[RNNC_MAX_DIMS], cnt[RNNC_MAX_DIMS], mdim[RNNC_MAX_DIMS];
    for (int d = 0; d < st->shape.ndim; d++) {
        start[d] = 0;
        cnt[d] = (hsize_t)st->shape.dim[d];
        mdim[d] = (hsize_t)st->shape.dim[d];
    }
    mdim[0] = (hsize_t)nd;
    rnnc_status s = RNNC_OK;
    herr_t e = fs < 0 ? -1 : H5Sselect_none(fs);
    /* one block per run of consecutive rows */
    for (int64_t i = 0; i < nd && e >= 0;) {
        int64_t j = i + 1;
        while (j < nd && distinct[j] == distinct[j - 1] + 1)
            j++;
        start[0] = (hsize_t)distinct[i];
        cnt[0] = (hsize_t)(j - i);
        e = H5Sselect_hyperslab(fs, H5S_SELECT_OR, start, NULL, cnt, NULL);
        i = j;
    }
    if (e >= 0)
        ms = H5Screate_simple(st->shape.ndim, mdim, NULL);
    if (e < 0 || ms < 0 || H5Dread(st->ds, mem_type(st->dtype), ms, fs, H5P_DEFAULT, buf) < 0) {
        char why[256];
        s = rnnc_fail(RNNC_E_IO, "'%s': reading %lld rows of dataset '/%s' failed: %s", r->path, (long long)nd,
                      st->name, rnnc_h5_error_detail(why, sizeof why));
    }
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    rnnc_h5_quiet_end(&q);
    if (!s) {
        /* sorted[k] is the k-th request position in row order; walk both */
        int64_t di = 0;
        for (int64_t k = 0; k < count; k++) {
            while (distinct[di] != sorted[k].row)
                di++;
            memcpy((char *)(*out)->data + (size_t)sorted[k].at * row * es, buf + (size_t)di * row * es, row * es);
        }
        char what[300];
        snprintf(what, sizeof what, "'%s': dataset '/%s'", r->path, st->name);
        if (rnnc_dtype_is_float(st->dtype))
            s = rnnc_dataset_check_finite(*out, what);
    }
    free(buf);
    return s;
}

rnnc_status rnnc_dataset_rows_read(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                                   rnnc_tensor **y, rnnc_tensor **sw)
{
    rnnc_dataset_rows *r = user;
    *x = *y = *sw = NULL;
    row_at *sorted = malloc((size_t)(count ? count : 1) * sizeof *sorted);
    int64_t *distinct = malloc((size_t)(count ? count : 1) * sizeof *distinct);
    rnnc_status s = RNNC_OK;
    if (!sorted || !distinct) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < count; i++) {
        if (rows[i] < 0 || rows[i] >= r->n) {
            s = rnnc_fail(RNNC_E_ARG, "'%s': row %lld is outside the %lld samples", r->path, (long long)rows[i],
                          (long long)r->n);
            goto done;
        }
        sorted[i] = (row_at){rows[i], i};
    }
    qsort(sorted, (size_t)count, sizeof *sorted, cmp_row);
    int64_t nd = 0;
    for (int64_t i = 0; i < count; i++)
        if (nd == 0 || distinct[nd - 1] != sorted[i].row)
            distinct[nd++] = sorted[i].row;
    if ((s = read_set(r, &r->set[0], cx, sorted, count, distinct, nd, x)) ||
        (s = read_set(r, &r->set[1], cx, sorted, count, distinct, nd, y)))
        goto done;
    if (r->set[2].ds >= 0 && (s = read_set(r, &r->set[2], cx, sorted, count, distinct, nd, sw)))
        goto done;
    r->read += nd;
done:
    free(sorted);
    free(distinct);
    return s;
}
