/* ops_support.c - argument checks, broadcasting and the strided iterator
 * shared by the ops (declared in ops_internal.h). No op lives here. */
#include "framework/ops_internal.h"

#include <stdio.h>
#include <string.h>

rnnc_status rnnc__check_nonnull(const char *op, const char *arg, const void *p)
{
    if (!p)
        return rnnc_fail(RNNC_E_ARG, "%s: argument '%s' is NULL", op, arg);
    return RNNC_OK;
}

rnnc_status rnnc__check_tensor(const char *op, const char *arg, const rnnc_tensor *t)
{
    RNNC_TRY(rnnc__check_nonnull(op, arg, t));
    if (t->device != RNNC_DEVICE_CPU)
        return rnnc_fail(RNNC_E_UNSUPPORTED,
                         "%s: argument '%s' is a %s tensor; this op runs on CPU tensors only",
                         op, arg, rnnc_device_name(t->device));
    return RNNC_OK;
}

rnnc_status rnnc__check_float(const char *op, const char *arg, const rnnc_tensor *t)
{
    char s[160];
    RNNC_TRY(rnnc__check_tensor(op, arg, t));
    if (!rnnc_dtype_is_float(t->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "%s: argument '%s' must be float32 or float64, got %s of shape %s",
                         op, arg, rnnc_dtype_name(t->dtype), RNNC__SHAPE_STR(&t->shape, s));
    return RNNC_OK;
}

rnnc_status rnnc__check_same_float(const char *op, const char *an, const rnnc_tensor *a,
                                   const char *bn, const rnnc_tensor *b)
{
    char sa[160], sb[160];
    RNNC_TRY(rnnc__check_float(op, an, a));
    RNNC_TRY(rnnc__check_float(op, bn, b));
    if (a->dtype != b->dtype)
        return rnnc_fail(RNNC_E_DTYPE,
                         "%s: '%s' is %s %s but '%s' is %s %s (operands must share one dtype)", op, an,
                         rnnc_dtype_name(a->dtype), RNNC__SHAPE_STR(&a->shape, sa), bn,
                         rnnc_dtype_name(b->dtype), RNNC__SHAPE_STR(&b->shape, sb));
    return RNNC_OK;
}

void rnnc__bcast_strides(const rnnc_shape *s, int ndim, int64_t stride[RNNC_MAX_DIMS])
{
    int shift = ndim - s->ndim;
    int64_t run = 1;
    for (int d = 0; d < RNNC_MAX_DIMS; d++)
        stride[d] = 0;
    for (int d = s->ndim - 1; d >= 0; d--) {
        stride[shift + d] = s->dim[d] == 1 ? 0 : run;
        run *= s->dim[d];
    }
}

rnnc_status rnnc__bcast_shape(const char *op, int n, const rnnc_tensor *const *ts, rnnc_shape *out)
{
    rnnc_shape r = {0};
    for (int k = 0; k < n; k++)
        if (ts[k]->shape.ndim > r.ndim)
            r.ndim = ts[k]->shape.ndim;
    for (int d = 0; d < r.ndim; d++)
        r.dim[d] = 1;
    for (int k = 0; k < n; k++) {
        const rnnc_shape *s = &ts[k]->shape;
        int shift = r.ndim - s->ndim;
        for (int d = 0; d < s->ndim; d++) {
            int64_t have = r.dim[shift + d], want = s->dim[d];
            if (want == have || want == 1)
                continue;
            if (have == 1) {
                r.dim[shift + d] = want;
                continue;
            }
            /* Name every operand's shape: the reader needs to see all of them. */
            char msg[600];
            size_t used = 0;
            for (int j = 0; j < n && used < sizeof msg; j++) {
                char b[160];
                used += (size_t)snprintf(msg + used, sizeof msg - used, "%s%s", j ? " and " : "",
                                         RNNC__SHAPE_STR(&ts[j]->shape, b));
            }
            return rnnc_fail(RNNC_E_SHAPE,
                             "%s: shapes %s cannot be broadcast together (dim %d: %lld vs %lld)", op,
                             msg, d - s->ndim, (long long)have, (long long)want);
        }
    }
    *out = r;
    return RNNC_OK;
}

void rnnc__iter_init(rnnc__iter *it, const rnnc_shape *shape, int n_ops,
                     const int64_t (*strides)[RNNC_MAX_DIMS])
{
    memset(it, 0, sizeof *it);
    it->n_ops = n_ops;
    bool empty = false;
    int m = 0;
    for (int d = 0; d < shape->ndim; d++) {
        int64_t len = shape->dim[d];
        if (len == 0)
            empty = true;
        if (len == 1)
            continue; /* the index is always 0 there: its stride never matters */
        /* Fold into the previous kept dim when every operand walks the pair
         * as one longer dim (outer stride = inner stride * inner length). */
        bool merge = m > 0;
        for (int k = 0; k < n_ops && merge; k++)
            merge = it->stride[k][m - 1] == strides[k][d] * len;
        if (merge) {
            it->dim[m - 1] *= len;
            for (int k = 0; k < n_ops; k++)
                it->stride[k][m - 1] = strides[k][d];
            continue;
        }
        it->dim[m] = len;
        for (int k = 0; k < n_ops; k++)
            it->stride[k][m] = strides[k][d];
        m++;
    }
    if (m == 0) { /* rank 0 or all ones: one element */
        it->dim[0] = 1;
        m = 1;
    }
    it->ndim = m;
    it->inner = it->dim[m - 1];
    for (int k = 0; k < n_ops; k++)
        it->istride[k] = it->stride[k][m - 1];
    it->rows = 1;
    for (int d = 0; d < m - 1; d++)
        it->rows *= (size_t)it->dim[d];
    if (empty) {
        it->rows = 0;
        it->inner = 0;
    }
}

void rnnc__iter_next(rnnc__iter *it)
{
    for (int d = it->ndim - 2; d >= 0; d--) {
        it->idx[d]++;
        for (int k = 0; k < it->n_ops; k++)
            it->off[k] += it->stride[k][d];
        if (it->idx[d] < it->dim[d])
            return;
        for (int k = 0; k < it->n_ops; k++)
            it->off[k] -= it->stride[k][d] * it->dim[d];
        it->idx[d] = 0;
    }
}

void rnnc__bcast_iter(rnnc__iter *it, const rnnc_shape *ys, int n, const rnnc_tensor *const *ins)
{
    int64_t st[RNNC__ITER_MAX_OPS][RNNC_MAX_DIMS];
    rnnc__bcast_strides(ys, ys->ndim, st[0]);
    for (int k = 0; k < n; k++)
        rnnc__bcast_strides(&ins[k]->shape, ys->ndim, st[k + 1]);
    rnnc__iter_init(it, ys, n + 1, (const int64_t(*)[RNNC_MAX_DIMS])st);
}

void rnnc__split_axis(const rnnc_shape *s, int axis, int64_t *outer, int64_t *mid, int64_t *inner)
{
    int64_t o = 1, i = 1;
    for (int d = 0; d < axis; d++)
        o *= s->dim[d];
    for (int d = axis + 1; d < s->ndim; d++)
        i *= s->dim[d];
    *outer = o;
    *mid = s->dim[axis];
    *inner = i;
}

rnnc_status rnnc__ctx_copy(rnnc_ctx *cx, const rnnc_tensor *t, rnnc_tensor **out)
{
    RNNC_TRY(rnnc_ctx_tensor(cx, t->dtype, &t->shape, out));
    if (t->numel)
        memcpy((*out)->data, t->data, t->numel * rnnc_dtype_size(t->dtype));
    return RNNC_OK;
}
