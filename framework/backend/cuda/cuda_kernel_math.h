/* cuda_kernel_math.h - the per-element bodies of the backend's CUDA kernels,
 * written once as plain C that compiles both as CUDA device code (included
 * by cuda_kernels.cu, where each kernel is a grid loop over one body) and as
 * host C (tests/test_cuda_emulated.c runs the same bodies in CPU loops, so
 * the index arithmetic, the masking rules and the gate math are tested on
 * machines without a GPU).
 *
 * Float32, IEEE functions (expf, tanhf, ...; no fast-math intrinsics).
 * Activations follow framework/activations.c, derivatives included, down
 * to the values at kinks. Contracts of each body: cuda_kernels.h (the
 * launcher of the same name). */
#ifndef RNNC_CUDA_KERNEL_MATH_H
#define RNNC_CUDA_KERNEL_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/activations.h"
#include "framework/backend/cuda/cuda_kernels.h"

#if defined(__CUDACC__)
#define RNNC_HD static __host__ __device__ __forceinline__
#else
#define RNNC_HD static inline
#endif

/* ---- scalar activations --------------------------------------------- */

#define RNNC_K_SELU_ALPHA 1.6732632423543772848170429916717f
#define RNNC_K_SELU_SCALE 1.0507009873554804934193349852946f
#define RNNC_K_SQRT1_2 0.70710678118654752440084436210485f
#define RNNC_K_INV_SQRT_2PI 0.39894228040143267793994605993438f

RNNC_HD float rnnc__k_sigmoid(float x)
{
    /* Split by sign so expf never overflows. */
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

RNNC_HD float rnnc__k_softplus(float x)
{
    return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

RNNC_HD float rnnc__k_hard_sigmoid(float x)
{
    const float u = x + 3.0f;
    return (u < 0.0f ? 0.0f : u > 6.0f ? 6.0f : u) / 6.0f;
}

RNNC_HD float rnnc__k_hard_sigmoid_d(float x)
{
    const float u = x + 3.0f;
    return (u > 0.0f && u < 6.0f) ? 1.0f / 6.0f : 0.0f;
}

RNNC_HD float rnnc__k_act(int a, float x)
{
    switch (a) {
    case RNNC_ACT_LINEAR: return x;
    case RNNC_ACT_TANH: return tanhf(x);
    case RNNC_ACT_SIGMOID: return rnnc__k_sigmoid(x);
    case RNNC_ACT_HARD_SIGMOID: return rnnc__k_hard_sigmoid(x);
    case RNNC_ACT_RELU: return x > 0.0f ? x : (x == x ? 0.0f : x);
    case RNNC_ACT_RELU6: return x > 6.0f ? 6.0f : x > 0.0f ? x : (x == x ? 0.0f : x);
    case RNNC_ACT_LEAKY_RELU: return x > 0.0f ? x : 0.2f * x;
    case RNNC_ACT_ELU: return x > 0.0f ? x : expm1f(x);
    case RNNC_ACT_SELU:
        return x > 0.0f ? RNNC_K_SELU_SCALE * x : RNNC_K_SELU_SCALE * RNNC_K_SELU_ALPHA * expm1f(x);
    case RNNC_ACT_CELU: return (x > 0.0f ? x : 0.0f) + expm1f(x < 0.0f ? x : 0.0f);
    case RNNC_ACT_GELU: return 0.5f * x * erfcf(-x * RNNC_K_SQRT1_2);
    case RNNC_ACT_SOFTPLUS: return rnnc__k_softplus(x);
    case RNNC_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case RNNC_ACT_SILU: return x * rnnc__k_sigmoid(x);
    case RNNC_ACT_HARD_SILU: return x * rnnc__k_hard_sigmoid(x);
    case RNNC_ACT_MISH: return x * tanhf(rnnc__k_softplus(x));
    case RNNC_ACT_EXPONENTIAL: return expf(x);
    case RNNC_ACT_LOG_SIGMOID: return -rnnc__k_softplus(-x);
    case RNNC_ACT_HARD_TANH: return x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
    case RNNC_ACT_TANH_SHRINK: return x - tanhf(x);
    case RNNC_ACT_SOFT_SHRINK:
        return x > 0.5f ? x - 0.5f : x < -0.5f ? x + 0.5f : (x == x ? 0.0f : x);
    case RNNC_ACT_HARD_SHRINK: return fabsf(x) > 0.5f ? x : (x == x ? 0.0f : x);
    case RNNC_ACT_SPARSE_SIGMOID: return x <= -1.0f ? 0.0f : x >= 1.0f ? 1.0f : 0.5f * (x + 1.0f);
    case RNNC_ACT_SPARSE_PLUS:
        return x <= -1.0f ? 0.0f : x < 1.0f ? 0.25f * (x + 1.0f) * (x + 1.0f) : x;
    case RNNC_ACT_SQUAREPLUS: {
        /* 2 / (sqrt(x^2+4) - x) for x < 0, where the sum would cancel. */
        const float s = sqrtf(x * x + 4.0f);
        return x >= 0.0f ? 0.5f * (x + s) : 2.0f / (s - x);
    }
    case RNNC_ACT_HARD_SIGMOID_K2: {
        const float z = 0.2f * x + 0.5f;
        return z < 0.0f ? 0.0f : z > 1.0f ? 1.0f : z;
    }
    default: return NAN; /* not element-wise */
    }
}

/* d act / dx, given x and y = act(x). */
RNNC_HD float rnnc__k_dact(int a, float x, float y)
{
    switch (a) {
    case RNNC_ACT_LINEAR: return 1.0f;
    case RNNC_ACT_TANH: return 1.0f - y * y;
    case RNNC_ACT_SIGMOID: return y * (1.0f - y);
    case RNNC_ACT_HARD_SIGMOID: return rnnc__k_hard_sigmoid_d(x);
    case RNNC_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case RNNC_ACT_RELU6: return (x > 0.0f && x < 6.0f) ? 1.0f : 0.0f;
    case RNNC_ACT_LEAKY_RELU: return x > 0.0f ? 1.0f : 0.2f;
    case RNNC_ACT_ELU: return x < 0.0f ? expf(x) : 1.0f;
    case RNNC_ACT_SELU: return x < 0.0f ? RNNC_K_SELU_SCALE * RNNC_K_SELU_ALPHA * expf(x) : RNNC_K_SELU_SCALE;
    case RNNC_ACT_CELU: return x > 0.0f ? 1.0f : expf(x);
    case RNNC_ACT_GELU:
        return 0.5f * erfcf(-x * RNNC_K_SQRT1_2) + x * RNNC_K_INV_SQRT_2PI * expf(-0.5f * x * x);
    case RNNC_ACT_SOFTPLUS: return rnnc__k_sigmoid(x);
    case RNNC_ACT_SOFTSIGN: {
        const float d = 1.0f + fabsf(x);
        return 1.0f / (d * d);
    }
    case RNNC_ACT_SILU: {
        const float s = rnnc__k_sigmoid(x);
        return s * (1.0f + x * (1.0f - s));
    }
    case RNNC_ACT_HARD_SILU: return rnnc__k_hard_sigmoid(x) + x * rnnc__k_hard_sigmoid_d(x);
    case RNNC_ACT_MISH: {
        const float t = tanhf(rnnc__k_softplus(x));
        return t + x * (1.0f - t * t) * rnnc__k_sigmoid(x);
    }
    case RNNC_ACT_EXPONENTIAL: return y;
    case RNNC_ACT_LOG_SIGMOID: return rnnc__k_sigmoid(-x);
    case RNNC_ACT_HARD_TANH: return (x >= -1.0f && x <= 1.0f) ? 1.0f : 0.0f;
    case RNNC_ACT_TANH_SHRINK: {
        const float t = tanhf(x);
        return t * t;
    }
    case RNNC_ACT_SOFT_SHRINK: return (x > 0.5f || x < -0.5f) ? 1.0f : 0.0f;
    case RNNC_ACT_HARD_SHRINK: return fabsf(x) > 0.5f ? 1.0f : 0.0f;
    case RNNC_ACT_SPARSE_SIGMOID: return (x > -1.0f && x < 1.0f) ? 0.5f : 0.0f;
    case RNNC_ACT_SPARSE_PLUS: return x <= -1.0f ? 0.0f : x < 1.0f ? 0.5f * (x + 1.0f) : 1.0f;
    case RNNC_ACT_SQUAREPLUS: return 0.5f * (1.0f + x / sqrtf(x * x + 4.0f));
    case RNNC_ACT_HARD_SIGMOID_K2: {
        const float z = 0.2f * x + 0.5f;
        return (z >= 0.0f && z <= 1.0f) ? 0.2f : 0.0f;
    }
    default: return NAN;
    }
}

/* ---- element-wise and layout bodies (element i) ------------------------ */

RNNC_HD void rnnc__b_gather(float *dst, const float *src, const int32_t *map, size_t i)
{
    const int32_t j = map[i];
    dst[i] = j >= 0 ? src[j] : 0.0f;
}

RNNC_HD void rnnc__b_scatter_add(float *dst, const float *src, const int32_t *map, size_t i)
{
    const int32_t j = map[i];
    if (j >= 0)
        dst[j] += src[i];
}

/* i indexes dst (B, T, C). */
RNNC_HD void rnnc__b_seq_permute(float *dst, const float *src, const float *drop,
                                 const int32_t *lens, int B, int T, int C, int reverse, size_t i)
{
    (void)B;
    const int c = (int)(i % (size_t)C);
    const int p = (int)((i / (size_t)C) % (size_t)T);
    const int b = (int)(i / ((size_t)C * (size_t)T));
    const int len = lens ? lens[b] : T;
    float v = 0.0f;
    if (p < len) {
        const int q = reverse ? len - 1 - p : p;
        v = src[((size_t)b * T + q) * C + c];
        if (drop)
            v *= drop[(size_t)b * C + c];
    }
    dst[i] = v;
}

/* i indexes y (B, T, U); the k == 0 elements also write last. */
RNNC_HD void rnnc__b_cudnn_outputs(float *y, float *last, const float *yc, const float *hy,
                                   const int32_t *lens, int B, int T, int U, int go_backwards,
                                   int zofm, size_t i)
{
    (void)B;
    const int u = (int)(i % (size_t)U);
    const int k = (int)((i / (size_t)U) % (size_t)T);
    const int b = (int)(i / ((size_t)U * (size_t)T));
    const int len = lens ? lens[b] : T;
    const float *ycb = yc + (size_t)b * T * U;
    float v;
    if (go_backwards) {
        /* The padded steps come first in processing order: zeros (nothing
         * kept yet, or zero_output_for_mask); then the run shifted right. */
        const int shift = T - len;
        v = k < shift ? 0.0f : ycb[(size_t)(k - shift) * U + u];
    } else {
        /* After the run: the last kept output repeated, or zeros. */
        v = k < len ? ycb[(size_t)k * U + u] : (zofm ? 0.0f : ycb[(size_t)(len - 1) * U + u]);
    }
    y[i] = v;
    if (k == 0)
        last[(size_t)b * U + u] = (!go_backwards && zofm && len < T) ? 0.0f : hy[(size_t)b * U + u];
}

/* i indexes dyc (B, T, U); the j == 0 elements also write dhy. */
RNNC_HD void rnnc__b_cudnn_doutputs(float *dyc, float *dhy, const float *dy, const float *dlast,
                                    const float *dstate, const int32_t *lens, int B, int T, int U,
                                    int go_backwards, int zofm, size_t i)
{
    (void)B;
    const int u = (int)(i % (size_t)U);
    const int j = (int)((i / (size_t)U) % (size_t)T);
    const int b = (int)(i / ((size_t)U * (size_t)T));
    const int len = lens ? lens[b] : T;
    const float *dyb = dy ? dy + (size_t)b * T * U : NULL;
    float v = 0.0f;
    if (j < len && dyb) {
        if (go_backwards) {
            v = dyb[(size_t)(j + T - len) * U + u];
        } else {
            v = dyb[(size_t)j * U + u];
            /* Padded outputs repeat output len-1 (unless zeroed). */
            if (j == len - 1 && !zofm)
                for (int k = len; k < T; k++)
                    v += dyb[(size_t)k * U + u];
        }
    }
    dyc[i] = v;
    if (j == 0) {
        const size_t bu = (size_t)b * U + u;
        const int last_is_state = !(!go_backwards && zofm && len < T);
        dhy[bu] = (dstate ? dstate[bu] : 0.0f) + (last_is_state && dlast ? dlast[bu] : 0.0f);
    }
}

/* ---- generic GRU step bodies (unit i = b*U + u of step k, time t) ------- */

/* Bias of gate column j of the (B, 3U) pre-activations: z and r see
 * bi + br (reset_after) or b; h~ sees bi outside the reset product. */
RNNC_HD float rnnc__b_bias_in(const rnnc__gru_kargs *a, int j)
{
    if (!a->bias)
        return 0.0f;
    float v = a->bias[j];
    if (a->reset_after && j < 2 * a->U)
        v += a->bias[3 * a->U + j];
    return v;
}

/* Masking and outputs after the new state hn: frozen state and the
 * previous output (zeros before the first kept step) where masked. */
RNNC_HD void rnnc__b_step_out(const rnnc__gru_kargs *a, int k, int t, int b, int u, float hp,
                              float hn)
{
    const int B = a->B, T = a->T, U = a->U;
    const size_t bu = (size_t)b * U + u;
    const int keep = !a->mask || a->mask[(size_t)b * T + t];
    float y = hn;
    if (!keep) {
        hn = hp;
        y = a->zofm ? 0.0f : (k > 0 ? a->Y[((size_t)b * T + k - 1) * U + u] : 0.0f);
    }
    a->hs[(size_t)(k + 1) * B * U + bu] = hn;
    a->Y[((size_t)b * T + k) * U + u] = y;
}

/* ract, act: the activations, passed as constants by the specialized
 * kernels (the switches fold away) or read from a. */
RNNC_HD void rnnc__b_gru_fwd_ra(const rnnc__gru_kargs *a, int k, int t, const float *hr, int i,
                                int ract, int act)
{
    const int B = a->B, T = a->T, U = a->U;
    const int b = i / U, u = i % U;
    const float *x = a->xw + ((size_t)b * T + t) * 3 * U;
    const float *h = hr + (size_t)b * 3 * U;
    const float pz = x[u] + h[u] + rnnc__b_bias_in(a, u);
    const float pr = x[U + u] + h[U + u] + rnnc__b_bias_in(a, U + u);
    const float z = rnnc__k_act(ract, pz), r = rnnc__k_act(ract, pr);
    const float rhv = h[2 * U + u] + (a->bias ? a->bias[5 * U + u] : 0.0f);
    const float ph = x[2 * U + u] + rnnc__b_bias_in(a, 2 * U + u) + r * rhv;
    const float hh = rnnc__k_act(act, ph);
    const size_t g = (size_t)k * B * 3 * U + (size_t)b * 3 * U;
    a->G[g + u] = z;
    a->G[g + U + u] = r;
    a->G[g + 2 * U + u] = hh;
    a->P[g + u] = pz;
    a->P[g + U + u] = pr;
    a->P[g + 2 * U + u] = ph;
    a->RH[(size_t)k * B * U + i] = rhv;
    const float hp = a->hs[(size_t)k * B * U + i];
    rnnc__b_step_out(a, k, t, b, u, hp, z * hp + (1.0f - z) * hh);
}

RNNC_HD void rnnc__b_gru_fwd_rb1(const rnnc__gru_kargs *a, int k, int t, const float *hr, int i,
                                 int ract)
{
    const int B = a->B, T = a->T, U = a->U;
    const int b = i / U, u = i % U;
    const float *x = a->xw + ((size_t)b * T + t) * 3 * U;
    const float *h = hr + (size_t)b * 2 * U;
    const float pz = x[u] + h[u] + rnnc__b_bias_in(a, u);
    const float pr = x[U + u] + h[U + u] + rnnc__b_bias_in(a, U + u);
    const float z = rnnc__k_act(ract, pz), r = rnnc__k_act(ract, pr);
    const size_t g = (size_t)k * B * 3 * U + (size_t)b * 3 * U;
    a->G[g + u] = z;
    a->G[g + U + u] = r;
    a->P[g + u] = pz;
    a->P[g + U + u] = pr;
    a->RH[(size_t)k * B * U + i] = r * a->hs[(size_t)k * B * U + i];
}

RNNC_HD void rnnc__b_gru_fwd_rb2(const rnnc__gru_kargs *a, int k, int t, const float *hh2, int i,
                                 int act)
{
    const int B = a->B, T = a->T, U = a->U;
    const int b = i / U, u = i % U;
    const float *x = a->xw + ((size_t)b * T + t) * 3 * U;
    const float ph = x[2 * U + u] + rnnc__b_bias_in(a, 2 * U + u) + hh2[i];
    const float hh = rnnc__k_act(act, ph);
    const size_t g = (size_t)k * B * 3 * U + (size_t)b * 3 * U;
    const float z = a->G[g + u];
    a->G[g + 2 * U + u] = hh;
    a->P[g + 2 * U + u] = ph;
    const float hp = a->hs[(size_t)k * B * U + i];
    rnnc__b_step_out(a, k, t, b, u, hp, z * hp + (1.0f - z) * hh);
}

RNNC_HD void rnnc__b_gru_bwd(const rnnc__gru_kargs *a, int k, int t, const float *dY,
                             const float *dlast, const float *dh, float *carry, float *dxw,
                             float *dq, float *dhp, float *dhn, int i, int ract, int act)
{
    const int B = a->B, T = a->T, U = a->U;
    const int b = i / U, u = i % U;
    const int keep = !a->mask || a->mask[(size_t)b * T + t];
    const size_t g = (size_t)k * B * 3 * U + (size_t)b * 3 * U;
    const float *G = a->G + g, *P = a->P + g;
    const float hp = a->hs[(size_t)k * B * U + i];
    /* Split the output/state gradients by the mask rule. */
    float gy = carry[i];
    if (dY)
        gy += dY[((size_t)b * T + k) * U + u];
    if (dlast && k == T - 1)
        gy += dlast[i];
    float dn, pass;
    if (keep) {
        dn = gy + dh[i];
        carry[i] = 0.0f;
        pass = 0.0f;
    } else {
        dn = 0.0f;
        carry[i] = a->zofm ? 0.0f : gy;
        pass = dh[i];
    }
    const float z = G[u], r = G[U + u], hh = G[2 * U + u];
    /* h' = z h + (1 - z) h~ */
    const float dz = dn * (hp - hh);
    const float dph = dn * (1.0f - z) * rnnc__k_dact(act, P[2 * U + u], hh);
    const float dpz = dz * rnnc__k_dact(ract, P[u], z);
    float *dxr = dxw + ((size_t)b * T + t) * 3 * U;
    float *dqb = dq + (size_t)b * 3 * U;
    dxr[u] = dpz;
    dxr[2 * U + u] = dph;
    dqb[u] = dpz;
    if (a->reset_after) {
        /* h~ = act(xh + r (h R_h + br_h)) */
        const float rhv = a->RH[(size_t)k * B * U + i];
        const float dpr = dph * rhv * rnnc__k_dact(ract, P[U + u], r);
        dxr[U + u] = dpr;
        dqb[U + u] = dpr;
        dqb[2 * U + u] = dph * r;
        dhp[i] = pass + dn * z;
    } else {
        dqb[2 * U + u] = dph;
        dhn[i] = dn;
        dhp[i] = pass;
    }
}

RNNC_HD void rnnc__b_gru_bwd_rb2(const rnnc__gru_kargs *a, int k, int t, const float *drh,
                                 const float *dhn, float *dxw, float *dq, float *dhp, int i,
                                 int ract)
{
    const int B = a->B, T = a->T, U = a->U;
    const int b = i / U, u = i % U;
    const size_t g = (size_t)k * B * 3 * U + (size_t)b * 3 * U;
    const float z = a->G[g + u], r = a->G[g + U + u];
    const float hp = a->hs[(size_t)k * B * U + i];
    const float q = drh[i];
    /* rh = r * h_prev feeds the candidate's product. */
    const float dpr = q * hp * rnnc__k_dact(ract, a->P[g + U + u], r);
    dxw[((size_t)b * T + t) * 3 * U + U + u] = dpr;
    dq[(size_t)b * 3 * U + U + u] = dpr;
    dhp[i] += dhn[i] * z + q * r;
}

#endif
