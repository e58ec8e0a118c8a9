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
 * (cuda_internal.h) keep their size across calls.
 *
 * CUDA graphs (cfg.use_graphs): each step loop (forward: T x (GEMM(s) +
 * kernel(s)); backward likewise) is captured once into a CUDA graph and
 * replayed while its key repeats: B, T, the mask's presence, training,
 * which gradients the caller gave, and every device pointer the loop's
 * work touches. Those are the object's own buffers (x and h0 are read
 * before the loop, the caller's dY and d_last copied into owned buffers
 * first), so the same shapes give the same pointers; the data behind them
 * (the mask's pattern included) is read when the graph runs. The cuBLAS
 * calls inside the loop are captured with them, on the workspace
 * rnnc__cuda_graph_workspace gives cuBLAS. A new key is captured (and
 * the capture launched) in place of the least recently used of the loop's
 * RNNC__GRU_GRAPHS graphs; a capture that fails (a refused call,
 * instantiation) runs the loop uncaptured, so the result never depends on
 * the graph. */
#include "framework/backend/cuda/cuda_internal.h"

#include <string.h>

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

/* ---- graphs of the step loops ------------------------------------------- */

typedef struct graph_key {
    int n;
    uintptr_t v[RNNC__GRU_GRAPH_KEY];
} graph_key;

static void key_add(graph_key *k, uintptr_t v)
{
    if (k->n < RNNC__GRU_GRAPH_KEY)
        k->v[k->n] = v;
    k->n++; /* an overfull key never matches (see run_loop) */
}

/* What every loop's kernels read through kargs(). */
static void key_common(graph_key *k, const rnnc_cuda_gru *g)
{
    key_add(k, (uintptr_t)g->B);
    key_add(k, (uintptr_t)g->T);
    key_add(k, (uintptr_t)g->masked);
    key_add(k, (uintptr_t)(g->masked ? g->mask_dev.ptr : NULL));
    const void *p[] = {g->wk.ptr, g->xw.ptr, g->hs.ptr, g->gates.ptr, g->pre.ptr, g->rh.ptr,
                       g->y.data};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        key_add(k, (uintptr_t)p[i]);
}

static void graph_drop(rnnc__gru_graph *gr)
{
    if (gr->exec)
        cudaGraphExecDestroy(gr->exec);
    gr->exec = NULL;
    gr->used = 0;
    gr->n = 0;
}

static uint64_t all_captures, all_replays, all_fallbacks; /* process-wide */

void rnnc__generic_gru_graph_stats(rnnc_cuda_stats *out)
{
    out->graph_captures = all_captures;
    out->graph_replays = all_replays;
    out->graph_fallbacks = all_fallbacks;
}

void rnnc__generic_gru_graphs_destroy(rnnc_cuda_gru *g)
{
    for (int i = 0; i < RNNC__GRU_GRAPHS; i++) {
        graph_drop(&g->gfwd[i]);
        graph_drop(&g->gbwd[i]);
    }
}

typedef rnnc_status (*loop_fn)(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx, const void *arg);

/* Captures loop(g, cx, arg) into gr->exec; nothing runs. */
static rnnc_status capture(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx, rnnc__gru_graph *gr, loop_fn loop,
                           const void *arg)
{
    RNNC_TRY(rnnc__cuda_graph_workspace(cx));
    RNNC_CUDA_CHECK(cudaStreamBeginCapture(cx->stream, cudaStreamCaptureModeThreadLocal));
    const rnnc_status s = loop(g, cx, arg);
    cudaGraph_t graph = NULL;
    const cudaError_t e = cudaStreamEndCapture(cx->stream, &graph); /* always end it */
    if (s != RNNC_OK) {
        if (graph)
            cudaGraphDestroy(graph);
        return s;
    }
    RNNC_CUDA_CHECK(e);
    const cudaError_t ie = cudaGraphInstantiate(&gr->exec, graph, 0);
    cudaGraphDestroy(graph);
    if (ie != cudaSuccess)
        gr->exec = NULL;
    RNNC_CUDA_CHECK(ie);
    return RNNC_OK;
}

/* Runs a step loop: the kept graph whose key matches, else a new capture
 * (then launched) in place of the least recently used graph, else the loop
 * uncaptured. A match is safe even for a graph captured long ago: every
 * pointer it touches and every size it works on is in the key. */
static rnnc_status run_loop(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx, rnnc__gru_graph *set,
                            const graph_key *k, loop_fn loop, const void *arg)
{
    if (!g->cfg.use_graphs || k->n > RNNC__GRU_GRAPH_KEY)
        return loop(g, cx, arg);
    const size_t kb = (size_t)k->n * sizeof k->v[0];
    rnnc__gru_graph *gr = NULL, *lru = &set[0];
    for (int i = 0; i < RNNC__GRU_GRAPHS && !gr; i++) {
        if (set[i].exec && set[i].n == k->n && memcmp(set[i].key, k->v, kb) == 0)
            gr = &set[i];
        else if (set[i].used < lru->used)
            lru = &set[i];
    }
    if (gr) {
        gr->used = ++g->graph_clock;
        RNNC_CUDA_CHECK(cudaGraphLaunch(gr->exec, cx->stream));
        g->graph_replays++;
        all_replays++;
        return RNNC_OK;
    }
    gr = lru; /* empty slots (used == 0) first */
    graph_drop(gr);
    if (capture(g, cx, gr, loop, arg) != RNNC_OK) {
        graph_drop(gr);
        rnnc_clear_error();
        g->graph_fallbacks++;
        all_fallbacks++;
        return loop(g, cx, arg);
    }
    gr->n = k->n;
    gr->used = ++g->graph_clock;
    memcpy(gr->key, k->v, kb);
    g->graph_captures++;
    all_captures++;
    RNNC_CUDA_CHECK(cudaGraphLaunch(gr->exec, cx->stream));
    return RNNC_OK;
}

/* The forward's step loop: per step the recurrent GEMM(s) and kernel(s). */
static rnnc_status forward_steps(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx, const void *unused)
{
    (void)unused;
    const int64_t B = g->B, T = g->T, F = g->F, U = g->U, BU = B * U;
    const float *R = (const float *)g->wk.ptr + F * 3 * U;
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
    return RNNC_OK;
}

rnnc_status rnnc__generic_gru_forward(rnnc_cuda_gru *g, bool training)
{
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
    const float *W = g->wk.ptr;

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

    graph_key key = {0};
    key_common(&key, g);
    key_add(&key, (uintptr_t)training);
    key_add(&key, (uintptr_t)g->hr.ptr);
    key_add(&key, (uintptr_t)g->hh2.ptr);
    RNNC_TRY(run_loop(g, cx, g->gfwd, &key, forward_steps, NULL));
    /* last = Y[:, T-1] (the final state when nothing is masked); state = hs[T]. */
    RNNC_CUDA_CHECK(cudaMemcpy2DAsync(g->last.data, (size_t)U * fs,
                                      (const float *)g->y.data + (T - 1) * U, (size_t)(T * U) * fs,
                                      (size_t)U * fs, (size_t)B, cudaMemcpyDeviceToDevice,
                                      cx->stream));
    RNNC_CUDA_CHECK(cudaMemcpyAsync(g->state.data, F32(g->hs) + T * BU, (size_t)BU * fs,
                                    cudaMemcpyDeviceToDevice, cx->stream));
    return RNNC_OK;
}

typedef struct backward_args {
    const float *dY, *dlast;
} backward_args;

/* The backward's step loop, last step first: dh (in dstate) and dh_prev
 * (in dhp) swap places each step. */
static rnnc_status backward_steps(rnnc_cuda_gru *g, rnnc__cuda_ctx *cx, const void *arg)
{
    const backward_args *ba = arg;
    const int64_t B = g->B, T = g->T, F = g->F, U = g->U;
    const float *R = (const float *)g->wk.ptr + F * 3 * U;
    float *dh = F32(g->dstate), *dhp = F32(g->dhp), *carry = F32(g->dcarry);
    float *dxw = F32(g->dxw), *drh = F32(g->drh), *dhn = F32(g->dhn);
    const rnnc__gru_kargs a = kargs(g);
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = g->cfg.go_backwards ? T - 1 - k : k;
        float *dq = F32(g->dhr) + k * B * 3 * U;
        RNNC_CUDA_CHECK(rnnc__k_gru_bwd(cx->stream, a, (int)k, (int)t, ba->dY, ba->dlast, dh, carry,
                                        dxw, dq, dhp, dhn));
        if (g->cfg.reset_after) {
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
    float *W = g->wk.ptr;
    float *dW = g->gk.ptr, *dR = dW + F * 3 * U, *db = dR + U * 3 * U;
    const float *dY = ba->d_outputs ? ba->d_outputs->data : NULL;
    const float *dlast = ba->d_last ? ba->d_last->data : NULL;
    if (g->cfg.use_graphs) {
        /* The caller's gradients into owned buffers: stable pointers for the graph. */
        if (dY) {
            RNNC_TRY(rnnc__dbuf_reserve(&g->dyc, (size_t)(B * T * U) * fs));
            RNNC_CUDA_CHECK(cudaMemcpyAsync(g->dyc.ptr, dY, (size_t)(B * T * U) * fs,
                                            cudaMemcpyDeviceToDevice, cx->stream));
            dY = F32(g->dyc);
        }
        if (dlast) {
            RNNC_TRY(rnnc__dbuf_reserve(&g->dlastc, (size_t)BU * fs));
            RNNC_CUDA_CHECK(cudaMemcpyAsync(g->dlastc.ptr, dlast, (size_t)BU * fs,
                                            cudaMemcpyDeviceToDevice, cx->stream));
            dlast = F32(g->dlastc);
        }
    }
    if (ba->d_state)
        RNNC_CUDA_CHECK(cudaMemcpyAsync(g->dstate.ptr, ba->d_state->data, (size_t)BU * fs,
                                        cudaMemcpyDeviceToDevice, cx->stream));
    else
        RNNC_CUDA_CHECK(cudaMemsetAsync(g->dstate.ptr, 0, (size_t)BU * fs, cx->stream));
    RNNC_CUDA_CHECK(cudaMemsetAsync(g->dcarry.ptr, 0, (size_t)BU * fs, cx->stream));

    const backward_args la = {dY, dlast};
    graph_key key = {0};
    key_common(&key, g);
    const void *p[] = {dY, dlast, g->dstate.ptr, g->dhp.ptr, g->dcarry.ptr, g->dxw.ptr,
                       g->dhr.ptr, g->drh.ptr, g->dhn.ptr};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        key_add(&key, (uintptr_t)p[i]);
    RNNC_TRY(run_loop(g, cx, g->gbwd, &key, backward_steps, &la));
    /* The loop swaps dh and dh_prev each step: dh ends in dstate when T is even. */
    const float *dh = T % 2 == 0 ? F32(g->dstate) : F32(g->dhp);
    RNNC_CUDA_CHECK(cudaMemcpyAsync(g->dh0.data, dh, (size_t)BU * fs, cudaMemcpyDeviceToDevice,
                                    cx->stream));
    float *dxw = F32(g->dxw);

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
