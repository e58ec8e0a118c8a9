/* test_losses.c - losses against Keras 3.15.1 (tests/fixtures/optim/
 * losses.h5 from tests/gen_optimizer_fixtures.py: values and gradients,
 * with sample weights, masks, from_logits and the TensorFlow
 * sigmoid/softmax-logits path), against hand-computed values, and against
 * finite differences. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "helpers/builders.h"
#include "helpers/fixture.h"
#include "io/spec_reader.h"
#include "optim/losses.h"

#define LOSS_FILE RNNC_FIXTURES "/optim/losses.h5"

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
        }
        H5Tclose(t);
        H5Aclose(a);
    }
    H5Fclose(f);
    return out;
}

static rnnc_loss *loss_from_json(const char *json)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(json, strlen(json), "<json>", &c), RNNC_OK, "%s", rnnc_last_error());
    rnnc_loss *l = NULL;
    cr_assert_eq(rnnc_loss_from_config(c, "test", &l), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    return l;
}

static rnnc_tensor *maybe_read(rnnc_fixture *fx, const char *group, const char *name, rnnc_dtype dt)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", group, name);
    if (!rnnc_fixture_has(fx, path))
        return NULL;
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, path, dt, &t), RNNC_OK, "%s", rnnc_last_error());
    return t;
}

static double max_err(const rnnc_tensor *a, const rnnc_tensor *b)
{
    cr_assert_eq(a->numel, b->numel, "%zu vs %zu elements", a->numel, b->numel);
    double e = 0;
    for (size_t i = 0; i < a->numel; i++) {
        const double x = rnnc_tensor_get(a, i), y = rnnc_tensor_get(b, i);
        const double d = fabs(x - y) / fmax(1.0, fabs(y));
        if (!(d <= e))
            e = d;
    }
    return e;
}

static void run_case(const char *name)
{
    char *config = h5_attr(LOSS_FILE, name, "config");
    cr_assert_not_null(config, "case %s", name);
    char *act = h5_attr(LOSS_FILE, name, "activation");
    rnnc_loss *loss = loss_from_json(config);
    rnnc_fixture *fx = NULL;
    cr_assert_eq(rnnc_fixture_open(LOSS_FILE, &fx), RNNC_OK);
    rnnc_tensor *yt = maybe_read(fx, name, "y_true", RNNC_F32);
    rnnc_tensor *src = maybe_read(fx, name, act ? "logits" : "y_pred", RNNC_F32);
    rnnc_tensor *sw = maybe_read(fx, name, "sample_weight", RNNC_F32);
    rnnc_tensor *mask = maybe_read(fx, name, "mask", RNNC_U8);
    rnnc_tensor *want = maybe_read(fx, name, "loss", RNNC_F32);
    rnnc_tensor *want_grad = maybe_read(fx, name, "grad", RNNC_F32);
    cr_assert(yt && src && want && want_grad);
    cr_assert_eq(rnnc_tensor_set_requires_grad(src, true), RNNC_OK);

    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *yp = src, *out = NULL;
    if (act)
        cr_assert_eq(rnnc_activation(cx, strcmp(act, "sigmoid") == 0 ? RNNC_ACT_SIGMOID : RNNC_ACT_SOFTMAX, src, &yp),
                     RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_loss_call(loss, cx, yt, yp, sw, mask, &out), RNNC_OK, "%s: %s", name, rnnc_last_error());
    cr_expect(rnnc_shape_eq(&out->shape, &want->shape), "%s: loss shape", name);
    const double e = max_err(out, want);
    cr_expect_leq(e, 1e-6, "%s: loss %.9g vs Keras %.9g (err %.3g)", name, rnnc_tensor_get(out, 0),
                  rnnc_tensor_get(want, 0), e);
    rnnc_tensor *ones = NULL;
    cr_assert_eq(rnnc_tensor_create(out->dtype, &out->shape, &ones), RNNC_OK);
    rnnc_tensor_fill(ones, 1.0); /* tf.GradientTape on a non-scalar sums it */
    cr_assert_eq(rnnc_backward_with(cx, out, ones), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *g = NULL;
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &src->shape, &g), RNNC_OK);
    memcpy(g->data, src->grad, src->numel * sizeof(float));
    const double eg = max_err(g, want_grad);
    cr_expect_leq(eg, 1e-6, "%s: gradient error %.3g vs Keras", name, eg);

    rnnc_tensor_destroy(g);
    rnnc_tensor_destroy(ones);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(src);
    rnnc_tensor_destroy(sw);
    rnnc_tensor_destroy(mask);
    rnnc_tensor_destroy(want);
    rnnc_tensor_destroy(want_grad);
    rnnc_fixture_close(fx);
    rnnc_loss_destroy(loss);
    free(config);
    free(act);
}

#define KERAS_CASE(n) \
    Test(losses_keras, n) { run_case(#n); }
KERAS_CASE(mse)
KERAS_CASE(mse_sw)
KERAS_CASE(mse_sum)
KERAS_CASE(mse_mean_sw)
KERAS_CASE(mse_rank1_vs_col)
KERAS_CASE(mse_sw_col)
KERAS_CASE(mae)
KERAS_CASE(mae_sw)
KERAS_CASE(huber)
KERAS_CASE(huber_delta_sum)
KERAS_CASE(bce)
KERAS_CASE(bce_sw)
KERAS_CASE(bce_smooth)
KERAS_CASE(bce_logits)
KERAS_CASE(bce_logits_smooth)
KERAS_CASE(bce_sigmoid_output)
KERAS_CASE(cce)
KERAS_CASE(cce_unnormalized)
KERAS_CASE(cce_smooth_sw)
KERAS_CASE(cce_logits)
KERAS_CASE(cce_logits_smooth)
KERAS_CASE(cce_softmax_output)
KERAS_CASE(scce)
KERAS_CASE(scce_col)
KERAS_CASE(scce_logits_sw)
KERAS_CASE(scce_softmax_output)
KERAS_CASE(scce_ignore_class)
KERAS_CASE(seq_mse_mask)
KERAS_CASE(seq_mse_mask_sw)
KERAS_CASE(seq_mse_mask_sum)
KERAS_CASE(seq_scce_logits_mask)
KERAS_CASE(seq_scce_mask_ignore)
KERAS_CASE(seq_mse_all_masked)
KERAS_CASE(seq_mae_none)

/* A crossentropy over the OTHER activation's output: TensorFlow's
 * _keras_logits is set by sigmoid and softmax alike and every crossentropy
 * takes it, so binary crossentropy over a softmax output treats the
 * softmax's input as sigmoid logits, and (sparse) categorical crossentropy
 * over a sigmoid output treats the sigmoid's input as softmax logits.
 * Keras 3.15.1's values, printed by
 *   z = tf.constant([[1.0, 0.2, -0.5], [0.1, 0.4, 0.3]]); y = one-hot [0, 1]
 *   keras.losses.BinaryCrossentropy()(y, keras.activations.softmax(z))        0.616207480430603
 *   keras.losses.CategoricalCrossentropy()(y, keras.activations.sigmoid(z))   0.7436070442199707
 *   keras.losses.SparseCategoricalCrossentropy()([0, 1], ...sigmoid(z))        0.7436070442199707
 * (on the softmax's probabilities, without the logits, the first would be
 * 0.4483959972858429). */
static double other_activation_loss(const char *loss_name, rnnc_act act, bool sparse)
{
    const double z[] = {1.0, 0.2, -0.5, 0.1, 0.4, 0.3}, onehot[] = {1, 0, 0, 0, 1, 0}, ids[] = {0, 1};
    rnnc_tensor *src = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3), z);
    rnnc_tensor *yt = sparse ? th_tensor(RNNC_F32, RNNC_SHAPE(2), ids) : th_tensor(RNNC_F32, RNNC_SHAPE(2, 3), onehot);
    cr_assert_eq(rnnc_tensor_set_requires_grad(src, true), RNNC_OK); /* as a model's output under training */
    rnnc_loss *l = NULL;
    cr_assert_eq(rnnc_loss_from_name(loss_name, &l), RNNC_OK, "%s", rnnc_last_error());
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *yp = NULL, *out = NULL;
    cr_assert_eq(rnnc_activation(cx, act, src, &yp), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_loss_call(l, cx, yt, yp, NULL, NULL, &out), RNNC_OK, "%s", rnnc_last_error());
    const double v = rnnc_tensor_get(out, 0);
    rnnc_ctx_destroy(cx);
    rnnc_loss_destroy(l);
    rnnc_tensor_destroy(src);
    rnnc_tensor_destroy(yt);
    return v;
}

Test(losses_keras, crossentropy_over_the_other_activation_uses_its_logits)
{
    double v = other_activation_loss("binary_crossentropy", RNNC_ACT_SOFTMAX, false);
    cr_expect(fabs(v - 0.616207480430603) <= 1e-6, "bce over softmax: %.9g, Keras 0.616207480", v);
    v = other_activation_loss("categorical_crossentropy", RNNC_ACT_SIGMOID, false);
    cr_expect(fabs(v - 0.7436070442199707) <= 1e-6, "cce over sigmoid: %.9g, Keras 0.743607044", v);
    v = other_activation_loss("sparse_categorical_crossentropy", RNNC_ACT_SIGMOID, true);
    cr_expect(fabs(v - 0.7436070442199707) <= 1e-6, "scce over sigmoid: %.9g, Keras 0.743607044", v);
}

/* ---- hand-computed values ------------------------------------------------ */

static double loss_value(const char *name, rnnc_tensor *yt, rnnc_tensor *yp, rnnc_tensor *sw,
                         rnnc_tensor *mask)
{
    rnnc_loss *l = NULL;
    cr_assert_eq(rnnc_loss_from_name(name, &l), RNNC_OK, "%s", rnnc_last_error());
    /* float64 arithmetic checked by hand (a Keras name computes in float32) */
    cr_assert_eq(rnnc_loss_compute_dtype(l), RNNC_F32);
    cr_assert_eq(rnnc_loss_set_compute_dtype(l, RNNC_F64), RNNC_OK);
    cr_assert_eq(rnnc_loss_compute_dtype(l), RNNC_F64);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *out = NULL;
    cr_assert_eq(rnnc_loss_call(l, cx, yt, yp, sw, mask, &out), RNNC_OK, "%s", rnnc_last_error());
    const double v = rnnc_tensor_get(out, 0);
    rnnc_ctx_destroy(cx);
    rnnc_loss_destroy(l);
    return v;
}

Test(losses, hand_computed_values)
{
    const double t1[] = {0, 1, 0, 0}, p1[] = {0.6, 0.4, 0.4, 0.6};
    rnnc_tensor *yt = th_tensor(RNNC_F64, RNNC_SHAPE(2, 2), t1), *yp = th_tensor(RNNC_F64, RNNC_SHAPE(2, 2), p1);
    /* mse: ((0.36 + 0.36) / 2 + (0.16 + 0.36) / 2) / 2 */
    cr_expect_float_eq(loss_value("mse", yt, yp, NULL, NULL), (0.36 + 0.36 + 0.16 + 0.36) / 4, 1e-12);
    cr_expect_float_eq(loss_value("MAE", yt, yp, NULL, NULL), (0.6 + 0.6 + 0.4 + 0.6) / 4, 1e-12);
    /* binary crossentropy, Keras's docstring example: [0.916, 0.714] */
    const double b0 = -(log(0.4) + log(0.4)) / 2, b1 = -(log(0.6) + log(0.4)) / 2;
    cr_expect_float_eq(loss_value("binary_crossentropy", yt, yp, NULL, NULL), (b0 + b1) / 2, 1e-12);
    const double sw1[] = {2.0, 0.5};
    rnnc_tensor *sw = th_tensor(RNNC_F64, RNNC_SHAPE(2), sw1);
    /* weights multiply the per-sample loss; the divisor stays the count (2) */
    cr_expect_float_eq(loss_value("bce", yt, yp, sw, NULL), (2.0 * b0 + 0.5 * b1) / 2, 1e-12);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);

    /* categorical crossentropy, Keras's docstring: [0.0513, 2.303] */
    const double t2[] = {0, 1, 0, 0, 0, 1}, p2[] = {0.05, 0.95, 0, 0.1, 0.8, 0.1};
    yt = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), t2);
    yp = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), p2);
    cr_expect_float_eq(loss_value("categorical_crossentropy", yt, yp, NULL, NULL),
                       (-log(0.95) - log(0.1)) / 2, 1e-12);
    /* sparse: TensorFlow takes the softmax of log(clip(p)), so the clipped
     * 0 (now 1e-7) renormalizes row 0: -log(0.95) + log(1 + 1e-7) */
    const double ids[] = {1, 2};
    const double sparse = (-log(0.95) + log(1.0 + 1e-7) - log(0.1)) / 2;
    rnnc_tensor *yi = th_tensor(RNNC_I32, RNNC_SHAPE(2), ids);
    cr_expect_float_eq(loss_value("sparse_categorical_crossentropy", yi, yp, NULL, NULL), sparse, 1e-12);
    /* "crossentropy" picks sparse (rank of y_true lower) and categorical */
    cr_expect_float_eq(loss_value("crossentropy", yi, yp, NULL, NULL), sparse, 1e-12);
    cr_expect_float_eq(loss_value("CE", yt, yp, NULL, NULL), (-log(0.95) - log(0.1)) / 2, 1e-12);
    rnnc_tensor_destroy(yi);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
    rnnc_tensor_destroy(sw);

    /* huber, delta 1: 0.5 e^2 inside, |e| - 0.5 outside */
    const double t3[] = {0, 0}, p3[] = {0.5, 3.0};
    yt = th_tensor(RNNC_F64, RNNC_SHAPE(1, 2), t3);
    yp = th_tensor(RNNC_F64, RNNC_SHAPE(1, 2), p3);
    cr_expect_float_eq(loss_value("huber", yt, yp, NULL, NULL), (0.125 + 2.5) / 2, 1e-12);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
}

Test(losses, masked_sequence_mean_over_valid_steps)
{
    /* (B=2, T=3, F=1): squared errors 1, 4, 9 / 16, 25, 36; mask keeps 3 of 6 */
    const double t[] = {0, 0, 0, 0, 0, 0}, p[] = {1, 2, 3, 4, 5, 6}, m[] = {1, 1, 0, 1, 0, 0};
    rnnc_tensor *yt = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3, 1), t), *yp = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3, 1), p);
    rnnc_tensor *mask = th_tensor(RNNC_U8, RNNC_SHAPE(2, 3), m);
    cr_expect_float_eq(loss_value("mse", yt, yp, NULL, mask), (1.0 + 4.0 + 16.0) / 3, 1e-12);
    /* sum reduction: the mask zeroes, no re-weighting */
    rnnc_loss_options o = rnnc_loss_options_default();
    o.reduction = RNNC_REDUCTION_SUM;
    rnnc_loss *l = NULL;
    cr_assert_eq(rnnc_loss_create(RNNC_LOSS_MEAN_SQUARED_ERROR, &o, &l), RNNC_OK);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *out;
    cr_assert_eq(rnnc_loss_call(l, cx, yt, yp, NULL, mask, &out), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_float_eq(rnnc_tensor_get(out, 0), 21.0, 1e-12);
    rnnc_loss_destroy(l);
    /* mean_with_sample_weight divides by the sum of the weights */
    o.reduction = RNNC_REDUCTION_MEAN_WITH_SAMPLE_WEIGHT;
    cr_assert_eq(rnnc_loss_create(RNNC_LOSS_MEAN_SQUARED_ERROR, &o, &l), RNNC_OK);
    const double w[] = {1, 2, 3, 4, 5, 6};
    rnnc_tensor *sw = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), w);
    cr_assert_eq(rnnc_loss_call(l, cx, yt, yp, sw, NULL, &out), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_float_eq(rnnc_tensor_get(out, 0), (1 + 8 + 27 + 64 + 125 + 216) / 21.0, 1e-12);
    rnnc_loss_destroy(l);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(sw);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
    rnnc_tensor_destroy(mask);
}

/* ---- names, configs, errors ----------------------------------------------- */

Test(losses, names_and_serialization)
{
    static const struct {
        const char *id, *name;
        rnnc_loss_kind kind;
        bool string_form;
    } cases[] = {
        {"mse", "mse", RNNC_LOSS_MEAN_SQUARED_ERROR, true},
        {"MSE", "MSE", RNNC_LOSS_MEAN_SQUARED_ERROR, true},
        {"mean_squared_error", "mean_squared_error", RNNC_LOSS_MEAN_SQUARED_ERROR, true},
        {"MeanSquaredError", "mean_squared_error", RNNC_LOSS_MEAN_SQUARED_ERROR, false},
        {"mae", "mae", RNNC_LOSS_MEAN_ABSOLUTE_ERROR, true},
        {"MeanAbsoluteError", "mean_absolute_error", RNNC_LOSS_MEAN_ABSOLUTE_ERROR, false},
        {"huber", "huber", RNNC_LOSS_HUBER, true},
        {"Huber", "huber_loss", RNNC_LOSS_HUBER, false},
        {"BCE", "BCE", RNNC_LOSS_BINARY_CROSSENTROPY, true},
        {"BinaryCrossentropy", "binary_crossentropy", RNNC_LOSS_BINARY_CROSSENTROPY, false},
        {"CategoricalCrossentropy", "categorical_crossentropy", RNNC_LOSS_CATEGORICAL_CROSSENTROPY, false},
        {"sparse_categorical_crossentropy", "sparse_categorical_crossentropy",
         RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true},
        {"Crossentropy", "Crossentropy", RNNC_LOSS_CROSSENTROPY_AUTO, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rnnc_loss *l = NULL;
        cr_assert_eq(rnnc_loss_from_name(cases[i].id, &l), RNNC_OK, "%s: %s", cases[i].id, rnnc_last_error());
        cr_expect_str_eq(rnnc_loss_name(l), cases[i].name);
        cr_expect_eq(rnnc_loss_get_kind(l), cases[i].kind, "%s", cases[i].id);
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_loss_serialize(l, &c), RNNC_OK);
        if (cases[i].string_form) {
            cr_expect_eq(c->type, RNNC_CFG_STRING);
            cr_expect_str_eq(c->v.s, cases[i].id);
        } else {
            cr_expect_str_eq(rnnc_cfg_peek(c, "class_name")->v.s, cases[i].id);
            cr_expect_str_eq(rnnc_cfg_peek(c, "module")->v.s, "keras.losses");
        }
        rnnc_cfg_destroy(c);
        rnnc_loss_destroy(l);
    }
    /* class config keys, in Keras's order */
    rnnc_loss *l = loss_from_json("{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": "
                                  "{\"from_logits\": true, \"ignore_class\": -1, \"reduction\": \"sum\"}}");
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_loss_get_config(l, &c), RNNC_OK);
    static const char *const keys[] = {"name", "reduction", "from_logits", "ignore_class"};
    cr_assert_eq(c->n, 4);
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(c->keys[i], keys[i]);
    cr_expect_eq(rnnc_cfg_peek(c, "ignore_class")->v.i, -1);
    cr_expect_str_eq(rnnc_cfg_peek(c, "reduction")->v.s, "sum");
    rnnc_cfg_destroy(c);
    rnnc_loss_destroy(l);
}

static rnnc_status from_json_status(const char *json)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(json, strlen(json), "<json>", &c), RNNC_OK);
    rnnc_loss *l = NULL;
    rnnc_status s = rnnc_loss_from_config(c, "compile.loss", &l);
    rnnc_loss_destroy(l);
    rnnc_cfg_destroy(c);
    return s;
}

Test(losses, bad_configs_fail_with_messages)
{
    cr_expect_eq(from_json_status("\"mean_squared_eror\""), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "mean_squared_error"), "suggestion: %s", rnnc_last_error());
    cr_expect_eq(from_json_status("{\"class_name\": \"MeanSquaredError\", \"config\": {\"reduction\": \"avg\"}}"), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "reduction"), "%s", rnnc_last_error());
    cr_expect_eq(from_json_status("{\"class_name\": \"BinaryCrossentropy\", \"config\": {\"label_smoothing\": 1.5}}"), RNNC_E_ARG);
    cr_expect_eq(from_json_status("{\"class_name\": \"MeanSquaredError\", \"config\": {\"from_logits\": true}}"), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "from_logits"), "%s", rnnc_last_error());
    cr_expect_eq(from_json_status("{\"class_name\": \"CategoricalCrossentropy\", \"config\": {\"axis\": 1}}"), RNNC_E_UNSUPPORTED);
    cr_expect_eq(from_json_status("{\"class_name\": \"Hinge\"}"), RNNC_E_ARG);
    cr_expect_eq(from_json_status("{\"class_name\": \"MeanSquaredError\", \"config\": {\"reduction\": null}}"), RNNC_OK);
}

Test(losses, bad_inputs_fail_with_messages)
{
    rnnc_loss *l = NULL;
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *out;
    const double v[12] = {0.1, 0.2, 0.7, 0.3, 0.3, 0.4, 0, 1, 0, 1, 0, 0};
    rnnc_tensor *p = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3), v), *t4 = th_tensor(RNNC_F32, RNNC_SHAPE(2, 4), v);
    cr_assert_eq(rnnc_loss_from_name("categorical_crossentropy", &l), RNNC_OK);
    cr_expect_eq(rnnc_loss_call(l, cx, t4, p, NULL, NULL, &out), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "(2, 4)") && strstr(rnnc_last_error(), "(2, 3)"), "%s", rnnc_last_error());
    rnnc_loss_destroy(l);
    const double bad_ids[2] = {1, 3};
    rnnc_tensor *ids = th_tensor(RNNC_I32, RNNC_SHAPE(2), bad_ids);
    cr_assert_eq(rnnc_loss_from_name("sparse_categorical_crossentropy", &l), RNNC_OK);
    cr_expect_eq(rnnc_loss_call(l, cx, ids, p, NULL, NULL, &out), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "label value of 3"), "%s", rnnc_last_error());
    rnnc_loss_destroy(l);
    const double sw3[3] = {1, 1, 1};
    rnnc_tensor *sw = th_tensor(RNNC_F32, RNNC_SHAPE(3), sw3);
    cr_assert_eq(rnnc_loss_from_name("mse", &l), RNNC_OK);
    cr_expect_eq(rnnc_loss_call(l, cx, p, p, sw, NULL, &out), RNNC_E_SHAPE, "3 weights for 2 samples");
    cr_expect(strstr(rnnc_last_error(), "sample_weight"), "%s", rnnc_last_error());
    rnnc_loss_destroy(l);
    rnnc_tensor_destroy(sw);
    rnnc_tensor_destroy(ids);
    rnnc_tensor_destroy(p);
    rnnc_tensor_destroy(t4);
    rnnc_ctx_destroy(cx);
}

/* ---- gradients against finite differences (float64) ------------------------ */

typedef struct {
    rnnc_loss *loss;
    rnnc_tensor *y_true, *sw, *mask;
} gc_user;

static rnnc_status gc_fn(rnnc_ctx *cx, void *user, rnnc_tensor **inputs, rnnc_tensor **out)
{
    gc_user *u = user;
    return rnnc_loss_call(u->loss, cx, u->y_true, inputs[0], u->sw, u->mask, out);
}

static void gradcheck_loss(const char *json, rnnc_tensor *y_true, const rnnc_shape *pshape,
                           double lo, double hi, rnnc_tensor *sw, rnnc_tensor *mask)
{
    gc_user u = {loss_from_json(json), y_true, sw, mask};
    cr_assert_eq(rnnc_loss_set_compute_dtype(u.loss, RNNC_F64), RNNC_OK); /* float64 finite differences */
    rnnc_tensor *yp = NULL;
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F64, pshape, 99, lo, hi, &yp), RNNC_OK);
    cr_assert_eq(rnnc_tensor_set_requires_grad(yp, true), RNNC_OK);
    rnnc_gradcheck_result r;
    char buf[256];
    cr_assert_eq(rnnc_gradcheck_full(gc_fn, &u, &yp, 1, 1e-6, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_lt(r.max_err, 1e-6, "%s: %s", json, rnnc_gradcheck_str(&r, buf, sizeof buf));
    rnnc_tensor_destroy(yp);
    rnnc_loss_destroy(u.loss);
}

Test(losses, gradients_match_finite_differences)
{
    const rnnc_shape s = RNNC_SHAPE(3, 4);
    rnnc_tensor *t = NULL, *onehot = NULL, *ids = NULL, *sw = NULL;
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F64, &s, 5, -1, 1, &t), RNNC_OK);
    const double oh[12] = {0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, id[3] = {1, 0, 3}, w[3] = {0.5, 2, 1};
    onehot = th_tensor(RNNC_F64, s, oh);
    ids = th_tensor(RNNC_I32, RNNC_SHAPE(3), id);
    sw = th_tensor(RNNC_F64, RNNC_SHAPE(3), w);
    gradcheck_loss("\"mse\"", t, &s, -1, 1, sw, NULL);
    gradcheck_loss("\"mae\"", t, &s, -1, 1, NULL, NULL);
    gradcheck_loss("{\"class_name\": \"Huber\", \"config\": {\"delta\": 0.3}}", t, &s, -1, 1, sw, NULL);
    gradcheck_loss("{\"class_name\": \"BinaryCrossentropy\", \"config\": {\"label_smoothing\": 0.1}}", onehot, &s, 0.05, 0.95, NULL, NULL);
    gradcheck_loss("{\"class_name\": \"BinaryCrossentropy\", \"config\": {\"from_logits\": true}}", onehot, &s, -3, 3, sw, NULL);
    gradcheck_loss("\"categorical_crossentropy\"", onehot, &s, 0.05, 1.0, NULL, NULL);
    gradcheck_loss("{\"class_name\": \"CategoricalCrossentropy\", \"config\": {\"from_logits\": true, \"label_smoothing\": 0.2}}", onehot, &s, -3, 3, sw, NULL);
    gradcheck_loss("\"sparse_categorical_crossentropy\"", ids, &s, 0.05, 1.0, NULL, NULL);
    gradcheck_loss("{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true, \"ignore_class\": 0}}", ids, &s, -3, 3, sw, NULL);
    rnnc_tensor_destroy(t);
    rnnc_tensor_destroy(onehot);
    rnnc_tensor_destroy(ids);
    rnnc_tensor_destroy(sw);
}

/* ---- metrics (hand-computed; the first four are Keras's docstring examples) ---- */

#include "optim/metrics.h"

static double metric_once(const char *id, rnnc_tensor *yt, rnnc_tensor *yp, rnnc_tensor *sw, rnnc_tensor *mask)
{
    rnnc_metric *m = NULL;
    cr_assert_eq(rnnc_metric_from_name(id, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_metric_update(m, yt, yp, sw, mask), RNNC_OK, "%s: %s", id, rnnc_last_error());
    const double r = rnnc_metric_result(m);
    rnnc_metric_destroy(m);
    return r;
}

Test(metrics, accuracies_match_keras_docstrings)
{
    const double t1[] = {1, 1, 0, 0}, p1[] = {0.98, 1, 0, 0.6}, w1[] = {1, 0, 0, 1};
    rnnc_tensor *yt = th_tensor(RNNC_F32, RNNC_SHAPE(4, 1), t1), *yp = th_tensor(RNNC_F32, RNNC_SHAPE(4, 1), p1);
    rnnc_tensor *sw = th_tensor(RNNC_F32, RNNC_SHAPE(4), w1);
    cr_expect_float_eq(metric_once("binary_accuracy", yt, yp, NULL, NULL), 0.75, 1e-12);
    cr_expect_float_eq(metric_once("BinaryAccuracy", yt, yp, sw, NULL), 0.5, 1e-12);
    cr_expect_float_eq(metric_once("accuracy", yt, yp, NULL, NULL), 0.75, 1e-12, "(B,1) output: binary");
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
    rnnc_tensor_destroy(sw);

    const double t2[] = {0, 0, 1, 0, 1, 0}, p2[] = {0.1, 0.9, 0.8, 0.05, 0.95, 0}, w2[] = {0.7, 0.3};
    yt = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3), t2);
    yp = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3), p2);
    sw = th_tensor(RNNC_F32, RNNC_SHAPE(2), w2);
    cr_expect_float_eq(metric_once("categorical_accuracy", yt, yp, NULL, NULL), 0.5, 1e-12);
    cr_expect_float_eq(metric_once("categorical_accuracy", yt, yp, sw, NULL), 0.3, 1e-7);
    cr_expect_float_eq(metric_once("acc", yt, yp, sw, NULL), 0.3, 1e-7, "one-hot y_true: categorical");
    const double ids[] = {2, 1};
    rnnc_tensor *yi = th_tensor(RNNC_F32, RNNC_SHAPE(2, 1), ids);
    cr_expect_float_eq(metric_once("sparse_categorical_accuracy", yi, yp, NULL, NULL), 0.5, 1e-12);
    cr_expect_float_eq(metric_once("SparseCategoricalAccuracy", yi, yp, sw, NULL), 0.3, 1e-7);
    cr_expect_float_eq(metric_once("accuracy", yi, yp, sw, NULL), 0.3, 1e-7, "(B,1) ids: sparse");
    rnnc_tensor_destroy(yi);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
    rnnc_tensor_destroy(sw);

    const double t3[] = {1, 2, 3, 4}, p3[] = {0, 2, 3, 4}, w3[] = {1, 1, 0, 0};
    yt = th_tensor(RNNC_F32, RNNC_SHAPE(4, 1), t3);
    yp = th_tensor(RNNC_F32, RNNC_SHAPE(4, 1), p3);
    sw = th_tensor(RNNC_F32, RNNC_SHAPE(4), w3);
    /* Keras's Accuracy class (exact equality); the string "Accuracy" is the
     * auto-picked accuracy in compile, as "accuracy" (Keras lower-cases it) */
    rnnc_metric *m = NULL;
    cr_assert_eq(rnnc_metric_create(RNNC_METRIC_ACCURACY, NULL, &m), RNNC_OK);
    cr_assert_eq(rnnc_metric_update(m, yt, yp, NULL, NULL), RNNC_OK);
    cr_expect_float_eq(rnnc_metric_result(m), 0.75, 1e-12);
    rnnc_metric_reset(m);
    cr_assert_eq(rnnc_metric_update(m, yt, yp, sw, NULL), RNNC_OK);
    cr_expect_float_eq(rnnc_metric_result(m), 0.5, 1e-12);
    rnnc_metric_destroy(m);
    cr_expect_float_eq(metric_once("Accuracy", yt, yp, NULL, NULL), 0.0, 1e-12, "auto: binary on (4, 1)");
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
    rnnc_tensor_destroy(sw);
}

Test(metrics, running_means_weights_and_masks)
{
    rnnc_metric *m = NULL;
    cr_assert_eq(rnnc_metric_from_name("mae", &m), RNNC_OK);
    cr_expect_str_eq(rnnc_metric_name(m), "mae");
    cr_expect_eq(rnnc_metric_direction(m), -1);
    /* two batches of 2 and 1 samples: the mean is over the 3 samples */
    const double t1[] = {0, 0, 0, 0}, p1[] = {1, 3, 2, 2}, t2[] = {0, 0}, p2[] = {10, 20};
    rnnc_tensor *a = th_tensor(RNNC_F32, RNNC_SHAPE(2, 2), t1), *b = th_tensor(RNNC_F32, RNNC_SHAPE(2, 2), p1);
    rnnc_tensor *c = th_tensor(RNNC_F32, RNNC_SHAPE(1, 2), t2), *d = th_tensor(RNNC_F32, RNNC_SHAPE(1, 2), p2);
    cr_assert_eq(rnnc_metric_update(m, a, b, NULL, NULL), RNNC_OK);
    cr_assert_eq(rnnc_metric_update(m, c, d, NULL, NULL), RNNC_OK);
    cr_expect_float_eq(rnnc_metric_result(m), (2.0 + 2.0 + 15.0) / 3, 1e-12);
    rnnc_metric_reset(m);
    cr_expect_float_eq(rnnc_metric_result(m), 0.0, 1e-12);
    /* a (B,T) mask: the mean runs over the valid steps only */
    const double st[] = {0, 0, 0, 0, 0, 0}, sp[] = {1, 2, 3, 4, 5, 6}, mk[] = {1, 1, 0, 1, 0, 0};
    rnnc_tensor *yt = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3, 1), st), *yp = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3, 1), sp);
    rnnc_tensor *mask = th_tensor(RNNC_U8, RNNC_SHAPE(2, 3), mk);
    cr_assert_eq(rnnc_metric_update(m, yt, yp, NULL, mask), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_float_eq(rnnc_metric_result(m), (1.0 + 2.0 + 4.0) / 3, 1e-12);
    rnnc_metric_destroy(m);
    /* the loss tracker: batch means weighted by batch size */
    cr_assert_eq(rnnc_metric_create(RNNC_METRIC_MEAN, "loss", &m), RNNC_OK);
    rnnc_metric_update_scalar(m, 1.0, 32);
    rnnc_metric_update_scalar(m, 4.0, 8);
    cr_expect_float_eq(rnnc_metric_result(m), (32.0 + 32.0) / 40, 1e-12);
    cr_expect_eq(rnnc_metric_update(m, a, b, NULL, NULL), RNNC_E_STATE);
    rnnc_metric_destroy(m);
    cr_expect_eq(rnnc_metric_from_name("acuracy", &m), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "accuracy"), "%s", rnnc_last_error());
    rnnc_tensor_destroy(a);
    rnnc_tensor_destroy(b);
    rnnc_tensor_destroy(c);
    rnnc_tensor_destroy(d);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
    rnnc_tensor_destroy(mask);
}
