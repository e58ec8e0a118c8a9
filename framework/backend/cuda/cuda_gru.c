/* cuda_gru.c - the GPU GRU object: config checks, Keras-layout weights and
 * gradients, per-call argument checks, masks -> sequence lengths, output
 * buffers, and the dispatch to the cuDNN kernel (cuda_gru_cudnn.c) or the
 * generic one (cuda_gru_generic.c). Semantics in framework/backend/cuda_gru.h.
 *
 * Buffers grow to the largest (B, T) seen and are then reused, so a
 * training loop allocates nothing after its first step. */
#include "framework/backend/cuda/cuda_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t bias_count(const rnnc_cuda_gru_config *c)
{
    return c->use_bias ? (size_t)((c->reset_after ? 6 : 3) * c->units) : 0;
}

static rnnc_status check_config(const rnnc_cuda_gru_config *c)
{
    if (c->input_size < 1 || c->units < 1)
        return rnnc_fail(RNNC_E_ARG, "CUDA GRU: input_size and units must be >= 1, got %lld and %lld",
                         (long long)c->input_size, (long long)c->units);
    if (c->input_size > (1 << 24) || c->units > (1 << 16))
        return rnnc_fail(RNNC_E_ARG, "CUDA GRU: input_size %lld / units %lld too large",
                         (long long)c->input_size, (long long)c->units);
    if (!rnnc_act_is_elementwise(c->activation) || !rnnc_act_is_elementwise(c->recurrent_activation))
        return rnnc_fail(RNNC_E_UNSUPPORTED,
                         "CUDA GRU: activation '%s' / recurrent_activation '%s': the GPU kernels "
                         "take element-wise activations only",
                         rnnc_act_name(c->activation), rnnc_act_name(c->recurrent_activation));
    if (c->kernel == RNNC_CUDA_GRU_CUDNN) {
        const rnnc_cudnn_gru_query q = {
            .activation = c->activation,
            .recurrent_activation = c->recurrent_activation,
            .use_bias = c->use_bias,
            .reset_after = c->reset_after,
            .dtype = RNNC_F32,
        };
        char why[256];
        if (rnnc_cudnn_gru_supported(&q, NULL, why, sizeof why) != RNNC_CUDNN_GRU_OK)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "CUDA GRU: the cuDNN kernel cannot serve this "
                                                 "layer: %s",
                             why);
    } else if (c->kernel != RNNC_CUDA_GRU_GENERIC) {
        return rnnc_fail(RNNC_E_ARG, "CUDA GRU: unknown kernel %d", (int)c->kernel);
    }
    return RNNC_OK;
}

rnnc_status rnnc__cuda_gru_zero_grad(rnnc_cuda_gru *g)
{
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    RNNC_CUDA_CHECK(cudaMemsetAsync(g->gk.ptr, 0, g->n_params * sizeof(float), c->stream));
    return RNNC_OK;
}

rnnc_status rnnc__cuda_gru_create(const rnnc_cuda_gru_config *cfg, rnnc_cuda_gru **out)
{
    RNNC_TRY(check_config(cfg));
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    rnnc_cuda_gru *g = calloc(1, sizeof *g);
    if (!g)
        return rnnc_fail(RNNC_E_NOMEM, "CUDA GRU: out of host memory");
    g->cfg = *cfg;
    g->F = cfg->input_size;
    g->U = cfg->units;
    const int64_t F = g->F, U = g->U;
    g->n_params = (size_t)(F * 3 * U + U * 3 * U) + bias_count(cfg);
    rnnc_status s = rnnc__dbuf_reserve(&g->wk, g->n_params * sizeof(float));
    if (s == RNNC_OK)
        s = rnnc__dbuf_reserve(&g->gk, g->n_params * sizeof(float));
    if (s == RNNC_OK)
        s = rnnc__cuda_gru_zero_grad(g);
    if (s == RNNC_OK) {
        float *gk = g->gk.ptr;
        const rnnc_shape ks = RNNC_SHAPE(F, 3 * U), rs = RNNC_SHAPE(U, 3 * U);
        rnnc__dview(&g->dkernel, RNNC_F32, &ks, gk);
        rnnc__dview(&g->drecurrent, RNNC_F32, &rs, gk + F * 3 * U);
        if (cfg->use_bias) {
            rnnc_shape bs = cfg->reset_after ? RNNC_SHAPE(2, 3 * U) : RNNC_SHAPE(3 * U);
            rnnc__dview(&g->dbias, RNNC_F32, &bs, gk + F * 3 * U + U * 3 * U);
        }
    }
    if (s == RNNC_OK && cfg->kernel == RNNC_CUDA_GRU_CUDNN)
        s = rnnc__cudnn_gru_create(g);
    if (s != RNNC_OK) {
        rnnc__cuda_gru_destroy(g);
        return s;
    }
    *out = g;
    return RNNC_OK;
}

void rnnc__cuda_gru_destroy(rnnc_cuda_gru *g)
{
    if (!g)
        return;
    rnnc__cudnn_gru_destroy(g->cudnn);
    rnnc__generic_gru_graphs_destroy(g);
    rnnc__dbuf *bufs[] = {&g->wk,    &g->gk,     &g->lens_dev, &g->mask_dev, &g->ybuf,
                          &g->lastbuf, &g->statebuf, &g->dxbuf, &g->dh0buf, &g->ones,
                          &g->xd,    &g->xw,     &g->hs,       &g->gates,    &g->pre,
                          &g->rh,    &g->hr,     &g->hh2,      &g->dxw,      &g->dhr,
                          &g->dstate, &g->dhp,   &g->dcarry,   &g->drh,      &g->dhn,
                          &g->dxd,   &g->dyc,    &g->dlastc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        rnnc__dbuf_free(bufs[i]);
    free(g->lens_host);
    free(g->mask_host);
    free(g);
}

rnnc_status rnnc__cuda_gru_set_weights(rnnc_cuda_gru *g, const rnnc_dtensor *kernel,
                                       const rnnc_dtensor *recurrent, const rnnc_dtensor *bias)
{
    const int64_t F = g->F, U = g->U;
    RNNC_TRY(rnnc__dtensor_expect(kernel, "CUDA GRU kernel", RNNC_F32, 2,
                                  (const int64_t[]){F, 3 * U}));
    RNNC_TRY(rnnc__dtensor_expect(recurrent, "CUDA GRU recurrent_kernel", RNNC_F32, 2,
                                  (const int64_t[]){U, 3 * U}));
    if (g->cfg.use_bias) {
        if (g->cfg.reset_after)
            RNNC_TRY(rnnc__dtensor_expect(bias, "CUDA GRU bias", RNNC_F32, 2,
                                          (const int64_t[]){2, 3 * U}));
        else
            RNNC_TRY(rnnc__dtensor_expect(bias, "CUDA GRU bias", RNNC_F32, 1,
                                          (const int64_t[]){3 * U}));
    } else if (bias) {
        return rnnc_fail(RNNC_E_ARG, "CUDA GRU: a bias was given to a layer with use_bias=False");
    }
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    float *wk = g->wk.ptr;
    RNNC_CUDA_CHECK(cudaMemcpyAsync(wk, kernel->data, kernel->numel * sizeof(float),
                                    cudaMemcpyDeviceToDevice, c->stream));
    RNNC_CUDA_CHECK(cudaMemcpyAsync(wk + F * 3 * U, recurrent->data,
                                    recurrent->numel * sizeof(float), cudaMemcpyDeviceToDevice,
                                    c->stream));
    if (bias)
        RNNC_CUDA_CHECK(cudaMemcpyAsync(wk + F * 3 * U + U * 3 * U, bias->data,
                                        bias->numel * sizeof(float), cudaMemcpyDeviceToDevice,
                                        c->stream));
    if (g->cudnn)
        RNNC_TRY(rnnc__cudnn_gru_set_weights(g));
    g->weights_set = true;
    return RNNC_OK;
}

/* (Re)sizes a buffer and points a view with `shape` at it. */
static rnnc_status sized_view(rnnc__dbuf *b, rnnc_dtensor *view, const rnnc_shape *shape)
{
    size_t n;
    RNNC_TRY(rnnc_shape_numel(shape, &n));
    RNNC_TRY(rnnc__dbuf_reserve(b, (n ? n : 1) * sizeof(float)));
    rnnc__dview(view, RNNC_F32, shape, b->ptr);
    return RNNC_OK;
}

/* Host mask -> per-row lengths (both kernels) and, for the generic kernel,
 * a uint8 copy on the device. */
static rnnc_status prepare_mask(rnnc_cuda_gru *g, rnnc__cuda_ctx *c, const rnnc_tensor *mask)
{
    const int64_t B = g->B, T = g->T;
    if ((size_t)B > g->lens_host_cap) {
        int32_t *l = realloc(g->lens_host, (size_t)B * sizeof *l);
        if (!l)
            return rnnc_fail(RNNC_E_NOMEM, "CUDA GRU: out of host memory");
        g->lens_host = l;
        g->lens_host_cap = (size_t)B;
    }
    RNNC_TRY(rnnc_cudnn_gru_seq_lengths(mask, B, T, g->lens_host));
    RNNC_TRY(rnnc__dbuf_reserve(&g->lens_dev, (size_t)B * sizeof(int32_t)));
    /* Pageable source: the copy is staged before cudaMemcpyAsync returns. */
    RNNC_CUDA_CHECK(cudaMemcpyAsync(g->lens_dev.ptr, g->lens_host, (size_t)B * sizeof(int32_t),
                                    cudaMemcpyHostToDevice, c->stream));
    g->masked = mask != NULL;
    if (!mask || g->cudnn)
        return RNNC_OK;
    const size_t n = (size_t)(B * T);
    if (n > g->mask_host_cap) {
        uint8_t *m = realloc(g->mask_host, n);
        if (!m)
            return rnnc_fail(RNNC_E_NOMEM, "CUDA GRU: out of host memory");
        g->mask_host = m;
        g->mask_host_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        g->mask_host[i] = rnnc_tensor_get(mask, i) != 0.0;
    RNNC_TRY(rnnc__dbuf_reserve(&g->mask_dev, n));
    RNNC_CUDA_CHECK(cudaMemcpyAsync(g->mask_dev.ptr, g->mask_host, n, cudaMemcpyHostToDevice,
                                    c->stream));
    return RNNC_OK;
}

rnnc_status rnnc__cuda_gru_forward(rnnc_cuda_gru *g, const rnnc_cuda_gru_forward_args *a,
                                   rnnc_cuda_gru_outputs *out)
{
    if (!g->weights_set)
        return rnnc_fail(RNNC_E_STATE, "CUDA GRU: forward before set_weights");
    if (!a->x || a->x->dtype != RNNC_F32 || a->x->shape.ndim != 3 || a->x->shape.dim[2] != g->F) {
        char buf[96];
        return rnnc_fail(RNNC_E_SHAPE, "CUDA GRU: input must be float32 (batch, timesteps, %lld), got %s",
                         (long long)g->F,
                         a->x ? rnnc_shape_str(&a->x->shape, buf, sizeof buf) : "NULL");
    }
    const int64_t B = a->x->shape.dim[0], T = a->x->shape.dim[1], U = g->U, F = g->F;
    if (B < 1 || T < 1 || B > (1 << 24) || T > (1 << 24) || (double)B * (double)T * (double)(3 * U + F) > 1.5e9)
        return rnnc_fail(RNNC_E_SHAPE, "CUDA GRU: batch %lld x timesteps %lld out of range",
                         (long long)B, (long long)T);
    if (a->h0)
        RNNC_TRY(rnnc__dtensor_expect(a->h0, "CUDA GRU initial state", RNNC_F32, 2,
                                      (const int64_t[]){B, U}));
    if (a->dropout)
        RNNC_TRY(rnnc__dtensor_expect(a->dropout, "CUDA GRU dropout mask", RNNC_F32, 2,
                                      (const int64_t[]){B, F}));
    if (a->mask && g->cudnn) {
        const rnnc_cudnn_gru_query q = {
            .activation = RNNC_ACT_TANH,
            .recurrent_activation = RNNC_ACT_SIGMOID,
            .use_bias = true,
            .reset_after = true,
            .dtype = RNNC_F32,
        };
        char why[256];
        if (rnnc_cudnn_gru_supported(&q, a->mask, why, sizeof why) != RNNC_CUDNN_GRU_OK)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "CUDA GRU (cuDNN kernel): %s", why);
    }
    rnnc__cuda_ctx *c;
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    g->has_forward = false;
    g->B = B;
    g->T = T;
    RNNC_TRY(prepare_mask(g, c, a->mask));
    const rnnc_shape ys = RNNC_SHAPE(B, T, U), hs = RNNC_SHAPE(B, U);
    RNNC_TRY(sized_view(&g->ybuf, &g->y, &ys));
    RNNC_TRY(sized_view(&g->lastbuf, &g->last, &hs));
    RNNC_TRY(sized_view(&g->statebuf, &g->state, &hs));
    g->x = a->x;
    g->h0 = a->h0;
    g->drop = a->dropout;
    if (g->cudnn)
        RNNC_TRY(rnnc__cudnn_gru_forward(g, a->training));
    else
        RNNC_TRY(rnnc__generic_gru_forward(g, a->training));
    g->has_forward = true;
    g->trained = a->training;
    g->backward_done = false;
    out->outputs = &g->y;
    out->last = &g->last;
    out->state = &g->state;
    return RNNC_OK;
}

rnnc_status rnnc__cuda_gru_backward(rnnc_cuda_gru *g, const rnnc_cuda_gru_backward_args *a,
                                    rnnc_cuda_gru_grads *out)
{
    if (!g->has_forward || !g->trained)
        return rnnc_fail(RNNC_E_STATE, "CUDA GRU: backward needs a forward with training=true first");
    if (g->backward_done)
        return rnnc_fail(RNNC_E_STATE, "CUDA GRU: backward already ran for this forward");
    const int64_t B = g->B, T = g->T, U = g->U, F = g->F;
    if (a->d_outputs)
        RNNC_TRY(rnnc__dtensor_expect(a->d_outputs, "CUDA GRU d_outputs", RNNC_F32, 3,
                                      (const int64_t[]){B, T, U}));
    if (a->d_last)
        RNNC_TRY(rnnc__dtensor_expect(a->d_last, "CUDA GRU d_last", RNNC_F32, 2,
                                      (const int64_t[]){B, U}));
    if (a->d_state)
        RNNC_TRY(rnnc__dtensor_expect(a->d_state, "CUDA GRU d_state", RNNC_F32, 2,
                                      (const int64_t[]){B, U}));
    const rnnc_shape xs = RNNC_SHAPE(B, T, F), hs = RNNC_SHAPE(B, U);
    RNNC_TRY(sized_view(&g->dxbuf, &g->dx, &xs));
    RNNC_TRY(sized_view(&g->dh0buf, &g->dh0, &hs));
    if (g->cudnn)
        RNNC_TRY(rnnc__cudnn_gru_backward(g, a));
    else
        RNNC_TRY(rnnc__generic_gru_backward(g, a));
    g->backward_done = true;
    out->dx = &g->dx;
    out->dh0 = &g->dh0;
    out->dkernel = &g->dkernel;
    out->drecurrent_kernel = &g->drecurrent;
    out->dbias = g->cfg.use_bias ? &g->dbias : NULL;
    return RNNC_OK;
}
