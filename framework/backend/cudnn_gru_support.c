/* cudnn_gru_support.c - Keras's use_cudnn conditions (spec 2.1) as pure
 * functions, and cuDNN's per-row sequence lengths from a mask.
 *
 * Order of the checks, as Keras makes them: GRU.inner_loop takes the fused
 * path only without recurrent dropout; TensorFlow's cudnn_ok then asks for
 * tanh, sigmoid, no unroll, a bias and reset_after; the mask must be
 * strictly right-padded with no fully masked row. Two conditions are ours:
 * the cuDNN path runs float32, and implementation-1 input dropout (three
 * masks, one per gate) cannot be folded into one input multiplication. */
#include "framework/backend/cuda_gru.h"

#include <stdarg.h>
#include <stdio.h>

#include "framework/backend.h"

static const char *const check_names[RNNC_CUDNN_GRU_CHECK_COUNT] = {
    [RNNC_CUDNN_GRU_OK] = "ok",
    [RNNC_CUDNN_GRU_RECURRENT_DROPOUT] = "recurrent_dropout",
    [RNNC_CUDNN_GRU_PER_GATE_DROPOUT] = "per-gate input dropout",
    [RNNC_CUDNN_GRU_ACTIVATION] = "activation",
    [RNNC_CUDNN_GRU_RECURRENT_ACTIVATION] = "recurrent_activation",
    [RNNC_CUDNN_GRU_UNROLL] = "unroll",
    [RNNC_CUDNN_GRU_NO_BIAS] = "use_bias",
    [RNNC_CUDNN_GRU_RESET_BEFORE] = "reset_after",
    [RNNC_CUDNN_GRU_DTYPE] = "dtype",
    [RNNC_CUDNN_GRU_MASK_NOT_RIGHT_PADDED] = "mask not right-padded",
    [RNNC_CUDNN_GRU_MASK_FULLY_MASKED] = "fully masked sequence",
    [RNNC_CUDNN_GRU_BAD_MASK] = "mask shape",
};

const char *rnnc_cudnn_gru_check_name(rnnc_cudnn_gru_check c)
{
    return (unsigned)c < RNNC_CUDNN_GRU_CHECK_COUNT ? check_names[c] : "unknown";
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static rnnc_cudnn_gru_check fails(rnnc_cudnn_gru_check c, char *why, size_t cap, const char *fmt,
                                  ...)
{
    if (why && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return c;
}

rnnc_cudnn_gru_check rnnc_cudnn_gru_supported(const rnnc_cudnn_gru_query *q,
                                              const rnnc_tensor *mask, char *why, size_t cap)
{
    if (why && cap)
        why[0] = '\0';
    if (q->recurrent_dropout != 0.0)
        return fails(RNNC_CUDNN_GRU_RECURRENT_DROPOUT, why, cap,
                     "recurrent_dropout is %g; cuDNN needs recurrent_dropout=0",
                     q->recurrent_dropout);
    if (q->per_gate_input_dropout)
        return fails(RNNC_CUDNN_GRU_PER_GATE_DROPOUT, why, cap,
                     "implementation=1 applies one input dropout mask per gate; cuDNN takes one "
                     "mask shared by the gates (implementation=2)");
    if (q->activation != RNNC_ACT_TANH)
        return fails(RNNC_CUDNN_GRU_ACTIVATION, why, cap,
                     "activation is '%s'; cuDNN needs activation='tanh'",
                     rnnc_act_name(q->activation));
    if (q->recurrent_activation != RNNC_ACT_SIGMOID)
        return fails(RNNC_CUDNN_GRU_RECURRENT_ACTIVATION, why, cap,
                     "recurrent_activation is '%s'; cuDNN needs recurrent_activation='sigmoid'",
                     rnnc_act_name(q->recurrent_activation));
    if (q->unroll)
        return fails(RNNC_CUDNN_GRU_UNROLL, why, cap, "unroll=True; cuDNN needs unroll=False");
    if (!q->use_bias)
        return fails(RNNC_CUDNN_GRU_NO_BIAS, why, cap, "use_bias=False; cuDNN needs use_bias=True");
    if (!q->reset_after)
        return fails(RNNC_CUDNN_GRU_RESET_BEFORE, why, cap,
                     "reset_after=False; cuDNN computes only reset_after=True");
    if (q->dtype != RNNC_F32)
        return fails(RNNC_CUDNN_GRU_DTYPE, why, cap,
                     "dtype is %s; the cuDNN kernel runs float32", rnnc_dtype_name(q->dtype));
    if (!mask)
        return RNNC_CUDNN_GRU_OK;
    if (mask->shape.ndim != 2)
        return fails(RNNC_CUDNN_GRU_BAD_MASK, why, cap, "mask has rank %d; expected (batch, timesteps)",
                     mask->shape.ndim);
    const int64_t B = mask->shape.dim[0], T = mask->shape.dim[1];
    for (int64_t b = 0; b < B; b++) {
        int64_t kept = 0;
        bool ended = false;
        for (int64_t t = 0; t < T; t++) {
            const bool keep = rnnc_tensor_get(mask, (size_t)(b * T + t)) != 0.0;
            if (keep && ended)
                return fails(RNNC_CUDNN_GRU_MASK_NOT_RIGHT_PADDED, why, cap,
                             "mask row %lld is not right-padded (step %lld is kept after a masked "
                             "step); cuDNN needs every row to be kept steps followed only by "
                             "masked ones",
                             (long long)b, (long long)t);
            if (keep)
                kept++;
            else
                ended = true;
        }
        if (kept == 0 && T > 0)
            return fails(RNNC_CUDNN_GRU_MASK_FULLY_MASKED, why, cap,
                         "mask row %lld is fully masked; cuDNN needs at least one kept step per "
                         "row",
                         (long long)b);
    }
    return RNNC_CUDNN_GRU_OK;
}

rnnc_status rnnc_cudnn_gru_check_call(const rnnc_cudnn_gru_query *q, const rnnc_tensor *mask)
{
    char why[512];
    rnnc_cudnn_gru_check c = rnnc_cudnn_gru_supported(q, mask, why, sizeof why);
    if (c != RNNC_CUDNN_GRU_OK)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "%s", why);
    const rnnc_cuda_api *api;
    return rnnc_backend_cuda(&api);
}

rnnc_status rnnc_cudnn_gru_seq_lengths(const rnnc_tensor *mask, int64_t B, int64_t T,
                                       int32_t *lens)
{
    if (B < 0 || T < 0 || B > INT32_MAX || T > INT32_MAX)
        return rnnc_fail(RNNC_E_SHAPE, "cuDNN GRU: batch %lld / timesteps %lld out of range",
                         (long long)B, (long long)T);
    if (mask && (mask->shape.ndim != 2 || mask->shape.dim[0] != B || mask->shape.dim[1] != T)) {
        char buf[96];
        return rnnc_fail(RNNC_E_SHAPE, "cuDNN GRU: mask shape %s, expected (%lld, %lld)",
                         rnnc_shape_str(&mask->shape, buf, sizeof buf), (long long)B,
                         (long long)T);
    }
    for (int64_t b = 0; b < B; b++) {
        int32_t n = 0;
        for (int64_t t = 0; t < T; t++)
            n += !mask || rnnc_tensor_get(mask, (size_t)(b * T + t)) != 0.0;
        lens[b] = n;
    }
    return RNNC_OK;
}

rnnc_cuda_gru_config rnnc_cuda_gru_config_default(int64_t input_size, int64_t units)
{
    rnnc_cuda_gru_config c = {
        .input_size = input_size,
        .units = units,
        .activation = RNNC_ACT_TANH,
        .recurrent_activation = RNNC_ACT_SIGMOID,
        .use_bias = true,
        .reset_after = true,
        .go_backwards = false,
        .zero_output_for_mask = false,
        .kernel = RNNC_CUDA_GRU_CUDNN,
        .allow_tf32 = false,
        .use_graphs = true,
    };
    return c;
}
