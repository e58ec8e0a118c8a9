/* cuda_backend_ops.c - the CUDA backend of the op table
 * (framework/backend_ops.h): device buffers from the caching allocator,
 * cuBLAS for matmul (cuda_blas.c's row-major gemm), and the kernels of
 * cuda_ops_kernels.cu / cuda_kernels.cu for the rest, the GRU op through
 * cuda_backend_gru.c (the GPU GRU of cuda_gru.c). The argument checks
 * are the CPU backend's (backend_ops_internal.h), so both fail alike.
 * Everything is queued on the context's one stream; download waits. */
#include "framework/backend/cuda/cuda_internal.h"

#include <stdlib.h>

#include "framework/backend/cuda/cuda_kernels.h"
#include "framework/backend/cuda/cuda_lstm_kernels.h"
#include "framework/backend/cuda/cuda_ops_kernels.h"
#include "framework/backend_ops.h"
#include "framework/backend_ops_internal.h"

_Static_assert(RNNC_BIN_ADD == RNNC__K_BIN_ADD && RNNC_BIN_SUB == RNNC__K_BIN_SUB &&
                   RNNC_BIN_MUL == RNNC__K_BIN_MUL && RNNC_RED_MEAN == RNNC__K_RED_MEAN,
               "cuda_ops_math.h's op numbers");
_Static_assert(RNNC_BLOSS_MSE == RNNC__K_LOSS_MSE && RNNC_BLOSS_BCE == RNNC__K_LOSS_BCE &&
                   RNNC_BLOSS_CCE == RNNC__K_LOSS_CCE && RNNC_BLOSS_SCCE == RNNC__K_LOSS_SCCE,
               "cuda_ops_math.h's loss numbers");
_Static_assert(RNNC_BMETRIC_MAE == RNNC__K_METRIC_MAE && RNNC_BMETRIC_MSE == RNNC__K_METRIC_MSE &&
                   RNNC_BMETRIC_ACCURACY == RNNC__K_METRIC_ACCURACY &&
                   RNNC_BMETRIC_BINARY_ACCURACY == RNNC__K_METRIC_BINARY_ACCURACY &&
                   RNNC_BMETRIC_CATEGORICAL_ACCURACY == RNNC__K_METRIC_CATEGORICAL_ACCURACY &&
                   RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY ==
                       RNNC__K_METRIC_SPARSE_CATEGORICAL_ACCURACY,
               "cuda_ops_math.h's metric numbers");

static const rnnc_backend_ops cuda_ops;
#define BE (&cuda_ops)

static rnnc_status bo_stream(cudaStream_t *s)
{
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    *s = c->stream;
    return RNNC_OK;
}

static rnnc_status cuda_alloc(rnnc_dtype dtype, size_t n, rnnc_bbuf **out)
{
    rnnc_bbuf *b;
    RNNC_TRY(rnnc__bbuf_header(BE, dtype, n, &b));
    if (n) {
        size_t got;
        rnnc_status s = rnnc__cuda_alloc(n * rnnc_dtype_size(dtype), &b->data, &got);
        if (s != RNNC_OK) {
            free(b);
            return s;
        }
    }
    *out = b;
    return RNNC_OK;
}

static void cuda_free(rnnc_bbuf *b)
{
    if (!b)
        return;
    rnnc__cuda_free(b->data);
    free(b);
}

static rnnc_status bo_memcpy_sync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind)
{
    cudaStream_t s;
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, s));
    RNNC_CUDA_CHECK(cudaStreamSynchronize(s));
    return RNNC_OK;
}

static rnnc_status cuda_upload(rnnc_bbuf *dst, const void *host)
{
    RNNC_TRY(rnnc__transfer_check(BE, "upload", "dst", dst, host));
    if (!dst->n)
        return RNNC_OK;
    return bo_memcpy_sync(dst->data, host, dst->n * rnnc_dtype_size(dst->dtype), cudaMemcpyHostToDevice);
}

static rnnc_status cuda_download(void *host, const rnnc_bbuf *src)
{
    RNNC_TRY(rnnc__transfer_check(BE, "download", "src", src, host));
    if (!src->n)
        return RNNC_OK;
    return bo_memcpy_sync(host, src->data, src->n * rnnc_dtype_size(src->dtype), cudaMemcpyDeviceToHost);
}

static rnnc_status cuda_fill(rnnc_bbuf *b, float v)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__bop_check(BE, "fill", "b", b, RNNC_F32, SIZE_MAX));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_fill(s, b->data, b->n, v));
    return RNNC_OK;
}

static rnnc_status cuda_copy(rnnc_bbuf *dst, const rnnc_bbuf *src)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__bop_check(BE, "copy", "src", src, src ? src->dtype : RNNC_F32, SIZE_MAX));
    RNNC_TRY(rnnc__bop_check(BE, "copy", "dst", dst, src->dtype, src->n));
    if (!src->n || dst == src)
        return RNNC_OK;
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(cudaMemcpyAsync(dst->data, src->data, src->n * rnnc_dtype_size(src->dtype),
                                    cudaMemcpyDeviceToDevice, s));
    return RNNC_OK;
}

static rnnc_status cuda_matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                               const rnnc_bbuf *a, const rnnc_bbuf *b, float beta, rnnc_bbuf *c)
{
    RNNC_TRY(rnnc__matmul_check(BE, ta, tb, m, n, k, a, b, beta, c));
    if (m == 0 || n == 0)
        return RNNC_OK;
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    if (k == 0) {
        if (beta == 0.0f)
            RNNC_CUDA_CHECK(rnnc__k_fill(cx->stream, c->data, c->n, 0.0f));
        return RNNC_OK;
    }
    return rnnc__gemm(cx, ta, tb, m, n, k, a->data, ta ? m : k, b->data, tb ? k : n, beta, c->data,
                      n);
}

static rnnc_status cuda_bias_add(int64_t rows, int64_t cols, const rnnc_bbuf *x,
                                 const rnnc_bbuf *bias, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__bias_add_check(BE, rows, cols, x, bias, y));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_bias_add(s, y->data, x->data, bias->data, rows, cols));
    return RNNC_OK;
}

static rnnc_status cuda_binary(rnnc_binop op, const rnnc_bbuf *a, const rnnc_bbuf *b, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__binary_check(BE, op, a, b, y));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_binary(s, (int)op, a->data, b->data, y->data, a->n));
    return RNNC_OK;
}

static rnnc_status cuda_activation(rnnc_act a, const rnnc_bbuf *x, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__act_check(BE, "activation", a, x, y, NULL, NULL));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_activation(s, (int)a, x->data, y->data, x->n));
    return RNNC_OK;
}

static rnnc_status cuda_activation_backward(rnnc_act a, const rnnc_bbuf *x, const rnnc_bbuf *y,
                                            const rnnc_bbuf *dy, rnnc_bbuf *dx)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__act_check(BE, "activation_backward", a, x, y, dy, dx));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_activation_backward(s, (int)a, x->data, y->data, dy->data, dx->data,
                                                x->n));
    return RNNC_OK;
}

static rnnc_status cuda_softmax(int64_t rows, int64_t cols, const rnnc_bbuf *x, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__rows_check(BE, "softmax", rows, cols, x, y, NULL));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_softmax(s, x->data, y->data, rows, cols));
    return RNNC_OK;
}

static rnnc_status cuda_softmax_backward(int64_t rows, int64_t cols, const rnnc_bbuf *y,
                                         const rnnc_bbuf *dy, rnnc_bbuf *dx)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__rows_check(BE, "softmax_backward", rows, cols, y, dy, dx));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_softmax_backward(s, y->data, dy->data, dx->data, rows, cols));
    return RNNC_OK;
}

static rnnc_status cuda_reduce(rnnc_redop op, int64_t outer, int64_t len, int64_t inner,
                               const rnnc_bbuf *x, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__reduce_check(BE, op, outer, len, inner, x, y));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_reduce(s, (int)op, x->data, y->data, outer, len, inner));
    return RNNC_OK;
}

static rnnc_status cuda_loss(rnnc_bloss kind, bool from_logits, int64_t rows, int64_t cols,
                             const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred, rnnc_bbuf *values,
                             rnnc_bbuf *grad, float scale)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__loss_check(BE, kind, rows, cols, y_true, y_pred, values, grad));
    RNNC_TRY(bo_stream(&s));
    const bool sparse = kind == RNNC_BLOSS_SCCE;
    const rnnc__loss_kargs a = {
        .kind = (int)kind,
        .from_logits = from_logits,
        .rows = rows,
        .cols = cols,
        .t = sparse ? NULL : y_true->data,
        .ids = sparse ? y_true->data : NULL,
        .p = y_pred->data,
        .values = values->data,
        .grad = grad ? grad->data : NULL,
        .scale = scale,
    };
    RNNC_CUDA_CHECK(rnnc__k_loss(s, a));
    return RNNC_OK;
}

static rnnc_status cuda_sgd(const rnnc_sgd_params *p, rnnc_bbuf *w, const rnnc_bbuf *g,
                            rnnc_bbuf *m)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__sgd_check(BE, p, w, g, m));
    RNNC_TRY(bo_stream(&s));
    const rnnc__sgd_kargs a = {p->lr, p->momentum, p->nesterov};
    RNNC_CUDA_CHECK(rnnc__k_sgd(s, a, w->data, g->data, p->momentum != 0.0f ? m->data : NULL, w->n));
    return RNNC_OK;
}

static rnnc_status cuda_adam(const rnnc_adam_params *p, rnnc_bbuf *w, const rnnc_bbuf *g,
                             rnnc_bbuf *m, rnnc_bbuf *v, rnnc_bbuf *vhat, const rnnc_bbuf *g_sq)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__adam_check(BE, p, w, g, m, v, vhat, g_sq));
    RNNC_TRY(bo_stream(&s));
    const rnnc__adam_consts k = rnnc__adam_consts_of(p);
    const rnnc__adam_kargs a = {k.alpha, k.c1,        k.c2, k.eps, k.wd, k.lr,
                                p->amsgrad, p->weight_decay != 0.0};
    RNNC_CUDA_CHECK(rnnc__k_adam(s, a, w->data, g->data, g_sq ? g_sq->data : NULL, m->data, v->data,
                                 p->amsgrad ? vhat->data : NULL, w->n));
    return RNNC_OK;
}

static rnnc_status cuda_scale_rows(int64_t rows, int64_t cols, const rnnc_bbuf *w, float alpha,
                                   const rnnc_bbuf *x, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__scale_rows_check(BE, rows, cols, w, x, y));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_scale_rows(s, y->data, x->data, w ? w->data : NULL, alpha, rows, cols));
    return RNNC_OK;
}

static rnnc_status cuda_mul_bcast(int64_t outer, int64_t mid, int64_t inner, const rnnc_bbuf *x,
                                  const rnnc_bbuf *w, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__mul_bcast_check(BE, outer, mid, inner, x, w, y));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_mul_bcast(s, y->data, x->data, w->data, outer, mid, inner));
    return RNNC_OK;
}

/* gather (scatter false) and scatter_add (true) of table rows by id. */
static rnnc_status rows_by_id(bool scatter, int64_t rows, int64_t dim, const rnnc_bbuf *table,
                              const rnnc_bbuf *ids, const rnnc_bbuf *rows_buf)
{
    cudaStream_t s;
    size_t n;
    RNNC_TRY(rnnc__rows_index_check(BE, scatter, rows, dim, table, ids, rows_buf, &n));
    RNNC_TRY(bo_stream(&s));
    if (scatter)
        RNNC_CUDA_CHECK(rnnc__k_scatter_add_rows(s, table->data, rows_buf->data, ids->data, rows,
                                                 dim, n));
    else
        RNNC_CUDA_CHECK(rnnc__k_gather_rows(s, rows_buf->data, table->data, ids->data, rows, dim, n));
    return RNNC_OK;
}

/* Out-of-range ids: a zero row (no host check; backend_ops.h). */
static rnnc_status cuda_gather_rows(int64_t rows, int64_t dim, const rnnc_bbuf *table,
                                    const rnnc_bbuf *ids, rnnc_bbuf *out)
{
    return rows_by_id(false, rows, dim, table, ids, out);
}

/* atomicAdd: the order of a row's additions, so its last bits, may vary. */
static rnnc_status cuda_scatter_add_rows(int64_t rows, int64_t dim, const rnnc_bbuf *ids,
                                         const rnnc_bbuf *dy, rnnc_bbuf *dtable)
{
    return rows_by_id(true, rows, dim, dtable, ids, dy);
}

static rnnc_status cuda_metric(rnnc_bmetric kind, float threshold, int64_t rows, int64_t cols,
                               const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred, rnnc_bbuf *values)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__metric_check(BE, kind, rows, cols, y_true, y_pred, values));
    RNNC_TRY(bo_stream(&s));
    const bool sparse = kind == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY;
    const rnnc__metric_kargs a = {
        .kind = (int)kind,
        .threshold = threshold,
        .rows = rows,
        .cols = cols,
        .t = sparse ? NULL : y_true->data,
        .ids = sparse ? y_true->data : NULL,
        .p = y_pred->data,
        .values = values->data,
    };
    RNNC_CUDA_CHECK(rnnc__k_metric(s, a));
    return RNNC_OK;
}

static rnnc_status cuda_copy_block(int64_t rows, int64_t width, const rnnc_bbuf *src, int64_t src_cols,
                                   int64_t src_off, rnnc_bbuf *dst, int64_t dst_cols, int64_t dst_off,
                                   bool accumulate)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__copy_block_check(BE, rows, width, src, src_cols, src_off, dst, dst_cols, dst_off));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_copy_block(s, dst->data, src->data, rows, width, src_cols, src_off, dst_cols,
                                       dst_off, accumulate ? 1 : 0));
    return RNNC_OK;
}

static rnnc_status cuda_reverse_time(int64_t B, int64_t T, int64_t C, const rnnc_bbuf *x, rnnc_bbuf *y)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__reverse_time_check(BE, B, T, C, x, y));
    RNNC_TRY(bo_stream(&s));
    RNNC_CUDA_CHECK(rnnc__k_reverse_time(s, y->data, x->data, B, T, C));
    return RNNC_OK;
}

static rnnc_status cuda_layer_norm(int64_t rows, int64_t cols, double epsilon, bool rms, const rnnc_bbuf *x,
                                   const rnnc_bbuf *gamma, const rnnc_bbuf *beta, rnnc_bbuf *y, rnnc_bbuf *mean,
                                   rnnc_bbuf *inv)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__layer_norm_check(BE, true, rows, cols, rms, x, gamma, beta, y, mean, inv, NULL, NULL, NULL));
    RNNC_TRY(bo_stream(&s));
    const rnnc__ln_kargs a = {
        .rows = rows, .cols = cols, .epsilon = epsilon, .rms = rms ? 1 : 0,
        .x = x->data, .gamma = gamma ? gamma->data : NULL, .beta = beta ? beta->data : NULL,
        .y = y->data, .mean = mean->data, .inv = inv->data,
    };
    RNNC_CUDA_CHECK(rnnc__k_layer_norm(s, a));
    return RNNC_OK;
}

static rnnc_status cuda_layer_norm_backward(int64_t rows, int64_t cols, bool rms, const rnnc_bbuf *x,
                                            const rnnc_bbuf *gamma, const rnnc_bbuf *mean, const rnnc_bbuf *inv,
                                            const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma, rnnc_bbuf *dbeta)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__layer_norm_check(BE, false, rows, cols, rms, x, gamma, dbeta, NULL, mean, inv, dy, dx, dgamma));
    RNNC_TRY(bo_stream(&s));
    const rnnc__ln_kargs a = {
        .rows = rows, .cols = cols, .rms = rms ? 1 : 0,
        .x = x->data, .gamma = gamma ? gamma->data : NULL,
        .mean = mean->data, .inv = inv->data, .dy = dy->data,
        .dx = dx ? dx->data : NULL, .dgamma = dgamma ? dgamma->data : NULL, .dbeta = dbeta ? dbeta->data : NULL,
    };
    RNNC_CUDA_CHECK(rnnc__k_layer_norm_backward(s, a));
    return RNNC_OK;
}

static rnnc_status cuda_batch_norm(int64_t rows, int64_t cols, double epsilon, double momentum, bool training,
                                   const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *beta,
                                   rnnc_bbuf *moving_mean, rnnc_bbuf *moving_var, rnnc_bbuf *y, rnnc_bbuf *mean,
                                   rnnc_bbuf *den)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__batch_norm_check(BE, true, rows, cols, x, w, gamma, beta, moving_mean, moving_var, y, mean, den,
                                    NULL, NULL, NULL, NULL));
    RNNC_TRY(bo_stream(&s));
    const rnnc__bn_kargs a = {
        .rows = rows, .cols = cols, .epsilon = epsilon, .momentum = momentum, .training = training ? 1 : 0,
        .x = x->data, .w = w ? w->data : NULL, .gamma = gamma ? gamma->data : NULL,
        .beta = beta ? beta->data : NULL, .moving_mean = moving_mean->data, .moving_var = moving_var->data,
        .y = y->data, .mean = mean->data, .den = den->data,
    };
    RNNC_CUDA_CHECK(rnnc__k_batch_norm(s, a));
    return RNNC_OK;
}

static rnnc_status cuda_batch_norm_backward(int64_t rows, int64_t cols, bool training, const rnnc_bbuf *x,
                                            const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *mean,
                                            const rnnc_bbuf *den, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma,
                                            rnnc_bbuf *dbeta)
{
    cudaStream_t s;
    RNNC_TRY(rnnc__batch_norm_check(BE, false, rows, cols, x, w, gamma, NULL, NULL, NULL, NULL, mean, den, dy, dx,
                                    dgamma, dbeta));
    RNNC_TRY(bo_stream(&s));
    const rnnc__bn_kargs a = {
        .rows = rows, .cols = cols, .training = training ? 1 : 0,
        .x = x->data, .w = w ? w->data : NULL, .gamma = gamma ? gamma->data : NULL,
        .mean = mean->data, .den = den->data, .dy = dy->data, .dx = dx ? dx->data : NULL,
        .dgamma = dgamma ? dgamma->data : NULL, .dbeta = dbeta ? dbeta->data : NULL,
    };
    RNNC_CUDA_CHECK(rnnc__k_batch_norm_backward(s, a));
    return RNNC_OK;
}

static const rnnc_backend_ops cuda_ops = {
    .name = "cuda",
    .device = RNNC_DEVICE_CUDA,
    .supports = rnnc__bop_supports_f32,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .fill = cuda_fill,
    .copy = cuda_copy,
    .matmul = cuda_matmul,
    .bias_add = cuda_bias_add,
    .binary = cuda_binary,
    .activation = cuda_activation,
    .activation_backward = cuda_activation_backward,
    .softmax = cuda_softmax,
    .softmax_backward = cuda_softmax_backward,
    .reduce = cuda_reduce,
    .loss = cuda_loss,
    .sgd = cuda_sgd,
    .adam = cuda_adam,
    .scale_rows = cuda_scale_rows,
    .mul_bcast = cuda_mul_bcast,
    .gather_rows = cuda_gather_rows,
    .scatter_add_rows = cuda_scatter_add_rows,
    .metric = cuda_metric,
    .gru_create = rnnc__cuda_bgru_create,
    .gru_destroy = rnnc__cuda_bgru_destroy,
    .gru_forward = rnnc__cuda_bgru_forward,
    .gru_backward = rnnc__cuda_bgru_backward,
    .lstm_create = rnnc__cuda_blstm_create,
    .lstm_destroy = rnnc__cuda_blstm_destroy,
    .lstm_forward = rnnc__cuda_blstm_forward,
    .lstm_backward = rnnc__cuda_blstm_backward,
    .copy_block = cuda_copy_block,
    .reverse_time = cuda_reverse_time,
    .layer_norm = cuda_layer_norm,
    .layer_norm_backward = cuda_layer_norm_backward,
    .batch_norm = cuda_batch_norm,
    .batch_norm_backward = cuda_batch_norm_backward,
};

const rnnc_backend_ops *rnnc__cuda_backend_ops(void)
{
    return &cuda_ops;
}
