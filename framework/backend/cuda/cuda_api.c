/* cuda_api.c - the CUDA backend's function table (framework/backend/cuda_api.h),
 * handed to framework/backend.c, the registry. Thin adapters only. */
#include "framework/backend/cuda/cuda_internal.h"

const rnnc_cuda_api *rnnc__cuda_api(void);
const struct rnnc_backend_ops *rnnc__cuda_backend_ops(void); /* cuda_backend_ops.c */

static rnnc_status api_device_count(int *n)
{
    return rnnc__cuda_device_count(n);
}

/* The context first (it waits for queued work), then the memory. */
static void api_shutdown(void)
{
    rnnc__cuda_ctx_shutdown();
    rnnc__cuda_alloc_shutdown();
}

static rnnc_status api_stats(rnnc_cuda_stats *out)
{
    RNNC_TRY(rnnc__cuda_alloc_stats(out));
    rnnc__generic_gru_graph_stats(out);
    return RNNC_OK;
}

static const rnnc_cuda_api api = {
    .device_count = api_device_count,
    .device_describe = rnnc__cuda_device_describe,
    .synchronize = rnnc__cuda_synchronize,
    .stats = api_stats,
    .release_cache = rnnc__cuda_release_cache,
    .shutdown = api_shutdown,
    .tensor_create = rnnc__dtensor_create,
    .tensor_destroy = rnnc__dtensor_destroy,
    .upload = rnnc__dtensor_upload,
    .download = rnnc__dtensor_download,
    .fill = rnnc__dtensor_fill,
    .copy = rnnc__dtensor_copy,
    .activation = rnnc__cuda_activation,
    .activation_backward = rnnc__cuda_activation_backward,
    .gru_create = rnnc__cuda_gru_create,
    .gru_destroy = rnnc__cuda_gru_destroy,
    .gru_set_weights = rnnc__cuda_gru_set_weights,
    .gru_forward = rnnc__cuda_gru_forward,
    .gru_backward = rnnc__cuda_gru_backward,
    .gru_zero_grad = rnnc__cuda_gru_zero_grad,
    .ops = rnnc__cuda_backend_ops,
};

const rnnc_cuda_api *rnnc__cuda_api(void)
{
    return &api;
}
