/* ops_internal.h - private helpers shared by the ops_*.c files.
 *
 * Holds: argument checks that fill the error message (op name, argument
 * name, shapes, dtypes) and a strided n-d iterator used for
 * NumPy broadcasting and reductions. Not public API: only framework/ops_*.c
 * include it. */
#ifndef RNNC_OPS_INTERNAL_H
#define RNNC_OPS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "framework/activations.h"
#include "framework/autograd.h"
#include "framework/tensor.h"

/* A shape as text for messages: RNNC__SHAPE_STR(&t->shape, buf). */
#define RNNC__SHAPE_STR(s, buf) rnnc_shape_str((s), (buf), sizeof(buf))

/* Fails with RNNC_E_ARG when t is NULL and RNNC_E_DTYPE when t is not
 * float32/float64: "rnnc_add: argument 'b' must be float32 or float64, got
 * int32 of shape (2, 3)". */
rnnc_status rnnc__check_float(const char *op, const char *arg, const rnnc_tensor *t);
/* Both float (as above) and of one dtype. */
rnnc_status rnnc__check_same_float(const char *op, const char *an, const rnnc_tensor *a,
                                   const char *bn, const rnnc_tensor *b);
/* Fails with RNNC_E_ARG when t is NULL. */
rnnc_status rnnc__check_nonnull(const char *op, const char *arg, const void *p);
/* Non-NULL and on the CPU (rnnc_tensor.device): RNNC_E_UNSUPPORTED
 * "slice: argument 'x' is a cuda tensor; this op runs on CPU tensors only".
 * rnnc__check_float does this too. */
rnnc_status rnnc__check_tensor(const char *op, const char *arg, const rnnc_tensor *t);

/* ---- strided iteration ------------------------------------------------ */

#define RNNC__ITER_MAX_OPS 4

/* Walks an index space of shape `dim` once, keeping, for each operand k,
 * the element offset off[k] = sum_d idx[d] * stride[k][d]. Operands with
 * stride 0 along a dim are broadcast (read) or reduced into (accumulated)
 * along it. Dims are coalesced at init, so the innermost loop is long:
 *
 *   for (size_t r = 0; r < it.rows; r++, rnnc__iter_next(&it))
 *       for (int64_t j = 0; j < it.inner; j++)
 *           y[it.off[0] + j * it.istride[0]] = ...;
 */
typedef struct rnnc__iter {
    int ndim;                                    /* >= 1 after init */
    int n_ops;
    int64_t dim[RNNC_MAX_DIMS];
    int64_t stride[RNNC__ITER_MAX_OPS][RNNC_MAX_DIMS];
    int64_t idx[RNNC_MAX_DIMS];                  /* current outer index */
    int64_t off[RNNC__ITER_MAX_OPS];             /* offsets of the current row */
    int64_t inner;                               /* length of the innermost dim */
    int64_t istride[RNNC__ITER_MAX_OPS];         /* strides along the innermost dim */
    size_t rows;                                 /* number of inner rows (0 if empty) */
} rnnc__iter;

/* shape: the index space; strides[k][d]: element stride of operand k. */
void rnnc__iter_init(rnnc__iter *it, const rnnc_shape *shape, int n_ops,
                     const int64_t (*strides)[RNNC_MAX_DIMS]);
void rnnc__iter_next(rnnc__iter *it);

/* Contiguous row-major strides of s, right-aligned into a rank-`ndim`
 * index space; dims of size 1 (and missing leading dims) get stride 0, so
 * the result is the operand's broadcast stride vector. */
void rnnc__bcast_strides(const rnnc_shape *s, int ndim, int64_t stride[RNNC_MAX_DIMS]);

/* NumPy broadcast of n shapes (aligned right, each dim equal or 1). Fails
 * with RNNC_E_SHAPE naming op and all shapes. */
rnnc_status rnnc__bcast_shape(const char *op, int n, const rnnc_tensor *const *ts,
                              rnnc_shape *out);

/* An iterator over the contiguous output shape `ys` (operand 0) and n
 * inputs broadcast into it (operands 1..n). n <= RNNC__ITER_MAX_OPS - 1. */
void rnnc__bcast_iter(rnnc__iter *it, const rnnc_shape *ys, int n,
                      const rnnc_tensor *const *ins);

/* Views a contiguous shape as (outer, mid, inner) around `axis`. */
void rnnc__split_axis(const rnnc_shape *s, int axis, int64_t *outer, int64_t *mid,
                      int64_t *inner);

/* A ctx-owned copy of t (data only), for saving non-differentiable inputs
 * (masks, ids) that the caller may overwrite before backward runs. */
rnnc_status rnnc__ctx_copy(rnnc_ctx *cx, const rnnc_tensor *t, rnnc_tensor **out);

/* The activations along the last axis (ops_softmax.c): act is
 * RNNC_ACT_SOFTMAX, RNNC_ACT_LOG_SOFTMAX or RNNC_ACT_SPARSEMAX; x is a
 * checked float tensor of rank >= 1. */
rnnc_status rnnc__last_axis_act(rnnc_ctx *cx, rnnc_act act, rnnc_tensor *x, rnnc_tensor **y);

#endif
