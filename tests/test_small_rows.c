/* test_small_rows.c - the few-row product of the fused kernels
 * (layers/small_rows_internal.h, rnnc__small_rows: a step's product at
 * batch 1 to 4) and small_sgemm's dispatch to it:
 *   - against a float64 product computed here, over random sizes (n and k
 *     including 1, odd sizes, n over 384 columns: several passes), C = and
 *     C +=, padded leading dimensions that must stay untouched;
 *   - its documented bits: each element is the FMA chain fmaf(a, b, c) over
 *     p in order from zero, then added to C: equal to a scalar fmaf loop
 *     here, bit for bit (so to small_sgemm's, which documents the same);
 *   - m from 1 to 9 through rnnc__small_sgemm (1 to 4 go to small_rows,
 *     5 to 9 to small_sgemm's blocks): the same bits either way;
 *   - m outside 1..4 refused (false, C untouched). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/small_gemm_internal.h"
#include "layers/small_rows_internal.h"

TestSuite(small_rows);

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return *s >> 33;
}

/* Deterministic values in [-1, 1). */
static float *filled(int64_t n, uint64_t seed)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    cr_assert(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((double)next(&seed) / (double)(1u << 30)) - 1.0f;
    return p;
}

typedef struct rows_case {
    int64_t m, n, k;
    bool acc;
} rows_case;

/* Runs one case through rnnc__small_rows (direct) or rnnc__small_sgemm,
 * with lda = k + 3, ldb = n + 5, ldc = n + 2; checks the padding, the
 * float64 product and the fmaf chain's bits. */
static void check_case(const rows_case *c, bool direct, uint64_t seed)
{
    const int64_t m = c->m, n = c->n, k = c->k, lda = k + 3, ldb = n + 5, ldc = n + 2;
    float *A = filled(m * lda, seed), *Bm = filled(k * ldb, seed + 1);
    float *C = filled(m * ldc, seed + 2), *C0 = malloc((size_t)(m * ldc) * sizeof *C0);
    cr_assert(C0);
    memcpy(C0, C, (size_t)(m * ldc) * sizeof *C);
    if (direct)
        cr_assert(rnnc__small_rows(m, n, k, A, lda, Bm, ldb, c->acc, C, ldc),
                  "small_rows refused m=%lld n=%lld k=%lld", (long long)m, (long long)n,
                  (long long)k);
    else
        rnnc__small_sgemm(false, m, n, k, A, lda, Bm, ldb, c->acc, C, ldc);
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < ldc; j++) {
            const float got = C[i * ldc + j];
            if (j >= n) {
                cr_assert(memcmp(&got, &C0[i * ldc + j], sizeof got) == 0,
                          "padding C[%lld][%lld] changed (m=%lld n=%lld k=%lld)", (long long)i,
                          (long long)j, (long long)m, (long long)n, (long long)k);
                continue;
            }
            double want = c->acc ? (double)C0[i * ldc + j] : 0.0, mag = fabs(want);
            float chain = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                const double t = (double)A[i * lda + p] * (double)Bm[p * ldb + j];
                want += t;
                mag += fabs(t);
                chain = fmaf(A[i * lda + p], Bm[p * ldb + j], chain);
            }
            const float bits = c->acc ? C0[i * ldc + j] + chain : chain;
            cr_assert(fabs((double)got - want) <= 2.0 * (double)(k + 1) * FLT_EPSILON * mag + 1e-30,
                      "C[%lld][%lld] = %.9g, float64 %.9g (m=%lld n=%lld k=%lld acc=%d)",
                      (long long)i, (long long)j, (double)got, want, (long long)m, (long long)n,
                      (long long)k, (int)c->acc);
            cr_assert(memcmp(&got, &bits, sizeof got) == 0,
                      "C[%lld][%lld] = %a, the fmaf chain %a (m=%lld n=%lld k=%lld acc=%d)",
                      (long long)i, (long long)j, (double)got, (double)bits, (long long)m,
                      (long long)n, (long long)k, (int)c->acc);
        }
    }
    free(A);
    free(Bm);
    free(C);
    free(C0);
}

/* Fixed edges, then random sizes: n and k in 1..~800, odd ones included. */
static void run_cases(int64_t m_lo, int64_t m_hi, bool direct)
{
    static const int64_t ns[] = {1, 3, 15, 16, 17, 96, 127, 192, 383, 384, 385, 400, 769};
    static const int64_t ks[] = {1, 2, 7, 16, 33, 128};
    uint64_t s = 12345;
    for (int64_t m = m_lo; m <= m_hi; m++) {
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) {
                const rows_case c = {m, ns[a], ks[b], (a + b) % 2 == 1};
                check_case(&c, direct, (uint64_t)(m * 1000 + (int64_t)(a * 10 + b)));
            }
        for (int r = 0; r < 12; r++) {
            const rows_case c = {m, 1 + (int64_t)(next(&s) % 800), 1 + (int64_t)(next(&s) % 300),
                                 next(&s) % 2 == 1};
            check_case(&c, direct, next(&s));
        }
    }
}

Test(small_rows, matches_float64_and_the_fma_chain_for_1_to_4_rows)
{
    if (!rnnc__small_gemm_ok())
        cr_skip_test("small_rows does not run on this CPU (no AVX-512F)");
    run_cases(1, SMALL_ROWS_MAX, true);
}

Test(small_rows, small_sgemm_gives_the_same_bits_for_1_to_9_rows)
{
    if (!rnnc__small_gemm_ok())
        cr_skip_test("small_sgemm does not run on this CPU (no AVX-512F)");
    run_cases(1, 9, false);
}

Test(small_rows, no_terms_give_zeros_or_leave_c)
{
    if (!rnnc__small_gemm_ok())
        cr_skip_test("small_rows does not run on this CPU (no AVX-512F)");
    float A[4] = {1, 2, 3, 4}, Bm[1] = {5}, C[2 * 3];
    for (int i = 0; i < 6; i++)
        C[i] = 7.0f;
    cr_assert(rnnc__small_rows(2, 3, 0, A, 1, Bm, 3, false, C, 3));
    for (int i = 0; i < 6; i++)
        cr_assert_eq(C[i], 0.0f);
    for (int i = 0; i < 6; i++)
        C[i] = 7.0f;
    cr_assert(rnnc__small_rows(2, 3, 0, A, 1, Bm, 3, true, C, 3));
    for (int i = 0; i < 6; i++)
        cr_assert_eq(C[i], 7.0f);
}

Test(small_rows, other_row_counts_are_refused_and_c_untouched)
{
    float A[16] = {0}, Bm[16] = {0}, C[16];
    for (int i = 0; i < 16; i++)
        C[i] = 3.0f;
    const int64_t ms[] = {0, 5, 8, 9, -1};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        cr_assert(!rnnc__small_rows(ms[i], 1, 1, A, 1, Bm, 1, false, C, 1), "m=%lld taken",
                  (long long)ms[i]);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(C[i], 3.0f);
}
