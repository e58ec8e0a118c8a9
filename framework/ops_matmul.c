/* ops_matmul.c - y = op(a) @ op(b) for rank-2 float tensors, on BLAS.
 *
 * float32 runs cblas_sgemm (with FTZ + DAZ, framework/fpenv.h) and float64
 * cblas_dgemm; transposes are passed to BLAS, never materialized. Backward is two more gemms that accumulate
 * (beta = 1) straight into the input gradients. Batched or broadcasting
 * matmul is not here: callers flatten leading dims to rows first. */
#include "framework/ops.h"
#include "framework/ops_internal.h"

#include <cblas.h>
#include <limits.h>

#include "framework/fpenv.h"

/* C (m x n, ld ldc) = alpha * op(A) op(B) + beta * C, row-major. */
static void gemm(rnnc_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *A,
                 int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc)
{
    if (m == 0 || n == 0 || k == 0)
        return; /* nothing to add (C keeps its zeros / accumulated values) */
    /* BLAS rejects ld < 1 even for empty operands. */
    lda = lda < 1 ? 1 : lda;
    ldb = ldb < 1 ? 1 : ldb;
    ldc = ldc < 1 ? 1 : ldc;
    const enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE TB = tb ? CblasTrans : CblasNoTrans;
    if (dt == RNNC_F32) { /* FTZ + DAZ inside (framework/fpenv.h) */
        const rnnc__fp_scope fp = rnnc__flush_begin();
        cblas_sgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0f, A,
                    (blasint)lda, B, (blasint)ldb, (float)beta, C, (blasint)ldc);
        rnnc__flush_end(fp);
    } else
        cblas_dgemm(CblasRowMajor, TA, TB, (blasint)m, (blasint)n, (blasint)k, 1.0, A,
                    (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

/* iarg: [0] trans_a, [1] trans_b, [2] M, [3] N, [4] K. */
static rnnc_status matmul_backward(rnnc_node *n)
{
    rnnc_tensor *a = n->in[0], *b = n->in[1], *y = n->out[0];
    if (!y->grad)
        return RNNC_OK;
    const bool ta = n->iarg[0], tb = n->iarg[1];
    const int64_t M = n->iarg[2], N = n->iarg[3], K = n->iarg[4];
    const int64_t lda = a->shape.dim[1], ldb = b->shape.dim[1], ldy = N;
    if (a->requires_grad && a->grad) {
        if (!ta) /* dA (M,K) += dY (M,N) @ op(B)^T (N,K) */
            gemm(a->dtype, false, !tb, M, K, N, y->grad, ldy, b->data, ldb, 1.0, a->grad, lda);
        else /* A stored (K,M): dA += op(B) (K,N) @ dY^T (N,M) */
            gemm(a->dtype, tb, true, K, M, N, b->data, ldb, y->grad, ldy, 1.0, a->grad, lda);
    }
    if (b->requires_grad && b->grad) {
        if (!tb) /* dB (K,N) += op(A)^T (K,M) @ dY (M,N) */
            gemm(b->dtype, !ta, false, K, N, M, a->data, lda, y->grad, ldy, 1.0, b->grad, ldb);
        else /* B stored (N,K): dB += dY^T (N,M) @ op(A) (M,K) */
            gemm(b->dtype, true, ta, N, K, M, y->grad, ldy, a->data, lda, 1.0, b->grad, ldb);
    }
    return RNNC_OK;
}

rnnc_status rnnc_matmul(rnnc_ctx *cx, rnnc_tensor *a, rnnc_tensor *b, bool trans_a, bool trans_b,
                        rnnc_tensor **y)
{
    char sa[160], sb[160];
    RNNC_TRY(rnnc__check_nonnull("matmul", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("matmul", "y", y));
    *y = NULL;
    RNNC_TRY(rnnc__check_same_float("matmul", "a", a, "b", b));
    if (a->shape.ndim != 2 || b->shape.ndim != 2)
        return rnnc_fail(RNNC_E_SHAPE, "matmul: operands must be rank 2, got a %s and b %s",
                         RNNC__SHAPE_STR(&a->shape, sa), RNNC__SHAPE_STR(&b->shape, sb));
    const int64_t M = trans_a ? a->shape.dim[1] : a->shape.dim[0];
    const int64_t K = trans_a ? a->shape.dim[0] : a->shape.dim[1];
    const int64_t Kb = trans_b ? b->shape.dim[1] : b->shape.dim[0];
    const int64_t N = trans_b ? b->shape.dim[0] : b->shape.dim[1];
    if (K != Kb)
        return rnnc_fail(RNNC_E_SHAPE,
                         "matmul: inner dimensions differ: a%s %s (%lld columns) @ b%s %s (%lld rows)",
                         trans_a ? "^T" : "", RNNC__SHAPE_STR(&a->shape, sa), (long long)K,
                         trans_b ? "^T" : "", RNNC__SHAPE_STR(&b->shape, sb), (long long)Kb);
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
        return rnnc_fail(RNNC_E_SHAPE, "matmul: a %s and b %s exceed BLAS's int dimensions",
                         RNNC__SHAPE_STR(&a->shape, sa), RNNC__SHAPE_STR(&b->shape, sb));
    rnnc_shape ys = RNNC_SHAPE(M, N);
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, a->dtype, &ys, &out));
    gemm(a->dtype, trans_a, trans_b, M, N, K, a->data, a->shape.dim[1], b->data, b->shape.dim[1],
         0.0, out->data, N);
    rnnc_tensor *ins[2] = {a, b};
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "matmul", matmul_backward, 2, ins, 1, &out, &node));
    if (node) {
        node->iarg[0] = trans_a;
        node->iarg[1] = trans_b;
        node->iarg[2] = M;
        node->iarg[3] = N;
        node->iarg[4] = K;
    }
    *y = out;
    return RNNC_OK;
}
