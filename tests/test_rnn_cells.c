/* test_rnn_cells.c - SimpleRNN, RNN(cell) over GRUCell / LSTMCell /
 * SimpleRNNCell, RNN(StackedRNNCells) and a user's cell registered from C:
 *   - against Keras 3.15.1 (tests/fixtures/lstm/rnn, made by
 *     tests/gen_lstm_fixtures.py): each layer built from Keras's serialized
 *     layer, outputs, losses and the gradients of x and every weight (float64,
 *     1e-9), and get_config equal to Keras's (key order included);
 *   - from_config errors (a non-cell as cell), a C-registered cell. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "framework/rnn.h"
#include "helpers/fixture.h"
#include "helpers/keras_cases.h"
#include "io/spec_reader.h"
#include "layers/rnn_layer.h"
#include "layers/simple_rnn.h"

#define DIR RNNC_FIXTURES "/lstm/rnn"

TestSuite(rnn_cells);

static rnnc_tensor *rd(rnnc_fixture *fx, const char *name, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, name, dt, &t), RNNC_OK, "%s: %s", name, rnnc_last_error());
    return t;
}

static int run_case(const char *name)
{
    char path[512], *json = NULL, what[64];
    int fails = 0;
    rnnc_fixture *fx;
    snprintf(path, sizeof path, DIR "/%s.h5", name);
    cr_assert_eq(rnnc_fixture_open(path, &fx), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_attr_string(fx, "layer_json", &json), RNNC_OK);
    rnnc_cfg *env;
    cr_assert_eq(rnnc_spec_read_string(json, strlen(json), name, &env), RNNC_OK, "%s",
                 rnnc_last_error());
    rnnc_layer *l;
    rnnc_cfg *c = rnnc_cfg_clone(env);
    cr_assert_eq(rnnc_layer_from_config(c, &l), RNNC_OK, "case %s: %s", name, rnnc_last_error());
    rnnc_cfg_destroy(c);
    rnnc_tensor *x = rd(fx, "x", RNNC_F64), *mask = NULL;
    if (rnnc_fixture_has(fx, "mask"))
        mask = rd(fx, "mask", RNNC_U8);
    cr_assert_eq(rnnc_layer_build(l, &x->shape), RNNC_OK, "case %s: %s", name, rnnc_last_error());
    rnnc_weight *w[16];
    int nw;
    cr_assert_eq(rnnc_layer_weights(l, w, 16, &nw), RNNC_OK);
    for (int i = 0; i < nw; i++) {
        snprintf(what, sizeof what, "w_%d", i);
        cr_assert(rnnc_fixture_has(fx, what), "case %s: rnnc has %d weights", name, nw);
        rnnc_tensor *t = rd(fx, what, RNNC_F64);
        cr_assert(rnnc_shape_eq(&t->shape, &w[i]->value->shape), "case %s: %s shape", name, what);
        cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK);
        rnnc_tensor_destroy(t);
    }
    snprintf(what, sizeof what, "w_%d", nw);
    cr_assert(!rnnc_fixture_has(fx, what), "case %s: Keras has more than %d weights", name, nw);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor_set_requires_grad(x, true);
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    a.mask = mask;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "case %s: %s", name, rnnc_last_error());
    int64_t n_out = 0;
    rnnc_fixture_attr_int(fx, "n_outputs", &n_out);
    cr_expect_eq(r.n_outputs, n_out, "case %s: %d outputs, Keras %lld", name, r.n_outputs,
                 (long long)n_out);
    for (int i = 0; i < r.n_outputs && i < n_out; i++) {
        snprintf(what, sizeof what, "output_%d", i);
        rnnc_tensor *want = rd(fx, what, RNNC_F64), *dy;
        double e = rnnc_fixture_max_err(r.outputs[i], want);
        cr_expect_lt(e, 1e-9, "case %s: %s differs by %g", name, what, e);
        fails += !(e < 1e-9);
        snprintf(what, sizeof what, "dy_%d", i);
        dy = rd(fx, what, RNNC_F64);
        cr_assert_eq(rnnc_ctx_seed_grad(cx, r.outputs[i], dy), RNNC_OK);
        rnnc_tensor_destroy(want);
        rnnc_tensor_destroy(dy);
    }
    rnnc_tensor *loss = NULL, *wl = rd(fx, "losses", RNNC_F64);
    cr_assert_eq(rnnc_layer_losses(l, cx, &loss), RNNC_OK);
    const double got_l = loss ? rnnc_tensor_get(loss, 0) : 0.0;
    cr_expect_lt(fabs(got_l - rnnc_tensor_get(wl, 0)), 1e-9, "case %s: losses %g vs Keras %g",
                 name, got_l, rnnc_tensor_get(wl, 0));
    if (loss)
        cr_assert_eq(rnnc_ctx_seed_grad(cx, loss, NULL), RNNC_OK);
    cr_assert_eq(rnnc_backward_seeded(cx), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *want = rd(fx, "grad_x", RNNC_F64);
    double e = rnnc_fixture_max_grad_err(x, want);
    cr_expect_lt(e, 1e-9, "case %s: grad_x differs by %g", name, e);
    fails += !(e < 1e-9);
    rnnc_tensor_destroy(want);
    for (int i = 0; i < nw; i++) {
        snprintf(what, sizeof what, "grad_w_%d", i);
        want = rd(fx, what, RNNC_F64);
        e = rnnc_fixture_max_grad_err(w[i]->value, want);
        cr_expect_lt(e, 1e-9, "case %s: %s (%s) differs by %g", name, what, w[i]->name, e);
        fails += !(e < 1e-9);
        rnnc_tensor_destroy(want);
    }
    /* get_config equals Keras's config */
    rnnc_cfg *got = NULL;
    cr_assert_eq(rnnc_layer_get_config(l, &got), RNNC_OK);
    char where[512] = "config";
    cr_expect(rnnc_test_cfg_equal(got, rnnc_cfg_peek(env, "config"), where, sizeof where),
              "case %s: get_config differs at %s", name, where);
    rnnc_cfg_destroy(got);
    rnnc_tensor_destroy(wl);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(mask);
    rnnc_layer_destroy(l);
    rnnc_cfg_destroy(env);
    rnnc_fixture_close(fx);
    free(json);
    return fails;
}

Test(rnn_cells, every_case_matches_keras)
{
    int n = 0, failed = 0;
    char **names = rnnc_test_read_cases(DIR, &n);
    cr_assert(names && n >= 8, "cases.txt in %s", DIR);
    for (int i = 0; i < n; i++)
        failed += run_case(names[i]) > 0;
    cr_expect_eq(failed, 0, "%d of %d cases failed", failed, n);
    rnnc_test_free_cases(names);
}

Test(rnn_cells, a_non_cell_is_refused_naming_it)
{
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"RNN\", \"config\": {\"cell\": {\"class_name\": \"Dense\", "
                           "\"config\": {\"units\": 2}}}}", &l), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "'Dense' is not a recurrent cell"), "%s", rnnc_last_error());
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": []}}", &l),
                 RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "cells"), "%s", rnnc_last_error());
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"RNN\", \"config\": {}}", &l), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "cell"), "%s", rnnc_last_error());
    /* three LSTMCells: 6 states, over the limit */
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": ["
                           "{\"class_name\": \"LSTMCell\", \"config\": {\"units\": 2}},"
                           "{\"class_name\": \"LSTMCell\", \"config\": {\"units\": 2}},"
                           "{\"class_name\": \"LSTMCell\", \"config\": {\"units\": 2}}]}}", &l),
                 RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "states"), "%s", rnnc_last_error());
}

/* A user's cell: SimpleRNNCell registered under another class name. */
static rnnc_status my_cell_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return rnnc_simple_rnn_cell_from_config(config, out);
}

Test(rnn_cells, a_cell_registered_from_c_runs_in_rnn)
{
    cr_assert_eq(rnnc_rnn_cell_register("MyCell", my_cell_from_config), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_assert(rnnc_rnn_is_cell_class("MyCell"));
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"RNN\", \"config\": {\"return_sequences\": true, \"cell\": "
                           "{\"class_name\": \"MyCell\", \"config\": {\"units\": 2, "
                           "\"kernel_initializer\": \"ones\", \"recurrent_initializer\": \"zeros\"}}}}",
                           &l),
                 RNNC_OK, "%s", rnnc_last_error());
    /* h_t = tanh(sum(x_t)) with ones / zeros weights */
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(1, 2, 3);
    cr_assert_eq(rnnc_ctx_tensor(cx, RNNC_F32, &xs, &x), RNNC_OK);
    for (int i = 0; i < 6; i++)
        rnnc_tensor_set(x, (size_t)i, 0.1 * i);
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_float_eq(rnnc_tensor_get(r.outputs[0], 0), tanh(0.3), 1e-6);
    cr_assert_float_eq(rnnc_tensor_get(r.outputs[0], 3), tanh(1.2), 1e-6);
    rnnc_ctx_destroy(cx);
    rnnc_layer_destroy(l);
}
