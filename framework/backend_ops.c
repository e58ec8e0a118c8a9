/* backend_ops.c - the op table's registry (CPU always; CUDA through the
 * backend module, framework/backend.h) and the argument checks every
 * backend shares (backend_ops_internal.h). */
#include "framework/backend_ops.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "framework/backend/cuda_api.h"
#include "framework/backend_ops_internal.h"

static const char *const bop_names[RNNC_BOP_COUNT] = {
#define X(e, name) [e] = name,
    RNNC_BOP_LIST(X)
#undef X
};

const char *rnnc_bop_name(rnnc_bop op)
{
    return (unsigned)op < RNNC_BOP_COUNT ? bop_names[op] : "unknown";
}

rnnc_status rnnc_backend_ops_get(rnnc_device d, const rnnc_backend_ops **out)
{
    rnnc_device r;
    RNNC_TRY(rnnc_device_resolve(d, &r));
    if (r == RNNC_DEVICE_CPU) {
        *out = rnnc_backend_ops_cpu();
        return RNNC_OK;
    }
    const rnnc_cuda_api *api;
    RNNC_TRY(rnnc_backend_cuda(&api));
    if (!api->ops || !api->ops())
        return rnnc_fail(RNNC_E_NODEV, "the loaded CUDA backend has no op table (rebuild librnnc_cuda)");
    *out = api->ops();
    return RNNC_OK;
}

rnnc_status rnnc_backend_ops_for(const rnnc_tensor *t, rnnc_bop op, const char *what,
                                 const rnnc_backend_ops **out)
{
    const rnnc_backend_ops *be;
    if (rnnc_backend_ops_get(t->device, &be) != RNNC_OK)
        return rnnc_fail_context(RNNC_E_NODEV, "%s: ", what);
    if (!be->supports(op, t->dtype))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: the %s backend has no %s op for %s", what,
                         be->name, rnnc_bop_name(op), rnnc_dtype_name(t->dtype));
    *out = be;
    return RNNC_OK;
}

rnnc_status rnnc__bop_check(const rnnc_backend_ops *be, const char *op, const char *arg,
                            const rnnc_bbuf *b, rnnc_dtype dtype, size_t n)
{
    if (!b)
        return rnnc_fail(RNNC_E_ARG, "%s %s: argument '%s' is NULL", be->name, op, arg);
    if (b->be != be)
        return rnnc_fail(RNNC_E_ARG, "%s %s: argument '%s' is a %s buffer; this op runs on %s buffers",
                         be->name, op, arg, b->be ? b->be->name : "(no backend)", be->name);
    if (b->dtype != dtype)
        return rnnc_fail(RNNC_E_DTYPE, "%s %s: argument '%s' must be %s, got %s", be->name, op, arg,
                         rnnc_dtype_name(dtype), rnnc_dtype_name(b->dtype));
    if (n != SIZE_MAX && b->n != n)
        return rnnc_fail(RNNC_E_SHAPE, "%s %s: argument '%s' has %zu elements, expected %zu",
                         be->name, op, arg, b->n, n);
    return RNNC_OK;
}

rnnc_status rnnc__transfer_check(const rnnc_backend_ops *be, const char *op, const char *arg,
                                 const rnnc_bbuf *b, const void *host)
{
    RNNC_TRY(rnnc__bop_check(be, op, arg, b, b ? b->dtype : RNNC_F32, SIZE_MAX));
    if (b->n && !host)
        return rnnc_fail(RNNC_E_ARG, "%s %s: argument 'host' is NULL", be->name, op);
    return RNNC_OK;
}

rnnc_status rnnc__bop_dims(const char *op, int64_t rows, int64_t cols, size_t *out)
{
    if (rows < 0 || cols < 0 || (cols && (uint64_t)rows > SIZE_MAX / (uint64_t)cols))
        return rnnc_fail(RNNC_E_SHAPE, "%s: invalid sizes %lld x %lld", op, (long long)rows,
                         (long long)cols);
    *out = (size_t)rows * (size_t)cols;
    return RNNC_OK;
}

rnnc_status rnnc__matmul_check(const rnnc_backend_ops *be, bool ta, bool tb, int64_t m, int64_t n,
                               int64_t k, const rnnc_bbuf *a, const rnnc_bbuf *b, float beta,
                               const rnnc_bbuf *c)
{
    size_t na, nb, nc;
    (void)ta;
    (void)tb;
    RNNC_TRY(rnnc__bop_dims("matmul", m, k, &na));
    RNNC_TRY(rnnc__bop_dims("matmul", k, n, &nb));
    RNNC_TRY(rnnc__bop_dims("matmul", m, n, &nc));
    if (beta != 0.0f && beta != 1.0f)
        return rnnc_fail(RNNC_E_ARG, "%s matmul: beta must be 0 or 1, got %g", be->name, (double)beta);
    RNNC_TRY(rnnc__bop_check(be, "matmul", "a", a, RNNC_F32, na));
    RNNC_TRY(rnnc__bop_check(be, "matmul", "b", b, RNNC_F32, nb));
    RNNC_TRY(rnnc__bop_check(be, "matmul", "c", c, RNNC_F32, nc));
    if (c == a || c == b)
        return rnnc_fail(RNNC_E_ARG, "%s matmul: the output must not be an input", be->name);
    return RNNC_OK;
}

rnnc_status rnnc__loss_check(const rnnc_backend_ops *be, rnnc_bloss kind, int64_t rows,
                             int64_t cols, const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred,
                             const rnnc_bbuf *values, const rnnc_bbuf *grad)
{
    size_t n;
    if ((unsigned)kind >= RNNC_BLOSS_COUNT)
        return rnnc_fail(RNNC_E_ARG, "%s loss: invalid loss id %d", be->name, (int)kind);
    RNNC_TRY(rnnc__bop_dims("loss", rows, cols, &n));
    if (cols < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s loss: y_pred needs at least one column, got %lld",
                         be->name, (long long)cols);
    if (kind == RNNC_BLOSS_SCCE)
        RNNC_TRY(rnnc__bop_check(be, "loss", "y_true", y_true, RNNC_I32, (size_t)rows));
    else
        RNNC_TRY(rnnc__bop_check(be, "loss", "y_true", y_true, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, "loss", "y_pred", y_pred, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, "loss", "values", values, RNNC_F32, (size_t)rows));
    if (grad)
        RNNC_TRY(rnnc__bop_check(be, "loss", "grad", grad, RNNC_F32, n));
    return RNNC_OK;
}

rnnc_status rnnc__sgd_check(const rnnc_backend_ops *be, const rnnc_sgd_params *p,
                            const rnnc_bbuf *w, const rnnc_bbuf *g, const rnnc_bbuf *m)
{
    if (!p || !(p->momentum >= 0.0f && p->momentum <= 1.0f))
        return rnnc_fail(RNNC_E_ARG, "%s sgd: momentum must be in [0, 1]", be->name);
    RNNC_TRY(rnnc__bop_check(be, "sgd", "w", w, RNNC_F32, SIZE_MAX));
    RNNC_TRY(rnnc__bop_check(be, "sgd", "g", g, RNNC_F32, w->n));
    if (p->momentum != 0.0f)
        RNNC_TRY(rnnc__bop_check(be, "sgd", "m", m, RNNC_F32, w->n));
    return RNNC_OK;
}

rnnc_status rnnc__adam_check(const rnnc_backend_ops *be, const rnnc_adam_params *p,
                             const rnnc_bbuf *w, const rnnc_bbuf *g, const rnnc_bbuf *m,
                             const rnnc_bbuf *v, const rnnc_bbuf *vhat, const rnnc_bbuf *g_sq)
{
    if (!p || p->step < 1)
        return rnnc_fail(RNNC_E_ARG, "%s adam: step must be >= 1", be->name);
    RNNC_TRY(rnnc__bop_check(be, "adam", "w", w, RNNC_F32, SIZE_MAX));
    RNNC_TRY(rnnc__bop_check(be, "adam", "g", g, RNNC_F32, w->n));
    RNNC_TRY(rnnc__bop_check(be, "adam", "m", m, RNNC_F32, w->n));
    RNNC_TRY(rnnc__bop_check(be, "adam", "v", v, RNNC_F32, w->n));
    if (p->amsgrad)
        RNNC_TRY(rnnc__bop_check(be, "adam", "vhat", vhat, RNNC_F32, w->n));
    if (g_sq)
        RNNC_TRY(rnnc__bop_check(be, "adam", "g_sq", g_sq, RNNC_F32, w->n));
    return RNNC_OK;
}

/* optim/adam.c's adam_kernel with T = float, expression for expression. */
rnnc__adam_consts rnnc__adam_consts_of(const rnnc_adam_params *p)
{
    typedef float T;
    const T t = (T)p->step;
    const T b1p = (T)pow((double)(T)p->beta_1, (double)t);
    const T b2p = (T)pow((double)(T)p->beta_2, (double)t);
    rnnc__adam_consts c;
    c.alpha = (T)((T)p->lr * (T)sqrt((double)(T)(1 - b2p))) / (T)(1 - b1p);
    c.c1 = (T)(1.0 - p->beta_1);
    c.c2 = (T)(1.0 - p->beta_2);
    c.eps = (T)p->epsilon;
    c.wd = (T)p->weight_decay;
    c.lr = (T)p->lr;
    return c;
}

bool rnnc__bop_supports_f32(rnnc_bop op, rnnc_dtype dtype)
{
    if ((unsigned)op >= RNNC_BOP_COUNT)
        return false;
    if (dtype == RNNC_F32)
        return true;
    return dtype == RNNC_I32 && (op == RNNC_BOP_ALLOC || op == RNNC_BOP_COPY);
}

rnnc_status rnnc__bbuf_header(const rnnc_backend_ops *be, rnnc_dtype dtype, size_t n,
                              rnnc_bbuf **out)
{
    *out = NULL;
    if (dtype != RNNC_F32 && dtype != RNNC_I32)
        return rnnc_fail(RNNC_E_DTYPE, "%s alloc: buffers are float32 or int32, got %s", be->name,
                         rnnc_dtype_name(dtype));
    if (n > SIZE_MAX / rnnc_dtype_size(dtype))
        return rnnc_fail(RNNC_E_SHAPE, "%s alloc: %zu elements overflow", be->name, n);
    rnnc_bbuf *b = calloc(1, sizeof *b);
    if (!b)
        return rnnc_fail(RNNC_E_NOMEM, "%s alloc: out of host memory", be->name);
    b->be = be;
    b->dtype = dtype;
    b->n = n;
    *out = b;
    return RNNC_OK;
}

rnnc_status rnnc__bias_add_check(const rnnc_backend_ops *be, int64_t rows, int64_t cols,
                                 const rnnc_bbuf *x, const rnnc_bbuf *bias, const rnnc_bbuf *y)
{
    size_t n;
    RNNC_TRY(rnnc__bop_dims("bias_add", rows, cols, &n));
    RNNC_TRY(rnnc__bop_check(be, "bias_add", "x", x, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, "bias_add", "bias", bias, RNNC_F32, (size_t)cols));
    return rnnc__bop_check(be, "bias_add", "y", y, RNNC_F32, n);
}

rnnc_status rnnc__binary_check(const rnnc_backend_ops *be, rnnc_binop op, const rnnc_bbuf *a,
                               const rnnc_bbuf *b, const rnnc_bbuf *y)
{
    if (op != RNNC_BIN_ADD && op != RNNC_BIN_SUB && op != RNNC_BIN_MUL)
        return rnnc_fail(RNNC_E_ARG, "%s binary: invalid op %d", be->name, (int)op);
    RNNC_TRY(rnnc__bop_check(be, "binary", "a", a, RNNC_F32, SIZE_MAX));
    RNNC_TRY(rnnc__bop_check(be, "binary", "b", b, RNNC_F32, a->n));
    return rnnc__bop_check(be, "binary", "y", y, RNNC_F32, a->n);
}

rnnc_status rnnc__act_check(const rnnc_backend_ops *be, const char *op, rnnc_act a,
                            const rnnc_bbuf *x, const rnnc_bbuf *y, const rnnc_bbuf *dy,
                            const rnnc_bbuf *dx)
{
    if ((unsigned)a >= RNNC_ACT_COUNT || !rnnc_act_is_elementwise(a))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "%s %s: '%s' is not an element-wise activation "
                         "(softmax has its own op)", be->name, op, rnnc_act_name(a));
    RNNC_TRY(rnnc__bop_check(be, op, "x", x, RNNC_F32, SIZE_MAX));
    RNNC_TRY(rnnc__bop_check(be, op, "y", y, RNNC_F32, x->n));
    if (dy)
        RNNC_TRY(rnnc__bop_check(be, op, "dy", dy, RNNC_F32, x->n));
    if (dy || dx)
        RNNC_TRY(rnnc__bop_check(be, op, "dx", dx, RNNC_F32, x->n));
    return RNNC_OK;
}

rnnc_status rnnc__rows_check(const rnnc_backend_ops *be, const char *op, int64_t rows,
                             int64_t cols, const rnnc_bbuf *a, const rnnc_bbuf *b,
                             const rnnc_bbuf *c)
{
    size_t n;
    const bool bwd = c != NULL;
    RNNC_TRY(rnnc__bop_dims(op, rows, cols, &n));
    RNNC_TRY(rnnc__bop_check(be, op, bwd ? "y" : "x", a, RNNC_F32, n));
    RNNC_TRY(rnnc__bop_check(be, op, bwd ? "dy" : "y", b, RNNC_F32, n));
    return bwd ? rnnc__bop_check(be, op, "dx", c, RNNC_F32, n) : RNNC_OK;
}

rnnc_status rnnc__reduce_check(const rnnc_backend_ops *be, rnnc_redop op, int64_t outer,
                               int64_t len, int64_t inner, const rnnc_bbuf *x, const rnnc_bbuf *y)
{
    size_t no, n;
    if (op != RNNC_RED_SUM && op != RNNC_RED_MEAN)
        return rnnc_fail(RNNC_E_ARG, "%s reduce: invalid op %d", be->name, (int)op);
    RNNC_TRY(rnnc__bop_dims("reduce", outer, inner, &no));
    RNNC_TRY(rnnc__bop_dims("reduce", (int64_t)no, len, &n));
    RNNC_TRY(rnnc__bop_check(be, "reduce", "x", x, RNNC_F32, n));
    return rnnc__bop_check(be, "reduce", "y", y, RNNC_F32, no);
}
