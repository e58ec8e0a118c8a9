/* legacy_h5.h - legacy Keras HDF5 files (spec 11.3, 11.4): full-model files
 * written by Keras 2 (standalone and tf.keras) or by Keras 3's
 * model.save("x.h5"), and weights-only files from save_weights("x.h5").
 *
 * A full-model file carries root attributes model_config (JSON, possibly
 * split into model_config0, model_config1, ...), keras_version and backend,
 * and the weights under /model_weights; a weights-only file has them at the
 * root. Either way the weights group lists layer_names, and each layer group
 * lists its arrays in weight_names (paths below the layer group, e.g.
 * "gru_1/gru_cell_1/kernel:0"), in the layer's weight order. Both are read as
 * written (fixed-length null-padded or variable-length strings, or an empty
 * float64 array for "no names"); dataset names are never parsed.
 *
 * Loading is by topology, as Keras does: the file's layers that have
 * weights are matched in order with the model's layers that have weights
 * (an InputLayer or Dropout in layer_names has none; top_level_model_weights
 * and optimizer_weights are ignored). Counts and shapes are checked before
 * anything is assigned.
 *
 * Not here: building the model from model_config (model_loader.h). */
#ifndef RNNC_IO_LEGACY_H5_H
#define RNNC_IO_LEGACY_H5_H

#include <stdbool.h>

#include <hdf5.h>

#include "framework/model.h"

typedef struct rnnc_legacy_info {
    char *model_config;  /* JSON text, or NULL (weights-only file) */
    char *keras_version; /* "2.4.0", "3.15.1", or NULL when not recorded */
    char *backend;       /* "tensorflow", or NULL */
} rnnc_legacy_info;

/* Reads the root attributes (keras_version falls back to the weights
 * group's). Missing attributes are NULL; malformed ones fail. Free with
 * rnnc_legacy_info_free. */
rnnc_status rnnc_legacy_read_info(hid_t file, const char *label, rnnc_legacy_info *info);
void rnnc_legacy_info_free(rnnc_legacy_info *info);

/* Whether the file has a model_config root attribute (or its chunks). */
bool rnnc_legacy_has_model_config(hid_t file);
/* Whether the file has legacy weights: layer_names at the root or a
 * /model_weights group. */
bool rnnc_legacy_has_weights(hid_t file);

/* Loads the legacy weights of an open file into m (built first from its
 * input when needed). On failure the model is unchanged. */
rnnc_status rnnc_legacy_load_weights_h5(rnnc_model *m, hid_t file, const char *label);
/* Same from a path. */
rnnc_status rnnc_legacy_load_weights(rnnc_model *m, const char *path);

#endif
