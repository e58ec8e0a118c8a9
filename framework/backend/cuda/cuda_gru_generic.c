/* cuda_gru_generic.c - the generic GPU GRU: cuBLAS products and one CUDA
 * kernel per step for the gate math, the GPU twin of the fused CPU kernel
 * (layers/gru_fused_impl.h) with the same buffers and the same order of
 * work. It serves what cuDNN cannot: any element-wise activation pair,
 * reset_after=False, no bias, masks of any shape (state frozen, previous
 * output repeated, zero_output_for_mask), go_backwards, one (B, F) input
 * dropout mask.
 *
 * Forward: xw = (x ⊙ M) @ W for all steps in one GEMM; per step one
 * (B, U) x (U, 3U) GEMM (reset_after; two smaller ones otherwise) and one
 * kernel. Backward: per step one kernel and one GEMM for dh (two, plus a
 * kernel, for reset_after=False); then single GEMMs over all steps for
 * dW, dx and dR, and column sums (GEMV with ones) for the bias. Buffers
 * (cuda_internal.h) keep their size across calls. */
#include "framework/backend/cuda/cuda_internal.h"

#include "framework/backend/cuda/cuda_kernels.h"

#define F32(b) ((float *)(b).ptr)

static rnnc__gru_kargs kargs(rnnc_cuda_gru *g)
{
    const int64_t F = g->F, U = g->U;
    const float *wk = g->wk.ptr;
    rnnc__gru_kargs a = {
        .B = (int)g->B,
        .T = (int)g->T,
        .U = (int)U,
        .act = (int)g->cfg.activation,
        .ract = (int)g->cfg.recurrent_activation,
        .reset_after = g->cfg.reset_after,
        .zofm = g->cfg.zero_output_for_mask,
        .bias = g->cfg.use_bias ? wk + F * 3 * U + U * 3 * U : NULL,
        .mask = g->masked ? (const uint8_t *)g->mask_dev.ptr : NULL,
        .xw = F32(g->xw),
        .hs = F32(g->hs),
        .G = F32(g->gates),
        .P = F32(g->pre),
        .RH = F32(g->rh),
        .Y = (float *)g->y.data,
    };
    return a;
}

static rnnc_status set_math(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx)
{
    RNNC_CUBLAS_CHECK(cublasSetMathMode(cx->cublas, g->cfg.allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                                      : CUBLAS_DEFAULT_MATH));
    return RNNC_OK;
}

rnnc_status rnnc__generic_gru_forward(rnnc_cuda_gru *g, bool training)
{
    (void)training; /* the saved tensors are the workspace either way */
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    RNNC_TRY(set_math(g, cx));
    const int64_t B = g->B, T = g->T, F = g->F, U = g->U, BU = B * U;
    const size_t fs = sizeof(float);
    RNNC_TRY(rnnc__dbuf_reserve(&g->xw, (size_t)(B * T * 3 * U) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->hs, (size_t)((T + 1) * BU) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->gates, (size_t)(T * B * 3 * U) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->pre, (size_t)(T * B * 3 * U) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->rh, (size_t)(T * BU) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->hr, (size_t)(B * 3 * U) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->hh2, (size_t)BU * fs));
    const float *W = g->wk.ptr, *R = W + F * 3 * U;

    /* One (B, F) dropout mask for every step: x ⊙ M. */
    const float *xin = g->x->data;
    if (g->drop) {
        RNNC_TRY(rnnc__dbuf_reserve(&g->xd, (size_t)(B * T * F) * fs));
        RNNC_CUDA_CHECK(rnnc__k_seq_permute(cx->stream, F32(g->xd), g->x->data, g->drop->data, NULL,
                                            (int)B, (int)T, (int)F, 0));
        xin = F32(g->xd);
    }
    RNNC_TRY(rnnc__gemm(cx, false, false, B * T, 3 * U, F, xin, F, W, 3 * U, 0.0f, F32(g->xw), 3 * U));
    if (g->h0)
        RNNC_CUDA_CHECK(cudaMemcpyAsync(F32(g->hs), g->h0->data, (size_t)BU * fs,
                                        cudaMemcpyDeviceToDevice, cx->stream));
    else
        RNNC_CUDA_CHECK(cudaMemsetAsync(F32(g->hs), 0, (size_t)BU * fs, cx->stream));

    const rnnc__gru_kargs a = kargs(g);
    float *hr = F32(g->hr), *hh2 = F32(g->hh2);
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = g->cfg.go_backwards ? T - 1 - k : k;
        const float *hp = F32(g->hs) + k * BU;
        if (g->cfg.reset_after) {
            RNNC_TRY(rnnc__gemm(cx, false, false, B, 3 * U, U, hp, U, R, 3 * U, 0.0f, hr, 3 * U));
            RNNC_CUDA_CHECK(rnnc__k_gru_fwd_ra(cx->stream, a, (int)k, (int)t, hr));
        } else {
            RNNC_TRY(rnnc__gemm(cx, false, false, B, 2 * U, U, hp, U, R, 3 * U, 0.0f, hr, 2 * U));
            RNNC_CUDA_CHECK(rnnc__k_gru_fwd_rb1(cx->stream, a, (int)k, (int)t, hr));
            RNNC_TRY(rnnc__gemm(cx, false, false, B, U, U, F32(g->rh) + k * BU, U, R + 2 * U,
                                3 * U, 0.0f, hh2, U));
            RNNC_CUDA_CHECK(rnnc__k_gru_fwd_rb2(cx->stream, a, (int)k, (int)t, hh2));
        }
    }
    /* last = Y[:, T-1] (the final state when nothing is masked); state = hs[T]. */
    RNNC_CUDA_CHECK(cudaMemcpy2DAsync(g->last.data, (size_t)U * fs,
                                      (const float *)g->y.data + (T - 1) * U, (size_t)(T * U) * fs,
                                      (size_t)U * fs, (size_t)B, cudaMemcpyDeviceToDevice,
                                      cx->stream));
    RNNC_CUDA_CHECK(cudaMemcpyAsync(g->state.data, F32(g->hs) + T * BU, (size_t)BU * fs,
                                    cudaMemcpyDeviceToDevice, cx->stream));
    return RNNC_OK;
}

rnnc_status rnnc__generic_gru_backward(rnnc_cuda_gru *g, const rnnc_cuda_gru_backward_args *ba)
{
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    RNNC_TRY(set_math(g, cx));
    const int64_t B = g->B, T = g->T, F = g->F, U = g->U, BU = B * U;
    const size_t fs = sizeof(float);
    const bool ra = g->cfg.reset_after;
    RNNC_TRY(rnnc__dbuf_reserve(&g->dxw, (size_t)(B * T * 3 * U) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->dhr, (size_t)(T * B * 3 * U) * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->dstate, (size_t)BU * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->dhp, (size_t)BU * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->dcarry, (size_t)BU * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->drh, (size_t)BU * fs));
    RNNC_TRY(rnnc__dbuf_reserve(&g->dhn, (size_t)BU * fs));
    float *W = g->wk.ptr, *R = W + F * 3 * U;
    float *dW = g->gk.ptr, *dR = dW + F * 3 * U, *db = dR + U * 3 * U;
    const float *dY = ba->d_outputs ? ba->d_outputs->data : NULL;
    const float *dlast = ba->d_last ? ba->d_last->data : NULL;

    float *dh = F32(g->dstate), *dhp = F32(g->dhp), *carry = F32(g->dcarry);
    float *dxw = F32(g->dxw), *drh = F32(g->drh), *dhn = F32(g->dhn);
    if (ba->d_state)
        RNNC_CUDA_CHECK(cudaMemcpyAsync(dh, ba->d_state->data, (size_t)BU * fs,
                                        cudaMemcpyDeviceToDevice, cx->stream));
    else
        RNNC_CUDA_CHECK(cudaMemsetAsync(dh, 0, (size_t)BU * fs, cx->stream));
    RNNC_CUDA_CHECK(cudaMemsetAsync(carry, 0, (size_t)BU * fs, cx->stream));

    const rnnc__gru_kargs a = kargs(g);
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = g->cfg.go_backwards ? T - 1 - k : k;
        float *dq = F32(g->dhr) + k * B * 3 * U;
        RNNC_CUDA_CHECK(rnnc__k_gru_bwd(cx->stream, a, (int)k, (int)t, dY, dlast, dh, carry, dxw,
                                        dq, dhp, dhn));
        if (ra) {
            /* dh_prev += [dpz, dpr, dph r] @ R^T */
            RNNC_TRY(rnnc__gemm(cx, false, true, B, U, 3 * U, dq, 3 * U, R, 3 * U, 1.0f, dhp, U));
        } else {
            /* d(r h_prev) = dph @ R_h^T, then dr, then dh_prev. */
            RNNC_TRY(rnnc__gemm(cx, false, true, B, U, U, dq + 2 * U, 3 * U, R + 2 * U, 3 * U, 0.0f,
                                drh, U));
            RNNC_CUDA_CHECK(rnnc__k_gru_bwd_rb2(cx->stream, a, (int)k, (int)t, drh, dhn, dxw, dq,
                                                dhp));
            RNNC_TRY(rnnc__gemm(cx, false, true, B, U, 2 * U, dq, 3 * U, R, 3 * U, 1.0f, dhp, U));
        }
        float *sw = dh;
        dh = dhp;
        dhp = sw;
    }
    RNNC_CUDA_CHECK(cudaMemcpyAsync(g->dh0.data, dh, (size_t)BU * fs, cudaMemcpyDeviceToDevice,
                                    cx->stream));

    /* dW += (x ⊙ M)^T @ dxw over all steps at once. */
    const float *xin = g->drop ? F32(g->xd) : (const float *)g->x->data;
    RNNC_TRY(rnnc__gemm(cx, true, false, F, 3 * U, B * T, xin, F, dxw, 3 * U, 1.0f, dW, 3 * U));
    if (g->drop) {
        RNNC_TRY(rnnc__dbuf_reserve(&g->dxd, (size_t)(B * T * F) * fs));
        RNNC_TRY(rnnc__gemm(cx, false, true, B * T, F, 3 * U, dxw, 3 * U, W, 3 * U, 0.0f, F32(g->dxd),
                            F));
        RNNC_CUDA_CHECK(rnnc__k_seq_permute(cx->stream, g->dx.data, F32(g->dxd), g->drop->data,
                                            NULL, (int)B, (int)T, (int)F, 0));
    } else {
        RNNC_TRY(rnnc__gemm(cx, false, true, B * T, F, 3 * U, dxw, 3 * U, W, 3 * U, 0.0f,
                            g->dx.data, F));
    }
    /* dR += hs[0..T)^T @ dhr: (U, T*B) x (T*B, 3U). */
    if (ra) {
        RNNC_TRY(rnnc__gemm(cx, true, false, U, 3 * U, T * B, F32(g->hs), U, F32(g->dhr), 3 * U, 1.0f,
                            dR, 3 * U));
    } else {
        RNNC_TRY(rnnc__gemm(cx, true, false, U, 2 * U, T * B, F32(g->hs), U, F32(g->dhr), 3 * U, 1.0f,
                            dR, 3 * U));
        RNNC_TRY(rnnc__gemm(cx, true, false, U, U, T * B, F32(g->rh), U, F32(g->dhr) + 2 * U, 3 * U,
                            1.0f, dR + 2 * U, 3 * U));
    }
    if (g->cfg.use_bias) {
        RNNC_TRY(rnnc__dbuf_reserve(&g->ones, (size_t)(B * T) * fs));
        RNNC_CUDA_CHECK(rnnc__k_fill(cx->stream, F32(g->ones), (size_t)(B * T), 1.0f));
        RNNC_TRY(rnnc__colsum_add(cx, B * T, 3 * U, dxw, 3 * U, F32(g->ones), db));
        if (ra)
            RNNC_TRY(rnnc__colsum_add(cx, T * B, 3 * U, F32(g->dhr), 3 * U, F32(g->ones), db + 3 * U));
    }
    return RNNC_OK;
}
