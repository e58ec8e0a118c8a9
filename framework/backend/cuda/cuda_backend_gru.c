/* cuda_backend_gru.c - the op table's GRU (backend_ops.h gru_create /
 * gru_forward / gru_backward) on the CUDA backend: a wrapper of the GPU GRU
 * of cuda_gru.c (cuDNN's kernel when the config asks for it, else the
 * generic one), over the table's device buffers.
 *
 *   - create maps rnnc_bgru_config to rnnc_cuda_gru_config (cudnn ->
 *     RNNC_CUDA_GRU_CUDNN, else GENERIC; full float32 math, no TF32);
 *   - forward sets the weights (device-to-device copies into the GRU's
 *     own blob), copies x and h0 into buffers of its own when training (the
 *     GPU GRU borrows them until backward; the op lets the caller reuse
 *     its buffers), runs, and copies the outputs (processing order) and the
 *     final state into the caller's y / state on the stream;
 *   - backward zeroes the GPU GRU's gradient blob (it accumulates), runs,
 *     writes dx / dh0 and adds the weight gradients into the caller's.
 * Nothing goes device -> host in forward or backward: the mask arrives on
 * the host and goes up as lengths (and as bytes for the generic kernel). */
#include "framework/backend/cuda/cuda_internal.h"

#include <stdlib.h>

#include "framework/backend/cuda/cuda_ops_kernels.h"
#include "framework/backend_ops.h"
#include "framework/backend_ops_internal.h"

#define BE (rnnc__cuda_backend_ops())

struct rnnc_bgru {
    rnnc_bgru_config c;
    rnnc_cuda_gru *g;
    int64_t B, T;
    bool trained, backward_done;
    rnnc__dbuf xbuf, h0buf;                       /* copies of x and h0 (training) */
    rnnc_dtensor x, h0, kernel, recurrent, bias; /* headers the GPU GRU reads */
    rnnc_dtensor dy;
};

rnnc_status rnnc__cuda_bgru_create(const rnnc_bgru_config *c, rnnc_bgru **out)
{
    RNNC_TRY(rnnc__gru_config_check(BE, c));
    const rnnc_cuda_gru_config cc = {
        .input_size = c->input_size,
        .units = c->units,
        .activation = c->activation,
        .recurrent_activation = c->recurrent_activation,
        .use_bias = c->use_bias,
        .reset_after = c->reset_after,
        .go_backwards = c->go_backwards,
        .zero_output_for_mask = c->zero_output_for_mask,
        .kernel = c->cudnn ? RNNC_CUDA_GRU_CUDNN : RNNC_CUDA_GRU_GENERIC,
        .allow_tf32 = false,
        .use_graphs = true,
    };
    rnnc_bgru *g = calloc(1, sizeof *g);
    if (!g)
        return rnnc_fail(RNNC_E_NOMEM, "cuda gru_create: out of host memory");
    g->c = *c;
    rnnc_status s = rnnc__cuda_gru_create(&cc, &g->g);
    if (s != RNNC_OK) {
        free(g);
        return rnnc_fail_context(s, "cuda gru_create: ");
    }
    *out = g;
    return RNNC_OK;
}

void rnnc__cuda_bgru_destroy(rnnc_bgru *g)
{
    if (!g)
        return;
    rnnc__cuda_gru_destroy(g->g);
    rnnc__dbuf_free(&g->xbuf);
    rnnc__dbuf_free(&g->h0buf);
    free(g);
}

/* A device-to-device copy of n floats on the stream. */
static rnnc_status d2d(cudaStream_t s, void *dst, const void *src, size_t n)
{
    if (n)
        RNNC_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
    return RNNC_OK;
}

/* A header over src's memory, or (copy) over a copy of it in buf. */
static rnnc_status header(cudaStream_t s, rnnc_dtensor *t, const rnnc_shape *shape, const rnnc_bbuf *src,
                          rnnc__dbuf *buf, bool copy)
{
    void *data = src->data;
    if (copy) {
        RNNC_TRY(rnnc__dbuf_reserve(buf, (src->n ? src->n : 1) * sizeof(float)));
        RNNC_TRY(d2d(s, buf->ptr, src->data, src->n));
        data = buf->ptr;
    }
    rnnc__dview(t, RNNC_F32, shape, data);
    return RNNC_OK;
}

rnnc_status rnnc__cuda_bgru_forward(rnnc_bgru *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                    const rnnc_bbuf *h0, const uint8_t *mask, const rnnc_bbuf *kernel,
                                    const rnnc_bbuf *recurrent_kernel, const rnnc_bbuf *bias,
                                    bool training, rnnc_bbuf *y, rnnc_bbuf *state)
{
    if (!g)
        return rnnc_fail(RNNC_E_ARG, "cuda gru_forward: the GRU is NULL");
    const rnnc_bgru_config *c = &g->c;
    RNNC_TRY(rnnc__gru_forward_check(BE, c, B, T, x, h0, kernel, recurrent_kernel, bias, y, state));
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    const int64_t F = c->input_size, U = c->units;
    g->trained = false;
    const rnnc_shape ks = RNNC_SHAPE(F, 3 * U), rs = RNNC_SHAPE(U, 3 * U),
                     bs = c->reset_after ? RNNC_SHAPE(2, 3 * U) : RNNC_SHAPE(3 * U);
    rnnc__dview(&g->kernel, RNNC_F32, &ks, kernel->data);
    rnnc__dview(&g->recurrent, RNNC_F32, &rs, recurrent_kernel->data);
    if (bias)
        rnnc__dview(&g->bias, RNNC_F32, &bs, bias->data);
    RNNC_TRY(rnnc__cuda_gru_set_weights(g->g, &g->kernel, &g->recurrent, bias ? &g->bias : NULL));
    const rnnc_shape xs = RNNC_SHAPE(B, T, F), hs = RNNC_SHAPE(B, U);
    RNNC_TRY(header(cx->stream, &g->x, &xs, x, &g->xbuf, training));
    if (h0)
        RNNC_TRY(header(cx->stream, &g->h0, &hs, h0, &g->h0buf, training));
    /* The host mask as a tensor header (read only). */
    rnnc_tensor mt = {.dtype = RNNC_U8, .shape = RNNC_SHAPE(B, T), .numel = (size_t)(B * T),
                      .data = (void *)mask};
    const rnnc_cuda_gru_forward_args a = {
        .x = &g->x,
        .h0 = h0 ? &g->h0 : NULL,
        .mask = mask ? &mt : NULL,
        .training = training,
    };
    rnnc_cuda_gru_outputs o;
    rnnc_status s = rnnc__cuda_gru_forward(g->g, &a, &o);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "cuda gru_forward: ");
    RNNC_TRY(d2d(cx->stream, y->data, c->return_sequences ? o.outputs->data : o.last->data, y->n));
    if (state)
        RNNC_TRY(d2d(cx->stream, state->data, o.state->data, state->n));
    g->B = B;
    g->T = T;
    g->trained = training;
    g->backward_done = false;
    return RNNC_OK;
}

/* acc += the GPU GRU's gradient (n floats). */
static rnnc_status add_into(cudaStream_t s, rnnc_bbuf *acc, const rnnc_dtensor *grad)
{
    RNNC_CUDA_CHECK(rnnc__k_binary(s, RNNC__K_BIN_ADD, acc->data, grad->data, acc->data, acc->n));
    return RNNC_OK;
}

rnnc_status rnnc__cuda_bgru_backward(rnnc_bgru *g, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dh0,
                                     rnnc_bbuf *dkernel, rnnc_bbuf *drecurrent_kernel,
                                     rnnc_bbuf *dbias)
{
    if (!g)
        return rnnc_fail(RNNC_E_ARG, "cuda gru_backward: the GRU is NULL");
    if (!g->trained)
        return rnnc_fail(RNNC_E_STATE, "cuda gru_backward: needs a forward with training=true first");
    if (g->backward_done)
        return rnnc_fail(RNNC_E_STATE, "cuda gru_backward: backward already ran for this forward");
    const rnnc_bgru_config *c = &g->c;
    const int64_t B = g->B, T = g->T, U = c->units;
    RNNC_TRY(rnnc__gru_backward_check(BE, c, B, T, dy, dx, dh0, dkernel, drecurrent_kernel, dbias));
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    const rnnc_shape ds = c->return_sequences ? RNNC_SHAPE(B, T, U) : RNNC_SHAPE(B, U);
    rnnc__dview(&g->dy, RNNC_F32, &ds, dy->data);
    const rnnc_cuda_gru_backward_args a = {
        .d_outputs = c->return_sequences ? &g->dy : NULL,
        .d_last = c->return_sequences ? NULL : &g->dy,
    };
    RNNC_TRY(rnnc__cuda_gru_zero_grad(g->g));
    rnnc_cuda_gru_grads gr;
    rnnc_status s = rnnc__cuda_gru_backward(g->g, &a, &gr);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "cuda gru_backward: ");
    g->backward_done = true;
    if (dx)
        RNNC_TRY(d2d(cx->stream, dx->data, gr.dx->data, dx->n));
    if (dh0)
        RNNC_TRY(d2d(cx->stream, dh0->data, gr.dh0->data, dh0->n));
    RNNC_TRY(add_into(cx->stream, dkernel, gr.dkernel));
    RNNC_TRY(add_into(cx->stream, drecurrent_kernel, gr.drecurrent_kernel));
    if (dbias)
        RNNC_TRY(add_into(cx->stream, dbias, gr.dbias));
    return RNNC_OK;
}

#undef BE
