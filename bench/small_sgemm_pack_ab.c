/* small_sgemm_pack_ab.c - A/B of rnnc's small_sgemm on a GRU step product,
 * (B, U) x (U, 3U), reading the recurrent kernel in place (rows 3U floats
 * apart) against reading it packed once into panels of 32 columns (each
 * panel's k rows contiguous, 128 bytes apart): the "packed-panel" idea of
 * issue 13, meant to keep the 8x32 register block's rows of R from mapping
 * to a few L1 sets. Prints GFLOP/s (best of N runs, one thread) for both,
 * the packing cost, and that both give the same bits.
 *
 * Build from the repository root against a build folder (Release):
 *   cc -O2 -I. bench/small_sgemm_pack_ab.c -o /tmp/pack_ab -Lbuild -lrnnc
 * -Wl,-rpath,$PWD/build /tmp/pack_ab 300 Measured 2026-12-07 on the AMD EPYC
 * (family 25 model 17, Zen 4; one core's AVX-512 FMA peak 118.2 GFLOP/s as
 * `rnnc bench gru` measures it): plain 107-112 GFLOP/s, packed 102-112, no gain
 * at any shape (README, "Performance"); valgrind cannot run AVX-512 and the
 * machine has no performance counters, so the L1-set explanation measured on a
 * Xeon could not be checked here. Only where rnnc__small_gemm_ok() (AVX-512F).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layers/small_gemm_internal.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static void pack(int64_t k, int64_t n, const float *R, float *P)
{
    for (int64_t j = 0; j < n; j += 32) {
        int64_t w = n - j < 32 ? n - j : 32;
        float *pj = P + (j / 32) * k * 32;
        for (int64_t p = 0; p < k; p++) {
            memcpy(pj + p * 32, R + p * n + j, w * 4);
            if (w < 32)
                memset(pj + p * 32 + w, 0, (32 - w) * 4);
        }
    }
}
static void packed(int64_t m, int64_t n, int64_t k, const float *A, const float *P, float *C)
{
    for (int64_t j = 0; j < n; j += 32) {
        int64_t w = n - j < 32 ? n - j : 32;
        rnnc__small_sgemm(false, m, w, k, A, k, P + (j / 32) * k * 32, 32, false, C + j, n);
    }
}
int main(int argc, char **argv)
{
    if (!rnnc__small_gemm_ok()) {
        puts("small_sgemm does not run on this CPU (no AVX-512F)");
        return 0;
    }
    int reps = argc > 1 ? atoi(argv[1]) : 200;
    int only = argc > 2 ? atoi(argv[2]) : -1;
    int64_t shapes[][2] = {{8, 64}, {32, 128}, {64, 256}, {128, 512}, {32, 32}};
    for (int s = 0; s < 5; s++) {
        int64_t B = shapes[s][0], U = shapes[s][1], n = 3 * U, k = U;
        float *A = malloc(B * k * 4), *R = malloc(k * n * 4),
              *P = calloc(((n + 31) / 32) * 32 * k, 4), *C1 = malloc(B * n * 4),
              *C2 = malloc(B * n * 4);
        for (int64_t i = 0; i < B * k; i++)
            A[i] = (i % 7) * 0.1f;
        for (int64_t i = 0; i < k * n; i++)
            R[i] = (i % 5) * 0.1f;
        double tp = 1e30, tq = 1e30, tpk = 1e30;
        for (int r = 0; r < reps; r++) {
            if (only != 1) {
                double t0 = now();
                rnnc__small_sgemm(false, B, n, k, A, k, R, n, false, C1, n);
                double t = now() - t0;
                if (t < tp)
                    tp = t;
            }
            if (only != 0) {
                double t0 = now();
                packed(B, n, k, A, P, C2);
                double t = now() - t0;
                if (t < tq)
                    tq = t;
            }
            if (only == -1 && r < 20) {
                double t0 = now();
                pack(k, n, R, P);
                double t = now() - t0;
                if (t < tpk)
                    tpk = t;
            }
        }
        if (only == -1) {
            pack(k, n, R, P);
            packed(B, n, k, A, P, C2);
            rnnc__small_sgemm(false, B, n, k, A, k, R, n, false, C1, n);
        }
        double fl = 2.0 * B * n * k;
        printf("B%-4lld U%-4lld plain %7.1f GF/s  packed %7.1f GF/s  pack once "
               "%.3f ms (= %.1f%% of a plain step)  same bits %s\n",
               (long long)B, (long long)U, fl / (tp * 1e6), fl / (tq * 1e6), tpk, 100 * tpk / tp,
               only == -1 && memcmp(C1, C2, B * n * 4) == 0 ? "yes" : "-");
        free(A);
        free(R);
        free(P);
        free(C1);
        free(C2);
    }
}
