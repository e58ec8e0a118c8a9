/* test_cudnn_support.c - Keras's use_cudnn conditions (spec 2.1) as pure
 * functions (framework/backend/cuda_gru.h), on the CPU: each condition on
 * its own fails with its code and a message naming it, the order is
 * Keras's, masks must be strictly right-padded with no fully masked row,
 * and sequence lengths are the per-row counts of kept steps. */
#include <criterion/criterion.h>
#include <string.h>

#include "framework/backend.h"
#include "framework/backend/cuda_gru.h"

static rnnc_cudnn_gru_query ok_query(void)
{
    rnnc_cudnn_gru_query q = {
        .activation = RNNC_ACT_TANH,
        .recurrent_activation = RNNC_ACT_SIGMOID,
        .use_bias = true,
        .reset_after = true,
        .unroll = false,
        .recurrent_dropout = 0.0,
        .per_gate_input_dropout = false,
        .dtype = RNNC_F32,
    };
    return q;
}

static rnnc_tensor *mask_of(int64_t B, int64_t T, const uint8_t *v)
{
    rnnc_tensor *m = NULL;
    const rnnc_shape s = RNNC_SHAPE(B, T);
    cr_assert_eq(rnnc_tensor_from(RNNC_U8, &s, v, &m), RNNC_OK);
    return m;
}

Test(cudnn_support, keras_defaults_qualify)
{
    rnnc_cudnn_gru_query q = ok_query();
    char why[256] = "junk";
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, NULL, why, sizeof why), RNNC_CUDNN_GRU_OK);
    cr_expect_str_eq(why, "");
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, NULL, NULL, 0), RNNC_CUDNN_GRU_OK);
}

Test(cudnn_support, each_condition_fails_alone_and_is_named)
{
    int n = 0;
#define CASE(body, c, w)                                                     \
    do {                                                                     \
        rnnc_cudnn_gru_query q = ok_query();                                 \
        body;                                                                \
        char why[256];                                                       \
        cr_expect_eq(rnnc_cudnn_gru_supported(&q, NULL, why, sizeof why), c, \
                     "%s", #body);                                           \
        cr_expect(strstr(why, w) != NULL, "%s: '%s' lacks '%s'", #body, why, w); \
        n++;                                                                 \
    } while (0)
    CASE(q.recurrent_dropout = 0.25, RNNC_CUDNN_GRU_RECURRENT_DROPOUT, "recurrent_dropout is 0.25");
    CASE(q.per_gate_input_dropout = true, RNNC_CUDNN_GRU_PER_GATE_DROPOUT, "implementation=1");
    CASE(q.activation = RNNC_ACT_RELU, RNNC_CUDNN_GRU_ACTIVATION, "activation is 'relu'");
    CASE(q.recurrent_activation = RNNC_ACT_HARD_SIGMOID, RNNC_CUDNN_GRU_RECURRENT_ACTIVATION,
         "recurrent_activation is 'hard_sigmoid'");
    CASE(q.unroll = true, RNNC_CUDNN_GRU_UNROLL, "unroll=True");
    CASE(q.use_bias = false, RNNC_CUDNN_GRU_NO_BIAS, "use_bias=False");
    CASE(q.reset_after = false, RNNC_CUDNN_GRU_RESET_BEFORE, "reset_after=False");
    CASE(q.dtype = RNNC_F64, RNNC_CUDNN_GRU_DTYPE, "float64");
#undef CASE
    cr_expect_eq(n, 8);
}

Test(cudnn_support, the_first_failing_condition_in_keras_order_is_reported)
{
    rnnc_cudnn_gru_query q = ok_query();
    q.reset_after = false;
    q.activation = RNNC_ACT_LINEAR;
    q.recurrent_dropout = 0.5;
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, NULL, NULL, 0), RNNC_CUDNN_GRU_RECURRENT_DROPOUT);
    q.recurrent_dropout = 0.0;
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, NULL, NULL, 0), RNNC_CUDNN_GRU_ACTIVATION);
    q.activation = RNNC_ACT_TANH;
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, NULL, NULL, 0), RNNC_CUDNN_GRU_RESET_BEFORE);
    /* Arguments before the mask. */
    const uint8_t v[2] = {0, 1};
    rnnc_tensor *m = mask_of(1, 2, v);
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, m, NULL, 0), RNNC_CUDNN_GRU_RESET_BEFORE);
    rnnc_tensor_destroy(m);
}

Test(cudnn_support, right_padded_masks_qualify)
{
    const uint8_t v[3 * 4] = {1, 1, 1, 1,
                              1, 1, 0, 0,
                              1, 0, 0, 0};
    rnnc_tensor *m = mask_of(3, 4, v);
    rnnc_cudnn_gru_query q = ok_query();
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, m, NULL, 0), RNNC_CUDNN_GRU_OK);
    int32_t lens[3];
    cr_assert_eq(rnnc_cudnn_gru_seq_lengths(m, 3, 4, lens), RNNC_OK);
    cr_expect_eq(lens[0], 4);
    cr_expect_eq(lens[1], 2);
    cr_expect_eq(lens[2], 1);
    rnnc_tensor_destroy(m);
}

Test(cudnn_support, left_padding_or_holes_do_not)
{
    const uint8_t left[2 * 3] = {1, 1, 1, 0, 1, 1};
    const uint8_t hole[2 * 4] = {1, 1, 1, 1, 1, 0, 1, 0};
    rnnc_cudnn_gru_query q = ok_query();
    char why[256];
    rnnc_tensor *m = mask_of(2, 3, left);
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, m, why, sizeof why),
                 RNNC_CUDNN_GRU_MASK_NOT_RIGHT_PADDED);
    cr_expect(strstr(why, "row 1") && strstr(why, "step 1") && strstr(why, "right-padded"), "%s", why);
    rnnc_tensor_destroy(m);
    m = mask_of(2, 4, hole);
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, m, why, sizeof why),
                 RNNC_CUDNN_GRU_MASK_NOT_RIGHT_PADDED);
    cr_expect(strstr(why, "row 1") && strstr(why, "step 2"), "%s", why);
    rnnc_tensor_destroy(m);
}

Test(cudnn_support, a_fully_masked_row_does_not)
{
    const uint8_t v[2 * 3] = {1, 1, 0, 0, 0, 0};
    rnnc_tensor *m = mask_of(2, 3, v);
    rnnc_cudnn_gru_query q = ok_query();
    char why[256];
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, m, why, sizeof why), RNNC_CUDNN_GRU_MASK_FULLY_MASKED);
    cr_expect(strstr(why, "row 1 is fully masked"), "%s", why);
    int32_t lens[2];
    cr_assert_eq(rnnc_cudnn_gru_seq_lengths(m, 2, 3, lens), RNNC_OK);
    cr_expect_eq(lens[0], 2);
    cr_expect_eq(lens[1], 0);
    rnnc_tensor_destroy(m);
}

Test(cudnn_support, float_masks_count_non_zero_as_kept)
{
    const float v[2 * 3] = {1.0f, 0.5f, 0.0f, 2.0f, 0.0f, 0.0f};
    rnnc_tensor *m = NULL;
    const rnnc_shape s = RNNC_SHAPE(2, 3);
    cr_assert_eq(rnnc_tensor_from(RNNC_F32, &s, v, &m), RNNC_OK);
    rnnc_cudnn_gru_query q = ok_query();
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, m, NULL, 0), RNNC_CUDNN_GRU_OK);
    int32_t lens[2];
    cr_assert_eq(rnnc_cudnn_gru_seq_lengths(m, 2, 3, lens), RNNC_OK);
    cr_expect_eq(lens[0], 2);
    cr_expect_eq(lens[1], 1);
    rnnc_tensor_destroy(m);
}

Test(cudnn_support, lengths_without_a_mask_and_shape_errors)
{
    int32_t lens[4];
    cr_assert_eq(rnnc_cudnn_gru_seq_lengths(NULL, 4, 9, lens), RNNC_OK);
    for (int b = 0; b < 4; b++)
        cr_expect_eq(lens[b], 9);
    const uint8_t v[6] = {1, 1, 1, 1, 1, 1};
    rnnc_tensor *m = mask_of(2, 3, v);
    cr_expect_eq(rnnc_cudnn_gru_seq_lengths(m, 3, 2, lens), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "(2, 3)") && strstr(rnnc_last_error(), "(3, 2)"), "%s",
              rnnc_last_error());
    rnnc_tensor *m3 = NULL;
    const rnnc_shape s3 = RNNC_SHAPE(1, 2, 3);
    cr_assert_eq(rnnc_tensor_create(RNNC_U8, &s3, &m3), RNNC_OK);
    rnnc_cudnn_gru_query q = ok_query();
    cr_expect_eq(rnnc_cudnn_gru_supported(&q, m3, NULL, 0), RNNC_CUDNN_GRU_BAD_MASK);
    rnnc_tensor_destroy(m);
    rnnc_tensor_destroy(m3);
}

Test(cudnn_support, check_names)
{
    cr_expect_str_eq(rnnc_cudnn_gru_check_name(RNNC_CUDNN_GRU_ACTIVATION), "activation");
    cr_expect_str_eq(rnnc_cudnn_gru_check_name(RNNC_CUDNN_GRU_MASK_NOT_RIGHT_PADDED),
                     "mask not right-padded");
    cr_expect_str_eq(rnnc_cudnn_gru_check_name((rnnc_cudnn_gru_check)99), "unknown");
    for (int c = 0; c < RNNC_CUDNN_GRU_CHECK_COUNT; c++)
        cr_expect(rnnc_cudnn_gru_check_name((rnnc_cudnn_gru_check)c) != NULL);
}

Test(cudnn_support, config_defaults_are_keras_defaults)
{
    rnnc_cuda_gru_config c = rnnc_cuda_gru_config_default(7, 5);
    cr_expect_eq(c.input_size, 7);
    cr_expect_eq(c.units, 5);
    cr_expect_eq(c.activation, RNNC_ACT_TANH);
    cr_expect_eq(c.recurrent_activation, RNNC_ACT_SIGMOID);
    cr_expect(c.use_bias && c.reset_after && !c.go_backwards && !c.zero_output_for_mask);
    cr_expect_eq(c.kernel, RNNC_CUDA_GRU_CUDNN);
    cr_expect(!c.allow_tf32);
}

Test(cudnn_support, check_call_reports_the_condition_then_the_machine)
{
    rnnc_cudnn_gru_query q = ok_query();
    q.activation = RNNC_ACT_RELU;
    cr_expect_eq(rnnc_cudnn_gru_check_call(&q, NULL), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "activation is 'relu'"), "%s", rnnc_last_error());
    q = ok_query();
    const uint8_t v[4] = {0, 1, 1, 1};
    rnnc_tensor *m = mask_of(2, 2, v);
    cr_expect_eq(rnnc_cudnn_gru_check_call(&q, m), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "right-padded"), "%s", rnnc_last_error());
    rnnc_tensor_destroy(m);
    /* Arguments fine: the answer is the machine's. */
    rnnc_status s = rnnc_cudnn_gru_check_call(&q, NULL);
    if (rnnc_device_available(RNNC_DEVICE_CUDA)) {
        cr_expect_eq(s, RNNC_OK);
    } else {
        cr_expect_eq(s, RNNC_E_NODEV);
        const char *msg = rnnc_last_error();
        cr_expect(strstr(msg, "CUDA backend not built") || strstr(msg, "no CUDA device present"),
                  "%s", msg);
    }
}
