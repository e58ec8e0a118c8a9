/* test_rnn.c - the RNN base (framework/rnn.h) over a GRUCell: the generic
 * per-timestep loop, masks (TensorFlow rule), go_backwards, return_state,
 * stateful states and their reset, initial states, shape inference, mask
 * propagation, config, errors, and float64 finite-difference gradients.
 *
 * Oracles: hand-derived numbers for a one-unit GRU, the independent scalar
 * reference GRU in tests/helpers/fixture.c, identities that hold whatever
 * the implementation (go_backwards == forward over the reversed input,
 * stateful carry-over == one call over the concatenated sequence), and
 * finite differences. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/ops.h"
#include "framework/rnn.h"
#include "helpers/fixture.h"
#include "layers/gru.h"
#include "layers/gru_cell.h"

static rnnc_ctx *cx;

static void setup(void) { cx = rnnc_ctx_create(); }
static void teardown(void) { rnnc_ctx_destroy(cx); }

TestSuite(rnn, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

typedef struct cfg {
    int64_t B, T, F, U;
    bool reset_after, use_bias;
    rnnc_rnn_options ro;
    rnnc_dtype dt;
} cfg;

/* RNN(GRUCell) with deterministic random weights in [-0.5, 0.5). */
static rnnc_layer *make_rnn(const cfg *c, uint64_t seed)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = c->U;
    o.reset_after = c->reset_after;
    o.use_bias = c->use_bias;
    o.dtype = c->dt;
    rnnc_layer *cell, *l;
    OK(rnnc_gru_cell_create(&o, &cell));
    OK(rnnc_rnn_create(cell, &c->ro, NULL, &l));
    rnnc_shape in = RNNC_SHAPE(c->B, c->T, c->F);
    OK(rnnc_layer_build(l, &in));
    rnnc_weight *w[4];
    int n;
    OK(rnnc_layer_weights(l, w, 4, &n));
    cr_assert_eq(n, c->use_bias ? 3 : 2);
    for (int i = 0; i < n; i++) {
        rnnc_tensor *r;
        OK(rnnc_fixture_uniform(c->dt, &w[i]->value->shape, seed + (uint64_t)i, -0.5, 0.5, &r));
        OK(rnnc_tensor_copy(w[i]->value, r));
        rnnc_tensor_destroy(r);
    }
    return l;
}

static rnnc_tensor *ctx_uniform(rnnc_dtype dt, rnnc_shape s, uint64_t seed, double lo, double hi)
{
    rnnc_tensor *t;
    OK(rnnc_fixture_uniform(dt, &s, seed, lo, hi, &t));
    OK(rnnc_ctx_adopt(cx, t));
    return t;
}

static rnnc_tensor *ctx_mask(int64_t B, int64_t T, const uint8_t *vals)
{
    rnnc_tensor *m;
    rnnc_shape s = RNNC_SHAPE(B, T);
    OK(rnnc_ctx_tensor(cx, RNNC_U8, &s, &m));
    memcpy(m->data, vals, (size_t)(B * T));
    return m;
}

static rnnc_status call(rnnc_layer *l, rnnc_tensor *x, rnnc_tensor *h0, const rnnc_tensor *mask,
                        bool training, rnnc_call_result *res)
{
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = h0 ? 2 : 1;
    a.inputs[0] = x;
    a.inputs[1] = h0;
    a.mask = mask;
    a.training = training;
    return rnnc_layer_call(l, cx, &a, res);
}

static rnnc_gru_cell *gcell(rnnc_layer *l) { return rnnc_gru_cell_of(rnnc_rnn_cell_of(l)); }

/* Runs the reference on the layer's weights and inputs. */
static void reference(rnnc_layer *l, const cfg *c, rnnc_tensor *x, rnnc_tensor *h0,
                      const uint8_t *mask, double *Y, double *last, double *hT)
{
    rnnc_gru_cell *gc = gcell(l);
    double *xd = rnnc_fixture_doubles(x), *W = rnnc_fixture_doubles(gc->kernel);
    double *R = rnnc_fixture_doubles(gc->recurrent_kernel);
    double *b = gc->bias ? rnnc_fixture_doubles(gc->bias) : NULL;
    double *h = h0 ? rnnc_fixture_doubles(h0) : NULL;
    rnnc_ref_gru_args a = {.B = c->B, .T = c->T, .F = c->F, .U = c->U, .x = xd, .h0 = h,
                           .W = W, .R = R, .bias = b, .mask = mask, .act = "tanh",
                           .ract = "sigmoid", .reset_after = c->reset_after,
                           .go_backwards = c->ro.go_backwards,
                           .zero_output_for_mask = c->ro.zero_output_for_mask};
    cr_assert(rnnc_ref_gru(&a, Y, last, hT));
    free(xd);
    free(W);
    free(R);
    free(b);
    free(h);
}

static double max_diff(const rnnc_tensor *t, const double *want)
{
    double m = 0.0;
    for (size_t i = 0; i < t->numel; i++) {
        double d = fabs(rnnc_tensor_get(t, i) - want[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* Mask rows (T = 6): full; right-padded; interior gap; leading masked;
 * fully masked; leading + interior + trailing masked. */
static const uint8_t MASK6[6 * 6] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1,
                                     0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0};

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

Test(rnn, hand_computed_one_unit)
{
    /* U = F = 1, T = 2, reset_after: every number below by hand from 1.2. */
    cfg c = {.B = 1, .T = 2, .F = 1, .U = 1, .reset_after = true, .use_bias = true,
             .ro = rnnc_rnn_options_default(), .dt = RNNC_F64};
    c.ro.return_sequences = true;
    rnnc_layer *l = make_rnn(&c, 1);
    rnnc_gru_cell *gc = gcell(l);
    const double W[3] = {0.5, -0.4, 0.3}, R[3] = {0.2, 0.1, -0.6};
    const double bi[3] = {0.1, 0.2, 0.3}, br[3] = {-0.1, 0.05, 0.2};
    for (int i = 0; i < 3; i++) {
        rnnc_f64(gc->kernel)[i] = W[i];
        rnnc_f64(gc->recurrent_kernel)[i] = R[i];
        rnnc_f64(gc->bias)[i] = bi[i];
        rnnc_f64(gc->bias)[3 + i] = br[i];
    }
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(1, 2, 1), 0, 0, 0);
    rnnc_f64(x)[0] = 1.0;
    rnnc_f64(x)[1] = -2.0;
    /* step 1, h = 0 */
    double z1 = sigm(0.5 * 1.0 + 0.1 + (0.2 * 0.0 - 0.1));
    double r1 = sigm(-0.4 * 1.0 + 0.2 + (0.1 * 0.0 + 0.05));
    double hh1 = tanh(0.3 * 1.0 + 0.3 + r1 * (-0.6 * 0.0 + 0.2));
    double h1 = z1 * 0.0 + (1.0 - z1) * hh1;
    /* step 2 */
    double z2 = sigm(0.5 * -2.0 + 0.1 + (0.2 * h1 - 0.1));
    double r2 = sigm(-0.4 * -2.0 + 0.2 + (0.1 * h1 + 0.05));
    double hh2 = tanh(0.3 * -2.0 + 0.3 + r2 * (-0.6 * h1 + 0.2));
    double h2 = z2 * h1 + (1.0 - z2) * hh2;
    rnnc_call_result res;
    OK(call(l, x, NULL, NULL, false, &res));
    cr_assert_eq(res.n_outputs, 1);
    cr_assert_float_eq(rnnc_f64(res.outputs[0])[0], h1, 1e-15);
    cr_assert_float_eq(rnnc_f64(res.outputs[0])[1], h2, 1e-15);
    rnnc_layer_destroy(l);
}

Test(rnn, hand_computed_reset_before)
{
    /* reset_after=False, U = F = 1: h~ = tanh(x W_h + b_h + (r h) R_h). */
    cfg c = {.B = 1, .T = 2, .F = 1, .U = 1, .reset_after = false, .use_bias = true,
             .ro = rnnc_rnn_options_default(), .dt = RNNC_F64};
    rnnc_layer *l = make_rnn(&c, 2);
    rnnc_gru_cell *gc = gcell(l);
    const double W[3] = {0.7, 0.2, -0.5}, R[3] = {-0.3, 0.4, 0.9}, b[3] = {0.05, -0.1, 0.15};
    for (int i = 0; i < 3; i++) {
        rnnc_f64(gc->kernel)[i] = W[i];
        rnnc_f64(gc->recurrent_kernel)[i] = R[i];
        rnnc_f64(gc->bias)[i] = b[i];
    }
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(1, 2, 1), 0, 0, 0);
    rnnc_f64(x)[0] = 0.5;
    rnnc_f64(x)[1] = 1.5;
    double h = 0.0;
    for (int t = 0; t < 2; t++) {
        double xv = rnnc_f64(x)[t];
        double z = sigm(xv * 0.7 + 0.05 + h * -0.3);
        double r = sigm(xv * 0.2 - 0.1 + h * 0.4);
        double hh = tanh(xv * -0.5 + 0.15 + (r * h) * 0.9);
        h = z * h + (1.0 - z) * hh;
    }
    rnnc_call_result res;
    OK(call(l, x, NULL, NULL, false, &res));
    cr_assert_float_eq(rnnc_f64(res.outputs[0])[0], h, 1e-15);
    rnnc_layer_destroy(l);
}

Test(rnn, matches_reference_for_every_option)
{
    int n_cases = 0;
    for (int bits = 0; bits < 256; bits++) {
        cfg c = {.B = 6, .T = 6, .F = 3, .U = 4, .dt = RNNC_F64,
                 .reset_after = bits & 1, .use_bias = bits & 2,
                 .ro = rnnc_rnn_options_default()};
        c.ro.go_backwards = bits & 4;
        c.ro.zero_output_for_mask = bits & 8;
        c.ro.return_sequences = bits & 16;
        c.ro.return_state = bits & 32;
        const bool with_mask = bits & 64, with_h0 = bits & 128;
        rnnc_layer *l = make_rnn(&c, 100 + (uint64_t)bits);
        rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(6, 6, 3), (uint64_t)bits, -1, 1);
        rnnc_tensor *h0 = with_h0 ? ctx_uniform(RNNC_F64, RNNC_SHAPE(6, 4), 7, -1, 1) : NULL;
        rnnc_tensor *m = with_mask ? ctx_mask(6, 6, MASK6) : NULL;
        rnnc_call_result res;
        OK(call(l, x, h0, m, false, &res));
        double Y[6 * 6 * 4], last[24], hT[24];
        reference(l, &c, x, h0, with_mask ? MASK6 : NULL, Y, last, hT);
        cr_assert_eq(res.n_outputs, c.ro.return_state ? 2 : 1);
        if (c.ro.return_sequences) {
            cr_assert_eq(res.outputs[0]->shape.ndim, 3);
            cr_assert_lt(max_diff(res.outputs[0], Y), 1e-12, "bits %d", bits);
        } else {
            cr_assert_eq(res.outputs[0]->shape.ndim, 2);
            cr_assert_lt(max_diff(res.outputs[0], last), 1e-12, "bits %d", bits);
        }
        if (c.ro.return_state)
            cr_assert_lt(max_diff(res.outputs[1], hT), 1e-12, "bits %d", bits);
        rnnc_layer_destroy(l);
        rnnc_ctx_clear(cx);
        n_cases++;
    }
    cr_assert_eq(n_cases, 256);
}

Test(rnn, mask_rules_tensorflow)
{
    cfg c = {.B = 6, .T = 6, .F = 3, .U = 4, .dt = RNNC_F64, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    c.ro.return_sequences = true;
    c.ro.return_state = true;
    rnnc_layer *l = make_rnn(&c, 5);
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(6, 6, 3), 3, -1, 1);
    rnnc_tensor *h0 = ctx_uniform(RNNC_F64, RNNC_SHAPE(6, 4), 4, -1, 1);
    rnnc_tensor *m = ctx_mask(6, 6, MASK6);
    rnnc_call_result res;
    OK(call(l, x, h0, m, false, &res));
    const double *Y = rnnc_f64(res.outputs[0]), *hT = rnnc_f64(res.outputs[1]);
    const double *H0 = rnnc_f64(h0);
    for (int u = 0; u < 4; u++) {
        /* row 3: leading masked steps output zeros, not the initial state */
        cr_assert_eq(Y[(3 * 6 + 0) * 4 + u], 0.0);
        cr_assert_eq(Y[(3 * 6 + 1) * 4 + u], 0.0);
        cr_assert_neq(Y[(3 * 6 + 2) * 4 + u], 0.0);
        /* row 4: fully masked -> zeros everywhere, final state = initial state */
        for (int t = 0; t < 6; t++)
            cr_assert_eq(Y[(4 * 6 + t) * 4 + u], 0.0);
        cr_assert_eq(hT[4 * 4 + u], H0[4 * 4 + u]);
        /* row 1: right-padded -> padded steps repeat the last valid output */
        cr_assert_eq(Y[(1 * 6 + 4) * 4 + u], Y[(1 * 6 + 3) * 4 + u]);
        cr_assert_eq(Y[(1 * 6 + 5) * 4 + u], Y[(1 * 6 + 3) * 4 + u]);
        cr_assert_eq(hT[1 * 4 + u], Y[(1 * 6 + 3) * 4 + u]);
        /* row 2: interior gap repeats step 1's output; state frozen there */
        cr_assert_eq(Y[(2 * 6 + 2) * 4 + u], Y[(2 * 6 + 1) * 4 + u]);
        cr_assert_eq(Y[(2 * 6 + 3) * 4 + u], Y[(2 * 6 + 1) * 4 + u]);
        /* row 5: trailing masked step -> final state is the step-4 state */
        cr_assert_eq(hT[5 * 4 + u], Y[(5 * 6 + 4) * 4 + u]);
        cr_assert_eq(Y[(5 * 6 + 0) * 4 + u], 0.0);
    }
    rnnc_layer_destroy(l);
}

Test(rnn, zero_output_for_mask_last_output)
{
    /* return_sequences=False with zero_output_for_mask: zeros when the last
     * processed step is masked; else the last output. */
    cfg c = {.B = 6, .T = 6, .F = 3, .U = 4, .dt = RNNC_F64, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    c.ro.zero_output_for_mask = true;
    rnnc_layer *l = make_rnn(&c, 6);
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(6, 6, 3), 8, -1, 1);
    rnnc_tensor *m = ctx_mask(6, 6, MASK6);
    rnnc_call_result res;
    OK(call(l, x, NULL, m, false, &res));
    const double *y = rnnc_f64(res.outputs[0]);
    for (int b = 0; b < 6; b++) {
        bool last_kept = MASK6[b * 6 + 5];
        for (int u = 0; u < 4; u++)
            if (last_kept)
                cr_assert_neq(y[b * 4 + u], 0.0, "row %d", b);
            else
                cr_assert_eq(y[b * 4 + u], 0.0, "row %d", b);
    }
    rnnc_layer_destroy(l);
}

Test(rnn, go_backwards_is_forward_over_reversed_input)
{
    cfg c = {.B = 3, .T = 5, .F = 2, .U = 3, .dt = RNNC_F64, .reset_after = false,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    c.ro.return_sequences = true;
    cfg cb = c;
    cb.ro.go_backwards = true;
    rnnc_layer *fwd = make_rnn(&c, 9), *bwd = make_rnn(&cb, 9);
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(3, 5, 2), 10, -1, 1), *xr;
    OK(rnnc_reverse(cx, x, 1, &xr));
    rnnc_call_result rf, rb;
    OK(call(fwd, xr, NULL, NULL, false, &rf));
    OK(call(bwd, x, NULL, NULL, false, &rb));
    /* Processing order: outputs[:, 0] belongs to input step T-1. */
    cr_assert_lt(rnnc_fixture_max_err(rb.outputs[0], rf.outputs[0]), 1e-15);
    rnnc_layer_destroy(fwd);
    rnnc_layer_destroy(bwd);
}

Test(rnn, outputs_shapes_spec_and_mask_propagation)
{
    cfg c = {.B = 2, .T = 4, .F = 3, .U = 5, .dt = RNNC_F32, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    uint8_t mv[8] = {1, 1, 0, 0, 1, 1, 1, 1};
    for (int seq = 0; seq < 2; seq++)
        for (int st = 0; st < 2; st++) {
            c.ro.return_sequences = seq;
            c.ro.return_state = st;
            rnnc_layer *l = make_rnn(&c, 11);
            rnnc_tensor *x = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 3), 1, -1, 1);
            rnnc_tensor *m = ctx_mask(2, 4, mv);
            rnnc_call_result res;
            OK(call(l, x, NULL, m, false, &res));
            cr_assert_eq(res.n_outputs, st ? 2 : 1);
            rnnc_shape want0 = seq ? RNNC_SHAPE(2, 4, 5) : RNNC_SHAPE(2, 5);
            cr_assert(rnnc_shape_eq(&res.outputs[0]->shape, &want0));
            if (st) {
                rnnc_shape ws = RNNC_SHAPE(2, 5);
                cr_assert(rnnc_shape_eq(&res.outputs[1]->shape, &ws));
            }
            /* v3.15.1: the input mask goes on with sequences, else none. */
            if (seq)
                cr_assert_eq(res.mask, m);
            else
                cr_assert_null(res.mask);
            rnnc_output_spec spec;
            rnnc_shape unknown = RNNC_SHAPE(-1, -1, 3);
            OK(rnnc_layer_output_spec(l, &unknown, &spec));
            cr_assert_eq(spec.n_outputs, st ? 2 : 1);
            cr_assert_eq(spec.dtype, RNNC_F32);
            rnnc_shape s0 = seq ? RNNC_SHAPE(-1, -1, 5) : RNNC_SHAPE(-1, 5);
            cr_assert(rnnc_shape_eq(&spec.shapes[0], &s0));
            if (st) {
                rnnc_shape s1 = RNNC_SHAPE(-1, 5);
                cr_assert(rnnc_shape_eq(&spec.shapes[1], &s1));
            }
            rnnc_layer_destroy(l);
            rnnc_ctx_clear(cx);
        }
}

Test(rnn, get_initial_state_is_zeros)
{
    cfg c = {.B = 2, .T = 4, .F = 3, .U = 5, .dt = RNNC_F64, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    rnnc_layer *l = make_rnn(&c, 12);
    rnnc_tensor *st[RNNC_RNN_MAX_STATES];
    int n = 0;
    OK(rnnc_rnn_get_initial_state(l, cx, 7, st, &n));
    cr_assert_eq(n, 1);
    rnnc_shape want = RNNC_SHAPE(7, 5);
    cr_assert(rnnc_shape_eq(&st[0]->shape, &want));
    cr_assert_eq(st[0]->dtype, RNNC_F64);
    for (size_t i = 0; i < st[0]->numel; i++)
        cr_assert_eq(rnnc_f64(st[0])[i], 0.0);
    cr_assert_eq(rnnc_rnn_get_initial_state(l, cx, 0, st, &n), RNNC_E_ARG);
    rnnc_layer_destroy(l);
}

Test(rnn, stateful_carries_state_and_resets)
{
    cfg c = {.B = 3, .T = 4, .F = 2, .U = 3, .dt = RNNC_F64, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    cfg cs = c;
    cs.ro.stateful = true;
    cs.ro.return_state = true;
    cfg c8 = c;
    c8.T = 8;
    c8.ro.return_state = true;
    rnnc_layer *sl = make_rnn(&cs, 13), *whole = make_rnn(&c8, 13);
    rnnc_tensor *x8 = ctx_uniform(RNNC_F64, RNNC_SHAPE(3, 8, 2), 14, -1, 1), *x1, *x2;
    OK(rnnc_slice(cx, x8, 1, 0, 4, &x1));
    OK(rnnc_slice(cx, x8, 1, 4, 4, &x2));
    rnnc_call_result r1, r2, rw, rf;
    const rnnc_tensor *stored = rnnc_rnn_state(sl, 0);
    cr_assert_not_null(stored);
    for (size_t i = 0; i < stored->numel; i++)
        cr_assert_eq(rnnc_f64(stored)[i], 0.0);
    OK(call(sl, x1, NULL, NULL, false, &r1));
    cr_assert_lt(rnnc_fixture_max_err(rnnc_rnn_state(sl, 0), r1.outputs[1]), 1e-15);
    OK(call(sl, x2, NULL, NULL, false, &r2));
    OK(call(whole, x8, NULL, NULL, false, &rw));
    /* Two stateful calls == one call over the whole sequence. */
    cr_assert_lt(rnnc_fixture_max_err(r2.outputs[0], rw.outputs[0]), 1e-14);
    cr_assert_lt(rnnc_fixture_max_err(r2.outputs[1], rw.outputs[1]), 1e-14);

    /* reset_state -> zeros, so the next call equals a fresh one. */
    OK(rnnc_rnn_reset_state(sl));
    for (size_t i = 0; i < stored->numel; i++)
        cr_assert_eq(rnnc_f64(stored)[i], 0.0);
    rnnc_layer *fresh = make_rnn(&c, 13);
    OK(call(sl, x2, NULL, NULL, false, &r2));
    OK(call(fresh, x2, NULL, NULL, false, &rf));
    cr_assert_lt(rnnc_fixture_max_err(r2.outputs[0], rf.outputs[0]), 1e-15);

    /* reset_state to given values == that initial state. */
    rnnc_tensor *h0 = ctx_uniform(RNNC_F64, RNNC_SHAPE(3, 3), 15, -1, 1);
    const rnnc_tensor *vals[1] = {h0};
    OK(rnnc_rnn_reset_state_to(sl, vals, 1));
    OK(call(sl, x1, NULL, NULL, false, &r1));
    OK(call(fresh, x1, h0, NULL, false, &rf));
    cr_assert_lt(rnnc_fixture_max_err(r1.outputs[0], rf.outputs[0]), 1e-15);

    /* An explicit initial state wins; the stored state is overwritten after. */
    OK(call(sl, x2, h0, NULL, false, &r2));
    OK(call(fresh, x2, h0, NULL, false, &rf));
    cr_assert_lt(rnnc_fixture_max_err(r2.outputs[0], rf.outputs[0]), 1e-15);
    cr_assert_lt(rnnc_fixture_max_err(rnnc_rnn_state(sl, 0), r2.outputs[1]), 1e-15);

    /* Batch-size mismatch fails and names both sizes. */
    rnnc_tensor *xb = ctx_uniform(RNNC_F64, RNNC_SHAPE(2, 4, 2), 16, -1, 1);
    cr_assert_eq(call(sl, xb, NULL, NULL, false, &r1), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "batch size 3"), "%s", rnnc_last_error());
    /* Wrong values for reset_state_to. */
    rnnc_tensor *bad = ctx_uniform(RNNC_F64, RNNC_SHAPE(2, 3), 17, -1, 1);
    const rnnc_tensor *badv[1] = {bad};
    cr_assert_eq(rnnc_rnn_reset_state_to(sl, badv, 1), RNNC_E_SHAPE);
    cr_assert_eq(rnnc_rnn_reset_state_to(fresh, vals, 1), RNNC_E_STATE);
    /* reset_state on a non-stateful layer is a no-op (Keras). */
    OK(rnnc_rnn_reset_state(fresh));
    rnnc_layer_destroy(sl);
    rnnc_layer_destroy(whole);
    rnnc_layer_destroy(fresh);
}

Test(rnn, stateful_needs_static_batch)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = 3;
    rnnc_layer *cell, *l;
    OK(rnnc_gru_cell_create(&o, &cell));
    rnnc_rnn_options ro = rnnc_rnn_options_default();
    ro.stateful = true;
    OK(rnnc_rnn_create(cell, &ro, NULL, &l));
    rnnc_shape in = RNNC_SHAPE(-1, 5, 2);
    cr_assert_eq(rnnc_layer_build(l, &in), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "static batch size"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
}

Test(rnn, errors_name_what_and_where)
{
    cfg c = {.B = 2, .T = 4, .F = 3, .U = 5, .dt = RNNC_F32, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    rnnc_layer *l = make_rnn(&c, 18);
    rnnc_call_result res;
    rnnc_tensor *x2d = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 3), 1, -1, 1);
    cr_assert_eq(call(l, x2d, NULL, NULL, false, &res), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "rank 3") && strstr(rnnc_last_error(), "ndim=2"), "%s",
              rnnc_last_error());
    rnnc_tensor *xf = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 7), 1, -1, 1);
    cr_assert_eq(call(l, xf, NULL, NULL, false, &res), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "3 input features"), "%s", rnnc_last_error());
    rnnc_tensor *x = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4, 3), 1, -1, 1);
    rnnc_tensor *hbad = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 4), 1, -1, 1);
    cr_assert_eq(call(l, x, hbad, NULL, false, &res), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "initial_state[0]"), "%s", rnnc_last_error());
    uint8_t mv[6] = {1, 1, 1, 1, 1, 1};
    rnnc_tensor *mbad = ctx_mask(2, 3, mv);
    cr_assert_eq(call(l, x, NULL, mbad, false, &res), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "mask"), "%s", rnnc_last_error());
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = 3;
    a.inputs[0] = x;
    a.inputs[1] = a.inputs[2] = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 5), 1, -1, 1);
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &res), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "1 tensor"), "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
}

Test(rnn, converts_input_dtype_and_numeric_mask)
{
    cfg c = {.B = 2, .T = 3, .F = 2, .U = 2, .dt = RNNC_F64, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    c.ro.return_sequences = true;
    rnnc_layer *l = make_rnn(&c, 19);
    rnnc_tensor *x32 = ctx_uniform(RNNC_F32, RNNC_SHAPE(2, 3, 2), 2, -1, 1), *x64;
    OK(rnnc_ctx_tensor(cx, RNNC_F64, &x32->shape, &x64));
    OK(rnnc_tensor_copy(x64, x32));
    rnnc_tensor *mf;
    rnnc_shape ms = RNNC_SHAPE(2, 3);
    OK(rnnc_ctx_tensor(cx, RNNC_F32, &ms, &mf));
    const float mvals[6] = {1, 0, 2.5f, 0, 1, 1};
    memcpy(mf->data, mvals, sizeof mvals);
    const uint8_t mu[6] = {1, 0, 1, 0, 1, 1};
    rnnc_call_result a, b;
    OK(call(l, x32, NULL, mf, false, &a));
    OK(call(l, x64, NULL, ctx_mask(2, 3, mu), false, &b));
    cr_assert_eq(a.outputs[0]->dtype, RNNC_F64);
    cr_assert_lt(rnnc_fixture_max_err(a.outputs[0], b.outputs[0]), 1e-15);
    rnnc_layer_destroy(l);
}

Test(rnn, plain_rnn_config_has_cell)
{
    cfg c = {.B = 2, .T = 3, .F = 2, .U = 2, .dt = RNNC_F32, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    c.ro.go_backwards = true;
    rnnc_layer *l = make_rnn(&c, 20);
    rnnc_cfg *conf;
    OK(rnnc_layer_get_config(l, &conf));
    const char *keys[] = {"name", "trainable", "dtype", "return_sequences", "return_state",
                          "go_backwards", "stateful", "unroll", "zero_output_for_mask", "cell"};
    cr_assert_eq(conf->n, sizeof keys / sizeof keys[0]);
    for (size_t i = 0; i < conf->n; i++)
        cr_assert_str_eq(conf->keys[i], keys[i]);
    cr_assert_eq(rnnc_cfg_peek(conf, "go_backwards")->v.b, true);
    const rnnc_cfg *cell = rnnc_cfg_peek(conf, "cell");
    cr_assert_str_eq(rnnc_cfg_peek(cell, "class_name")->v.s, "GRUCell");
    cr_assert_str_eq(rnnc_cfg_peek(cell, "module")->v.s, "keras.layers");
    const rnnc_cfg *cc = rnnc_cfg_peek(cell, "config");
    cr_assert_eq(rnnc_cfg_peek(cc, "units")->v.i, 2);
    cr_assert_str_eq(rnnc_cfg_peek(cc, "name")->v.s, "gru_cell");
    cr_assert_not_null(rnnc_cfg_peek(cell, "build_config"));
    rnnc_cfg_destroy(conf);
    rnnc_layer_destroy(l);
}

Test(rnn, unroll_gives_the_same_numbers)
{
    cfg c = {.B = 6, .T = 6, .F = 3, .U = 4, .dt = RNNC_F64, .reset_after = true,
             .use_bias = true, .ro = rnnc_rnn_options_default()};
    c.ro.return_sequences = true;
    cfg cu = c;
    cu.ro.unroll = true;
    rnnc_layer *a = make_rnn(&c, 21), *b = make_rnn(&cu, 21);
    rnnc_tensor *x = ctx_uniform(RNNC_F64, RNNC_SHAPE(6, 6, 3), 5, -1, 1);
    rnnc_call_result ra, rb;
    OK(call(a, x, NULL, ctx_mask(6, 6, MASK6), false, &ra));
    OK(call(b, x, NULL, ctx_mask(6, 6, MASK6), false, &rb));
    cr_assert_lt(rnnc_fixture_max_err(ra.outputs[0], rb.outputs[0]), 1e-15);
    rnnc_layer_destroy(a);
    rnnc_layer_destroy(b);
}

/* ---- finite differences of the generic loop -------------------------------- */

typedef struct gc_user {
    rnnc_layer *l;
    const rnnc_tensor *mask;
} gc_user;

/* inputs: x, h0, then the layer's weights; output: concat(flat outputs). */
static rnnc_status gc_fn(rnnc_ctx *c, void *user, rnnc_tensor **in, rnnc_tensor **out)
{
    gc_user *u = user;
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = in[0];
    a.inputs[1] = in[1];
    a.mask = u->mask;
    RNNC_TRY(rnnc_layer_call(u->l, c, &a, &r));
    rnnc_tensor *flat[RNNC_MAX_IO];
    for (int i = 0; i < r.n_outputs; i++) {
        rnnc_shape s = RNNC_SHAPE((int64_t)r.outputs[i]->numel);
        RNNC_TRY(rnnc_reshape(c, r.outputs[i], &s, &flat[i]));
    }
    return rnnc_concat(c, flat, r.n_outputs, 0, out);
}

Test(rnn, generic_loop_gradients_match_finite_differences)
{
    static const uint8_t mask[4 * 5] = {1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    for (int v = 0; v < 4; v++) {
        cfg c = {.B = 4, .T = 5, .F = 3, .U = 3, .dt = RNNC_F64, .reset_after = v & 1,
                 .use_bias = true, .ro = rnnc_rnn_options_default()};
        c.ro.return_sequences = true;
        c.ro.return_state = true;
        c.ro.go_backwards = v & 2;
        c.ro.zero_output_for_mask = v == 3;
        rnnc_layer *l = make_rnn(&c, 30 + (uint64_t)v);
        rnnc_tensor *x, *h0, *m;
        rnnc_shape xs = RNNC_SHAPE(4, 5, 3), hs = RNNC_SHAPE(4, 3), ms = RNNC_SHAPE(4, 5);
        OK(rnnc_fixture_uniform(RNNC_F64, &xs, 40 + (uint64_t)v, -1, 1, &x));
        OK(rnnc_fixture_uniform(RNNC_F64, &hs, 50 + (uint64_t)v, -1, 1, &h0));
        OK(rnnc_tensor_create(RNNC_U8, &ms, &m));
        memcpy(m->data, mask, sizeof mask);
        OK(rnnc_tensor_set_requires_grad(x, true));
        OK(rnnc_tensor_set_requires_grad(h0, true));
        rnnc_weight *w[3];
        int n;
        OK(rnnc_layer_weights(l, w, 3, &n));
        rnnc_tensor *inputs[5] = {x, h0, w[0]->value, w[1]->value, w[2]->value};
        gc_user u = {l, m};
        rnnc_gradcheck_result gr;
        char msg[256];
        OK(rnnc_gradcheck_full(gc_fn, &u, inputs, 5, 1e-6, &gr));
        cr_assert_lt(gr.max_err, 1e-7, "variant %d: %s", v, rnnc_gradcheck_str(&gr, msg, sizeof msg));
        cr_assert_eq(gr.n_checked, x->numel + h0->numel + w[0]->value->numel +
                                       w[1]->value->numel + w[2]->value->numel);
        rnnc_tensor_destroy(x);
        rnnc_tensor_destroy(h0);
        rnnc_tensor_destroy(m);
        rnnc_layer_destroy(l);
    }
}
