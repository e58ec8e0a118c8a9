/* test_ops.c - the tensor ops of ops.h (activations: test_activations.c).
 *
 * Forward values are checked against numbers derived by hand in the
 * comments; gradients against float64 central differences (gradcheck.h)
 * and, for a few ops, against hand-derived gradients in float32; errors
 * against the status code and the shapes named in the message. Dropout
 * statistics use n = 100000 with tolerances of ~3.5 standard errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "framework/random.h"
#include "helpers/arena.h"

/* ---------------------------------------------------------------- fixture */

static rnnc_ctx *cx;

static void setup(void)
{
    cx = rnnc_ctx_create();
    cr_assert_not_null(cx);
}

static void teardown(void)
{
    rnnc_ctx_destroy(cx);
    th_arena_free();
}

TestSuite(ops, .init = setup, .fini = teardown);

static void expect_values(const rnnc_tensor *t, const double *want, size_t n, double tol)
{
    cr_assert_eq(t->numel, n, "numel %zu, want %zu", t->numel, n);
    for (size_t i = 0; i < n; i++)
        cr_expect(fabs(rnnc_tensor_get(t, i) - want[i]) <= tol, "element %zu: got %.9g, want %.9g", i,
                  rnnc_tensor_get(t, i), want[i]);
}

static void expect_grad(const rnnc_tensor *t, const double *want, size_t n, double tol)
{
    cr_assert_not_null(t->grad);
    for (size_t i = 0; i < n; i++)
        cr_expect(fabs(rnnc_tensor_get_grad(t, i) - want[i]) <= tol,
                  "grad element %zu: got %.9g, want %.9g", i, rnnc_tensor_get_grad(t, i), want[i]);
}

static void expect_shape(const rnnc_tensor *t, rnnc_shape s)
{
    char a[160], b[160];
    cr_assert(rnnc_shape_eq(&t->shape, &s), "shape %s, want %s", rnnc_shape_str(&t->shape, a, sizeof a),
              rnnc_shape_str(&s, b, sizeof b));
}

/* The failure status is `code` and the message contains every needle. */
static void expect_fail(rnnc_status got, rnnc_status code, const char *n1, const char *n2)
{
    cr_assert_eq(got, code, "status %s (%s), want %s", rnnc_status_str(got), rnnc_last_error(),
                 rnnc_status_str(code));
    const char *m = rnnc_last_error();
    cr_expect(!n1 || strstr(m, n1), "message '%s' lacks '%s'", m, n1);
    cr_expect(!n2 || strstr(m, n2), "message '%s' lacks '%s'", m, n2);
}

/* Seeds backward of y with ones. */
static void backward_ones(rnnc_tensor *y)
{
    rnnc_tensor *seed = th_leaf(y->dtype, y->shape, NULL, false);
    rnnc_tensor_fill(seed, 1.0);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK, "%s", rnnc_last_error());
}

static void gradcheck_ok(rnnc_gradcheck_fn fn, void *user, rnnc_tensor **in, int n)
{
    rnnc_gradcheck_result r;
    char buf[300];
    rnnc_status s = rnnc_gradcheck_full(fn, user, in, n, 1e-6, &r);
    cr_assert_eq(s, RNNC_OK, "gradcheck failed to run: %s", rnnc_last_error());
    cr_expect_gt(r.n_checked, 0);
    cr_expect_lt(r.max_err, 1e-7, "%s", rnnc_gradcheck_str(&r, buf, sizeof buf));
}

/* ----------------------------------------------------------------- matmul */

/* A = [[1,2,3],[4,5,6]] (2,3), B = [[7,8],[9,10],[11,12]] (3,2):
 * A @ B = [[1*7+2*9+3*11, 1*8+2*10+3*12], [4*7+5*9+6*11, 4*8+5*10+6*12]]
 *       = [[58, 64], [139, 154]]. */
static const double A23[] = {1, 2, 3, 4, 5, 6}, A23T[] = {1, 4, 2, 5, 3, 6};
static const double B32[] = {7, 8, 9, 10, 11, 12}, B32T[] = {7, 9, 11, 8, 10, 12};
static const double AB[] = {58, 64, 139, 154};

static void matmul_case(rnnc_dtype dt, bool ta, bool tb)
{
    rnnc_ctx_clear(cx);
    rnnc_tensor *a = ta ? th_leaf(dt, RNNC_SHAPE(3, 2), A23T, true) : th_leaf(dt, RNNC_SHAPE(2, 3), A23, true);
    rnnc_tensor *b = tb ? th_leaf(dt, RNNC_SHAPE(2, 3), B32T, true) : th_leaf(dt, RNNC_SHAPE(3, 2), B32, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_matmul(cx, a, b, ta, tb, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(2, 2));
    expect_values(y, AB, 4, 0);
    cr_assert_eq(y->dtype, dt);
    /* With dY = ones: dA[i][k] = sum_j B[k][j] = (15, 19, 23) for each row i,
     * dB[k][j] = sum_i A[i][k] = (5, 7, 9) for each column j; given in the
     * stored (possibly transposed) layout. */
    backward_ones(y);
    const double dA[] = {15, 19, 23, 15, 19, 23}, dAT[] = {15, 15, 19, 19, 23, 23};
    const double dB[] = {5, 5, 7, 7, 9, 9}, dBT[] = {5, 7, 9, 5, 7, 9};
    expect_grad(a, ta ? dAT : dA, 6, 0);
    expect_grad(b, tb ? dBT : dB, 6, 0);
}

Test(ops, matmul_values_and_grads_all_transposes_f32)
{
    matmul_case(RNNC_F32, false, false);
    matmul_case(RNNC_F32, true, false);
    matmul_case(RNNC_F32, false, true);
    matmul_case(RNNC_F32, true, true);
}

Test(ops, matmul_values_and_grads_all_transposes_f64)
{
    matmul_case(RNNC_F64, false, false);
    matmul_case(RNNC_F64, true, false);
    matmul_case(RNNC_F64, false, true);
    matmul_case(RNNC_F64, true, true);
}

struct mm_args {
    bool ta, tb;
};

static rnnc_status fn_matmul(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    struct mm_args *m = u;
    return rnnc_matmul(c, in[0], in[1], m->ta, m->tb, out);
}

Test(ops, matmul_gradcheck_all_transposes)
{
    for (int k = 0; k < 4; k++) {
        struct mm_args m = {k & 1, k >> 1 & 1};
        /* op(a) (3,4) @ op(b) (4,5) */
        rnnc_tensor *in[2] = {th_rand_leaf(m.ta ? RNNC_SHAPE(4, 3) : RNNC_SHAPE(3, 4), 10 + k, -1, 1, true),
                              th_rand_leaf(m.tb ? RNNC_SHAPE(5, 4) : RNNC_SHAPE(4, 5), 20 + k, -1, 1, true)};
        gradcheck_ok(fn_matmul, &m, in, 2);
    }
}

Test(ops, matmul_errors)
{
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), NULL, false);
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(2, 2), NULL, false);
    rnnc_tensor *b64 = th_leaf(RNNC_F64, RNNC_SHAPE(3, 2), NULL, false);
    rnnc_tensor *r3 = th_leaf(RNNC_F32, RNNC_SHAPE(1, 2, 3), NULL, false);
    rnnc_tensor *ids = th_leaf(RNNC_I32, RNNC_SHAPE(3, 2), NULL, false);
    rnnc_tensor *y = (rnnc_tensor *)1;
    expect_fail(rnnc_matmul(cx, a, b, false, false, &y), RNNC_E_SHAPE, "(2, 3)", "(2, 2)");
    cr_expect_null(y);
    expect_fail(rnnc_matmul(cx, a, b64, false, false, &y), RNNC_E_DTYPE, "float32", "float64");
    expect_fail(rnnc_matmul(cx, r3, b, false, false, &y), RNNC_E_SHAPE, "(1, 2, 3)", "rank 2");
    expect_fail(rnnc_matmul(cx, a, ids, false, false, &y), RNNC_E_DTYPE, "int32", "'b'");
    expect_fail(rnnc_matmul(cx, NULL, b, false, false, &y), RNNC_E_ARG, "'a'", NULL);
}

Test(ops, matmul_empty_inner_dim_is_zeros)
{
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(2, 0), NULL, false);
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(0, 3), NULL, false);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_matmul(cx, a, b, false, false, &y), RNNC_OK, "%s", rnnc_last_error());
    const double z[6] = {0};
    expect_shape(y, RNNC_SHAPE(2, 3));
    expect_values(y, z, 6, 0);
}

/* ------------------------------------------------------------ broadcasting */

Test(ops, add_bias_over_batch_and_time)
{
    /* (B,T,3U) = (2,2,3) with x[i] = i, plus bias (3,) = (10, 20, 30):
     * y[i] = i + bias[i % 3]. With dy = ones, dbias[c] = B*T = 4. */
    double xv[12], want[12];
    for (int i = 0; i < 12; i++) {
        xv[i] = i;
        want[i] = i + 10.0 * (i % 3 + 1);
    }
    const double bv[] = {10, 20, 30};
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 2, 3), xv, true);
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(3), bv, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_add(cx, x, b, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(2, 2, 3));
    expect_values(y, want, 12, 0);
    backward_ones(y);
    const double db[] = {4, 4, 4};
    double ones[12];
    for (int i = 0; i < 12; i++)
        ones[i] = 1;
    expect_grad(b, db, 3, 0);
    expect_grad(x, ones, 12, 0);
}

Test(ops, mul_by_column_broadcast)
{
    /* a (2,3) = [[1,2,3],[4,5,6]], b (2,1) = [[2],[3]]:
     * y = [[2,4,6],[12,15,18]]; dy = ones -> da = [[2,2,2],[3,3,3]],
     * db = [[1+2+3],[4+5+6]] = [[6],[15]]. */
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), A23, true);
    const double bv[] = {2, 3};
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(2, 1), bv, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_mul(cx, a, b, &y), RNNC_OK, "%s", rnnc_last_error());
    const double want[] = {2, 4, 6, 12, 15, 18};
    expect_values(y, want, 6, 0);
    backward_ones(y);
    const double da[] = {2, 2, 2, 3, 3, 3}, db[] = {6, 15};
    expect_grad(a, da, 6, 0);
    expect_grad(b, db, 2, 0);
}

Test(ops, outer_broadcast_and_scalar)
{
    /* (3,1) - (1,2): y[i][j] = a[i] - b[j]. */
    const double av[] = {1, 2, 3}, bv[] = {10, 20};
    rnnc_tensor *a = th_leaf(RNNC_F64, RNNC_SHAPE(3, 1), av, false);
    rnnc_tensor *b = th_leaf(RNNC_F64, RNNC_SHAPE(1, 2), bv, false);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_sub(cx, a, b, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(3, 2));
    const double want[] = {-9, -19, -8, -18, -7, -17};
    expect_values(y, want, 6, 0);
    /* rank-0 scalar divides everything: (2,3) / () */
    rnnc_shape s0 = {0};
    const double two = 2;
    rnnc_tensor *sc = th_leaf(RNNC_F64, s0, &two, false);
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2, 3), A23, false);
    cr_assert_eq(rnnc_div(cx, x, sc, &y), RNNC_OK, "%s", rnnc_last_error());
    const double half[] = {0.5, 1, 1.5, 2, 2.5, 3};
    expect_shape(y, RNNC_SHAPE(2, 3));
    expect_values(y, half, 6, 0);
}

Test(ops, maximum_values_and_tie_goes_to_a)
{
    const double av[] = {1, 5, -2, 3}, bv[] = {2, 4, -2, 3};
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(4), av, true);
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(4), bv, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_maximum(cx, a, b, &y), RNNC_OK, "%s", rnnc_last_error());
    const double want[] = {2, 5, -2, 3};
    expect_values(y, want, 4, 0);
    backward_ones(y);
    /* Ties (elements 2, 3) go to a, as TF's Maximum gradient (x >= y). */
    const double da[] = {0, 1, 1, 1}, db[] = {1, 0, 0, 0};
    expect_grad(a, da, 4, 0);
    expect_grad(b, db, 4, 0);
}

Test(ops, broadcast_errors)
{
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), NULL, false);
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(2), NULL, false);
    rnnc_tensor *c = th_leaf(RNNC_F64, RNNC_SHAPE(2, 3), NULL, false);
    rnnc_tensor *y;
    expect_fail(rnnc_add(cx, a, b, &y), RNNC_E_SHAPE, "(2, 3)", "(2,)");
    expect_fail(rnnc_mul(cx, a, c, &y), RNNC_E_DTYPE, "float32", "float64");
    expect_fail(rnnc_div(cx, a, NULL, &y), RNNC_E_ARG, "'b'", NULL);
    expect_fail(rnnc_maximum(cx, a, b, &y), RNNC_E_SHAPE, "maximum", "(2,)");
}

/* Binary ops by index, for the gradchecks. */
static rnnc_status fn_binary(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    switch (*(int *)u) {
    case 0: return rnnc_add(c, in[0], in[1], out);
    case 1: return rnnc_sub(c, in[0], in[1], out);
    case 2: return rnnc_mul(c, in[0], in[1], out);
    case 3: return rnnc_div(c, in[0], in[1], out);
    default: return rnnc_maximum(c, in[0], in[1], out);
    }
}

Test(ops, binary_gradcheck_with_broadcasting)
{
    const rnnc_shape sa[] = {RNNC_SHAPE(2, 3, 4), RNNC_SHAPE(2, 3), RNNC_SHAPE(3, 1), RNNC_SHAPE(2, 3),
                             RNNC_SHAPE(4)};
    const rnnc_shape sb[] = {RNNC_SHAPE(4), RNNC_SHAPE(2, 1), RNNC_SHAPE(1, 4), RNNC_SHAPE(2, 3),
                             RNNC_SHAPE(3, 1, 4)};
    for (int op = 0; op < 5; op++)
        for (int k = 0; k < 5; k++) {
            /* b in [0.5, 2): away from 0 for div. maximum: a, b drawn from
             * disjoint-enough random values that ties have probability 0. */
            rnnc_tensor *in[2] = {th_rand_leaf(sa[k], 100 + 10 * op + k, -2, 2, true),
                                  th_rand_leaf(sb[k], 200 + 10 * op + k, 0.5, 2, true)};
            gradcheck_ok(fn_binary, &op, in, 2);
        }
}

Test(ops, same_tensor_twice_accumulates)
{
    /* y = x * x: dy/dx = 2x, both operand slots add into one gradient. */
    const double xv[] = {1.5, -2};
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2), xv, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_mul(cx, x, x, &y), RNNC_OK);
    backward_ones(y);
    const double g[] = {3, -4};
    expect_grad(x, g, 2, 0);
}

Test(ops, no_node_when_grad_disabled)
{
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(2), NULL, true);
    rnnc_tensor *y;
    rnnc_ctx_set_grad_enabled(cx, false);
    cr_assert_eq(rnnc_add(cx, a, a, &y), RNNC_OK);
    cr_expect_not(y->requires_grad);
    cr_expect_null(y->node);
    rnnc_ctx_set_grad_enabled(cx, true);
    cr_assert_eq(rnnc_add(cx, a, a, &y), RNNC_OK);
    cr_expect(y->requires_grad);
    cr_expect_not_null(y->node);
}

/* ------------------------------------------------------------------ unary */

Test(ops, unary_values_f32)
{
    const double xv[] = {-2.25, -0.5, 0, 0.5, 4};
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(5), xv, false);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_square(cx, x, &y), RNNC_OK);
    expect_values(y, (double[]){5.0625, 0.25, 0, 0.25, 16}, 5, 0);
    cr_assert_eq(rnnc_abs(cx, x, &y), RNNC_OK);
    expect_values(y, (double[]){2.25, 0.5, 0, 0.5, 4}, 5, 0);
    cr_assert_eq(rnnc_sign(cx, x, &y), RNNC_OK);
    expect_values(y, (double[]){-1, -1, 0, 1, 1}, 5, 0);
    cr_assert_eq(rnnc_clip(cx, x, -1, 1, &y), RNNC_OK);
    expect_values(y, (double[]){-1, -0.5, 0, 0.5, 1}, 5, 0);
    cr_assert_eq(rnnc_affine(cx, x, 2, 1, &y), RNNC_OK);
    expect_values(y, (double[]){-3.5, 0, 1, 2, 9}, 5, 0);
    cr_assert_eq(rnnc_exp(cx, x, &y), RNNC_OK);
    for (int i = 0; i < 5; i++)
        cr_expect_float_eq(rnnc_tensor_get(y, i), (float)exp(xv[i]), 1e-6 * exp(xv[i]));
    const double pv[] = {0.25, 1, 2.25, 9};
    rnnc_tensor *p = th_leaf(RNNC_F32, RNNC_SHAPE(4), pv, false);
    cr_assert_eq(rnnc_sqrt(cx, p, &y), RNNC_OK);
    expect_values(y, (double[]){0.5, 1, 1.5, 3}, 4, 0);
    cr_assert_eq(rnnc_log(cx, p, &y), RNNC_OK);
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(rnnc_tensor_get(y, i), log(pv[i]), 1e-6);
}

Test(ops, unary_kink_gradients)
{
    /* clip(x, -1, 1) passes the gradient on the closed interval (TF's
     * clip_by_value); abs'(0) = 0; sign has no gradient at all. */
    const double xv[] = {-1.5, -1, 0, 1, 1.5};
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(5), xv, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_clip(cx, x, -1, 1, &y), RNNC_OK);
    backward_ones(y);
    expect_grad(x, (double[]){0, 1, 1, 1, 0}, 5, 0);
    rnnc_tensor_zero_grad(x);
    rnnc_ctx_clear(cx); /* a fresh tape: the clip node must not run again */
    cr_assert_eq(rnnc_abs(cx, x, &y), RNNC_OK);
    backward_ones(y);
    expect_grad(x, (double[]){-1, -1, 0, 1, 1}, 5, 0);
    cr_assert_eq(rnnc_sign(cx, x, &y), RNNC_OK);
    cr_expect_not(y->requires_grad);
}

static rnnc_status fn_unary(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    switch (*(int *)u) {
    case 0: return rnnc_square(c, in[0], out);
    case 1: return rnnc_abs(c, in[0], out);
    case 2: return rnnc_sqrt(c, in[0], out);
    case 3: return rnnc_exp(c, in[0], out);
    case 4: return rnnc_log(c, in[0], out);
    case 5: return rnnc_clip(c, in[0], 0.7, 1.6, out);
    case 6: return rnnc_affine(c, in[0], -1.75, 0.5, out);
    default: return rnnc_sign(c, in[0], out);
    }
}

Test(ops, unary_gradcheck)
{
    for (int op = 0; op < 8; op++) {
        /* Inputs in [0.3, 2): positive for sqrt/log, away from abs's and
         * sign's kink; clip's bounds 0.7 / 1.6 are hit with probability 0. */
        rnnc_tensor *in[1] = {th_rand_leaf(RNNC_SHAPE(3, 4), 300 + op, 0.3, 2, true)};
        gradcheck_ok(fn_unary, &op, in, 1);
    }
}

Test(ops, unary_errors)
{
    rnnc_tensor *ids = th_leaf(RNNC_I32, RNNC_SHAPE(3), NULL, false);
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(3), NULL, false);
    rnnc_tensor *y;
    expect_fail(rnnc_exp(cx, ids, &y), RNNC_E_DTYPE, "int32", "(3,)");
    expect_fail(rnnc_clip(cx, x, 1, -1, &y), RNNC_E_ARG, "clip", NULL);
}

/* ------------------------------------------------------------- reductions */

/* x (2,3,4) with x[b][t][j] = 12b + 4t + j = 0..23. */
static rnnc_tensor *iota234(rnnc_dtype dt, bool grad)
{
    double v[24];
    for (int i = 0; i < 24; i++)
        v[i] = i;
    return th_leaf(dt, RNNC_SHAPE(2, 3, 4), v, grad);
}

Test(ops, sum_mean_values)
{
    rnnc_tensor *x = iota234(RNNC_F32, false), *y;
    /* all: 0 + ... + 23 = 276, mean 11.5, rank 0 */
    cr_assert_eq(rnnc_sum(cx, x, NULL, 0, false, &y), RNNC_OK);
    cr_expect_eq(y->shape.ndim, 0);
    expect_values(y, (double[]){276}, 1, 0);
    cr_assert_eq(rnnc_mean(cx, x, NULL, 0, true, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(1, 1, 1));
    expect_values(y, (double[]){11.5}, 1, 0);
    /* axis 1, keepdims: sum_t (12b + 4t + j) = 36b + 12 + 3j */
    cr_assert_eq(rnnc_sum(cx, x, (int[]){1}, 1, true, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(2, 1, 4));
    expect_values(y, (double[]){12, 15, 18, 21, 48, 51, 54, 57}, 8, 0);
    /* axes {0, 2}: sum_b sum_j = 2*(16t + 6) + 48 = 32t + 60 */
    cr_assert_eq(rnnc_sum(cx, x, (int[]){0, -1}, 2, false, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(3));
    expect_values(y, (double[]){60, 92, 124}, 3, 0);
    /* mean over the last axis: mean of 4k..4k+3 = 4k + 1.5 */
    cr_assert_eq(rnnc_mean(cx, x, (int[]){-1}, 1, false, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(2, 3));
    expect_values(y, (double[]){1.5, 5.5, 9.5, 13.5, 17.5, 21.5}, 6, 0);
}

Test(ops, mean_backward_spreads_one_over_count)
{
    rnnc_tensor *x = iota234(RNNC_F32, true), *y;
    cr_assert_eq(rnnc_mean(cx, x, (int[]){0, 1}, 2, false, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(4));
    const double seedv[] = {6, 12, 18, 24};
    rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(4), seedv, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
    /* dx[b][t][j] = seed[j] / (2*3) = j + 1 */
    for (size_t i = 0; i < 24; i++)
        cr_expect_eq(rnnc_tensor_get_grad(x, i), (double)(i % 4 + 1), "element %zu", i);
}

Test(ops, sum_f32_accumulates_in_double)
{
    /* 10^6 copies of 0.1f (= 0.100000001490116...): the exact sum is
     * 100000.00149; float accumulation would drift by hundreds. */
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(1000000), NULL, false), *y;
    rnnc_tensor_fill(x, 0.1);
    cr_assert_eq(rnnc_sum(cx, x, NULL, 0, false, &y), RNNC_OK);
    cr_expect(fabs(rnnc_tensor_get(y, 0) - 100000.00149) < 0.01, "sum %.6f", rnnc_tensor_get(y, 0));
}

struct red_args {
    bool mean, keep;
    int axes[3], n;
};

static rnnc_status fn_reduce(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    struct red_args *r = u;
    return (r->mean ? rnnc_mean : rnnc_sum)(c, in[0], r->axes, r->n, r->keep, out);
}

Test(ops, reduce_gradcheck)
{
    const struct red_args cases[] = {
        {false, false, {0}, 0}, {true, true, {0}, 0},   {false, true, {1}, 1},
        {true, false, {0, 2}, 2}, {true, true, {-1}, 1}, {false, false, {2, 0, 1}, 3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct red_args r = cases[k];
        rnnc_tensor *in[1] = {th_rand_leaf(RNNC_SHAPE(2, 3, 4), 400 + k, -1, 1, true)};
        gradcheck_ok(fn_reduce, &r, in, 1);
    }
}

Test(ops, reduce_errors)
{
    rnnc_tensor *x = iota234(RNNC_F32, false), *y;
    expect_fail(rnnc_sum(cx, x, (int[]){1, -2}, 2, false, &y), RNNC_E_ARG, "twice", "(2, 3, 4)");
    expect_fail(rnnc_mean(cx, x, (int[]){3}, 1, false, &y), RNNC_E_ARG, "axis 3", "(2, 3, 4)");
}

/* ---------------------------------------------------------- shape ops */

Test(ops, reshape_values_infer_and_errors)
{
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), A23, true), *y;
    const rnnc_shape s3x = RNNC_SHAPE(3, -1), s42 = RNNC_SHAPE(4, 2), s4x = RNNC_SHAPE(4, -1);
    cr_assert_eq(rnnc_reshape(cx, x, &s3x, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(3, 2));
    expect_values(y, A23, 6, 0);
    const double g[] = {1, 2, 3, 4, 5, 6};
    rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(3, 2), g, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
    expect_grad(x, g, 6, 0);
    expect_fail(rnnc_reshape(cx, x, &s42, &y), RNNC_E_SHAPE, "(2, 3)", "(4, 2)");
    expect_fail(rnnc_reshape(cx, x, &s4x, &y), RNNC_E_SHAPE, "-1", "(4, None)");
}

Test(ops, slice_values_grads_and_errors)
{
    /* x (2,4,3) = 0..23; x[:, 1:3, :] = rows 1,2 of each batch:
     * b0: 3..8, b1: 15..20. */
    double v[24];
    for (int i = 0; i < 24; i++)
        v[i] = i;
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 4, 3), v, true), *y;
    cr_assert_eq(rnnc_slice(cx, x, 1, 1, 2, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(2, 2, 3));
    const double want[] = {3, 4, 5, 6, 7, 8, 15, 16, 17, 18, 19, 20};
    expect_values(y, want, 12, 0);
    backward_ones(y);
    for (int i = 0; i < 24; i++) {
        int t = (i / 3) % 4;
        cr_expect_eq(rnnc_tensor_get_grad(x, i), (t == 1 || t == 2) ? 1.0 : 0.0, "element %d", i);
    }
    /* last axis, negative index */
    cr_assert_eq(rnnc_slice(cx, x, -1, 2, 1, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(2, 4, 1));
    cr_expect_eq(rnnc_tensor_get(y, 5), 17.0);
    expect_fail(rnnc_slice(cx, x, 1, 3, 2, &y), RNNC_E_SHAPE, "[3, 5)", "(2, 4, 3)");
    expect_fail(rnnc_slice(cx, x, 3, 0, 1, &y), RNNC_E_ARG, "axis 3", "(2, 4, 3)");
}

Test(ops, concat_values_and_errors)
{
    /* along axis 1: a (2,1) = [[1],[2]], b (2,2) = [[3,4],[5,6]] -> [[1,3,4],[2,5,6]] */
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(2, 1), (double[]){1, 2}, true);
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(2, 2), (double[]){3, 4, 5, 6}, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_concat(cx, (rnnc_tensor *[]){a, b}, 2, 1, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(2, 3));
    expect_values(y, (double[]){1, 3, 4, 2, 5, 6}, 6, 0);
    const double g[] = {10, 20, 30, 40, 50, 60};
    rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), g, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
    expect_grad(a, (double[]){10, 40}, 2, 0);
    expect_grad(b, (double[]){20, 30, 50, 60}, 4, 0);
    /* along axis 0 */
    rnnc_tensor *c = th_leaf(RNNC_F32, RNNC_SHAPE(1, 2), (double[]){7, 8}, false);
    cr_assert_eq(rnnc_concat(cx, (rnnc_tensor *[]){b, c}, 2, -2, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(3, 2));
    expect_values(y, (double[]){3, 4, 5, 6, 7, 8}, 6, 0);
    expect_fail(rnnc_concat(cx, (rnnc_tensor *[]){a, c}, 2, 1, &y), RNNC_E_SHAPE, "(1, 2)", "(2, 1)");
    rnnc_tensor *d = th_leaf(RNNC_F64, RNNC_SHAPE(2, 1), NULL, false);
    expect_fail(rnnc_concat(cx, (rnnc_tensor *[]){a, d}, 2, 1, &y), RNNC_E_DTYPE, "float64", NULL);
    expect_fail(rnnc_concat(cx, (rnnc_tensor *[]){a}, 0, 1, &y), RNNC_E_ARG, "at least one", NULL);
}

Test(ops, stack_values_and_errors)
{
    rnnc_tensor *xs[3];
    for (int i = 0; i < 3; i++)
        xs[i] = th_leaf(RNNC_F32, RNNC_SHAPE(2), (double[]){i + 1, 10 * (i + 1)}, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_stack(cx, xs, 3, 0, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(3, 2));
    expect_values(y, (double[]){1, 10, 2, 20, 3, 30}, 6, 0);
    cr_assert_eq(rnnc_stack(cx, xs, 3, -1, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(2, 3));
    expect_values(y, (double[]){1, 2, 3, 10, 20, 30}, 6, 0);
    const double g[] = {1, 2, 3, 4, 5, 6};
    rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), g, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
    expect_grad(xs[1], (double[]){2, 5}, 2, 0);
    rnnc_tensor *odd = th_leaf(RNNC_F32, RNNC_SHAPE(3), NULL, false);
    expect_fail(rnnc_stack(cx, (rnnc_tensor *[]){xs[0], odd}, 2, 0, &y), RNNC_E_SHAPE, "(3,)", "(2,)");
    expect_fail(rnnc_stack(cx, xs, 3, 2, &y), RNNC_E_ARG, "axis 2", NULL);
}

Test(ops, stack_and_concat_many_inputs_build_a_tree)
{
    /* 20 steps of (2,) stacked on axis 1 -> (2, 20): more inputs than a tape
     * node holds; the values and every input's gradient must still be right. */
    enum { N = 20 };
    rnnc_tensor *xs[N];
    for (int i = 0; i < N; i++)
        xs[i] = th_leaf(RNNC_F32, RNNC_SHAPE(2), (double[]){i, 100 + i}, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_stack(cx, xs, N, 1, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(2, N));
    for (int i = 0; i < N; i++) {
        cr_expect_eq(rnnc_tensor_get(y, (size_t)i), (double)i);
        cr_expect_eq(rnnc_tensor_get(y, (size_t)(N + i)), 100.0 + i);
    }
    /* seed[b][t] = 1000 b + t -> dx_t = (t, 1000 + t) */
    double g[2 * N];
    for (int i = 0; i < 2 * N; i++)
        g[i] = 1000 * (i / N) + i % N;
    rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(2, N), g, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK, "%s", rnnc_last_error());
    for (int i = 0; i < N; i++)
        expect_grad(xs[i], (double[]){i, 1000 + i}, 2, 0);
    /* concat of 70 (1,1) tensors: two levels of grouping */
    rnnc_ctx_clear(cx);
    rnnc_tensor *cs[70];
    for (int i = 0; i < 70; i++)
        cs[i] = th_leaf(RNNC_F32, RNNC_SHAPE(1, 1), (double[]){i}, true);
    cr_assert_eq(rnnc_concat(cx, cs, 70, 0, &y), RNNC_OK);
    expect_shape(y, RNNC_SHAPE(70, 1));
    for (int i = 0; i < 70; i++)
        cr_expect_eq(rnnc_tensor_get(y, (size_t)i), (double)i);
    double g70[70];
    for (int i = 0; i < 70; i++)
        g70[i] = 3 * i;
    rnnc_tensor *seed70 = th_leaf(RNNC_F32, RNNC_SHAPE(70, 1), g70, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed70), RNNC_OK);
    for (int i = 0; i < 70; i++)
        cr_expect_eq(rnnc_tensor_get_grad(cs[i], 0), 3.0 * i);
}

Test(ops, reverse_values_grads_and_masks)
{
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), A23, true), *y;
    cr_assert_eq(rnnc_reverse(cx, x, 1, &y), RNNC_OK);
    expect_values(y, (double[]){3, 2, 1, 6, 5, 4}, 6, 0);
    rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
    expect_grad(x, (double[]){3, 2, 1, 6, 5, 4}, 6, 0);
    cr_assert_eq(rnnc_reverse(cx, x, 0, &y), RNNC_OK);
    expect_values(y, (double[]){4, 5, 6, 1, 2, 3}, 6, 0);
    /* uint8 masks move too (go_backwards reverses the mask) */
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(2, 3), (double[]){1, 1, 0, 1, 0, 0}, false);
    cr_assert_eq(rnnc_reverse(cx, m, -1, &y), RNNC_OK);
    cr_expect_eq(y->dtype, RNNC_U8);
    expect_values(y, (double[]){0, 1, 1, 0, 0, 1}, 6, 0);
    cr_assert_eq(rnnc_slice(cx, m, 1, 1, 1, &y), RNNC_OK);
    expect_values(y, (double[]){1, 0}, 2, 0);
}

static rnnc_status fn_shape(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    const rnnc_shape s46 = RNNC_SHAPE(4, 6);
    switch (*(int *)u) {
    case 0: return rnnc_reshape(c, in[0], &s46, out);
    case 1: return rnnc_slice(c, in[0], 1, 1, 2, out);
    case 2: return rnnc_concat(c, in, 3, 2, out);
    case 3: return rnnc_concat(c, in, 3, 0, out);
    case 4: return rnnc_stack(c, in, 3, 1, out);
    case 5: return rnnc_reverse(c, in[0], 1, out);
    default: return rnnc_stack(c, in, 11, 0, out);
    }
}

Test(ops, shape_gradcheck)
{
    for (int op = 0; op < 7; op++) {
        rnnc_tensor *in[11];
        int n = op == 6 ? 11 : 3;
        for (int i = 0; i < n; i++)
            in[i] = th_rand_leaf(RNNC_SHAPE(2, 3, 4), 500 + 20 * op + i, -1, 1, true);
        gradcheck_ok(fn_shape, &op, in, n);
    }
}

/* ------------------------------------------------------------------ where */

Test(ops, where_row_mask_values_and_grads)
{
    /* mask (B,1) = [[1],[0]]: row 0 from a, row 1 from b. */
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(2, 1), (double[]){1, 0}, false);
    rnnc_tensor *a = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), A23, true);
    rnnc_tensor *b = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), (double[]){-1, -2, -3, -4, -5, -6}, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_where(cx, m, a, b, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_values(y, (double[]){1, 2, 3, -4, -5, -6}, 6, 0);
    /* The mask is copied: changing it before backward changes nothing. */
    ((uint8_t *)m->data)[0] = 0;
    ((uint8_t *)m->data)[1] = 1;
    backward_ones(y);
    expect_grad(a, (double[]){1, 1, 1, 0, 0, 0}, 6, 0);
    expect_grad(b, (double[]){0, 0, 0, 1, 1, 1}, 6, 0);
}

Test(ops, where_broadcast_b_and_errors)
{
    /* b (3,) broadcast over rows: its gradient sums the rows where not taken. */
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(2, 3), (double[]){1, 0, 0, 0, 0, 1}, false);
    rnnc_tensor *a = th_leaf(RNNC_F64, RNNC_SHAPE(2, 3), A23, true);
    rnnc_tensor *b = th_leaf(RNNC_F64, RNNC_SHAPE(3), (double[]){7, 8, 9}, true);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_where(cx, m, a, b, &y), RNNC_OK);
    expect_values(y, (double[]){1, 8, 9, 7, 8, 6}, 6, 0);
    backward_ones(y);
    expect_grad(b, (double[]){1, 2, 1}, 3, 0);
    rnnc_tensor *fm = th_leaf(RNNC_F32, RNNC_SHAPE(2, 1), NULL, false);
    expect_fail(rnnc_where(cx, fm, a, b, &y), RNNC_E_DTYPE, "mask", "float32");
    rnnc_tensor *m4 = th_leaf(RNNC_U8, RNNC_SHAPE(4, 1), NULL, false);
    expect_fail(rnnc_where(cx, m4, a, b, &y), RNNC_E_SHAPE, "(4, 1)", "(2, 3)");
}

static rnnc_status fn_where(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    return rnnc_where(c, u, in[0], in[1], out);
}

Test(ops, where_gradcheck)
{
    rnnc_tensor *m = th_leaf(RNNC_U8, RNNC_SHAPE(3, 1), (double[]){1, 0, 1}, false);
    rnnc_tensor *in[2] = {th_rand_leaf(RNNC_SHAPE(3, 4), 600, -1, 1, true), th_rand_leaf(RNNC_SHAPE(4), 601, -1, 1, true)};
    gradcheck_ok(fn_where, m, in, 2);
}

/* ---------------------------------------------------------------- dropout */

Test(ops, dropout_statistics_scaling_and_mask_reuse)
{
    enum { N = 100000 };
    const double rate = 0.3;
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(N), NULL, true);
    rnnc_tensor_fill(x, 1.0);
    rnnc_rng rng;
    rnnc_rng_init(&rng, 7);
    rnnc_tensor *y, *mask;
    cr_assert_eq(rnnc_dropout(cx, x, rate, &rng, &y, &mask), RNNC_OK, "%s", rnnc_last_error());
    const float scale = (float)(1.0 / (1.0 - rate));
    size_t kept = 0;
    for (size_t i = 0; i < N; i++) {
        float v = rnnc_f32(y)[i];
        cr_assert(v == 0.0f || v == scale, "element %zu = %.9g, want 0 or %.9g", i, v, scale);
        cr_assert_eq(rnnc_f32(mask)[i], v);
        kept += v != 0.0f;
    }
    /* keep rate 0.7, standard error sqrt(0.7*0.3/1e5) = 0.00145 */
    double keep = (double)kept / N;
    cr_expect(fabs(keep - 0.7) < 0.005, "keep rate %.5f", keep);
    /* Backward multiplies by the same mask: seed k -> dx = k * mask. */
    rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(N), NULL, false);
    for (size_t i = 0; i < N; i++)
        rnnc_f32(seed)[i] = (float)(i % 7);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(((float *)x->grad)[i], (float)(i % 7) * rnnc_f32(mask)[i], "element %zu", i);
}

Test(ops, dropout_rates_0_and_1_and_seeds)
{
    const double xv[] = {1.5, -2, 3, 0.25};
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(4), xv, false), *y, *mask;
    rnnc_rng rng;
    rnnc_rng_init(&rng, 3);
    cr_assert_eq(rnnc_dropout(cx, x, 0.0, &rng, &y, &mask), RNNC_OK);
    expect_values(y, xv, 4, 0);
    expect_values(mask, (double[]){1, 1, 1, 1}, 4, 0);
    cr_expect_eq(rng.counter, 0, "rate 0 must not draw");
    cr_assert_eq(rnnc_dropout(cx, x, 1.0, NULL, &y, NULL), RNNC_OK);
    expect_values(y, (double[]){0, 0, 0, 0}, 4, 0);
    /* Same seed -> same mask; another seed -> another mask. */
    rnnc_tensor *big = th_leaf(RNNC_F32, RNNC_SHAPE(256), NULL, false), *m1, *m2, *m3;
    rnnc_tensor_fill(big, 1.0);
    rnnc_rng r1, r2, r3;
    rnnc_rng_init(&r1, 11);
    rnnc_rng_init(&r2, 11);
    rnnc_rng_init(&r3, 12);
    cr_assert_eq(rnnc_dropout(cx, big, 0.5, &r1, &y, &m1), RNNC_OK);
    cr_assert_eq(rnnc_dropout(cx, big, 0.5, &r2, &y, &m2), RNNC_OK);
    cr_assert_eq(rnnc_dropout(cx, big, 0.5, &r3, &y, &m3), RNNC_OK);
    cr_expect_eq(memcmp(m1->data, m2->data, 256 * sizeof(float)), 0);
    cr_expect_neq(memcmp(m1->data, m3->data, 256 * sizeof(float)), 0);
    /* consecutive draws from one generator differ (the counter advanced) */
    cr_assert_eq(rnnc_dropout(cx, big, 0.5, &r1, &y, &m2), RNNC_OK);
    cr_expect_neq(memcmp(m1->data, m2->data, 256 * sizeof(float)), 0);
    expect_fail(rnnc_dropout(cx, x, 1.5, &rng, &y, NULL), RNNC_E_ARG, "1.5", NULL);
    expect_fail(rnnc_dropout(cx, x, NAN, &rng, &y, NULL), RNNC_E_ARG, "rate", NULL);
    expect_fail(rnnc_dropout(cx, x, 0.5, NULL, &y, NULL), RNNC_E_ARG, "generator", NULL);
}

static rnnc_status fn_dropout(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    rnnc_rng rng; /* reseeded per call: the same mask every evaluation */
    rnnc_rng_init(&rng, 99);
    (void)u;
    return rnnc_dropout(c, in[0], 0.4, &rng, out, NULL);
}

Test(ops, dropout_gradcheck)
{
    rnnc_tensor *in[1] = {th_rand_leaf(RNNC_SHAPE(5, 6), 700, -1, 1, true)};
    gradcheck_ok(fn_dropout, NULL, in, 1);
}

/* ----------------------------------------------------------------- gather */

Test(ops, gather_rows_values_scatter_and_errors)
{
    /* table (4,3): row r = (10r, 10r+1, 10r+2); ids (2,2) = [[0,3],[3,1]] */
    double tv[12];
    for (int i = 0; i < 12; i++)
        tv[i] = 10 * (i / 3) + i % 3;
    rnnc_tensor *table = th_leaf(RNNC_F32, RNNC_SHAPE(4, 3), tv, true);
    rnnc_tensor *ids = th_leaf(RNNC_I32, RNNC_SHAPE(2, 2), (double[]){0, 3, 3, 1}, false);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_gather_rows(cx, table, ids, &y), RNNC_OK, "%s", rnnc_last_error());
    expect_shape(y, RNNC_SHAPE(2, 2, 3));
    expect_values(y, (double[]){0, 1, 2, 30, 31, 32, 30, 31, 32, 10, 11, 12}, 12, 0);
    ((int32_t *)ids->data)[0] = 2; /* ids are copied for backward */
    backward_ones(y);
    /* row 3 picked twice, rows 0 and 1 once, row 2 never */
    expect_grad(table, (double[]){1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2}, 12, 0);
    rnnc_tensor *bad = th_leaf(RNNC_I32, RNNC_SHAPE(3), (double[]){0, 4, 1}, false);
    expect_fail(rnnc_gather_rows(cx, table, bad, &y), RNNC_E_ARG, "id 4", "[0, 4)");
    rnnc_tensor *neg = th_leaf(RNNC_I32, RNNC_SHAPE(1), (double[]){-1}, false);
    expect_fail(rnnc_gather_rows(cx, table, neg, &y), RNNC_E_ARG, "id -1", NULL);
    rnnc_tensor *fids = th_leaf(RNNC_F32, RNNC_SHAPE(2), NULL, false);
    expect_fail(rnnc_gather_rows(cx, table, fids, &y), RNNC_E_DTYPE, "int32", "float32");
}

static rnnc_status fn_gather(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    (void)u;
    return rnnc_gather_rows(c, in[0], in[1], out);
}

Test(ops, gather_rows_gradcheck)
{
    rnnc_tensor *in[2] = {th_rand_leaf(RNNC_SHAPE(5, 3), 800, -1, 1, true),
                          th_leaf(RNNC_I32, RNNC_SHAPE(2, 3), (double[]){4, 0, 4, 2, 2, 1}, false)};
    gradcheck_ok(fn_gather, NULL, in, 2);
}

/* ------------------------------------------------------ a small network */

static rnnc_status fn_dense_tanh_mean(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    /* mean over batch of sum(softmax(tanh(x @ W + b)) * x2), in[3] = x2 */
    rnnc_tensor *h, *hb, *t, *s, *p;
    (void)u;
    RNNC_TRY(rnnc_matmul(c, in[0], in[1], false, false, &h));
    RNNC_TRY(rnnc_add(c, h, in[2], &hb));
    RNNC_TRY(rnnc_activation(c, RNNC_ACT_TANH, hb, &t));
    RNNC_TRY(rnnc_activation(c, RNNC_ACT_SOFTMAX, t, &s));
    RNNC_TRY(rnnc_mul(c, s, in[3], &p));
    return rnnc_mean(c, p, (int[]){0}, 1, false, out);
}

Test(ops, composed_ops_gradcheck)
{
    rnnc_tensor *in[4] = {th_rand_leaf(RNNC_SHAPE(3, 4), 900, -1, 1, true), th_rand_leaf(RNNC_SHAPE(4, 5), 901, -1, 1, true),
                          th_rand_leaf(RNNC_SHAPE(5), 902, -1, 1, true), th_rand_leaf(RNNC_SHAPE(3, 5), 903, -1, 1, true)};
    gradcheck_ok(fn_dense_tanh_mean, NULL, in, 4);
}
