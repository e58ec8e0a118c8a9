/* activations.h - every activation Keras 3 accepts by name (spec section 10).
 *
 * The names are Keras's; RNNC_ACT_HARD_SIGMOID_K2 is Keras 2's hard sigmoid
 * (clip(0.2x + 0.5, 0, 1)), used only for files written by Keras 2 and never
 * reachable by a Keras 3 name. Element-wise ones also have scalar forms used
 * by fused kernels (activation_kernels.h). softmax, log_softmax, sparsemax
 * work along the last axis; glu halves the last axis. */
#ifndef RNNC_ACTIVATIONS_H
#define RNNC_ACTIVATIONS_H

#include <stdbool.h>

#include "framework/status.h"

/* X(ENUM, "keras name", elementwise) */
#define RNNC_ACT_LIST(X)                              \
    X(RNNC_ACT_LINEAR,          "linear",         1)  \
    X(RNNC_ACT_TANH,            "tanh",           1)  \
    X(RNNC_ACT_SIGMOID,         "sigmoid",        1)  \
    X(RNNC_ACT_HARD_SIGMOID,    "hard_sigmoid",   1)  \
    X(RNNC_ACT_RELU,            "relu",           1)  \
    X(RNNC_ACT_RELU6,           "relu6",          1)  \
    X(RNNC_ACT_LEAKY_RELU,      "leaky_relu",     1)  \
    X(RNNC_ACT_ELU,             "elu",            1)  \
    X(RNNC_ACT_SELU,            "selu",           1)  \
    X(RNNC_ACT_CELU,            "celu",           1)  \
    X(RNNC_ACT_GELU,            "gelu",           1)  \
    X(RNNC_ACT_SOFTPLUS,        "softplus",       1)  \
    X(RNNC_ACT_SOFTSIGN,        "softsign",       1)  \
    X(RNNC_ACT_SILU,            "silu",           1)  \
    X(RNNC_ACT_HARD_SILU,       "hard_silu",      1)  \
    X(RNNC_ACT_MISH,            "mish",           1)  \
    X(RNNC_ACT_EXPONENTIAL,     "exponential",    1)  \
    X(RNNC_ACT_LOG_SIGMOID,     "log_sigmoid",    1)  \
    X(RNNC_ACT_HARD_TANH,       "hard_tanh",      1)  \
    X(RNNC_ACT_TANH_SHRINK,     "tanh_shrink",    1)  \
    X(RNNC_ACT_SOFT_SHRINK,     "soft_shrink",    1)  \
    X(RNNC_ACT_HARD_SHRINK,     "hard_shrink",    1)  \
    X(RNNC_ACT_SPARSE_SIGMOID,  "sparse_sigmoid", 1)  \
    X(RNNC_ACT_SPARSE_PLUS,     "sparse_plus",    1)  \
    X(RNNC_ACT_SQUAREPLUS,      "squareplus",     1)  \
    X(RNNC_ACT_SOFTMAX,         "softmax",        0)  \
    X(RNNC_ACT_LOG_SOFTMAX,     "log_softmax",    0)  \
    X(RNNC_ACT_SPARSEMAX,       "sparsemax",      0)  \
    X(RNNC_ACT_GLU,             "glu",            0)  \
    X(RNNC_ACT_HARD_SIGMOID_K2, "hard_sigmoid_keras2", 1)

typedef enum {
#define X(e, name, elementwise) e,
    RNNC_ACT_LIST(X)
#undef X
    RNNC_ACT_COUNT
} rnnc_act;

/* Keras name -> activation. Accepts the aliases swish (silu) and hard_swish
 * (hard_silu); NULL means linear. Unknown names fail with RNNC_E_ARG and a
 * message naming `what` (e.g. "GRU.activation"), the name, and the nearest
 * valid name. The internal "hard_sigmoid_keras2" is not accepted here. */
rnnc_status rnnc_act_from_name(const char *name, const char *what, rnnc_act *out);
/* The Keras name ("tanh"); RNNC_ACT_HARD_SIGMOID_K2 serializes as "hard_sigmoid". */
const char *rnnc_act_name(rnnc_act a);
bool rnnc_act_is_elementwise(rnnc_act a);

/* Scalar forms for element-wise activations (fused kernels). The derivative
 * is given both x and y = f(x), so cheap forms (sigmoid: y(1-y)) are used. */
double rnnc_act_apply(rnnc_act a, double x);
double rnnc_act_deriv(rnnc_act a, double x, double y);

#endif
