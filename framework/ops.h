/* ops.h - differentiable tensor operations.
 *
 * Every op: checks dtypes and shapes (RNNC_E_DTYPE / RNNC_E_SHAPE with the
 * shapes in the message), allocates its result in cx (owned by cx, freed by
 * rnnc_ctx_clear), and records a tape node when grad mode is on and an input
 * requires grad. Float ops accept RNNC_F32 and RNNC_F64; all float operands
 * of one op must share a dtype. Backward always accumulates.
 *
 * Broadcasting (add/sub/mul/div/where) follows NumPy: shapes are aligned on
 * the right; each dim must match or be 1 (so a (3U,) bias adds over (B,3U)
 * and over (B,T,3U)). */
#ifndef RNNC_OPS_H
#define RNNC_OPS_H

#include "framework/activations.h"
#include "framework/autograd.h"

struct rnnc_rng;

/* y = op(a) @ op(b), op = transpose when the flag is set. a, b rank 2. */
rnnc_status rnnc_matmul(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, bool trans_a,
                        bool trans_b, rnnc_tensor **y);

rnnc_status rnnc_add(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y);
rnnc_status rnnc_sub(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y);
rnnc_status rnnc_mul(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y);
rnnc_status rnnc_div(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y);
/* y = alpha * x + beta */
rnnc_status rnnc_affine(rnnc_ctx *cx, rnnc_tensor *x, double alpha, double beta,
                        rnnc_tensor **y);

/* y = f(x) for any Keras activation (activations.h). */
rnnc_status rnnc_activation(rnnc_ctx *cx, rnnc_act act, rnnc_tensor *x, rnnc_tensor **y);

rnnc_status rnnc_square(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y);
rnnc_status rnnc_abs(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y);
rnnc_status rnnc_sign(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y);  /* zero gradient */
rnnc_status rnnc_sqrt(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y);
rnnc_status rnnc_exp(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y);
rnnc_status rnnc_log(rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor **y);
/* y = min(max(x, lo), hi); gradient passes where lo <= x <= hi. */
rnnc_status rnnc_clip(rnnc_ctx *cx, rnnc_tensor *x, double lo, double hi, rnnc_tensor **y);
rnnc_status rnnc_maximum(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, rnnc_tensor **y);

/* Sum / mean over `axes` (n_axes = 0: all axes -> scalar of rank 0). */
rnnc_status rnnc_sum(rnnc_ctx *cx, rnnc_tensor *x, const int *axes, int n_axes,
                     bool keepdims, rnnc_tensor **y);
rnnc_status rnnc_mean(rnnc_ctx *cx, rnnc_tensor *x, const int *axes, int n_axes,
                      bool keepdims, rnnc_tensor **y);

/* Same data, new shape (same element count). */
rnnc_status rnnc_reshape(rnnc_ctx *cx, rnnc_tensor *x, const rnnc_shape *shape,
                         rnnc_tensor **y);
/* y = x[..., start:start+len, ...] along `axis`. */
rnnc_status rnnc_slice(rnnc_ctx *cx, rnnc_tensor *x, int axis, int64_t start, int64_t len,
                       rnnc_tensor **y);
/* Concatenate n tensors along an existing axis / stack along a new axis. */
rnnc_status rnnc_concat(rnnc_ctx *cx, rnnc_tensor *const *xs, int n, int axis,
                        rnnc_tensor **y);
rnnc_status rnnc_stack(rnnc_ctx *cx, rnnc_tensor *const *xs, int n, int axis,
                       rnnc_tensor **y);
/* Reverse the order along axis (Bidirectional's flip back). */
rnnc_status rnnc_reverse(rnnc_ctx *cx, rnnc_tensor *x, int axis, rnnc_tensor **y);

/* y = mask ? a : b, element-wise with broadcasting. mask is RNNC_U8
 * (non-zero = take a); gradients flow to a where taken, to b elsewhere. */
rnnc_status rnnc_where(rnnc_ctx *cx, const rnnc_tensor *mask, rnnc_tensor *a,
                       rnnc_tensor *b, rnnc_tensor **y);

/* Inverted dropout: y = x * m, m = 1/(1-rate) with probability 1-rate else 0,
 * drawn from rng. rate 0 -> y is a copy; rate 1 -> zeros. The mask is saved
 * for backward and returned in *mask_out when not NULL (ctx-owned). */
rnnc_status rnnc_dropout(rnnc_ctx *cx, rnnc_tensor *x, double rate, struct rnnc_rng *rng,
                         rnnc_tensor **y, rnnc_tensor **mask_out);

/* y = x converted to dtype (float32 <-> float64; x itself when it already
 * has it); the gradient is converted back. Keras's layer autocasting. */
rnnc_status rnnc_cast(rnnc_ctx *cx, rnnc_tensor *x, rnnc_dtype dtype, rnnc_tensor **y);

/* Rows of a (V, D) table picked by RNNC_I32 ids of any shape -> (ids..., D).
 * Out-of-range ids fail with RNNC_E_ARG. Gradient scatters into the table,
 * or, for a table opted in (sparse_grad.h), is appended as rows per id. */
rnnc_status rnnc_gather_rows(rnnc_ctx *cx, rnnc_tensor *table, const rnnc_tensor *ids,
                             rnnc_tensor **y);

#endif
