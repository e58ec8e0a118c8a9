/* activations.c - Keras activation names and the scalar forms of the
 * element-wise ones (spec section 10).
 *
 * Formulas are Keras 3's, computed in double. Derivatives are what
 * TensorFlow's autodiff of Keras's TF implementation gives, including the
 * value at kinks (listed per case below); the only deliberate exception is
 * celu at exactly 0 (see there). The tensor op is in ops_activation.c; the
 * softmax family and glu (not element-wise) are in ops_softmax.c and
 * ops_activation.c. */
#include "framework/activations.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "framework/config.h"

static const char *const act_names[RNNC_ACT_COUNT] = {
#define X(e, name, elementwise) [e] = name,
    RNNC_ACT_LIST(X)
#undef X
};

static const bool act_elementwise[RNNC_ACT_COUNT] = {
#define X(e, name, elementwise) [e] = elementwise,
    RNNC_ACT_LIST(X)
#undef X
};

/* Names accepted by rnnc_act_from_name (and offered as suggestions): every
 * Keras name plus the two aliases; not the internal Keras 2 hard sigmoid. */
static const char *const accepted_names[] = {
#define X(e, name, elementwise) name,
    RNNC_ACT_LIST(X)
#undef X
    "swish", "hard_swish", NULL};
_Static_assert(sizeof accepted_names / sizeof accepted_names[0] == RNNC_ACT_COUNT + 3,
               "accepted_names out of sync with RNNC_ACT_LIST");

rnnc_status rnnc_act_from_name(const char *name, const char *what, rnnc_act *out)
{
    if (!what)
        what = "activation";
    if (!name) { /* Keras: activations.get(None) is linear */
        *out = RNNC_ACT_LINEAR;
        return RNNC_OK;
    }
    for (int a = 0; a < RNNC_ACT_COUNT; a++)
        if (a != RNNC_ACT_HARD_SIGMOID_K2 && strcmp(name, act_names[a]) == 0) {
            *out = (rnnc_act)a;
            return RNNC_OK;
        }
    if (strcmp(name, "swish") == 0) {
        *out = RNNC_ACT_SILU;
        return RNNC_OK;
    }
    if (strcmp(name, "hard_swish") == 0) {
        *out = RNNC_ACT_HARD_SILU;
        return RNNC_OK;
    }
    /* The list minus the internal name, for the suggestion and the message. */
    const char *names[RNNC_ACT_COUNT + 2];
    int k = 0;
    for (int i = 0; accepted_names[i]; i++)
        if (strcmp(accepted_names[i], act_names[RNNC_ACT_HARD_SIGMOID_K2]) != 0)
            names[k++] = accepted_names[i];
    names[k] = NULL;
    const char *near = rnnc_nearest_name(name, names);
    if (near)
        return rnnc_fail(RNNC_E_ARG, "%s: unknown activation '%s' (did you mean '%s'?)", what, name,
                         near);
    char list[600];
    size_t used = 0;
    for (int i = 0; names[i] && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    return rnnc_fail(RNNC_E_ARG, "%s: unknown activation '%s' (valid: %s)", what, name, list);
}

const char *rnnc_act_name(rnnc_act a)
{
    if ((unsigned)a >= RNNC_ACT_COUNT)
        return "unknown";
    if (a == RNNC_ACT_HARD_SIGMOID_K2) /* Keras 2 files spell it this way */
        return "hard_sigmoid";
    return act_names[a];
}

bool rnnc_act_is_elementwise(rnnc_act a)
{
    return (unsigned)a < RNNC_ACT_COUNT && act_elementwise[a];
}

/* ---- scalar math ------------------------------------------------------- */

#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946
#define SQRT1_2 0.70710678118654752440084436210485   /* 1/sqrt(2) */
/* Keras on TensorFlow rounds these constants to float32 even for float64
 * tensors (the leaky_relu slope is a float32 op attribute; gelu's 1/sqrt(2)
 * is a float32 constant), so float64 results match Keras only with the
 * rounded values. For float32 tensors it makes no difference. */
#define LEAKY_SLOPE ((double)0.2f)
#define GELU_C ((double)(float)SQRT1_2)
#define INV_SQRT_PI 0.56418958354775628694807945156077 /* 1/sqrt(pi) */
#define INV_SQRT_2PI 0.39894228040143267793994605993438 /* 1/sqrt(2 pi) */

static inline double sigmoid(double x)
{
    /* Split by sign so exp never overflows. */
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|). */
static inline double softplus(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }

static inline double hard_sigmoid(double x)
{
    /* Keras 3: relu6(x + 3) / 6. */
    double u = x + 3.0;
    return (u < 0 ? 0.0 : u > 6 ? 6.0 : u) / 6.0;
}

/* hard_sigmoid'(x): TF's Relu6Grad passes only for 0 < x+3 < 6 (strict). */
static inline double hard_sigmoid_d(double x)
{
    double u = x + 3.0;
    return (u > 0 && u < 6) ? 1.0 / 6.0 : 0.0;
}

double rnnc_act_apply(rnnc_act a, double x)
{
    switch (a) {
    case RNNC_ACT_LINEAR: return x;
    case RNNC_ACT_TANH: return tanh(x);
    case RNNC_ACT_SIGMOID: return sigmoid(x);
    case RNNC_ACT_HARD_SIGMOID: return hard_sigmoid(x);
    case RNNC_ACT_RELU: return x > 0 ? x : (x == x ? 0.0 : x);
    case RNNC_ACT_RELU6: return x > 6 ? 6.0 : x > 0 ? x : (x == x ? 0.0 : x);
    case RNNC_ACT_LEAKY_RELU: return x > 0 ? x : LEAKY_SLOPE * x;
    case RNNC_ACT_ELU: return x > 0 ? x : expm1(x);
    case RNNC_ACT_SELU: return x > 0 ? SELU_SCALE * x : SELU_SCALE * SELU_ALPHA * expm1(x);
    case RNNC_ACT_CELU: return (x > 0 ? x : 0.0) + expm1(x < 0 ? x : 0.0); /* alpha = 1 */
    case RNNC_ACT_GELU: return 0.5 * x * erfc(-x * GELU_C); /* = x(1 + erf(x/sqrt2))/2, accurate for x << 0 */
    case RNNC_ACT_SOFTPLUS: return softplus(x);
    case RNNC_ACT_SOFTSIGN: return x / (1.0 + fabs(x));
    case RNNC_ACT_SILU: return x * sigmoid(x);
    case RNNC_ACT_HARD_SILU: return x * hard_sigmoid(x);
    case RNNC_ACT_MISH: return x * tanh(softplus(x));
    case RNNC_ACT_EXPONENTIAL: return exp(x);
    case RNNC_ACT_LOG_SIGMOID: return -softplus(-x);
    case RNNC_ACT_HARD_TANH: return x < -1 ? -1.0 : x > 1 ? 1.0 : x;
    case RNNC_ACT_TANH_SHRINK: return x - tanh(x);
    case RNNC_ACT_SOFT_SHRINK: return x > 0.5 ? x - 0.5 : x < -0.5 ? x + 0.5 : (x == x ? 0.0 : x);
    case RNNC_ACT_HARD_SHRINK: return fabs(x) > 0.5 ? x : (x == x ? 0.0 : x);
    case RNNC_ACT_SPARSE_SIGMOID: return x <= -1 ? 0.0 : x >= 1 ? 1.0 : 0.5 * (x + 1.0);
    case RNNC_ACT_SPARSE_PLUS: return x <= -1 ? 0.0 : x < 1 ? 0.25 * (x + 1.0) * (x + 1.0) : x;
    case RNNC_ACT_SQUAREPLUS: {
        /* (x + sqrt(x^2 + 4)) / 2, rewritten as 2 / (sqrt(x^2+4) - x) for
         * x < 0 where the sum cancels (same value, no lost digits). */
        double s = sqrt(x * x + 4.0);
        return x >= 0 ? 0.5 * (x + s) : 2.0 / (s - x);
    }
    case RNNC_ACT_HARD_SIGMOID_K2: {
        double z = 0.2 * x + 0.5;
        return z < 0 ? 0.0 : z > 1 ? 1.0 : z;
    }
    case RNNC_ACT_SOFTMAX:
    case RNNC_ACT_LOG_SOFTMAX:
    case RNNC_ACT_SPARSEMAX:
    case RNNC_ACT_GLU:
    case RNNC_ACT_COUNT:
        break;
    }
    return NAN; /* not element-wise: no scalar form */
}

double rnnc_act_deriv(rnnc_act a, double x, double y)
{
    switch (a) {
    case RNNC_ACT_LINEAR: return 1.0;
    case RNNC_ACT_TANH: return 1.0 - y * y;
    case RNNC_ACT_SIGMOID: return y * (1.0 - y);
    case RNNC_ACT_HARD_SIGMOID: return hard_sigmoid_d(x);
    /* TF ReluGrad: 1 only for x > 0, so relu'(0) = 0. */
    case RNNC_ACT_RELU: return x > 0 ? 1.0 : 0.0;
    /* TF Relu6Grad: 0 < x < 6 strictly. */
    case RNNC_ACT_RELU6: return (x > 0 && x < 6) ? 1.0 : 0.0;
    /* TF LeakyReluGrad: x > 0 ? 1 : alpha, so the slope at 0 is 0.2. */
    case RNNC_ACT_LEAKY_RELU: return x > 0 ? 1.0 : LEAKY_SLOPE;
    /* TF EluGrad: y < 0 ? y + 1 : 1, so elu'(0) = 1. */
    case RNNC_ACT_ELU: return x < 0 ? exp(x) : 1.0;
    /* TF SeluGrad: y < 0 ? y + scale*alpha : scale, so selu'(0) = scale. */
    case RNNC_ACT_SELU: return x < 0 ? SELU_SCALE * SELU_ALPHA * exp(x) : SELU_SCALE;
    /* celu with alpha 1 is C1 at 0 (both sides have slope 1), so 1 there.
     * TF's autodiff of max(x,0) + expm1(min(x,0)) would give 2 at exactly 0
     * (both Maximum and Minimum route a tie to x); JAX gives 1. */
    case RNNC_ACT_CELU: return x > 0 ? 1.0 : exp(x);
    /* Phi(x) + x phi(x). */
    case RNNC_ACT_GELU: return 0.5 * erfc(-x * GELU_C) + x * GELU_C * INV_SQRT_PI * exp(-GELU_C * GELU_C * x * x);
    case RNNC_ACT_SOFTPLUS: return sigmoid(x);
    case RNNC_ACT_SOFTSIGN: {
        double d = 1.0 + fabs(x);
        return 1.0 / (d * d);
    }
    case RNNC_ACT_SILU: {
        double s = sigmoid(x);
        return s * (1.0 + x * (1.0 - s));
    }
    /* Autodiff of x * relu6(x+3)/6: at x = 3 gives 1, at x = -3 gives 0. */
    case RNNC_ACT_HARD_SILU: return hard_sigmoid(x) + x * hard_sigmoid_d(x);
    case RNNC_ACT_MISH: {
        double t = tanh(softplus(x));
        return t + x * (1.0 - t * t) * sigmoid(x);
    }
    case RNNC_ACT_EXPONENTIAL: return y;
    case RNNC_ACT_LOG_SIGMOID: return sigmoid(-x);
    /* tf.clip_by_value passes the gradient on the closed interval [-1, 1]. */
    case RNNC_ACT_HARD_TANH: return (x >= -1 && x <= 1) ? 1.0 : 0.0;
    case RNNC_ACT_TANH_SHRINK: {
        double t = tanh(x);
        return t * t;
    }
    /* tf.where(x > 0.5, ..., tf.where(x < -0.5, ...)): 0 at exactly +-0.5. */
    case RNNC_ACT_SOFT_SHRINK: return (x > 0.5 || x < -0.5) ? 1.0 : 0.0;
    /* tf.where(|x| > 0.5, x, 0): 0 at exactly +-0.5. */
    case RNNC_ACT_HARD_SHRINK: return fabs(x) > 0.5 ? 1.0 : 0.0;
    /* where(x <= -1, 0, where(x >= 1, 1, (x+1)/2)): 1/2 on the open (-1, 1). */
    case RNNC_ACT_SPARSE_SIGMOID: return (x > -1 && x < 1) ? 0.5 : 0.0;
    /* where(x <= -1, 0, where(x < 1, (x+1)^2/4, x)): 0 at -1, 1 at 1. */
    case RNNC_ACT_SPARSE_PLUS: return x <= -1 ? 0.0 : x < 1 ? 0.5 * (x + 1.0) : 1.0;
    case RNNC_ACT_SQUAREPLUS: return 0.5 * (1.0 + x / sqrt(x * x + 4.0));
    /* Keras 2: clip_by_value(0.2x + 0.5, 0, 1), closed interval. */
    case RNNC_ACT_HARD_SIGMOID_K2: {
        double z = 0.2 * x + 0.5;
        return (z >= 0 && z <= 1) ? 0.2 : 0.0;
    }
    case RNNC_ACT_SOFTMAX:
    case RNNC_ACT_LOG_SOFTMAX:
    case RNNC_ACT_SPARSEMAX:
    case RNNC_ACT_GLU:
    case RNNC_ACT_COUNT:
        break;
    }
    return NAN;
}
