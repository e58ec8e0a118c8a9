/* cuda_ops_kernels.cu - the op table's CUDA kernels and their launchers
 * (contracts in cuda_ops_kernels.h). Each kernel is a grid-stride loop over
 * one body of cuda_ops_math.h, the plain-C file the CPU emulation runs too
 * (tests/cuda_emu/cuda_emu.c, tests/cuda_emu/cuda_emu_train.c). Row kernels
 * (softmax, loss, metric) give each row one thread: simple and exact to the
 * bodies; not tuned for wide rows. scatter_add_rows adds with atomicAdd, so
 * the order of a row's additions (its last bits) varies run to run. */
#include "framework/backend/cuda/cuda_launch.h"
#include "framework/backend/cuda/cuda_ops_math.h"

__global__ void k_bias_add(float *y, const float *x, const float *bias, int64_t cols, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_bias_add(y, x, bias, cols, i);
}

__global__ void k_binary(int op, const float *a, const float *b, float *y, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_binary(op, a, b, y, i);
}

__global__ void k_softmax(const float *x, float *y, int64_t cols, size_t rows)
{
    GRID_STRIDE(r, rows) rnnc__b_softmax_row(x, y, cols, r);
}

__global__ void k_softmax_backward(const float *y, const float *dy, float *dx, int64_t cols,
                                   size_t rows)
{
    GRID_STRIDE(r, rows) rnnc__b_softmax_bwd_row(y, dy, dx, cols, r);
}

__global__ void k_reduce(int op, const float *x, float *y, int64_t len, int64_t inner, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_reduce(op, x, y, len, inner, i);
}

__global__ void k_loss(rnnc__loss_kargs a)
{
    GRID_STRIDE(r, (size_t)a.rows) rnnc__b_loss_row(&a, r);
}

__global__ void k_sgd(rnnc__sgd_kargs a, float *w, const float *g, float *m, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_sgd(&a, w, g, m, i);
}

__global__ void k_adam(rnnc__adam_kargs a, float *w, const float *g, const float *gsq, float *m, float *v,
                       float *vhat, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_adam(&a, w, g, gsq, m, v, vhat, i);
}

__global__ void k_scale_rows(float *y, const float *x, const float *w, float alpha, int64_t cols,
                             size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_scale_rows(y, x, w, alpha, cols, i);
}

__global__ void k_mul_bcast(float *y, const float *x, const float *w, int64_t mid, int64_t inner, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_mul_bcast(y, x, w, mid, inner, i);
}

__global__ void k_gather_rows(float *out, const float *table, const int32_t *ids, int64_t rows,
                              int64_t dim, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_gather_rows(out, table, ids, rows, dim, i);
}

__global__ void k_copy_block(float *dst, const float *src, int64_t width, int64_t src_cols,
                             int64_t src_off, int64_t dst_cols, int64_t dst_off, int accumulate,
                             size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_copy_block(dst, src, width, src_cols, src_off, dst_cols, dst_off, accumulate, i);
}

__global__ void k_reverse_time(float *y, const float *x, int64_t T, int64_t C, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_reverse_time(y, x, T, C, i);
}

__global__ void k_layer_norm(rnnc__ln_kargs a)
{
    GRID_STRIDE(r, (size_t)a.rows) rnnc__b_layer_norm_row(&a, r);
}

__global__ void k_layer_norm_bwd_rows(rnnc__ln_kargs a)
{
    GRID_STRIDE(r, (size_t)a.rows) rnnc__b_layer_norm_bwd_row(&a, r);
}

__global__ void k_layer_norm_bwd_cols(rnnc__ln_kargs a)
{
    GRID_STRIDE(c, (size_t)a.cols) rnnc__b_layer_norm_bwd_col(&a, c);
}

__global__ void k_batch_norm(rnnc__bn_kargs a)
{
    GRID_STRIDE(c, (size_t)a.cols) rnnc__b_batch_norm_col(&a, c);
}

__global__ void k_batch_norm_bwd(rnnc__bn_kargs a)
{
    GRID_STRIDE(c, (size_t)a.cols) rnnc__b_batch_norm_bwd_col(&a, c);
}

__global__ void k_scatter_add_rows(float *dtable, const float *dy, const int32_t *ids, int64_t rows,
                                   int64_t dim, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_scatter_add_rows(dtable, dy, ids, rows, dim, i);
}

__global__ void k_metric(rnnc__metric_kargs a)
{
    GRID_STRIDE(r, (size_t)a.rows) rnnc__b_metric_row(&a, r);
}

extern "C" {

cudaError_t rnnc__k_bias_add(cudaStream_t s, float *y, const float *x, const float *bias,
                             int64_t rows, int64_t cols)
{
    const size_t n = (size_t)rows * (size_t)cols;
    if (n)
        k_bias_add<<<blocks_for(n), THREADS, 0, s>>>(y, x, bias, cols, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_binary(cudaStream_t s, int op, const float *a, const float *b, float *y,
                           size_t n)
{
    if (n)
        k_binary<<<blocks_for(n), THREADS, 0, s>>>(op, a, b, y, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_softmax(cudaStream_t s, const float *x, float *y, int64_t rows, int64_t cols)
{
    if (rows > 0 && cols > 0)
        k_softmax<<<blocks_for((size_t)rows), THREADS, 0, s>>>(x, y, cols, (size_t)rows);
    return cudaGetLastError();
}

cudaError_t rnnc__k_softmax_backward(cudaStream_t s, const float *y, const float *dy, float *dx,
                                     int64_t rows, int64_t cols)
{
    if (rows > 0 && cols > 0)
        k_softmax_backward<<<blocks_for((size_t)rows), THREADS, 0, s>>>(y, dy, dx, cols,
                                                                            (size_t)rows);
    return cudaGetLastError();
}

cudaError_t rnnc__k_reduce(cudaStream_t s, int op, const float *x, float *y, int64_t outer,
                           int64_t len, int64_t inner)
{
    const size_t n = (size_t)outer * (size_t)inner;
    if (n)
        k_reduce<<<blocks_for(n), THREADS, 0, s>>>(op, x, y, len, inner, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_loss(cudaStream_t s, rnnc__loss_kargs a)
{
    if (a.rows > 0)
        k_loss<<<blocks_for((size_t)a.rows), THREADS, 0, s>>>(a);
    return cudaGetLastError();
}

cudaError_t rnnc__k_sgd(cudaStream_t s, rnnc__sgd_kargs a, float *w, const float *g, float *m,
                        size_t n)
{
    if (n)
        k_sgd<<<blocks_for(n), THREADS, 0, s>>>(a, w, g, m, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_adam(cudaStream_t s, rnnc__adam_kargs a, float *w, const float *g, const float *gsq,
                         float *m, float *v, float *vhat, size_t n)
{
    if (n)
        k_adam<<<blocks_for(n), THREADS, 0, s>>>(a, w, g, gsq, m, v, vhat, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_scale_rows(cudaStream_t s, float *y, const float *x, const float *w, float alpha,
                               int64_t rows, int64_t cols)
{
    const size_t n = (size_t)rows * (size_t)cols;
    if (n)
        k_scale_rows<<<blocks_for(n), THREADS, 0, s>>>(y, x, w, alpha, cols, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_mul_bcast(cudaStream_t s, float *y, const float *x, const float *w, int64_t outer,
                              int64_t mid, int64_t inner)
{
    const size_t n = (size_t)outer * (size_t)mid * (size_t)inner;
    if (n)
        k_mul_bcast<<<blocks_for(n), THREADS, 0, s>>>(y, x, w, mid, inner, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_gather_rows(cudaStream_t s, float *out, const float *table, const int32_t *ids,
                                int64_t rows, int64_t dim, size_t n)
{
    const size_t m = n * (size_t)dim;
    if (m)
        k_gather_rows<<<blocks_for(m), THREADS, 0, s>>>(out, table, ids, rows, dim, m);
    return cudaGetLastError();
}

cudaError_t rnnc__k_scatter_add_rows(cudaStream_t s, float *dtable, const float *dy,
                                     const int32_t *ids, int64_t rows, int64_t dim, size_t n)
{
    const size_t m = n * (size_t)dim;
    if (m)
        k_scatter_add_rows<<<blocks_for(m), THREADS, 0, s>>>(dtable, dy, ids, rows, dim, m);
    return cudaGetLastError();
}

cudaError_t rnnc__k_metric(cudaStream_t s, rnnc__metric_kargs a)
{
    if (a.rows > 0)
        k_metric<<<blocks_for((size_t)a.rows), THREADS, 0, s>>>(a);
    return cudaGetLastError();
}

cudaError_t rnnc__k_copy_block(cudaStream_t s, float *dst, const float *src, int64_t rows,
                               int64_t width, int64_t src_cols, int64_t src_off, int64_t dst_cols,
                               int64_t dst_off, int accumulate)
{
    const size_t n = (size_t)rows * (size_t)width;
    if (n)
        k_copy_block<<<blocks_for(n), THREADS, 0, s>>>(dst, src, width, src_cols, src_off, dst_cols,
                                                        dst_off, accumulate, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_reverse_time(cudaStream_t s, float *y, const float *x, int64_t B, int64_t T,
                                 int64_t C)
{
    const size_t n = (size_t)B * (size_t)T * (size_t)C;
    if (n)
        k_reverse_time<<<blocks_for(n), THREADS, 0, s>>>(y, x, T, C, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_layer_norm(cudaStream_t s, rnnc__ln_kargs a)
{
    if (a.rows > 0)
        k_layer_norm<<<blocks_for((size_t)a.rows), THREADS, 0, s>>>(a);
    return cudaGetLastError();
}

cudaError_t rnnc__k_layer_norm_backward(cudaStream_t s, rnnc__ln_kargs a)
{
    if (a.rows > 0 && a.dx)
        k_layer_norm_bwd_rows<<<blocks_for((size_t)a.rows), THREADS, 0, s>>>(a);
    if (a.cols > 0 && (a.dgamma || a.dbeta))
        k_layer_norm_bwd_cols<<<blocks_for((size_t)a.cols), THREADS, 0, s>>>(a);
    return cudaGetLastError();
}

cudaError_t rnnc__k_batch_norm(cudaStream_t s, rnnc__bn_kargs a)
{
    if (a.cols > 0)
        k_batch_norm<<<blocks_for((size_t)a.cols), THREADS, 0, s>>>(a);
    return cudaGetLastError();
}

cudaError_t rnnc__k_batch_norm_backward(cudaStream_t s, rnnc__bn_kargs a)
{
    if (a.cols > 0)
        k_batch_norm_bwd<<<blocks_for((size_t)a.cols), THREADS, 0, s>>>(a);
    return cudaGetLastError();
}

} /* extern "C" */
