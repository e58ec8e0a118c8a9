/* regularizers.h - weight penalties (spec section 8): L1, L2, L1L2,
 * OrthogonalRegularizer, by Keras name and config. The penalty is built from
 * differentiable ops, so it backpropagates into the weight. */
#ifndef RNNC_REGULARIZERS_H
#define RNNC_REGULARIZERS_H

#include "framework/autograd.h"
#include "framework/config.h"

typedef struct rnnc_regularizer rnnc_regularizer;

/* From a name (exactly L1 l1 L2 l2 L1L2 l1l2 OrthogonalRegularizer
 * orthogonal_regularizer Regularizer regularizer) or a dict. A null node gives
 * *out = NULL (no regularizer) and OK. Caller owns *out. */
rnnc_status rnnc_regularizer_from_config(const rnnc_cfg *c, const char *what,
                                         rnnc_regularizer **out);
void rnnc_regularizer_destroy(rnnc_regularizer *r);
rnnc_status rnnc_regularizer_clone(const rnnc_regularizer *r, rnnc_regularizer **out);

/* A rank-0 tensor (ctx-owned) holding the penalty of w, differentiable. */
rnnc_status rnnc_regularizer_penalty(const rnnc_regularizer *r, rnnc_ctx *cx, rnnc_tensor *w,
                                     rnnc_tensor **loss);
/* The Keras envelope {"module": "keras.regularizers", ...}; caller owns. */
rnnc_status rnnc_regularizer_get_config(const rnnc_regularizer *r, rnnc_cfg **out);

#endif
