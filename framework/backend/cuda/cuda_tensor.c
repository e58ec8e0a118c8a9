/* cuda_tensor.c - device tensors: create/destroy through the caching
 * allocator, host <-> device copies (float64 host data converts to and
 * from float32), fill, copy, and shape/dtype expectations for argument
 * checks. Copies run on the backend's stream and wait for it, so the host
 * buffer is free to change when they return. */
#include "framework/backend/cuda/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#include "framework/backend/cuda/cuda_kernels.h"

static bool device_dtype_ok(rnnc_dtype t)
{
    return t == RNNC_F32 || t == RNNC_I32 || t == RNNC_U8;
}

rnnc_status rnnc__dtensor_create(rnnc_dtype dtype, const rnnc_shape *shape, rnnc_dtensor **out)
{
    if (!device_dtype_ok(dtype))
        return rnnc_fail(RNNC_E_DTYPE, "CUDA tensor: dtype %s not supported on the GPU "
                                       "(float32, int32, uint8)",
                         rnnc_dtype_name(dtype));
    size_t n;
    RNNC_TRY(rnnc_shape_numel(shape, &n));
    const size_t esz = rnnc_dtype_size(dtype);
    if (n > (size_t)-1 / esz)
        return rnnc_fail(RNNC_E_SHAPE, "CUDA tensor: too many elements");
    rnnc_dtensor *t = calloc(1, sizeof *t);
    if (!t)
        return rnnc_fail(RNNC_E_NOMEM, "CUDA tensor: out of host memory");
    t->dtype = dtype;
    t->shape = *shape;
    t->numel = n;
    if (n) {
        size_t got;
        rnnc_status s = rnnc__cuda_alloc(n * esz, &t->data, &got);
        if (s != RNNC_OK) {
            free(t);
            return s;
        }
        t->bytes = got;
        rnnc__cuda_ctx *c;
        s = rnnc__cuda_ctx_get(&c);
        if (s == RNNC_OK) {
            cudaError_t e = cudaMemsetAsync(t->data, 0, n * esz, c->stream);
            if (e != cudaSuccess)
                s = rnnc__cuda_fail(e, "cudaMemsetAsync(t->data, 0, n * esz, c->stream)",
                                    __FILE__, __LINE__);
        }
        if (s != RNNC_OK) {
            rnnc__cuda_free(t->data);
            free(t);
            return s;
        }
    }
    *out = t;
    return RNNC_OK;
}

void rnnc__dtensor_destroy(rnnc_dtensor *t)
{
    if (!t)
        return;
    if (t->bytes) /* views (bytes == 0) belong to their owner */
        rnnc__cuda_free(t->data);
    free(t);
}

static rnnc_status same_shape(const rnnc_shape *a, const rnnc_shape *b, const char *what)
{
    if (rnnc_shape_eq(a, b))
        return RNNC_OK;
    char sa[96], sb[96];
    return rnnc_fail(RNNC_E_SHAPE, "%s: shapes differ, device %s vs host %s", what,
                     rnnc_shape_str(a, sa, sizeof sa), rnnc_shape_str(b, sb, sizeof sb));
}

rnnc_status rnnc__dtensor_upload(rnnc_dtensor *dst, const rnnc_tensor *src)
{
    RNNC_TRY(same_shape(&dst->shape, &src->shape, "CUDA upload"));
    const bool fl = dst->dtype == RNNC_F32 && (src->dtype == RNNC_F32 || src->dtype == RNNC_F64);
    if (!fl && dst->dtype != src->dtype)
        return rnnc_fail(RNNC_E_DTYPE, "CUDA upload: host %s into device %s",
                         rnnc_dtype_name(src->dtype), rnnc_dtype_name(dst->dtype));
    if (!dst->numel)
        return RNNC_OK;
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    const void *host = src->data;
    float *tmp = NULL;
    if (src->dtype == RNNC_F64) {
        tmp = malloc(dst->numel * sizeof *tmp);
        if (!tmp)
            return rnnc_fail(RNNC_E_NOMEM, "CUDA upload: out of host memory");
        for (size_t i = 0; i < dst->numel; i++)
            tmp[i] = (float)((const double *)src->data)[i];
        host = tmp;
    }
    const size_t bytes = dst->numel * rnnc_dtype_size(dst->dtype);
    cudaError_t e = cudaMemcpyAsync(dst->data, host, bytes, cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    free(tmp);
    if (e != cudaSuccess)
        return rnnc__cuda_fail(e, "cudaMemcpyAsync(host -> device) + cudaStreamSynchronize",
                               __FILE__, __LINE__);
    return RNNC_OK;
}

rnnc_status rnnc__dtensor_download(rnnc_tensor *dst, const rnnc_dtensor *src)
{
    RNNC_TRY(same_shape(&src->shape, &dst->shape, "CUDA download"));
    const bool fl = src->dtype == RNNC_F32 && (dst->dtype == RNNC_F32 || dst->dtype == RNNC_F64);
    if (!fl && dst->dtype != src->dtype)
        return rnnc_fail(RNNC_E_DTYPE, "CUDA download: device %s into host %s",
                         rnnc_dtype_name(src->dtype), rnnc_dtype_name(dst->dtype));
    if (!src->numel)
        return RNNC_OK;
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    float *tmp = NULL;
    void *host = dst->data;
    if (dst->dtype == RNNC_F64) {
        tmp = malloc(src->numel * sizeof *tmp);
        if (!tmp)
            return rnnc_fail(RNNC_E_NOMEM, "CUDA download: out of host memory");
        host = tmp;
    }
    const size_t bytes = src->numel * rnnc_dtype_size(src->dtype);
    cudaError_t e = cudaMemcpyAsync(host, src->data, bytes, cudaMemcpyDeviceToHost, c->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(c->stream);
    if (e == cudaSuccess && tmp)
        for (size_t i = 0; i < src->numel; i++)
            ((double *)dst->data)[i] = (double)tmp[i];
    free(tmp);
    if (e != cudaSuccess)
        return rnnc__cuda_fail(e, "cudaMemcpyAsync(device -> host) + cudaStreamSynchronize",
                               __FILE__, __LINE__);
    return RNNC_OK;
}

rnnc_status rnnc__dtensor_fill(rnnc_dtensor *t, float v)
{
    if (t->dtype != RNNC_F32)
        return rnnc_fail(RNNC_E_DTYPE, "CUDA fill: float32 tensor expected, got %s",
                         rnnc_dtype_name(t->dtype));
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    RNNC_CUDA_CHECK(rnnc__k_fill(c->stream, t->data, t->numel, v));
    return RNNC_OK;
}

rnnc_status rnnc__dtensor_copy(rnnc_dtensor *dst, const rnnc_dtensor *src)
{
    if (dst->dtype != src->dtype || dst->numel != src->numel)
        return rnnc_fail(RNNC_E_SHAPE, "CUDA copy: %zu %s elements into %zu %s elements",
                         src->numel, rnnc_dtype_name(src->dtype), dst->numel,
                         rnnc_dtype_name(dst->dtype));
    if (!dst->numel || dst->data == src->data)
        return RNNC_OK;
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    RNNC_CUDA_CHECK(cudaMemcpyAsync(dst->data, src->data, dst->numel * rnnc_dtype_size(dst->dtype),
                                    cudaMemcpyDeviceToDevice, c->stream));
    return RNNC_OK;
}

rnnc_status rnnc__dtensor_expect(const rnnc_dtensor *t, const char *what, rnnc_dtype dtype,
                                 int ndim, const int64_t *dims)
{
    if (!t)
        return rnnc_fail(RNNC_E_ARG, "%s: missing (NULL) device tensor", what);
    if (t->dtype != dtype)
        return rnnc_fail(RNNC_E_DTYPE, "%s: expected %s, got %s", what, rnnc_dtype_name(dtype),
                         rnnc_dtype_name(t->dtype));
    rnnc_shape want = rnnc_shape_of(dims, ndim);
    if (!rnnc_shape_eq(&t->shape, &want)) {
        char sa[96], sb[96];
        return rnnc_fail(RNNC_E_SHAPE, "%s: expected shape %s, got %s", what,
                         rnnc_shape_str(&want, sa, sizeof sa),
                         rnnc_shape_str(&t->shape, sb, sizeof sb));
    }
    return RNNC_OK;
}
