/* test_device_bidirectional.c - Bidirectional(GRU) on a backend
 * (layers/bidirectional_device.c) against the CPU layer
 * (layers/bidirectional.c, checked against Keras 3.15.1 by
 * test_bidirectional), which is the oracle here.
 *
 * Models: Masking -> Bidirectional(GRU) -> Dense, with merge_mode concat,
 * sum, mul and ave, return_sequences true and false, go_backwards and
 * reset_after variants of the wrapped GRU, on batches without a mask,
 * with right-padded masks and with arbitrary ones (masked leading steps, a
 * fully masked row); a Bidirectional on the model input itself and an
 * Embedding(mask_zero) before one. Each runs on the CPU model (training
 * call, then backward from sum(y * r) for a fixed random r) and on the
 * device model (rnnc_dmodel_forward / backward with dy = r) on the CPU
 * backend table and on the CUDA backend's C code over tests/cuda_emu:
 * output, output mask and every weight's gradient (each checked non-zero)
 * within test_device_model.c's tolerance, 1e-5 * (|want| + max|want|).
 *
 * Then a short fit through rnnc_trainer_set_device against the CPU path
 * (every epoch's loss, metric and val_ values within 1e-4, the issue's
 * bound) on both tables and, in suite device_bidirectional_gpu, on a real
 * GPU (skipped without one); with a wrapped GRU's input dropout, the
 * same fit when the GRU's device class runs dropout, else the GRU's own
 * refusal line behind the Bidirectional's name. Refusals: each line
 * checked whole. */
#include "cuda_emu/cuda_backend_sources.c"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/autograd.h"
#include "framework/device_model.h"
#include "framework/sparse_grad.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "optim/trainer.h"

#include "device_test_util.h"

/* ---- data: a seeded stream of its own ------------------------------------------ */

static void reseed(uint64_t s) { seed_state = s * 0xD1B54A32D192ED03ull + 3; }

static uint32_t below(uint32_t n)
{
    seed_state = seed_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(seed_state >> 33) % n;
}

typedef enum { NO_MASK, PADDED, ANY_STEPS } masking;

/* Whether step t of row b is kept: right-padded rows keep a prefix of at
 * least one step; arbitrary ones drop random steps, row 0 its first two
 * (kept again at step 2), row 1 all of them. */
static void keep_steps(masking k, int64_t B, int64_t T, uint8_t *keep)
{
    for (int64_t b = 0; b < B; b++) {
        const int64_t len = 1 + (int64_t)below((uint32_t)T);
        for (int64_t t = 0; t < T; t++)
            keep[b * T + t] = k == NO_MASK ? 1 : k == PADDED ? t < len : b != 1 && below(4) != 0;
    }
    if (k == ANY_STEPS) {
        keep[0] = keep[1] = 0;
        keep[2] = 1;
    }
}

/* (B, T, F) floats, masked steps 0.0 (Masking's value); ids (B, T) in
 * [1, F) with masked steps 0 when ids. */
static rnnc_tensor *batch(int64_t B, int64_t T, int64_t F, bool ids, masking k)
{
    rnnc_tensor *x;
    const rnnc_shape s = ids ? RNNC_SHAPE(B, T) : RNNC_SHAPE(B, T, F);
    OK(rnnc_tensor_create(ids ? RNNC_I32 : RNNC_F32, &s, &x));
    uint8_t *keep = malloc((size_t)(B * T));
    keep_steps(k, B, T, keep);
    for (int64_t i = 0; i < B * T; i++) {
        if (ids)
            ((int32_t *)x->data)[i] = keep[i] ? 1 + (int32_t)below((uint32_t)F - 1) : 0;
        else
            for (int64_t f = 0; f < F; f++)
                ((float *)x->data)[i * F + f] = keep[i] ? uni(-1, 1) : 0.0f;
    }
    free(keep);
    return x;
}

/* ---- models ------------------------------------------------------------------ */

/* A Sequential over batch_shape `input` (dtype) with the given layers (a
 * YAML flow list's items). */
static rnnc_model *seq_model(const char *input, const char *dtype, const char *layers)
{
    return seq_model_of(input, dtype, layers);
}

/* "{class_name: Bidirectional, ...}" around a GRU of `units` and `gru`'s extra keys. */
static const char *bidi(char *buf, size_t cap, const char *merge, int units, const char *gru)
{
    snprintf(buf, cap,
             "{class_name: Bidirectional, config: {name: bidi, merge_mode: %s, layer: {class_name: GRU, "
             "config: {name: gru, units: %d%s%s}}}}",
             merge, units, gru[0] ? ", " : "", gru);
    return buf;
}

/* ---- tables; comparison: within, fetch (device_test_util.h) ------------------ */

static const rnnc_backend_ops *table(int i) { return i == 0 ? rnnc_backend_ops_cpu() : rnnc__cuda_backend_ops(); }

/* Model m on x: the CPU model's training call and backward against the
 * device model's on table `which`. */
static void against_cpu(const char *label, rnnc_model *m, rnnc_tensor *x, int which)
{
    const rnnc_backend_ops *be = table(which);
    char what[300];
    rnnc_ctx *cx = rnnc_ctx_create();
    cr_assert(cx);
    rnnc_call_result res;
    rnnc_tensor *r, *y = cpu_train_call(m, x, cx, &res, &r);

    rnnc_dmodel *dm = NULL;
    OK(rnnc_dmodel_create(m, be, &dm));
    const rnnc_bbuf *dout;
    rnnc_shape ys;
    const uint8_t *ymask;
    OK(rnnc_dmodel_forward(dm, x, true, &dout, &ys, &ymask));
    cr_assert(rnnc_shape_eq(&ys, &y->shape), "%s on %s: output shape", label, be->name);
    float *got = fetch(be, dout);
    snprintf(what, sizeof what, "%s on %s: output", label, be->name);
    within(what, got, y->data, y->numel);
    free(got);
    cr_assert_eq(ymask != NULL, res.mask != NULL, "%s on %s: output mask", label, be->name);
    expect_mask(ymask, res.mask, label);
    rnnc_bbuf *dy;
    OK(be->alloc(RNNC_F32, r->numel, &dy));
    OK(be->upload(dy, r->data));
    OK(rnnc_dmodel_zero_grad(dm));
    OK(rnnc_dmodel_backward(dm, dy));
    int n, hn, with_grad = 0;
    rnnc_dweight *dw = rnnc_dmodel_weights(dm, &n);
    rnnc_weight *hw[32];
    OK(rnnc_model_weights(m, hw, 32, &hn));
    cr_assert_eq(n, hn);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(dw[i].host, hw[i]);
        if (!dw[i].grad)
            continue;
        OK(rnnc_tensor_grad_densify(hw[i]->value));
        const float *want = hw[i]->value->grad;
        cr_assert(want, "%s: no host gradient for '%s'", label, hw[i]->name);
        double mx = 0;
        for (size_t k = 0; k < hw[i]->value->numel; k++)
            mx = fmax(mx, fabs((double)want[k]));
        cr_expect_gt(mx, 0.0, "%s: '%s' has a zero gradient", label, hw[i]->name);
        got = fetch(be, dw[i].grad);
        snprintf(what, sizeof what, "%s on %s: gradient of %s (weight %d)", label, be->name, hw[i]->name, i);
        within(what, got, want, hw[i]->value->numel);
        free(got);
        with_grad++;
    }
    cr_expect_eq(with_grad, n, "%s: %d of %d weights have a device gradient", label, with_grad, n);
    be->free(dy);
    rnnc_dmodel_destroy(dm);
    rnnc_tensor_destroy(r);
    rnnc_ctx_destroy(cx);
}

/* One Bidirectional model: built from `layers`, checked on both tables for
 * each masking kind. */
typedef struct bcase {
    const char *label, *input, *dtype;
    int64_t B, T, F; /* F: the vocabulary with ids */
    bool ids;
    masking kinds[3];
    int n_kinds;
} bcase;

static void run_case(const bcase *c, const char *layers, uint64_t seed)
{
    reseed(seed);
    rnnc_model *m = seq_model(c->input, c->dtype, layers);
    for (int k = 0; k < c->n_kinds; k++) {
        rnnc_tensor *x = batch(c->B, c->T, c->F, c->ids, c->kinds[k]);
        char label[200];
        snprintf(label, sizeof label, "%s (mask kind %d)", c->label, (int)c->kinds[k]);
        for (int t = 0; t < 2; t++)
            against_cpu(label, m, x, t);
        rnnc_tensor_destroy(x);
    }
    rnnc_model_destroy(m);
}

static void emu_shutdown(void) { rnnc__cuda_api()->shutdown(); }

TestSuite(device_bidirectional, .fini = emu_shutdown);

#define MASKING_LAYER "{class_name: Masking, config: {name: masking}}"

/* Masking -> Bidirectional(GRU(5, gru_keys), merge) -> Dense(3) on (B, 7, 3)
 * without a mask, right-padded and arbitrary. */
static void masked_merge(const char *merge, bool seq, const char *gru_keys, uint64_t seed)
{
    char b[600], layers[1200], label[200], keys[300];
    snprintf(keys, sizeof keys, "return_sequences: %s%s%s", seq ? "true" : "false", gru_keys[0] ? ", " : "",
             gru_keys);
    snprintf(layers, sizeof layers, MASKING_LAYER ", %s, {class_name: Dense, config: {name: dense, units: 3}}",
             bidi(b, sizeof b, merge, 5, keys));
    snprintf(label, sizeof label, "merge %s, return_sequences %d %s", merge, seq, gru_keys);
    const bcase c = {label, "[null, 7, 3]", "float32", 4, 7, 3, false, {NO_MASK, PADDED, ANY_STEPS}, 3};
    run_case(&c, layers, seed);
}

Test(device_bidirectional, concat_sequences) { masked_merge("concat", true, "", 1); }
Test(device_bidirectional, concat_last_output) { masked_merge("concat", false, "", 2); }
Test(device_bidirectional, sum_sequences) { masked_merge("sum", true, "", 3); }
Test(device_bidirectional, sum_last_output) { masked_merge("sum", false, "", 4); }
Test(device_bidirectional, mul_sequences) { masked_merge("mul", true, "", 5); }
Test(device_bidirectional, mul_last_output) { masked_merge("mul", false, "", 6); }
Test(device_bidirectional, ave_sequences) { masked_merge("ave", true, "", 7); }
Test(device_bidirectional, ave_last_output) { masked_merge("ave", false, "", 8); }
Test(device_bidirectional, concat_sequences_reset_after_false_no_bias)
{
    masked_merge("concat", true, "reset_after: false, use_bias: false", 9);
}
/* A given backward_layer: the wrapped layer goes backwards and the
 * "backward" one forwards (Keras only asks that they differ), with another
 * reset_after. */
Test(device_bidirectional, given_backward_layer_go_backwards_swapped_mul_sequences)
{
    const char *layers =
        MASKING_LAYER ", {class_name: Bidirectional, config: {name: bidi, merge_mode: mul, layer: {class_name: GRU, "
        "config: {name: gru, units: 5, return_sequences: true, go_backwards: true}}, backward_layer: {class_name: "
        "GRU, config: {name: back, units: 5, return_sequences: true, reset_after: false}}}}, "
        "{class_name: Dense, config: {name: dense, units: 3}}";
    const bcase c = {"given backward_layer, mul", "[null, 7, 3]", "float32", 4, 7, 3, false,
                     {NO_MASK, PADDED, ANY_STEPS}, 3};
    run_case(&c, layers, 10);
}
Test(device_bidirectional, relu_hard_sigmoid_ave_last_output)
{
    masked_merge("ave", false, "activation: relu, recurrent_activation: hard_sigmoid", 11);
}

/* On the model input itself (no Masking), then a second, stacked one. */
Test(device_bidirectional, on_the_input_and_stacked)
{
    char b1[600], b2[600], layers[1600];
    snprintf(layers, sizeof layers, "%s, ", bidi(b1, sizeof b1, "concat", 4, "return_sequences: true"));
    strcat(layers, bidi(b2, sizeof b2, "sum", 3, ""));
    /* the second one is named bidi too: rename it */
    char *second = strstr(layers + strlen(b1), "name: bidi");
    memcpy(second, "name: bid2", 10);
    strcat(layers, ", {class_name: Dense, config: {name: dense, units: 2, activation: tanh}}");
    const bcase c = {"input -> bidi concat seq -> bidi sum", "[null, 6, 2]", "float32", 3, 6, 2, false, {NO_MASK}, 1};
    run_case(&c, layers, 12);
}

/* Embedding(mask_zero) gives the mask. */
Test(device_bidirectional, embedding_mask_zero)
{
    char b[600], layers[1200];
    snprintf(layers, sizeof layers,
             "{class_name: Embedding, config: {name: emb, input_dim: 9, output_dim: 4, mask_zero: true}}, %s, "
             "{class_name: Dense, config: {name: dense, units: 9, activation: softmax}}",
             bidi(b, sizeof b, "concat", 4, "return_sequences: true"));
    const bcase c = {"embedding mask_zero -> bidi concat seq", "[null, 8]", "int32", 4, 8, 9, true, {PADDED, ANY_STEPS}, 2};
    run_case(&c, layers, 13);
}

/* ---- refusals -------------------------------------------------------------------- */

/* The line whole, or its start only when it ends in "..." (the wrapped
 * layer's own reason follows). */
static void refused(const char *layers, const char *line)
{
    rnnc_model *m = seq_model("[null, 5, 3]", "float32", layers);
    const size_t n = strlen(line);
    const bool prefix = n > 3 && strcmp(line + n - 3, "...") == 0;
    for (int t = 0; t < 2; t++) {
        rnnc_dmodel *dm = NULL;
        cr_assert_eq(rnnc_dmodel_create(m, table(t), &dm), RNNC_E_UNSUPPORTED, "%s: created", line);
        cr_assert_null(dm);
        if (prefix)
            cr_expect(strncmp(rnnc_last_error(), line, n - 3) == 0 && !strchr(rnnc_last_error(), '\n'),
                      "got '%s', want '%s'", rnnc_last_error(), line);
        else
            cr_expect_str_eq(rnnc_last_error(), line);
    }
    rnnc_model_destroy(m);
}

Test(device_bidirectional, refusals)
{
    refused("{class_name: Bidirectional, config: {name: bidi, merge_mode: null, layer: {class_name: GRU, config: "
            "{name: gru, units: 2, return_sequences: true}}}}",
            "layer 'bidi' (Bidirectional): merge_mode=None (a list of two outputs) has no device implementation");
    refused("{class_name: Bidirectional, config: {name: bidi, layer: {class_name: GRU, config: "
            "{name: gru, units: 2, return_state: true}}}}",
            "layer 'bidi' (Bidirectional): return_state=True has no device implementation");
    refused("{class_name: Bidirectional, config: {name: bidi, layer: {class_name: SimpleRNN, config: "
            "{name: rnn, units: 2}}}}",
            "layer 'bidi' (Bidirectional): the wrapped SimpleRNN 'forward_rnn' has no device implementation");
    refused("{class_name: Bidirectional, config: {name: bidi, layer: {class_name: GRU, config: "
            "{name: gru, units: 2, recurrent_dropout: 0.25}}}}",
            "layer 'bidi' (Bidirectional): layer 'forward_gru' (GRU): recurrent_dropout 0.25 has no device implementation...");
}

/* ---- a short fit: the device path against the CPU path ------------------------------ */

static const char fit_layers[] =
    MASKING_LAYER ", {class_name: Bidirectional, config: {name: bidi, merge_mode: concat, layer: {class_name: GRU, "
    "config: {name: gru, units: 4, return_sequences: true}}}}, {class_name: Bidirectional, config: {name: bid2, "
    "merge_mode: ave, layer: {class_name: GRU, config: {name: gru2, units: 3}}}}, {class_name: Dense, config: "
    "{name: dense, units: 2}}";

/* 3 epochs of Adam on the CPU path and on table be from the same weights:
 * every epoch's values within 1e-4 (relative above 1). */
static void fit_against_cpu(const rnnc_backend_ops *be, const char *layers)
{
    reseed(20);
    const int64_t N = 24, T = 6;
    rnnc_tensor *x = batch(N, T, 3, false, PADDED), *y;
    const rnnc_shape ys = RNNC_SHAPE(N, 2);
    OK(rnnc_tensor_create(RNNC_F32, &ys, &y));
    for (size_t i = 0; i < y->numel; i++)
        ((float *)y->data)[i] = uni(-1, 1);
    rnnc_history *h[2] = {NULL, NULL};
    rnnc_model *m[2];
    for (int k = 0; k < 2; k++) {
        m[k] = seq_model("[null, 6, 3]", "float32", layers);
        if (k) { /* the CPU path's initial weights */
            rnnc_weight *a[32], *b[32];
            int na, nb;
            OK(rnnc_model_weights(m[0], a, 32, &na));
            OK(rnnc_model_weights(m[1], b, 32, &nb));
            for (int i = 0; i < na; i++)
                memcpy(b[i]->value->data, a[i]->value->data, a[i]->value->numel * sizeof(float));
        }
    }
    for (int k = 0; k < 2; k++) {
        rnnc_trainer *tr;
        OK(rnnc_trainer_create(m[k], &tr));
        rnnc_cfg *c;
        const char *compile = "{optimizer: adam, loss: mse, metrics: [mae]}";
        OK(rnnc_spec_read_string(compile, strlen(compile), "compile", &c));
        OK(rnnc_trainer_compile_config(tr, rnnc_cfg_peek(c, "optimizer"), rnnc_cfg_peek(c, "loss"),
                                       rnnc_cfg_peek(c, "metrics"), NULL));
        if (k)
            OK(rnnc_trainer_set_device(tr, be));
        rnnc_fit_options o = rnnc_fit_options_default();
        o.epochs = 3;
        o.batch_size = 10;
        o.seed = 5;
        o.verbose = RNNC_VERBOSE_SILENT;
        o.validation_split = 0.25;
        OK(rnnc_trainer_fit(tr, x, y, &o, &h[k]));
        rnnc_trainer_destroy(tr);
        rnnc_cfg_destroy(c);
    }
    const int n_keys = rnnc_history_n_keys(h[0]);
    cr_assert_eq(rnnc_history_n_keys(h[1]), n_keys);
    cr_assert_geq(n_keys, 4, "loss, mae, val_loss, val_mae");
    for (int k = 0; k < n_keys; k++) {
        const char *key = rnnc_history_key(h[0], k);
        const double *a = rnnc_history_get(h[0], key), *b = rnnc_history_get(h[1], key);
        cr_assert(b, "no '%s' on %s", key, be->name);
        for (int e = 0; e < 3; e++)
            cr_expect(fabs(a[e] - b[e]) <= 1e-4 * fmax(1.0, fabs(a[e])), "%s %s epoch %d: %.9g vs the CPU path's %.9g",
                      be->name, key, e + 1, b[e], a[e]);
    }
    /* the weights moved alike (the epochs' values could agree by luck only) */
    rnnc_weight *a[32], *b[32];
    int na, nb;
    OK(rnnc_model_weights(m[0], a, 32, &na));
    OK(rnnc_model_weights(m[1], b, 32, &nb));
    for (int i = 0; i < na; i++)
        within(a[i]->name, b[i]->value->data, a[i]->value->data, a[i]->value->numel);
    for (int k = 0; k < 2; k++) {
        rnnc_history_destroy(h[k]);
        rnnc_model_destroy(m[k]);
    }
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

Test(device_bidirectional, fit_cpu_table) { fit_against_cpu(rnnc_backend_ops_cpu(), fit_layers); }
Test(device_bidirectional, fit_cuda_emulated) { fit_against_cpu(rnnc__cuda_backend_ops(), fit_layers); }

/* A wrapped GRU with input dropout (seeded: both copies and both models
 * draw alike, as in Keras) does on the device what a GRU alone does there:
 * when the GRU's device class runs dropout, the fit matches the CPU path's
 * (its masks drawn from the same host stream); when it refuses it, the
 * Bidirectional refuses with the same line behind its own name. */
Test(device_bidirectional, gru_dropout_as_the_gru_alone)
{
    static const char bidi_drop[] =
        MASKING_LAYER ", {class_name: Bidirectional, config: {name: bidi, merge_mode: sum, layer: {class_name: GRU, "
        "config: {name: gru, units: 4, dropout: 0.3, seed: 7, return_sequences: true}}}}, {class_name: "
        "Bidirectional, config: {name: bid2, merge_mode: mul, layer: {class_name: GRU, config: {name: gru2, "
        "units: 3, dropout: 0.5, seed: 8}}}}, {class_name: Dense, config: {name: dense, units: 2}}";
    static const char alone[] =
        MASKING_LAYER ", {class_name: GRU, config: {name: forward_gru, units: 4, dropout: 0.3, seed: 7}}";
    rnnc_model *m = seq_model("[null, 6, 3]", "float32", alone);
    rnnc_dmodel *dm = NULL;
    const rnnc_status s = rnnc_dmodel_create(m, rnnc_backend_ops_cpu(), &dm);
    char line[600];
    snprintf(line, sizeof line, "layer 'bidi' (Bidirectional): %s", rnnc_last_error());
    rnnc_dmodel_destroy(dm);
    rnnc_model_destroy(m);
    if (s == RNNC_OK) {
        for (int t = 0; t < 2; t++)
            fit_against_cpu(table(t), bidi_drop);
        return;
    }
    cr_assert_eq(s, RNNC_E_UNSUPPORTED, "%s", line);
    m = seq_model("[null, 6, 3]", "float32", bidi_drop);
    for (int t = 0; t < 2; t++) {
        cr_assert_eq(rnnc_dmodel_create(m, table(t), &dm), RNNC_E_UNSUPPORTED);
        cr_expect_str_eq(rnnc_last_error(), line);
    }
    rnnc_model_destroy(m);
}

/* The same fit on a real GPU (a CUDA build on a machine with one). */
static void gpu_done(void)
{
    const rnnc_cuda_api *t = rnnc_backend_cuda_table();
    if (t)
        t->shutdown();
}

TestSuite(device_bidirectional_gpu, .fini = gpu_done);

Test(device_bidirectional_gpu, fit)
{
    const rnnc_backend_ops *g;
    if (rnnc_backend_ops_get(RNNC_DEVICE_CUDA, &g) != RNNC_OK)
        cr_skip_test("no CUDA backend: %s", rnnc_last_error());
    fit_against_cpu(g, fit_layers);
}
