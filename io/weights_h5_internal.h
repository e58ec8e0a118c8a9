/* weights_h5_internal.h - weights_h5.h's functions on an open HDF5 file
 * (a checkpoint's writer, the model.weights.h5 inside a .keras archive).
 * Internal to librnnc and its program: not installed, since it needs
 * <hdf5.h>, which the public headers do not. */
#ifndef RNNC_IO_WEIGHTS_H5_INTERNAL_H
#define RNNC_IO_WEIGHTS_H5_INTERNAL_H

#include <stdbool.h>

#include <hdf5.h>

#include "io/weights_h5.h"

/* The same into an open, writable HDF5 file (e.g. a checkpoint's writer);
 * `path` names it in messages. The file is not flushed or closed. */
rnnc_status rnnc_weights_save_h5(hid_t file, const rnnc_model *m, const char *path,
                                 const rnnc_tensor *const *opt_vars, int n_opt,
                                 const char *opt_name);

/* The same from an open HDF5 file (e.g. model.weights.h5 inside a .keras
 * archive); `label` names it in messages. */
rnnc_status rnnc_weights_load_h5(rnnc_model *m, hid_t file, const char *label);

/* rnnc_weights_load_optimizer from an open HDF5 file (e.g. model.weights.h5
 * inside a compiled .keras archive); `path` names it in messages. */
rnnc_status rnnc_weights_load_optimizer_h5(hid_t file, const char *path, rnnc_tensor *const *vars, int n,
                                           bool *found);

/* Whether an open HDF5 file has the Keras 3 weights layout (a /layers,
 * /_layer_checkpoint_dependencies or /vars group). */
bool rnnc_weights_h5_is_keras3(hid_t file);

#endif
