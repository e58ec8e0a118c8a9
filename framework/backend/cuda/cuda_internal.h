/* cuda_internal.h - private to framework/backend/cuda: the check macros, the
 * per-process CUDA context (device, stream, cuBLAS and cuDNN handles), the
 * caching allocator, capacity buffers, and the GRU object.
 *
 * Check macros: every CUDA, cuBLAS and cuDNN call is wrapped; a failure
 * records "<call> failed: <library message> (<code>) at <file>:<line>" and
 * RETURNS a status from the calling function (llm.c's cudaCheck minus the
 * exit). cudaErrorMemoryAllocation maps to RNNC_E_NOMEM, "no device" and
 * "insufficient driver" errors to RNNC_E_NODEV, everything else to
 * RNNC_E_STATE. */
#ifndef RNNC_CUDA_INTERNAL_H
#define RNNC_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "framework/backend/cuda_api.h"
#include "framework/backend_ops.h"
#include "framework/status.h"

rnnc_status rnnc__cuda_fail(cudaError_t e, const char *call, const char *file, int line);
rnnc_status rnnc__cublas_fail(cublasStatus_t e, const char *call, const char *file, int line);
rnnc_status rnnc__cudnn_fail(cudnnStatus_t e, const char *call, const char *file, int line);

#define RNNC_CUDA_CHECK(call)                                               \
    do {                                                                    \
        cudaError_t rnnc_ce_ = (call);                                      \
        if (rnnc_ce_ != cudaSuccess)                                        \
            return rnnc__cuda_fail(rnnc_ce_, #call, __FILE__, __LINE__);    \
    } while (0)

#define RNNC_CUBLAS_CHECK(call)                                             \
    do {                                                                    \
        cublasStatus_t rnnc_be_ = (call);                                   \
        if (rnnc_be_ != CUBLAS_STATUS_SUCCESS)                              \
            return rnnc__cublas_fail(rnnc_be_, #call, __FILE__, __LINE__);  \
    } while (0)

#define RNNC_CUDNN_CHECK(call)                                              \
    do {                                                                    \
        cudnnStatus_t rnnc_de_ = (call);                                    \
        if (rnnc_de_ != CUDNN_STATUS_SUCCESS)                               \
            return rnnc__cudnn_fail(rnnc_de_, #call, __FILE__, __LINE__);   \
    } while (0)

/* ---- context ----------------------------------------------------------- */

typedef struct rnnc__cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    void *cublas_ws; /* cuBLAS's workspace for graph capture, or NULL */
} rnnc__cuda_ctx;

/* The process's context, created on first use (device 0, a non-blocking
 * stream, handles bound to it). Fails with RNNC_E_NODEV without a device. */
rnnc_status rnnc__cuda_ctx_get(rnnc__cuda_ctx **out);
rnnc_status rnnc__cuda_device_count(int *n);
rnnc_status rnnc__cuda_device_describe(char *buf, size_t cap);
rnnc_status rnnc__cuda_synchronize(void);
/* Gives cuBLAS a workspace of its own (cublasSetWorkspace, once): what
 * cuBLAS's docs require before its calls are captured into a CUDA graph.
 * Not to be called during a capture. */
rnnc_status rnnc__cuda_graph_workspace(rnnc__cuda_ctx *cx);
/* Destroys the context (the allocator is shut down separately). */
void rnnc__cuda_ctx_shutdown(void);

/* ---- caching allocator (cuda_alloc.c) ---------------------------------- */

/* A device block of at least `bytes` (> 0) bytes; *got is its real size.
 * Reuses a cached block when one of a fitting size is free; otherwise
 * cudaMalloc (after returning the cache to the driver if memory is short). */
rnnc_status rnnc__cuda_alloc(size_t bytes, void **ptr, size_t *got);
/* Returns a block to the cache (NULL is a no-op). The memory may still be
 * in use by queued work: a block is only handed out again to work queued
 * later on the same stream, which runs after it. */
void rnnc__cuda_free(void *ptr);
rnnc_status rnnc__cuda_alloc_stats(rnnc_cuda_stats *out);
rnnc_status rnnc__cuda_release_cache(void);
/* Frees everything (shutdown); blocks still handed out are freed too. */
void rnnc__cuda_alloc_shutdown(void);

/* A growable device buffer: reallocated only when a call needs more than it
 * has, so per-call workspaces are sized once for a training loop. */
typedef struct rnnc__dbuf {
    void *ptr;
    size_t cap; /* bytes */
} rnnc__dbuf;

rnnc_status rnnc__dbuf_reserve(rnnc__dbuf *b, size_t bytes);
void rnnc__dbuf_free(rnnc__dbuf *b);

/* A borrowed device tensor header over part of a buffer (never destroyed:
 * bytes == 0 marks it as a view). */
void rnnc__dview(rnnc_dtensor *t, rnnc_dtype dtype, const rnnc_shape *shape, void *data);

/* ---- device tensors (cuda_tensor.c) ------------------------------------ */

rnnc_status rnnc__dtensor_create(rnnc_dtype dtype, const rnnc_shape *shape, rnnc_dtensor **out);
void rnnc__dtensor_destroy(rnnc_dtensor *t);
rnnc_status rnnc__dtensor_upload(rnnc_dtensor *dst, const rnnc_tensor *src);
rnnc_status rnnc__dtensor_download(rnnc_tensor *dst, const rnnc_dtensor *src);
rnnc_status rnnc__dtensor_fill(rnnc_dtensor *t, float v);
rnnc_status rnnc__dtensor_copy(rnnc_dtensor *dst, const rnnc_dtensor *src);
/* "float32 tensor (2, 3, 4)" expectations: RNNC_E_SHAPE / RNNC_E_DTYPE naming `what`. */
rnnc_status rnnc__dtensor_expect(const rnnc_dtensor *t, const char *what, rnnc_dtype dtype,
                                 int ndim, const int64_t *dims);

/* ---- element-wise ops (cuda_ops.c) ------------------------------------ */

rnnc_status rnnc__cuda_activation(rnnc_act a, const rnnc_dtensor *x, rnnc_dtensor *y);
rnnc_status rnnc__cuda_activation_backward(rnnc_act a, const rnnc_dtensor *x,
                                           const rnnc_dtensor *y, const rnnc_dtensor *dy,
                                           rnnc_dtensor *dx);

/* ---- cuBLAS in row-major terms (cuda_blas.c) --------------------------- */

/* C (m x n) = op(A) op(B) + beta C, all row-major with leading dimensions
 * lda, ldb, ldc (as cblas_sgemm with CblasRowMajor). */
rnnc_status rnnc__gemm(rnnc__cuda_ctx *cx, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc);
/* y (n) += column sums of the row-major A (m x n, leading dimension lda),
 * using a device vector of at least m ones. */
rnnc_status rnnc__colsum_add(rnnc__cuda_ctx *cx, int64_t m, int64_t n, const float *A, int64_t lda,
                             const float *ones, float *y);

/* ---- the GRU object (cuda_gru.c, cuda_gru_cudnn.c, cuda_gru_generic.c) -- */

typedef struct rnnc__cudnn_gru rnnc__cudnn_gru; /* cuDNN descriptors and spaces */

/* A step loop captured as a CUDA graph (cuda_gru_generic.c) and the key it
 * was captured for: the sizes, flags and every device pointer it touches.
 * Each loop keeps the graphs of its last RNNC__GRU_GRAPHS keys (a fit
 * alternates a few: full and last batches, training and validation). */
#define RNNC__GRU_GRAPH_KEY 32
#define RNNC__GRU_GRAPHS 4
typedef struct rnnc__gru_graph {
    cudaGraphExec_t exec; /* NULL: none */
    uint64_t used;        /* when it last ran (least recently used goes first) */
    int n;
    uintptr_t key[RNNC__GRU_GRAPH_KEY];
} rnnc__gru_graph;

struct rnnc_cuda_gru {
    rnnc_cuda_gru_config cfg;
    int64_t F, U;
    size_t n_params;      /* F*3U + U*3U + (bias ? 3U or 6U : 0) */
    /* Keras-layout weights and their gradients, each one contiguous
     * [kernel | recurrent_kernel | bias]. */
    rnnc__dbuf wk, gk;
    rnnc_dtensor dkernel, drecurrent, dbias; /* views into gk */
    bool weights_set;
    /* The latest forward. */
    int64_t B, T;
    bool has_forward, trained, backward_done;
    bool masked;                       /* this call had a mask */
    const rnnc_dtensor *x, *h0, *drop; /* borrowed until backward */
    int32_t *lens_host;                /* (B) kept steps per row */
    rnnc__dbuf lens_dev;               /* (B) int32 */
    rnnc__dbuf mask_dev;               /* (B, T) uint8 (generic kernel) */
    rnnc__dbuf ybuf, lastbuf, statebuf, dxbuf, dh0buf;
    rnnc_dtensor y, last, state, dx, dh0; /* views */
    rnnc__dbuf ones;                   /* column sums */
    /* Generic kernel's saved tensors. */
    rnnc__dbuf xd, xw, hs, gates, pre, rh, hr, hh2;
    rnnc__dbuf dxw, dhr, dstate, dhp, dcarry, drh, dhn, dxd;
    /* Graphs of the forward and backward step loops (cfg.use_graphs), the
     * owned copies of the caller's dY and d_last the backward loop reads,
     * and counts tests and the bench read. */
    rnnc__gru_graph gfwd[RNNC__GRU_GRAPHS], gbwd[RNNC__GRU_GRAPHS];
    uint64_t graph_clock;
    rnnc__dbuf dyc, dlastc;
    uint64_t graph_captures, graph_replays, graph_fallbacks;
    uint8_t *mask_host;                /* (B, T) host staging for mask_dev */
    size_t mask_host_cap, lens_host_cap; /* elements */
    /* cuDNN kernel. */
    rnnc__cudnn_gru *cudnn;
};

rnnc_status rnnc__cuda_gru_create(const rnnc_cuda_gru_config *c, rnnc_cuda_gru **out);
void rnnc__cuda_gru_destroy(rnnc_cuda_gru *g);
rnnc_status rnnc__cuda_gru_set_weights(rnnc_cuda_gru *g, const rnnc_dtensor *kernel,
                                       const rnnc_dtensor *recurrent, const rnnc_dtensor *bias);
rnnc_status rnnc__cuda_gru_forward(rnnc_cuda_gru *g, const rnnc_cuda_gru_forward_args *a,
                                   rnnc_cuda_gru_outputs *out);
rnnc_status rnnc__cuda_gru_backward(rnnc_cuda_gru *g, const rnnc_cuda_gru_backward_args *a,
                                    rnnc_cuda_gru_grads *out);
rnnc_status rnnc__cuda_gru_zero_grad(rnnc_cuda_gru *g);

/* The op table (cuda_backend_ops.c) and its GRU op (cuda_backend_gru.c:
 * backend_ops.h's gru_* over the GPU GRU above). */
const rnnc_backend_ops *rnnc__cuda_backend_ops(void);
rnnc_status rnnc__cuda_bgru_create(const rnnc_bgru_config *c, rnnc_bgru **out);
void rnnc__cuda_bgru_destroy(rnnc_bgru *g);
rnnc_status rnnc__cuda_bgru_forward(rnnc_bgru *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                    const rnnc_bbuf *h0, const uint8_t *mask, const rnnc_bbuf *kernel,
                                    const rnnc_bbuf *recurrent_kernel, const rnnc_bbuf *bias,
                                    bool training, rnnc_bbuf *y, rnnc_bbuf *state);
rnnc_status rnnc__cuda_bgru_backward(rnnc_bgru *g, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dh0,
                                     rnnc_bbuf *dkernel, rnnc_bbuf *drecurrent_kernel,
                                     rnnc_bbuf *dbias);

/* The two kernels, called by cuda_gru.c after the shared checks, with g->B,
 * g->T, lens, the output views sized. */
rnnc_status rnnc__cudnn_gru_create(rnnc_cuda_gru *g);
void rnnc__cudnn_gru_destroy(rnnc__cudnn_gru *c);
rnnc_status rnnc__cudnn_gru_set_weights(rnnc_cuda_gru *g);
rnnc_status rnnc__cudnn_gru_forward(rnnc_cuda_gru *g, bool training);
rnnc_status rnnc__cudnn_gru_backward(rnnc_cuda_gru *g, const rnnc_cuda_gru_backward_args *a);
rnnc_status rnnc__generic_gru_forward(rnnc_cuda_gru *g, bool training);
rnnc_status rnnc__generic_gru_backward(rnnc_cuda_gru *g, const rnnc_cuda_gru_backward_args *a);
/* Destroys the step loops' graphs (the GRU's destroy). */
void rnnc__generic_gru_graphs_destroy(rnnc_cuda_gru *g);
/* The process-wide graph counts into out->graph_*. */
void rnnc__generic_gru_graph_stats(rnnc_cuda_stats *out);

#endif
