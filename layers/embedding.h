/* embedding.h - Keras's Embedding: integer ids -> rows of a trainable table.
 *
 * Input: ids of any shape (RNNC_I32; I64, U8 and float inputs are converted
 * to int32 first, floats truncated toward zero, as Keras's cast). Output:
 * (ids..., output_dim) in the layer dtype. Ids outside [0, input_dim) fail
 * with RNNC_E_ARG. Weight: embeddings (input_dim, output_dim).
 * With mask_zero the output mask (uint8, the ids' shape) is ids != 0;
 * otherwise the layer does not support masking and any incoming mask is
 * dropped, as Keras. Config keys (Keras 3.15): name, trainable, dtype,
 * [activity_regularizer], input_dim, output_dim, embeddings_initializer,
 * embeddings_regularizer, activity_regularizer (always present, null when
 * None), embeddings_constraint, mask_zero, quantization_config. Keras 2's
 * input_length is accepted and ignored.
 *
 * Not here: LoRA, quantization, and the constructor's `weights` argument
 * (load weights instead). */
#ifndef RNNC_LAYERS_EMBEDDING_H
#define RNNC_LAYERS_EMBEDDING_H

#include "framework/layer.h"

typedef struct rnnc_embedding_options {
    const char *name;            /* NULL -> "embedding", ... */
    rnnc_dtype dtype;            /* RNNC_F32 */
    int64_t input_dim;           /* > 0, required: vocabulary size */
    int64_t output_dim;          /* > 0, required */
    const rnnc_initializer *embeddings_initializer; /* NULL -> RandomUniform(-0.05, 0.05) */
    const rnnc_regularizer *embeddings_regularizer; /* NULL */
    const rnnc_regularizer *activity_regularizer;   /* NULL */
    const rnnc_constraint *embeddings_constraint;   /* NULL */
    bool mask_zero;              /* false */
} rnnc_embedding_options;

typedef struct rnnc_embedding {
    rnnc_layer base;             /* first */
    int64_t input_dim, output_dim;
    bool mask_zero;
    rnnc_initializer *embeddings_initializer; /* owned; NULL = Keras None */
    rnnc_regularizer *embeddings_regularizer; /* owned template */
    rnnc_constraint *embeddings_constraint;
    rnnc_tensor *embeddings;     /* (input_dim, output_dim), owned by base.weights */
} rnnc_embedding;

extern const rnnc_layer_class rnnc_embedding_class;

rnnc_embedding_options rnnc_embedding_options_default(int64_t input_dim, int64_t output_dim);
/* Fails with RNNC_E_ARG when input_dim or output_dim <= 0. */
rnnc_status rnnc_embedding_create(const rnnc_embedding_options *opts, rnnc_layer **out);
rnnc_status rnnc_embedding_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
