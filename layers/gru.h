/* gru.h - Keras's GRU layer: an RNN (framework/rnn.h) over a GRUCell
 * (gru_cell.h), with every constructor argument of spec section 2, Keras's
 * get_config / from_config (6.1, 6.2), and the kernel choice of 2.1.
 *
 * Kernel choice. The fused whole-sequence CPU kernel (gru_fused.h) runs
 * whenever it gives the same numbers as the generic loop over GRUCell:
 * unroll is false, both activations are element-wise (softmax, log_softmax,
 * sparsemax and glu work along the last axis and go through the generic
 * loop), and no recurrent dropout or implementation-1 (per-gate) input
 * dropout mask is applied in this call. Masks, initial states,
 * go_backwards, both reset_after forms, input dropout with implementation 2
 * and every element-wise activation pair are handled inside the fused
 * kernel. This holds for use_cudnn "auto" and False alike: use_cudnn is
 * about cuDNN, and the CPU kernels are numerically interchangeable.
 * use_cudnn=True asks for the cuDNN kernel; this build has no CUDA backend,
 * so such a layer fails at call time (as Keras does without a usable GPU),
 * never at construction.
 *
 * Dropout rate 1.0 (possible after clamping) applies no dropout on either
 * path (the generic cell's rule; Keras's own fused path would zero the
 * input instead, spec 2.1). */
#ifndef RNNC_GRU_H
#define RNNC_GRU_H

#include "layers/gru_cell.h"

/* A GRU layer from options (start from rnnc_gru_options_default() and set
 * units). Fails with RNNC_E_ARG naming the argument (units < 1,
 * implementation, use_cudnn out of range, name with '/'). Caller owns *out. */
rnnc_status rnnc_gru_create(const rnnc_gru_options *o, rnnc_layer **out);

/* Keras's GRU.from_config: the dict of GRU.get_config (JSON/YAML loaded into
 * a config tree). Validated as Keras validates: units an integer >= 1;
 * unknown activation / initializer / regularizer / constraint names fail
 * naming the argument; dropout rates clamped into [0, 1]; seed an integer
 * or null; use_cudnn "auto", true or false; implementation 1 or 2 (not
 * serialized); Keras 2's time_major (false only) is dropped; autocast is
 * accepted; input_shape / batch_input_shape / input_dim are accepted and left
 * to the model loader. Any other key fails with a suggestion. Caller owns
 * *out. */
rnnc_status rnnc_gru_from_config(const rnnc_cfg *config, rnnc_layer **out);

bool rnnc_layer_is_gru(const rnnc_layer *l);
/* The GRU's cell (owned by the layer), or NULL when l is not a GRU. */
rnnc_gru_cell *rnnc_gru_cell_of_layer(rnnc_layer *l);
/* use_cudnn as given (not serialized by get_config). */
rnnc_use_cudnn rnnc_gru_use_cudnn(const rnnc_layer *l);

/* Which kernel runs (not a Keras argument: for tests and benchmarks). */
typedef enum {
    RNNC_GRU_KERNEL_AUTO,    /* fused when it applies, else generic (the default) */
    RNNC_GRU_KERNEL_GENERIC, /* always the per-step loop over GRUCell */
    RNNC_GRU_KERNEL_FUSED    /* always fused; a call it cannot serve fails */
} rnnc_gru_kernel;

rnnc_status rnnc_gru_set_kernel(rnnc_layer *l, rnnc_gru_kernel k);
/* The kernel the latest call ran (GENERIC or FUSED; AUTO before any call). */
rnnc_gru_kernel rnnc_gru_last_kernel(const rnnc_layer *l);

/* Test hook: the next call uses these dropout masks (see
 * rnnc_gru_cell_set_dropout_masks). */
rnnc_status rnnc_gru_set_dropout_masks(rnnc_layer *l, const rnnc_tensor *const *in_masks, int n_in,
                                       const rnnc_tensor *const *rec_masks, int n_rec);

#endif
