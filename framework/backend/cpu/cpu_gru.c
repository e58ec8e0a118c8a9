/* cpu_gru.c - the CPU backend's GRU op (backend_ops.h gru_create / forward /
 * backward): a plain float32 reference of Keras's GRU over a whole sequence
 * with backpropagation through time, for the device model on the CPU table
 * (the CPU training path itself keeps layers/gru_fused.c).
 *
 * Semantics as layers/gru_fused.h and the spec (../shared/spec/keras-gru.md
 * 1.2-1.4, 3.2 with TensorFlow's masked-output rule, 5.1): reset_after True
 * (bias rows input / recurrent, the reset gate multiplies h R_h + br_h) and
 * False (the reset gate multiplies h before its product), go_backwards with
 * outputs in processing order, masks (a masked step keeps the state and
 * outputs the previous output, zeros before a row's first kept step, zeros
 * always with zero_output_for_mask), any element-wise activation pair
 * through rnnc_act_apply / rnnc_act_deriv (evaluated in double, stored as
 * float). Products are cblas_sgemm: one (B*T, F) x (F, 3U) for the input
 * projections, one or two per step for the recurrence; backward mirrors
 * them and ends with one GEMM each for dx and dkernel.
 *
 * The forward copies the weights and, when training, x, so the caller's
 * buffers may change before backward. Workspaces, the backward's too, grow
 * to the largest (B, T) seen and are reused; destroy frees them. */
#include <stdlib.h>
#include <string.h>

#include "framework/backend/cpu/cpu_internal.h"
#include "framework/backend/cpu/cpu_rnn_internal.h"
#include "framework/backend_ops_internal.h"

#define BE (rnnc_backend_ops_cpu())

struct rnnc_bgru {
    rnnc_bgru_config c;
    int64_t B, T;
    bool has_forward, trained, backward_done, masked;
    cpu_fbuf W, R, bias; /* copies of the weights */
    cpu_fbuf x;          /* (B, T, F) copy when training */
    cpu_fbuf xp;         /* (B, T, 3U) x W + input bias */
    cpu_fbuf hs;         /* (T + 1, B, U) states; hs[0] = h0 */
    cpu_fbuf pre, act;   /* (T, B, 3U) pre-activations and values of z, r, candidate */
    cpu_fbuf rh;         /* (T, B, U) reset_after: h R_h + br_h; else r * h */
    cpu_fbuf rec;        /* (B, 3U) per-step recurrent products */
    cpu_fbuf prev;       /* (B, U) previous output */
    cpu_fbuf bwd;        /* backward: gru_bwd_ws's buffers and d(r * h), zeroed per call */
    uint8_t *mask;   /* (B, T) copy (masked) */
    size_t mask_cap;
};

rnnc_status rnnc__cpu_gru_create(const rnnc_bgru_config *c, rnnc_bgru **out)
{
    RNNC_TRY(rnnc__gru_config_check(BE, c));
    rnnc_bgru *g = calloc(1, sizeof *g);
    if (!g)
        return rnnc_fail(RNNC_E_NOMEM, "cpu gru_create: out of memory");
    g->c = *c;
    *out = g;
    return RNNC_OK;
}

void rnnc__cpu_gru_destroy(rnnc_bgru *g)
{
    if (!g)
        return;
    cpu_fbuf *bufs[] = {&g->W, &g->R, &g->bias, &g->x, &g->xp, &g->hs, &g->pre, &g->act, &g->rh, &g->rec,
                    &g->prev, &g->bwd};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]->p);
    free(g->mask);
    free(g);
}

static rnnc_status reserve_forward(rnnc_bgru *g, int64_t B, int64_t T, bool masked)
{
    const size_t F = (size_t)g->c.input_size, U = (size_t)g->c.units, b = (size_t)B, t = (size_t)T;
    RNNC_TRY(cpu_fbuf_reserve(&g->W, F * 3 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->R, U * 3 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->bias, 6 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->x, b * t * F));
    RNNC_TRY(cpu_fbuf_reserve(&g->xp, b * t * 3 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->hs, (t + 1) * b * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->pre, t * b * 3 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->act, t * b * 3 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->rh, t * b * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->rec, b * 3 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->prev, b * U));
    if (masked)
        RNNC_TRY(cpu_rnn_mask_reserve(&g->mask, &g->mask_cap, B, T, "gru"));
    return RNNC_OK;
}

/* One step's gates for every row: pre, act (and rh) at step k from xp at
 * time t and the previous states hp; returns the new states in hn. */
static void step_forward(rnnc_bgru *g, int64_t k, int64_t t, const float *hp, float *hn)
{
    const int64_t B = g->B, T = g->T, U = g->c.units, G = 3 * U;
    const rnnc_act fa = g->c.activation, ra = g->c.recurrent_activation;
    const float *R = g->R.p;
    const float *br = g->c.use_bias && g->c.reset_after ? g->bias.p + G : NULL;
    float *rec = g->rec.p;
    float *pre = g->pre.p + k * B * G, *av = g->act.p + k * B * G, *rh = g->rh.p + k * B * U;
    if (g->c.reset_after)
        cpu_gemm(false, false, B, G, U, hp, U, R, G, 0.0f, rec, G);
    else
        cpu_gemm(false, false, B, 2 * U, U, hp, U, R, G, 0.0f, rec, G);
    for (int64_t b = 0; b < B; b++) {
        const float *xp = g->xp.p + (b * T + t) * G, *rc = rec + b * G;
        for (int64_t j = 0; j < 2 * U; j++) {
            const float p = xp[j] + rc[j] + (br ? br[j] : 0.0f);
            pre[b * G + j] = p;
            av[b * G + j] = cpu_act(ra, p);
        }
        if (!g->c.reset_after)
            for (int64_t j = 0; j < U; j++)
                rh[b * U + j] = av[b * G + U + j] * hp[b * U + j];
    }
    if (!g->c.reset_after) /* (r * h) R_h into the candidate block */
        cpu_gemm(false, false, B, U, U, rh, U, R + 2 * U, G, 0.0f, rec + 2 * U, G);
    for (int64_t b = 0; b < B; b++) {
        const float *xp = g->xp.p + (b * T + t) * G, *rc = rec + b * G;
        for (int64_t j = 0; j < U; j++) {
            float p;
            if (g->c.reset_after) {
                const float v = rc[2 * U + j] + (br ? br[2 * U + j] : 0.0f);
                rh[b * U + j] = v;
                p = xp[2 * U + j] + av[b * G + U + j] * v;
            } else {
                p = xp[2 * U + j] + rc[2 * U + j];
            }
            const float hh = cpu_act(fa, p), z = av[b * G + j];
            pre[b * G + 2 * U + j] = p;
            av[b * G + 2 * U + j] = hh;
            hn[b * U + j] = z * hp[b * U + j] + (1.0f - z) * hh;
        }
    }
}

rnnc_status rnnc__cpu_gru_forward(rnnc_bgru *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                  const rnnc_bbuf *h0, const uint8_t *mask, const rnnc_bbuf *kernel,
                                  const rnnc_bbuf *recurrent_kernel, const rnnc_bbuf *bias,
                                  bool training, rnnc_bbuf *y, rnnc_bbuf *state)
{
    if (!g)
        return rnnc_fail(RNNC_E_ARG, "cpu gru_forward: the GRU is NULL");
    const rnnc_bgru_config *c = &g->c;
    RNNC_TRY(rnnc__gru_forward_check(BE, c, B, T, x, h0, kernel, recurrent_kernel, bias, y, state));
    g->has_forward = false;
    RNNC_TRY(reserve_forward(g, B, T, mask != NULL));
    g->B = B;
    g->T = T;
    g->masked = mask != NULL;
    const int64_t F = c->input_size, U = c->units, G = 3 * U;
    /* Input projections of every step, input bias included. */
    cpu_rnn_forward_load(B, T, F, U, G, x->data, mask, kernel->data, recurrent_kernel->data,
                         bias ? bias->data : NULL, bias ? bias->n : 0, training, g->W.p, g->R.p,
                         g->bias.p, g->x.p, g->mask, g->xp.p);
    float *hs = g->hs.p, *prev = g->prev.p, *Y = y->data;
    cpu_copy_or_zero(hs, h0 ? h0->data : NULL, (size_t)(B * U));
    memset(prev, 0, (size_t)(B * U) * sizeof(float));
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = c->go_backwards ? T - 1 - k : k;
        const float *hp = hs + k * B * U;
        float *hn = hs + (k + 1) * B * U;
        step_forward(g, k, t, hp, hn);
        for (int64_t b = 0; b < B; b++) {
            const bool keep = !mask || g->mask[b * T + t];
            cpu_rnn_row_out(keep, c->zero_output_for_mask, c->return_sequences, U, hp + b * U,
                            hn + b * U, prev + b * U,
                            c->return_sequences ? Y + (b * T + k) * U : NULL);
        }
    }
    cpu_rnn_forward_out(c->return_sequences, (size_t)(B * U), prev, hs + T * B * U, Y,
                        state ? state->data : NULL);
    g->has_forward = true;
    g->trained = training;
    g->backward_done = false;
    return RNNC_OK;
}

/* The backward workspaces: dgx (B, T, 3U) gate gradients by time, dgh
 * (B, 3U) of one step, dst / carry / dhp (B, U). */
typedef struct gru_bwd_ws {
    float *dgx, *dgh, *dst, *carry, *dhp;
} gru_bwd_ws;

/* Step k (time t): from the state gradient dst and the output carry, the
 * gate gradients into ws->dgx (time t) and ws->dgh, and the gradient of the
 * previous state into ws->dhp (without the products through R). */
static void step_backward(const rnnc_bgru *g, int64_t k, int64_t t, const float *dY, gru_bwd_ws *ws)
{
    const int64_t B = g->B, T = g->T, U = g->c.units, G = 3 * U;
    const rnnc_act fa = g->c.activation, ra = g->c.recurrent_activation;
    const bool seq = g->c.return_sequences, zofm = g->c.zero_output_for_mask;
    const float *hp = g->hs.p + k * B * U, *pre = g->pre.p + k * B * G, *av = g->act.p + k * B * G,
                *rh = g->rh.p + k * B * U;
    for (int64_t b = 0; b < B; b++) {
        const bool keep = !g->masked || g->mask[b * T + t];
        float *dgx = ws->dgx + (b * T + t) * G, *dgh = ws->dgh + b * G;
        for (int64_t j = 0; j < U; j++) {
            const int64_t i = b * U + j;
            const float gout = cpu_rnn_gout(ws->carry, dY, seq, k, T, b, j, U);
            if (!keep) {
                cpu_rnn_masked_grad(gout, zofm, i, j, U, 3, ws->dst, ws->carry, ws->dhp, dgx);
                dgh[j] = dgh[U + j] = dgh[2 * U + j] = 0.0f;
                continue;
            }
            ws->carry[i] = 0.0f;
            const float dhn = gout + ws->dst[i];
            const float z = av[b * G + j], hh = av[b * G + 2 * U + j];
            const float dz = dhn * (hp[i] - hh);
            const float dah = dhn * (1.0f - z) * cpu_dact(fa, pre[b * G + 2 * U + j], hh);
            const float dpz = dz * cpu_dact(ra, pre[b * G + j], z);
            ws->dhp[i] = dhn * z;
            dgx[j] = dpz;
            dgx[2 * U + j] = dah;
            dgh[j] = dpz;
            if (g->c.reset_after) {
                const float r = av[b * G + U + j];
                const float dpr = dah * rh[i] * cpu_dact(ra, pre[b * G + U + j], r);
                dgx[U + j] = dgh[U + j] = dpr;
                dgh[2 * U + j] = dah * r;
            } else {
                dgh[2 * U + j] = dah; /* the candidate's product is (r * h) R_h */
            }
        }
    }
}

rnnc_status rnnc__cpu_gru_backward(rnnc_bgru *g, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dh0,
                                   rnnc_bbuf *dkernel, rnnc_bbuf *drecurrent_kernel,
                                   rnnc_bbuf *dbias)
{
    RNNC_TRY(cpu_rnn_backward_ready(g != NULL, g && g->has_forward && g->trained,
                                    g && g->backward_done, "gru", "GRU"));
    const rnnc_bgru_config *c = &g->c;
    const int64_t B = g->B, T = g->T, F = c->input_size, U = c->units, G = 3 * U;
    RNNC_TRY(rnnc__gru_backward_check(BE, c, B, T, dy, dx, dh0, dkernel, drecurrent_kernel, dbias));
    const size_t nbu = (size_t)(B * U), n_ws = (size_t)(B * T * G) + (size_t)(B * G) + 4 * nbu;
    if (cpu_fbuf_reserve(&g->bwd, n_ws))
        return rnnc_fail(RNNC_E_NOMEM, "cpu gru_backward: out of memory");
    float *mem = g->bwd.p;
    memset(mem, 0, n_ws * sizeof *mem); /* dst and carry start at zero */
    gru_bwd_ws ws = {mem, mem + B * T * G, mem + B * T * G + B * G, NULL, NULL};
    ws.carry = ws.dst + nbu;
    ws.dhp = ws.carry + nbu;
    float *drh = ws.dhp + nbu; /* reset_before: d(r * h) */
    const float *R = g->R.p, *hs = g->hs.p;
    float *dR = drecurrent_kernel->data, *dB = dbias ? dbias->data : NULL;
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = c->go_backwards ? T - 1 - k : k;
        const float *hp = hs + k * B * U;
        step_backward(g, k, t, dy->data, &ws);
        if (!c->reset_after) {
            /* d(r h) = dah R_h^T; then dr, its pre-activation, and d h through r. */
            const float *pre = g->pre.p + k * B * G, *av = g->act.p + k * B * G;
            cpu_gemm(false, true, B, U, U, ws.dgh + 2 * U, G, R + 2 * U, G, 0.0f, drh, U);
            for (int64_t b = 0; b < B; b++) {
                if (g->masked && !g->mask[b * T + t])
                    continue;
                for (int64_t j = 0; j < U; j++) {
                    const int64_t i = b * U + j;
                    const float r = av[b * G + U + j];
                    const float dpr = drh[i] * hp[i] * cpu_dact(c->recurrent_activation, pre[b * G + U + j], r);
                    ws.dgx[(b * T + t) * G + U + j] = ws.dgh[b * G + U + j] = dpr;
                    ws.dhp[i] += drh[i] * r;
                }
            }
            cpu_gemm(true, false, U, U, B, g->rh.p + k * B * U, U, ws.dgh + 2 * U, G, 1.0f, dR + 2 * U, G);
        }
        /* Through the recurrent products: dh += dgh R^T, dR += h^T dgh. */
        const int64_t n = c->reset_after ? G : 2 * U;
        cpu_gemm(false, true, B, U, n, ws.dgh, G, R, G, 1.0f, ws.dhp, U);
        cpu_gemm(true, false, U, n, B, hp, U, ws.dgh, G, 1.0f, dR, G);
        if (dB && c->reset_after)
            for (int64_t b = 0; b < B; b++)
                for (int64_t j = 0; j < G; j++)
                    dB[G + j] += ws.dgh[b * G + j];
        memcpy(ws.dst, ws.dhp, nbu * sizeof(float));
    }
    if (dh0)
        memcpy(dh0->data, ws.dst, nbu * sizeof(float));
    cpu_rnn_input_grads(B * T, F, G, ws.dgx, g->W.p, g->x.p, dx ? dx->data : NULL, dkernel->data,
                        dB);
    g->backward_done = true;
    return RNNC_OK;
}
