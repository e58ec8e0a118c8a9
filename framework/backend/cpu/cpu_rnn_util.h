/* cpu_rnn_util.h - what the CPU backend's recurrent ops (cpu_gru.c,
 * cpu_lstm.c) share: growable float workspaces, activations evaluated in
 * double and stored as float, and row-major cblas_sgemm. */
#ifndef RNNC_CPU_RNN_UTIL_H
#define RNNC_CPU_RNN_UTIL_H

#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "framework/activations.h"
#include "framework/status.h"

typedef struct cpu_fbuf {
    float *p;
    size_t cap;
} cpu_fbuf;

/* At least n floats (contents kept); reallocated only to grow. */
static inline rnnc_status cpu_fbuf_reserve(cpu_fbuf *b, size_t n)
{
    if (n <= b->cap)
        return RNNC_OK;
    float *p = (float *)realloc(b->p, n * sizeof *p);
    if (!p)
        return rnnc_fail(RNNC_E_NOMEM, "cpu backend: out of memory for %zu floats", n);
    b->p = p;
    b->cap = n;
    return RNNC_OK;
}

static inline float cpu_act(rnnc_act a, float x) { return (float)rnnc_act_apply(a, (double)x); }

/* The derivative at pre-activation x with value y. */
static inline float cpu_dact(rnnc_act a, float x, float y)
{
    return (float)rnnc_act_deriv(a, (double)x, (double)y);
}

/* C (m, n) = op(A) op(B) + beta C, row-major with leading dimensions. */
static inline void cpu_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float *a,
                            int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* xp (n, G) = x (n, F) W (F, G) + bias (G, or NULL): every step's input
 * projections at once. */
static inline void cpu_rnn_project(int64_t n, int64_t F, int64_t G, const float *x, const float *W,
                                   const float *bias, float *xp)
{
    cpu_gemm(false, false, n, G, F, x, F, W, G, 0.0f, xp, G);
    if (bias)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < G; j++)
                xp[i * G + j] += bias[j];
}

/* dst = src, or zeros when src is NULL (n floats). */
static inline void cpu_copy_or_zero(float *dst, const float *src, size_t n)
{
    if (src)
        memcpy(dst, src, n * sizeof(float));
    else
        memset(dst, 0, n * sizeof(float));
}

/* Row b's output at step k after its new state hn (a recurrent layer's
 * masking rule): a kept step outputs hn; a masked one freezes the state
 * (hn = hp) and outputs the previous output, zeros with zofm. prev (U)
 * holds the latest output; Y (B, T, U) takes it when seq. */
static inline void cpu_rnn_row_out(bool keep, bool zofm, bool seq, int64_t U, const float *hp,
                                   float *hn, float *prev, float *Y)
{
    const size_t n = (size_t)U * sizeof(float);
    if (!keep)
        memcpy(hn, hp, n);
    if (keep)
        memcpy(prev, hn, n);
    else if (zofm)
        memset(prev, 0, n);
    if (seq)
        memcpy(Y, prev, n);
}

/* The gradient reaching output (b, j) of step k: the carried gradient of
 * the previous output plus dY's (every step with seq, else the last). */
static inline float cpu_rnn_gout(const float *carry, const float *dY, bool seq, int64_t k,
                                 int64_t T, int64_t b, int64_t j, int64_t U)
{
    const int64_t i = b * U + j;
    float g = carry[i];
    if (seq)
        g += dY[(b * T + k) * U + j];
    else if (k == T - 1)
        g += dY[i];
    return g;
}

#endif
