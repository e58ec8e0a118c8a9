/* dataset.c - reading x / y / sample_weight / mask from HDF5 with shape,
 * dtype and finiteness checks; writing prediction outputs atomically. */
#include "io/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5_util.h"

void rnnc_dataset_destroy(rnnc_dataset *d)
{
    if (!d)
        return;
    rnnc_tensor_destroy(d->x);
    rnnc_tensor_destroy(d->y);
    rnnc_tensor_destroy(d->sample_weight);
    rnnc_tensor_destroy(d->mask);
    free(d);
}

/* "[3, 7, 0]" for flat index i of shape s. */
static const char *multi_index(const rnnc_shape *s, size_t i, char *buf, size_t cap)
{
    int64_t idx[RNNC_MAX_DIMS];
    for (int d = s->ndim - 1; d >= 0; d--) {
        int64_t n = s->dim[d] > 0 ? s->dim[d] : 1;
        idx[d] = (int64_t)(i % (size_t)n);
        i /= (size_t)n;
    }
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < s->ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "", (long long)idx[d]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

rnnc_status rnnc_dataset_check_finite(const rnnc_tensor *t, const char *what)
{
    char idx[200];
    if (!rnnc_dtype_is_float(t->dtype))
        return RNNC_OK;
    for (size_t i = 0; i < t->numel; i++) {
        double v = t->dtype == RNNC_F32 ? (double)rnnc_f32(t)[i] : rnnc_f64(t)[i];
        if (!isfinite(v))
            return rnnc_fail(RNNC_E_NUMERIC, "%s holds %s at %s", what,
                             isnan(v) ? "NaN" : (v > 0 ? "Inf" : "-Inf"),
                             multi_index(&t->shape, i, idx, sizeof idx));
    }
    return RNNC_OK;
}

static bool valid_dtype(rnnc_dtype t)
{
    return t == RNNC_F32 || t == RNNC_F64 || t == RNNC_I32 || t == RNNC_I64;
}

/* Reads one dataset (allow_int for float targets: integer data converts). */
static rnnc_status read_one(hid_t f, const char *path, const char *name, rnnc_dtype dtype,
                            bool allow_int, rnnc_tensor **out)
{
    char what[1400];
    RNNC_TRY(rnnc_h5_read_tensor(f, name, path, dtype, allow_int, out));
    snprintf(what, sizeof what, "'%s': dataset '/%s'", path, name);
    rnnc_status s = rnnc_dataset_check_finite(*out, what);
    if (s != RNNC_OK) {
        rnnc_tensor_destroy(*out);
        *out = NULL;
    }
    return s;
}

static rnnc_status check_samples(const char *path, const char *xname, const rnnc_tensor *x,
                                 const char *name, const rnnc_tensor *t)
{
    char a[160], b[160];
    if (t->shape.ndim < 1 || t->shape.dim[0] != x->shape.dim[0])
        return rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' has shape %s but '/%s' has shape %s: the first dimension (samples) must agree",
                         path, name, rnnc_shape_str(&t->shape, a, sizeof a), xname,
                         rnnc_shape_str(&x->shape, b, sizeof b));
    return RNNC_OK;
}

rnnc_status rnnc_dataset_read(const char *path, const rnnc_dataset_options *opts,
                              rnnc_dataset **out)
{
    rnnc_dataset_options o = {0};
    char a[160], b[160];
    *out = NULL;
    if (opts)
        o = *opts;
    const char *xn = o.x_name ? o.x_name : "x";
    const char *yn = o.y_name ? o.y_name : "y";
    const char *wn = o.sample_weight_name ? o.sample_weight_name : "sample_weight";
    const char *mn = o.mask_name ? o.mask_name : "mask";
    if (!valid_dtype(o.x_dtype) || !valid_dtype(o.y_dtype))
        return rnnc_fail(RNNC_E_ARG, "dataset '%s': x and y dtypes must be float32, float64, int32 or int64", path);
    rnnc_dataset *d = calloc(1, sizeof *d);
    if (!d)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    hid_t f = -1;
    rnnc_status s = rnnc_h5_open_read(path, &f);
    if (s != RNNC_OK)
        goto fail;
    if (!rnnc_h5_exists(f, xn)) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '/%s' (the inputs) is missing", path, xn);
        goto fail;
    }
    if ((s = read_one(f, path, xn, o.x_dtype, true, &d->x)) != RNNC_OK)
        goto fail;
    if (d->x->shape.ndim < 1) {
        s = rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' is a scalar; it needs a samples dimension",
                      path, xn);
        goto fail;
    }
    d->n_samples = d->x->shape.dim[0];
    if (rnnc_h5_exists(f, yn)) {
        if ((s = read_one(f, path, yn, o.y_dtype, true, &d->y)) != RNNC_OK ||
            (s = check_samples(path, xn, d->x, yn, d->y)) != RNNC_OK)
            goto fail;
    } else if (!o.y_optional) {
        s = rnnc_fail(RNNC_E_FORMAT, "'%s': dataset '/%s' (the targets) is missing", path, yn);
        goto fail;
    }
    if (rnnc_h5_exists(f, wn)) {
        if ((s = read_one(f, path, wn, RNNC_F32, true, &d->sample_weight)) != RNNC_OK ||
            (s = check_samples(path, xn, d->x, wn, d->sample_weight)) != RNNC_OK)
            goto fail;
        const rnnc_shape *ws = &d->sample_weight->shape;
        bool ok = ws->ndim == 1 ||
                  (ws->ndim == 2 && d->y && d->y->shape.ndim >= 2 && ws->dim[1] == d->y->shape.dim[1]);
        if (!ok) {
            s = rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' has shape %s; expected (N,) or (N, T) with T the targets' time steps (y: %s)",
                          path, wn, rnnc_shape_str(ws, a, sizeof a),
                          d->y ? rnnc_shape_str(&d->y->shape, b, sizeof b) : "absent");
            goto fail;
        }
    }
    if (rnnc_h5_exists(f, mn)) {
        if ((s = rnnc_h5_read_tensor(f, mn, path, RNNC_U8, false, &d->mask)) != RNNC_OK)
            goto fail;
        const rnnc_shape *ms = &d->mask->shape;
        if (ms->ndim != 2 || d->x->shape.ndim < 2 || ms->dim[0] != d->x->shape.dim[0] ||
            ms->dim[1] != d->x->shape.dim[1]) {
            s = rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/%s' has shape %s; expected (samples, timesteps) of '/%s' %s",
                          path, mn, rnnc_shape_str(ms, a, sizeof a), xn,
                          rnnc_shape_str(&d->x->shape, b, sizeof b));
            goto fail;
        }
    }
    rnnc_h5_close(f);
    *out = d;
    return RNNC_OK;
fail:
    rnnc_h5_close(f);
    rnnc_dataset_destroy(d);
    return s;
}

rnnc_status rnnc_dataset_write_outputs(const char *path, const rnnc_tensor *const *outputs,
                                       int n_outputs)
{
    rnnc_h5_writer w;
    char name[32];
    if (n_outputs < 0 || (n_outputs > 0 && !outputs))
        return rnnc_fail(RNNC_E_ARG, "writing '%s': no outputs given", path);
    for (int i = 0; i < n_outputs; i++)
        if (!outputs[i])
            return rnnc_fail(RNNC_E_ARG, "writing '%s': output %d is NULL", path, i);
    RNNC_TRY(rnnc_h5_writer_begin(path, &w));
    for (int i = 0; i < n_outputs; i++) {
        snprintf(name, sizeof name, "output_%d", i);
        rnnc_status s = rnnc_h5_write_tensor(w.file, name, outputs[i], path);
        if (s != RNNC_OK) {
            rnnc_h5_writer_discard(&w);
            return s;
        }
    }
    return rnnc_h5_writer_commit(&w);
}
