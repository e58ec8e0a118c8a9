/* activation.h - the activation layers: Activation (any Keras activation by
 * name), ReLU, LeakyReLU, ELU and Softmax, with Keras 3.15's arguments,
 * defaults, validation and config keys. All pass masks through; Softmax
 * also uses the mask it gets (below).
 *
 * - Activation(activation): y = f(x); config key "activation" (the name).
 * - ReLU(max_value=None, negative_slope=0.0, threshold=0.0), Keras's
 *   activations.relu: y = x where x > threshold (relu when threshold = 0),
 *   clipped to [0, max_value] when max_value is set, minus
 *   negative_slope * max(threshold - x, 0). max_value, negative_slope and
 *   threshold must be >= 0 (None is refused for the last two).
 * - LeakyReLU(negative_slope=0.3): y = x for x > 0, negative_slope * x
 *   otherwise. The layer's default is 0.3 (keras/src/layers/activations/
 *   leaky_relu.py), unlike the "leaky_relu" activation function's 0.2.
 *   The Keras 2 key "alpha" is accepted as negative_slope (Keras does too).
 *   negative_slope must be >= 0.
 * - ELU(alpha=1.0): y = x for x > 0, alpha * (exp(x) - 1) otherwise. Keras
 *   3.15's ELU has no get_config, so its config holds only the base keys
 *   and alpha is lost on reload; rnnc writes "alpha" only when it is not
 *   1.0 (a config Keras can also read), so nothing is lost.
 * - Softmax(axis=-1): softmax over one axis or a list of axes (for several
 *   axes exp(x - logsumexp(x, axes)), as Keras). With a mask (uint8,
 *   broadcastable to the input: rank <= the input's, each dim 1 or equal,
 *   aligned on the right as NumPy): masked positions are set to -1e9 before
 *   the softmax and to 0 after it (Keras master's where-based form; 3.15
 *   adds (1 - mask) * -1e9 instead, which differs only by x at positions
 *   whose weight is already ~exp(-1e9) = 0). Note that a Sequential's
 *   (B, T) mask does not broadcast to a (B, T, F) input unless T == F: as
 *   in Keras, that is an error. */
#ifndef RNNC_LAYERS_ACTIVATION_H
#define RNNC_LAYERS_ACTIVATION_H

#include "framework/activations.h"
#include "framework/layer.h"

typedef struct rnnc_activation_layer {
    rnnc_layer base;     /* first */
    rnnc_act activation;
} rnnc_activation_layer;

/* ReLU, LeakyReLU and ELU share one struct; fields unused by a class are 0. */
typedef struct rnnc_relu_layer {
    rnnc_layer base;     /* first */
    bool has_max_value;  /* ReLU: false = max_value None */
    double max_value;
    double negative_slope; /* ReLU, LeakyReLU */
    double threshold;    /* ReLU */
    double alpha;        /* ELU */
    bool max_is_int, slope_is_int, threshold_is_int, alpha_is_int; /* as written */
} rnnc_relu_layer;

typedef struct rnnc_softmax_layer {
    rnnc_layer base;     /* first */
    int n_axes;
    int axes[RNNC_MAX_DIMS]; /* as given (may be negative) */
    bool axis_is_list;   /* echoes [1] vs 1 in get_config */
} rnnc_softmax_layer;

extern const rnnc_layer_class rnnc_activation_layer_class;
extern const rnnc_layer_class rnnc_relu_class;
extern const rnnc_layer_class rnnc_leaky_relu_class;
extern const rnnc_layer_class rnnc_elu_class;
extern const rnnc_layer_class rnnc_softmax_class;

/* name NULL -> the Keras auto name ("activation", "re_lu", "leaky_re_lu",
 * "elu", "softmax" with _1, _2, ...); dtype RNNC_F32 or RNNC_F64. */
rnnc_status rnnc_activation_layer_create(rnnc_act activation, const char *name,
                                         rnnc_dtype dtype, rnnc_layer **out);
/* max_value < 0 means None. Fails (RNNC_E_ARG) on negative_slope or
 * threshold < 0, or a non-finite argument. */
rnnc_status rnnc_relu_create(double max_value, double negative_slope, double threshold,
                             const char *name, rnnc_dtype dtype, rnnc_layer **out);
rnnc_status rnnc_leaky_relu_create(double negative_slope, const char *name, rnnc_dtype dtype,
                                   rnnc_layer **out);
rnnc_status rnnc_elu_create(double alpha, const char *name, rnnc_dtype dtype, rnnc_layer **out);
/* axes: n_axes >= 1 distinct axes (negative counts from the end). */
rnnc_status rnnc_softmax_create(const int *axes, int n_axes, const char *name, rnnc_dtype dtype,
                                rnnc_layer **out);

rnnc_status rnnc_activation_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_relu_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_leaky_relu_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_elu_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_softmax_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
