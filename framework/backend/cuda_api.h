/* cuda_api.h - the CUDA backend's function table and device tensors.
 *
 * Get the table from rnnc_backend_cuda() (framework/backend.h); it exists
 * only in CUDA builds, so nothing outside framework/backend/ links against a
 * CUDA symbol and no caller needs an #ifdef. Every entry returns a status
 * (RNNC_E_NODEV / RNNC_E_NOMEM / RNNC_E_ARG ...) whose message names the
 * failing CUDA, cuBLAS or cuDNN call with its file:line.
 *
 * Execution model: one device (the current one, 0 unless CUDA_VISIBLE_DEVICES
 * says otherwise), one stream, one cuBLAS and one cuDNN handle, created on
 * first use. Everything is queued on that stream; copies to the host wait
 * for it. Device memory comes from a caching allocator: freed blocks are
 * kept and reused, so a training loop with fixed shapes stops calling
 * cudaMalloc after its first step (stats.device_mallocs shows it).
 *
 * Not here: the GRU's argument rules (cuda_gru.h), device selection
 * (backend.h). */
#ifndef RNNC_CUDA_API_H
#define RNNC_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#include "framework/activations.h"
#include "framework/backend/cuda_gru.h"
#include "framework/tensor.h"

/* A contiguous device tensor (float32, int32 or uint8). Open like
 * rnnc_shape: read the fields, never set them. data is a device pointer. */
struct rnnc_dtensor {
    rnnc_dtype dtype;
    rnnc_shape shape;
    size_t numel;
    void *data;   /* device memory, numel elements (NULL when numel == 0) */
    size_t bytes; /* size of the allocator block behind data */
};

typedef struct rnnc_cuda_stats {
    uint64_t device_mallocs;  /* cudaMalloc calls made by the allocator so far */
    uint64_t device_frees;    /* cudaFree calls so far */
    size_t bytes_in_use;      /* handed out and not yet returned */
    size_t bytes_cached;      /* returned and kept for reuse */
    /* The generic GRU's step loops as CUDA graphs (use_graphs), process-wide:
     * loops captured, loops replayed from a kept graph, captures that failed
     * (those loops ran uncaptured). */
    uint64_t graph_captures, graph_replays, graph_fallbacks;
} rnnc_cuda_stats;

typedef struct rnnc_cuda_api rnnc_cuda_api; /* also declared in framework/backend.h */

struct rnnc_cuda_api {
    /* ---- device ---- */
    /* Visible devices; fails with RNNC_E_NODEV and the driver's message when
     * none can be used (no driver, no GPU). */
    rnnc_status (*device_count)(int *n);
    /* "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)" into buf. */
    rnnc_status (*device_describe)(char *buf, size_t cap);
    /* Waits for all queued work; reports asynchronous kernel errors. */
    rnnc_status (*synchronize)(void);
    rnnc_status (*stats)(rnnc_cuda_stats *out);
    /* Returns cached, unused device blocks to the driver. */
    rnnc_status (*release_cache)(void);
    /* Frees the handles, the stream and every cached block (tensors still
     * alive must be destroyed first). The next call starts afresh. */
    void (*shutdown)(void);

    /* ---- device tensors ---- */
    /* Zero-filled; dtype float32, int32 or uint8. Caller destroys. */
    rnnc_status (*tensor_create)(rnnc_dtype dtype, const rnnc_shape *shape, rnnc_dtensor **out);
    void (*tensor_destroy)(rnnc_dtensor *t); /* NULL is a no-op; the block goes back to the cache */
    /* Host -> device (same shape; float32/float64 host data converts to a
     * float32 device tensor; int32/uint8 copy as they are). */
    rnnc_status (*upload)(rnnc_dtensor *dst, const rnnc_tensor *src);
    /* Device -> host (same shape; a float32 device tensor fills a float32 or
     * float64 host tensor). Waits for the stream. */
    rnnc_status (*download)(rnnc_tensor *dst, const rnnc_dtensor *src);
    rnnc_status (*fill)(rnnc_dtensor *t, float v);                  /* float32 */
    rnnc_status (*copy)(rnnc_dtensor *dst, const rnnc_dtensor *src); /* same dtype/numel */

    /* ---- element-wise activations (spec section 10, element-wise ones) ---- */
    /* y = act(x), same shape, float32. */
    rnnc_status (*activation)(rnnc_act a, const rnnc_dtensor *x, rnnc_dtensor *y);
    /* dx += dy * act'(x) (given y = act(x)), float32. */
    rnnc_status (*activation_backward)(rnnc_act a, const rnnc_dtensor *x, const rnnc_dtensor *y,
                                       const rnnc_dtensor *dy, rnnc_dtensor *dx);

    /* ---- GRU (cuda_gru.h) ---- */
    /* Validates the config (RNNC_E_ARG; RNNC_E_UNSUPPORTED naming the
     * condition when the cuDNN kernel cannot serve it). Caller destroys. */
    rnnc_status (*gru_create)(const rnnc_cuda_gru_config *c, rnnc_cuda_gru **out);
    void (*gru_destroy)(rnnc_cuda_gru *g); /* NULL is a no-op */
    /* Keras-layout weights on the device: kernel (F, 3U), recurrent_kernel
     * (U, 3U), bias (2, 3U) when reset_after else (3U,), NULL without bias.
     * Copied (and re-laid out for cuDNN) on the stream: call again after
     * every optimizer step. */
    rnnc_status (*gru_set_weights)(rnnc_cuda_gru *g, const rnnc_dtensor *kernel,
                                   const rnnc_dtensor *recurrent_kernel, const rnnc_dtensor *bias);
    rnnc_status (*gru_forward)(rnnc_cuda_gru *g, const rnnc_cuda_gru_forward_args *a,
                               rnnc_cuda_gru_outputs *out);
    /* After a forward with training=true, once. */
    rnnc_status (*gru_backward)(rnnc_cuda_gru *g, const rnnc_cuda_gru_backward_args *a,
                                rnnc_cuda_gru_grads *out);
    rnnc_status (*gru_zero_grad)(rnnc_cuda_gru *g);

    /* ---- the backend op table (framework/backend_ops.h) ---- */
    const struct rnnc_backend_ops *(*ops)(void);
};

#endif
