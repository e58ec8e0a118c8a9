/* backend_ops_train_checks.c - the argument checks of the training-step
 * ops of backend_ops.h (scale_rows, gather_rows / scatter_add_rows, metric,
 * the GRU, copy_block, reverse_time), shared by every backend (backend_ops_internal.h) so the CPU and
 * CUDA tables fail alike with the same message. */
#include <stdint.h>
#include <stdio.h>

#include "framework/backend_ops.h"
#include "framework/backend_ops_internal.h"

/* Whether two buffers start at the same memory (views included). */
static bool same(const rnnc_bbuf *a, const rnnc_bbuf *b)
{
    return a && b && a->data && a->data == b->data;
}

rnnc_status rnnc__scale_rows_check(const rnnc_backend_ops *be, int64_t rows, int64_t cols,
                                   const rnnc_bbuf *w, const rnnc_bbuf *x, const rnnc_bbuf *y)
{
    size_t n;
    RNNC_TRY(rnnc__bop_dims("scale_rows", rows, cols, &n));
    if (w)
        RNNC_TRY(rnnc__bop_check(be, "scale_rows", "w", w, RNNC_F32, (size_t)rows));
    RNNC_TRY(rnnc__bop_check(be, "scale_rows", "x", x, RNNC_F32, n));
    return rnnc__bop_check(be, "scale_rows", "y", y, RNNC_F32, n);
}

rnnc_status rnnc__mul_bcast_check(const rnnc_backend_ops *be, int64_t outer, int64_t mid, int64_t inner,
                                  const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *y)
{
    size_t nw, n;
    RNNC_TRY(rnnc__bop_dims("mul_bcast", outer, inner, &nw));
    if (mid < 0 || (mid > 0 && nw > SIZE_MAX / (size_t)mid))
        return rnnc_fail(RNNC_E_SHAPE, "mul_bcast: invalid sizes %lld x %lld x %lld", (long long)outer,
                         (long long)mid, (long long)inner);
    n = nw * (size_t)mid;
    RNNC_TRY(rnnc__bop_check(be, "mul_bcast", "w", w, RNNC_F32, nw));
    RNNC_TRY(rnnc__bop_check(be, "mul_bcast", "x", x, RNNC_F32, n));
    return rnnc__bop_check(be, "mul_bcast", "y", y, RNNC_F32, n);
}

rnnc_status rnnc__rows_index_check(const rnnc_backend_ops *be, bool scatter, int64_t rows,
                                   int64_t dim, const rnnc_bbuf *table, const rnnc_bbuf *ids,
                                   const rnnc_bbuf *rows_buf, size_t *n_ids)
{
    const char *op = scatter ? "scatter_add_rows" : "gather_rows";
    size_t n, m;
    RNNC_TRY(rnnc__bop_dims(op, rows, dim, &n));
    RNNC_TRY(rnnc__bop_check(be, op, scatter ? "dtable" : "table", table, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, op, "ids", ids, RNNC_I32, SIZE_MAX));
    RNNC_TRY(rnnc__bop_dims(op, (int64_t)ids->n, dim, &m));
    RNNC_TRY(rnnc__bop_check(be, op, scatter ? "dy" : "out", rows_buf, RNNC_F32, m));
    if (same(rows_buf, table))
        return rnnc_fail(RNNC_E_ARG, "%s %s: the rows must not be the table", be->name, op);
    *n_ids = ids->n;
    return RNNC_OK;
}

rnnc_status rnnc__metric_check(const rnnc_backend_ops *be, rnnc_bmetric kind, int64_t rows,
                               int64_t cols, const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred,
                               const rnnc_bbuf *values)
{
    size_t n;
    if ((unsigned)kind >= RNNC_BMETRIC_COUNT)
        return rnnc_fail(RNNC_E_ARG, "%s metric: invalid metric id %d", be->name, (int)kind);
    RNNC_TRY(rnnc__bop_dims("metric", rows, cols, &n));
    if (cols < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s metric: y_pred needs at least one column, got %lld",
                         be->name, (long long)cols);
    if (kind == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY)
        RNNC_TRY(rnnc__bop_check(be, "metric", "y_true", y_true, RNNC_I32, (size_t)rows));
    else
        RNNC_TRY(rnnc__bop_check(be, "metric", "y_true", y_true, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, "metric", "y_pred", y_pred, RNNC_F32, n));
    return rnnc__bop_check(be, "metric", "values", values, RNNC_F32, (size_t)rows);
}

rnnc_status rnnc__gru_config_check(const rnnc_backend_ops *be, const rnnc_bgru_config *c)
{
    if (!c)
        return rnnc_fail(RNNC_E_ARG, "%s gru_create: config is NULL", be->name);
    return rnnc__rnn_op_config_check(be, "gru", c->input_size, c->units, c->activation,
                                     c->recurrent_activation);
}

static size_t gru_bias_count(const rnnc_bgru_config *c)
{
    return (size_t)((c->reset_after ? 6 : 3) * c->units);
}

/* The three weight-shaped buffers (weights or their gradients), named by
 * prefix ("" or "d"). */
static rnnc_status gru_weights(const rnnc_backend_ops *be, const char *op, const char *prefix,
                               const rnnc_bgru_config *c, const rnnc_bbuf *k, const rnnc_bbuf *r,
                               const rnnc_bbuf *b)
{
    return rnnc__rnn_op_weights_check(be, op, prefix, "a GRU", c->input_size, c->units, 3,
                                      gru_bias_count(c), c->use_bias, k, r, b);
}

rnnc_status rnnc__gru_forward_check(const rnnc_backend_ops *be, const rnnc_bgru_config *c, int64_t B,
                                    int64_t T, const rnnc_bbuf *x, const rnnc_bbuf *h0,
                                    const rnnc_bbuf *kernel, const rnnc_bbuf *recurrent_kernel,
                                    const rnnc_bbuf *bias, const rnnc_bbuf *y, const rnnc_bbuf *state)
{
    const char *op = "gru_forward";
    const int64_t F = c->input_size, U = c->units;
    RNNC_TRY(rnnc__rnn_op_sizes_check(be, op, B, T, F, 3 * U));
    const size_t bu = (size_t)(B * U);
    RNNC_TRY(rnnc__bop_check(be, op, "x", x, RNNC_F32, (size_t)(B * T * F)));
    if (h0)
        RNNC_TRY(rnnc__bop_check(be, op, "h0", h0, RNNC_F32, bu));
    RNNC_TRY(gru_weights(be, op, "", c, kernel, recurrent_kernel, bias));
    RNNC_TRY(rnnc__bop_check(be, op, "y", y, RNNC_F32, c->return_sequences ? bu * (size_t)T : bu));
    if (state)
        RNNC_TRY(rnnc__bop_check(be, op, "state", state, RNNC_F32, bu));
    if (same(y, x) || same(y, h0) || same(state, y) || same(state, x) || same(state, h0))
        return rnnc_fail(RNNC_E_ARG, "%s %s: the outputs must not be inputs or each other",
                         be->name, op);
    return RNNC_OK;
}

rnnc_status rnnc__gru_backward_check(const rnnc_backend_ops *be, const rnnc_bgru_config *c, int64_t B,
                                     int64_t T, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                     const rnnc_bbuf *dh0, const rnnc_bbuf *dkernel,
                                     const rnnc_bbuf *drecurrent_kernel, const rnnc_bbuf *dbias)
{
    const char *op = "gru_backward";
    const int64_t F = c->input_size, U = c->units;
    const size_t bu = (size_t)(B * U);
    RNNC_TRY(rnnc__bop_check(be, op, "dy", dy, RNNC_F32, c->return_sequences ? bu * (size_t)T : bu));
    if (dx)
        RNNC_TRY(rnnc__bop_check(be, op, "dx", dx, RNNC_F32, (size_t)(B * T * F)));
    if (dh0)
        RNNC_TRY(rnnc__bop_check(be, op, "dh0", dh0, RNNC_F32, bu));
    RNNC_TRY(gru_weights(be, op, "d", c, dkernel, drecurrent_kernel, dbias));
    if (same(dx, dy) || same(dh0, dy) || same(dh0, dx))
        return rnnc_fail(RNNC_E_ARG, "%s %s: the outputs must not be dy or each other", be->name, op);
    return RNNC_OK;
}

/* Whether two buffers' element ranges overlap (views of one block included). */
static bool overlap(const rnnc_bbuf *a, const rnnc_bbuf *b)
{
    if (!a->data || !b->data)
        return false;
    const uintptr_t a0 = (uintptr_t)a->data, b0 = (uintptr_t)b->data;
    const uintptr_t a1 = a0 + a->n * rnnc_dtype_size(a->dtype), b1 = b0 + b->n * rnnc_dtype_size(b->dtype);
    return a0 < b1 && b0 < a1;
}

rnnc_status rnnc__copy_block_check(const rnnc_backend_ops *be, int64_t rows, int64_t width,
                                   const rnnc_bbuf *src, int64_t src_cols, int64_t src_off,
                                   const rnnc_bbuf *dst, int64_t dst_cols, int64_t dst_off)
{
    size_t ns, nd;
    RNNC_TRY(rnnc__bop_dims("copy_block", rows, src_cols, &ns));
    RNNC_TRY(rnnc__bop_dims("copy_block", rows, dst_cols, &nd));
    if (width < 0 || src_off < 0 || dst_off < 0 || src_off > src_cols - width || dst_off > dst_cols - width)
        return rnnc_fail(RNNC_E_SHAPE, "%s copy_block: columns [%lld, %lld + %lld) of %lld and [%lld, %lld + %lld) of %lld "
                         "are not within the rows", be->name, (long long)src_off, (long long)src_off,
                         (long long)width, (long long)src_cols, (long long)dst_off, (long long)dst_off,
                         (long long)width, (long long)dst_cols);
    RNNC_TRY(rnnc__bop_check(be, "copy_block", "src", src, RNNC_F32, ns));
    RNNC_TRY(rnnc__bop_check(be, "copy_block", "dst", dst, RNNC_F32, nd));
    if (overlap(src, dst))
        return rnnc_fail(RNNC_E_ARG, "%s copy_block: dst must not share memory with src", be->name);
    return RNNC_OK;
}

rnnc_status rnnc__reverse_time_check(const rnnc_backend_ops *be, int64_t B, int64_t T, int64_t C,
                                     const rnnc_bbuf *x, const rnnc_bbuf *y)
{
    size_t bt, n;
    RNNC_TRY(rnnc__bop_dims("reverse_time", B, T, &bt));
    if (C < 0)
        return rnnc_fail(RNNC_E_SHAPE, "reverse_time: invalid channel count %lld", (long long)C);
    RNNC_TRY(rnnc__bop_dims("reverse_time", (int64_t)bt, C, &n));
    RNNC_TRY(rnnc__bop_check(be, "reverse_time", "x", x, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, "reverse_time", "y", y, RNNC_F32, n));
    if (overlap(x, y))
        return rnnc_fail(RNNC_E_ARG, "%s reverse_time: y must not share memory with x", be->name);
    return RNNC_OK;
}

rnnc_status rnnc__layer_norm_check(const rnnc_backend_ops *be, bool forward, int64_t rows, int64_t cols,
                                   bool rms, const rnnc_bbuf *x, const rnnc_bbuf *gamma,
                                   const rnnc_bbuf *beta, const rnnc_bbuf *y, const rnnc_bbuf *mean,
                                   const rnnc_bbuf *inv, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                   const rnnc_bbuf *dgamma)
{
    const char *op = forward ? "layer_norm" : "layer_norm_backward";
    size_t n;
    RNNC_TRY(rnnc__bop_dims(op, rows, cols, &n));
    if (cols < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s: a row of %lld columns (at least 1)", op, (long long)cols);
    if (rms && beta)
        return rnnc_fail(RNNC_E_ARG, "%s %s: rms scaling takes no %s", be->name, op, forward ? "beta" : "dbeta");
    RNNC_TRY(rnnc__bop_check(be, op, "x", x, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, op, "mean", mean, RNNC_F32, (size_t)rows));
    RNNC_TRY(rnnc__bop_check(be, op, "inv", inv, RNNC_F32, (size_t)rows));
    if (gamma)
        RNNC_TRY(rnnc__bop_check(be, op, "gamma", gamma, RNNC_F32, (size_t)cols));
    if (beta)
        RNNC_TRY(rnnc__bop_check(be, op, forward ? "beta" : "dbeta", beta, RNNC_F32, (size_t)cols));
    if (forward)
        return rnnc__bop_check(be, op, "y", y, RNNC_F32, n);
    RNNC_TRY(rnnc__bop_check(be, op, "dy", dy, RNNC_F32, n));
    if (dgamma)
        RNNC_TRY(rnnc__bop_check(be, op, "dgamma", dgamma, RNNC_F32, (size_t)cols));
    if (dx) {
        RNNC_TRY(rnnc__bop_check(be, op, "dx", dx, RNNC_F32, n));
        if (overlap(dx, dy) || overlap(dx, x))
            return rnnc_fail(RNNC_E_ARG, "%s %s: dx must not share memory with dy or x", be->name, op);
    }
    return RNNC_OK;
}

rnnc_status rnnc__batch_norm_check(const rnnc_backend_ops *be, bool forward, int64_t rows, int64_t cols,
                                   const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *gamma,
                                   const rnnc_bbuf *beta, const rnnc_bbuf *moving_mean,
                                   const rnnc_bbuf *moving_var, const rnnc_bbuf *y, const rnnc_bbuf *mean,
                                   const rnnc_bbuf *den, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                   const rnnc_bbuf *dgamma, const rnnc_bbuf *dbeta)
{
    const char *op = forward ? "batch_norm" : "batch_norm_backward";
    size_t n;
    RNNC_TRY(rnnc__bop_dims(op, rows, cols, &n));
    if (rows < 1 || cols < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s: %lld rows of %lld columns (at least 1 of each)", op, (long long)rows,
                         (long long)cols);
    const size_t c = (size_t)cols;
    RNNC_TRY(rnnc__bop_check(be, op, "x", x, RNNC_F32, n));
    if (w)
        RNNC_TRY(rnnc__bop_check(be, op, "w", w, RNNC_F32, (size_t)rows));
    if (gamma)
        RNNC_TRY(rnnc__bop_check(be, op, "gamma", gamma, RNNC_F32, c));
    RNNC_TRY(rnnc__bop_check(be, op, "mean", mean, RNNC_F32, c));
    RNNC_TRY(rnnc__bop_check(be, op, "den", den, RNNC_F32, c));
    if (forward) {
        if (beta)
            RNNC_TRY(rnnc__bop_check(be, op, "beta", beta, RNNC_F32, c));
        RNNC_TRY(rnnc__bop_check(be, op, "moving_mean", moving_mean, RNNC_F32, c));
        RNNC_TRY(rnnc__bop_check(be, op, "moving_var", moving_var, RNNC_F32, c));
        RNNC_TRY(rnnc__bop_check(be, op, "y", y, RNNC_F32, n));
        if (overlap(x, y))
            return rnnc_fail(RNNC_E_ARG, "%s %s: y must not share memory with x", be->name, op);
        return RNNC_OK;
    }
    RNNC_TRY(rnnc__bop_check(be, op, "dy", dy, RNNC_F32, n));
    if (dgamma)
        RNNC_TRY(rnnc__bop_check(be, op, "dgamma", dgamma, RNNC_F32, c));
    if (dbeta)
        RNNC_TRY(rnnc__bop_check(be, op, "dbeta", dbeta, RNNC_F32, c));
    if (dx) {
        RNNC_TRY(rnnc__bop_check(be, op, "dx", dx, RNNC_F32, n));
        if (overlap(dx, dy) || overlap(dx, x))
            return rnnc_fail(RNNC_E_ARG, "%s %s: dx must not share memory with dy or x", be->name, op);
    }
    return RNNC_OK;
}
