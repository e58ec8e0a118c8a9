/* cpu_rnn_util.h - what the CPU backend's recurrent ops (cpu_gru.c,
 * cpu_lstm.c) share: growable float workspaces, activations evaluated in
 * double and stored as float, and row-major cblas_sgemm. */
#ifndef RNNC_CPU_RNN_UTIL_H
#define RNNC_CPU_RNN_UTIL_H

#include <cblas.h>
#include <stdbool.h>
#include <stdlib.h>

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

#endif
