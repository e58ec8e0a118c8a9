/* ops_activation.c - y = f(x) for any Keras activation (activations.h).
 *
 * Element-wise activations go through the scalar forms rnnc_act_apply /
 * rnnc_act_deriv (activations.c), so the tape op and the fused GRU kernels
 * share one definition. glu (halves the last axis) is here too; softmax,
 * log_softmax and sparsemax are in ops_softmax.c. */
#include "framework/ops.h"
#include "framework/ops_internal.h"

/* iarg[0]: the activation. dx += dy * f'(x) with y = f(x) from the output. */
static rnnc_status act_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const rnnc_act act = (rnnc_act)n->iarg[0];
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Y = out->data, *G = out->grad;
        T *GX = x->grad;
        for (size_t i = 0; i < x->numel; i++)
            GX[i] += (T)((double)G[i] * rnnc_act_deriv(act, (double)X[i], (double)Y[i]));
    });
    return RNNC_OK;
}

static inline double sigmoid(double x) { return rnnc_act_apply(RNNC_ACT_SIGMOID, x); }

/* glu: x (..., 2h) -> y (..., h), y = a * sigmoid(b) with a = x[..., :h],
 * b = x[..., h:] (Keras splits the last axis into halves). iarg[0]: h. */
static rnnc_status glu_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const int64_t h = n->iarg[0];
    const size_t rows = h ? out->numel / (size_t)h : 0;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *G = out->grad;
        T *GX = x->grad;
        for (size_t r = 0; r < rows; r++) {
            const T *a = X + r * 2 * h, *b = a + h, *g = G + r * h;
            T *ga = GX + r * 2 * h, *gb = ga + h;
            for (int64_t j = 0; j < h; j++) {
                double s = sigmoid((double)b[j]);
                ga[j] += (T)((double)g[j] * s);
                gb[j] += (T)((double)g[j] * (double)a[j] * s * (1.0 - s));
            }
        }
    });
    return RNNC_OK;
}

static rnnc_status glu(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    char s[160];
    const int nd = x->shape.ndim;
    if (nd < 1 || x->shape.dim[nd - 1] % 2 != 0)
        return rnnc_fail(RNNC_E_SHAPE,
                         "activation 'glu': the last axis must have an even length to split in "
                         "halves, got x of shape %s",
                         RNNC__SHAPE_STR(&x->shape, s));
    const int64_t h = x->shape.dim[nd - 1] / 2;
    rnnc_shape ys = x->shape;
    ys.dim[nd - 1] = h;
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ys, &out));
    const size_t rows = h ? out->numel / (size_t)h : 0;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *Y = out->data;
        for (size_t r = 0; r < rows; r++) {
            const T *a = X + r * 2 * h, *b = a + h;
            for (int64_t j = 0; j < h; j++)
                Y[r * h + j] = (T)((double)a[j] * sigmoid((double)b[j]));
        }
    });
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "glu", glu_backward, 1, &x, 1, &out, &node));
    if (node)
        node->iarg[0] = h;
    *y = out;
    return RNNC_OK;
}

rnnc_status rnnc_activation(rnnc_ctx *cx, rnnc_act act, rnnc_tensor *x, rnnc_tensor **y)
{
    RNNC_TRY(rnnc__check_nonnull("activation", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("activation", "y", y));
    *y = NULL;
    if ((unsigned)act >= RNNC_ACT_COUNT)
        return rnnc_fail(RNNC_E_ARG, "activation: invalid activation id %d", (int)act);
    RNNC_TRY(rnnc__check_float(rnnc_act_name(act), "x", x));
    switch (act) {
    case RNNC_ACT_GLU: return glu(cx, x, y);
    case RNNC_ACT_SOFTMAX:
    case RNNC_ACT_LOG_SOFTMAX:
    case RNNC_ACT_SPARSEMAX: return rnnc__last_axis_act(cx, act, x, y);
    default: break;
    }
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &x->shape, &out));
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *Y = out->data;
        for (size_t i = 0; i < x->numel; i++)
            Y[i] = (T)rnnc_act_apply(act, (double)X[i]);
    });
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, rnnc_act_name(act), act_backward, 1, &x, 1, &out, &node));
    if (node)
        node->iarg[0] = act;
    *y = out;
    return RNNC_OK;
}
