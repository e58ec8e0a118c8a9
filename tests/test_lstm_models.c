/* test_lstm_models.c - whole Keras model files holding LSTMs load and
 * predict as Keras does (fixtures: tests/gen_lstm_fixtures.py, models/):
 * .keras archives, model JSON + .weights.h5, Keras 3's legacy .h5, a
 * Keras 2 legacy .h5 with hard_sigmoid (Keras 2's formula), in Sequential
 * stacks, Bidirectional + TimeDistributed behind Masking, and a Functional
 * graph using both LSTM states. Tolerance 1e-5 + 1e-5 |y| (float32). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framework/model.h"
#include "helpers/fixture.h"
#include "helpers/keras_fit.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/weights_h5.h"
#include "optim/trainer.h"

#define MD RNNC_FIXTURES "/lstm/models"

TestSuite(lstm_models);

static rnnc_tensor *read_fixture(const char *path, const char *name)
{
    rnnc_fixture *f = NULL;
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_read(f, name, RNNC_F32, &t), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fixture_close(f);
    return t;
}

/* max |got - want| / (1 + |want|), +inf on a shape mismatch. */
static double rel_diff(const rnnc_tensor *got, const rnnc_tensor *want)
{
    if (!rnnc_shape_eq(&got->shape, &want->shape))
        return INFINITY;
    double worst = 0;
    for (size_t i = 0; i < want->numel; i++) {
        const double y = rnnc_tensor_get(want, i);
        const double d = fabs(rnnc_tensor_get(got, i) - y) / (1.0 + fabs(y));
        if (!(d <= worst))
            worst = d;
    }
    return worst;
}

static void expect_predicts(rnnc_model *m, const char *what, const char *io, const char *y_name)
{
    rnnc_tensor *x = read_fixture(io, "x"), *y = read_fixture(io, y_name);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .mask = NULL, .training = false};
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "%s: predict: %s", what,
                 rnnc_last_error());
    const double e = rel_diff(r.outputs[0], y);
    cr_expect_lt(e, 1e-5, "%s: predictions differ from Keras's %s by %g", what, y_name, e);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

static void expect_file(const char *file, const char *io, const char *y_name)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(file, &m), RNNC_OK, "%s: %s", file, rnnc_last_error());
    expect_predicts(m, file, io, y_name);
    rnnc_model_destroy(m);
}

/* .keras, JSON + .weights.h5 and (with_legacy) Keras 3's legacy .h5. */
static void expect_formats(const char *name, bool with_legacy)
{
    char file[512], io[512], json[512], w[512];
    snprintf(io, sizeof io, MD "/%s_io.h5", name);
    snprintf(file, sizeof file, MD "/%s.keras", name);
    expect_file(file, io, "y");
    snprintf(file, sizeof file, MD "/%s_legacy.h5", name);
    if (with_legacy)
        expect_file(file, io, "y");
    snprintf(json, sizeof json, MD "/%s.json", name);
    snprintf(w, sizeof w, MD "/%s.weights.h5", name);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(json, &m), RNNC_OK, "%s: %s", json, rnnc_last_error());
    cr_assert_eq(rnnc_model_load_weights(m, w), RNNC_OK, "%s: %s", w, rnnc_last_error());
    expect_predicts(m, w, io, "y");
    rnnc_model_destroy(m);
}

static void expect_all_formats(const char *name) { expect_formats(name, true); }

Test(lstm_models, sequential_stack_in_every_format) { expect_all_formats("seq_lstm"); }

Test(lstm_models, bidirectional_time_distributed_masking_in_every_format)
{
    expect_all_formats("bidi_td");
}

Test(lstm_models, functional_graph_with_both_states_in_every_format)
{
    expect_all_formats("func_state");
}

Test(lstm_models, keras2_legacy_h5_uses_keras2_hard_sigmoid)
{
    expect_file(MD "/k2_lstm.h5", MD "/k2_lstm_io.h5", "y_keras2");
}

Test(lstm_models, conv_front_with_stacked_cells_in_every_format)
{
    /* Conv1D, MaxPooling1D, LayerNormalization, SimpleRNN, Flatten, Dense,
     * Reshape, GlobalAveragePooling1D, RepeatVector, RNN(StackedRNNCells) */
    expect_all_formats("conv_front");
}

Test(lstm_models, weights_written_by_rnnc_load_back)
{
    /* every new layer kind (stacked cells included) through rnnc's own
     * .weights.h5 writer and back into a fresh model */
    char path[512];
    snprintf(path, sizeof path, "%s/test_lstm_models_%ld.weights.h5", RNNC_BUILD_DIR, (long)getpid());
    rnnc_model *m = NULL, *m2 = NULL;
    cr_assert_eq(rnnc_model_load(MD "/conv_front.keras", &m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_weights_save(m, path, NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_load(MD "/conv_front.json", &m2), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_load_weights(m2, path), RNNC_OK, "%s", rnnc_last_error());
    expect_predicts(m2, path, MD "/conv_front_io.h5", "y");
    unlink(path);
    rnnc_model_destroy(m);
    rnnc_model_destroy(m2);
}

/* ---- Keras-trained curves: fine-tuning in rnnc gives Keras's losses ---------- */

static void expect_keras_fit(const char *name)
{
    char file[512], fit[512], *opt_json = NULL;
    snprintf(file, sizeof file, MD "/../finetune/%s.keras", name);
    snprintf(fit, sizeof fit, MD "/../finetune/%s_fit.h5", name);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(file, &m), RNNC_OK, "%s: %s", file, rnnc_last_error());
    rnnc_fixture *fx;
    cr_assert_eq(rnnc_fixture_open(fit, &fx), RNNC_OK);
    cr_assert_eq(rnnc_fixture_attr_string(fx, "optimizer", &opt_json), RNNC_OK);
    rnnc_tensor *x = read_fixture(fit, "x"), *y = read_fixture(fit, "y"), *want = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, "loss", RNNC_F64, &want), RNNC_OK);
    rnnc_history *h = th_keras_fit(m, opt_json, x, y, name);
    const double *got = rnnc_history_get(h, "loss");
    cr_assert_not_null(got);
    for (int e = 0; e < TH_KERAS_FIT_EPOCHS; e++) {
        const double k = rnnc_f64(want)[e], d = fabs(got[e] - k) / fmax(1e-3, fabs(k));
        cr_expect_lt(d, 1e-4, "%s: epoch %d loss %.9g, Keras %.9g", name, e, got[e], k);
    }
    expect_predicts(m, name, fit, "y_after");
    rnnc_history_destroy(h);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(want);
    rnnc_fixture_close(fx);
    free(opt_json);
    rnnc_model_destroy(m);
}

Test(lstm_models, finetuning_keras_models_follows_keras_loss_curve)
{
    expect_keras_fit("ft_lstm");
    expect_keras_fit("ft_simple_rnn");
    expect_keras_fit("ft_conv");
    expect_keras_fit("ft_stacked");
}

Test(lstm_models, keras2_cudnn_lstm_file_loads_as_lstm)
{
    /* class CuDNNLSTM, bias stored (8U,) = input + recurrent biases */
    expect_file(MD "/k2_cudnn_lstm.h5", MD "/k2_cudnn_lstm_io.h5", "y");
}

Test(lstm_models, functional_graph_mixing_the_new_layers)
{
    /* Masking, Bidirectional(SimpleRNN), mask-aware GlobalAveragePooling1D,
     * TimeDistributed(Dense), Flatten, Conv1D, GlobalMaxPooling1D,
     * Bidirectional(RNN(StackedRNNCells)), Concatenate, LayerNormalization */
    /* Not its legacy .h5: there Keras writes the Masking's NotEqual op
     * without a module, which the Functional loader does not resolve yet. */
    expect_formats("func_mix", false);
}
