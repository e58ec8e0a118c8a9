/* loss_ops.h - fused cross-entropy ops used by the losses (optim/losses.c).
 *
 * Each is one tape node with an exact backward, computed the way
 * TensorFlow's kernels compute it (stable forms, max-shifted logsumexp), so
 * the from_logits losses match Keras on the TensorFlow backend. Labels are
 * constants: no gradient flows into them.
 *
 * Internal to optim/ (rnnc__ prefix); the public entry points are losses.h. */
#ifndef RNNC_OPTIM_LOSS_OPS_H
#define RNNC_OPTIM_LOSS_OPS_H

#include "framework/autograd.h"

/* tf.nn.sigmoid_cross_entropy_with_logits, element-wise:
 * y = max(x, 0) - x z + log(1 + exp(-|x|)); dy/dx = sigmoid(x) - z.
 * labels z and logits x: same shape, same float dtype. */
rnnc_status rnnc__sigmoid_xent(rnnc_ctx *cx, const rnnc_tensor *labels, rnnc_tensor *logits,
                               rnnc_tensor **y);

/* tf.nn.softmax_cross_entropy_with_logits over the last axis:
 * y = -sum_c z_c (x_c - logsumexp(x)); dy/dx = softmax(x) sum_c z_c - z.
 * labels and logits (..., C) of one shape -> y of shape (...). */
rnnc_status rnnc__softmax_xent(rnnc_ctx *cx, const rnnc_tensor *labels, rnnc_tensor *logits,
                               rnnc_tensor **y);

/* tf.nn.sparse_softmax_cross_entropy_with_logits over the last axis:
 * y = logsumexp(x) - x_id; dy/dx = softmax(x) - onehot(id). ids: any
 * numeric dtype holding whole numbers, shape (...) for logits (..., C).
 * An id outside [0, C) fails with RNNC_E_ARG naming the id and where. */
rnnc_status rnnc__sparse_softmax_xent(rnnc_ctx *cx, const rnnc_tensor *ids, rnnc_tensor *logits,
                                      rnnc_tensor **y);

#endif
