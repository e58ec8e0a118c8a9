/* forward.h - running a model over whole arrays in batches (inference):
 * what `rnnc predict`, train's prediction table and `rnnc generate` use.
 *
 * A Functional model runs through its graph (rnnc_model_call): every model
 * input, its mask, in the model's input order; the outputs in the model's
 * output order. A Sequential model runs its layers in order, and unlike
 * rnnc_model_call an initial state goes to the first *recurrent* layer (a
 * Masking or Embedding layer may come before it). Outputs are gathered into
 * tensors of all N rows.
 *
 * Not here: training (the trainer), files (io/dataset.h, cmd_predict.c). */
#ifndef RNNC_APPS_FORWARD_H
#define RNNC_APPS_FORWARD_H

#include "framework/model.h"

/* What a forward pass takes. Every x[i] has the same number of rows N
 * (the first axis); mask[i] (U8 (N, T), non-zero = keep, or NULL) masks
 * input i. initial_state ((N, units) or NULL) is for a Sequential model's
 * first recurrent layer; a Functional model takes its initial states as
 * model inputs. */
typedef struct rnnc_app_inputs {
    int n;
    const rnnc_tensor *x[RNNC_MAX_IO];
    const rnnc_tensor *mask[RNNC_MAX_IO];
    const rnnc_tensor *initial_state;
} rnnc_app_inputs;

/* The model's inputs: their number, and input i's name (NULL when a
 * Sequential model declares none), batch shape (*known false when not
 * declared) and dtype. */
int rnnc_app_model_n_inputs(const rnnc_model *m);
const char *rnnc_app_model_input(const rnnc_model *m, int i, rnnc_shape *shape, bool *known,
                                 rnnc_dtype *dtype);
/* The model's number of outputs: a Functional model's output_layers; 1
 * for a Sequential model (what train and evaluate score: its first). */
int rnnc_app_model_n_outputs(const rnnc_model *m);

/* Runs m (no gradients, training=false) on `in` in batches of batch_size
 * rows. Fills outs[0..*n_outs) with new tensors (N, ...) owned by the
 * caller, in the order the model returns them. Errors name the input. */
rnnc_status rnnc_app_forward_inputs(rnnc_model *m, const rnnc_app_inputs *in, int64_t batch_size,
                                    rnnc_tensor **outs, int *n_outs);

/* The same for a model of one input x (N, ...), with its mask or NULL and
 * (Sequential only) an initial state or NULL. */
rnnc_status rnnc_app_forward(rnnc_model *m, const rnnc_tensor *x, const rnnc_tensor *mask,
                             const rnnc_tensor *initial_state, int64_t batch_size,
                             rnnc_tensor **outs, int *n_outs);

/* The layer that computes output i of a Functional model (NULL for a
 * Sequential model or when the output is a model input). */
rnnc_layer *rnnc_app_output_layer(const rnnc_model *m, int i);

#endif
