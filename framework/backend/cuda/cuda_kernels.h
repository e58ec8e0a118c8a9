/* cuda_kernels.h - launchers of the CUDA kernels (cuda_kernels.cu), callable
 * from C. Each queues its kernel on `s` and returns cudaGetLastError() (a
 * launch error; execution errors surface at the next synchronizing call).
 * All data are float32 device pointers in row-major layouts; shapes beside
 * each argument. Activations are rnnc_act values (framework/activations.h),
 * element-wise ones only. */
#ifndef RNNC_CUDA_KERNELS_H
#define RNNC_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* p[i] = v, i < n. */
cudaError_t rnnc__k_fill(cudaStream_t s, float *p, size_t n, float v);

/* y = act(x); dx += dy * act'(x, y). n elements. */
cudaError_t rnnc__k_activation(cudaStream_t s, int act, const float *x, float *y, size_t n);
cudaError_t rnnc__k_activation_backward(cudaStream_t s, int act, const float *x, const float *y,
                                        const float *dy, float *dx, size_t n);

/* dst[i] = map[i] >= 0 ? src[map[i]] : 0, i < n (Keras weights -> cuDNN
 * weight space). */
cudaError_t rnnc__k_gather(cudaStream_t s, float *dst, const float *src, const int32_t *map,
                           size_t n);
/* dst[map[i]] += src[i] where map[i] >= 0, i < n; map is injective (cuDNN
 * weight gradients -> Keras gradients). */
cudaError_t rnnc__k_scatter_add(cudaStream_t s, float *dst, const float *src, const int32_t *map,
                                size_t n);

/* Sequence prefix permutation, (B, T, C) -> (B, T, C):
 *   dst[b, p, :] = p < len_b ? src[b, q, :] * drop[b, :] : 0,
 *   q = reverse ? len_b - 1 - p : p,  len_b = lens ? lens[b] : T,
 *   drop (B, C) or NULL (= 1).
 * Its own inverse for a fixed lens/reverse (without drop): it builds the
 * reversed, dropped cuDNN input for go_backwards and maps dx back. */
cudaError_t rnnc__k_seq_permute(cudaStream_t s, float *dst, const float *src, const float *drop,
                                const int32_t *lens, int B, int T, int C, int reverse);

/* cuDNN outputs -> the generic loop's outputs (processing order):
 *   forward:      y[b,k] = k < len ? yc[b,k] : (zofm ? 0 : yc[b,len-1])
 *   go_backwards: y[b,k] = k < T-len ? 0 : yc[b, k-(T-len)]
 *   last[b] = (!go_backwards && zofm && len < T) ? 0 : hy[b]
 * y, yc (B, T, U); last, hy (B, U). */
cudaError_t rnnc__k_cudnn_outputs(cudaStream_t s, float *y, float *last, const float *yc,
                                  const float *hy, const int32_t *lens, int B, int T, int U,
                                  int go_backwards, int zofm);
/* The transpose of rnnc__k_cudnn_outputs for gradients:
 *   dyc (B, T, U) from dy (B, T, U, NULL = 0);
 *   dhy (B, U) = dstate + (last is the final state ? dlast : 0) (NULLs = 0). */
cudaError_t rnnc__k_cudnn_doutputs(cudaStream_t s, float *dyc, float *dhy, const float *dy,
                                   const float *dlast, const float *dstate, const int32_t *lens,
                                   int B, int T, int U, int go_backwards, int zofm);

/* ---- the generic GRU's steps ---- */

/* What every step kernel reads; passed by value. */
typedef struct rnnc__gru_kargs {
    int B, T, U;
    int act, ract;          /* rnnc_act */
    int reset_after, zofm;
    const float *bias;      /* (2, 3U) reset_after, (3U,) otherwise, or NULL */
    const uint8_t *mask;    /* (B, T) non-zero = keep, or NULL */
    const float *xw;        /* (B*T, 3U) x @ W, row b*T + t */
    float *hs;              /* (T+1, B, U) hs[k] = state before step k */
    float *G;               /* (T, B, 3U) gates z, r, h~ per step */
    float *P;               /* (T, B, 3U) pre-activations per step */
    float *RH;              /* (T, B, U) reset_after: h R_h + br_h; else r * h_prev */
    float *Y;               /* (B, T, U) outputs, processing order */
} rnnc__gru_kargs;

/* Step k (input time t). reset_after: hr = hs[k] @ R (B, 3U); writes
 * hs[k+1], G/P/RH[k], Y[:, k]. */
cudaError_t rnnc__k_gru_fwd_ra(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *hr);
/* reset_after=False, first half: hr = hs[k] @ R[:, :2U] (B, 2U); writes
 * z, r into G/P[k] and RH[k] = r * hs[k]. */
cudaError_t rnnc__k_gru_fwd_rb1(cudaStream_t s, rnnc__gru_kargs a, int k, int t,
                                const float *hr);
/* Second half: hh2 = RH[k] @ R_h (B, U); writes h~, hs[k+1], Y[:, k]. */
cudaError_t rnnc__k_gru_fwd_rb2(cudaStream_t s, rnnc__gru_kargs a, int k, int t,
                                const float *hh2);

/* Backward step k. dY (B, T, U) or NULL, dlast (B, U) or NULL (used at
 * k == T-1); dh (B, U) grad of hs[k+1]; carry (B, U) grad flowing into the
 * previous output (updated in place). Writes dxw rows b*T+t (B*T, 3U),
 * dq = dhr[k] (B, 3U), dhp (B, U) = the part of grad of hs[k] not
 * through R; reset_after=False also dhn (B, U) = grad of the new state. */
cudaError_t rnnc__k_gru_bwd(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *dY,
                            const float *dlast, const float *dh, float *carry, float *dxw,
                            float *dq, float *dhp, float *dhn);
/* reset_after=False, after drh = dq[:, 2U:] @ R_h^T (B, U): the reset
 * gate's gradient (dxw, dq columns U..2U) and dhp += dhn z + drh r. */
cudaError_t rnnc__k_gru_bwd_rb2(cudaStream_t s, rnnc__gru_kargs a, int k, int t,
                                const float *drh, const float *dhn, float *dxw, float *dq,
                                float *dhp);

#ifdef __cplusplus
}
#endif

#endif
