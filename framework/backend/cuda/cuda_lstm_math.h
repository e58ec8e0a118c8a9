/* cuda_lstm_math.h - the bodies of the generic LSTM's step kernels (one
 * unit i = b*U + u of step k, time t), plain C that the CUDA kernels
 * (cuda_lstm_kernels.cu) and the CPU emulation (tests/cuda_emu/
 * cuda_emu_lstm.c) both run. The step's recurrent product (B, 4U) comes
 * from cuBLAS before the forward kernel; the backward kernel writes the
 * gate gradients that cuBLAS then multiplies (cuda_backend_lstm.c). Same
 * rules as the CPU op (cpu_lstm.c): gates i, f, c, o; a masked step
 * freezes h and c and outputs the previous output (zeros with zofm). */
#ifndef RNNC_CUDA_LSTM_MATH_H
#define RNNC_CUDA_LSTM_MATH_H

#include "framework/backend/cuda/cuda_kernel_math.h"
#include "framework/backend/cuda/cuda_lstm_kernels.h"

RNNC_HD void rnnc__b_lstm_fwd(const rnnc__lstm_kargs *a, int k, int t, const float *rec, size_t i)
{
    const int B = a->B, T = a->T, U = a->U, G = 4 * a->U;
    const int b = (int)(i / (size_t)U), u = (int)(i % (size_t)U);
    const float *xp = a->xp + ((size_t)b * T + t) * G, *r = rec + (size_t)b * G;
    const size_t g = (size_t)k * B * G + (size_t)b * G, s = (size_t)k * B * U + i;
    float p[4], v[4];
    for (int q = 0; q < 4; q++) {
        p[q] = xp[q * U + u] + r[q * U + u];
        v[q] = rnnc__k_act(q == 2 ? a->act : a->ract, p[q]);
        a->P[g + q * U + u] = p[q];
        a->A[g + q * U + u] = v[q];
    }
    const float hp = a->hs[s], cp = a->cs[s];
    float cn = v[1] * cp + v[0] * v[2];
    const float ca = rnnc__k_act(a->act, cn);
    float hn = v[3] * ca;
    a->CA[s] = ca;
    const int keep = !a->mask || a->mask[(size_t)b * T + t];
    float out = hn;
    if (!keep) {
        hn = hp;
        cn = cp;
        out = a->zofm ? 0.0f : a->prev[i];
    }
    a->prev[i] = out;
    a->hs[s + (size_t)B * U] = hn;
    a->cs[s + (size_t)B * U] = cn;
    if (a->seq)
        a->Y[((size_t)b * T + k) * U + u] = out;
}

/* dh, dc: the state gradients into step k's outputs; carry: the previous
 * output's. Writes dzx (B, T, 4U) at time t, dzk (B, 4U), dhp (B, U) the
 * previous h's gradient before the product through R; dc moves to the
 * previous cell state. */
RNNC_HD void rnnc__b_lstm_bwd(const rnnc__lstm_kargs *a, int k, int t, const float *dY,
                              const rnnc__lstm_bargs *w, size_t i)
{
    const int B = a->B, T = a->T, U = a->U, G = 4 * a->U;
    const int b = (int)(i / (size_t)U), u = (int)(i % (size_t)U);
    const int keep = !a->mask || a->mask[(size_t)b * T + t];
    const size_t g = (size_t)k * B * G + (size_t)b * G, s = (size_t)k * B * U + i;
    float *dzx = w->dzx + ((size_t)b * T + t) * G, *dzk = w->dzk + (size_t)b * G;
    float gout = w->carry[i];
    if (a->seq)
        gout += dY[((size_t)b * T + k) * U + u];
    else if (k == T - 1)
        gout += dY[i];
    if (!keep) {
        w->carry[i] = a->zofm ? 0.0f : gout;
        w->dhp[i] = w->dh[i];
        for (int q = 0; q < 4; q++)
            dzx[q * U + u] = dzk[q * U + u] = 0.0f;
        return;
    }
    w->carry[i] = 0.0f;
    const float *P = a->P + g, *A = a->A + g;
    const float gi = A[u], gf = A[U + u], gg = A[2 * U + u], go = A[3 * U + u];
    const float ca = a->CA[s], cp = a->cs[s], cn = a->cs[s + (size_t)B * U];
    const float dhn = gout + w->dh[i];
    const float dcn = w->dc[i] + dhn * go * rnnc__k_dact(a->act, cn, ca);
    float dz[4];
    dz[0] = dcn * gg * rnnc__k_dact(a->ract, P[u], gi);
    dz[1] = dcn * cp * rnnc__k_dact(a->ract, P[U + u], gf);
    dz[2] = dcn * gi * rnnc__k_dact(a->act, P[2 * U + u], gg);
    dz[3] = dhn * ca * rnnc__k_dact(a->ract, P[3 * U + u], go);
    for (int q = 0; q < 4; q++)
        dzx[q * U + u] = dzk[q * U + u] = dz[q];
    w->dc[i] = dcn * gf;
    w->dhp[i] = 0.0f;
}

#endif
