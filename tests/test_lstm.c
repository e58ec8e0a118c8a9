/* test_lstm.c - LSTM / LSTMCell:
 *   - the fused whole-sequence kernel (layers/lstm_fused.h) against the
 *     generic loop over LSTMCell on random configurations (every flag
 *     combination, masks with leading / gap / empty rows, initial states,
 *     input dropout, activation pairs): outputs and the gradients of x,
 *     h0, c0, kernel, recurrent kernel and bias;
 *   - float64 finite-difference checks of the fused kernel and of the
 *     generic cell loop (implementation 1 with recurrent dropout);
 *   - the step against hand-computed numbers; unit_forget_bias;
 *   - get_config key order (Keras 3.15's, LSTM and LSTMCell differ) and
 *     from_config round trips; use_cudnn conditions; the kernel choice. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "helpers/fixture.h"
#include "helpers/keras_cases.h"
#include "layers/lstm.h"
#include "framework/initializers.h"
#include "io/spec_reader.h"
#include "layers/registry.h"

static rnnc_ctx *cx;

static void setup(void) { cx = rnnc_ctx_create(); }
static void teardown(void) { rnnc_ctx_destroy(cx); }

TestSuite(lstm, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

static rnnc_layer *make_lstm(const rnnc_lstm_options *o, int64_t B, int64_t T, int64_t F,
                             uint64_t seed, rnnc_gru_kernel k)
{
    rnnc_layer *l;
    OK(rnnc_lstm_create(o, &l));
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
    OK(rnnc_lstm_set_kernel(l, k));
    return l;
}

typedef struct run_in {
    rnnc_tensor *x, *h0, *c0;
    const rnnc_tensor *mask;
    bool training;
} run_in;

static rnnc_status run(rnnc_layer *l, rnnc_ctx *c, const run_in *in, rnnc_call_result *res)
{
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = in->h0 ? 3 : 1;
    a.inputs[0] = in->x;
    a.inputs[1] = in->h0;
    a.inputs[2] = in->c0;
    a.mask = in->mask;
    a.training = in->training;
    return rnnc_layer_call(l, c, &a, res);
}

static const rnnc_act act_pairs[][2] = {
    {RNNC_ACT_TANH, RNNC_ACT_SIGMOID},   {RNNC_ACT_RELU, RNNC_ACT_HARD_SIGMOID},
    {RNNC_ACT_LINEAR, RNNC_ACT_SIGMOID}, {RNNC_ACT_GELU, RNNC_ACT_SPARSE_SIGMOID},
    {RNNC_ACT_SILU, RNNC_ACT_SIGMOID},   {RNNC_ACT_SOFTSIGN, RNNC_ACT_HARD_SIGMOID},
    {RNNC_ACT_ELU, RNNC_ACT_TANH},       {RNNC_ACT_TANH, RNNC_ACT_SOFTSIGN},
};
#define N_BOUNDED_PAIRS 6
#define N_PAIRS ((int)(sizeof act_pairs / sizeof act_pairs[0]))

static rnnc_tensor *grad_copy(const rnnc_tensor *t)
{
    rnnc_tensor *g;
    OK(rnnc_tensor_create(t->dtype, &t->shape, &g));
    for (size_t i = 0; i < g->numel; i++)
        rnnc_tensor_set(g, i, rnnc_tensor_get_grad(t, i));
    return g;
}

/* Case idx (its bits pick the flags) at shape B, T, F, U with activation
 * pair `pair`: both kernels, outputs and every gradient within tol. */
static void compare_shape(int idx, rnnc_dtype dt, int pair, double tol, int64_t B, int64_t T,
                          int64_t F, int64_t U)
{
    uint64_t s = (uint64_t)idx * 2654435761u + 777;
    const int bits = idx;
    rnnc_lstm_options o = rnnc_lstm_options_default();
    o.units = U;
    o.use_bias = !(bits & 1);
    o.go_backwards = bits & 2;
    o.return_sequences = bits & 4;
    o.return_state = bits & 8;
    const bool with_mask = bits & 16, with_h0 = bits & 32, with_drop = bits & 64;
    o.zero_output_for_mask = bits & 128;
    o.activation = act_pairs[pair][0];
    o.recurrent_activation = act_pairs[pair][1];
    o.dropout = with_drop ? 0.3 : 0.0;
    o.has_seed = true;
    o.seed = idx;
    o.dtype = dt;
    rnnc_layer *gen = make_lstm(&o, B, T, F, (uint64_t)idx, RNNC_GRU_KERNEL_GENERIC);
    rnnc_layer *fus = make_lstm(&o, B, T, F, (uint64_t)idx, RNNC_GRU_KERNEL_FUSED);
    rnnc_tensor *x, *h0 = NULL, *c0 = NULL, *mask = NULL;
    rnnc_shape xs = RNNC_SHAPE(B, T, F), hs = RNNC_SHAPE(B, U), ms = RNNC_SHAPE(B, T);
    OK(rnnc_fixture_uniform(dt, &xs, s + 1, -1, 1, &x));
    OK(rnnc_tensor_set_requires_grad(x, true));
    if (with_h0) {
        OK(rnnc_fixture_uniform(dt, &hs, s + 2, -1, 1, &h0));
        OK(rnnc_fixture_uniform(dt, &hs, s + 5, -1, 1, &c0));
        OK(rnnc_tensor_set_requires_grad(h0, true));
        OK(rnnc_tensor_set_requires_grad(c0, true));
    }
    if (with_mask) {
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
    /* The fused layer gets its own copies of the inputs, so that both run
     * once (the same dropout draw from the same seed) and one backward
     * fills both sets of gradients. */
    rnnc_tensor *x2, *h2 = NULL, *c2 = NULL;
    OK(rnnc_tensor_clone(x, &x2));
    OK(rnnc_tensor_set_requires_grad(x2, true));
    if (h0) {
        OK(rnnc_tensor_clone(h0, &h2));
        OK(rnnc_tensor_clone(c0, &c2));
        OK(rnnc_tensor_set_requires_grad(h2, true));
        OK(rnnc_tensor_set_requires_grad(c2, true));
    }
    run_in in = {x, h0, c0, mask, true}, in2 = {x2, h2, c2, mask, true};
    rnnc_call_result rg, rf;
    rnnc_weight *wg[3], *wf[3];
    int nw;
    OK(rnnc_layer_weights(gen, wg, 3, &nw));
    OK(rnnc_layer_weights(fus, wf, 3, &nw));
    OK(run(gen, cx, &in, &rg));
    cr_assert_eq(rnnc_lstm_last_kernel(gen), RNNC_GRU_KERNEL_GENERIC);
    OK(run(fus, cx, &in2, &rf));
    cr_assert_eq(rnnc_lstm_last_kernel(fus), RNNC_GRU_KERNEL_FUSED, "case %d", idx);
    cr_assert_eq(rg.n_outputs, rf.n_outputs);
    cr_assert_eq(rg.n_outputs, o.return_state ? 3 : 1);
    for (int i = 0; i < rg.n_outputs; i++) {
        cr_assert(rnnc_shape_eq(&rg.outputs[i]->shape, &rf.outputs[i]->shape));
        double e = rnnc_fixture_max_err(rf.outputs[i], rg.outputs[i]);
        cr_assert_lt(e, tol, "case %d (B%lld T%lld F%lld U%lld bits %x pair %d) output %d err %g",
                     idx, (long long)B, (long long)T, (long long)F, (long long)U, bits, pair, i, e);
    }
    rnnc_tensor *dys[RNNC_MAX_IO];
    for (int i = 0; i < rg.n_outputs; i++) {
        OK(rnnc_fixture_uniform(dt, &rg.outputs[i]->shape, s + 10 + (uint64_t)i, -1, 1, &dys[i]));
        OK(rnnc_ctx_seed_grad(cx, rg.outputs[i], dys[i]));
        OK(rnnc_ctx_seed_grad(cx, rf.outputs[i], dys[i]));
    }
    rnnc_tensor *gin[6] = {x, h0, c0, wg[0]->value, wg[1]->value, nw > 2 ? wg[2]->value : NULL};
    rnnc_tensor *fin[6] = {x2, h2, c2, wf[0]->value, wf[1]->value, nw > 2 ? wf[2]->value : NULL};
    OK(rnnc_backward_seeded(cx));
    const char *names[6] = {"x", "h0", "c0", "kernel", "recurrent_kernel", "bias"};
    for (int k = 0; k < 6; k++) {
        if (!fin[k])
            continue;
        rnnc_tensor *want = grad_copy(gin[k]);
        double e = rnnc_fixture_max_grad_err(fin[k], want);
        cr_assert_lt(e, tol, "case %d (B%lld T%lld F%lld U%lld bits %x pair %d) grad %s err %g",
                     idx, (long long)B, (long long)T, (long long)F, (long long)U, bits, pair,
                     names[k], e);
        rnnc_tensor_destroy(want);
    }
    rnnc_tensor_destroy(x2);
    rnnc_tensor_destroy(h2);
    rnnc_tensor_destroy(c2);
    rnnc_ctx_clear(cx);
    for (int i = 0; i < rg.n_outputs; i++)
        rnnc_tensor_destroy(dys[i]);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(h0);
    rnnc_tensor_destroy(c0);
    rnnc_tensor_destroy(mask);
    rnnc_layer_destroy(gen);
    rnnc_layer_destroy(fus);
}

static void compare_case(int idx, rnnc_dtype dt, int n_pairs, double tol)
{
    uint64_t s = (uint64_t)idx * 2654435761u + 777;
    const int64_t B = 1 + (int64_t)(s % 5), T = 1 + (int64_t)((s / 5) % 7);
    const int64_t F = 1 + (int64_t)((s / 35) % 6), U = 1 + (int64_t)((s / 210) % 6);
    compare_shape(idx, dt, (int)((s / 1260) % (uint64_t)n_pairs), tol, B, T, F, U);
}

/* OpenBLAS's thread count (weak: absent with another BLAS). */
extern int openblas_get_num_threads(void) __attribute__((weak));
extern void openblas_set_num_threads(int) __attribute__((weak));

/* Shapes past the small ones above, for float32's own paths: the row
 * kernels at full width with 4-lane and 1-lane tails (U = 37, 16, 33),
 * small_sgemm's 8-, 4- and 1-row blocks, full and partial column blocks,
 * one row (B = 1), and with one BLAS thread its sums over B*T > 256 rows
 * in chunks (the products over all steps); every flag on and off across
 * the cases, the default pair on even cases (the row kernels), pairs with
 * bounded activations on odd ones (an unbounded one over 30 steps of 37
 * units diverges in both kernels). */
Test(lstm, fused_matches_generic_at_vector_and_block_sizes_f32)
{
    static const int64_t shapes[][4] = {{19, 30, 20, 37}, {13, 4, 3, 16}, {1, 40, 7, 33}};
    const int threads = openblas_get_num_threads ? openblas_get_num_threads() : 0;
    for (int one = 0; one < 2; one++) {
        /* already one thread (valgrind's runs) or no way to set it: the
         * second pass would repeat the first exactly */
        if (one && (threads <= 1 || !openblas_set_num_threads))
            break;
        if (one)
            openblas_set_num_threads(1);
        for (int idx = 0; idx < 48; idx++) {
            const int64_t *sh = shapes[idx % 3];
            const int bits = (idx * 37) % 256;
            const int pair = idx % 2 == 0 ? 0 : (idx / 2) % 2 ? 5 : 7;
            compare_shape(bits, RNNC_F32, pair, 2e-5, sh[0], sh[1], sh[2], sh[3]);
        }
    }
    if (threads > 0 && openblas_set_num_threads)
        openblas_set_num_threads(threads);
}

Test(lstm, fused_matches_generic_on_random_configurations_f32)
{
    for (int idx = 0; idx < 256; idx++)
        compare_case(idx, RNNC_F32, N_BOUNDED_PAIRS, 1e-5);
}

Test(lstm, fused_matches_generic_on_random_configurations_f64)
{
    for (int idx = 0; idx < 256; idx++)
        compare_case(idx, RNNC_F64, N_PAIRS, 1e-11);
}

/* ---- finite differences (float64) ---------------------------------------- */

typedef struct gc_user {
    rnnc_layer *l;
    const rnnc_tensor *mask;
    bool training;
    rnnc_gru_kernel expect;
} gc_user;

static rnnc_status gc_fn(rnnc_ctx *c, void *user, rnnc_tensor **in, rnnc_tensor **out)
{
    gc_user *u = user;
    run_in ri = {in[0], in[1], in[2], u->mask, u->training};
    rnnc_call_result r;
    RNNC_TRY(run(u->l, c, &ri, &r));
    if (rnnc_lstm_last_kernel(u->l) != u->expect)
        return rnnc_fail(RNNC_E_STATE, "the expected kernel did not run");
    rnnc_tensor *flat[RNNC_MAX_IO];
    for (int i = 0; i < r.n_outputs; i++) {
        rnnc_shape s = RNNC_SHAPE((int64_t)r.outputs[i]->numel);
        RNNC_TRY(rnnc_reshape(c, r.outputs[i], &s, &flat[i]));
    }
    return rnnc_concat(c, flat, r.n_outputs, 0, out);
}

static void gradcheck_case(int v, rnnc_act act, rnnc_act ract, rnnc_gru_kernel k,
                           double rec_dropout)
{
    static const uint8_t mask[4 * 5] = {1, 1, 1, 1, 1, 0, 1, 1, 0, 1,
                                        1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    rnnc_lstm_options o = rnnc_lstm_options_default();
    o.units = 3;
    o.dtype = RNNC_F64;
    o.go_backwards = v & 2;
    o.zero_output_for_mask = v & 4;
    o.use_bias = !(v & 8);
    o.return_sequences = !(v & 16);
    o.return_state = true;
    o.activation = act;
    o.recurrent_activation = ract;
    o.dropout = 0.25;
    o.recurrent_dropout = rec_dropout;
    o.has_seed = true;
    o.seed = 3 + v;
    rnnc_layer *l = make_lstm(&o, 4, 5, 3, 60 + (uint64_t)v, k);
    rnnc_tensor *x, *h0, *c0, *m;
    rnnc_shape xs = RNNC_SHAPE(4, 5, 3), hs = RNNC_SHAPE(4, 3), ms = RNNC_SHAPE(4, 5);
    OK(rnnc_fixture_uniform(RNNC_F64, &xs, 70 + (uint64_t)v, -1, 1, &x));
    OK(rnnc_fixture_uniform(RNNC_F64, &hs, 80 + (uint64_t)v, -1, 1, &h0));
    OK(rnnc_fixture_uniform(RNNC_F64, &hs, 90 + (uint64_t)v, -1, 1, &c0));
    OK(rnnc_tensor_create(RNNC_U8, &ms, &m));
    memcpy(m->data, mask, sizeof mask);
    OK(rnnc_tensor_set_requires_grad(x, true));
    OK(rnnc_tensor_set_requires_grad(h0, true));
    OK(rnnc_tensor_set_requires_grad(c0, true));
    rnnc_weight *w[3];
    int n;
    OK(rnnc_layer_weights(l, w, 3, &n));
    rnnc_tensor *inputs[6] = {x, h0, c0, w[0]->value, w[1]->value, n > 2 ? w[2]->value : NULL};
    /* dropout masks are redrawn each call: gradcheck needs a fixed function,
     * so training (masks on) only where the seeded generator is rewound by
     * the test below; here inference, then training with a seed reset. */
    gc_user u = {l, (v & 1) ? m : NULL, false, k};
    rnnc_gradcheck_result gr;
    char msg[256];
    OK(rnnc_gradcheck_full(gc_fn, &u, inputs, 3 + n, 1e-6, &gr));
    cr_assert_lt(gr.max_err, 1e-7, "variant %d act %s/%s: %s", v, rnnc_act_name(act),
                 rnnc_act_name(ract), rnnc_gradcheck_str(&gr, msg, sizeof msg));
    size_t total = x->numel + h0->numel + c0->numel;
    for (int i = 0; i < n; i++)
        total += w[i]->value->numel;
    cr_assert_eq(gr.n_checked, total);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(h0);
    rnnc_tensor_destroy(c0);
    rnnc_tensor_destroy(m);
    rnnc_layer_destroy(l);
}

Test(lstm, fused_gradients_match_finite_differences_f64)
{
    for (int v = 0; v < 32; v++)
        gradcheck_case(v, RNNC_ACT_TANH, RNNC_ACT_SIGMOID, RNNC_GRU_KERNEL_FUSED, 0.0);
    gradcheck_case(1, RNNC_ACT_GELU, RNNC_ACT_SOFTSIGN, RNNC_GRU_KERNEL_FUSED, 0.0);
    gradcheck_case(3, RNNC_ACT_SOFTPLUS, RNNC_ACT_SIGMOID, RNNC_GRU_KERNEL_FUSED, 0.0);
    gradcheck_case(6, RNNC_ACT_LINEAR, RNNC_ACT_TANH, RNNC_GRU_KERNEL_FUSED, 0.0);
}

Test(lstm, generic_gradients_match_finite_differences_f64)
{
    for (int v = 0; v < 32; v += 5)
        gradcheck_case(v, RNNC_ACT_TANH, RNNC_ACT_SIGMOID, RNNC_GRU_KERNEL_GENERIC, 0.0);
    /* implementation 1 (forced by recurrent_dropout), inference */
    gradcheck_case(3, RNNC_ACT_TANH, RNNC_ACT_SIGMOID, RNNC_GRU_KERNEL_GENERIC, 0.4);
}

/* ---- the step by hand, weights, masks, choices, errors -------------------- */

Test(lstm, cell_step_matches_hand_computed_numbers)
{
    /* F = 1, U = 1: kernel [0.5, -0.5, 1, 2], recurrent [0.1, 0.2, 0.3, 0.4],
     * bias [0, 1, 0, 0]; x = 1, h = 0.5, c = -1:
     *   z = [0.55, 0.6, 1.15, 2.2]; i = s(0.55), f = s(0.6), g = tanh(1.15),
     *   o = s(2.2); c' = f * -1 + i * g; h' = o * tanh(c'). */
    rnnc_lstm_options o = rnnc_lstm_options_default();
    o.units = 1;
    o.dtype = RNNC_F64;
    rnnc_layer *cell;
    OK(rnnc_lstm_cell_create(&o, &cell));
    rnnc_shape in = RNNC_SHAPE(1, 1), s11 = RNNC_SHAPE(1, 1);
    OK(rnnc_layer_build(cell, &in));
    rnnc_lstm_cell *c = rnnc_lstm_cell_of(cell);
    const double k[4] = {0.5, -0.5, 1, 2}, r[4] = {0.1, 0.2, 0.3, 0.4};
    for (int i = 0; i < 4; i++) {
        rnnc_f64(c->kernel)[i] = k[i];
        rnnc_f64(c->recurrent_kernel)[i] = r[i];
    }
    /* unit_forget_bias: zeros except ones on the forget block */
    cr_assert_eq(rnnc_f64(c->bias)[0], 0.0);
    cr_assert_eq(rnnc_f64(c->bias)[1], 1.0);
    cr_assert_eq(rnnc_f64(c->bias)[2], 0.0);
    cr_assert_eq(rnnc_f64(c->bias)[3], 0.0);
    rnnc_tensor *x, *h, *cc;
    OK(rnnc_ctx_tensor(cx, RNNC_F64, &s11, &x));
    OK(rnnc_ctx_tensor(cx, RNNC_F64, &s11, &h));
    OK(rnnc_ctx_tensor(cx, RNNC_F64, &s11, &cc));
    rnnc_f64(x)[0] = 1.0;
    rnnc_f64(h)[0] = 0.5;
    rnnc_f64(cc)[0] = -1.0;
    rnnc_call_args a;
    rnnc_call_result res;
    memset(&a, 0, sizeof a);
    a.n_inputs = 3;
    a.inputs[0] = x;
    a.inputs[1] = h;
    a.inputs[2] = cc;
    OK(rnnc_layer_call(cell, cx, &a, &res));
    cr_assert_eq(res.n_outputs, 3);
    const double sg_i = 1 / (1 + exp(-0.55)), sg_f = 1 / (1 + exp(-0.6)), g = tanh(1.15),
                 sg_o = 1 / (1 + exp(-2.2));
    const double cn = sg_f * -1.0 + sg_i * g, hn = sg_o * tanh(cn);
    cr_assert_float_eq(rnnc_f64(res.outputs[0])[0], hn, 1e-14);
    cr_assert_float_eq(rnnc_f64(res.outputs[1])[0], hn, 1e-14);
    cr_assert_float_eq(rnnc_f64(res.outputs[2])[0], cn, 1e-14);
    rnnc_layer_destroy(cell);
}

Test(lstm, unit_forget_bias_with_a_random_initializer_fills_three_blocks)
{
    /* Keras: init((U,)), ones((U,)), init((2U,)): the forget block is ones,
     * the others come from the initializer (constant 0.25 here). */
    rnnc_lstm_options o = rnnc_lstm_options_default();
    o.units = 3;
    rnnc_initializer *ci;
    rnnc_cfg *cfg;
    const char *js = "{\"class_name\": \"Constant\", \"config\": {\"value\": 0.25}}";
    OK(rnnc_spec_read_string(js, strlen(js), "t", &cfg));
    OK(rnnc_initializer_from_config(cfg, "bias_initializer", &ci));
    o.bias_initializer = ci;
    rnnc_layer *l;
    OK(rnnc_lstm_create(&o, &l));
    rnnc_shape in = RNNC_SHAPE(2, 4, 2);
    OK(rnnc_layer_build(l, &in));
    const rnnc_tensor *b = rnnc_lstm_cell_of_layer(l)->bias;
    for (int i = 0; i < 12; i++)
        cr_assert_eq(rnnc_tensor_get(b, (size_t)i), (i >= 3 && i < 6) ? 1.0 : 0.25, "bias[%d]", i);
    o.unit_forget_bias = false;
    rnnc_layer *l2;
    OK(rnnc_lstm_create(&o, &l2));
    OK(rnnc_layer_build(l2, &in));
    for (int i = 0; i < 12; i++)
        cr_assert_eq(rnnc_tensor_get(rnnc_lstm_cell_of_layer(l2)->bias, (size_t)i), 0.25);
    rnnc_layer_destroy(l);
    rnnc_layer_destroy(l2);
    rnnc_initializer_destroy(ci);
    rnnc_cfg_destroy(cfg);
}

static rnnc_lstm_cell *call_once(rnnc_lstm_options o, bool training, rnnc_layer **lo)
{
    rnnc_layer *l = make_lstm(&o, 50, 3, 40, 5, RNNC_GRU_KERNEL_AUTO);
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(50, 3, 40);
    OK(rnnc_fixture_uniform(o.dtype, &xs, 1, -1, 1, &x));
    OK(rnnc_ctx_adopt(cx, x));
    run_in in = {x, NULL, NULL, NULL, training};
    rnnc_call_result r;
    OK(run(l, cx, &in, &r));
    *lo = l;
    return rnnc_lstm_cell_of_layer(l);
}

Test(lstm, dropout_masks_as_keras)
{
    /* implementation 2: one (B, F) input mask; recurrent_dropout forces
     * implementation 1: four input and four recurrent masks. Kept values
     * are 1/(1-rate), the dropped share near the rate. */
    rnnc_lstm_options o = rnnc_lstm_options_default();
    o.units = 30;
    o.dropout = 0.3;
    rnnc_layer *l;
    rnnc_lstm_cell *c = call_once(o, true, &l);
    cr_assert_eq(c->n_in_masks, 1);
    cr_assert_eq(c->n_rec_masks, 0);
    cr_assert_eq(rnnc_lstm_last_kernel(l), RNNC_GRU_KERNEL_FUSED);
    size_t zeros = 0;
    for (size_t i = 0; i < c->in_masks[0]->numel; i++) {
        const double v = rnnc_tensor_get(c->in_masks[0], i);
        cr_assert(v == 0.0 || fabs(v - 1.0 / 0.7) < 1e-6);
        zeros += v == 0.0;
    }
    cr_assert(fabs((double)zeros / 2000.0 - 0.3) < 0.05, "dropped share %zu/2000", zeros);
    rnnc_layer_destroy(l);
    o.recurrent_dropout = 0.5;
    c = call_once(o, true, &l);
    cr_assert_eq(c->implementation, 1);
    cr_assert_eq(c->n_in_masks, 4);
    cr_assert_eq(c->n_rec_masks, 4);
    cr_assert_eq(c->rec_masks[3]->shape.dim[1], 30);
    cr_assert_eq(rnnc_lstm_last_kernel(l), RNNC_GRU_KERNEL_GENERIC);
    rnnc_layer_destroy(l);
    /* inference: no mask, fused */
    c = call_once(o, false, &l);
    cr_assert_eq(c->n_in_masks + c->n_rec_masks, 0);
    cr_assert_eq(rnnc_lstm_last_kernel(l), RNNC_GRU_KERNEL_FUSED);
    rnnc_layer_destroy(l);
}

Test(lstm, kernel_choice_and_use_cudnn_conditions)
{
    rnnc_lstm_options o = rnnc_lstm_options_default();
    o.units = 3;
    rnnc_layer *l;
    call_once(o, false, &l);
    cr_assert_eq(rnnc_lstm_last_kernel(l), RNNC_GRU_KERNEL_FUSED);
    rnnc_layer_destroy(l);
    o.unroll = true;
    call_once(o, false, &l);
    cr_assert_eq(rnnc_lstm_last_kernel(l), RNNC_GRU_KERNEL_GENERIC);
    rnnc_layer_destroy(l);
    o.unroll = false;
    o.activation = RNNC_ACT_SOFTMAX; /* along the last axis: generic */
    call_once(o, false, &l);
    cr_assert_eq(rnnc_lstm_last_kernel(l), RNNC_GRU_KERNEL_GENERIC);
    /* forcing the fused kernel on such a call fails, naming why */
    OK(rnnc_lstm_set_kernel(l, RNNC_GRU_KERNEL_FUSED));
    rnnc_tensor *x;
    rnnc_shape xs = RNNC_SHAPE(50, 3, 40);
    OK(rnnc_fixture_uniform(RNNC_F32, &xs, 1, -1, 1, &x));
    OK(rnnc_ctx_adopt(cx, x));
    run_in in = {x, NULL, NULL, NULL, false};
    rnnc_call_result r;
    cr_assert_eq(run(l, cx, &in, &r), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "softmax"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
    /* use_cudnn=True: Keras's conditions first, named; then no GPU here */
    o.activation = RNNC_ACT_RELU;
    o.use_cudnn = RNNC_USE_CUDNN_TRUE;
    l = make_lstm(&o, 50, 3, 40, 5, RNNC_GRU_KERNEL_AUTO);
    cr_assert_eq(run(l, cx, &in, &r), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "activation='tanh'"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
    o.activation = RNNC_ACT_TANH;
    o.use_bias = false;
    l = make_lstm(&o, 50, 3, 40, 5, RNNC_GRU_KERNEL_AUTO);
    cr_assert_eq(run(l, cx, &in, &r), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "use_bias"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
    o.use_bias = true;
    l = make_lstm(&o, 50, 3, 40, 5, RNNC_GRU_KERNEL_AUTO);
    cr_assert_eq(run(l, cx, &in, &r), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "CPU only"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
}

Test(lstm, from_config_errors_name_the_argument)
{
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"LSTM\", \"config\": {\"units\": 0}}", &l), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "units"), "%s", rnnc_last_error());
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"LSTM\", \"config\": {\"units\": 2, \"use_cudnn\": \"x\"}}", &l),
                 RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "use_cudnn"), "%s", rnnc_last_error());
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"LSTM\", \"config\": {\"units\": 2, \"reset_after\": true}}", &l),
                 RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "reset_after"), "%s", rnnc_last_error());
    cr_assert_eq(rnnc_test_layer_from_json("{\"class_name\": \"LSTMCell\", \"config\": {\"units\": 2, \"seed\": \"a\"}}", &l),
                 RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "seed"), "%s", rnnc_last_error());
    /* Keras 2 keys accepted; clamped rates */
    OK(rnnc_test_layer_from_json("{\"class_name\": \"LSTM\", \"config\": {\"units\": 2, \"implementation\": 1, "
                 "\"time_major\": false, \"dropout\": 1.5, \"batch_input_shape\": [null, 3, 2]}}", &l));
    cr_assert_eq(rnnc_lstm_cell_of_layer(l)->dropout, 1.0);
    cr_assert_eq(rnnc_lstm_cell_of_layer(l)->implementation, 1);
    rnnc_layer_destroy(l);
}
