/* cpu_lstm.c - the CPU backend's LSTM op (backend_ops.h lstm_create /
 * forward / backward): a plain float32 reference of Keras's LSTM over a
 * whole sequence with backpropagation through time, for the device model
 * on the CPU table (the CPU training path itself keeps layers/lstm_fused.c).
 *
 * Keras's LSTMCell: z = x W + h R + b split into the gates i, f, c, o (the
 * kernel's column blocks in that order); i, f, o = recurrent_activation,
 * g = activation(z_c); c' = f c + i g; h' = o activation(c'). Masks as the
 * generic loop (framework/rnn.h): on a masked step both states are frozen
 * and the output is the previous output (zeros before a row's first kept
 * step, zeros always with zero_output_for_mask); go_backwards reads the
 * steps in reverse and returns outputs in processing order. Activations
 * through rnnc_act_apply / rnnc_act_deriv (evaluated in double, stored as
 * float). Products are cblas_sgemm: one (B*T, F) x (F, 4U) for the input
 * projections, one per step for the recurrence; backward mirrors them and
 * ends with one GEMM each for dx and dkernel.
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

struct rnnc_blstm {
    rnnc_blstm_config c;
    int64_t B, T;
    bool has_forward, trained, backward_done, masked;
    cpu_fbuf W, R, bias; /* copies of the weights */
    cpu_fbuf x;          /* (B, T, F) copy when training */
    cpu_fbuf xp;         /* (B, T, 4U) x W + bias */
    cpu_fbuf hs, cs;     /* (T + 1, B, U) states; [0] = h0 / c0 */
    cpu_fbuf pre, act;   /* (T, B, 4U) pre-activations and values of i, f, g, o */
    cpu_fbuf ca;         /* (T, B, U) activation(c') */
    cpu_fbuf rec;        /* (B, 4U) per-step recurrent products */
    cpu_fbuf prev;       /* (B, U) previous output */
    cpu_fbuf bwd;        /* backward: lstm_bwd_ws's buffers and one step's dz rows, zeroed per call */
    uint8_t *mask;   /* (B, T) copy (masked) */
    size_t mask_cap;
};

/* ---- the op ---------------------------------------------------------------- */

rnnc_status rnnc__cpu_lstm_create(const rnnc_blstm_config *c, rnnc_blstm **out)
{
    RNNC_TRY(rnnc__lstm_config_check(BE, c));
    rnnc_blstm *g = calloc(1, sizeof *g);
    if (!g)
        return rnnc_fail(RNNC_E_NOMEM, "cpu lstm_create: out of memory");
    g->c = *c;
    *out = g;
    return RNNC_OK;
}

void rnnc__cpu_lstm_destroy(rnnc_blstm *g)
{
    if (!g)
        return;
    cpu_fbuf *bufs[] = {&g->W,   &g->R,   &g->bias, &g->x,   &g->xp,  &g->hs,
                    &g->cs,  &g->pre, &g->act,  &g->ca,  &g->rec, &g->prev, &g->bwd};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]->p);
    free(g->mask);
    free(g);
}

static rnnc_status reserve_forward(rnnc_blstm *g, int64_t B, int64_t T, bool masked)
{
    const size_t F = (size_t)g->c.input_size, U = (size_t)g->c.units, b = (size_t)B, t = (size_t)T;
    RNNC_TRY(cpu_fbuf_reserve(&g->W, F * 4 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->R, U * 4 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->bias, 4 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->x, b * t * F));
    RNNC_TRY(cpu_fbuf_reserve(&g->xp, b * t * 4 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->hs, (t + 1) * b * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->cs, (t + 1) * b * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->pre, t * b * 4 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->act, t * b * 4 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->ca, t * b * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->rec, b * 4 * U));
    RNNC_TRY(cpu_fbuf_reserve(&g->prev, b * U));
    if (masked)
        RNNC_TRY(cpu_rnn_mask_reserve(&g->mask, &g->mask_cap, B, T, "lstm"));
    return RNNC_OK;
}

/* Step k (time t): the gates from xp at time t and the previous states
 * hp, cp; the new states into hn, cn (every row, masked or not). */
static void step_forward(rnnc_blstm *g, int64_t k, int64_t t, const float *hp, const float *cp,
                         float *hn, float *cn)
{
    const int64_t B = g->B, T = g->T, U = g->c.units, G = 4 * U;
    const rnnc_act fa = g->c.activation, ra = g->c.recurrent_activation;
    float *rec = g->rec.p, *pre = g->pre.p + k * B * G, *av = g->act.p + k * B * G,
          *ca = g->ca.p + k * B * U;
    cpu_gemm(false, false, B, G, U, hp, U, g->R.p, G, 0.0f, rec, G);
    for (int64_t b = 0; b < B; b++) {
        const float *xp = g->xp.p + (b * T + t) * G, *rc = rec + b * G;
        float *p = pre + b * G, *a = av + b * G;
        for (int64_t j = 0; j < G; j++) {
            p[j] = xp[j] + rc[j];
            a[j] = cpu_act(j >= 2 * U && j < 3 * U ? fa : ra, p[j]);
        }
        for (int64_t j = 0; j < U; j++) {
            const int64_t i = b * U + j;
            cn[i] = a[U + j] * cp[i] + a[j] * a[2 * U + j];
            ca[i] = cpu_act(fa, cn[i]);
            hn[i] = a[3 * U + j] * ca[i];
        }
    }
}

rnnc_status rnnc__cpu_lstm_forward(rnnc_blstm *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                   const rnnc_bbuf *h0, const rnnc_bbuf *c0, const uint8_t *mask,
                                   const rnnc_bbuf *kernel, const rnnc_bbuf *recurrent_kernel,
                                   const rnnc_bbuf *bias, bool training, rnnc_bbuf *y,
                                   rnnc_bbuf *h_state, rnnc_bbuf *c_state)
{
    if (!g)
        return rnnc_fail(RNNC_E_ARG, "cpu lstm_forward: the LSTM is NULL");
    const rnnc_blstm_config *c = &g->c;
    RNNC_TRY(rnnc__lstm_forward_check(BE, c, B, T, x, h0, c0, kernel, recurrent_kernel, bias, y, h_state,
                                c_state));
    g->has_forward = false;
    RNNC_TRY(reserve_forward(g, B, T, mask != NULL));
    g->B = B;
    g->T = T;
    g->masked = mask != NULL;
    const int64_t F = c->input_size, U = c->units, G = 4 * U;
    const size_t nbu = (size_t)(B * U);
    cpu_rnn_forward_load(B, T, F, U, G, x->data, mask, kernel->data, recurrent_kernel->data,
                         bias ? bias->data : NULL, (size_t)G, training, g->W.p, g->R.p, g->bias.p,
                         g->x.p, g->mask, g->xp.p);
    float *hs = g->hs.p, *cs = g->cs.p, *prev = g->prev.p, *Y = y->data;
    cpu_copy_or_zero(hs, h0 ? h0->data : NULL, nbu);
    cpu_copy_or_zero(cs, c0 ? c0->data : NULL, nbu);
    memset(prev, 0, nbu * sizeof(float));
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = c->go_backwards ? T - 1 - k : k;
        const float *hp = hs + k * B * U, *cp = cs + k * B * U;
        float *hn = hs + (k + 1) * B * U, *cn = cs + (k + 1) * B * U;
        step_forward(g, k, t, hp, cp, hn, cn);
        for (int64_t b = 0; b < B; b++) {
            const bool keep = !mask || g->mask[b * T + t];
            if (!keep) /* c is frozen too */
                memcpy(cn + b * U, cp + b * U, (size_t)U * sizeof(float));
            cpu_rnn_row_out(keep, c->zero_output_for_mask, c->return_sequences, U, hp + b * U,
                            hn + b * U, prev + b * U,
                            c->return_sequences ? Y + (b * T + k) * U : NULL);
        }
    }
    cpu_rnn_forward_out(c->return_sequences, nbu, prev, hs + T * B * U, Y,
                        h_state ? h_state->data : NULL);
    if (c_state)
        memcpy(c_state->data, cs + T * B * U, nbu * sizeof(float));
    g->has_forward = true;
    g->trained = training;
    g->backward_done = false;
    return RNNC_OK;
}

/* Backward workspaces: dz (B, T, 4U) gate pre-activation gradients by
 * time; dh, dc (B, U) the state gradients flowing into step k's outputs;
 * carry (B, U) the gradient of the previous output; dhp (B, U). */
typedef struct lstm_bwd_ws {
    float *dz, *dh, *dc, *carry, *dhp;
} lstm_bwd_ws;

/* Step k (time t): the gate gradients into ws->dz (time t), dc moved to
 * the previous cell state, ws->dhp the previous h's gradient except the
 * product through R. */
static void step_backward(const rnnc_blstm *g, int64_t k, int64_t t, const float *dY, lstm_bwd_ws *ws)
{
    const int64_t B = g->B, T = g->T, U = g->c.units, G = 4 * U;
    const rnnc_act fa = g->c.activation, ra = g->c.recurrent_activation;
    const bool seq = g->c.return_sequences, zofm = g->c.zero_output_for_mask;
    const float *cp = g->cs.p + k * B * U, *pre = g->pre.p + k * B * G, *av = g->act.p + k * B * G,
                *ca = g->ca.p + k * B * U, *cn = g->cs.p + (k + 1) * B * U;
    for (int64_t b = 0; b < B; b++) {
        const bool keep = !g->masked || g->mask[b * T + t];
        float *dz = ws->dz + (b * T + t) * G;
        const float *p = pre + b * G, *a = av + b * G;
        for (int64_t j = 0; j < U; j++) {
            const int64_t i = b * U + j;
            const float gout = cpu_rnn_gout(ws->carry, dY, seq, k, T, b, j, U);
            if (!keep) {
                cpu_rnn_masked_grad(gout, zofm, i, j, U, 4, ws->dh, ws->carry, ws->dhp, dz);
                continue;
            }
            ws->carry[i] = 0.0f;
            const float dhn = gout + ws->dh[i];
            const float gi = a[j], gf = a[U + j], gg = a[2 * U + j], go = a[3 * U + j];
            const float dcn = ws->dc[i] + dhn * go * cpu_dact(fa, cn[i], ca[i]);
            dz[j] = dcn * gg * cpu_dact(ra, p[j], gi);
            dz[U + j] = dcn * cp[i] * cpu_dact(ra, p[U + j], gf);
            dz[2 * U + j] = dcn * gi * cpu_dact(fa, p[2 * U + j], gg);
            dz[3 * U + j] = dhn * ca[i] * cpu_dact(ra, p[3 * U + j], go);
            ws->dc[i] = dcn * gf;
            ws->dhp[i] = 0.0f;
        }
    }
}

rnnc_status rnnc__cpu_lstm_backward(rnnc_blstm *g, const rnnc_bbuf *dy, rnnc_bbuf *dx,
                                    rnnc_bbuf *dh0, rnnc_bbuf *dc0, rnnc_bbuf *dkernel,
                                    rnnc_bbuf *drecurrent_kernel, rnnc_bbuf *dbias)
{
    RNNC_TRY(cpu_rnn_backward_ready(g != NULL, g && g->has_forward && g->trained,
                                    g && g->backward_done, "lstm", "LSTM"));
    const rnnc_blstm_config *c = &g->c;
    const int64_t B = g->B, T = g->T, F = c->input_size, U = c->units, G = 4 * U;
    RNNC_TRY(rnnc__lstm_backward_check(BE, c, B, T, dy, dx, dh0, dc0, dkernel, drecurrent_kernel, dbias));
    const size_t nbu = (size_t)(B * U), n_ws = (size_t)(B * T * G) + 4 * nbu + (size_t)(B * G);
    if (cpu_fbuf_reserve(&g->bwd, n_ws))
        return rnnc_fail(RNNC_E_NOMEM, "cpu lstm_backward: out of memory");
    float *mem = g->bwd.p;
    memset(mem, 0, n_ws * sizeof *mem); /* dh, dc and carry start at zero */
    lstm_bwd_ws ws = {mem, mem + B * T * G, NULL, NULL, NULL};
    ws.dc = ws.dh + nbu;
    ws.carry = ws.dc + nbu;
    ws.dhp = ws.carry + nbu;
    float *dR = drecurrent_kernel->data;
    /* The step's rows of dz, gathered (B, 4U) for the recurrent products. */
    float *dzk = ws.dhp + nbu;
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = c->go_backwards ? T - 1 - k : k;
        step_backward(g, k, t, dy->data, &ws);
        for (int64_t b = 0; b < B; b++)
            memcpy(dzk + b * G, ws.dz + (b * T + t) * G, (size_t)G * sizeof(float));
        /* dh_prev += dz R^T, dR += h_prev^T dz (masked rows' dz are zeros). */
        cpu_gemm(false, true, B, U, G, dzk, G, g->R.p, G, 1.0f, ws.dhp, U);
        cpu_gemm(true, false, U, G, B, g->hs.p + k * B * U, U, dzk, G, 1.0f, dR, G);
        memcpy(ws.dh, ws.dhp, nbu * sizeof(float));
    }
    if (dh0)
        memcpy(dh0->data, ws.dh, nbu * sizeof(float));
    if (dc0)
        memcpy(dc0->data, ws.dc, nbu * sizeof(float));
    cpu_rnn_input_grads(B * T, F, G, ws.dz, g->W.p, g->x.p, dx ? dx->data : NULL, dkernel->data,
                        dbias ? dbias->data : NULL);
    g->backward_done = true;
    return RNNC_OK;
}
