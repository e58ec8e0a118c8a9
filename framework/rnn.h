/* rnn.h - Layer -> RNN: the recurrent base every recurrent layer embeds.
 *
 * As Keras's RNN (spec sections 3, 5, 6): it owns a cell (a layer with a
 * step function and a state size) and does the sequence work around it:
 * masks, go_backwards, return_sequences, return_state, stateful (+ reset),
 * unroll, initial_state, get_initial_state, inner_loop, shape inference and
 * mask propagation. The per-timestep "generic loop" here calls the cell's
 * step, which is built from autograd ops, so its backward is derived; it is
 * the reference every fused kernel is tested against.
 *
 * Masks follow Keras's TensorFlow backend (spec 3.2): on a masked step the
 * state is frozen and the output repeats the previous output, zeros before
 * a row's first valid step (not the initial state, as JAX/NumPy do), zeros
 * everywhere with zero_output_for_mask. `unroll` is an execution strategy
 * with the same numbers: in C the generic loop is always "unrolled" on the
 * tape, so unroll only rules out fused kernels (and the per-step
 * zero_output_for_mask rule is applied whatever unroll is, spec 5.4).
 *
 * Mask propagation is Keras v3.15.1's: the output mask is the input mask when
 * return_sequences, otherwise none; states never carry one.
 *
 * Not here: Keras's symbolic placeholders (shape inference is
 * rnnc_layer_output_spec), stacked cells, RNN.from_config (needs a cell
 * registry; GRU has its own from_config in layers/gru.h). */
#ifndef RNNC_RNN_H
#define RNNC_RNN_H

#include "framework/layer.h"

#define RNNC_RNN_MAX_STATES 4

/* ---- the cell interface ------------------------------------------------ */

/* What an RNN needs from its cell, besides the layer class (whose build
 * receives the step input shape (B, F)). */
typedef struct rnnc_rnn_cell_ops {
    /* Number of state tensors (GRU: 1) and the width of state i (GRU: units). */
    int (*n_states)(const rnnc_layer *cell);
    int64_t (*state_size)(const rnnc_layer *cell, int i);
    int64_t (*output_size)(const rnnc_layer *cell);
    /* Once per RNN call, before the time loop: per-call set-up such as
     * drawing dropout masks for a batch of `batch` rows. May be NULL. */
    rnnc_status (*begin_call)(rnnc_layer *cell, rnnc_ctx *cx, int64_t batch, bool training);
    /* One step: x (B, F), states[i] (B, S_i) -> *output (B, O) and
     * new_states[i] (B, S_i), all owned by cx, built from ops (differentiable). */
    rnnc_status (*step)(rnnc_layer *cell, rnnc_ctx *cx, rnnc_tensor *x,
                        rnnc_tensor *const *states, bool training, rnnc_tensor **output,
                        rnnc_tensor **new_states);
    /* After the loop: drops per-call state (Keras discards the cached
     * dropout masks). May be NULL. */
    void (*end_call)(rnnc_layer *cell);
} rnnc_rnn_cell_ops;

/* A cell's struct begins with this (whose first member is the layer). */
typedef struct rnnc_rnn_cell {
    rnnc_layer base;
    const rnnc_rnn_cell_ops *ops;
} rnnc_rnn_cell;

/* ---- the RNN layer ----------------------------------------------------- */

/* RNN arguments with Keras's defaults from rnnc_rnn_options_default(). */
typedef struct rnnc_rnn_options {
    bool return_sequences;     /* False */
    bool return_state;         /* False */
    bool go_backwards;         /* False */
    bool stateful;             /* False */
    bool unroll;               /* False */
    bool zero_output_for_mask; /* False */
} rnnc_rnn_options;

rnnc_rnn_options rnnc_rnn_options_default(void);

typedef struct rnnc_rnn rnnc_rnn;

/* What inner_loop returns (Keras's triple). All ctx-owned. */
typedef struct rnnc_rnn_loop_result {
    rnnc_tensor *last_output; /* (B, O): the output of the last processed step */
    rnnc_tensor *outputs;     /* (B, T, O) in processing order when return_sequences,
                               * else (B, 1, O): only the last, as Keras */
    int n_states;
    rnnc_tensor *states[RNNC_RNN_MAX_STATES]; /* final states, (B, S_i) */
} rnnc_rnn_loop_result;

/* Arguments of one inner loop, already checked and converted by the call. */
typedef struct rnnc_rnn_loop_args {
    rnnc_tensor *sequences;                       /* (B, T, F), layer dtype */
    rnnc_tensor *initial_states[RNNC_RNN_MAX_STATES]; /* (B, S_i), layer dtype */
    const rnnc_tensor *mask;                      /* uint8 (B, T) or NULL */
    bool training;
} rnnc_rnn_loop_args;

/* A recurrent class: the layer class plus an optional fused inner loop.
 * inner_loop sets *handled = false (and returns OK) to mean "not for these
 * arguments": the generic loop then runs. */
typedef struct rnnc_rnn_class {
    rnnc_layer_class layer; /* first: &cls->layer is what rnnc_layer.cls points to */
    rnnc_status (*inner_loop)(rnnc_rnn *rnn, rnnc_ctx *cx, const rnnc_rnn_loop_args *a,
                              rnnc_rnn_loop_result *res, bool *handled);
    /* Adds the class's config keys after the RNN's six; NULL -> Keras RNN's
     * "cell" entry (the serialized cell). */
    rnnc_status (*get_config)(const rnnc_layer *l, rnnc_cfg *config);
} rnnc_rnn_class;

struct rnnc_rnn {
    rnnc_layer base;                          /* first: a rnnc_rnn* is a rnnc_layer* */
    rnnc_layer *cell;                         /* = base.children[0] ("cell"), owned there */
    rnnc_rnn_options opt;
    int n_states;                             /* the cell's, fixed at init */
    rnnc_tensor *states[RNNC_RNN_MAX_STATES]; /* stateful: (B, S_i), owned; else NULL */
};

/* Base set-up for RNN subclasses: layer init + takes ownership of the cell
 * (also on failure; the caller then destroys l with rnnc_layer_destroy). */
rnnc_status rnnc_rnn_init(rnnc_rnn *rnn, const rnnc_rnn_class *cls, const char *name,
                          rnnc_dtype dtype, rnnc_layer *cell, const rnnc_rnn_options *opt);

/* Keras's RNN(cell, ...) over any cell (class "RNN"). Takes ownership of
 * cell (also on failure). name NULL -> "rnn", "rnn_1", ... */
rnnc_status rnnc_rnn_create(rnnc_layer *cell, const rnnc_rnn_options *opt, const char *name,
                            rnnc_layer **out);

/* True for layers built on rnnc_rnn (RNN, GRU). */
bool rnnc_layer_is_rnn(const rnnc_layer *l);
/* The layer as an RNN, or NULL when it is not one. */
rnnc_rnn *rnnc_rnn_of(rnnc_layer *l);
/* The cell (owned by the RNN). */
rnnc_layer *rnnc_rnn_cell_of(const rnnc_layer *l);

/* Keras's inner_loop(sequences, initial_state, mask, training): the cell's
 * per-call set-up (dropout masks), the class's fused loop when it applies,
 * else the generic loop. Results are ctx-owned. */
rnnc_status rnnc_rnn_inner_loop(rnnc_rnn *rnn, rnnc_ctx *cx, const rnnc_rnn_loop_args *a,
                                rnnc_rnn_loop_result *res);
/* The per-timestep reference loop over cell->step (no set-up; callers run
 * begin_call/end_call around it, as rnnc_rnn_inner_loop does). */
rnnc_status rnnc_rnn_generic_loop(rnnc_rnn *rnn, rnnc_ctx *cx, const rnnc_rnn_loop_args *a,
                                  rnnc_rnn_loop_result *res);

/* Keras's get_initial_state(batch_size): zeros (batch, S_i) for each state,
 * in the layer dtype, owned by cx. */
rnnc_status rnnc_rnn_get_initial_state(const rnnc_layer *l, rnnc_ctx *cx, int64_t batch,
                                       rnnc_tensor **states, int *n);

/* reset_state(): stored states to zeros. A no-op on a non-stateful or not
 * yet built layer, as Keras. Fails on a layer that is not an RNN. */
rnnc_status rnnc_rnn_reset_state(rnnc_layer *l);
/* Sets the stored states to given values (copied): n tensors of (B, S_i)
 * with the stored batch size. Fails (RNNC_E_STATE) on a non-stateful or
 * unbuilt layer, RNNC_E_SHAPE on a count or shape mismatch. */
rnnc_status rnnc_rnn_reset_state_to(rnnc_layer *l, const rnnc_tensor *const *values, int n);
/* The stored states (owned by the layer; NULL when not stateful/built). */
const rnnc_tensor *rnnc_rnn_state(const rnnc_layer *l, int i);

/* For subclasses (GRU reuses the RNN's protocol): the class functions. */
rnnc_status rnnc__rnn_build(rnnc_layer *l, const rnnc_shape *input_shape);
rnnc_status rnnc__rnn_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res);
rnnc_status rnnc__rnn_output_spec(const rnnc_layer *l, const rnnc_shape *input_shape,
                                  rnnc_output_spec *spec);
/* Writes return_sequences .. zero_output_for_mask, then the class's keys. */
rnnc_status rnnc__rnn_get_config(const rnnc_layer *l, rnnc_cfg *config);
void rnnc__rnn_destroy(rnnc_layer *l);
/* Reads the six RNN keys of a config map into opt (missing -> defaults). */
rnnc_status rnnc__rnn_read_options(const rnnc_cfg *config, const char *what,
                                   rnnc_rnn_options *opt);

#endif
