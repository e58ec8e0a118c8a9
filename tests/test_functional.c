/* test_functional.c - the Functional model: the layer graph
 * (framework/graph.h), its config loader (io/functional_loader.h), the
 * merge layers (layers/merge.h) and Functional serialization
 * (rnnc_model_serialize).
 *
 * Oracles: Keras 3.15.1's own predictions for real Functional models
 * (fixtures from tests/gen_functional_fixtures.py: two inputs, a shared GRU
 * and a shared Dense, a GRU state feeding initial_state, masks through
 * merge layers, every merge layer), the same models in the Keras 2 config
 * form, a real Keras 2.4 file from the interop corpus, Keras's own JSON for
 * the config round trip, hand-computed merge results with masks, the same
 * layers called by hand for hand-built graphs, and finite differences. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/gradcheck.h"
#include "framework/graph.h"
#include "framework/model.h"
#include "framework/ops.h"
#include "framework/rnn.h"
#include "helpers/fixture.h"
#include "io/functional_loader.h"
#include "io/json_writer.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "layers/dense.h"
#include "layers/gru.h"
#include "layers/keras_ops.h"
#include "layers/masking.h"
#include "layers/merge.h"

#define FX RNNC_FIXTURES "/functional"

/* ---- helpers ------------------------------------------------------------ */

static rnnc_cfg *read_json(const char *path)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_file(path, &c), RNNC_OK, "%s", rnnc_last_error());
    return c;
}

static rnnc_cfg *parse(const char *text)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, strlen(text), "test.json", &c), RNNC_OK, "%s", rnnc_last_error());
    return c;
}

static rnnc_model *load_model(const char *json_path)
{
    rnnc_cfg *c = read_json(json_path);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_from_config(c, &m), RNNC_OK, "%s: %s", json_path, rnnc_last_error());
    rnnc_cfg_destroy(c);
    cr_assert_not_null(m->graph);
    return m;
}

/* Copies weights/<layer>/<i> into every layer's weights (Keras order) and
 * checks that the file has exactly as many as the layer. */
static void set_weights(rnnc_model *m, const char *h5)
{
    rnnc_fixture *f = NULL;
    cr_assert_eq(rnnc_fixture_open(h5, &f), RNNC_OK, "%s", rnnc_last_error());
    for (int li = 0; li < m->n_layers; li++) {
        rnnc_layer *l = m->layers[li];
        rnnc_weight *w[16];
        int n = 0;
        cr_assert_eq(rnnc_layer_weights(l, w, 16, &n), RNNC_OK);
        for (int i = 0; i < n; i++) {
            char name[256];
            rnnc_tensor *t = NULL;
            snprintf(name, sizeof name, "weights/%s/%d", l->name, i);
            cr_assert(rnnc_fixture_has(f, name), "%s: no %s", h5, name);
            cr_assert_eq(rnnc_fixture_read(f, name, l->dtype, &t), RNNC_OK, "%s", rnnc_last_error());
            cr_assert(rnnc_shape_eq(&t->shape, &w[i]->value->shape), "%s: shape mismatch for %s", h5, name);
            cr_assert_eq(rnnc_tensor_copy(w[i]->value, t), RNNC_OK);
            rnnc_tensor_destroy(t);
        }
        char extra[256];
        snprintf(extra, sizeof extra, "weights/%s/%d", l->name, n);
        cr_assert(!rnnc_fixture_has(f, extra), "%s: layer %s has %d weights, the file more", h5, l->name, n);
    }
    rnnc_fixture_close(f);
}

typedef struct io_set {
    int n_in, n_out;
    rnnc_tensor *x[RNNC_MAX_IO], *y[RNNC_MAX_IO];
} io_set;

/* x<i> in the model's input dtypes (int32 token ids, float32), y<i> float32. */
static void read_io(const char *h5, const rnnc_model *m, io_set *io)
{
    rnnc_fixture *f = NULL;
    int64_t v;
    memset(io, 0, sizeof *io);
    cr_assert_eq(rnnc_fixture_open(h5, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_attr_int(f, "n_inputs", &v), RNNC_OK);
    io->n_in = (int)v;
    cr_assert_eq(rnnc_fixture_attr_int(f, "n_outputs", &v), RNNC_OK);
    io->n_out = (int)v;
    for (int i = 0; i < io->n_in; i++) {
        char n[16];
        snprintf(n, sizeof n, "x%d", i);
        rnnc_dtype dt = m && m->graph ? rnnc_graph_input_dtype(m->graph, i) : RNNC_F32;
        cr_assert_eq(rnnc_fixture_read(f, n, dt, &io->x[i]), RNNC_OK, "%s", rnnc_last_error());
    }
    for (int i = 0; i < io->n_out; i++) {
        char n[16];
        snprintf(n, sizeof n, "y%d", i);
        cr_assert_eq(rnnc_fixture_read(f, n, RNNC_F32, &io->y[i]), RNNC_OK, "%s", rnnc_last_error());
    }
    rnnc_fixture_close(f);
}

static void free_io(io_set *io)
{
    for (int i = 0; i < RNNC_MAX_IO; i++) {
        rnnc_tensor_destroy(io->x[i]);
        rnnc_tensor_destroy(io->y[i]);
    }
}

/* Predicts (training off, no tape) and compares every output to Keras's. */
static void expect_outputs(rnnc_model *m, const io_set *io, const char *what)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = io->n_in;
    for (int i = 0; i < io->n_in; i++)
        a.inputs[i] = io->x[i];
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "%s: %s", what, rnnc_last_error());
    cr_assert_eq(r.n_outputs, io->n_out, "%s: %d outputs, Keras has %d", what, r.n_outputs, io->n_out);
    for (int i = 0; i < io->n_out; i++) {
        double err = rnnc_fixture_max_err(r.outputs[i], io->y[i]);
        cr_expect_leq(err, 1e-5, "%s: output %d differs from Keras by %g", what, i, err);
    }
    rnnc_ctx_destroy(cx);
}

static void check_case(const char *json, const char *h5)
{
    io_set io;
    rnnc_model *m = load_model(json);
    set_weights(m, h5);
    read_io(h5, m, &io);
    expect_outputs(m, &io, json);
    free_io(&io);
    rnnc_model_destroy(m);
}

static char *json_of(const rnnc_cfg *c)
{
    char *s = NULL;
    cr_assert_eq(rnnc_json_write(c, -1, &s), RNNC_OK, "%s", rnnc_last_error());
    return s;
}

/* Text of two JSON strings, with where they first differ on failure. */
static void expect_same_text(const char *got, const char *want, const char *what)
{
    size_t i = 0;
    while (got[i] && got[i] == want[i])
        i++;
    if (got[i] == want[i])
        return;
    size_t from = i > 60 ? i - 60 : 0;
    cr_expect_fail("%s: JSON differs at byte %zu:\n got: ...%.140s\nwant: ...%.140s", what, i, got + from, want + from);
}

/* ---- Keras 3 configs against Keras's predictions ------------------------- */

Test(functional_keras, two_inputs_concatenate_dense) { check_case(FX "/two_inputs.json", FX "/two_inputs.h5"); }
Test(functional_keras, shared_gru_and_shared_dense) { check_case(FX "/shared_gru.json", FX "/shared_gru.h5"); }
Test(functional_keras, gru_state_feeds_initial_state) { check_case(FX "/state_chain.json", FX "/state_chain.h5"); }
Test(functional_keras, masks_through_merge_layers) { check_case(FX "/masked.json", FX "/masked.h5"); }
Test(functional_keras, every_merge_layer) { check_case(FX "/merge_ops.json", FX "/merge_ops.h5"); }
Test(functional_keras, embedding_mask_zero_bidirectional) { check_case(FX "/embed_bidi.json", FX "/embed_bidi.h5"); }

/* ---- Keras 2 configs ----------------------------------------------------- */

Test(functional_keras2, two_inputs) { check_case(FX "/two_inputs_k2.json", FX "/two_inputs.h5"); }
Test(functional_keras2, shared_gru) { check_case(FX "/shared_gru_k2.json", FX "/shared_gru.h5"); }
Test(functional_keras2, initial_state_in_kwargs) { check_case(FX "/state_chain_k2.json", FX "/state_chain.h5"); }

/* A real tf.keras 2.4 file: its model_config, its weights, its output. */
Test(functional_keras2, heitao_gru_relu_h5)
{
    const char *dir = RNNC_SHARED "/interop/heitao-gru-relu";
    char path[1024], in_path[1024], exp_path[1024];
    snprintf(path, sizeof path, "%s/gru.h5", dir);
    snprintf(in_path, sizeof in_path, "%s/input.h5", dir);
    snprintf(exp_path, sizeof exp_path, "%s/expected.h5", dir);
    if (access(path, R_OK) != 0)
        cr_skip_test("interop corpus not present at %s", dir);
    rnnc_fixture *f = NULL;
    char *text = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_attr_string(f, "model_config", &text), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fixture_close(f);
    rnnc_cfg *c = parse(text);
    free(text);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_from_config(c, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    cr_assert_eq(m->n_layers, 4);
    cr_assert_str_eq(m->layers[0]->name, "gru_1");
    cr_assert_str_eq(m->input_name, "input_2");
    cr_assert_eq(rnnc_model_load_weights(m, path), RNNC_OK, "%s", rnnc_last_error());
    io_set io;
    memset(&io, 0, sizeof io);
    io.n_in = io.n_out = 1;
    cr_assert_eq(rnnc_fixture_open(in_path, &f), RNNC_OK);
    cr_assert_eq(rnnc_fixture_read(f, "x", RNNC_F32, &io.x[0]), RNNC_OK);
    rnnc_fixture_close(f);
    cr_assert_eq(rnnc_fixture_open(exp_path, &f), RNNC_OK);
    cr_assert_eq(rnnc_fixture_read(f, "y", RNNC_F32, &io.y[0]), RNNC_OK);
    rnnc_fixture_close(f);
    expect_outputs(m, &io, "heitao-gru-relu");
    free_io(&io);
    rnnc_model_destroy(m);
}

/* Keras's own weights file (model.save_weights) loads into the graph's
 * layers by name: the operations Keras records for masks have no weights
 * and are not layers. */
static void check_weights_file(const char *name)
{
    char json[512], h5[512], wf[512];
    snprintf(json, sizeof json, "%s/%s.json", FX, name);
    snprintf(h5, sizeof h5, "%s/%s.h5", FX, name);
    snprintf(wf, sizeof wf, "%s/%s.weights.h5", FX, name);
    rnnc_model *m = load_model(json);
    cr_assert_eq(rnnc_model_load_weights(m, wf), RNNC_OK, "%s", rnnc_last_error());
    io_set io;
    read_io(h5, m, &io);
    expect_outputs(m, &io, wf);
    free_io(&io);
    rnnc_model_destroy(m);
}

Test(functional_keras, keras3_weights_file_shared_gru) { check_weights_file("shared_gru"); }
Test(functional_keras, keras3_weights_file_masked) { check_weights_file("masked"); }

/* ---- config round trip ---------------------------------------------------- */

/* rnnc's Functional config of a loaded Keras model is Keras's own config;
 * loading rnnc's output again gives the same predictions and the same text. */
static void round_trip(const char *name)
{
    char json[512], h5[512];
    snprintf(json, sizeof json, "%s/%s.json", FX, name);
    snprintf(h5, sizeof h5, "%s/%s.h5", FX, name);
    rnnc_cfg *keras = read_json(json);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_from_config(keras, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *mine = NULL;
    cr_assert_eq(rnnc_model_serialize(m, &mine), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_str_eq(rnnc_cfg_peek(mine, "class_name")->v.s, "Functional");
    char *want = json_of(rnnc_cfg_peek(keras, "config"));
    char *got = json_of(rnnc_cfg_peek(mine, "config"));
    expect_same_text(got, want, name);
    char *text1 = json_of(mine);
    rnnc_cfg *again = parse(text1);
    rnnc_model *m2 = NULL;
    cr_assert_eq(rnnc_functional_from_config(again, &m2), RNNC_OK, "%s", rnnc_last_error());
    set_weights(m2, h5);
    io_set io;
    read_io(h5, m2, &io);
    expect_outputs(m2, &io, name);
    rnnc_cfg *mine2 = NULL;
    cr_assert_eq(rnnc_model_serialize(m2, &mine2), RNNC_OK, "%s", rnnc_last_error());
    char *text2 = json_of(mine2);
    expect_same_text(text2, text1, "second round");
    free(want);
    free(got);
    free(text1);
    free(text2);
    free_io(&io);
    rnnc_cfg_destroy(keras);
    rnnc_cfg_destroy(mine);
    rnnc_cfg_destroy(mine2);
    rnnc_cfg_destroy(again);
    rnnc_model_destroy(m);
    rnnc_model_destroy(m2);
}

Test(functional_config, round_trip_two_inputs) { round_trip("two_inputs"); }
Test(functional_config, round_trip_shared_gru) { round_trip("shared_gru"); }
Test(functional_config, round_trip_state_chain) { round_trip("state_chain"); }
Test(functional_config, round_trip_masked) { round_trip("masked"); }
Test(functional_config, round_trip_merge_ops) { round_trip("merge_ops"); }
Test(functional_config, round_trip_embed_bidi) { round_trip("embed_bidi"); }

/* A Keras 2 config is written back in Keras 3's form, which loads again. */
Test(functional_config, keras2_written_as_keras3)
{
    rnnc_model *m = load_model(FX "/state_chain_k2.json");
    rnnc_cfg *mine = NULL;
    cr_assert_eq(rnnc_model_serialize(m, &mine), RNNC_OK, "%s", rnnc_last_error());
    const rnnc_cfg *layers = rnnc_cfg_peek(rnnc_cfg_peek(mine, "config"), "layers");
    const rnnc_cfg *g2 = layers->items[2];
    cr_assert_str_eq(rnnc_cfg_peek(g2, "name")->v.s, "g2");
    const rnnc_cfg *node = rnnc_cfg_peek(g2, "inbound_nodes")->items[0];
    const rnnc_cfg *st = rnnc_cfg_peek(rnnc_cfg_peek(node, "kwargs"), "initial_state");
    cr_assert_not_null(st);
    const rnnc_cfg *hist = rnnc_cfg_peek(rnnc_cfg_peek(st, "config"), "keras_history");
    cr_assert_str_eq(hist->items[0]->v.s, "g1");
    cr_assert_eq(hist->items[2]->v.i, 1);
    char *text = json_of(mine);
    rnnc_cfg *again = parse(text);
    rnnc_model *m2 = NULL;
    cr_assert_eq(rnnc_functional_from_config(again, &m2), RNNC_OK, "%s", rnnc_last_error());
    set_weights(m2, FX "/state_chain.h5");
    io_set io;
    read_io(FX "/state_chain.h5", m2, &io);
    expect_outputs(m2, &io, "state_chain_k2 -> keras3");
    free_io(&io);
    free(text);
    rnnc_cfg_destroy(mine);
    rnnc_cfg_destroy(again);
    rnnc_model_destroy(m);
    rnnc_model_destroy(m2);
}

/* ---- the weights order: model.layers without InputLayers, shared once ----- */

static rnnc_layer *make_dense_f32(const char *name)
{
    rnnc_dense_options o = rnnc_dense_options_default(2);
    o.name = name;
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_dense_create(&o, &l), RNNC_OK);
    return l;
}

Test(functional_graph, layers_in_keras_order_shared_once)
{
    rnnc_model *m = load_model(FX "/shared_gru.json");
    cr_assert_eq(m->n_layers, 3);
    cr_assert_str_eq(m->layers[0]->name, "g");
    cr_assert_str_eq(m->layers[1]->name, "add");
    cr_assert_str_eq(m->layers[2]->name, "sd");
    rnnc_weight *w[16];
    int n = 0;
    cr_assert_eq(rnnc_model_weights(m, w, 16, &n), RNNC_OK);
    cr_assert_eq(n, 5); /* GRU kernel, recurrent_kernel, bias; Dense kernel, bias */
    cr_assert_eq(rnnc_graph_find_node(m->graph, "sd", 1), 6);
    cr_assert_eq(rnnc_graph_find_node(m->graph, "sd", 2), -1);
    cr_assert_eq(rnnc_graph_n_inputs(m->graph), 2);
    cr_assert_str_eq(rnnc_graph_input_name(m->graph, 1), "y");
    /* Layers cannot be appended to a Functional model (the refused layer is freed). */
    cr_assert_eq(rnnc_model_add(m, make_dense_f32("extra")), RNNC_E_STATE);
    cr_assert_eq(m->n_layers, 3);
    rnnc_model_destroy(m);
}

/* ---- hand-built graphs --------------------------------------------------- */

static rnnc_layer *make_gru(int units, bool seq, bool state, rnnc_dtype dt, const char *name)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = units;
    o.return_sequences = seq;
    o.return_state = state;
    o.dtype = dt;
    o.name = name;
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_gru_create(&o, &l), RNNC_OK, "%s", rnnc_last_error());
    return l;
}

static rnnc_layer *make_dense(int units, rnnc_dtype dt, const char *name)
{
    rnnc_dense_options o = rnnc_dense_options_default(units);
    o.dtype = dt;
    o.name = name;
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_dense_create(&o, &l), RNNC_OK, "%s", rnnc_last_error());
    return l;
}

static rnnc_graph_ref R(int node, int tensor)
{
    rnnc_graph_ref r = {node, tensor};
    return r;
}

/* a, b (B, 5, 3) -> shared GRU(4, return_state) -> shared Dense(3) on the
 * output of one call and the state of the other -> [Concatenate, Subtract,
 * the first call's state]. */
static rnnc_model *hand_model(rnnc_dtype dt)
{
    rnnc_graph *g = NULL;
    int a, b, n1, n2, n3, n4, n5, n6;
    rnnc_shape s = RNNC_SHAPE(-1, 5, 3);
    cr_assert_eq(rnnc_graph_create(&g), RNNC_OK);
    cr_assert_eq(rnnc_graph_add_input(g, "a", &s, dt, &a), RNNC_OK);
    cr_assert_eq(rnnc_graph_add_input(g, "b", &s, dt, &b), RNNC_OK);
    rnnc_layer *gru = make_gru(4, false, true, dt, "g");
    rnnc_layer *dense = make_dense(3, dt, "d");
    rnnc_layer *cat = NULL, *sub = NULL;
    cr_assert_eq(rnnc_concatenate_create(-1, "cat", dt, &cat), RNNC_OK);
    cr_assert_eq(rnnc_merge_create(RNNC_MERGE_OP_SUBTRACT, "sub", dt, &sub), RNNC_OK);
    rnnc_graph_call c = rnnc_graph_call_default(R(a, 0));
    cr_assert_eq(rnnc_graph_add_node(g, gru, &c, &n1), RNNC_OK, "%s", rnnc_last_error());
    c = rnnc_graph_call_default(R(b, 0));
    cr_assert_eq(rnnc_graph_add_node(g, gru, &c, &n2), RNNC_OK, "%s", rnnc_last_error());
    c = rnnc_graph_call_default(R(n1, 0));
    cr_assert_eq(rnnc_graph_add_node(g, dense, &c, &n3), RNNC_OK);
    c = rnnc_graph_call_default(R(n2, 1));
    cr_assert_eq(rnnc_graph_add_node(g, dense, &c, &n4), RNNC_OK);
    rnnc_graph_call lc = rnnc_graph_call_default(R(n3, 0));
    lc.n_args = 2;
    lc.args[1] = R(n4, 0);
    lc.args_as_list = true;
    cr_assert_eq(rnnc_graph_add_node(g, cat, &lc, &n5), RNNC_OK);
    cr_assert_eq(rnnc_graph_add_node(g, sub, &lc, &n6), RNNC_OK);
    rnnc_graph_ref outs[3] = {R(n5, 0), R(n6, 0), R(n1, 1)};
    cr_assert_eq(rnnc_graph_set_outputs(g, outs, 3, false), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_create("hand", g, &m), RNNC_OK, "%s", rnnc_last_error());
    return m;
}

static rnnc_tensor *one(rnnc_ctx *cx, rnnc_layer *l, rnnc_tensor *x, int which)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 1;
    a.inputs[0] = x;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    return r.outputs[which];
}

static rnnc_tensor *two(rnnc_ctx *cx, rnnc_layer *l, rnnc_tensor *x, rnnc_tensor *y)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = x;
    a.inputs[1] = y;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    return r.outputs[0];
}

static void expect_equal(const rnnc_tensor *got, const rnnc_tensor *want, const char *what)
{
    cr_assert(rnnc_shape_eq(&got->shape, &want->shape), "%s: shapes differ", what);
    for (size_t i = 0; i < want->numel; i++)
        cr_expect_eq(rnnc_tensor_get(got, i), rnnc_tensor_get(want, i), "%s: element %zu", what, i);
}

/* The graph computes what calling its layers by hand in the same wiring does. */
Test(functional_graph, hand_graph_equals_layers_called_by_hand)
{
    rnnc_model *m = hand_model(RNNC_F32);
    rnnc_tensor *xa, *xb;
    rnnc_shape s = RNNC_SHAPE(2, 5, 3);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &s, 11, -1, 1, &xa), RNNC_OK);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &s, 12, -1, 1, &xb), RNNC_OK);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = xa;
    a.inputs[1] = xb;
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(r.n_outputs, 3);
    rnnc_layer *gru = rnnc_model_layer(m, "g"), *d = rnnc_model_layer(m, "d");
    rnnc_layer *cat = rnnc_model_layer(m, "cat"), *sub = rnnc_model_layer(m, "sub");
    rnnc_tensor *h1 = one(cx, gru, xa, 0), *st1 = one(cx, gru, xa, 1);
    rnnc_tensor *st2 = one(cx, gru, xb, 1);
    rnnc_tensor *d1 = one(cx, d, h1, 0), *d2 = one(cx, d, st2, 0);
    expect_equal(r.outputs[0], two(cx, cat, d1, d2), "concatenate");
    expect_equal(r.outputs[1], two(cx, sub, d1, d2), "subtract");
    expect_equal(r.outputs[2], st1, "state");
    cr_assert_eq(r.outputs[0]->shape.dim[1], 6);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(xa);
    rnnc_tensor_destroy(xb);
    rnnc_model_destroy(m);
}

/* A hand-built graph serializes to a config that loads to the same model. */
Test(functional_graph, hand_graph_config_round_trip)
{
    rnnc_model *m = hand_model(RNNC_F32);
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_model_serialize(m, &c), RNNC_OK, "%s", rnnc_last_error());
    char *text = json_of(c);
    cr_assert(strstr(text, "\"output_layers\": [[\"cat\", 0, 0], [\"sub\", 0, 0], [\"g\", 0, 1]]"), "%s", text);
    cr_assert(strstr(text, "\"keras_history\": [\"g\", 1, 1]"), "the Dense's second call takes the GRU's second state");
    cr_assert(strstr(text, "\"build_config\": {\"input_shape\": [[null, 3], [null, 3]]}"), "merge build config: %s", text);
    rnnc_cfg *back = parse(text);
    rnnc_model *m2 = NULL;
    cr_assert_eq(rnnc_functional_from_config(back, &m2), RNNC_OK, "%s", rnnc_last_error());
    /* same weights, then same outputs */
    rnnc_weight *w1[16], *w2[16];
    int n1 = 0, n2 = 0;
    rnnc_model_weights(m, w1, 16, &n1);
    rnnc_model_weights(m2, w2, 16, &n2);
    cr_assert_eq(n1, n2);
    for (int i = 0; i < n1; i++)
        cr_assert_eq(rnnc_tensor_copy(w2[i]->value, w1[i]->value), RNNC_OK);
    rnnc_tensor *xa, *xb;
    rnnc_shape s = RNNC_SHAPE(3, 5, 3);
    rnnc_fixture_uniform(RNNC_F32, &s, 21, -1, 1, &xa);
    rnnc_fixture_uniform(RNNC_F32, &s, 22, -1, 1, &xb);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = xa;
    a.inputs[1] = xb;
    rnnc_call_result r1, r2;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r1), RNNC_OK);
    cr_assert_eq(rnnc_model_call(m2, cx, &a, &r2), RNNC_OK);
    for (int i = 0; i < 3; i++)
        expect_equal(r2.outputs[i], r1.outputs[i], "reloaded");
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(xa);
    rnnc_tensor_destroy(xb);
    free(text);
    rnnc_cfg_destroy(c);
    rnnc_cfg_destroy(back);
    rnnc_model_destroy(m);
    rnnc_model_destroy(m2);
}

typedef struct fd_user {
    rnnc_model *m;
    rnnc_tensor *xa, *xb;
} fd_user;

/* All outputs of the model, flattened and joined (float64). */
static rnnc_status fd_fn(rnnc_ctx *cx, void *user, rnnc_tensor **inputs, rnnc_tensor **out)
{
    fd_user *u = user;
    (void)inputs;
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = u->xa;
    a.inputs[1] = u->xb;
    rnnc_call_result r;
    RNNC_TRY(rnnc_model_call(u->m, cx, &a, &r));
    rnnc_tensor *flat[RNNC_MAX_IO];
    for (int i = 0; i < r.n_outputs; i++) {
        rnnc_shape s = RNNC_SHAPE((int64_t)r.outputs[i]->numel);
        RNNC_TRY(rnnc_reshape(cx, r.outputs[i], &s, &flat[i]));
    }
    return rnnc_concat(cx, flat, r.n_outputs, 0, out);
}

/* Backward through shared layers and merges matches finite differences,
 * for the inputs and every weight (a shared weight's gradient sums both
 * calls). */
Test(functional_graph, gradients_match_finite_differences)
{
    rnnc_model *m = hand_model(RNNC_F64);
    fd_user u = {m, NULL, NULL};
    rnnc_shape s = RNNC_SHAPE(2, 5, 3);
    rnnc_fixture_uniform(RNNC_F64, &s, 31, -1, 1, &u.xa);
    rnnc_fixture_uniform(RNNC_F64, &s, 32, -1, 1, &u.xb);
    rnnc_tensor_set_requires_grad(u.xa, true);
    rnnc_tensor_set_requires_grad(u.xb, true);
    rnnc_tensor *in[16] = {u.xa, u.xb};
    rnnc_weight *w[14];
    int n = 0;
    rnnc_model_weights(m, w, 14, &n);
    cr_assert_eq(n, 5);
    for (int i = 0; i < n; i++) {
        in[2 + i] = w[i]->value;
        /* non-zero biases so that every path matters */
        for (size_t k = 0; k < w[i]->value->numel; k++)
            rnnc_tensor_set(w[i]->value, k, 0.3 * sin(1.0 + (double)(k + 7 * i)));
    }
    rnnc_gradcheck_result res;
    char buf[256];
    cr_assert_eq(rnnc_gradcheck_full(fd_fn, &u, in, 2 + n, 1e-6, &res), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_lt(res.max_err, 1e-7, "%s", rnnc_gradcheck_str(&res, buf, sizeof buf));
    rnnc_tensor_destroy(u.xa);
    rnnc_tensor_destroy(u.xb);
    rnnc_model_destroy(m);
}

/* A shared layer's activity penalty counts every call (Keras adds one loss
 * per call): l2 * sum(y1^2) / B + l2 * sum(y2^2) / B. */
Test(functional_graph, shared_layer_activity_loss_sums_calls)
{
    rnnc_cfg *rc = parse("{\"class_name\": \"L2\", \"config\": {\"l2\": 0.25}}");
    rnnc_regularizer *reg = NULL;
    cr_assert_eq(rnnc_regularizer_from_config(rc, "test", &reg), RNNC_OK, "%s", rnnc_last_error());
    rnnc_dense_options o = rnnc_dense_options_default(2);
    o.dtype = RNNC_F64;
    o.activity_regularizer = reg;
    o.name = "d";
    rnnc_layer *d = NULL;
    cr_assert_eq(rnnc_dense_create(&o, &d), RNNC_OK);
    rnnc_graph *g = NULL;
    int x, y, n1, n2;
    rnnc_shape s = RNNC_SHAPE(-1, 3);
    rnnc_graph_create(&g);
    rnnc_graph_add_input(g, "x", &s, RNNC_F64, &x);
    rnnc_graph_add_input(g, "y", &s, RNNC_F64, &y);
    rnnc_graph_call c = rnnc_graph_call_default(R(x, 0));
    cr_assert_eq(rnnc_graph_add_node(g, d, &c, &n1), RNNC_OK);
    c = rnnc_graph_call_default(R(y, 0));
    cr_assert_eq(rnnc_graph_add_node(g, d, &c, &n2), RNNC_OK);
    rnnc_graph_ref outs[2] = {R(n1, 0), R(n2, 0)};
    cr_assert_eq(rnnc_graph_set_outputs(g, outs, 2, true), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_create(NULL, g, &m), RNNC_OK);
    rnnc_tensor *xv, *yv;
    rnnc_shape bs = RNNC_SHAPE(4, 3);
    rnnc_fixture_uniform(RNNC_F64, &bs, 41, -1, 1, &xv);
    rnnc_fixture_uniform(RNNC_F64, &bs, 42, -2, 2, &yv);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = xv;
    a.inputs[1] = yv;
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    double want = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < r.outputs[k]->numel; i++) {
            double v = rnnc_tensor_get(r.outputs[k], i);
            want += 0.25 * v * v / 4.0;
        }
    rnnc_tensor *loss = NULL;
    cr_assert_eq(rnnc_model_losses(m, cx, &loss), RNNC_OK);
    cr_assert_not_null(loss);
    cr_expect_float_eq(rnnc_tensor_get(loss, 0), want, 1e-12);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(xv);
    rnnc_tensor_destroy(yv);
    rnnc_regularizer_destroy(reg);
    rnnc_cfg_destroy(rc);
    rnnc_model_destroy(m);
}

/* Keras's mask rules in a graph: Masking -> GRU(seq, initial_state=h): the
 * GRU is called with two tensors, so it does not get the mask (same values
 * as an unmasked call), but its output still carries the mask, and a Dense
 * after it passes the mask on to the model output. */
Test(functional_graph, mask_not_passed_with_initial_state_but_propagated)
{
    rnnc_cfg *mc = parse("{\"mask_value\": 0.0, \"name\": \"mk\"}");
    rnnc_layer *mk = NULL;
    cr_assert_eq(rnnc_masking_from_config(mc, &mk), RNNC_OK, "%s", rnnc_last_error());
    rnnc_layer *gru = make_gru(3, true, false, RNNC_F32, "g");
    rnnc_layer *d = make_dense(2, RNNC_F32, "d");
    rnnc_graph *g = NULL;
    int x, h, n1, n2, n3;
    rnnc_shape sx = RNNC_SHAPE(-1, 4, 2), sh = RNNC_SHAPE(-1, 3);
    rnnc_graph_create(&g);
    rnnc_graph_add_input(g, "x", &sx, RNNC_F32, &x);
    rnnc_graph_add_input(g, "h", &sh, RNNC_F32, &h);
    rnnc_graph_call c = rnnc_graph_call_default(R(x, 0));
    cr_assert_eq(rnnc_graph_add_node(g, mk, &c, &n1), RNNC_OK);
    c = rnnc_graph_call_default(R(n1, 0));
    c.n_states = 1;
    c.states[0] = R(h, 0);
    cr_assert_eq(rnnc_graph_add_node(g, gru, &c, &n2), RNNC_OK);
    c = rnnc_graph_call_default(R(n2, 0));
    cr_assert_eq(rnnc_graph_add_node(g, d, &c, &n3), RNNC_OK);
    rnnc_graph_ref outs[2] = {R(n3, 0), R(n2, 0)};
    cr_assert_eq(rnnc_graph_set_outputs(g, outs, 2, false), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_create(NULL, g, &m), RNNC_OK);
    rnnc_tensor *xv, *hv;
    rnnc_shape bx = RNNC_SHAPE(2, 4, 2), bh = RNNC_SHAPE(2, 3);
    rnnc_fixture_uniform(RNNC_F32, &bx, 51, -1, 1, &xv);
    rnnc_fixture_uniform(RNNC_F32, &bh, 52, -1, 1, &hv);
    for (int f = 0; f < 2; f++) {
        rnnc_tensor_set(xv, (0 * 4 + 3) * 2 + f, 0.0); /* row 0, step 3 */
        rnnc_tensor_set(xv, (1 * 4 + 1) * 2 + f, 0.0); /* row 1, step 1 */
    }
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = xv;
    a.inputs[1] = hv;
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_not_null(r.mask, "Dense passes on the mask the GRU output carries");
    const uint8_t want[8] = {1, 1, 1, 0, 1, 0, 1, 1};
    for (int i = 0; i < 8; i++)
        cr_expect_eq(((uint8_t *)r.mask->data)[i], want[i], "mask element %d", i);
    /* The GRU ran without the mask: same as a direct call without one. */
    rnnc_call_args ga;
    memset(&ga, 0, sizeof ga);
    ga.n_inputs = 2;
    ga.inputs[0] = xv; /* Masking zeroes nothing here: masked steps are already 0 */
    ga.inputs[1] = hv;
    rnnc_call_result gr;
    cr_assert_eq(rnnc_layer_call(gru, cx, &ga, &gr), RNNC_OK);
    expect_equal(r.outputs[1], gr.outputs[0], "GRU with initial_state ignores the mask");
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(xv);
    rnnc_tensor_destroy(hv);
    rnnc_cfg_destroy(mc);
    rnnc_model_destroy(m);
}

/* ---- graph errors ---------------------------------------------------------- */

Test(functional_graph, dangling_reference_and_states)
{
    rnnc_graph *g = NULL;
    int x, n1;
    rnnc_shape s = RNNC_SHAPE(-1, 3);
    rnnc_graph_create(&g);
    rnnc_graph_add_input(g, "x", &s, RNNC_F32, &x);
    rnnc_graph_call c = rnnc_graph_call_default(R(7, 0));
    cr_assert_eq(rnnc_graph_add_node(g, make_dense(2, RNNC_F32, "d"), &c, &n1), RNNC_OK);
    rnnc_graph_ref out = R(n1, 0);
    cr_assert_eq(rnnc_graph_set_outputs(g, &out, 1, false), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "dangling"), "%s", rnnc_last_error());
    cr_assert(strstr(rnnc_last_error(), "'d'"), "%s", rnnc_last_error());
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    cr_assert_eq(rnnc_graph_run(g, cx, &a, &r), RNNC_E_STATE);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_create(NULL, g, &m), RNNC_E_STATE); /* frees g */
    cr_assert_null(m);
    rnnc_ctx_destroy(cx);
}

Test(functional_graph, cycle_names_the_layers)
{
    rnnc_graph *g = NULL;
    int x;
    rnnc_shape s = RNNC_SHAPE(-1, 2);
    rnnc_graph_create(&g);
    rnnc_graph_add_input(g, "x", &s, RNNC_F32, &x);
    /* node 1 = d1(node 2), node 2 = d2(node 1) */
    rnnc_graph_call c = rnnc_graph_call_default(R(2, 0));
    cr_assert_eq(rnnc_graph_add_node(g, make_dense(2, RNNC_F32, "d1"), &c, NULL), RNNC_OK);
    c = rnnc_graph_call_default(R(1, 0));
    cr_assert_eq(rnnc_graph_add_node(g, make_dense(2, RNNC_F32, "d2"), &c, NULL), RNNC_OK);
    rnnc_graph_ref out = R(2, 0);
    cr_assert_eq(rnnc_graph_set_outputs(g, &out, 1, false), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "cycle"), "%s", rnnc_last_error());
    cr_assert(strstr(rnnc_last_error(), "'d1'") && strstr(rnnc_last_error(), "'d2'"), "%s", rnnc_last_error());
    rnnc_graph_destroy(g);
}

Test(functional_graph, bad_tensor_index_and_input_checks)
{
    rnnc_graph *g = NULL;
    int x, n1;
    rnnc_shape s = RNNC_SHAPE(-1, 5, 3);
    rnnc_graph_create(&g);
    cr_assert_eq(rnnc_graph_add_input(g, "x", &s, RNNC_F32, &x), RNNC_OK);
    cr_assert_eq(rnnc_graph_add_input(g, "x", &s, RNNC_F32, NULL), RNNC_E_ARG, "duplicate input name");
    rnnc_graph_call c = rnnc_graph_call_default(R(x, 0));
    cr_assert_eq(rnnc_graph_add_node(g, make_gru(2, false, false, RNNC_F32, "g"), &c, &n1), RNNC_OK);
    cr_assert_eq(rnnc_graph_add_node(g, make_dense(2, RNNC_F32, "g"), &c, NULL), RNNC_E_ARG, "duplicate layer name");
    rnnc_graph_ref out = R(n1, 1);
    cr_assert_eq(rnnc_graph_set_outputs(g, &out, 1, false), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "return_state"), "%s", rnnc_last_error());
    out = R(n1, 0);
    cr_assert_eq(rnnc_graph_set_outputs(g, &out, 1, false), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_graph_add_node(g, make_dense(2, RNNC_F32, "late"), &c, NULL), RNNC_E_STATE);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_functional_create(NULL, g, &m), RNNC_OK);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_tensor *bad = NULL, *wrong = NULL;
    rnnc_shape bs = RNNC_SHAPE(2, 5, 4), ws = RNNC_SHAPE(2, 5, 3);
    rnnc_tensor_create(RNNC_F32, &bs, &bad);
    rnnc_tensor_create(RNNC_F64, &ws, &wrong);
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    a.n_inputs = 2;
    a.inputs[0] = a.inputs[1] = bad;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_E_ARG, "two inputs for a one-input model");
    a.n_inputs = 1;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "(None, 5, 3)"), "%s", rnnc_last_error());
    a.inputs[0] = wrong;
    /* float64 data into a float32 model: cast to the Input's dtype, as Keras does */
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(r.outputs[0]->dtype, RNNC_F32);
    rnnc_tensor_destroy(bad);
    rnnc_tensor_destroy(wrong);
    rnnc_ctx_destroy(cx);
    rnnc_model_destroy(m);
}

/* ---- loader errors ------------------------------------------------------- */

/* A small Keras 2-form model: x (None, 3) -> d1 -> d2, with the parts that
 * the tests replace. */
static rnnc_status load_text(const char *d1_nodes, const char *d2_entry_extra, const char *d2_nodes,
                             const char *inputs, const char *outputs)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 3], \"dtype\": \"float32\", \"name\": \"x\"}, \"name\": \"x\", \"inbound_nodes\": []},"
             "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": 3}, \"name\": \"d1\", \"inbound_nodes\": %s},"
             "{\"class_name\": \"%s\", \"config\": {\"name\": \"d2\", \"units\": 2}, \"name\": \"d2\", \"inbound_nodes\": %s}"
             "], \"input_layers\": %s, \"output_layers\": %s}}",
             d1_nodes, d2_entry_extra, d2_nodes, inputs, outputs);
    rnnc_cfg *c = parse(text);
    rnnc_model *m = NULL;
    rnnc_status s = rnnc_functional_from_config(c, &m);
    rnnc_cfg_destroy(c);
    if (s == RNNC_OK)
        rnnc_model_destroy(m);
    else
        cr_assert_null(m);
    return s;
}

#define OK_D1 "[[[\"x\", 0, 0, {}]]]"
#define OK_D2 "[[[\"d1\", 0, 0, {}]]]"
#define IN "[[\"x\", 0, 0]]"
#define OUT "[[\"d2\", 0, 0]]"

static void expect_error(rnnc_status got, rnnc_status want, const char *needle)
{
    cr_assert_eq(got, want, "status %d, want %d: %s", got, want, rnnc_last_error());
    cr_assert(strstr(rnnc_last_error(), needle), "'%s' not in: %s", needle, rnnc_last_error());
}

Test(functional_loader, template_loads)
{
    cr_assert_eq(load_text(OK_D1, "Dense", OK_D2, IN, OUT), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(load_text(OK_D1, "Dense", OK_D2, "[\"x\", 0, 0]", "[\"d2\", 0, 0]"), RNNC_OK, "%s",
                 rnnc_last_error());
}

Test(functional_loader, cycle)
{
    expect_error(load_text("[[[\"d2\", 0, 0, {}]]]", "Dense", OK_D2, IN, OUT), RNNC_E_ARG, "cycle");
}

Test(functional_loader, unknown_layer_suggests)
{
    expect_error(load_text(OK_D1, "Dense", "[[[\"d11\", 0, 0, {}]]]", IN, OUT), RNNC_E_ARG, "did you mean 'd1'");
    expect_error(load_text(OK_D1, "Dense", OK_D2, IN, "[[\"dd2\", 0, 0]]"), RNNC_E_ARG, "'dd2'");
}

Test(functional_loader, node_and_tensor_indices)
{
    expect_error(load_text(OK_D1, "Dense", "[[[\"d1\", 1, 0, {}]]]", IN, OUT), RNNC_E_ARG, "called 1 time");
    expect_error(load_text(OK_D1, "Dense", "[[[\"d1\", 0, 1, {}]]]", IN, OUT), RNNC_E_ARG, "has only 1 output");
    expect_error(load_text(OK_D1, "Dense", OK_D2, IN, "[[\"d2\", 0, 2]]"), RNNC_E_ARG, "has only 1 output");
}

Test(functional_loader, never_called_and_duplicates)
{
    expect_error(load_text(OK_D1, "Dense", "[]", IN, "[[\"d1\", 0, 0]]"), RNNC_E_ARG, "never called");
    rnnc_cfg *c = parse("{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
                        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 3], \"name\": \"x\"}, \"name\": \"x\", \"inbound_nodes\": []},"
                        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 3}, \"name\": \"d\", \"inbound_nodes\": [[[\"x\", 0, 0, {}]]]},"
                        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 3}, \"name\": \"d\", \"inbound_nodes\": [[[\"x\", 0, 0, {}]]]}"
                        "], \"input_layers\": [[\"x\", 0, 0]], \"output_layers\": [[\"d\", 0, 0]]}}");
    rnnc_model *m = NULL;
    expect_error(rnnc_functional_from_config(c, &m), RNNC_E_ARG, "two layers are named 'd'");
    rnnc_cfg_destroy(c);
}

Test(functional_loader, inputs_and_outputs)
{
    expect_error(load_text(OK_D1, "Dense", OK_D2, "[[\"d1\", 0, 0]]", OUT), RNNC_E_ARG, "not an InputLayer");
    expect_error(load_text(OK_D1, "Dense", OK_D2, "{\"x\": [\"x\", 0, 0]}", OUT), RNNC_E_UNSUPPORTED, "dict");
    expect_error(load_text(OK_D1, "Dense", OK_D2, IN, "[]"), RNNC_E_ARG, "output_layers");
}

Test(functional_loader, call_arguments)
{
    expect_error(load_text(OK_D1, "Dense", "[[[\"d1\", 0, 0, {\"scale\": 2}]]]", IN, OUT), RNNC_E_UNSUPPORTED,
                 "'scale'");
    expect_error(load_text(OK_D1, "Dense",
                           "[{\"args\": [{\"class_name\": \"__keras_tensor__\", \"config\": {\"keras_history\": [\"d1\", 0, 0]}}], \"kwargs\": {\"scale\": 2}}]",
                           IN, OUT),
                 RNNC_E_UNSUPPORTED, "'scale'");
    expect_error(load_text(OK_D1, "Dense", "[{\"args\": [3.5], \"kwargs\": {}}]", IN, OUT), RNNC_E_ARG,
                 "at least one tensor argument");
    expect_error(load_text(OK_D1, "Dense", "[{\"args\": [\"d1\"], \"kwargs\": {}}]", IN, OUT), RNNC_E_UNSUPPORTED,
                 "__keras_tensor__");
    expect_error(load_text(OK_D1, "Dense", "[[[\"_CONSTANT_VALUE\", -1, 0, {}]]]", IN, OUT),
                 RNNC_E_UNSUPPORTED, "_CONSTANT_VALUE");
    expect_error(load_text(OK_D1, "Dense", "[7]", IN, OUT), RNNC_E_ARG, "inbound node");
}

Test(functional_loader, layer_errors_name_the_layer)
{
    expect_error(load_text(OK_D1, "Dnse", OK_D2, IN, OUT), RNNC_E_ARG, "did you mean 'Dense'");
    /* A single-input layer on a list of two. */
    expect_error(load_text(OK_D1, "Dense", "[[[\"d1\", 0, 0, {}], [\"x\", 0, 0, {}]]]", IN, OUT), RNNC_E_ARG,
                 "takes one input");
    expect_error(load_text(OK_D1, "Subtract", "[[[\"d1\", 0, 0, {}], [\"x\", 0, 0, {}], [\"d1\", 0, 0, {}]]]",
                           IN, OUT),
                 RNNC_E_ARG, "unrecognized key 'units'");
}

Test(functional_loader, envelope_and_config_keys)
{
    rnnc_model *m = NULL;
    rnnc_cfg *c = parse("{\"class_name\": \"Sequential\", \"config\": {}}");
    expect_error(rnnc_functional_from_config(c, &m), RNNC_E_ARG, "Functional");
    rnnc_cfg_destroy(c);
    c = parse("{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": [], \"input_layers\": [], \"output_layers\": []}}");
    expect_error(rnnc_functional_from_config(c, &m), RNNC_E_ARG, "'layers' must be a non-empty list");
    rnnc_cfg_destroy(c);
    c = parse("{\"name\": \"m\", \"layerz\": [], \"layers\": [1], \"input_layers\": [], \"output_layers\": []}");
    expect_error(rnnc_functional_from_config(c, &m), RNNC_E_ARG, "did you mean 'layers'");
    rnnc_cfg_destroy(c);
}

/* ---- merge layers: hand-computed values ----------------------------------- */

static rnnc_tensor *tens(rnnc_dtype dt, rnnc_shape s, const double *v)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_tensor_create(dt, &s, &t), RNNC_OK);
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(t, i, v[i]);
    return t;
}

static rnnc_call_result merge(rnnc_ctx *cx, rnnc_merge_op op, int axis, rnnc_tensor **xs,
                              const rnnc_tensor **masks, int n, rnnc_layer **keep)
{
    rnnc_layer *l = NULL;
    if (op == RNNC_MERGE_OP_CONCATENATE)
        cr_assert_eq(rnnc_concatenate_create(axis, NULL, RNNC_F64, &l), RNNC_OK);
    else
        cr_assert_eq(rnnc_merge_create(op, NULL, RNNC_F64, &l), RNNC_OK);
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = n;
    for (int i = 0; i < n; i++) {
        a.inputs[i] = xs[i];
        a.input_masks[i] = masks ? masks[i] : NULL;
    }
    rnnc_call_result r;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    *keep = l;
    return r;
}

static void expect_values(const rnnc_tensor *t, const double *v, size_t n, const char *what)
{
    cr_assert_eq(t->numel, n, "%s: %zu elements", what, t->numel);
    for (size_t i = 0; i < n; i++)
        cr_expect_float_eq(rnnc_tensor_get(t, i), v[i], 1e-12, "%s[%zu] = %g, want %g", what, i,
                           rnnc_tensor_get(t, i), v[i]);
}

static void expect_mask(const rnnc_tensor *m, const uint8_t *v, size_t n, const char *what)
{
    cr_assert_not_null(m, "%s: no mask", what);
    cr_assert_eq(m->numel, n, "%s", what);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(((const uint8_t *)m->data)[i], v[i], "%s mask[%zu]", what, i);
}

/* x1, x2 (2, 2, 2); m1 = [[1, 0], [0, 1]], m2 = [[1, 0], [1, 1]]. Step
 * (b=0, t=1) is masked in both, (1, 0) only in x1. */
Test(merge_layers, masked_values_by_hand)
{
    const double v1[8] = {1, 2, 3, 4, 5, 6, 7, 8}, v2[8] = {8, 1, 2, 9, 0, 7, 1, 1};
    const uint8_t m1v[4] = {1, 0, 0, 1}, m2v[4] = {1, 0, 1, 1};
    rnnc_shape s = RNNC_SHAPE(2, 2, 2), ms = RNNC_SHAPE(2, 2);
    rnnc_tensor *x[2] = {tens(RNNC_F64, s, v1), tens(RNNC_F64, s, v2)};
    rnnc_tensor *m1 = NULL, *m2 = NULL;
    rnnc_tensor_from(RNNC_U8, &ms, m1v, &m1);
    rnnc_tensor_from(RNNC_U8, &ms, m2v, &m2);
    const rnnc_tensor *masks[2] = {m1, m2};
    const uint8_t or_mask[4] = {1, 0, 1, 1};
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_layer *l[8];
    /* Add / Subtract / Average: masks ignored, OR mask. */
    rnnc_call_result r = merge(cx, RNNC_MERGE_OP_ADD, 0, x, masks, 2, &l[0]);
    const double add[8] = {9, 3, 5, 13, 5, 13, 8, 9};
    expect_values(r.outputs[0], add, 8, "add");
    expect_mask(r.mask, or_mask, 4, "add");
    r = merge(cx, RNNC_MERGE_OP_SUBTRACT, 0, x, masks, 2, &l[1]);
    const double sub[8] = {-7, 1, 1, -5, 5, -1, 6, 7};
    expect_values(r.outputs[0], sub, 8, "subtract");
    r = merge(cx, RNNC_MERGE_OP_AVERAGE, 0, x, masks, 2, &l[2]);
    const double ave[8] = {4.5, 1.5, 2.5, 6.5, 2.5, 6.5, 4, 4.5};
    expect_values(r.outputs[0], ave, 8, "average");
    /* Multiply: a masked input counts as 1; nothing kept -> 0. */
    r = merge(cx, RNNC_MERGE_OP_MULTIPLY, 0, x, masks, 2, &l[3]);
    const double mul[8] = {8, 2, 0, 0, 0, 7, 7, 8};
    expect_values(r.outputs[0], mul, 8, "multiply");
    expect_mask(r.mask, or_mask, 4, "multiply");
    /* Maximum: (0,1) masked in both -> x1; (1,0) only x2 kept -> x2. */
    r = merge(cx, RNNC_MERGE_OP_MAXIMUM, 0, x, masks, 2, &l[4]);
    const double mx[8] = {8, 2, 3, 4, 0, 7, 7, 8};
    expect_values(r.outputs[0], mx, 8, "maximum");
    expect_mask(r.mask, or_mask, 4, "maximum");
    r = merge(cx, RNNC_MERGE_OP_MINIMUM, 0, x, masks, 2, &l[5]);
    const double mn[8] = {1, 1, 3, 4, 0, 7, 1, 1};
    expect_values(r.outputs[0], mn, 8, "minimum");
    /* Maximum with only the second input masked: x2's masked steps take x1,
     * no output mask. */
    const rnnc_tensor *only2[2] = {NULL, m2};
    r = merge(cx, RNNC_MERGE_OP_MAXIMUM, 0, x, only2, 2, &l[6]);
    const double mx2[8] = {8, 2, 3, 4, 5, 7, 7, 8};
    expect_values(r.outputs[0], mx2, 8, "maximum, one mask");
    cr_expect_null(r.mask);
    /* Multiply with one mask: x2's masked step counts as 1, no zeroing. */
    r = merge(cx, RNNC_MERGE_OP_MULTIPLY, 0, x, only2, 2, &l[7]);
    const double mul2[8] = {8, 2, 3, 4, 0, 42, 7, 8};
    expect_values(r.outputs[0], mul2, 8, "multiply, one mask");
    cr_expect_null(r.mask);
    for (int i = 0; i < 8; i++)
        rnnc_layer_destroy(l[i]);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x[0]);
    rnnc_tensor_destroy(x[1]);
    rnnc_tensor_destroy(m1);
    rnnc_tensor_destroy(m2);
}

Test(merge_layers, concatenate_masks_and_ranks)
{
    const double v1[8] = {1, 2, 3, 4, 5, 6, 7, 8}, v3[12] = {0};
    const uint8_t m1v[4] = {1, 0, 0, 1};
    rnnc_shape s1 = RNNC_SHAPE(2, 2, 2), s3 = RNNC_SHAPE(2, 3, 2), ms = RNNC_SHAPE(2, 2);
    rnnc_tensor *a = tens(RNNC_F64, s1, v1), *b = tens(RNNC_F64, s3, v3), *m1 = NULL;
    rnnc_tensor_from(RNNC_U8, &ms, m1v, &m1);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_layer *l[4];
    /* time axis: the masks are joined, the unmasked part all kept */
    rnnc_tensor *xs[2] = {a, b};
    const rnnc_tensor *masks[2] = {m1, NULL};
    rnnc_call_result r = merge(cx, RNNC_MERGE_OP_CONCATENATE, 1, xs, masks, 2, &l[0]);
    cr_assert_eq(r.outputs[0]->shape.dim[1], 5);
    const uint8_t joined[10] = {1, 0, 1, 1, 1, 0, 1, 1, 1, 1};
    expect_mask(r.mask, joined, 10, "concat axis 1");
    /* feature axis, one input without a mask: every step kept */
    rnnc_tensor *ys[2] = {a, a};
    r = merge(cx, RNNC_MERGE_OP_CONCATENATE, -1, ys, masks, 2, &l[1]);
    const uint8_t all[4] = {1, 1, 1, 1};
    expect_mask(r.mask, all, 4, "concat axis -1");
    const double cat[16] = {1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6, 7, 8, 7, 8};
    expect_values(r.outputs[0], cat, 16, "concat values");
    /* no masks: none */
    r = merge(cx, RNNC_MERGE_OP_CONCATENATE, -1, ys, NULL, 2, &l[2]);
    cr_expect_null(r.mask);
    /* Add of ranks 3 and 2: (B, F) becomes (B, 1, F), as Keras does. */
    const double vb[4] = {10, 20, 30, 40};
    rnnc_shape s2 = RNNC_SHAPE(2, 2);
    rnnc_tensor *v = tens(RNNC_F64, s2, vb);
    rnnc_tensor *zs[2] = {a, v};
    r = merge(cx, RNNC_MERGE_OP_ADD, 0, zs, NULL, 2, &l[3]);
    const double added[8] = {11, 22, 13, 24, 35, 46, 37, 48};
    expect_values(r.outputs[0], added, 8, "add ranks 3 + 2");
    for (int i = 0; i < 4; i++)
        rnnc_layer_destroy(l[i]);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(a);
    rnnc_tensor_destroy(b);
    rnnc_tensor_destroy(v);
    rnnc_tensor_destroy(m1);
}

Test(merge_layers, shape_errors)
{
    rnnc_layer *sub = NULL, *cat = NULL, *add = NULL;
    rnnc_merge_create(RNNC_MERGE_OP_SUBTRACT, "s", RNNC_F32, &sub);
    rnnc_concatenate_create(1, "c", RNNC_F32, &cat);
    rnnc_merge_create(RNNC_MERGE_OP_ADD, "a", RNNC_F32, &add);
    rnnc_shape a = RNNC_SHAPE(-1, 4, 3), b = RNNC_SHAPE(-1, 4, 2), c = RNNC_SHAPE(5, 4, 3), d = RNNC_SHAPE(6, 4, 3);
    rnnc_shape three[3] = {a, a, a};
    rnnc_output_spec sp;
    cr_assert_eq(sub->cls->compute_output_spec_n(sub, three, NULL, 3, &sp), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "exactly 2"), "%s", rnnc_last_error());
    rnnc_shape ab[2] = {a, b};
    cr_assert_eq(add->cls->compute_output_spec_n(add, ab, NULL, 2, &sp), RNNC_E_SHAPE);
    cr_assert_eq(cat->cls->compute_output_spec_n(cat, ab, NULL, 2, &sp), RNNC_E_SHAPE, "axis 1 concat needs equal last axes");
    rnnc_shape cd[2] = {c, d};
    cr_assert_eq(add->cls->compute_output_spec_n(add, cd, NULL, 2, &sp), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "batch sizes"), "%s", rnnc_last_error());
    rnnc_shape aa[2] = {a, c};
    cr_assert_eq(cat->cls->compute_output_spec_n(cat, aa, NULL, 2, &sp), RNNC_OK);
    cr_assert_eq(sp.shapes[0].dim[0], 5);
    cr_assert_eq(sp.shapes[0].dim[1], 8);
    rnnc_layer_destroy(sub);
    rnnc_layer_destroy(cat);
    rnnc_layer_destroy(add);
}

Test(merge_layers, configs)
{
    rnnc_cfg *c = parse("{\"name\": \"cat\", \"trainable\": true, \"dtype\": \"float32\", \"axis\": 1}");
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_concatenate_from_config(c, &l), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *out = NULL;
    cr_assert_eq(rnnc_layer_get_config(l, &out), RNNC_OK);
    char *text = json_of(out);
    cr_assert_str_eq(text, "{\"name\": \"cat\", \"trainable\": true, \"dtype\": {\"module\": \"keras\", \"class_name\": \"DTypePolicy\", \"config\": {\"name\": \"float32\"}, \"registered_name\": null}, \"axis\": 1}");
    free(text);
    rnnc_cfg_destroy(out);
    rnnc_layer_destroy(l);
    rnnc_cfg_destroy(c);
    c = parse("{\"name\": \"a\", \"axis\": 1}");
    l = NULL;
    cr_assert_eq(rnnc_add_from_config(c, &l), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "'axis'"), "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    c = parse("{\"axis\": \"last\"}");
    cr_assert_eq(rnnc_concatenate_from_config(c, &l), RNNC_E_ARG);
    rnnc_cfg_destroy(c);
    rnnc_layer *m = NULL;
    cr_assert_eq(rnnc_merge_create(RNNC_MERGE_OP_MAXIMUM, NULL, RNNC_F32, &m), RNNC_OK);
    cr_assert(rnnc_layer_is_merge(m));
    cr_assert_str_eq(m->cls->class_name, "Maximum");
    rnnc_layer_destroy(m);
}

typedef struct merge_fd {
    rnnc_layer *l;
    int n;
    const rnnc_tensor *masks[3];
} merge_fd;

static rnnc_status merge_fn(rnnc_ctx *cx, void *user, rnnc_tensor **inputs, rnnc_tensor **out)
{
    merge_fd *u = user;
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = u->n;
    for (int i = 0; i < u->n; i++) {
        a.inputs[i] = inputs[i];
        a.input_masks[i] = u->masks[i];
    }
    rnnc_call_result r;
    RNNC_TRY(rnnc_layer_call(u->l, cx, &a, &r));
    *out = r.outputs[0];
    return RNNC_OK;
}

/* Every merge layer's backward (with masks) against finite differences. */
Test(merge_layers, gradients_match_finite_differences)
{
    rnnc_shape s = RNNC_SHAPE(2, 3, 2), ms = RNNC_SHAPE(2, 3);
    const uint8_t m1v[6] = {1, 0, 1, 0, 1, 1}, m2v[6] = {1, 1, 0, 0, 1, 0};
    rnnc_tensor *m1 = NULL, *m2 = NULL;
    rnnc_tensor_from(RNNC_U8, &ms, m1v, &m1);
    rnnc_tensor_from(RNNC_U8, &ms, m2v, &m2);
    for (int op = 0; op < RNNC_MERGE_OP_COUNT; op++)
        for (int masked = 0; masked < 2; masked++) {
            rnnc_tensor *x[3];
            for (int i = 0; i < 3; i++) {
                rnnc_fixture_uniform(RNNC_F64, &s, 60 + (uint64_t)i, -1, 1, &x[i]);
                rnnc_tensor_set_requires_grad(x[i], true);
            }
            merge_fd u = {NULL, op == RNNC_MERGE_OP_SUBTRACT ? 2 : 3, {masked ? m1 : NULL, masked ? m2 : NULL, masked ? m1 : NULL}};
            if (op == RNNC_MERGE_OP_CONCATENATE)
                rnnc_concatenate_create(1, NULL, RNNC_F64, &u.l);
            else
                rnnc_merge_create((rnnc_merge_op)op, NULL, RNNC_F64, &u.l);
            rnnc_gradcheck_result res;
            char buf[256];
            cr_assert_eq(rnnc_gradcheck_full(merge_fn, &u, x, u.n, 1e-6, &res), RNNC_OK, "%s", rnnc_last_error());
            cr_expect_lt(res.max_err, 1e-8, "%s masked=%d: %s", u.l->cls->class_name, masked,
                         rnnc_gradcheck_str(&res, buf, sizeof buf));
            rnnc_layer_destroy(u.l);
            for (int i = 0; i < 3; i++)
                rnnc_tensor_destroy(x[i]);
        }
    rnnc_tensor_destroy(m1);
    rnnc_tensor_destroy(m2);
}

/* ---- Keras operations: hand-computed values ------------------------------- */

static rnnc_layer *kop(const char *cls, const char *config)
{
    rnnc_cfg *c = parse(config);
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_keras_op_from_config(cls, c, &l), RNNC_OK, "%s: %s", cls, rnnc_last_error());
    cr_assert(l->cls->is_operation && rnnc_layer_is_keras_op(l));
    rnnc_cfg_destroy(c);
    return l;
}

static rnnc_tensor *kop_run(rnnc_ctx *cx, rnnc_layer *l, rnnc_tensor *a, rnnc_tensor *b)
{
    rnnc_call_args args;
    rnnc_call_result r;
    memset(&args, 0, sizeof args);
    args.n_inputs = b ? 2 : 1;
    args.inputs[0] = a;
    args.inputs[1] = b;
    cr_assert_eq(rnnc_layer_call(l, cx, &args, &r), RNNC_OK, "%s", rnnc_last_error());
    return r.outputs[0];
}

Test(keras_ops, values_by_hand)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    const double xv[6] = {0, 1.5, 0, 0, 0, 0}; /* (2, 3): row 1 all zero */
    rnnc_shape s23 = RNNC_SHAPE(2, 3), s0 = {0};
    rnnc_tensor *x = tens(RNNC_F32, s23, xv), *zero = tens(RNNC_F64, s0, xv);
    rnnc_layer *ne = kop("NotEqual", "{\"name\": \"ne\"}"), *eq = kop("Equal", "{\"name\": \"eq\"}");
    rnnc_tensor *m = kop_run(cx, ne, x, zero), *e = kop_run(cx, eq, x, zero);
    const uint8_t mne[6] = {0, 1, 0, 0, 0, 0}, meq[6] = {1, 0, 1, 1, 1, 1};
    expect_mask(m, mne, 6, "not_equal");
    expect_mask(e, meq, 6, "equal");
    rnnc_layer *any = kop("Any", "{\"name\": \"any\", \"axis\": -1, \"keepdims\": false}");
    rnnc_layer *all = kop("All", "{\"name\": \"all\", \"axis\": [0, 1], \"keepdims\": true}");
    rnnc_layer *anyall = kop("Any", "{\"name\": \"anyall\", \"axis\": null, \"keepdims\": false}");
    rnnc_tensor *a = kop_run(cx, any, m, NULL);
    const uint8_t many[2] = {1, 0};
    expect_mask(a, many, 2, "any(axis=-1)");
    rnnc_tensor *al = kop_run(cx, all, e, NULL);
    cr_assert_eq(al->shape.ndim, 2);
    cr_assert_eq(al->shape.dim[0], 1);
    const uint8_t mall[1] = {0};
    expect_mask(al, mall, 1, "all(axis=[0, 1], keepdims)");
    rnnc_tensor *aa = kop_run(cx, anyall, m, NULL);
    cr_assert_eq(aa->shape.ndim, 0);
    const uint8_t maa[1] = {1};
    expect_mask(aa, maa, 1, "any(axis=None)");
    /* or / and / not with broadcasting: (2, 1) against (2, 3) */
    rnnc_layer *ex = kop("ExpandDims", "{\"name\": \"ex\", \"axis\": -1}");
    rnnc_tensor *a21 = kop_run(cx, ex, a, NULL);
    cr_assert_eq(a21->dtype, RNNC_U8);
    cr_assert_eq(a21->shape.dim[1], 1);
    rnnc_layer *lor = kop("LogicalOr", "{\"name\": \"or\"}"), *land = kop("LogicalAnd", "{\"name\": \"and\"}");
    rnnc_layer *lnot = kop("LogicalNot", "{\"name\": \"not\"}");
    const uint8_t mor[6] = {1, 1, 1, 0, 0, 0}, mand[6] = {0, 1, 0, 0, 0, 0}, mnot[6] = {1, 0, 1, 1, 1, 1};
    expect_mask(kop_run(cx, lor, a21, m), mor, 6, "logical_or");
    expect_mask(kop_run(cx, land, a21, m), mand, 6, "logical_and");
    expect_mask(kop_run(cx, lnot, m, NULL), mnot, 6, "logical_not");
    /* shapes and constants */
    rnnc_layer *sq = kop("Squeeze", "{\"name\": \"sq\", \"axis\": 1}");
    rnnc_tensor *back = kop_run(cx, sq, a21, NULL);
    expect_mask(back, many, 2, "squeeze");
    rnnc_layer *ol = kop("OnesLike", "{\"name\": \"ol\", \"dtype\": \"bool\"}");
    rnnc_layer *zl = kop("ZerosLike", "{\"name\": \"zl\", \"dtype\": null}");
    rnnc_tensor *ones = kop_run(cx, ol, x, NULL), *zeros = kop_run(cx, zl, x, NULL);
    const uint8_t m1[6] = {1, 1, 1, 1, 1, 1};
    expect_mask(ones, m1, 6, "ones_like(bool)");
    cr_assert_eq(zeros->dtype, RNNC_F32);
    const double z6[6] = {0};
    expect_values(zeros, z6, 6, "zeros_like");
    rnnc_layer *cc = kop("Concatenate", "{\"name\": \"cc\", \"axis\": 1}");
    rnnc_call_args args;
    rnnc_call_result r;
    memset(&args, 0, sizeof args);
    args.n_inputs = 2;
    args.inputs[0] = m;
    args.inputs[1] = a21;
    cr_assert_eq(rnnc_layer_call(cc, cx, &args, &r), RNNC_OK, "%s", rnnc_last_error());
    const uint8_t mcat[8] = {0, 1, 0, 1, 0, 0, 0, 0};
    expect_mask(r.outputs[0], mcat, 8, "concatenate(bool, axis=1)");
    /* configs come back in Keras's form */
    rnnc_cfg *c = rnnc_cfg_map();
    cr_assert_eq(all->cls->get_config(all, c), RNNC_OK);
    char *text = json_of(c);
    cr_assert_str_eq(text, "{\"axis\": [0, 1], \"keepdims\": true}");
    free(text);
    rnnc_cfg_destroy(c);
    c = rnnc_cfg_map();
    cr_assert_eq(ol->cls->get_config(ol, c), RNNC_OK);
    text = json_of(c);
    cr_assert_str_eq(text, "{\"dtype\": \"bool\"}");
    free(text);
    rnnc_cfg_destroy(c);
    rnnc_layer *ls[] = {ne, eq, any, all, anyall, ex, lor, land, lnot, sq, ol, zl, cc};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++)
        rnnc_layer_destroy(ls[i]);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(zero);
    rnnc_ctx_destroy(cx);
}

Test(keras_ops, errors)
{
    rnnc_cfg *c = parse("{\"name\": \"t\"}");
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_keras_op_from_config("Transpose", c, &l), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "NotEqual"), "lists the supported ones: %s", rnnc_last_error());
    cr_assert_eq(rnnc_keras_op_from_config("ExpandDims", c, &l), RNNC_E_ARG, "ExpandDims needs an axis");
    rnnc_cfg_destroy(c);
    c = parse("{\"name\": \"t\", \"axis\": 1}");
    cr_assert_eq(rnnc_keras_op_from_config("NotEqual", c, &l), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "'axis'"), "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    cr_assert(rnnc_keras_op_module("keras.src.ops.numpy"));
    cr_assert(!rnnc_keras_op_module("keras.layers"));
    /* a shape mismatch at the call */
    rnnc_layer *sq = kop("Squeeze", "{\"name\": \"sq\", \"axis\": 0}");
    rnnc_ctx *cx = rnnc_ctx_create();
    const double v[6] = {0};
    rnnc_shape s23 = RNNC_SHAPE(2, 3);
    rnnc_tensor *x = tens(RNNC_F32, s23, v);
    rnnc_call_args args;
    rnnc_call_result r;
    memset(&args, 0, sizeof args);
    args.n_inputs = 1;
    args.inputs[0] = x;
    cr_assert_eq(rnnc_layer_call(sq, cx, &args, &r), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "not 1"), "%s", rnnc_last_error());
    rnnc_layer_destroy(sq);
    rnnc_tensor_destroy(x);
    rnnc_ctx_destroy(cx);
}
