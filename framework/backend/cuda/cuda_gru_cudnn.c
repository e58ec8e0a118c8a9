/* cuda_gru_cudnn.c - the GRU through cuDNN's RNN API (cuDNN >= 8 "v8" API:
 * cudnnRNNForward, cudnnRNNBackwardData_v8, cudnnRNNBackwardWeights_v8).
 *
 * One layer, unidirectional, CUDNN_GRU with CUDNN_RNN_DOUBLE_BIAS (Keras's
 * reset_after=True: h~ = tanh(W_h x + bi_h + r (R_h h + br_h))), float32,
 * batch-major unpacked data with padded IO, so Keras's (B, T, F) inputs go
 * in as they are and right-padded masks become per-row sequence lengths.
 *
 * Around the cuDNN calls (kernels in cuda_kernels.cu):
 *   - weights: cuDNN is asked where each linear layer's matrix and bias live
 *     in its weight space (cudnnGetRNNWeightParams), and an index map from
 *     every weight-space slot to the Keras concatenation is built once from
 *     the table of cudnn_layout.h; set_weights gathers through it and
 *     backward scatters the weight gradients back through it;
 *   - go_backwards: each row's kept prefix is reversed before the call and
 *     the outputs are shifted into processing order after it (what
 *     TensorFlow's _cudnn_gru does with reverse_sequence); dx is mapped back
 *     the same way;
 *   - input dropout: one (B, F) mask multiplies the input first (Keras's
 *     fused path), and dx after;
 *   - outputs at masked steps follow the generic loop (cuda_gru.h).
 * Workspace and reserve space are sized by cudnnGetRNNTempSpaceSizes and
 * kept (grown only when a larger batch or sequence arrives). */
#include "framework/backend/cuda/cuda_internal.h"

#include <stdlib.h>
#include <string.h>

#include "framework/backend/cuda/cuda_kernels.h"
#include "framework/backend/cudnn_layout.h"

struct rnnc__cudnn_gru {
    cudnnRNNDescriptor_t rnn;
    cudnnDropoutDescriptor_t dropout; /* rate 0: one layer, nothing between layers */
    cudnnRNNDataDescriptor_t xdesc, ydesc;
    cudnnTensorDescriptor_t hdesc;
    size_t wspace_bytes;
    size_t n_ws;                      /* float slots in the weight space */
    rnnc__dbuf wspace, dwspace;       /* cuDNN weights and their gradients */
    rnnc__dbuf map;                   /* (n_ws) int32: slot -> Keras index, -1 = padding */
    rnnc__dbuf work, reserve;
    size_t work_bytes, reserve_bytes; /* of the latest forward */
    rnnc__dbuf xin;                   /* (B, T, F) reversed and/or dropped input */
    const float *x_used;              /* what cuDNN read: x or xin */
    rnnc__dbuf yc, dyc, dhy, dxin;    /* cuDNN-order outputs and gradients */
    rnnc__dbuf hzero;                 /* (B, U) zeros: hx when no initial state is given,
                                         so dhx is always computed */
    const void *hx;                   /* the initial state cuDNN read */
};

void rnnc__cudnn_gru_destroy(rnnc__cudnn_gru *c)
{
    if (!c)
        return;
    if (c->rnn)
        cudnnDestroyRNNDescriptor(c->rnn);
    if (c->dropout)
        cudnnDestroyDropoutDescriptor(c->dropout);
    if (c->xdesc)
        cudnnDestroyRNNDataDescriptor(c->xdesc);
    if (c->ydesc)
        cudnnDestroyRNNDataDescriptor(c->ydesc);
    if (c->hdesc)
        cudnnDestroyTensorDescriptor(c->hdesc);
    rnnc__dbuf *bufs[] = {&c->wspace, &c->dwspace, &c->map, &c->work, &c->reserve,
                          &c->xin,    &c->yc,      &c->dyc, &c->dhy,  &c->dxin,
                          &c->hzero};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        rnnc__dbuf_free(bufs[i]);
    free(c);
}

/* Element count of a tensor descriptor cuDNN filled in. */
static rnnc_status desc_numel(cudnnTensorDescriptor_t d, size_t *n, int *inner_stride)
{
    cudnnDataType_t dt;
    int nb = 0, dims[8], strides[8];
    RNNC_CUDNN_CHECK(cudnnGetTensorNdDescriptor(d, 8, &dt, &nb, dims, strides));
    size_t p = 1;
    for (int i = 0; i < nb; i++)
        p *= (size_t)dims[i];
    *n = p;
    *inner_stride = nb > 0 ? strides[nb - 1] : 1;
    return RNNC_OK;
}

/* Fills map[slot] for one linear layer: its matrix (U rows of `cols`,
 * row-major) and its bias (U), at the addresses cuDNN reports. */
static rnnc_status map_linlayer(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx, int id,
                                cudnnTensorDescriptor_t md, cudnnTensorDescriptor_t bd, int32_t *map)
{
    rnnc__cudnn_gru *c = g->cudnn;
    const int64_t F = g->F, U = g->U, cols = rnnc_cudnn_gru_matrix_cols(F, U, id);
    void *maddr = NULL, *baddr = NULL;
    RNNC_CUDNN_CHECK(cudnnGetRNNWeightParams(cx->cudnn, c->rnn, 0, c->wspace_bytes, c->wspace.ptr,
                                             id, md, &maddr, bd, &baddr));
    size_t mn = 0, bn = 0;
    int ms = 0, bs = 0;
    RNNC_TRY(desc_numel(md, &mn, &ms));
    RNNC_TRY(desc_numel(bd, &bn, &bs));
    const char *base = c->wspace.ptr;
    if (!maddr || !baddr || mn != (size_t)(U * cols) || bn != (size_t)U || ms != 1 || bs != 1)
        return rnnc_fail(RNNC_E_STATE,
                         "cuDNN GRU: unexpected weight layout for linear layer %d (matrix %zu "
                         "elements, bias %zu; expected %lld and %lld, contiguous)",
                         id, mn, bn, (long long)(U * cols), (long long)U);
    const size_t moff = (size_t)((const char *)maddr - base) / sizeof(float);
    const size_t boff = (size_t)((const char *)baddr - base) / sizeof(float);
    if ((const char *)maddr < base || (const char *)baddr < base || moff + mn > c->n_ws ||
        boff + bn > c->n_ws)
        return rnnc_fail(RNNC_E_STATE, "cuDNN GRU: linear layer %d lies outside the weight space", id);
    for (int64_t r = 0; r < U; r++) {
        for (int64_t k = 0; k < cols; k++)
            map[moff + (size_t)(r * cols + k)] =
                (int32_t)rnnc_cudnn_gru_keras_matrix_index(F, U, id, r, k);
        map[boff + (size_t)r] = (int32_t)rnnc_cudnn_gru_keras_bias_index(F, U, id, r);
    }
    return RNNC_OK;
}

/* Builds the slot -> Keras index map on the host and uploads it. */
static rnnc_status build_map(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx)
{
    rnnc__cudnn_gru *c = g->cudnn;
    int32_t *map = malloc(c->n_ws * sizeof *map);
    if (!map)
        return rnnc_fail(RNNC_E_NOMEM, "cuDNN GRU: out of host memory for the weight map");
    for (size_t i = 0; i < c->n_ws; i++)
        map[i] = -1;
    cudnnTensorDescriptor_t md = NULL, bd = NULL;
    rnnc_status s = RNNC_OK;
    cudnnStatus_t e = cudnnCreateTensorDescriptor(&md);
    if (e == CUDNN_STATUS_SUCCESS)
        e = cudnnCreateTensorDescriptor(&bd);
    if (e != CUDNN_STATUS_SUCCESS)
        s = rnnc__cudnn_fail(e, "cudnnCreateTensorDescriptor", __FILE__, __LINE__);
    for (int id = 0; s == RNNC_OK && id < RNNC_CUDNN_GRU_NUM_LIN; id++)
        s = map_linlayer(g, cx, id, md, bd, map);
    /* Every Keras parameter must land in exactly one slot. */
    if (s == RNNC_OK) {
        size_t mapped = 0;
        for (size_t i = 0; i < c->n_ws; i++)
            mapped += map[i] >= 0;
        if (mapped != g->n_params)
            s = rnnc_fail(RNNC_E_STATE, "cuDNN GRU: weight map covers %zu of %zu parameters",
                          mapped, g->n_params);
    }
    if (s == RNNC_OK)
        s = rnnc__dbuf_reserve(&c->map, c->n_ws * sizeof(int32_t));
    if (s == RNNC_OK) {
        cudaError_t ce = cudaMemcpyAsync(c->map.ptr, map, c->n_ws * sizeof(int32_t),
                                         cudaMemcpyHostToDevice, cx->stream);
        if (ce == cudaSuccess)
            ce = cudaStreamSynchronize(cx->stream);
        if (ce != cudaSuccess)
            s = rnnc__cuda_fail(ce, "cudaMemcpyAsync(weight map)", __FILE__, __LINE__);
    }
    if (md)
        cudnnDestroyTensorDescriptor(md);
    if (bd)
        cudnnDestroyTensorDescriptor(bd);
    free(map);
    return s;
}

rnnc_status rnnc__cudnn_gru_create(rnnc_cuda_gru *g)
{
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    rnnc__cudnn_gru *c = calloc(1, sizeof *c);
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "cuDNN GRU: out of host memory");
    g->cudnn = c; /* from here on rnnc__cuda_gru_destroy cleans up */
    RNNC_CUDNN_CHECK(cudnnCreateRNNDescriptor(&c->rnn));
    RNNC_CUDNN_CHECK(cudnnCreateDropoutDescriptor(&c->dropout));
    RNNC_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&c->xdesc));
    RNNC_CUDNN_CHECK(cudnnCreateRNNDataDescriptor(&c->ydesc));
    RNNC_CUDNN_CHECK(cudnnCreateTensorDescriptor(&c->hdesc));
    /* Rate 0 needs no random states. */
    RNNC_CUDNN_CHECK(cudnnSetDropoutDescriptor(c->dropout, cx->cudnn, 0.0f, NULL, 0, 0));
    /* FMA math keeps full float32 (the GPU must match the CPU within 1e-4);
     * TF32 tensor cores only when asked for. */
    RNNC_CUDNN_CHECK(cudnnSetRNNDescriptor_v8(
        c->rnn, CUDNN_RNN_ALGO_STANDARD, CUDNN_GRU, CUDNN_RNN_DOUBLE_BIAS, CUDNN_UNIDIRECTIONAL,
        CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT,
        g->cfg.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH, (int32_t)g->F, (int32_t)g->U,
        (int32_t)g->U, 1, c->dropout, CUDNN_RNN_PADDED_IO_ENABLED));
    RNNC_CUDNN_CHECK(cudnnGetRNNWeightSpaceSize(cx->cudnn, c->rnn, &c->wspace_bytes));
    c->n_ws = c->wspace_bytes / sizeof(float);
    if (c->n_ws < g->n_params || c->n_ws > (size_t)INT32_MAX)
        return rnnc_fail(RNNC_E_STATE, "cuDNN GRU: weight space of %zu bytes for %zu parameters",
                         c->wspace_bytes, g->n_params);
    RNNC_TRY(rnnc__dbuf_reserve(&c->wspace, c->wspace_bytes));
    RNNC_TRY(rnnc__dbuf_reserve(&c->dwspace, c->wspace_bytes));
    /* Padding slots (if cuDNN has any) stay zero. */
    RNNC_CUDA_CHECK(cudaMemsetAsync(c->wspace.ptr, 0, c->wspace_bytes, cx->stream));
    return build_map(g, cx);
}

rnnc_status rnnc__cudnn_gru_set_weights(rnnc_cuda_gru *g)
{
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    rnnc__cudnn_gru *c = g->cudnn;
    RNNC_CUDA_CHECK(rnnc__k_gather(cx->stream, c->wspace.ptr, g->wk.ptr, c->map.ptr, c->n_ws));
    return RNNC_OK;
}

/* Data descriptors for this call's (B, T) and lengths. */
static rnnc_status set_descriptors(rnnc_cuda_gru *g)
{
    rnnc__cudnn_gru *c = g->cudnn;
    const int B = (int)g->B, T = (int)g->T, F = (int)g->F, U = (int)g->U;
    float zero = 0.0f; /* padded output positions (read during the call) */
    RNNC_CUDNN_CHECK(cudnnSetRNNDataDescriptor(c->xdesc, CUDNN_DATA_FLOAT,
                                               CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, T, B, F,
                                               g->lens_host, &zero));
    RNNC_CUDNN_CHECK(cudnnSetRNNDataDescriptor(c->ydesc, CUDNN_DATA_FLOAT,
                                               CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED, T, B, U,
                                               g->lens_host, &zero));
    const int dims[3] = {1, B, U}, strides[3] = {B * U, U, 1};
    RNNC_CUDNN_CHECK(cudnnSetTensorNdDescriptor(c->hdesc, CUDNN_DATA_FLOAT, 3, dims, strides));
    return RNNC_OK;
}

rnnc_status rnnc__cudnn_gru_forward(rnnc_cuda_gru *g, bool training)
{
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    rnnc__cudnn_gru *c = g->cudnn;
    const int64_t B = g->B, T = g->T, F = g->F, U = g->U;
    const bool back = g->cfg.go_backwards;
    RNNC_TRY(set_descriptors(g));

    /* The input cuDNN reads: reversed prefixes and/or dropped. */
    c->x_used = g->x->data;
    if (back || g->drop) {
        RNNC_TRY(rnnc__dbuf_reserve(&c->xin, (size_t)(B * T * F) * sizeof(float)));
        RNNC_CUDA_CHECK(rnnc__k_seq_permute(cx->stream, c->xin.ptr, g->x->data,
                                            g->drop ? g->drop->data : NULL, g->lens_dev.ptr,
                                            (int)B, (int)T, (int)F, back));
        c->x_used = c->xin.ptr;
    }
    RNNC_TRY(rnnc__dbuf_reserve(&c->yc, (size_t)(B * T * U) * sizeof(float)));
    c->hx = g->h0 ? g->h0->data : NULL;
    if (!c->hx) {
        RNNC_TRY(rnnc__dbuf_reserve(&c->hzero, (size_t)(B * U) * sizeof(float)));
        RNNC_CUDA_CHECK(cudaMemsetAsync(c->hzero.ptr, 0, (size_t)(B * U) * sizeof(float), cx->stream));
        c->hx = c->hzero.ptr;
    }

    const cudnnForwardMode_t mode = training ? CUDNN_FWD_MODE_TRAINING : CUDNN_FWD_MODE_INFERENCE;
    size_t work = 0, reserve = 0;
    RNNC_CUDNN_CHECK(cudnnGetRNNTempSpaceSizes(cx->cudnn, c->rnn, mode, c->xdesc, &work, &reserve));
    RNNC_TRY(rnnc__dbuf_reserve(&c->work, work ? work : 1));
    if (training)
        RNNC_TRY(rnnc__dbuf_reserve(&c->reserve, reserve ? reserve : 1));
    c->work_bytes = work;
    c->reserve_bytes = training ? reserve : 0;

    RNNC_CUDNN_CHECK(cudnnRNNForward(cx->cudnn, c->rnn, mode, g->lens_dev.ptr, c->xdesc, c->x_used,
                                     c->ydesc, c->yc.ptr, c->hdesc, c->hx,
                                     g->state.data, c->hdesc, NULL, NULL, c->wspace_bytes,
                                     c->wspace.ptr, c->work_bytes, c->work.ptr, c->reserve_bytes,
                                     training ? c->reserve.ptr : NULL));
    /* hy (the final state of each row) went straight into g->state. */
    RNNC_CUDA_CHECK(rnnc__k_cudnn_outputs(cx->stream, g->y.data, g->last.data, c->yc.ptr,
                                          g->state.data, g->lens_dev.ptr, (int)B, (int)T, (int)U,
                                          back, g->cfg.zero_output_for_mask));
    return RNNC_OK;
}

rnnc_status rnnc__cudnn_gru_backward(rnnc_cuda_gru *g, const rnnc_cuda_gru_backward_args *a)
{
    rnnc__cuda_ctx *cx;
    RNNC_TRY(rnnc__cuda_ctx_get(&cx));
    rnnc__cudnn_gru *c = g->cudnn;
    const int64_t B = g->B, T = g->T, F = g->F, U = g->U;
    const bool back = g->cfg.go_backwards;
    RNNC_TRY(rnnc__dbuf_reserve(&c->dyc, (size_t)(B * T * U) * sizeof(float)));
    RNNC_TRY(rnnc__dbuf_reserve(&c->dhy, (size_t)(B * U) * sizeof(float)));
    RNNC_TRY(rnnc__dbuf_reserve(&c->dxin, (size_t)(B * T * F) * sizeof(float)));

    /* Output gradients in cuDNN's order; dlast joins dhy when the last
     * output is the final state. */
    RNNC_CUDA_CHECK(rnnc__k_cudnn_doutputs(
        cx->stream, c->dyc.ptr, c->dhy.ptr, a->d_outputs ? a->d_outputs->data : NULL,
        a->d_last ? a->d_last->data : NULL, a->d_state ? a->d_state->data : NULL, g->lens_dev.ptr,
        (int)B, (int)T, (int)U, back, g->cfg.zero_output_for_mask));

    const void *hx = c->hx;
    RNNC_CUDNN_CHECK(cudnnRNNBackwardData_v8(
        cx->cudnn, c->rnn, g->lens_dev.ptr, c->ydesc, c->yc.ptr, c->dyc.ptr, c->xdesc, c->dxin.ptr,
        c->hdesc, hx, c->dhy.ptr, g->dh0.data, c->hdesc, NULL, NULL, NULL, c->wspace_bytes,
        c->wspace.ptr, c->work_bytes, c->work.ptr, c->reserve_bytes, c->reserve.ptr));
    /* dx in input order: undo the reversal and the dropout, zero padding. */
    RNNC_CUDA_CHECK(rnnc__k_seq_permute(cx->stream, g->dx.data, c->dxin.ptr,
                                        g->drop ? g->drop->data : NULL, g->lens_dev.ptr, (int)B,
                                        (int)T, (int)F, back));

    /* cuDNN 8/9 accept only CUDNN_WGRAD_MODE_ADD here: start from zero. */
    RNNC_CUDA_CHECK(cudaMemsetAsync(c->dwspace.ptr, 0, c->wspace_bytes, cx->stream));
    RNNC_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(
        cx->cudnn, c->rnn, CUDNN_WGRAD_MODE_ADD, g->lens_dev.ptr, c->xdesc, c->x_used, c->hdesc, hx,
        c->ydesc, c->yc.ptr, c->wspace_bytes, c->dwspace.ptr, c->work_bytes, c->work.ptr,
        c->reserve_bytes, c->reserve.ptr));
    /* Keras-layout gradients accumulate (+=) as leaf gradients do. */
    RNNC_CUDA_CHECK(rnnc__k_scatter_add(cx->stream, g->gk.ptr, c->dwspace.ptr, c->map.ptr, c->n_ws));
    return RNNC_OK;
}
