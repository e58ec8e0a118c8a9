/* model.h - Model: layers in order (Sequential) with weights, losses and
 * serialization. Training (compile/fit/evaluate/predict) builds on this in
 * optim/ and apps/; file formats in io/.
 *
 * A model owns its layers. `layers` excludes the InputLayer, as Keras's
 * model.layers does; the input spec (batch_shape, dtype) is kept on the model
 * and written back as an InputLayer in the config. */
#ifndef RNNC_MODEL_H
#define RNNC_MODEL_H

#include "framework/layer.h"

typedef struct rnnc_model {
    char *name;                /* "sequential" */
    int n_layers, cap_layers;
    rnnc_layer **layers;       /* owned, model order */
    bool has_input;            /* an InputLayer / input shape is known */
    rnnc_shape input_shape;    /* batch_shape, -1 = None */
    rnnc_dtype input_dtype;    /* float32, or int32 for token ids */
    char *input_name;          /* InputLayer name ("input_layer") */
    bool built;
    struct rnnc_graph *graph; /* non-NULL for a Functional model */
} rnnc_model;

/* A Functional model over a complete graph (framework/graph.h: outputs
 * set). Takes ownership of g (also on failure) and of its layers, which
 * become m->layers in the order they were first added (Keras's
 * model.layers without the InputLayers; a shared layer once; the graph's
 * Keras operations are not layers and stay with the graph). has_input,
 * input_shape, input_dtype and input_name describe the first model input.
 * name NULL -> "functional", "functional_1", ... Fails with RNNC_E_STATE
 * when the graph's outputs are not set. */
rnnc_status rnnc_functional_create(const char *name, struct rnnc_graph *g, rnnc_model **out);

/* An empty Sequential model (name NULL -> "sequential", "sequential_1", ...). */
rnnc_status rnnc_sequential_create(const char *name, rnnc_model **out);
void rnnc_model_destroy(rnnc_model *m); /* NULL is a no-op */

/* Appends a layer; the model owns it from then on (also on failure). Fails
 * on a duplicate layer name. */
rnnc_status rnnc_model_add(rnnc_model *m, rnnc_layer *l);
/* Declares the input (Keras Input / InputLayer batch_shape); -1 = None. */
rnnc_status rnnc_model_set_input(rnnc_model *m, const rnnc_shape *batch_shape, rnnc_dtype dtype,
                                 const char *name);
/* Builds every layer by shape inference from the input shape. */
rnnc_status rnnc_model_build(rnnc_model *m, const rnnc_shape *input_shape);

/* Runs the layers in order: each layer gets the previous output (outputs[0])
 * and mask. args->inputs[1..] (initial states) go to the first layer only.
 * The result is the last layer's. A Functional model runs its graph
 * (rnnc_graph_run): args->inputs are the model inputs in input_layers
 * order, the result the outputs in output_layers order. */
rnnc_status rnnc_model_call(rnnc_model *m, rnnc_ctx *cx, const rnnc_call_args *args,
                            rnnc_call_result *res);

/* All weights in Keras order (trainable in model order, then non-trainable). */
rnnc_status rnnc_model_weights(const rnnc_model *m, rnnc_weight **out, int cap, int *n);
size_t rnnc_model_count_params(const rnnc_model *m);
/* Sum of all layers' losses (weight + activity penalties); NULL when none. */
rnnc_status rnnc_model_losses(rnnc_model *m, rnnc_ctx *cx, rnnc_tensor **loss);
/* Zeroes every trainable weight's gradient. */
void rnnc_model_zero_grad(rnnc_model *m);
/* Finds a layer by name, or NULL. */
rnnc_layer *rnnc_model_layer(const rnnc_model *m, const char *name);

/* Keras serialization {"module": "keras", "class_name": "Sequential",
 * "config": {"name", "trainable", "dtype", "layers": [InputLayer?, ...]},
 * "registered_name": null, "build_config"}. A Functional model gives
 * Keras 3's {"module": "keras.src.models.functional", "class_name":
 * "Functional", "config": {"name", "trainable", "layers", "input_layers",
 * "output_layers"}, "registered_name": "Functional", "build_config":
 * {"input_shape": null}} (rnnc_graph_write_config). Caller owns. */
rnnc_status rnnc_model_serialize(const rnnc_model *m, rnnc_cfg **out);

#endif
