/* forward.h - running a model over whole arrays in batches (inference):
 * what `rnnc predict`, train's prediction table and `rnnc generate` use;
 * the code is the library's (framework/predict.h).
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

#include "framework/predict.h"

/* The library's names (framework/predict.h), as the program's commands
 * call them. */
typedef rnnc_model_inputs rnnc_app_inputs;
#define rnnc_app_model_n_inputs rnnc_model_n_inputs
#define rnnc_app_model_input rnnc_model_input_info
#define rnnc_app_model_n_outputs rnnc_model_n_outputs
#define rnnc_app_output_layer rnnc_model_output_layer
#define rnnc_app_forward_inputs rnnc_model_predict_inputs

/* rnnc_model_predict_inputs for a model of one input x (N, ...), with its
 * mask or NULL and (Sequential only) an initial state or NULL. */
rnnc_status rnnc_app_forward(rnnc_model *m, const rnnc_tensor *x, const rnnc_tensor *mask,
                             const rnnc_tensor *initial_state, int64_t batch_size,
                             rnnc_tensor **outs, int *n_outs);

#endif
