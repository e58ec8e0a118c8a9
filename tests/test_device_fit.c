/* test_device_fit.c - the trainer's device path (rnnc_trainer_set_device,
 * optim/device_step.c) against the usual CPU path.
 *
 * The example specs (examples/<name>.yaml, read with the library's spec reader
 * and model loader as `rnnc train` reads them) on small random data of the
 * tasks' shapes, trained 5 epochs with validation on the CPU path, on the
 * CPU backend table and on the CUDA backend running on the emulation
 * (tests/cuda_emu): every epoch's loss, metrics and val_ values within
 * 1e-4 (the proof), then evaluate and predict. The cases that
 * check one thing (an optimizer mode, a loss reduction, class weights,
 * Embedding's Adam, the sync points) run an example's model on fewer
 * steps (chars also narrower): the same layers and code paths at a
 * fraction of the cost under valgrind. The oracle is the
 * CPU path, itself checked against Keras 3.15.1 by test_trainer,
 * test_fit_callbacks and test_keras_training.
 *
 * Also: one training step on the emulated CUDA backend downloads exactly
 * one buffer of 4 * (1 + metrics) bytes (the loss and metric totals);
 * weights and optimizer slots reach the host before on_epoch_end and a
 * callback's change of the weights reaches the device; the refusals. */
#include "cuda_emu/cuda_backend_sources.c"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend_ops.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/training_spec.h"
#include "optim/trainer.h"

#define OK(expr)                                                                         \
    do {                                                                                 \
        rnnc_status s_ = (expr);                                                         \
        cr_assert_eq(s_, RNNC_OK, "%s -> %s: %s", #expr, rnnc_status_str(s_), rnnc_last_error()); \
    } while (0)

#define TOL 1e-4

/* ---- data of the examples' tasks (shapes as apps/tasks.c makes them) ----- */

static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s * 0x9E3779B97F4A7C15ull + 7; }
static double rng_u(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static int64_t rng_int(int64_t n) { return (int64_t)(rng_u() * (double)n) % n; }

typedef struct data {
    rnnc_tensor *x, *y, *sw;
} data;

static void data_free(data *d)
{
    rnnc_tensor_destroy(d->x);
    rnnc_tensor_destroy(d->y);
    rnnc_tensor_destroy(d->sw);
    memset(d, 0, sizeof *d);
}

static rnnc_tensor *tensor(rnnc_dtype dt, rnnc_shape s)
{
    rnnc_tensor *t;
    OK(rnnc_tensor_create(dt, &s, &t));
    return t;
}

/* Data of `task` with T steps (0: the example's own: adding 50, sine 40,
 * copy 11, varlen 30, chars 64) and, for chars, `vocab` ids (0: 96). The
 * examples' own sizes draw what they always drew. */
static data make_data_sized(const char *task, int64_t T, int64_t vocab, int64_t n, uint64_t seed)
{
    data d = {0};
    rng_seed(seed);
    if (strcmp(task, "adding") == 0) {
        T = T ? T : 50; /* the two marked steps: one in each half */
        d.x = tensor(RNNC_F32, RNNC_SHAPE(n, T, 2));
        d.y = tensor(RNNC_F32, RNNC_SHAPE(n, 1));
        for (int64_t i = 0; i < n; i++) {
            const int64_t a = rng_int(T / 2), b = T / 2 + rng_int(T - T / 2);
            double sum = 0;
            for (int64_t t = 0; t < T; t++) {
                const double v = rng_u();
                rnnc_tensor_set(d.x, (size_t)((i * T + t) * 2), v);
                rnnc_tensor_set(d.x, (size_t)((i * T + t) * 2 + 1), t == a || t == b);
                sum += t == a || t == b ? (double)(float)v : 0;
            }
            rnnc_tensor_set(d.y, (size_t)i, sum);
        }
    } else if (strcmp(task, "sine") == 0) {
        T = T ? T : 40; /* T steps in, the next 10 out */
        d.x = tensor(RNNC_F32, RNNC_SHAPE(n, T, 1));
        d.y = tensor(RNNC_F32, RNNC_SHAPE(n, 10));
        for (int64_t i = 0; i < n; i++) {
            const double f = 0.1 + 0.3 * rng_u(), p = 6.28 * rng_u();
            for (int64_t t = 0; t < T + 10; t++) {
                const double v = sin(f * (double)t + p);
                if (t < T)
                    rnnc_tensor_set(d.x, (size_t)(i * T + t), v + 0.05 * (rng_u() - 0.5));
                else
                    rnnc_tensor_set(d.y, (size_t)(i * 10 + t - T), v);
            }
        }
    } else if (strcmp(task, "copy") == 0) {
        /* 5 symbols of 8, a delimiter, 5 blanks; targets recalled in the last 5 steps */
        d.x = tensor(RNNC_F32, RNNC_SHAPE(n, 11, 10));
        d.y = tensor(RNNC_F32, RNNC_SHAPE(n, 11));
        d.sw = tensor(RNNC_F32, RNNC_SHAPE(n, 11));
        for (int64_t i = 0; i < n; i++) {
            int64_t sym[5];
            for (int k = 0; k < 5; k++)
                sym[k] = rng_int(8);
            for (int64_t t = 0; t < 11; t++) {
                const int64_t ch = t < 5 ? sym[t] : t == 5 ? 8 : 9;
                rnnc_tensor_set(d.x, (size_t)((i * 11 + t) * 10 + ch), 1.0);
                rnnc_tensor_set(d.y, (size_t)(i * 11 + t), t > 5 ? (double)sym[t - 6] : 0.0);
                rnnc_tensor_set(d.sw, (size_t)(i * 11 + t), t > 5 ? 1.0 : 0.0);
            }
        }
    } else if (strcmp(task, "varlen") == 0) {
        T = T ? T : 30; /* lengths from T * 8 / 30 to T: padded rows, and full ones */
        const int64_t lo = T * 8 / 30;
        d.x = tensor(RNNC_F32, RNNC_SHAPE(n, T, 3));
        d.y = tensor(RNNC_F32, RNNC_SHAPE(n));
        for (int64_t i = 0; i < n; i++) {
            const int64_t len = lo + rng_int(T - lo + 1);
            double sums[3] = {0, 0, 0};
            for (int64_t t = 0; t < len; t++)
                for (int c = 0; c < 3; c++) {
                    const double v = 0.05 + rng_u();
                    rnnc_tensor_set(d.x, (size_t)((i * T + t) * 3 + c), v);
                    sums[c] += v;
                }
            rnnc_tensor_set(d.y, (size_t)i, sums[0] > sums[1] ? (sums[0] > sums[2] ? 0 : 2) : (sums[1] > sums[2] ? 1 : 2));
        }
    } else if (strcmp(task, "varlen_seq") == 0) {
        /* varlen's padded sequences, a value per step, a weight per step
         * (the CPU path does not combine a (N,) weight with a (N, T) mask) */
        d.x = tensor(RNNC_F32, RNNC_SHAPE(n, 30, 3));
        d.y = tensor(RNNC_F32, RNNC_SHAPE(n, 30, 1));
        d.sw = tensor(RNNC_F32, RNNC_SHAPE(n, 30));
        for (int64_t i = 0; i < n; i++) {
            const int64_t len = 8 + rng_int(23);
            double run = 0;
            for (int64_t t = 0; t < len; t++) {
                for (int c = 0; c < 3; c++) {
                    const double v = 0.05 + rng_u();
                    rnnc_tensor_set(d.x, (size_t)((i * 30 + t) * 3 + c), v);
                    run += c == 0 ? v : 0;
                }
                rnnc_tensor_set(d.y, (size_t)(i * 30 + t), run / (double)(t + 1));
            }
            for (int64_t t = 0; t < 30; t++)
                rnnc_tensor_set(d.sw, (size_t)(i * 30 + t), t % 7 == 3 ? 0.0 : 0.5 + 0.1 * (double)(t % 5));
        }
    } else { /* chars: ids of `vocab` characters, the next one as the target */
        T = T ? T : 64;
        const int64_t V = vocab ? vocab : 96;
        d.x = tensor(RNNC_I32, RNNC_SHAPE(n, T));
        d.y = tensor(RNNC_F32, RNNC_SHAPE(n, T));
        for (int64_t i = 0; i < n; i++) {
            int64_t c = rng_int(V);
            for (int64_t t = 0; t < T; t++) {
                rnnc_tensor_set(d.x, (size_t)(i * T + t), (double)c);
                c = rng_u() < 0.5 ? (c + 1) % V : rng_int(V);
                rnnc_tensor_set(d.y, (size_t)(i * T + t), (double)c);
            }
        }
    }
    return d;
}

static data make_data(const char *task, int64_t n, uint64_t seed) { return make_data_sized(task, 0, 0, n, seed); }

/* ---- models and trainers ---------------------------------------------------- */

static rnnc_training_spec *read_spec(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/%s.yaml", RNNC_SOURCE_DIR, name);
    rnnc_training_spec *spec;
    OK(rnnc_training_spec_read(path, &spec));
    return spec;
}

/* A model of the spec's config with the weights of `like` (when given). */
static rnnc_model *model_of(const rnnc_training_spec *spec, rnnc_model *like)
{
    rnnc_model *m;
    OK(rnnc_model_from_config(spec->model_config, NULL, &m));
    if (!m->layers[0]->built)
        OK(rnnc_model_build(m, &m->input_shape));
    if (like) {
        rnnc_weight *a[32], *b[32];
        int na, nb;
        OK(rnnc_model_weights(like, a, 32, &na));
        OK(rnnc_model_weights(m, b, 32, &nb));
        cr_assert_eq(na, nb);
        for (int i = 0; i < na; i++)
            memcpy(b[i]->value->data, a[i]->value->data, a[i]->value->numel * rnnc_dtype_size(a[i]->value->dtype));
    }
    return m;
}

static rnnc_cfg *kept[64]; /* yaml()'s trees, freed when the suite ends */
static int n_kept;

static const rnnc_cfg *yaml(const char *text)
{
    rnnc_cfg *c;
    OK(rnnc_spec_read_string(text, strlen(text), "test", &c));
    cr_assert_lt(n_kept, 64);
    kept[n_kept++] = c;
    return c;
}

/* compile: the spec's, or `compile` (a YAML map) when given */
static rnnc_trainer *trainer_of(rnnc_model *m, const rnnc_training_spec *spec, const char *compile)
{
    rnnc_trainer *tr;
    OK(rnnc_trainer_create(m, &tr));
    const rnnc_cfg *c = compile ? yaml(compile) : spec->compile;
    OK(rnnc_trainer_compile_config(tr, rnnc_cfg_peek(c, "optimizer"), rnnc_cfg_peek(c, "loss"),
                                   rnnc_cfg_peek(c, "metrics"), rnnc_cfg_peek(c, "weighted_metrics")));
    return tr;
}

static const rnnc_backend_ops *emu(void) { return rnnc__cuda_backend_ops(); }

/* The real GPU's table (a CUDA build on a machine with one), or NULL. */
static const rnnc_backend_ops *gpu(void)
{
    const rnnc_backend_ops *b;
    return rnnc_backend_ops_get(RNNC_DEVICE_CUDA, &b) == RNNC_OK ? b : NULL;
}

typedef enum { PATH_CPU, PATH_CPU_TABLE, PATH_EMU, PATH_GPU } path;
static const char *const path_names[] = {"cpu path", "cpu table", "cuda emulation", "GPU"};

static const rnnc_backend_ops *table_of(path p)
{
    return p == PATH_CPU ? NULL : p == PATH_CPU_TABLE ? rnnc_backend_ops_cpu() : p == PATH_EMU ? emu() : gpu();
}

/* The device paths example_of compares with the CPU path. */
static path first_path = PATH_CPU_TABLE, last_path = PATH_EMU;

/* ---- comparisons ------------------------------------------------------------ */

static double close_to(double a, double b) { return fabs(a - b) <= TOL * fmax(1.0, fabs(a)); }

/* Every key of want, every epoch, within TOL; returns the largest difference. */
static double same_history(const rnnc_history *want, const rnnc_history *got, const char *what)
{
    double worst = 0;
    cr_assert_eq(rnnc_history_n_epochs(got), rnnc_history_n_epochs(want), "%s: epochs", what);
    cr_assert_eq(rnnc_history_n_keys(got), rnnc_history_n_keys(want), "%s: keys", what);
    for (int k = 0; k < rnnc_history_n_keys(want); k++) {
        const char *key = rnnc_history_key(want, k);
        const double *a = rnnc_history_get(want, key), *b = rnnc_history_get(got, key);
        cr_assert(b, "%s: no '%s'", what, key);
        for (int e = 0; e < rnnc_history_n_epochs(want); e++) {
            cr_expect(close_to(a[e], b[e]), "%s: %s epoch %d: %.9g vs the CPU path's %.9g", what, key, e + 1, b[e],
                      a[e]);
            worst = fmax(worst, fabs(a[e] - b[e]));
        }
    }
    return worst;
}

static void same_logs(const rnnc_logs *want, const rnnc_logs *got, const char *what)
{
    cr_assert_eq(got->n, want->n, "%s: %d logs vs %d", what, got->n, want->n);
    for (int i = 0; i < want->n; i++) {
        const double *v = rnnc_logs_get(got, want->names[i]);
        cr_assert(v, "%s: no '%s'", what, want->names[i]);
        cr_expect(close_to(want->values[i], *v), "%s: %s %.9g vs %.9g", what, want->names[i], *v, want->values[i]);
    }
}

static void same_tensor(const rnnc_tensor *want, const rnnc_tensor *got, const char *what)
{
    cr_assert(rnnc_shape_eq(&want->shape, &got->shape), "%s: shapes", what);
    int bad = 0;
    for (size_t i = 0; i < want->numel; i++)
        bad += !close_to(rnnc_tensor_get(want, i), rnnc_tensor_get(got, i));
    cr_expect_eq(bad, 0, "%s: %d of %zu values beyond %g", what, bad, want->numel, TOL);
}

static void same_weights(rnnc_model *want, rnnc_model *got, const char *what)
{
    rnnc_weight *a[32], *b[32];
    int na, nb;
    OK(rnnc_model_weights(want, a, 32, &na));
    OK(rnnc_model_weights(got, b, 32, &nb));
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++) {
        char w[256];
        snprintf(w, sizeof w, "%s: weight %s", what, a[i]->name);
        same_tensor(a[i]->value, b[i]->value, w);
    }
}

/* ---- the examples: 5 epochs on each path ----------------------------------- */

/* 24 rows: batches of 16 and 8 (a full one and a partial one); 12 to
 * validate: evaluate's batches of 8 and 4, predict's of 7 and 5 */
#define N_TRAIN 24
#define N_VAL 12

typedef struct run {
    rnnc_model *m;
    rnnc_trainer *tr;
    rnnc_history *h;
    rnnc_logs eval;
    rnnc_tensor *pred;
} run;

static void run_free(run *r)
{
    rnnc_tensor_destroy(r->pred);
    rnnc_history_destroy(r->h);
    rnnc_trainer_destroy(r->tr);
    rnnc_model_destroy(r->m);
}

/* fit's class_weight for train_example when class_weight[0] > 0 */
static double class_weight[3];

static run train_example(const rnnc_training_spec *spec, rnnc_model *like, path p, const data *tr_data,
                         const data *val, const char *compile)
{
    run r;
    memset(&r, 0, sizeof r);
    r.m = model_of(spec, like);
    r.tr = trainer_of(r.m, spec, compile);
    if (p != PATH_CPU)
        OK(rnnc_trainer_set_device(r.tr, table_of(p)));
    rnnc_fit_options o = rnnc_fit_options_default();
    o.epochs = 5;
    o.batch_size = 16;
    o.seed = 11;
    o.verbose = RNNC_VERBOSE_SILENT;
    o.sample_weight = tr_data->sw;
    if (class_weight[0] > 0) { /* fit's class_weight (no sample weights then) */
        o.class_weight = class_weight;
        o.n_class_weight = 3;
    }
    o.x_val = val->x;
    o.y_val = val->y;
    o.sample_weight_val = val->sw;
    OK(rnnc_trainer_fit(r.tr, tr_data->x, tr_data->y, &o, &r.h));
    OK(rnnc_trainer_evaluate(r.tr, val->x, val->y, val->sw, 8, &r.eval));
    OK(rnnc_trainer_predict(r.tr, val->x, 7, &r.pred));
    return r;
}

/* A smaller form of an example's model, for the cases that check one
 * thing (an optimizer mode, a loss reduction, Embedding's Adam) and need
 * no example's full size: `steps` steps (0: as written); for chars also
 * `vocab` ids (Embedding's input_dim, Dense's units), Embedding's
 * output_dim `width` and GRU units `units`. The layers, their order and
 * every other argument stay as the example has them. */
typedef struct sizing {
    int64_t steps, vocab, width, units;
} sizing;

static rnnc_cfg *layer_config(rnnc_cfg *model, size_t i)
{
    const rnnc_cfg *layers = rnnc_cfg_peek(rnnc_cfg_peek(model, "config"), "layers");
    cr_assert(layers && layers->type == RNNC_CFG_LIST && i < layers->n);
    rnnc_cfg *c = (rnnc_cfg *)rnnc_cfg_peek(layers->items[i], "config");
    cr_assert(c);
    return c;
}

static const rnnc_cfg *resized(const rnnc_cfg *model, sizing sz)
{
    rnnc_cfg *c = rnnc_cfg_clone(model);
    cr_assert(c);
    cr_assert_lt(n_kept, 64);
    kept[n_kept++] = c;
    rnnc_cfg *shape = (rnnc_cfg *)rnnc_cfg_peek(layer_config(c, 0), "batch_shape");
    cr_assert(shape && shape->type == RNNC_CFG_LIST && shape->n >= 2 && shape->items[1]->type == RNNC_CFG_INT);
    if (sz.steps)
        shape->items[1]->v.i = sz.steps;
    if (sz.vocab) { /* chars: InputLayer, Embedding, GRU, Dense */
        OK(rnnc_cfg_set_int(layer_config(c, 1), "input_dim", sz.vocab));
        OK(rnnc_cfg_set_int(layer_config(c, 1), "output_dim", sz.width));
        OK(rnnc_cfg_set_int(layer_config(c, 2), "units", sz.units));
        OK(rnnc_cfg_set_int(layer_config(c, 3), "units", sz.vocab));
    }
    return c;
}

/* spec `name`'s model (or `model`, a YAML config of the same input; or
 * the spec's resized to `sz`) and compile (or `compile`) on data of `task`. */
static void example_sized(const char *name, const char *model, sizing sz, const char *task, const char *compile)
{
    rnnc_training_spec *spec = read_spec(name);
    if (model)
        spec->model_config = yaml(model);
    else if (sz.steps || sz.vocab)
        spec->model_config = resized(spec->model_config, sz);
    data tr_data = make_data_sized(task, sz.steps, sz.vocab, N_TRAIN, 1);
    data val = make_data_sized(task, sz.steps, sz.vocab, N_VAL, 2);
    rnnc_model *init = model_of(spec, NULL);
    run cpu = train_example(spec, init, PATH_CPU, &tr_data, &val, compile);
    for (path p = first_path; p <= last_path; p++) {
        char what[128];
        snprintf(what, sizeof what, "%s on the %s", name, path_names[p]);
        run dev = train_example(spec, init, p, &tr_data, &val, compile);
        const double worst = same_history(cpu.h, dev.h, what);
        cr_log_info("%s: largest difference over 5 epochs of every log: %.3g", what, worst);
        same_logs(&cpu.eval, &dev.eval, what);
        same_tensor(cpu.pred, dev.pred, what);
        same_weights(cpu.m, dev.m, what);
        run_free(&dev);
    }
    run_free(&cpu);
    rnnc_model_destroy(init);
    data_free(&tr_data);
    data_free(&val);
    rnnc_training_spec_destroy(spec);
}

static void example_of(const char *name, const char *model, const char *task, const char *compile)
{
    example_sized(name, model, (sizing){0}, task, compile);
}

/* The example with `steps` steps. */
static void example_short(const char *name, int64_t steps, const char *compile)
{
    example_sized(name, NULL, (sizing){.steps = steps}, name, compile);
}

static void example(const char *name, const char *compile) { example_of(name, NULL, name, compile); }

/* The examples on the real GPU (skipped without one). */
static void on_gpu(const char *name, const char *compile)
{
    if (!gpu())
        cr_skip_test("no CUDA device: %s", rnnc_last_error());
    first_path = last_path = PATH_GPU;
    example(name, compile);
}

static void suite_done(void)
{
    rnnc__cuda_api()->shutdown();
    for (int i = 0; i < n_kept; i++)
        rnnc_cfg_destroy(kept[i]);
    n_kept = 0;
}

TestSuite(device_fit, .fini = suite_done);

Test(device_fit, adding_mse_mae) { example("adding", NULL); }
Test(device_fit, sine_mse_mae) { example("sine", NULL); }
Test(device_fit, copy_softmax_sparse_ce_sample_weights_weighted_metric) { example("copy", NULL); }
Test(device_fit, varlen_masking_sparse_ce) { example("varlen", NULL); }
/* chars.yaml's layers and compile: Adam over an Embedding, whose v moves
 * toward the sum of each looked-up row's squared gradient (the CPU path's
 * sparse update, Keras's on TensorFlow). (SGD's update is linear in the
 * gradient: the summed rows are all it needs.) At a tenth of its size
 * (16 ids of width 8, 16 steps, 16 units; as written it took 6 of
 * test_device_fit's 12 minutes under valgrind): every id is looked up
 * several times per batch, and with the square of the summed rows
 * instead the loss is 1e-3 off after one epoch (val_loss 4e-3). The GPU
 * case runs chars.yaml as written. */
Test(device_fit, chars_embedding_adam_sparse_ce_from_logits)
{
    example_sized("chars", NULL, (sizing){.steps = 16, .vocab = 16, .width = 8, .units = 16}, "chars", NULL);
}

TestSuite(device_fit_gpu, .fini = suite_done);

/* One case for the five examples (each failure names its example): a
 * skipped case still costs a process, seconds under valgrind. */
Test(device_fit_gpu, examples)
{
    static const char *const names[] = {"adding", "sine", "copy", "varlen", "chars"};
    for (int i = 0; i < 5; i++)
        on_gpu(names[i], NULL);
}

/* Masking before a GRU of return_sequences: the output's mask reaches the
 * loss (a masked mean) and the metrics, with a weight per step. */
static const char masked_seq[] =
    "{class_name: Sequential, config: {name: mseq, layers: ["
    "{class_name: InputLayer, config: {batch_shape: [null, 30, 3]}}, "
    "{class_name: Masking, config: {name: masking, mask_value: 0.0}}, "
    "{class_name: GRU, config: {name: gru, units: 8, return_sequences: true}}, "
    "{class_name: Dense, config: {name: dense, units: 1}}]}}";

Test(device_fit, masked_sequence_outputs_sample_weights)
{
    example_of("varlen", masked_seq, "varlen_seq",
               "{optimizer: adam, loss: mse, metrics: [mae], weighted_metrics: [mae, mse]}");
}
Test(device_fit, masked_sequence_outputs_sum_and_mean_with_sample_weight)
{
    example_of("varlen", masked_seq, "varlen_seq",
               "{optimizer: {class_name: SGD, config: {learning_rate: 0.0002}}, "
               "loss: {class_name: MeanSquaredError, config: {reduction: sum}}, weighted_metrics: [mae]}");
    example_of("varlen", masked_seq, "varlen_seq",
               "{optimizer: adam, loss: {class_name: MeanSquaredError, config: {reduction: mean_with_sample_weight}}, "
               "metrics: [mse]}");
}

/* class_weight becomes per-sample weights of the loss (varlen's model on
 * 12 steps: rows of 3 to 12, padded ones and full ones) */
Test(device_fit, varlen_class_weight)
{
    class_weight[0] = 0.5;
    class_weight[1] = 2.0;
    class_weight[2] = 1.25;
    example_short("varlen", 12, "{optimizer: adam, loss: sparse_categorical_crossentropy, "
                                "metrics: [sparse_categorical_accuracy], weighted_metrics: [sparse_categorical_accuracy]}");
}

/* The optimizers' other modes on the adding model (10 steps). */
Test(device_fit, sgd_momentum_nesterov)
{
    example_short("adding", 10, "{optimizer: {class_name: SGD, config: {learning_rate: 0.05, momentum: 0.9, nesterov: true}}, "
                                "loss: mse, metrics: [mae, mse]}");
}
Test(device_fit, sgd_plain_sum_reduction)
{
    example_short("adding", 10, "{optimizer: {class_name: SGD, config: {learning_rate: 0.001}}, "
                                "loss: {class_name: MeanSquaredError, config: {reduction: sum}}, metrics: [mae]}");
}
/* beta_2 0.9: v follows the squared gradient closely enough to fall
 * within the 15 steps, so AMSGrad's max(v_hat, v) differs from v (with
 * Adam's 0.999 it never does that early, and dropping amsgrad on the
 * device went unseen). */
Test(device_fit, adamw_amsgrad)
{
    example_short("adding", 10,
                  "{optimizer: {class_name: AdamW, config: {learning_rate: 0.01, beta_2: 0.9, weight_decay: 0.05, "
                  "amsgrad: true}}, loss: mse, metrics: [mae]}");
}
/* A sparse crossentropy over a SIGMOID output: Keras on TensorFlow takes
 * the sigmoid's input as softmax logits (_keras_logits; test_losses checks
 * the CPU path against Keras's values), and the device must do the same. */
static const char varlen_sigmoid[] =
    "{class_name: Sequential, config: {name: vsig, layers: ["
    "{class_name: InputLayer, config: {batch_shape: [null, 30, 3]}}, "
    "{class_name: Masking, config: {name: masking, mask_value: 0.0}}, "
    "{class_name: GRU, config: {name: gru, units: 8}}, "
    "{class_name: Dense, config: {name: dense, units: 3, activation: sigmoid}}]}}";

Test(device_fit, sparse_crossentropy_over_a_sigmoid_output_takes_its_logits)
{
    example_of("varlen", varlen_sigmoid, "varlen", "{optimizer: adam, loss: sparse_categorical_crossentropy}");
}

Test(device_fit, varlen_mean_with_sample_weight_and_accuracy_auto)
{
    example_short("varlen", 12, "{optimizer: adam, loss: {class_name: SparseCategoricalCrossentropy, "
                                "config: {reduction: mean_with_sample_weight}}, metrics: [accuracy, sparse_categorical_crossentropy]}");
}

/* ---- what one step downloads ---------------------------------------------- */

typedef struct counts {
    unsigned long copies[16], bytes[16];
    int n;
} counts;

static rnnc_status count_batch(rnnc_callback *cb, rnnc_trainer *tr, int step, const rnnc_logs *logs)
{
    (void)tr;
    (void)step;
    (void)logs;
    counts *c = cb->user;
    if (c->n < 16) {
        c->copies[c->n] = emu_d2h_copies;
        c->bytes[c->n++] = emu_d2h_bytes;
    }
    return RNNC_OK;
}

Test(device_fit, one_training_step_downloads_one_scalars_buffer)
{
    rnnc_training_spec *spec = read_spec("copy"); /* one weighted metric */
    data d = make_data("copy", 64, 3);
    rnnc_model *m = model_of(spec, NULL);
    rnnc_trainer *tr = trainer_of(m, spec, NULL);
    OK(rnnc_trainer_set_device(tr, emu()));
    counts c = {0};
    rnnc_callback cb = {0};
    cb.user = &c;
    cb.on_train_batch_end = count_batch;
    rnnc_callback *cbs[] = {&cb};
    rnnc_fit_options o = rnnc_fit_options_default();
    o.batch_size = 16;
    o.verbose = RNNC_VERBOSE_SILENT;
    o.sample_weight = d.sw;
    o.callbacks = cbs;
    o.n_callbacks = 1;
    const unsigned long before = emu_d2h_copies;
    OK(rnnc_trainer_fit(tr, d.x, d.y, &o, NULL));
    cr_assert_eq(c.n, 4);
    cr_expect_eq(c.copies[0] - before, 1, "the first step: %lu downloads", c.copies[0] - before);
    for (int k = 1; k < c.n; k++) {
        cr_expect_eq(c.copies[k] - c.copies[k - 1], 1, "step %d: %lu downloads", k + 1, c.copies[k] - c.copies[k - 1]);
        cr_expect_eq(c.bytes[k] - c.bytes[k - 1], 2 * sizeof(float), "step %d: %lu bytes downloaded", k + 1,
                     c.bytes[k] - c.bytes[k - 1]);
    }
    /* the end of fit: the weights and optimizer slots came back */
    cr_expect_gt(emu_d2h_copies, c.copies[c.n - 1]);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    data_free(&d);
    rnnc_training_spec_destroy(spec);
}

/* ---- what one step uploads for a GRU's input dropout -------------------- */

/* Bytes one training step uploads to the emulated CUDA table (after a
 * first step) with a GRU of input dropout `rate` over 20 steps of 2
 * features, 8 rows. */
static size_t step_upload(const char *rate)
{
    char model[512];
    snprintf(model, sizeof model,
             "{class_name: Sequential, config: {name: drop, layers: ["
             "{class_name: InputLayer, config: {batch_shape: [null, 20, 2]}}, "
             "{class_name: GRU, config: {name: gru, units: 4, dropout: %s}}, "
             "{class_name: Dense, config: {name: dense, units: 1}}]}}",
             rate);
    rnnc_training_spec *spec = read_spec("adding");
    spec->model_config = yaml(model);
    rnnc_model *m = model_of(spec, NULL);
    rnnc_trainer *tr = trainer_of(m, spec, NULL);
    OK(rnnc_trainer_set_device(tr, emu()));
    data d = make_data_sized("adding", 20, 0, 8, 12);
    OK(rnnc_trainer_train_on_batch(tr, d.x, d.y, NULL, NULL));
    const unsigned long before = emu_h2d_bytes;
    OK(rnnc_trainer_train_on_batch(tr, d.x, d.y, NULL, NULL));
    const size_t n = emu_h2d_bytes - before;
    data_free(&d);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_training_spec_destroy(spec);
    return n;
}

/* The input dropout's mask goes up as drawn, (B, F), and the table's
 * mul_bcast applies it over the T steps (it went up expanded to (B, T, F)
 * before: 20 times as many bytes). */
Test(device_fit, gru_input_dropout_uploads_one_mask_of_rows_by_features)
{
    const size_t plain = step_upload("0.0"), dropped = step_upload("0.5");
    cr_expect_eq(dropped - plain, 8 * 2 * sizeof(float), "the mask: %zu bytes (plain step %zu, with dropout %zu)",
                 dropped - plain, plain, dropped);
}

/* ---- sync points ------------------------------------------------------------ */

/* At each epoch end: records the Dense bias the host sees, then halves the
 * kernel (as a callback that restores weights would change them). */
typedef struct epoch_probe {
    double bias[8];
    int n;
} epoch_probe;

static rnnc_status probe_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    (void)epoch;
    (void)logs;
    epoch_probe *p = cb->user;
    rnnc_model *m = rnnc_trainer_model(tr);
    rnnc_layer *dense = m->layers[m->n_layers - 1];
    if (p->n < 8)
        p->bias[p->n++] = rnnc_tensor_get(dense->weights[1].value, 0);
    rnnc_tensor *k = dense->weights[0].value;
    for (size_t i = 0; i < k->numel; i++)
        rnnc_tensor_set(k, i, 0.5 * rnnc_tensor_get(k, i));
    return RNNC_OK;
}

static rnnc_history *fit_probed(rnnc_model *m, const rnnc_training_spec *spec, path p, const data *d, epoch_probe *pr,
                                int epochs, int initial_epoch, rnnc_trainer *reuse)
{
    rnnc_trainer *tr = reuse ? reuse : trainer_of(m, spec, NULL);
    if (!reuse && p != PATH_CPU)
        OK(rnnc_trainer_set_device(tr, table_of(p)));
    rnnc_callback cb = {0};
    cb.user = pr;
    cb.on_epoch_end = probe_epoch_end;
    rnnc_callback *cbs[] = {&cb};
    rnnc_fit_options o = rnnc_fit_options_default();
    o.epochs = epochs;
    o.initial_epoch = initial_epoch;
    o.batch_size = 16;
    o.shuffle = false; /* a fit resumed at initial_epoch sees the rows in the same order */
    o.verbose = RNNC_VERBOSE_SILENT;
    o.callbacks = cbs;
    o.n_callbacks = pr ? 1 : 0;
    rnnc_history *h;
    OK(rnnc_trainer_fit(tr, d->x, d->y, &o, &h));
    if (!reuse)
        rnnc_trainer_destroy(tr);
    return h;
}

/* (sine's model on 10 steps) */
Test(device_fit, callbacks_see_the_device_weights_and_their_changes_reach_it)
{
    rnnc_training_spec *spec = read_spec("sine");
    spec->model_config = resized(spec->model_config, (sizing){.steps = 10});
    data d = make_data_sized("sine", 10, 0, 48, 4);
    rnnc_model *init = model_of(spec, NULL);
    epoch_probe want = {0};
    rnnc_model *mc = model_of(spec, init);
    rnnc_history *hc = fit_probed(mc, spec, PATH_CPU, &d, &want, 4, 0, NULL);
    for (path p = PATH_CPU_TABLE; p <= PATH_EMU; p++) {
        epoch_probe got = {0};
        rnnc_model *md = model_of(spec, init);
        rnnc_history *hd = fit_probed(md, spec, p, &d, &got, 4, 0, NULL);
        cr_assert_eq(got.n, 4);
        for (int e = 0; e < 4; e++)
            cr_expect(close_to(want.bias[e], got.bias[e]), "%s: epoch %d: the callback saw bias %.9g, the CPU path %.9g",
                      path_names[p], e + 1, got.bias[e], want.bias[e]);
        same_history(hc, hd, path_names[p]); /* the halved kernels trained on */
        same_weights(mc, md, path_names[p]);
        rnnc_history_destroy(hd);
        rnnc_model_destroy(md);
    }
    rnnc_history_destroy(hc);
    rnnc_model_destroy(mc);
    rnnc_model_destroy(init);
    data_free(&d);
    rnnc_training_spec_destroy(spec);
}

/* The same model (same initial weights) twice: a CPU-path trainer and one
 * on the emulated CUDA table. */
typedef struct pair {
    rnnc_training_spec *spec;
    data d;
    rnnc_model *init, *mc, *md;
    rnnc_trainer *tc, *td;
} pair;

static pair pair_open_sized(const char *name, int64_t steps, int64_t n, uint64_t seed)
{
    pair p;
    p.spec = read_spec(name);
    if (steps)
        p.spec->model_config = resized(p.spec->model_config, (sizing){.steps = steps});
    p.d = make_data_sized(name, steps, 0, n, seed);
    p.init = model_of(p.spec, NULL);
    p.mc = model_of(p.spec, p.init);
    p.md = model_of(p.spec, p.init);
    p.tc = trainer_of(p.mc, p.spec, NULL);
    p.td = trainer_of(p.md, p.spec, NULL);
    OK(rnnc_trainer_set_device(p.td, emu()));
    return p;
}

static pair pair_open(const char *name, int64_t n, uint64_t seed) { return pair_open_sized(name, 0, n, seed); }

static void pair_close(pair *p)
{
    rnnc_trainer_destroy(p->tc);
    rnnc_trainer_destroy(p->td);
    rnnc_model_destroy(p->mc);
    rnnc_model_destroy(p->md);
    rnnc_model_destroy(p->init);
    data_free(&p->d);
    rnnc_training_spec_destroy(p->spec);
}

/* Two fits of 2 + 2 epochs (the optimizer slots go to the host between
 * them and come back) equal one of 4; the optimizer's variables (Keras
 * order: iteration, learning_rate, m, v, ...) equal the CPU path's.
 * (adding's model on 10 steps) */
Test(device_fit, optimizer_slots_come_back_and_resume_exactly)
{
    pair p = pair_open_sized("adding", 10, 32, 5);
    rnnc_history *hc = fit_probed(p.mc, p.spec, PATH_CPU, &p.d, NULL, 4, 0, p.tc);
    rnnc_history *h1 = fit_probed(p.md, p.spec, PATH_EMU, &p.d, NULL, 2, 0, p.td);
    rnnc_history *h2 = fit_probed(p.md, p.spec, PATH_EMU, &p.d, NULL, 4, 2, p.td);
    const double *a = rnnc_history_get(hc, "loss"), *b = rnnc_history_get(h2, "loss");
    for (int e = 0; e < 2; e++)
        cr_expect(close_to(a[2 + e], b[e]), "epoch %d: %.9g vs %.9g", 3 + e, b[e], a[2 + e]);
    same_weights(p.mc, p.md, "after 2 + 2 epochs");
    rnnc_optimizer_variable vc[64], vd[64];
    int nc, nd;
    OK(rnnc_optimizer_variables(rnnc_trainer_optimizer(p.tc), vc, 64, &nc));
    OK(rnnc_optimizer_variables(rnnc_trainer_optimizer(p.td), vd, 64, &nd));
    cr_assert_eq(nc, nd);
    cr_expect_gt(nc, 2);
    for (int i = 0; i < nc; i++)
        same_tensor(vc[i].value, vd[i].value, vc[i].name);
    rnnc_history_destroy(hc);
    rnnc_history_destroy(h1);
    rnnc_history_destroy(h2);
    pair_close(&p);
}

Test(device_fit, train_on_batch_matches_the_cpu_path)
{
    pair p = pair_open("varlen", 16, 6);
    for (int k = 0; k < 3; k++) {
        rnnc_logs lc, ld;
        OK(rnnc_trainer_train_on_batch(p.tc, p.d.x, p.d.y, NULL, &lc));
        OK(rnnc_trainer_train_on_batch(p.td, p.d.x, p.d.y, NULL, &ld));
        same_logs(&lc, &ld, "train_on_batch");
    }
    same_weights(p.mc, p.md, "train_on_batch");
    pair_close(&p);
}

/* y (N,) against the (N, 1) output: Keras and the CPU path expand y to
 * (N, 1); the device path gives the CPU path's loss, metrics and weights,
 * with a per-sample weight too (refused before: "y must have y_pred's
 * shape"). */
Test(device_fit, rank_1_targets_against_one_output_match_the_cpu_path)
{
    pair p = pair_open("adding", 8, 10);
    rnnc_tensor *y1 = tensor(RNNC_F32, RNNC_SHAPE(8)), *sw = tensor(RNNC_F32, RNNC_SHAPE(8));
    for (size_t i = 0; i < 8; i++) {
        rnnc_tensor_set(y1, i, rnnc_tensor_get(p.d.y, i));
        rnnc_tensor_set(sw, i, 0.25 * (double)(i % 4) + 0.5);
    }
    const rnnc_tensor *sws[] = {NULL, sw};
    for (int k = 0; k < 2; k++) {
        rnnc_logs lc, ld;
        OK(rnnc_trainer_train_on_batch(p.tc, p.d.x, y1, sws[k], &lc));
        OK(rnnc_trainer_train_on_batch(p.td, p.d.x, y1, sws[k], &ld));
        same_logs(&lc, &ld, k ? "train_on_batch, y (8,), sample_weight" : "train_on_batch, y (8,)");
        OK(rnnc_trainer_evaluate(p.tc, p.d.x, y1, sws[k], 4, &lc));
        OK(rnnc_trainer_evaluate(p.td, p.d.x, y1, sws[k], 4, &ld));
        same_logs(&lc, &ld, k ? "evaluate, y (8,), sample_weight" : "evaluate, y (8,)");
    }
    same_weights(p.mc, p.md, "train_on_batch, y (8,)");
    rnnc_tensor_destroy(y1);
    rnnc_tensor_destroy(sw);
    pair_close(&p);
}

/* Evaluate never updates weights: on the device it takes a compile whose
 * optimizer the device cannot run (rnnc_trainer_set_device_inference) and
 * gives the CPU path's numbers; a training call then refuses it in one
 * line, before the optimizer is built or a weight changes. */
Test(device_fit, inference_mode_evaluates_what_training_refuses)
{
    static const char *const compiles[] = {"{optimizer: rmsprop, loss: mse, metrics: [mae]}",
                                           "{optimizer: {class_name: Adam, config: {clipnorm: 1.0, use_ema: true, "
                                           "gradient_accumulation_steps: 2}}, loss: mse}"};
    static const char *const lines[] = {"compile.optimizer: RMSprop ('rm_sprop", /* names made unique per trainer */
                                        "': clipnorm has no device implementation"};
    rnnc_training_spec *spec = read_spec("adding");
    data d = make_data("adding", 8, 11);
    for (int i = 0; i < 2; i++)
        for (path pa = PATH_CPU_TABLE; pa <= PATH_EMU; pa++) {
            rnnc_model *init = model_of(spec, NULL), *mc = model_of(spec, init), *md = model_of(spec, init);
            rnnc_trainer *tc = trainer_of(mc, spec, compiles[i]), *td = trainer_of(md, spec, compiles[i]);
            OK(rnnc_trainer_set_device_inference(td, table_of(pa)));
            rnnc_logs lc, ld;
            OK(rnnc_trainer_evaluate(tc, d.x, d.y, NULL, 4, &lc));
            OK(rnnc_trainer_evaluate(td, d.x, d.y, NULL, 4, &ld));
            same_logs(&lc, &ld, path_names[pa]);
            rnnc_status s = rnnc_trainer_train_on_batch(td, d.x, d.y, NULL, NULL);
            cr_expect_eq(s, RNNC_E_UNSUPPORTED, "%s", rnnc_status_str(s));
            cr_expect(strstr(rnnc_last_error(), lines[i]), "'%s' does not say '%s'", rnnc_last_error(), lines[i]);
            cr_expect(!rnnc_optimizer_built(rnnc_trainer_optimizer(td)), "the optimizer is not built");
            same_weights(init, md, "after the refused train_on_batch");
            /* set_device (training) refuses it at once, as before */
            s = rnnc_trainer_set_device(td, table_of(pa));
            cr_expect_eq(s, RNNC_E_UNSUPPORTED);
            cr_expect(strstr(rnnc_last_error(), lines[i]), "%s", rnnc_last_error());
            rnnc_trainer_destroy(tc);
            rnnc_trainer_destroy(td);
            rnnc_model_destroy(mc);
            rnnc_model_destroy(md);
            rnnc_model_destroy(init);
        }
    data_free(&d);
    rnnc_training_spec_destroy(spec);
}

/* ---- refusals: one line each, the trainer stays on the CPU -------------- */

static void refused_cpu(const char *spec_name, const char *compile, const char *line, bool cpu_trains)
{
    rnnc_training_spec *spec = read_spec(spec_name);
    rnnc_model *m = model_of(spec, NULL);
    rnnc_trainer *tr = trainer_of(m, spec, compile);
    for (path p = PATH_CPU_TABLE; p <= PATH_EMU; p++) {
        rnnc_status s = rnnc_trainer_set_device(tr, table_of(p));
        cr_expect_eq(s, RNNC_E_UNSUPPORTED, "%s: %s", compile, rnnc_status_str(s));
        cr_expect(strstr(rnnc_last_error(), line), "'%s' does not say '%s'", rnnc_last_error(), line);
        cr_expect(!strchr(rnnc_last_error(), '\n'), "one line");
    }
    /* still trains on the CPU */
    data d = make_data(spec_name, 8, 7);
    if (cpu_trains)
        OK(rnnc_trainer_train_on_batch(tr, d.x, d.y, NULL, NULL));
    data_free(&d);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_training_spec_destroy(spec);
}

static void refused(const char *spec_name, const char *compile, const char *line)
{
    refused_cpu(spec_name, compile, line, true);
}

#define ADAM "optimizer: {class_name: Adam, config: {learning_rate: 0.01, "
Test(device_fit, refuses_optimizer_arguments)
{
    refused("adding", "{optimizer: rmsprop, loss: mse}",
            "compile.optimizer: RMSprop ('rm_sprop') has no device implementation (the device path runs SGD, Adam and AdamW)");
    refused("adding", "{optimizer: adagrad, loss: mse}", "compile.optimizer: Adagrad");
    refused("adding", "{" ADAM "clipnorm: 1.0}}, loss: mse}", "clipnorm has no device implementation");
    refused("adding", "{" ADAM "clipvalue: 1.0}}, loss: mse}", "clipvalue has no device implementation");
    refused("adding", "{" ADAM "global_clipnorm: 1.0}}, loss: mse}", "global_clipnorm has no device implementation");
    refused("adding", "{" ADAM "use_ema: true}}, loss: mse}", "use_ema has no device implementation");
    refused("adding", "{" ADAM "loss_scale_factor: 4.0}}, loss: mse}", "loss_scale_factor has no device implementation");
    refused("adding", "{" ADAM "gradient_accumulation_steps: 2}}, loss: mse}",
            "gradient_accumulation_steps has no device implementation");
    refused("adding", "{optimizer: {class_name: SGD, config: {weight_decay: 0.01}}, loss: mse}",
            "'sgd': weight_decay has no device implementation");
}

Test(device_fit, refuses_losses_and_metrics)
{
    refused("adding", "{optimizer: adam, loss: mae}",
            "compile.loss: 'mae' has no device implementation (the device path runs mean_squared_error and the binary, categorical and sparse categorical crossentropies)");
    refused("adding", "{optimizer: adam, loss: huber}", "compile.loss: 'huber' has no device implementation");
    refused("adding", "{optimizer: adam, loss: {class_name: BinaryCrossentropy, config: {label_smoothing: 0.1}}}",
            "compile.loss: 'binary_crossentropy': label_smoothing has no device implementation");
    refused("varlen", "{optimizer: adam, loss: {class_name: SparseCategoricalCrossentropy, config: {ignore_class: 0}}}",
            "compile.loss: 'sparse_categorical_crossentropy': ignore_class has no device implementation");
    refused_cpu("adding", "{optimizer: adam, loss: {class_name: MeanSquaredError, config: {reduction: none}}}",
                "reduction 'none' cannot train", false);
    /* a Keras metric object may set what the device's loss metrics lack */
    refused("adding", "{optimizer: adam, loss: mse, metrics: [{class_name: BinaryCrossentropy, config: {name: bce, from_logits: true}}]}",
            "compile.metrics: 'bce': from_logits or label_smoothing has no device implementation");
}

Test(device_fit, refuses_layers_the_device_lacks)
{
    /* a SimpleRNN has no device class (the line is device_model.c's) */
    const char *spec_text =
        "{class_name: Sequential, config: {name: s, layers: [{class_name: InputLayer, config: {batch_shape: [null, 4, 2]}}, "
        "{class_name: SimpleRNN, config: {name: simple_rnn, units: 3}}, {class_name: Dense, config: {name: dense, units: 1}}]}}";
    rnnc_model *m;
    OK(rnnc_model_from_config(yaml(spec_text), NULL, &m));
    rnnc_trainer *tr;
    OK(rnnc_trainer_create(m, &tr));
    OK(rnnc_trainer_compile_config(tr, yaml("adam"), yaml("mse"), NULL, NULL));
    rnnc_status s = rnnc_trainer_set_device(tr, rnnc_backend_ops_cpu());
    cr_expect_eq(s, RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "simple_rnn"), "%s", rnnc_last_error());
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
}

/* A compile after set_device is checked when the next call starts, before
 * any callback runs. */
static rnnc_status count_begin(rnnc_callback *cb, rnnc_trainer *tr)
{
    (void)tr;
    ++*(int *)cb->user;
    return RNNC_OK;
}

Test(device_fit, a_later_compile_is_refused_before_fit_starts)
{
    rnnc_training_spec *spec = read_spec("adding");
    rnnc_model *m = model_of(spec, NULL);
    rnnc_trainer *tr = trainer_of(m, spec, NULL);
    OK(rnnc_trainer_set_device(tr, rnnc_backend_ops_cpu()));
    OK(rnnc_trainer_compile_config(tr, yaml("rmsprop"), yaml("mse"), NULL, NULL));
    data d = make_data("adding", 8, 8);
    int begun = 0;
    rnnc_callback cb = {0};
    cb.user = &begun;
    cb.on_train_begin = count_begin;
    rnnc_callback *cbs[] = {&cb};
    rnnc_fit_options o = rnnc_fit_options_default();
    o.verbose = RNNC_VERBOSE_SILENT;
    o.callbacks = cbs;
    o.n_callbacks = 1;
    rnnc_status s = rnnc_trainer_fit(tr, d.x, d.y, &o, NULL);
    cr_expect_eq(s, RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "RMSprop"), "%s", rnnc_last_error());
    cr_expect_eq(begun, 0);
    data_free(&d);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_training_spec_destroy(spec);
}

/* A metric without a device form (a Mean given to compile) and a backend
 * without an op the step calls. */
static rnnc_backend_ops no_metric_table;
static bool no_metric_supports(rnnc_bop op, rnnc_dtype dt)
{
    return op != RNNC_BOP_METRIC && rnnc_backend_ops_cpu()->supports(op, dt);
}

Test(device_fit, refuses_a_metric_and_a_backend_without_an_op)
{
    rnnc_training_spec *spec = read_spec("adding");
    rnnc_model *m = model_of(spec, NULL);
    rnnc_trainer *tr;
    OK(rnnc_trainer_create(m, &tr));
    rnnc_loss *l;
    rnnc_metric *mean;
    rnnc_optimizer *opt;
    OK(rnnc_optimizer_create(RNNC_OPTIMIZER_ADAM, NULL, &opt));
    OK(rnnc_loss_from_name("mse", &l));
    OK(rnnc_metric_create(RNNC_METRIC_MEAN, "avg", &mean));
    OK(rnnc_trainer_compile(tr, opt, l, &mean, 1, NULL, 0));
    rnnc_status s = rnnc_trainer_set_device(tr, rnnc_backend_ops_cpu());
    cr_expect_eq(s, RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "compile.metrics: 'avg' has no device implementation"), "%s",
              rnnc_last_error());
    rnnc_trainer_destroy(tr);

    tr = trainer_of(m, spec, NULL);
    no_metric_table = *rnnc_backend_ops_cpu();
    no_metric_table.name = "test";
    no_metric_table.supports = no_metric_supports;
    s = rnnc_trainer_set_device(tr, &no_metric_table);
    cr_expect_eq(s, RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "the test backend has no metric op"), "%s", rnnc_last_error());
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_training_spec_destroy(spec);
}

/* Targets and weights the device cannot pair with y_pred: y of another
 * rank than y_pred (Keras squeezes them against each other and reduces
 * otherwise), a sample weight neither per sample nor per output step, a
 * per-sample weight with an output mask (the CPU path fails too). */
Test(device_fit, refuses_targets_and_weights_it_cannot_pair)
{
    rnnc_training_spec *spec = read_spec("adding");
    rnnc_model *m = model_of(spec, NULL);
    rnnc_trainer *tr = trainer_of(m, spec, NULL);
    OK(rnnc_trainer_set_device(tr, rnnc_backend_ops_cpu()));
    data d = make_data("adding", 8, 9);
    rnnc_tensor *y1 = tensor(RNNC_F32, RNNC_SHAPE(8, 1, 1)), *sw = tensor(RNNC_F32, RNNC_SHAPE(8, 3));
    rnnc_status s = rnnc_trainer_train_on_batch(tr, d.x, y1, NULL, NULL);
    cr_expect_eq(s, RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "loss 'mse': on the device y must have y_pred's shape; got y (8, 1, 1) and y_pred (8, 1)"),
              "%s", rnnc_last_error());
    s = rnnc_trainer_train_on_batch(tr, d.x, d.y, sw, NULL);
    cr_expect_eq(s, RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "sample_weight (8, 3): on the device it must have one value per sample or per output step"),
              "%s", rnnc_last_error());
    rnnc_tensor_destroy(y1);
    rnnc_tensor_destroy(sw);
    data_free(&d);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);

    spec->model_config = yaml(masked_seq);
    m = model_of(spec, NULL);
    tr = trainer_of(m, spec, "{optimizer: adam, loss: mse}");
    OK(rnnc_trainer_set_device(tr, rnnc_backend_ops_cpu()));
    d = make_data("varlen_seq", 8, 9);
    sw = tensor(RNNC_F32, RNNC_SHAPE(8));
    s = rnnc_trainer_train_on_batch(tr, d.x, d.y, sw, NULL);
    cr_expect_eq(s, RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "sample_weight and the mask do not combine"), "%s", rnnc_last_error());
    rnnc_tensor_destroy(sw);
    data_free(&d);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_training_spec_destroy(spec);
}
