/* gru_fused_rows.h - float32 row kernels of the fused GRU for the default
 * activation pair (recurrent sigmoid, candidate tanh), on GCC/Clang vector
 * types. Private to gru_fused.c, which includes it once per width:
 *   V, VI   the float / int32 vector types (1, 4, then 8 and 16 lanes on x86)
 *   VW      lanes per vector
 *   VN(n)   n##_v1 | n##_v4 | n##_v8 | n##_v16
 *   VATTR   function attributes: empty, or target("avx2") / target("avx512f")
 *           for the wide copies, which gru_fused.c calls only when the CPU
 *           has them
 * Each kernel works on one batch row, from unit u while a whole vector
 * fits, and returns where it stopped. The row_* drivers at the end run the
 * widest copy over the bulk of a row and the narrower ones over its tail.
 * Every copy does the same IEEE operations in the same order (no FMA: the
 * build is ISO C, where GCC does not contract a * b + c), so every unit
 * gets bit-identical results whichever copy computed it, on any CPU.
 *
 * Math as the scalar template (gru_fused_impl.h); sigmoid and tanh from an
 * expm1 with ~2 ulp error (see vexpm1 below). */

/* Unsigned lanes for exponent-bit arithmetic that may wrap. */
typedef uint32_t VN(u32) __attribute__((vector_size(sizeof(V))));

static inline VATTR V VN(ld)(const float *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline VATTR void VN(st)(float *p, V v) { memcpy(p, &v, sizeof v); }

/* min(max(y, lo), hi) as selects (no branches, no libm). */
static inline VATTR V VN(clamp)(V y, float lo, float hi)
{
    const V vlo = (V){0} + lo, vhi = (V){0} + hi;
    VI m = y > vhi;
    y = (V)(((VI)vhi & m) | ((VI)y & ~m));
    m = y < vlo;
    return (V)(((VI)vlo & m) | ((VI)y & ~m));
}

/* expm1(y): y = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is
 * exact), expm1(r) = r + r^2 (1/2 + r/6 + ... + r^5/5040) (truncation below
 * 6e-9 relative), expm1(y) = 2^n expm1(r) + (2^n - 1) with 2^n from its
 * exponent bits. No cancellation near 0 (n = 0), about 2 ulp elsewhere; y
 * is clamped to [-87, 88] where 2^n is a normal float (+-inf clamp to the
 * ends; NaN passes the clamp and comes out NaN). */
static inline VATTR V VN(exp_parts)(V y, V *s2n)
{
    y = VN(clamp)(y, -87.0f, 88.0f);
    /* y / ln2 rounded to nearest: adding 1.5 * 2^23 leaves the integer in
     * the low mantissa bits (default rounding mode). */
    const V mf = y * 1.44269504088896341f + 12582912.0f;
    const V n = mf - 12582912.0f;
    const V r = (y - n * 0.693359375f) + n * 2.12194440e-4f;
    V q = (V){0} + 1.0f / 5040.0f;
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    const V p = r + r * r * q;
    /* 2^n: the bits of mf are n + 0x4B400000, so the biased exponent n + 127
     * is in [1, 254]. A NaN y (the clamp keeps NaN) gives other bits: the
     * math is unsigned, so they wrap instead of overflowing (no UB, the same
     * instructions), and p is NaN anyway, so the result stays NaN. */
    *s2n = (V)(((VN(u32))mf - (0x4B400000u - 127u)) << 23);
    return p;
}

static inline VATTR V VN(expm1)(V y)
{
    V s;
    const V p = VN(exp_parts)(y, &s);
    return s * p + (s - 1.0f);
}

/* 1 / (1 + e^-x) = 1 / (2 + expm1(-x)) */
static inline VATTR V VN(sigmoid)(V x) { return 1.0f / (2.0f + VN(expm1)(-x)); }

/* tanh |x| = -expm1(-2|x|) / (2 + expm1(-2|x|)), sign of x put back. */
static inline VATTR V VN(tanh)(V x)
{
    const VI sign = (VI)x & INT32_MIN;
    const V a = (V)((VI)x & 0x7fffffff);
    const V m = VN(expm1)(-2.0f * a);
    const V t = -m / (2.0f + m);
    return (V)((VI)t | sign);
}

/* Forward, reset_after=True: x = xw row (3U), h = h_prev R row (3U), bx/bhr
 * the folded biases; writes g = [z, r, h~], rh, hn. */
static inline VATTR int64_t VN(fwd_ra)(int64_t U, int64_t u, const float *x, const float *h, const float *bx,
                          const float *bhr, const float *hp, float *g, float *rh, float *hn)
{
    for (; u + VW <= U; u += VW) {
        const V pz = VN(ld)(x + u) + VN(ld)(h + u) + VN(ld)(bx + u);
        const V pr = VN(ld)(x + U + u) + VN(ld)(h + U + u) + VN(ld)(bx + U + u);
        const V z = VN(sigmoid)(pz), r = VN(sigmoid)(pr);
        const V rhv = VN(ld)(h + 2 * U + u) + VN(ld)(bhr + u);
        const V ph = VN(ld)(x + 2 * U + u) + VN(ld)(bx + 2 * U + u) + r * rhv;
        const V hh = VN(tanh)(ph);
        VN(st)(g + u, z);
        VN(st)(g + U + u, r);
        VN(st)(g + 2 * U + u, hh);
        VN(st)(rh + u, rhv);
        VN(st)(hn + u, hh + z * (VN(ld)(hp + u) - hh));
    }
    return u;
}

/* Forward, reset_after=False, first half: h = h_prev R[:, :2U] row (2U). */
static inline VATTR int64_t VN(fwd_rb1)(int64_t U, int64_t u, const float *x, const float *h, const float *bx,
                           const float *hp, float *g, float *rh)
{
    for (; u + VW <= U; u += VW) {
        const V pz = VN(ld)(x + u) + VN(ld)(h + u) + VN(ld)(bx + u);
        const V pr = VN(ld)(x + U + u) + VN(ld)(h + U + u) + VN(ld)(bx + U + u);
        const V z = VN(sigmoid)(pz), r = VN(sigmoid)(pr);
        VN(st)(g + u, z);
        VN(st)(g + U + u, r);
        VN(st)(rh + u, r * VN(ld)(hp + u));
    }
    return u;
}

/* Forward, reset_after=False, second half: xh, bxh the candidate blocks,
 * q = (r h_prev) R_h row (U). */
static inline VATTR int64_t VN(fwd_rb2)(int64_t U, int64_t u, const float *xh, const float *q,
                           const float *bxh, const float *hp, float *g, float *hn)
{
    for (; u + VW <= U; u += VW) {
        const V ph = VN(ld)(xh + u) + VN(ld)(bxh + u) + VN(ld)(q + u);
        const V hh = VN(tanh)(ph);
        const V z = VN(ld)(g + u);
        VN(st)(g + 2 * U + u, hh);
        VN(st)(hn + u, hh + z * (VN(ld)(hp + u) - hh));
    }
    return u;
}

/* ---- mixed_bfloat16 rows (framework/precision.h): every op's result
 * rounded to bfloat16 in Keras's GRUCell order, as the scalar lp_step_* of
 * gru_fused_impl.h, with this file's exp and tanh (about 2 float32 ulps)
 * instead of libm's: a result within 2 float32 ulps of a bfloat16 rounding
 * midpoint (about 1 in 10^4) may round the other way than TensorFlow's. */

/* x rounded to bfloat16, ties to even; NaN stays a quiet NaN. */
static inline VATTR V VN(rbf)(V x)
{
    const VN(u32) u = (VN(u32))x;
    const VN(u32) r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    const VN(u32) nan = (VN(u32))((VI)(u & 0x7fffffffu) > 0x7f800000);
    return (V)((nan & ((u | 0x00400000u) & 0xffff0000u)) | (~nan & r));
}

/* TensorFlow's bfloat16 sigmoid before its last rounding: e / rd(1 + e),
 * e = rd(exp(x)). */
static inline VATTR V VN(lp_sigmoid)(V x)
{
    V s;
    const V p = VN(exp_parts)(x, &s);
    const V e = VN(rbf)(s * p + s);
    return e / VN(rbf)(1.0f + e);
}

/* h' = rd(rd(z h) + rd(rd(1 - z) h~)) */
static inline VATTR V VN(lp_mix)(V z, V hp, V hh)
{
    return VN(rbf)(VN(rbf)(z * hp) + VN(rbf)(VN(rbf)(1.0f - z) * hh));
}

/* The input projection's rounding: x = rd(rd(x) + b) over n values. */
static inline VATTR int64_t VN(lp_proj)(int64_t n, int64_t u, float *x, const float *b)
{
    for (; u + VW <= n; u += VW)
        VN(st)(x + u, VN(rbf)(VN(rbf)(VN(ld)(x + u)) + VN(ld)(b + u)));
    return u;
}

/* A step's weight gradient added in float32, rounded: c += rd(p), n values. */
static inline VATTR int64_t VN(lp_acc)(int64_t n, int64_t u, float *c, const float *p)
{
    for (; u + VW <= n; u += VW)
        VN(st)(c + u, VN(ld)(c + u) + VN(rbf)(VN(ld)(p + u)));
    return u;
}

/* reset_after=True: x = the row's rounded input projection (3U), h = its
 * h_prev R product (3U, rounded here with the recurrent bias br); writes
 * g = [z, r, h~], rh = the rounded inner h part, hn. */
static inline VATTR int64_t VN(lp_ra)(int64_t U, int64_t u, const float *x, const float *h,
                                      const float *br, const float *hp, float *g, float *rh,
                                      float *hn)
{
    for (; u + VW <= U; u += VW) {
        const V iz = VN(rbf)(VN(rbf)(VN(ld)(h + u)) + VN(ld)(br + u));
        const V ir = VN(rbf)(VN(rbf)(VN(ld)(h + U + u)) + VN(ld)(br + U + u));
        const V ih = VN(rbf)(VN(rbf)(VN(ld)(h + 2 * U + u)) + VN(ld)(br + 2 * U + u));
        const V z = VN(rbf)(VN(lp_sigmoid)(VN(rbf)(VN(ld)(x + u) + iz)));
        const V r = VN(rbf)(VN(lp_sigmoid)(VN(rbf)(VN(ld)(x + U + u) + ir)));
        const V hh = VN(rbf)(VN(tanh)(VN(rbf)(VN(ld)(x + 2 * U + u) + VN(rbf)(r * ih))));
        VN(st)(g + u, z);
        VN(st)(g + U + u, r);
        VN(st)(g + 2 * U + u, hh);
        VN(st)(rh + u, ih);
        VN(st)(hn + u, VN(lp_mix)(z, VN(ld)(hp + u), hh));
    }
    return u;
}

/* reset_after=False, first half: h = h_prev R[:, :2U] (2U); rh = rd(r h_prev). */
static inline VATTR int64_t VN(lp_rb1)(int64_t U, int64_t u, const float *x, const float *h,
                                       const float *hp, float *g, float *rh)
{
    for (; u + VW <= U; u += VW) {
        const V z = VN(rbf)(VN(lp_sigmoid)(VN(rbf)(VN(ld)(x + u) + VN(rbf)(VN(ld)(h + u)))));
        const V r =
            VN(rbf)(VN(lp_sigmoid)(VN(rbf)(VN(ld)(x + U + u) + VN(rbf)(VN(ld)(h + U + u)))));
        VN(st)(g + u, z);
        VN(st)(g + U + u, r);
        VN(st)(rh + u, VN(rbf)(r * VN(ld)(hp + u)));
    }
    return u;
}

/* reset_after=False, second half: xh the candidate block, q = rh R_h (U). */
static inline VATTR int64_t VN(lp_rb2)(int64_t U, int64_t u, const float *xh, const float *q,
                                       const float *hp, float *g, float *hn)
{
    for (; u + VW <= U; u += VW) {
        const V hh = VN(rbf)(VN(tanh)(VN(rbf)(VN(ld)(xh + u) + VN(rbf)(VN(ld)(q + u)))));
        VN(st)(g + 2 * U + u, hh);
        VN(st)(hn + u, VN(lp_mix)(VN(ld)(g + u), VN(ld)(hp + u), hh));
    }
    return u;
}

/* bfloat16 backward of a kept row, op by op (lp_back_step in
 * gru_fused_impl.h, which this computes with the same operations): dYk
 * and dl are never NULL (a zero row stands in); dq may be g. */
static inline VATTR int64_t VN(lp_back)(int64_t U, int64_t u, bool reset_after, const float *g,
                                        const float *ih, const float *hp, const float *dYk,
                                        const float *dl, float *dy, const float *dh, float *dx,
                                        float *dq, float *dhp, float *dhn)
{
    for (; u + VW <= U; u += VW) {
        const V dn = VN(rbf)(VN(ld)(dy + u) + VN(ld)(dh + u) + VN(ld)(dYk + u) + VN(ld)(dl + u));
        VN(st)(dy + u, (V){0});
        const V z = VN(ld)(g + u), r = VN(ld)(g + U + u), hh = VN(ld)(g + 2 * U + u);
        const V dz = VN(rbf)(VN(rbf)(dn * VN(ld)(hp + u)) - VN(rbf)(dn * hh));
        const V dph = VN(rbf)(VN(rbf)(dn * VN(rbf)(1.0f - z)) * VN(rbf)(1.0f - VN(rbf)(hh * hh)));
        const V dpz = VN(rbf)(dz * VN(rbf)(z * VN(rbf)(1.0f - z)));
        VN(st)(dx + u, dpz);
        VN(st)(dx + 2 * U + u, dph);
        VN(st)(dq + u, dpz);
        if (reset_after) {
            const V dpr =
                VN(rbf)(VN(rbf)(dph * VN(ld)(ih + u)) * VN(rbf)(r * VN(rbf)(1.0f - r)));
            VN(st)(dx + U + u, dpr);
            VN(st)(dq + U + u, dpr);
            VN(st)(dq + 2 * U + u, VN(rbf)(dph * r));
            VN(st)(dhp + u, VN(rbf)(dn * z));
        } else {
            VN(st)(dq + 2 * U + u, dph);
            VN(st)(dhn + u, VN(rbf)(dn * z));
        }
    }
    return u;
}

/* Backward of a kept row (see back_row in gru_fused_impl.h): dYk and dl
 * are never NULL here (a zero row stands in). reset_after=True writes dhp;
 * reset_after=False writes dhn (= dn z) and leaves the r parts to back_rb2.
 * dq may be g itself (backward overwrites the spent gates in place): each
 * unit's gates are loaded before its dq is stored. */
static inline VATTR int64_t VN(back_keep)(int64_t U, int64_t u, bool reset_after, const float *g,
                             const float *rh, const float *hp, const float *dYk, const float *dl,
                             float *dy, const float *dh, float *dx, float *dq, float *dhp,
                             float *dhn)
{
    for (; u + VW <= U; u += VW) {
        const V dn = VN(ld)(dy + u) + VN(ld)(dh + u) + VN(ld)(dYk + u) + VN(ld)(dl + u);
        VN(st)(dy + u, (V){0});
        const V z = VN(ld)(g + u), r = VN(ld)(g + U + u), hh = VN(ld)(g + 2 * U + u);
        const V dz = dn * (VN(ld)(hp + u) - hh);
        const V dph = dn * (1.0f - z) * (1.0f - hh * hh);
        const V dpz = dz * (z * (1.0f - z));
        VN(st)(dx + u, dpz);
        VN(st)(dx + 2 * U + u, dph);
        VN(st)(dq + u, dpz);
        if (reset_after) {
            const V dpr = dph * VN(ld)(rh + u) * (r * (1.0f - r));
            VN(st)(dx + U + u, dpr);
            VN(st)(dq + U + u, dpr);
            VN(st)(dq + 2 * U + u, dph * r);
            VN(st)(dhp + u, dn * z);
        } else {
            VN(st)(dq + 2 * U + u, dph);
            VN(st)(dhn + u, dn * z);
        }
    }
    return u;
}

/* reset_after=False, after q = d(r h_prev): dr, and dh_prev's direct part
 * (dnz = dn z from back_keep). dq may be g: r is loaded before dq's r part
 * is stored. */
static inline VATTR int64_t VN(back_rb2)(int64_t U, int64_t u, const float *g, const float *hp,
                                         const float *q, const float *dnz, float *dx, float *dq,
                                         float *dhp)
{
    for (; u + VW <= U; u += VW) {
        const V r = VN(ld)(g + U + u), qv = VN(ld)(q + u);
        const V dpr = qv * VN(ld)(hp + u) * (r * (1.0f - r));
        VN(st)(dx + U + u, dpr);
        VN(st)(dq + U + u, dpr);
        VN(st)(dhp + u, VN(ld)(dnz + u) + qv * r);
    }
    return u;
}

/* Whole-row drivers: this width over the bulk, the narrower ones over the
 * tail (the 1-lane copy is included first, then 4, 8, 16). */
#if VW > 4
#define VTAIL4(call) u = call
#else
#define VTAIL4(call) (void)0
#endif
#if VW > 1
#define VTAIL1(call) u = call

/* VROW(name, (parameters), n, arguments...): the driver row_name of the
 * kernel `name` over a row of n units, the kernels taking (n, u,
 * arguments...). */
#define VROW(name, params, n, ...)                                                              \
    static VATTR void VN(row_##name) params                                                     \
    {                                                                                           \
        int64_t u = VN(name)(n, 0, __VA_ARGS__);                                                \
        VTAIL4(name##_v4(n, u, __VA_ARGS__));                                                   \
        VTAIL1(name##_v1(n, u, __VA_ARGS__));                                                   \
    }

VROW(fwd_ra,
     (int64_t U, const float *x, const float *h, const float *bx, const float *bhr, const float *hp,
      float *g, float *rh, float *hn),
     U, x, h, bx, bhr, hp, g, rh, hn)
VROW(fwd_rb1,
     (int64_t U, const float *x, const float *h, const float *bx, const float *hp, float *g,
      float *rh),
     U, x, h, bx, hp, g, rh)
VROW(fwd_rb2,
     (int64_t U, const float *xh, const float *q, const float *bxh, const float *hp, float *g,
      float *hn),
     U, xh, q, bxh, hp, g, hn)
VROW(lp_proj, (int64_t n, float *x, const float *b), n, x, b)
VROW(lp_acc, (int64_t n, float *c, const float *p), n, c, p)
VROW(lp_ra,
     (int64_t U, const float *x, const float *h, const float *br, const float *hp, float *g,
      float *rh, float *hn),
     U, x, h, br, hp, g, rh, hn)
VROW(lp_rb1, (int64_t U, const float *x, const float *h, const float *hp, float *g, float *rh), U,
     x, h, hp, g, rh)
VROW(lp_rb2, (int64_t U, const float *xh, const float *q, const float *hp, float *g, float *hn), U,
     xh, q, hp, g, hn)
VROW(lp_back,
     (int64_t U, bool reset_after, const float *g, const float *ih, const float *hp,
      const float *dYk, const float *dl, float *dy, const float *dh, float *dx, float *dq,
      float *dhp, float *dhn),
     U, reset_after, g, ih, hp, dYk, dl, dy, dh, dx, dq, dhp, dhn)
VROW(back_keep,
     (int64_t U, bool reset_after, const float *g, const float *rh, const float *hp,
      const float *dYk, const float *dl, float *dy, const float *dh, float *dx, float *dq,
      float *dhp, float *dhn),
     U, reset_after, g, rh, hp, dYk, dl, dy, dh, dx, dq, dhp, dhn)
VROW(back_rb2,
     (int64_t U, const float *g, const float *hp, const float *q, const float *dnz, float *dx,
      float *dq, float *dhp),
     U, g, hp, q, dnz, dx, dq, dhp)
#undef VROW
#endif
#undef VTAIL4
#undef VTAIL1
