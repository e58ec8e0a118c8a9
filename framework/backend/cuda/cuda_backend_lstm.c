/* cuda_backend_lstm.c - the op table's LSTM (backend_ops.h lstm_create /
 * forward / backward) on CUDA: the generic kernel. Forward: one cuBLAS
 * GEMM for every step's input projections (x W, then the bias by
 * bias_add), then per step one GEMM (h_prev R) and one kernel for the
 * gates, states, masking and outputs (cuda_lstm_math.h). Backward mirrors
 * it: per step one kernel for the gate gradients and two GEMMs (dh_prev
 * += dz R^T, dR += h_prev^T dz), then one GEMM each for dx and dkernel
 * and the bias gradient as column sums. Full float32 (no TF32). The
 * weights and, when training, x are copied, so the caller's buffers may
 * change before backward; the host mask is uploaded per forward.
 * Workspaces grow to the largest (B, T) seen. No cuDNN LSTM yet (the
 * config's cudnn must be false). */
#include "framework/backend/cuda/cuda_internal.h"

#include <stdlib.h>

#include "framework/backend/cuda/cuda_kernels.h"
#include "framework/backend/cuda/cuda_lstm_kernels.h"
#include "framework/backend/cuda/cuda_ops_kernels.h"
#include "framework/backend_ops_internal.h"

#define BE (rnnc__cuda_backend_ops())

enum { LB_W_, LB_R_, LB_X_, LB_XP_, LB_HS_, LB_CS_, LB_P_, LB_A_, LB_CA_, LB_REC_, LB_PREV_, LB_MASK_, LB_DZX_, LB_DZK_, LB_DH_, LB_DC_, LB_DHP_, LB_CARRY_,
       LB_ONES_, LB_NBUF_ };

struct rnnc_blstm {
    rnnc_blstm_config c;
    int64_t B, T;
    bool masked, trained, backward_done;
    rnnc__dbuf b[LB_NBUF_];
};

rnnc_status rnnc__cuda_blstm_create(const rnnc_blstm_config *c, rnnc_blstm **out)
{
    RNNC_TRY(rnnc__lstm_config_check(BE, c));
    if (c->cudnn)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "cuda lstm_create: no cuDNN LSTM yet (cudnn must be false)");
    rnnc_blstm *g = calloc(1, sizeof *g);
    if (!g)
        return rnnc_fail(RNNC_E_NOMEM, "cuda lstm_create: out of host memory");
    g->c = *c;
    *out = g;
    return RNNC_OK;
}

void rnnc__cuda_blstm_destroy(rnnc_blstm *g)
{
    if (!g)
        return;
    for (int i = 0; i < LB_NBUF_; i++)
        rnnc__dbuf_free(&g->b[i]);
    free(g);
}

static float *lstm_fp(rnnc_blstm *g, int i) { return (float *)g->b[i].ptr; }

static rnnc_status lstm_reserve(rnnc_blstm *g, int i, size_t floats)
{
    return rnnc__dbuf_reserve(&g->b[i], (floats ? floats : 1) * sizeof(float));
}

static rnnc_status lstm_d2d(cudaStream_t s, void *dst, const void *src, size_t n)
{
    if (n)
        RNNC_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
    return RNNC_OK;
}

/* dst = src (n floats), or zeros when src is NULL. */
static rnnc_status lstm_copy_or_zero(cudaStream_t s, float *dst, const rnnc_bbuf *src, size_t n)
{
    if (src)
        return lstm_d2d(s, dst, src->data, n);
    RNNC_CUDA_CHECK(rnnc__k_fill(s, dst, n, 0.0f));
    return RNNC_OK;
}

static rnnc__lstm_kargs lstm_kargs(rnnc_blstm *g, float *Y)
{
    const rnnc_blstm_config *c = &g->c;
    const rnnc__lstm_kargs a = {
        .B = (int)g->B, .T = (int)g->T, .U = (int)c->units,
        .act = (int)c->activation, .ract = (int)c->recurrent_activation,
        .seq = c->return_sequences, .zofm = c->zero_output_for_mask,
        .xp = lstm_fp(g, LB_XP_), .hs = lstm_fp(g, LB_HS_), .cs = lstm_fp(g, LB_CS_), .P = lstm_fp(g, LB_P_), .A = lstm_fp(g, LB_A_),
        .CA = lstm_fp(g, LB_CA_), .prev = lstm_fp(g, LB_PREV_), .Y = Y,
        .mask = g->masked ? (const uint8_t *)g->b[LB_MASK_].ptr : NULL,
    };
    return a;
}

rnnc_status rnnc__cuda_blstm_forward(rnnc_blstm *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                     const rnnc_bbuf *h0, const rnnc_bbuf *c0, const uint8_t *mask,
                                     const rnnc_bbuf *kernel, const rnnc_bbuf *recurrent_kernel,
                                     const rnnc_bbuf *bias, bool training, rnnc_bbuf *y,
                                     rnnc_bbuf *h_state, rnnc_bbuf *c_state)
{
    if (!g)
        return rnnc_fail(RNNC_E_ARG, "cuda lstm_forward: the LSTM is NULL");
    const rnnc_blstm_config *c = &g->c;
    RNNC_TRY(rnnc__lstm_forward_check(BE, c, B, T, x, h0, c0, kernel, recurrent_kernel, bias, y,
                                      h_state, c_state));
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    cudaStream_t s = cx->stream;
    g->trained = false;
    const int64_t F = c->input_size, U = c->units, G = 4 * U;
    const size_t bu = (size_t)(B * U), bt = (size_t)(B * T);
    RNNC_TRY(lstm_reserve(g, LB_W_, (size_t)(F * G)));
    RNNC_TRY(lstm_reserve(g, LB_R_, (size_t)(U * G)));
    RNNC_TRY(lstm_reserve(g, LB_X_, training ? bt * (size_t)F : 1));
    RNNC_TRY(lstm_reserve(g, LB_XP_, bt * (size_t)G));
    RNNC_TRY(lstm_reserve(g, LB_HS_, (size_t)(T + 1) * bu));
    RNNC_TRY(lstm_reserve(g, LB_CS_, (size_t)(T + 1) * bu));
    RNNC_TRY(lstm_reserve(g, LB_P_, bt * (size_t)G));
    RNNC_TRY(lstm_reserve(g, LB_A_, bt * (size_t)G));
    RNNC_TRY(lstm_reserve(g, LB_CA_, bt * (size_t)U));
    RNNC_TRY(lstm_reserve(g, LB_REC_, (size_t)(B * G)));
    RNNC_TRY(lstm_reserve(g, LB_PREV_, bu));
    if (mask) {
        RNNC_TRY(rnnc__dbuf_reserve(&g->b[LB_MASK_], bt));
        RNNC_CUDA_CHECK(cudaMemcpyAsync(g->b[LB_MASK_].ptr, mask, bt, cudaMemcpyHostToDevice, s));
    }
    g->B = B;
    g->T = T;
    g->masked = mask != NULL;
    RNNC_TRY(lstm_d2d(s, lstm_fp(g, LB_W_), kernel->data, (size_t)(F * G)));
    RNNC_TRY(lstm_d2d(s, lstm_fp(g, LB_R_), recurrent_kernel->data, (size_t)(U * G)));
    if (training)
        RNNC_TRY(lstm_d2d(s, lstm_fp(g, LB_X_), x->data, bt * (size_t)F));
    RNNC_TRY(rnnc__gemm(cx, false, false, (int64_t)bt, G, F, x->data, F, lstm_fp(g, LB_W_), G, 0.0f,
                        lstm_fp(g, LB_XP_), G));
    if (bias)
        RNNC_CUDA_CHECK(rnnc__k_bias_add(s, lstm_fp(g, LB_XP_), lstm_fp(g, LB_XP_), bias->data, (int64_t)bt, G));
    RNNC_TRY(lstm_copy_or_zero(s, lstm_fp(g, LB_HS_), h0, bu));
    RNNC_TRY(lstm_copy_or_zero(s, lstm_fp(g, LB_CS_), c0, bu));
    RNNC_CUDA_CHECK(rnnc__k_fill(s, lstm_fp(g, LB_PREV_), bu, 0.0f));
    const rnnc__lstm_kargs a = lstm_kargs(g, c->return_sequences ? (float *)y->data : NULL);
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = c->go_backwards ? T - 1 - k : k;
        RNNC_TRY(rnnc__gemm(cx, false, false, B, G, U, lstm_fp(g, LB_HS_) + (size_t)k * bu, U, lstm_fp(g, LB_R_), G,
                            0.0f, lstm_fp(g, LB_REC_), G));
        RNNC_CUDA_CHECK(rnnc__k_lstm_fwd(s, a, (int)k, (int)t, lstm_fp(g, LB_REC_)));
    }
    if (!c->return_sequences)
        RNNC_TRY(lstm_d2d(s, y->data, lstm_fp(g, LB_PREV_), bu));
    if (h_state)
        RNNC_TRY(lstm_d2d(s, h_state->data, lstm_fp(g, LB_HS_) + (size_t)T * bu, bu));
    if (c_state)
        RNNC_TRY(lstm_d2d(s, c_state->data, lstm_fp(g, LB_CS_) + (size_t)T * bu, bu));
    g->trained = training;
    g->backward_done = false;
    return RNNC_OK;
}

rnnc_status rnnc__cuda_blstm_backward(rnnc_blstm *g, const rnnc_bbuf *dy, rnnc_bbuf *dx,
                                      rnnc_bbuf *dh0, rnnc_bbuf *dc0, rnnc_bbuf *dkernel,
                                      rnnc_bbuf *drecurrent_kernel, rnnc_bbuf *dbias)
{
    if (!g)
        return rnnc_fail(RNNC_E_ARG, "cuda lstm_backward: the LSTM is NULL");
    if (!g->trained)
        return rnnc_fail(RNNC_E_STATE, "cuda lstm_backward: needs a forward with training=true first");
    if (g->backward_done)
        return rnnc_fail(RNNC_E_STATE, "cuda lstm_backward: backward already ran for this forward");
    const rnnc_blstm_config *c = &g->c;
    const int64_t B = g->B, T = g->T, F = c->input_size, U = c->units, G = 4 * U;
    RNNC_TRY(rnnc__lstm_backward_check(BE, c, B, T, dy, dx, dh0, dc0, dkernel, drecurrent_kernel,
                                       dbias));
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    cudaStream_t s = cx->stream;
    const size_t bu = (size_t)(B * U), bt = (size_t)(B * T);
    RNNC_TRY(lstm_reserve(g, LB_DZX_, bt * (size_t)G));
    RNNC_TRY(lstm_reserve(g, LB_DZK_, (size_t)(B * G)));
    RNNC_TRY(lstm_reserve(g, LB_DH_, bu));
    RNNC_TRY(lstm_reserve(g, LB_DC_, bu));
    RNNC_TRY(lstm_reserve(g, LB_DHP_, bu));
    RNNC_TRY(lstm_reserve(g, LB_CARRY_, bu));
    RNNC_TRY(lstm_reserve(g, LB_ONES_, bt));
    RNNC_CUDA_CHECK(rnnc__k_fill(s, lstm_fp(g, LB_DH_), bu, 0.0f));
    RNNC_CUDA_CHECK(rnnc__k_fill(s, lstm_fp(g, LB_DC_), bu, 0.0f));
    RNNC_CUDA_CHECK(rnnc__k_fill(s, lstm_fp(g, LB_CARRY_), bu, 0.0f));
    const rnnc__lstm_kargs a = lstm_kargs(g, NULL);
    rnnc__lstm_bargs w = {lstm_fp(g, LB_DZX_), lstm_fp(g, LB_DZK_), lstm_fp(g, LB_DH_), lstm_fp(g, LB_DC_), lstm_fp(g, LB_DHP_), lstm_fp(g, LB_CARRY_)};
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = c->go_backwards ? T - 1 - k : k;
        RNNC_CUDA_CHECK(rnnc__k_lstm_bwd(s, a, (int)k, (int)t, dy->data, w));
        RNNC_TRY(rnnc__gemm(cx, false, true, B, U, G, w.dzk, G, lstm_fp(g, LB_R_), G, 1.0f, w.dhp, U));
        RNNC_TRY(rnnc__gemm(cx, true, false, U, G, B, lstm_fp(g, LB_HS_) + (size_t)k * bu, U, w.dzk, G, 1.0f,
                            drecurrent_kernel->data, G));
        float *tmp = w.dh; /* the previous step's state gradient */
        w.dh = w.dhp;
        w.dhp = tmp;
    }
    if (dh0)
        RNNC_TRY(lstm_d2d(s, dh0->data, w.dh, bu));
    if (dc0)
        RNNC_TRY(lstm_d2d(s, dc0->data, w.dc, bu));
    if (dx)
        RNNC_TRY(rnnc__gemm(cx, false, true, (int64_t)bt, F, G, w.dzx, G, lstm_fp(g, LB_W_), G, 0.0f,
                            dx->data, F));
    RNNC_TRY(rnnc__gemm(cx, true, false, F, G, (int64_t)bt, lstm_fp(g, LB_X_), F, w.dzx, G, 1.0f,
                        dkernel->data, G));
    if (dbias) {
        RNNC_CUDA_CHECK(rnnc__k_fill(s, lstm_fp(g, LB_ONES_), bt, 1.0f));
        RNNC_TRY(rnnc__colsum_add(cx, (int64_t)bt, G, w.dzx, G, lstm_fp(g, LB_ONES_), dbias->data));
    }
    g->backward_done = true;
    return RNNC_OK;
}

#undef BE
