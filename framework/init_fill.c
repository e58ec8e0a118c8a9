/* init_fill.c - filling tensors from an initializer (spec 7.2-7.5): fan
 * rules, the uniform / normal / truncated-normal draws, constants, Identity;
 * Orthogonal's QR is in init_orthogonal.c, parsing and config in
 * initializers.c.
 *
 * Random kinds restart Philox at counter 0 with the initializer's seed on
 * every fill, so one object fills the same values each time for a shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "framework/init_internal.h"
#include "framework/random.h"

/* ---------------------------------------------------------------- fans */

void rnnc_compute_fans(const rnnc_shape *s, double *fan_in, double *fan_out)
{
    if (s->ndim < 1) {
        *fan_in = *fan_out = 1.0;
    } else if (s->ndim == 1) {
        *fan_in = *fan_out = (double)s->dim[0];
    } else if (s->ndim == 2) {
        *fan_in = (double)s->dim[0];
        *fan_out = (double)s->dim[1];
    } else {
        /* Convolution-style kernels (..., c_in, c_out): the leading dims are
         * the receptive field. */
        double field = 1.0;
        for (int d = 0; d < s->ndim - 2; d++)
            field *= (double)s->dim[d];
        *fan_in = (double)s->dim[s->ndim - 2] * field;
        *fan_out = (double)s->dim[s->ndim - 1] * field;
    }
}

/* Product of the sizes of the axes named by an int or a list of ints. */
static rnnc_status axes_product(const rnnc_cfg *axes, const rnnc_shape *s, const char *who,
                                const char *key, double *out)
{
    char buf[128];
    size_t n = axes->type == RNNC_CFG_LIST ? axes->n : 1;
    double p = 1.0;
    for (size_t i = 0; i < n; i++) {
        const rnnc_cfg *a = axes->type == RNNC_CFG_LIST ? axes->items[i] : axes;
        int64_t ax = a->v.i; /* ints only: checked at construction */
        if (ax < -s->ndim || ax >= s->ndim)
            return rnnc_fail(RNNC_E_ARG, "%s: %s entry %lld is out of range for shape %s",
                             who, key, (long long)ax, rnnc_shape_str(s, buf, sizeof buf));
        p *= (double)s->dim[ax < 0 ? ax + s->ndim : ax];
    }
    *out = p;
    return RNNC_OK;
}

/* ---------------------------------------------------------------- filling */

/* n standard normals truncated to [-2, 2]: out-of-range draws are replaced
 * by fresh draws, in order, until none is left (Keras's resampling). */
static rnnc_status truncated_normal(rnnc_rng *r, double *z, size_t n)
{
    rnnc_rng_normal(r, z, n);
    size_t *bad = malloc((n ? n : 1) * sizeof *bad);
    double *fresh = malloc((n ? n : 1) * sizeof *fresh);
    if (!bad || !fresh) {
        free(bad);
        free(fresh);
        return rnnc_fail(RNNC_E_NOMEM, "truncated normal: out of memory for %zu values", n);
    }
    size_t nbad = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(z[i]) > 2.0)
            bad[nbad++] = i;
    while (nbad > 0) {
        rnnc_rng_normal(r, fresh, nbad);
        size_t still = 0;
        for (size_t j = 0; j < nbad; j++) {
            z[bad[j]] = fresh[j];
            if (fabs(fresh[j]) > 2.0)
                bad[still++] = bad[j];
        }
        nbad = still;
    }
    free(bad);
    free(fresh);
    return RNNC_OK;
}

/* Draws numel values of the random kinds into v. */
static rnnc_status draw(const rnnc_initializer *in, const rnnc_shape *shape, size_t n,
                        double *v)
{
    rnnc_rng r;
    rnnc_rng_init(&r, in->seed);
    double lo, hi, mean, sd;
    switch (in->kind) {
    case RNNC__INIT_RANDOM_NORMAL:
        mean = in->p[0].v, sd = in->p[1].v;
        rnnc_rng_normal(&r, v, n);
        for (size_t i = 0; i < n; i++)
            v[i] = mean + sd * v[i];
        return RNNC_OK;
    case RNNC__INIT_TRUNCATED_NORMAL:
        mean = in->p[0].v, sd = in->p[1].v;
        RNNC_TRY(truncated_normal(&r, v, n));
        for (size_t i = 0; i < n; i++)
            v[i] = mean + sd * v[i];
        return RNNC_OK;
    case RNNC__INIT_RANDOM_UNIFORM:
        lo = in->p[0].v, hi = in->p[1].v;
        rnnc_rng_uniform(&r, v, n);
        for (size_t i = 0; i < n; i++)
            v[i] = lo + (hi - lo) * v[i];
        return RNNC_OK;
    default:
        break;
    }
    /* Variance scaling: s = scale / max(1, n_mode). */
    char who[160];
    snprintf(who, sizeof who, "%s", rnnc__init_class_names[in->kind]);
    double fan_in, fan_out;
    if (in->input_axes && in->output_axes) {
        RNNC_TRY(axes_product(in->input_axes, shape, who, "input_axes", &fan_in));
        RNNC_TRY(axes_product(in->output_axes, shape, who, "output_axes", &fan_out));
    } else {
        rnnc_compute_fans(shape, &fan_in, &fan_out);
    }
    double denom = in->mode == RNNC__VS_FAN_IN ? fan_in
                   : in->mode == RNNC__VS_FAN_OUT ? fan_out : (fan_in + fan_out) / 2.0;
    double s = in->p[0].v / fmax(1.0, denom);
    if (in->dist == RNNC__VS_UNIFORM) {
        double limit = sqrt(3.0 * s);
        rnnc_rng_uniform(&r, v, n);
        for (size_t i = 0; i < n; i++)
            v[i] = -limit + 2.0 * limit * v[i];
    } else if (in->dist == RNNC__VS_TRUNCATED_NORMAL) {
        sd = sqrt(s) / RNNC__TRUNC_STD;
        RNNC_TRY(truncated_normal(&r, v, n));
        for (size_t i = 0; i < n; i++)
            v[i] *= sd;
    } else {
        sd = sqrt(s);
        rnnc_rng_normal(&r, v, n);
        for (size_t i = 0; i < n; i++)
            v[i] *= sd;
    }
    return RNNC_OK;
}

rnnc_status rnnc_initializer_fill(const rnnc_initializer *init, rnnc_tensor *w)
{
    char buf[128];
    const char *cls = rnnc__init_class_names[init->kind];
    if (w->dtype != RNNC_F32 && w->dtype != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "%s: can only fill float tensors, got %s", cls,
                         rnnc_dtype_name(w->dtype));
    switch (init->kind) {
    case RNNC__INIT_ZEROS:
        rnnc_tensor_fill(w, 0.0);
        return RNNC_OK;
    case RNNC__INIT_ONES:
        rnnc_tensor_fill(w, 1.0);
        return RNNC_OK;
    case RNNC__INIT_CONSTANT:
        rnnc_tensor_fill(w, init->p[0].v);
        return RNNC_OK;
    case RNNC__INIT_IDENTITY: {
        if (w->shape.ndim != 2)
            return rnnc_fail(RNNC_E_SHAPE,
                             "Identity: can only fill 2-D matrices, got shape %s of rank %d",
                             rnnc_shape_str(&w->shape, buf, sizeof buf), w->shape.ndim);
        rnnc_tensor_fill(w, 0.0);
        int64_t rows = w->shape.dim[0], cols = w->shape.dim[1];
        for (int64_t i = 0; i < rows && i < cols; i++)
            rnnc_tensor_set(w, (size_t)(i * cols + i), init->p[0].v);
        return RNNC_OK;
    }
    default:
        break;
    }
    /* Random kinds: draw in double, then store in the tensor's dtype. */
    if (init->kind == RNNC__INIT_ORTHOGONAL && w->shape.ndim < 2)
        return rnnc_fail(RNNC_E_SHAPE,
                         "Orthogonal: the weight must be at least 2-D, got shape %s of rank %d",
                         rnnc_shape_str(&w->shape, buf, sizeof buf), w->shape.ndim);
    size_t n = w->numel;
    double *v = w->dtype == RNNC_F64 ? (double *)w->data : malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory filling shape %s", cls,
                         rnnc_shape_str(&w->shape, buf, sizeof buf));
    rnnc_status s = init->kind == RNNC__INIT_ORTHOGONAL
                        ? rnnc__orthogonal_fill(init->seed, init->p[0].v, &w->shape, cls, v)
                        : draw(init, &w->shape, n, v);
    if (w->dtype == RNNC_F32) {
        float *f = w->data;
        if (s == RNNC_OK)
            for (size_t i = 0; i < n; i++)
                f[i] = (float)v[i];
        free(v);
    }
    return s;
}

