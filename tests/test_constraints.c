/* test_constraints.c - Keras constraints (spec section 9): names, results
 * against hand-computed values (eps = 1e-7 included), axis semantics (ints,
 * negative, lists, null), get_config and round trips. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "framework/constraints.h"
#include "helpers/builders.h"

#define EPS 1e-7

/* ---------------------------------------------------------------- helpers */

static rnnc_constraint *make_cfg(rnnc_cfg *c)
{
    rnnc_constraint *k = NULL;
    cr_assert_eq(rnnc_constraint_from_config(c, "test", &k), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_not_null(k);
    rnnc_cfg_destroy(c);
    return k;
}

static rnnc_constraint *make(const char *name) { return make_cfg(rnnc_cfg_string(name)); }

static void expect_fail(rnnc_cfg *c, const char *what, rnnc_status code, ...)
{
    rnnc_constraint *k = NULL;
    rnnc_status s = rnnc_constraint_from_config(c, what, &k);
    cr_expect_eq(s, code, "status %d, message: %s", s, rnnc_last_error());
    cr_expect_null(k);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *));)
        cr_expect(strstr(rnnc_last_error(), needle), "'%s' not in: %s", needle,
                  rnnc_last_error());
    va_end(ap);
    rnnc_cfg_destroy(c);
}

/* Applies k to a float64 copy of v (shape s) and compares with want. */
static void expect_result(const rnnc_constraint *k, rnnc_shape s, const double *v,
                          const double *want, double tol)
{
    rnnc_tensor *w = th_tensor(RNNC_F64, s, v);
    cr_assert_eq(rnnc_constraint_apply(k, w), RNNC_OK, "%s", rnnc_last_error());
    for (size_t i = 0; i < w->numel; i++)
        cr_expect(fabs(rnnc_tensor_get(w, i) - want[i]) <= tol,
                  "element %zu: got %.17g, want %.17g", i, rnnc_tensor_get(w, i), want[i]);
    rnnc_tensor_destroy(w);
}

/* ---------------------------------------------------------------- names */

Test(constraints, class_and_snake_case_names_only)
{
    static const char *const pairs[][2] = {
        {"Constraint", "Constraint"}, {"constraint", "Constraint"},
        {"MaxNorm", "MaxNorm"},       {"max_norm", "MaxNorm"},
        {"MinMaxNorm", "MinMaxNorm"}, {"min_max_norm", "MinMaxNorm"},
        {"NonNeg", "NonNeg"},         {"non_neg", "NonNeg"},
        {"UnitNorm", "UnitNorm"},     {"unit_norm", "UnitNorm"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        rnnc_constraint *k = make(pairs[i][0]);
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_constraint_get_config(k, &c), RNNC_OK);
        cr_expect_str_eq(rnnc_cfg_peek(c, "class_name")->v.s, pairs[i][1]);
        cr_expect_str_eq(rnnc_cfg_peek(c, "module")->v.s, "keras.constraints");
        cr_expect_eq(rnnc_cfg_peek(c, "registered_name")->type, RNNC_CFG_NULL);
        rnnc_cfg_destroy(c);
        rnnc_constraint_destroy(k);
    }
    /* Keras 2 aliases are gone. */
    expect_fail(rnnc_cfg_string("maxnorm"), "GRU.kernel_constraint", RNNC_E_ARG,
                "GRU.kernel_constraint", "'maxnorm'", "did you mean", NULL);
    expect_fail(rnnc_cfg_string("nonneg"), "w", RNNC_E_ARG, "'nonneg'", NULL);
    expect_fail(rnnc_cfg_string("unitnorm"), "w", RNNC_E_ARG, "'unitnorm'", NULL);
    expect_fail(rnnc_cfg_string("MaxNorms"), "w", RNNC_E_ARG, "did you mean 'MaxNorm'", NULL);
    rnnc_constraint_destroy(NULL); /* no-op */
}

Test(constraints, null_is_no_constraint_and_envelope_errors)
{
    rnnc_constraint *k = (rnnc_constraint *)1;
    cr_expect_eq(rnnc_constraint_from_config(NULL, "w", &k), RNNC_OK);
    cr_expect_null(k);
    rnnc_cfg *c = th_envelope(NULL, "MaxNorm", rnnc_cfg_map());
    rnnc_cfg_set_null(c, "module");
    expect_fail(c, "GRU.recurrent_constraint", RNNC_E_ARG, "GRU.recurrent_constraint", "custom",
                NULL);
    expect_fail(th_envelope(NULL, "MaxNorm", th_map_of("max_val", rnnc_cfg_int(3), NULL)), "w",
                RNNC_E_ARG, "'max_val'", "max_value", NULL);
    expect_fail(th_envelope(NULL, "MaxNorm", th_map_of("axis", rnnc_cfg_string("rows"), NULL)), "w",
                RNNC_E_ARG, "'axis'", NULL);
    rnnc_cfg *bad = rnnc_cfg_list();
    rnnc_cfg_push(bad, rnnc_cfg_float(0.5));
    expect_fail(th_envelope(NULL, "UnitNorm", th_map_of("axis", bad, NULL)), "w", RNNC_E_ARG, "axis",
                NULL);
    expect_fail(th_envelope(NULL, "MinMaxNorm", th_map_of("rate", rnnc_cfg_string("fast"), NULL)), "w",
                RNNC_E_ARG, "'rate'", NULL);
    expect_fail(th_envelope(NULL, "NonNeg", th_map_of("axis", rnnc_cfg_int(0), NULL)), "w", RNNC_E_ARG,
                "'axis'", NULL);
}

/* ---------------------------------------------------------------- results */

Test(constraints, max_norm_per_column_shrinks_by_n_over_n_plus_eps)
{
    /* (2, 3), axis 0: column norms 5, 1, 1. Column 0 is scaled to 2/(5+eps);
     * columns 1 and 2 are below max_value 2 but still shrink by 1/(1+eps). */
    double v[6] = {3, 0, 0.6, 4, 1, 0.8};
    double want[6] = {3 * 2 / (5 + EPS), 0, 0.6 / (1 + EPS), 4 * 2 / (5 + EPS), 1 / (1 + EPS),
                      0.8 / (1 + EPS)};
    rnnc_constraint *k = make("max_norm"); /* max_value 2, axis 0 */
    expect_result(k, RNNC_SHAPE(2, 3), v, want, 1e-15);
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), v);
    rnnc_constraint_apply(k, w);
    cr_expect_neq(rnnc_tensor_get(w, 4), 1.0); /* not an exact identity */
    rnnc_tensor_destroy(w);
    rnnc_constraint_destroy(k);
}

Test(constraints, gru_bias_axis0_couples_input_and_recurrent_rows)
{
    /* Bias (2, 3U), U = 1: each column's two entries (input and recurrent
     * bias of one gate) share one norm. */
    double v[6] = {3, 1, 0, 4, 1, 0};
    double n1 = sqrt(2.0);
    double want[6] = {3 * 1.5 / (5 + EPS), 1 * n1 / (n1 + EPS), 0,
                      4 * 1.5 / (5 + EPS), 1 * n1 / (n1 + EPS), 0};
    rnnc_constraint *k = make_cfg(th_envelope(NULL, "MaxNorm",
                                           th_map_of("max_value", rnnc_cfg_float(1.5), NULL)));
    expect_result(k, RNNC_SHAPE(2, 3), v, want, 1e-15);
    rnnc_constraint_destroy(k);
}

Test(constraints, axis_int_negative_list_and_null)
{
    double v[6] = {3, 4, 0, 0, 0.3, 0.4}; /* rows: norms 5, 0.5; whole: sqrt(25.25) */
    /* axis 1 and -1: per row. */
    double want_rows[6] = {3 * 1 / (5 + EPS), 4 * 1 / (5 + EPS), 0, 0, 0.3 * 0.5 / (0.5 + EPS),
                           0.4 * 0.5 / (0.5 + EPS)};
    rnnc_constraint *a1 = make_cfg(th_envelope(NULL, "MaxNorm",
                                            th_map_of("max_value", rnnc_cfg_int(1), "axis",
                                                   rnnc_cfg_int(1), NULL)));
    rnnc_constraint *am1 = make_cfg(th_envelope(NULL, "MaxNorm",
                                             th_map_of("max_value", rnnc_cfg_int(1), "axis",
                                                    rnnc_cfg_int(-1), NULL)));
    expect_result(a1, RNNC_SHAPE(2, 3), v, want_rows, 1e-15);
    expect_result(am1, RNNC_SHAPE(2, 3), v, want_rows, 1e-15);
    /* axis [0, 1] and axis null: one norm over everything. */
    double n = sqrt(25.25), want_all[6];
    for (int i = 0; i < 6; i++)
        want_all[i] = v[i] * 1.0 / (n + EPS);
    rnnc_constraint *al = make_cfg(th_envelope(NULL, "MaxNorm",
                                            th_map_of("max_value", rnnc_cfg_int(1), "axis",
                                                   th_int_list(2, 0, 1), NULL)));
    rnnc_constraint *an = make_cfg(th_envelope(NULL, "MaxNorm",
                                            th_map_of("max_value", rnnc_cfg_int(1), "axis",
                                                   rnnc_cfg_null(), NULL)));
    expect_result(al, RNNC_SHAPE(2, 3), v, want_all, 1e-15);
    expect_result(an, RNNC_SHAPE(2, 3), v, want_all, 1e-15);
    rnnc_constraint_destroy(a1);
    rnnc_constraint_destroy(am1);
    rnnc_constraint_destroy(al);
    rnnc_constraint_destroy(an);
}

Test(constraints, rank3_with_two_axes)
{
    /* (2, 2, 2), UnitNorm over axes [0, 2]: one norm per middle index j,
     * over w[0][j][0], w[0][j][1], w[1][j][0], w[1][j][1]. */
    double v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    double n0 = sqrt(1 + 4 + 25 + 36), n1 = sqrt(9 + 16 + 49 + 64);
    double want[8] = {1 / (n0 + EPS), 2 / (n0 + EPS), 3 / (n1 + EPS), 4 / (n1 + EPS),
                      5 / (n0 + EPS), 6 / (n0 + EPS), 7 / (n1 + EPS), 8 / (n1 + EPS)};
    rnnc_constraint *k = make_cfg(th_envelope(NULL, "UnitNorm",
                                           th_map_of("axis", th_int_list(2, 0, -1), NULL)));
    expect_result(k, RNNC_SHAPE(2, 2, 2), v, want, 1e-15);
    rnnc_constraint_destroy(k);
}

Test(constraints, min_max_norm_with_rate)
{
    /* (1, 3), axis 0: column norms are |v|: 0.5, 1.5, 5 with min 1, max 2,
     * rate 0.5: desired 0.5*1 + 0.5*0.5 = 0.75, 1.5, 0.5*2 + 0.5*5 = 3.5. */
    double v[3] = {-0.5, 1.5, 5};
    double want[3] = {-0.5 * 0.75 / (0.5 + EPS), 1.5 * 1.5 / (1.5 + EPS), 5 * 3.5 / (5 + EPS)};
    rnnc_constraint *k = make_cfg(th_envelope(
        "keras.constraints", "MinMaxNorm",
        th_map_of("min_value", rnnc_cfg_float(1), "max_value", rnnc_cfg_float(2), "rate",
               rnnc_cfg_float(0.5), NULL)));
    expect_result(k, RNNC_SHAPE(1, 3), v, want, 1e-15);
    rnnc_constraint_destroy(k);
    /* Defaults (0, 1, rate 1) make a column of norm 5 unit and keep norm 0.5. */
    k = make("min_max_norm");
    double want2[3] = {-0.5 * 0.5 / (0.5 + EPS), 1.5 * 1 / (1.5 + EPS), 5 * 1 / (5 + EPS)};
    expect_result(k, RNNC_SHAPE(1, 3), v, want2, 1e-15);
    rnnc_constraint_destroy(k);
    /* No validation: min > max clips to max, as ops.clip does. */
    k = make_cfg(th_envelope(NULL, "MinMaxNorm",
                          th_map_of("min_value", rnnc_cfg_float(3), "max_value", rnnc_cfg_float(2),
                                 NULL)));
    double want3[3] = {-0.5 * 2 / (0.5 + EPS), 1.5 * 2 / (1.5 + EPS), 5 * 2 / (5 + EPS)};
    expect_result(k, RNNC_SHAPE(1, 3), v, want3, 1e-15);
    rnnc_constraint_destroy(k);
}

Test(constraints, unit_norm_and_zero_columns)
{
    double v[4] = {0, 3, 0, -4}; /* column 0 is zero, column 1 has norm 5 */
    double want[4] = {0, 3 / (5 + EPS), 0, -4 / (5 + EPS)};
    rnnc_constraint *k = make("UnitNorm");
    expect_result(k, RNNC_SHAPE(2, 2), v, want, 1e-15);
    rnnc_constraint_destroy(k);
}

Test(constraints, non_neg_and_identity)
{
    double v[5] = {-1, 0, 2, -0.5, 3.25};
    double want[5] = {0, 0, 2, 0, 3.25};
    rnnc_constraint *k = make("non_neg");
    expect_result(k, RNNC_SHAPE(5), v, want, 0);
    rnnc_constraint_destroy(k);
    k = make("constraint");
    expect_result(k, RNNC_SHAPE(5), v, v, 0);
    rnnc_constraint_destroy(k);
}

Test(constraints, float32_weights)
{
    double v[6] = {3, 0, 0.6, 4, 1, 0.8};
    rnnc_tensor *w = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3), v);
    rnnc_constraint *k = make("max_norm");
    cr_assert_eq(rnnc_constraint_apply(k, w), RNNC_OK);
    cr_expect_float_eq(rnnc_tensor_get(w, 0), 1.2, 1e-6);
    cr_expect_float_eq(rnnc_tensor_get(w, 3), 1.6, 1e-6);
    cr_expect_float_eq(rnnc_tensor_get(w, 4), 1.0, 1e-6);
    rnnc_tensor_destroy(w);
    /* Integer tensors are refused. */
    rnnc_tensor *ti = NULL;
    rnnc_shape s = RNNC_SHAPE(2);
    cr_assert_eq(rnnc_tensor_create(RNNC_I32, &s, &ti), RNNC_OK);
    cr_expect_eq(rnnc_constraint_apply(k, ti), RNNC_E_DTYPE);
    rnnc_tensor_destroy(ti);
    rnnc_constraint_destroy(k);
}

Test(constraints, bad_axes_for_the_weight)
{
    double v[6] = {1, 2, 3, 4, 5, 6};
    rnnc_constraint *k = make_cfg(th_envelope(NULL, "MaxNorm", th_map_of("axis", rnnc_cfg_int(2), NULL)));
    rnnc_tensor *w = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), v);
    cr_expect_eq(rnnc_constraint_apply(k, w), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "MaxNorm"), "%s", rnnc_last_error());
    cr_expect(strstr(rnnc_last_error(), "(2, 3)"), "%s", rnnc_last_error());
    for (int i = 0; i < 6; i++) /* untouched on failure */
        cr_expect_eq(rnnc_tensor_get(w, (size_t)i), v[i]);
    rnnc_constraint_destroy(k);
    k = make_cfg(th_envelope(NULL, "UnitNorm", th_map_of("axis", th_int_list(2, 1, -1), NULL)));
    cr_expect_eq(rnnc_constraint_apply(k, w), RNNC_E_ARG); /* 1 and -1 are one axis */
    cr_expect(strstr(rnnc_last_error(), "repeated"), "%s", rnnc_last_error());
    rnnc_constraint_destroy(k);
    rnnc_tensor_destroy(w);
}

/* ---------------------------------------------------------------- config */

Test(constraints, get_config_keys_defaults_and_types)
{
    rnnc_constraint *k = make("max_norm");
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_constraint_get_config(k, &c), RNNC_OK);
    cr_expect_str_eq(c->keys[0], "module");
    cr_expect_str_eq(c->keys[1], "class_name");
    cr_expect_str_eq(c->keys[2], "config");
    cr_expect_str_eq(c->keys[3], "registered_name");
    const rnnc_cfg *conf = rnnc_cfg_peek(c, "config");
    cr_assert_eq(conf->n, 2);
    cr_expect_str_eq(conf->keys[0], "max_value");
    cr_expect_str_eq(conf->keys[1], "axis");
    cr_expect_eq(conf->items[0]->type, RNNC_CFG_INT); /* Keras's default is the int 2 */
    cr_expect_eq(conf->items[0]->v.i, 2);
    cr_expect_eq(conf->items[1]->v.i, 0);
    rnnc_cfg_destroy(c);
    rnnc_constraint_destroy(k);

    k = make("MinMaxNorm");
    cr_assert_eq(rnnc_constraint_get_config(k, &c), RNNC_OK);
    conf = rnnc_cfg_peek(c, "config");
    cr_assert_eq(conf->n, 4);
    static const char *const keys[] = {"min_value", "max_value", "rate", "axis"};
    static const double vals[] = {0.0, 1.0, 1.0};
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(conf->keys[i], keys[i]);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(conf->items[i]->type, RNNC_CFG_FLOAT);
        cr_expect_eq(conf->items[i]->v.f, vals[i]);
    }
    rnnc_cfg_destroy(c);
    rnnc_constraint_destroy(k);

    k = make("unit_norm");
    cr_assert_eq(rnnc_constraint_get_config(k, &c), RNNC_OK);
    conf = rnnc_cfg_peek(c, "config");
    cr_assert_eq(conf->n, 1);
    cr_expect_str_eq(conf->keys[0], "axis");
    rnnc_cfg_destroy(c);
    rnnc_constraint_destroy(k);

    k = make("NonNeg");
    cr_assert_eq(rnnc_constraint_get_config(k, &c), RNNC_OK);
    cr_expect_eq(rnnc_cfg_peek(c, "config")->n, 0);
    rnnc_cfg_destroy(c);
    rnnc_constraint_destroy(k);
}

Test(constraints, round_trip_and_clone)
{
    rnnc_cfg *srcs[] = {
        rnnc_cfg_string("max_norm"),
        th_envelope("keras.constraints", "MaxNorm",
                 th_map_of("max_value", rnnc_cfg_float(3.5), "axis", th_int_list(1, 1), NULL)),
        th_envelope(NULL, "MinMaxNorm",
                 th_map_of("min_value", rnnc_cfg_float(0.5), "max_value", rnnc_cfg_int(4), "rate",
                        rnnc_cfg_float(0.25), "axis", rnnc_cfg_null(), NULL)),
        th_envelope(NULL, "UnitNorm", th_map_of("axis", rnnc_cfg_int(-1), NULL)),
        rnnc_cfg_string("non_neg"),
        rnnc_cfg_string("Constraint"),
    };
    double v[6] = {3, -1, 0.2, 4, 2, -0.1};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        rnnc_constraint *a = make_cfg(srcs[i]), *b = NULL, *cl = NULL;
        rnnc_cfg *ca = NULL, *cb = NULL;
        cr_assert_eq(rnnc_constraint_get_config(a, &ca), RNNC_OK);
        cr_assert_eq(rnnc_constraint_from_config(ca, "round trip", &b), RNNC_OK, "%s",
                     rnnc_last_error());
        cr_assert_eq(rnnc_constraint_get_config(b, &cb), RNNC_OK);
        cr_expect(th_cfg_equal(ca, cb, NULL, 0), "case %zu differs after a round trip", i);
        cr_assert_eq(rnnc_constraint_clone(a, &cl), RNNC_OK);
        rnnc_tensor *wa = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), v);
        rnnc_tensor *wb = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), v);
        rnnc_tensor *wc = th_tensor(RNNC_F64, RNNC_SHAPE(2, 3), v);
        rnnc_constraint_apply(a, wa);
        rnnc_constraint_apply(b, wb);
        rnnc_constraint_apply(cl, wc);
        for (size_t j = 0; j < 6; j++) {
            cr_expect_eq(rnnc_tensor_get(wa, j), rnnc_tensor_get(wb, j));
            cr_expect_eq(rnnc_tensor_get(wa, j), rnnc_tensor_get(wc, j));
        }
        rnnc_tensor_destroy(wa);
        rnnc_tensor_destroy(wb);
        rnnc_tensor_destroy(wc);
        rnnc_cfg_destroy(ca);
        rnnc_cfg_destroy(cb);
        rnnc_constraint_destroy(a);
        rnnc_constraint_destroy(b);
        rnnc_constraint_destroy(cl);
    }
}
