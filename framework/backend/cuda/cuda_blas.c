/* cuda_blas.c - cuBLAS in row-major terms, so GPU code reads like the CPU
 * kernels' cblas_sgemm(CblasRowMajor, ...) calls.
 *
 * cuBLAS is column-major. A row-major m x n matrix is the column-major
 * n x m matrix of its transpose, so C = op(A) op(B) (row-major) is computed
 * as C^T = op(B)^T op(A)^T (column-major): swap the operands and m/n, keep
 * each operand's transpose flag. */
#include "framework/backend/cuda/cuda_internal.h"

#include <limits.h>

static rnnc_status fits_int(int64_t v, const char *what)
{
    if (v < 0 || v > INT_MAX)
        return rnnc_fail(RNNC_E_SHAPE, "cuBLAS: %s = %lld exceeds the 32-bit sizes cuBLAS takes",
                         what, (long long)v);
    return RNNC_OK;
}

rnnc_status rnnc__gemm(rnnc__cuda_ctx *cx, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc)
{
    if (m == 0 || n == 0)
        return RNNC_OK;
    RNNC_TRY(fits_int(m, "m"));
    RNNC_TRY(fits_int(n, "n"));
    RNNC_TRY(fits_int(k, "k"));
    RNNC_TRY(fits_int(lda, "lda"));
    RNNC_TRY(fits_int(ldb, "ldb"));
    RNNC_TRY(fits_int(ldc, "ldc"));
    const float one = 1.0f;
    if (k == 0)
        return rnnc_fail(RNNC_E_SHAPE, "cuBLAS: empty inner dimension (k = 0)");
    RNNC_CUBLAS_CHECK(cublasSgemm(cx->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)n, (int)m, (int)k, &one, B,
                                  (int)ldb, A, (int)lda, &beta, C, (int)ldc));
    return RNNC_OK;
}

rnnc_status rnnc__colsum_add(rnnc__cuda_ctx *cx, int64_t m, int64_t n, const float *A, int64_t lda,
                             const float *ones, float *y)
{
    if (m == 0 || n == 0)
        return RNNC_OK;
    RNNC_TRY(fits_int(m, "m"));
    RNNC_TRY(fits_int(n, "n"));
    RNNC_TRY(fits_int(lda, "lda"));
    const float one = 1.0f;
    /* Column-major view: A^T is n x m with leading dimension lda; y += A^T 1. */
    RNNC_CUBLAS_CHECK(cublasSgemv(cx->cublas, CUBLAS_OP_N, (int)n, (int)m, &one, A, (int)lda, ones,
                                  1, &one, y, 1));
    return RNNC_OK;
}
