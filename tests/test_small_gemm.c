/* test_small_gemm.c - the fused kernels' float32 products
 * (layers/small_gemm_internal.h) against a float64 product computed here:
 *   - small_sgemm (where it runs: AVX-512F) for op(A) = A and A^T, C = and
 *     C +=, any leading dimensions, shapes covering its 8-, 4- and 1-row
 *     blocks, full and partial column blocks, one row, sums of more than
 *     256 terms (its chunks) and tall products (over 256 rows: its row
 *     panels);
 *   - its documented bit property: each element depends on its row of
 *     op(A) and column of Bm only, so a row computed alone (m = 1) has the
 *     same bits as in the whole product;
 *   - the BLAS side of rnnc__sgemm_pick (GEMV for one row, no terms). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/small_gemm_internal.h"

TestSuite(small_gemm);

/* Deterministic values in [-1, 1). */
static float *filled(int64_t n, uint64_t seed)
{
    float *p = malloc((size_t)n * sizeof *p);
    cr_assert(p);
    uint64_t s = seed * 6364136223846793005u + 1442695040888963407u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        p[i] = (float)((double)(s >> 40) / (double)(1u << 23)) - 1.0f;
    }
    return p;
}

typedef struct gemm_case {
    bool ta, acc;
    int64_t m, n, k;
} gemm_case;

/* op(A) stored with lda = its width + 3, Bm with ldb = n + 5, C with ldc =
 * n + 2 (padding that must stay untouched); checks C against float64. */
static void check_case(const gemm_case *c, bool small)
{
    const int64_t m = c->m, n = c->n, k = c->k;
    const int64_t lda = (c->ta ? m : k) + 3, ldb = n + 5, ldc = n + 2;
    const int64_t a_rows = c->ta ? k : m;
    float *A = filled(a_rows * lda, 1 + (uint64_t)(m * 131 + k));
    float *Bm = filled(k * ldb, 2 + (uint64_t)(n * 17 + k));
    float *C = filled(m * ldc, 3 + (uint64_t)m);
    float *C0 = malloc((size_t)(m * ldc) * sizeof *C0);
    cr_assert(C0);
    memcpy(C0, C, (size_t)(m * ldc) * sizeof *C);
    rnnc__sgemm_pick(small, c->ta, m, n, k, A, lda, Bm, ldb, c->acc, C, ldc);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double want = c->acc ? (double)C0[i * ldc + j] : 0.0, mag = fabs(want);
            for (int64_t p = 0; p < k; p++) {
                const double a = c->ta ? A[p * lda + i] : A[i * lda + p];
                want += a * (double)Bm[p * ldb + j];
                mag += fabs(a * (double)Bm[p * ldb + j]);
            }
            const double got = C[i * ldc + j];
            cr_assert_leq(fabs(got - want), 1e-5 * (mag + 1.0),
                          "%s ta=%d acc=%d m=%lld n=%lld k=%lld: C[%lld][%lld] = %.9g, want %.9g",
                          small ? "small_sgemm" : "BLAS", c->ta, c->acc, (long long)m,
                          (long long)n, (long long)k, (long long)i, (long long)j, got, want);
        }
        for (int64_t j = n; j < ldc; j++) /* the padding */
            cr_assert_eq(C[i * ldc + j], C0[i * ldc + j], "padding of row %lld written",
                         (long long)i);
    }
    free(A);
    free(Bm);
    free(C);
    free(C0);
}

static const gemm_case cases[] = {
    {false, false, 19, 148, 37},  {false, true, 19, 148, 37},  /* 8+8+1+1+1 rows, tail of 20 */
    {false, true, 12, 16, 64},    {false, false, 4, 33, 5},    /* 8+4 rows; 1-lane tail */
    {false, false, 1, 300, 45},   {false, true, 1, 129, 8},    /* one row: 8-vector blocks */
    {false, false, 300, 40, 24},  {false, true, 290, 512, 64}, /* tall: panels of 64 rows */
    {true, true, 37, 148, 570},   {true, false, 20, 7, 600},   /* sums in chunks of 256 */
    {true, true, 1, 70, 300},     {true, false, 9, 32, 256},
};

Test(small_gemm, small_sgemm_matches_float64_products)
{
    if (!rnnc__small_gemm_ok())
        cr_skip_test("small_sgemm does not run on this CPU (no AVX-512F)");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i], true);
}

Test(small_gemm, blas_side_matches_float64_products)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i], false);
}

Test(small_gemm, a_row_has_the_same_bits_alone_and_in_the_whole_product)
{
    if (!rnnc__small_gemm_ok())
        cr_skip_test("small_sgemm does not run on this CPU (no AVX-512F)");
    for (int ta = 0; ta < 2; ta++) {
        const int64_t m = 300, n = 70, k = ta ? 600 : 90, lda = ta ? m : k;
        float *A = filled((ta ? k : m) * lda, 11), *Bm = filled(k * n, 12);
        float *C = malloc((size_t)(m * n) * sizeof *C), *row = malloc((size_t)n * sizeof *row);
        cr_assert(C && row);
        rnnc__small_sgemm(ta, m, n, k, A, lda, Bm, n, false, C, n);
        for (int64_t i = 0; i < m; i += 7) {
            rnnc__small_sgemm(ta, 1, n, k, ta ? A + i : A + i * lda, lda, Bm, n, false, row, n);
            cr_assert(memcmp(row, C + i * n, (size_t)n * sizeof *row) == 0,
                      "ta=%d: row %lld alone differs from the whole product", ta, (long long)i);
        }
        free(A);
        free(Bm);
        free(C);
        free(row);
    }
}

Test(small_gemm, no_terms_give_zeros_or_leave_c)
{
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {0}, Bm[1] = {0};
    rnnc__sgemm_pick(false, false, 2, 3, 0, A, 1, Bm, 3, true, C, 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(C[i], (float)(i + 1));
    rnnc__sgemm_pick(true, false, 2, 3, 0, A, 1, Bm, 3, false, C, 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(C[i], 0.0f);
}
