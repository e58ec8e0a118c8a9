/* cuda_context.c - the CUDA backend's process-wide context (device, stream,
 * cuBLAS and cuDNN handles, created on first use).
 *
 * Not here: the failure reporters (cuda_errors.c), memory (cuda_alloc.c,
 * which uses the context; the backend's shutdown in cuda_api.c frees both),
 * tensors (cuda_tensor.c). */
#include "framework/backend/cuda/cuda_internal.h"

#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static rnnc__cuda_ctx ctx;
static bool ctx_ready;

rnnc_status rnnc__cuda_device_count(int *n)
{
    *n = 0;
    RNNC_CUDA_CHECK(cudaGetDeviceCount(n));
    return RNNC_OK;
}

/* Creates the handles in order; on a failure destroys what was made. */
static rnnc_status ctx_init(void)
{
    int n = 0;
    RNNC_TRY(rnnc__cuda_device_count(&n));
    if (n < 1)
        return rnnc_fail(RNNC_E_NODEV, "no CUDA device present (the driver reports 0 devices)");
    rnnc__cuda_ctx c = {0};
    RNNC_CUDA_CHECK(cudaGetDevice(&c.device));
    RNNC_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking));
    cublasStatus_t bs = cublasCreate(&c.cublas);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cudaStreamDestroy(c.stream);
        return rnnc__cublas_fail(bs, "cublasCreate(&c.cublas)", __FILE__, __LINE__);
    }
    bs = cublasSetStream(c.cublas, c.stream);
    cudnnStatus_t ds = CUDNN_STATUS_SUCCESS;
    if (bs == CUBLAS_STATUS_SUCCESS)
        ds = cudnnCreate(&c.cudnn);
    if (bs == CUBLAS_STATUS_SUCCESS && ds == CUDNN_STATUS_SUCCESS) {
        ds = cudnnSetStream(c.cudnn, c.stream);
        if (ds != CUDNN_STATUS_SUCCESS)
            cudnnDestroy(c.cudnn);
    }
    if (bs != CUBLAS_STATUS_SUCCESS || ds != CUDNN_STATUS_SUCCESS) {
        cublasDestroy(c.cublas);
        cudaStreamDestroy(c.stream);
        if (bs != CUBLAS_STATUS_SUCCESS)
            return rnnc__cublas_fail(bs, "cublasSetStream(c.cublas, c.stream)", __FILE__,
                                     __LINE__);
        return rnnc__cudnn_fail(ds, "cudnnCreate / cudnnSetStream", __FILE__, __LINE__);
    }
    ctx = c;
    ctx_ready = true;
    return RNNC_OK;
}

rnnc_status rnnc__cuda_ctx_get(rnnc__cuda_ctx **out)
{
    pthread_mutex_lock(&ctx_lock);
    rnnc_status s = ctx_ready ? RNNC_OK : ctx_init();
    pthread_mutex_unlock(&ctx_lock);
    if (s == RNNC_OK)
        *out = &ctx;
    return s;
}

rnnc_status rnnc__cuda_device_describe(char *buf, size_t cap)
{
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    struct cudaDeviceProp p;
    RNNC_CUDA_CHECK(cudaGetDeviceProperties(&p, c->device));
    snprintf(buf, cap, "%s (sm_%d%d, %.0f GiB, cuDNN %zu)", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), cudnnGetVersion());
    return RNNC_OK;
}

rnnc_status rnnc__cuda_synchronize(void)
{
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    RNNC_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return RNNC_OK;
}

/* cuBLAS's documented workspace size for Hopper (4 MiB serves older GPUs). */
#define CUBLAS_WS_BYTES ((size_t)32 << 20)

rnnc_status rnnc__cuda_graph_workspace(rnnc__cuda_ctx *cx)
{
    if (cx->cublas_ws)
        return RNNC_OK;
    void *ws = NULL;
    RNNC_CUDA_CHECK(cudaMalloc(&ws, CUBLAS_WS_BYTES));
    const cublasStatus_t bs = cublasSetWorkspace(cx->cublas, ws, CUBLAS_WS_BYTES);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        cudaFree(ws);
        return rnnc__cublas_fail(bs, "cublasSetWorkspace(cx->cublas, ws, CUBLAS_WS_BYTES)",
                                 __FILE__, __LINE__);
    }
    cx->cublas_ws = ws;
    return RNNC_OK;
}

void rnnc__cuda_ctx_shutdown(void)
{
    pthread_mutex_lock(&ctx_lock);
    if (ctx_ready) {
        cudaStreamSynchronize(ctx.stream);
        cudnnDestroy(ctx.cudnn);
        cublasDestroy(ctx.cublas);
        if (ctx.cublas_ws)
            cudaFree(ctx.cublas_ws);
        ctx.cublas_ws = NULL;
        cudaStreamDestroy(ctx.stream);
        ctx_ready = false;
    }
    pthread_mutex_unlock(&ctx_lock);
}
