/* input_layer.h - Keras's InputLayer config: the model's input declaration.
 *
 * Not a weights layer: reading it gives the batch shape, dtype and name the
 * model's input (rnnc_model_set_input) takes. Accepted keys, as Keras 3's
 * InputLayer constructor: batch_shape, or shape (+ batch_size), dtype
 * (default float32), sparse, ragged, name, optional; Keras 2's
 * batch_input_shape (= batch_shape) and input_shape (= shape).
 * Refused: both shape and batch_shape, both batch_size and batch_shape,
 * neither, sparse or ragged true (not supported), input_tensor.
 * Written back by rnnc_model_serialize with Keras 3.15's keys:
 * batch_shape, dtype, sparse, ragged, name, optional. */
#ifndef RNNC_LAYERS_INPUT_LAYER_H
#define RNNC_LAYERS_INPUT_LAYER_H

#include "framework/model.h"

typedef struct rnnc_input_layer_config {
    rnnc_shape batch_shape;  /* -1 = None */
    rnnc_dtype dtype;        /* float32 unless given */
    char name[128];          /* "" when not given (the model picks "input_layer") */
    bool sparse, ragged;     /* always false once read (true is refused) */
    bool optional;
} rnnc_input_layer_config;

/* Reads a config map (the "config" part of the envelope) into *out. */
rnnc_status rnnc_input_layer_from_config(const rnnc_cfg *config, rnnc_input_layer_config *out);
/* Declares it as the model's input (rnnc_model_set_input). */
rnnc_status rnnc_input_layer_apply(const rnnc_input_layer_config *in, rnnc_model *m);

#endif
