/* test_device_lstm.c - the LSTM on a backend (layers/lstm_device.c, the
 * table's lstm op) against the CPU model, which test_lstm_keras.c checks
 * against Keras 3.15.1:
 *   - one training call and its backward on the CPU table and the
 *     emulated CUDA one (tests/cuda_emu, the generic kernel): outputs, the
 *     output mask and every weight gradient within 1e-5 of the CPU model's
 *     (unmasked, right-padded and arbitrary masks through Masking;
 *     go_backwards, return_sequences and not, stacked, use_bias off,
 *     zero_output_for_mask, other activations, input dropout);
 *   - a 3-epoch fit through rnnc_trainer_set_device on both (input dropout
 *     included) within 1e-4 per epoch of the CPU path, final weights too;
 *   - refusals, one line each.
 * Tiny shapes: CI runs this under valgrind. */
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

/* A Sequential over batch_shape `input` with the given layers. */
static rnnc_model *seq_model(const char *input, const char *layers)
{
    return seq_model_of(input, NULL, layers);
}

/* (B, T, F) floats; mask kind 0 none, 1 right-padded, 2 arbitrary (a row
 * with leading masked steps, one fully masked row): masked steps 0.0. */
static rnnc_tensor *batch(int64_t B, int64_t T, int64_t F, int kind)
{
    rnnc_tensor *x;
    const rnnc_shape s = RNNC_SHAPE(B, T, F);
    OK(rnnc_tensor_create(RNNC_F32, &s, &x));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            const bool keep = kind == 0 || (kind == 1 ? t < T - b : (b != 1 && (t + b) % 3 != 0));
            for (int64_t f = 0; f < F; f++)
                ((float *)x->data)[(b * T + t) * F + f] = keep ? uni(-1, 1) : 0.0f;
        }
    return x;
}

/* The CPU model's training call and backward against the device model's
 * on table be (the same weights; the same dropout draws: each model's
 * generators start alike). */
static void against_cpu(const rnnc_backend_ops *be, const char *label, const char *layers, int64_t T,
                        int kind)
{
    char input[64], what[300];
    snprintf(input, sizeof input, "[null, %lld, 3]", (long long)T);
    rnnc_model *m = seq_model(input, layers), *m2 = seq_model(input, layers);
    rnnc_tensor *x = batch(4, T, 3, kind);
    rnnc_ctx *cx = rnnc_ctx_create();
    cr_assert(cx);
    rnnc_call_result res;
    rnnc_tensor *r, *y = cpu_train_call(m, x, cx, &res, &r);

    /* the device runs m2: the same weights, its generators not yet used */
    int n, hn;
    rnnc_weight *hw[32], *hw2[32];
    OK(rnnc_model_weights(m, hw, 32, &hn));
    OK(rnnc_model_weights(m2, hw2, 32, &n));
    cr_assert_eq(n, hn);
    for (int i = 0; i < n; i++)
        memcpy(hw2[i]->value->data, hw[i]->value->data, hw[i]->value->numel * sizeof(float));
    rnnc_dmodel *dm = NULL;
    OK(rnnc_dmodel_create(m2, be, &dm));
    const rnnc_bbuf *dout;
    rnnc_shape ys;
    const uint8_t *ymask;
    OK(rnnc_dmodel_forward(dm, x, true, &dout, &ys, &ymask));
    cr_assert(rnnc_shape_eq(&ys, &y->shape), "%s: output shape", label);
    float *got = fetch(be, dout);
    snprintf(what, sizeof what, "%s (mask kind %d) on %s: output", label, kind, be->name);
    within(what, got, y->data, y->numel);
    free(got);
    cr_assert_eq(ymask != NULL, res.mask != NULL, "%s: output mask", label);
    expect_mask(ymask, res.mask, label);
    rnnc_bbuf *dy;
    OK(be->alloc(RNNC_F32, r->numel, &dy));
    OK(be->upload(dy, r->data));
    OK(rnnc_dmodel_zero_grad(dm));
    OK(rnnc_dmodel_backward(dm, dy));
    rnnc_dweight *dw = rnnc_dmodel_weights(dm, &n);
    for (int i = 0; i < n; i++) {
        cr_assert(dw[i].grad, "%s: no device gradient for %s", label, hw[i]->name);
        OK(rnnc_tensor_grad_densify(hw[i]->value));
        const float *want = hw[i]->value->grad;
        double mx = 0;
        for (size_t k = 0; k < hw[i]->value->numel; k++)
            mx = fmax(mx, fabs((double)want[k]));
        cr_expect_gt(mx, 0.0, "%s: '%s' has a zero gradient", label, hw[i]->name);
        got = fetch(be, dw[i].grad);
        snprintf(what, sizeof what, "%s (mask kind %d) on %s: gradient of %s", label, kind, be->name,
                 hw[i]->name);
        within(what, got, want, hw[i]->value->numel);
        free(got);
    }
    be->free(dy);
    rnnc_dmodel_destroy(dm);
    rnnc_tensor_destroy(r);
    rnnc_tensor_destroy(x);
    rnnc_ctx_destroy(cx);
    rnnc_model_destroy(m);
    rnnc_model_destroy(m2);
}

static void emu_shutdown(void) { rnnc__cuda_api()->shutdown(); }

TestSuite(device_lstm, .fini = emu_shutdown);

#define MASKING "{class_name: Masking, config: {name: masking}}, "
#define DENSE ", {class_name: Dense, config: {name: dense, units: 2}}"

static void masked(const char *label, const char *lstm_keys, uint64_t seed)
{
    char layers[1024];
    snprintf(layers, sizeof layers, MASKING "{class_name: LSTM, config: {name: lstm, units: 3%s%s}}" DENSE,
             lstm_keys[0] ? ", " : "", lstm_keys);
    for (int kind = 0; kind < 3; kind++)
        for (int t = 0; t < 2; t++) { /* the CPU table, the emulated CUDA one */
            seed_state = seed * 7919 + (uint64_t)kind;
            against_cpu(t ? rnnc__cuda_backend_ops() : rnnc_backend_ops_cpu(), label, layers, 5, kind);
        }
}

Test(device_lstm, last_output) { masked("last output", "", 1); }
Test(device_lstm, sequences_go_backwards) { masked("sequences, go_backwards", "return_sequences: true, go_backwards: true", 2); }
Test(device_lstm, no_bias_zero_output_for_mask)
{
    masked("no bias, zero_output_for_mask", "return_sequences: true, use_bias: false, zero_output_for_mask: true", 3);
}
Test(device_lstm, other_activations_no_forget_bias)
{
    masked("relu / hard_sigmoid", "activation: relu, recurrent_activation: hard_sigmoid, unit_forget_bias: false", 4);
}
Test(device_lstm, input_dropout_and_stacked)
{
    masked("dropout, stacked",
           "return_sequences: true, dropout: 0.4, seed: 5}}, {class_name: LSTM, config: {name: lstm2, units: 2", 5);
}

/* ---- a fit through rnnc_trainer_set_device ------------------------------ */

static rnnc_history *fit(rnnc_model *m, const rnnc_backend_ops *device, const rnnc_tensor *x,
                         const rnnc_tensor *y)
{
    rnnc_cfg *opt = NULL, *loss = NULL;
    OK(rnnc_spec_read_string("adam", 4, "optimizer", &opt));
    OK(rnnc_spec_read_string("mse", 3, "loss", &loss));
    rnnc_trainer *tr;
    OK(rnnc_trainer_create(m, &tr));
    OK(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL));
    if (device)
        OK(rnnc_trainer_set_device(tr, device));
    rnnc_fit_options o = rnnc_fit_options_default();
    o.epochs = 3;
    o.batch_size = 4; /* 10 rows: 4, 4 and 2 */
    o.seed = 3;
    o.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    OK(rnnc_trainer_fit(tr, x, y, &o, &h));
    rnnc_trainer_destroy(tr);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    return h;
}

/* dst's weights = src's (models of one config). */
static void copy_weights(rnnc_model *dst, rnnc_model *src)
{
    int n, nd;
    rnnc_weight *ws[16], *wd[16];
    OK(rnnc_model_weights(src, ws, 16, &n));
    OK(rnnc_model_weights(dst, wd, 16, &nd));
    cr_assert_eq(n, nd);
    for (int i = 0; i < n; i++)
        memcpy(wd[i]->value->data, ws[i]->value->data, ws[i]->value->numel * sizeof(float));
}

/* 3 epochs on the CPU path, then through rnnc_trainer_set_device on the
 * CPU table and the emulated CUDA one: every epoch's loss within 1e-4,
 * the final weights too. */
Test(device_lstm, fit_matches_the_cpu_path)
{
    const char *layers = MASKING "{class_name: LSTM, config: {name: lstm, units: 3, return_sequences: true, "
                         "dropout: 0.3, seed: 2}}, {class_name: LSTM, config: {name: lstm2, units: 2, "
                         "go_backwards: true}}" DENSE;
    seed_state = 77;
    rnnc_model *init = seq_model("[null, 4, 3]", layers), *a = seq_model("[null, 4, 3]", layers);
    copy_weights(a, init);
    rnnc_tensor *x = batch(10, 4, 3, 1), *y;
    const rnnc_shape ys = RNNC_SHAPE(10, 2);
    OK(rnnc_tensor_create(RNNC_F32, &ys, &y));
    for (size_t i = 0; i < y->numel; i++)
        ((float *)y->data)[i] = uni(-1, 1);
    rnnc_history *hc = fit(a, NULL, x, y);
    const double *lc = rnnc_history_get(hc, "loss");
    cr_assert(lc && rnnc_history_n_epochs(hc) == 3);
    cr_expect(lc[2] < lc[0], "the loss did not fall: %g -> %g", lc[0], lc[2]);
    int n;
    rnnc_weight *wa[16], *wb[16];
    OK(rnnc_model_weights(a, wa, 16, &n));
    for (int t = 0; t < 2; t++) {
        const rnnc_backend_ops *be = t ? rnnc__cuda_backend_ops() : rnnc_backend_ops_cpu();
        rnnc_model *b = seq_model("[null, 4, 3]", layers);
        copy_weights(b, init);
        rnnc_history *hd = fit(b, be, x, y);
        const double *ld = rnnc_history_get(hd, "loss");
        cr_assert(ld && rnnc_history_n_epochs(hd) == 3);
        for (int e = 0; e < 3; e++)
            cr_expect(fabs(lc[e] - ld[e]) <= 1e-4 * (1 + fabs(lc[e])), "epoch %d: loss %.9g on the %s table, %.9g on the CPU path",
                      e + 1, ld[e], be->name, lc[e]);
        OK(rnnc_model_weights(b, wb, 16, &n));
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < wa[i]->value->numel; k++)
                cr_expect(fabsf(((float *)wa[i]->value->data)[k] - ((float *)wb[i]->value->data)[k]) <= 1e-4f,
                          "%s table: final %s [%zu]", be->name, wa[i]->name, k);
        rnnc_history_destroy(hd);
        rnnc_model_destroy(b);
    }
    rnnc_history_destroy(hc);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(a);
    rnnc_model_destroy(init);
}

/* ---- refusals ------------------------------------------------------------ */

static void refused(const rnnc_backend_ops *be, const char *lstm_keys, const char *line)
{
    char layers[512];
    snprintf(layers, sizeof layers, "{class_name: LSTM, config: {name: lstm, units: 2%s%s}}" DENSE,
             lstm_keys[0] ? ", " : "", lstm_keys);
    /* stateful needs a fixed batch */
    rnnc_model *m = seq_model(strstr(lstm_keys, "stateful") ? "[2, 3, 3]" : "[null, 3, 3]", layers);
    rnnc_dmodel *dm = NULL;
    cr_expect_eq(rnnc_dmodel_create(m, be, &dm), RNNC_E_UNSUPPORTED, "%s: created", line);
    cr_expect_null(dm);
    cr_expect_str_eq(rnnc_last_error(), line);
    rnnc_model_destroy(m);
}

Test(device_lstm, refusals)
{
    const rnnc_backend_ops *cpu = rnnc_backend_ops_cpu();
    refused(rnnc__cuda_backend_ops(), "use_cudnn: true",
            "layer 'lstm' (LSTM): use_cudnn=True, but the cuda backend has no cuDNN LSTM (pass use_cudnn='auto' for the generic kernel)");
    refused(cpu, "recurrent_dropout: 0.2",
            "layer 'lstm' (LSTM): recurrent_dropout 0.2 has no device implementation (the LSTM op takes no recurrent mask; dropout runs)");
    refused(cpu, "dropout: 0.2, implementation: 1",
            "layer 'lstm' (LSTM): dropout 0.2 with implementation 1 (a mask per gate) has no device implementation (implementation 2's shared mask runs)");
    refused(cpu, "return_state: true", "layer 'lstm' (LSTM): return_state=True has no device implementation");
    refused(cpu, "stateful: true", "layer 'lstm' (LSTM): stateful=True has no device implementation");
    refused(cpu, "activation: softmax",
            "layer 'lstm' (LSTM): activation 'softmax' / recurrent_activation 'sigmoid' has no device implementation (element-wise ones)");
    refused(cpu, "use_cudnn: true",
            "layer 'lstm' (LSTM): use_cudnn=True, but the cpu backend has no cuDNN LSTM (pass use_cudnn='auto' for the generic kernel)");
}
