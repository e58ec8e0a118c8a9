/* cuda_errors.c - the failure reporters behind the check macros of
 * cuda_internal.h: a CUDA runtime, cuBLAS or cuDNN status as an
 * rnnc_status and one message naming the call and where it was made. */
#include "framework/backend/cuda/cuda_internal.h"

#include <string.h>

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
