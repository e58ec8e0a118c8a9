/* functional_loader.h - Keras's Functional model config -> rnnc_model with a
 * layer graph (framework/graph.h).
 *
 * Accepts what model.to_json() / config.json / a legacy .h5 model_config
 * holds for a Functional model, in either form:
 *   - the envelope {"class_name": "Functional" (or Keras 2's "Model"),
 *     "config": {...}, ...} (module, registered_name, build_config,
 *     compile_config, keras_version, backend are accepted and ignored), or
 *   - the config itself {"name", "trainable", "layers", "input_layers",
 *     "output_layers"}.
 * Each entry of "layers" is a serialized layer plus "name" and
 * "inbound_nodes", one per call of the layer (several: a shared layer):
 *   - Keras 3: {"args": [<tensor>, ...] or [[<tensor>, ...]] (a list call,
 *     merge layers), "kwargs": {"mask": null | <tensor>, "initial_state":
 *     <tensor> | [<tensor>, ...], "training": bool}}, where <tensor> is
 *     {"class_name": "__keras_tensor__", "config": {"shape", "dtype",
 *     "keras_history": [layer, node_index, tensor_index]}};
 *   - Keras 2: [[layer, node_index, tensor_index, {kwargs}], ...] (several
 *     entries: a list call), the kwargs' tensors written as
 *     [layer, node_index, tensor_index].
 * Entries whose module is Keras's ops ("keras.src.ops.numpy": the
 * not_equal / any / logical_or / ... nodes Keras 3 records when masks flow
 * through the graph, whose results reach layers as mask= arguments) become
 * operation nodes (layers/keras_ops.h); numbers among a call's positional
 * arguments (not_equal(x, 0.0)) are kept as constants.
 * InputLayer entries declare the inputs; input_layers / output_layers are
 * one [layer, node_index, tensor_index] or a list of them (dicts of them
 * are not supported). Layer entries may come in any order that Keras could
 * write (a shared layer's later call may use layers listed after it).
 *
 * Errors (RNNC_E_ARG unless said) name the layer, the call and the file
 * position: unknown layer names (with the nearest one), node or tensor
 * indices that do not exist, cycles, layers never called, duplicate names,
 * malformed nodes; RNNC_E_UNSUPPORTED for call arguments other than mask,
 * initial_state and training, Keras 2 _CONSTANT_VALUE arguments, Keras ops
 * not in keras_ops.h, and dict inputs. */
#ifndef RNNC_IO_FUNCTIONAL_LOADER_H
#define RNNC_IO_FUNCTIONAL_LOADER_H

#include "framework/config.h"
#include "framework/model.h"

/* Makes the layer of one "layers" entry (the whole entry, with its name and
 * inbound_nodes keys; Keras operation entries never reach it). index: the
 * entry's position, for messages. */
typedef rnnc_status (*rnnc_functional_layer_fn)(void *user, const rnnc_cfg *entry, int index,
                                                rnnc_layer **out);

/* A Functional model from a config tree (either form above), its layers
 * made by rnnc_layer_from_config (layers/registry.h) and built from the
 * inputs. The tree is not modified. Caller owns *out (NULL on failure). */
rnnc_status rnnc_functional_from_config(const rnnc_cfg *config, rnnc_model **out);

/* Same, with the layers made by make_layer (NULL: rnnc_layer_from_config),
 * for loaders that fix up Keras 2 layer configs first. */
rnnc_status rnnc_functional_from_config_ex(const rnnc_cfg *config, rnnc_functional_layer_fn make_layer,
                                           void *user, rnnc_model **out);

#endif
