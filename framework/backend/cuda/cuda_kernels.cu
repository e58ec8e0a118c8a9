/* cuda_kernels.cu - the backend's CUDA kernels and their launchers
 * (contracts in cuda_kernels.h). Each kernel is a loop over one body of
 * cuda_kernel_math.h, the plain-C file the CPU emulation test
 * (tests/test_cuda_emulated.c) runs too. The GRU step kernels come in a
 * specialized copy for Keras's default activations (sigmoid, tanh passed
 * as constants, so the activation switches fold away) and a generic one. */
#include "framework/backend/cuda/cuda_kernel_math.h"
#include "framework/backend/cuda/cuda_launch.h"

/* ---- element-wise ---------------------------------------------------- */

__global__ void k_fill(float *p, size_t n, float v)
{
    GRID_STRIDE(i, n) p[i] = v;
}

__global__ void k_activation(int act, const float *x, float *y, size_t n)
{
    GRID_STRIDE(i, n) y[i] = rnnc__k_act(act, x[i]);
}

__global__ void k_activation_backward(int act, const float *x, const float *y, const float *dy,
                                      float *dx, size_t n)
{
    GRID_STRIDE(i, n) dx[i] += dy[i] * rnnc__k_dact(act, x[i], y[i]);
}

__global__ void k_gather(float *dst, const float *src, const int32_t *map, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_gather(dst, src, map, i);
}

__global__ void k_scatter_add(float *dst, const float *src, const int32_t *map, size_t n)
{
    GRID_STRIDE(i, n) rnnc__b_scatter_add(dst, src, map, i);
}

__global__ void k_seq_permute(float *dst, const float *src, const float *drop,
                              const int32_t *lens, int B, int T, int C, int reverse)
{
    const size_t n = (size_t)B * T * C;
    GRID_STRIDE(i, n) rnnc__b_seq_permute(dst, src, drop, lens, B, T, C, reverse, i);
}

__global__ void k_cudnn_outputs(float *y, float *last, const float *yc, const float *hy,
                                const int32_t *lens, int B, int T, int U, int go_backwards,
                                int zofm)
{
    const size_t n = (size_t)B * T * U;
    GRID_STRIDE(i, n)
    rnnc__b_cudnn_outputs(y, last, yc, hy, lens, B, T, U, go_backwards, zofm, i);
}

__global__ void k_cudnn_doutputs(float *dyc, float *dhy, const float *dy, const float *dlast,
                                 const float *dstate, const int32_t *lens, int B, int T, int U,
                                 int go_backwards, int zofm)
{
    const size_t n = (size_t)B * T * U;
    GRID_STRIDE(i, n)
    rnnc__b_cudnn_doutputs(dyc, dhy, dy, dlast, dstate, lens, B, T, U, go_backwards, zofm, i);
}

/* ---- GRU steps: one thread per (b, u) ----------------------------------- */

#define STEP_INDEX(a)                                       \
    const int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); \
    if (i >= (a).B * (a).U)                                 \
        return

/* FAST: sigmoid / tanh as constants. */
template <bool FAST>
__global__ void k_gru_fwd_ra(rnnc__gru_kargs a, int k, int t, const float *hr)
{
    STEP_INDEX(a);
    rnnc__b_gru_fwd_ra(&a, k, t, hr, i, FAST ? (int)RNNC_ACT_SIGMOID : a.ract,
                       FAST ? (int)RNNC_ACT_TANH : a.act);
}

template <bool FAST>
__global__ void k_gru_fwd_rb1(rnnc__gru_kargs a, int k, int t, const float *hr)
{
    STEP_INDEX(a);
    rnnc__b_gru_fwd_rb1(&a, k, t, hr, i, FAST ? (int)RNNC_ACT_SIGMOID : a.ract);
}

template <bool FAST>
__global__ void k_gru_fwd_rb2(rnnc__gru_kargs a, int k, int t, const float *hh2)
{
    STEP_INDEX(a);
    rnnc__b_gru_fwd_rb2(&a, k, t, hh2, i, FAST ? (int)RNNC_ACT_TANH : a.act);
}

template <bool FAST>
__global__ void k_gru_bwd(rnnc__gru_kargs a, int k, int t, const float *dY, const float *dlast,
                          const float *dh, float *carry, float *dxw, float *dq, float *dhp,
                          float *dhn)
{
    STEP_INDEX(a);
    rnnc__b_gru_bwd(&a, k, t, dY, dlast, dh, carry, dxw, dq, dhp, dhn, i,
                    FAST ? (int)RNNC_ACT_SIGMOID : a.ract, FAST ? (int)RNNC_ACT_TANH : a.act);
}

template <bool FAST>
__global__ void k_gru_bwd_rb2(rnnc__gru_kargs a, int k, int t, const float *drh,
                              const float *dhn, float *dxw, float *dq, float *dhp)
{
    STEP_INDEX(a);
    rnnc__b_gru_bwd_rb2(&a, k, t, drh, dhn, dxw, dq, dhp, i, FAST ? (int)RNNC_ACT_SIGMOID : a.ract);
}

/* ---- launchers ---------------------------------------------------------- */

extern "C" {

cudaError_t rnnc__k_fill(cudaStream_t s, float *p, size_t n, float v)
{
    if (n)
        k_fill<<<blocks_for(n), THREADS, 0, s>>>(p, n, v);
    return cudaGetLastError();
}

cudaError_t rnnc__k_activation(cudaStream_t s, int act, const float *x, float *y, size_t n)
{
    if (n)
        k_activation<<<blocks_for(n), THREADS, 0, s>>>(act, x, y, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_activation_backward(cudaStream_t s, int act, const float *x, const float *y,
                                        const float *dy, float *dx, size_t n)
{
    if (n)
        k_activation_backward<<<blocks_for(n), THREADS, 0, s>>>(act, x, y, dy, dx, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_gather(cudaStream_t s, float *dst, const float *src, const int32_t *map,
                           size_t n)
{
    if (n)
        k_gather<<<blocks_for(n), THREADS, 0, s>>>(dst, src, map, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_scatter_add(cudaStream_t s, float *dst, const float *src, const int32_t *map,
                                size_t n)
{
    if (n)
        k_scatter_add<<<blocks_for(n), THREADS, 0, s>>>(dst, src, map, n);
    return cudaGetLastError();
}

cudaError_t rnnc__k_seq_permute(cudaStream_t s, float *dst, const float *src, const float *drop,
                                const int32_t *lens, int B, int T, int C, int reverse)
{
    const size_t n = (size_t)B * T * C;
    if (n)
        k_seq_permute<<<blocks_for(n), THREADS, 0, s>>>(dst, src, drop, lens, B, T, C, reverse);
    return cudaGetLastError();
}

cudaError_t rnnc__k_cudnn_outputs(cudaStream_t s, float *y, float *last, const float *yc,
                                  const float *hy, const int32_t *lens, int B, int T, int U,
                                  int go_backwards, int zofm)
{
    const size_t n = (size_t)B * T * U;
    if (n)
        k_cudnn_outputs<<<blocks_for(n), THREADS, 0, s>>>(y, last, yc, hy, lens, B, T, U,
                                                          go_backwards, zofm);
    return cudaGetLastError();
}

cudaError_t rnnc__k_cudnn_doutputs(cudaStream_t s, float *dyc, float *dhy, const float *dy,
                                   const float *dlast, const float *dstate, const int32_t *lens,
                                   int B, int T, int U, int go_backwards, int zofm)
{
    const size_t n = (size_t)B * T * U;
    if (n)
        k_cudnn_doutputs<<<blocks_for(n), THREADS, 0, s>>>(dyc, dhy, dy, dlast, dstate, lens, B,
                                                           T, U, go_backwards, zofm);
    return cudaGetLastError();
}

static inline unsigned int step_blocks(const rnnc__gru_kargs &a)
{
    return (unsigned int)(((size_t)a.B * a.U + THREADS - 1) / THREADS);
}

static inline bool fast_pair(const rnnc__gru_kargs &a)
{
    return a.ract == RNNC_ACT_SIGMOID && a.act == RNNC_ACT_TANH;
}

cudaError_t rnnc__k_gru_fwd_ra(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *hr)
{
    if (fast_pair(a))
        k_gru_fwd_ra<true><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, hr);
    else
        k_gru_fwd_ra<false><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, hr);
    return cudaGetLastError();
}

cudaError_t rnnc__k_gru_fwd_rb1(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *hr)
{
    if (fast_pair(a))
        k_gru_fwd_rb1<true><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, hr);
    else
        k_gru_fwd_rb1<false><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, hr);
    return cudaGetLastError();
}

cudaError_t rnnc__k_gru_fwd_rb2(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *hh2)
{
    if (fast_pair(a))
        k_gru_fwd_rb2<true><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, hh2);
    else
        k_gru_fwd_rb2<false><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, hh2);
    return cudaGetLastError();
}

cudaError_t rnnc__k_gru_bwd(cudaStream_t s, rnnc__gru_kargs a, int k, int t, const float *dY,
                            const float *dlast, const float *dh, float *carry, float *dxw,
                            float *dq, float *dhp, float *dhn)
{
    if (fast_pair(a))
        k_gru_bwd<true><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, dY, dlast, dh, carry, dxw, dq,
                                                           dhp, dhn);
    else
        k_gru_bwd<false><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, dY, dlast, dh, carry, dxw, dq,
                                                            dhp, dhn);
    return cudaGetLastError();
}

cudaError_t rnnc__k_gru_bwd_rb2(cudaStream_t s, rnnc__gru_kargs a, int k, int t,
                                const float *drh, const float *dhn, float *dxw, float *dq,
                                float *dhp)
{
    if (fast_pair(a))
        k_gru_bwd_rb2<true><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, drh, dhn, dxw, dq, dhp);
    else
        k_gru_bwd_rb2<false><<<step_blocks(a), THREADS, 0, s>>>(a, k, t, drh, dhn, dxw, dq, dhp);
    return cudaGetLastError();
}

} /* extern "C" */
