/* precision.c - dtype policy names, bfloat16 / binary16 rounding and the
 * rounding op (see precision.h and docs/mixed-precision.md). */
#include "framework/precision.h"

#include <stdint.h>
#include <string.h>

#include "framework/ops_internal.h"

static const struct {
    const char *name;
    rnnc_dtype_policy policy;
} policy_names[] = {
    {"float32", RNNC_POLICY_PLAIN},
    {"float64", RNNC_POLICY_PLAIN},
    {"mixed_bfloat16", RNNC_POLICY_MIXED_BF16},
    {"mixed_float16", RNNC_POLICY_MIXED_F16},
    {"bfloat16", RNNC_POLICY_BF16},
    {"float16", RNNC_POLICY_F16},
};

bool rnnc_dtype_policy_from_name(const char *name, rnnc_dtype_policy *out)
{
    for (size_t i = 0; name && i < sizeof policy_names / sizeof policy_names[0]; i++)
        if (strcmp(name, policy_names[i].name) == 0) {
            *out = policy_names[i].policy;
            return true;
        }
    return false;
}

const char *rnnc_dtype_policy_name(rnnc_dtype_policy p)
{
    for (size_t i = 2; i < sizeof policy_names / sizeof policy_names[0]; i++)
        if (policy_names[i].policy == p)
            return policy_names[i].name;
    return NULL;
}

rnnc_precision rnnc_dtype_policy_precision(rnnc_dtype_policy p)
{
    switch (p) {
    case RNNC_POLICY_MIXED_BF16:
    case RNNC_POLICY_BF16:
        return RNNC_PREC_BF16;
    case RNNC_POLICY_MIXED_F16:
    case RNNC_POLICY_F16:
        return RNNC_PREC_F16;
    default:
        return RNNC_PREC_NONE;
    }
}

const char *rnnc_precision_name(rnnc_precision p)
{
    return p == RNNC_PREC_BF16 ? "bfloat16" : p == RNNC_PREC_F16 ? "float16" : "float32";
}

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

float rnnc_round_f16(float x)
{
    const uint32_t u = bits_of(x);
    const uint32_t sign = u & 0x80000000u, a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or NaN */
        return x;
    const float ax = float_of(a);
    if (ax >= 65520.0f) /* at or past halfway to 2^16: overflows binary16 */
        return float_of(sign | 0x7f800000u);
    float r;
    if (ax < 6.103515625e-05f) {
        /* Subnormal binary16: multiples of 2^-24. Scaled so the quantum is
         * 1 (q < 2^10), adding 2^23 rounds q to an integer, ties to even. */
        const float q = ax * 16777216.0f; /* exact: a power-of-two scale */
        r = ((q + 8388608.0f) - 8388608.0f) * 5.9604644775390625e-08f;
    } else {
        /* Normal: keep 11 significant bits (drop 13), ties to even. */
        uint32_t v = a + 0xfffu + ((a >> 13) & 1u);
        r = float_of(v & 0xffffe000u);
    }
    return float_of(bits_of(r) | sign);
}

void rnnc_round_prec_array(rnnc_precision p, float *x, size_t n)
{
    if (p == RNNC_PREC_BF16)
        for (size_t i = 0; i < n; i++)
            x[i] = rnnc_round_bf16(x[i]);
    else if (p == RNNC_PREC_F16)
        for (size_t i = 0; i < n; i++)
            x[i] = rnnc_round_f16(x[i]);
}

/* The cast's gradient: dx += dy, rounded to bfloat16 with rnd. */
static rnnc_status round_backward_with(rnnc_node *n, bool rnd)
{
    rnnc_tensor *x = n->in[0], *y = n->out[0];
    if (!y->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    float *dx = x->grad;
    const float *dy = y->grad;
    for (size_t i = 0; i < x->numel; i++)
        dx[i] += rnd ? rnnc_round_bf16(dy[i]) : dy[i];
    return RNNC_OK;
}

static rnnc_status round_backward_bf16(rnnc_node *n) { return round_backward_with(n, true); }
static rnnc_status round_backward_id(rnnc_node *n) { return round_backward_with(n, false); }

static rnnc_status round_op(rnnc_ctx *cx, rnnc_tensor *x, rnnc_precision p, bool round_grad,
                            rnnc_tensor **y)
{
    RNNC_TRY(rnnc__check_nonnull("round", "cx", cx));
    RNNC_TRY(rnnc__check_nonnull("round", "y", y));
    RNNC_TRY(rnnc__check_nonnull("round", "x", x));
    *y = x;
    if (p == RNNC_PREC_NONE || x->dtype != RNNC_F32)
        return RNNC_OK;
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_F32, &x->shape, &out));
    memcpy(out->data, x->data, x->numel * sizeof(float));
    rnnc_round_prec_array(p, out->data, x->numel);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, p == RNNC_PREC_BF16 ? "cast_bf16" : "cast_f16",
                             p == RNNC_PREC_BF16 && round_grad ? round_backward_bf16
                                                               : round_backward_id,
                             1, &x,
                             1, &out, &node));
    *y = out;
    return RNNC_OK;
}

rnnc_status rnnc_round_op(rnnc_ctx *cx, rnnc_tensor *x, rnnc_precision p, rnnc_tensor **y)
{
    return round_op(cx, x, p, true, y);
}

rnnc_status rnnc_round_op_exact_grad(rnnc_ctx *cx, rnnc_tensor *x, rnnc_precision p,
                                     rnnc_tensor **y)
{
    return round_op(cx, x, p, false, y);
}
