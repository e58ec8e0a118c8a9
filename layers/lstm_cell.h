/* lstm_cell.h - Keras's LSTMCell: the LSTM step, its dropout masks and the
 * options struct the LSTM layer (lstm.h) shares.
 *
 * Math (Keras 3.15 LSTMCell.call, gate columns i [0,U), f [U,2U),
 * c [2U,3U), o [3U,4U)):
 *   z = x @ kernel + h @ recurrent_kernel + bias
 *   i = ract(z_i), f = ract(z_f), g = act(z_c), o = ract(z_o)
 *   c' = f * c + i * g,  h' = o * act(c');  output h', states [h', c'].
 * The step is built from autograd ops, so its backward is derived; it serves
 * the generic RNN loop, the reference the fused kernel (lstm_fused.h) is
 * tested against.
 *
 * Weights (build, in this order): kernel (F, 4U), recurrent_kernel (U, 4U),
 * bias (4U,) when use_bias. unit_forget_bias fills the bias as Keras does:
 * bias_initializer((U,)), ones((U,)), bias_initializer((2U,)) concatenated.
 *
 * Dropout as Keras's DropoutRNNCell: masks drawn once per call (begin_call)
 * from the cell's counter-based generator, seeded from `seed` (or
 * rnnc_next_seed() at construction when the seed is None). Implementation 2:
 * one (B, F) input mask; implementation 1 (forced by recurrent_dropout > 0):
 * four input masks (B, F) and four recurrent masks (B, U), one per gate.
 * Inverted scaling; applied only when training and 0 < rate < 1; the
 * generator advances on every call. Bit patterns differ from Keras's
 * backends (only distribution, sharing and scaling are contractual). */
#ifndef RNNC_LSTM_CELL_H
#define RNNC_LSTM_CELL_H

#include "framework/activations.h"
#include "framework/random.h"
#include "framework/rnn.h"
#include "layers/gru_cell.h" /* rnnc_use_cudnn */
#include "layers/rnn_common.h"

/* Every constructor argument of Keras's LSTM with Keras's defaults from
 * rnnc_lstm_options_default(). LSTMCell reads the cell part. Object
 * pointers are borrowed (cloned by the constructor); NULL initializers mean
 * Keras's default named in the comment. */
typedef struct rnnc_lstm_options {
    /* the cell */
    int64_t units;                                 /* required, >= 1 */
    rnnc_act activation;                           /* tanh */
    rnnc_act recurrent_activation;                 /* sigmoid */
    bool use_bias;                                 /* true */
    const rnnc_initializer *kernel_initializer;    /* NULL -> "glorot_uniform" */
    const rnnc_initializer *recurrent_initializer; /* NULL -> "orthogonal" */
    const rnnc_initializer *bias_initializer;      /* NULL -> "zeros" */
    bool unit_forget_bias;                         /* true */
    const rnnc_regularizer *kernel_regularizer;    /* NULL: none */
    const rnnc_regularizer *recurrent_regularizer;
    const rnnc_regularizer *bias_regularizer;
    const rnnc_constraint *kernel_constraint;      /* NULL: none */
    const rnnc_constraint *recurrent_constraint;
    const rnnc_constraint *bias_constraint;
    double dropout, recurrent_dropout;             /* 0.0, clamped into [0, 1] */
    bool has_seed;                                 /* false: seed = None */
    int64_t seed;
    int implementation;                            /* 2 (1 when recurrent_dropout > 0) */
    /* the sequence layer (LSTM only) */
    const rnnc_regularizer *activity_regularizer;
    bool return_sequences, return_state, go_backwards, stateful, unroll; /* false */
    bool zero_output_for_mask;                     /* false */
    rnnc_use_cudnn use_cudnn;                      /* auto */
    /* the layer */
    const char *name;                              /* NULL -> "lstm", "lstm_1", ... */
    rnnc_dtype dtype;                              /* float32 */
    bool trainable;                                /* true */
} rnnc_lstm_options;

rnnc_lstm_options rnnc_lstm_options_default(void);

/* The cell; read-only outside lstm_cell.c. */
typedef struct rnnc_lstm_cell {
    rnnc_rnn_cell base;
    int64_t units;
    rnnc_act activation, recurrent_activation;
    bool use_bias, unit_forget_bias;
    int implementation;
    double dropout, recurrent_dropout;
    bool has_seed;
    int64_t seed;
    rnnc_rng rng;
    rnnc__rnn_cell_objects obj;  /* kernel, recurrent, bias objects */
    rnnc_tensor *kernel, *recurrent_kernel, *bias; /* after build (bias NULL without use_bias) */
    /* the current call's masks (ctx-owned) */
    int n_in_masks, n_rec_masks;
    rnnc_tensor *in_masks[4], *rec_masks[4];
    bool in_dropout_on, rec_dropout_on, in_call;
    rnnc_ctx *prepared_for;
    rnnc_tensor *w_gate[4], *r_gate[4], *b_gate[4]; /* implementation 1 pieces */
} rnnc_lstm_cell;

/* An LSTMCell (name NULL -> "lstm_cell", ...). RNNC_E_ARG naming the
 * argument on units < 1, implementation not 1/2. Caller owns *out. */
rnnc_status rnnc_lstm_cell_create(const rnnc_lstm_options *o, rnnc_layer **out);
/* Keras's LSTMCell.from_config. Caller owns *out. */
rnnc_status rnnc_lstm_cell_from_config(const rnnc_cfg *config, rnnc_layer **out);

/* Parsed cell objects (owned until handed to create_parsed). */
typedef rnnc__rnn_cell_objects rnnc_lstm_cell_parsed;
rnnc_status rnnc__lstm_cell_read_config(const rnnc_cfg *config, const char *what,
                                        rnnc_lstm_options *o, rnnc_lstm_cell_parsed *p);
void rnnc__lstm_cell_parsed_clear(rnnc_lstm_cell_parsed *p);
rnnc_status rnnc__lstm_cell_create_parsed(const rnnc_lstm_options *o, rnnc_lstm_cell_parsed *p,
                                          const char *name, const char *what, rnnc_layer **out);
/* Writes the cell's keys; layer_order: LSTM's order (unit_forget_bias after
 * bias_initializer, activity_regularizer of `activity` after
 * bias_regularizer) instead of LSTMCell's (unit_forget_bias after use_bias). */
rnnc_status rnnc__lstm_cell_config_keys(const rnnc_lstm_cell *c, rnnc_cfg *config,
                                        const rnnc_layer *activity);

bool rnnc_layer_is_lstm_cell(const rnnc_layer *l);
rnnc_lstm_cell *rnnc_lstm_cell_of(rnnc_layer *l);

#endif
