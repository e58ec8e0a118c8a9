/* cpu_rnn_internal.h - what the CPU backend's recurrent ops (cpu_gru.c,
 * cpu_lstm.c) share: growable float workspaces, activations evaluated in
 * double and stored as float, and row-major cblas_sgemm. */
#ifndef RNNC_CPU_RNN_UTIL_H
#define RNNC_CPU_RNN_UTIL_H

#include <cblas.h>
#include <stdbool.h>
#include <stdint.h>
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

/* A (B, T) mask copy's storage, grown to B * T bytes; op ("gru", "lstm")
 * names it in the error. */
static inline rnnc_status cpu_rnn_mask_reserve(uint8_t **mask, size_t *cap, int64_t B, int64_t T,
                                               const char *op)
{
    const size_t n = (size_t)B * (size_t)T;
    if (n <= *cap)
        return RNNC_OK;
    uint8_t *m = (uint8_t *)realloc(*mask, n);
    if (!m)
        return rnnc_fail(RNNC_E_NOMEM, "cpu %s: out of memory for a %lld x %lld mask", op,
                         (long long)B, (long long)T);
    *mask = m;
    *cap = n;
    return RNNC_OK;
}

/* The forward's copies, so the caller's buffers may change before
 * backward: W (F, G), R (U, G), nbias floats of bias (when bias), x
 * (B, T, F) when training, the mask as 0 / 1 (when mask); then every
 * step's input projections xp = x W + bias[0..G). */
static inline void cpu_rnn_forward_load(int64_t B, int64_t T, int64_t F, int64_t U, int64_t G,
                                        const float *x, const uint8_t *mask, const float *kernel,
                                        const float *recurrent_kernel, const float *bias,
                                        size_t nbias, bool training, float *W, float *R,
                                        float *bias_copy, float *x_copy, uint8_t *mask_copy,
                                        float *xp)
{
    memcpy(W, kernel, (size_t)(F * G) * sizeof(float));
    memcpy(R, recurrent_kernel, (size_t)(U * G) * sizeof(float));
    if (bias)
        memcpy(bias_copy, bias, nbias * sizeof(float));
    if (training)
        memcpy(x_copy, x, (size_t)(B * T * F) * sizeof(float));
    if (mask)
        for (int64_t i = 0; i < B * T; i++)
            mask_copy[i] = mask[i] != 0;
    cpu_rnn_project(B * T, F, G, x, W, bias ? bias_copy : NULL, xp);
}

/* The end of forward: without seq, Y (B, U) = the latest output prev;
 * state = the last h (when state). n = B * U. */
static inline void cpu_rnn_forward_out(bool seq, size_t n, const float *prev, const float *h_last,
                                       float *Y, float *state)
{
    if (!seq)
        memcpy(Y, prev, n * sizeof(float));
    if (state)
        memcpy(state, h_last, n * sizeof(float));
}

/* Backward's preconditions: the op exists (exists), a training forward
 * ran (ready) and no backward since (done). op "gru" / "lstm", name
 * "GRU" / "LSTM" in the messages. */
static inline rnnc_status cpu_rnn_backward_ready(bool exists, bool ready, bool done, const char *op,
                                                 const char *name)
{
    if (!exists)
        return rnnc_fail(RNNC_E_ARG, "cpu %s_backward: the %s is NULL", op, name);
    if (!ready)
        return rnnc_fail(RNNC_E_STATE, "cpu %s_backward: needs a forward with training=true first", op);
    if (done)
        return rnnc_fail(RNNC_E_STATE, "cpu %s_backward: backward already ran for this forward", op);
    return RNNC_OK;
}

/* A masked step of row element i (unit j) in backward: the output was
 * the previous output (or zeros with zofm), so gout carries on; the state
 * was the previous state, so its gradient dst passes to dhp; the gates
 * (gates blocks of U in dz) get none. */
static inline void cpu_rnn_masked_grad(float gout, bool zofm, int64_t i, int64_t j, int64_t U,
                                       int gates, const float *dst, float *carry, float *dhp,
                                       float *dz)
{
    carry[i] = zofm ? 0.0f : gout;
    dhp[i] = dst[i];
    for (int g = 0; g < gates; g++)
        dz[g * U + j] = 0.0f;
}

/* The end of backward from the gate gradients dz (n = B * T rows of G):
 * dx = dz W^T (when dx), dkernel += x^T dz, dbias[0..G) += dz's column
 * sums (when dbias). */
static inline void cpu_rnn_input_grads(int64_t n, int64_t F, int64_t G, const float *dz,
                                       const float *W, const float *x, float *dx, float *dkernel,
                                       float *dbias)
{
    if (dx)
        cpu_gemm(false, true, n, F, G, dz, G, W, G, 0.0f, dx, F);
    cpu_gemm(true, false, F, G, n, x, F, dz, G, 1.0f, dkernel, G);
    if (dbias)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < G; j++)
                dbias[j] += dz[i * G + j];
}

#endif
