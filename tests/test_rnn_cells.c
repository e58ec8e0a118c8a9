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

Test(rnn_cells, every_case_matches_keras)
{
    int n = 0, failed = 0;
    char **names = rnnc_test_read_cases(DIR, &n);
    cr_assert(names && n >= 8, "cases.txt in %s", DIR);
    for (int i = 0; i < n; i++)
        failed += rnnc_test_run_layer_case(DIR, names[i]) > 0;
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
