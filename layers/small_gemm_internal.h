/* small_gemm_internal.h - the float32 products of the fused recurrent
 * kernels (GRU, LSTM): small_sgemm, a register-blocked AVX-512 product for
 * the per-step and whole-sequence products, whether it runs on this CPU,
 * and the choice between it and OpenBLAS (layers/small_gemm.c). Internal:
 * not installed (CMakeLists.txt excludes *_internal.h). */
#ifndef RNNC_SMALL_GEMM_INTERNAL_H
#define RNNC_SMALL_GEMM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* Whether small_sgemm runs here: an x86 CPU with AVX-512F and a compiler
 * with vector extensions (the answer is the same every call). */
bool rnnc__small_gemm_ok(void);

/* C (m x n) = op(A) (m x k) @ Bm (k x n), or C += with acc; float32,
 * row-major, any leading dimensions; op(A) = A stored (m x k, lda) or,
 * with ta, A^T of A stored (k x m, lda). Each element of C is one FMA
 * chain over p in order (ta: chains of 256 terms added to C in order), so
 * its bits depend on its row of op(A) and column of Bm only: not on m or
 * the blocking. Only where rnnc__small_gemm_ok(). */
void rnnc__small_sgemm(bool ta, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                       const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc);

/* Whether a recurrent kernel's per-step products, (m x k) @ (k x n) with
 * m the batch, k the units and n = 3U or 4U (and the transposed ones of
 * backward), run small_sgemm: where it runs, except one row against a
 * kernel too big for L2 (OpenBLAS's GEMV streams it as well, on more
 * threads) and big products when OpenBLAS has several threads and one of
 * its own AVX-512 kernels. */
bool rnnc__small_gemm_steps(int64_t m, int64_t n, int64_t k);

/* Whether a product over all steps runs small_sgemm: op(A) = A^T
 * (dkernel, drecurrent_kernel: the sum runs over the B*T rows) with ta,
 * else op(A) = A (the input projection: B*T rows of C). Where small_sgemm
 * runs and BLAS has one thread (with more, OpenBLAS splits these big
 * products across cores), and for op(A) = A only where OpenBLAS has no
 * AVX-512 kernel: its own does these tall products faster. */
bool rnnc__small_gemm_whole(bool ta);

/* C = op(A) @ Bm (+ C with acc) as above: small_sgemm when `small`, else
 * BLAS (GEMV for one row). */
void rnnc__sgemm_pick(bool small, bool ta, int64_t m, int64_t n, int64_t k, const float *A,
                      int64_t lda, const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc);

/* OpenBLAS's thread count (0 with another BLAS, whose count is unknown). */
int rnnc__blas_threads(void);

#endif
