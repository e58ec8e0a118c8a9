/* ops_gather.c - embedding lookup: rows of a (V, D) table picked by int32 ids.
 *
 * y[..., :] = table[ids[...], :]; backward scatter-adds dy rows into the
 * table's gradient (repeated ids add up), or, for a table opted in to
 * sparse gradients (sparse_grad.h), appends the dy rows with their ids.
 * The ids are copied onto the node, so the caller may reuse its id buffer
 * before backward runs. */
#include "framework/ops.h"
#include "framework/ops_internal.h"
#include "framework/sparse_grad.h"

#include <string.h>

/* saved[0]: the ids (int32), iarg[0]: D. */
static rnnc_status gather_backward(rnnc_node *n)
{
    rnnc_tensor *table = n->in[0], *out = n->out[0];
    const rnnc_tensor *ids = n->saved[0];
    if (!out->grad || !table->requires_grad)
        return RNNC_OK;
    const int64_t D = n->iarg[0];
    const int32_t *id = ids->data;
    /* An opted-in table takes one row per id, duplicates kept (TensorFlow's
     * IndexedSlices); the optimizer sums or squares them as Keras does. */
    if (table->sgrad)
        return rnnc_tensor_sparse_grad_append(table, id, out->grad, (int64_t)ids->numel);
    if (!table->grad)
        return RNNC_OK;
    RNNC_FLOAT_DISPATCH(table->dtype, T, {
        T *gt = table->grad;
        const T *g = out->grad;
        for (size_t i = 0; i < ids->numel; i++) {
            T *dst = gt + (int64_t)id[i] * D;
            const T *src = g + (int64_t)i * D;
            for (int64_t k = 0; k < D; k++)
                dst[k] += src[k];
        }
    });
    return RNNC_OK;
}

rnnc_status rnnc_gather_rows(rnnc_ctx *cx, rnnc_tensor *table, const rnnc_tensor *ids,
                             rnnc_tensor **y)
{
    char st[160], si[160];
    RNNC_TRY(rnnc__check_nonnull("gather_rows", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("gather_rows", "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_float("gather_rows", "table", table));
    RNNC_TRY(rnnc__check_nonnull("gather_rows", "ids", ids));
    if (table->shape.ndim != 2)
        return rnnc_fail(RNNC_E_SHAPE, "gather_rows: table must be rank 2 (V, D), got %s",
                         RNNC__SHAPE_STR(&table->shape, st));
    if (ids->dtype != RNNC_I32)
        return rnnc_fail(RNNC_E_DTYPE, "gather_rows: ids must be int32, got %s of shape %s",
                         rnnc_dtype_name(ids->dtype), RNNC__SHAPE_STR(&ids->shape, si));
    if (ids->shape.ndim >= RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "gather_rows: ids of shape %s leave no room for the D axis",
                         RNNC__SHAPE_STR(&ids->shape, si));
    const int64_t V = table->shape.dim[0], D = table->shape.dim[1];
    const int32_t *id = ids->data;
    for (size_t i = 0; i < ids->numel; i++)
        if (id[i] < 0 || id[i] >= V)
            return rnnc_fail(RNNC_E_ARG,
                             "gather_rows: id %d at flat position %zu of ids %s is outside [0, %lld) "
                             "(table %s)",
                             (int)id[i], i, RNNC__SHAPE_STR(&ids->shape, si), (long long)V,
                             RNNC__SHAPE_STR(&table->shape, st));
    rnnc_shape ys = ids->shape;
    ys.dim[ys.ndim++] = D;
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, table->dtype, &ys, &out));
    const size_t row = (size_t)D * rnnc_dtype_size(table->dtype);
    for (size_t i = 0; i < ids->numel && row > 0; i++)
        memcpy((char *)out->data + i * row, (const char *)table->data + (size_t)id[i] * row, row);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "gather_rows", gather_backward, 1, &table, 1, &out, &node));
    if (node) {
        rnnc_tensor *saved;
        RNNC_TRY(rnnc__ctx_copy(cx, ids, &saved));
        node->saved[0] = saved;
        node->n_saved = 1;
        node->iarg[0] = D;
        node->sparse_in = 1u; /* the table */
    }
    *y = out;
    return RNNC_OK;
}
