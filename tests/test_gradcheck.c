/* test_gradcheck.c - the finite-difference checker itself (gradcheck.h).
 *
 * The checker must pass correct gradients, and must fail (large error,
 * right location) on a wrong backward and on a missing one; that is what
 * makes every other gradcheck in the suite meaningful. The test ops here
 * are defined locally with hand-derived backward functions, so nothing
 * depends on the ops under test elsewhere. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "helpers/arena.h"


static void teardown(void)
{
    th_arena_free();
}

TestSuite(gradcheck, .fini = teardown);

/* ------------------------------------------- a local op: y = x^3, float64 */

/* iarg[0] selects the backward: 0 correct (3x^2), 1 wrong (x^2, a
 * plausible slip), 2 none recorded (a detached output). */
static rnnc_status cube_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *y = n->out[0];
    if (!y->grad || !x->grad)
        return RNNC_OK;
    const double k = n->iarg[0] == 0 ? 3.0 : 1.0;
    const double *X = x->data, *G = y->grad;
    double *GX = x->grad;
    for (size_t i = 0; i < x->numel; i++)
        GX[i] += G[i] * k * X[i] * X[i];
    return RNNC_OK;
}

static rnnc_status cube(rnnc_ctx *cx, int variant, rnnc_tensor *x, rnnc_tensor **y)
{
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_F64, &x->shape, y));
    for (size_t i = 0; i < x->numel; i++)
        rnnc_f64(*y)[i] = pow(rnnc_f64(x)[i], 3);
    if (variant == 2)
        return RNNC_OK; /* no node: the tape loses the dependency */
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, "cube", cube_backward, 1, &x, 1, y, &node));
    if (node)
        node->iarg[0] = variant;
    return RNNC_OK;
}

static rnnc_status fn_cube(rnnc_ctx *cx, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    return cube(cx, *(int *)u, in[0], out);
}

static const double xs[] = {0.5, -1.25, 2, 0.75, -0.3, 1.1};

Test(gradcheck, passes_a_correct_gradient_and_restores_inputs)
{
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2, 3), xs, true);
    int variant = 0;
    rnnc_gradcheck_result r;
    cr_assert_eq(rnnc_gradcheck_full(fn_cube, &variant, &x, 1, 1e-6, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(r.n_checked, 6);
    cr_expect_lt(r.max_err, 1e-8, "max err %g", r.max_err);
    /* values restored bit for bit */
    for (int i = 0; i < 6; i++)
        cr_expect_eq(rnnc_f64(x)[i], xs[i]);
    /* grad holds dL/dx = dy_i * 3 x_i^2 for the checker's fixed dy in
     * [-1, 1): the implied dy_i is in range and not all equal. */
    double first = 0;
    bool varied = false;
    for (int i = 0; i < 6; i++) {
        double dyi = rnnc_tensor_get_grad(x, i) / (3 * xs[i] * xs[i]);
        cr_expect(dyi >= -1 && dyi < 1, "implied dy %g", dyi);
        if (i == 0)
            first = dyi;
        varied = varied || dyi != first;
    }
    cr_expect(varied, "dy should be random, not constant");
    /* the plain interface gives the same number */
    double err = -1;
    cr_assert_eq(rnnc_gradcheck(fn_cube, &variant, &x, 1, 1e-6, &err), RNNC_OK);
    cr_expect_eq(err, r.max_err);
}

Test(gradcheck, catches_a_wrong_backward_and_locates_it)
{
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(6), xs, true);
    int variant = 1;
    rnnc_gradcheck_result r;
    cr_assert_eq(rnnc_gradcheck_full(fn_cube, &variant, &x, 1, 1e-6, &r), RNNC_OK);
    /* analytic = numeric / 3 everywhere: error 2/3 where |numeric| >= 1 */
    cr_expect_gt(r.max_err, 0.3);
    cr_assert_eq(r.worst_input, 0);
    cr_assert_lt(r.worst_index, 6);
    cr_expect(fabs(r.numeric / r.analytic - 3) < 1e-6, "analytic %g numeric %g", r.analytic, r.numeric);
    char buf[300];
    rnnc_gradcheck_str(&r, buf, sizeof buf);
    cr_expect(strstr(buf, "input 0"), "%s", buf);
}

Test(gradcheck, catches_a_missing_backward)
{
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(6), xs, true);
    int variant = 2;
    rnnc_gradcheck_result r;
    cr_assert_eq(rnnc_gradcheck_full(fn_cube, &variant, &x, 1, 1e-6, &r), RNNC_OK);
    cr_expect_gt(r.max_err, 0.3, "a detached output must fail: %g", r.max_err);
    cr_expect_eq(r.analytic, 0);
}

/* out = x * c with c a float32 constant input (no requires_grad). */
static rnnc_status fn_scale_by_const(rnnc_ctx *cx, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    (void)u;
    rnnc_tensor *c64 = NULL;
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_F64, &in[1]->shape, &c64));
    RNNC_TRY(rnnc_tensor_copy(c64, in[1]));
    return rnnc_mul(cx, in[0], c64, out);
}

Test(gradcheck, skips_inputs_without_grad)
{
    rnnc_tensor *in[2] = {th_leaf(RNNC_F64, RNNC_SHAPE(3), xs, true),
                          th_leaf(RNNC_F32, RNNC_SHAPE(3), (double[]){2, -1, 4}, false)};
    rnnc_gradcheck_result r;
    cr_assert_eq(rnnc_gradcheck_full(fn_scale_by_const, NULL, in, 2, 1e-6, &r), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_expect_eq(r.n_checked, 3);
    cr_expect_lt(r.max_err, 1e-9);
}

/* Large outputs next to small gradients: out = (exp(20) * a, 1e-4 * b).
 * Summing L first would lose b's gradient (1e-4) to the rounding of
 * exp(20) ~ 5e8 (ulp 6e-8 / 2e-6 step ~ 3e-2 error). */
static rnnc_status fn_mixed_scale(rnnc_ctx *cx, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    rnnc_tensor *ya, *yb, *both[2];
    (void)u;
    RNNC_TRY(rnnc_affine(cx, in[0], exp(20.0), 0, &ya));
    RNNC_TRY(rnnc_affine(cx, in[1], 1e-4, 0, &yb));
    both[0] = ya;
    both[1] = yb;
    return rnnc_concat(cx, both, 2, 0, out);
}

Test(gradcheck, small_gradients_beside_large_outputs)
{
    rnnc_tensor *in[2] = {th_leaf(RNNC_F64, RNNC_SHAPE(2), xs, true), th_leaf(RNNC_F64, RNNC_SHAPE(2), xs + 2, true)};
    rnnc_gradcheck_result r;
    cr_assert_eq(rnnc_gradcheck_full(fn_mixed_scale, NULL, in, 2, 1e-6, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_lt(r.max_err, 1e-9, "max err %g at input %d", r.max_err, r.worst_input);
}

/* ------------------------------------------------------------------ errors */

static rnnc_status fn_fail(rnnc_ctx *cx, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    (void)cx, (void)u, (void)in, (void)out;
    return rnnc_fail(RNNC_E_SHAPE, "inner op exploded");
}

static rnnc_status fn_f32_out(rnnc_ctx *cx, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    (void)u;
    return rnnc_ctx_tensor(cx, RNNC_F32, &in[0]->shape, out);
}

/* The output grows by one element per call. */
static rnnc_status fn_growing(rnnc_ctx *cx, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    int *calls = u;
    (void)in;
    rnnc_shape s = RNNC_SHAPE(1 + (*calls)++);
    return rnnc_ctx_tensor(cx, RNNC_F64, &s, out);
}

Test(gradcheck, errors)
{
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(3), xs, true);
    rnnc_tensor *x32 = th_leaf(RNNC_F32, RNNC_SHAPE(3), xs, true);
    rnnc_tensor *x_nograd = th_leaf(RNNC_F64, RNNC_SHAPE(3), xs, false);
    int variant = 0;
    double err;
    cr_expect_eq(rnnc_gradcheck(fn_cube, &variant, &x, 1, 0.0, &err), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "eps"), "%s", rnnc_last_error());
    cr_expect_eq(rnnc_gradcheck(fn_cube, &variant, &x32, 1, 1e-6, &err), RNNC_E_DTYPE);
    cr_expect(strstr(rnnc_last_error(), "float64"), "%s", rnnc_last_error());
    cr_expect_eq(rnnc_gradcheck(fn_cube, &variant, &x_nograd, 1, 1e-6, &err), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "nothing to check"), "%s", rnnc_last_error());
    cr_expect_eq(rnnc_gradcheck(NULL, NULL, &x, 1, 1e-6, &err), RNNC_E_ARG);
    cr_expect_eq(rnnc_gradcheck(fn_fail, NULL, &x, 1, 1e-6, &err), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "gradcheck: ") && strstr(rnnc_last_error(), "inner op exploded"),
              "%s", rnnc_last_error());
    cr_expect(isinf(err), "a failed check reports an infinite error");
    cr_expect_eq(rnnc_gradcheck(fn_f32_out, NULL, &x, 1, 1e-6, &err), RNNC_E_DTYPE);
    int calls = 0;
    cr_expect_eq(rnnc_gradcheck(fn_growing, &calls, &x, 1, 1e-6, &err), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "changed"), "%s", rnnc_last_error());
    /* inputs are restored even when an evaluation fails midway */
    for (int i = 0; i < 3; i++)
        cr_expect_eq(rnnc_f64(x)[i], xs[i]);
}
