/* test_bidirectional.c - the Bidirectional wrapper (layers/bidirectional.h)
 * around GRU.
 *
 * Oracle for the backward direction: a GRU with go_backwards = true over x
 * is, step for step, a forward GRU with the same weights over x reversed in
 * time (with the mask reversed too). So every output is checked against
 * plain forward GRUs run on reversed inputs and flipped here, not against
 * the wrapper's own pieces. Gradients: float64 central differences.
 * Configs: Keras 3.15's Bidirectional keys, names and forced values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/gradcheck.h"
#include "framework/random.h"
#include "framework/rnn.h"
#include "helpers/arena.h"
#include "io/json_writer.h"
#include "io/spec_reader.h"
#include "layers/bidirectional.h"
#include "layers/dense.h"
#include "layers/gru.h"
#include "layers/registry.h"

static rnnc_ctx *cx;
static rnnc_cfg *cfgs[16];
static int n_cfgs;

static void setup(void)
{
    cx = rnnc_ctx_create();
    cr_assert_not_null(cx);
    n_cfgs = 0;
    rnnc_layer_reset_names();
}

static void teardown(void)
{
    rnnc_ctx_destroy(cx);
    th_arena_free();
    for (int i = 0; i < n_cfgs; i++)
        rnnc_cfg_destroy(cfgs[i]);
}

TestSuite(bidirectional, .init = setup, .fini = teardown);

#define OK(expr)                                                                      \
    do {                                                                              \
        rnnc_status ok_s_ = (expr);                                                   \
        cr_assert_eq(ok_s_, RNNC_OK, "%s -> %s: %s", #expr, rnnc_status_str(ok_s_), \
                     rnnc_last_error());                                              \
    } while (0)

#define FAILS(expr, code, needle)                                                          \
    do {                                                                                   \
        rnnc_status f_s_ = (expr);                                                         \
        cr_expect_eq(f_s_, (code), "%s -> %s (%s), want %s", #expr, rnnc_status_str(f_s_), \
                     rnnc_last_error(), rnnc_status_str(code));                            \
        cr_expect(strstr(rnnc_last_error(), (needle)) != NULL,                             \
                  "message \"%s\" does not mention \"%s\"", rnnc_last_error(), (needle));  \
    } while (0)

static rnnc_cfg *J(const char *json)
{
    rnnc_cfg *c;
    OK(rnnc_spec_read_string(json, strlen(json), "<test>", &c));
    cr_assert_lt(n_cfgs, 16);
    cfgs[n_cfgs++] = c;
    return c;
}

enum { B = 2, T = 4, F = 3, U = 2 };

static rnnc_gru_options gru_opts(bool seqs, bool state, bool backwards)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = U;
    o.dtype = RNNC_F64;
    o.return_sequences = seqs;
    o.return_state = state;
    o.go_backwards = backwards;
    o.has_seed = true;
    o.seed = 5;
    return o;
}

/* A wrapped GRU (built for (B, T, F)) with random weights of its own. */
static rnnc_layer *make_bidi(bool seqs, bool state, rnnc_merge_mode mode)
{
    rnnc_gru_options o = gru_opts(seqs, state, false);
    o.name = "gru";
    rnnc_layer *g, *bi;
    OK(rnnc_gru_create(&o, &g));
    OK(rnnc_bidirectional_create(g, mode, NULL, NULL, &bi));
    th_own(bi);
    OK(rnnc_layer_build(bi, th_shp(RNNC_SHAPE(B, T, F))));
    /* non-trivial biases too (the default is zeros) */
    rnnc_weight *w[8];
    int n;
    OK(rnnc_layer_weights(bi, w, 8, &n));
    for (int i = 0; i < n; i++) {
        rnnc_rng r;
        rnnc_rng_init(&r, 100 + (uint64_t)i);
        rnnc_rng_uniform(&r, w[i]->value->data, w[i]->value->numel);
        for (size_t k = 0; k < w[i]->value->numel; k++)
            rnnc_f64(w[i]->value)[k] = rnnc_f64(w[i]->value)[k] - 0.5;
    }
    return bi;
}

/* A plain forward GRU (zero_output_for_mask as asked) with the weights of
 * one direction of bi (0 forward, 1 backward). */
static rnnc_layer *direction_oracle(rnnc_layer *bi, int which, bool seqs, bool zero_mask)
{
    rnnc_gru_options o = gru_opts(seqs, true, false);
    o.zero_output_for_mask = zero_mask;
    rnnc_layer *g;
    OK(rnnc_gru_create(&o, &g));
    th_own(g);
    OK(rnnc_layer_build(g, th_shp(RNNC_SHAPE(B, T, F))));
    rnnc_weight *src[4], *dst[4];
    int ns, nd;
    OK(rnnc_layer_weights(bi->children[which], src, 4, &ns));
    OK(rnnc_layer_weights(g, dst, 4, &nd));
    cr_assert_eq(ns, nd);
    for (int i = 0; i < ns; i++)
        OK(rnnc_tensor_copy(dst[i]->value, src[i]->value));
    return g;
}

/* x (B, T, C) reversed along time. */
static rnnc_tensor *time_reversed(const rnnc_tensor *x)
{
    rnnc_tensor *r = th_leaf(x->dtype, x->shape, NULL, false);
    int64_t t = x->shape.dim[1], c = x->shape.ndim > 2 ? x->shape.dim[2] : 1;
    for (int64_t b = 0; b < x->shape.dim[0]; b++)
        for (int64_t k = 0; k < t; k++)
            for (int64_t j = 0; j < c; j++)
                rnnc_tensor_set(r, (size_t)((b * t + k) * c + j), rnnc_tensor_get(x, (size_t)((b * t + (t - 1 - k)) * c + j)));
    return r;
}

static rnnc_call_result run(rnnc_layer *l, rnnc_tensor *x, const rnnc_tensor *mask, rnnc_tensor *const *states,
                            int n_states)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1 + n_states;
    a.inputs[0] = x;
    for (int i = 0; i < n_states; i++)
        a.inputs[1 + i] = states[i];
    a.mask = mask;
    OK(rnnc_layer_call(l, cx, &a, &r));
    return r;
}

static double at3(const rnnc_tensor *t, int64_t b, int64_t k, int64_t j)
{
    return rnnc_tensor_get(t, (size_t)((b * t->shape.dim[1] + k) * t->shape.dim[2] + j));
}

Test(bidirectional, builds_forward_and_backward_copies)
{
    rnnc_layer *bi = make_bidi(true, false, RNNC_MERGE_CONCAT);
    rnnc_layer *f = bi->children[0], *b = bi->children[1];
    cr_expect_str_eq(bi->name, "bidirectional");
    cr_expect_str_eq(bi->child_keys[0], "forward_layer");
    cr_expect_str_eq(bi->child_keys[1], "backward_layer");
    cr_expect_str_eq(f->name, "forward_gru");
    cr_expect_str_eq(b->name, "backward_gru");
    cr_expect_not(rnnc_rnn_of(f)->opt.go_backwards);
    cr_expect(rnnc_rnn_of(b)->opt.go_backwards);
    cr_expect(rnnc_rnn_of(f)->opt.zero_output_for_mask, "forced to return_sequences");
    cr_expect(rnnc_rnn_of(b)->opt.zero_output_for_mask);
    rnnc_weight *w[8];
    int n;
    OK(rnnc_layer_weights(bi, w, 8, &n));
    cr_assert_eq(n, 6, "forward kernel, recurrent_kernel, bias, then backward's");
    const char *names[3] = {"kernel", "recurrent_kernel", "bias"};
    for (int i = 0; i < 6; i++)
        cr_expect_str_eq(w[i]->name, names[i % 3]);
    cr_expect(w[0]->value != w[3]->value);
    rnnc_layer *no_seq = make_bidi(false, false, RNNC_MERGE_CONCAT);
    cr_expect_not(rnnc_rnn_of(no_seq->children[0])->opt.zero_output_for_mask, "forced to return_sequences = False");
}

Test(bidirectional, concat_matches_forward_and_reversed_input_oracles_with_mask)
{
    rnnc_layer *bi = make_bidi(true, false, RNNC_MERGE_CONCAT);
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(B, T, F), 1, -1, 1, false);
    /* right-padded: row 0 has 3 steps, row 1 has 2 */
    rnnc_tensor *mask = th_leaf(RNNC_U8, RNNC_SHAPE(B, T), (const double[]){1, 1, 1, 0, 1, 1, 0, 0}, false);
    rnnc_call_result r = run(bi, x, mask, NULL, 0);
    cr_assert_eq(r.n_outputs, 1);
    rnnc_tensor *y = r.outputs[0];
    cr_assert(rnnc_shape_eq(&y->shape, th_shp(RNNC_SHAPE(B, T, 2 * U))));
    cr_expect_eq(r.mask, mask, "return_sequences: the mask passes on");
    rnnc_layer *fo = direction_oracle(bi, 0, true, true), *bo = direction_oracle(bi, 1, true, true);
    rnnc_tensor *yf = run(fo, x, mask, NULL, 0).outputs[0];
    rnnc_tensor *yb = run(bo, time_reversed(x), time_reversed(mask), NULL, 0).outputs[0];
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < U; j++) {
                cr_expect(fabs(at3(y, b, t, j) - at3(yf, b, t, j)) < 1e-12, "forward b%lld t%lld", (long long)b,
                          (long long)t);
                /* the backward output of input step t was produced at processing step T-1-t */
                cr_expect(fabs(at3(y, b, t, U + j) - at3(yb, b, T - 1 - t, j)) < 1e-12, "backward b%lld t%lld",
                          (long long)b, (long long)t);
            }
    /* masked steps are zeros in both halves (zero_output_for_mask forced) */
    for (int64_t j = 0; j < 2 * U; j++) {
        cr_expect_eq(at3(y, 0, 3, j), 0.0);
        cr_expect_eq(at3(y, 1, 2, j), 0.0);
        cr_expect_eq(at3(y, 1, 3, j), 0.0);
    }
}

Test(bidirectional, merge_modes_combine_the_two_directions)
{
    rnnc_layer *cat = make_bidi(true, false, RNNC_MERGE_CONCAT);
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(B, T, F), 2, -1, 1, false);
    rnnc_tensor *y = run(cat, x, NULL, NULL, 0).outputs[0];
    const rnnc_merge_mode modes[] = {RNNC_MERGE_SUM, RNNC_MERGE_MUL, RNNC_MERGE_AVE, RNNC_MERGE_NONE};
    for (int m = 0; m < 4; m++) {
        rnnc_layer *bi = make_bidi(true, false, modes[m]); /* same seeds -> same weights as cat */
        rnnc_call_result r = run(bi, x, NULL, NULL, 0);
        cr_assert_eq(r.n_outputs, modes[m] == RNNC_MERGE_NONE ? 2 : 1);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t j = 0; j < U; j++) {
                    double f = at3(y, b, t, j), k = at3(y, b, t, U + j), want[3] = {f + k, f * k, (f + k) / 2};
                    if (modes[m] == RNNC_MERGE_NONE) {
                        cr_expect(fabs(at3(r.outputs[0], b, t, j) - f) < 1e-12);
                        cr_expect(fabs(at3(r.outputs[1], b, t, j) - k) < 1e-12);
                    } else {
                        cr_expect(fabs(at3(r.outputs[0], b, t, j) - want[m]) < 1e-12, "mode %d", m);
                    }
                }
    }
}

Test(bidirectional, states_and_last_outputs)
{
    rnnc_layer *bi = make_bidi(false, true, RNNC_MERGE_CONCAT);
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(B, T, F), 3, -1, 1, false);
    rnnc_tensor *mask = th_leaf(RNNC_U8, RNNC_SHAPE(B, T), (const double[]){1, 1, 1, 1, 1, 1, 0, 0}, false);
    rnnc_call_result r = run(bi, x, mask, NULL, 0);
    cr_assert_eq(r.n_outputs, 3, "output, forward state, backward state");
    cr_expect_null(r.mask, "no return_sequences: no mask");
    rnnc_layer *fo = direction_oracle(bi, 0, false, false), *bo = direction_oracle(bi, 1, false, false);
    rnnc_call_result rf = run(fo, x, mask, NULL, 0);
    rnnc_call_result rb = run(bo, time_reversed(x), time_reversed(mask), NULL, 0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < U; j++) {
            double f = rnnc_tensor_get(rf.outputs[0], (size_t)(b * U + j));
            double k = rnnc_tensor_get(rb.outputs[0], (size_t)(b * U + j));
            cr_expect(fabs(rnnc_tensor_get(r.outputs[0], (size_t)(b * 2 * U + j)) - f) < 1e-12);
            cr_expect(fabs(rnnc_tensor_get(r.outputs[0], (size_t)(b * 2 * U + U + j)) - k) < 1e-12);
            cr_expect(fabs(rnnc_tensor_get(r.outputs[1], (size_t)(b * U + j)) -
                           rnnc_tensor_get(rf.outputs[1], (size_t)(b * U + j))) < 1e-12);
            cr_expect(fabs(rnnc_tensor_get(r.outputs[2], (size_t)(b * U + j)) -
                           rnnc_tensor_get(rb.outputs[1], (size_t)(b * U + j))) < 1e-12);
        }
    rnnc_output_spec spec;
    OK(rnnc_layer_output_spec(bi, th_shp(RNNC_SHAPE(-1, 7, F)), &spec));
    cr_assert_eq(spec.n_outputs, 3);
    cr_expect(rnnc_shape_eq(&spec.shapes[0], th_shp(RNNC_SHAPE(-1, 2 * U))));
    cr_expect(rnnc_shape_eq(&spec.shapes[2], th_shp(RNNC_SHAPE(-1, U))));
    rnnc_layer *none = make_bidi(true, true, RNNC_MERGE_NONE);
    OK(rnnc_layer_output_spec(none, th_shp(RNNC_SHAPE(-1, 7, F)), &spec));
    cr_assert_eq(spec.n_outputs, 4);
    cr_expect(rnnc_shape_eq(&spec.shapes[1], th_shp(RNNC_SHAPE(-1, 7, U))));
    cr_expect(rnnc_shape_eq(&spec.shapes[3], th_shp(RNNC_SHAPE(-1, U))));
}

Test(bidirectional, initial_states_split_in_halves)
{
    rnnc_layer *bi = make_bidi(true, false, RNNC_MERGE_CONCAT);
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(B, T, F), 4, -1, 1, false);
    rnnc_tensor *h0[2] = {th_rand_leaf(RNNC_SHAPE(B, U), 5, -1, 1, false), th_rand_leaf(RNNC_SHAPE(B, U), 6, -1, 1, false)};
    rnnc_tensor *y = run(bi, x, NULL, h0, 2).outputs[0];
    rnnc_layer *fo = direction_oracle(bi, 0, true, true), *bo = direction_oracle(bi, 1, true, true);
    rnnc_tensor *yf = run(fo, x, NULL, &h0[0], 1).outputs[0];
    rnnc_tensor *yb = run(bo, time_reversed(x), NULL, &h0[1], 1).outputs[0];
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t j = 0; j < U; j++) {
                cr_expect(fabs(at3(y, b, t, j) - at3(yf, b, t, j)) < 1e-12);
                cr_expect(fabs(at3(y, b, t, U + j) - at3(yb, b, T - 1 - t, j)) < 1e-12);
            }
}

typedef struct {
    rnnc_layer *layer;
    const rnnc_tensor *mask;
} grad_user;

static rnnc_status bidi_fn(rnnc_ctx *c, void *user, rnnc_tensor **in, rnnc_tensor **out)
{
    grad_user *u = user;
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = in[0];
    a.mask = u->mask;
    RNNC_TRY(rnnc_layer_call(u->layer, c, &a, &r));
    *out = r.outputs[0];
    return RNNC_OK;
}

Test(bidirectional, gradients_match_finite_differences)
{
    rnnc_layer *bi = make_bidi(true, false, RNNC_MERGE_CONCAT);
    rnnc_tensor *x = th_rand_leaf(RNNC_SHAPE(B, T, F), 7, -1, 1, true);
    rnnc_tensor *mask = th_leaf(RNNC_U8, RNNC_SHAPE(B, T), (const double[]){1, 1, 1, 0, 1, 1, 0, 0}, false);
    rnnc_weight *w[8];
    int n;
    OK(rnnc_layer_weights(bi, w, 8, &n));
    rnnc_tensor *in[7] = {x};
    for (int i = 0; i < 6; i++)
        in[1 + i] = w[i]->value;
    grad_user u = {bi, mask};
    rnnc_gradcheck_result res;
    char buf[256];
    OK(rnnc_gradcheck_full(bidi_fn, &u, in, 7, 1e-6, &res));
    cr_expect_lt(res.max_err, 1e-7, "%s", rnnc_gradcheck_str(&res, buf, sizeof buf));
    rnnc_layer *ave = make_bidi(false, false, RNNC_MERGE_AVE);
    OK(rnnc_layer_weights(ave, w, 8, &n));
    for (int i = 0; i < 6; i++)
        in[1 + i] = w[i]->value;
    grad_user u2 = {ave, NULL};
    OK(rnnc_gradcheck_full(bidi_fn, &u2, in, 7, 1e-6, &res));
    cr_expect_lt(res.max_err, 1e-7, "%s", rnnc_gradcheck_str(&res, buf, sizeof buf));
}

Test(bidirectional, config_round_trip)
{
    rnnc_layer *bi = make_bidi(true, false, RNNC_MERGE_SUM);
    rnnc_cfg *c;
    OK(rnnc_layer_get_config(bi, &c));
    const char *keys[] = {"name", "trainable", "dtype", "merge_mode", "layer", "backward_layer"};
    cr_assert_eq(c->n, 6);
    for (int i = 0; i < 6; i++)
        cr_expect_str_eq(c->keys[i], keys[i]);
    cr_expect_str_eq(rnnc_cfg_peek(c, "merge_mode")->v.s, "sum");
    const rnnc_cfg *fc = rnnc_cfg_peek(rnnc_cfg_peek(c, "layer"), "config");
    const rnnc_cfg *bc = rnnc_cfg_peek(rnnc_cfg_peek(c, "backward_layer"), "config");
    cr_expect_str_eq(rnnc_cfg_peek(fc, "name")->v.s, "forward_gru");
    cr_expect_str_eq(rnnc_cfg_peek(bc, "name")->v.s, "backward_gru");
    cr_expect_not(rnnc_cfg_peek(fc, "go_backwards")->v.b);
    cr_expect(rnnc_cfg_peek(bc, "go_backwards")->v.b);
    cr_expect(rnnc_cfg_peek(fc, "zero_output_for_mask")->v.b);
    cr_expect_str_eq(rnnc_cfg_peek(rnnc_cfg_peek(c, "layer"), "class_name")->v.s, "GRU");
    rnnc_cfg_destroy(c);
    /* registry round trip: same text, and built (build_config) */
    rnnc_cfg *a, *b;
    rnnc_layer *copy;
    char *ta, *tb;
    OK(rnnc_layer_serialize(bi, &a));
    OK(rnnc_layer_from_config(a, &copy));
    th_own(copy);
    OK(rnnc_layer_serialize(copy, &b));
    OK(rnnc_json_write(a, -1, &ta));
    OK(rnnc_json_write(b, -1, &tb));
    cr_expect_str_eq(tb, ta);
    cr_expect_str_eq(copy->children[0]->name, "forward_gru");
    cr_expect(copy->built);
    rnnc_weight *w[8];
    int n;
    OK(rnnc_layer_weights(copy, w, 8, &n));
    cr_expect_eq(n, 6);
    free(ta);
    free(tb);
    rnnc_cfg_destroy(a);
    rnnc_cfg_destroy(b);
    /* a Keras 2 style config with merge_mode null and no backward_layer */
    rnnc_layer *k2;
    OK(rnnc_layer_from_config(J("{\"class_name\": \"Bidirectional\", \"config\": {\"name\": \"bi\", \"merge_mode\": "
                                "null, \"layer\": {\"class_name\": \"GRU\", \"config\": {\"name\": \"g\", \"units\": 3, "
                                "\"return_sequences\": true}}}}"),
                              &k2));
    th_own(k2);
    cr_expect_eq(((rnnc_bidirectional *)k2)->merge_mode, RNNC_MERGE_NONE);
    cr_expect_str_eq(k2->name, "bi");
    cr_expect_str_eq(k2->children[1]->name, "backward_g");
}

Test(bidirectional, errors)
{
    rnnc_layer *l, *d, *g, *g2;
    rnnc_dense_options dop = rnnc_dense_options_default(2);
    OK(rnnc_dense_create(&dop, &d));
    FAILS(rnnc_bidirectional_create(d, RNNC_MERGE_CONCAT, NULL, NULL, &l), RNNC_E_ARG, "recurrent layer");
    rnnc_gru_options o = gru_opts(true, false, false);
    OK(rnnc_gru_create(&o, &g));
    OK(rnnc_gru_create(&o, &g2)); /* go_backwards = false too */
    FAILS(rnnc_bidirectional_create(g, RNNC_MERGE_CONCAT, g2, NULL, &l), RNNC_E_ARG, "different go_backwards");
    rnnc_gru_options ob = gru_opts(false, false, true);
    OK(rnnc_gru_create(&o, &g));
    OK(rnnc_gru_create(&ob, &g2));
    FAILS(rnnc_bidirectional_create(g, RNNC_MERGE_CONCAT, g2, NULL, &l), RNNC_E_ARG, "return_sequences");
    rnnc_layer *bi = make_bidi(true, false, RNNC_MERGE_CONCAT);
    FAILS(rnnc_bidirectional_reset_state(bi), RNNC_E_STATE, "stateful");
    const char *gru = "{\"class_name\": \"GRU\", \"config\": {\"units\": 2}}";
    char buf[512];
    snprintf(buf, sizeof buf, "{\"class_name\": \"Bidirectional\", \"config\": {\"merge_mode\": \"avg\", \"layer\": %s}}", gru);
    FAILS(rnnc_layer_from_config(J(buf), &l), RNNC_E_ARG, "merge_mode");
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Bidirectional\", \"config\": {}}"), &l), RNNC_E_ARG, "'layer'");
    snprintf(buf, sizeof buf, "{\"class_name\": \"Bidirectional\", \"config\": {\"layer\": %s, \"merge_mod\": \"sum\"}}", gru);
    FAILS(rnnc_layer_from_config(J(buf), &l), RNNC_E_ARG, "did you mean 'merge_mode'");
    FAILS(rnnc_layer_from_config(J("{\"class_name\": \"Bidirectional\", \"config\": {\"layer\": {\"class_name\": "
                                   "\"Dense\", \"config\": {\"units\": 2}}}}"),
                                 &l),
          RNNC_E_ARG, "recurrent layer");
}
