/* vec_act_rows.h - float32 sigmoid / tanh over a row, on GCC/Clang vector
 * types, for the fused LSTM kernel (lstm_fused.c includes it once per
 * width with V, VI (float / int32 vectors), VW (lanes), VN(n) (name
 * suffix) and VATTR (target attributes of the wide copies), and undefines
 * them at its end, ready for the next width).
 *
 * Same expm1-based formulas as the GRU's row kernels (gru_fused_rows.h):
 * expm1 from a degree-7 polynomial after range reduction, ~2 ulp; sigmoid
 * = 1 / (2 + expm1(-x)), tanh|x| = -m / (2 + m) with m = expm1(-2|x|).
 * Every width computes each lane with the same operations, so all widths
 * (1 lane included, for a row's tail) give bit-identical results.
 *
 * Also the element-wise work of one LSTM row for the default activation
 * pair (sigmoid gates, tanh candidate and carry), forward and backward, in
 * one pass over the row. */

typedef uint32_t VN(u32) __attribute__((vector_size(sizeof(V))));

static inline VATTR V VN(ld)(const float *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline VATTR void VN(st)(float *p, V v) { memcpy(p, &v, sizeof v); }

static inline VATTR V VN(expm1)(V y)
{
    const V lo = (V){0} - 87.0f, hi = (V){0} + 88.0f;
    VI m = y > hi;
    y = (V)(((VI)hi & m) | ((VI)y & ~m));
    m = y < lo;
    y = (V)(((VI)lo & m) | ((VI)y & ~m));
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
    const V s = (V)(((VN(u32))mf - (0x4B400000u - 127u)) << 23);
    return s * p + (s - 1.0f);
}

static inline VATTR V VN(sigm)(V x) { return 1.0f / (2.0f + VN(expm1)(-x)); }

static inline VATTR V VN(tanh)(V x)
{
    const VI sign = (VI)x & INT32_MIN;
    const V a = (V)((VI)x & 0x7fffffff);
    const V m = VN(expm1)(-2.0f * a);
    return (V)((VI)(-m / (2.0f + m)) | sign);
}

/* out[0..n) = sigmoid or tanh of in[0..n) while whole vectors fit;
 * returns how many were done (the caller finishes the tail). */
static VATTR int64_t VN(act_row)(bool is_tanh, const float *in, float *out, int64_t n)
{
    int64_t u = 0;
    if (is_tanh) {
        for (; u + VW <= n; u += VW)
            VN(st)(out + u, VN(tanh)(VN(ld)(in + u)));
    } else {
        for (; u + VW <= n; u += VW)
            VN(st)(out + u, VN(sigm)(VN(ld)(in + u)));
    }
    return u;
}

/* Forward of one kept LSTM row from its pre-activations z + hr + bias
 * (4U each: i, f, g, o; the input projection, the recurrent product and
 * the bias, which may be NULL) and carry cp (U): the gates g (4U), the new
 * carry cn = f cp + i g, ca = tanh(cn) and the state h = o ca, also
 * written to y (U each); units [u0, U) while whole vectors fit, returning
 * where it stopped. */
static VATTR int64_t VN(lstm_fwd_row)(int64_t u0, int64_t U, const float *z, const float *hr,
                                      const float *bias, const float *cp, float *g, float *cn,
                                      float *ca, float *h, float *y)
{
    int64_t u = u0;
    for (; u + VW <= U; u += VW) {
        V zi = VN(ld)(z + u) + VN(ld)(hr + u), zf = VN(ld)(z + U + u) + VN(ld)(hr + U + u),
          zg = VN(ld)(z + 2 * U + u) + VN(ld)(hr + 2 * U + u),
          zo = VN(ld)(z + 3 * U + u) + VN(ld)(hr + 3 * U + u);
        if (bias) {
            zi += VN(ld)(bias + u);
            zf += VN(ld)(bias + U + u);
            zg += VN(ld)(bias + 2 * U + u);
            zo += VN(ld)(bias + 3 * U + u);
        }
        const V i = VN(sigm)(zi), f = VN(sigm)(zf), gg = VN(tanh)(zg), o = VN(sigm)(zo);
        const V c = f * VN(ld)(cp + u) + i * gg;
        const V a = VN(tanh)(c), hv = o * a;
        VN(st)(g + u, i);
        VN(st)(g + U + u, f);
        VN(st)(g + 2 * U + u, gg);
        VN(st)(g + 3 * U + u, o);
        VN(st)(cn + u, c);
        VN(st)(ca + u, a);
        VN(st)(h + u, hv);
        VN(st)(y + u, hv);
    }
    return u;
}

/* Backward of one kept LSTM row, units [u0, U) while whole vectors fit
 * (returns where it stopped): from the saved gates g (4U), ca (U) and
 * carry cp (U), the output gradient dy = cr + dyk + dl (cr: the gradient
 * carried to this output from later masked steps, zeroed here), the state
 * and carry gradients dh and dc after the step: dc becomes the carry
 * gradient before it, z (4U) the pre-activation gradients. */
static VATTR int64_t VN(lstm_back_row)(int64_t u0, int64_t U, const float *g, const float *ca,
                                       const float *cp, const float *dyk, const float *dl,
                                       float *cr, const float *dh, float *dc, float *z)
{
    int64_t u = u0;
    const V zero = (V){0}, one = zero + 1.0f;
    for (; u + VW <= U; u += VW) {
        const V dy = VN(ld)(cr + u) + VN(ld)(dyk + u) + VN(ld)(dl + u);
        VN(st)(cr + u, zero);
        const V dht = VN(ld)(dh + u) + dy;
        const V gi = VN(ld)(g + u), gf = VN(ld)(g + U + u), gg = VN(ld)(g + 2 * U + u),
                go = VN(ld)(g + 3 * U + u), a = VN(ld)(ca + u);
        const V dct = VN(ld)(dc + u) + dht * go * (one - a * a);
        const V dgo = dht * a;
        VN(st)(dc + u, dct * gf);
        VN(st)(z + u, dct * gg * (gi * (one - gi)));
        VN(st)(z + U + u, dct * VN(ld)(cp + u) * (gf * (one - gf)));
        VN(st)(z + 2 * U + u, dct * gi * (one - gg * gg));
        VN(st)(z + 3 * U + u, dgo * (go * (one - go)));
    }
    return u;
}

#undef V
#undef VI
#undef VW
#undef VN
#undef VATTR
