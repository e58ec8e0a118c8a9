/* layer.h - Operation -> Layer: the base every layer (GRU, Dense, ...) embeds.
 *
 * As in Keras: an Operation has a name, `call`, shape inference without data
 * (`compute_output_spec`) and `get_config`; a Layer adds `build`, weights made
 * through one rnnc_layer_add_weight (shape, dtype, initializer, regularizer,
 * constraint, trainable), `losses` (weight penalties + activity penalty),
 * sub-layers (a GRU's cell) and the built state.
 *
 * A concrete layer is a struct whose first member is rnnc_layer, with a
 * class table (rnnc_layer_class). rnnc_layer_call() runs Keras's call
 * protocol (3.5): check, build on first call, call, activity penalty, mask.
 *
 * Ownership: a layer owns its weights (tensors, regularizers, constraints),
 * its name, its sub-layers and its activity regularizer. Tensors returned by
 * calls are owned by the rnnc_ctx of the call. */
#ifndef RNNC_LAYER_H
#define RNNC_LAYER_H

#include "framework/autograd.h"
#include "framework/config.h"
#include "framework/constraints.h"
#include "framework/initializers.h"
#include "framework/precision.h"
#include "framework/regularizers.h"

typedef struct rnnc_layer rnnc_layer;

#define RNNC_MAX_IO 8

/* Arguments of one call. inputs[0] is the main input; for recurrent layers
 * inputs[1..] are initial states (Keras's initial_state list). */
typedef struct rnnc_call_args {
    int n_inputs;
    rnnc_tensor *inputs[RNNC_MAX_IO];
    const rnnc_tensor *mask; /* RNNC_U8 (B, T), non-zero = keep; or NULL */
    bool training;
    /* Layers called on a list of tensors (merge layers, layers/merge.h):
     * the mask of each inputs[i] (RNNC_U8, inputs[i]'s shape without the
     * last axis), or NULL; `mask` is unused there. Keras reads these masks
     * off the input tensors (backend.get_keras_mask). */
    const rnnc_tensor *input_masks[RNNC_MAX_IO];
} rnnc_call_args;

/* What a call returns, in Keras's order (GRU: output, then final state). */
typedef struct rnnc_call_result {
    int n_outputs;
    rnnc_tensor *outputs[RNNC_MAX_IO];
    rnnc_tensor *mask; /* the mask for the next layer (compute_mask), or NULL */
} rnnc_call_result;

/* Output shapes without data; -1 = unknown (None). */
typedef struct rnnc_output_spec {
    int n_outputs;
    rnnc_shape shapes[RNNC_MAX_IO];
    rnnc_dtype dtype;
} rnnc_output_spec;

typedef struct rnnc_layer_class {
    const char *class_name; /* "GRU", as Keras spells it */
    const char *module;     /* "keras.layers" */
    /* Creates weights for an input of this shape (-1 for unknown dims). */
    rnnc_status (*build)(rnnc_layer *l, const rnnc_shape *input_shape);
    rnnc_status (*call)(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                        rnnc_call_result *res);
    rnnc_status (*compute_output_spec)(const rnnc_layer *l, const rnnc_shape *input_shape,
                                       rnnc_output_spec *spec);
    /* Adds the class's keys after the base keys (name, trainable, dtype). */
    rnnc_status (*get_config)(const rnnc_layer *l, rnnc_cfg *config);
    /* Frees what the subclass owns (not the base); may be NULL. */
    void (*destroy)(rnnc_layer *l);
    /* Whether the layer accepts and passes on a mask (Keras supports_masking). */
    bool supports_masking;
    /* Shape inference from every positional input (merge layers' lists,
     * binary Keras ops), checking the shapes as Keras's build does; dtypes
     * are the inputs' (an output dtype may depend on them). NULL for
     * layers whose outputs follow from the first input alone
     * (compute_output_spec is used). */
    rnnc_status (*compute_output_spec_n)(const rnnc_layer *l, const rnnc_shape *shapes,
                                         const rnnc_dtype *dtypes, int n, rnnc_output_spec *spec);
    /* A Keras operation rather than a layer (keras.src.ops: the mask
     * arithmetic a Functional config records): config {"name", own keys}
     * without trainable / dtype, no weights, not in model.layers. */
    bool is_operation;
    /* The layer's implementation on a backend (framework/device_layer.h,
     * device_model.h), or NULL: no device implementation. */
    const struct rnnc_layer_device_class *device;
} rnnc_layer_class;

typedef struct rnnc_weight {
    char *name;                   /* "kernel" */
    rnnc_tensor *value;           /* owned */
    rnnc_regularizer *regularizer; /* owned, or NULL */
    rnnc_constraint *constraint;  /* owned, or NULL */
    bool trainable;
} rnnc_weight;

struct rnnc_layer {
    const rnnc_layer_class *cls;
    char *name;                  /* "gru", unique within a model */
    bool trainable;
    bool built;
    rnnc_dtype dtype;            /* variable and compute dtype */
    /* Keras's dtype policy when it is not plain float32/float64 (then dtype
     * is float32, the variables' dtype, and the compute dtype is emulated:
     * framework/precision.h). */
    rnnc_dtype_policy policy;
    int n_weights, cap_weights;
    rnnc_weight *weights;        /* own weights in creation order */
    int n_children;
    rnnc_layer *children[4];     /* sub-layers (a GRU's cell), owned */
    char *child_keys[4];         /* their attribute names ("cell", "forward_layer") */
    rnnc_regularizer *activity_regularizer; /* owned, or NULL */
    rnnc_tensor *activity_loss;  /* from the latest call (ctx-owned), or NULL */
    rnnc_shape build_shape;      /* input shape given to build */
    bool has_build_shape;
};

/* Base set-up for subclasses: name (NULL -> auto name from the class, e.g.
 * "gru", "gru_1"), dtype F32 or F64. Fails on a name containing '/'. */
rnnc_status rnnc_layer_init(rnnc_layer *l, const rnnc_layer_class *cls, const char *name,
                            rnnc_dtype dtype);
/* Destroys a layer of any class. NULL is a no-op. */
void rnnc_layer_destroy(rnnc_layer *l);

/* Reads the base keys every Keras layer has (name, trainable, dtype as a
 * string or DTypePolicy, activity_regularizer when `with_activity`) from a
 * config map into l (after rnnc_layer_init). */
rnnc_status rnnc_layer_read_base_config(rnnc_layer *l, const rnnc_cfg *config,
                                        bool with_activity);

/* Creates a weight: allocates it (shape, the layer's dtype), fills it with
 * `init` (NULL -> glorot_uniform), takes ownership of reg and cons (also on
 * failure). *out is the weight's tensor (owned by the layer). */
rnnc_status rnnc_layer_add_weight(rnnc_layer *l, const char *name, const rnnc_shape *shape,
                                  const rnnc_initializer *init, rnnc_regularizer *reg,
                                  rnnc_constraint *cons, bool trainable, rnnc_tensor **out);
/* Adds a sub-layer (owned from then on, also on failure). */
rnnc_status rnnc_layer_add_child(rnnc_layer *l, const char *key, rnnc_layer *child);

/* Keras's call protocol: checks inputs, builds on first call from inputs[0]'s
 * shape, calls, adds the activity penalty for every output, keeps the mask. */
rnnc_status rnnc_layer_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                            rnnc_call_result *res);
/* Builds if not built (for loading weights before any call). */
rnnc_status rnnc_layer_build(rnnc_layer *l, const rnnc_shape *input_shape);
rnnc_status rnnc_layer_output_spec(const rnnc_layer *l, const rnnc_shape *input_shape,
                                   rnnc_output_spec *spec);

/* All weights of the layer and its sub-layers, Keras order: trainable ones
 * (own first, then children in order), then non-trainable ones. Fills up to
 * cap pointers (owned by the layers) and returns the total in *n. */
rnnc_status rnnc_layer_weights(const rnnc_layer *l, rnnc_weight **out, int cap, int *n);
/* Only the trainable / only the non-trainable part of rnnc_layer_weights. */
rnnc_status rnnc_layer_trainable_weights(const rnnc_layer *l, bool trainable, rnnc_weight **out,
                                         int cap, int *n);
/* Total number of weight elements (trainable and not). */
size_t rnnc_layer_count_params(const rnnc_layer *l);

/* Sum of weight penalties (trainable weights with a regularizer, when the
 * layer is trainable) + the latest activity penalty, as a rank-0 tensor in cx;
 * *loss = NULL when there are none. */
rnnc_status rnnc_layer_losses(rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor **loss);

/* Keras serialization: {"module", "class_name", "config", "registered_name",
 * "build_config"} with the config's keys in Keras's order. Caller owns. */
rnnc_status rnnc_layer_serialize(const rnnc_layer *l, rnnc_cfg **out);
/* Just the config map (base keys, then the class's keys). Caller owns. */
rnnc_status rnnc_layer_get_config(const rnnc_layer *l, rnnc_cfg **out);

/* The DTypePolicy envelope for a dtype, as Keras 3 writes it. */
rnnc_cfg *rnnc_dtype_policy_config(rnnc_dtype dtype);
/* The layer's own policy envelope ("mixed_bfloat16" when it has one). */
rnnc_cfg *rnnc_layer_dtype_policy_config(const rnnc_layer *l);
/* The compute format a layer emulates (RNNC_PREC_NONE for a plain policy). */
rnnc_precision rnnc_layer_precision(const rnnc_layer *l);
/* A weight as the layer's call reads it: w itself, or under a 16-bit
 * policy w rounded to the compute format by an op whose gradient reaches w
 * (Keras's variable autocast inside call). */
rnnc_status rnnc_layer_read_weight(const rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor *w,
                                   rnnc_tensor **out);

/* Keras's snake_case of a class name: "GRUCell" -> "gru_cell", "ReLU" -> "re_lu". */
const char *rnnc_snake_case(const char *class_name, char *buf, size_t cap);

/* Resets the per-process auto-name counters ("gru", "gru_1", ...). */
void rnnc_layer_reset_names(void);

#endif
