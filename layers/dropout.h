/* dropout.h - Keras's Dropout: inverted dropout while training, identity
 * otherwise.
 *
 * With training on and rate > 0 every element is zeroed with probability
 * `rate` and the kept ones are scaled by 1/(1-rate); rate == 1 gives zeros.
 * With noise_shape, one keep/drop draw of that shape is broadcast over the
 * input (None entries take the input's size), e.g. (B, 1, F) drops the
 * same features at every time step. The draws come from the layer's own
 * Philox stream, seeded by `seed` (None -> rnnc_next_seed()), and advance
 * with every training call, as Keras's SeedGenerator. Masks pass through.
 * Config keys (Keras 3.15): name, trainable, dtype, rate, seed, noise_shape.
 *
 * Which elements drop cannot match TensorFlow's bits; the distribution and
 * scaling are Keras's. */
#ifndef RNNC_LAYERS_DROPOUT_H
#define RNNC_LAYERS_DROPOUT_H

#include "framework/layer.h"
#include "framework/random.h"

typedef struct rnnc_dropout_options {
    const char *name;          /* NULL -> "dropout", "dropout_1", ... */
    rnnc_dtype dtype;          /* RNNC_F32 */
    double rate;               /* in [0, 1], required */
    bool has_seed;             /* false: Keras's seed=None */
    int64_t seed;
    int noise_ndim;            /* 0: noise_shape=None */
    int64_t noise_shape[RNNC_MAX_DIMS]; /* > 0, or -1 for None entries */
} rnnc_dropout_options;

typedef struct rnnc_dropout_layer {
    rnnc_layer base;           /* first */
    double rate;
    bool rate_is_int;          /* echoes 1 as 1 in get_config */
    bool has_seed;
    int64_t seed;
    int noise_ndim;
    int64_t noise_shape[RNNC_MAX_DIMS];
    rnnc_rng rng;              /* the layer's stream; advanced by training calls */
} rnnc_dropout_layer;

extern const rnnc_layer_class rnnc_dropout_class;

rnnc_dropout_options rnnc_dropout_options_default(double rate);
/* Fails with RNNC_E_ARG on a rate outside [0, 1] or a noise_shape entry
 * that is neither positive nor -1. Caller owns *out. */
rnnc_status rnnc_dropout_create(const rnnc_dropout_options *opts, rnnc_layer **out);
rnnc_status rnnc_dropout_from_config(const rnnc_cfg *config, rnnc_layer **out);
/* Internal (the call and the device class, dropout_device.c): d's noise
 * shape for input shape `in` (None entries from the input); RNNC_E_SHAPE
 * when its rank differs or an entry neither equals the input's nor is 1. */
rnnc_status rnnc__dropout_resolve_noise(const rnnc_dropout_layer *d, const rnnc_shape *in, rnnc_shape *noise);

#endif
