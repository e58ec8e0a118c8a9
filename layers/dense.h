/* dense.h - Keras's Dense: y = activation(x @ kernel + bias) on the last axis.
 *
 * Input of any rank >= 2, (..., in) -> (..., units): a (B, T, F) sequence is
 * transformed at every time step with the same weights, as Keras does.
 * Weights, in Keras order: kernel (in, units), bias (units,) when use_bias.
 * Masks pass through unchanged (supports_masking). Config keys (Keras
 * 3.15): name, trainable, dtype, [activity_regularizer], units, activation,
 * use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
 * bias_regularizer, kernel_constraint, bias_constraint, quantization_config.
 *
 * Not here: LoRA and quantization (configs asking for them are rejected). */
#ifndef RNNC_LAYERS_DENSE_H
#define RNNC_LAYERS_DENSE_H

#include "framework/activations.h"
#include "framework/layer.h"

/* Constructor arguments with Keras's defaults (rnnc_dense_options_default). The
 * objects are borrowed: the layer keeps clones. A NULL initializer means the
 * Keras default of that argument (glorot_uniform / zeros). */
typedef struct rnnc_dense_options {
    const char *name;                        /* NULL -> "dense", "dense_1", ... */
    rnnc_dtype dtype;                        /* RNNC_F32 */
    int64_t units;                           /* > 0, required */
    rnnc_act activation;                     /* RNNC_ACT_LINEAR (Keras None) */
    bool use_bias;                           /* true */
    const rnnc_initializer *kernel_initializer; /* NULL -> glorot_uniform */
    const rnnc_initializer *bias_initializer;   /* NULL -> zeros */
    const rnnc_regularizer *kernel_regularizer; /* NULL */
    const rnnc_regularizer *bias_regularizer;
    const rnnc_regularizer *activity_regularizer;
    const rnnc_constraint *kernel_constraint;
    const rnnc_constraint *bias_constraint;
} rnnc_dense_options;

typedef struct rnnc_dense {
    rnnc_layer base;             /* first: a rnnc_dense* is a rnnc_layer* */
    int64_t units;
    rnnc_act activation;
    bool use_bias;
    rnnc_initializer *kernel_initializer; /* owned; NULL = Keras None */
    rnnc_initializer *bias_initializer;
    rnnc_regularizer *kernel_regularizer; /* owned templates, cloned onto the weights */
    rnnc_regularizer *bias_regularizer;
    rnnc_constraint *kernel_constraint;
    rnnc_constraint *bias_constraint;
    rnnc_tensor *kernel;         /* (in, units), owned by base.weights; NULL before build */
    rnnc_tensor *bias;           /* (units,) or NULL */
} rnnc_dense;

extern const rnnc_layer_class rnnc_dense_class;

rnnc_dense_options rnnc_dense_options_default(int64_t units);
/* Fails with RNNC_E_ARG when units <= 0. Caller owns *out. */
rnnc_status rnnc_dense_create(const rnnc_dense_options *opts, rnnc_layer **out);
/* From a Keras config map (the "config" part of the envelope). */
rnnc_status rnnc_dense_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
