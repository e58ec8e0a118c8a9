/* vec_act_rows.h - float32 sigmoid / tanh over a row, on GCC/Clang vector
 * types, for the fused LSTM kernel (lstm_fused.c includes it once per
 * width with V, VI (float / int32 vectors), VW (lanes), VN(n) (name
 * suffix) and VATTR (target attributes of the wide copies)).
 *
 * Same expm1-based formulas as the GRU's row kernels (gru_fused_rows.h):
 * expm1 from a degree-7 polynomial after range reduction, ~2 ulp; sigmoid
 * = 1 / (2 + expm1(-x)), tanh|x| = -m / (2 + m) with m = expm1(-2|x|). */

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

/* out[0..n) = sigmoid or tanh of in[0..n) while whole vectors fit;
 * returns how many were done (the caller finishes the tail). */
static VATTR int64_t VN(act_row)(bool is_tanh, const float *in, float *out, int64_t n)
{
    int64_t u = 0;
    if (is_tanh) {
        for (; u + VW <= n; u += VW) {
            const V x = VN(ld)(in + u);
            const VI sign = (VI)x & INT32_MIN;
            const V a = (V)((VI)x & 0x7fffffff);
            const V m = VN(expm1)(-2.0f * a);
            VN(st)(out + u, (V)((VI)(-m / (2.0f + m)) | sign));
        }
    } else {
        for (; u + VW <= n; u += VW)
            VN(st)(out + u, 1.0f / (2.0f + VN(expm1)(-VN(ld)(in + u))));
    }
    return u;
}
