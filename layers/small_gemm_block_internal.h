/* small_gemm_block_internal.h - the register block, one template for small_sgemm
 * (float32 FMA) and the bfloat16 product (vdpbf16ps on pairs along k).
 * Private to small_gemm.c, which includes it once per element type with:
 *   GB(n)             n##_f32 | n##_bf16
 *   GB_TARGET         the functions' target attribute
 *   GB_T              A's and B's element: float, or uint32_t (a bfloat16
 *                     pair along k)
 *   GB_V              a vector of 16 of them: __m512, __m512bh
 *   GB_LOAD(mk, p)    16 elements at p, the lanes outside mk zero
 *   GB_BCAST(x)       x in every lane
 *   GB_STEP(c, a, b)  c + a b in float32 (FMA; vdpbf16ps: c + a0 b0 + a1 b1)
 * and block_zero, block_store and UNROLL defined. */

/* One block: MR rows x NV vectors of C at C; the last vector covers the
 * lanes of `last`. A's entry (i, p) is A[i * ars + p * acs]. MR and NV are
 * constants at every call (always_inline), so the loops unroll and the
 * block lives in registers. acc, rnd: as block_store. */
static inline __attribute__((always_inline, target(GB_TARGET))) void
GB(block)(int MR, int NV, int64_t k, const GB_T *A, int64_t ars, int64_t acs, const GB_T *Bm,
          int64_t ldb, float *C, int64_t ldc, __mmask16 last, bool acc, bool rnd)
{
    __m512 c[8][8];
    block_zero(MR, NV, c);
    for (int64_t p = 0; p < k; p++) {
        const GB_T *b = Bm + p * ldb;
        GB_V bv[8];
UNROLL
        for (int v = 0; v < NV; v++)
            bv[v] = GB_LOAD(v == NV - 1 ? last : (__mmask16)0xFFFF, b + 16 * v);
UNROLL
        for (int i = 0; i < MR; i++) {
            const GB_V a = GB_BCAST(A[i * ars + p * acs]);
UNROLL
            for (int v = 0; v < NV; v++)
                c[i][v] = GB_STEP(c[i][v], a, bv[v]);
        }
    }
    block_store(MR, NV, c, C, ldc, last, acc, rnd);
}

#undef GB
#undef GB_TARGET
#undef GB_T
#undef GB_V
#undef GB_LOAD
#undef GB_BCAST
#undef GB_STEP
