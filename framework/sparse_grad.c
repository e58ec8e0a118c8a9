/* sparse_grad.c - rows-per-occurrence gradients of opted-in tensors (an
 * Embedding's table): append, clear, read, densify. See sparse_grad.h. */
#include "framework/sparse_grad_internal.h"

#include <stdlib.h>
#include <string.h>

rnnc_status rnnc_tensor_enable_sparse_grad(rnnc_tensor *t)
{
    char a[160];
    if (!t)
        return rnnc_fail(RNNC_E_ARG, "enable_sparse_grad: tensor is NULL");
    if (t->sgrad)
        return RNNC_OK;
    if (t->view_of)
        return rnnc_fail(RNNC_E_ARG, "enable_sparse_grad: a view cannot hold a sparse gradient");
    if (!rnnc_dtype_is_float(t->dtype))
        return rnnc_fail(RNNC_E_DTYPE, "enable_sparse_grad: a %s tensor cannot have a gradient",
                         rnnc_dtype_name(t->dtype));
    if (t->shape.ndim != 2)
        return rnnc_fail(RNNC_E_SHAPE, "enable_sparse_grad: the tensor must be rank 2 (rows, width), got %s",
                         rnnc_shape_str(&t->shape, a, sizeof a));
    t->sgrad = calloc(1, sizeof *t->sgrad);
    if (!t->sgrad)
        return rnnc_fail(RNNC_E_NOMEM, "enable_sparse_grad: out of memory");
    t->sgrad->width = t->shape.dim[1];
    if (t->grad)
        memset(t->grad, 0, t->numel * rnnc_dtype_size(t->dtype));
    return RNNC_OK;
}

rnnc_status rnnc_tensor_sparse_grad_append(rnnc_tensor *t, const int32_t *ids, const void *rows,
                                           int64_t n)
{
    rnnc_sparse_grad *s = t->sgrad;
    if (!s)
        return rnnc_fail(RNNC_E_STATE, "sparse_grad_append: the tensor has no sparse gradient");
    if (n < 0 || (n > 0 && (!ids || !rows)))
        return rnnc_fail(RNNC_E_ARG, "sparse_grad_append: bad rows (n = %lld)", (long long)n);
    const size_t es = rnnc_dtype_size(t->dtype), rb = (size_t)s->width * es;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= t->shape.dim[0])
            return rnnc_fail(RNNC_E_ARG, "sparse_grad_append: row index %d outside [0, %lld)", (int)ids[i],
                             (long long)t->shape.dim[0]);
    if (s->n + n > s->cap) {
        int64_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + n)
            cap *= 2;
        int32_t *ni = realloc(s->ids, (size_t)cap * sizeof *ni);
        if (ni)
            s->ids = ni;
        void *nr = ni ? realloc(s->rows, (size_t)cap * (rb ? rb : 1)) : NULL;
        if (!nr)
            return rnnc_fail(RNNC_E_NOMEM, "sparse_grad_append: out of memory for %lld rows",
                             (long long)(s->n + n));
        s->rows = nr;
        s->cap = cap;
    }
    if (n > 0) {
        memcpy(s->ids + s->n, ids, (size_t)n * sizeof *ids);
        memcpy((char *)s->rows + (size_t)s->n * rb, rows, (size_t)n * rb);
    }
    s->n += n;
    s->live = true;
    return RNNC_OK;
}

rnnc_status rnnc_tensor_grad_mark_dense(rnnc_tensor *t)
{
    rnnc_tensor *own = t->view_of ? t->view_of : t;
    RNNC_TRY(rnnc_tensor_ensure_grad(t));
    if (own->sgrad)
        own->sgrad->dense_live = true;
    return RNNC_OK;
}

bool rnnc_tensor_has_grad(const rnnc_tensor *t)
{
    if (!t->sgrad)
        return t->grad != NULL;
    return t->sgrad->live || (t->grad && t->sgrad->dense_live);
}

bool rnnc_tensor_grad_is_sparse(const rnnc_tensor *t)
{
    return t->sgrad && t->sgrad->live && !t->sgrad->dense_live;
}

rnnc_status rnnc_tensor_grad_densify(rnnc_tensor *t)
{
    rnnc_sparse_grad *s = t->sgrad;
    if (!s || !s->live)
        return RNNC_OK;
    RNNC_TRY(rnnc_tensor_ensure_grad(t));
    const int64_t D = s->width;
    /* tf.convert_to_tensor(slices): zero-initialised sums in row order,
     * then (add_n) the dense part. */
    void *sum = calloc(t->numel ? t->numel : 1, rnnc_dtype_size(t->dtype));
    if (!sum)
        return rnnc_fail(RNNC_E_NOMEM, "grad_densify: out of memory");
    RNNC_FLOAT_DISPATCH(t->dtype, T, {
        T *acc = sum, *g = t->grad;
        const T *r = s->rows;
        for (int64_t i = 0; i < s->n; i++)
            for (int64_t k = 0; k < D; k++)
                acc[(int64_t)s->ids[i] * D + k] += r[i * D + k];
        for (size_t j = 0; j < t->numel; j++)
            g[j] = s->dense_live ? g[j] + acc[j] : acc[j];
    });
    free(sum);
    s->n = 0;
    s->live = false;
    s->dense_live = true;
    return RNNC_OK;
}

void rnnc__sparse_grad_destroy(rnnc_sparse_grad *s)
{
    if (!s)
        return;
    free(s->ids);
    free(s->rows);
    free(s);
}

void rnnc__sparse_grad_zero(rnnc_tensor *t)
{
    rnnc_sparse_grad *s = t->sgrad;
    s->n = 0;
    s->live = false;
    if (s->dense_live && t->grad)
        memset(t->grad, 0, t->numel * rnnc_dtype_size(t->dtype));
    s->dense_live = false;
}

double rnnc__sparse_grad_get(const rnnc_tensor *t, size_t i)
{
    const rnnc_sparse_grad *s = t->sgrad;
    const int64_t D = s->width, row = D ? (int64_t)i / D : 0, col = D ? (int64_t)i % D : 0;
    double v = 0.0;
    RNNC_FLOAT_DISPATCH(t->dtype, T, {
        T acc = 0;
        const T *r = s->rows;
        for (int64_t k = 0; k < s->n; k++)
            if (s->ids[k] == row)
                acc += r[k * D + col];
        if (s->dense_live && t->grad)
            acc = ((const T *)t->grad)[i] + acc;
        v = (double)acc;
    });
    return v;
}
