/* cudnn_layout.c - the Keras <-> cuDNN/PyTorch GRU weight permutation
 * (table and layout in cudnn_layout.h). Plain loops; sizes are small and
 * this runs once per weight upload on the host, or once per layer to build
 * the index map the device gathers with. */
#include "framework/backend/cudnn_layout.h"

/* cuDNN's order r, z, h'; Keras's column blocks z=0, r=1, h=2. */
const rnnc_cudnn_gru_linlayer rnnc_cudnn_gru_linlayers[RNNC_CUDNN_GRU_NUM_LIN] = {
    {0, 'r', 1, false},
    {1, 'z', 0, false},
    {2, 'n', 2, false},
    {3, 'r', 1, true},
    {4, 'z', 0, true},
    {5, 'n', 2, true},
};

size_t rnnc_cudnn_gru_param_count(int64_t F, int64_t U)
{
    return (size_t)(3 * U * F + 3 * U * U + 6 * U);
}

size_t rnnc_cudnn_gru_matrix_offset(int64_t F, int64_t U, int id)
{
    if (id < 3)
        return (size_t)(id * U * F);
    return (size_t)(3 * U * F + (id - 3) * U * U);
}

size_t rnnc_cudnn_gru_bias_offset(int64_t F, int64_t U, int id)
{
    return (size_t)(3 * U * F + 3 * U * U + id * U);
}

int64_t rnnc_cudnn_gru_matrix_cols(int64_t F, int64_t U, int id)
{
    return id < 3 ? F : U;
}

void rnnc_cudnn_gru_torch_offsets(int64_t F, int64_t U, size_t off[4])
{
    off[0] = 0;                                        /* weight_ih_l0 (3U, F) */
    off[1] = (size_t)(3 * U * F);                      /* weight_hh_l0 (3U, U) */
    off[2] = (size_t)(3 * U * F + 3 * U * U);          /* bias_ih_l0 (3U) */
    off[3] = (size_t)(3 * U * F + 3 * U * U + 3 * U);  /* bias_hh_l0 (3U) */
}

size_t rnnc_cudnn_gru_keras_matrix_index(int64_t F, int64_t U, int id, int64_t row, int64_t col)
{
    const int64_t g = rnnc_cudnn_gru_linlayers[id].keras_gate;
    /* Row `row` of the transposed gate block is Keras column g*U + row. */
    if (!rnnc_cudnn_gru_linlayers[id].recurrent)
        return (size_t)(col * 3 * U + g * U + row);         /* W[col][g*U + row] */
    return (size_t)(F * 3 * U + col * 3 * U + g * U + row); /* R[col][g*U + row] */
}

size_t rnnc_cudnn_gru_keras_bias_index(int64_t F, int64_t U, int id, int64_t row)
{
    const int64_t g = rnnc_cudnn_gru_linlayers[id].keras_gate;
    const int64_t side = rnnc_cudnn_gru_linlayers[id].recurrent ? 1 : 0; /* bias row */
    return (size_t)(F * 3 * U + U * 3 * U + side * 3 * U + g * U + row);
}

size_t rnnc_cudnn_gru_keras_index(int64_t F, int64_t U, size_t i)
{
    const size_t n_in = (size_t)(3 * U * F), n_rec = (size_t)(3 * U * U);
    if (i < n_in) {
        const int id = (int)(i / (size_t)(U * F));
        const size_t e = i % (size_t)(U * F);
        return rnnc_cudnn_gru_keras_matrix_index(F, U, id, (int64_t)e / F, (int64_t)e % F);
    }
    i -= n_in;
    if (i < n_rec) {
        const int id = 3 + (int)(i / (size_t)(U * U));
        const size_t e = i % (size_t)(U * U);
        return rnnc_cudnn_gru_keras_matrix_index(F, U, id, (int64_t)e / U, (int64_t)e % U);
    }
    i -= n_rec;
    return rnnc_cudnn_gru_keras_bias_index(F, U, (int)(i / (size_t)U), (int64_t)(i % (size_t)U));
}

static rnnc_status check_sizes(int64_t F, int64_t U, const char *what)
{
    if (F < 1 || U < 1)
        return rnnc_fail(RNNC_E_ARG, "%s: input size and units must be >= 1, got F=%lld, U=%lld",
                         what, (long long)F, (long long)U);
    /* 3U(F + U) + 6U must fit the int32 indices of the device gather. */
    if (U > (INT32_MAX / 8) || F > (INT32_MAX / 8) ||
        (double)U * (3.0 * (double)(F + U) + 6.0) > (double)INT32_MAX)
        return rnnc_fail(RNNC_E_ARG, "%s: GRU too large for the cuDNN layout (F=%lld, U=%lld)",
                         what, (long long)F, (long long)U);
    return RNNC_OK;
}

rnnc_status rnnc_cudnn_gru_index_map(int64_t F, int64_t U, int32_t *map)
{
    RNNC_TRY(check_sizes(F, U, "cuDNN GRU index map"));
    const size_t n = rnnc_cudnn_gru_param_count(F, U);
    for (size_t i = 0; i < n; i++)
        map[i] = (int32_t)rnnc_cudnn_gru_keras_index(F, U, i);
    return RNNC_OK;
}

/* The Keras concatenation is three separate arrays: locate index k in them. */
#define DEFINE_LAYOUT(SFX, R)                                                                   \
    static inline R *SFX##_slot(int64_t F, int64_t U, size_t k, R *kernel, R *recurrent,       \
                                R *bias)                                                        \
    {                                                                                           \
        const size_t n_k = (size_t)(F * 3 * U), n_r = (size_t)(U * 3 * U);                      \
        if (k < n_k)                                                                            \
            return kernel + k;                                                                  \
        if (k < n_k + n_r)                                                                      \
            return recurrent + (k - n_k);                                                       \
        return bias ? bias + (k - n_k - n_r) : NULL;                                            \
    }                                                                                           \
                                                                                                \
    rnnc_status rnnc_cudnn_gru_from_keras_##SFX(int64_t F, int64_t U, const R *kernel,          \
                                                const R *recurrent, const R *bias, R *blob)     \
    {                                                                                           \
        RNNC_TRY(check_sizes(F, U, "cuDNN GRU layout"));                                        \
        const size_t n = rnnc_cudnn_gru_param_count(F, U);                                      \
        for (size_t i = 0; i < n; i++) {                                                        \
            const R *src = SFX##_slot(F, U, rnnc_cudnn_gru_keras_index(F, U, i), (R *)kernel,   \
                                      (R *)recurrent, (R *)bias);                               \
            blob[i] = src ? *src : (R)0;                                                        \
        }                                                                                       \
        return RNNC_OK;                                                                         \
    }                                                                                           \
                                                                                                \
    rnnc_status rnnc_cudnn_gru_to_keras_##SFX(int64_t F, int64_t U, const R *blob, R *kernel,   \
                                              R *recurrent, R *bias, bool accumulate)           \
    {                                                                                           \
        RNNC_TRY(check_sizes(F, U, "cuDNN GRU layout"));                                        \
        const size_t n = rnnc_cudnn_gru_param_count(F, U);                                      \
        for (size_t i = 0; i < n; i++) {                                                        \
            R *dst = SFX##_slot(F, U, rnnc_cudnn_gru_keras_index(F, U, i), kernel, recurrent,   \
                                bias);                                                          \
            if (dst)                                                                            \
                *dst = accumulate ? *dst + blob[i] : blob[i];                                   \
        }                                                                                       \
        return RNNC_OK;                                                                         \
    }

DEFINE_LAYOUT(f32, float)
DEFINE_LAYOUT(f64, double)
