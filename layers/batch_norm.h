/* batch_norm.h - Keras's BatchNormalization.
 *
 * y = gamma * (x - mean) / sqrt(var + epsilon) + beta, per feature along
 * `axis` (default -1). Training (training=true and the layer trainable):
 * mean and var are the batch's, over every axis but `axis` (biased
 * variance), differentiable, and the moving statistics are updated in place
 *   moving = moving * momentum + batch * (1 - momentum).
 * With a mask (rank one less than the input, 1 = use), masked positions
 * are left out of the batch statistics exactly as Keras 3 does:
 *   mean = sum(m x) / (sum(m) + 1e-7), var = sum(m (m x - mean)^2) / (sum(m) + 1e-7).
 * Otherwise (inference, or trainable = false, as Keras) the moving
 * statistics are used. Masks pass through unchanged.
 *
 * Weights, in Keras order: gamma (C,) when scale, beta (C,) when center,
 * moving_mean (C,), moving_variance (C,) (the last two non-trainable).
 * Config keys (Keras 3.15): name, trainable, dtype, [activity_regularizer],
 * axis, momentum, epsilon, center, scale, beta_initializer,
 * gamma_initializer, moving_mean_initializer, moving_variance_initializer,
 * beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint,
 * synchronized.
 *
 * synchronized (Keras's): in a data-parallel step (the ctx has a
 * communicator of several ranks, rnnc_ctx_comm; the trainer sets it), the
 * training-mode mean and variance are those of the global batch, every
 * rank's rows (masks respected as above), and gradients flow through the
 * reduction; every rank then updates the same moving statistics. false
 * (the default): each rank's own rows, as Keras's per-replica statistics.
 * In one process both are the same computation (bit for bit). */
#ifndef RNNC_LAYERS_BATCH_NORM_H
#define RNNC_LAYERS_BATCH_NORM_H

#include "framework/layer.h"

/* Keras's defaults from rnnc_batch_norm_options_default(). Objects are borrowed
 * (the layer keeps clones); a NULL initializer means the argument's Keras
 * default. */
typedef struct rnnc_batch_norm_options {
    const char *name;            /* NULL -> "batch_normalization", ... */
    rnnc_dtype dtype;            /* RNNC_F32 */
    int axis;                    /* -1 */
    double momentum;             /* 0.99 */
    double epsilon;              /* 1e-3 */
    bool center;                 /* true */
    bool scale;                  /* true */
    const rnnc_initializer *beta_initializer;            /* NULL -> zeros */
    const rnnc_initializer *gamma_initializer;           /* NULL -> ones */
    const rnnc_initializer *moving_mean_initializer;     /* NULL -> zeros */
    const rnnc_initializer *moving_variance_initializer; /* NULL -> ones */
    const rnnc_regularizer *beta_regularizer, *gamma_regularizer; /* NULL */
    const rnnc_constraint *beta_constraint, *gamma_constraint;    /* NULL */
    bool synchronized;           /* false */
} rnnc_batch_norm_options;

typedef struct rnnc_batch_norm {
    rnnc_layer base;             /* first */
    int axis;                    /* as given (may be negative) */
    double momentum, epsilon;
    bool center, scale, synchronized;
    rnnc_initializer *beta_initializer, *gamma_initializer;  /* owned; NULL = Keras None */
    rnnc_initializer *moving_mean_initializer, *moving_variance_initializer;
    rnnc_regularizer *beta_regularizer, *gamma_regularizer;  /* owned templates */
    rnnc_constraint *beta_constraint, *gamma_constraint;
    int ndim;                    /* input rank fixed at build */
    int feature_axis;            /* axis resolved against it */
    rnnc_tensor *gamma, *beta;   /* (C,) or NULL; owned by base.weights */
    rnnc_tensor *moving_mean, *moving_variance; /* (C,) */
} rnnc_batch_norm;

extern const rnnc_layer_class rnnc_batch_norm_class;

rnnc_batch_norm_options rnnc_batch_norm_options_default(void);
/* Like Keras, momentum and epsilon are not range-checked. Caller owns *out. */
rnnc_status rnnc_batch_norm_create(const rnnc_batch_norm_options *opts, rnnc_layer **out);
rnnc_status rnnc_batch_norm_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
