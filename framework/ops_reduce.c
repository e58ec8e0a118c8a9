/* ops_reduce.c - sum and mean over a set of axes, with or without keepdims.
 *
 * Accumulates in double whatever the dtype (float32 sums of B*T*U terms
 * lose digits otherwise), then stores in the tensor's dtype. The reduction
 * walks x with a second operand whose strides are 0 on the reduced axes,
 * so every x element lands on its output cell; backward walks the same
 * pair and spreads dy back. Mean over an empty axis is NaN (0/0), as NumPy. */
#include "framework/ops.h"
#include "framework/ops_internal.h"

#include <stdlib.h>

/* The x-shaped index space with operand 0 = x and operand 1 = the output,
 * broadcast (stride 0) over the reduced axes: `keep` is x's shape with
 * reduced dims set to 1. */
static void reduce_iter(rnnc__iter *it, const rnnc_shape *xs, const rnnc_shape *keep)
{
    int64_t st[2][RNNC_MAX_DIMS];
    rnnc__bcast_strides(xs, xs->ndim, st[0]);
    rnnc__bcast_strides(keep, xs->ndim, st[1]);
    rnnc__iter_init(it, xs, 2, (const int64_t(*)[RNNC_MAX_DIMS])st);
}

static rnnc_shape keep_shape(const rnnc_shape *xs, int64_t red_mask)
{
    rnnc_shape k = *xs;
    for (int d = 0; d < xs->ndim; d++)
        if (red_mask >> d & 1)
            k.dim[d] = 1;
    return k;
}

/* iarg[0]: bit d set when axis d is reduced; farg[0]: 1 (sum) or 1/count (mean). */
static rnnc_status reduce_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    rnnc_shape keep = keep_shape(&x->shape, n->iarg[0]);
    rnnc__iter it;
    reduce_iter(&it, &x->shape, &keep);
    const double scale = n->farg[0];
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        T *GX = x->grad;
        const T *G = out->grad;
        for (size_t r = 0; r < it.rows; r++, rnnc__iter_next(&it)) {
            T *gx = GX + it.off[0];
            const T *g = G + it.off[1];
            for (int64_t j = 0; j < it.inner; j++)
                gx[j * it.istride[0]] += (T)((double)g[j * it.istride[1]] * scale);
        }
    });
    return RNNC_OK;
}

static rnnc_status reduce(rnnc_ctx *cx, const char *name, bool mean, rnnc_tensor *x,
                          const int *axes, int n_axes, bool keepdims, rnnc_tensor **y)
{
    char s[160];
    RNNC_TRY(rnnc__check_nonnull(name, "cx", cx));
    RNNC_TRY(rnnc__check_nonnull(name, "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_float(name, "x", x));
    if (n_axes < 0 || (n_axes > 0 && !axes))
        return rnnc_fail(RNNC_E_ARG, "%s: invalid axes list (n_axes = %d%s)", name, n_axes,
                         axes ? "" : ", axes NULL");
    int64_t red = 0;
    if (n_axes == 0) {
        red = ((int64_t)1 << x->shape.ndim) - 1;
    } else {
        for (int i = 0; i < n_axes; i++) {
            int a;
            if (rnnc_shape_axis(&x->shape, axes[i], &a) != RNNC_OK)
                return rnnc_fail(RNNC_E_ARG, "%s: axis %d is out of range for x of shape %s", name,
                                 axes[i], RNNC__SHAPE_STR(&x->shape, s));
            if (red >> a & 1)
                return rnnc_fail(RNNC_E_ARG, "%s: axis %d is listed twice (x of shape %s)", name,
                                 axes[i], RNNC__SHAPE_STR(&x->shape, s));
            red |= (int64_t)1 << a;
        }
    }
    rnnc_shape keep = keep_shape(&x->shape, red), ys = {0};
    double count = 1;
    for (int d = 0; d < x->shape.ndim; d++) {
        if (red >> d & 1)
            count *= (double)x->shape.dim[d];
        else
            ys.dim[ys.ndim++] = x->shape.dim[d];
    }
    if (keepdims)
        ys = keep;
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ys, &out));
    double *acc = calloc(out->numel ? out->numel : 1, sizeof *acc);
    if (!acc)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory for %zu accumulators", name, out->numel);
    rnnc__iter it;
    reduce_iter(&it, &x->shape, &keep);
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        for (size_t r = 0; r < it.rows; r++, rnnc__iter_next(&it)) {
            const T *px = X + it.off[0];
            double *pa = acc + it.off[1];
            for (int64_t j = 0; j < it.inner; j++)
                pa[j * it.istride[1]] += (double)px[j * it.istride[0]];
        }
    });
    const double scale = mean ? 1.0 / count : 1.0;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        T *Y = out->data;
        for (size_t i = 0; i < out->numel; i++)
            Y[i] = (T)(acc[i] * scale);
    });
    free(acc);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, name, reduce_backward, 1, &x, 1, &out, &node));
    if (node) {
        node->iarg[0] = red;
        node->farg[0] = scale;
    }
    *y = out;
    return RNNC_OK;
}

rnnc_status rnnc_sum(rnnc_ctx *cx, rnnc_tensor *x, const int *axes, int n_axes, bool keepdims,
                     rnnc_tensor **y)
{
    return reduce(cx, "sum", false, x, axes, n_axes, keepdims, y);
}

rnnc_status rnnc_mean(rnnc_ctx *cx, rnnc_tensor *x, const int *axes, int n_axes, bool keepdims,
                      rnnc_tensor **y)
{
    return reduce(cx, "mean", true, x, axes, n_axes, keepdims, y);
}
