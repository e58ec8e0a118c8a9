/* layer_norm.h - Keras's LayerNormalization: axis (int or list), epsilon,
 * center, scale, rms_scaling, beta/gamma initializers, regularizers and
 * constraints, with Keras 3.15's formula (ops.layer_normalization):
 *   inv = rsqrt(var(x, axes) + epsilon) [* gamma]
 *   y = x * inv + (-mean(x, axes) * inv [+ beta])
 * and, with rms_scaling, y = x * rsqrt(var + epsilon) [* gamma] (Keras
 * 3.15 uses the variance there too). Weights gamma, beta of the shape of
 * the normalized axes. As in Keras, get_config writes axis as given before
 * build and as a sorted list after. Masks pass through. */
#ifndef RNNC_LAYERS_LAYER_NORM_H
#define RNNC_LAYERS_LAYER_NORM_H

#include "framework/layer.h"

rnnc_status rnnc_layer_norm_from_config(const rnnc_cfg *config, rnnc_layer **out);

/* What a device class needs of a built LayerNormalization (l of its class;
 * layer_norm_device.c). */
typedef struct rnnc_layer_norm_params {
    int n_axes;
    const int *axes;           /* resolved, non-negative, sorted */
    double epsilon;
    bool rms;                  /* rms_scaling */
    rnnc_tensor *gamma, *beta; /* NULL when absent */
} rnnc_layer_norm_params;
void rnnc__layer_norm_params(const rnnc_layer *l, rnnc_layer_norm_params *p);

#endif
