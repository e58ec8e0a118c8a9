/* time_distributed.h - Keras's TimeDistributed: applies one layer to every
 * time step of a (B, T, ...) input with the same weights.
 *
 * The wrapped layer is built for the step shape (B, ...) and called on
 * (B*T, ...) (the time axis folded into the batch) then unfolded to
 * (B, T, ...): one call instead of T, with the same numbers for every layer
 * whose rows are independent (Dense, activations, Dropout in distribution).
 * BatchNormalization is the exception (training statistics over the batch
 * of one step), so it is called step by step as Keras 3 does. The input
 * mask (B, T) is passed on to the wrapped layer per step ((B*T,) folded)
 * and is also the output mask. As in Keras, the wrapped layer's call is
 * used directly: its activity regularizer is not applied.
 * Config keys (Keras 3.15): name, trainable, dtype, [activity_regularizer],
 * layer (the wrapped layer, serialized with its build_config).
 *
 * Ownership: the wrapper owns the wrapped layer (sub-layer key "layer"). */
#ifndef RNNC_LAYERS_TIME_DISTRIBUTED_H
#define RNNC_LAYERS_TIME_DISTRIBUTED_H

#include "framework/layer.h"

typedef struct rnnc_time_distributed {
    rnnc_layer base;     /* first; base.children[0] is the wrapped layer */
    rnnc_layer *inner;   /* = base.children[0] */
} rnnc_time_distributed;

extern const rnnc_layer_class rnnc_time_distributed_class;

/* Wraps `layer` (ownership taken, also on failure). name NULL ->
 * "time_distributed", ...; the dtype is the wrapped layer's. */
rnnc_status rnnc_time_distributed_create(rnnc_layer *layer, const char *name, rnnc_layer **out);
rnnc_status rnnc_time_distributed_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
