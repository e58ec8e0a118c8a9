/* cuda_ops.c - element-wise activations on device tensors (spec section 10,
 * the element-wise ones; softmax, log_softmax, sparsemax and glu work along
 * an axis and stay on the CPU). The math is in cuda_kernels.cu. */
#include "framework/backend/cuda/cuda_internal.h"

#include "framework/backend/cuda/cuda_kernels.h"

static rnnc_status check_act(rnnc_act a)
{
    if (!rnnc_act_is_elementwise(a))
        return rnnc_fail(RNNC_E_UNSUPPORTED,
                         "CUDA activation: '%s' is not element-wise; the GPU runs the "
                         "element-wise activations only",
                         rnnc_act_name(a));
    return RNNC_OK;
}

static rnnc_status check_pair(const rnnc_dtensor *a, const rnnc_dtensor *b, const char *what)
{
    if (a->dtype != RNNC_F32 || b->dtype != RNNC_F32)
        return rnnc_fail(RNNC_E_DTYPE, "%s: float32 device tensors expected", what);
    if (!rnnc_shape_eq(&a->shape, &b->shape)) {
        char sa[96], sb[96];
        return rnnc_fail(RNNC_E_SHAPE, "%s: shapes %s and %s differ", what,
                         rnnc_shape_str(&a->shape, sa, sizeof sa),
                         rnnc_shape_str(&b->shape, sb, sizeof sb));
    }
    return RNNC_OK;
}

rnnc_status rnnc__cuda_activation(rnnc_act a, const rnnc_dtensor *x, rnnc_dtensor *y)
{
    RNNC_TRY(check_act(a));
    RNNC_TRY(check_pair(x, y, "CUDA activation"));
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    RNNC_CUDA_CHECK(rnnc__k_activation(c->stream, (int)a, x->data, y->data, x->numel));
    return RNNC_OK;
}

rnnc_status rnnc__cuda_activation_backward(rnnc_act a, const rnnc_dtensor *x,
                                           const rnnc_dtensor *y, const rnnc_dtensor *dy,
                                           rnnc_dtensor *dx)
{
    RNNC_TRY(check_act(a));
    RNNC_TRY(check_pair(x, y, "CUDA activation backward"));
    RNNC_TRY(check_pair(x, dy, "CUDA activation backward"));
    RNNC_TRY(check_pair(x, dx, "CUDA activation backward"));
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    RNNC_CUDA_CHECK(rnnc__k_activation_backward(c->stream, (int)a, x->data, y->data, dy->data,
                                                dx->data, x->numel));
    return RNNC_OK;
}
