/* model_save.h - a model's config and weights in one file, in one call.
 *
 * rnnc_model_save writes a Keras 3 `.keras` archive (spec 11.2): a zip of
 * metadata.json, config.json (rnnc_model_serialize, framework/model.h) and
 * model.weights.h5 (the layout of io/weights_h5.h), members stored
 * uncompressed as Keras writes them. rnnc_model_load (io/model_loader.h)
 * and Keras's keras.saving.load_model read it back.
 *
 * rnnc_model_save_compiled adds what Keras's model.save adds for a compiled
 * model: config.json's compile_config (optimizer, loss, metrics, ...) and the
 * optimizer's variables under optimizer/vars in model.weights.h5, so that
 * load_model returns a compiled model that continues training.
 *
 * Not here: the rest of the training state (io/checkpoint.h), weights alone
 * (io/weights_h5.h). */
#ifndef RNNC_IO_MODEL_SAVE_H
#define RNNC_IO_MODEL_SAVE_H

#include "framework/model.h"
#include "optim/optimizer.h"

/* Writes m (built: it needs its weights) to path as a .keras archive. The
 * archive is written beside path under a temporary name, flushed to disk
 * and renamed into place: on failure path is untouched and nothing is left
 * behind (a temporary file of a killed writer is removed by the next save to
 * the same path). Errors:
 * RNNC_E_STATE (model not built), RNNC_E_IO naming path and the OS's
 * reason, RNNC_E_UNSUPPORTED (a layer without a Keras config). */
rnnc_status rnnc_model_save(const rnnc_model *m, const char *path);

/* What compile() got, for a compiled model's archive. All borrowed. */
typedef struct rnnc_model_compile_info {
    const rnnc_optimizer *optimizer; /* its Keras config and variables; NULL: no optimizer saved */
    const rnnc_cfg *loss;            /* a name or a serialized loss, as compile got it; NULL -> null */
    const rnnc_cfg *metrics;         /* a list, or NULL -> null */
    const rnnc_cfg *weighted_metrics; /* a list, or NULL -> null */
} rnnc_model_compile_info;

/* rnnc_model_save plus compile_config (Keras 3.15.1's keys: optimizer,
 * loss, loss_weights null, metrics, weighted_metrics, run_eagerly false,
 * steps_per_execution 1, jit_compile false) and the optimizer's variables
 * in Keras's order (rnnc_optimizer_variables). ci NULL is rnnc_model_save.
 * Same errors, plus RNNC_E_ARG for a loss/metrics of the wrong type. */
rnnc_status rnnc_model_save_compiled(const rnnc_model *m, const char *path, const rnnc_model_compile_info *ci);

/* What keras.saving.load_model restores of a compiled .keras archive at
 * path: *out = a copy of config.json's compile_config (caller destroys), or
 * NULL when the archive has none (an uncompiled model). Fails as
 * rnnc_keras_archive_read, and with RNNC_E_FORMAT naming the archive when
 * config.json is not JSON or compile_config is not a map or null. */
rnnc_status rnnc_model_read_compile_config(const char *path, rnnc_cfg **out);

/* ... and the optimizer's variables: opt (built here for m's weights when it
 * is not; m built from its declared input when it is not) gets the values
 * under optimizer/vars of the archive's model.weights.h5, in Keras's order
 * (rnnc_optimizer_variables; the layout rnnc_model_save_compiled writes).
 * *found = false, and opt unchanged, when the archive holds none. A count
 * or shape that does not fit opt fails with RNNC_E_SHAPE naming the archive,
 * and leaves opt's variables unchanged. */
rnnc_status rnnc_model_load_optimizer(const char *path, rnnc_model *m, rnnc_optimizer *opt, bool *found);

/* The tensors of opt's variables in Keras's order (rnnc_optimizer_variables),
 * as rnnc_weights_save takes them: *out (caller frees; the tensors stay the
 * optimizer's) and *n; NULL and 0 for a NULL or variable-less optimizer. */
rnnc_status rnnc_model_save_optimizer_tensors(const rnnc_optimizer *opt, const rnnc_tensor ***out, int *n);

#endif
