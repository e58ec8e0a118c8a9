/* test_optimizers.c - optimizers and schedules against Keras 3.15.1 itself
 * (tests/fixtures/optim/{optimizers,schedules}.h5, written by
 * tests/gen_optimizer_fixtures.py) and against hand-computed updates.
 *
 * Each Keras case: the optimizer is built from Keras's serialized config,
 * fed the same five gradient sets, and must reproduce the variables after
 * every step, the optimizer's variables (names, order, values) and the
 * config itself. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/constraints.h"
#include "framework/layer.h"
#include "helpers/builders.h"
#include "helpers/fixture.h"
#include "io/spec_reader.h"
#include "optim/optimizer.h"
#include "optim/schedules.h"

#define OPT_FILE RNNC_FIXTURES "/optim/optimizers.h5"
#define SCHED_FILE RNNC_FIXTURES "/optim/schedules.h5"

/* ---- small helpers -------------------------------------------------------- */

/* A string attribute of an object (group) inside an HDF5 file; NULL if absent. */
static char *h5_attr(const char *file, const char *obj, const char *attr)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return NULL;
    char *out = NULL;
    if (H5Aexists_by_name(f, obj, attr, H5P_DEFAULT) > 0) {
        hid_t a = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
        hid_t t = H5Aget_type(a);
        if (H5Tis_variable_str(t) > 0) {
            char *s = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            if (H5Aread(a, mt, &s) >= 0 && s) {
                out = malloc(strlen(s) + 1);
                if (out)
                    strcpy(out, s);
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else if (H5Tget_class(t) == H5T_STRING) {
            size_t n = H5Tget_size(t);
            out = calloc(n + 1, 1);
            H5Aread(a, t, out);
        } else if (H5Tget_class(t) == H5T_INTEGER) {
            long long v = 0;
            H5Aread(a, H5T_NATIVE_LLONG, &v);
            out = malloc(32);
            snprintf(out, 32, "%lld", v);
        }
        H5Tclose(t);
        H5Aclose(a);
    }
    H5Fclose(f);
    return out;
}

static rnnc_tensor *read_t(rnnc_fixture *fx, const char *path, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, path, dt, &t), RNNC_OK, "%s", rnnc_last_error());
    return t;
}

/* max over elements of |a - b| / max(1, |b|) */
static double max_err(const rnnc_tensor *a, const rnnc_tensor *b)
{
    cr_assert_eq(a->numel, b->numel);
    double e = 0;
    for (size_t i = 0; i < a->numel; i++) {
        const double x = rnnc_tensor_get(a, i), y = rnnc_tensor_get(b, i);
        const double d = fabs(x - y) / fmax(1.0, fabs(y));
        if (!(d <= e))
            e = d;
    }
    return e;
}

/* ---- Keras cases ------------------------------------------------------------ */

static void run_keras_case(const char *name)
{
    char path[256];
    char *config = h5_attr(OPT_FILE, name, "config");
    cr_assert_not_null(config, "no config for case %s", name);
    rnnc_cfg *cfg = th_parse(config);
    rnnc_optimizer *opt = NULL;
    cr_assert_eq(rnnc_optimizer_from_config(cfg, name, &opt), RNNC_OK, "%s: %s", name, rnnc_last_error());

    rnnc_fixture *fx = NULL;
    cr_assert_eq(rnnc_fixture_open(OPT_FILE, &fx), RNNC_OK, "%s", rnnc_last_error());
    rnnc_weight w[2];
    memset(w, 0, sizeof w);
    w[0].name = "kernel";
    w[1].name = "bias";
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/init/%d", name, i);
        w[i].value = read_t(fx, path, RNNC_F32);
        w[i].trainable = true;
        cr_assert_eq(rnnc_tensor_set_requires_grad(w[i].value, true), RNNC_OK);
    }
    char *cons = h5_attr(OPT_FILE, name, "constraint");
    if (cons) {
        rnnc_cfg *cc = th_parse(cons);
        cr_assert_eq(rnnc_constraint_from_config(cc, name, &w[0].constraint), RNNC_OK, "%s", rnnc_last_error());
        rnnc_cfg_destroy(cc);
        free(cons);
    }
    rnnc_weight *wp[2] = {&w[0], &w[1]};
    double worst = 0;
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/step%d/grad%d", name, k, i);
            rnnc_tensor *g = read_t(fx, path, RNNC_F32);
            memcpy(w[i].value->grad, g->data, g->numel * sizeof(float));
            rnnc_tensor_destroy(g);
        }
        cr_assert_eq(rnnc_optimizer_apply(opt, wp, 2), RNNC_OK, "%s step %d: %s", name, k, rnnc_last_error());
        cr_expect_eq(rnnc_optimizer_iterations(opt), k + 1);
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/step%d/var%d", name, k, i);
            rnnc_tensor *want = read_t(fx, path, RNNC_F32);
            const double e = max_err(w[i].value, want);
            worst = fmax(worst, e);
            cr_expect_leq(e, 1e-6, "%s step %d var %d: error %.3g vs Keras", name, k, i, e);
            rnnc_tensor_destroy(want);
        }
    }
    /* optimizer variables: names, order, values */
    char *ns = h5_attr(OPT_FILE, name, "n_state");
    cr_assert_not_null(ns);
    const int n_state = atoi(ns);
    free(ns);
    rnnc_optimizer_variable vars[32];
    int n = 0;
    cr_assert_eq(rnnc_optimizer_variables(opt, vars, 32, &n), RNNC_OK);
    cr_expect_eq(n, n_state, "%s: %d optimizer variables, Keras has %d", name, n, n_state);
    for (int j = 0; j < n && j < n_state; j++) {
        snprintf(path, sizeof path, "%s/state/%d", name, j);
        char *kname = h5_attr(OPT_FILE, path, "name");
        cr_assert_not_null(kname);
        cr_expect_str_eq(vars[j].name, kname, "%s: variable %d", name, j);
        free(kname);
        if (j == 0) {
            cr_expect_eq(vars[j].value->dtype, RNNC_I64);
            rnnc_tensor *it = read_t(fx, path, RNNC_I64);
            cr_expect_eq(((int64_t *)vars[j].value->data)[0], ((int64_t *)it->data)[0]);
            rnnc_tensor_destroy(it);
            continue;
        }
        rnnc_tensor *want = read_t(fx, path, RNNC_F32);
        cr_expect(rnnc_shape_eq(&vars[j].value->shape, &want->shape), "%s: shape of %s", name, vars[j].name);
        const double e = max_err(vars[j].value, want);
        cr_expect_leq(e, 1e-6, "%s: optimizer variable %s error %.3g", name, vars[j].name, e);
        rnnc_tensor_destroy(want);
    }
    /* get_config reproduces Keras's serialized config, key order and all */
    rnnc_cfg *mine = NULL;
    char why[1024] = "";
    cr_assert_eq(rnnc_optimizer_serialize(opt, &mine), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(th_cfg_equal(mine, cfg, why, sizeof why), "%s: config differs: %s", name, why);
    rnnc_cfg_destroy(mine);

    rnnc_fixture_close(fx);
    for (int i = 0; i < 2; i++) {
        rnnc_tensor_destroy(w[i].value);
        rnnc_constraint_destroy(w[i].constraint);
    }
    rnnc_optimizer_destroy(opt);
    rnnc_cfg_destroy(cfg);
    free(config);
}

#define KERAS_CASE(n) \
    Test(optimizers_keras, n) { run_keras_case(#n); }

KERAS_CASE(sgd)
KERAS_CASE(sgd_momentum)
KERAS_CASE(sgd_nesterov)
KERAS_CASE(adam)
KERAS_CASE(adam_amsgrad)
KERAS_CASE(adam_eps)
KERAS_CASE(adamw)
KERAS_CASE(adamw_amsgrad)
KERAS_CASE(rmsprop)
KERAS_CASE(rmsprop_momentum)
KERAS_CASE(rmsprop_centered)
KERAS_CASE(rmsprop_centered_momentum)
KERAS_CASE(adagrad)
KERAS_CASE(adagrad_init)
KERAS_CASE(sgd_clipnorm)
KERAS_CASE(adam_clipnorm)
KERAS_CASE(sgd_clipvalue)
KERAS_CASE(rmsprop_clipvalue)
KERAS_CASE(sgd_global_clipnorm)
KERAS_CASE(adam_global_clipnorm)
KERAS_CASE(sgd_weight_decay)
KERAS_CASE(adam_weight_decay)
KERAS_CASE(rmsprop_weight_decay)
KERAS_CASE(adagrad_weight_decay_clipnorm)
KERAS_CASE(sgd_exponential)
KERAS_CASE(sgd_exponential_staircase)
KERAS_CASE(adam_inverse_time)
KERAS_CASE(sgd_piecewise)
KERAS_CASE(adam_cosine)
KERAS_CASE(sgd_cosine_warmup)
KERAS_CASE(adam_ema)
KERAS_CASE(sgd_ema)
KERAS_CASE(sgd_accum)
KERAS_CASE(adam_accum_clipnorm)
KERAS_CASE(rmsprop_loss_scale)
KERAS_CASE(adamw_schedule)
KERAS_CASE(sgd_clipnorm_large)
KERAS_CASE(adam_global_clipnorm_large)
KERAS_CASE(constraint_maxnorm_sgd)
KERAS_CASE(constraint_nonneg_adam)

/* ---- schedules against Keras --------------------------------------------- */

static void run_schedule_case(const char *name)
{
    char path[128];
    char *config = h5_attr(SCHED_FILE, name, "config");
    cr_assert_not_null(config);
    rnnc_cfg *cfg = th_parse(config);
    rnnc_schedule *s = NULL;
    cr_assert_eq(rnnc_schedule_from_config(cfg, name, &s), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fixture *fx = NULL;
    cr_assert_eq(rnnc_fixture_open(SCHED_FILE, &fx), RNNC_OK);
    snprintf(path, sizeof path, "%s/lr", name);
    rnnc_tensor *lr = read_t(fx, path, RNNC_F64);
    for (size_t k = 0; k < lr->numel; k++) {
        const double want = rnnc_f64(lr)[k], got = rnnc_schedule_value(s, (int64_t)k);
        cr_expect_leq(fabs(got - want), 1e-6 * fmax(fabs(want), 1e-3), "%s step %zu: %.9g vs Keras %.9g",
                      name, k, got, want);
    }
    rnnc_cfg *mine = NULL;
    char why[512] = "";
    cr_assert_eq(rnnc_schedule_serialize(s, &mine), RNNC_OK);
    cr_expect(th_cfg_equal(mine, cfg, why, sizeof why), "%s: config differs: %s", name, why);
    rnnc_cfg_destroy(mine);
    rnnc_tensor_destroy(lr);
    rnnc_fixture_close(fx);
    rnnc_schedule_destroy(s);
    rnnc_cfg_destroy(cfg);
    free(config);
}

#define SCHED_CASE(n) \
    Test(schedules_keras, n) { run_schedule_case(#n); }
SCHED_CASE(exponential)
SCHED_CASE(exponential_staircase)
SCHED_CASE(inverse_time)
SCHED_CASE(inverse_time_staircase)
SCHED_CASE(piecewise)
SCHED_CASE(cosine)
SCHED_CASE(cosine_alpha)
SCHED_CASE(cosine_warmup)
SCHED_CASE(cosine_warmup_alpha)

/* ---- hand-computed updates (float64 weights, exact formulas) -------------- */

typedef struct one_var {
    rnnc_weight w;
    rnnc_weight *wp;
} one_var;

static void make_var(one_var *v, const double *vals, int n, const char *name)
{
    memset(v, 0, sizeof *v);
    v->w.name = (char *)name;
    v->w.trainable = true;
    rnnc_shape sh = RNNC_SHAPE(n);
    cr_assert_eq(rnnc_tensor_from(RNNC_F64, &sh, vals, &v->w.value), RNNC_OK);
    cr_assert_eq(rnnc_tensor_set_requires_grad(v->w.value, true), RNNC_OK);
    v->wp = &v->w;
}

static void set_grad(one_var *v, const double *g)
{
    memcpy(v->w.value->grad, g, v->w.value->numel * sizeof(double));
}

static rnnc_optimizer *make_opt(const char *json)
{
    rnnc_cfg *c = th_parse(json);
    rnnc_optimizer *o = NULL;
    cr_assert_eq(rnnc_optimizer_from_config(c, "test", &o), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    return o;
}

Test(optimizers_formula, sgd_momentum_and_nesterov_two_steps)
{
    const double w0[2] = {1.0, -2.0}, g1[2] = {0.5, 1.5}, g2[2] = {-1.0, 0.25};
    /* Keras keeps lr in a float32 variable and casts momentum with ops.cast,
     * which goes through a float32 tensor (test_optimizers_f64.c) */
    const double lr = (double)0.1f, mu = (double)0.9f;
    for (int nest = 0; nest < 2; nest++) {
        one_var v;
        make_var(&v, w0, 2, "w");
        rnnc_optimizer *o = make_opt(nest ? "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1, \"momentum\": 0.9, \"nesterov\": true}}"
                                          : "{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1, \"momentum\": 0.9}}");
        set_grad(&v, g1);
        cr_assert_eq(rnnc_optimizer_apply(o, &v.wp, 1), RNNC_OK, "%s", rnnc_last_error());
        set_grad(&v, g2);
        cr_assert_eq(rnnc_optimizer_apply(o, &v.wp, 1), RNNC_OK, "%s", rnnc_last_error());
        for (int j = 0; j < 2; j++) {
            const double m1 = -lr * g1[j];
            const double w1 = nest ? w0[j] + mu * m1 - lr * g1[j] : w0[j] + m1;
            const double m2 = mu * m1 - lr * g2[j];
            const double w2 = nest ? w1 + mu * m2 - lr * g2[j] : w1 + m2;
            cr_expect_float_eq(rnnc_f64(v.w.value)[j], w2, 1e-12, "nesterov=%d j=%d", nest, j);
        }
        rnnc_tensor_destroy(v.w.value);
        rnnc_optimizer_destroy(o);
    }
}

Test(optimizers_formula, adam_first_step_and_epsilon_outside_sqrt)
{
    const double w0[3] = {0.5, -1.0, 2.0}, g[3] = {0.2, -3.0, 1e-4};
    const double lr = (double)0.01f, b1 = 0.9, b2 = 0.999, eps = 0.1;
    one_var v;
    make_var(&v, w0, 3, "w");
    rnnc_optimizer *o = make_opt("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.01, \"epsilon\": 0.1}}");
    set_grad(&v, g);
    cr_assert_eq(rnnc_optimizer_apply(o, &v.wp, 1), RNNC_OK, "%s", rnnc_last_error());
    for (int j = 0; j < 3; j++) {
        /* m = (1-b1) g, v = (1-b2) g^2, alpha = lr sqrt(1-b2^1)/(1-b1^1); the
         * powers take the betas as float32 (Keras's ops.cast, even for float64) */
        const double m = (1 - b1) * g[j], vv = (1 - b2) * g[j] * g[j];
        const double alpha = lr * sqrt(1 - (double)(float)b2) / (1 - (double)(float)b1);
        const double want = w0[j] - alpha * m / (sqrt(vv) + eps);
        cr_expect_float_eq(rnnc_f64(v.w.value)[j], want, 1e-12, "j=%d", j);
    }
    rnnc_tensor_destroy(v.w.value);
    rnnc_optimizer_destroy(o);
}

Test(optimizers_formula, rmsprop_and_adagrad_epsilon_inside_sqrt)
{
    const double w0[2] = {1.0, 1.0}, g[2] = {1e-3, -2.0};
    one_var v;
    make_var(&v, w0, 2, "w");
    rnnc_optimizer *o = make_opt("{\"class_name\": \"RMSprop\", \"config\": {\"learning_rate\": 0.1, \"rho\": 0.5, \"epsilon\": 0.01}}");
    set_grad(&v, g);
    cr_assert_eq(rnnc_optimizer_apply(o, &v.wp, 1), RNNC_OK);
    for (int j = 0; j < 2; j++) {
        const double vv = 0.5 * g[j] * g[j];
        cr_expect_float_eq(rnnc_f64(v.w.value)[j], w0[j] - (double)0.1f * g[j] / sqrt(vv + 0.01), 1e-12);
    }
    rnnc_tensor_destroy(v.w.value);
    rnnc_optimizer_destroy(o);

    make_var(&v, w0, 2, "w");
    o = make_opt("\"adagrad\"");
    set_grad(&v, g);
    cr_assert_eq(rnnc_optimizer_apply(o, &v.wp, 1), RNNC_OK);
    for (int j = 0; j < 2; j++) {
        const double a = 0.1 + g[j] * g[j]; /* the accumulator starts at 0.1 */
        cr_expect_float_eq(rnnc_f64(v.w.value)[j], w0[j] - (double)0.001f * g[j] / sqrt(a + 1e-7), 1e-12);
    }
    rnnc_tensor_destroy(v.w.value);
    rnnc_optimizer_destroy(o);
}

Test(optimizers_formula, clipping_and_weight_decay)
{
    const double w0[2] = {0.0, 0.0}, g[2] = {3.0, 4.0};
    one_var a, b;
    /* clipnorm 1: (3,4)/5; SGD lr 1 moves the weight by -g */
    make_var(&a, w0, 2, "w");
    rnnc_optimizer *o = make_opt("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 1.0, \"clipnorm\": 1.0}}");
    set_grad(&a, g);
    cr_assert_eq(rnnc_optimizer_apply(o, &a.wp, 1), RNNC_OK);
    cr_expect_float_eq(rnnc_f64(a.w.value)[0], -0.6, 1e-12);
    cr_expect_float_eq(rnnc_f64(a.w.value)[1], -0.8, 1e-12);
    cr_expect(((const double *)a.w.value->grad)[0] == 3.0, "the gradient buffer is not modified: %g", ((const double *)a.w.value->grad)[0]);
    rnnc_optimizer_destroy(o);
    rnnc_tensor_destroy(a.w.value);

    /* global_clipnorm 2.5 over two tensors (3) and (4): norm 5, scale 0.5 */
    const double ga[1] = {3.0}, gb[1] = {4.0}, z[1] = {0.0};
    make_var(&a, z, 1, "a");
    make_var(&b, z, 1, "b");
    rnnc_weight *both[2] = {&a.w, &b.w};
    o = make_opt("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 1.0, \"global_clipnorm\": 2.5}}");
    set_grad(&a, ga);
    set_grad(&b, gb);
    cr_assert_eq(rnnc_optimizer_apply(o, both, 2), RNNC_OK);
    cr_expect_float_eq(rnnc_f64(a.w.value)[0], -1.5, 1e-12);
    cr_expect_float_eq(rnnc_f64(b.w.value)[0], -2.0, 1e-12);
    rnnc_optimizer_destroy(o);

    /* clipvalue 0.5 */
    o = make_opt("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 1.0, \"clipvalue\": 0.5}}");
    rnnc_f64(a.w.value)[0] = 0;
    const double gneg[1] = {-7.0};
    set_grad(&a, gneg);
    cr_assert_eq(rnnc_optimizer_apply(o, &a.wp, 1), RNNC_OK);
    cr_expect_float_eq(rnnc_f64(a.w.value)[0], 0.5, 1e-12);
    rnnc_optimizer_destroy(o);

    /* decoupled weight decay, before the update: w - w wd lr - lr g */
    const double w1[1] = {2.0}, g1[1] = {1.0};
    rnnc_tensor_destroy(b.w.value);
    make_var(&b, w1, 1, "kernel");
    o = make_opt("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1, \"weight_decay\": 0.5}}");
    set_grad(&b, g1);
    cr_assert_eq(rnnc_optimizer_apply(o, &b.wp, 1), RNNC_OK);
    cr_expect_float_eq(rnnc_f64(b.w.value)[0], 2.0 - 2.0 * 0.5 * (double)0.1f - (double)0.1f * 1.0, 1e-12);
    rnnc_optimizer_destroy(o);

    /* excluded from weight decay by name */
    rnnc_f64(b.w.value)[0] = 2.0;
    o = make_opt("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 0.1, \"weight_decay\": 0.5}}");
    const char *ex[1] = {"kern"};
    cr_assert_eq(rnnc_optimizer_exclude_from_weight_decay(o, ex, 1), RNNC_OK);
    cr_assert_eq(rnnc_optimizer_apply(o, &b.wp, 1), RNNC_OK);
    cr_expect_float_eq(rnnc_f64(b.w.value)[0], 2.0 - (double)0.1f, 1e-12);
    cr_expect_eq(rnnc_optimizer_exclude_from_weight_decay(o, ex, 1), RNNC_E_STATE);
    rnnc_optimizer_destroy(o);
    rnnc_tensor_destroy(a.w.value);
    rnnc_tensor_destroy(b.w.value);
}

/* ---- behaviour and errors ------------------------------------------------- */

static rnnc_status try_config(const char *json)
{
    rnnc_cfg *c = th_parse(json);
    rnnc_optimizer *o = NULL;
    rnnc_status s = rnnc_optimizer_from_config(c, "compile.optimizer", &o);
    rnnc_optimizer_destroy(o);
    rnnc_cfg_destroy(c);
    return s;
}

Test(optimizers, validation_matches_keras)
{
    cr_expect_eq(try_config("{\"class_name\": \"SGD\", \"config\": {\"momentum\": 0}}"), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "momentum"), "%s", rnnc_last_error());
    cr_expect_eq(try_config("{\"class_name\": \"SGD\", \"config\": {\"momentum\": 1.5}}"), RNNC_E_ARG);
    cr_expect_eq(try_config("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 1}}"), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "learning_rate"), "%s", rnnc_last_error());
    cr_expect_eq(try_config("{\"class_name\": \"Adam\", \"config\": {\"learning_rate\": null}}"), RNNC_E_ARG);
    cr_expect_eq(try_config("{\"class_name\": \"Adam\", \"config\": {\"clipnorm\": 1.0, \"clipvalue\": 1.0}}"), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "only one of"), "%s", rnnc_last_error());
    cr_expect_eq(try_config("{\"class_name\": \"AdamW\", \"config\": {\"weight_decay\": null}}"), RNNC_E_ARG);
    cr_expect_eq(try_config("{\"class_name\": \"Adam\", \"config\": {\"foo\": 1}}"), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "foo"), "%s", rnnc_last_error());
    cr_expect_eq(try_config("{\"class_name\": \"Adam\", \"config\": {\"gradient_accumulation_steps\": 1}}"), RNNC_E_ARG);
    cr_expect_eq(try_config("{\"class_name\": \"Adam\", \"config\": {\"use_ema\": true, \"ema_momentum\": 1.5}}"), RNNC_E_ARG);
    cr_expect_eq(try_config("\"adamm\""), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "adam"), "suggestion expected: %s", rnnc_last_error());
    cr_expect_eq(try_config("{\"class_name\": \"Adam\", \"config\": {\"decay\": 0.1}}"), RNNC_OK, "legacy decay is ignored");
    cr_expect_eq(try_config("\"RMSprop\""), RNNC_OK);
    cr_expect_eq(try_config("{\"class_name\": \"adamw\", \"config\": {}}"), RNNC_OK);
    cr_expect_eq(try_config("{\"class_name\": \"ExponentialDecay\"}"), RNNC_E_ARG);
}

Test(optimizers, defaults_names_and_config_keys)
{
    rnnc_optimizer *o = NULL;
    cr_assert_eq(rnnc_optimizer_create(RNNC_OPTIMIZER_RMSPROP, NULL, &o), RNNC_OK);
    cr_expect(strncmp(rnnc_optimizer_name(o), "rm_sprop", 8) == 0, "Keras's auto name: %s", rnnc_optimizer_name(o));
    cr_expect_float_eq(rnnc_optimizer_learning_rate(o), (double)0.001f, 0);
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_optimizer_get_config(o, &c), RNNC_OK);
    static const char *const keys[] = {"name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm",
                                       "clipvalue", "use_ema", "ema_momentum", "ema_overwrite_frequency",
                                       "loss_scale_factor", "gradient_accumulation_steps", "rho",
                                       "momentum", "epsilon", "centered"};
    cr_assert_eq(c->n, sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < c->n; i++)
        cr_expect_str_eq(c->keys[i], keys[i]);
    cr_expect_eq(rnnc_cfg_peek(c, "learning_rate")->v.f, (double)0.001f, "float32-rounded, as Keras");
    rnnc_cfg_destroy(c);
    /* before build: iteration and learning_rate only */
    rnnc_optimizer_variable v[4];
    int n;
    rnnc_optimizer_variables(o, v, 4, &n);
    cr_expect_eq(n, 2);
    cr_expect_str_eq(v[0].name, "iteration");
    cr_expect_str_eq(v[1].name, "learning_rate");
    cr_expect_eq(rnnc_optimizer_set_learning_rate(o, 0.5), RNNC_OK);
    cr_expect_float_eq(rnnc_optimizer_learning_rate(o), 0.5, 0);
    rnnc_optimizer_destroy(o);

    rnnc_schedule *s = NULL;
    cr_assert_eq(rnnc_schedule_exponential_decay(0.1, 10, 0.5, false, &s), RNNC_OK);
    rnnc_optimizer_options opts = rnnc_optimizer_options_default();
    opts.schedule = s;
    cr_assert_eq(rnnc_optimizer_create(RNNC_OPTIMIZER_SGD, &opts, &o), RNNC_OK);
    rnnc_schedule_destroy(s);
    cr_expect_eq(rnnc_optimizer_set_learning_rate(o, 0.5), RNNC_E_STATE);
    rnnc_optimizer_variables(o, v, 4, &n);
    cr_expect_eq(n, 1, "no learning_rate variable with a schedule");
    rnnc_optimizer_destroy(o);
}

Test(optimizers, apply_errors_and_skips)
{
    const double w0[2] = {1, 2}, g[2] = {1, 1};
    one_var a, b, c;
    make_var(&a, w0, 2, "a");
    make_var(&b, w0, 2, "b");
    make_var(&c, w0, 2, "c");
    rnnc_tensor_destroy(b.w.value);
    rnnc_shape sh2 = RNNC_SHAPE(2);
    cr_assert_eq(rnnc_tensor_from(RNNC_F64, &sh2, w0, &b.w.value), RNNC_OK); /* no grad */
    rnnc_optimizer *o = make_opt("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 1.0}}");
    rnnc_weight *ab[2] = {&a.w, &b.w};
    /* all gradients missing -> error */
    rnnc_weight *bb[1] = {&b.w};
    cr_expect_eq(rnnc_optimizer_apply(o, bb, 1), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "no gradients"), "%s", rnnc_last_error());
    rnnc_optimizer_destroy(o);
    o = make_opt("{\"class_name\": \"SGD\", \"config\": {\"learning_rate\": 1.0}}");
    set_grad(&a, g);
    cr_assert_eq(rnnc_optimizer_apply(o, ab, 2), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_float_eq(rnnc_f64(a.w.value)[0], 0.0, 1e-12);
    cr_expect_float_eq(rnnc_f64(b.w.value)[0], 1.0, 0, "a weight without gradient is skipped");
    /* a variable the optimizer was not built with */
    set_grad(&c, g);
    cr_expect_eq(rnnc_optimizer_apply(o, &c.wp, 1), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "'c'"), "%s", rnnc_last_error());
    /* non-trainable weights are left alone */
    a.w.trainable = false;
    cr_assert_eq(rnnc_tensor_ensure_grad(b.w.value), RNNC_OK);
    set_grad(&b, g);
    cr_expect_eq(rnnc_optimizer_apply(o, ab, 2), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_float_eq(rnnc_f64(a.w.value)[0], 0.0, 0, "a is frozen");
    cr_expect_float_eq(rnnc_f64(b.w.value)[0], 0.0, 1e-12, "b steps now that it has a gradient");
    rnnc_optimizer_destroy(o);
    rnnc_tensor_destroy(a.w.value);
    rnnc_tensor_destroy(b.w.value);
    rnnc_tensor_destroy(c.w.value);
}
