/* test_device_model.c - a Sequential model's forward and backward on a
 * backend (framework/device_model.h) against the CPU model.
 *
 * Each case runs the model on the host (rnnc_model_call, training, then
 * backward from sum(y * r) for a fixed random r, so dy = r) and on a
 * backend table (rnnc_dmodel_forward / rnnc_dmodel_backward with dy = r),
 * and compares the output, the output mask and every trainable weight's
 * gradient. Two tables: the CPU backend's, and the CUDA backend's own C
 * code over the emulation of tests/cuda_emu (cuda_backend_sources.c, as
 * test_backend_ops does). The CPU model is rnnc's reference, proven
 * against Keras 3.15.1 by test_gru_keras and the layer tests; here it is
 * the oracle.
 *
 * Tolerance: |got - want| <= 1e-5 * (|want| + max|want|) per element of a
 * tensor. The device computes in float32 with another order of additions
 * (the backend's BPTT and matmuls against the fused CPU kernel and the
 * tape), so an element's error scales with the magnitude of the terms
 * summed into it, which the tensor's largest magnitude bounds; an element
 * that cancels to near 0 is held to 1e-5 of that scale rather than to
 * 1e-5 of itself. Every compared gradient is checked to be non-zero.
 *
 * Models: the example specs' files themselves (adding, sine, copy,
 * varlen, chars) and variants written here (go_backwards, reset_after
 * False, no bias, zero_output_for_mask, right-padded and arbitrary masks
 * with a fully masked row, Dense softmax / relu / linear on sequences,
 * Embedding with and without mask_zero, two stacked GRUs, use_cudnn).
 * Refusals: each line checked whole. Buffers: a fixed-shape loop of 3
 * steps allocates nothing after its first (the runner's own count and the
 * emulated cudaMalloc count).
 *
 * Dropout and GRU input dropout: the device model (m) against a twin CPU
 * model (ref) with the same weights and the same dropout streams, step
 * after step, the streams compared exactly after each; a model of one
 * Dropout against the mask computed here from its seed with
 * rnnc_rng_uniform and Keras's rule (u >= rate kept, scaled by
 * 1/(1-rate)); and a fit through rnnc_trainer_set_device against the CPU
 * path (every epoch within 1e-4, the proof), also switching paths
 * half way. */
#include "cuda_emu/cuda_backend_sources.c"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/autograd.h"
#include "framework/device_layer.h"
#include "framework/device_model.h"
#include "framework/sparse_grad.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "layers/dropout.h"
#include "layers/gru.h"
#include "layers/gru_cell.h"
#include "layers/time_distributed.h"
#include "optim/trainer.h"

/* ---- random data ------------------------------------------------------- */

static uint64_t rng_state = 1;

static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 1; }

static uint32_t rng_u32(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_u32() & 0xffffff) / (float)0x1000000;
}

/* ---- backends ------------------------------------------------------------ */

enum { BE_CPU, BE_EMU, BE_COUNT };

static const rnnc_backend_ops *backend(int which)
{
    return which == BE_CPU ? rnnc_backend_ops_cpu() : rnnc__cuda_backend_ops();
}

static void emu_done(void) { rnnc__cuda_api()->shutdown(); }

/* ---- models ---------------------------------------------------------------- */

static rnnc_model *model_from_tree(rnnc_cfg *tree)
{
    rnnc_model *m = NULL;
    rnnc_layer_reset_names();
    rnnc_status s = rnnc_model_from_config(tree, NULL, &m);
    rnnc_cfg_destroy(tree);
    cr_assert_eq(s, RNNC_OK, "model: %s", rnnc_last_error());
    return m;
}

static rnnc_model *example_model(const char *name)
{
    char path[1024];
    rnnc_cfg *tree = NULL;
    snprintf(path, sizeof path, "%s/examples/%s.yaml", RNNC_SOURCE_DIR, name);
    cr_assert_eq(rnnc_spec_read_file(path, &tree), RNNC_OK, "%s", rnnc_last_error());
    return model_from_tree(tree);
}

/* A Sequential named "v" over an input of batch_shape [null, dims...]
 * (dtype float32 or int32) and the given layer lines ("- class_name: ..."). */
static rnnc_model *yaml_model(const char *input, const char *dtype, const char *layers)
{
    char text[4096];
    rnnc_cfg *tree = NULL;
    snprintf(text, sizeof text,
             "model:\n  class_name: Sequential\n  config:\n    name: v\n    layers:\n"
             "      - class_name: InputLayer\n        config: {batch_shape: %s, dtype: %s}\n%s",
             input, dtype, layers);
    cr_assert_eq(rnnc_spec_read_string(text, strlen(text), "model", &tree), RNNC_OK, "%s\n%s",
                 rnnc_last_error(), text);
    return model_from_tree(tree);
}

/* ---- batches ------------------------------------------------------------- */

typedef enum { MASK_NONE, MASK_RIGHT_PADDED, MASK_ARBITRARY } mask_kind;

/* The masked steps of a (B, T) batch: right-padded (row b keeps a random
 * prefix of at least one step), or arbitrary (random steps, leading ones
 * included, and row 1 fully masked). */
static void draw_mask(mask_kind k, int64_t B, int64_t T, uint8_t *keep)
{
    for (int64_t b = 0; b < B; b++) {
        int64_t len = 1 + (int64_t)(rng_u32() % (uint32_t)T);
        for (int64_t t = 0; t < T; t++) {
            bool on = true;
            if (k == MASK_RIGHT_PADDED)
                on = t < len;
            else if (k == MASK_ARBITRARY)
                on = b != 1 && (rng_u32() % 3 != 0);
            keep[b * T + t] = on;
        }
    }
    if (k == MASK_ARBITRARY && B > 0 && T > 2) { /* row 0: masked first steps, kept later */
        keep[0] = 0;
        keep[1] = 0;
        keep[2] = 1;
    }
}

/* Float features (B, T, F) in [-1, 1]; masked steps all 0.0 (Masking's
 * mask_value). */
static rnnc_tensor *float_batch(int64_t B, int64_t T, int64_t F, mask_kind k)
{
    rnnc_tensor *x;
    rnnc_shape s = RNNC_SHAPE(B, T, F);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &s, &x), RNNC_OK);
    uint8_t *keep = malloc((size_t)(B * T));
    draw_mask(k, B, T, keep);
    float *d = x->data;
    for (int64_t i = 0; i < B * T; i++)
        for (int64_t f = 0; f < F; f++)
            d[i * F + f] = keep[i] ? rng_uniform(-1.0f, 1.0f) : 0.0f;
    free(keep);
    return x;
}

/* Ids (B, T) int32 in [1, V); masked steps 0 (mask_zero's padding). */
static rnnc_tensor *id_batch(int64_t B, int64_t T, int64_t V, mask_kind k)
{
    rnnc_tensor *x;
    rnnc_shape s = RNNC_SHAPE(B, T);
    cr_assert_eq(rnnc_tensor_create(RNNC_I32, &s, &x), RNNC_OK);
    uint8_t *keep = malloc((size_t)(B * T));
    draw_mask(k, B, T, keep);
    int32_t *d = x->data;
    for (int64_t i = 0; i < B * T; i++)
        d[i] = keep[i] ? 1 + (int32_t)(rng_u32() % (uint32_t)(V - 1)) : 0;
    free(keep);
    return x;
}

/* ---- comparison ------------------------------------------------------------ */

#define RTOL 1e-5

static void expect_close(const char *what, const float *got, const float *want, size_t n)
{
    double mx = 0.0;
    for (size_t i = 0; i < n; i++)
        mx = fmax(mx, fabs((double)want[i]));
    size_t bad = 0, worst = 0;
    double worst_err = -1.0;
    for (size_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - (double)want[i]);
        if (!(err <= RTOL * (fabs((double)want[i]) + mx)))
            bad++;
        if (!(err <= worst_err)) {
            worst_err = err;
            worst = i;
        }
    }
    cr_expect_eq(bad, 0, "%s: %zu of %zu elements off (max |want| %g); worst at %zu: got %.9g, want %.9g",
                 what, bad, n, mx, worst, n ? got[worst] : 0.0f, n ? want[worst] : 0.0f);
}

static float *download(const rnnc_backend_ops *be, const rnnc_bbuf *b)
{
    float *h = malloc((b->n ? b->n : 1) * sizeof *h);
    cr_assert_eq(be->download(h, b), RNNC_OK, "%s", rnnc_last_error());
    return h;
}

/* The host gradient of a weight after rnnc_backward (rows added in). */
static const float *host_grad(rnnc_weight *w)
{
    cr_assert_eq(rnnc_tensor_grad_densify(w->value), RNNC_OK, "%s", rnnc_last_error());
    cr_assert(w->value->grad, "weight '%s' has no host gradient", w->name);
    return w->value->grad;
}

/* The case: model ref on the host against model m (same weights; m is ref
 * when NULL) on table `which`, batch x. */
static void check_model_ref(const char *label, rnnc_model *m, rnnc_model *ref, rnnc_tensor *x, int which)
{
    const rnnc_backend_ops *be = backend(which);
    char what[256];
    /* The host reference. */
    rnnc_ctx *cx = rnnc_ctx_create();
    cr_assert(cx);
    if (!ref)
        ref = m;
    rnnc_model_zero_grad(ref);
    rnnc_call_args args = {.n_inputs = 1, .inputs = {x}, .training = true};
    rnnc_call_result res;
    cr_assert_eq(rnnc_model_call(ref, cx, &args, &res), RNNC_OK, "%s: %s", label, rnnc_last_error());
    rnnc_tensor *y = res.outputs[0], *r;
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &y->shape, &r), RNNC_OK);
    float *rd = r->data;
    for (size_t i = 0; i < r->numel; i++)
        rd[i] = rng_uniform(-1.0f, 1.0f);
    cr_assert_eq(rnnc_backward_with(cx, y, r), RNNC_OK, "%s", rnnc_last_error());

    /* The device. */
    rnnc_dmodel *dm = NULL;
    cr_assert_eq(rnnc_dmodel_create(m, be, &dm), RNNC_OK, "%s on %s: %s", label, be->name, rnnc_last_error());
    cr_assert_eq(rnnc_dmodel_backend(dm), be);
    const rnnc_bbuf *dy_out;
    rnnc_shape ys;
    const uint8_t *ymask;
    cr_assert_eq(rnnc_dmodel_forward(dm, x, true, &dy_out, &ys, &ymask), RNNC_OK, "%s on %s: %s", label,
                 be->name, rnnc_last_error());
    cr_assert_eq(ys.ndim, y->shape.ndim, "%s: output rank", label);
    for (int i = 0; i < ys.ndim; i++)
        cr_assert_eq(ys.dim[i], y->shape.dim[i], "%s: output dim %d", label, i);
    float *yd = download(be, dy_out);
    snprintf(what, sizeof what, "%s on %s: output", label, be->name);
    expect_close(what, yd, y->data, y->numel);
    free(yd);
    /* The output mask, as Keras passes it to the loss. */
    cr_assert_eq(ymask != NULL, res.mask != NULL, "%s on %s: output mask present %d, host %d", label, be->name,
                 ymask != NULL, res.mask != NULL);
    if (res.mask) {
        const uint8_t *hm = res.mask->data;
        for (size_t i = 0; i < res.mask->numel; i++)
            cr_assert_eq(ymask[i] != 0, hm[i] != 0, "%s on %s: output mask at %zu", label, be->name, i);
    }
    rnnc_bbuf *dy;
    cr_assert_eq(be->alloc(RNNC_F32, r->numel, &dy), RNNC_OK);
    cr_assert_eq(be->upload(dy, r->data), RNNC_OK);
    cr_assert_eq(rnnc_dmodel_zero_grad(dm), RNNC_OK);
    cr_assert_eq(rnnc_dmodel_backward(dm, dy), RNNC_OK, "%s on %s: %s", label, be->name, rnnc_last_error());

    int n;
    rnnc_dweight *dw = rnnc_dmodel_weights(dm, &n);
    rnnc_weight *hw[64];
    rnnc_weight *rw[64];
    int hn, rn;
    cr_assert_eq(rnnc_model_weights(m, hw, 64, &hn), RNNC_OK);
    cr_assert_eq(rnnc_model_weights(ref, rw, 64, &rn), RNNC_OK);
    cr_assert_eq(n, hn, "%s: %d device weights, %d host", label, n, hn);
    cr_assert_eq(rn, hn);
    int compared = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(dw[i].host, hw[i], "%s: weight %d out of rnnc_model_weights' order", label, i);
        cr_assert_eq(dw[i].value->n, hw[i]->value->numel);
        if (!strstr(hw[i]->name, "moving_")) /* ref's BatchNormalization statistics moved in its forward */
            cr_assert_eq(memcmp(hw[i]->value->data, rw[i]->value->data, hw[i]->value->numel * sizeof(float)), 0,
                         "%s: weight %d differs from the reference model's", label, i);
        if (!dw[i].grad)
            continue;
        const float *want = host_grad(rw[i]);
        double mx = 0.0;
        for (size_t k = 0; k < hw[i]->value->numel; k++)
            mx = fmax(mx, fabs((double)want[k]));
        cr_expect_gt(mx, 0.0, "%s: weight %d '%s' has a zero gradient (nothing to compare)", label, i,
                     hw[i]->name);
        float *got = download(be, dw[i].grad);
        snprintf(what, sizeof what, "%s on %s: gradient of weight %d '%s' %s", label, be->name, i,
                 hw[i]->name, rnnc_shape_str(&hw[i]->value->shape, (char[64]){0}, 64));
        expect_close(what, got, want, hw[i]->value->numel);
        free(got);
        compared++;
    }
    cr_assert_gt(compared, 0, "%s: no gradient compared", label);
    int n_tr = 0; /* grads exactly for the trainable weights, which come first */
    for (int i = 0; i < m->n_layers; i++) {
        int k;
        cr_assert_eq(rnnc_layer_trainable_weights(m->layers[i], true, hw, 64, &k), RNNC_OK);
        n_tr += k;
    }
    cr_expect_eq(compared, n_tr, "%s: %d gradients on the device, %d trainable weights", label, compared, n_tr);
    for (int i = 0; i < n; i++)
        cr_expect_eq(dw[i].grad != NULL, i < n_tr, "%s: weight %d", label, i);
    be->free(dy);
    rnnc_dmodel_destroy(dm);
    rnnc_tensor_destroy(r);
    rnnc_ctx_destroy(cx);
}

static void check_model(const char *label, rnnc_model *m, rnnc_tensor *x, int which)
{
    check_model_ref(label, m, NULL, x, which);
}

static void check_both(const char *label, rnnc_model *m, rnnc_tensor *x)
{
    for (int b = 0; b < BE_COUNT; b++)
        check_model(label, m, x, b);
}

/* A batch of B rows of T steps (F features, or ids below V when ids) with
 * masked steps of kind k, checked on both tables and freed. */
static void check_batch(const char *label, rnnc_model *m, int64_t B, int64_t T, int64_t F, bool ids,
                        mask_kind k)
{
    rnnc_tensor *x = ids ? id_batch(B, T, F, k) : float_batch(B, T, F, k);
    check_both(label, m, x);
    rnnc_tensor_destroy(x);
}

/* The model of examples/<name>.yaml on a batch as check_batch's. */
static void check_example(const char *name, uint64_t seed, int64_t B, int64_t T, int64_t F, bool ids,
                          mask_kind k)
{
    rng_seed(seed);
    rnnc_model *m = example_model(name);
    check_batch(name, m, B, T, F, ids, k);
    rnnc_model_destroy(m);
}

TestSuite(device_model, .fini = emu_done);

/* ---- the example specs ------------------------------------------------- */

Test(device_model, example_adding) { check_example("adding", 1, 5, 50, 2, false, MASK_NONE); }
Test(device_model, example_sine) { check_example("sine", 2, 3, 40, 1, false, MASK_NONE); }
Test(device_model, example_copy_return_sequences_softmax) { check_example("copy", 3, 4, 11, 10, false, MASK_NONE); }
Test(device_model, example_varlen_right_padded) { check_example("varlen", 4, 6, 30, 3, false, MASK_RIGHT_PADDED); }
Test(device_model, example_varlen_arbitrary_mask) { check_example("varlen", 5, 5, 30, 3, false, MASK_ARBITRARY); }

Test(device_model, example_chars_embedding)
{
    rng_seed(6);
    rnnc_model *m = example_model("chars");
    rnnc_tensor *x = id_batch(3, 64, 96, MASK_NONE);
    int32_t *d = x->data;
    d[5] = 0; /* id 0 is a character like any other here (no mask_zero) */
    d[6] = d[7];
    check_both("chars", m, x);
    rnnc_tensor_destroy(x);
    rnnc_model_destroy(m);
}

/* ---- variants -------------------------------------------------------------- */

/* A Sequential written here, checked on batches with each mask kind. */
typedef struct variant {
    const char *label;
    uint64_t seed;
    const char *input, *dtype, *layers; /* as yaml_model takes them */
    int64_t B, T, F;                    /* F: the vocabulary with ids */
    bool ids;
    mask_kind masks[2];
    int n_masks;
} variant;

static void check_variant(const variant *v)
{
    rng_seed(v->seed);
    rnnc_model *m = yaml_model(v->input, v->dtype, v->layers);
    for (int i = 0; i < v->n_masks; i++)
        check_batch(v->label, m, v->B, v->T, v->F, v->ids, v->masks[i]);
    rnnc_model_destroy(m);
}

#define MASKING "      - {class_name: Masking, config: {name: masking}}\n"

static const variant variants[] = {
    {"go_backwards reset_after=False", 7, "[null, 9, 3]", "float32",
     MASKING "      - {class_name: GRU, config: {name: gru, units: 6, go_backwards: true, reset_after: false, return_sequences: true}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 4, activation: relu}}\n",
     4, 9, 3, false, {MASK_ARBITRARY, MASK_RIGHT_PADDED}, 2},
    {"go_backwards last output", 8, "[null, 8, 2]", "float32",
     MASKING "      - {class_name: GRU, config: {name: gru, units: 5, go_backwards: true}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 3, activation: softmax}}\n",
     4, 8, 2, false, {MASK_RIGHT_PADDED}, 1},
    {"no bias, zero_output_for_mask, relu/hard_sigmoid", 9, "[null, 7, 3]", "float32",
     MASKING "      - {class_name: GRU, config: {name: gru, units: 4, use_bias: false, zero_output_for_mask: true, "
             "return_sequences: true, activation: relu, recurrent_activation: hard_sigmoid}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 2, use_bias: false}}\n",
     4, 7, 3, false, {MASK_ARBITRARY}, 1},
    {"two GRUs", 10, "[null, 10, 3]", "float32",
     MASKING "      - {class_name: GRU, config: {name: gru, units: 6, return_sequences: true}}\n"
             "      - {class_name: GRU, config: {name: gru_1, units: 5, reset_after: false}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 3, activation: softmax}}\n",
     5, 10, 3, false, {MASK_RIGHT_PADDED, MASK_ARBITRARY}, 2},
    {"embedding mask_zero", 11, "[null, 8]", "int32",
     "      - {class_name: Embedding, config: {name: embedding, input_dim: 7, output_dim: 4, mask_zero: true}}\n"
     "      - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 7, activation: softmax}}\n",
     4, 8, 7, true, {MASK_RIGHT_PADDED, MASK_ARBITRARY}, 2},
    {"frozen GRU between trainable layers", 16, "[null, 6]", "int32",
     "      - {class_name: Embedding, config: {name: embedding, input_dim: 5, output_dim: 3}}\n"
     "      - {class_name: GRU, config: {name: gru, units: 4, trainable: false, return_sequences: true}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 2}}\n",
     3, 6, 5, true, {MASK_NONE}, 1},
    {"Dense tanh -> linear on (B, T, F)", 12, "[null, 5, 4]", "float32",
     "      - {class_name: Dense, config: {name: dense, units: 6, activation: tanh}}\n"
     "      - {class_name: Dense, config: {name: dense_1, units: 3}}\n",
     3, 5, 4, false, {MASK_NONE}, 1},
};

Test(device_model, go_backwards_reset_before_relu_arbitrary_mask) { check_variant(&variants[0]); }
Test(device_model, go_backwards_last_output_right_padded) { check_variant(&variants[1]); }
Test(device_model, no_bias_zero_output_for_mask_other_activations) { check_variant(&variants[2]); }
Test(device_model, two_stacked_grus_masked) { check_variant(&variants[3]); }
Test(device_model, embedding_mask_zero) { check_variant(&variants[4]); }
Test(device_model, frozen_gru_between_trainable_layers) { check_variant(&variants[5]); }
Test(device_model, dense_stack_on_sequences) { check_variant(&variants[6]); }

/* ---- Activation, TimeDistributed, LayerNormalization ------------------------ */

#define TD(inner) "      - {class_name: TimeDistributed, config: {name: td, layer: " inner "}}\n"

static const variant seq_layer_variants[] = {
    {"Activation element-wise on the input, softmax on sequences, linear", 40, "[null, 6, 3]", "float32",
     "      - {class_name: Activation, config: {name: act, activation: selu}}\n"
     "      - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"
     "      - {class_name: Activation, config: {name: act_1, activation: softmax}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 3}}\n"
     "      - {class_name: Activation, config: {name: act_2, activation: linear}}\n"
     "      - {class_name: Activation, config: {name: act_3, activation: hard_sigmoid}}\n",
     4, 6, 3, false, {MASK_NONE}, 1},
    {"Masking, Activation tanh and softmax pass the mask to the GRU and the output", 41, "[null, 7, 3]", "float32",
     MASKING "      - {class_name: Activation, config: {name: act, activation: tanh}}\n"
             "      - {class_name: GRU, config: {name: gru, units: 4, return_sequences: true}}\n"
             "      - {class_name: Activation, config: {name: act_1, activation: softmax}}\n",
     5, 7, 3, false, {MASK_ARBITRARY, MASK_RIGHT_PADDED}, 2},
    {"TimeDistributed Dense on the input, Activation softmax inside one", 42, "[null, 5, 4]", "float32",
     TD("{class_name: Dense, config: {name: dense, units: 6, activation: relu}}")
     "      - {class_name: TimeDistributed, config: {name: td_1, layer: {class_name: Activation, config: {name: act, activation: softmax}}}}\n"
     "      - {class_name: TimeDistributed, config: {name: td_2, layer: {class_name: Dense, config: {name: dense_1, units: 2, use_bias: false}}}}\n",
     3, 5, 4, false, {MASK_NONE}, 1},
    {"Masking, TimeDistributed Dense before a GRU, TimeDistributed Dense softmax after: the mask through both", 43,
     "[null, 8, 3]", "float32",
     MASKING TD("{class_name: Dense, config: {name: dense, units: 5, activation: tanh}}")
     "      - {class_name: GRU, config: {name: gru, units: 4, return_sequences: true}}\n"
     "      - {class_name: TimeDistributed, config: {name: td_1, layer: {class_name: Dense, config: {name: dense_1, units: 3, activation: softmax}}}}\n",
     4, 8, 3, false, {MASK_ARBITRARY, MASK_RIGHT_PADDED}, 2},
    {"Embedding mask_zero, TimeDistributed Dense, GRU", 44, "[null, 6]", "int32",
     "      - {class_name: Embedding, config: {name: embedding, input_dim: 8, output_dim: 4, mask_zero: true}}\n"
     TD("{class_name: Dense, config: {name: dense, units: 3}}")
     "      - {class_name: GRU, config: {name: gru, units: 4}}\n",
     4, 6, 8, true, {MASK_RIGHT_PADDED}, 1},
};

Test(device_model, activation_layers) { check_variant(&seq_layer_variants[0]); }
Test(device_model, activation_layers_pass_the_mask) { check_variant(&seq_layer_variants[1]); }
Test(device_model, time_distributed_dense_and_activation) { check_variant(&seq_layer_variants[2]); }
Test(device_model, time_distributed_around_a_gru_masked) { check_variant(&seq_layer_variants[3]); }
Test(device_model, time_distributed_after_embedding_mask_zero) { check_variant(&seq_layer_variants[4]); }

static const variant layer_norm_variants[] = {
    {"Masking, LayerNormalization defaults, GRU, LayerNormalization center=False, Dense softmax", 45,
     "[null, 7, 4]", "float32",
     MASKING "      - {class_name: LayerNormalization, config: {name: ln}}\n"
             "      - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"
             "      - {class_name: LayerNormalization, config: {name: ln_1, center: false, epsilon: 0.01}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 3, activation: softmax}}\n",
     4, 7, 4, false, {MASK_ARBITRARY, MASK_RIGHT_PADDED}, 2},
    {"Dense, LayerNormalization rms_scaling, scale=False, axis [-1], TimeDistributed LayerNormalization", 46,
     "[null, 5, 3]", "float32",
     "      - {class_name: Dense, config: {name: dense, units: 6, activation: tanh}}\n"
     "      - {class_name: LayerNormalization, config: {name: ln, rms_scaling: true, epsilon: 0.1}}\n"
     "      - {class_name: LayerNormalization, config: {name: ln_1, scale: false, axis: [-1]}}\n"
     "      - {class_name: Dense, config: {name: dense_1, units: 4}}\n"
     TD("{class_name: LayerNormalization, config: {name: ln_2, epsilon: 1e-5}}")
     "      - {class_name: Dense, config: {name: dense_2, units: 2}}\n",
     3, 5, 3, false, {MASK_NONE}, 1},
    {"frozen LayerNormalization on the input, LayerNormalization on a GRU's last output", 47, "[null, 6, 5]",
     "float32",
     "      - {class_name: LayerNormalization, config: {name: ln, trainable: false, gamma_initializer: {class_name: RandomUniform, config: {minval: 0.5, maxval: 1.5, seed: 1}}, beta_initializer: {class_name: RandomUniform, config: {minval: -1, maxval: 1, seed: 2}}}}\n"
     "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
     "      - {class_name: LayerNormalization, config: {name: ln_1, gamma_initializer: {class_name: RandomUniform, config: {minval: 0.5, maxval: 1.5, seed: 3}}, beta_initializer: {class_name: RandomUniform, config: {minval: -1, maxval: 1, seed: 4}}}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 2}}\n",
     5, 6, 5, false, {MASK_NONE}, 1},
};

Test(device_model, layer_norm_masked_on_sequences) { check_variant(&layer_norm_variants[0]); }
Test(device_model, layer_norm_rms_scale_false_and_time_distributed) { check_variant(&layer_norm_variants[1]); }
Test(device_model, layer_norm_frozen_on_the_input_and_on_a_last_output) { check_variant(&layer_norm_variants[2]); }

/* ---- BatchNormalization ------------------------------------------------------ */

static rnnc_model *twin(const char *input, const char *dtype, const char *layers, rnnc_model *ref);
static void check_inference(const char *label, rnnc_model *m, rnnc_model *ref, rnnc_tensor *x, int which);

#define BN_RANDOM_INIT                                                                                             \
    "gamma_initializer: {class_name: RandomUniform, config: {minval: 0.5, maxval: 1.5, seed: 1}}, "                   \
    "beta_initializer: {class_name: RandomUniform, config: {minval: -1, maxval: 1, seed: 2}}, "                       \
    "moving_mean_initializer: {class_name: RandomUniform, config: {minval: -0.5, maxval: 0.5, seed: 3}}, "            \
    "moving_variance_initializer: {class_name: RandomUniform, config: {minval: 0.5, maxval: 2, seed: 4}}"

static const variant batch_norm_variants[] = {
    {"BatchNormalization on the input, after a GRU's sequence (center=False) and its last output", 48,
     "[null, 6, 3]", "float32",
     "      - {class_name: BatchNormalization, config: {name: bn, " BN_RANDOM_INIT "}}\n"
     "      - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"
     "      - {class_name: BatchNormalization, config: {name: bn_1, center: false, momentum: 0.5}}\n"
     "      - {class_name: GRU, config: {name: gru_1, units: 4}}\n"
     "      - {class_name: BatchNormalization, config: {name: bn_2, scale: false, epsilon: 0.1}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 2}}\n",
     5, 6, 3, false, {MASK_NONE}, 1},
    {"Masking, BatchNormalization with Keras's masked moments, GRU, frozen BatchNormalization", 49, "[null, 7, 3]",
     "float32",
     MASKING "      - {class_name: BatchNormalization, config: {name: bn, " BN_RANDOM_INIT "}}\n"
             "      - {class_name: GRU, config: {name: gru, units: 4, return_sequences: true}}\n"
             "      - {class_name: BatchNormalization, config: {name: bn_1, trainable: false, " BN_RANDOM_INIT "}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 2}}\n",
     5, 7, 3, false, {MASK_ARBITRARY, MASK_RIGHT_PADDED}, 2},
};

Test(device_model, batch_norm_on_sequences_and_last_outputs) { check_variant(&batch_norm_variants[0]); }
Test(device_model, batch_norm_masked_moments_and_frozen) { check_variant(&batch_norm_variants[1]); }

/* The moving statistics: a twin of the CPU model on each table, three
 * training steps in a row (output and gradients as check_model_ref), after
 * each the device's moving mean and variance (a training forward, then
 * rnnc_dmodel_download) within 1e-6 of the CPU model's; then an inference
 * step on them. */
static void check_moving_statistics(const variant *v)
{
    for (int b = 0; b < BE_COUNT; b++) {
        rng_seed(v->seed);
        rnnc_model *ref = yaml_model(v->input, v->dtype, v->layers);
        rnnc_model *m = twin(v->input, v->dtype, v->layers, ref);
        for (int step = 0; step < 3; step++) {
            char label[192];
            snprintf(label, sizeof label, "%s, step %d", v->label, step + 1);
            rnnc_tensor *x = float_batch(v->B, v->T, v->F, v->masks[0]);
            check_model_ref(label, m, ref, x, b); /* moves ref's statistics once */
            rnnc_dmodel *dm;
            const rnnc_bbuf *y;
            cr_assert_eq(rnnc_dmodel_create(m, backend(b), &dm), RNNC_OK, "%s", rnnc_last_error());
            cr_assert_eq(rnnc_dmodel_forward(dm, x, true, &y, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
            cr_assert_eq(rnnc_dmodel_download(dm), RNNC_OK);
            rnnc_dmodel_destroy(dm);
            rnnc_weight *a[32], *c[32];
            int na, nc, moved = 0;
            cr_assert_eq(rnnc_model_weights(m, a, 32, &na), RNNC_OK);
            cr_assert_eq(rnnc_model_weights(ref, c, 32, &nc), RNNC_OK);
            for (int i = 0; i < na; i++) {
                if (!strstr(a[i]->name, "moving_"))
                    continue;
                const float *p = a[i]->value->data, *q = c[i]->value->data;
                for (size_t k = 0; k < a[i]->value->numel; k++)
                    cr_expect(fabs((double)p[k] - (double)q[k]) <= 1e-6 * (1.0 + fabs((double)q[k])),
                              "%s on %s: %s[%zu] %.9g, the CPU model's %.9g", label, backend(b)->name, a[i]->name, k,
                              (double)p[k], (double)q[k]);
                moved++;
                memcpy(a[i]->value->data, q, a[i]->value->numel * sizeof *q); /* the next step starts equal */
            }
            cr_assert_gt(moved, 0, "%s: no moving statistics", label);
            rnnc_tensor_destroy(x);
        }
        rnnc_tensor *x = float_batch(v->B, v->T, v->F, v->masks[0]);
        check_inference(v->label, m, ref, x, b);
        rnnc_tensor_destroy(x);
        rnnc_model_destroy(m);
        rnnc_model_destroy(ref);
    }
}

Test(device_model, batch_norm_moving_statistics_follow_the_cpu) { check_moving_statistics(&batch_norm_variants[0]); }
Test(device_model, batch_norm_masked_moving_statistics_follow_the_cpu) { check_moving_statistics(&batch_norm_variants[1]); }

Test(device_model, use_cudnn_false_and_true)
{
    rng_seed(13);
    /* False: the generic kernel everywhere; True on the emulated CUDA:
     * cuDNN, which a right-padded mask allows. */
    rnnc_model *m = yaml_model("[null, 6, 2]", "float32",
                               MASKING "      - {class_name: GRU, config: {name: gru, units: 4, use_cudnn: false}}\n"
                               "      - {class_name: Dense, config: {name: dense, units: 1}}\n");
    rnnc_tensor *x = float_batch(4, 6, 2, MASK_RIGHT_PADDED);
    check_both("use_cudnn=False", m, x);
    /* True: the host model cannot run it (no CUDA in this build), so the
     * reference is the 'auto' model m with the same weights. */
    rnnc_model *t = yaml_model("[null, 6, 2]", "float32",
                               MASKING "      - {class_name: GRU, config: {name: gru, units: 4, use_cudnn: true}}\n"
                               "      - {class_name: Dense, config: {name: dense, units: 1}}\n");
    rnnc_weight *from[8], *to[8];
    int n, k;
    cr_assert_eq(rnnc_model_weights(m, from, 8, &n), RNNC_OK);
    cr_assert_eq(rnnc_model_weights(t, to, 8, &k), RNNC_OK);
    cr_assert_eq(n, k);
    for (int i = 0; i < n; i++)
        memcpy(to[i]->value->data, from[i]->value->data, from[i]->value->numel * sizeof(float));
    check_model_ref("use_cudnn=True", t, m, x, BE_EMU);
    rnnc_tensor_destroy(x);
    rnnc_model_destroy(t);
    rnnc_model_destroy(m);
}

/* ---- refusals -------------------------------------------------------------- */

/* rnnc_dmodel_create on table `which` fails with want and exactly `line`. */
static void expect_refused(rnnc_model *m, int which, rnnc_status want, const char *line)
{
    rnnc_dmodel *dm = (rnnc_dmodel *)&dm;
    rnnc_status s = rnnc_dmodel_create(m, backend(which), &dm);
    cr_expect_eq(s, want, "status %d, want %d (%s)", (int)s, (int)want, rnnc_last_error());
    cr_expect_null(dm);
    cr_expect_str_eq(rnnc_last_error(), line);
    rnnc_model_destroy(m);
}

/* Models rnnc_dmodel_create refuses on one table, each with its line. */
static const struct refusal {
    const char *input, *dtype;
    int backend;
    const char *layers, *line;
} refusals[] = {
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: SimpleRNN, config: {name: simple_rnn, units: 3}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 1}}\n",
     "layer 'simple_rnn' (SimpleRNN): the SimpleRNN layer has no device implementation"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: GRU, config: {name: gru, units: 3, return_sequences: true}}\n"
     "      - {class_name: SimpleRNN, config: {name: simple_rnn, units: 2}}\n",
     "layer 'simple_rnn' (SimpleRNN): the SimpleRNN layer has no device implementation"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: GRU, config: {name: gru, units: 3, recurrent_dropout: 0.2}}\n",
     "layer 'gru' (GRU): recurrent_dropout 0.2 has no device implementation (the GRU op takes no recurrent mask; dropout runs)"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: GRU, config: {name: gru, units: 3, dropout: 0.5, recurrent_dropout: 0.5}}\n",
     "layer 'gru' (GRU): recurrent_dropout 0.5 has no device implementation (the GRU op takes no recurrent mask; dropout runs)"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: GRU, config: {name: gru, units: 3, dropout: 0.5, implementation: 1}}\n",
     "layer 'gru' (GRU): dropout 0.5 with implementation 1 (a mask per gate) has no device implementation (implementation 2's shared mask runs)"},
    {"[4, 5, 2]", "float32", BE_CPU,
     "      - {class_name: GRU, config: {name: gru, units: 3, stateful: true}}\n",
     "layer 'gru' (GRU): stateful=True has no device implementation"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: GRU, config: {name: gru, units: 3, activation: softmax}}\n",
     "layer 'gru' (GRU): activation 'softmax' / recurrent_activation 'sigmoid' has no device implementation (element-wise ones)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: GRU, config: {name: gru, units: 3, recurrent_constraint: non_neg}}\n",
     "layer 'gru' (GRU): recurrent_constraint has no device implementation (the CPU path applies it)"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: GRU, config: {name: gru, units: 3, dtype: mixed_bfloat16}}\n",
     "layer 'gru' (GRU): the mixed_bfloat16 dtype policy has no device implementation (float32 only)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: GRU, config: {name: gru, units: 3, use_cudnn: true}}\n",
     "layer 'gru' (GRU): use_cudnn=True, but cuDNN cannot run this call (pass use_cudnn='auto' to fall back): the cpu backend has no cuDNN"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: GRU, config: {name: gru, units: 3, use_cudnn: true, reset_after: false}}\n",
     "layer 'gru' (GRU): use_cudnn=True, but cuDNN cannot run this call (pass use_cudnn='auto' to fall back): reset_after=False; cuDNN computes only reset_after=True"},
    {"[null, 4]", "float32", BE_CPU,
     "      - {class_name: Dense, config: {name: dense, units: 2, kernel_regularizer: l2}}\n",
     "layer 'dense' (Dense): kernel_regularizer has no device implementation (the CPU path applies it)"},
    {"[null, 4]", "float32", BE_CPU,
     "      - {class_name: Dense, config: {name: dense, units: 2, activity_regularizer: l1}}\n",
     "layer 'dense' (Dense): activity_regularizer has no device implementation (the CPU path applies it)"},
    {"[null, 4]", "float32", BE_EMU,
     "      - {class_name: Dense, config: {name: dense, units: 2, activation: log_softmax}}\n",
     "layer 'dense' (Dense): activation 'log_softmax' has no device implementation (element-wise ones and softmax)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: Dense, config: {name: dense, units: 2}}\n"
     "      - {class_name: Masking, config: {name: masking}}\n",
     "layer 'masking' (Masking): runs on a device only directly on the model input (its mask is computed from the host batch)"},
    {"[null, 5]", "int32", BE_CPU,
     "      - {class_name: Masking, config: {name: masking}}\n"
     "      - {class_name: Embedding, config: {name: embedding, input_dim: 4, output_dim: 2}}\n",
     "layer 'embedding' (Embedding): reads the host batch, so it runs on a device only directly on the model input (here after layer 'masking')"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: Activation, config: {name: act, activation: log_softmax}}\n",
     "layer 'act' (Activation): activation 'log_softmax' has no device implementation (element-wise ones and softmax)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: TimeDistributed, config: {name: td, layer: {class_name: BatchNormalization, config: {name: bn}}}}\n",
     "layer 'td' (TimeDistributed): the wrapped BatchNormalization 'bn' has no device implementation inside TimeDistributed (Dense, Activation, Dropout and LayerNormalization run)"},
    {"[null, 5, 4, 2]", "float32", BE_EMU,
     "      - {class_name: TimeDistributed, config: {name: td, layer: {class_name: GRU, config: {name: gru, units: 3}}}}\n",
     "layer 'td' (TimeDistributed): the wrapped GRU 'gru' has no device implementation inside TimeDistributed (Dense, Activation, Dropout and LayerNormalization run)"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: TimeDistributed, config: {name: td, layer: {class_name: Dense, config: {name: dense, units: 2, activation: glu}}}}\n",
     "layer 'td' (TimeDistributed): layer 'dense' (Dense): activation 'glu' has no device implementation (element-wise ones and softmax)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: TimeDistributed, config: {name: td, layer: {class_name: Dense, config: {name: dense, units: 2, bias_constraint: non_neg}}}}\n",
     "layer 'td' (TimeDistributed): bias_constraint has no device implementation (the CPU path applies it)"},
    {"[null, 5, 2]", "float32", BE_EMU,
     "      - {class_name: LayerNormalization, config: {name: ln, axis: [1, 2]}}\n",
     "layer 'ln' (LayerNormalization): normalizing over axes [1, 2] of a rank-3 input has no device implementation (the last axis alone runs)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: LayerNormalization, config: {name: ln, axis: 1}}\n",
     "layer 'ln' (LayerNormalization): normalizing over axes [1] of a rank-3 input has no device implementation (the last axis alone runs)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: LayerNormalization, config: {name: ln, gamma_regularizer: l2}}\n",
     "layer 'ln' (LayerNormalization): gamma_regularizer has no device implementation (the CPU path applies it)"},
    {"[null, 5, 2]", "float32", BE_CPU,
     "      - {class_name: BatchNormalization, config: {name: bn, axis: 1}}\n",
     "layer 'bn' (BatchNormalization): axis 1 (not the last axis of a rank-3 input) has no device implementation (axis -1 runs)"},
};

Test(device_model, refusals)
{
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        const struct refusal *r = &refusals[i];
        expect_refused(yaml_model(r->input, r->dtype, r->layers), r->backend, RNNC_E_UNSUPPORTED, r->line);
    }
}

Test(device_model, refuses_functional)
{
    rnnc_cfg *tree = NULL;
    cr_assert_eq(rnnc_spec_read_file(RNNC_FIXTURES "/functional/masked.json", &tree), RNNC_OK, "%s",
                 rnnc_last_error());
    expect_refused(model_from_tree(tree), BE_CPU, RNNC_E_UNSUPPORTED,
                   "device model: 'masked' is a Functional model; only Sequential models run on a device");
}

/* Per-batch failures: the CPU model's message for a bad id, use_cudnn=True
 * with a mask cuDNN cannot take, backward without a training forward, a
 * batch of the wrong shape. */
Test(device_model, per_batch_errors)
{
    rng_seed(14);
    rnnc_model *m = yaml_model("[null, 4]", "int32",
                               "      - {class_name: Embedding, config: {name: embedding, input_dim: 9, output_dim: 3}}\n"
                               "      - {class_name: GRU, config: {name: gru, units: 2}}\n");
    rnnc_tensor *x = id_batch(2, 4, 9, MASK_NONE);
    ((int32_t *)x->data)[5] = 9;
    static const char line[] =
        "Sequential 'v', layer 0: Embedding 'embedding': gather_rows: id 9 at flat position 5 of ids (2, 4) is outside [0, 9) (table (9, 3))";
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_call_args args = {.n_inputs = 1, .inputs = {x}, .training = true};
    rnnc_call_result res;
    cr_assert_eq(rnnc_model_call(m, cx, &args, &res), RNNC_E_ARG);
    cr_expect_str_eq(rnnc_last_error(), line, "the CPU model's line changed: update this test");
    rnnc_ctx_destroy(cx);
    for (int b = 0; b < BE_COUNT; b++) {
        rnnc_dmodel *dm;
        const rnnc_bbuf *y;
        cr_assert_eq(rnnc_dmodel_create(m, backend(b), &dm), RNNC_OK, "%s", rnnc_last_error());
        cr_expect_eq(rnnc_dmodel_forward(dm, x, true, &y, NULL, NULL), RNNC_E_ARG);
        cr_expect_str_eq(rnnc_last_error(), line);
        /* backward needs a training forward */
        ((int32_t *)x->data)[5] = 1;
        rnnc_bbuf *dy;
        cr_assert_eq(backend(b)->alloc(RNNC_F32, 4, &dy), RNNC_OK);
        cr_expect_eq(rnnc_dmodel_backward(dm, dy), RNNC_E_STATE);
        cr_assert_eq(rnnc_dmodel_forward(dm, x, false, &y, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
        cr_expect_eq(rnnc_dmodel_backward(dm, dy), RNNC_E_STATE);
        cr_assert_eq(rnnc_dmodel_forward(dm, x, true, &y, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
        cr_expect_eq(rnnc_dmodel_backward(dm, dy), RNNC_OK, "%s", rnnc_last_error());
        cr_expect_eq(rnnc_dmodel_backward(dm, dy), RNNC_E_STATE); /* one per forward */
        /* a batch that does not fit the input */
        rnnc_tensor *bad;
        rnnc_shape bs = RNNC_SHAPE(2, 5);
        cr_assert_eq(rnnc_tensor_create(RNNC_I32, &bs, &bad), RNNC_OK);
        cr_expect_eq(rnnc_dmodel_forward(dm, bad, true, &y, NULL, NULL), RNNC_E_SHAPE);
        cr_expect_str_eq(rnnc_last_error(), "device model 'v': a batch of shape (2, 5) does not fit the model input (None, 4)");
        rnnc_tensor_destroy(bad);
        ((int32_t *)x->data)[5] = 9;
        backend(b)->free(dy);
        rnnc_dmodel_destroy(dm);
    }
    rnnc_tensor_destroy(x);
    rnnc_model_destroy(m);

    /* use_cudnn=True with a mask that is not right-padded (emulated CUDA). */
    m = yaml_model("[null, 6, 2]", "float32",
                   "      - {class_name: Masking, config: {name: masking}}\n"
                   "      - {class_name: GRU, config: {name: gru, units: 3, use_cudnn: true}}\n");
    x = float_batch(3, 6, 2, MASK_NONE);
    float *xd = x->data;
    xd[(1 * 6 + 2) * 2] = xd[(1 * 6 + 2) * 2 + 1] = 0.0f; /* row 1, step 2 masked, step 3 kept */
    rnnc_dmodel *dm;
    const rnnc_bbuf *y;
    cr_assert_eq(rnnc_dmodel_create(m, backend(BE_EMU), &dm), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_dmodel_forward(dm, x, true, &y, NULL, NULL), RNNC_E_UNSUPPORTED);
    cr_expect_str_eq(rnnc_last_error(),
                     "Sequential 'v', layer 1: GRU 'gru': use_cudnn=True, but cuDNN cannot run this call (pass use_cudnn='auto' to fall back): "
                     "mask row 1 is not right-padded (step 3 is kept after a masked step); cuDNN needs every row to be kept steps followed only by masked ones");
    rnnc_dmodel_destroy(dm);
    rnnc_tensor_destroy(x);
    rnnc_model_destroy(m);
}

/* ---- buffers ---------------------------------------------------------------- */

/* Three training steps of one shape: the runner allocates nothing after the
 * first, and on the emulated CUDA neither does the caching allocator
 * (cudaMalloc count); a new batch size reallocates. Weights change between
 * steps (as an optimizer would) to show nothing depends on them staying. */
Test(device_model, fixed_shape_loop_allocates_nothing_after_first_step)
{
    for (int b = 0; b < BE_COUNT; b++) {
        rng_seed(15);
        const rnnc_backend_ops *be = backend(b);
        rnnc_model *m = example_model("varlen");
        rnnc_tensor *x = float_batch(4, 30, 3, MASK_RIGHT_PADDED);
        rnnc_dmodel *dm;
        cr_assert_eq(rnnc_dmodel_create(m, be, &dm), RNNC_OK, "%s", rnnc_last_error());
        rnnc_bbuf *dy;
        cr_assert_eq(be->alloc(RNNC_F32, 4 * 3, &dy), RNNC_OK);
        cr_assert_eq(be->fill(dy, 0.25f), RNNC_OK);
        size_t allocs[3];
        uint64_t mallocs[3] = {0, 0, 0};
        for (int step = 0; step < 3; step++) {
            const rnnc_bbuf *y;
            float *xd = x->data;
            for (size_t i = 0; i < x->numel; i++) /* new data, same masks */
                if (xd[i] != 0.0f)
                    xd[i] = rng_uniform(-1.0f, 1.0f);
            cr_assert_eq(rnnc_dmodel_zero_grad(dm), RNNC_OK);
            cr_assert_eq(rnnc_dmodel_forward(dm, x, true, &y, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
            cr_assert_eq(rnnc_dmodel_backward(dm, dy), RNNC_OK, "%s", rnnc_last_error());
            int n;
            rnnc_dweight *w = rnnc_dmodel_weights(dm, &n);
            cr_assert_eq(be->sgd(&(rnnc_sgd_params){.lr = 0.01f}, w[0].value, w[0].grad, NULL), RNNC_OK);
            allocs[step] = rnnc__dmodel_allocs(dm);
            if (b == BE_EMU) {
                rnnc_cuda_stats st;
                cr_assert_eq(rnnc__cuda_api()->stats(&st), RNNC_OK);
                mallocs[step] = st.device_mallocs;
            }
        }
        cr_expect_eq(allocs[1], allocs[0], "%s: step 2 allocated %zu buffers", be->name, allocs[1] - allocs[0]);
        cr_expect_eq(allocs[2], allocs[0], "%s: step 3 allocated %zu buffers", be->name, allocs[2] - allocs[0]);
        cr_expect_eq(mallocs[2], mallocs[0], "%s: cudaMalloc called %llu times after step 1", be->name,
                     (unsigned long long)(mallocs[2] - mallocs[0]));
        /* Another batch size: new buffers (the count is live). */
        rnnc_tensor *x2 = float_batch(2, 30, 3, MASK_RIGHT_PADDED);
        const rnnc_bbuf *y;
        cr_assert_eq(rnnc_dmodel_forward(dm, x2, true, &y, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
        cr_expect_gt(rnnc__dmodel_allocs(dm), allocs[2], "%s: a new batch size allocated nothing", be->name);
        rnnc_tensor_destroy(x2);
        be->free(dy);
        rnnc_dmodel_destroy(dm);
        rnnc_tensor_destroy(x);
        rnnc_model_destroy(m);
    }
}

/* Upload / download: the device values are the host weights after create,
 * a device change comes back with download, a host change goes out with
 * upload. */
Test(device_model, upload_download_round_trip)
{
    for (int b = 0; b < BE_COUNT; b++) {
        const rnnc_backend_ops *be = backend(b);
        rnnc_model *m = example_model("adding");
        rnnc_dmodel *dm;
        cr_assert_eq(rnnc_dmodel_create(m, be, &dm), RNNC_OK, "%s", rnnc_last_error());
        int n;
        rnnc_dweight *w = rnnc_dmodel_weights(dm, &n);
        cr_assert_eq(n, 5); /* GRU kernel, recurrent_kernel, bias; Dense kernel, bias */
        float *v = download(be, w[1].value);
        cr_expect_eq(memcmp(v, w[1].host->value->data, w[1].value->n * sizeof *v), 0);
        free(v);
        cr_assert_eq(be->fill(w[3].value, 0.5f), RNNC_OK);
        cr_assert_eq(rnnc_dmodel_download(dm), RNNC_OK);
        cr_expect_eq(((float *)w[3].host->value->data)[0], 0.5f);
        ((float *)w[0].host->value->data)[2] = 7.0f;
        cr_assert_eq(rnnc_dmodel_upload(dm), RNNC_OK);
        v = download(be, w[0].value);
        cr_expect_eq(v[2], 7.0f);
        free(v);
        rnnc_dmodel_destroy(dm);
        rnnc_model_destroy(m);
    }
}

/* ---- training-time randomness: Dropout and a GRU's input dropout ------- */

/* The dropout streams of m's layers in order: each Dropout layer's and
 * each GRU cell's generator. */
static int dropout_streams(rnnc_model *m, rnnc_rng **out, int cap)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_layer *l = m->layers[i];
        if (l->cls == &rnnc_time_distributed_class)
            l = ((rnnc_time_distributed *)l)->inner;
        rnnc_gru_cell *c = rnnc_gru_cell_of_layer(l);
        rnnc_rng *r = c ? &c->rng : l->cls == &rnnc_dropout_class ? &((rnnc_dropout_layer *)l)->rng : NULL;
        if (r && n < cap)
            out[n++] = r;
    }
    return n;
}

/* got's streams are want's (seed and counter); copy: make them so. */
static void same_streams(const char *what, rnnc_model *got, rnnc_model *want, bool copy)
{
    rnnc_rng *a[8], *b[8];
    const int n = dropout_streams(got, a, 8), k = dropout_streams(want, b, 8);
    cr_assert_eq(n, k);
    for (int i = 0; i < n; i++) {
        if (copy)
            *a[i] = *b[i];
        cr_expect(a[i]->seed == b[i]->seed && a[i]->counter == b[i]->counter,
                  "%s: stream %d at (seed %llu, counter %llu), the CPU model's at (%llu, %llu)", what, i,
                  (unsigned long long)a[i]->seed, (unsigned long long)a[i]->counter,
                  (unsigned long long)b[i]->seed, (unsigned long long)b[i]->counter);
    }
}

/* A second instance of ref's config with ref's weights and streams. */
static rnnc_model *twin(const char *input, const char *dtype, const char *layers, rnnc_model *ref)
{
    rnnc_model *m = yaml_model(input, dtype, layers);
    rnnc_weight *from[32], *to[32];
    int n, k;
    cr_assert_eq(rnnc_model_weights(ref, from, 32, &n), RNNC_OK);
    cr_assert_eq(rnnc_model_weights(m, to, 32, &k), RNNC_OK);
    cr_assert_eq(n, k);
    for (int i = 0; i < n; i++)
        memcpy(to[i]->value->data, from[i]->value->data, from[i]->value->numel * sizeof(float));
    same_streams("twin", m, ref, true);
    return m;
}

/* An inference forward of ref on the host and of m on table `which`: the
 * same output (no mask applied), the streams moved alike (a GRU with
 * dropout skips its masks' draws even then, as Keras draws them). */
static void check_inference(const char *label, rnnc_model *m, rnnc_model *ref, rnnc_tensor *x, int which)
{
    const rnnc_backend_ops *be = backend(which);
    char what[256];
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_call_args args = {.n_inputs = 1, .inputs = {x}, .training = false};
    rnnc_call_result res;
    cr_assert_eq(rnnc_model_call(ref, cx, &args, &res), RNNC_OK, "%s: %s", label, rnnc_last_error());
    rnnc_dmodel *dm;
    const rnnc_bbuf *y;
    cr_assert_eq(rnnc_dmodel_create(m, be, &dm), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_dmodel_forward(dm, x, false, &y, NULL, NULL), RNNC_OK, "%s: %s", label, rnnc_last_error());
    float *yd = download(be, y);
    snprintf(what, sizeof what, "%s on %s: inference output", label, be->name);
    expect_close(what, yd, res.outputs[0]->data, res.outputs[0]->numel);
    same_streams(what, m, ref, false);
    free(yd);
    rnnc_dmodel_destroy(dm);
    rnnc_ctx_destroy(cx);
}

typedef struct dropout_case {
    const char *label;
    uint64_t seed;
    const char *input, *dtype, *layers;
    int64_t B, T, F;
    bool ids;
    mask_kind mask;
    unsigned still; /* bit i: stream i must not move (a Dropout of rate 0, a GRU without dropout) */
} dropout_case;

/* Three training steps in a row on each table, each against a host step
 * of the twin (same weights, same streams): output, output mask and every
 * weight gradient (check_model_ref), then the streams equal and moved;
 * then an inference step. */
static void check_dropout_case(const dropout_case *dc)
{
    rng_seed(dc->seed);
    rnnc_model *ref = yaml_model(dc->input, dc->dtype, dc->layers);
    rnnc_model *m = twin(dc->input, dc->dtype, dc->layers, ref);
    rnnc_rng *st[8];
    uint64_t start[8];
    const int n = dropout_streams(ref, st, 8);
    cr_assert_gt(n, 0);
    for (int i = 0; i < n; i++)
        start[i] = st[i]->counter;
    for (int step = 0; step < 3; step++)
        for (int b = 0; b < BE_COUNT; b++) {
            char label[160];
            snprintf(label, sizeof label, "%s, step %d", dc->label, step + 1);
            rnnc_tensor *x = dc->ids ? id_batch(dc->B, dc->T, dc->F, dc->mask) : float_batch(dc->B, dc->T, dc->F, dc->mask);
            check_model_ref(label, m, ref, x, b);
            same_streams(label, m, ref, false);
            rnnc_tensor_destroy(x);
        }
    for (int i = 0; i < n; i++)
        if (dc->still >> i & 1)
            cr_expect_eq(st[i]->counter, start[i], "%s: stream %d moved", dc->label, i);
        else
            cr_expect_gt(st[i]->counter, start[i], "%s: stream %d never drew", dc->label, i);
    for (int b = 0; b < BE_COUNT; b++) {
        rnnc_tensor *x = dc->ids ? id_batch(dc->B, dc->T, dc->F, dc->mask) : float_batch(dc->B, dc->T, dc->F, dc->mask);
        check_inference(dc->label, m, ref, x, b);
        rnnc_tensor_destroy(x);
    }
    rnnc_model_destroy(m);
    rnnc_model_destroy(ref);
}

/* B * F odd where it matters: a draw of an odd count takes half a block more. */
static const dropout_case dropout_cases[] = {
    {"GRU -> Dropout 0.2 -> Dense", 21, "[null, 6, 3]", "float32",
     "      - {class_name: GRU, config: {name: gru, units: 5}}\n"
     "      - {class_name: Dropout, config: {name: dropout, rate: 0.2, seed: 3}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 2}}\n",
     5, 6, 3, false, MASK_NONE, 1u},
    {"Dropout 0.5 noise_shape [null, 1, null] on the input, GRU dropout 0.5, Dropout 0.5", 22, "[null, 7, 3]",
     "float32",
     "      - {class_name: Dropout, config: {name: dropout, rate: 0.5, noise_shape: [null, 1, null]}}\n"
     "      - {class_name: GRU, config: {name: gru, units: 4, dropout: 0.5, return_sequences: true}}\n"
     "      - {class_name: Dropout, config: {name: dropout_1, rate: 0.5}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 3, activation: softmax}}\n",
     5, 7, 3, false, MASK_NONE, 0u},
    {"Masking, GRU dropout 0.3, Dropout 0.2 noise_shape [1, null, null], GRU dropout 0.5 go_backwards reset_after=False",
     23, "[null, 9, 3]", "float32",
     MASKING "      - {class_name: GRU, config: {name: gru, units: 5, dropout: 0.3, return_sequences: true}}\n"
             "      - {class_name: Dropout, config: {name: dropout, rate: 0.2, noise_shape: [1, null, null]}}\n"
             "      - {class_name: GRU, config: {name: gru_1, units: 3, dropout: 0.5, go_backwards: true, reset_after: false}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 2}}\n",
     5, 9, 3, false, MASK_ARBITRARY, 0u},
    {"Masking, GRU dropout 0.2 right-padded (cuDNN on the emulation)", 24, "[null, 8, 3]", "float32",
     MASKING "      - {class_name: GRU, config: {name: gru, units: 4, dropout: 0.2, seed: 11}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n",
     3, 8, 3, false, MASK_RIGHT_PADDED, 0u},
    {"Embedding, GRU dropout 0.5", 25, "[null, 6]", "int32",
     "      - {class_name: Embedding, config: {name: embedding, input_dim: 9, output_dim: 3}}\n"
     "      - {class_name: GRU, config: {name: gru, units: 4, dropout: 0.5, return_sequences: true}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 9, activation: softmax}}\n",
     5, 6, 9, true, MASK_NONE, 0u},
    /* Rates of 1: the GRU applies no mask but still takes its draws (three
     * input and three recurrent masks: recurrent_dropout 1 forces
     * implementation 1); Dropout rate 0 passes through. */
    {"GRU dropout 1 recurrent_dropout 1, Dropout 0", 26, "[null, 5, 3]", "float32",
     "      - {class_name: GRU, config: {name: gru, units: 3, dropout: 1.0, recurrent_dropout: 1.0}}\n"
     "      - {class_name: Dropout, config: {name: dropout, rate: 0.0}}\n"
     "      - {class_name: Dense, config: {name: dense, units: 2}}\n",
     5, 5, 3, false, MASK_NONE, 2u},
    /* One mask over the folded (B*T, F) rows, as the CPU layer draws it;
     * noise_shape [null, 1] there: one draw per row of the fold. */
    {"Masking, TimeDistributed Dropout 0.4, GRU, TimeDistributed Dropout 0.5 noise_shape [null, 1]", 29,
     "[null, 6, 3]", "float32",
     MASKING TD("{class_name: Dropout, config: {name: dropout, rate: 0.4, seed: 5}}")
             "      - {class_name: GRU, config: {name: gru, units: 4, return_sequences: true}}\n"
             "      - {class_name: TimeDistributed, config: {name: td_1, layer: {class_name: Dropout, config: {name: dropout_1, rate: 0.5, noise_shape: [null, 1], seed: 6}}}}\n",
     5, 6, 3, false, MASK_ARBITRARY, 2u},
};

Test(device_model, dropout_after_gru) { check_dropout_case(&dropout_cases[0]); }
Test(device_model, time_distributed_dropout_draws_over_the_folded_rows) { check_dropout_case(&dropout_cases[6]); }
Test(device_model, dropout_noise_shape_on_the_input_and_gru_dropout) { check_dropout_case(&dropout_cases[1]); }
Test(device_model, gru_dropout_masked_stacked_with_batch_broadcast_dropout) { check_dropout_case(&dropout_cases[2]); }
Test(device_model, gru_dropout_cudnn_right_padded) { check_dropout_case(&dropout_cases[3]); }
Test(device_model, gru_dropout_after_embedding) { check_dropout_case(&dropout_cases[4]); }
Test(device_model, rates_of_one_and_zero_move_the_streams_as_the_cpu) { check_dropout_case(&dropout_cases[5]); }

/* A model of one Dropout on table `which`: a training forward is x times
 * the mask Keras's rule gives from the layer's Philox stream (seed `seed`,
 * from counter 0: one uniform per element of the noise shape, kept and
 * scaled by (float)(1 / (1 - rate)) when u >= rate), bit for bit, twice
 * in a row (the stream continuing); rate 1 gives zeros and draws nothing;
 * inference passes x through. */
static void check_dropout_alone(int which, double rate, const char *noise, int64_t nb, int64_t nt, int64_t nf)
{
    enum { B = 3, T = 4, F = 5 };
    const rnnc_backend_ops *be = backend(which);
    char layers[512];
    snprintf(layers, sizeof layers,
             "      - {class_name: Dropout, config: {name: dropout, rate: %g, seed: 42, noise_shape: %s}}\n", rate,
             noise);
    rnnc_model *m = yaml_model("[null, 4, 5]", "float32", layers);
    rnnc_dropout_layer *d = (rnnc_dropout_layer *)m->layers[0];
    rnnc_rng oracle;
    rnnc_rng_init(&oracle, 42);
    const size_t nn = (size_t)(nb * nt * nf);
    double u[B * T * F];
    const float keep = (float)(1.0 / (1.0 - rate));
    rnnc_dmodel *dm;
    size_t kept = 0;
    cr_assert_eq(rnnc_dmodel_create(m, be, &dm), RNNC_OK, "%s", rnnc_last_error());
    for (int call = 0; call < 2; call++) {
        rnnc_tensor *x = float_batch(B, T, F, MASK_NONE);
        const float *xd = x->data;
        const rnnc_bbuf *y;
        if (rate < 1.0)
            rnnc_rng_uniform(&oracle, u, nn);
        cr_assert_eq(rnnc_dmodel_forward(dm, x, true, &y, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
        float *yd = download(be, y);
        size_t bad = 0;
        for (size_t k = 0; rate < 1.0 && k < nn; k++)
            kept += u[k] >= rate;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t f = 0; f < F; f++) {
                    const size_t i = (size_t)((b * T + t) * F + f);
                    const size_t k = (size_t)(((nb > 1 ? b : 0) * nt + (nt > 1 ? t : 0)) * nf + (nf > 1 ? f : 0));
                    const float want = rate < 1.0 && u[k] >= rate ? xd[i] * keep : xd[i] * 0.0f;
                    bad += memcmp(&yd[i], &want, sizeof want) != 0;
                }
        cr_expect_eq(bad, 0, "%s: rate %g noise_shape %s, call %d: %zu of %d elements are not x * the stream's mask",
                     be->name, rate, noise, call + 1, bad, B * T * F);
        cr_expect_eq(d->rng.counter, oracle.counter, "%s: rate %g: the layer's counter %llu, the oracle's %llu",
                     be->name, rate, (unsigned long long)d->rng.counter, (unsigned long long)oracle.counter);
        free(yd);
        /* inference: x itself, the stream still */
        cr_assert_eq(rnnc_dmodel_forward(dm, x, false, &y, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
        yd = download(be, y);
        cr_expect_eq(memcmp(yd, xd, x->numel * sizeof *yd), 0, "%s: inference changed x", be->name);
        cr_expect_eq(d->rng.counter, oracle.counter, "%s: inference moved the stream", be->name);
        free(yd);
        rnnc_tensor_destroy(x);
    }
    if (rate < 1.0) /* both values of the mask seen */
        cr_expect(kept > 0 && kept < 2 * nn, "%s: a degenerate mask (%zu of %zu kept)", be->name, kept, 2 * nn);
    rnnc_dmodel_destroy(dm);
    rnnc_model_destroy(m);
}

Test(device_model, dropout_alone_is_x_times_the_streams_mask)
{
    rng_seed(27);
    for (int b = 0; b < BE_COUNT; b++) {
        check_dropout_alone(b, 0.5, "null", 3, 4, 5);
        check_dropout_alone(b, 0.2, "[null, 1, null]", 3, 1, 5); /* 15 uniforms: a half-used block */
        check_dropout_alone(b, 0.5, "[1, null, 1]", 1, 4, 1);
        check_dropout_alone(b, 1.0, "null", 3, 4, 5);
    }
}

/* Per call: masks injected for the CPU's next call (a test hook of the
 * CPU layer) are refused, not silently replaced by a drawn mask. */
Test(device_model, gru_injected_dropout_masks_refused)
{
    rng_seed(28);
    rnnc_model *m = yaml_model("[null, 4, 2]", "float32",
                               "      - {class_name: GRU, config: {name: gru, units: 3, dropout: 0.5}}\n");
    rnnc_tensor *x = float_batch(2, 4, 2, MASK_NONE), *mask;
    const rnnc_shape ms = RNNC_SHAPE(2, 2);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ms, &mask), RNNC_OK);
    rnnc_tensor_fill(mask, 2.0);
    rnnc_dmodel *dm;
    const rnnc_bbuf *y;
    cr_assert_eq(rnnc_dmodel_create(m, backend(BE_CPU), &dm), RNNC_OK, "%s", rnnc_last_error());
    const rnnc_tensor *masks[] = {mask};
    cr_assert_eq(rnnc_gru_set_dropout_masks(m->layers[0], masks, 1, NULL, 0), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_dmodel_forward(dm, x, true, &y, NULL, NULL), RNNC_E_UNSUPPORTED);
    cr_expect_str_eq(rnnc_last_error(),
                     "Sequential 'v', layer 0: GRU 'gru': dropout masks injected with rnnc_gru_set_dropout_masks have no device implementation");
    rnnc_dmodel_destroy(dm);
    rnnc_tensor_destroy(mask);
    rnnc_tensor_destroy(x);
    rnnc_model_destroy(m);
}

/* ---- fit with dropout: the trainer's device path against its CPU path -- */

#define FIT_INPUT "[null, 8, 3]"
#define FIT_LAYERS                                                                                              \
    "      - {class_name: GRU, config: {name: gru, units: 5, dropout: 0.3, return_sequences: true}}\n"           \
    "      - {class_name: Dropout, config: {name: dropout, rate: 0.25, noise_shape: [null, 1, null]}}\n"        \
    "      - {class_name: GRU, config: {name: gru_1, units: 4, dropout: 0.5}}\n"                                \
    "      - {class_name: Dropout, config: {name: dropout_1, rate: 0.5}}\n"                                     \
    "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
#define FIT_COMPILE "{optimizer: {class_name: Adam, config: {learning_rate: 0.02}}, loss: mse, metrics: [mae]}"
#define FIT_TOL 1e-4

/* x (n, 8, 3) in [-1, 1], y the mean of feature 0 over the steps. */
static void fit_data(int64_t n, rnnc_tensor **x, rnnc_tensor **y)
{
    *x = float_batch(n, 8, 3, MASK_NONE);
    const rnnc_shape ys = RNNC_SHAPE(n, 1);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys, y), RNNC_OK);
    const float *xd = (*x)->data;
    for (int64_t i = 0; i < n; i++) {
        float s = 0.0f;
        for (int64_t t = 0; t < 8; t++)
            s += xd[(i * 8 + t) * 3];
        ((float *)(*y)->data)[i] = s / 8.0f;
    }
}

static rnnc_trainer *fit_trainer(rnnc_model *m, rnnc_cfg **compile)
{
    rnnc_trainer *tr;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    cr_assert_eq(rnnc_spec_read_string(FIT_COMPILE, strlen(FIT_COMPILE), "compile", compile), RNNC_OK);
    cr_assert_eq(rnnc_trainer_compile_config(tr, rnnc_cfg_peek(*compile, "optimizer"), rnnc_cfg_peek(*compile, "loss"),
                                             rnnc_cfg_peek(*compile, "metrics"), NULL),
                 RNNC_OK, "%s", rnnc_last_error());
    return tr;
}

/* The data, the initial model and the CPU path's run of a fit case. */
typedef struct fit_case {
    const char *layers; /* FIT_LAYERS or another model of FIT_INPUT to one output */
    rnnc_tensor *x, *y, *xv, *yv;
    rnnc_model *init, *mc;
    rnnc_cfg *cc;
    rnnc_trainer *tc;
} fit_case;

static void fit_case_open(fit_case *f, uint64_t seed, const char *layers)
{
    rng_seed(seed);
    f->layers = layers;
    fit_data(40, &f->x, &f->y);
    fit_data(20, &f->xv, &f->yv);
    f->init = yaml_model(FIT_INPUT, "float32", layers);
    f->mc = twin(FIT_INPUT, "float32", layers, f->init);
    f->tc = fit_trainer(f->mc, &f->cc);
}

static void fit_case_close(fit_case *f)
{
    rnnc_trainer_destroy(f->tc);
    rnnc_cfg_destroy(f->cc);
    rnnc_model_destroy(f->mc);
    rnnc_model_destroy(f->init);
    rnnc_tensor_destroy(f->x);
    rnnc_tensor_destroy(f->y);
    rnnc_tensor_destroy(f->xv);
    rnnc_tensor_destroy(f->yv);
}

/* Epochs [from, to) of tr's model on be (NULL: the CPU path), batches of
 * 16 over 40 rows (16, 16, 8), validation every epoch. */
static rnnc_history *fit_span(rnnc_trainer *tr, const rnnc_backend_ops *be, const fit_case *d, int from, int to,
                              bool shuffle)
{
    cr_assert_eq(rnnc_trainer_set_device(tr, be), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fit_options o = rnnc_fit_options_default();
    o.epochs = to;
    o.initial_epoch = from;
    o.batch_size = 16;
    o.seed = 5;
    o.shuffle = shuffle; /* a fit resumed at initial_epoch restarts the shuffling stream */
    o.verbose = RNNC_VERBOSE_SILENT;
    o.x_val = d->xv;
    o.y_val = d->yv;
    rnnc_history *h;
    cr_assert_eq(rnnc_trainer_fit(tr, d->x, d->y, &o, &h), RNNC_OK, "%s", rnnc_last_error());
    return h;
}

/* Every key of got's epochs within FIT_TOL of want's epochs from `skip`
 * on (relative above 1); returns the largest difference. */
static double same_curves(const rnnc_history *want, int skip, const rnnc_history *got, const char *what)
{
    double worst = 0.0;
    cr_assert_eq(rnnc_history_n_epochs(got), rnnc_history_n_epochs(want) - skip, "%s: epochs", what);
    cr_assert_eq(rnnc_history_n_keys(got), rnnc_history_n_keys(want), "%s: keys", what);
    for (int k = 0; k < rnnc_history_n_keys(want); k++) {
        const char *key = rnnc_history_key(want, k);
        const double *a = rnnc_history_get(want, key), *b = rnnc_history_get(got, key);
        cr_assert(b, "%s: no '%s'", what, key);
        for (int e = 0; e < rnnc_history_n_epochs(got); e++) {
            const double diff = fabs(a[skip + e] - b[e]);
            cr_expect(diff <= FIT_TOL * fmax(1.0, fabs(a[skip + e])), "%s: %s epoch %d: %.9g, the CPU path's %.9g",
                      what, key, skip + e + 1, b[e], a[skip + e]);
            worst = fmax(worst, diff);
        }
    }
    return worst;
}

static void same_final_weights(rnnc_model *want, rnnc_model *got, const char *what)
{
    rnnc_weight *a[32], *b[32];
    int na, nb;
    cr_assert_eq(rnnc_model_weights(want, a, 32, &na), RNNC_OK);
    cr_assert_eq(rnnc_model_weights(got, b, 32, &nb), RNNC_OK);
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++) {
        const float *p = a[i]->value->data, *q = b[i]->value->data;
        size_t bad = 0;
        for (size_t k = 0; k < a[i]->value->numel; k++)
            bad += !(fabs((double)p[k] - (double)q[k]) <= FIT_TOL * fmax(1.0, fabs((double)p[k])));
        cr_expect_eq(bad, 0, "%s: weight '%s': %zu values beyond %g", what, a[i]->name, bad, FIT_TOL);
    }
}

/* 5 epochs with validation of a model with GRU dropout (0.3, 0.5) and
 * Dropout (0.25 with noise_shape (B, 1, F), 0.5) on the CPU path and on
 * each table of tables[0..n) (the proof: every epoch's loss, mae,
 * val_loss and val_mae within 1e-4); the final weights too, and the
 * dropout streams exactly where the CPU path left them (the validation
 * calls move the GRUs' streams too). */
static void fit_against_cpu_path(const rnnc_backend_ops *const *tables, int n, const char *const *names,
                                 const char *layers)
{
    fit_case f;
    fit_case_open(&f, 30, layers);
    rnnc_cfg *cd;
    rnnc_history *hc = fit_span(f.tc, NULL, &f, 0, 5, true);
    for (int b = 0; b < n; b++) {
        char what[128];
        snprintf(what, sizeof what, "fit on the %s", names[b]);
        rnnc_model *md = twin(FIT_INPUT, "float32", layers, f.init);
        rnnc_trainer *td = fit_trainer(md, &cd);
        rnnc_history *hd = fit_span(td, tables[b], &f, 0, 5, true);
        cr_log_info("%s: largest difference over 5 epochs: %.3g", what, same_curves(hc, 0, hd, what));
        same_final_weights(f.mc, md, what);
        same_streams(what, md, f.mc, false);
        rnnc_history_destroy(hd);
        rnnc_trainer_destroy(td);
        rnnc_cfg_destroy(cd);
        rnnc_model_destroy(md);
    }
    rnnc_history_destroy(hc);
    fit_case_close(&f);
}

Test(device_model, fit_with_dropout_matches_the_cpu_path)
{
    const rnnc_backend_ops *tables[] = {backend(BE_CPU), backend(BE_EMU)};
    const char *const names[] = {"CPU table", "emulated CUDA table"};
    fit_against_cpu_path(tables, 2, names, FIT_LAYERS);
}

/* The same fit of a model with the layers a Keras sequence model adds
 * around its GRUs: TimeDistributed(Dense relu), LayerNormalization,
 * TimeDistributed(Dropout), Activation tanh, LayerNormalization
 * rms_scaling, a last GRU and Dense. */
#define FIT_SEQ_LAYERS                                                                                          \
    "      - {class_name: TimeDistributed, config: {name: td, layer: {class_name: Dense, config: {name: dense, units: 6, activation: relu}}}}\n" \
    "      - {class_name: LayerNormalization, config: {name: ln}}\n"                                            \
    "      - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"                         \
    "      - {class_name: TimeDistributed, config: {name: td_1, layer: {class_name: Dropout, config: {name: dropout, rate: 0.3, seed: 9}}}}\n" \
    "      - {class_name: Activation, config: {name: act, activation: tanh}}\n"                                  \
    "      - {class_name: LayerNormalization, config: {name: ln_1, rms_scaling: true}}\n"                        \
    "      - {class_name: GRU, config: {name: gru_1, units: 4}}\n"                                              \
    "      - {class_name: Dense, config: {name: dense_1, units: 1}}\n"

Test(device_model, fit_with_time_distributed_layer_norm_activation_matches_the_cpu_path)
{
    const rnnc_backend_ops *tables[] = {backend(BE_CPU), backend(BE_EMU)};
    const char *const names[] = {"CPU table", "emulated CUDA table"};
    fit_against_cpu_path(tables, 2, names, FIT_SEQ_LAYERS);
}

/* And of a model with BatchNormalization (batch statistics in training,
 * the moving ones in validation, updated on the device). */
#define FIT_BN_LAYERS                                                                                           \
    "      - {class_name: BatchNormalization, config: {name: bn}}\n"                                             \
    "      - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"                         \
    "      - {class_name: BatchNormalization, config: {name: bn_1, momentum: 0.8, center: false}}\n"             \
    "      - {class_name: GRU, config: {name: gru_1, units: 4}}\n"                                              \
    "      - {class_name: BatchNormalization, config: {name: bn_2, momentum: 0.5}}\n"                            \
    "      - {class_name: Dense, config: {name: dense, units: 1}}\n"

Test(device_model, fit_with_batch_norm_matches_the_cpu_path)
{
    const rnnc_backend_ops *tables[] = {backend(BE_CPU), backend(BE_EMU)};
    const char *const names[] = {"CPU table", "emulated CUDA table"};
    fit_against_cpu_path(tables, 2, names, FIT_BN_LAYERS);
}

/* The same on a real GPU (a CUDA build on a machine with one; skipped
 * otherwise): both GRUs run cuDNN (no mask), with the input dropout
 * applied before it. */
static void gpu_done(void)
{
    const rnnc_cuda_api *t = rnnc_backend_cuda_table();
    if (t)
        t->shutdown();
}

TestSuite(device_model_gpu, .fini = gpu_done);

static void fit_on_gpu(const char *layers)
{
    const rnnc_backend_ops *g;
    if (rnnc_backend_ops_get(RNNC_DEVICE_CUDA, &g) != RNNC_OK)
        cr_skip_test("no CUDA device: %s", rnnc_last_error());
    const char *const names[] = {"GPU"};
    fit_against_cpu_path(&g, 1, names, layers);
}

Test(device_model_gpu, fit_with_dropout_matches_the_cpu_path) { fit_on_gpu(FIT_LAYERS); }
Test(device_model_gpu, fit_with_time_distributed_layer_norm_activation_matches_the_cpu_path) { fit_on_gpu(FIT_SEQ_LAYERS); }
Test(device_model_gpu, fit_with_batch_norm_matches_the_cpu_path) { fit_on_gpu(FIT_BN_LAYERS); }

/* A run that changes paths half way (as a checkpoint written on one path
 * and resumed on the other: the streams are the layers' own, which the
 * checkpoint saves): 2 epochs on the CPU path then 3 on the emulated CUDA
 * table, and 2 on the emulated CUDA table then 3 on the CPU path, equal 5
 * on the CPU path (epochs 3-5, final weights, streams). */
Test(device_model, fit_with_dropout_switching_paths_half_way)
{
    fit_case f;
    fit_case_open(&f, 31, FIT_LAYERS);
    rnnc_cfg *cm;
    rnnc_history *hc = fit_span(f.tc, NULL, &f, 0, 5, false);
    const rnnc_backend_ops *order[2][2] = {{NULL, backend(BE_EMU)}, {backend(BE_EMU), NULL}};
    for (int k = 0; k < 2; k++) {
        char what[128];
        snprintf(what, sizeof what, "2 epochs on the %s, 3 on the %s", order[k][0] ? "emulated CUDA table" : "CPU path",
                 order[k][1] ? "emulated CUDA table" : "CPU path");
        rnnc_model *mm = twin(FIT_INPUT, "float32", f.layers, f.init);
        rnnc_trainer *tm = fit_trainer(mm, &cm);
        rnnc_history *h1 = fit_span(tm, order[k][0], &f, 0, 2, false);
        rnnc_history *h2 = fit_span(tm, order[k][1], &f, 2, 5, false);
        same_curves(hc, 2, h2, what);
        same_final_weights(f.mc, mm, what);
        same_streams(what, mm, f.mc, false);
        rnnc_history_destroy(h1);
        rnnc_history_destroy(h2);
        rnnc_trainer_destroy(tm);
        rnnc_cfg_destroy(cm);
        rnnc_model_destroy(mm);
    }
    rnnc_history_destroy(hc);
    fit_case_close(&f);
}
