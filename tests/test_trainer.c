/* test_trainer.c - compile / fit / evaluate / predict / train_on_batch and
 * the callbacks: against Keras's own fit (tests/fixtures/optim/fit.h5 from
 * tests/gen_optimizer_fixtures.py: History, final weights, evaluate and
 * predict), against hand-computed steps, and behaviour (loss decreasing on
 * a separable task, a GRU fit, callbacks, errors). */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/constraints.h"
#include "framework/model.h"
#include "framework/regularizers.h"
#include "helpers/fixture.h"
#include "io/spec_reader.h"
#include "layers/dense.h"
#include "layers/gru.h"
#include "optim/trainer.h"

#define FIT_FILE RNNC_FIXTURES "/optim/fit.h5"

static rnnc_cfg *json(const char *text)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, strlen(text), "<json>", &c), RNNC_OK, "%s", rnnc_last_error());
    return c;
}

static char *h5_attr(const char *file, const char *obj, const char *attr)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *out = NULL;
    if (f >= 0 && H5Aexists_by_name(f, obj, attr, H5P_DEFAULT) > 0) {
        hid_t a = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
        hid_t t = H5Aget_type(a);
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        if (H5Tis_variable_str(t) > 0 && H5Aread(a, mt, &s) >= 0 && s) {
            out = malloc(strlen(s) + 1);
            strcpy(out, s);
            H5free_memory(s);
        }
        H5Tclose(mt);
        H5Tclose(t);
        H5Aclose(a);
    }
    if (f >= 0)
        H5Fclose(f);
    return out;
}

static rnnc_tensor *fx_read(rnnc_fixture *fx, const char *path, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, path, dt, &t), RNNC_OK, "%s", rnnc_last_error());
    return t;
}

static rnnc_weight **model_weights(rnnc_model *m, int *n)
{
    cr_assert_eq(rnnc_model_weights(m, NULL, 0, n), RNNC_OK);
    rnnc_weight **w = calloc((size_t)*n + 1, sizeof *w);
    cr_assert_eq(rnnc_model_weights(m, w, *n, n), RNNC_OK);
    return w;
}

/* Sequential(Dense(4, tanh, L2(0.01), MaxNorm(1.5)), Dense(1)) built for (None, 3). */
static rnnc_model *keras_fit_model(rnnc_fixture *fx)
{
    rnnc_dense_options o = rnnc_dense_options_default(4);
    o.activation = RNNC_ACT_TANH;
    rnnc_cfg *rc = json("{\"class_name\": \"L2\", \"config\": {\"l2\": 0.01}}");
    rnnc_cfg *cc = json("{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 1.5, \"axis\": 0}}");
    rnnc_regularizer *reg = NULL;
    rnnc_constraint *con = NULL;
    cr_assert_eq(rnnc_regularizer_from_config(rc, "test", &reg), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_constraint_from_config(cc, "test", &con), RNNC_OK, "%s", rnnc_last_error());
    o.kernel_regularizer = reg;
    o.kernel_constraint = con;
    rnnc_layer *d0 = NULL, *d1 = NULL;
    cr_assert_eq(rnnc_dense_create(&o, &d0), RNNC_OK, "%s", rnnc_last_error());
    rnnc_dense_options o1 = rnnc_dense_options_default(1);
    cr_assert_eq(rnnc_dense_create(&o1, &d1), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_sequential_create(NULL, &m), RNNC_OK);
    cr_assert_eq(rnnc_model_add(m, d0), RNNC_OK);
    cr_assert_eq(rnnc_model_add(m, d1), RNNC_OK);
    rnnc_shape in = RNNC_SHAPE(-1, 3);
    cr_assert_eq(rnnc_model_build(m, &in), RNNC_OK, "%s", rnnc_last_error());
    int n;
    rnnc_weight **w = model_weights(m, &n);
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        char path[32];
        snprintf(path, sizeof path, "init/%d", i);
        rnnc_tensor *t = fx_read(fx, path, RNNC_F32);
        cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK, "%s", rnnc_last_error());
        rnnc_tensor_destroy(t);
    }
    free(w);
    rnnc_regularizer_destroy(reg);
    rnnc_constraint_destroy(con);
    rnnc_cfg_destroy(rc);
    rnnc_cfg_destroy(cc);
    return m;
}

static double rel(double a, double b) { return fabs(a - b) / fmax(1.0, fabs(b)); }

static void run_keras_fit(const char *name)
{
    char path[128];
    rnnc_fixture *fx = NULL;
    cr_assert_eq(rnnc_fixture_open(FIT_FILE, &fx), RNNC_OK);
    rnnc_model *m = keras_fit_model(fx);
    rnnc_tensor *x = fx_read(fx, "x", RNNC_F32), *y = fx_read(fx, "y", RNNC_F32);
    rnnc_tensor *sw = NULL;
    char *opt_json = h5_attr(FIT_FILE, name, "optimizer");
    cr_assert_not_null(opt_json);
    rnnc_cfg *opt = json(opt_json), *loss = json("\"mse\""), *metrics = json("[\"mae\"]");
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, metrics, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.batch_size = 8;
    fo.epochs = 3;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_SILENT;
    if (strcmp(name, "rmsprop_sw") == 0) {
        sw = fx_read(fx, "sample_weight", RNNC_F32);
        fo.sample_weight = sw;
    }
    if (strcmp(name, "adam_val_split") == 0)
        fo.validation_split = 0.25;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s: %s", name, rnnc_last_error());
    cr_assert_eq(rnnc_history_n_epochs(h), 3);
    /* History: same keys, same order, values to 1e-5 */
    char *keys_json = h5_attr(FIT_FILE, name, "history_keys");
    rnnc_cfg *keys = json(keys_json);
    cr_assert_eq(rnnc_history_n_keys(h), (int)keys->n, "%s: %d history keys, Keras has %zu", name,
                 rnnc_history_n_keys(h), keys->n);
    for (size_t k = 0; k < keys->n; k++) {
        cr_expect_str_eq(rnnc_history_key(h, (int)k), keys->items[k]->v.s);
        snprintf(path, sizeof path, "%s/history/%s", name, keys->items[k]->v.s);
        rnnc_tensor *want = fx_read(fx, path, RNNC_F64);
        const double *got = rnnc_history_get(h, keys->items[k]->v.s);
        cr_assert_not_null(got, "%s: no history for %s", name, keys->items[k]->v.s);
        for (int e = 0; e < 3; e++)
            cr_expect_leq(rel(got[e], rnnc_f64(want)[e]), 1e-5, "%s: %s epoch %d: %.9g vs Keras %.9g", name,
                          keys->items[k]->v.s, e, got[e], rnnc_f64(want)[e]);
        rnnc_tensor_destroy(want);
    }
    /* final weights */
    int n;
    rnnc_weight **w = model_weights(m, &n);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/weights/%d", name, i);
        rnnc_tensor *want = fx_read(fx, path, RNNC_F32);
        double e = 0;
        for (size_t j = 0; j < want->numel; j++)
            e = fmax(e, rel(rnnc_tensor_get(w[i]->value, j), rnnc_tensor_get(want, j)));
        cr_expect_leq(e, 1e-5, "%s: weight %d differs from Keras by %.3g", name, i, e);
        rnnc_tensor_destroy(want);
    }
    free(w);
    /* evaluate and predict afterwards */
    rnnc_logs ev;
    cr_assert_eq(rnnc_trainer_evaluate(tr, x, y, NULL, 8, &ev), RNNC_OK, "%s", rnnc_last_error());
    snprintf(path, sizeof path, "%s/evaluate/loss", name);
    rnnc_tensor *el = fx_read(fx, path, RNNC_F64);
    cr_expect_leq(rel(*rnnc_logs_get(&ev, "loss"), rnnc_f64(el)[0]), 1e-5, "%s: evaluate loss", name);
    rnnc_tensor *pred = NULL;
    cr_assert_eq(rnnc_trainer_predict(tr, x, 8, &pred), RNNC_OK, "%s", rnnc_last_error());
    snprintf(path, sizeof path, "%s/predict", name);
    rnnc_tensor *wp = fx_read(fx, path, RNNC_F32);
    cr_assert(rnnc_shape_eq(&pred->shape, &wp->shape));
    for (size_t j = 0; j < wp->numel; j++)
        cr_expect_leq(rel(rnnc_tensor_get(pred, j), rnnc_tensor_get(wp, j)), 1e-5, "%s: predict[%zu]", name, j);

    rnnc_tensor_destroy(pred);
    rnnc_tensor_destroy(wp);
    rnnc_tensor_destroy(el);
    rnnc_cfg_destroy(keys);
    free(keys_json);
    rnnc_history_destroy(h);
    rnnc_trainer_destroy(tr);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    rnnc_cfg_destroy(metrics);
    free(opt_json);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(sw);
    rnnc_model_destroy(m);
    rnnc_fixture_close(fx);
}

Test(fit_keras, sgd_momentum) { run_keras_fit("sgd_momentum"); }
Test(fit_keras, adam) { run_keras_fit("adam"); }
Test(fit_keras, rmsprop_sample_weight) { run_keras_fit("rmsprop_sw"); }
Test(fit_keras, adam_validation_split_clipnorm) { run_keras_fit("adam_val_split"); }

/* ---- hand-computed step -------------------------------------------------------- */

static rnnc_model *linear_model(int64_t in, const double *kernel, double bias)
{
    rnnc_dense_options o = rnnc_dense_options_default(1);
    rnnc_layer *d = NULL;
    cr_assert_eq(rnnc_dense_create(&o, &d), RNNC_OK);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_sequential_create(NULL, &m), RNNC_OK);
    cr_assert_eq(rnnc_model_add(m, d), RNNC_OK);
    rnnc_shape s = RNNC_SHAPE(-1, in);
    cr_assert_eq(rnnc_model_build(m, &s), RNNC_OK, "%s", rnnc_last_error());
    int n;
    rnnc_weight **w = model_weights(m, &n);
    for (int64_t i = 0; i < in; i++)
        rnnc_tensor_set(w[0]->value, (size_t)i, kernel[i]);
    rnnc_tensor_set(w[1]->value, 0, bias);
    free(w);
    return m;
}

static rnnc_tensor *tens(rnnc_dtype dt, rnnc_shape sh, const double *v)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_tensor_create(dt, &sh, &t), RNNC_OK);
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(t, i, v[i]);
    return t;
}

static rnnc_trainer *compile_json(rnnc_model *m, const char *opt, const char *loss, const char *metrics)
{
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    rnnc_cfg *o = opt ? json(opt) : NULL, *l = json(loss), *mt = metrics ? json(metrics) : NULL;
    cr_assert_eq(rnnc_trainer_compile_config(tr, o, l, mt, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(o);
    rnnc_cfg_destroy(l);
    rnnc_cfg_destroy(mt);
    return tr;
}

Test(trainer, train_on_batch_is_one_sgd_step_by_hand)
{
    const double k[2] = {0.5, -0.25}, xv[6] = {1, 2, -1, 0.5, 0, -3}, yv[3] = {1, 0, 2};
    rnnc_model *m = linear_model(2, k, 0.1);
    rnnc_tensor *x = tens(RNNC_F32, RNNC_SHAPE(3, 2), xv), *y = tens(RNNC_F32, RNNC_SHAPE(3, 1), yv);
    rnnc_trainer *tr = compile_json(m, "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1}}", "\"mse\"",
                                    "[\"mae\"]");
    /* loss = mean (x.k + b - y)^2; dL/dk = 2/B sum e x; dL/db = 2/B sum e */
    double e[3], loss = 0, mae = 0, gk[2] = {0, 0}, gb = 0;
    for (int i = 0; i < 3; i++) {
        e[i] = xv[2 * i] * k[0] + xv[2 * i + 1] * k[1] + 0.1 - yv[i];
        loss += e[i] * e[i] / 3;
        mae += fabs(e[i]) / 3;
        gk[0] += 2.0 / 3 * e[i] * xv[2 * i];
        gk[1] += 2.0 / 3 * e[i] * xv[2 * i + 1];
        gb += 2.0 / 3 * e[i];
    }
    rnnc_logs logs;
    cr_assert_eq(rnnc_trainer_train_on_batch(tr, x, y, NULL, &logs), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_float_eq(*rnnc_logs_get(&logs, "loss"), loss, 1e-5);
    cr_expect_float_eq(*rnnc_logs_get(&logs, "mae"), mae, 1e-5);
    cr_expect_str_eq(logs.names[0], "loss");
    cr_expect_str_eq(logs.names[1], "mae");
    int n;
    rnnc_weight **w = model_weights(m, &n);
    const double lr = (double)0.1f;
    cr_expect_float_eq(rnnc_tensor_get(w[0]->value, 0), k[0] - lr * gk[0], 1e-6);
    cr_expect_float_eq(rnnc_tensor_get(w[0]->value, 1), k[1] - lr * gk[1], 1e-6);
    cr_expect_float_eq(rnnc_tensor_get(w[1]->value, 0), 0.1 - lr * gb, 1e-6);
    cr_expect_eq(rnnc_optimizer_iterations(rnnc_trainer_optimizer(tr)), 1);
    /* predict is x.k + b with the new weights */
    rnnc_tensor *p = NULL;
    cr_assert_eq(rnnc_trainer_predict(tr, x, 2, &p), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(p->numel, 3);
    for (int i = 0; i < 3; i++) {
        const double want = xv[2 * i] * rnnc_tensor_get(w[0]->value, 0) + xv[2 * i + 1] * rnnc_tensor_get(w[0]->value, 1) +
                            rnnc_tensor_get(w[1]->value, 0);
        cr_expect_float_eq(rnnc_tensor_get(p, (size_t)i), want, 1e-6);
    }
    /* evaluate with batch 2 weights the batch means by batch size */
    rnnc_logs ev;
    cr_assert_eq(rnnc_trainer_evaluate(tr, x, y, NULL, 2, &ev), RNNC_OK);
    double l2 = 0;
    for (int i = 0; i < 3; i++)
        l2 += pow(rnnc_tensor_get(p, (size_t)i) - yv[i], 2) / 3;
    cr_expect_float_eq(*rnnc_logs_get(&ev, "loss"), l2, 1e-5);
    free(w);
    rnnc_tensor_destroy(p);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

Test(trainer, class_weight_weights_the_loss)
{
    const double k[1] = {1.0}, xv[4] = {0, 1, 2, 3}, yv[4] = {1, 0, 1, 0};
    rnnc_model *m = linear_model(1, k, 0.0);
    rnnc_tensor *x = tens(RNNC_F32, RNNC_SHAPE(4, 1), xv), *y = tens(RNNC_F32, RNNC_SHAPE(4, 1), yv);
    rnnc_trainer *tr = compile_json(m, "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.0}}", "\"mse\"", NULL);
    rnnc_fit_options fo = rnnc_fit_options_default();
    const double cw[2] = {0.5, 3.0};
    fo.class_weight = cw;
    fo.n_class_weight = 2;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    double want = 0;
    for (int i = 0; i < 4; i++)
        want += cw[(int)yv[i]] * pow(xv[i] - yv[i], 2) / 4;
    cr_expect_float_eq(rnnc_history_get(h, "loss")[0], want, 1e-5);
    rnnc_history_destroy(h);
    /* class_weight together with sample_weight is refused */
    rnnc_tensor *sw = tens(RNNC_F32, RNNC_SHAPE(4), yv);
    fo.sample_weight = sw;
    cr_expect_eq(rnnc_trainer_fit(tr, x, y, &fo, NULL), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "class_weight"), "%s", rnnc_last_error());
    rnnc_tensor_destroy(sw);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

/* ---- learning --------------------------------------------------------------------- */

static void separable_data(int n, rnnc_tensor **x, rnnc_tensor **y)
{
    rnnc_shape xs = RNNC_SHAPE(n, 2);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &xs, 3, -1, 1, x), RNNC_OK);
    rnnc_shape ys = RNNC_SHAPE(n, 1);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys, y), RNNC_OK);
    for (int i = 0; i < n; i++)
        rnnc_tensor_set(*y, (size_t)i, rnnc_tensor_get(*x, 2 * (size_t)i) - 0.5 * rnnc_tensor_get(*x, 2 * (size_t)i + 1) > 0.1);
}

Test(trainer, loss_decreases_on_a_separable_task)
{
    rnnc_dense_options o = rnnc_dense_options_default(1);
    o.activation = RNNC_ACT_SIGMOID;
    rnnc_layer *d = NULL;
    cr_assert_eq(rnnc_dense_create(&o, &d), RNNC_OK);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_sequential_create(NULL, &m), RNNC_OK);
    cr_assert_eq(rnnc_model_add(m, d), RNNC_OK);
    rnnc_tensor *x, *y;
    separable_data(128, &x, &y);
    rnnc_trainer *tr = compile_json(m, "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.05}}",
                                    "\"binary_crossentropy\"", "[\"accuracy\"]");
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.epochs = 30;
    fo.batch_size = 16;
    fo.seed = 7;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    const double *loss = rnnc_history_get(h, "loss"), *acc = rnnc_history_get(h, "accuracy");
    cr_assert(loss && acc);
    cr_expect_str_eq(rnnc_history_key(h, 0), "accuracy", "Keras sorts the logs");
    cr_expect_lt(loss[29], 0.5 * loss[0], "loss %g -> %g", loss[0], loss[29]);
    cr_expect_geq(acc[29], 0.95, "accuracy %g", acc[29]);
    rnnc_logs ev;
    cr_assert_eq(rnnc_trainer_evaluate(tr, x, y, NULL, 0, &ev), RNNC_OK);
    cr_expect_geq(*rnnc_logs_get(&ev, "accuracy"), 0.95);
    rnnc_history_destroy(h);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

Test(trainer, seeded_shuffle_is_reproducible)
{
    double final[2][3];
    for (int run = 0; run < 3; run++) {
        const double k[2] = {0.1, 0.2};
        rnnc_model *m = linear_model(2, k, 0.0);
        rnnc_tensor *x, *y;
        separable_data(40, &x, &y);
        rnnc_trainer *tr = compile_json(m, "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1, \"momentum\": 0.5}}",
                                        "\"mse\"", NULL);
        rnnc_fit_options fo = rnnc_fit_options_default();
        fo.epochs = 2;
        fo.batch_size = 8;
        fo.seed = run < 2 ? 123 : 124;
        fo.verbose = RNNC_VERBOSE_SILENT;
        cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, NULL), RNNC_OK, "%s", rnnc_last_error());
        int n;
        rnnc_weight **w = model_weights(m, &n);
        double v[3] = {rnnc_tensor_get(w[0]->value, 0), rnnc_tensor_get(w[0]->value, 1), rnnc_tensor_get(w[1]->value, 0)};
        if (run < 2)
            memcpy(final[run], v, sizeof v);
        else
            cr_expect(v[0] != final[0][0] || v[1] != final[0][1], "another seed, another order");
        free(w);
        rnnc_trainer_destroy(tr);
        rnnc_model_destroy(m);
        rnnc_tensor_destroy(x);
        rnnc_tensor_destroy(y);
    }
    cr_expect(memcmp(final[0], final[1], sizeof final[0]) == 0, "same seed, same weights");
}

Test(trainer, gru_dense_sequence_model_learns)
{
    /* Sequential(GRU(8), Dense(1)): predict the mean of a short sequence */
    rnnc_gru_options g = rnnc_gru_options_default();
    g.units = 8;
    g.has_seed = true;
    g.seed = 1;
    rnnc_layer *gru = NULL, *d = NULL;
    cr_assert_eq(rnnc_gru_create(&g, &gru), RNNC_OK, "%s", rnnc_last_error());
    rnnc_dense_options o = rnnc_dense_options_default(1);
    cr_assert_eq(rnnc_dense_create(&o, &d), RNNC_OK);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_sequential_create(NULL, &m), RNNC_OK);
    cr_assert_eq(rnnc_model_add(m, gru), RNNC_OK);
    cr_assert_eq(rnnc_model_add(m, d), RNNC_OK);
    rnnc_tensor *x = NULL, *y = NULL;
    rnnc_shape xs = RNNC_SHAPE(64, 5, 2), ys = RNNC_SHAPE(64, 1);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &xs, 9, -1, 1, &x), RNNC_OK);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys, &y), RNNC_OK);
    for (int i = 0; i < 64; i++) {
        double s = 0;
        for (int t = 0; t < 5; t++)
            s += rnnc_tensor_get(x, (size_t)(i * 10 + t * 2));
        rnnc_tensor_set(y, (size_t)i, s / 5);
    }
    rnnc_trainer *tr = compile_json(m, "{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.02}}", "\"mse\"",
                                    "[\"mae\"]");
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.epochs = 15;
    fo.batch_size = 16;
    fo.validation_split = 0.25;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    const double *loss = rnnc_history_get(h, "loss"), *val = rnnc_history_get(h, "val_loss");
    cr_assert(loss && val);
    cr_expect_lt(loss[14], 0.5 * loss[0], "loss %g -> %g", loss[0], loss[14]);
    cr_expect_lt(val[14], val[0], "val_loss %g -> %g", val[0], val[14]);
    rnnc_history_destroy(h);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

/* ---- callbacks --------------------------------------------------------------------- */

/* A model whose only layer is frozen: the loss never changes. */
static rnnc_model *frozen_model(void)
{
    const double k[1] = {1.0};
    rnnc_model *m = linear_model(1, k, 0.0);
    m->layers[0]->trainable = false;
    return m;
}

Test(callbacks, early_stopping_patience_and_restore)
{
    rnnc_model *m = frozen_model();
    const double xv[4] = {0, 1, 2, 3}, yv[4] = {1, 1, 1, 1};
    rnnc_tensor *x = tens(RNNC_F32, RNNC_SHAPE(4, 1), xv), *y = tens(RNNC_F32, RNNC_SHAPE(4, 1), yv);
    rnnc_trainer *tr = compile_json(m, "\"sgd\"", "\"mse\"", NULL);
    rnnc_early_stopping_options eo = rnnc_early_stopping_options_default();
    eo.monitor = "loss";
    eo.patience = 2;
    rnnc_callback *es = NULL;
    cr_assert_eq(rnnc_early_stopping_create(&eo, &es), RNNC_OK);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.epochs = 10;
    fo.verbose = RNNC_VERBOSE_SILENT;
    fo.callbacks = &es;
    fo.n_callbacks = 1;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    /* epoch 0 sets the best, 1 and 2 do not improve: stop after epoch 2 */
    cr_expect_eq(rnnc_history_n_epochs(h), 3);
    rnnc_history_destroy(h);
    rnnc_callback_destroy(es);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);

    /* restore_best_weights: SGD with a huge rate diverges after epoch 0 */
    const double k[1] = {0.5};
    m = linear_model(1, k, 0.0);
    tr = compile_json(m, "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 2.0}}", "\"mse\"", NULL);
    eo.patience = 1;
    eo.restore_best_weights = true;
    cr_assert_eq(rnnc_early_stopping_create(&eo, &es), RNNC_OK);
    fo.batch_size = 4;
    fo.shuffle = false;
    fo.callbacks = &es;
    /* the weights after epoch 0 (one step), computed by hand: best epoch */
    double e[4], gk = 0, gb = 0;
    for (int i = 0; i < 4; i++) {
        e[i] = xv[i] * 0.5 - yv[i];
        gk += 2.0 / 4 * e[i] * xv[i];
        gb += 2.0 / 4 * e[i];
    }
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_history_n_epochs(h), 2, "epoch 1 is worse than epoch 0: stop");
    const double *loss = rnnc_history_get(h, "loss");
    cr_expect_gt(loss[1], loss[0]);
    int n;
    rnnc_weight **w = model_weights(m, &n);
    cr_expect_float_eq(rnnc_tensor_get(w[0]->value, 0), 0.5 - 2.0 * gk, 1e-5, "restored to the epoch-0 weights");
    cr_expect_float_eq(rnnc_tensor_get(w[1]->value, 0), 0.0 - 2.0 * gb, 1e-5);
    free(w);
    rnnc_history_destroy(h);
    rnnc_callback_destroy(es);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

Test(callbacks, reduce_lr_on_plateau_and_csv_logger)
{
    rnnc_model *m = frozen_model();
    const double xv[4] = {0, 1, 2, 3}, yv[4] = {1, 1, 1, 1};
    rnnc_tensor *x = tens(RNNC_F32, RNNC_SHAPE(4, 1), xv), *y = tens(RNNC_F32, RNNC_SHAPE(4, 1), yv);
    rnnc_trainer *tr = compile_json(m, "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1}}", "\"mse\"",
                                    "[\"mae\"]");
    rnnc_reduce_lr_on_plateau_options ro = rnnc_reduce_lr_on_plateau_options_default();
    ro.monitor = "loss";
    ro.patience = 1;
    ro.factor = 0.5;
    rnnc_callback *cbs[2] = {NULL, NULL};
    cr_assert_eq(rnnc_reduce_lr_on_plateau_create(&ro, &cbs[0]), RNNC_OK);
    char path[64];
    snprintf(path, sizeof path, "%s/rnnc_test_trainer_log.csv", RNNC_BUILD_DIR);
    cr_assert_eq(rnnc_csv_logger_create(path, ',', false, &cbs[1]), RNNC_OK);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.epochs = 4;
    fo.verbose = RNNC_VERBOSE_SILENT;
    fo.callbacks = cbs;
    fo.n_callbacks = 2;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    const double *lr = rnnc_history_get(h, "learning_rate");
    cr_assert_not_null(lr, "ReduceLROnPlateau logs the learning rate");
    /* logged before the reduction of that epoch: 0.1, 0.1, 0.05, 0.025 */
    const double want[4] = {0.1, 0.1, 0.05, 0.025};
    for (int e = 0; e < 4; e++)
        cr_expect_float_eq(lr[e], want[e], 1e-7, "epoch %d: %g", e, lr[e]);
    cr_expect_float_eq(rnnc_optimizer_learning_rate(rnnc_trainer_optimizer(tr)), 0.0125, 1e-7);
    /* the CSV: a header with the sorted keys plus val_ columns, one row per epoch */
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[512];
    cr_assert_not_null(fgets(line, sizeof line, f));
    cr_expect_str_eq(line, "epoch,learning_rate,loss,mae,val_learning_rate,val_loss,val_mae\r\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int ep = -1;
        cr_expect_eq(sscanf(line, "%d,", &ep), 1);
        cr_expect_eq(ep, rows);
        cr_expect(strstr(line, ",NA,NA,NA"), "missing val_ values are NA: %s", line);
        rows++;
    }
    cr_expect_eq(rows, 4);
    fclose(f);
    remove(path);
    rnnc_history_destroy(h);
    rnnc_callback_destroy(cbs[0]);
    rnnc_callback_destroy(cbs[1]);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

typedef struct capture {
    char buf[8192];
    size_t n;
} capture;

static void capture_print(void *user, const char *text)
{
    capture *c = user;
    size_t k = strlen(text);
    if (c->n + k + 1 < sizeof c->buf) {
        memcpy(c->buf + c->n, text, k + 1);
        c->n += k;
    }
}

typedef struct saves {
    int n;
    int epochs[16];
} saves;

static rnnc_status save_hook(void *user, rnnc_trainer *tr, int epoch, const rnnc_logs *logs)
{
    (void)tr;
    (void)logs;
    saves *s = user;
    if (s->n < 16)
        s->epochs[s->n++] = epoch;
    return RNNC_OK;
}

/* Keras 3's constructor defaults: ModelCheckpoint(monitor="val_loss",
 * mode="auto", save_freq="epoch", initial_value_threshold=None) and
 * ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, mode="auto",
 * min_delta=1e-4, cooldown=0, min_lr=0.0). */
Test(callbacks, options_defaults_are_keras_constructor_defaults)
{
    rnnc_model_checkpoint_options c = rnnc_model_checkpoint_options_default();
    cr_assert_str_eq(c.monitor, "val_loss");
    cr_assert_eq(c.mode, RNNC_MODE_AUTO);
    cr_assert_eq(c.save_freq, 0);
    cr_assert(!c.save_best_only && !c.has_initial_value_threshold && !c.save && !c.save_at);
    rnnc_reduce_lr_on_plateau_options r = rnnc_reduce_lr_on_plateau_options_default();
    cr_assert_str_eq(r.monitor, "val_loss");
    cr_assert_eq(r.factor, 0.1);
    cr_assert_eq(r.patience, 10);
    cr_assert_eq(r.mode, RNNC_MODE_AUTO);
    cr_assert_eq(r.min_delta, 1e-4);
    cr_assert_eq(r.cooldown, 0);
    cr_assert_eq(r.min_lr, 0.0);
}

Test(callbacks, terminate_on_nan_progress_lines_and_checkpoint_hook)
{
    const double k[1] = {1.0};
    rnnc_model *m = linear_model(1, k, 0.0);
    const double xv[4] = {0, 1, 2, 3}, yv[4] = {1, NAN, 1, 1};
    rnnc_tensor *x = tens(RNNC_F32, RNNC_SHAPE(4, 1), xv), *y = tens(RNNC_F32, RNNC_SHAPE(4, 1), yv);
    rnnc_trainer *tr = compile_json(m, "\"sgd\"", "\"mse\"", NULL);
    rnnc_callback *cbs[2] = {NULL, NULL};
    cr_assert_eq(rnnc_terminate_on_nan_create(&cbs[0]), RNNC_OK);
    saves sv = {0};
    rnnc_model_checkpoint_options co = {.monitor = "loss", .mode = RNNC_MODE_AUTO, .save = save_hook, .user = &sv};
    cr_assert_eq(rnnc_model_checkpoint_create(&co, &cbs[1]), RNNC_OK);
    capture cap = {{0}, 0};
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.epochs = 5;
    fo.batch_size = 2;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_LINES;
    fo.print = capture_print;
    fo.print_user = &cap;
    fo.callbacks = cbs;
    fo.n_callbacks = 2;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_history_n_epochs(h), 1, "stopped in the first epoch");
    cr_expect(strstr(cap.buf, "Batch 0: Invalid loss, terminating training"), "%s", cap.buf);
    cr_expect(strstr(cap.buf, "Epoch 1/5\n"), "%s", cap.buf);
    cr_expect(strstr(cap.buf, " - loss: nan"), "one line per epoch with the loss: %s", cap.buf);
    cr_expect_eq(sv.n, 1, "the checkpoint hook runs at the end of each epoch");
    rnnc_history_destroy(h);
    rnnc_callback_destroy(cbs[0]);
    rnnc_callback_destroy(cbs[1]);

    /* save_best_only saves on improvement only; the live bar redraws with \r */
    const double y2[4] = {1, 1, 1, 1};
    rnnc_tensor *yy = tens(RNNC_F32, RNNC_SHAPE(4, 1), y2);
    sv.n = 0;
    co.save_best_only = true;
    cr_assert_eq(rnnc_model_checkpoint_create(&co, &cbs[1]), RNNC_OK);
    cap.n = 0;
    cap.buf[0] = 0;
    fo.callbacks = &cbs[1];
    fo.n_callbacks = 1;
    fo.epochs = 3;
    rnnc_callback *live = NULL;
    cr_assert_eq(rnnc_progress_create(true, capture_print, &cap, &live), RNNC_OK);
    rnnc_callback *two[2] = {cbs[1], live};
    fo.callbacks = two;
    fo.n_callbacks = 2;
    fo.verbose = RNNC_VERBOSE_SILENT;
    m->layers[0]->trainable = false; /* constant loss: only epoch 0 improves */
    cr_assert_eq(rnnc_trainer_fit(tr, x, yy, &fo, NULL), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(sv.n, 1);
    cr_expect_eq(sv.epochs[0], 0);
    cr_expect(strstr(cap.buf, "\r"), "a live bar redraws in place");
    cr_expect(strstr(cap.buf, "2/2"), "%s", cap.buf);
    rnnc_callback_destroy(live);
    rnnc_callback_destroy(cbs[1]);
    rnnc_tensor_destroy(yy);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

/* ---- errors ------------------------------------------------------------------------- */

Test(trainer, bad_inputs_are_clear_errors)
{
    const double k[2] = {0, 0}, v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    rnnc_model *m = linear_model(2, k, 0.0);
    rnnc_tensor *x = tens(RNNC_F32, RNNC_SHAPE(4, 2), v), *y3 = tens(RNNC_F32, RNNC_SHAPE(3, 1), v);
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.verbose = RNNC_VERBOSE_SILENT;
    cr_expect_eq(rnnc_trainer_fit(tr, x, y3, &fo, NULL), RNNC_E_STATE, "compile first");
    cr_expect(strstr(rnnc_last_error(), "compile"), "%s", rnnc_last_error());
    rnnc_trainer_destroy(tr);
    tr = compile_json(m, NULL, "\"sparse_categorical_crossentropy\"", "[\"accuracy\"]");
    cr_expect_eq(rnnc_trainer_fit(tr, x, y3, &fo, NULL), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "(4, 2)") && strstr(rnnc_last_error(), "(3, 1)"), "%s", rnnc_last_error());
    /* class ids out of range for a 1-unit output */
    const double ids[4] = {0, 3, 0, 0};
    rnnc_tensor *y = tens(RNNC_I32, RNNC_SHAPE(4), ids);
    cr_expect_eq(rnnc_trainer_fit(tr, x, y, &fo, NULL), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "label value of 3"), "%s", rnnc_last_error());
    fo.validation_split = 0.1; /* floor(4 * 0.9) = 3, one validation sample: fine */
    fo.validation_split = 0.99;
    cr_expect_eq(rnnc_trainer_fit(tr, x, y, &fo, NULL), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "validation_split"), "%s", rnnc_last_error());
    rnnc_trainer_destroy(tr);
    /* unknown names in compile */
    rnnc_cfg *bad = json("[\"acuracy\"]"), *l = json("\"mse\"");
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    cr_expect_eq(rnnc_trainer_compile_config(tr, NULL, l, bad, NULL), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "compile.metrics") && strstr(rnnc_last_error(), "accuracy"), "%s",
              rnnc_last_error());
    cr_expect_eq(rnnc_trainer_compile_config(tr, NULL, NULL, NULL, NULL), RNNC_E_ARG, "loss is required");
    rnnc_cfg_destroy(bad);
    rnnc_cfg_destroy(l);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y3);
    rnnc_tensor_destroy(y);
}

Test(trainer, initial_epoch_and_validation_data)
{
    const double k[2] = {0.3, -0.2};
    rnnc_model *m = linear_model(2, k, 0.0);
    rnnc_tensor *x, *y, *xv, *yv;
    separable_data(24, &x, &y);
    const rnnc_shape vs = RNNC_SHAPE(6, 2);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &vs, 17, -1, 1, &xv), RNNC_OK);
    const double yvv[6] = {1, 0, 1, 0, 1, 1};
    yv = tens(RNNC_F32, RNNC_SHAPE(6, 1), yvv);
    rnnc_trainer *tr = compile_json(m, "\"adam\"", "\"mse\"", "[\"mae\"]");
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.initial_epoch = 2;
    fo.epochs = 4;
    fo.batch_size = 5;
    fo.x_val = xv;
    fo.y_val = yv;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_history_n_epochs(h), 2, "epochs 2 and 3 run");
    cr_expect_eq(rnnc_history_epochs(h)[0], 2);
    cr_expect_eq(rnnc_history_epochs(h)[1], 3);
    cr_expect_eq(rnnc_optimizer_iterations(rnnc_trainer_optimizer(tr)), 2 * 5, "5 batches of 5/5/5/5/4");
    static const char *const keys[] = {"loss", "mae", "val_loss", "val_mae"};
    cr_assert_eq(rnnc_history_n_keys(h), 4);
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(rnnc_history_key(h, i), keys[i]);
    /* the last val_loss is evaluate() on the validation data with the final weights */
    rnnc_logs ev;
    cr_assert_eq(rnnc_trainer_evaluate(tr, xv, yv, NULL, 5, &ev), RNNC_OK);
    cr_expect_float_eq(rnnc_history_get(h, "val_loss")[1], *rnnc_logs_get(&ev, "loss"), 1e-12);
    cr_expect_float_eq(rnnc_history_get(h, "val_mae")[1], *rnnc_logs_get(&ev, "mae"), 1e-12);
    rnnc_history_destroy(h);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(xv);
    rnnc_tensor_destroy(yv);
}
