/* lstm_fused_impl.h - the body of the fused LSTM kernel for one real type.
 * Private to lstm_fused.c, which includes it twice with
 *   R       float | double
 *   SFX(n)  n##_f32 | n##_f64
 *   GEMM    cblas_sgemm | cblas_dgemm
 *   GEMV    cblas_sgemv | cblas_dgemv
 *   SIGM, TANH  inline sigmoid / tanh for R
 *   ROW_VEC 1 when vec_act_f32 (vector rows of sigmoid / tanh) and the row
 *           kernels lstm_fwd_row_f32 / lstm_back_row_f32 (the default pair,
 *           one pass per row) serve R
 *   SGEMM   1 when the products of small_gemm_internal.h serve R (float:
 *           small_sgemm on AVX-512F CPUs, else BLAS)
 *
 * Layouts (row-major). The workspaces are time-major, row t*B + b is batch
 * row b at input time t, so each step's rows are contiguous:
 *   x   (B, T, F)  the caller's input, row b*T + t
 *   Xt  (T*B, F)   x time-major (times the dropout mask when there is one);
 *                  backward reuses it for dZ W^T
 *   Z   (T*B, 4U)  pre-activations x W + h R + b (for the row kernels only
 *                  x W: they add h R and b as they read it); backward:
 *                  their gradients
 *   G   (T*B, 4U)  gates i, f, g, o
 *   Hp  (T*B, U)   the state h before input time t; Cp the carry
 *   Cn  (T*B, U)   the new carry of time t (before masking; not kept by
 *                  the row kernels, whose backward does not read it);
 *                  Ca = act(Cn)
 *   Y   (B, T, U)  outputs in processing order
 * Step k processes t = k, or T-1-k with go_backwards. */

static inline R SFX(act)(int mode, rnnc_act a, R x)
{
    switch (mode) {
    case ACT_SIGMOID:
        return SIGM(x);
    case ACT_TANH:
        return TANH(x);
    case ACT_LINEAR:
        return x;
    default:
        return (R)rnnc_act_apply(a, (double)x);
    }
}

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

/* out[0..n) = act(in[0..n)), in place allowed. */
static void SFX(act_row)(int mode, rnnc_act a, const R *in, R *out, int64_t n)
{
#if ROW_VEC
    if (mode == ACT_SIGMOID || mode == ACT_TANH) {
        vec_act_f32(mode == ACT_TANH, in, out, n);
        return;
    }
#endif
    for (int64_t u = 0; u < n; u++)
        out[u] = SFX(act)(mode, a, in[u]);
}

/* C (m x n, ldc) = op(A) op(Bm) + beta C. */
static void SFX(gemm)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const R *A, int64_t lda,
                      const R *Bm, int64_t ldb, R beta, R *C, int64_t ldc)
{
    if (m == 0 || n == 0 || k == 0)
        return;
    if (m == 1) { /* one row (batch 1): GEMV, which BLAS does far better than GEMM here */
        const int inca = ta ? (int)lda : 1;
        if (!tb) /* Bm stored (k, n) */
            GEMV(CblasRowMajor, CblasTrans, (int)k, (int)n, (R)1, Bm, (int)ldb, A, inca, beta, C, 1);
        else /* Bm stored (n, k) */
            GEMV(CblasRowMajor, CblasNoTrans, (int)n, (int)k, (R)1, Bm, (int)ldb, A, inca, beta, C,
                 1);
        return;
    }
    GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m,
         (int)n, (int)k, (R)1, A, (int)lda, Bm, (int)ldb, beta, C, (int)ldc);
}

/* Whether this call's per-step products, (B, U) x (U, 4U) forward and
 * (B, 4U) x (4U, U) backward, run small_sgemm (small_gemm.c decides). */
static bool SFX(small_steps)(const lstm_state *st)
{
#if SGEMM
    return rnnc__small_gemm_steps(st->B, 4 * st->U, st->U);
#else
    (void)st;
    return false;
#endif
}

/* Whether a product over all steps (the input projection; with ta
 * dkernel, drecurrent_kernel) runs small_sgemm (small_gemm.c decides). */
static bool SFX(small_whole)(bool ta)
{
#if SGEMM
    return rnnc__small_gemm_whole(ta);
#else
    (void)ta;
    return false;
#endif
}

/* C (m x n) = op(A) (m x k) @ Bm (k x n), or C += with acc; op(A) = A
 * (m x k, lda) or with ta A^T of A (k x m, lda). small_sgemm when
 * `small`, else BLAS. */
static void SFX(ab_gemm)(bool small, bool ta, int64_t m, int64_t n, int64_t k, const R *A,
                         int64_t lda, const R *Bm, int64_t ldb, bool acc, R *C, int64_t ldc)
{
#if SGEMM
    rnnc__sgemm_pick(small, ta, m, n, k, A, lda, Bm, ldb, acc, C, ldc);
#else
    (void)small;
    SFX(gemm)(ta, false, m, n, k, A, lda, Bm, ldb, acc ? (R)1 : (R)0, C, ldc);
#endif
}

/* Whether the row kernels of the default pair (sigmoid gates, tanh) serve
 * this call: float32 (vec_act_rows.h). */
static bool SFX(row_kernels)(const lstm_state *st)
{
#if ROW_VEC
    return st->mode_r == ACT_SIGMOID && st->mode_a == ACT_TANH;
#else
    (void)st;
    return false;
#endif
}

static rnnc_status SFX(forward)(lstm_state *st, const R *x, const R *h0, const R *c0, const R *W,
                                const R *Rk, const R *bias, R *Y, R *last, R *hT, R *cT)
{
    const int64_t B = st->B, T = st->T, F = st->F, U = st->U, U4 = 4 * U;
    R *Z = st->Z, *G = st->G, *Hp = st->Hp, *Cp = st->Cp, *Cn = st->Cn, *Ca = st->Ca;
    R *Xt = st->xt;
    const R *dr = st->drop;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            const R *src = x + (b * T + t) * F;
            R *dst = Xt + (t * B + b) * F;
            if (dr)
                for (int64_t f = 0; f < F; f++)
                    dst[f] = src[f] * dr[b * F + f];
            else
                memcpy(dst, src, (size_t)F * sizeof(R));
        }
    /* Z = Xt W; the row kernels add the bias as they read Z, else it rides
     * in the product's beta (Z = bias + Xt W) */
    const bool rows = SFX(row_kernels)(st), zb = bias && !rows;
    if (zb)
        for (int64_t r = 0; r < B * T; r++)
            memcpy(Z + r * U4, bias, (size_t)U4 * sizeof(R));
    const bool small = SFX(small_steps)(st);
    SFX(ab_gemm)(SFX(small_whole)(false), false, B * T, U4, F, Xt, F, W, U4, zb, Z, U4);
    const int64_t t0 = st->go_backwards ? T - 1 : 0;
    memcpy(Hp + t0 * B * U, h0, (size_t)(B * U) * sizeof(R));
    memcpy(Cp + t0 * B * U, c0, (size_t)(B * U) * sizeof(R));
    const int ma = st->mode_a, mr = st->mode_r;
    const rnnc_act aa = st->act, ar = st->ract;
    R *HR = (R *)st->bw + 6 * U; /* (B, 4U) the step's h R for the row kernels */
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = st->go_backwards ? T - 1 - k : k;
        const int64_t tn = st->go_backwards ? t - 1 : t + 1;
        /* the row kernels read the step's product from scratch (hot in the
         * cache) and add Z's projection; otherwise it accumulates into Z */
        if (rows)
            SFX(ab_gemm)(small, false, B, U4, U, Hp + t * B * U, U, Rk, U4, false, HR, U4);
        else
            SFX(ab_gemm)(small, false, B, U4, U, Hp + t * B * U, U, Rk, U4, true,
                         Z + t * B * U4, U4);
        for (int64_t b = 0; b < B; b++) {
            const int64_t row = t * B + b;
            /* without a backward to serve, gates and carries live in one row's scratch */
            R *z = Z + row * U4, *g = st->save ? G + row * U4 : (R *)st->bw,
              *cn = st->save ? Cn + row * U : (R *)st->bw + U4,
              *ca = st->save ? Ca + row * U : (R *)st->bw + U4 + U;
            const R *hp = Hp + row * U, *cp = Cp + row * U;
            const bool keep = !st->mask || st->mask[b * T + t];
            R *hn = k + 1 < T ? Hp + (tn * B + b) * U : hT + b * U;
            R *cnx = k + 1 < T ? Cp + (tn * B + b) * U : cT + b * U;
            R *y = Y ? Y + (b * T + k) * U : last + b * U;
            const R *yprev = Y ? (k > 0 ? Y + (b * T + k - 1) * U : NULL) : y;
            if (!keep) { /* masked: states frozen, no gates (backward reads none) */
                for (int64_t u = 0; u < U; u++) {
                    hn[u] = hp[u];
                    cnx[u] = cp[u];
                    y[u] = (st->zofm || !yprev) ? (R)0 : yprev[u];
                }
                continue;
            }
#if ROW_VEC
            if (rows) { /* one pass; the new carry straight to its place */
                lstm_fwd_row_f32(U, z, HR + b * U4, bias, cp, g, cnx, ca, hn, y);
                continue;
            }
#endif
            SFX(act_row)(mr, ar, z, g, 2 * U); /* i, f */
            SFX(act_row)(ma, aa, z + 2 * U, g + 2 * U, U);
            SFX(act_row)(mr, ar, z + 3 * U, g + 3 * U, U);
            for (int64_t u = 0; u < U; u++)
                cn[u] = g[U + u] * cp[u] + g[u] * g[2 * U + u];
            SFX(act_row)(ma, aa, cn, ca, U);
            for (int64_t u = 0; u < U; u++) {
                const R h = g[3 * U + u] * ca[u];
                hn[u] = h;
                cnx[u] = cn[u];
                y[u] = h;
            }
        }
    }
    if (Y)
        for (int64_t b = 0; b < B; b++)
            memcpy(last + b * U, Y + (b * T + T - 1) * U, (size_t)U * sizeof(R));
    return RNNC_OK;
}

/* Output gradients may be NULL (unused downstream: zero). Input gradient
 * pointers are NULL where no gradient is wanted. */
static rnnc_status SFX(backward)(lstm_state *st, const R *dY, const R *dlast, const R *dhT,
                                 const R *dcT, const R *x, const R *W, const R *Rk, R *dx, R *dh0,
                                 R *dc0, R *dW, R *dR, R *db)
{
    (void)x; /* its time-major copy Xt is what the products read */
    const int64_t B = st->B, T = st->T, F = st->F, U = st->U, U4 = 4 * U;
    R *Z = st->Z, *G = st->G, *Hp = st->Hp, *Cp = st->Cp, *Cn = st->Cn, *Ca = st->Ca;
    R *dh = st->bw, *dc = dh + B * U, *carry = dc + B * U, *tmp = carry + B * U;
    R *zeros = tmp + B * U; /* (U): stands in for absent output gradients */
    /* With small_sgemm the step products read R^T (4U, U), transposed once
     * here (in 32 x 32 tiles). */
    const bool small = SFX(small_steps)(st), whole = SFX(small_whole)(true);
#if ROW_VEC
    const bool rows = SFX(row_kernels)(st);
#endif
    R *RT = small ? zeros + U : NULL;
    for (int64_t u = 0; u < U; u++)
        zeros[u] = (R)0;
    if (small)
        for (int64_t i0 = 0; i0 < U; i0 += 32)
            for (int64_t j0 = 0; j0 < U4; j0 += 32)
                for (int64_t i = i0; i < i0 + 32 && i < U; i++)
                    for (int64_t j = j0; j < j0 + 32 && j < U4; j++)
                        RT[j * U + i] = Rk[i * U4 + j];
    for (int64_t i = 0; i < B * U; i++) {
        dh[i] = dhT ? dhT[i] : (R)0;
        dc[i] = dcT ? dcT[i] : (R)0;
        carry[i] = (!dY && dlast) ? dlast[i] : (R)0;
    }
    const int ma = st->mode_a, mr = st->mode_r;
    const rnnc_act aa = st->act, ar = st->ract;
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = st->go_backwards ? T - 1 - k : k;
        for (int64_t b = 0; b < B; b++) {
            const int64_t row = t * B + b;
            R *z = Z + row * U4, *cr = carry + b * U, *dhb = dh + b * U, *dcb = dc + b * U;
            const R *g = G + row * U4, *cn = Cn + row * U, *ca = Ca + row * U, *cp = Cp + row * U;
            const R *dyk = dY ? dY + (b * T + k) * U : NULL;
            const R *dl = (dY && k == T - 1 && dlast) ? dlast + b * U : NULL;
            const bool keep = !st->mask || st->mask[b * T + t];
#if ROW_VEC
            if (rows && keep) {
                lstm_back_row_f32(U, g, ca, cp, dyk ? dyk : zeros, dl ? dl : zeros, cr, dhb,
                                  dcb, z);
                continue;
            }
#endif
            for (int64_t u = 0; u < U; u++) {
                const R dy = cr[u] + (dyk ? dyk[u] : (R)0) + (dl ? dl[u] : (R)0);
                if (!keep) {
                    cr[u] = st->zofm ? (R)0 : dy;
                    z[u] = z[U + u] = z[2 * U + u] = z[3 * U + u] = (R)0;
                    continue;
                }
                cr[u] = (R)0;
                const R dht = dhb[u] + dy;
                const R gi = g[u], gf = g[U + u], gg = g[2 * U + u], go = g[3 * U + u];
                const R dct = dcb[u] + dht * go * SFX(dact)(ma, aa, cn[u], ca[u]);
                const R dgo = dht * ca[u];
                dcb[u] = dct * gf;
                const R zi = z[u], zf = z[U + u], zg = z[2 * U + u], zo = z[3 * U + u];
                z[u] = dct * gg * SFX(dact)(mr, ar, zi, gi);
                z[U + u] = dct * cp[u] * SFX(dact)(mr, ar, zf, gf);
                z[2 * U + u] = dct * gi * SFX(dact)(ma, aa, zg, gg);
                z[3 * U + u] = dgo * SFX(dact)(mr, ar, zo, go);
            }
        }
        /* dh_prev = dZ_t R^T for kept rows; masked rows pass dh through
         * (without a mask every row is kept: straight into dh). */
        R *dhn = st->mask ? tmp : dh;
        if (small)
            SFX(ab_gemm)(true, false, B, U, U4, Z + t * B * U4, U4, RT, U, false, dhn, U);
        else
            SFX(gemm)(false, true, B, U, U4, Z + t * B * U4, U4, Rk, U4, (R)0, dhn, U);
        if (st->mask)
            for (int64_t b = 0; b < B; b++)
                if (st->mask[b * T + t])
                    memcpy(dh + b * U, tmp + b * U, (size_t)U * sizeof(R));
    }
    for (int64_t i = 0; i < B * U; i++) {
        if (dh0)
            dh0[i] += dh[i];
        if (dc0)
            dc0[i] += dc[i];
    }
    R *Xt = st->xt;
    const R *dr = st->drop;
    if (dW)
        SFX(ab_gemm)(whole, true, F, U4, B * T, Xt, F, Z, U4, true, dW, U4);
    if (dR)
        SFX(ab_gemm)(whole, true, U, U4, B * T, Hp, U, Z, U4, true, dR, U4);
    if (db)
        for (int64_t r = 0; r < B * T; r++)
            for (int64_t j = 0; j < U4; j++)
                db[j] += Z[r * U4 + j];
    if (dx) { /* dZ W^T into Xt (no longer needed), then back to (B, T, F), times the mask */
        SFX(gemm)(false, true, B * T, F, U4, Z, U4, W, U4, (R)0, Xt, F);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++) {
                const R *src = Xt + (t * B + b) * F;
                R *dst = dx + (b * T + t) * F;
                for (int64_t f = 0; f < F; f++)
                    dst[f] += dr ? src[f] * dr[b * F + f] : src[f];
            }
    }
    return RNNC_OK;
}
