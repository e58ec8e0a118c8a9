/* simple_rnn.h - Keras's SimpleRNN: an RNN (framework/rnn.h) over a
 * SimpleRNNCell, every constructor argument, Keras 3.15's get_config (no
 * seed key: Keras's SimpleRNN does not write it) and from_config. Runs the
 * generic loop (no fused kernel). */
#ifndef RNNC_SIMPLE_RNN_H
#define RNNC_SIMPLE_RNN_H

#include "layers/simple_rnn_cell.h"

/* Caller owns *out. RNNC_E_ARG naming the argument. */
rnnc_status rnnc_simple_rnn_create(const rnnc_simple_rnn_options *o, rnnc_layer **out);
/* Keras's SimpleRNN.from_config (also Keras 2's keys, as for GRU). */
rnnc_status rnnc_simple_rnn_from_config(const rnnc_cfg *config, rnnc_layer **out);
bool rnnc_layer_is_simple_rnn(const rnnc_layer *l);

#endif
