/* test_activations.c - Keras activations (spec section 10): names and
 * aliases, values against the spec's formulas written independently here
 * (libm, double) and against hand-computed numbers, derivatives against
 * central differences of the scalar form, the derivative at each kink
 * against TensorFlow's choice, and float64 gradient checks of the tensor op
 * for every activation. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "framework/random.h"
#include "helpers/arena.h"

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

TestSuite(activations, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ names */

Test(activations, names_round_trip_and_aliases)
{
    for (int a = 0; a < RNNC_ACT_COUNT; a++) {
        if (a == RNNC_ACT_HARD_SIGMOID_K2)
            continue;
        rnnc_act got;
        const char *name = rnnc_act_name((rnnc_act)a);
        cr_assert_eq(rnnc_act_from_name(name, "test", &got), RNNC_OK, "%s: %s", name, rnnc_last_error());
        cr_expect_eq(got, a, "%s", name);
    }
    rnnc_act got;
    cr_assert_eq(rnnc_act_from_name("swish", "x", &got), RNNC_OK);
    cr_expect_eq(got, RNNC_ACT_SILU);
    cr_assert_eq(rnnc_act_from_name("hard_swish", "x", &got), RNNC_OK);
    cr_expect_eq(got, RNNC_ACT_HARD_SILU);
    cr_assert_eq(rnnc_act_from_name(NULL, "x", &got), RNNC_OK);
    cr_expect_eq(got, RNNC_ACT_LINEAR);
    cr_expect_str_eq(rnnc_act_name(RNNC_ACT_HARD_SIGMOID_K2), "hard_sigmoid");
    cr_expect_str_eq(rnnc_act_name(RNNC_ACT_GELU), "gelu");
    cr_expect(rnnc_act_is_elementwise(RNNC_ACT_TANH));
    cr_expect(rnnc_act_is_elementwise(RNNC_ACT_HARD_SIGMOID_K2));
    cr_expect_not(rnnc_act_is_elementwise(RNNC_ACT_SOFTMAX));
    cr_expect_not(rnnc_act_is_elementwise(RNNC_ACT_GLU));
}

Test(activations, unknown_names_suggest_the_nearest)
{
    rnnc_act got;
    cr_assert_eq(rnnc_act_from_name("tanhh", "GRU.activation", &got), RNNC_E_ARG);
    cr_expect_str_eq(rnnc_last_error(), "GRU.activation: unknown activation 'tanhh' (did you mean 'tanh'?)");
    cr_assert_eq(rnnc_act_from_name("sigmod", "GRU.recurrent_activation", &got), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "did you mean 'sigmoid'?"), "%s", rnnc_last_error());
    /* The internal Keras 2 name is not a Keras 3 name. */
    cr_assert_eq(rnnc_act_from_name("hard_sigmoid_keras2", "x", &got), RNNC_E_ARG);
    /* Names are exact (Keras looks up function names). */
    cr_assert_eq(rnnc_act_from_name("Tanh", "x", &got), RNNC_E_ARG);
    /* Nothing close: the message lists the valid names. */
    cr_assert_eq(rnnc_act_from_name("qqqqqqqqqqqqqqqq", "Dense.activation", &got), RNNC_E_ARG);
    const char *m = rnnc_last_error();
    cr_expect(strstr(m, "Dense.activation: unknown activation 'qqqqqqqqqqqqqqqq'"), "%s", m);
    cr_expect(strstr(m, "softmax") && strstr(m, "hard_swish") && !strstr(m, "keras2"), "%s", m);
}

/* ----------------------------------------------------------------- values */

/* The spec's table (section 10), written out independently of activations.c. */
static double ref(rnnc_act a, double x)
{
    const double sel_a = 1.6732632423543772848170429916717, sel_l = 1.0507009873554804934193349852946;
    switch (a) {
    case RNNC_ACT_LINEAR: return x;
    case RNNC_ACT_TANH: return tanh(x);
    case RNNC_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case RNNC_ACT_HARD_SIGMOID: return fmin(fmax(x / 6 + 0.5, 0), 1);
    case RNNC_ACT_RELU: return fmax(x, 0);
    case RNNC_ACT_RELU6: return fmin(fmax(x, 0), 6);
    case RNNC_ACT_LEAKY_RELU: return fmax(x, (double)0.2f * x); /* Keras/TF: float32 slope */
    case RNNC_ACT_ELU: return x > 0 ? x : exp(x) - 1;
    case RNNC_ACT_SELU: return sel_l * (x > 0 ? x : sel_a * (exp(x) - 1));
    case RNNC_ACT_CELU: return fmax(x, 0) + expm1(fmin(x, 0));
    case RNNC_ACT_GELU: return x * erfc(-x * (double)(float)(1 / sqrt(2.0))) / 2; /* x (1 + erf(x/sqrt2)) / 2, TF's float32 1/sqrt2 */
    case RNNC_ACT_SOFTPLUS: return log(1 + exp(x));
    case RNNC_ACT_SOFTSIGN: return x / (1 + fabs(x));
    case RNNC_ACT_SILU: return x / (1 + exp(-x));
    case RNNC_ACT_HARD_SILU: return x * fmin(fmax(x / 6 + 0.5, 0), 1);
    case RNNC_ACT_MISH: return x * tanh(log(1 + exp(x)));
    case RNNC_ACT_EXPONENTIAL: return exp(x);
    case RNNC_ACT_LOG_SIGMOID: return -log(1 + exp(-x));
    case RNNC_ACT_HARD_TANH: return fmin(fmax(x, -1), 1);
    case RNNC_ACT_TANH_SHRINK: return x - tanh(x);
    case RNNC_ACT_SOFT_SHRINK: return x > 0.5 ? x - 0.5 : x < -0.5 ? x + 0.5 : 0;
    case RNNC_ACT_HARD_SHRINK: return fabs(x) > 0.5 ? x : 0;
    case RNNC_ACT_SPARSE_SIGMOID: return x <= -1 ? 0 : x >= 1 ? 1 : (x + 1) / 2;
    case RNNC_ACT_SPARSE_PLUS: return x <= -1 ? 0 : x < 1 ? (x + 1) * (x + 1) / 4 : x;
    case RNNC_ACT_SQUAREPLUS: return (x + sqrt(x * x + 4)) / 2;
    case RNNC_ACT_HARD_SIGMOID_K2: return fmin(fmax(0.2 * x + 0.5, 0), 1);
    default: return NAN;
    }
}

/* Sample points: both sides of every kink (0, +-0.5, +-1, +-2.5, +-3, 6),
 * none within 0.01 of one, plus tails. */
static const double pts[] = {-9.3, -6.2, -3.4, -2.9, -2.6, -1.7, -1.02, -0.93, -0.52, -0.47, -0.13,
                             0.04, 0.31, 0.49, 0.56, 0.98, 1.04, 2.2, 2.53, 2.97, 3.05, 5.8, 6.3, 11.7};
#define NPTS (sizeof pts / sizeof pts[0])

Test(activations, elementwise_values_f32_match_formulas)
{
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(2, NPTS / 2), pts, false);
    for (int a = 0; a < RNNC_ACT_COUNT; a++) {
        if (!rnnc_act_is_elementwise((rnnc_act)a))
            continue;
        rnnc_tensor *y;
        cr_assert_eq(rnnc_activation(cx, (rnnc_act)a, x, &y), RNNC_OK, "%s", rnnc_last_error());
        cr_assert_eq(y->dtype, RNNC_F32);
        for (size_t i = 0; i < NPTS; i++) {
            double want = ref((rnnc_act)a, (double)(float)pts[i]);
            double got = rnnc_tensor_get(y, i);
            /* float32 storage: one rounding of the double result */
            cr_expect(fabs(got - want) <= 1.2e-7 * fmax(1e-30, fabs(want)) + 1e-37,
                      "%s(%g) = %.9g, want %.9g", rnnc_act_name((rnnc_act)a), pts[i], got, want);
        }
    }
}

Test(activations, hand_computed_values)
{
    struct {
        rnnc_act a;
        double x, y;
    } cases[] = {
        {RNNC_ACT_HARD_SIGMOID, 1.5, 0.75},      /* 1.5/6 + 0.5 */
        {RNNC_ACT_HARD_SIGMOID, -4, 0},
        {RNNC_ACT_HARD_SIGMOID_K2, 1.5, 0.8},    /* 0.2*1.5 + 0.5 */
        {RNNC_ACT_HARD_SIGMOID_K2, 3, 1},
        {RNNC_ACT_LEAKY_RELU, -2, -2 * (double)0.2f}, /* TF's float32 slope */
        {RNNC_ACT_RELU6, 7, 6},
        {RNNC_ACT_SPARSE_PLUS, 0, 0.25},
        {RNNC_ACT_SPARSE_PLUS, 2, 2},
        {RNNC_ACT_SQUAREPLUS, 0, 1},             /* sqrt(4)/2 */
        {RNNC_ACT_SQUAREPLUS, 1.5, 2},           /* (1.5 + 2.5)/2 */
        {RNNC_ACT_SPARSE_SIGMOID, 0.5, 0.75},
        {RNNC_ACT_SOFT_SHRINK, 0.7, 0.2},
        {RNNC_ACT_SOFT_SHRINK, -0.7, -0.2},
        {RNNC_ACT_HARD_SHRINK, 0.4, 0},
        {RNNC_ACT_HARD_SHRINK, -0.6, -0.6},
        {RNNC_ACT_SOFTSIGN, 3, 0.75},
        {RNNC_ACT_HARD_TANH, -2, -1},
        {RNNC_ACT_HARD_SILU, 1, 2.0 / 3.0},      /* 1 * (1/6 + 1/2) */
        {RNNC_ACT_GELU, 1, 0.8413447419273903},  /* 0.5(1 + erf(float32(1/sqrt2))), as TF computes Phi(1) */
        {RNNC_ACT_SELU, -1, -1.1113307378125628},
        {RNNC_ACT_ELU, -1, -0.6321205588285577},
        {RNNC_ACT_CELU, -1, -0.6321205588285577},
        {RNNC_ACT_MISH, 1, 0.8650983882673103},
        {RNNC_ACT_SILU, 1, 0.7310585786300049},
        {RNNC_ACT_LOG_SIGMOID, 0, -0.6931471805599453},
        {RNNC_ACT_SOFTPLUS, 0, 0.6931471805599453},
        {RNNC_ACT_TANH_SHRINK, 1, 0.2384058440442351},
        {RNNC_ACT_SIGMOID, 0, 0.5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        cr_expect(fabs(rnnc_act_apply(cases[k].a, cases[k].x) - cases[k].y) < 1e-15,
                  "%s(%g) = %.17g, want %.17g", rnnc_act_name(cases[k].a), cases[k].x,
                  rnnc_act_apply(cases[k].a, cases[k].x), cases[k].y);
}

Test(activations, stable_in_the_tails)
{
    /* softplus / log_sigmoid / sigmoid must not overflow for |x| large. */
    cr_expect_eq(rnnc_act_apply(RNNC_ACT_SOFTPLUS, 1000), 1000);
    cr_expect_eq(rnnc_act_apply(RNNC_ACT_SOFTPLUS, -1000), 0);
    cr_expect_eq(rnnc_act_apply(RNNC_ACT_LOG_SIGMOID, -1000), -1000);
    cr_expect_eq(rnnc_act_apply(RNNC_ACT_SIGMOID, -1000), 0);
    cr_expect_eq(rnnc_act_apply(RNNC_ACT_SIGMOID, 1000), 1);
    cr_expect_eq(rnnc_act_apply(RNNC_ACT_MISH, 1000), 1000);
    /* squareplus(-1e4) = 2 / (sqrt(1e8 + 4) + 1e4) ~ 1e-4, not 0 */
    cr_expect(fabs(rnnc_act_apply(RNNC_ACT_SQUAREPLUS, -1e4) / 9.99999999e-5 - 1) < 1e-8);
    cr_expect(isnan(rnnc_act_apply(RNNC_ACT_RELU, NAN)));
    cr_expect(isnan(rnnc_act_apply(RNNC_ACT_SOFTMAX, 1.0)), "not element-wise: no scalar form");
}

/* ------------------------------------------------------------ derivatives */

Test(activations, derivative_matches_central_difference)
{
    const double h = 1e-5;
    for (int a = 0; a < RNNC_ACT_COUNT; a++) {
        if (!rnnc_act_is_elementwise((rnnc_act)a))
            continue;
        for (size_t i = 0; i < NPTS; i++) {
            double x = pts[i];
            double fd = (rnnc_act_apply((rnnc_act)a, x + h) - rnnc_act_apply((rnnc_act)a, x - h)) / (2 * h);
            double d = rnnc_act_deriv((rnnc_act)a, x, rnnc_act_apply((rnnc_act)a, x));
            cr_expect(fabs(d - fd) <= 1e-7 * fmax(1, fabs(fd)), "%s'(%g) = %.12g, numeric %.12g",
                      rnnc_act_name((rnnc_act)a), x, d, fd);
        }
    }
}

Test(activations, derivative_at_kinks_follows_tensorflow)
{
    struct {
        rnnc_act a;
        double x, d;
    } cases[] = {
        {RNNC_ACT_RELU, 0, 0},                 /* ReluGrad: x > 0 */
        {RNNC_ACT_RELU6, 0, 0},                /* Relu6Grad: 0 < x < 6 */
        {RNNC_ACT_RELU6, 6, 0},
        {RNNC_ACT_LEAKY_RELU, 0, (double)0.2f}, /* LeakyReluGrad: x > 0 ? 1 : alpha (float32) */
        {RNNC_ACT_ELU, 0, 1},                  /* EluGrad: y < 0 ? y + 1 : 1 */
        {RNNC_ACT_SELU, 0, 1.0507009873554804934193349852946},
        {RNNC_ACT_CELU, 0, 1},                 /* C1 there (documented choice) */
        {RNNC_ACT_HARD_SIGMOID, 3, 0},         /* relu6(x + 3): strict */
        {RNNC_ACT_HARD_SIGMOID, -3, 0},
        {RNNC_ACT_HARD_SIGMOID, 2.999, 1.0 / 6},
        {RNNC_ACT_HARD_SILU, 3, 1},            /* hs(3) + 3 * 0 */
        {RNNC_ACT_HARD_SILU, -3, 0},
        {RNNC_ACT_HARD_TANH, 1, 1},            /* clip_by_value: closed */
        {RNNC_ACT_HARD_TANH, -1, 1},
        {RNNC_ACT_HARD_TANH, 1.001, 0},
        {RNNC_ACT_HARD_SIGMOID_K2, 2.5, 0.2},  /* clip_by_value: closed */
        {RNNC_ACT_HARD_SIGMOID_K2, -2.5, 0.2},
        {RNNC_ACT_HARD_SIGMOID_K2, 2.6, 0},
        {RNNC_ACT_SOFT_SHRINK, 0.5, 0},        /* where(x > 0.5 ...): strict */
        {RNNC_ACT_SOFT_SHRINK, -0.5, 0},
        {RNNC_ACT_HARD_SHRINK, 0.5, 0},
        {RNNC_ACT_SPARSE_SIGMOID, 1, 0},       /* where(x >= 1, 1, ...) */
        {RNNC_ACT_SPARSE_SIGMOID, -1, 0},
        {RNNC_ACT_SPARSE_PLUS, -1, 0},         /* where(x <= -1, 0, ...) */
        {RNNC_ACT_SPARSE_PLUS, 1, 1},          /* where(x < 1, ..., x) */
        {RNNC_ACT_SOFTSIGN, 0, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double y = rnnc_act_apply(cases[k].a, cases[k].x);
        cr_expect(fabs(rnnc_act_deriv(cases[k].a, cases[k].x, y) - cases[k].d) < 1e-15,
                  "%s'(%g) = %.17g, want %.17g", rnnc_act_name(cases[k].a), cases[k].x,
                  rnnc_act_deriv(cases[k].a, cases[k].x, y), cases[k].d);
    }
}

/* --------------------------------------------------- last-axis activations */

Test(activations, softmax_log_softmax_values)
{
    /* softmax([1,2,3]) = e^k / (e + e^2 + e^3); the row [1000, 1001, 1002]
     * gives the same after max subtraction (no overflow). */
    const double want[] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(2, 3), (double[]){1, 2, 3, 1000, 1001, 1002}, false), *y;
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_SOFTMAX, x, &y), RNNC_OK);
    for (int i = 0; i < 6; i++)
        cr_expect(fabs(rnnc_tensor_get(y, i) - want[i % 3]) < 1e-15, "element %d: %.17g", i,
                  rnnc_tensor_get(y, i));
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_LOG_SOFTMAX, x, &y), RNNC_OK);
    const double lwant[] = {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806};
    for (int i = 0; i < 6; i++)
        cr_expect(fabs(rnnc_tensor_get(y, i) - lwant[i % 3]) < 1e-13, "element %d: %.17g", i,
                  rnnc_tensor_get(y, i));
    rnnc_shape s0 = {0};
    rnnc_tensor *sc = th_leaf(RNNC_F64, s0, NULL, false);
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_SOFTMAX, sc, &y), RNNC_E_SHAPE);
}

Test(activations, sparsemax_values)
{
    /* [1,2,3]: sorted 3,2,1, cumsums 3,5,6; 1+1*3 > 3 but 1+2*2 = 5 is not
     * > 5: k = 1, tau = 2 -> (0, 0, 1).
     * [1, 0.8, 0.1]: cumsums 1, 1.8, 1.9; 1+2*0.8 = 2.6 > 1.8, 1+3*0.1 = 1.3
     * < 1.9: k = 2, tau = 0.4 -> (0.6, 0.4, 0).
     * [0.5, 0.2, 0.1]: all in support, tau = (0.8 - 1)/3 -> (17/30, 8/30, 5/30). */
    rnnc_tensor *x = th_leaf(RNNC_F64, RNNC_SHAPE(3, 3), (double[]){1, 2, 3, 1, 0.8, 0.1, 0.5, 0.2, 0.1}, false);
    rnnc_tensor *y;
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_SPARSEMAX, x, &y), RNNC_OK);
    const double want[] = {0, 0, 1, 0.6, 0.4, 0, 17.0 / 30, 8.0 / 30, 5.0 / 30};
    for (int i = 0; i < 9; i++)
        cr_expect(fabs(rnnc_tensor_get(y, i) - want[i]) < 1e-15, "element %d: %.17g", i,
                  rnnc_tensor_get(y, i));
    /* Jacobian on the support {0, 1} of row 1: dx = g - mean(g on S). */
    rnnc_tensor *xg = th_leaf(RNNC_F64, RNNC_SHAPE(3), (double[]){1, 0.8, 0.1}, true);
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_SPARSEMAX, xg, &y), RNNC_OK);
    rnnc_tensor *seed = th_leaf(RNNC_F64, RNNC_SHAPE(3), (double[]){1, 3, 5}, false);
    cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
    cr_expect_float_eq(rnnc_tensor_get_grad(xg, 0), -1.0, 1e-15);
    cr_expect_float_eq(rnnc_tensor_get_grad(xg, 1), 1.0, 1e-15);
    cr_expect_float_eq(rnnc_tensor_get_grad(xg, 2), 0.0, 1e-15);
}

Test(activations, glu_values_and_odd_width)
{
    /* [1, 2 | 0, -1] -> (1 * sigmoid(0), 2 * sigmoid(-1)) */
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(1, 4), (double[]){1, 2, 0, -1}, false), *y;
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_GLU, x, &y), RNNC_OK);
    cr_assert_eq(y->shape.dim[1], 2);
    cr_expect_float_eq(rnnc_tensor_get(y, 0), 0.5, 1e-7);
    cr_expect_float_eq(rnnc_tensor_get(y, 1), 0.5378828427399902, 1e-7);
    rnnc_tensor *odd = th_leaf(RNNC_F32, RNNC_SHAPE(2, 3), NULL, false);
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_GLU, odd, &y), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "(2, 3)"), "%s", rnnc_last_error());
}

Test(activations, tensor_op_errors)
{
    rnnc_tensor *ids = th_leaf(RNNC_I32, RNNC_SHAPE(3), NULL, false), *y;
    cr_assert_eq(rnnc_activation(cx, RNNC_ACT_TANH, ids, &y), RNNC_E_DTYPE);
    cr_expect(strstr(rnnc_last_error(), "int32"), "%s", rnnc_last_error());
    rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(3), NULL, false);
    cr_assert_eq(rnnc_activation(cx, (rnnc_act)RNNC_ACT_COUNT, x, &y), RNNC_E_ARG);
}

/* ----------------------------------------------------------- gradchecks */

static rnnc_status fn_act(rnnc_ctx *c, void *u, rnnc_tensor **in, rnnc_tensor **out)
{
    return rnnc_activation(c, *(rnnc_act *)u, in[0], out);
}

Test(activations, every_activation_passes_gradcheck_f64)
{
    for (int a = 0; a < RNNC_ACT_COUNT; a++) {
        rnnc_act act = (rnnc_act)a;
        rnnc_tensor *x;
        if (rnnc_act_is_elementwise(act)) {
            /* the kink-free sample points */
            x = th_leaf(RNNC_F64, RNNC_SHAPE(4, NPTS / 4), pts, true);
        } else {
            /* random rows; sparsemax's support changes only where a z_i
             * crosses tau, which random draws hit with probability 0 */
            x = th_leaf(RNNC_F64, RNNC_SHAPE(3, 6), NULL, true);
            rnnc_rng r;
            rnnc_rng_init(&r, 1000 + a);
            rnnc_rng_normal(&r, x->data, x->numel);
        }
        rnnc_gradcheck_result res;
        char buf[300];
        cr_assert_eq(rnnc_gradcheck_full(fn_act, &act, &x, 1, 1e-6, &res), RNNC_OK, "%s: %s",
                     rnnc_act_name(act), rnnc_last_error());
        cr_expect_eq(res.n_checked, x->numel);
        cr_expect_lt(res.max_err, 1e-7, "%s: %s", rnnc_act_name(act),
                     rnnc_gradcheck_str(&res, buf, sizeof buf));
    }
}

Test(activations, f32_backward_matches_scalar_derivative)
{
    /* The f32 tensor path: dx = dy * f'(x), checked for tanh and sigmoid
     * (the GRU's pair) against the closed forms in double. */
    rnnc_act acts[] = {RNNC_ACT_TANH, RNNC_ACT_SIGMOID};
    for (int k = 0; k < 2; k++) {
        rnnc_tensor *x = th_leaf(RNNC_F32, RNNC_SHAPE(NPTS), pts, true), *y;
        cr_assert_eq(rnnc_activation(cx, acts[k], x, &y), RNNC_OK);
        rnnc_tensor *seed = th_leaf(RNNC_F32, RNNC_SHAPE(NPTS), NULL, false);
        rnnc_tensor_fill(seed, 2.0);
        cr_assert_eq(rnnc_backward_with(cx, y, seed), RNNC_OK);
        for (size_t i = 0; i < NPTS; i++) {
            double xv = (float)pts[i];
            double want = k == 0 ? 2 * (1 - tanh(xv) * tanh(xv))
                                 : 2 * exp(-xv) / ((1 + exp(-xv)) * (1 + exp(-xv)));
            /* abs. slack: 1 - y^2 and y(1 - y) are formed from y rounded
             * to float32 (as TF's TanhGrad / SigmoidGrad do) */
            cr_expect(fabs(rnnc_tensor_get_grad(x, i) - want) <= 1e-6 * want + 3e-7, "%s'(%g): %.9g vs %.9g",
                      rnnc_act_name(acts[k]), xv, rnnc_tensor_get_grad(x, i), want);
        }
    }
}
