/* merge.h - Keras's merge layers: Add, Subtract, Multiply, Average, Maximum,
 * Minimum and Concatenate (keras/src/layers/merging/).
 *
 * A merge layer is called on a list of tensors: args->inputs[0..n-1] with
 * n_inputs = n >= 1 (Subtract: exactly 2), and the mask of each one in
 * args->input_masks[i] (args->mask is not used). No weights.
 *
 * Element-wise layers (all but Concatenate): the inputs must have equal
 * batch sizes; other dimensions must match or be 1 (broadcast). Inputs of
 * lower rank get size-1 axes inserted at axis 1 until the ranks agree, as
 * Keras's `_reshape_required` path does. Average is the sum divided by n.
 * Concatenate(axis): equal ranks and equal sizes on every axis but `axis`
 * (negative counts from the end; default -1).
 *
 * Masks, as Keras 3.15 (a mask is uint8 with the input's shape minus the
 * last axis, non-zero = keep):
 *   - Add, Subtract, Average: values ignore masks; the output mask is the OR
 *     of the input masks when every input has one, else none.
 *   - Multiply: a masked input counts as 1; when every input has a mask, the
 *     output is 0 where no input is kept and the output mask is their OR.
 *   - Maximum, Minimum: folded left to right; a masked element of the next
 *     input takes the running result, a masked element of the running
 *     result takes the next input; the output mask is the OR when every
 *     input has one.
 *   - Concatenate: no mask when no input has one; else each input's mask
 *     (all kept when it has none) concatenated along `axis`, then OR-ed
 *     over the last axis (so concatenating on the last axis keeps a step
 *     when any input keeps it).
 * Inputs of different ranks with masks are refused (RNNC_E_UNSUPPORTED).
 *
 * Config keys (Keras 3.15): name, trainable, dtype, [activity_regularizer];
 * Concatenate adds axis. Build configs list one shape per input
 * ({"input_shape": [[null, 4], [null, 3]]}). */
#ifndef RNNC_LAYERS_MERGE_H
#define RNNC_LAYERS_MERGE_H

#include "framework/layer.h"

typedef enum {
    RNNC_MERGE_OP_ADD,
    RNNC_MERGE_OP_SUBTRACT,
    RNNC_MERGE_OP_MULTIPLY,
    RNNC_MERGE_OP_AVERAGE,
    RNNC_MERGE_OP_MAXIMUM,
    RNNC_MERGE_OP_MINIMUM,
    RNNC_MERGE_OP_CONCATENATE,
    RNNC_MERGE_OP_COUNT
} rnnc_merge_op;

typedef struct rnnc_merge {
    rnnc_layer base; /* first: a rnnc_merge* is a rnnc_layer* */
    rnnc_merge_op op;
    int axis;        /* Concatenate only, as given (may be negative) */
} rnnc_merge;

extern const rnnc_layer_class rnnc_add_class;
extern const rnnc_layer_class rnnc_subtract_class;
extern const rnnc_layer_class rnnc_multiply_class;
extern const rnnc_layer_class rnnc_average_class;
extern const rnnc_layer_class rnnc_maximum_class;
extern const rnnc_layer_class rnnc_minimum_class;
extern const rnnc_layer_class rnnc_concatenate_class;

/* A merge layer of the given kind (Concatenate with axis -1). name NULL ->
 * "add", "add_1", ...; dtype RNNC_F32 or RNNC_F64. Caller owns *out. */
rnnc_status rnnc_merge_create(rnnc_merge_op op, const char *name, rnnc_dtype dtype,
                              rnnc_layer **out);
/* Concatenate(axis). */
rnnc_status rnnc_concatenate_create(int axis, const char *name, rnnc_dtype dtype,
                                    rnnc_layer **out);

/* Whether l is one of the merge layers above. */
bool rnnc_layer_is_merge(const rnnc_layer *l);

/* From Keras config maps (the "config" part of the envelope). Unknown keys
 * fail with a suggestion; Concatenate's axis must be an integer. */
rnnc_status rnnc_add_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_subtract_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_multiply_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_average_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_maximum_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_minimum_from_config(const rnnc_cfg *config, rnnc_layer **out);
rnnc_status rnnc_concatenate_from_config(const rnnc_cfg *config, rnnc_layer **out);

#endif
