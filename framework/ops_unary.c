/* ops_unary.c - element-wise math on one tensor: affine, square, abs, sign,
 * sqrt, exp, log, clip.
 *
 * Values are computed in double and stored in the tensor's dtype. At kinks
 * the gradient is what TensorFlow's autodiff gives (Keras 3 on TF is the
 * reference): abs'(0) = 0 (sign), clip passes the gradient on the closed
 * interval [lo, hi] (tf.clip_by_value), sign has no gradient. Out-of-domain
 * inputs (sqrt(-1), log(0)) give NaN / -inf as in NumPy, not an error.
 * Keras activations are in ops_activation.c. */
#include "framework/ops.h"
#include "framework/ops_internal.h"

#include <math.h>

typedef enum { UN_AFFINE, UN_SQUARE, UN_ABS, UN_SIGN, UN_SQRT, UN_EXP, UN_LOG, UN_CLIP, UN_COUNT } unop;

static const char *const unop_name[] = {"affine", "square", "abs", "sign",
                                        "sqrt",   "exp",    "log", "clip"};
_Static_assert(sizeof unop_name / sizeof unop_name[0] == UN_COUNT, "unop names out of sync");

static inline double unary_f(unop op, double x, double p0, double p1)
{
    switch (op) {
    case UN_AFFINE: return p0 * x + p1;
    case UN_SQUARE: return x * x;
    case UN_ABS: return fabs(x);
    case UN_SIGN: return x > 0 ? 1.0 : x < 0 ? -1.0 : x; /* sign(0) = 0, sign(NaN) = NaN */
    case UN_SQRT: return sqrt(x);
    case UN_EXP: return exp(x);
    case UN_LOG: return log(x);
    case UN_CLIP: return x < p0 ? p0 : x > p1 ? p1 : x; /* NaN passes through */
    case UN_COUNT: break;
    }
    return NAN;
}

/* dy/dx given x and y = f(x). */
static inline double unary_df(unop op, double x, double y, double p0, double p1)
{
    switch (op) {
    case UN_AFFINE: return p0;
    case UN_SQUARE: return 2.0 * x;
    case UN_ABS: return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
    case UN_SIGN: return 0.0;
    case UN_SQRT: return 0.5 / y; /* inf at 0, as TF's SqrtGrad */
    case UN_EXP: return y;
    case UN_LOG: return 1.0 / x;
    case UN_CLIP: return (x >= p0 && x <= p1) ? 1.0 : 0.0;
    case UN_COUNT: break;
    }
    return NAN;
}

static rnnc_status unary_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const unop op = (unop)n->iarg[0];
    const double p0 = n->farg[0], p1 = n->farg[1];
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Y = out->data, *G = out->grad;
        T *GX = x->grad;
        for (size_t i = 0; i < x->numel; i++)
            GX[i] += (T)((double)G[i] * unary_df(op, (double)X[i], (double)Y[i], p0, p1));
    });
    return RNNC_OK;
}

static rnnc_status unary(rnnc_ctx *cx, unop op, rnnc_tensor *x, double p0, double p1,
                         rnnc_tensor **y)
{
    const char *name = unop_name[op];
    RNNC_TRY(rnnc__check_nonnull(name, "cx", cx));
    RNNC_TRY(rnnc__check_nonnull(name, "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_float(name, "x", x));
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &x->shape, &out));
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *Y = out->data;
        for (size_t i = 0; i < x->numel; i++)
            Y[i] = (T)unary_f(op, (double)X[i], p0, p1);
    });
    /* sign is piecewise constant: no node, its output needs no gradient. */
    if (op != UN_SIGN) {
        rnnc_node *node;
        RNNC_TRY(rnnc_ctx_record(cx, name, unary_backward, 1, &x, 1, &out, &node));
        if (node) {
            node->iarg[0] = op;
            node->farg[0] = p0;
            node->farg[1] = p1;
        }
    }
    *y = out;
    return RNNC_OK;
}

rnnc_status rnnc_affine(rnnc_ctx *cx, rnnc_tensor *x, double alpha, double beta, rnnc_tensor **y)
{
    return unary(cx, UN_AFFINE, x, alpha, beta, y);
}

rnnc_status rnnc_square(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    return unary(cx, UN_SQUARE, x, 0, 0, y);
}

rnnc_status rnnc_abs(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    return unary(cx, UN_ABS, x, 0, 0, y);
}

rnnc_status rnnc_sign(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    return unary(cx, UN_SIGN, x, 0, 0, y);
}

rnnc_status rnnc_sqrt(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    return unary(cx, UN_SQRT, x, 0, 0, y);
}

rnnc_status rnnc_exp(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    return unary(cx, UN_EXP, x, 0, 0, y);
}

rnnc_status rnnc_log(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y)
{
    return unary(cx, UN_LOG, x, 0, 0, y);
}

rnnc_status rnnc_clip(rnnc_ctx *cx, rnnc_tensor *x, double lo, double hi, rnnc_tensor **y)
{
    if (y)
        *y = NULL;
    if (!(lo <= hi)) /* also rejects NaN bounds */
        return rnnc_fail(RNNC_E_ARG, "clip: lower bound %g must be <= upper bound %g", lo, hi);
    return unary(cx, UN_CLIP, x, lo, hi, y);
}
