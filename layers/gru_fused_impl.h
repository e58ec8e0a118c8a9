/* gru_fused_impl.h - the body of the fused GRU kernel, written once for a
 * real type. Private to gru_fused.c, which includes it twice with
 *   R      float | double
 *   SFX(n) n##_f32 | n##_f64
 *   GEMM   cblas_sgemm | cblas_dgemm
 *   EXP, TANH  expf, tanhf | exp, tanh
 * and provides fused_state, the ACT_* modes and the layout comments below.
 *
 * Layouts (row-major):
 *   X    (B*T, F)   input, row b*T + t                  (the caller's tensor)
 *   xw   (B*T, 3U)  X @ W, row b*T + t (input time)
 *   hs   (T+1, B, U) hs[k] = state before processing step k (hs[0] = h0)
 *   G    (T, B, 3U) per step [z, r, h~]
 *   P    (T, B, 3U) per step pre-activations (only for non-inline activations)
 *   RH   (T, B, U)  reset_after: h @ R_h + br_h; reset_before: r * h_prev
 *   Y    (B, T, U)  outputs in processing order
 * Step k processes input time t = k, or T-1-k with go_backwards. */

static inline R SFX(act)(int mode, rnnc_act a, R x)
{
    switch (mode) {
    case ACT_SIGMOID:
        return (R)1 / ((R)1 + EXP(-x));
    case ACT_TANH:
        return TANH(x);
    case ACT_LINEAR:
        return x;
    default:
        return (R)rnnc_act_apply(a, (double)x);
    }
}

/* d act / d x, given x and y = act(x). */
static inline R SFX(dact)(int mode, rnnc_act a, R x, R y)
{
    switch (mode) {
    case ACT_SIGMOID:
        return y * ((R)1 - y);
    case ACT_TANH:
        return (R)1 - y * y;
    case ACT_LINEAR:
        return (R)1;
    default:
        return (R)rnnc_act_deriv(a, (double)x, (double)y);
    }
}

/* C (m x n) = op(A) op(B) + beta C. */
static void SFX(gemm)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const R *A, int64_t lda,
                      const R *Bm, int64_t ldb, R beta, R *C, int64_t ldc)
{
    if (m == 0 || n == 0)
        return;
    GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m,
         (int)n, (int)k, (R)1, A, (int)lda, Bm, (int)ldb, beta, C, (int)ldc);
}

/* Masking and outputs of one row after its new state hn (B=1 slice) was
 * computed: frozen state and the previous output where the row is masked. */
static inline void SFX(row_out)(const fused_state *st, bool keep, int64_t k, const R *hp, R *hn,
                                R *yk, const R *yprev, R *last_row)
{
    const int64_t U = st->U;
    if (!st->mask) {
        if (yk)
            for (int64_t u = 0; u < U; u++)
                yk[u] = hn[u];
        return;
    }
    (void)k;
    R *y = yk ? yk : last_row;
    if (keep) {
        for (int64_t u = 0; u < U; u++)
            y[u] = hn[u];
    } else {
        for (int64_t u = 0; u < U; u++) {
            hn[u] = hp[u];
            y[u] = st->zofm ? (R)0 : (yprev ? yprev[u] : (R)0);
        }
    }
}

/* One forward step, reset_after=True. hr = h_prev @ R (B, 3U). */
static inline __attribute__((always_inline)) void
SFX(step_ra)(const fused_state *st, int mr, int mh, int64_t k, int64_t t, const R *xw,
             const R *hr, const R *bx, const R *bhr, const R *hp, R *hn, R *G, R *P, R *RH, R *Y,
             R *last)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_act ar = st->ract, ah = st->act;
    for (int64_t b = 0; b < B; b++) {
        const R *x = xw + (b * T + t) * 3 * U, *h = hr + b * 3 * U, *hpb = hp + b * U;
        R *g = G + b * 3 * U, *rh = RH + b * U, *hnb = hn + b * U;
        R *p = P ? P + b * 3 * U : NULL;
        for (int64_t u = 0; u < U; u++) {
            const R pz = x[u] + h[u] + bx[u];
            const R pr = x[U + u] + h[U + u] + bx[U + u];
            const R z = SFX(act)(mr, ar, pz), r = SFX(act)(mr, ar, pr);
            const R rhv = h[2 * U + u] + bhr[u];
            const R ph = x[2 * U + u] + bx[2 * U + u] + r * rhv;
            const R hh = SFX(act)(mh, ah, ph);
            g[u] = z;
            g[U + u] = r;
            g[2 * U + u] = hh;
            rh[u] = rhv;
            if (p) {
                p[u] = pz;
                p[U + u] = pr;
                p[2 * U + u] = ph;
            }
            hnb[u] = z * hpb[u] + ((R)1 - z) * hh;
        }
        R *yk = Y ? Y + (b * T + k) * U : NULL;
        const R *yprev = Y ? (k > 0 ? Y + (b * T + k - 1) * U : NULL) : last + b * U;
        SFX(row_out)(st, !st->mask || st->mask[b * T + t], k, hpb, hnb, yk, yprev, last + b * U);
    }
}

/* reset_after=False, first half: z, r and r * h_prev (the second GEMM's input).
 * hr = h_prev @ R[:, :2U] (B, 2U). */
static inline __attribute__((always_inline)) void
SFX(step_rb1)(const fused_state *st, int mr, int64_t t, const R *xw, const R *hr, const R *bx,
              const R *hp, R *G, R *P, R *RH)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_act ar = st->ract;
    for (int64_t b = 0; b < B; b++) {
        const R *x = xw + (b * T + t) * 3 * U, *h = hr + b * 2 * U, *hpb = hp + b * U;
        R *g = G + b * 3 * U, *rh = RH + b * U;
        R *p = P ? P + b * 3 * U : NULL;
        for (int64_t u = 0; u < U; u++) {
            const R pz = x[u] + h[u] + bx[u];
            const R pr = x[U + u] + h[U + u] + bx[U + u];
            const R z = SFX(act)(mr, ar, pz), r = SFX(act)(mr, ar, pr);
            g[u] = z;
            g[U + u] = r;
            rh[u] = r * hpb[u];
            if (p) {
                p[u] = pz;
                p[U + u] = pr;
            }
        }
    }
}

/* reset_after=False, second half: hh2 = (r * h_prev) @ R_h (B, U). */
static inline __attribute__((always_inline)) void
SFX(step_rb2)(const fused_state *st, int mh, int64_t k, int64_t t, const R *xw, const R *hh2,
              const R *bx, const R *hp, R *hn, R *G, R *P, R *Y, R *last)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_act ah = st->act;
    for (int64_t b = 0; b < B; b++) {
        const R *x = xw + (b * T + t) * 3 * U, *hpb = hp + b * U, *q = hh2 + b * U;
        R *g = G + b * 3 * U, *hnb = hn + b * U;
        R *p = P ? P + b * 3 * U : NULL;
        for (int64_t u = 0; u < U; u++) {
            const R ph = x[2 * U + u] + bx[2 * U + u] + q[u];
            const R hh = SFX(act)(mh, ah, ph);
            const R z = g[u];
            g[2 * U + u] = hh;
            if (p)
                p[2 * U + u] = ph;
            hnb[u] = z * hpb[u] + ((R)1 - z) * hh;
        }
        R *yk = Y ? Y + (b * T + k) * U : NULL;
        const R *yprev = Y ? (k > 0 ? Y + (b * T + k - 1) * U : NULL) : last + b * U;
        SFX(row_out)(st, !st->mask || st->mask[b * T + t], k, hpb, hnb, yk, yprev, last + b * U);
    }
}

/* Dispatches a step to a copy specialized for the common activation pairs
 * (the modes become constants, so the act() switches fold away). */
static void SFX(step_ra_any)(const fused_state *st, int64_t k, int64_t t, const R *xw, const R *hr,
                             const R *bx, const R *bhr, const R *hp, R *hn, R *G, R *P, R *RH,
                             R *Y, R *last)
{
    if (st->mode_r == ACT_SIGMOID && st->mode_h == ACT_TANH)
        SFX(step_ra)(st, ACT_SIGMOID, ACT_TANH, k, t, xw, hr, bx, bhr, hp, hn, G, P, RH, Y, last);
    else
        SFX(step_ra)(st, st->mode_r, st->mode_h, k, t, xw, hr, bx, bhr, hp, hn, G, P, RH, Y, last);
}

static void SFX(step_rb1_any)(const fused_state *st, int64_t t, const R *xw, const R *hr,
                              const R *bx, const R *hp, R *G, R *P, R *RH)
{
    if (st->mode_r == ACT_SIGMOID)
        SFX(step_rb1)(st, ACT_SIGMOID, t, xw, hr, bx, hp, G, P, RH);
    else
        SFX(step_rb1)(st, st->mode_r, t, xw, hr, bx, hp, G, P, RH);
}

static void SFX(step_rb2_any)(const fused_state *st, int64_t k, int64_t t, const R *xw,
                              const R *hh2, const R *bx, const R *hp, R *hn, R *G, R *P, R *Y,
                              R *last)
{
    if (st->mode_h == ACT_TANH)
        SFX(step_rb2)(st, ACT_TANH, k, t, xw, hh2, bx, hp, hn, G, P, Y, last);
    else
        SFX(step_rb2)(st, st->mode_h, k, t, xw, hh2, bx, hp, hn, G, P, Y, last);
}

/* The forward pass. With `save`, the per-step tensors backward needs are
 * left in st (hs, gates, pre, rh); otherwise only two state buffers and
 * one step of scratch are used. Y may be NULL (no return_sequences); last
 * and hT are (B, U) and last starts zeroed. */
static rnnc_status SFX(forward)(fused_state *st, bool save, const R *X, const R *h0, const R *W,
                                const R *Rk, const R *bias, R *Y, R *last, R *hT)
{
    const int64_t B = st->B, T = st->T, F = st->F, U = st->U, BU = B * U;
    const int64_t nsteps = save ? T : 1;
    const bool drop = st->drop != NULL;
    /* Saved across forward -> backward (owned by st when save). */
    R *hs = malloc((size_t)((save ? T + 1 : 2) * BU) * sizeof(R));
    R *G = malloc((size_t)(nsteps * B * 3 * U) * sizeof(R));
    R *RH = malloc((size_t)(nsteps * BU) * sizeof(R));
    R *P = (save && st->save_pre) ? malloc((size_t)(T * B * 3 * U) * sizeof(R)) : NULL;
    /* Scratch for this call. */
    const size_t n_tmp = (size_t)(B * T * 3 * U + (drop ? B * T * F : 0) + B * 3 * U + BU + 4 * U);
    R *tmp = malloc(n_tmp * sizeof(R));
    if (!hs || !G || !RH || (save && st->save_pre && !P) || !tmp) {
        free(hs);
        free(G);
        free(RH);
        free(P);
        free(tmp);
        return rnnc_fail(RNNC_E_NOMEM, "GRU fused kernel: out of memory for the workspace (B=%lld, T=%lld, F=%lld, U=%lld)",
                         (long long)B, (long long)T, (long long)F, (long long)U);
    }
    R *xw = tmp;                                  /* (B*T, 3U) */
    R *xd = drop ? xw + B * T * 3 * U : NULL;     /* (B*T, F) dropped inputs */
    R *hr = xw + B * T * 3 * U + (drop ? B * T * F : 0); /* (B, 3U) */
    R *hh2 = hr + B * 3 * U;                      /* (B, U) */
    R *bx = hh2 + BU;                             /* (3U) input-side bias (+ recurrent z, r) */
    R *bhr = bx + 3 * U;                          /* (U) recurrent candidate bias */

    /* Bias folded into two vectors: z and r see bi + br, h~ sees bi outside
     * and br_h inside the reset product. */
    for (int64_t j = 0; j < 3 * U; j++)
        bx[j] = bias ? bias[j] : (R)0;
    for (int64_t u = 0; u < U; u++)
        bhr[u] = (R)0;
    if (bias && st->reset_after) {
        for (int64_t j = 0; j < 2 * U; j++)
            bx[j] += bias[3 * U + j];
        for (int64_t u = 0; u < U; u++)
            bhr[u] = bias[3 * U + 2 * U + u];
    }

    const R *xin = X;
    if (drop) { /* one (B, F) mask for every step: x ⊙ M */
        const R *M = st->drop;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t f = 0; f < F; f++)
                    xd[(b * T + t) * F + f] = X[(b * T + t) * F + f] * M[b * F + f];
        xin = xd;
    }
    SFX(gemm)(false, false, B * T, 3 * U, F, xin, F, W, 3 * U, (R)0, xw, 3 * U);
    memcpy(hs, h0, (size_t)BU * sizeof(R));

    for (int64_t k = 0; k < T; k++) {
        const int64_t t = st->go_backwards ? T - 1 - k : k;
        const R *hp = hs + (save ? k : (k & 1)) * BU;
        R *hn = hs + (save ? k + 1 : ((k + 1) & 1)) * BU;
        R *Gk = G + (save ? k : 0) * B * 3 * U;
        R *Pk = P ? P + k * B * 3 * U : NULL;
        R *RHk = RH + (save ? k : 0) * BU;
        if (st->reset_after) {
            SFX(gemm)(false, false, B, 3 * U, U, hp, U, Rk, 3 * U, (R)0, hr, 3 * U);
            SFX(step_ra_any)(st, k, t, xw, hr, bx, bhr, hp, hn, Gk, Pk, RHk, Y, last);
        } else {
            SFX(gemm)(false, false, B, 2 * U, U, hp, U, Rk, 3 * U, (R)0, hr, 2 * U);
            SFX(step_rb1_any)(st, t, xw, hr, bx, hp, Gk, Pk, RHk);
            SFX(gemm)(false, false, B, U, U, RHk, U, Rk + 2 * U, 3 * U, (R)0, hh2, U);
            SFX(step_rb2_any)(st, k, t, xw, hh2, bx, hp, hn, Gk, Pk, Y, last);
        }
    }
    const R *hfin = hs + (save ? T : (T & 1)) * BU;
    memcpy(hT, hfin, (size_t)BU * sizeof(R));
    if (!st->mask) /* every step kept: the last output is the final state */
        memcpy(last, hfin, (size_t)BU * sizeof(R));
    else if (Y)
        for (int64_t b = 0; b < B; b++)
            memcpy(last + b * U, Y + (b * T + T - 1) * U, (size_t)U * sizeof(R));
    free(tmp);
    if (save) {
        st->hs = hs;
        st->gates = G;
        st->rh = RH;
        st->pre = P;
    } else {
        free(hs);
        free(G);
        free(RH);
        free(P);
    }
    return RNNC_OK;
}

/* The backward pass: input gradients accumulate (NULL = not wanted). dY,
 * dlast, dhT are the output gradients (NULL = zero). */
static rnnc_status SFX(backward)(const fused_state *st, const R *dY, const R *dlast, const R *dhT,
                                 const R *X, const R *W, const R *Rk, R *dX, R *dh0, R *dW, R *dR,
                                 R *db)
{
    const int64_t B = st->B, T = st->T, F = st->F, U = st->U, BU = B * U;
    const bool drop = st->drop != NULL;
    const bool need_xd = drop && dW, need_dxd = drop && dX;
    const size_t n_tmp = (size_t)(2 * B * T * 3 * U + 5 * BU + (need_xd ? B * T * F : 0) +
                                  (need_dxd ? B * T * F : 0));
    R *tmp = malloc(n_tmp * sizeof(R));
    if (!tmp)
        return rnnc_fail(RNNC_E_NOMEM, "GRU fused backward: out of memory for the workspace (B=%lld, T=%lld, F=%lld, U=%lld)",
                         (long long)B, (long long)T, (long long)F, (long long)U);
    R *dxw = tmp;                    /* (B*T, 3U) grad of X@W + bias, row b*T + t */
    R *dhr = dxw + B * T * 3 * U;    /* (T, B, 3U) grad of the recurrent products */
    R *dh = dhr + T * B * 3 * U;     /* (B, U) grad of the state after step k */
    R *dhp = dh + BU;                /* (B, U) grad of the state before step k */
    R *dy = dhp + BU;                /* (B, U) grad carried into the previous output */
    R *drh = dy + BU;                /* (B, U) reset_before: grad of r * h_prev */
    R *dhn = drh + BU;               /* (B, U) reset_before: grad of the new state */
    R *xd = dhn + BU;                /* (B*T, F) dropped inputs, for dW */
    R *dxd = xd + (need_xd ? B * T * F : 0); /* (B*T, F) grad of the dropped inputs */
    const R *hs = st->hs, *G = st->gates, *P = st->pre, *RHs = st->rh;
    const rnnc_act ar = st->ract, ah = st->act;
    const int mr = st->mode_r, mh = st->mode_h;

    for (int64_t i = 0; i < BU; i++) {
        dh[i] = dhT ? dhT[i] : (R)0;
        dy[i] = (R)0;
    }
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = st->go_backwards ? T - 1 - k : k;
        const R *hp = hs + k * BU, *Gk = G + k * B * 3 * U, *RHk = RHs + k * BU;
        const R *Pk = P ? P + k * B * 3 * U : NULL;
        R *dHR = dhr + k * B * 3 * U;
        for (int64_t b = 0; b < B; b++) {
            const bool keep = !st->mask || st->mask[b * T + t];
            const R *g = Gk + b * 3 * U, *p = Pk ? Pk + b * 3 * U : NULL, *rh = RHk + b * U;
            const R *hpb = hp + b * U;
            const R *dYk = dY ? dY + (b * T + k) * U : NULL;
            const R *dl = (k == T - 1 && dlast) ? dlast + b * U : NULL;
            R *dxr = dxw + (b * T + t) * 3 * U, *dq = dHR + b * 3 * U;
            R *dhb = dh + b * U, *dhpb = dhp + b * U, *dyb = dy + b * U, *dhnb = dhn + b * U;
            for (int64_t u = 0; u < U; u++) {
                /* Split the output/state gradients by the mask rule. */
                R gy = dyb[u];
                if (dYk)
                    gy += dYk[u];
                if (dl)
                    gy += dl[u];
                R dn, pass;
                if (keep) {
                    dn = gy + dhb[u];
                    dyb[u] = (R)0;
                    pass = (R)0;
                } else {
                    dn = (R)0;
                    dyb[u] = st->zofm ? (R)0 : gy;
                    pass = dhb[u];
                }
                const R z = g[u], r = g[U + u], hh = g[2 * U + u];
                /* h' = z h + (1 - z) h~ */
                const R dz = dn * (hpb[u] - hh);
                const R dph = dn * ((R)1 - z) * SFX(dact)(mh, ah, p ? p[2 * U + u] : (R)0, hh);
                const R dpz = dz * SFX(dact)(mr, ar, p ? p[u] : (R)0, z);
                dxr[u] = dpz;
                dxr[2 * U + u] = dph;
                dq[u] = dpz;
                if (st->reset_after) {
                    /* h~ = act(xh + r (h R_h + br_h)) */
                    const R dpr = dph * rh[u] * SFX(dact)(mr, ar, p ? p[U + u] : (R)0, r);
                    dxr[U + u] = dpr;
                    dq[U + u] = dpr;
                    dq[2 * U + u] = dph * r;
                    dhpb[u] = pass + dn * z;
                } else {
                    dq[2 * U + u] = dph;
                    dhnb[u] = dn;
                    dhpb[u] = pass;
                }
            }
        }
        if (st->reset_after) {
            /* dh_prev += [dpz, dpr, dph r] @ R^T */
            SFX(gemm)(false, true, B, U, 3 * U, dHR, 3 * U, Rk, 3 * U, (R)1, dhp, U);
        } else {
            /* d(r h_prev) = dph @ R_h^T, then dr, then dh_prev. */
            SFX(gemm)(false, true, B, U, U, dHR + 2 * U, 3 * U, Rk + 2 * U, 3 * U, (R)0, drh, U);
            for (int64_t b = 0; b < B; b++) {
                const R *g = Gk + b * 3 * U, *p = Pk ? Pk + b * 3 * U : NULL;
                const R *hpb = hp + b * U, *q = drh + b * U, *dnb = dhn + b * U;
                R *dxr = dxw + (b * T + t) * 3 * U, *dq = dHR + b * 3 * U, *dhpb = dhp + b * U;
                for (int64_t u = 0; u < U; u++) {
                    const R z = g[u], r = g[U + u];
                    const R dpr = q[u] * hpb[u] * SFX(dact)(mr, ar, p ? p[U + u] : (R)0, r);
                    dxr[U + u] = dpr;
                    dq[U + u] = dpr;
                    dhpb[u] += dnb[u] * z + q[u] * r;
                }
            }
            SFX(gemm)(false, true, B, U, 2 * U, dHR, 3 * U, Rk, 3 * U, (R)1, dhp, U);
        }
        R *sw = dh;
        dh = dhp;
        dhp = sw;
    }
    if (dh0)
        for (int64_t i = 0; i < BU; i++)
            dh0[i] += dh[i];

    const R *xin = X;
    if (need_xd) {
        const R *M = st->drop;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t f = 0; f < F; f++)
                    xd[(b * T + t) * F + f] = X[(b * T + t) * F + f] * M[b * F + f];
        xin = xd;
    }
    if (dW) /* dW += (X ⊙ M)^T @ dxw over all steps at once */
        SFX(gemm)(true, false, F, 3 * U, B * T, xin, F, dxw, 3 * U, (R)1, dW, 3 * U);
    if (dX) {
        if (drop) {
            const R *M = st->drop;
            SFX(gemm)(false, true, B * T, F, 3 * U, dxw, 3 * U, W, 3 * U, (R)0, dxd, F);
            for (int64_t b = 0; b < B; b++)
                for (int64_t t = 0; t < T; t++)
                    for (int64_t f = 0; f < F; f++)
                        dX[(b * T + t) * F + f] += dxd[(b * T + t) * F + f] * M[b * F + f];
        } else {
            SFX(gemm)(false, true, B * T, F, 3 * U, dxw, 3 * U, W, 3 * U, (R)1, dX, F);
        }
    }
    if (dR) {
        if (st->reset_after) {
            /* dR += hs[0..T)^T @ dhr: (U, T*B) x (T*B, 3U) */
            SFX(gemm)(true, false, U, 3 * U, T * B, hs, U, dhr, 3 * U, (R)1, dR, 3 * U);
        } else {
            SFX(gemm)(true, false, U, 2 * U, T * B, hs, U, dhr, 3 * U, (R)1, dR, 3 * U);
            SFX(gemm)(true, false, U, U, T * B, RHs, U, dhr + 2 * U, 3 * U, (R)1, dR + 2 * U, 3 * U);
        }
    }
    if (db) {
        for (int64_t i = 0; i < B * T; i++)
            for (int64_t j = 0; j < 3 * U; j++)
                db[j] += dxw[i * 3 * U + j];
        if (st->reset_after)
            for (int64_t i = 0; i < T * B; i++)
                for (int64_t j = 0; j < 3 * U; j++)
                    db[3 * U + j] += dhr[i * 3 * U + j];
    }
    free(tmp);
    return RNNC_OK;
}
