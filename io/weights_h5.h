/* weights_h5.h - Keras 3 `.weights.h5` files (spec 11.1): the weights of an
 * rnnc_model, and optionally its optimizer's variables, in exactly the
 * layout Keras's model.save_weights() writes and model.load_weights() reads.
 *
 *   /vars                               attr name = model name (no datasets)
 *   /layers/<key>/vars/0, 1, ...        a layer's own variables
 *   /layers/<key>/<child>/vars/...      sub-layers by attribute (gru: cell;
 *                                       bidirectional: forward_layer, backward_layer)
 *   /optimizer/vars/0, 1, ...           attr name = optimizer name (optional)
 *
 * <key> is the snake_case class name made unique in model order (gru, gru_1,
 * dense, ...), not the layer's name. Every vars group carries a `name`
 * attribute. Own variables are numbered in creation order, trainable ones
 * first (Keras's _trainable_variables + _non_trainable_variables).
 *
 * Loading checks everything before changing anything: each vars group must
 * hold exactly the layer's variable count, each dataset the variable's
 * shape (messages name the dataset and both shapes); datasets are read by
 * index ("10" after "9"). float32 or float64 on disk is converted to the
 * layer's dtype. Groups the model does not have (optimizer/, extra layers)
 * are ignored, as Keras does. Saving writes a temporary file beside path and
 * renames it into place.
 *
 * Not here: legacy Keras 2 / full-model .h5 files (legacy_h5.h) and .keras
 * archives (keras_archive.h); the same functions on an open HDF5 file
 * (weights_h5_internal.h, not installed: the public headers carry no HDF5
 * types). */
#ifndef RNNC_IO_WEIGHTS_H5_H
#define RNNC_IO_WEIGHTS_H5_H

#include <stdbool.h>

#include "framework/model.h"

/* Writes the model's weights (the model must be built) and, when n_opt > 0,
 * the optimizer's variables opt_vars[0..n_opt) under optimizer/vars with
 * attribute name = opt_name ("adam"), in Keras's order (iteration,
 * learning_rate, slots; spec 11.1). */
rnnc_status rnnc_weights_save(const rnnc_model *m, const char *path,
                              const rnnc_tensor *const *opt_vars, int n_opt,
                              const char *opt_name);

/* Loads a Keras 3 weights file into m. An unbuilt model is built first from
 * its declared input; without one it fails with RNNC_E_STATE. On failure the
 * model's weights are unchanged. */
rnnc_status rnnc_weights_load(rnnc_model *m, const char *path);

/* Reads optimizer/vars into vars[0..n) (same count; each dataset the shape of
 * its tensor; float or integer as the tensor). *found = false and nothing
 * read when the file has no optimizer group. A count mismatch fails with
 * RNNC_E_SHAPE naming both counts (Keras warns and skips the optimizer; the
 * caller may do the same). */
rnnc_status rnnc_weights_load_optimizer(const char *path, rnnc_tensor *const *vars, int n,
                                        bool *found);

#endif
