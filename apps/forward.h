/* forward.h - running a model over a whole array in batches (inference):
 * what `rnnc predict`, train's prediction table and `rnnc generate` use.
 *
 * Unlike rnnc_model_call, an initial state goes to the first *recurrent*
 * layer (a Masking or Embedding layer may come before it), and outputs are
 * gathered into tensors of all N rows.
 *
 * Not here: training (the trainer), files (io/dataset.h). */
#ifndef RNNC_APPS_FORWARD_H
#define RNNC_APPS_FORWARD_H

#include "framework/model.h"

/* Runs m (no gradients, training=false) on x (N, ...) in batches of
 * batch_size rows. mask: U8 (N, T) or NULL, given to the first layer.
 * initial_state: (N, units) or NULL, given to the first recurrent layer.
 * Fills outs[0..*n_outs) with new tensors (N, ...) owned by the caller, in
 * the order the model returns them. */
rnnc_status rnnc_app_forward(rnnc_model *m, const rnnc_tensor *x, const rnnc_tensor *mask,
                             const rnnc_tensor *initial_state, int64_t batch_size,
                             rnnc_tensor **outs, int *n_outs);

#endif
