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

/* ---- bfloat16 products (mixed_bfloat16; docs/mixed-precision.md) -------
 * Operands are float32 values that are already bfloat16 (their low 16 bits
 * zero), stored as bfloat16 pairs along k: a row-major (k x n) matrix B
 * becomes kp = (k + 1) / 2 rows of n pairs, P[q * ldp + j] = (B[2q][j],
 * B[2q + 1][j]) (a zero pads an odd k); a row of A becomes kp pairs. The
 * product runs AVX512-BF16's vdpbf16ps: exact products, float32 sums (two
 * terms per instruction, flushing subnormals), so its results equal a
 * float32 product of the same values up to the order of accumulation. */

/* Whether this CPU (and compiler) runs rnnc__bf16_gemm: AVX512-BF16. */
bool rnnc__bf16_gemm_ok(void);
/* Pairs of B (k x n, ldb) into P (kp x ldp pairs, ldp >= n), as above. */
void rnnc__bf16_pack_b(int64_t k, int64_t n, const float *B, int64_t ldb, uint32_t *P, int64_t ldp);
/* Rows of A (m x k, lda) into A2 (m x kp pairs). */
void rnnc__bf16_pack_a(int64_t m, int64_t k, const float *A, int64_t lda, uint32_t *A2);
/* The transposed forms: P from B = S^T (S: n x k, lds); A2 from A = S^T
 * (S: k x m, lds). */
void rnnc__bf16_pack_bt(int64_t k, int64_t n, const float *S, int64_t lds, uint32_t *P, int64_t ldp);
void rnnc__bf16_pack_at(int64_t k, int64_t m, const float *S, int64_t lds, uint32_t *A2);
/* C (m x n, ldc) = A2 (m x kp pairs) @ P (kp x n of ldp pairs); float32 C.
 * Only where rnnc__bf16_gemm_ok(). */
void rnnc__bf16_gemm(int64_t m, int64_t n, int64_t kp, const uint32_t *A2, const uint32_t *P,
                     int64_t ldp, float *C, int64_t ldc);
/* C += rd(A2 @ P): the product rounded to bfloat16 once, then added in
 * float32 (a step's weight gradient under mixed_bfloat16); kp <= 128. */
void rnnc__bf16_gemm_acc_rounded(int64_t m, int64_t n, int64_t kp, const uint32_t *A2,
                                 const uint32_t *P, int64_t ldp, float *C, int64_t ldc);

/* OpenBLAS's thread count (0 with another BLAS, whose count is unknown). */
int rnnc__blas_threads(void);

#endif
