/* gru_fused_impl.h - the body of the fused GRU kernel, written once for a
 * real type. Private to gru_fused.c, which includes it twice with
 *   R          float | double
 *   SFX(n)     n##_f32 | n##_f64
 *   GEMM       cblas_sgemm | cblas_dgemm
 *   GEMV       cblas_sgemv | cblas_dgemv
 *   SIGM(x)    the inline sigmoid for R
 *   TANH(x)    the inline tanh for R
 *   FUSED_VEC  1 when the vector row kernels of gru_fused_rows.h exist for R
 *              (float: sigmoid/tanh rows on 4, 8 or 16 lanes, through rows())
 *              and, on x86 (RNNC__FUSED_WIDE), small_sgemm for the products
 * and provides fused_state and the ACT_* modes; small_gemm_internal.h the
 * float32 products (rnnc__small_sgemm) and the choice of them.
 *
 * Layouts (row-major):
 *   X    (B*T, F)    input, row b*T + t                  (the caller's tensor)
 *   xw   (B*T, 3U)   X @ W, row b*T + t (input time)
 *   hs   (T+1, B, U) hs[k] = state before processing step k (hs[0] = h0)
 *   G    (T, B, 3U)  per step [z, r, h~]; backward overwrites each step's
 *                    block with [dpz, dpr, dph r] (or dph) once read: dhr
 *   P    (T, B, 3U)  per step pre-activations (only for non-inline activations)
 *   RH   (T, B, U)   reset_after: h @ R_h + br_h; reset_before: r * h_prev
 *   Y    (B, T, U)   outputs in processing order
 * Step k processes input time t = k, or T-1-k with go_backwards.
 *
 * The element-wise step functions are always_inline with the activation
 * modes and "save pre-activations" as parameters: the dispatchers below call
 * them with constants for the default pair, so the mode switches fold away.
 * float's default pair goes through the vector rows of gru_fused_rows.h
 * instead; everything else (float64, other activations) runs these scalar
 * loops. */

static inline __attribute__((always_inline)) R SFX(act)(int mode, rnnc_act a, R x)
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

/* d act / d x, given x and y = act(x). */
static inline __attribute__((always_inline)) R SFX(dact)(int mode, rnnc_act a, R x, R y)
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

/* C (m x n, ld ldc) = op(A) op(B) + beta C. A single row (batch 1) goes to
 * GEMV: BLAS GEMM kernels are poor at m = 1. */
static void SFX(gemm)(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const R *A, int64_t lda,
                      const R *Bm, int64_t ldb, R beta, R *C, int64_t ldc)
{
    if (m == 0 || n == 0)
        return;
    if (m == 1 && k > 0) {
        /* c (n) = op(B)^T a, a = op(A)'s row: contiguous, or a column of A. */
        const int inca = ta ? (int)lda : 1;
        if (!tb) /* B stored (k, n) */
            GEMV(CblasRowMajor, CblasTrans, (int)k, (int)n, (R)1, Bm, (int)ldb, A, inca, beta, C, 1);
        else /* B stored (n, k) */
            GEMV(CblasRowMajor, CblasNoTrans, (int)n, (int)k, (R)1, Bm, (int)ldb, A, inca, beta, C,
                 1);
        return;
    }
    GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m,
         (int)n, (int)k, (R)1, A, (int)lda, Bm, (int)ldb, beta, C, (int)ldc);
}

/* Whether the per-step products of this call run small_sgemm (float on
 * AVX-512 CPUs; the rules: rnnc__small_gemm_steps in small_gemm.c). */
static bool SFX(small_steps)(const fused_state *st)
{
#if FUSED_VEC && RNNC__FUSED_WIDE
    return rnnc__small_gemm_steps(st->B, 3 * st->U, st->U);
#else
    (void)st;
    return false;
#endif
}

/* Whether a product over all steps (the input projection; with ta
 * dkernel, drecurrent_kernel) runs small_sgemm: float on AVX-512 CPUs when
 * BLAS has one thread (the rules and their measurements:
 * rnnc__small_gemm_whole in small_gemm.c). */
static bool SFX(small_whole)(bool ta)
{
#if FUSED_VEC && RNNC__FUSED_WIDE
    return rnnc__small_gemm_whole(ta);
#else
    (void)ta;
    return false;
#endif
}

/* C (m x n) = op(A) (m x k) @ Bm (k x n), or C += with acc; op(A) = A
 * (m x k, lda) or with ta A^T of A (k x m, lda); Bm row-major.
 * small_sgemm when `small`, else BLAS. */
static void SFX(ab_gemm)(bool small, bool ta, int64_t m, int64_t n, int64_t k, const R *A,
                         int64_t lda, const R *Bm, int64_t ldb, bool acc, R *C, int64_t ldc)
{
#if FUSED_VEC && RNNC__FUSED_WIDE
    if (small) {
        rnnc__small_sgemm(ta, m, n, k, A, lda, Bm, ldb, acc, C, ldc);
        return;
    }
#endif
    (void)small;
    SFX(gemm)(ta, false, m, n, k, A, lda, Bm, ldb, acc ? (R)1 : (R)0, C, ldc);
}

/* Masking and outputs of one row once its new state hn is computed: the
 * state is frozen and the previous output repeated where the row is masked
 * (zeros before the first valid step, or always with zero_output_for_mask). */
static inline void SFX(row_out)(const fused_state *st, bool keep, const R *hp, R *hn, R *yk,
                                const R *yprev, R *last_row)
{
    const int64_t U = st->U;
    if (!st->mask) {
        if (yk)
            memcpy(yk, hn, (size_t)U * sizeof(R));
        return;
    }
    R *y = yk ? yk : last_row;
    if (keep) {
        memcpy(y, hn, (size_t)U * sizeof(R));
    } else {
        memcpy(hn, hp, (size_t)U * sizeof(R));
        if (st->zofm || !yprev)
            memset(y, 0, (size_t)U * sizeof(R));
        else if (y != yprev)
            memcpy(y, yprev, (size_t)U * sizeof(R));
    }
}

/* row_out for row b of step k (input time t): its output slot in Y, or
 * last, and the previous output; nothing without a mask or Y. */
static inline void SFX(row_out_at)(const fused_state *st, int64_t k, int64_t t, int64_t b,
                                   const R *hp, R *hn, R *Y, R *last)
{
    const int64_t T = st->T, U = st->U;
    if (!st->mask && !Y)
        return;
    R *yk = Y ? Y + (b * T + k) * U : NULL;
    const R *yprev = Y ? (k > 0 ? Y + (b * T + k - 1) * U : NULL) : last + b * U;
    SFX(row_out)(st, !st->mask || st->mask[b * T + t], hp + b * U, hn + b * U, yk, yprev,
                 last + b * U);
}

/* One forward step, reset_after=True; hr = h_prev @ R (B, 3U). */
static inline __attribute__((always_inline)) void
SFX(step_ra)(const fused_state *st, int mr, int mh, bool sp, int64_t k, int64_t t, const R *xw,
             const R *hr, const R *bx, const R *bhr, const R *hp, R *hn, R *G, R *P, R *RH, R *Y,
             R *last)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_act ar = st->ract, ah = st->act;
    for (int64_t b = 0; b < B; b++) {
        const R *restrict xz = xw + (b * T + t) * 3 * U, *restrict hz = hr + b * 3 * U;
        const R *restrict hpb = hp + b * U;
        const R *restrict bxz = bx, *restrict bh = bhr;
        R *restrict g = G + b * 3 * U, *restrict rh = RH + b * U, *restrict hnb = hn + b * U;
        R *restrict p = sp ? P + b * 3 * U : NULL;
        for (int64_t u = 0; u < U; u++) {
            const R pz = xz[u] + hz[u] + bxz[u];
            const R pr = xz[U + u] + hz[U + u] + bxz[U + u];
            const R z = SFX(act)(mr, ar, pz), r = SFX(act)(mr, ar, pr);
            const R rhv = hz[2 * U + u] + bh[u];
            const R ph = xz[2 * U + u] + bxz[2 * U + u] + r * rhv;
            const R hh = SFX(act)(mh, ah, ph);
            g[u] = z;
            g[U + u] = r;
            g[2 * U + u] = hh;
            rh[u] = rhv;
            if (sp) {
                p[u] = pz;
                p[U + u] = pr;
                p[2 * U + u] = ph;
            }
            hnb[u] = hh + z * (hpb[u] - hh); /* z h + (1 - z) h~ */
        }
        if (st->mask || Y) {
            R *yk = Y ? Y + (b * T + k) * U : NULL;
            const R *yprev = Y ? (k > 0 ? Y + (b * T + k - 1) * U : NULL) : last + b * U;
            SFX(row_out)(st, !st->mask || st->mask[b * T + t], hp + b * U, hn + b * U, yk, yprev,
                         last + b * U);
        }
    }
}

/* reset_after=False, first half: z, r and r * h_prev (the next GEMM's
 * input); hr = h_prev @ R[:, :2U] (B, 2U). */
static inline __attribute__((always_inline)) void
SFX(step_rb1)(const fused_state *st, int mr, bool sp, int64_t t, const R *xw, const R *hr,
              const R *bx, const R *hp, R *G, R *P, R *RH)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_act ar = st->ract;
    for (int64_t b = 0; b < B; b++) {
        const R *restrict xz = xw + (b * T + t) * 3 * U, *restrict hz = hr + b * 2 * U;
        const R *restrict hpb = hp + b * U, *restrict bxz = bx;
        R *restrict g = G + b * 3 * U, *restrict rh = RH + b * U;
        R *restrict p = sp ? P + b * 3 * U : NULL;
        for (int64_t u = 0; u < U; u++) {
            const R pz = xz[u] + hz[u] + bxz[u];
            const R pr = xz[U + u] + hz[U + u] + bxz[U + u];
            const R z = SFX(act)(mr, ar, pz), r = SFX(act)(mr, ar, pr);
            g[u] = z;
            g[U + u] = r;
            rh[u] = r * hpb[u];
            if (sp) {
                p[u] = pz;
                p[U + u] = pr;
            }
        }
    }
}

/* reset_after=False, second half; hh2 = (r * h_prev) @ R_h (B, U). */
static inline __attribute__((always_inline)) void
SFX(step_rb2)(const fused_state *st, int mh, bool sp, int64_t k, int64_t t, const R *xw,
              const R *hh2, const R *bx, const R *hp, R *hn, R *G, R *P, R *Y, R *last)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_act ah = st->act;
    for (int64_t b = 0; b < B; b++) {
        const R *restrict xh = xw + (b * T + t) * 3 * U + 2 * U, *restrict q = hh2 + b * U;
        const R *restrict hpb = hp + b * U, *restrict bxh = bx + 2 * U;
        R *restrict g = G + b * 3 * U, *restrict hnb = hn + b * U;
        R *restrict p = sp ? P + b * 3 * U : NULL;
        for (int64_t u = 0; u < U; u++) {
            const R ph = xh[u] + bxh[u] + q[u];
            const R hh = SFX(act)(mh, ah, ph);
            const R z = g[u];
            g[2 * U + u] = hh;
            if (sp)
                p[2 * U + u] = ph;
            hnb[u] = hh + z * (hpb[u] - hh);
        }
        if (st->mask || Y) {
            R *yk = Y ? Y + (b * T + k) * U : NULL;
            const R *yprev = Y ? (k > 0 ? Y + (b * T + k - 1) * U : NULL) : last + b * U;
            SFX(row_out)(st, !st->mask || st->mask[b * T + t], hp + b * U, hn + b * U, yk, yprev,
                         last + b * U);
        }
    }
}

/* The default pair without saved pre-activations: the case the vector
 * row kernels serve. */
static inline bool SFX(default_pair)(const fused_state *st, const R *P)
{
    return st->mode_r == ACT_SIGMOID && st->mode_h == ACT_TANH && !P;
}

#if FUSED_VEC
/* Per-step outputs of every row (masking, Y, last) after its state. */
static void SFX(rows_out)(const fused_state *st, int64_t k, int64_t t, const R *hp, R *hn, R *Y,
                          R *last)
{
    for (int64_t b = 0; b < st->B; b++)
        SFX(row_out_at)(st, k, t, b, hp, hn, Y, last);
}
#endif

/* Dispatchers: vector rows (float, default pair), else a scalar copy
 * specialized for the default pair, else the general one. */
static void SFX(step_ra_any)(const fused_state *st, int64_t k, int64_t t, const R *xw,
                             const R *hr, const R *bx, const R *bhr, const R *hp, R *hn, R *G,
                             R *P, R *RH, R *Y, R *last)
{
#if FUSED_VEC
    if (SFX(default_pair)(st, P)) {
        const int64_t B = st->B, T = st->T, U = st->U;
        const row_kernels *rk = rows();
        for (int64_t b = 0; b < B; b++)
            rk->fwd_ra(U, xw + (b * T + t) * 3 * U, hr + b * 3 * U, bx, bhr, hp + b * U,
                       G + b * 3 * U, RH + b * U, hn + b * U);
        SFX(rows_out)(st, k, t, hp, hn, Y, last);
        return;
    }
#endif
    if (SFX(default_pair)(st, P))
        SFX(step_ra)(st, ACT_SIGMOID, ACT_TANH, false, k, t, xw, hr, bx, bhr, hp, hn, G, P, RH, Y,
                     last);
    else
        SFX(step_ra)(st, st->mode_r, st->mode_h, P != NULL, k, t, xw, hr, bx, bhr, hp, hn, G, P,
                     RH, Y, last);
}

static void SFX(step_rb1_any)(const fused_state *st, int64_t t, const R *xw, const R *hr,
                              const R *bx, const R *hp, R *G, R *P, R *RH)
{
#if FUSED_VEC
    if (SFX(default_pair)(st, P)) {
        const int64_t B = st->B, T = st->T, U = st->U;
        const row_kernels *rk = rows();
        for (int64_t b = 0; b < B; b++)
            rk->fwd_rb1(U, xw + (b * T + t) * 3 * U, hr + b * 2 * U, bx, hp + b * U,
                        G + b * 3 * U, RH + b * U);
        return;
    }
#endif
    if (st->mode_r == ACT_SIGMOID && !P)
        SFX(step_rb1)(st, ACT_SIGMOID, false, t, xw, hr, bx, hp, G, P, RH);
    else
        SFX(step_rb1)(st, st->mode_r, P != NULL, t, xw, hr, bx, hp, G, P, RH);
}

static void SFX(step_rb2_any)(const fused_state *st, int64_t k, int64_t t, const R *xw,
                              const R *hh2, const R *bx, const R *hp, R *hn, R *G, R *P, R *Y,
                              R *last)
{
#if FUSED_VEC
    if (SFX(default_pair)(st, P)) {
        const int64_t B = st->B, T = st->T, U = st->U;
        const row_kernels *rk = rows();
        for (int64_t b = 0; b < B; b++)
            rk->fwd_rb2(U, xw + (b * T + t) * 3 * U + 2 * U, hh2 + b * U, bx + 2 * U, hp + b * U,
                        G + b * 3 * U, hn + b * U);
        SFX(rows_out)(st, k, t, hp, hn, Y, last);
        return;
    }
#endif
    if (st->mode_h == ACT_TANH && !P)
        SFX(step_rb2)(st, ACT_TANH, false, k, t, xw, hh2, bx, hp, hn, G, P, Y, last);
    else
        SFX(step_rb2)(st, st->mode_h, P != NULL, k, t, xw, hh2, bx, hp, hn, G, P, Y, last);
}

/* ---- 16-bit dtype policies (float32 only; framework/precision.h) ------
 * Keras's GRUCell (implementation 2) under mixed_bfloat16 rounds the result
 * of every op to the compute dtype; these steps do the same, in its order:
 *   matrix_x = rd(rd(x W) + b_in)            (SFX(lp_project), all steps)
 *   inner    = rd(rd(h R) + b_rec)           (reset_after; no bias before)
 *   z = rd(act_r(rd(x_z + inner_z))), r likewise
 *   reset_after:  h~ = rd(act(rd(x_h + rd(r inner_h))))
 *   reset_before: h~ = rd(act(rd(x_h + rd(rd(r h) R_h))))
 *   h' = rd(rd(z h) + rd(rd(1 - z) h~))
 * Products take rounded operands and accumulate in float32 (so do
 * TensorFlow's bfloat16 matmuls). Backward runs in float32 from these
 * saved values; the gradients are rounded where they leave the layer (the
 * weight and input casts, framework/precision.c). */
static inline R SFX(rp)(rnnc_precision p, R v) { return (R)rnnc_round_prec(p, (float)v); }

/* An activation as TensorFlow evaluates it in a 16-bit dtype, before the
 * result's rounding: sigmoid is rd(e) / rd(1 + rd(e)) with e = exp(x)
 * (bit-exact against TensorFlow's bfloat16 sigmoid on 4000 random inputs;
 * tests/gen_mixed_precision_fixtures.py), tanh and linear are exact, the
 * others go through rnnc_act_apply. libm here, not the kernel's own
 * approximations: the rounding then agrees with TensorFlow's. */
static inline R SFX(lp_act)(rnnc_precision p, int mode, rnnc_act a, R x)
{
    switch (mode) {
    case ACT_SIGMOID: {
        const R e = SFX(rp)(p, (R)expf((float)x));
        return isinf(e) ? (R)1 : e / SFX(rp)(p, (R)1 + e);
    }
    case ACT_TANH:
        return (R)tanhf((float)x);
    default:
        return SFX(act)(mode, a, x);
    }
}

/* xw (B*T, 3U) = rd(rd(xw) + b_in) in place; b_in = bias, or zeros (3U)
 * without one. */
static void SFX(lp_project)(const fused_state *st, const R *bias, const R *zeros, R *xw)
{
    const rnnc_precision p = st->prec;
    const int64_t n = st->B * st->T, U3 = 3 * st->U;
#if FUSED_VEC
    if (p == RNNC_PREC_BF16) {
        const row_kernels *rk = rows();
        for (int64_t i = 0; i < n; i++)
            rk->lp_proj(U3, xw + i * U3, bias ? bias : zeros);
        return;
    }
#else
    (void)zeros;
#endif
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < U3; j++)
            xw[i * U3 + j] = SFX(rp)(p, SFX(rp)(p, xw[i * U3 + j]) + (bias ? bias[j] : (R)0));
}

/* h' = rd(rd(z h) + rd(rd(1 - z) h~)) */
static inline R SFX(lp_mix)(rnnc_precision p, R z, R hp, R hh)
{
    return SFX(rp)(p, SFX(rp)(p, z * hp) + SFX(rp)(p, SFX(rp)(p, (R)1 - z) * hh));
}

#if FUSED_VEC
/* Whether a 16-bit step runs the vector row kernels (gru_fused_rows.h,
 * through rows()): under the bfloat16 policy with the default pair; else
 * its scalar loops. */
static inline bool SFX(lp_vec)(const fused_state *st, const R *P)
{
    return st->prec == RNNC_PREC_BF16 && SFX(default_pair)(st, P);
}
#endif

/* reset_after=True; hr = h_prev @ R (B, 3U), rounded here in place with
 * the recurrent bias br (3U, or NULL). */
static void SFX(lp_step_ra)(const fused_state *st, int64_t k, int64_t t, const R *xw, R *hr,
                            const R *br, const R *hp, R *hn, R *G, R *P, R *RH, R *Y, R *last)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_precision p = st->prec;
#if FUSED_VEC
    if (SFX(lp_vec)(st, P) && br) {
        const row_kernels *rk = rows();
        for (int64_t b = 0; b < B; b++)
            rk->lp_ra(U, xw + (b * T + t) * 3 * U, hr + b * 3 * U, br, hp + b * U, G + b * 3 * U,
                      RH + b * U, hn + b * U);
        SFX(rows_out)(st, k, t, hp, hn, Y, last);
        return;
    }
#endif
    for (int64_t b = 0; b < B; b++) {
        const R *xz = xw + (b * T + t) * 3 * U, *hpb = hp + b * U;
        R *hz = hr + b * 3 * U, *g = G + b * 3 * U, *rh = RH + b * U, *hnb = hn + b * U;
        R *pp = P ? P + b * 3 * U : NULL;
        for (int64_t j = 0; j < 3 * U; j++)
            hz[j] = SFX(rp)(p, SFX(rp)(p, hz[j]) + (br ? br[j] : (R)0));
        for (int64_t u = 0; u < U; u++) {
            const R pz = SFX(rp)(p, xz[u] + hz[u]), pr = SFX(rp)(p, xz[U + u] + hz[U + u]);
            const R z = SFX(rp)(p, SFX(lp_act)(p, st->mode_r, st->ract, pz));
            const R r = SFX(rp)(p, SFX(lp_act)(p, st->mode_r, st->ract, pr));
            const R ph = SFX(rp)(p, xz[2 * U + u] + SFX(rp)(p, r * hz[2 * U + u]));
            const R hh = SFX(rp)(p, SFX(lp_act)(p, st->mode_h, st->act, ph));
            g[u] = z;
            g[U + u] = r;
            g[2 * U + u] = hh;
            rh[u] = hz[2 * U + u];
            if (pp) {
                pp[u] = pz;
                pp[U + u] = pr;
                pp[2 * U + u] = ph;
            }
            hnb[u] = SFX(lp_mix)(p, z, hpb[u], hh);
        }
        SFX(row_out_at)(st, k, t, b, hp, hn, Y, last);
    }
}

/* reset_after=False, first half; hr = h_prev @ R[:, :2U] (B, 2U): z, r
 * and RH = rd(r h_prev), the next product's operand. */
static void SFX(lp_step_rb1)(const fused_state *st, int64_t t, const R *xw, const R *hr,
                             const R *hp, R *G, R *P, R *RH)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_precision p = st->prec;
#if FUSED_VEC
    if (SFX(lp_vec)(st, P)) {
        const row_kernels *rk = rows();
        for (int64_t b = 0; b < B; b++)
            rk->lp_rb1(U, xw + (b * T + t) * 3 * U, hr + b * 2 * U, hp + b * U, G + b * 3 * U,
                       RH + b * U);
        return;
    }
#endif
    for (int64_t b = 0; b < B; b++) {
        const R *xz = xw + (b * T + t) * 3 * U, *hz = hr + b * 2 * U, *hpb = hp + b * U;
        R *g = G + b * 3 * U, *rh = RH + b * U, *pp = P ? P + b * 3 * U : NULL;
        for (int64_t u = 0; u < U; u++) {
            const R pz = SFX(rp)(p, xz[u] + SFX(rp)(p, hz[u]));
            const R pr = SFX(rp)(p, xz[U + u] + SFX(rp)(p, hz[U + u]));
            const R z = SFX(rp)(p, SFX(lp_act)(p, st->mode_r, st->ract, pz));
            const R r = SFX(rp)(p, SFX(lp_act)(p, st->mode_r, st->ract, pr));
            g[u] = z;
            g[U + u] = r;
            rh[u] = SFX(rp)(p, r * hpb[u]);
            if (pp) {
                pp[u] = pz;
                pp[U + u] = pr;
            }
        }
    }
}

/* reset_after=False, second half; hh2 = RH @ R_h (B, U). */
static void SFX(lp_step_rb2)(const fused_state *st, int64_t k, int64_t t, const R *xw,
                             const R *hh2, const R *hp, R *hn, R *G, R *P, R *Y, R *last)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_precision p = st->prec;
#if FUSED_VEC
    if (SFX(lp_vec)(st, P)) {
        const row_kernels *rk = rows();
        for (int64_t b = 0; b < B; b++)
            rk->lp_rb2(U, xw + (b * T + t) * 3 * U + 2 * U, hh2 + b * U, hp + b * U,
                       G + b * 3 * U, hn + b * U);
        SFX(rows_out)(st, k, t, hp, hn, Y, last);
        return;
    }
#endif
    for (int64_t b = 0; b < B; b++) {
        const R *xh = xw + (b * T + t) * 3 * U + 2 * U, *q = hh2 + b * U, *hpb = hp + b * U;
        R *g = G + b * 3 * U, *hnb = hn + b * U;
        for (int64_t u = 0; u < U; u++) {
            const R ph = SFX(rp)(p, xh[u] + SFX(rp)(p, q[u]));
            const R hh = SFX(rp)(p, SFX(lp_act)(p, st->mode_h, st->act, ph));
            g[2 * U + u] = hh;
            if (P)
                P[b * 3 * U + 2 * U + u] = ph;
            hnb[u] = SFX(lp_mix)(p, g[u], hpb[u], hh);
        }
        SFX(row_out_at)(st, k, t, b, hp, hn, Y, last);
    }
}

/* C (m x n) = A (m x k, lda) @ B (k x n, ldb) for the 16-bit steps: with
 * PB (B packed in bfloat16 pairs, rnnc__bf16_pack_b, ldb pairs a row) A's
 * rows are packed into A2 and the product runs AVX512-BF16; else float32
 * arithmetic on the same (already rounded) values. */
static void SFX(lp_product)(bool small, const uint32_t *PB, uint32_t *A2, int64_t m, int64_t n,
                            int64_t k, const R *A, int64_t lda, const R *Bm, int64_t ldb, R *C,
                            int64_t ldc)
{
#if FUSED_VEC && RNNC__FUSED_WIDE
    if (PB) {
        rnnc__bf16_pack_a(m, k, A, lda, A2);
        rnnc__bf16_gemm(m, n, (k + 1) / 2, A2, PB, ldb, C, ldc);
        return;
    }
#else
    (void)PB, (void)A2;
#endif
    SFX(ab_gemm)(small, false, m, n, k, A, lda, Bm, ldb, false, C, ldc);
}

/* The forward pass. With `save`, the per-step tensors backward needs are
 * left in st (xw, hs, gates, pre, rh); otherwise only two state buffers and one
 * step of scratch are used. Y may be NULL (no return_sequences); last and
 * hT are (B, U) and last starts zeroed. */
static rnnc_status SFX(forward)(fused_state *st, bool save, const R *X, const R *h0, const R *W,
                                const R *Rk, const R *bias, R *Y, R *last, R *hT)
{
    const int64_t B = st->B, T = st->T, F = st->F, U = st->U, BU = B * U;
    const int64_t nsteps = save ? T : 1;
    const bool drop = st->drop != NULL;
    /* Saved across forward -> backward (owned by st when save); xw is
     * reused by backward for its gradient. */
    R *xw = ws_alloc((size_t)(B * T * 3 * U) * sizeof(R)); /* (B*T, 3U) */
    R *hs = ws_alloc((size_t)((save ? T + 1 : 2) * BU) * sizeof(R));
    R *G = ws_alloc((size_t)(nsteps * B * 3 * U) * sizeof(R));
    R *RH = ws_alloc((size_t)(nsteps * BU) * sizeof(R));
    R *P = (save && st->save_pre) ? ws_alloc((size_t)(T * B * 3 * U) * sizeof(R)) : NULL;
    /* Scratch for this call. */
    const size_t n_tmp = (size_t)((drop ? B * T * F : 0) + B * 3 * U + BU + 4 * U);
    R *tmp = ws_alloc(n_tmp * sizeof(R));
    if (!xw || !hs || !G || !RH || (save && st->save_pre && !P) || !tmp) {
        ws_free(xw);
        ws_free(hs);
        ws_free(G);
        ws_free(RH);
        ws_free(P);
        ws_free(tmp);
        return rnnc_fail(RNNC_E_NOMEM, "GRU fused kernel: out of memory for the workspace (B=%lld, T=%lld, F=%lld, U=%lld)",
                         (long long)B, (long long)T, (long long)F, (long long)U);
    }
    R *xd = drop ? tmp : NULL;                 /* (B*T, F) dropped inputs */
    R *hr = tmp + (drop ? B * T * F : 0);      /* (B, 3U) */
    R *hh2 = hr + B * 3 * U;                   /* (B, U) */
    R *bx = hh2 + BU;                          /* (3U) */
    R *bhr = bx + 3 * U;                       /* (U) */

    /* The bias folded into two vectors: z and r see bi + br; h~ sees bi
     * outside the reset product and br_h inside it. */
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
        if (st->prec) /* Keras: inputs * dp_mask in the compute dtype */
            for (int64_t i = 0; i < B * T * F; i++)
                xd[i] = SFX(rp)(st->prec, xd[i]);
        xin = xd;
    }
    /* bfloat16 policy on an AVX512-BF16 CPU: W and R packed once per call
     * into bfloat16 pairs (PW, PR); A2 holds the packed left operand. */
    uint32_t *PW = NULL, *PR = NULL, *A2 = NULL;
#if FUSED_VEC && RNNC__FUSED_WIDE
    const int64_t kpF = (F + 1) / 2, kpU = (U + 1) / 2;
    if (st->prec == RNNC_PREC_BF16 && rnnc__bf16_gemm_ok()) {
        PW = ws_alloc((size_t)((kpF + kpU) * 3 * U + B * T * kpF + B * kpU) * sizeof(uint32_t));
        if (PW) {
            PR = PW + kpF * 3 * U;
            A2 = PR + kpU * 3 * U;
            rnnc__bf16_pack_b(F, 3 * U, W, 3 * U, PW, 3 * U);
            rnnc__bf16_pack_b(U, 3 * U, Rk, 3 * U, PR, 3 * U);
        }
    }
#endif
    /* The input projection of every step in one product. */
    if (PW)
        SFX(lp_product)(false, PW, A2, B * T, 3 * U, F, xin, F, W, 3 * U, xw, 3 * U);
    else
        SFX(ab_gemm)(SFX(small_whole)(false), false, B * T, 3 * U, F, xin, F, W, 3 * U, false, xw,
                     3 * U);
    if (st->prec)
        SFX(lp_project)(st, bias, bx, xw); /* bx is all zeros without a bias */
    const bool small = SFX(small_steps)(st);
    memcpy(hs, h0, (size_t)BU * sizeof(R));

    for (int64_t k = 0; k < T; k++) {
        const int64_t t = st->go_backwards ? T - 1 - k : k;
        const R *hp = hs + (save ? k : (k & 1)) * BU;
        R *hn = hs + (save ? k + 1 : ((k + 1) & 1)) * BU;
        R *Gk = G + (save ? k : 0) * B * 3 * U;
        R *Pk = P ? P + k * B * 3 * U : NULL;
        R *RHk = RH + (save ? k : 0) * BU;
        if (st->prec && st->reset_after) {
            SFX(lp_product)(small, PR, A2, B, 3 * U, U, hp, U, Rk, 3 * U, hr, 3 * U);
            /* bx is all zeros without a bias */
            SFX(lp_step_ra)(st, k, t, xw, hr, bias ? bias + 3 * U : bx, hp, hn, Gk, Pk, RHk, Y,
                            last);
        } else if (st->prec) {
            SFX(lp_product)(small, PR, A2, B, 2 * U, U, hp, U, Rk, 3 * U, hr, 2 * U);
            SFX(lp_step_rb1)(st, t, xw, hr, hp, Gk, Pk, RHk);
            SFX(lp_product)(small, PR ? PR + 2 * U : NULL, A2, B, U, U, RHk, U, Rk + 2 * U, 3 * U,
                            hh2, U);
            SFX(lp_step_rb2)(st, k, t, xw, hh2, hp, hn, Gk, Pk, Y, last);
        } else if (st->reset_after) {
            SFX(ab_gemm)(small, false, B, 3 * U, U, hp, U, Rk, 3 * U, false, hr, 3 * U);
            SFX(step_ra_any)(st, k, t, xw, hr, bx, bhr, hp, hn, Gk, Pk, RHk, Y, last);
        } else {
            SFX(ab_gemm)(small, false, B, 2 * U, U, hp, U, Rk, 3 * U, false, hr, 2 * U);
            SFX(step_rb1_any)(st, t, xw, hr, bx, hp, Gk, Pk, RHk);
            SFX(ab_gemm)(small, false, B, U, U, RHk, U, Rk + 2 * U, 3 * U, false, hh2, U);
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
    ws_free(tmp);
    ws_free(PW);
    if (save) {
        st->xw = xw;
        st->hs = hs;
        st->gates = G;
        st->rh = RH;
        st->pre = P;
    } else {
        ws_free(xw);
        ws_free(hs);
        ws_free(G);
        ws_free(RH);
        ws_free(P);
    }
    return RNNC_OK;
}

/* Backward of one kept row at step k (up to the products with R).
 * gy: gradient reaching this step's output; dhb: gradient of the state
 * after it. Writes the gate-input gradients of the row (dxr into dxw at
 * input time t, dq into dhr) and the direct part of dh_prev
 * (reset_after=False: dhnb = dn z, finished by back_rb2). dq may be g
 * (backward reuses the spent gates): no restrict on those two, and each
 * unit reads its gates before writing its dq. */
static inline __attribute__((always_inline)) void
SFX(back_row)(const fused_state *st, int mr, int mh, bool sp, const R *g, const R *p,
              const R *rh, const R *hpb, const R *dYk, const R *dl, R *dyb, const R *dhb, R *dxr,
              R *dq, R *dhpb, R *dhnb)
{
    const int64_t U = st->U;
    const rnnc_act ar = st->ract, ah = st->act;
    const R *G_ = g, *restrict P_ = p, *restrict RH_ = rh, *restrict H_ = hpb;
    const R *restrict DY = dYk, *restrict DL = dl, *restrict DH = dhb;
    R *restrict DYB = dyb, *restrict DX = dxr, *DQ = dq, *restrict DHP = dhpb;
    R *restrict DHN = dhnb;
    for (int64_t u = 0; u < U; u++) {
        R dn = DYB[u] + DH[u];
        if (DY)
            dn += DY[u];
        if (DL)
            dn += DL[u];
        DYB[u] = (R)0;
        const R z = G_[u], r = G_[U + u], hh = G_[2 * U + u];
        /* h' = z h + (1 - z) h~ */
        const R dz = dn * (H_[u] - hh);
        const R dph = dn * ((R)1 - z) * SFX(dact)(mh, ah, sp ? P_[2 * U + u] : (R)0, hh);
        const R dpz = dz * SFX(dact)(mr, ar, sp ? P_[u] : (R)0, z);
        DX[u] = dpz;
        DX[2 * U + u] = dph;
        DQ[u] = dpz;
        if (st->reset_after) {
            /* h~ = act(xh + r (h R_h + br_h)) */
            const R dpr = dph * RH_[u] * SFX(dact)(mr, ar, sp ? P_[U + u] : (R)0, r);
            DX[U + u] = dpr;
            DQ[U + u] = dpr;
            DQ[2 * U + u] = dph * r;
            DHP[u] = dn * z;
        } else {
            DQ[2 * U + u] = dph;
            DHN[u] = dn * z;
        }
    }
}

/* A masked row at step k: no gradient into this step's gates; the output
 * gradient goes to the previous output (unless zeroed), the state gradient
 * to the previous state. */
static void SFX(back_masked_row)(const fused_state *st, const R *dYk, const R *dl, R *dyb,
                                 const R *dhb, R *dxr, R *dq, R *dhpb, R *dhnb)
{
    const int64_t U = st->U;
    memset(dxr, 0, (size_t)(3 * U) * sizeof(R));
    memset(dq, 0, (size_t)(3 * U) * sizeof(R));
    for (int64_t u = 0; u < U; u++) {
        R gy = dyb[u];
        if (dYk)
            gy += dYk[u];
        if (dl)
            gy += dl[u];
        dyb[u] = st->zofm ? (R)0 : gy;
        dhpb[u] = dhb[u];
    }
    if (!st->reset_after)
        memset(dhnb, 0, (size_t)U * sizeof(R));
}

/* Backward of all rows at step k up to the recurrent products. hp, Gk,
 * Pk, RHk: the step's saved state; dy, dh: the carried output and state
 * gradients (dy updated in place); dhp: the state-before gradient, set here
 * to its direct part (reset_after=False: by back_rb2); dhn
 * (reset_after=False): the new-state gradient per row. */
static inline __attribute__((always_inline)) void
SFX(back_step)(const fused_state *st, int mr, int mh, bool sp, int64_t k, int64_t t,
               const R *hp, const R *Gk, const R *Pk, const R *RHk, const R *dY, const R *dlast,
               R *dy, const R *dh, R *dhp, R *dhn, R *dxw, R *dHR)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    for (int64_t b = 0; b < B; b++) {
        const bool keep = !st->mask || st->mask[b * T + t];
        const R *dYk = dY ? dY + (b * T + k) * U : NULL;
        const R *dl = (k == T - 1 && dlast) ? dlast + b * U : NULL;
        R *dxr = dxw + (b * T + t) * 3 * U, *dq = dHR + b * 3 * U;
        if (keep)
            SFX(back_row)(st, mr, mh, sp, Gk + b * 3 * U, sp ? Pk + b * 3 * U : NULL, RHk + b * U,
                          hp + b * U, dYk, dl, dy + b * U, dh + b * U, dxr, dq, dhp + b * U,
                          dhn + b * U);
        else
            SFX(back_masked_row)(st, dYk, dl, dy + b * U, dh + b * U, dxr, dq, dhp + b * U,
                                 dhn + b * U);
    }
}

/* Row b at step k: its output-gradient rows (NULL: none) and gate-gradient
 * rows; false for a masked row, whose pass-through backward is done here. */
static inline bool SFX(back_row_io)(const fused_state *st, int64_t k, int64_t t, int64_t b,
                                    const R *dY, const R *dlast, R *dy, const R *dh, R *dhp,
                                    R *dhn, R *dxw, R *dHR, const R **dYk, const R **dl, R **dxr,
                                    R **dq)
{
    const int64_t T = st->T, U = st->U;
    *dYk = dY ? dY + (b * T + k) * U : NULL;
    *dl = (k == T - 1 && dlast) ? dlast + b * U : NULL;
    *dxr = dxw + (b * T + t) * 3 * U;
    *dq = dHR + b * 3 * U;
    if (!st->mask || st->mask[b * T + t])
        return true;
    SFX(back_masked_row)(st, *dYk, *dl, dy + b * U, dh + b * U, *dxr, *dq, dhp + b * U,
                         dhn + b * U);
    return false;
}

/* zeros: a row of U zeros standing in for absent output gradients. */
static void SFX(back_step_any)(const fused_state *st, int64_t k, int64_t t, const R *hp,
                               const R *Gk, const R *Pk, const R *RHk, const R *dY,
                               const R *dlast, R *dy, const R *dh, R *dhp, R *dhn, R *dxw, R *dHR,
                               const R *zeros)
{
#if FUSED_VEC
    if (SFX(default_pair)(st, Pk)) {
        const int64_t B = st->B, U = st->U;
        const row_kernels *rk = rows();
        for (int64_t b = 0; b < B; b++) {
            const R *dYk, *dl;
            R *dxr, *dq;
            if (!SFX(back_row_io)(st, k, t, b, dY, dlast, dy, dh, dhp, dhn, dxw, dHR, &dYk, &dl,
                                  &dxr, &dq))
                continue;
            rk->back_keep(U, st->reset_after, Gk + b * 3 * U, RHk + b * U, hp + b * U,
                          dYk ? dYk : zeros, dl ? dl : zeros, dy + b * U, dh + b * U, dxr, dq,
                          dhp + b * U, dhn + b * U);
        }
        return;
    }
#endif
    (void)zeros;
    if (SFX(default_pair)(st, Pk))
        SFX(back_step)(st, ACT_SIGMOID, ACT_TANH, false, k, t, hp, Gk, Pk, RHk, dY, dlast, dy, dh,
                       dhp, dhn, dxw, dHR);
    else
        SFX(back_step)(st, st->mode_r, st->mode_h, Pk != NULL, k, t, hp, Gk, Pk, RHk, dY, dlast,
                       dy, dh, dhp, dhn, dxw, dHR);
}

/* reset_after=False: dr from d(r h_prev) = drh, then dh_prev's direct part.
 * dHR may be Gk (see backward). */
static void SFX(back_rb2)(const fused_state *st, int64_t t, const R *hp, const R *Gk,
                          const R *Pk, const R *drh, const R *dhn, R *dxw, R *dHR, R *dhp)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_act ar = st->ract;
    const int mr = st->mode_r;
    for (int64_t b = 0; b < B; b++) {
        if (st->mask && !st->mask[b * T + t])
            continue; /* masked: dhp already holds the pass-through */
        const R *g = Gk + b * 3 * U, *hpb = hp + b * U, *q = drh + b * U, *dnb = dhn + b * U;
        const R *p = Pk ? Pk + b * 3 * U : NULL;
        R *dxr = dxw + (b * T + t) * 3 * U, *dq = dHR + b * 3 * U, *dhpb = dhp + b * U;
#if FUSED_VEC
        if (SFX(default_pair)(st, Pk)) {
            rows()->back_rb2(U, g, hpb, q, dnb, dxr, dq, dhpb);
            continue;
        }
#endif
        for (int64_t u = 0; u < U; u++) {
            const R r = g[U + u]; /* read before dq (which may be g) is written */
            const R dpr = q[u] * hpb[u] * SFX(dact)(mr, ar, p ? p[U + u] : (R)0, r);
            dxr[U + u] = dpr;
            dq[U + u] = dpr;
            dhpb[u] = dnb[u] + q[u] * r; /* dnb = dn z (back_row) */
        }
    }
}

/* mixed_bfloat16 backward: the gradients entering a product are rounded to
 * bfloat16 first (Keras's backward runs in bfloat16; TensorFlow's bfloat16
 * MatMul gradients take bfloat16 operands), on every CPU; n values at p. */
static void SFX(lp_round_rows)(const fused_state *st, R *p, int64_t rows, int64_t n, int64_t ld)
{
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++)
            p[i * ld + j] = SFX(rp)(st->prec, p[i * ld + j]);
}

/* C (m x n, ldc) = op(A) @ B, or += with acc, on AVX512-BF16: B packed in
 * PB (ldp pairs a row), op(A) = A (m x k, lda) or with ta A^T (A: k x m),
 * packed into A2; tmp (m x n) holds the product when accumulating. */
static void SFX(bf_prod)(bool ta, int64_t m, int64_t n, int64_t k, const R *A, int64_t lda,
                         const uint32_t *PB, int64_t ldp, uint32_t *A2, R *tmp, bool acc, R *C,
                         int64_t ldc)
{
#if FUSED_VEC && RNNC__FUSED_WIDE
    if (ta)
        rnnc__bf16_pack_at(k, m, A, lda, A2);
    else
        rnnc__bf16_pack_a(m, k, A, lda, A2);
    rnnc__bf16_gemm(m, n, (k + 1) / 2, A2, PB, ldp, acc ? tmp : C, acc ? n : ldc);
    if (acc)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                C[i * ldc + j] += tmp[i * n + j];
#else
    (void)ta, (void)m, (void)n, (void)k, (void)A, (void)lda, (void)PB, (void)ldp, (void)A2;
    (void)tmp, (void)acc, (void)C, (void)ldc;
#endif
}

/* C (B x U) = A (B x kd, ld 3U) @ R[:, c0 : c0 + kd]^T for the 16-bit
 * backward steps: AVX512-BF16 (PRT: R^T in pairs), small_sgemm (RT: R^T)
 * or BLAS; rounded to the compute format. */
static void SFX(lp_rt_prod)(const fused_state *st, const uint32_t *PRT, uint32_t *A2, R *ctmp,
                            const R *RT, const R *Rk, int64_t kd, int64_t c0, const R *A, R *C)
{
    const int64_t B = st->B, U = st->U;
    if (PRT)
        SFX(bf_prod)(false, B, U, kd, A, 3 * U, PRT + (c0 / 2) * U, U, A2, ctmp, false, C, U);
    else if (RT)
        SFX(ab_gemm)(true, false, B, U, kd, A, 3 * U, RT + c0 * U, U, false, C, U);
    else
        SFX(gemm)(false, true, B, U, kd, A, 3 * U, Rk + c0, 3 * U, (R)0, C, U);
    SFX(lp_round_rows)(st, C, B, U, U);
}

/* One backward step of the bfloat16 policy (default activation pair), op
 * by op as TensorFlow differentiates Keras's GRUCell in bfloat16: every
 * gradient op's result rounded; SigmoidGrad(y, g) = rd(g rd(y rd(1 - y))),
 * TanhGrad(y, g) = rd(g rd(1 - rd(y y))) (TensorFlow's kernels, measured).
 * dhp gets the previous state's gradient; pt and drh are (B, U) scratch. */
static void SFX(lp_back_step)(const fused_state *st, const uint32_t *PRT, uint32_t *A2, R *ctmp,
                              const R *RT, const R *Rk, int64_t k, int64_t t, const R *hp,
                              const R *Gk, const R *RHk, const R *dY, const R *dlast, R *dy,
                              const R *dh, R *dhp, R *dhn, R *drh, R *pt, R *dxw, R *dHR,
                              const R *zeros)
{
    const int64_t B = st->B, T = st->T, U = st->U;
    const rnnc_precision p = st->prec;
#define RP(v) SFX(rp)(p, (v))
    for (int64_t b = 0; b < B; b++) {
        const R *dYk, *dl;
        R *dxr, *dq;
        if (!SFX(back_row_io)(st, k, t, b, dY, dlast, dy, dh, dhp, dhn, dxw, dHR, &dYk, &dl, &dxr,
                              &dq))
            continue;
        const R *g = Gk + b * 3 * U, *hpb = hp + b * U, *ih = RHk + b * U;
#if FUSED_VEC
        rows()->lp_back(U, st->reset_after, g, ih, hpb, dYk ? dYk : zeros, dl ? dl : zeros,
                        dy + b * U, dh + b * U, dxr, dq, dhp + b * U, dhn + b * U);
        continue;
#else
        (void)zeros;
#endif
        for (int64_t u = 0; u < U; u++) {
            const R dn = RP(dy[b * U + u] + dh[b * U + u] + (dYk ? dYk[u] : (R)0) +
                            (dl ? dl[u] : (R)0));
            dy[b * U + u] = (R)0;
            const R z = g[u], r = g[U + u], hh = g[2 * U + u];
            const R dz = RP(RP(dn * hpb[u]) - RP(dn * hh));
            const R dph = RP(RP(dn * RP((R)1 - z)) * RP((R)1 - RP(hh * hh)));
            const R dpz = RP(dz * RP(z * RP((R)1 - z)));
            dxr[u] = dpz;
            dxr[2 * U + u] = dph;
            dq[u] = dpz;
            if (st->reset_after) {
                const R dpr = RP(RP(dph * ih[u]) * RP(r * RP((R)1 - r)));
                dxr[U + u] = dpr;
                dq[U + u] = dpr;
                dq[2 * U + u] = RP(dph * r);
                dhp[b * U + u] = RP(dn * z);
            } else {
                dq[2 * U + u] = dph;
                dhn[b * U + u] = RP(dn * z);
            }
        }
    }
    if (st->reset_after) {
        SFX(lp_rt_prod)(st, PRT, A2, ctmp, RT, Rk, 3 * U, 0, dHR, pt);
        for (int64_t b = 0; b < B; b++)
            if (!st->mask || st->mask[b * T + t])
                for (int64_t u = 0; u < U; u++)
                    dhp[b * U + u] = RP(dhp[b * U + u] + pt[b * U + u]);
        return;
    }
    /* reset_after=False: d(r h_prev) = rd(dph R_h^T), then dr and the
     * direct part of dh_prev through r h_prev, then the [z, r] product. */
    SFX(lp_rt_prod)(st, PRT, A2, ctmp, RT, Rk, U, 2 * U, dHR + 2 * U, drh);
    for (int64_t b = 0; b < B; b++) {
        if (st->mask && !st->mask[b * T + t])
            continue;
        const R *g = Gk + b * 3 * U, *hpb = hp + b * U;
        R *dxr = dxw + (b * T + t) * 3 * U, *dq = dHR + b * 3 * U;
        for (int64_t u = 0; u < U; u++) {
            const R r = g[U + u], q = drh[b * U + u];
            const R dpr = RP(RP(q * hpb[u]) * RP(r * RP((R)1 - r)));
            dxr[U + u] = dpr;
            dq[U + u] = dpr;
            drh[b * U + u] = RP(q * r);
        }
    }
    SFX(lp_rt_prod)(st, PRT, A2, ctmp, RT, Rk, 2 * U, 0, dHR, pt);
    for (int64_t b = 0; b < B; b++)
        if (!st->mask || st->mask[b * T + t])
            for (int64_t u = 0; u < U; u++)
                /* AddN in bfloat16 adds in order, rounding each sum */
                dhp[b * U + u] = RP(RP(dhn[b * U + u] + pt[b * U + u]) + drh[b * U + u]);
#undef RP
}

/* The bfloat16 policy's weight gradients: Keras casts the weights inside
 * its step loop, so each step's gradient is a bfloat16 product (rounded),
 * the input bias's a BiasAddGrad (a bfloat16 running sum over the batch,
 * rounded at every row: TensorFlow's kernel, measured), the recurrent
 * bias's a Sum (float32, rounded once); the steps add up in float32 (the
 * float32 variable's gradient). pt: max(F, U) x 3U scratch. */
/* pt (m x n) = A^T (A: k x m, lda) @ Bm (k x n, ldb): AVX512-BF16 when PD
 * (scratch for Bm's pairs) is given, else float32; then C (ldc) += rd(pt). */
static void SFX(lp_step_wgrad)(const fused_state *st, uint32_t *PD, uint32_t *A2, int64_t m,
                               int64_t n, int64_t k, const R *A, int64_t lda, const R *Bm,
                               int64_t ldb, R *pt, R *C, int64_t ldc)
{
#if FUSED_VEC && RNNC__FUSED_WIDE
    if (PD && (k + 1) / 2 <= 128) { /* one chunk: rounded and added in registers */
        rnnc__bf16_pack_b(k, n, Bm, ldb, PD, n);
        rnnc__bf16_pack_at(k, m, A, lda, A2);
        rnnc__bf16_gemm_acc_rounded(m, n, (k + 1) / 2, A2, PD, n, C, ldc);
        return;
    }
    if (PD) {
        rnnc__bf16_pack_b(k, n, Bm, ldb, PD, n);
        SFX(bf_prod)(true, m, n, k, A, lda, PD, n, A2, NULL, false, pt, n);
    } else
#else
    (void)PD, (void)A2;
#endif
        SFX(gemm)(true, false, m, n, k, A, lda, Bm, ldb, (R)0, pt, n);
#if FUSED_VEC
    if (st->prec == RNNC_PREC_BF16) {
        const row_kernels *rk = rows();
        for (int64_t i = 0; i < m; i++)
            rk->lp_acc(n, C + i * ldc, pt + i * n);
        return;
    }
#endif
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            C[i * ldc + j] += SFX(rp)(st->prec, pt[i * n + j]);
}

static void SFX(lp_weight_grads)(const fused_state *st, uint32_t *PD, uint32_t *A2, const R *xin,
                                 const R *dxw, const R *hs, const R *RHs, const R *dhr, R *pt,
                                 R *dW, R *dR, R *db)
{
    const int64_t B = st->B, T = st->T, F = st->F, U = st->U, BU = B * U;
    const rnnc_precision p = st->prec;
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = st->go_backwards ? T - 1 - k : k;
        const R *dk = dhr + k * B * 3 * U, *hk = hs + k * BU;
        if (dW)
            SFX(lp_step_wgrad)(st, PD, A2, F, 3 * U, B, xin + t * F, T * F, dxw + t * 3 * U,
                               T * 3 * U, pt, dW, 3 * U);
        if (dR && st->reset_after) {
            SFX(lp_step_wgrad)(st, PD, A2, U, 3 * U, B, hk, U, dk, 3 * U, pt, dR, 3 * U);
        } else if (dR) {
            SFX(lp_step_wgrad)(st, PD, A2, U, 2 * U, B, hk, U, dk, 3 * U, pt, dR, 3 * U);
            SFX(lp_step_wgrad)(st, PD, A2, U, U, B, RHs + k * BU, U, dk + 2 * U, 3 * U, pt,
                               dR + 2 * U, 3 * U);
        }
        for (int64_t j = 0; db && j < 3 * U; j++) {
            R sx = 0, sh = 0;
            for (int64_t b = 0; b < B; b++) {
                sx = SFX(rp)(p, sx + dxw[(b * T + t) * 3 * U + j]);
                sh += dk[b * 3 * U + j];
            }
            db[j] += sx;
            if (st->reset_after)
                db[3 * U + j] += SFX(rp)(p, sh);
        }
    }
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
    /* With small_sgemm the step products read R^T, transposed once here. */
    const bool small = SFX(small_steps)(st);
    const size_t n_tmp = (size_t)(5 * BU + U + (small ? 3 * U * U : 0) +
                                  (need_xd ? B * T * F : 0) + (need_dxd ? B * T * F : 0) +
                                  (db ? B * T : 0));
    R *tmp = ws_alloc(n_tmp * sizeof(R));
    if (!tmp)
        return rnnc_fail(RNNC_E_NOMEM, "GRU fused backward: out of memory for the workspace (B=%lld, T=%lld, F=%lld, U=%lld)",
                         (long long)B, (long long)T, (long long)F, (long long)U);
    /* (B*T, 3U) grad of X@W + bias, row b*T + t: forward's xw, no longer
     * needed; every row is written before it is read. */
    R *dxw = st->xw;
    /* (T, B, 3U) grad of the recurrent products: forward's gates, each step's
     * block overwritten in place once its backward has read it (so the
     * node's backward runs once: fused_backward checks). */
    R *dhr = st->gates;
    R *dh = tmp;                             /* (B, U) grad of the state after step k */
    R *dhp = dh + BU;                        /* (B, U) grad of the state before step k */
    R *dy = dhp + BU;                        /* (B, U) grad carried into the previous output */
    R *drh = dy + BU;                        /* (B, U) reset_before: grad of r * h_prev */
    R *dhn = drh + BU;                       /* (B, U) reset_before: grad of the new state */
    R *zeros = dhn + BU;                     /* (U) stands in for absent output grads */
    R *RT = small ? zeros + U : NULL;        /* (3U, U) R transposed */
    R *xd = zeros + U + (small ? 3 * U * U : 0); /* (B*T, F) dropped inputs, for dW */
    R *dxd = xd + (need_xd ? B * T * F : 0); /* (B*T, F) grad of the dropped inputs */
    const R *hs = st->hs, *G = dhr, *P = st->pre, *RHs = st->rh;
    /* mixed_bfloat16 on an AVX512-BF16 CPU: R^T and W^T packed once (PRT,
     * PWT), the gradient operands packed into PD / A2 as they come. */
    const bool lp16 = st->prec == RNNC_PREC_BF16;
    /* with the default activations, TensorFlow's bfloat16 backward op by op */
    const bool lp_ops = lp16 && st->mode_r == ACT_SIGMOID && st->mode_h == ACT_TANH;
    uint32_t *PRT = NULL, *PWT = NULL, *PD = NULL, *A2 = NULL;
    R *ctmp = NULL;
#if FUSED_VEC && RNNC__FUSED_WIDE
    if (lp16 && rnnc__bf16_gemm_ok()) {
        const int64_t BT = B * T, kp3 = (3 * U + 1) / 2, kpBT = (BT + 1) / 2;
        int64_t na2 = B * kp3;
        na2 = na2 > F * kpBT ? na2 : F * kpBT;
        na2 = na2 > BT * kp3 ? na2 : BT * kp3;
        na2 = na2 > U * kpBT ? na2 : U * kpBT;
        int64_t nc = BU > F * 3 * U ? BU : F * 3 * U;
        nc = nc > BT * F ? nc : BT * F;
        nc = nc > U * 3 * U ? nc : U * 3 * U;
        PRT = ws_alloc((size_t)(kp3 * U + kp3 * F + kpBT * 3 * U + na2) * sizeof(uint32_t));
        ctmp = ws_alloc((size_t)nc * sizeof(R));
        if (!PRT || !ctmp) {
            ws_free(PRT);
            ws_free(ctmp);
            PRT = NULL;
            ctmp = NULL;
        } else {
            PWT = PRT + kp3 * U;
            PD = PWT + kp3 * F;
            A2 = PD + kpBT * 3 * U;
            rnnc__bf16_pack_bt(3 * U, U, Rk, 3 * U, PRT, U);
            rnnc__bf16_pack_bt(3 * U, F, W, 3 * U, PWT, F);
        }
    }
#endif
    (void)PWT, (void)PD;
    R *lpt = NULL, *lpw = NULL; /* bfloat16 scratch: (B, U) and max(F, U) x 3U */
    if (lp_ops) {
        lpt = ws_alloc((size_t)(BU + (F > U ? F : U) * 3 * U) * sizeof(R));
        if (!lpt) {
            ws_free(tmp);
            ws_free(PRT);
            ws_free(ctmp);
            return rnnc_fail(RNNC_E_NOMEM, "GRU fused backward: out of memory for the workspace (B=%lld, T=%lld, F=%lld, U=%lld)",
                             (long long)B, (long long)T, (long long)F, (long long)U);
        }
        lpw = lpt + BU;
    }

    for (int64_t i = 0; i < BU; i++) {
        dh[i] = dhT ? dhT[i] : (R)0;
        dy[i] = (R)0;
    }
    for (int64_t u = 0; u < U; u++)
        zeros[u] = (R)0;
    if (small) /* in 32 x 32 tiles */
        for (int64_t i0 = 0; i0 < U; i0 += 32)
            for (int64_t j0 = 0; j0 < 3 * U; j0 += 32)
                for (int64_t i = i0; i < i0 + 32 && i < U; i++)
                    for (int64_t j = j0; j < j0 + 32 && j < 3 * U; j++)
                        RT[j * U + i] = Rk[i * 3 * U + j];
    for (int64_t k = T - 1; k >= 0; k--) {
        const int64_t t = st->go_backwards ? T - 1 - k : k;
        const R *hp = hs + k * BU, *Gk = G + k * B * 3 * U, *RHk = RHs + k * BU;
        const R *Pk = P ? P + k * B * 3 * U : NULL;
        R *dHR = dhr + k * B * 3 * U;
        if (lp_ops) {
            SFX(lp_back_step)(st, PRT, A2, ctmp, small ? RT : NULL, Rk, k, t, hp, Gk, RHk, dY,
                              dlast, dy, dh, dhp, dhn, drh, lpt, dxw, dHR, zeros);
            R *sw = dh;
            dh = dhp;
            dhp = sw;
            continue;
        }
        SFX(back_step_any)(st, k, t, hp, Gk, Pk, RHk, dY, dlast, dy, dh, dhp, dhn, dxw, dHR, zeros);
        if (st->reset_after) {
            /* dh_prev += [dpz, dpr, dph r] @ R^T */
            if (lp16)
                SFX(lp_round_rows)(st, dHR, B, 3 * U, 3 * U);
            if (PRT)
                SFX(bf_prod)(false, B, U, 3 * U, dHR, 3 * U, PRT, U, A2, ctmp, true, dhp, U);
            else if (small)
                SFX(ab_gemm)(true, false, B, U, 3 * U, dHR, 3 * U, RT, U, true, dhp, U);
            else
                SFX(gemm)(false, true, B, U, 3 * U, dHR, 3 * U, Rk, 3 * U, (R)1, dhp, U);
        } else {
            /* d(r h_prev) = dph @ R_h^T, then dr, then dh_prev. */
            if (lp16)
                SFX(lp_round_rows)(st, dHR + 2 * U, B, U, 3 * U);
            if (PRT)
                SFX(bf_prod)(false, B, U, U, dHR + 2 * U, 3 * U, PRT + U * U, U, A2, ctmp, false,
                             drh, U);
            else if (small)
                SFX(ab_gemm)(true, false, B, U, U, dHR + 2 * U, 3 * U, RT + 2 * U * U, U, false,
                             drh, U);
            else
                SFX(gemm)(false, true, B, U, U, dHR + 2 * U, 3 * U, Rk + 2 * U, 3 * U, (R)0, drh,
                          U);
            if (lp16) /* Keras: the product's result is bfloat16 */
                SFX(lp_round_rows)(st, drh, B, U, U);
            SFX(back_rb2)(st, t, hp, Gk, Pk, drh, dhn, dxw, dHR, dhp);
            if (lp16)
                SFX(lp_round_rows)(st, dHR, B, 2 * U, 3 * U);
            if (PRT)
                SFX(bf_prod)(false, B, U, 2 * U, dHR, 3 * U, PRT, U, A2, ctmp, true, dhp, U);
            else if (small)
                SFX(ab_gemm)(true, false, B, U, 2 * U, dHR, 3 * U, RT, U, true, dhp, U);
            else
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
        if (lp16)
            SFX(lp_round_rows)(st, xd, B * T, F, F);
        xin = xd;
    }
    if (lp16)
        SFX(lp_round_rows)(st, dxw, B * T, 3 * U, 3 * U);
    if (lp_ops && (dW || dR || db)) {
        SFX(lp_weight_grads)(st, PRT ? PD : NULL, A2, xin, dxw, hs, RHs, dhr, lpw, dW, dR, db);
        dW = NULL;
        dR = NULL;
        db = NULL;
    }
#if FUSED_VEC && RNNC__FUSED_WIDE
    if (PRT && (dW || dX)) {
        if (dW) {
            rnnc__bf16_pack_b(B * T, 3 * U, dxw, 3 * U, PD, 3 * U);
            SFX(bf_prod)(true, F, 3 * U, B * T, xin, F, PD, 3 * U, A2, ctmp, true, dW, 3 * U);
        }
        if (dX && drop) {
            const R *M = st->drop;
            SFX(bf_prod)(false, B * T, F, 3 * U, dxw, 3 * U, PWT, F, A2, ctmp, false, dxd, F);
            for (int64_t i = 0; i < B * T * F; i++)
                dX[i] += dxd[i] * M[(i / (T * F)) * F + i % F];
        } else if (dX) {
            SFX(bf_prod)(false, B * T, F, 3 * U, dxw, 3 * U, PWT, F, A2, ctmp, true, dX, F);
        }
        dW = NULL;
        dX = NULL;
    }
    if (PRT && dR) {
        rnnc__bf16_pack_b(T * B, 3 * U, dhr, 3 * U, PD, 3 * U);
        if (st->reset_after) {
            SFX(bf_prod)(true, U, 3 * U, T * B, hs, U, PD, 3 * U, A2, ctmp, true, dR, 3 * U);
        } else {
            SFX(bf_prod)(true, U, 2 * U, T * B, hs, U, PD, 3 * U, A2, ctmp, true, dR, 3 * U);
            SFX(bf_prod)(true, U, U, T * B, RHs, U, PD + 2 * U, 3 * U, A2, ctmp, true, dR + 2 * U,
                         3 * U);
        }
        dR = NULL;
    }
#endif
    const bool whole = SFX(small_whole)(true);
    if (dW) /* dW += (X ⊙ M)^T @ dxw over all steps at once */
        SFX(ab_gemm)(whole, true, F, 3 * U, B * T, xin, F, dxw, 3 * U, true, dW, 3 * U);
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
            SFX(ab_gemm)(whole, true, U, 3 * U, T * B, hs, U, dhr, 3 * U, true, dR, 3 * U);
        } else {
            SFX(ab_gemm)(whole, true, U, 2 * U, T * B, hs, U, dhr, 3 * U, true, dR, 3 * U);
            SFX(ab_gemm)(whole, true, U, U, T * B, RHs, U, dhr + 2 * U, 3 * U, true, dR + 2 * U,
                         3 * U);
        }
    }
    if (db) {
        /* column sums: db += dxw^T 1 (and dhr^T 1 for the recurrent row) */
        R *ones = dxd + (need_dxd ? B * T * F : 0); /* (B*T) */
        for (int64_t i = 0; i < B * T; i++)
            ones[i] = (R)1;
        SFX(gemm)(true, false, 1, 3 * U, B * T, ones, 1, dxw, 3 * U, (R)1, db, 3 * U);
        if (st->reset_after)
            SFX(gemm)(true, false, 1, 3 * U, T * B, ones, 1, dhr, 3 * U, (R)1, db + 3 * U, 3 * U);
    }
    ws_free(tmp);
    ws_free(PRT);
    ws_free(ctmp);
    ws_free(lpt);
    return RNNC_OK;
}
