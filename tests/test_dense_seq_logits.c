/* test_dense_seq_logits.c - a crossentropy (from_logits false) over a
 * Dense(softmax | sigmoid) on a (B, T, F) input takes the Dense's logits,
 * as Keras 3.15.1 on TensorFlow does (the activation sets _keras_logits on
 * the (B, T, units) tensor), so nothing is clipped to [1e-7, 1 - 1e-7].
 *
 * The oracle is tests/fixtures/optim/dense_seq_logits.h5 (made by
 * tests/gen_dense_seq_logits_fixture.py, which also checks Keras against
 * float64 NumPy): weights that saturate the probabilities, model.evaluate's
 * loss and one train_on_batch (SGD) from them: its loss and the weights
 * after it. Three cases: softmax + sparse categorical, softmax +
 * categorical, sigmoid + binary crossentropy; and the control where Keras
 * does clip: the Dense inside a TimeDistributed (whose output is a reshape
 * of the activation's on both programs). Each runs on the CPU path,
 * the trainer's device step on the CPU backend table and on the CUDA table
 * over the emulation (tests/cuda_emu); each path against Keras, and the
 * two device paths against the CPU path. Clipping halves the loss here
 * (the fixture's clipped_loss), so a path that clips fails. Tiny: CI runs
 * it under valgrind. */
#include "cuda_emu/cuda_backend_sources.c"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "framework/backend_ops.h"
#include "helpers/fixture.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "optim/trainer.h"

#define FX RNNC_FIXTURES "/optim/dense_seq_logits.h5"

#define OK(expr)                                                                                  \
    do {                                                                                          \
        rnnc_status s_ = (expr);                                                                  \
        cr_assert_eq(s_, RNNC_OK, "%s -> %s: %s", #expr, rnnc_status_str(s_), rnnc_last_error()); \
    } while (0)

static const double tol = 1e-5; /* relative above 1, float32 rounding */

static rnnc_tensor *fx_read(rnnc_fixture *fx, const char *c, const char *what, rnnc_dtype dt)
{
    char name[64];
    rnnc_tensor *t = NULL;
    snprintf(name, sizeof name, "%s_%s", c, what);
    OK(rnnc_fixture_read(fx, name, dt, &t));
    return t;
}

static double scalar(rnnc_fixture *fx, const char *c, const char *what)
{
    rnnc_tensor *t = fx_read(fx, c, what, RNNC_F64);
    const double v = rnnc_tensor_get(t, 0);
    rnnc_tensor_destroy(t);
    return v;
}

static bool near(double want, double got) { return fabs(want - got) <= tol * fmax(1.0, fabs(want)); }

typedef struct result {
    double loss, step_loss;
    rnnc_tensor *kernel, *bias; /* after the step */
} result;

/* Sequential(Input (None, 3, 4), Dense(5, act)) (in a TimeDistributed
 * when td) with the fixture's weights, SGD(0.5) and `loss`: evaluate, then
 * one train_on_batch. */
static result run_path(rnnc_fixture *fx, const char *c, const char *act, const char *loss, bool td,
                       const rnnc_backend_ops *be)
{
    char text[512], dense[128], comp[256];
    snprintf(dense, sizeof dense, "{class_name: Dense, config: {name: dense, units: 5, activation: %s}}", act);
    snprintf(text, sizeof text,
             "{class_name: Sequential, config: {name: s, layers: ["
             "{class_name: InputLayer, config: {batch_shape: [null, 3, 4]}}, %s%s%s]}}",
             td ? "{class_name: TimeDistributed, config: {name: td, layer: " : "", dense, td ? "}}" : "");
    snprintf(comp, sizeof comp, "{optimizer: {class_name: SGD, config: {learning_rate: 0.5}}, loss: %s}", loss);
    rnnc_cfg *cfg;
    rnnc_model *m;
    OK(rnnc_spec_read_string(text, strlen(text), "test", &cfg));
    OK(rnnc_model_from_config(cfg, NULL, &m));
    rnnc_cfg_destroy(cfg);
    if (!m->layers[0]->built)
        OK(rnnc_model_build(m, &m->input_shape));
    rnnc_weight *w[2];
    int nw;
    OK(rnnc_model_weights(m, w, 2, &nw));
    cr_assert_eq(nw, 2);
    rnnc_tensor *k0 = fx_read(fx, c, "kernel", RNNC_F32), *b0 = fx_read(fx, c, "bias", RNNC_F32);
    cr_assert_eq(k0->numel, w[0]->value->numel);
    cr_assert_eq(b0->numel, w[1]->value->numel);
    memcpy(w[0]->value->data, k0->data, k0->numel * sizeof(float));
    memcpy(w[1]->value->data, b0->data, b0->numel * sizeof(float));
    rnnc_tensor_destroy(k0);
    rnnc_tensor_destroy(b0);

    rnnc_trainer *tr;
    OK(rnnc_trainer_create(m, &tr));
    OK(rnnc_spec_read_string(comp, strlen(comp), "test", &cfg));
    OK(rnnc_trainer_compile_config(tr, rnnc_cfg_peek(cfg, "optimizer"), rnnc_cfg_peek(cfg, "loss"), NULL, NULL));
    rnnc_cfg_destroy(cfg);
    if (be)
        OK(rnnc_trainer_set_device(tr, be));
    rnnc_tensor *x = fx_read(fx, c, "x", RNNC_F32), *y = fx_read(fx, c, "y", RNNC_F32);
    rnnc_logs ev, st;
    OK(rnnc_trainer_evaluate(tr, x, y, NULL, 2, &ev));
    OK(rnnc_trainer_train_on_batch(tr, x, y, NULL, &st));
    const double *l = rnnc_logs_get(&ev, "loss"), *sl = rnnc_logs_get(&st, "loss");
    cr_assert(l && sl);
    result r = {*l, *sl, NULL, NULL};
    OK(rnnc_tensor_clone(w[0]->value, &r.kernel));
    OK(rnnc_tensor_clone(w[1]->value, &r.bias));
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    return r;
}

static void check_case(const char *c, const char *act, const char *loss, bool td)
{
    rnnc_fixture *fx;
    OK(rnnc_fixture_open(FX, &fx));
    const double want = scalar(fx, c, "loss"), want_step = scalar(fx, c, "step_loss");
    const double clipped = scalar(fx, c, "clipped_loss");
    const double logits = scalar(fx, c, "logits_loss");
    cr_assert_gt(logits - clipped, 0.2 * logits, "%s: the case saturates (from the logits %.9g, clipped %.9g)", c,
                 logits, clipped);
    cr_assert(near(td ? clipped : logits, want), "%s: Keras's loss %.9g is %s", c, want,
              td ? "the clipped one" : "the logits'");
    rnnc_tensor *k1 = fx_read(fx, c, "kernel1", RNNC_F32), *b1 = fx_read(fx, c, "bias1", RNNC_F32);
    const rnnc_backend_ops *tables[3] = {NULL, rnnc_backend_ops_cpu(), rnnc__cuda_backend_ops()};
    const char *names[3] = {"cpu path", "cpu table", "cuda emulation"};
    result r[3];
    for (int p = 0; p < 3; p++) {
        r[p] = run_path(fx, c, act, loss, td, tables[p]);
        cr_expect(near(want, r[p].loss), "%s, %s: evaluate loss %.9g, Keras %.9g (clipped: %.9g)", c, names[p],
                  r[p].loss, want, clipped);
        cr_expect(near(want_step, r[p].step_loss), "%s, %s: train_on_batch loss %.9g, Keras %.9g", c, names[p],
                  r[p].step_loss, want_step);
        const double ek = rnnc_fixture_max_err(r[p].kernel, k1), eb = rnnc_fixture_max_err(r[p].bias, b1);
        cr_expect(ek <= tol && eb <= tol, "%s, %s: weights after the step off Keras's by %.3g (kernel), %.3g (bias)",
                  c, names[p], ek, eb);
        if (p > 0) {
            cr_expect(near(r[0].loss, r[p].loss) && near(r[0].step_loss, r[p].step_loss),
                      "%s, %s: losses %.9g %.9g, the CPU path's %.9g %.9g", c, names[p], r[p].loss, r[p].step_loss,
                      r[0].loss, r[0].step_loss);
            cr_expect(rnnc_fixture_max_err(r[p].kernel, r[0].kernel) <= tol &&
                          rnnc_fixture_max_err(r[p].bias, r[0].bias) <= tol,
                      "%s, %s: weights after the step off the CPU path's", c, names[p]);
        }
    }
    for (int p = 0; p < 3; p++) {
        rnnc_tensor_destroy(r[p].kernel);
        rnnc_tensor_destroy(r[p].bias);
    }
    rnnc_tensor_destroy(k1);
    rnnc_tensor_destroy(b1);
    rnnc_fixture_close(fx);
}

static void suite_done(void) { rnnc__cuda_api()->shutdown(); }

TestSuite(dense_seq_logits, .fini = suite_done);

Test(dense_seq_logits, softmax_sparse_categorical_crossentropy)
{
    check_case("sm_sparse", "softmax", "sparse_categorical_crossentropy", false);
}

Test(dense_seq_logits, softmax_categorical_crossentropy)
{
    check_case("sm_cat", "softmax", "categorical_crossentropy", false);
}

Test(dense_seq_logits, sigmoid_binary_crossentropy) { check_case("sig_bin", "sigmoid", "binary_crossentropy", false); }

/* The control: TimeDistributed(Dense(softmax)) reshapes after the softmax
 * on both programs, so Keras and rnnc clip there alike. */
Test(dense_seq_logits, time_distributed_softmax_clips_as_keras)
{
    check_case("td_sparse", "softmax", "sparse_categorical_crossentropy", true);
}
