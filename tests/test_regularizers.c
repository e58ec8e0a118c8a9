/* test_regularizers.c - Keras regularizers (spec section 8): names, argument
 * validation, penalties against hand-computed values, gradients against
 * closed forms and float64 central finite differences, get_config. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "framework/regularizers.h"
#include "helpers/builders.h"

/* Keras on TensorFlow applies L1/L2 coefficients as float32 constants, also
 * to float64 weights (framework/regularizers.c); the expected values do too. */
#define K(c) ((double)(float)(c))

/* ---------------------------------------------------------------- helpers */

/* From a config tree (destroyed here). */
static rnnc_regularizer *make_cfg(rnnc_cfg *c)
{
    rnnc_regularizer *r = NULL;
    cr_assert_eq(rnnc_regularizer_from_config(c, "test", &r), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_not_null(r);
    rnnc_cfg_destroy(c);
    return r;
}

static rnnc_regularizer *make(const char *name)
{
    return make_cfg(rnnc_cfg_string(name));
}

static void expect_fail(rnnc_cfg *c, const char *what, rnnc_status code, ...)
{
    rnnc_regularizer *r = NULL;
    rnnc_status s = rnnc_regularizer_from_config(c, what, &r);
    cr_expect_eq(s, code, "status %d, message: %s", s, rnnc_last_error());
    cr_expect_null(r);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        cr_expect(strstr(rnnc_last_error(), needle), "'%s' not in: %s", needle,
                  rnnc_last_error());
    va_end(ap);
    rnnc_cfg_destroy(c);
}

/* The penalty's value, computed without recording. */
static double penalty_value(const rnnc_regularizer *r, rnnc_tensor *w)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_tensor *loss = NULL;
    cr_assert_eq(rnnc_regularizer_penalty(r, cx, w, &loss), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(loss->shape.ndim, 0, "the penalty must be rank 0");
    cr_assert_eq(loss->numel, 1);
    double v = rnnc_tensor_get(loss, 0);
    rnnc_ctx_destroy(cx);
    return v;
}

/* d penalty / d w by backpropagation into w->grad (zeroed first). */
static void penalty_grad(const rnnc_regularizer *r, rnnc_tensor *w)
{
    cr_assert_eq(rnnc_tensor_set_requires_grad(w, true), RNNC_OK);
    rnnc_tensor_zero_grad(w);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *loss = NULL;
    cr_assert_eq(rnnc_regularizer_penalty(r, cx, w, &loss), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_backward(cx, loss), RNNC_OK, "%s", rnnc_last_error());
    rnnc_ctx_destroy(cx);
}

/* max over elements of |backprop - central difference| / max(1, |fd|), float64. */
static double gradcheck(const rnnc_regularizer *r, rnnc_tensor *w)
{
    penalty_grad(r, w);
    double worst = 0.0, h = 1e-6;
    for (size_t i = 0; i < w->numel; i++) {
        double x = rnnc_tensor_get(w, i);
        rnnc_tensor_set(w, i, x + h);
        double up = penalty_value(r, w);
        rnnc_tensor_set(w, i, x - h);
        double down = penalty_value(r, w);
        rnnc_tensor_set(w, i, x);
        double fd = (up - down) / (2 * h);
        double err = fabs(rnnc_tensor_get_grad(w, i) - fd) / fmax(1.0, fabs(fd));
        worst = fmax(worst, err);
    }
    return worst;
}

/* w = [[1, -2], [3, 0.5]]: sum|w| = 6.5, sum w^2 = 14.25. */
static const double W4[4] = {1.0, -2.0, 3.0, 0.5};

/* ---------------------------------------------------------------- names */

Test(regularizers, exactly_the_keras_names_are_accepted)
{
    static const char *const pairs[][2] = {
        {"L1", "L1"},
        {"l1", "L1"},
        {"L2", "L2"},
        {"l2", "L2"},
        {"L1L2", "L1L2"},
        {"l1l2", "L1L2"},
        {"OrthogonalRegularizer", "OrthogonalRegularizer"},
        {"orthogonal_regularizer", "OrthogonalRegularizer"},
        {"Regularizer", "Regularizer"},
        {"regularizer", "Regularizer"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        rnnc_regularizer *r = make(pairs[i][0]);
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_regularizer_get_config(r, &c), RNNC_OK);
        cr_expect_str_eq(rnnc_cfg_peek(c, "class_name")->v.s, pairs[i][1], "%s", pairs[i][0]);
        cr_expect_str_eq(rnnc_cfg_peek(c, "module")->v.s, "keras.regularizers");
        cr_expect_eq(rnnc_cfg_peek(c, "registered_name")->type, RNNC_CFG_NULL);
        rnnc_cfg_destroy(c);
        rnnc_regularizer_destroy(r);
    }
    rnnc_regularizer_destroy(NULL); /* no-op */
}

Test(regularizers, l1_l2_and_other_non_names_fail)
{
    /* l1_l2 is only a Python alias: as a string it fails. */
    expect_fail(rnnc_cfg_string("l1_l2"), "GRU.kernel_regularizer", RNNC_E_ARG,
                "GRU.kernel_regularizer", "'l1_l2'", "did you mean", NULL);
    expect_fail(rnnc_cfg_string("L3"), "w", RNNC_E_ARG, "'L3'", NULL);
    expect_fail(rnnc_cfg_string("orthogonal"), "w", RNNC_E_ARG, "'orthogonal'", NULL);
    expect_fail(rnnc_cfg_string("l2 "), "w", RNNC_E_ARG, NULL);
    expect_fail(th_envelope("keras.regularizers", "L1_L2", rnnc_cfg_map()), "w", RNNC_E_ARG,
                "'L1_L2'", NULL);
    expect_fail(rnnc_cfg_float(0.01), "w", RNNC_E_ARG, "float", NULL);
}

Test(regularizers, null_is_no_regularizer)
{
    rnnc_regularizer *r = (rnnc_regularizer *)1;
    cr_expect_eq(rnnc_regularizer_from_config(NULL, "w", &r), RNNC_OK);
    cr_expect_null(r);
    rnnc_cfg *n = rnnc_cfg_null();
    r = (rnnc_regularizer *)1;
    cr_expect_eq(rnnc_regularizer_from_config(n, "w", &r), RNNC_OK);
    cr_expect_null(r);
    rnnc_cfg_destroy(n);
}

Test(regularizers, module_null_is_a_custom_class)
{
    rnnc_cfg *c = th_envelope(NULL, "L2", th_map_of("l2", rnnc_cfg_float(0.1), NULL));
    rnnc_cfg_set_null(c, "module");
    expect_fail(c, "GRU.bias_regularizer", RNNC_E_ARG, "GRU.bias_regularizer", "custom", NULL);
}

Test(regularizers, numbers_must_be_finite_and_non_negative)
{
    expect_fail(th_envelope(NULL, "L2", th_map_of("l2", rnnc_cfg_float(-0.5), NULL)),
                "GRU.kernel_regularizer", RNNC_E_ARG, "GRU.kernel_regularizer", "'l2'",
                "non-negative", NULL);
    expect_fail(th_envelope(NULL, "L1", th_map_of("l1", rnnc_cfg_float(INFINITY), NULL)), "w",
                RNNC_E_ARG, "'l1'", "non-negative", NULL);
    expect_fail(th_envelope(NULL, "L1L2", th_map_of("l2", rnnc_cfg_float(NAN), NULL)), "w",
                RNNC_E_ARG, "'l2'", NULL);
    expect_fail(th_envelope(NULL, "L1L2", th_map_of("l1", rnnc_cfg_int(-1), NULL)), "w", RNNC_E_ARG,
                "'l1'", NULL);
    expect_fail(th_envelope(NULL, "OrthogonalRegularizer",
                         th_map_of("factor", rnnc_cfg_float(-1), NULL)),
                "w", RNNC_E_ARG, "'factor'", NULL);
    expect_fail(th_envelope(NULL, "L2", th_map_of("l2", rnnc_cfg_string("0.1"), NULL)), "w",
                RNNC_E_ARG, "'l2'", NULL);
    expect_fail(th_envelope(NULL, "OrthogonalRegularizer",
                         th_map_of("mode", rnnc_cfg_string("diagonal"), NULL)),
                "w", RNNC_E_ARG, "mode", "diagonal", "rows", "columns", NULL);
    expect_fail(th_envelope(NULL, "OrthogonalRegularizer",
                         th_map_of("mode", rnnc_cfg_string("column"), NULL)),
                "w", RNNC_E_ARG, "did you mean 'columns'", NULL);
    /* Unknown keys are named, with a suggestion. */
    expect_fail(th_envelope(NULL, "L2", th_map_of("l1", rnnc_cfg_float(0.1), NULL)), "w", RNNC_E_ARG,
                "'l1'", NULL);
    expect_fail(th_envelope(NULL, "L1L2", th_map_of("l3", rnnc_cfg_float(0.1), NULL)), "w",
                RNNC_E_ARG, "'l3'", NULL);
}

/* ---------------------------------------------------------------- penalties */

Test(regularizers, penalties_match_hand_values)
{
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(2, 2), W4);
    rnnc_regularizer *l1 = make("l1"), *l2 = make("L2"), *zero = make("l1l2");
    rnnc_regularizer *base = make("regularizer");
    cr_expect_float_eq(penalty_value(l1, w), K(0.01) * 6.5, 1e-15);
    cr_expect_float_eq(penalty_value(l2, w), K(0.01) * 14.25, 1e-15); /* no 1/2 */
    cr_expect_eq(penalty_value(zero, w), 0.0);                     /* L1L2() is zero */
    cr_expect_eq(penalty_value(base, w), 0.0);
    rnnc_regularizer *both = make_cfg(th_envelope(
        "keras.regularizers", "L1L2",
        th_map_of("l1", rnnc_cfg_float(0.1), "l2", rnnc_cfg_float(0.2), NULL)));
    cr_expect_float_eq(penalty_value(both, w), K(0.1) * 6.5 + K(0.2) * 14.25, 1e-14);
    rnnc_regularizer *only2 = make_cfg(th_envelope(NULL, "L1L2",
                                                th_map_of("l2", rnnc_cfg_int(1), NULL)));
    cr_expect_float_eq(penalty_value(only2, w), 14.25, 1e-14);
    /* None means the default (0.01 for L2). */
    rnnc_regularizer *dflt = make_cfg(th_envelope(NULL, "L2", th_map_of("l2", rnnc_cfg_null(), NULL)));
    cr_expect_float_eq(penalty_value(dflt, w), K(0.01) * 14.25, 1e-15);
    /* float32 weights give a float32 penalty of the same value. */
    rnnc_tensor *wf = th_tensor(RNNC_F32, RNNC_SHAPE(4), W4);
    cr_expect_float_eq(penalty_value(both, wf), 3.5, 1e-6);
    rnnc_tensor_destroy(wf);
    rnnc_regularizer_destroy(l1);
    rnnc_regularizer_destroy(l2);
    rnnc_regularizer_destroy(zero);
    rnnc_regularizer_destroy(base);
    rnnc_regularizer_destroy(both);
    rnnc_regularizer_destroy(only2);
    rnnc_regularizer_destroy(dflt);
    rnnc_tensor_destroy(w);
}

Test(regularizers, gradients_match_closed_forms)
{
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(2, 2), W4);
    rnnc_regularizer *r = make_cfg(th_envelope(
        NULL, "L1L2", th_map_of("l1", rnnc_cfg_float(0.3), "l2", rnnc_cfg_float(0.2), NULL)));
    penalty_grad(r, w);
    for (size_t i = 0; i < 4; i++) /* l1 sign(w) + 2 l2 w */
        cr_expect_float_eq(rnnc_tensor_get_grad(w, i),
                           K(0.3) * (W4[i] > 0 ? 1.0 : -1.0) + 2 * K(0.2) * W4[i], 1e-14);
    rnnc_regularizer_destroy(r);
    r = make("l2");
    penalty_grad(r, w);
    for (size_t i = 0; i < 4; i++)
        cr_expect_float_eq(rnnc_tensor_get_grad(w, i), 2 * K(0.01) * W4[i], 1e-15);
    rnnc_regularizer_destroy(r);
    rnnc_tensor_destroy(w);
}

Test(regularizers, gradients_match_finite_differences)
{
    double v[12] = {0.3, -1.2, 0.8, 0.5, 2.0, -0.7, 1.1, 0.4, -0.9, 0.6, -0.2, 1.5};
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(3, 4), v);
    const char *names[] = {"l1", "l2"};
    for (int i = 0; i < 2; i++) {
        rnnc_regularizer *r = make(names[i]);
        cr_expect_lt(gradcheck(r, w), 1e-8, "%s", names[i]);
        rnnc_regularizer_destroy(r);
    }
    for (int m = 0; m < 2; m++) {
        rnnc_regularizer *r = make_cfg(th_envelope(
            NULL, "OrthogonalRegularizer",
            th_map_of("factor", rnnc_cfg_float(0.5), "mode", rnnc_cfg_string(m ? "columns" : "rows"),
                   NULL)));
        cr_expect_lt(gradcheck(r, w), 1e-8, "orthogonal %s", m ? "columns" : "rows");
        rnnc_regularizer_destroy(r);
    }
    rnnc_tensor_destroy(w);
}

Test(regularizers, orthogonal_penalty_hand_values)
{
    /* w = [[1, 0], [1, 1], [0, 2]].
     * rows: unit rows (1,0), (1,1)/sqrt2, (0,1); |cos| pairs 1/sqrt2, 0, 1/sqrt2;
     *   factor * 0.5 * (2 * sqrt2) / 3 = factor * sqrt2 / 3.
     * columns: (1,1,0)/sqrt2 and (0,1,2)/sqrt5, cos = 1/sqrt10, one pair:
     *   factor * 0.5 * 2 / sqrt10 / 1 = factor / sqrt10. */
    double v[6] = {1, 0, 1, 1, 0, 2};
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(3, 2), v);
    rnnc_regularizer *rows = make("orthogonal_regularizer"); /* factor 0.01, rows */
    cr_expect_float_eq(penalty_value(rows, w), 0.01 * sqrt(2.0) / 3.0, 1e-15);
    rnnc_regularizer *cols = make_cfg(th_envelope(
        NULL, "OrthogonalRegularizer",
        th_map_of("factor", rnnc_cfg_float(2.0), "mode", rnnc_cfg_string("columns"), NULL)));
    cr_expect_float_eq(penalty_value(cols, w), 2.0 / sqrt(10.0), 1e-14);
    /* Orthogonal rows cost nothing; parallel rows cost factor. */
    double eye[4] = {2, 0, 0, 3}, par[4] = {1, 2, -2, -4};
    rnnc_tensor *we = th_tensor(RNNC_F64, RNNC_SHAPE(2, 2), eye);
    rnnc_tensor *wp = th_tensor(RNNC_F64, RNNC_SHAPE(2, 2), par);
    cr_expect_eq(penalty_value(rows, we), 0.0);
    cr_expect_float_eq(penalty_value(rows, wp), 0.01, 1e-15);
    rnnc_tensor_destroy(we);
    rnnc_tensor_destroy(wp);
    rnnc_regularizer_destroy(rows);
    rnnc_regularizer_destroy(cols);
    rnnc_tensor_destroy(w);
}

Test(regularizers, orthogonal_zero_row_uses_epsilon_and_stays_finite)
{
    /* A zero row is divided by max(0, 1e-7): it stays zero and contributes
     * |0| to its pairs; the other pair (1,0).(1,1)/sqrt2 gives 1/sqrt2. */
    double v[6] = {0, 0, 1, 0, 1, 1};
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(3, 2), v);
    rnnc_regularizer *r = make_cfg(th_envelope(NULL, "OrthogonalRegularizer",
                                            th_map_of("factor", rnnc_cfg_float(3.0), NULL)));
    cr_expect_float_eq(penalty_value(r, w), 3.0 * 0.5 * (2.0 / sqrt(2.0)) / 3.0, 1e-14);
    penalty_grad(r, w);
    for (size_t i = 0; i < 6; i++)
        cr_expect(isfinite(rnnc_tensor_get_grad(w, i)), "grad %zu is %g", i,
                  rnnc_tensor_get_grad(w, i));
    rnnc_regularizer_destroy(r);
    rnnc_tensor_destroy(w);
}

Test(regularizers, orthogonal_shape_errors)
{
    rnnc_regularizer *rows = make("OrthogonalRegularizer");
    rnnc_regularizer *cols = make_cfg(th_envelope(NULL, "OrthogonalRegularizer",
                                               th_map_of("mode", rnnc_cfg_string("columns"), NULL)));
    double v[6] = {1, 2, 3, 4, 5, 6};
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *loss = NULL;
    /* rank 3 */
    rnnc_tensor *w3 = th_tensor(RNNC_F64, RNNC_SHAPE(1, 2, 3), v);
    cr_expect_eq(rnnc_regularizer_penalty(rows, cx, w3, &loss), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "rank 2"), "%s", rnnc_last_error());
    /* one row (rows mode) or one column (columns mode): n (n - 1) / 2 = 0 */
    rnnc_tensor *w1 = th_tensor(RNNC_F64, RNNC_SHAPE(1, 6), v);
    cr_expect_eq(rnnc_regularizer_penalty(rows, cx, w1, &loss), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "(1, 6)"), "%s", rnnc_last_error());
    cr_expect_eq(rnnc_regularizer_penalty(cols, cx, w1, &loss), RNNC_OK); /* 6 columns */
    rnnc_tensor *wc = th_tensor(RNNC_F64, RNNC_SHAPE(6, 1), v);
    cr_expect_eq(rnnc_regularizer_penalty(cols, cx, wc, &loss), RNNC_E_SHAPE);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(w3);
    rnnc_tensor_destroy(w1);
    rnnc_tensor_destroy(wc);
    rnnc_regularizer_destroy(rows);
    rnnc_regularizer_destroy(cols);
}

/* ---------------------------------------------------------------- config */

Test(regularizers, get_config_is_keras_shaped)
{
    /* L2 from an int argument: stored as a float, as Keras does. */
    rnnc_regularizer *r = make_cfg(th_envelope(NULL, "l2", th_map_of("l2", rnnc_cfg_int(1), NULL)));
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_regularizer_get_config(r, &c), RNNC_OK);
    cr_expect_str_eq(c->keys[0], "module");
    cr_expect_str_eq(c->keys[1], "class_name");
    cr_expect_str_eq(c->keys[2], "config");
    cr_expect_str_eq(c->keys[3], "registered_name");
    cr_expect_str_eq(rnnc_cfg_peek(c, "class_name")->v.s, "L2");
    const rnnc_cfg *conf = rnnc_cfg_peek(c, "config");
    cr_assert_eq(conf->n, 1);
    cr_expect_str_eq(conf->keys[0], "l2");
    cr_expect_eq(conf->items[0]->type, RNNC_CFG_FLOAT);
    cr_expect_eq(conf->items[0]->v.f, 1.0);
    rnnc_cfg_destroy(c);
    rnnc_regularizer_destroy(r);

    r = make("l1l2");
    cr_assert_eq(rnnc_regularizer_get_config(r, &c), RNNC_OK);
    conf = rnnc_cfg_peek(c, "config");
    cr_assert_eq(conf->n, 2);
    cr_expect_str_eq(conf->keys[0], "l1");
    cr_expect_str_eq(conf->keys[1], "l2");
    cr_expect_eq(conf->items[0]->v.f, 0.0);
    cr_expect_eq(conf->items[1]->v.f, 0.0);
    rnnc_cfg_destroy(c);
    rnnc_regularizer_destroy(r);

    r = make("orthogonal_regularizer");
    cr_assert_eq(rnnc_regularizer_get_config(r, &c), RNNC_OK);
    conf = rnnc_cfg_peek(c, "config");
    cr_assert_eq(conf->n, 2);
    cr_expect_str_eq(conf->keys[0], "factor");
    cr_expect_str_eq(conf->keys[1], "mode");
    cr_expect_eq(conf->items[0]->v.f, 0.01);
    cr_expect_str_eq(conf->items[1]->v.s, "rows");
    rnnc_cfg_destroy(c);
    rnnc_regularizer_destroy(r);
}

Test(regularizers, round_trip_and_clone)
{
    rnnc_cfg *srcs[] = {
        rnnc_cfg_string("l1"),
        rnnc_cfg_string("L2"),
        th_envelope("keras.regularizers", "L1L2",
                 th_map_of("l1", rnnc_cfg_float(0.25), "l2", rnnc_cfg_float(0.5), NULL)),
        th_envelope(NULL, "OrthogonalRegularizer",
                 th_map_of("factor", rnnc_cfg_float(0.3), "mode", rnnc_cfg_string("columns"), NULL)),
        rnnc_cfg_string("regularizer"),
    };
    double v[6] = {0.5, -1, 2, 0.25, -0.75, 1};
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), v);
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        rnnc_regularizer *a = make_cfg(srcs[i]), *b = NULL, *cl = NULL;
        rnnc_cfg *ca = NULL, *cb = NULL;
        cr_assert_eq(rnnc_regularizer_get_config(a, &ca), RNNC_OK);
        cr_assert_eq(rnnc_regularizer_from_config(ca, "round trip", &b), RNNC_OK, "%s",
                     rnnc_last_error());
        cr_assert_eq(rnnc_regularizer_get_config(b, &cb), RNNC_OK);
        cr_expect(th_cfg_equal(ca, cb, NULL, 0), "case %zu differs after a round trip", i);
        cr_assert_eq(rnnc_regularizer_clone(a, &cl), RNNC_OK);
        cr_expect_eq(penalty_value(a, w), penalty_value(b, w));
        cr_expect_eq(penalty_value(a, w), penalty_value(cl, w));
        rnnc_cfg_destroy(ca);
        rnnc_cfg_destroy(cb);
        rnnc_regularizer_destroy(a);
        rnnc_regularizer_destroy(b);
        rnnc_regularizer_destroy(cl);
    }
    rnnc_tensor_destroy(w);
}

/* The project's checker as a second oracle, over every penalty kind. */
static rnnc_status penalty_fn(rnnc_ctx *cx, void *user, rnnc_tensor **inputs, rnnc_tensor **out)
{
    return rnnc_regularizer_penalty(user, cx, inputs[0], out);
}

Test(regularizers, rnnc_gradcheck_agrees)
{
    double v[12] = {0.3, -1.2, 0.8, 0.5, 2.0, -0.7, 1.1, 0.4, -0.9, 0.6, -0.2, 1.5};
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(4, 3), v);
    cr_assert_eq(rnnc_tensor_set_requires_grad(w, true), RNNC_OK);
    rnnc_cfg *srcs[] = {
        rnnc_cfg_string("l1"),
        rnnc_cfg_string("l2"),
        th_envelope(NULL, "L1L2", th_map_of("l1", rnnc_cfg_float(0.2), "l2", rnnc_cfg_float(0.7), NULL)),
        th_envelope(NULL, "OrthogonalRegularizer", th_map_of("factor", rnnc_cfg_float(1.0), NULL)),
        th_envelope(NULL, "OrthogonalRegularizer",
                 th_map_of("factor", rnnc_cfg_float(1.0), "mode", rnnc_cfg_string("columns"), NULL)),
    };
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        rnnc_regularizer *r = make_cfg(srcs[i]);
        rnnc_gradcheck_result res;
        char buf[256];
        cr_assert_eq(rnnc_gradcheck_full(penalty_fn, r, &w, 1, 1e-6, &res), RNNC_OK, "%s",
                     rnnc_last_error());
        cr_expect_eq(res.n_checked, 12);
        cr_expect_lt(res.max_err, 1e-8, "case %zu: %s", i,
                     rnnc_gradcheck_str(&res, buf, sizeof buf));
        rnnc_regularizer_destroy(r);
    }
    rnnc_tensor_destroy(w);
}
