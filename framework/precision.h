/* precision.h - Keras's lower-precision dtype policies on the CPU
 * (mixed_bfloat16, mixed_float16, bfloat16, float16; docs/mixed-precision.md).
 *
 * rnnc has no 16-bit tensor dtype. A layer under one of these policies keeps
 * its variables as float32 tensors and emulates the 16-bit compute dtype:
 * values Keras would hold in bfloat16 (or binary16) are float32 values
 * rounded to that format (round to nearest, ties to even), at the points
 * listed in docs/mixed-precision.md. Rounding is an autograd op whose
 * gradient is the cast's: the identity, the gradient itself rounded to
 * bfloat16 (what TensorFlow's Cast gradient gives: the bfloat16 gradient
 * cast to float32). Under the float16 policies gradients are not rounded
 * (rnnc does not scale the loss; see the doc). */
#ifndef RNNC_PRECISION_H
#define RNNC_PRECISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "framework/autograd.h"
#include "framework/tensor.h"

/* The compute format emulated by rounding. */
typedef enum rnnc_precision {
    RNNC_PREC_NONE = 0, /* the tensor dtype itself (float32 / float64) */
    RNNC_PREC_BF16,     /* bfloat16: 8 significant bits, float32's range */
    RNNC_PREC_F16,      /* IEEE binary16: 11 significant bits, max 65504 */
} rnnc_precision;

/* A layer's dtype policy, as Keras names it. */
typedef enum rnnc_dtype_policy {
    RNNC_POLICY_PLAIN = 0,     /* "float32" / "float64": the layer's dtype */
    RNNC_POLICY_MIXED_BF16,    /* "mixed_bfloat16" */
    RNNC_POLICY_MIXED_F16,     /* "mixed_float16" */
    RNNC_POLICY_BF16,          /* "bfloat16": variables bfloat16 in Keras */
    RNNC_POLICY_F16,           /* "float16": variables float16 in Keras */
} rnnc_dtype_policy;

/* The policy for a Keras policy name (float32/float64 -> PLAIN); false for
 * names rnnc does not know. */
bool rnnc_dtype_policy_from_name(const char *name, rnnc_dtype_policy *out);
/* The Keras name of a non-plain policy ("mixed_bfloat16"); NULL for PLAIN. */
const char *rnnc_dtype_policy_name(rnnc_dtype_policy p);
/* The emulated compute format of a policy. */
rnnc_precision rnnc_dtype_policy_precision(rnnc_dtype_policy p);
/* "bfloat16" / "float16" / "float32". */
const char *rnnc_precision_name(rnnc_precision p);

/* x rounded to bfloat16 / binary16 (nearest, ties to even; NaN stays NaN,
 * binary16 overflows to +-inf and keeps its subnormals). */
static inline float rnnc_round_bf16(float x);
float rnnc_round_f16(float x);
static inline float rnnc_round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet */
        u = (u | 0x00400000u) & 0xffff0000u;
    else /* ties to even on the 16 dropped bits; a carry into the exponent
          * is the correct rounding up (to inf past the largest bfloat16) */
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline float rnnc_round_prec(rnnc_precision p, float x)
{
    return p == RNNC_PREC_BF16 ? rnnc_round_bf16(x) : p == RNNC_PREC_F16 ? rnnc_round_f16(x) : x;
}
/* In place over n floats. */
void rnnc_round_prec_array(rnnc_precision p, float *x, size_t n);

/* y = x rounded to p (x itself for RNNC_PREC_NONE or a non-float32 x);
 * the gradient passes back as the cast's: rounded to bfloat16 under BF16,
 * unchanged under F16. */
rnnc_status rnnc_round_op(rnnc_ctx *cx, rnnc_tensor *x, rnnc_precision p, rnnc_tensor **y);
/* The same with the gradient passed back unrounded: for weights whose
 * consumer rounds their gradients itself (the fused GRU: Keras casts its
 * weights at every step, so their gradient is a float32 sum of bfloat16
 * terms). */
rnnc_status rnnc_round_op_exact_grad(rnnc_ctx *cx, rnnc_tensor *x, rnnc_precision p,
                                     rnnc_tensor **y);

#endif
