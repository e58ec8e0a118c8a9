/* cuda_ops_kernels.h - launchers of the op table's CUDA kernels
 * (cuda_backend_ops.c calls them; cuda_ops_kernels.cu defines them for the
 * GPU, tests/cuda_emu/cuda_emu.c as CPU loops over the same bodies of
 * cuda_ops_math.h). Each is queued on stream s and returns the launch's
 * error (cudaGetLastError). All pointers are float32 device memory, ids
 * int32, row-major; n counts elements. Contracts: framework/backend_ops.h,
 * the op of the same name. */
#ifndef RNNC_CUDA_OPS_KERNELS_H
#define RNNC_CUDA_OPS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* backend_ops.h's enums, as ints (device code includes no rnnc header). Kept equal by static asserts in cuda_backend_ops.c. */
#define RNNC__K_BIN_ADD 0
#define RNNC__K_BIN_SUB 1
#define RNNC__K_BIN_MUL 2
#define RNNC__K_RED_MEAN 1
#define RNNC__K_LOSS_MSE 0
#define RNNC__K_LOSS_BCE 1
#define RNNC__K_LOSS_CCE 2
#define RNNC__K_LOSS_SCCE 3
/* The loss kernel's arguments (one thread per row). kind: rnnc_bloss. */
typedef struct rnnc__loss_kargs {
    int kind, from_logits;
    int64_t rows, cols;
    const float *t;     /* (rows, cols) or NULL (SCCE) */
    const int32_t *ids; /* (rows) SCCE, else NULL */
    const float *p;     /* (rows, cols) */
    float *values;      /* (rows) */
    float *grad;        /* (rows, cols) or NULL */
    float scale;
} rnnc__loss_kargs;

typedef struct rnnc__sgd_kargs {
    float lr, momentum;
    int nesterov;
} rnnc__sgd_kargs;

/* backend_ops_internal.h's rnnc__adam_consts plus the flags. */
typedef struct rnnc__adam_kargs {
    float alpha, c1, c2, eps, wd, lr;
    int amsgrad, decay;
} rnnc__adam_kargs;

/* backend_ops.h's rnnc_bmetric, as ints. */
#define RNNC__K_METRIC_MAE 0
#define RNNC__K_METRIC_MSE 1
#define RNNC__K_METRIC_ACCURACY 2
#define RNNC__K_METRIC_BINARY_ACCURACY 3
#define RNNC__K_METRIC_CATEGORICAL_ACCURACY 4
#define RNNC__K_METRIC_SPARSE_CATEGORICAL_ACCURACY 5
/* The metric kernel's arguments (one thread per row). kind: rnnc_bmetric. */
typedef struct rnnc__metric_kargs {
    int kind;
    float threshold;
    int64_t rows, cols;
    const float *t;     /* (rows, cols) or NULL (sparse) */
    const int32_t *ids; /* (rows) sparse, else NULL */
    const float *p;     /* (rows, cols) */
    float *values;      /* (rows) */
} rnnc__metric_kargs;

/* layer_norm / layer_norm_backward (backend_ops.h): one thread per row
 * (forward, dx), one per column (dgamma, dbeta: the rows in order). */
typedef struct rnnc__ln_kargs {
    int64_t rows, cols;
    double epsilon;
    int rms;
    const float *x, *gamma, *beta; /* gamma, beta may be NULL */
    float *y, *mean, *inv;         /* forward */
    const float *dy;               /* backward */
    float *dx, *dgamma, *dbeta;    /* backward; each may be NULL */
} rnnc__ln_kargs;

/* batch_norm / batch_norm_backward (backend_ops.h): one thread per column
 * over the rows in order. */
typedef struct rnnc__bn_kargs {
    int64_t rows, cols;
    double epsilon, momentum;
    int training;
    const float *x, *w, *gamma, *beta; /* w, gamma, beta may be NULL */
    float *moving_mean, *moving_var;  /* forward; updated when training */
    float *y, *mean, *den;            /* forward writes; backward reads mean, den */
    const float *dy;                  /* backward */
    float *dx, *dgamma, *dbeta;       /* backward; each may be NULL */
} rnnc__bn_kargs;

cudaError_t rnnc__k_bias_add(cudaStream_t s, float *y, const float *x, const float *bias,
                             int64_t rows, int64_t cols);
/* op: rnnc_binop. */
cudaError_t rnnc__k_binary(cudaStream_t s, int op, const float *a, const float *b, float *y,
                           size_t n);
cudaError_t rnnc__k_softmax(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols);
cudaError_t rnnc__k_softmax_backward(cudaStream_t s, const float *y, const float *dy, float *dx,
                                     int64_t rows, int64_t cols);
/* op: rnnc_redop; x (outer, len, inner) -> y (outer, inner). */
cudaError_t rnnc__k_reduce(cudaStream_t s, int op, const float *x, float *y, int64_t outer,
                           int64_t len, int64_t inner);
cudaError_t rnnc__k_loss(cudaStream_t s, rnnc__loss_kargs a);
/* m may be NULL when a.momentum == 0. */
cudaError_t rnnc__k_sgd(cudaStream_t s, rnnc__sgd_kargs a, float *w, const float *g, float *m,
                        size_t n);
/* vhat may be NULL unless a.amsgrad; gsq NULL: g * g. */
cudaError_t rnnc__k_adam(cudaStream_t s, rnnc__adam_kargs a, float *w, const float *g, const float *gsq,
                         float *m, float *v, float *vhat, size_t n);

/* y (rows, cols) = x * (alpha * w[r]) (w NULL: alpha); y may be x. */
cudaError_t rnnc__k_scale_rows(cudaStream_t s, float *y, const float *x, const float *w, float alpha,
                               int64_t rows, int64_t cols);
/* y (outer, mid, inner) = x * w (outer, inner) broadcast over mid; y may be x. */
cudaError_t rnnc__k_mul_bcast(cudaStream_t s, float *y, const float *x, const float *w, int64_t outer,
                              int64_t mid, int64_t inner);
/* out (n, dim) = table[ids[i]]; an id outside [0, rows) gives a zero row. */
cudaError_t rnnc__k_gather_rows(cudaStream_t s, float *out, const float *table, const int32_t *ids,
                                int64_t rows, int64_t dim, size_t n);
/* dtable[ids[i]] += dy[i] with atomicAdd (a row's additions in any order);
 * ids outside [0, rows) skipped. */
cudaError_t rnnc__k_scatter_add_rows(cudaStream_t s, float *dtable, const float *dy,
                                     const int32_t *ids, int64_t rows, int64_t dim, size_t n);
cudaError_t rnnc__k_metric(cudaStream_t s, rnnc__metric_kargs a);
/* dst[r, dst_off + c] (+)= src[r, src_off + c] for r < rows, c < width. */
cudaError_t rnnc__k_copy_block(cudaStream_t s, float *dst, const float *src, int64_t rows,
                               int64_t width, int64_t src_cols, int64_t src_off, int64_t dst_cols,
                               int64_t dst_off, int accumulate);
/* y (B, T, C) = x flipped along T. */
cudaError_t rnnc__k_reverse_time(cudaStream_t s, float *y, const float *x, int64_t B, int64_t T,
                                 int64_t C);
cudaError_t rnnc__k_layer_norm(cudaStream_t s, rnnc__ln_kargs a);
cudaError_t rnnc__k_layer_norm_backward(cudaStream_t s, rnnc__ln_kargs a);
cudaError_t rnnc__k_batch_norm(cudaStream_t s, rnnc__bn_kargs a);
cudaError_t rnnc__k_batch_norm_backward(cudaStream_t s, rnnc__bn_kargs a);

#ifdef __cplusplus
}
#endif

#endif
