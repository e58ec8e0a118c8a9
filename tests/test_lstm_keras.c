/* test_lstm_keras.c - the LSTM against Keras 3.15.1 itself, case by case from
 * tests/fixtures/lstm/cases.txt (layout: tests/gen_lstm_fixtures.py).
 *
 * For every case, on both kernels (the generic loop, then the automatic
 * choice, the fused kernel wherever it applies): the layer from Keras's
 * config_json with the case's weights; outputs; then the gradients of
 * loss = sum_i sum(output_i * dy_i) + losses for x, both initial states
 * and every weight, and the losses. Tolerances: float64 1e-9, float32 1e-5
 * as |got - want| / max(1, |want|). Also: get_config reproduces Keras's
 * config exactly (LSTM and LSTMCell, whose key orders differ). The
 * torch_* cases come from PyTorch's nn.LSTM (tests/gen_lstm_fixtures_torch.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "helpers/fixture.h"
#include "helpers/keras_cases.h"
#include "io/spec_reader.h"
#include "layers/lstm.h"

#define CASES_DIR RNNC_FIXTURES "/lstm"

TestSuite(lstm_keras);

typedef struct kcase {
    const char *name;
    rnnc_fixture *fx;
    rnnc_cfg *config;
    rnnc_dtype dt;
    double tol;
    bool training;
    int n_outputs, failures;
} kcase;

static int open_case(kcase *k, const char *name)
{
    char path[512], *json = NULL, *dts = NULL;
    memset(k, 0, sizeof *k);
    k->name = name;
    snprintf(path, sizeof path, "%s/%s.h5", CASES_DIR, name);
    if (rnnc_fixture_open(path, &k->fx) || rnnc_fixture_attr_string(k->fx, "config_json", &json) ||
        rnnc_fixture_attr_string(k->fx, "dtype", &dts)) {
        cr_expect(0, "case %s: %s", name, rnnc_last_error());
        free(json);
        free(dts);
        return -1;
    }
    rnnc_status s = rnnc_spec_read_string(json, strlen(json), name, &k->config);
    cr_expect_eq(s, RNNC_OK, "case %s: config_json does not parse: %s", name, rnnc_last_error());
    k->dt = strcmp(dts, "float64") == 0 ? RNNC_F64 : RNNC_F32;
    k->tol = k->dt == RNNC_F64 ? 1e-9 : 1e-5;
    int64_t v = 0;
    rnnc_fixture_attr_int(k->fx, "training", &v);
    k->training = v != 0;
    v = 1;
    rnnc_fixture_attr_int(k->fx, "n_outputs", &v);
    k->n_outputs = (int)v;
    free(json);
    free(dts);
    return s == RNNC_OK ? 0 : -1;
}

static rnnc_tensor *read_t(kcase *k, const char *name, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    if (rnnc_fixture_read(k->fx, name, dt, &t) != RNNC_OK) {
        cr_expect(0, "case %s: %s", k->name, rnnc_last_error());
        k->failures++;
    }
    return t;
}

static void expect_close(kcase *k, const char *what, const char *kern, double err)
{
    cr_expect_lt(err, k->tol, "case %s (%s kernel): %s differs from Keras by %g (tol %g)", k->name,
                 kern, what, err, k->tol);
    k->failures += !(err < k->tol);
}

static rnnc_layer *make_layer(kcase *k, const rnnc_shape *in_shape, rnnc_gru_kernel kern)
{
    rnnc_layer *l = NULL;
    rnnc_cfg *c = rnnc_cfg_clone(k->config);
    rnnc_status s = rnnc_lstm_from_config(c, &l);
    rnnc_cfg_destroy(c);
    cr_assert_eq(s, RNNC_OK, "case %s: from_config: %s", k->name, rnnc_last_error());
    cr_assert_eq(l->dtype, k->dt);
    cr_assert_eq(rnnc_layer_build(l, in_shape), RNNC_OK, "case %s: %s", k->name, rnnc_last_error());
    cr_assert_eq(rnnc_lstm_set_kernel(l, kern), RNNC_OK);
    rnnc_weight *w[3];
    int n;
    cr_assert_eq(rnnc_layer_weights(l, w, 3, &n), RNNC_OK);
    cr_assert_eq(n, rnnc_fixture_has(k->fx, "bias") ? 3 : 2, "case %s: weight count", k->name);
    for (int i = 0; i < n; i++) {
        rnnc_tensor *t = read_t(k, w[i]->name, k->dt);
        cr_assert_not_null(t);
        cr_assert(rnnc_shape_eq(&t->shape, &w[i]->value->shape), "case %s: %s shape", k->name,
                  w[i]->name);
        cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK);
        rnnc_tensor_destroy(t);
    }
    return l;
}

static const char *kern_name(const rnnc_layer *l)
{
    return rnnc_lstm_last_kernel(l) == RNNC_GRU_KERNEL_FUSED ? "fused" : "generic";
}

static void expect_grad(kcase *k, const char *kn, const char *what, const rnnc_tensor *t)
{
    rnnc_tensor *want = read_t(k, what, k->dt);
    if (want)
        expect_close(k, what, kn, rnnc_fixture_max_grad_err(t, want));
    rnnc_tensor_destroy(want);
}

static rnnc_gru_kernel run_single(kcase *k, rnnc_gru_kernel kern)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *x = read_t(k, "x", k->dt), *h0 = NULL, *c0 = NULL, *mask = NULL;
    cr_assert_not_null(x);
    if (rnnc_fixture_has(k->fx, "initial_h")) {
        h0 = read_t(k, "initial_h", k->dt);
        c0 = read_t(k, "initial_c", k->dt);
        rnnc_tensor_set_requires_grad(h0, true);
        rnnc_tensor_set_requires_grad(c0, true);
    }
    if (rnnc_fixture_has(k->fx, "mask"))
        mask = read_t(k, "mask", RNNC_U8);
    rnnc_layer *l = make_layer(k, &x->shape, kern);
    rnnc_tensor_set_requires_grad(x, true);
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = h0 ? 3 : 1;
    a.inputs[0] = x;
    a.inputs[1] = h0;
    a.inputs[2] = c0;
    a.mask = mask;
    a.training = k->training;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "case %s: call: %s", k->name,
                 rnnc_last_error());
    const char *kn = kern_name(l);
    cr_expect_eq(r.n_outputs, k->n_outputs, "case %s: %d outputs, Keras %d", k->name, r.n_outputs,
                 k->n_outputs);
    char what[64];
    for (int i = 0; i < r.n_outputs && i < k->n_outputs; i++) {
        snprintf(what, sizeof what, "output_%d", i);
        rnnc_tensor *want = read_t(k, what, k->dt), *dy;
        expect_close(k, what, kn, rnnc_fixture_max_err(r.outputs[i], want));
        snprintf(what, sizeof what, "dy_%d", i);
        dy = read_t(k, what, k->dt);
        cr_assert_eq(rnnc_ctx_seed_grad(cx, r.outputs[i], dy), RNNC_OK);
        rnnc_tensor_destroy(want);
        rnnc_tensor_destroy(dy);
    }
    rnnc_tensor *loss = NULL, *want_loss = read_t(k, "losses", k->dt);
    cr_assert_eq(rnnc_layer_losses(l, cx, &loss), RNNC_OK, "%s", rnnc_last_error());
    const double got_loss = loss ? rnnc_tensor_get(loss, 0) : 0.0;
    const double wl = rnnc_tensor_get(want_loss, 0);
    expect_close(k, "losses", kn, fabs(got_loss - wl) / fmax(1.0, fabs(wl)));
    if (loss)
        cr_assert_eq(rnnc_ctx_seed_grad(cx, loss, NULL), RNNC_OK);
    cr_assert_eq(rnnc_backward_seeded(cx), RNNC_OK, "case %s: backward: %s", k->name,
                 rnnc_last_error());
    expect_grad(k, kn, "grad_x", x);
    if (h0) {
        expect_grad(k, kn, "grad_initial_h", h0);
        expect_grad(k, kn, "grad_initial_c", c0);
    }
    rnnc_weight *w[3];
    int n;
    rnnc_layer_weights(l, w, 3, &n);
    for (int i = 0; i < n; i++) {
        snprintf(what, sizeof what, "grad_%s", w[i]->name);
        expect_grad(k, kn, what, w[i]->value);
    }
    rnnc_tensor_destroy(want_loss);
    rnnc_gru_kernel ran = rnnc_lstm_last_kernel(l);
    rnnc_layer_destroy(l);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(h0);
    rnnc_tensor_destroy(c0);
    rnnc_tensor_destroy(mask);
    return ran;
}

static rnnc_gru_kernel run_stateful(kcase *k, rnnc_gru_kernel kern)
{
    int64_t n_calls = 0, reset_at = -1;
    cr_assert_eq(rnnc_fixture_attr_int(k->fx, "n_calls", &n_calls), RNNC_OK);
    rnnc_fixture_attr_int(k->fx, "reset_before_call", &reset_at);
    rnnc_tensor *x0 = read_t(k, "x_call0", k->dt);
    rnnc_layer *l = make_layer(k, &x0->shape, kern);
    rnnc_ctx *cx = rnnc_ctx_create();
    char what[64];
    for (int64_t c = 0; c < n_calls; c++) {
        if (c == reset_at)
            cr_assert_eq(rnnc_rnn_reset_state(l), RNNC_OK);
        snprintf(what, sizeof what, "x_call%lld", (long long)c);
        rnnc_tensor *x = read_t(k, what, k->dt);
        rnnc_call_args a;
        rnnc_call_result r;
        memset(&a, 0, sizeof a);
        a.n_inputs = 1;
        a.inputs[0] = x;
        a.training = k->training;
        cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "case %s call %lld: %s", k->name,
                     (long long)c, rnnc_last_error());
        cr_expect_eq(r.n_outputs, k->n_outputs);
        for (int i = 0; i < r.n_outputs && i < k->n_outputs; i++) {
            snprintf(what, sizeof what, "output_call%lld_%d", (long long)c, i);
            rnnc_tensor *want = read_t(k, what, k->dt);
            expect_close(k, what, kern_name(l), rnnc_fixture_max_err(r.outputs[i], want));
            rnnc_tensor_destroy(want);
        }
        rnnc_ctx_clear(cx);
        rnnc_tensor_destroy(x);
    }
    rnnc_ctx_destroy(cx);
    rnnc_gru_kernel ran = rnnc_lstm_last_kernel(l);
    rnnc_layer_destroy(l);
    rnnc_tensor_destroy(x0);
    return ran;
}

Test(lstm_keras, every_case_matches_keras_on_both_kernels, .timeout = 300)
{
    int n = 0, n_fused = 0, n_failed = 0;
    char **names = rnnc_test_read_cases(CASES_DIR, &n);
    cr_assert(names && n > 0, "no cases in %s/cases.txt", CASES_DIR);
    for (int i = 0; i < n; i++) {
        kcase k;
        if (open_case(&k, names[i]) == 0) {
            const bool stateful = rnnc_fixture_has(k.fx, "x_call0");
            for (int pass = 0; pass < 2; pass++) {
                rnnc_gru_kernel kern = pass == 0 ? RNNC_GRU_KERNEL_GENERIC : RNNC_GRU_KERNEL_AUTO;
                rnnc_gru_kernel ran = stateful ? run_stateful(&k, kern) : run_single(&k, kern);
                if (pass == 0)
                    cr_expect_eq(ran, RNNC_GRU_KERNEL_GENERIC);
                else
                    n_fused += ran == RNNC_GRU_KERNEL_FUSED;
            }
        }
        n_failed += k.failures > 0;
        rnnc_cfg_destroy(k.config);
        rnnc_fixture_close(k.fx);
    }
    cr_log_info("lstm_keras: %d cases, %d also on the fused kernel, %d failed", n, n_fused,
                n_failed);
    cr_expect_eq(n_failed, 0, "%d of %d cases failed", n_failed, n);
    cr_expect_gt(n_fused, n / 2, "most cases must also run the fused kernel");
    rnnc_test_free_cases(names);
}

static void expect_same_config(rnnc_layer *l, const rnnc_cfg *want, const char *what)
{
    rnnc_cfg *got = NULL;
    cr_assert_eq(rnnc_layer_get_config(l, &got), RNNC_OK, "%s", rnnc_last_error());
    char path[512] = "config";
    cr_expect(rnnc_test_cfg_equal(got, want, path, sizeof path), "%s: get_config differs at %s",
              what, path);
    rnnc_cfg_destroy(got);
}

Test(lstm_keras, get_config_reproduces_keras_config)
{
    int n = 0;
    char **names = rnnc_test_read_cases(CASES_DIR, &n);
    cr_assert(names && n > 0);
    for (int i = 0; i < n; i++) {
        kcase k;
        if (strncmp(names[i], "torch_", 6) == 0)
            continue; /* hand-written Keras-style configs, not Keras's output */
        if (open_case(&k, names[i]) == 0) {
            rnnc_layer *l = NULL;
            rnnc_cfg *c = rnnc_cfg_clone(k.config);
            cr_assert_eq(rnnc_lstm_from_config(c, &l), RNNC_OK, "case %s: %s", names[i],
                         rnnc_last_error());
            expect_same_config(l, k.config, names[i]);
            rnnc_cfg_destroy(c);
            rnnc_layer_destroy(l);
        }
        rnnc_cfg_destroy(k.config);
        rnnc_fixture_close(k.fx);
    }
    rnnc_test_free_cases(names);
    /* LSTMCell: unit_forget_bias right after use_bias (the LSTM has it after
     * the initializers). */
    rnnc_cfg *cells = NULL;
    cr_assert_eq(rnnc_spec_read_file(CASES_DIR "/cell_config.json", &cells), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_assert_eq(cells->type, RNNC_CFG_LIST);
    for (size_t i = 0; i < cells->n; i++) {
        rnnc_layer *l = NULL;
        rnnc_cfg *c = rnnc_cfg_clone(cells->items[i]);
        cr_assert_eq(rnnc_lstm_cell_from_config(c, &l), RNNC_OK, "%s", rnnc_last_error());
        expect_same_config(l, cells->items[i], "LSTMCell");
        rnnc_cfg_destroy(c);
        rnnc_layer_destroy(l);
    }
    rnnc_cfg_destroy(cells);
}
