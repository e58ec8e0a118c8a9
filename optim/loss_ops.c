/* loss_ops.c - fused sigmoid / softmax / sparse-softmax cross-entropy ops
 * with exact backward (declared in loss_ops.h).
 *
 * Values are computed in double and stored in the logits' dtype. The
 * forward keeps what backward needs (a ctx-owned copy of the labels, so a
 * caller reusing its label buffer cannot corrupt the gradient). */
#include "optim/loss_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rnnc_status check_float(const char *op, const char *arg, const rnnc_tensor *t)
{
    char s[160];
    if (!t)
        return rnnc_fail(RNNC_E_ARG, "%s: argument '%s' is NULL", op, arg);
    if (!rnnc_dtype_is_float(t->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "%s: '%s' must be float32 or float64, got %s of shape %s", op,
                         arg, rnnc_dtype_name(t->dtype), rnnc_shape_str(&t->shape, s, sizeof s));
    return RNNC_OK;
}

/* A ctx-owned copy of t converted to dtype (labels saved for backward). */
static rnnc_status ctx_copy_as(rnnc_ctx *cx, const rnnc_tensor *t, rnnc_dtype dtype,
                               rnnc_tensor **out)
{
    RNNC_TRY(rnnc_ctx_tensor(cx, dtype, &t->shape, out));
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(*out, i, rnnc_tensor_get(t, i));
    return RNNC_OK;
}

/* ---- sigmoid cross-entropy ------------------------------------------ */

static rnnc_status sigmoid_xent_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *z = n->saved[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Z = z->data, *G = out->grad;
        T *GX = x->grad;
        for (size_t i = 0; i < x->numel; i++) {
            const double xi = X[i];
            /* sigmoid without overflow for large |x| */
            const double s = xi >= 0 ? 1.0 / (1.0 + exp(-xi)) : exp(xi) / (1.0 + exp(xi));
            GX[i] += (T)((double)G[i] * (s - (double)Z[i]));
        }
    });
    return RNNC_OK;
}

rnnc_status rnnc__sigmoid_xent(rnnc_ctx *cx, const rnnc_tensor *labels, rnnc_tensor *logits,
                               rnnc_tensor **y)
{
    char a[160], b[160];
    *y = NULL;
    RNNC_TRY(check_float("sigmoid_cross_entropy", "logits", logits));
    RNNC_TRY(check_float("sigmoid_cross_entropy", "labels", labels));
    if (!rnnc_shape_eq(&labels->shape, &logits->shape))
        return rnnc_fail(RNNC_E_SHAPE, "sigmoid_cross_entropy: labels %s and logits %s must have the same shape",
                         rnnc_shape_str(&labels->shape, a, sizeof a),
                         rnnc_shape_str(&logits->shape, b, sizeof b));
    rnnc_tensor *z, *out;
    RNNC_TRY(ctx_copy_as(cx, labels, logits->dtype, &z));
    RNNC_TRY(rnnc_ctx_tensor(cx, logits->dtype, &logits->shape, &out));
    RNNC_FLOAT_DISPATCH(logits->dtype, T, {
        const T *X = logits->data, *Z = z->data;
        T *Y = out->data;
        for (size_t i = 0; i < logits->numel; i++) {
            const double xi = X[i];
            /* TF's stable form: relu(x) - x z + log1p(exp(-|x|)) */
            Y[i] = (T)((xi > 0 ? xi : 0.0) - xi * (double)Z[i] + log1p(exp(-fabs(xi))));
        }
    });
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "sigmoid_cross_entropy", sigmoid_xent_backward, 1, &logits, 1,
                             &out, &node));
    if (node) {
        node->saved[0] = z;
        node->n_saved = 1;
    }
    *y = out;
    return RNNC_OK;
}

/* ---- softmax cross-entropy (dense labels) --------------------------- */

/* Row r of a (rows, C) view: log-sum-exp of x, shifted by the row max. */
static double row_lse(const double *x, int64_t c)
{
    double m = -INFINITY;
    for (int64_t j = 0; j < c; j++)
        m = (x[j] > m || x[j] != x[j]) ? x[j] : m;
    if (isinf(m))
        return m; /* all -inf (or +inf present): the result is degenerate anyway */
    double s = 0;
    for (int64_t j = 0; j < c; j++)
        s += exp(x[j] - m);
    return m + log(s);
}

static rnnc_status softmax_xent_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *z = n->saved[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const int64_t c = x->shape.dim[x->shape.ndim - 1];
    const size_t rows = c ? x->numel / (size_t)c : 0;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Z = z->data, *G = out->grad;
        T *GX = x->grad;
        for (size_t r = 0; r < rows; r++) {
            const T *xr = X + r * (size_t)c, *zr = Z + r * (size_t)c;
            T *gr = GX + r * (size_t)c;
            double m = -INFINITY, s = 0, zs = 0;
            for (int64_t j = 0; j < c; j++)
                m = ((double)xr[j] > m || xr[j] != xr[j]) ? (double)xr[j] : m;
            for (int64_t j = 0; j < c; j++) {
                s += exp((double)xr[j] - m);
                zs += (double)zr[j];
            }
            const double g = (double)G[r];
            for (int64_t j = 0; j < c; j++)
                gr[j] += (T)(g * (exp((double)xr[j] - m) / s * zs - (double)zr[j]));
        }
    });
    return RNNC_OK;
}

static rnnc_status last_axis_shape(const char *op, const rnnc_tensor *logits, rnnc_shape *ys)
{
    char a[160];
    if (logits->shape.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s: logits must have rank >= 1 (a class axis), got shape %s",
                         op, rnnc_shape_str(&logits->shape, a, sizeof a));
    *ys = logits->shape;
    ys->ndim--;
    return RNNC_OK;
}

rnnc_status rnnc__softmax_xent(rnnc_ctx *cx, const rnnc_tensor *labels, rnnc_tensor *logits,
                               rnnc_tensor **y)
{
    char a[160], b[160];
    const char *op = "softmax_cross_entropy";
    *y = NULL;
    RNNC_TRY(check_float(op, "logits", logits));
    RNNC_TRY(check_float(op, "labels", labels));
    if (!rnnc_shape_eq(&labels->shape, &logits->shape))
        return rnnc_fail(RNNC_E_SHAPE, "%s: labels %s and logits %s must have the same shape", op,
                         rnnc_shape_str(&labels->shape, a, sizeof a),
                         rnnc_shape_str(&logits->shape, b, sizeof b));
    rnnc_shape ys;
    RNNC_TRY(last_axis_shape(op, logits, &ys));
    rnnc_tensor *z, *out;
    RNNC_TRY(ctx_copy_as(cx, labels, logits->dtype, &z));
    RNNC_TRY(rnnc_ctx_tensor(cx, logits->dtype, &ys, &out));
    const int64_t c = logits->shape.dim[logits->shape.ndim - 1];
    double *row = NULL;
    if (c > 0 && !(row = malloc((size_t)c * sizeof *row)))
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory for a row of %lld classes", op, (long long)c);
    RNNC_FLOAT_DISPATCH(logits->dtype, T, {
        const T *X = logits->data, *Z = z->data;
        T *Y = out->data;
        for (size_t r = 0; r < out->numel; r++) {
            double acc = 0;
            if (c > 0) {
                for (int64_t j = 0; j < c; j++)
                    row[j] = (double)X[r * (size_t)c + (size_t)j];
                const double lse = row_lse(row, c);
                for (int64_t j = 0; j < c; j++)
                    acc -= (double)Z[r * (size_t)c + (size_t)j] * (row[j] - lse);
            }
            Y[r] = (T)acc;
        }
    });
    free(row);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, op, softmax_xent_backward, 1, &logits, 1, &out, &node));
    if (node) {
        node->saved[0] = z;
        node->n_saved = 1;
    }
    *y = out;
    return RNNC_OK;
}

/* ---- sparse softmax cross-entropy (integer labels) ------------------- */

static rnnc_status sparse_xent_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *ids = n->saved[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const int64_t c = x->shape.dim[x->shape.ndim - 1];
    const int64_t *I = ids->data;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *G = out->grad;
        T *GX = x->grad;
        for (size_t r = 0; r < out->numel; r++) {
            const T *xr = X + r * (size_t)c;
            T *gr = GX + r * (size_t)c;
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < c; j++)
                m = ((double)xr[j] > m || xr[j] != xr[j]) ? (double)xr[j] : m;
            for (int64_t j = 0; j < c; j++)
                s += exp((double)xr[j] - m);
            const double g = (double)G[r];
            for (int64_t j = 0; j < c; j++)
                gr[j] += (T)(g * (exp((double)xr[j] - m) / s - (j == I[r] ? 1.0 : 0.0)));
        }
    });
    return RNNC_OK;
}

rnnc_status rnnc__sparse_softmax_xent(rnnc_ctx *cx, const rnnc_tensor *ids, rnnc_tensor *logits,
                                      rnnc_tensor **y)
{
    char a[160], b[160];
    const char *op = "sparse_softmax_cross_entropy";
    *y = NULL;
    RNNC_TRY(check_float(op, "logits", logits));
    if (!ids)
        return rnnc_fail(RNNC_E_ARG, "%s: argument 'labels' is NULL", op);
    rnnc_shape ys;
    RNNC_TRY(last_axis_shape(op, logits, &ys));
    if (!rnnc_shape_eq(&ids->shape, &ys))
        return rnnc_fail(RNNC_E_SHAPE, "%s: labels of shape %s do not match logits %s without the class axis",
                         op, rnnc_shape_str(&ids->shape, a, sizeof a),
                         rnnc_shape_str(&logits->shape, b, sizeof b));
    const int64_t c = logits->shape.dim[logits->shape.ndim - 1];
    rnnc_tensor *saved, *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_I64, &ys, &saved));
    int64_t *I = saved->data;
    for (size_t r = 0; r < ids->numel; r++) {
        const double v = rnnc_tensor_get(ids, r);
        if (!(v >= 0 && v < (double)c) || v != floor(v))
            return rnnc_fail(RNNC_E_ARG, "%s: received a label value of %g at flat index %zu, which is outside the valid range of [0, %lld)",
                             op, v, r, (long long)c);
        I[r] = (int64_t)v;
    }
    RNNC_TRY(rnnc_ctx_tensor(cx, logits->dtype, &ys, &out));
    double *row = NULL;
    if (c > 0 && !(row = malloc((size_t)c * sizeof *row)))
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory for a row of %lld classes", op, (long long)c);
    RNNC_FLOAT_DISPATCH(logits->dtype, T, {
        const T *X = logits->data;
        T *Y = out->data;
        for (size_t r = 0; r < out->numel; r++) {
            for (int64_t j = 0; j < c; j++)
                row[j] = (double)X[r * (size_t)c + (size_t)j];
            Y[r] = (T)(row_lse(row, c) - row[I[r]]);
        }
    });
    free(row);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, op, sparse_xent_backward, 1, &logits, 1, &out, &node));
    if (node) {
        node->saved[0] = saved;
        node->n_saved = 1;
    }
    *y = out;
    return RNNC_OK;
}
