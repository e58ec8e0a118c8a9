/* cuda_emu_train.c - CPU launchers of the op table's training-step kernels
 * (cuda_ops_kernels.h: scale_rows, mul_bcast, gather_rows, scatter_add_rows, metric,
 * copy_block, reverse_time, layer_norm):
 * loops over the same bodies of cuda_ops_math.h the .cu kernels run, one
 * "thread" at a time (so scatter_add_rows adds in index order). Included by
 * cuda_backend_sources.c right after cuda_emu.c. */
#include "framework/backend/cuda/cuda_ops_math.h"

cudaError_t rnnc__k_scale_rows(cudaStream_t s, float *y, const float *x, const float *w, float alpha,
                               int64_t rows, int64_t cols)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)rows * (size_t)cols; i++)
        rnnc__b_scale_rows(y, x, w, alpha, cols, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_mul_bcast(cudaStream_t s, float *y, const float *x, const float *w, int64_t outer,
                              int64_t mid, int64_t inner)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)outer * (size_t)mid * (size_t)inner; i++)
        rnnc__b_mul_bcast(y, x, w, mid, inner, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_gather_rows(cudaStream_t s, float *out, const float *table, const int32_t *ids,
                                int64_t rows, int64_t dim, size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n * (size_t)dim; i++)
        rnnc__b_gather_rows(out, table, ids, rows, dim, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_scatter_add_rows(cudaStream_t s, float *dtable, const float *dy,
                                     const int32_t *ids, int64_t rows, int64_t dim, size_t n)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < n * (size_t)dim; i++)
        rnnc__b_scatter_add_rows(dtable, dy, ids, rows, dim, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_metric(cudaStream_t s, rnnc__metric_kargs a)
{
    EMU_EAGER(s);
    for (size_t r = 0; a.rows > 0 && r < (size_t)a.rows; r++)
        rnnc__b_metric_row(&a, r);
    return cudaSuccess;
}

cudaError_t rnnc__k_copy_block(cudaStream_t s, float *dst, const float *src, int64_t rows,
                               int64_t width, int64_t src_cols, int64_t src_off, int64_t dst_cols,
                               int64_t dst_off, int accumulate)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)rows * (size_t)width; i++)
        rnnc__b_copy_block(dst, src, width, src_cols, src_off, dst_cols, dst_off, accumulate, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_reverse_time(cudaStream_t s, float *y, const float *x, int64_t B, int64_t T,
                                 int64_t C)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)B * (size_t)T * (size_t)C; i++)
        rnnc__b_reverse_time(y, x, T, C, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_layer_norm(cudaStream_t s, rnnc__ln_kargs a)
{
    EMU_EAGER(s);
    for (size_t r = 0; a.rows > 0 && r < (size_t)a.rows; r++)
        rnnc__b_layer_norm_row(&a, r);
    return cudaSuccess;
}

cudaError_t rnnc__k_layer_norm_backward(cudaStream_t s, rnnc__ln_kargs a)
{
    EMU_EAGER(s);
    for (size_t r = 0; a.dx && a.rows > 0 && r < (size_t)a.rows; r++)
        rnnc__b_layer_norm_bwd_row(&a, r);
    for (size_t c = 0; (a.dgamma || a.dbeta) && a.cols > 0 && c < (size_t)a.cols; c++)
        rnnc__b_layer_norm_bwd_col(&a, c);
    return cudaSuccess;
}

cudaError_t rnnc__k_batch_norm(cudaStream_t s, rnnc__bn_kargs a)
{
    EMU_EAGER(s);
    for (size_t c = 0; a.cols > 0 && c < (size_t)a.cols; c++)
        rnnc__b_batch_norm_col(&a, c);
    return cudaSuccess;
}

cudaError_t rnnc__k_batch_norm_backward(cudaStream_t s, rnnc__bn_kargs a)
{
    EMU_EAGER(s);
    for (size_t c = 0; a.cols > 0 && c < (size_t)a.cols; c++)
        rnnc__b_batch_norm_bwd_col(&a, c);
    return cudaSuccess;
}
