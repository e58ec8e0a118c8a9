/* test_gru_fused.c - the fused whole-sequence GRU kernel (layers/gru_fused.h)
 * against the generic loop over GRUCell, which is the reference:
 *   - float32, random configurations covering every option (reset_after,
 *     bias, go_backwards, return_sequences/state, masks with leading, gap,
 *     trailing and empty rows, zero_output_for_mask, initial state, input
 *     dropout masks, activation pairs): outputs and the gradients of x,
 *     initial state, kernel, recurrent kernel and bias agree to 1e-5;
 *   - float64 finite-difference checks of the fused kernel itself;
 *   - the kernel choice (which configurations run fused) and its errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "helpers/fixture.h"
#include "layers/gru.h"

static rnnc_ctx *cx;

static void setup(void) { cx = rnnc_ctx_create(); }
static void teardown(void) { rnnc_ctx_destroy(cx); }

TestSuite(gru_fused, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

static rnnc_layer *make_gru(const rnnc_gru_options *o, int64_t B, int64_t T, int64_t F,
                            uint64_t seed, rnnc_gru_kernel k)
{
    rnnc_layer *l;
    OK(rnnc_gru_create(o, &l));
    rnnc_shape in = RNNC_SHAPE(B, T, F);
    OK(rnnc_layer_build(l, &in));
    rnnc_weight *w[4];
    int n;
    OK(rnnc_layer_weights(l, w, 4, &n));
    for (int i = 0; i < n; i++) {
        rnnc_tensor *r;
        OK(rnnc_fixture_uniform(o->dtype, &w[i]->value->shape, seed * 7 + (uint64_t)i, -0.6, 0.6, &r));
        OK(rnnc_tensor_copy(w[i]->value, r));
        rnnc_tensor_destroy(r);
    }
    OK(rnnc_gru_set_kernel(l, k));
    return l;
}

typedef struct run_in {
    rnnc_tensor *x, *h0;
    const rnnc_tensor *mask;
    const rnnc_tensor *drop; /* injected input dropout mask (B, F), or NULL */
    bool training;
} run_in;

static rnnc_status run(rnnc_layer *l, rnnc_ctx *c, const run_in *in, rnnc_call_result *res)
{
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = in->h0 ? 2 : 1;
    a.inputs[0] = in->x;
    a.inputs[1] = in->h0;
    a.mask = in->mask;
    a.training = in->training;
    if (in->drop) {
        const rnnc_tensor *m[1] = {in->drop};
        RNNC_TRY(rnnc_gru_set_dropout_masks(l, m, 1, NULL, 0));
    }
    return rnnc_layer_call(l, c, &a, res);
}

/* (activation, recurrent_activation). The first six keep the gates in
 * [0, 1], so the recurrence cannot amplify float32 rounding; the last four
 * do not (gates outside [0, 1] let states and gradients grow to 1e4 on
 * random weights, where two correct float32 summation orders differ by more
 * than 1e-5): they are compared in float64 only. */
static const rnnc_act act_pairs[][2] = {
    {RNNC_ACT_TANH, RNNC_ACT_SIGMOID},     {RNNC_ACT_RELU, RNNC_ACT_HARD_SIGMOID},
    {RNNC_ACT_LINEAR, RNNC_ACT_SIGMOID},   {RNNC_ACT_GELU, RNNC_ACT_SPARSE_SIGMOID},
    {RNNC_ACT_SILU, RNNC_ACT_SIGMOID},     {RNNC_ACT_SOFTSIGN, RNNC_ACT_HARD_SIGMOID},
    {RNNC_ACT_ELU, RNNC_ACT_TANH},         {RNNC_ACT_SOFTSIGN, RNNC_ACT_LINEAR},
    {RNNC_ACT_TANH, RNNC_ACT_SOFTSIGN},    {RNNC_ACT_MISH, RNNC_ACT_RELU6},
};
#define N_BOUNDED_PAIRS 6
#define N_PAIRS ((int)(sizeof act_pairs / sizeof act_pairs[0]))

/* Grads of every input after one backward, into a fresh array of tensors. */
static void zero_grads(rnnc_tensor **ts, int n)
{
    for (int i = 0; i < n; i++)
        if (ts[i])
            rnnc_tensor_zero_grad(ts[i]);
}

/* One random configuration: fused vs generic, outputs and all gradients,
 * elementwise |fused - generic| / max(1, |generic|) < tol. */
static void compare_case(int idx, rnnc_dtype dt, int n_pairs, double tol)
{
    uint64_t s = (uint64_t)idx * 2654435761u + 12345;
    const int bits = idx;
    rnnc_gru_options o = rnnc_gru_options_default();
    const int64_t B = 1 + (int64_t)(s % 5), T = 1 + (int64_t)((s / 5) % 7);
    const int64_t F = 1 + (int64_t)((s / 35) % 6), U = 1 + (int64_t)((s / 210) % 6);
    o.units = U;
    o.reset_after = bits & 1;
    o.use_bias = !(bits & 2);
    o.go_backwards = bits & 4;
    o.return_sequences = bits & 8;
    o.return_state = bits & 16;
    const bool with_mask = bits & 32, with_h0 = bits & 64, with_drop = bits & 128;
    o.zero_output_for_mask = (bits >> 8) & 1;
    const int pair = (int)((s / 1260) % (uint64_t)n_pairs);
    o.activation = act_pairs[pair][0];
    o.recurrent_activation = act_pairs[pair][1];
    o.dropout = with_drop ? 0.3 : 0.0;
    o.dtype = dt;
    rnnc_layer *gen = make_gru(&o, B, T, F, (uint64_t)idx, RNNC_GRU_KERNEL_GENERIC);
    rnnc_layer *fus = make_gru(&o, B, T, F, (uint64_t)idx, RNNC_GRU_KERNEL_FUSED);

    rnnc_tensor *x, *h0 = NULL, *mask = NULL, *drop = NULL;
    rnnc_shape xs = RNNC_SHAPE(B, T, F), hs = RNNC_SHAPE(B, U), ms = RNNC_SHAPE(B, T);
    rnnc_shape ds = RNNC_SHAPE(B, F);
    OK(rnnc_fixture_uniform(dt, &xs, s + 1, -1, 1, &x));
    OK(rnnc_tensor_set_requires_grad(x, true));
    if (with_h0) {
        OK(rnnc_fixture_uniform(dt, &hs, s + 2, -1, 1, &h0));
        OK(rnnc_tensor_set_requires_grad(h0, true));
    }
    if (with_mask) {
        /* random rows, and force an empty row and a leading-masked row */
        rnnc_tensor *u;
        OK(rnnc_fixture_uniform(RNNC_F64, &ms, s + 3, 0, 1, &u));
        OK(rnnc_tensor_create(RNNC_U8, &ms, &mask));
        for (int64_t i = 0; i < B * T; i++)
            ((uint8_t *)mask->data)[i] = rnnc_f64(u)[i] < 0.65;
        if (B > 1)
            for (int64_t t = 0; t < T; t++)
                ((uint8_t *)mask->data)[(B - 1) * T + t] = 0;
        ((uint8_t *)mask->data)[0] = 0;
        rnnc_tensor_destroy(u);
    }
    if (with_drop) {
        rnnc_tensor *u;
        OK(rnnc_fixture_uniform(RNNC_F64, &ds, s + 4, 0, 1, &u));
        OK(rnnc_tensor_create(dt, &ds, &drop));
        for (int64_t i = 0; i < B * F; i++)
            rnnc_tensor_set(drop, (size_t)i, rnnc_f64(u)[i] < 0.3 ? 0.0 : 1.0 / 0.7);
        rnnc_tensor_destroy(u);
    }
    run_in in = {x, h0, mask, drop, true};
    rnnc_call_result rg, rf;
    rnnc_weight *wg[3], *wf[3];
    int nw;
    OK(rnnc_layer_weights(gen, wg, 3, &nw));
    OK(rnnc_layer_weights(fus, wf, 3, &nw));

    OK(run(gen, cx, &in, &rg));
    cr_assert_eq(rnnc_gru_last_kernel(gen), RNNC_GRU_KERNEL_GENERIC);
    OK(run(fus, cx, &in, &rf));
    cr_assert_eq(rnnc_gru_last_kernel(fus), RNNC_GRU_KERNEL_FUSED, "case %d", idx);
    cr_assert_eq(rg.n_outputs, rf.n_outputs);
    for (int i = 0; i < rg.n_outputs; i++) {
        cr_assert(rnnc_shape_eq(&rg.outputs[i]->shape, &rf.outputs[i]->shape));
        double e = rnnc_fixture_max_err(rf.outputs[i], rg.outputs[i]);
        cr_assert_lt(e, tol, "case %d (B%lld T%lld F%lld U%lld bits %x pair %d) output %d err %g",
                     idx, (long long)B, (long long)T, (long long)F, (long long)U, bits, pair, i, e);
    }
    /* Same cotangents on both; gradients of every input. */
    rnnc_tensor *dys[RNNC_MAX_IO];
    for (int i = 0; i < rg.n_outputs; i++) {
        OK(rnnc_fixture_uniform(dt, &rg.outputs[i]->shape, s + 10 + (uint64_t)i, -1, 1, &dys[i]));
        OK(rnnc_ctx_seed_grad(cx, rg.outputs[i], dys[i]));
    }
    rnnc_tensor *gin[5] = {x, h0, wg[0]->value, wg[1]->value, nw > 2 ? wg[2]->value : NULL};
    rnnc_tensor *fin[5] = {x, h0, wf[0]->value, wf[1]->value, nw > 2 ? wf[2]->value : NULL};
    zero_grads(gin, 5);
    OK(rnnc_backward_seeded(cx));
    /* keep the generic grads of x and h0 before the fused backward reuses them */
    rnnc_tensor *gx, *gh = NULL;
    OK(rnnc_tensor_create(dt, &x->shape, &gx));
    for (size_t i = 0; i < x->numel; i++)
        rnnc_tensor_set(gx, i, rnnc_tensor_get_grad(x, i));
    if (h0) {
        OK(rnnc_tensor_create(dt, &h0->shape, &gh));
        for (size_t i = 0; i < h0->numel; i++)
            rnnc_tensor_set(gh, i, rnnc_tensor_get_grad(h0, i));
    }
    rnnc_ctx_clear(cx);
    zero_grads(fin, 5);
    OK(run(fus, cx, &in, &rf));
    for (int i = 0; i < rf.n_outputs; i++)
        OK(rnnc_ctx_seed_grad(cx, rf.outputs[i], dys[i]));
    OK(rnnc_backward_seeded(cx));
    const char *names[5] = {"x", "h0", "kernel", "recurrent_kernel", "bias"};
    for (int k = 0; k < 5; k++) {
        if (!fin[k])
            continue;
        rnnc_tensor *want;
        if (k == 0)
            want = gx;
        else if (k == 1)
            want = gh;
        else {
            OK(rnnc_tensor_create(dt, &gin[k]->shape, &want));
            for (size_t i = 0; i < want->numel; i++)
                rnnc_tensor_set(want, i, rnnc_tensor_get_grad(gin[k], i));
        }
        double e = rnnc_fixture_max_grad_err(fin[k], want);
        cr_assert_lt(e, tol, "case %d (B%lld T%lld F%lld U%lld bits %x pair %d) grad %s err %g",
                     idx, (long long)B, (long long)T, (long long)F, (long long)U, bits, pair,
                     names[k], e);
        if (k >= 2)
            rnnc_tensor_destroy(want);
    }
    rnnc_ctx_clear(cx);
    for (int i = 0; i < rg.n_outputs; i++)
        rnnc_tensor_destroy(dys[i]);
    rnnc_tensor_destroy(gx);
    rnnc_tensor_destroy(gh);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(h0);
    rnnc_tensor_destroy(mask);
    rnnc_tensor_destroy(drop);
    rnnc_layer_destroy(gen);
    rnnc_layer_destroy(fus);
}

Test(gru_fused, matches_generic_on_random_configurations_f32)
{
    /* 512 cases: every combination of the nine flag bits, random sizes and
     * activation pairs with bounded gates. */
    for (int idx = 0; idx < 512; idx++)
        compare_case(idx, RNNC_F32, N_BOUNDED_PAIRS, 1e-5);
}

Test(gru_fused, matches_generic_on_random_configurations_f64)
{
    /* The same 512 flag combinations with every activation pair, to 1e-11. */
    for (int idx = 0; idx < 512; idx++)
        compare_case(idx, RNNC_F64, N_PAIRS, 1e-11);
}

Test(gru_fused, matches_generic_at_larger_sizes_f32)
{
    /* Sizes where BLAS takes its blocked paths, with Keras's own initial
     * weights (glorot_uniform, orthogonal; bias then set to random values). */
    for (int v = 0; v < 4; v++) {
        rnnc_gru_options o = rnnc_gru_options_default();
        o.units = 37 + 20 * v;
        o.reset_after = v & 1;
        o.return_sequences = true;
        o.return_state = true;
        o.go_backwards = v & 2;
        o.has_seed = true;
        const int64_t B = 9 + v, T = 13, F = 23;
        rnnc_layer *gen, *fus;
        OK(rnnc_gru_create(&o, &gen));
        OK(rnnc_gru_create(&o, &fus));
        rnnc_shape bs = RNNC_SHAPE(B, T, F);
        OK(rnnc_layer_build(gen, &bs));
        OK(rnnc_layer_build(fus, &bs));
        rnnc_weight *wg[3], *wf[3];
        int n;
        OK(rnnc_layer_weights(gen, wg, 3, &n));
        OK(rnnc_layer_weights(fus, wf, 3, &n));
        rnnc_tensor *rb;
        OK(rnnc_fixture_uniform(RNNC_F32, &wg[2]->value->shape, 55, -0.3, 0.3, &rb));
        OK(rnnc_tensor_copy(wg[2]->value, rb));
        rnnc_tensor_destroy(rb);
        for (int k = 0; k < 3; k++)
            OK(rnnc_tensor_copy(wf[k]->value, wg[k]->value));
        OK(rnnc_gru_set_kernel(gen, RNNC_GRU_KERNEL_GENERIC));
        OK(rnnc_gru_set_kernel(fus, RNNC_GRU_KERNEL_FUSED));
        rnnc_tensor *x;
        rnnc_shape xs = RNNC_SHAPE(B, T, F);
        OK(rnnc_fixture_uniform(RNNC_F32, &xs, 77 + (uint64_t)v, -1, 1, &x));
        OK(rnnc_ctx_adopt(cx, x));
        OK(rnnc_tensor_set_requires_grad(x, true));
        run_in in = {x, NULL, NULL, NULL, false};
        rnnc_call_result rg, rf;
        OK(run(gen, cx, &in, &rg));
        OK(run(fus, cx, &in, &rf));
        for (int i = 0; i < 2; i++) {
            cr_assert_lt(rnnc_fixture_max_err(rf.outputs[i], rg.outputs[i]), 1e-5);
            rnnc_tensor *dy;
            OK(rnnc_fixture_uniform(RNNC_F32, &rg.outputs[i]->shape, 91 + (uint64_t)i, -1, 1, &dy));
            OK(rnnc_ctx_adopt(cx, dy));
            OK(rnnc_ctx_seed_grad(cx, rg.outputs[i], dy));
            OK(rnnc_ctx_seed_grad(cx, rf.outputs[i], dy));
        }
        OK(rnnc_backward_seeded(cx));
        for (int k = 0; k < 3; k++) {
            rnnc_tensor *want;
            OK(rnnc_tensor_create(RNNC_F32, &wg[k]->value->shape, &want));
            for (size_t i = 0; i < want->numel; i++)
                rnnc_tensor_set(want, i, rnnc_tensor_get_grad(wg[k]->value, i));
            double e = rnnc_fixture_max_grad_err(wf[k]->value, want);
            cr_assert_lt(e, 1e-5, "variant %d weight %d err %g", v, k, e);
            rnnc_tensor_destroy(want);
        }
        rnnc_ctx_clear(cx);
        rnnc_layer_destroy(gen);
        rnnc_layer_destroy(fus);
    }
}

/* ---- finite differences of the fused kernel (float64) ---------------------- */

typedef struct gc_user {
    rnnc_layer *l;
    const rnnc_tensor *mask, *drop;
} gc_user;

static rnnc_status gc_fn(rnnc_ctx *c, void *user, rnnc_tensor **in, rnnc_tensor **out)
{
    gc_user *u = user;
    run_in ri = {in[0], in[1], u->mask, u->drop, u->drop != NULL};
    rnnc_call_result r;
    RNNC_TRY(run(u->l, c, &ri, &r));
    if (rnnc_gru_last_kernel(u->l) != RNNC_GRU_KERNEL_FUSED)
        return rnnc_fail(RNNC_E_STATE, "expected the fused kernel to run");
    rnnc_tensor *flat[RNNC_MAX_IO];
    for (int i = 0; i < r.n_outputs; i++) {
        rnnc_shape s = RNNC_SHAPE((int64_t)r.outputs[i]->numel);
        RNNC_TRY(rnnc_reshape(c, r.outputs[i], &s, &flat[i]));
    }
    return rnnc_concat(c, flat, r.n_outputs, 0, out);
}

static void fused_gradcheck(int v, rnnc_act act, rnnc_act ract)
{
    static const uint8_t mask[4 * 5] = {1, 1, 1, 1, 1, 0, 1, 1, 0, 1,
                                        1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    o.dtype = RNNC_F64;
    o.reset_after = v & 1;
    o.go_backwards = v & 2;
    o.zero_output_for_mask = v & 4;
    o.use_bias = !(v & 8);
    o.return_sequences = !(v & 16);
    o.return_state = true;
    o.activation = act;
    o.recurrent_activation = ract;
    o.dropout = 0.25;
    rnnc_layer *l = make_gru(&o, 4, 5, 3, 60 + (uint64_t)v, RNNC_GRU_KERNEL_FUSED);
    rnnc_tensor *x, *h0, *m, *d;
    rnnc_shape xs = RNNC_SHAPE(4, 5, 3), hs = RNNC_SHAPE(4, 3), ms = RNNC_SHAPE(4, 5);
    OK(rnnc_fixture_uniform(RNNC_F64, &xs, 70 + (uint64_t)v, -1, 1, &x));
    OK(rnnc_fixture_uniform(RNNC_F64, &hs, 80 + (uint64_t)v, -1, 1, &h0));
    OK(rnnc_tensor_create(RNNC_U8, &ms, &m));
    memcpy(m->data, mask, sizeof mask);
    OK(rnnc_tensor_create(RNNC_F64, &hs, &d)); /* (B, F) = (4, 3) */
    for (size_t i = 0; i < d->numel; i++)
        rnnc_f64(d)[i] = (i % 4 == 1) ? 0.0 : 1.0 / 0.75;
    OK(rnnc_tensor_set_requires_grad(x, true));
    OK(rnnc_tensor_set_requires_grad(h0, true));
    rnnc_weight *w[3];
    int n;
    OK(rnnc_layer_weights(l, w, 3, &n));
    rnnc_tensor *inputs[5] = {x, h0, w[0]->value, w[1]->value, n > 2 ? w[2]->value : NULL};
    gc_user u = {l, m, d};
    rnnc_gradcheck_result gr;
    char msg[256];
    OK(rnnc_gradcheck_full(gc_fn, &u, inputs, 2 + n, 1e-6, &gr));
    cr_assert_lt(gr.max_err, 1e-7, "variant %d act %s/%s: %s", v, rnnc_act_name(act),
                 rnnc_act_name(ract), rnnc_gradcheck_str(&gr, msg, sizeof msg));
    size_t total = x->numel + h0->numel;
    for (int i = 0; i < n; i++)
        total += w[i]->value->numel;
    cr_assert_eq(gr.n_checked, total);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(h0);
    rnnc_tensor_destroy(m);
    rnnc_tensor_destroy(d);
    rnnc_layer_destroy(l);
}

Test(gru_fused, gradients_match_finite_differences_f64)
{
    for (int v = 0; v < 32; v++)
        fused_gradcheck(v, RNNC_ACT_TANH, RNNC_ACT_SIGMOID);
}

Test(gru_fused, gradients_general_activations_f64)
{
    /* The non-inline path: derivatives from rnnc_act_deriv with saved
     * pre-activations (smooth activations, so differences are clean). */
    fused_gradcheck(1, RNNC_ACT_GELU, RNNC_ACT_SOFTSIGN);
    fused_gradcheck(0, RNNC_ACT_SOFTPLUS, RNNC_ACT_SIGMOID);
    fused_gradcheck(3, RNNC_ACT_MISH, RNNC_ACT_TANH);
    fused_gradcheck(2, RNNC_ACT_LINEAR, RNNC_ACT_SIGMOID);
}

/* ---- the kernel choice ------------------------------------------------------- */

static rnnc_gru_kernel kernel_run(rnnc_gru_options o, bool training)
{
    rnnc_layer *l = make_gru(&o, 2, 3, 2, 5, RNNC_GRU_KERNEL_AUTO);
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(2, 3, 2);
    OK(rnnc_fixture_uniform(o.dtype, &xs, 1, -1, 1, &x));
    OK(rnnc_ctx_adopt(cx, x));
    run_in in = {x, NULL, NULL, NULL, training};
    rnnc_call_result r;
    OK(run(l, cx, &in, &r));
    rnnc_gru_kernel k = rnnc_gru_last_kernel(l);
    rnnc_layer_destroy(l);
    return k;
}

Test(gru_fused, auto_choice_follows_the_documented_rule)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    cr_assert_eq(kernel_run(o, true), RNNC_GRU_KERNEL_FUSED);
    o.use_cudnn = RNNC_USE_CUDNN_FALSE;
    cr_assert_eq(kernel_run(o, true), RNNC_GRU_KERNEL_FUSED);
    o.use_cudnn = RNNC_USE_CUDNN_AUTO;
    o.reset_after = false;
    o.go_backwards = true;
    o.activation = RNNC_ACT_SELU;
    cr_assert_eq(kernel_run(o, true), RNNC_GRU_KERNEL_FUSED);
    o = rnnc_gru_options_default();
    o.units = 3;
    o.unroll = true;
    cr_assert_eq(kernel_run(o, false), RNNC_GRU_KERNEL_GENERIC);
    o.unroll = false;
    o.activation = RNNC_ACT_SOFTMAX;
    cr_assert_eq(kernel_run(o, false), RNNC_GRU_KERNEL_GENERIC);
    o.activation = RNNC_ACT_TANH;
    o.recurrent_activation = RNNC_ACT_SPARSEMAX;
    cr_assert_eq(kernel_run(o, false), RNNC_GRU_KERNEL_GENERIC);
    o.recurrent_activation = RNNC_ACT_SIGMOID;
    o.recurrent_dropout = 0.2; /* applied only when training */
    cr_assert_eq(kernel_run(o, true), RNNC_GRU_KERNEL_GENERIC);
    cr_assert_eq(kernel_run(o, false), RNNC_GRU_KERNEL_FUSED);
    o.recurrent_dropout = 0.0;
    o.dropout = 0.2;
    cr_assert_eq(kernel_run(o, true), RNNC_GRU_KERNEL_FUSED);
    o.implementation = 1; /* three per-gate input masks */
    cr_assert_eq(kernel_run(o, true), RNNC_GRU_KERNEL_GENERIC);
    cr_assert_eq(kernel_run(o, false), RNNC_GRU_KERNEL_FUSED);
}

Test(gru_fused, forced_fused_refuses_what_it_cannot_do)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    o.activation = RNNC_ACT_LOG_SOFTMAX;
    rnnc_layer *l = make_gru(&o, 2, 3, 2, 5, RNNC_GRU_KERNEL_FUSED);
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(2, 3, 2);
    OK(rnnc_fixture_uniform(RNNC_F32, &xs, 1, -1, 1, &x));
    OK(rnnc_ctx_adopt(cx, x));
    run_in in = {x, NULL, NULL, NULL, false};
    rnnc_call_result r;
    cr_assert_eq(run(l, cx, &in, &r), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "log_softmax"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
}

Test(gru_fused, inference_without_tape_matches)
{
    /* Grad mode off: the kernel keeps only two state buffers. */
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 5;
    o.return_sequences = true;
    rnnc_layer *a = make_gru(&o, 3, 7, 4, 8, RNNC_GRU_KERNEL_FUSED);
    rnnc_layer *b = make_gru(&o, 3, 7, 4, 8, RNNC_GRU_KERNEL_GENERIC);
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(3, 7, 4);
    OK(rnnc_fixture_uniform(RNNC_F32, &xs, 2, -1, 1, &x));
    OK(rnnc_ctx_adopt(cx, x));
    rnnc_ctx_set_grad_enabled(cx, false);
    for (int T = 1; T <= 7; T += 3) {
        rnnc_tensor *xt;
        OK(rnnc_slice(cx, x, 1, 0, T, &xt));
        run_in in = {xt, NULL, NULL, NULL, false};
        rnnc_call_result ra, rb;
        OK(run(a, cx, &in, &ra));
        OK(run(b, cx, &in, &rb));
        cr_assert_null(ra.outputs[0]->node);
        cr_assert_lt(rnnc_fixture_max_err(ra.outputs[0], rb.outputs[0]), 1e-5, "T=%d", T);
    }
    rnnc_layer_destroy(a);
    rnnc_layer_destroy(b);
}
