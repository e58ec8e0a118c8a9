/* ops_cast.c - float32 <-> float64 conversion with a gradient: what Keras's
 * layer autocasting (a float input converted to the layer's dtype) records
 * on TensorFlow's tape. y = (dtype)x; dx += (x's dtype)dy. */
#include "framework/ops.h"
#include "framework/ops_internal.h"

static rnnc_status cast_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *y = n->out[0];
    if (!y->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    if (x->dtype == RNNC_F32) {
        float *dx = x->grad;
        const double *dy = y->grad;
        for (size_t i = 0; i < x->numel; i++)
            dx[i] += (float)dy[i];
    } else {
        double *dx = x->grad;
        const float *dy = y->grad;
        for (size_t i = 0; i < x->numel; i++)
            dx[i] += (double)dy[i];
    }
    return RNNC_OK;
}

rnnc_status rnnc_cast(rnnc_ctx *cx, rnnc_tensor *x, rnnc_dtype dtype, rnnc_tensor **y)
{
    RNNC_TRY(rnnc__check_nonnull("cast", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("cast", "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_float("cast", "x", x));
    if (!rnnc_dtype_is_float(dtype))
        return rnnc_fail(RNNC_E_DTYPE, "cast: target dtype must be float32 or float64, got %s",
                         rnnc_dtype_name(dtype));
    if (x->dtype == dtype) {
        *y = x;
        return RNNC_OK;
    }
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, dtype, &x->shape, &out));
    if (dtype == RNNC_F32)
        for (size_t i = 0; i < x->numel; i++)
            ((float *)out->data)[i] = (float)((const double *)x->data)[i];
    else
        for (size_t i = 0; i < x->numel; i++)
            ((double *)out->data)[i] = (double)((const float *)x->data)[i];
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "cast", cast_backward, 1, &x, 1, &out, &node));
    *y = out;
    return RNNC_OK;
}
