/* predict.h - running a model over whole arrays in batches (inference),
 * without a trainer: what `rnnc predict`, `rnnc generate` and train's
 * prediction table use, and the short path for a C program:
 *
 *     rnnc_model *m;  rnnc_tensor *y;
 *     rnnc_model_load("model.keras", &m);          (io/model_loader.h)
 *     rnnc_model_predict(m, x, 32, &y);
 *
 * A Functional model runs through its graph (rnnc_model_call): every model
 * input, its mask, in the model's input order; the outputs in the model's
 * output order. A Sequential model runs its layers in order, and unlike
 * rnnc_model_call an initial state goes to the first *recurrent* layer (a
 * Masking or Embedding layer may come before it). Layers run with
 * training=false and no gradients are recorded. Outputs are gathered into
 * new tensors of all N rows, owned by the caller.
 *
 * Not here: training (optim/trainer.h), files (io/dataset.h). */
#ifndef RNNC_PREDICT_H
#define RNNC_PREDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/model.h"

/* What a forward pass takes. Every x[i] has the same number of rows N
 * (the first axis); mask[i] (U8 (N, T), non-zero = keep, or NULL) masks
 * input i. initial_state ((N, units) or NULL) is for a Sequential model's
 * first recurrent layer; a Functional model takes its initial states as
 * model inputs. Zero-initialise it ({0}) and set what you need. */
typedef struct rnnc_model_inputs {
    int n;
    const rnnc_tensor *x[RNNC_MAX_IO];
    const rnnc_tensor *mask[RNNC_MAX_IO];
    const rnnc_tensor *initial_state;
} rnnc_model_inputs;

/* The model's number of inputs (1 for a Sequential model). */
int rnnc_model_n_inputs(const rnnc_model *m);
/* Input i's name (NULL when a Sequential model declares none), batch
 * shape (*known false when not declared) and dtype. */
const char *rnnc_model_input_info(const rnnc_model *m, int i, rnnc_shape *shape, bool *known,
                                  rnnc_dtype *dtype);
/* The model's number of outputs: a Functional model's output_layers; 1
 * for a Sequential model. */
int rnnc_model_n_outputs(const rnnc_model *m);
/* The layer that computes output i of a Functional model (NULL for a
 * Sequential model or when the output is a model input). */
rnnc_layer *rnnc_model_output_layer(const rnnc_model *m, int i);

/* Runs m on x (N, ...) in batches of batch_size rows (>= 1) and sets *out
 * to a new (N, ...) tensor of its output, owned by the caller
 * (rnnc_tensor_destroy). For a model of one input and one output; others
 * fail with RNNC_E_ARG naming rnnc_model_predict_inputs. *out is NULL on
 * failure. An unbuilt model is built from x's shape. */
rnnc_status rnnc_model_predict(rnnc_model *m, const rnnc_tensor *x, int64_t batch_size,
                               rnnc_tensor **out);

/* The general form: every input (with masks and, for a Sequential model,
 * an initial state) in; outs[0..*n_outs) (room for RNNC_MAX_IO) filled
 * with new tensors in the order the model returns them. Errors name the
 * input. Nothing is left allocated on failure (*n_outs = 0). */
rnnc_status rnnc_model_predict_inputs(rnnc_model *m, const rnnc_model_inputs *in,
                                      int64_t batch_size, rnnc_tensor **outs, int *n_outs);

#endif
