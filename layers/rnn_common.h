/* rnn_common.h - pieces the recurrent layers after the GRU share (LSTM,
 * SimpleRNN, ...): argument checks of a cell, dropout masks, the RNN
 * layer's config keys after the cell's, and the allocation of an RNN
 * subclass. Private to layers/. */
#ifndef RNNC_LAYERS_RNN_COMMON_H
#define RNNC_LAYERS_RNN_COMMON_H

#include "framework/random.h"
#include "framework/rnn.h"
#include "layers/gru_cell.h" /* rnnc_use_cudnn */

/* Python's min(1, max(0, v)) (NaN -> 0), as Keras clamps dropout rates. */
double rnnc__rnn_clamp_rate(double v);

/* units in [1, RNNC_CFG_MAX_UNITS], activations valid rnnc_act values,
 * implementation 1 or 2 (pass 2 when the class has none). RNNC_E_ARG with
 * `what` (the class name) and the argument otherwise. */
rnnc_status rnnc__rnn_cell_check_args(const char *what, int64_t units, rnnc_act act,
                                      rnnc_act ract, int implementation);

/* n inverted-dropout masks (batch, width), 1/(1-rate) with probability
 * 1-rate, drawn from rng into dst (ctx-owned) when `on`; otherwise only the
 * generator's counter moves by what the draws would consume, as Keras's
 * seed generator advances on every call. */
rnnc_status rnnc__rnn_cell_masks(rnnc_rng *rng, rnnc_ctx *cx, rnnc_dtype dt, const char *who,
                                 int n, bool on, int64_t batch, int64_t width, double rate,
                                 rnnc_tensor **dst);

/* A recurrent layer config's seed: an integer or null. */
rnnc_status rnnc__rnn_read_seed(const rnnc_cfg *cfg, const char *what, bool *has_seed,
                                int64_t *seed);

/* After the class's own keys: the base keys (name, trainable, dtype,
 * activity_regularizer; copied to the cell), use_cudnn ('auto', true,
 * false; NULL: not a key of the class), Keras 2's time_major (false only),
 * autocast, and the legacy input-shape keys (left to the model loader). */
rnnc_status rnnc__rnn_read_layer_tail(rnnc_layer *l, const rnnc_cfg *config, const char *what,
                                      rnnc_use_cudnn *use_cudnn);

/* Allocates `size` bytes (a struct beginning with rnnc_rnn) and inits the
 * RNN base over cell (taken over, also on failure). */
rnnc_status rnnc__rnn_subclass_create(size_t size, const rnnc_rnn_class *cls, const char *name,
                                      rnnc_dtype dtype, bool trainable, rnnc_layer *cell,
                                      const rnnc_rnn_options *ro, rnnc_rnn **out);

#endif
