/* small_gemm.c - the float32 products of the fused recurrent kernels
 * (small_gemm_internal.h): on x86 CPUs with AVX-512F, small_sgemm, the
 * register-blocked product for the step loops and the products over all
 * steps, and the choice between it and OpenBLAS. Shared by the fused GRU
 * (gru_fused.c) and LSTM (lstm_fused.c). Measurements behind the choices:
 * README.md, "Performance". */
#include "layers/small_gemm_internal.h"
#include "layers/small_rows_internal.h"

#include <cblas.h>
#include <stddef.h>
#include <string.h>

/* OpenBLAS's thread count (weak: 0 with another BLAS, whose count is unknown). */
extern int openblas_get_num_threads(void) __attribute__((weak));
int rnnc__blas_threads(void) { return openblas_get_num_threads ? openblas_get_num_threads() : 0; }

/* Whether OpenBLAS runs one of its AVX-512 sgemm kernels (weak: false with
 * another BLAS, or with OPENBLAS_CORETYPE=Haswell as set on the machines
 * here). */
extern char *openblas_get_corename(void) __attribute__((weak));
static bool blas_avx512(void)
{
    const char *c = openblas_get_corename ? openblas_get_corename() : NULL;
    return c && (strcmp(c, "SkylakeX") == 0 || strcmp(c, "Cooperlake") == 0 ||
                 strcmp(c, "SapphireRapids") == 0);
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define SMALL_GEMM 1
/* ---- small_sgemm ------------------------------------------------------------
 *
 * C (m x n) = op(A) (m x k) @ Bm (k x n), or C += with acc; float32,
 * row-major, any leading dimensions, op(A) = A or A^T. The step loops make
 * one or two products per step with m = the batch and k, n = U or 3U / 4U:
 * small enough that OpenBLAS spends much of its time packing its operands
 * again every step and handing work to its threads (105-120 GFLOP/s on
 * one core of the development machine with the Haswell kernel its
 * environment forces, 170-220 with OpenBLAS's own AVX-512 kernel). This
 * kernel reads Bm where it lies (its rows run along n), holds a block of C
 * (up to 8 rows x 2 vectors of 16, or 1 row x 8 vectors) in registers and
 * broadcasts A's entries: about 240 GFLOP/s on the same core for the GRU's
 * step products of ../shared/bench/shapes.txt, 190-230 for the input
 * projection and 100-150 for the A^T products over all steps (measured
 * with the other core busy). Each element of C is one FMA chain over p in
 * order (A^T: chains of SMALL_KC terms added to C in order), so its bits
 * depend on its row of op(A) and column of Bm only: not on m, the blocking
 * or threads. The callers transpose R once per call for the backward
 * steps' products with R^T. */
#include <immintrin.h>

/* Fully unrolls the next loop (of at most 8 trips), in each compiler's words. */
#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

/* A block of C in registers: zeroed, then stored (added to C with acc). */
static inline __attribute__((always_inline, target("avx512f"))) void
block_zero(int MR, int NV, __m512 c[8][8])
{
UNROLL
    for (int i = 0; i < MR; i++)
UNROLL
        for (int v = 0; v < NV; v++)
            c[i][v] = _mm512_setzero_ps();
}

/* x rounded to bfloat16 (nearest, ties to even; NaN kept). */
static inline __attribute__((always_inline, target("avx512f"))) __m512 round_bf16(__m512 x)
{
    const __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_and_si512(
        _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)),
        _mm512_set1_epi32((int)0xffff0000u));
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    return _mm512_mask_blend_ps(nan, _mm512_castsi512_ps(r), x);
}

/* acc: C += the block, or with rnd C += the block rounded to bfloat16. */
static inline __attribute__((always_inline, target("avx512f"))) void
block_store(int MR, int NV, __m512 c[8][8], float *C, int64_t ldc, __mmask16 last, bool acc,
            bool rnd)
{
UNROLL
    for (int i = 0; i < MR; i++)
UNROLL
        for (int v = 0; v < NV; v++) {
            const __mmask16 mk = v == NV - 1 ? last : (__mmask16)0xFFFF;
            float *cp = C + i * ldc + 16 * v;
            __m512 r = rnd ? round_bf16(c[i][v]) : c[i][v];
            if (acc)
                r = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, cp), r);
            _mm512_mask_storeu_ps(cp, mk, r);
        }
}

/* The blockings shared by small_sgemm and the bfloat16 product: BLK(MR,
 * NV) runs one block with constant MR, NV. One row: up to 8 vectors a
 * block (nv of them); several: blocks of 8, 4, then 1 rows from row i. */
#define NV_SWITCH(nv, BLK)                                                                      \
    switch (nv) {                                                                               \
    case 8: BLK(1, 8); break;                                                                   \
    case 7: BLK(1, 7); break;                                                                   \
    case 6: BLK(1, 6); break;                                                                   \
    case 5: BLK(1, 5); break;                                                                   \
    case 4: BLK(1, 4); break;                                                                   \
    case 3: BLK(1, 3); break;                                                                   \
    case 2: BLK(1, 2); break;                                                                   \
    default: BLK(1, 1); break;                                                                  \
    }
#define ROW_BLOCKS(m, i, NV, BLK)                                                               \
    do {                                                                                        \
        for (; (i) + 8 <= (m); (i) += 8)                                                        \
            BLK(8, NV);                                                                         \
        for (; (i) + 4 <= (m); (i) += 4)                                                        \
            BLK(4, NV);                                                                         \
        for (; (i) < (m); (i)++)                                                                \
            BLK(1, NV);                                                                         \
    } while (0)

static __mmask16 lanes(int64_t w) { return (__mmask16)(w >= 16 ? 0xFFFF : (1u << w) - 1); }

/* small_block_f32: the register block over float32 A and Bm, FMA by FMA. */
#define GB(n) small_##n##_f32
#define GB_TARGET "avx512f"
#define GB_T float
#define GB_V __m512
#define GB_LOAD(mk, p) _mm512_maskz_loadu_ps(mk, p)
#define GB_BCAST(x) _mm512_set1_ps(x)
#define GB_STEP(c, a, b) _mm512_fmadd_ps(a, b, c)
#include "layers/small_gemm_block_internal.h"

/* Long sums (op(A) = A^T: the products over all steps) run in chunks of
 * this many terms, so the chunk's rows of A and Bm stay in L1/L2 while
 * every block of C passes over them; C adds up the chunks in order. */
#define SMALL_KC 256

/* C (m x n) = op(A) (m x k) @ Bm (k x n), or C += with acc; op(A) = A
 * stored (m x k, lda) or, with ta, A^T of A stored (k x m, lda). */
static __attribute__((target("avx512f"))) void small_sgemm(bool ta, int64_t m, int64_t n,
                                                           int64_t k, const float *A,
                                                           int64_t lda, const float *Bm,
                                                           int64_t ldb, bool acc, float *C,
                                                           int64_t ldc)
{
    const int64_t ars = ta ? 1 : lda, acs = ta ? lda : 1;
    const int64_t kc_max = ta ? SMALL_KC : k;
    for (int64_t p0 = 0; p0 < k; p0 += kc_max) {
        const int64_t kc = k - p0 < kc_max ? k - p0 : kc_max;
        const float *Ap = A + p0 * acs, *Bp = Bm + p0 * ldb;
        const bool ac = acc || p0 > 0;
        if (m == 1) { /* one row: 8 vectors a block keep both FMA pipes busy */
            for (int64_t j = 0; j < n; j += 128) {
                const int64_t w = n - j < 128 ? n - j : 128, nv = (w + 15) / 16;
                const __mmask16 last = lanes(w - 16 * (nv - 1));
                const float *b = Bp + j;
                float *c = C + j;
#define BLK(MR, NV) small_block_f32(MR, NV, kc, Ap, ars, acs, b, ldb, c, ldc, last, ac, false)
                NV_SWITCH(nv, BLK)
#undef BLK
            }
            continue;
        }
        for (int64_t j = 0; j < n; j += 32) {
            const int64_t w = n - j < 32 ? n - j : 32;
            const __mmask16 last = lanes(w > 16 ? w - 16 : w);
            const float *b = Bp + j;
            int64_t i = 0;
#define BLK(MR, NV)                                                                             \
    small_block_f32(MR, NV, kc, Ap + i * ars, ars, acs, b, ldb, C + i * ldc + j, ldc, last, ac,  \
                    false)
            if (w > 16)
                ROW_BLOCKS(m, i, 2, BLK);
            else
                ROW_BLOCKS(m, i, 1, BLK);
#undef BLK
        }
    }
}

/* small_sgemm passes over all of A once per 32 columns of C. For op(A) = A
 * with many rows (the input projection: B*T rows) A no longer stays in
 * the caches between passes, so such products run in panels of this many
 * rows, each panel's rows of A staying in L1 while every column block
 * passes over them: on one core of the AMD EPYC (AVX-512) machine of
 * 2026-12, 16000 x 64 @ 64 x 512 ran at 56 GFLOP/s in one piece and 66 in
 * panels of 64 rows, 6400 x 128 @ 128 x 1024 at 67 and 80 (OpenBLAS: 79
 * and 91 with its Haswell kernel, 96 and 94 with its AVX-512 one, which
 * therefore does these products there: rnnc__small_gemm_whole). Only
 * products of more than SMALL_TALL rows: a step's product (m = the batch)
 * stays in one piece, so a recurrent kernel bigger than L2 (U = 512: 4 MiB)
 * is read once per step, not once per panel. The panels change no bits
 * (each element of C is its own FMA chain). */
#define SMALL_MC 64
#define SMALL_TALL 256

void rnnc__small_sgemm(bool ta, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                       const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc)
{
    if (!ta && rnnc__small_rows(m, n, k, A, lda, Bm, ldb, acc, C, ldc))
        return; /* 1 to 4 rows: small_rows.c, the same bits */
    if (ta || m <= SMALL_TALL) {
        small_sgemm(ta, m, n, k, A, lda, Bm, ldb, acc, C, ldc);
        return;
    }
    for (int64_t i = 0; i < m; i += SMALL_MC)
        small_sgemm(false, m - i < SMALL_MC ? m - i : SMALL_MC, n, k, A + i * lda, lda, Bm, ldb,
                    acc, C + i * ldc, ldc);
}

/* ---- bfloat16 products: the same blocking, vdpbf16ps on pairs along k --- */
/* small_block_bf16: the register block over bfloat16 pairs (A2's entry
 * (i, q) at A2[i * lda2 + q]), float32 sums. */
#define GB(n) small_##n##_bf16
#define GB_TARGET "avx512f,avx512bf16"
#define GB_T uint32_t
#define GB_V __m512bh
#define GB_LOAD(mk, p) ((__m512bh)_mm512_maskz_loadu_epi32(mk, p))
#define GB_BCAST(x) ((__m512bh)_mm512_set1_epi32((int)(x)))
#define GB_STEP(c, a, b) _mm512_dpbf16_ps(c, a, b)
#include "layers/small_gemm_block_internal.h"

static __attribute__((target("avx512f,avx512bf16"))) void
bf16_panel(int64_t m, int64_t n, int64_t kp, const uint32_t *A2, int64_t lda2, const uint32_t *P,
           int64_t ldp, float *C, int64_t ldc, bool acc, bool rnd)
{
    if (m == 1) {
        for (int64_t j = 0; j < n; j += 128) {
            const int64_t w = n - j < 128 ? n - j : 128, nv = (w + 15) / 16;
            const __mmask16 last = lanes(w - 16 * (nv - 1));
            const uint32_t *b = P + j;
            float *c = C + j;
#define BLK(MR, NV) small_block_bf16(MR, NV, kp, A2, lda2, 1, b, ldp, c, ldc, last, acc, rnd)
            NV_SWITCH(nv, BLK)
#undef BLK
        }
        return;
    }
    for (int64_t j = 0; j < n; j += 32) {
        const int64_t w = n - j < 32 ? n - j : 32;
        const __mmask16 last = lanes(w > 16 ? w - 16 : w);
        const uint32_t *b = P + j;
        int64_t i = 0;
#define BLK(MR, NV)                                                                             \
    small_block_bf16(MR, NV, kp, A2 + i * lda2, lda2, 1, b, ldp, C + i * ldc + j, ldc, last, acc, \
                     rnd)
        if (w > 16)
            ROW_BLOCKS(m, i, 2, BLK);
        else
            ROW_BLOCKS(m, i, 1, BLK);
#undef BLK
    }
}

void rnnc__bf16_gemm(int64_t m, int64_t n, int64_t kp, const uint32_t *A2, const uint32_t *P,
                     int64_t ldp, float *C, int64_t ldc)
{
    /* Long sums in chunks of SMALL_KC terms added to C in order, tall
     * products in panels of rows, as small_sgemm. */
    const int64_t kc_max = SMALL_KC / 2, mc = m > SMALL_TALL ? SMALL_MC : m;
    for (int64_t q0 = 0; q0 < kp; q0 += kc_max) {
        const int64_t kc = kp - q0 < kc_max ? kp - q0 : kc_max;
        for (int64_t i = 0; i < m; i += mc)
            bf16_panel(m - i < mc ? m - i : mc, n, kc, A2 + i * kp + q0, kp, P + q0 * ldp, ldp,
                       C + i * ldc, ldc, q0 > 0, false);
    }
}

void rnnc__bf16_gemm_acc_rounded(int64_t m, int64_t n, int64_t kp, const uint32_t *A2,
                                 const uint32_t *P, int64_t ldp, float *C, int64_t ldc)
{
    const int64_t mc = m > SMALL_TALL ? SMALL_MC : m;
    for (int64_t i = 0; i < m; i += mc)
        bf16_panel(m - i < mc ? m - i : mc, n, kp, A2 + i * kp, kp, P, ldp, C + i * ldc, ldc, true,
                   true);
}
#else
#define SMALL_GEMM 0
#endif

/* The bfloat16 half of a float32 that is already a bfloat16 value. */
static uint32_t bf16_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u >> 16;
}

void rnnc__bf16_pack_b(int64_t k, int64_t n, const float *B, int64_t ldb, uint32_t *P, int64_t ldp)
{
    for (int64_t q = 0; q < (k + 1) / 2; q++) {
        const float *lo = B + 2 * q * ldb, *hi = 2 * q + 1 < k ? lo + ldb : NULL;
        for (int64_t j = 0; j < n; j++)
            P[q * ldp + j] = bf16_bits(lo[j]) | (hi ? bf16_bits(hi[j]) << 16 : 0u);
    }
}

void rnnc__bf16_pack_a(int64_t m, int64_t k, const float *A, int64_t lda, uint32_t *A2)
{
    const int64_t kp = (k + 1) / 2;
    for (int64_t i = 0; i < m; i++)
        for (int64_t q = 0; q < kp; q++)
            A2[i * kp + q] = bf16_bits(A[i * lda + 2 * q]) |
                             (2 * q + 1 < k ? bf16_bits(A[i * lda + 2 * q + 1]) << 16 : 0u);
}

void rnnc__bf16_pack_bt(int64_t k, int64_t n, const float *S, int64_t lds, uint32_t *P, int64_t ldp)
{
    for (int64_t j = 0; j < n; j++)
        for (int64_t q = 0; q < (k + 1) / 2; q++)
            P[q * ldp + j] = bf16_bits(S[j * lds + 2 * q]) |
                             (2 * q + 1 < k ? bf16_bits(S[j * lds + 2 * q + 1]) << 16 : 0u);
}

void rnnc__bf16_pack_at(int64_t k, int64_t m, const float *S, int64_t lds, uint32_t *A2)
{
    const int64_t kp = (k + 1) / 2;
    for (int64_t q = 0; q < kp; q++) {
        const float *lo = S + 2 * q * lds, *hi = 2 * q + 1 < k ? lo + lds : NULL;
        for (int64_t i = 0; i < m; i++)
            A2[i * kp + q] = bf16_bits(lo[i]) | (hi ? bf16_bits(hi[i]) << 16 : 0u);
    }
}

bool rnnc__bf16_gemm_ok(void)
{
#if SMALL_GEMM
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

#if !SMALL_GEMM
/* never called where rnnc__bf16_gemm_ok() is false */
void rnnc__bf16_gemm(int64_t m, int64_t n, int64_t kp, const uint32_t *A2, const uint32_t *P,
                     int64_t ldp, float *C, int64_t ldc)
{
    (void)m, (void)n, (void)kp, (void)A2, (void)P, (void)ldp, (void)C, (void)ldc;
}

void rnnc__bf16_gemm_acc_rounded(int64_t m, int64_t n, int64_t kp, const uint32_t *A2,
                                 const uint32_t *P, int64_t ldp, float *C, int64_t ldc)
{
    (void)m, (void)n, (void)kp, (void)A2, (void)P, (void)ldp, (void)C, (void)ldc;
}
#endif

bool rnnc__small_gemm_ok(void)
{
#if SMALL_GEMM
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

#if !SMALL_GEMM
void rnnc__small_sgemm(bool ta, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                       const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc)
{
    /* never called where rnnc__small_gemm_ok() is false; BLAS all the same */
    rnnc__sgemm_pick(false, ta, m, n, k, A, lda, Bm, ldb, acc, C, ldc);
}
#endif

/* One row against a recurrent kernel bigger than this goes to BLAS's GEMV:
 * half of the development machine's 1 MiB L2 per core. */
#define SMALL_GEMV_MAX_BYTES ((int64_t)512 * 1024)

/* Step products of at least this many multiply-adds go to a multi-threaded
 * OpenBLAS that runs an AVX-512 kernel: two cores of that beat one core of
 * small_sgemm (65 vs 103 us for 64 x 256 x 768 on the development machine),
 * while with the Haswell kernel they do not (108 vs 103 us). */
#define SMALL_STEP_MAX_MACS ((int64_t)1 << 23)

bool rnnc__small_gemm_steps(int64_t m, int64_t n, int64_t k)
{
    if (m * n * k >= SMALL_STEP_MAX_MACS && rnnc__blas_threads() > 1 && blas_avx512())
        return false;
    return rnnc__small_gemm_ok() &&
           (m > 1 || n * k * (int64_t)sizeof(float) <= SMALL_GEMV_MAX_BYTES);
}

bool rnnc__small_gemm_whole(bool ta)
{
    return rnnc__small_gemm_ok() && rnnc__blas_threads() == 1 && (ta || !blas_avx512());
}

void rnnc__sgemm_pick(bool small, bool ta, int64_t m, int64_t n, int64_t k, const float *A,
                      int64_t lda, const float *Bm, int64_t ldb, bool acc, float *C, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (small && k > 0) {
        rnnc__small_sgemm(ta, m, n, k, A, lda, Bm, ldb, acc, C, ldc);
        return;
    }
    const float beta = acc ? 1.0f : 0.0f;
    if (k <= 0) { /* no terms: C = 0 (or unchanged) */
        if (!acc)
            for (int64_t i = 0; i < m; i++)
                memset(C + i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    if (m == 1) { /* c (n) = Bm^T a, a = op(A)'s row: contiguous, or a column of A */
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)k, (int)n, 1.0f, Bm, (int)ldb, A,
                    ta ? (int)lda : 1, beta, C, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, (int)m, (int)n,
                (int)k, 1.0f, A, (int)lda, Bm, (int)ldb, beta, C, (int)ldc);
}
