/* masking.h - Keras's Masking: marks time steps whose features all equal
 * mask_value as skipped, and zeroes them.
 *
 * Input (..., F): the output mask (uint8, shape (...)) is 1 where any
 * feature differs from mask_value, over the last axis; the output is the
 * input with the masked steps set to 0 (gradient: passed through the kept
 * steps only). An incoming mask is replaced, as Keras's compute_mask does.
 * Config keys (Keras 3.15): name, trainable, dtype, mask_value. */
#ifndef RNNC_LAYERS_MASKING_H
#define RNNC_LAYERS_MASKING_H

#include "framework/layer.h"

typedef struct rnnc_masking {
    rnnc_layer base;     /* first */
    double mask_value;
    bool value_is_int;   /* echoes 0 as 0 in get_config */
} rnnc_masking;

extern const rnnc_layer_class rnnc_masking_class;

/* name NULL -> "masking", ...; Keras's default mask_value is 0.0. */
rnnc_status rnnc_masking_create(double mask_value, const char *name, rnnc_dtype dtype,
                                rnnc_layer **out);
rnnc_status rnnc_masking_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
