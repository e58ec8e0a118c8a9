/* gru_cell.h - Keras's GRUCell: the GRU step (spec section 1) and its
 * dropout masks (section 4), plus the options struct GRU shares.
 *
 * The step is built from autograd ops (matmul, slice, add, mul, activation,
 * where), so its backward is derived; it serves the generic RNN loop, which
 * is the reference the fused kernel (gru_fused.h) is tested against.
 *
 * Weights, created by build in this order through rnnc_layer_add_weight:
 * kernel (F, 3U), recurrent_kernel (U, 3U), bias (2, 3U) when reset_after
 * (row 0 input side, row 1 recurrent side) or (3U,) otherwise, only when
 * use_bias. Gate columns: z [0,U), r [U,2U), h [2U,3U).
 *
 * Dropout: at the start of every call (begin_call) masks are drawn from the
 * cell's counter-based generator, seeded from `seed` (or rnnc_next_seed()
 * at construction when the seed is None): one (B, F) input mask shared by
 * the three gates (implementation 2), or three per side, input (B, F) and
 * recurrent (B, U), when implementation 1 (forced by recurrent_dropout > 0).
 * Inverted scaling (kept values are 1/(1-rate)); applied only when training
 * and 0 < rate < 1; the generator advances on every call, training or not,
 * as Keras's seed generator does. Bit patterns differ from Keras's backends
 * (spec 4: only distribution, sharing and scaling are contractual). */
#ifndef RNNC_GRU_CELL_H
#define RNNC_GRU_CELL_H

#include "framework/activations.h"
#include "framework/random.h"
#include "framework/rnn.h"

/* use_cudnn: "auto", True, False (spec 2.1). */
typedef enum {
    RNNC_USE_CUDNN_AUTO,
    RNNC_USE_CUDNN_TRUE,
    RNNC_USE_CUDNN_FALSE
} rnnc_use_cudnn;

/* Every constructor argument of Keras's GRU (spec section 2), with Keras's
 * defaults from rnnc_gru_options_default(). GRUCell reads the cell part and
 * ignores the sequence part. Object pointers are borrowed (the constructor
 * clones them); a NULL initializer means the Keras default value named in
 * the comment (Keras's explicit None, which add_weight turns into
 * glorot_uniform, is reachable through from_config's null). */
typedef struct rnnc_gru_options {
    /* the cell */
    int64_t units;                                 /* required, >= 1 (default 0: invalid) */
    rnnc_act activation;                           /* tanh */
    rnnc_act recurrent_activation;                 /* sigmoid */
    bool use_bias;                                 /* true */
    const rnnc_initializer *kernel_initializer;    /* NULL -> "glorot_uniform" */
    const rnnc_initializer *recurrent_initializer; /* NULL -> "orthogonal" */
    const rnnc_initializer *bias_initializer;      /* NULL -> "zeros" */
    const rnnc_regularizer *kernel_regularizer;    /* NULL: none */
    const rnnc_regularizer *recurrent_regularizer; /* NULL: none */
    const rnnc_regularizer *bias_regularizer;      /* NULL: none */
    const rnnc_constraint *kernel_constraint;      /* NULL: none */
    const rnnc_constraint *recurrent_constraint;   /* NULL: none */
    const rnnc_constraint *bias_constraint;        /* NULL: none */
    double dropout;                                /* 0.0, clamped into [0, 1] */
    double recurrent_dropout;                      /* 0.0, clamped into [0, 1] */
    bool has_seed;                                 /* false: seed = None */
    int64_t seed;                                  /* used when has_seed */
    bool reset_after;                              /* true */
    int implementation;                            /* 2 (1 when recurrent_dropout > 0) */
    /* the sequence layer (GRU only) */
    const rnnc_regularizer *activity_regularizer;  /* NULL: none */
    bool return_sequences, return_state, go_backwards, stateful, unroll; /* all false */
    bool zero_output_for_mask;                     /* false */
    rnnc_use_cudnn use_cudnn;                      /* auto */
    /* the layer */
    const char *name;                              /* NULL -> "gru", "gru_1", ... */
    rnnc_dtype dtype;                              /* float32 */
    bool trainable;                                /* true */
} rnnc_gru_options;

rnnc_gru_options rnnc_gru_options_default(void);

/* The cell. Open so the GRU layer and its fused kernel can read it; treat
 * every field as read-only outside gru_cell.c. */
typedef struct rnnc_gru_cell {
    rnnc_rnn_cell base;                    /* first: a rnnc_gru_cell* is a rnnc_layer* */
    int64_t units;
    rnnc_act activation, recurrent_activation;
    bool use_bias, reset_after;
    int implementation;                    /* effective: 1 or 2 */
    double dropout, recurrent_dropout;     /* clamped */
    bool has_seed;
    int64_t seed;                          /* as given (serialized), when has_seed */
    rnnc_rng rng;                          /* dropout stream */
    /* Constructor arguments kept for get_config and build (owned). A NULL
     * initializer is Keras's None. */
    rnnc_initializer *kernel_initializer, *recurrent_initializer, *bias_initializer;
    rnnc_regularizer *kernel_regularizer, *recurrent_regularizer, *bias_regularizer;
    rnnc_constraint *kernel_constraint, *recurrent_constraint, *bias_constraint;
    /* Weights after build (owned by base.base.weights), else NULL. */
    rnnc_tensor *kernel;                   /* (F, 3U) */
    rnnc_tensor *recurrent_kernel;         /* (U, 3U) */
    rnnc_tensor *bias;                     /* (2, 3U) | (3U,) | NULL */
    /* The current call's dropout masks (ctx-owned; kept after the call for
     * rnnc_gru_cell_dropout_masks until the next call). */
    int n_in_masks, n_rec_masks;
    rnnc_tensor *in_masks[3];              /* (B, F) */
    rnnc_tensor *rec_masks[3];             /* (B, U) */
    bool in_dropout_on, rec_dropout_on;    /* applied in this call */
    bool in_call;                          /* between begin_call and end_call */
    /* Masks injected for the next call (owned copies), see set_dropout_masks. */
    int n_inject_in, n_inject_rec;
    bool inject_pending;
    rnnc_tensor *inject_in[3], *inject_rec[3];
    /* Per-call weight pieces the generic step uses (ctx-owned, lazily made). */
    rnnc_ctx *prepared_for;
    rnnc_tensor *w_gate[3], *r_gate[3];    /* (F, U), (U, U) column blocks (implementation 1) */
    rnnc_tensor *r_zr;                     /* (U, 2U) (implementation 2, reset_after=False) */
    rnnc_tensor *b_in, *b_rec;             /* (1, 3U) bias rows (reset_after) */
    rnnc_tensor *b_in_gate[3], *b_rec_gate[3]; /* (1, U) or (U,) blocks (implementation 1) */
} rnnc_gru_cell;

/* A GRUCell (class "GRUCell", name NULL -> "gru_cell", ...). Fails with
 * RNNC_E_ARG naming the argument on units < 1, an implementation other than
 * 1 or 2, a dtype other than float32/float64. Caller owns *out. */
rnnc_status rnnc_gru_cell_create(const rnnc_gru_options *o, rnnc_layer **out);

/* Keras's GRUCell.from_config (the GRUCell keys of spec 6.1 plus name,
 * trainable, dtype; implementation accepted). Caller owns *out. */
rnnc_status rnnc_gru_cell_from_config(const rnnc_cfg *config, rnnc_layer **out);

/* Reads the cell arguments of a GRU/GRUCell config into o; `what` is the
 * class name for messages. Owned objects are returned through the out
 * pointers (initializer NULL = config null; *_given false = key missing). */
typedef struct rnnc_gru_cell_parsed {
    rnnc_initializer *init[3];   /* kernel, recurrent, bias */
    bool init_given[3];          /* key present (an explicit null -> NULL above) */
    rnnc_regularizer *reg[3];
    rnnc_constraint *cons[3];
} rnnc_gru_cell_parsed;
rnnc_status rnnc__gru_cell_read_config(const rnnc_cfg *config, const char *what,
                                       rnnc_gru_options *o, rnnc_gru_cell_parsed *p);
void rnnc__gru_cell_parsed_clear(rnnc_gru_cell_parsed *p);
/* Creates a cell from options and parsed objects (taken over, also on failure). */
rnnc_status rnnc__gru_cell_create_parsed(const rnnc_gru_options *o, rnnc_gru_cell_parsed *p,
                                         const char *name, const char *what, rnnc_layer **out);
/* Writes the GRUCell keys units .. seed (the GRU's get_config puts
 * activity_regularizer between bias_regularizer and kernel_constraint when
 * `activity` is not NULL). */
rnnc_status rnnc__gru_cell_config_keys(const rnnc_gru_cell *c, rnnc_cfg *config,
                                       const rnnc_layer *activity);

/* Standalone GRUCell.call(x, h, training): x (B, F), h (B, U) -> *h_new
 * (B, U), ctx-owned; builds the cell on first use. Output and new state are
 * the same tensor, as in Keras. Draws fresh dropout masks for this call. */
rnnc_status rnnc_gru_cell_call(rnnc_layer *cell, rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor *h,
                               bool training, rnnc_tensor **h_new);

/* Test hook: use these masks (copied) in the next call instead of drawing
 * them. Counts must match what that call uses: input masks 1 (implementation
 * 2) or 3 (implementation 1), when dropout > 0, else 0; recurrent masks 3
 * when recurrent_dropout > 0, else 0. Shapes are checked at that call:
 * input (B, F), recurrent (B, U). Masks still apply only when training and
 * 0 < rate < 1. The generator does not advance for injected masks. */
rnnc_status rnnc_gru_cell_set_dropout_masks(rnnc_layer *cell, const rnnc_tensor *const *in_masks,
                                            int n_in, const rnnc_tensor *const *rec_masks,
                                            int n_rec);
/* The masks of the latest call (ctx-owned by that call's context, valid
 * until it is cleared; NULL entries when none was made: rate 0, rate 1, or
 * not training). Up to 3 each. */
void rnnc_gru_cell_dropout_masks(const rnnc_layer *cell, const rnnc_tensor **in_masks,
                                 int *n_in, const rnnc_tensor **rec_masks, int *n_rec);

/* The cell as a rnnc_gru_cell, or NULL when l is not a GRUCell. */
rnnc_gru_cell *rnnc_gru_cell_of(rnnc_layer *l);
bool rnnc_layer_is_gru_cell(const rnnc_layer *l);

#endif
