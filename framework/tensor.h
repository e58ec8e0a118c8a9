/* tensor.h - n-d contiguous tensors, their shapes, and cheap views.
 *
 * A tensor owns its storage unless it is a view (view_of != NULL), in which
 * case the viewed tensor owns it and must outlive the view. Gradients live in
 * `grad` (same dtype and shape, NULL until first needed) and are owned by the
 * tensor. Leaves (weights, inputs) are created by the caller with
 * rnnc_tensor_create() and freed with rnnc_tensor_destroy(); results of ops
 * are owned by the rnnc_ctx that computed them (see autograd.h).
 *
 * Not here: strided n-d views. Non-contiguous 2-D blocks (a time step of a
 * (B,T,F) tensor, a gate's column block of a (F,3U) kernel) are exposed as
 * rnnc_mat views with a leading dimension, which is what BLAS takes. */
#ifndef RNNC_TENSOR_H
#define RNNC_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/backend.h"
#include "framework/status.h"

typedef enum {
    RNNC_F32,  /* default float type */
    RNNC_F64,  /* gradient checks, references */
    RNNC_I32,  /* token ids */
    RNNC_I64,  /* optimizer iteration counters */
    RNNC_U8,   /* masks: non-zero = keep */
    RNNC_DTYPE_COUNT
} rnnc_dtype;

#define RNNC_MAX_DIMS 8

typedef struct rnnc_shape {
    int ndim;
    int64_t dim[RNNC_MAX_DIMS];
} rnnc_shape;

/* RNNC_SHAPE(2, 3, 4) -> a rank-3 shape. */
#define RNNC_SHAPE(...)                                                   \
    rnnc_shape_of((const int64_t[]){__VA_ARGS__},                         \
                  (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

rnnc_shape rnnc_shape_of(const int64_t *dims, int ndim);
bool rnnc_shape_eq(const rnnc_shape *a, const rnnc_shape *b);
/* Element count, 1 for rank 0. Fails with RNNC_E_SHAPE on negative dims or
 * overflow of size_t (never trust a size read from a file). */
rnnc_status rnnc_shape_numel(const rnnc_shape *s, size_t *numel);
/* "(2, 3, 4)" into buf; returns buf. */
const char *rnnc_shape_str(const rnnc_shape *s, char *buf, size_t cap);
/* Python-style negative axis -> [0, ndim). Fails with RNNC_E_ARG. */
rnnc_status rnnc_shape_axis(const rnnc_shape *s, int axis, int *out);

size_t rnnc_dtype_size(rnnc_dtype t);
const char *rnnc_dtype_name(rnnc_dtype t); /* "float32", "float64", ... */
bool rnnc_dtype_is_float(rnnc_dtype t);
/* "float32"/"float64"/"int32"/"int64"/"uint8"/"bool" -> dtype. */
rnnc_status rnnc_dtype_from_name(const char *name, rnnc_dtype *out);

typedef struct rnnc_node rnnc_node;

typedef struct rnnc_tensor {
    rnnc_dtype dtype;
    rnnc_shape shape;
    size_t numel;
    void *data;                   /* numel elements, row-major */
    void *grad;                   /* NULL or numel elements of dtype */
    bool requires_grad;           /* a leaf to differentiate, or computed from one */
    rnnc_node *node;              /* tape node that produced it; NULL for leaves */
    struct rnnc_tensor *view_of;  /* storage owner for views, else NULL */
    struct rnnc_sparse_grad *sgrad; /* rows-per-occurrence gradient (sparse_grad.h), owned; NULL = dense only */
    rnnc_device device;           /* where data lives: RNNC_DEVICE_CPU (0) for every tensor
                                   * created here; the CPU ops refuse others (backend_ops.h) */
} rnnc_tensor;

/* A zero-filled tensor; the caller owns it. */
rnnc_status rnnc_tensor_create(rnnc_dtype dtype, const rnnc_shape *shape, rnnc_tensor **out);
/* A tensor holding a copy of numel(shape) elements of `src`. */
rnnc_status rnnc_tensor_from(rnnc_dtype dtype, const rnnc_shape *shape, const void *src,
                             rnnc_tensor **out);
/* A deep copy of data (not grad, not tape). */
rnnc_status rnnc_tensor_clone(const rnnc_tensor *t, rnnc_tensor **out);
/* Frees data, grad and the struct; a view frees only its struct. NULL is a no-op. */
void rnnc_tensor_destroy(rnnc_tensor *t);

/* A contiguous view: `shape` elements starting at element `offset` of t.
 * Shares t's data (and grad, when t has one). Free with rnnc_tensor_destroy. */
rnnc_status rnnc_tensor_view(rnnc_tensor *t, size_t offset, const rnnc_shape *shape,
                             rnnc_tensor **out);

/* Copies values from src to dst (same shape; any float dtypes). */
rnnc_status rnnc_tensor_copy(rnnc_tensor *dst, const rnnc_tensor *src);
/* Sets every element to v (float dtypes). */
void rnnc_tensor_fill(rnnc_tensor *t, double v);
/* Element i as double / set from double (any dtype). */
double rnnc_tensor_get(const rnnc_tensor *t, size_t i);
void rnnc_tensor_set(rnnc_tensor *t, size_t i, double v);
double rnnc_tensor_get_grad(const rnnc_tensor *t, size_t i); /* 0 when no grad */

/* Allocates grad (zeroed) if missing. */
rnnc_status rnnc_tensor_ensure_grad(rnnc_tensor *t);
/* Sets grad to zero (no-op when there is none). Call once per training step. */
void rnnc_tensor_zero_grad(rnnc_tensor *t);
/* Marks a leaf for differentiation (allocates its grad). */
rnnc_status rnnc_tensor_set_requires_grad(rnnc_tensor *t, bool on);

static inline float *rnnc_f32(const rnnc_tensor *t) { return (float *)t->data; }
static inline double *rnnc_f64(const rnnc_tensor *t) { return (double *)t->data; }

/* Runs the statements `...` with T typedef'd to float (RNNC_F32) or double
 * (RNNC_F64), so a kernel is written once for both:
 *     RNNC_FLOAT_DISPATCH(t->dtype, T, { T *p = t->data; p[0] *= 2; });
 * The caller has checked that dt is one of the two. */
#define RNNC_FLOAT_DISPATCH(dt, T, ...) \
    do {                                \
        if ((dt) == RNNC_F32) {         \
            typedef float T;            \
            __VA_ARGS__                 \
        } else {                        \
            typedef double T;           \
            __VA_ARGS__                 \
        }                               \
    } while (0)

/* A 2-D block of a float tensor as BLAS sees it: rows x cols, row i starts
 * ld elements after row i-1. Borrowed pointer, owned by the tensor. */
typedef struct rnnc_mat {
    void *data;
    rnnc_dtype dtype;
    int64_t rows, cols, ld;
} rnnc_mat;

/* The whole of a rank-2 tensor (or rank >= 2 flattened to (prod(leading), last)). */
rnnc_mat rnnc_mat_of(const rnnc_tensor *t);
/* Columns [c0, c0+n) of a matrix view (a gate block of a (F,3U) kernel). */
rnnc_mat rnnc_mat_cols(rnnc_mat m, int64_t c0, int64_t n);
/* Time step `step` of a (B,T,F) tensor: B rows of F with ld = T*F. */
rnnc_mat rnnc_mat_step(const rnnc_tensor *seq, int64_t step);

#endif
