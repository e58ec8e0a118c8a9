/* test_autocast_metrics.c - Keras's layer autocasting (a float64 layer after
 * float32 ones, float64 data into a float32 model) and compile()'s metric
 * names when metrics and weighted_metrics repeat a name, and a float64
 * layer's regularization under a float32 loss. Oracles:
 * tests/fixtures/optim/autocast_metrics.h5 (tests/gen_autocast_fixtures.py,
 * Keras 3.15.1 on TensorFlow) and tests/fixtures/optim/reg_dtype.h5
 * (tests/gen_reg_dtype_fixture.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/model.h"
#include "framework/ops.h"
#include "helpers/fixture.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "optim/trainer.h"

#define FX RNNC_FIXTURES "/optim/autocast_metrics.h5"
#define REG_FX RNNC_FIXTURES "/optim/reg_dtype.h5"

TestSuite(autocast_metrics);

static rnnc_tensor *rd(rnnc_fixture *f, const char *name, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(f, name, dt, &t), RNNC_OK, "%s: %s", name, rnnc_last_error());
    return t;
}

static rnnc_cfg *parse(const char *text, const char *what)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, strlen(text), what, &c), RNNC_OK, "%s: %s", what,
                 rnnc_last_error());
    return c;
}

/* The group's weights w/<i> into the model, in Keras's order. */
static void set_weights(rnnc_model *m, rnnc_fixture *f, const char *group)
{
    rnnc_weight *w[32];
    int n;
    cr_assert_eq(rnnc_model_weights(m, w, 32, &n), RNNC_OK);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s/w/%d", group, i);
        rnnc_tensor *t = rd(f, name, w[i]->value->dtype);
        cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK, "%s: %s", name, rnnc_last_error());
        rnnc_tensor_destroy(t);
    }
}

static double max_diff(const rnnc_tensor *a, const rnnc_tensor *b)
{
    if (a->numel != b->numel)
        return INFINITY;
    double m = 0;
    for (size_t i = 0; i < a->numel; i++)
        m = fmax(m, fabs(rnnc_tensor_get(a, i) - rnnc_tensor_get(b, i)));
    return m;
}

static void expect_keras_case(const char *group, rnnc_dtype x_dtype)
{
    rnnc_fixture *f;
    char name[64], *json = NULL;
    cr_assert_eq(rnnc_fixture_open(FX, &f), RNNC_OK, "%s", rnnc_last_error());
    snprintf(name, sizeof name, "model_%s", group);
    cr_assert_eq(rnnc_fixture_attr_string(f, name, &json), RNNC_OK);
    rnnc_cfg *c = parse(json, "model");
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_from_config(c, NULL, &m), RNNC_OK, "%s: %s", group, rnnc_last_error());
    set_weights(m, f, group);
    snprintf(name, sizeof name, "%s/x", group);
    rnnc_tensor *x = rd(f, name, x_dtype);
    snprintf(name, sizeof name, "%s/y", group);
    rnnc_tensor *y = rd(f, name, RNNC_F32);
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    rnnc_cfg *opt = parse("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.01}}", "opt");
    rnnc_cfg *loss = parse("\"mse\"", "loss");
    cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    const char *stage[] = {"y_pred", "y_after"};
    for (int k = 0; k < 2; k++) {
        if (k == 1) {
            rnnc_fit_options fo = rnnc_fit_options_default();
            fo.batch_size = 2;
            fo.epochs = 2;
            fo.shuffle = false;
            fo.verbose = RNNC_VERBOSE_SILENT;
            rnnc_history *h = NULL;
            cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s: fit: %s", group, rnnc_last_error());
            snprintf(name, sizeof name, "%s/loss", group);
            rnnc_tensor *want = rd(f, name, RNNC_F64);
            const double *got = rnnc_history_get(h, "loss");
            for (int e = 0; e < 2; e++)
                cr_expect_lt(fabs(got[e] - rnnc_f64(want)[e]), 1e-6, "%s: epoch %d loss %.9g, Keras %.9g",
                             group, e + 1, got[e], rnnc_f64(want)[e]);
            rnnc_tensor_destroy(want);
            rnnc_history_destroy(h);
        }
        rnnc_tensor *p = NULL;
        cr_assert_eq(rnnc_trainer_predict(tr, x, 0, &p), RNNC_OK, "%s: predict: %s", group, rnnc_last_error());
        cr_expect_eq(p->dtype, RNNC_F32, "%s: the output is the last layer's dtype, float32", group);
        snprintf(name, sizeof name, "%s/%s", group, stage[k]);
        rnnc_tensor *want = rd(f, name, RNNC_F32);
        const double e = max_diff(p, want);
        cr_expect_lt(e, 1e-5, "%s: %s differs from Keras's by %g", group, stage[k], e);
        rnnc_tensor_destroy(want);
        rnnc_tensor_destroy(p);
    }
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(c);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    free(json);
    rnnc_fixture_close(f);
}

Test(autocast_metrics, float64_layers_after_float32_layers, .timeout = 120)
{
    expect_keras_case("mixed", RNNC_F32);
}

Test(autocast_metrics, float64_data_into_a_float32_model, .timeout = 120)
{
    expect_keras_case("f64data", RNNC_F64);
}

Test(autocast_metrics, float64_data_into_a_float32_functional_model, .timeout = 120)
{
    expect_keras_case("f64func", RNNC_F64);
}

Test(autocast_metrics, cast_gradient_converts_back)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *x, *y, *seed;
    const double v[] = {1.5, -2.25, 1e-3};
    cr_assert_eq(rnnc_tensor_from(RNNC_F32, &(rnnc_shape){1, {3}}, (const float[]){1.5f, -2.25f, 1e-3f}, &x),
                 RNNC_OK);
    cr_assert_eq(rnnc_tensor_set_requires_grad(x, true), RNNC_OK);
    cr_assert_eq(rnnc_cast(cx, x, RNNC_F64, &y), RNNC_OK);
    cr_assert_eq(y->dtype, RNNC_F64);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(rnnc_tensor_get(y, i), (double)(float)v[i]);
    cr_assert_eq(rnnc_tensor_from(RNNC_F64, &(rnnc_shape){1, {3}}, (const double[]){2, 3, 4}, &seed), RNNC_OK);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK, "%s", rnnc_last_error());
    for (int i = 0; i < 3; i++)
        cr_expect_eq(rnnc_tensor_get_grad(x, i), 2.0 + i);
    rnnc_tensor_destroy(seed);
    rnnc_tensor_destroy(x);
    rnnc_ctx_destroy(cx);
}

Test(autocast_metrics, metrics_and_weighted_metrics_share_a_name)
{
    rnnc_fixture *f;
    char *keys = NULL;
    cr_assert_eq(rnnc_fixture_open(FX, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_attr_string(f, "metrics_keys", &keys), RNNC_OK);
    rnnc_cfg *want_keys = parse(keys, "keys");
    rnnc_cfg *model = parse("{\"class_name\": \"Sequential\", \"config\": {\"layers\": ["
                            "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 3]}},"
                            "{\"class_name\": \"Dense\", \"config\": {\"units\": 1}}]}}",
                            "model");
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_from_config(model, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    set_weights(m, f, "metrics");
    rnnc_tensor *x = rd(f, "metrics/x", RNNC_F32), *y = rd(f, "metrics/y", RNNC_F32),
                *sw = rd(f, "metrics/sw", RNNC_F32);
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    rnnc_cfg *opt = parse("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1}}", "opt");
    rnnc_cfg *loss = parse("\"mse\"", "loss"), *mets = parse("[mae]", "metrics"), *wm = parse("[mae]", "wm");
    cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, mets, wm), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.batch_size = 4;
    fo.epochs = 2;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_SILENT;
    fo.sample_weight = sw;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_history_n_keys(h), (int)want_keys->n, "history has %d keys, Keras %zu",
                 rnnc_history_n_keys(h), want_keys->n);
    for (size_t i = 0; i < want_keys->n; i++) {
        const char *k = want_keys->items[i]->v.s;
        cr_expect_str_eq(rnnc_history_key(h, (int)i), k);
        const double *got = rnnc_history_get(h, k);
        cr_assert_not_null(got, "no history key '%s'", k);
        char name[64];
        snprintf(name, sizeof name, "metrics/hist/%s", k);
        rnnc_tensor *want = rd(f, name, RNNC_F64);
        for (int e = 0; e < 2; e++)
            cr_expect_lt(fabs(got[e] - rnnc_f64(want)[e]), 1e-6, "%s epoch %d: %.9g, Keras %.9g", k, e + 1,
                         got[e], rnnc_f64(want)[e]);
        rnnc_tensor_destroy(want);
    }
    rnnc_history_destroy(h);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(model);
    rnnc_cfg_destroy(want_keys);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    rnnc_cfg_destroy(mets);
    rnnc_cfg_destroy(wm);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(sw);
    free(keys);
    rnnc_fixture_close(f);
}

/* A regularized float64 layer under a float32 loss: the penalty is cast to
 * the loss's dtype on the tape, so its gradient reaches the layer's weights.
 * Oracle: tests/fixtures/optim/reg_dtype.h5 (tests/gen_reg_dtype_fixture.py;
 * Keras 3.15.1's training step with the penalty cast to float32, since
 * Keras's own fit refuses the dtype mix). */
/* The fixture's case `group`: its model and weights, fit (batch 8, 2 epochs,
 * no shuffling) with SGD(lr) and `loss_json`, against the reference losses
 * and weights. x and y: the case's own, else the file's. */
static void expect_dtype_case(const char *group, const char *opt_json, const char *loss_json)
{
    rnnc_fixture *f;
    char *json = NULL, name[64];
    cr_assert_eq(rnnc_fixture_open(REG_FX, &f), RNNC_OK, "%s", rnnc_last_error());
    snprintf(name, sizeof name, "model_%s", group);
    cr_assert_eq(rnnc_fixture_attr_string(f, name, &json), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *c = parse(json, "model");
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_from_config(c, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_weight *w[8];
    int n = 0;
    cr_assert_eq(rnnc_model_weights(m, w, 8, &n), RNNC_OK);
    cr_expect_eq(w[0]->value->dtype, RNNC_F64);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s/w/%d", group, i);
        rnnc_tensor *t = rd(f, name, w[i]->value->dtype);
        cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK, "%s: %s", name, rnnc_last_error());
        rnnc_tensor_destroy(t);
    }
    char xn[64], yn[64];
    snprintf(xn, sizeof xn, "%s/x", group);
    snprintf(yn, sizeof yn, "%s/y", group);
    const bool own = rnnc_fixture_has(f, xn);
    snprintf(name, sizeof name, "%s/loss", group);
    rnnc_tensor *x = rd(f, own ? xn : "x", RNNC_F32), *y = rd(f, own ? yn : "y", RNNC_F32);
    rnnc_tensor *want_loss = rd(f, name, RNNC_F64);
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    rnnc_cfg *opt = parse(opt_json, "opt");
    rnnc_cfg *loss = parse(loss_json, "loss");
    cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.batch_size = 8;
    fo.epochs = 2;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "fit: %s", rnnc_last_error());
    const double *got = rnnc_history_get(h, "loss");
    for (int e = 0; e < 2; e++)
        cr_expect_lt(fabs(got[e] - rnnc_f64(want_loss)[e]), 1e-5 * fabs(rnnc_f64(want_loss)[e]),
                     "%s: epoch %d loss %.9g, reference %.9g", group, e + 1, got[e], rnnc_f64(want_loss)[e]);
    /* gru64: the old code dropped the penalty's gradient (GRU kernel 0.23 off);
     * both: the old code refused the two penalties' dtypes; f64_*: the old
     * code took the float64 logits (loss 48.7 where Keras clips: 11.1) */
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s/after/%d", group, i);
        rnnc_tensor *want = rd(f, name, w[i]->value->dtype);
        double e = 0;
        for (size_t j = 0; j < want->numel; j++)
            e = fmax(e, fabs(rnnc_tensor_get(w[i]->value, j) - rnnc_tensor_get(want, j)));
        cr_expect_lt(e, 1e-6, "%s: weight %d (%s) differs from the reference by %g", group, i, w[i]->name, e);
        rnnc_tensor_destroy(want);
    }
    rnnc_history_destroy(h);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(c);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(want_loss);
    free(json);
    rnnc_fixture_close(f);
}

#define SGD_01 "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1}}"
#define SGD_001 "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.01}}"

Test(autocast_metrics, float64_penalty_under_float32_loss_trains_its_weights, .timeout = 120)
{
    expect_dtype_case("gru64", SGD_01, "\"mse\"");
}

Test(autocast_metrics, penalties_of_two_dtypes_add_up, .timeout = 120)
{
    expect_dtype_case("both", SGD_01, "\"mse\"");
}

/* Keras's losses compute in float32 (floatx): a float64 model's softmax /
 * sigmoid output is cast first, which hides its logits, so the saturated
 * probabilities are clipped as Keras's model.fit clips them */
Test(autocast_metrics, float64_model_crossentropy_computes_in_float32, .timeout = 120)
{
    expect_dtype_case("f64_cce", SGD_001, "\"categorical_crossentropy\"");
    expect_dtype_case("f64_bce", SGD_001, "\"binary_crossentropy\"");
}
