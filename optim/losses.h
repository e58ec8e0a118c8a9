/* losses.h - Keras 3 losses (spec 13.4, 13.5, 13.7): mean_squared_error,
 * mean_absolute_error, huber, binary_crossentropy, categorical_crossentropy,
 * sparse_categorical_crossentropy, by Keras name, alias and config, with
 * Keras's reductions, sample weights and masks.
 *
 * A loss is computed from differentiable ops in a context, so
 * rnnc_backward() on its result reaches y_pred. Three layers, as in Keras:
 *   rnnc_loss_values   the per-sample function: y_true, y_pred -> L (one
 *                      axis fewer than y_pred: (B,) or (B,T))
 *   rnnc_loss_reduce   Keras's reduce_weighted_values: mask and sample
 *                      weight merged into one weight, L * weight, reduction
 *   rnnc_loss_call     both, what Loss.__call__ does.
 *
 * TensorFlow-backend behaviour kept on purpose: when y_pred was produced by
 * a sigmoid (binary_crossentropy) or softmax (the categorical losses)
 * activation recorded on the tape, the loss is computed from that
 * activation's input, as if from_logits were true (spec 13.5).
 *
 * Not here: the other Keras losses (hinge, KLD, ...), a loss axis other than
 * -1, custom loss functions. */
#ifndef RNNC_OPTIM_LOSSES_H
#define RNNC_OPTIM_LOSSES_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/autograd.h"
#include "framework/config.h"

typedef enum {
    RNNC_REDUCTION_SUM_OVER_BATCH_SIZE, /* sum / element count (the default) */
    RNNC_REDUCTION_SUM,
    RNNC_REDUCTION_MEAN,                /* same as sum_over_batch_size */
    RNNC_REDUCTION_MEAN_WITH_SAMPLE_WEIGHT, /* sum / sum of weights (when given) */
    RNNC_REDUCTION_NONE                 /* per-sample values, weighted */
} rnnc_reduction;

/* "sum_over_batch_size", ... ; RNNC_REDUCTION_NONE -> "none". */
const char *rnnc_reduction_name(rnnc_reduction r);
/* Keras's names; a NULL name is None (= none). Unknown -> RNNC_E_ARG. */
rnnc_status rnnc_reduction_from_name(const char *name, const char *what, rnnc_reduction *out);

typedef enum {
    RNNC_LOSS_MEAN_SQUARED_ERROR,
    RNNC_LOSS_MEAN_ABSOLUTE_ERROR,
    RNNC_LOSS_HUBER,
    RNNC_LOSS_BINARY_CROSSENTROPY,
    RNNC_LOSS_CATEGORICAL_CROSSENTROPY,
    RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
    /* compile(loss="crossentropy"/"ce"): binary, sparse or categorical
     * picked from the shapes of each call, as Keras's compile does. */
    RNNC_LOSS_CROSSENTROPY_AUTO
} rnnc_loss_kind;

typedef struct rnnc_loss rnnc_loss;

/* Constructor arguments with Keras's defaults (rnnc_loss_options_default()). */
typedef struct rnnc_loss_options {
    const char *name;         /* NULL -> the class default ("huber_loss", ...) */
    rnnc_reduction reduction; /* sum_over_batch_size */
    bool from_logits;         /* crossentropies */
    double label_smoothing;   /* binary / categorical crossentropy, in [0, 1] */
    double delta;             /* huber, 1.0 */
    bool has_ignore_class;    /* sparse categorical crossentropy */
    int64_t ignore_class;
} rnnc_loss_options;

rnnc_loss_options rnnc_loss_options_default(void);
/* Caller owns *out. Fails with RNNC_E_ARG on a bad option (label_smoothing
 * outside [0, 1], delta < 0, ignore_class on another loss). */
rnnc_status rnnc_loss_create(rnnc_loss_kind kind, const rnnc_loss_options *opts, rnnc_loss **out);
/* A Keras identifier: "mse" "MSE" "mean_squared_error" "MeanSquaredError",
 * "mae" "MAE" "mean_absolute_error" "MeanAbsoluteError", "huber" "Huber",
 * "bce" "BCE" "binary_crossentropy" "BinaryCrossentropy",
 * "categorical_crossentropy" "CategoricalCrossentropy",
 * "sparse_categorical_crossentropy" "SparseCategoricalCrossentropy", and
 * "crossentropy"/"ce" (any case). Function names give the function form
 * (named by the identifier, serialized back as the string); class names give
 * the class with its default name. Unknown -> RNNC_E_ARG with a suggestion. */
rnnc_status rnnc_loss_from_name(const char *name, rnnc_loss **out);
/* A string (as above) or {"class_name": "Huber", "config": {...}} with the
 * class's Keras keys (name, reduction, from_logits, label_smoothing, axis,
 * ignore_class, delta). Unknown keys -> RNNC_E_ARG naming them. `what`
 * prefixes messages ("compile.loss"). */
rnnc_status rnnc_loss_from_config(const rnnc_cfg *c, const char *what, rnnc_loss **out);
void rnnc_loss_destroy(rnnc_loss *l); /* NULL is a no-op */

/* The dtype a loss computes in. A loss made from a Keras name or config
 * computes in float32 (Keras's floatx; its config's "dtype": "float64" gives
 * float64): as Keras's Loss.__call__, a float64 y_pred is cast to it first
 * (on the tape). rnnc_loss_create's computes in y_pred's dtype. Set
 * RNNC_F32, RNNC_F64, or -1 for y_pred's dtype; RNNC_E_ARG otherwise. */
rnnc_status rnnc_loss_set_compute_dtype(rnnc_loss *l, int dtype);
int rnnc_loss_compute_dtype(const rnnc_loss *l); /* RNNC_F32, RNNC_F64 or -1 */

const char *rnnc_loss_name(const rnnc_loss *l);
rnnc_loss_kind rnnc_loss_get_kind(const rnnc_loss *l);
rnnc_reduction rnnc_loss_reduction(const rnnc_loss *l);
/* The Keras config dict of the class form ({"name", "reduction", ...}, in
 * Keras's key order; Huber has no "delta" there, as in Keras). Caller owns. */
rnnc_status rnnc_loss_get_config(const rnnc_loss *l, rnnc_cfg **out);
/* What compile's config stores: the identifier string for the function
 * form, else {"module": "keras.losses", "class_name", "config",
 * "registered_name": null}. Caller owns. */
rnnc_status rnnc_loss_serialize(const rnnc_loss *l, rnnc_cfg **out);

/* The per-sample loss L (ctx-owned, differentiable in y_pred). y_true: any
 * numeric dtype (class ids for the sparse loss), y_pred: float. *out_mask
 * (may be NULL) receives a U8 mask of L's shape when the loss masks entries
 * itself (sparse ignore_class), else NULL. Shape errors -> RNNC_E_SHAPE
 * with both shapes; class ids out of range -> RNNC_E_ARG. */
rnnc_status rnnc_loss_values(const rnnc_loss *l, rnnc_ctx *cx, const rnnc_tensor *y_true,
                             rnnc_tensor *y_pred, rnnc_tensor **values, rnnc_tensor **out_mask);

/* Keras's reduce_weighted_values. values: float, any shape. sample_weight
 * (any numeric dtype) and mask (U8 or numeric, non-zero = valid) may be
 * NULL. With a mask and sum_over_batch_size/mean, valid entries weigh
 * count(all)/count(valid) (mean over valid entries). The weight and
 * values are squeezed/expanded by one trailing size-1 axis to equal ranks,
 * then broadcast. Result: rank 0 (or values' shape for none / scalars). */
rnnc_status rnnc_loss_reduce(rnnc_ctx *cx, rnnc_tensor *values, const rnnc_tensor *sample_weight,
                             const rnnc_tensor *mask, rnnc_reduction reduction, rnnc_tensor **out);

/* Loss.__call__: values, then the reduction with the loss's reduction. The
 * mask is y_pred's mask (the model output's, e.g. (B,T)); it is combined
 * (AND) with the loss's own mask. */
rnnc_status rnnc_loss_call(const rnnc_loss *l, rnnc_ctx *cx, const rnnc_tensor *y_true,
                           rnnc_tensor *y_pred, const rnnc_tensor *sample_weight,
                           const rnnc_tensor *mask, rnnc_tensor **out);

/* rnnc_loss_call that also says what the reduction divided the weighted
 * sum by: the entry count, the valid (unmasked) entries of a masked mean,
 * the sum of the weights (mean_with_sample_weight), or -1 when the result
 * is a sum (reduction sum, none, or scalar values). Data-parallel training
 * uses it to weigh each rank's part of a global batch. */
rnnc_status rnnc_loss_call_counted(const rnnc_loss *l, rnnc_ctx *cx, const rnnc_tensor *y_true,
                                   rnnc_tensor *y_pred, const rnnc_tensor *sample_weight,
                                   const rnnc_tensor *mask, rnnc_tensor **out, double *divisor);

/* Keras's squeeze_or_expand_to_same_rank on shapes: when ranks differ by one
 * and the longer has a trailing 1, drop it (or, when the shorter is rank 1,
 * add one to the shorter). Shapes are updated in place. */
void rnnc_loss_match_ranks(rnnc_shape *a, rnnc_shape *b);

#endif
