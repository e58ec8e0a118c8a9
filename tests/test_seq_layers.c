/* test_seq_layers.c - Conv1D, MaxPooling1D, AveragePooling1D,
 * GlobalAveragePooling1D, GlobalMaxPooling1D, LayerNormalization, Flatten,
 * Reshape, RepeatVector against Keras 3.15.1 (tests/fixtures/lstm/layers,
 * made by tests/gen_lstm_fixtures.py): outputs, losses, gradients of the
 * input and every weight (float64, 1e-9) and get_config; plus finite
 * differences of the gather op they are built on, and argument errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "helpers/fixture.h"
#include "helpers/keras_cases.h"
#include "layers/index_gather.h"

#define DIR RNNC_FIXTURES "/lstm/layers"

TestSuite(seq_layers);

Test(seq_layers, every_case_matches_keras)
{
    int n = 0, failed = 0;
    char **names = rnnc_test_read_cases(DIR, &n);
    cr_assert(names && n >= 20, "cases.txt in %s", DIR);
    for (int i = 0; i < n; i++)
        failed += rnnc_test_run_layer_case(DIR, names[i]) > 0;
    cr_expect_eq(failed, 0, "%d of %d cases failed", failed, n);
    rnnc_test_free_cases(names);
}

static rnnc_status gather_fn(rnnc_ctx *cx, void *user, rnnc_tensor **in, rnnc_tensor **out)
{
    (void)user;
    /* a map with repeats and padding: y (7,) from x (4,) */
    static const int64_t idx[7] = {3, -1, 0, 0, 2, 1, 3};
    const rnnc_shape s = RNNC_SHAPE(7);
    rnnc_tensor *y;
    RNNC_TRY(rnnc__index_gather(cx, in[0], idx, &s, 0.5, &y));
    return rnnc_mul(cx, y, y, out); /* non-linear so the check sees each entry */
}

Test(seq_layers, index_gather_gradient_matches_finite_differences)
{
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(4);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F64, &xs, 3, -1, 1, &x), RNNC_OK);
    rnnc_tensor_set_requires_grad(x, true);
    rnnc_gradcheck_result gr;
    char msg[256];
    cr_assert_eq(rnnc_gradcheck_full(gather_fn, NULL, &x, 1, 1e-6, &gr), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_assert_lt(gr.max_err, 1e-8, "%s", rnnc_gradcheck_str(&gr, msg, sizeof msg));
    rnnc_tensor_destroy(x);
}

static void expect_refused(const char *json, const char *word)
{
    rnnc_layer *l = NULL;
    cr_expect_neq(rnnc_test_layer_from_json(json, &l), RNNC_OK, "%s was accepted", json);
    cr_expect(strstr(rnnc_last_error(), word), "%s: message '%s' does not name %s", json,
              rnnc_last_error(), word);
    rnnc_layer_destroy(l);
}

Test(seq_layers, bad_arguments_fail_naming_them)
{
    expect_refused("{\"class_name\": \"Conv1D\", \"config\": {\"filters\": 3, \"kernel_size\": 2, \"groups\": 2}}",
                   "groups");
    expect_refused("{\"class_name\": \"Conv1D\", \"config\": {\"filters\": 3}}", "kernel_size");
    expect_refused("{\"class_name\": \"Conv1D\", \"config\": {\"filters\": 3, \"kernel_size\": 2, \"padding\": \"full\"}}",
                   "padding");
    expect_refused("{\"class_name\": \"Conv1D\", \"config\": {\"filters\": 3, \"kernel_size\": 2, \"strides\": 2, \"dilation_rate\": 2}}",
                   "dilation_rate");
    expect_refused("{\"class_name\": \"MaxPooling1D\", \"config\": {\"pool_size\": 2, \"padding\": \"causal\"}}",
                   "padding");
    expect_refused("{\"class_name\": \"AveragePooling1D\", \"config\": {}}", "pool_size");
    expect_refused("{\"class_name\": \"Reshape\", \"config\": {\"target_shape\": [-1, -1]}}",
                   "-1");
    expect_refused("{\"class_name\": \"RepeatVector\", \"config\": {\"n\": 0}}", "n");
    expect_refused("{\"class_name\": \"LayerNormalization\", \"config\": {\"axis\": \"x\"}}",
                   "axis");
    expect_refused("{\"class_name\": \"Flatten\", \"config\": {\"data_format\": \"nhwc\"}}",
                   "data_format");
}

/* ---- finite differences of every layer case (float64) ------------------- */

typedef struct fd_user {
    rnnc_layer *l;
    const rnnc_tensor *mask;
} fd_user;

static rnnc_status fd_fn(rnnc_ctx *cx, void *user, rnnc_tensor **in, rnnc_tensor **out)
{
    fd_user *u = user;
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = in[0];
    a.mask = u->mask;
    RNNC_TRY(rnnc_layer_call(u->l, cx, &a, &r));
    rnnc_tensor *flat[RNNC_MAX_IO];
    for (int i = 0; i < r.n_outputs; i++) {
        rnnc_shape s = RNNC_SHAPE((int64_t)r.outputs[i]->numel);
        RNNC_TRY(rnnc_reshape(cx, r.outputs[i], &s, &flat[i]));
    }
    return rnnc_concat(cx, flat, r.n_outputs, 0, out);
}

Test(seq_layers, every_case_gradients_match_finite_differences)
{
    /* The Keras cases' layers (weights from Keras, float64): input and
     * weight gradients against central differences. Max pooling is
     * piecewise linear: the random inputs keep window maxima apart. */
    int n = 0;
    char **names = rnnc_test_read_cases(DIR, &n);
    cr_assert(names && n > 0);
    for (int i = 0; i < n; i++) {
        char path[512], *json = NULL;
        rnnc_fixture *fx;
        snprintf(path, sizeof path, DIR "/%s.h5", names[i]);
        cr_assert_eq(rnnc_fixture_open(path, &fx), RNNC_OK);
        cr_assert_eq(rnnc_fixture_attr_string(fx, "layer_json", &json), RNNC_OK);
        rnnc_layer *l;
        cr_assert_eq(rnnc_test_layer_from_json(json, &l), RNNC_OK, "%s: %s", names[i],
                     rnnc_last_error());
        rnnc_tensor *x = NULL, *mask = NULL;
        cr_assert_eq(rnnc_fixture_read(fx, "x", RNNC_F64, &x), RNNC_OK);
        if (rnnc_fixture_has(fx, "mask"))
            cr_assert_eq(rnnc_fixture_read(fx, "mask", RNNC_U8, &mask), RNNC_OK);
        cr_assert_eq(rnnc_layer_build(l, &x->shape), RNNC_OK, "%s", rnnc_last_error());
        rnnc_weight *w[8];
        int nw;
        cr_assert_eq(rnnc_layer_weights(l, w, 8, &nw), RNNC_OK);
        rnnc_tensor *inputs[9] = {x};
        for (int k = 0; k < nw; k++) {
            char wn[32];
            rnnc_tensor *t;
            snprintf(wn, sizeof wn, "w_%d", k);
            cr_assert_eq(rnnc_fixture_read(fx, wn, RNNC_F64, &t), RNNC_OK);
            cr_assert_eq(rnnc_tensor_copy(w[k]->value, t), RNNC_OK);
            rnnc_tensor_destroy(t);
            inputs[1 + k] = w[k]->value;
        }
        rnnc_tensor_set_requires_grad(x, true);
        fd_user u = {l, mask};
        rnnc_gradcheck_result gr;
        char msg[256];
        cr_assert_eq(rnnc_gradcheck_full(fd_fn, &u, inputs, 1 + nw, 1e-6, &gr), RNNC_OK, "%s: %s",
                     names[i], rnnc_last_error());
        cr_expect_lt(gr.max_err, 1e-7, "%s: %s", names[i], rnnc_gradcheck_str(&gr, msg, sizeof msg));
        rnnc_tensor_destroy(x);
        rnnc_tensor_destroy(mask);
        rnnc_layer_destroy(l);
        rnnc_fixture_close(fx);
        free(json);
    }
    rnnc_test_free_cases(names);
}
