/* sparse_grad.h - a gradient given as rows per occurrence with their row
 * indices, as TensorFlow hands an Embedding's gradient to the optimizer
 * (tf.IndexedSlices: one row per looked-up id, duplicate ids not merged).
 *
 * A rank-2 float tensor (an Embedding's table) opts in with
 * rnnc_tensor_enable_sparse_grad(). From then on its gradient is two
 * parts, both cleared by rnnc_tensor_zero_grad():
 *   - rows: what sparse-aware ops (rnnc_gather_rows) append in backward,
 *     in tape order; the dense `grad` buffer is not touched by them;
 *   - the dense `grad` buffer: what any other op (a regularizer, a matmul
 *     on the table) adds. It counts only when `dense_live` is set (the
 *     tape sets it when such an op reaches the tensor); while it is not,
 *     the buffer is all zeros and zero_grad does not pass over it.
 * The gradient's value is the dense part plus the rows summed per index
 * (TensorFlow's add_n of a tensor and slices). rnnc_tensor_get_grad() reads
 * that sum; rnnc_tensor_grad_densify() folds the rows into the buffer for
 * code that needs one dense array. The optimizer (optim/optimizer.c) reads
 * the rows themselves, as Keras's optimizers do on TensorFlow.
 *
 * Writing into `grad` of such a tensor outside the tape is not seen unless
 * dense_live is set (rnnc_tensor_grad_mark_dense). */
#ifndef RNNC_SPARSE_GRAD_H
#define RNNC_SPARSE_GRAD_H

#include "framework/tensor.h"

typedef struct rnnc_sparse_grad {
    int64_t n, cap;      /* rows held / allocated */
    int64_t width;       /* D: elements per row (the table's second dim) */
    int32_t *ids;        /* (n,) row of the table each row belongs to */
    void *rows;          /* (n, width) in the tensor's dtype, tape order */
    bool live;           /* a sparse-aware op reached the tensor this step (rows may be 0) */
    bool dense_live;     /* the dense grad buffer holds a contribution this step */
} rnnc_sparse_grad;

/* Opts a rank-2 float leaf in (idempotent). Zeroes its dense grad.
 * RNNC_E_ARG for a view, RNNC_E_SHAPE / RNNC_E_DTYPE otherwise unfit. */
rnnc_status rnnc_tensor_enable_sparse_grad(rnnc_tensor *t);
/* Appends n rows (n x width, the tensor's dtype) for row indices ids. */
rnnc_status rnnc_tensor_sparse_grad_append(rnnc_tensor *t, const int32_t *ids, const void *rows,
                                           int64_t n);
/* Marks the dense grad buffer as holding a contribution (allocating it). */
rnnc_status rnnc_tensor_grad_mark_dense(rnnc_tensor *t);
/* Whether t has a gradient this step (Keras: not None): a dense grad
 * buffer, or for an opted-in tensor, rows or a live dense part. */
bool rnnc_tensor_has_grad(const rnnc_tensor *t);
/* Whether t's gradient this step is rows only (no dense part). */
bool rnnc_tensor_grad_is_sparse(const rnnc_tensor *t);
/* Adds the rows into the dense buffer (in order, after zero-initialised
 * row sums as tf.convert_to_tensor does) and drops them: afterwards the
 * gradient is dense. A no-op for tensors without rows. */
rnnc_status rnnc_tensor_grad_densify(rnnc_tensor *t);

#endif
