/* cuda_context.c - the CUDA backend's process-wide context (device, stream,
 * cuBLAS and cuDNN handles, created on first use) and the failure reporters
 * behind the check macros of cuda_internal.h.
 *
 * Not here: memory (cuda_alloc.c), tensors (cuda_tensor.c). */
#include "framework/backend/cuda/cuda_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static rnnc__cuda_ctx ctx;
static bool ctx_ready;

/* Paths are long; the file name after the last "framework/" says enough. */
static const char *short_path(const char *file)
{
    const char *p = strstr(file, "framework/");
    return p ? p : file;
}

rnnc_status rnnc__cuda_fail(cudaError_t e, const char *call, const char *file, int line)
{
    rnnc_status s = RNNC_E_STATE;
    if (e == cudaErrorMemoryAllocation)
        s = RNNC_E_NOMEM;
    else if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ||
             e == cudaErrorInvalidDevice || e == cudaErrorDevicesUnavailable ||
             e == cudaErrorSystemDriverMismatch || e == cudaErrorCompatNotSupportedOnDevice)
        s = RNNC_E_NODEV;
    /* Clear the sticky "last error" of non-fatal failures so the next call
     * does not report this one again. */
    (void)cudaGetLastError();
    return rnnc_fail(s, "%s failed: %s (%s) at %s:%d", call, cudaGetErrorString(e),
                     cudaGetErrorName(e), short_path(file), line);
}

rnnc_status rnnc__cublas_fail(cublasStatus_t e, const char *call, const char *file, int line)
{
    rnnc_status s = e == CUBLAS_STATUS_ALLOC_FAILED ? RNNC_E_NOMEM : RNNC_E_STATE;
    return rnnc_fail(s, "%s failed: %s (cuBLAS status %d) at %s:%d", call,
                     cublasGetStatusString(e), (int)e, short_path(file), line);
}

rnnc_status rnnc__cudnn_fail(cudnnStatus_t e, const char *call, const char *file, int line)
{
    rnnc_status s = e == CUDNN_STATUS_ALLOC_FAILED ? RNNC_E_NOMEM
                  : e == CUDNN_STATUS_NOT_SUPPORTED ? RNNC_E_UNSUPPORTED
                  : e == CUDNN_STATUS_BAD_PARAM ? RNNC_E_ARG
                                                : RNNC_E_STATE;
    return rnnc_fail(s, "%s failed: %s (cuDNN status %d) at %s:%d", call, cudnnGetErrorString(e),
                     (int)e, short_path(file), line);
}

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

void rnnc__cuda_shutdown(void)
{
    pthread_mutex_lock(&ctx_lock);
    if (ctx_ready) {
        cudaStreamSynchronize(ctx.stream);
        cudnnDestroy(ctx.cudnn);
        cublasDestroy(ctx.cublas);
        cudaStreamDestroy(ctx.stream);
        ctx_ready = false;
    }
    pthread_mutex_unlock(&ctx_lock);
    rnnc__cuda_alloc_shutdown();
}
