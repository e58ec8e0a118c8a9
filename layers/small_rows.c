/* small_rows.c - the few-row float32 product (small_rows_internal.h): a
 * step's product at batch 1 to 4, h (m x U) @ R (U x 3U or 4U).
 *
 * small_sgemm's register block for one row (8 vectors of 16 columns) passes
 * over R once per 128 columns, reading 512 bytes of each row of R at a
 * stride of 3U or 4U floats: at B = 1, U = 128 (R: 192 KiB, in L2) that
 * was 76 % of the GRU forward's time on the AMD Zen 4 development
 * machine, about 1.8 us for 49k multiply-adds. Here a pass holds up to 24
 * vectors of C per row of A (384 columns; 24 accumulators for 1 row, 12 for
 * 2, 8 for 3, 6 for 4), so R streams through in long runs, each row of R
 * read once per pass. Measurements: README.md, "Performance". */
#include "layers/small_rows_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>

#if defined(__clang__)
#define ROWS_UNROLL _Pragma("clang loop unroll(full)")
#else
#define ROWS_UNROLL _Pragma("GCC unroll 24")
#endif

/* The lanes mk of C at cp = r, or C + r with acc. */
static inline __attribute__((always_inline, target("avx512f"))) void
store_c(float *cp, __mmask16 mk, __m512 r, bool acc)
{
    if (acc)
        r = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, cp), r);
    _mm512_mask_storeu_ps(cp, mk, r);
}

/* One pass: M rows x NV vectors of C from column 0 of Bm and C; the last
 * vector covers the lanes of `last`. M and NV are constants at every call
 * (always_inline), so the loops unroll and C stays in registers. Each
 * element is fmadd(a, b, c) over p in order from zero, then C + it with
 * acc: small_sgemm's operations (small_gemm_block_internal.h). */
static inline __attribute__((always_inline, target("avx512f"))) void
rows_pass(const int M, const int NV, int64_t k, const float *A, int64_t lda, const float *Bm,
          int64_t ldb, float *C, int64_t ldc, __mmask16 last, bool acc)
{
    __m512 c[SMALL_ROWS_MAX][24];
ROWS_UNROLL
    for (int i = 0; i < M; i++)
ROWS_UNROLL
        for (int v = 0; v < NV; v++)
            c[i][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        const float *b = Bm + p * ldb;
        __m512 a[SMALL_ROWS_MAX];
ROWS_UNROLL
        for (int i = 0; i < M; i++)
            a[i] = _mm512_set1_ps(A[i * lda + p]);
ROWS_UNROLL
        for (int v = 0; v < NV; v++) {
            const __m512 bv = v == NV - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * v)
                                          : _mm512_loadu_ps(b + 16 * v);
ROWS_UNROLL
            for (int i = 0; i < M; i++)
                c[i][v] = _mm512_fmadd_ps(a[i], bv, c[i][v]);
        }
    }
ROWS_UNROLL
    for (int i = 0; i < M; i++)
ROWS_UNROLL
        for (int v = 0; v < NV; v++)
            store_c(C + i * ldc + 16 * v, v == NV - 1 ? last : (__mmask16)0xFFFF, c[i][v], acc);
}

/* Vectors of C per pass for M rows: 24 accumulators in all. */
#define NV_MAX(M) ((M) == 1 ? 24 : (M) == 2 ? 12 : (M) == 3 ? 8 : 6)

#define P(M, NV)                                                                                \
    case NV:                                                                                    \
        rows_pass(M, NV, k, A, lda, Bm, ldb, C, ldc, last, acc);                               \
        break
#define P6(M) P(M, 1); P(M, 2); P(M, 3); P(M, 4); P(M, 5); P(M, 6)
#define P8(M) P6(M); P(M, 7); P(M, 8)
#define P12(M) P8(M); P(M, 9); P(M, 10); P(M, 11); P(M, 12)
#define P24(M)                                                                                  \
    P12(M); P(M, 13); P(M, 14); P(M, 15); P(M, 16); P(M, 17); P(M, 18); P(M, 19); P(M, 20);    \
    P(M, 21); P(M, 22); P(M, 23); P(M, 24)

/* One pass of nv vectors (1 <= nv <= NV_MAX(m)) over m rows. */
static __attribute__((target("avx512f"))) void rows_any(int64_t m, int64_t nv, int64_t k,
                                                        const float *A, int64_t lda,
                                                        const float *Bm, int64_t ldb, float *C,
                                                        int64_t ldc, __mmask16 last, bool acc)
{
    switch (m) {
    case 1:
        switch (nv) { P24(1); }
        break;
    case 2:
        switch (nv) { P12(2); }
        break;
    case 3:
        switch (nv) { P8(3); }
        break;
    default:
        switch (nv) { P6(4); }
        break;
    }
}
#undef P
#undef P6
#undef P8
#undef P12
#undef P24

static bool rows_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

bool rnnc__small_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                      const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc)
{
    if (m < 1 || m > SMALL_ROWS_MAX || n < 0 || k < 0 || !rows_ok())
        return false;
    /* The passes: as few as the registers allow, of equal width (in
     * vectors), the last one masked. */
    const int64_t nvt = (n + 15) / 16, per = NV_MAX(m);
    const int64_t passes = (nvt + per - 1) / per;
    for (int64_t q = 0, j = 0; q < passes; q++) {
        const int64_t nv = (nvt - j / 16 + (passes - q) - 1) / (passes - q);
        const int64_t w = n - j < 16 * nv ? n - j : 16 * nv;
        const int64_t lw = w - 16 * (nv - 1);
        const __mmask16 last = (__mmask16)(lw >= 16 ? 0xFFFF : (1u << lw) - 1);
        rows_any(m, nv, k, A, lda, Bm + j, ldb, C + j, ldc, last, acc);
        j += w;
    }
    return true;
}
#else
bool rnnc__small_rows(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                      const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc)
{
    (void)m, (void)n, (void)k, (void)A, (void)lda, (void)Bm, (void)ldb, (void)acc, (void)C,
        (void)ldc;
    return false;
}
#endif
