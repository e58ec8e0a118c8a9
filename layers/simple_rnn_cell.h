/* simple_rnn_cell.h - Keras's SimpleRNNCell and the options SimpleRNN
 * (simple_rnn.h) shares.
 *
 * Step (Keras 3.15 SimpleRNNCell.call): x (B, F), h (B, U):
 *   h' = act((x * dp) @ kernel + bias + (h * rdp) @ recurrent_kernel)
 * output h', state [h']. dp / rdp: one (B, F) input and one (B, U)
 * recurrent inverted-dropout mask per call, applied only when training and
 * 0 < rate < 1, drawn from the cell's counter-based generator (seed, or
 * rnnc_next_seed() when None); bit patterns differ from Keras's backends.
 * Weights (build order): kernel (F, U), recurrent_kernel (U, U), bias (U,)
 * when use_bias. */
#ifndef RNNC_SIMPLE_RNN_CELL_H
#define RNNC_SIMPLE_RNN_CELL_H

#include "layers/rnn_common.h"

typedef struct rnnc_simple_rnn_options {
    /* the cell */
    int64_t units;                                 /* required, >= 1 */
    rnnc_act activation;                           /* tanh */
    bool use_bias;                                 /* true */
    const rnnc_initializer *kernel_initializer;    /* NULL -> "glorot_uniform" */
    const rnnc_initializer *recurrent_initializer; /* NULL -> "orthogonal" */
    const rnnc_initializer *bias_initializer;      /* NULL -> "zeros" */
    const rnnc_regularizer *kernel_regularizer, *recurrent_regularizer, *bias_regularizer;
    const rnnc_constraint *kernel_constraint, *recurrent_constraint, *bias_constraint;
    double dropout, recurrent_dropout;             /* 0.0, clamped into [0, 1] */
    bool has_seed;                                 /* false: None */
    int64_t seed;
    /* the sequence layer (SimpleRNN only) */
    const rnnc_regularizer *activity_regularizer;
    bool return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask;
    /* the layer */
    const char *name; /* NULL -> "simple_rnn_cell" / "simple_rnn", ... */
    rnnc_dtype dtype; /* float32 */
    bool trainable;   /* true */
} rnnc_simple_rnn_options;

rnnc_simple_rnn_options rnnc_simple_rnn_options_default(void);

typedef struct rnnc_simple_rnn_cell {
    rnnc_rnn_cell base;
    int64_t units;
    rnnc_act activation;
    bool use_bias, has_seed;
    int64_t seed;
    double dropout, recurrent_dropout;
    rnnc_rng rng;
    rnnc__rnn_cell_objects obj;
    rnnc_tensor *kernel, *recurrent_kernel, *bias;
    rnnc_tensor *in_mask, *rec_mask; /* this call's masks (ctx-owned) or NULL */
} rnnc_simple_rnn_cell;

/* Caller owns *out. RNNC_E_ARG naming the argument on units < 1. */
rnnc_status rnnc_simple_rnn_cell_create(const rnnc_simple_rnn_options *o, rnnc_layer **out);
/* Keras's SimpleRNNCell.from_config. */
rnnc_status rnnc_simple_rnn_cell_from_config(const rnnc_cfg *config, rnnc_layer **out);
/* Reads the cell keys of a SimpleRNN / SimpleRNNCell config into o and p
 * (p's objects owned by the caller). */
rnnc_status rnnc__simple_rnn_cell_read_config(const rnnc_cfg *cfg, const char *what,
                                              rnnc_simple_rnn_options *o,
                                              rnnc__rnn_cell_objects *p);
/* A cell from options and objects (taken over, also on failure). */
rnnc_status rnnc__simple_rnn_cell_create_parsed(const rnnc_simple_rnn_options *o,
                                                rnnc__rnn_cell_objects *p, const char *name,
                                                const char *what, rnnc_layer **out);
/* The cell keys; `activity` not NULL: SimpleRNN's form (activity_regularizer
 * after bias_regularizer, no seed). */
rnnc_status rnnc__simple_rnn_cell_config_keys(const rnnc_simple_rnn_cell *c, rnnc_cfg *cfg,
                                              const rnnc_layer *activity);

rnnc_simple_rnn_cell *rnnc_simple_rnn_cell_of(rnnc_layer *l);

#endif
