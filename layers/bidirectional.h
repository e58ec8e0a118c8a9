/* bidirectional.h - Keras's Bidirectional wrapper around a recurrent layer
 * (spec 6.10, keras/src/layers/rnn/bidirectional.py).
 *
 * Construction clones the wrapped layer from its serialized config into
 * "forward_<name>" and, unless a backward layer is given, "backward_<name>"
 * with go_backwards = true (fresh weights, as Keras: the given layer's own
 * weights are not reused). Both must be RNN layers (framework/rnn.h) with
 * different go_backwards and equal stateful / return_sequences /
 * return_state. zero_output_for_mask is forced to return_sequences on both.
 *
 * Call: inputs[0] is the sequence (B, T, F); inputs[1..] are initial states,
 * the first half for the forward layer, the second half for the backward
 * one. Both layers see the same input and mask. With return_sequences the
 * backward output (in processing order) is flipped back in time before
 * merging. merge_mode: concat (last axis, the default), sum, mul, ave, or
 * none (outputs[0] forward, outputs[1] backward). With return_state the
 * merged output(s) come first, then the forward states, then the backward
 * states. Output mask: the input mask when return_sequences, else none.
 *
 * Weights: the forward layer's, then the backward layer's (sub-layer keys
 * "forward_layer" and "backward_layer", the names the weights file uses).
 * Config keys (Keras 3.15): name, trainable, dtype, [activity_regularizer],
 * merge_mode, layer (the serialized forward layer), backward_layer. */
#ifndef RNNC_LAYERS_BIDIRECTIONAL_H
#define RNNC_LAYERS_BIDIRECTIONAL_H

#include "framework/layer.h"

typedef enum {
    RNNC_MERGE_CONCAT,
    RNNC_MERGE_SUM,
    RNNC_MERGE_MUL,
    RNNC_MERGE_AVE,
    RNNC_MERGE_NONE /* Keras's merge_mode=None: both outputs returned */
} rnnc_merge_mode;

typedef struct rnnc_bidirectional {
    rnnc_layer base;       /* first; children[0] forward, children[1] backward */
    rnnc_layer *forward_layer;  /* = base.children[0] */
    rnnc_layer *backward_layer; /* = base.children[1] */
    rnnc_merge_mode merge_mode;
    bool return_sequences, return_state, stateful;
} rnnc_bidirectional;

extern const rnnc_layer_class rnnc_bidirectional_class;

/* Wraps `layer` (a recurrent layer; ownership taken and, as in Keras, only
 * its config is used). backward_layer: NULL to derive it from `layer`, or a
 * recurrent layer with the opposite go_backwards (ownership taken). Both
 * are taken also on failure. name NULL -> "bidirectional", ...; the dtype
 * is the wrapped layer's. Fails with RNNC_E_ARG naming the mismatch. */
rnnc_status rnnc_bidirectional_create(rnnc_layer *layer, rnnc_merge_mode merge_mode,
                                      rnnc_layer *backward_layer, const char *name,
                                      rnnc_layer **out);
rnnc_status rnnc_bidirectional_from_config(const rnnc_cfg *config, rnnc_layer **out);

/* reset_state() on both layers; RNNC_E_STATE unless the layer is stateful. */
rnnc_status rnnc_bidirectional_reset_state(rnnc_layer *l);

/* "concat", "sum", "mul", "ave", or NULL for RNNC_MERGE_NONE. */
const char *rnnc_merge_mode_name(rnnc_merge_mode m);

#endif
