/* keras_ops.h - Keras operations that appear as nodes of a Functional
 * model's config (module "keras.src.ops.numpy").
 *
 * When masks flow through a Keras 3 Functional model, the masks that
 * layers compute symbolically (Masking, Embedding(mask_zero), the merge
 * layers' compute_mask) are recorded as operation nodes, and the layers
 * that consume them get an explicit mask= argument referring to them, e.g.
 *   not_equal(x, 0.0) -> any(axis=-1) -> GRU(..., mask=<any>)
 * A model.to_json() with masks therefore holds these nodes. They are
 * implemented here as weightless layers with is_operation set (the graph
 * writes them back in Keras's operation form and keeps them out of
 * model.layers).
 *
 * Supported (Keras semantics, NumPy broadcasting):
 *   NotEqual(a, b), Equal(a, b)      -> bool; b may be a number
 *   LogicalOr(a, b), LogicalAnd(a, b), LogicalNot(a) -> bool (non-zero = true)
 *   Any(x, axis, keepdims), All(...) -> bool; axis an int, a list of ints or
 *                                       null (every axis)
 *   ExpandDims(x, axis), Squeeze(x, axis or null) -> x's dtype
 *   ZerosLike(x, dtype), OnesLike(x, dtype) -> dtype (null: x's), x's shape
 *   Concatenate([xs], axis)          -> the inputs' common dtype
 * "bool" tensors are RNNC_U8 (0 / 1). Numbers given as arguments reach the
 * call as rank-0 float64 tensors (graph.h constants). ExpandDims, Squeeze
 * and Concatenate of float tensors are differentiable; the rest produce
 * masks and constants, which carry no gradient. */
#ifndef RNNC_LAYERS_KERAS_OPS_H
#define RNNC_LAYERS_KERAS_OPS_H

#include "framework/layer.h"

typedef enum {
    RNNC_KOP_NOT_EQUAL,
    RNNC_KOP_EQUAL,
    RNNC_KOP_LOGICAL_OR,
    RNNC_KOP_LOGICAL_AND,
    RNNC_KOP_LOGICAL_NOT,
    RNNC_KOP_ANY,
    RNNC_KOP_ALL,
    RNNC_KOP_EXPAND_DIMS,
    RNNC_KOP_SQUEEZE,
    RNNC_KOP_ZEROS_LIKE,
    RNNC_KOP_ONES_LIKE,
    RNNC_KOP_CONCATENATE,
    RNNC_KOP_COUNT
} rnnc_keras_op_kind;

typedef struct rnnc_keras_op {
    rnnc_layer base;          /* first; base.cls->is_operation is true */
    rnnc_keras_op_kind kind;
    int n_axes;               /* Any / All: 0 = null (all axes); else axes[] */
    int axes[RNNC_MAX_DIMS];  /* as given (may be negative) */
    bool axis_is_list;        /* Any / All: axis was written as a list */
    bool has_axis;            /* Squeeze: false = null */
    bool keepdims;            /* Any / All */
    bool has_dtype;           /* ZerosLike / OnesLike: false = null */
    rnnc_dtype dtype;
} rnnc_keras_op;

/* Whether a serialized object's module names Keras operations
 * ("keras.src.ops...", or "keras.ops"). */
bool rnnc_keras_op_module(const char *module);

/* An operation from its class name and config map ({"name", own keys}).
 * Fails with RNNC_E_UNSUPPORTED on an operation not listed above (naming
 * the supported ones), RNNC_E_ARG on a bad key. Caller owns *out. */
rnnc_status rnnc_keras_op_from_config(const char *class_name, const rnnc_cfg *config, rnnc_layer **out);

bool rnnc_layer_is_keras_op(const rnnc_layer *l);

#endif
