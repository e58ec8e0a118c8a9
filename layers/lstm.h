/* lstm.h - Keras's LSTM layer: an RNN (framework/rnn.h) over an LSTMCell
 * (lstm_cell.h), with every constructor argument, Keras 3.15's get_config
 * key order and from_config, and the kernel choice.
 *
 * Kernel choice. The fused whole-sequence CPU kernel (lstm_fused.h) runs
 * whenever it gives the generic loop's numbers: unroll is false, both
 * activations are element-wise, and no recurrent dropout or
 * implementation-1 per-gate input mask applies in this call. Masks,
 * initial states, go_backwards and input dropout with implementation 2 are
 * handled inside it. use_cudnn=True checks Keras's cuDNN conditions for
 * LSTM (tanh / sigmoid, no recurrent dropout, no unroll, use_bias, a
 * right-padded mask) and then fails at call time: this build runs the LSTM
 * on the CPU only (as Keras fails without a usable GPU). use_cudnn 'auto'
 * and False run the CPU kernels. */
#ifndef RNNC_LSTM_H
#define RNNC_LSTM_H

#include "layers/gru.h" /* rnnc_gru_kernel: the same kernel-choice enum */
#include "layers/lstm_cell.h"

/* An LSTM layer from options (start from rnnc_lstm_options_default()).
 * RNNC_E_ARG naming the argument. Caller owns *out. */
rnnc_status rnnc_lstm_create(const rnnc_lstm_options *o, rnnc_layer **out);

/* Keras's LSTM.from_config (the dict of LSTM.get_config); Keras 2 keys
 * (implementation, time_major false, input shapes) accepted as for GRU. */
rnnc_status rnnc_lstm_from_config(const rnnc_cfg *config, rnnc_layer **out);

bool rnnc_layer_is_lstm(const rnnc_layer *l);
/* The LSTM's cell (owned by the layer), or NULL when l is not an LSTM. */
rnnc_lstm_cell *rnnc_lstm_cell_of_layer(rnnc_layer *l);
rnnc_use_cudnn rnnc_lstm_use_cudnn(const rnnc_layer *l);

/* Which kernel runs (tests and benchmarks): AUTO, GENERIC or FUSED (a call
 * the fused kernel cannot serve then fails). */
rnnc_status rnnc_lstm_set_kernel(rnnc_layer *l, rnnc_gru_kernel k);
rnnc_gru_kernel rnnc_lstm_last_kernel(const rnnc_layer *l);

#endif
