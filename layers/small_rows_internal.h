/* small_rows_internal.h - the few-row float32 product of the fused
 * recurrent kernels (layers/small_rows.c): C (m x n) = A (m x k) @ Bm
 * (k x n) for m = 1..SMALL_ROWS_MAX, a step's product at batch 1 to 4,
 * which small_sgemm (small_gemm.c) hands here. Internal: not installed
 * (CMakeLists.txt excludes *_internal.h). */
#ifndef RNNC_SMALL_ROWS_INTERNAL_H
#define RNNC_SMALL_ROWS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

/* The most rows rnnc__small_rows takes. */
#define SMALL_ROWS_MAX 4

/* C (m x n, ldc) = A (m x k, lda) @ Bm (k x n, ldb), or C += with acc;
 * float32, row-major, 1 <= m <= SMALL_ROWS_MAX, k >= 0. Each element of C
 * is one FMA chain over p in order from zero (then added to C with acc),
 * as in small_sgemm, so the bits equal small_sgemm's. Streams Bm once,
 * row by row, with up to 24 vectors of C per row of A in registers.
 * Only on an x86 CPU with AVX-512F (where rnnc__small_gemm_ok()); returns
 * false (doing nothing) where it cannot run or m is out of range. */
bool rnnc__small_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                      const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc);

#endif
