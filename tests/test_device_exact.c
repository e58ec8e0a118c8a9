/* test_device_exact.c - small cases where the trainer's device step
 * (rnnc_trainer_set_device, optim/device_step.c) must give the CPU path's
 * numbers, which Keras 3 on TensorFlow gives too, where a plain reading of
 * the formulas would not:
 *
 * - crossentropy over a sigmoid / softmax output (from_logits false): the
 *   CPU path, as Keras's _keras_logits rule, takes the activation's input
 *   (optim/losses.c logits_of), so nothing is clipped to [1e-7, 1 - 1e-7];
 *   with large logits the probabilities saturate and clipping would change
 *   the loss, the crossentropy metrics and the gradient. The loss of the
 *   first evaluate is also checked against a float64 loop over the logits
 *   (the oracle: log-sum-exp, log(1 + e^-z)), far above the clipped bound.
 * - binary_accuracy with a threshold other than 0.5
 *   (rnnc_metric_set_threshold), on outputs between the two.
 *
 * Each model is fitted 3 epochs with validation on the CPU path, the CPU
 * backend table and the CUDA table on the emulation (tests/cuda_emu): every
 * epoch's logs within 1e-4 (relative above 1), then evaluate. Tiny models:
 * every test runs under valgrind in CI. */
#include "cuda_emu/cuda_backend_sources.c"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "framework/backend_ops.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "optim/trainer.h"

#define OK(expr)                                                                                  \
    do {                                                                                          \
        rnnc_status s_ = (expr);                                                                  \
        cr_assert_eq(s_, RNNC_OK, "%s -> %s: %s", #expr, rnnc_status_str(s_), rnnc_last_error()); \
    } while (0)

static const double tol = 1e-4;

static uint64_t rs;
static double uni(void) /* [0, 1) */
{
    rs = rs * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rs >> 11) / 9007199254740992.0;
}

static rnnc_tensor *filled(rnnc_dtype dt, rnnc_shape s, double lo, double hi, bool ints)
{
    rnnc_tensor *t;
    OK(rnnc_tensor_create(dt, &s, &t));
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(t, i, ints ? floor(lo + uni() * (hi - lo)) : lo + uni() * (hi - lo));
    return t;
}

/* A built model from a YAML config, with `like`'s weights when given. */
static rnnc_model *model_of(const char *text, rnnc_model *like)
{
    rnnc_cfg *c;
    rnnc_model *m;
    OK(rnnc_spec_read_string(text, strlen(text), "test", &c));
    OK(rnnc_model_from_config(c, NULL, &m));
    rnnc_cfg_destroy(c);
    if (!m->layers[0]->built)
        OK(rnnc_model_build(m, &m->input_shape));
    if (like) {
        rnnc_weight *a[8], *b[8];
        int na, nb;
        OK(rnnc_model_weights(like, a, 8, &na));
        OK(rnnc_model_weights(m, b, 8, &nb));
        cr_assert_eq(na, nb);
        for (int i = 0; i < na; i++)
            memcpy(b[i]->value->data, a[i]->value->data, a[i]->value->numel * sizeof(float));
    }
    return m;
}

/* compile: a YAML map; threshold > 0: binary_accuracy's, the only metric */
static rnnc_trainer *trainer_of(rnnc_model *m, const char *compile, double threshold)
{
    rnnc_trainer *tr;
    OK(rnnc_trainer_create(m, &tr));
    if (threshold > 0) {
        rnnc_optimizer *o;
        rnnc_loss *l;
        rnnc_metric *acc;
        OK(rnnc_optimizer_create(RNNC_OPTIMIZER_SGD, NULL, &o));
        OK(rnnc_loss_from_name("binary_crossentropy", &l));
        OK(rnnc_metric_from_name("binary_accuracy", &acc));
        rnnc_metric_set_threshold(acc, threshold);
        cr_assert_eq(rnnc_metric_threshold(acc), threshold);
        OK(rnnc_trainer_compile(tr, o, l, &acc, 1, NULL, 0));
        return tr;
    }
    rnnc_cfg *c;
    OK(rnnc_spec_read_string(compile, strlen(compile), "test", &c));
    OK(rnnc_trainer_compile_config(tr, rnnc_cfg_peek(c, "optimizer"), rnnc_cfg_peek(c, "loss"),
                                   rnnc_cfg_peek(c, "metrics"), NULL));
    rnnc_cfg_destroy(c);
    return tr;
}

typedef struct data {
    rnnc_tensor *x, *y, *xv, *yv;
} data;

static bool near(double want, double got) { return fabs(want - got) <= tol * fmax(1.0, fabs(want)); }

/* 3 epochs of `text` on each path from the same weights; every log of
 * every epoch and the evaluate after it against the CPU path's. Returns
 * the CPU path's evaluate loss before training. */
static double fit_paths(const char *text, const char *compile, double threshold, const data *d)
{
    rnnc_model *init = model_of(text, NULL);
    const rnnc_backend_ops *tables[3] = {NULL, rnnc_backend_ops_cpu(), rnnc__cuda_backend_ops()};
    const char *names[3] = {"cpu path", "cpu table", "cuda emulation"};
    rnnc_history *want = NULL;
    rnnc_logs want_eval = {0};
    double first = NAN;
    for (int p = 0; p < 3; p++) {
        rnnc_model *m = model_of(text, init);
        rnnc_trainer *tr = trainer_of(m, compile, threshold);
        if (tables[p])
            OK(rnnc_trainer_set_device(tr, tables[p]));
        rnnc_logs before;
        OK(rnnc_trainer_evaluate(tr, d->xv, d->yv, NULL, 8, &before));
        const double *l0 = rnnc_logs_get(&before, "loss");
        cr_assert(l0);
        if (p == 0)
            first = *l0;
        else
            cr_expect(near(first, *l0), "%s: evaluate loss before training %.9g vs the CPU path's %.9g", names[p], *l0,
                      first);
        rnnc_fit_options o = rnnc_fit_options_default();
        o.epochs = 3;
        o.batch_size = 8;
        o.seed = 5;
        o.verbose = RNNC_VERBOSE_SILENT;
        o.x_val = d->xv;
        o.y_val = d->yv;
        rnnc_history *h;
        rnnc_logs ev;
        OK(rnnc_trainer_fit(tr, d->x, d->y, &o, &h));
        OK(rnnc_trainer_evaluate(tr, d->xv, d->yv, NULL, 8, &ev));
        if (p == 0) {
            want = h;
            want_eval = ev;
        } else {
            cr_assert_eq(rnnc_history_n_keys(h), rnnc_history_n_keys(want));
            for (int k = 0; k < rnnc_history_n_keys(want); k++) {
                const char *key = rnnc_history_key(want, k);
                const double *a = rnnc_history_get(want, key), *b = rnnc_history_get(h, key);
                cr_assert(b, "%s: no '%s'", names[p], key);
                for (int e = 0; e < 3; e++)
                    cr_expect(near(a[e], b[e]), "%s: %s epoch %d: %.9g vs the CPU path's %.9g", names[p], key, e + 1,
                              b[e], a[e]);
            }
            for (int i = 0; i < want_eval.n; i++) {
                const double *v = rnnc_logs_get(&ev, want_eval.names[i]);
                cr_assert(v);
                cr_expect(near(want_eval.values[i], *v), "%s: evaluate %s %.9g vs %.9g", names[p], want_eval.names[i],
                          *v, want_eval.values[i]);
            }
            rnnc_history_destroy(h);
        }
        rnnc_trainer_destroy(tr);
        rnnc_model_destroy(m);
    }
    rnnc_history_destroy(want);
    rnnc_model_destroy(init);
    return first;
}

static void data_free(data *d)
{
    rnnc_tensor_destroy(d->x);
    rnnc_tensor_destroy(d->y);
    rnnc_tensor_destroy(d->xv);
    rnnc_tensor_destroy(d->yv);
}

static void suite_done(void) { rnnc__cuda_api()->shutdown(); }

TestSuite(device_exact, .fini = suite_done);

/* Dense(3, softmax) with weights of scale 8 on inputs in [-2, 2]: logits
 * of tens, probabilities 1 and far below 1e-7. */
#define SOFTMAX_DENSE                                                                              \
    "{class_name: Sequential, config: {name: s, layers: ["                                         \
    "{class_name: InputLayer, config: {batch_shape: [null, 4]}}, "                                 \
    "{class_name: Dense, config: {name: dense, units: 3, activation: softmax, "                     \
    "kernel_initializer: {class_name: RandomNormal, config: {stddev: 8.0, seed: 3}}}}]}}"

/* The loss over the validation rows in float64 from the logits (the
 * oracle): the mean of logsumexp(z) - z[label]; *clipped: the same with
 * the probabilities clipped to [1e-7, 1 - 1e-7] (what the CPU path and
 * Keras do not compute). */
static double sparse_ce_of_logits(const char *text, const data *d, double *clipped)
{
    rnnc_model *m = model_of(text, NULL);
    const rnnc_layer *dense = m->layers[m->n_layers - 1];
    const rnnc_tensor *k = dense->weights[0].value, *b = dense->weights[1].value;
    const int64_t n = d->xv->shape.dim[0];
    double sum = 0, csum = 0;
    for (int64_t r = 0; r < n; r++) {
        double z[3], mx = -INFINITY, se = 0;
        for (int j = 0; j < 3; j++) {
            z[j] = rnnc_tensor_get(b, (size_t)j);
            for (int f = 0; f < 4; f++)
                z[j] += rnnc_tensor_get(d->xv, (size_t)(r * 4 + f)) * rnnc_tensor_get(k, (size_t)(f * 3 + j));
            mx = fmax(mx, z[j]);
        }
        for (int j = 0; j < 3; j++)
            se += exp(z[j] - mx);
        const double ce = mx + log(se) - z[(int)rnnc_tensor_get(d->yv, (size_t)r)];
        sum += ce;
        csum += -log(fmin(fmax(exp(-ce), 1e-7), 1 - 1e-7));
    }
    rnnc_model_destroy(m);
    *clipped = csum / (double)n;
    return sum / (double)n;
}

Test(device_exact, saturated_softmax_dense_sparse_and_categorical_ce_take_the_logits)
{
    rs = 1;
    data d = {filled(RNNC_F32, RNNC_SHAPE(16, 4), -2, 2, false), filled(RNNC_F32, RNNC_SHAPE(16), 0, 3, true),
              filled(RNNC_F32, RNNC_SHAPE(8, 4), -2, 2, false), filled(RNNC_F32, RNNC_SHAPE(8), 0, 3, true)};
    const double loss0 = fit_paths(SOFTMAX_DENSE,
                                   "{optimizer: {class_name: SGD, config: {learning_rate: 0.001}}, "
                                   "loss: sparse_categorical_crossentropy, "
                                   "metrics: [sparse_categorical_crossentropy, sparse_categorical_accuracy]}",
                                   0, &d);
    double clipped;
    const double want = sparse_ce_of_logits(SOFTMAX_DENSE, &d, &clipped);
    cr_expect(fabs(loss0 - want) <= 1e-5 * want, "the CPU path's loss %.9g, the logits' %.9g", loss0, want);
    cr_expect_gt(want - clipped, 0.1 * want, "the case saturates: %.9g, clipped %.9g", want, clipped);
    /* the same rows one-hot, categorical crossentropy, its metric */
    rnnc_tensor *oh, *ohv;
    const rnnc_shape s16 = RNNC_SHAPE(16, 3), s8 = RNNC_SHAPE(8, 3);
    OK(rnnc_tensor_create(RNNC_F32, &s16, &oh));
    OK(rnnc_tensor_create(RNNC_F32, &s8, &ohv));
    for (size_t r = 0; r < 16; r++)
        rnnc_tensor_set(oh, r * 3 + (size_t)rnnc_tensor_get(d.y, r), 1.0);
    for (size_t r = 0; r < 8; r++)
        rnnc_tensor_set(ohv, r * 3 + (size_t)rnnc_tensor_get(d.yv, r), 1.0);
    rnnc_tensor_destroy(d.y);
    rnnc_tensor_destroy(d.yv);
    d.y = oh;
    d.yv = ohv;
    fit_paths(SOFTMAX_DENSE,
              "{optimizer: adam, loss: categorical_crossentropy, metrics: [categorical_crossentropy, accuracy]}", 0,
              &d);
    data_free(&d);
}

/* Activation(sigmoid) after a linear Dense on sequences (the Activation's
 * input is the logits at any rank), binary crossentropy and its metric;
 * and Activation(softmax) on sequences with a crossentropy metric under an
 * mse loss. A Dense(softmax) on a sequence takes its logits on both
 * paths, as Keras (against Keras: test_dense_seq_logits). */
Test(device_exact, saturated_activation_layers_and_a_sequence_dense)
{
    rs = 2;
    data d = {filled(RNNC_F32, RNNC_SHAPE(16, 3, 2), -2, 2, false), filled(RNNC_F32, RNNC_SHAPE(16, 3, 2), 0, 2, true),
              filled(RNNC_F32, RNNC_SHAPE(8, 3, 2), -2, 2, false), filled(RNNC_F32, RNNC_SHAPE(8, 3, 2), 0, 2, true)};
    const char *head = "{class_name: Sequential, config: {name: s, layers: ["
                       "{class_name: InputLayer, config: {batch_shape: [null, 3, 2]}}, "
                       "{class_name: Dense, config: {name: dense, units: 2, activation: %s, "
                       "kernel_initializer: {class_name: RandomNormal, config: {stddev: 10.0, seed: 4}}}}%s]}}";
    char text[1024];
    snprintf(text, sizeof text, head, "linear", ", {class_name: Activation, config: {name: act, activation: sigmoid}}");
    fit_paths(text, "{optimizer: adam, loss: binary_crossentropy, metrics: [binary_crossentropy]}", 0, &d);
    snprintf(text, sizeof text, head, "linear", ", {class_name: Activation, config: {name: act, activation: softmax}}");
    fit_paths(text, "{optimizer: adam, loss: mse, metrics: [categorical_crossentropy]}", 0, &d);
    snprintf(text, sizeof text, head, "softmax", "");
    fit_paths(text, "{optimizer: adam, loss: categorical_crossentropy}", 0, &d);
    data_free(&d);
}

/* Dense(1, sigmoid) with a bias of -0.5: outputs around 0.38, so a
 * threshold of 0.3 and one of 0.5 count differently. */
Test(device_exact, binary_accuracy_takes_the_metric_threshold)
{
    rs = 3;
    /* labels mostly 0: all-1 and all-0 predictions score apart */
    data d = {filled(RNNC_F32, RNNC_SHAPE(16, 4), -1, 1, false), filled(RNNC_F32, RNNC_SHAPE(16, 1), 0, 1.25, true),
              filled(RNNC_F32, RNNC_SHAPE(8, 4), -1, 1, false), filled(RNNC_F32, RNNC_SHAPE(8, 1), 0, 1.25, true)};
    const char *text = "{class_name: Sequential, config: {name: s, layers: ["
                       "{class_name: InputLayer, config: {batch_shape: [null, 4]}}, "
                       "{class_name: Dense, config: {name: dense, units: 1, activation: sigmoid, "
                       "kernel_initializer: {class_name: RandomUniform, config: {minval: -0.1, maxval: 0.1, seed: 2}}, "
                       "bias_initializer: {class_name: Constant, config: {value: -0.5}}}}]}}";
    fit_paths(text, NULL, 0.3, &d);
    data_free(&d);
}

/* A Dropout after the softmax returns its input when it draws no mask (in
 * evaluation, and in training at rate 0): the CPU path then still finds
 * the logits behind it; in a training call at rate 0.5 it multiplies, and
 * both paths clip. */
Test(device_exact, a_dropout_passing_the_softmax_through_keeps_its_logits)
{
    rs = 4;
    data d = {filled(RNNC_F32, RNNC_SHAPE(16, 4), -2, 2, false), filled(RNNC_F32, RNNC_SHAPE(16), 0, 3, true),
              filled(RNNC_F32, RNNC_SHAPE(8, 4), -2, 2, false), filled(RNNC_F32, RNNC_SHAPE(8), 0, 3, true)};
    const char *head = "{class_name: Sequential, config: {name: s, layers: ["
                       "{class_name: InputLayer, config: {batch_shape: [null, 4]}}, "
                       "{class_name: Dense, config: {name: dense, units: 3, activation: softmax, "
                       "kernel_initializer: {class_name: RandomNormal, config: {stddev: 8.0, seed: 5}}}}, "
                       "{class_name: Dropout, config: {name: drop, rate: %s, seed: 7}}]}}";
    const char *compile = "{optimizer: {class_name: SGD, config: {learning_rate: 0.001}}, "
                          "loss: sparse_categorical_crossentropy, metrics: [sparse_categorical_crossentropy]}";
    char text[1024];
    snprintf(text, sizeof text, head, "0.5");
    fit_paths(text, compile, 0, &d);
    snprintf(text, sizeof text, head, "0.0");
    fit_paths(text, compile, 0, &d);
    data_free(&d);
}
