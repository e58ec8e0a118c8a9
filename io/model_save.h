/* model_save.h - a model's config and weights in one file, in one call.
 *
 * rnnc_model_save writes a Keras 3 `.keras` archive (spec 11.2): a zip of
 * metadata.json, config.json (rnnc_model_serialize, framework/model.h) and
 * model.weights.h5 (the layout of io/weights_h5.h), members stored
 * uncompressed as Keras writes them. rnnc_model_load (io/model_loader.h)
 * and Keras's keras.saving.load_model read it back.
 *
 * Not here: the optimizer and training state (io/checkpoint.h), weights
 * alone (io/weights_h5.h). */
#ifndef RNNC_IO_MODEL_SAVE_H
#define RNNC_IO_MODEL_SAVE_H

#include "framework/model.h"

/* Writes m (built: it needs its weights) to path as a .keras archive. The
 * archive is written beside path under a temporary name, flushed to disk
 * and renamed into place: on failure path is untouched and nothing is left
 * behind (a temporary file of a killed writer is removed by the next save to
 * the same path). Errors:
 * RNNC_E_STATE (model not built), RNNC_E_IO naming path and the OS's
 * reason, RNNC_E_UNSUPPORTED (a layer without a Keras config). */
rnnc_status rnnc_model_save(const rnnc_model *m, const char *path);

#endif
