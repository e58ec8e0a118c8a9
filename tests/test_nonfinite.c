/* test_nonfinite.c - a GRU fed with huge, infinite and NaN values (what a
 * diverging run feeds it): the fused kernel (layers/gru_fused_rows.h, whose
 * fast expm1 turns floats into exponent bits) runs without undefined
 * behaviour (this test runs under UBSan in CI, where a signed overflow or
 * a float-to-int overflow aborts it), and gives the same results as the
 * generic per-step loop over GRUCell, which uses libm: NaN where the
 * generic path has NaN, the same infinities, and finite values within
 * float32 rounding.
 *
 * The oracle is the generic path plus limits derived by hand: sigmoid(+inf)
 * = 1, sigmoid(-inf) = 0, tanh(+-inf) = +-1, and NaN in, NaN out. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "framework/autograd.h"
#include "framework/ops.h"
#include "helpers/fixture.h"
#include "layers/gru.h"

static rnnc_ctx *cx;

static void setup(void) { cx = rnnc_ctx_create(); }
static void teardown(void) { rnnc_ctx_destroy(cx); }

TestSuite(nonfinite, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

/* 37 units: a 16-lane copy twice, then the 4- and 1-lane tails (and the
 * 8-lane copy on AVX2-only CPUs), so every width of the row kernels runs. */
#define U 37
#define B 3
#define T 4
#define F 5

static rnnc_layer *make_gru(bool reset_after, rnnc_gru_kernel k, float wscale)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = U;
    o.reset_after = reset_after;
    o.return_sequences = true;
    rnnc_layer *l;
    OK(rnnc_gru_create(&o, &l));
    rnnc_shape in = RNNC_SHAPE(B, T, F);
    OK(rnnc_layer_build(l, &in));
    rnnc_weight *w[4];
    int n;
    OK(rnnc_layer_weights(l, w, 4, &n));
    for (int i = 0; i < n; i++) {
        rnnc_tensor *r;
        OK(rnnc_fixture_uniform(RNNC_F32, &w[i]->value->shape, 11 + (uint64_t)i, -0.6, 0.6, &r));
        for (size_t j = 0; j < r->numel; j++)
            rnnc_f32(r)[j] *= wscale;
        OK(rnnc_tensor_copy(w[i]->value, r));
        rnnc_tensor_destroy(r);
    }
    OK(rnnc_gru_set_kernel(l, k));
    return l;
}

/* The first output of a training-mode call, copied; the backward pass runs
 * too (with NaN / inf cotangents flowing back, as in a diverged step). */
static rnnc_tensor *forward(rnnc_layer *l, rnnc_tensor *x)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    a.training = true;
    OK(rnnc_tensor_set_requires_grad(x, true));
    rnnc_tensor_zero_grad(x);
    OK(rnnc_layer_call(l, cx, &a, &r));
    rnnc_tensor *out, *dy;
    OK(rnnc_tensor_clone(r.outputs[0], &out));
    OK(rnnc_tensor_clone(r.outputs[0], &dy));
    OK(rnnc_ctx_seed_grad(cx, r.outputs[0], dy));
    OK(rnnc_backward_seeded(cx));
    rnnc_tensor_destroy(dy);
    rnnc_ctx_clear(cx);
    return out;
}

/* Same NaN positions, same infinities, finite values within tol. */
static void same_propagation(const rnnc_tensor *fused, const rnnc_tensor *gen, const char *what)
{
    cr_assert_eq(fused->numel, gen->numel);
    for (size_t i = 0; i < gen->numel; i++) {
        double f = rnnc_f32(fused)[i], g = rnnc_f32(gen)[i];
        if (isnan(g)) {
            cr_assert(isnan(f), "%s: element %zu: generic NaN, fused %g", what, i, f);
        } else if (isinf(g)) {
            cr_assert_eq(f, g, "%s: element %zu: generic %g, fused %g", what, i, g, f);
        } else {
            cr_assert(isfinite(f), "%s: element %zu: generic %g, fused %g", what, i, g, f);
            cr_assert_leq(fabs(f - g), 1e-5 * fmax(1.0, fabs(g)), "%s: element %zu: generic %.9g, fused %.9g",
                          what, i, g, f);
        }
    }
}

/* Every kind of hostile value, in every position of the input. */
static const float hostile[] = {1e30f, -1e30f, 3.4e38f, -3.4e38f, 1e4f, -1e4f, 89.0f, -89.0f};

static void fill(rnnc_tensor *x, int pattern)
{
    for (size_t i = 0; i < x->numel; i++) {
        float v;
        switch ((i + (size_t)pattern) % 6) {
        case 0: v = INFINITY; break;
        case 1: v = -INFINITY; break;
        case 2: v = NAN; break;
        case 3: v = -NAN; break;
        default: v = hostile[(i * 7 + (size_t)pattern) % (sizeof hostile / sizeof hostile[0])]; break;
        }
        rnnc_f32(x)[i] = v;
    }
}

static void run_case(bool reset_after, int pattern, float wscale)
{
    rnnc_layer *gen = make_gru(reset_after, RNNC_GRU_KERNEL_GENERIC, wscale);
    rnnc_layer *fus = make_gru(reset_after, RNNC_GRU_KERNEL_FUSED, wscale);
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(B, T, F);
    OK(rnnc_tensor_create(RNNC_F32, &xs, &x));
    fill(x, pattern);
    rnnc_tensor *g = forward(gen, x), *f = forward(fus, x);
    cr_assert_eq(rnnc_gru_last_kernel(fus), RNNC_GRU_KERNEL_FUSED);
    char what[96];
    snprintf(what, sizeof what, "reset_after=%d pattern %d wscale %g", reset_after, pattern, wscale);
    same_propagation(f, g, what);
    rnnc_tensor_destroy(f);
    rnnc_tensor_destroy(g);
    rnnc_tensor_destroy(x);
    rnnc_layer_destroy(gen);
    rnnc_layer_destroy(fus);
}

Test(nonfinite, fused_gru_matches_generic_on_inf_nan_and_huge_inputs)
{
    for (int ra = 0; ra < 2; ra++)
        for (int p = 0; p < 6; p++)
            run_case(ra, p, 1.0f);
}

/* Huge weights drive every gate pre-activation far past the fast expm1's
 * clamp range, the regime of a diverged run. */
Test(nonfinite, fused_gru_matches_generic_with_huge_weights)
{
    for (int ra = 0; ra < 2; ra++)
        for (int p = 0; p < 6; p++)
            run_case(ra, p, 1e20f);
}

/* Inputs that are all NaN: every output is NaN on both paths (NaN in, NaN
 * out), and all +inf inputs saturate the gates, giving finite outputs. */
Test(nonfinite, all_nan_gives_all_nan_and_all_inf_saturates)
{
    rnnc_layer *fus = make_gru(true, RNNC_GRU_KERNEL_FUSED, 1.0f);
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(B, T, F);
    OK(rnnc_tensor_create(RNNC_F32, &xs, &x));
    for (size_t i = 0; i < x->numel; i++)
        rnnc_f32(x)[i] = NAN;
    rnnc_tensor *f = forward(fus, x);
    for (size_t i = 0; i < f->numel; i++)
        cr_assert(isnan(rnnc_f32(f)[i]), "element %zu: %g, expected NaN", i, (double)rnnc_f32(f)[i]);
    rnnc_tensor_destroy(f);
    for (size_t i = 0; i < x->numel; i++)
        rnnc_f32(x)[i] = INFINITY;
    f = forward(fus, x);
    /* Gates saturate at 0 or 1 and the candidate at +-1 or NaN (inf * 0
     * in a product with a zero weight cannot happen: weights are nonzero
     * uniform draws); the state is a convex mix of values in [-1, 1]. */
    for (size_t i = 0; i < f->numel; i++) {
        float v = rnnc_f32(f)[i];
        cr_assert(isnan(v) || (v >= -1.0f && v <= 1.0f), "element %zu: %g", i, (double)v);
    }
    rnnc_tensor_destroy(f);
    rnnc_tensor_destroy(x);
    rnnc_layer_destroy(fus);
}
