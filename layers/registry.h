/* registry.h - layers by Keras class name, built from their config trees,
 * and the small config helpers every layer's from_config / get_config uses.
 *
 * rnnc_layer_from_config() takes a serialized layer in either form Keras
 * writes:
 *   Keras 3: {"module": "keras.layers", "class_name": "Dense", "config": {...},
 *             "registered_name": null, "build_config": {"input_shape": [...]}}
 *   Keras 2: {"class_name": "Dense", "config": {...}}
 * resolves the class, calls its from_config, and builds the layer from
 * build_config when present (so a weights file can be loaded next).
 *
 * Legacy input shapes: a Keras 2 first layer (or a Keras 3 layer made with
 * input_shape=...) carries batch_input_shape / input_shape / input_dim /
 * batch_size in its config. Keras's Sequential turns them into an
 * InputLayer; here they are accepted by every layer and handed back through
 * rnnc_layer_from_config_ex() so a Sequential loader can declare the input.
 *
 * Not here: InputLayer (not a weights layer; layers/input_layer.h) and
 * models (framework/model.h, io/). */
#ifndef RNNC_LAYERS_REGISTRY_H
#define RNNC_LAYERS_REGISTRY_H

#include "framework/activations.h"
#include "framework/layer.h"

typedef rnnc_status (*rnnc_layer_from_config_fn)(const rnnc_cfg *config, rnnc_layer **out);

/* A serialized layer (either form above) -> a new layer; caller owns *out.
 * Fails with RNNC_E_ARG on a missing or unknown class_name (with the nearest
 * known name), a custom class (module null or a registered_name of its
 * own), a non-map config, an unknown envelope key, or whatever the class's
 * from_config rejects; RNNC_E_SHAPE when build_config cannot build it. */
rnnc_status rnnc_layer_from_config(const rnnc_cfg *envelope, rnnc_layer **out);

/* Same, also returning the legacy input shape found in the layer's config:
 * *has_input_shape is true when one of batch_input_shape / input_shape /
 * input_dim was given, and *batch_shape is the shape with the batch
 * dimension (-1 = None). Either pointer may be NULL. */
rnnc_status rnnc_layer_from_config_ex(const rnnc_cfg *envelope, rnnc_layer **out,
                                      rnnc_shape *batch_shape, bool *has_input_shape);

/* The from_config of a class name ("Dense"), or NULL. */
rnnc_layer_from_config_fn rnnc_layer_class_lookup(const char *class_name);

/* Adds a class (a layer written outside this library, or one from another
 * folder). Fails with RNNC_E_ARG on a name already taken and RNNC_E_NOMEM
 * when the table (64 extra classes) is full. The name is not copied: pass a
 * string literal or one that outlives every lookup. */
rnnc_status rnnc_layer_register(const char *class_name, rnnc_layer_from_config_fn fn);

/* ---- helpers for layer implementations ------------------------------- */

/* Reads the legacy input-shape keys of a layer config map (marking them
 * read): batch_input_shape (with batch), input_shape (without; batch from
 * batch_size or None), input_dim (-> (None, input_dim)) unless the class
 * uses input_dim for itself (Embedding: pass input_dim_is_shape = false).
 * `what` names the layer class in messages. *found = false when none is
 * there. Fails with RNNC_E_ARG on a malformed shape or when more than one
 * is given. */
rnnc_status rnnc_layer_config_input_shape(const rnnc_cfg *config, const char *what,
                                          bool input_dim_is_shape, rnnc_shape *batch_shape,
                                          bool *found);

/* config[key] as an initializer: missing -> the Keras default `dflt`
 * ("zeros", "glorot_uniform", ...); null -> *out = NULL (Keras's None,
 * which add_weight turns into glorot_uniform); else a name or a dict.
 * Messages name "<what>.<key>". Caller owns *out. */
rnnc_status rnnc_layer_config_initializer(const rnnc_cfg *config, const char *what,
                                          const char *key, const char *dflt,
                                          rnnc_initializer **out);
/* config[key] as an activation: a Keras name ("relu"), or Keras's function
 * dict {"class_name": "function", "config": "relu", ...}; missing or null
 * -> linear (Keras's None). Unknown names fail with the nearest valid one. */
rnnc_status rnnc_layer_config_activation(const rnnc_cfg *config, const char *what,
                                         const char *key, rnnc_act *out);

/* config[key] as a regularizer / constraint (missing or null -> NULL). */
rnnc_status rnnc_layer_config_regularizer(const rnnc_cfg *config, const char *what,
                                          const char *key, rnnc_regularizer **out);
rnnc_status rnnc_layer_config_constraint(const rnnc_cfg *config, const char *what,
                                         const char *key, rnnc_constraint **out);

/* map[key] = the object's Keras envelope, or null when it is NULL. */
rnnc_status rnnc_layer_config_set_initializer(rnnc_cfg *map, const char *key,
                                              const rnnc_initializer *init);
rnnc_status rnnc_layer_config_set_regularizer(rnnc_cfg *map, const char *key,
                                              const rnnc_regularizer *reg);
rnnc_status rnnc_layer_config_set_constraint(rnnc_cfg *map, const char *key,
                                             const rnnc_constraint *cons);

/* A number as written: Keras stores constructor arguments as given, so
 * get_config echoes 1 as 1 and 1.0 as 1.0. */
typedef struct rnnc_layer_num {
    double v;
    bool is_int;
} rnnc_layer_num;

/* config[key] as a number (not a bool); missing or null -> dflt. */
rnnc_status rnnc_layer_config_number(const rnnc_cfg *config, const char *what, const char *key,
                                     rnnc_layer_num dflt, rnnc_layer_num *out);
rnnc_status rnnc_layer_config_set_number(rnnc_cfg *map, const char *key, rnnc_layer_num n);

/* Accepts quantization_config / lora_rank / lora_alpha only when absent or
 * null (quantization and LoRA are not implemented); fails with
 * RNNC_E_UNSUPPORTED naming the key otherwise. */
rnnc_status rnnc_layer_config_no_quantization(const rnnc_cfg *config, const char *what);

/* config["name"] when it is a string, else NULL (then the layer gets an auto
 * name). For rnnc_layer_init in from_config, so that a named layer does not
 * use up an auto name, as in Keras; rnnc_layer_read_base_config validates. */
const char *rnnc_layer_config_name(const rnnc_cfg *config);

/* Fails with RNNC_E_DTYPE unless x has the layer's float dtype. */
rnnc_status rnnc_layer_check_input_dtype(const rnnc_layer *l, const rnnc_tensor *x);

#endif
