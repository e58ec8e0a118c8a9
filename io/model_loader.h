/* model_loader.h - Keras model files and configs -> rnnc_model.
 *
 * rnnc_model_load() reads whatever a Keras user has, deciding by content
 * (not by file name):
 *   - a .keras archive (zip): config.json + model.weights.h5, keras_version
 *     from metadata.json;
 *   - a legacy full-model .h5 (Keras 2 or Keras 3's model.save("x.h5")):
 *     the root attribute model_config + the weights under model_weights;
 *   - an rnnc checkpoint (io/checkpoint.h): /rnnc_checkpoint/model_config
 *     + its weights (the optimizer state and training state are not read);
 *   - a YAML or JSON config file (model.to_json(), config.json, an rnnc
 *     spec); the model's weights are freshly initialised.
 *
 * Configs accepted (spec 12.3): a Keras 3 Sequential envelope; a Keras 2
 * Sequential (layers without `module`, the input from the first layer's
 * batch_input_shape; Keras <= 2.2's list-valued config too); a top-level
 * single layer (run as a model of that one layer); and Functional models
 * (class_name "Functional" or "Model", inbound_nodes in the Keras 3 form
 * {"args": [__keras_tensor__], "kwargs": {...}} or the Keras 2 form
 * [[["layer", 0, 0, {}]]]), which keep their layer graph
 * (io/functional_loader.h, framework/graph.h): several inputs and
 * outputs, shared layers, branches and merges.
 *
 * Keras 2 files: hard_sigmoid meant clip(0.2x + 0.5, 0, 1) before Keras 3.
 * When the writer's keras_version starts with "1." or "2." (legacy .h5 root
 * attribute, .keras metadata.json, or a top-level "keras_version" key of a
 * JSON config), activation / recurrent_activation "hard_sigmoid" in GRU,
 * GRUCell, Dense and Activation layers gets Keras 2's formula
 * (RNNC_ACT_HARD_SIGMOID_K2), so the numbers are those the model was
 * trained with. Other layers asking for it fail with RNNC_E_UNSUPPORTED.
 *
 * Not here: writing configs (json_writer.h) and the training spec sections
 * around a model (training_spec.h). */
#ifndef RNNC_IO_MODEL_LOADER_H
#define RNNC_IO_MODEL_LOADER_H

#include "framework/config.h"
#include "framework/model.h"

/* Loads a model (config and, for .keras / .h5 files, weights) from path.
 * Errors name the file and, inside it, the member, layer or dataset:
 * RNNC_E_IO (missing, directory, unreadable), RNNC_E_FORMAT (empty,
 * truncated, not a model file, weights-only file), RNNC_E_ARG (bad config),
 * RNNC_E_SHAPE (weights that do not fit), RNNC_E_UNSUPPORTED. Caller owns
 * *out (rnnc_model_destroy); *out is NULL on failure. */
rnnc_status rnnc_model_load(const char *path, rnnc_model **out);

/* A model from a config tree (any accepted form above; a map with a
 * `model` key and no class_name, as an rnnc training spec, uses that key).
 * keras_version: the Keras that wrote the config, or NULL to take the
 * tree's top-level "keras_version" (absent: Keras 3). The model is built
 * when the config gives its input shape. The tree is not modified. */
rnnc_status rnnc_model_from_config(const rnnc_cfg *config, const char *keras_version,
                                   rnnc_model **out);

/* Loads weights into an existing model from a Keras 3 .weights.h5, a
 * legacy Keras weights .h5 (or full-model .h5), or a .keras archive's
 * model.weights.h5. On failure the model's weights are unchanged. */
rnnc_status rnnc_model_load_weights(rnnc_model *m, const char *path);

/* Whether a Keras version string means Keras 1 or 2 ("2.4.0"). */
int rnnc_keras_version_major(const char *keras_version);

#endif
