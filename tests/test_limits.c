/* test_limits.c - numbers from a spec or the command line, and the checks
 * made before the first training step, through the rnnc program (fork /
 * exec) and the library:
 *   - every size is read as a 64-bit integer and checked against its
 *     documented limit (docs/spec-format.md, "Limits"), with the limit in
 *     the message: nothing is truncated (epochs 2^32 + 1 once trained one
 *     epoch), no size overflows (batch_size 2^63 - 1 once trained nothing
 *     and exited 0); the limits themselves are accepted;
 *   - a batch size above the number of samples is one batch of all of them
 *     (Keras clamps the batch size to the data);
 *   - zero training samples is an error, in the program and in
 *     rnnc_trainer_fit;
 *   - a misspelt required key is named ("unrecognized key 'unit' (did you
 *     mean 'units'?)") and not only "missing required argument";
 *   - a loss that does not fit the model's output, targets or sample
 *     weights of the wrong shape, in training, validation or test data, fail
 *     before the first step (not at "epoch 1, batch 0"), naming the spec and
 *     the data, and nothing is trained or written.
 * The oracles are the documented limits, counts derived by hand (ceil(64 /
 * 1000) = 1 batch per epoch) and the file system. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers/h5_make.h"
#include "helpers/run_program.h"
#include "layers/dense.h"
#include "optim/trainer.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_limits_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(limits, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 300);

static const char *tmp_path(const char *name)
{
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

#define RUN(...) rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){__VA_ARGS__, NULL})

/* Exit code, exactly one line on stderr holding every fragment (NULL-ended). */
static void expect_error(const rnnc_test_run *r, int code, ...)
{
    cr_expect_eq(r->code, code, "exit code %d, expected %d; stderr: %s", r->code, code, r->err);
    cr_expect_eq(rnnc_test_count_lines(r->err), 1, "stderr must be one line, got:\n%s", r->err);
    va_list ap;
    va_start(ap, code);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        cr_expect(strstr(r->err, frag) != NULL, "stderr lacks '%s':\n%s", frag, r->err);
    va_end(ap);
}

static void write_text(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A spec: the model's layers (YAML flow items after the InputLayer), the
 * fit map's contents, the data map's contents, and extra top-level text. */
static const char *spec(const char *name, const char *layers, const char *fit, const char *data,
                        const char *extra)
{
    const char *p = tmp_path(name);
    write_text(p,
               "model:\n"
               "  class_name: Sequential\n"
               "  config:\n"
               "    layers:\n"
               "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n"
               "%s"
               "compile: {optimizer: adam, loss: mse}\n"
               "fit: {verbose: 2, %s}\n"
               "data: {%s}\n"
               "%s",
               layers, fit, data, extra ? extra : "");
    return p;
}

#define GRU_DENSE "      - {class_name: GRU, config: {units: 3}}\n      - {class_name: Dense, config: {units: 1}}\n"
#define TASK "task: adding, samples: 64, validation_samples: 0, test_samples: 8, timesteps: 6"

/* A spec value out of range: exit 1, one line naming the key, the limit
 * and the position, and no checkpoint folder created. */
static void expect_refused(const char *layers, const char *fit, const char *data, const char *key,
                           const char *limit)
{
    const char *p = spec("s.yaml", layers, fit, data, "checkpoint: {directory: ck}\n");
    rnnc_test_run r = RUN("train", p);
    expect_error(&r, 1, key, limit, "s.yaml:", NULL);
    cr_expect(strstr(r.out, "Epoch") == NULL, "it trained:\n%s", r.out);
    cr_expect(!exists(tmp_path("ck")), "a checkpoint folder was made");
    rnnc_test_run_free(&r);
}

Test(limits, spec_sizes_are_checked_as_64_bit_values_with_the_limit_in_the_message)
{
    /* fit */
    expect_refused(GRU_DENSE, "epochs: 4294967297", TASK, "'epochs'", "1000000");
    expect_refused(GRU_DENSE, "epochs: 1000001", TASK, "'epochs'", "1000000");
    expect_refused(GRU_DENSE, "epochs: 0", TASK, "'epochs'", "1000000");
    expect_refused(GRU_DENSE, "epochs: -9223372036854775808", TASK, "'epochs'", "1000000");
    expect_refused(GRU_DENSE, "batch_size: 9223372036854775807", TASK, "'batch_size'", "16777216");
    expect_refused(GRU_DENSE, "batch_size: 4294967328", TASK, "'batch_size'", "16777216");
    expect_refused(GRU_DENSE, "seed: -1", TASK, "'seed'", "9223372036854775807");
    /* data (a task) */
    expect_refused(GRU_DENSE, "epochs: 1", "task: adding, samples: 4294967297", "'samples'", "10000000");
    expect_refused(GRU_DENSE, "epochs: 1", "task: adding, timesteps: 4294967302", "'timesteps'", "100000");
    expect_refused(GRU_DENSE, "epochs: 1", "task: adding, samples: 10000000, timesteps: 100000", "'samples'",
                   "1073741824");
    /* the model */
    expect_refused("      - {class_name: GRU, config: {units: 4294967297}}\n", "epochs: 1", TASK, "'units'",
                   "1048576");
    expect_refused("      - {class_name: GRU, config: {units: 3}}\n      - {class_name: Dense, config: {units: 9223372036854775807}}\n",
                   "epochs: 1", TASK, "'units'", "1048576");
    expect_refused("      - {class_name: Embedding, config: {input_dim: 4294967296, output_dim: 2}}\n", "epochs: 1", TASK,
                   "'input_dim'", "2147483647");
    expect_refused("      - {class_name: Dropout, config: {rate: 0.1, noise_shape: [null, 4294967296, 1]}}\n",
                   "epochs: 1", TASK, "'noise_shape'", "2147483647");
    /* a shape entry of the model's input */
    const char *p = tmp_path("s.yaml");
    write_text(p,
               "model:\n  class_name: Sequential\n  config:\n    layers:\n"
               "      - {class_name: InputLayer, config: {batch_shape: [null, 4294967302, 2]}}\n" GRU_DENSE
               "compile: {optimizer: adam, loss: mse}\n"
               "data: {" TASK "}\n");
    rnnc_test_run r = RUN("train", p);
    expect_error(&r, 1, "'batch_shape'", "4294967302", "2147483647", NULL);
    rnnc_test_run_free(&r);
}

/* Step counts of an optimizer config: once converted from any double (1e300
 * made an undefined float-to-int conversion). */
Test(limits, optimizer_step_counts_are_checked)
{
    const char *const cases[][2] = {
        {"gradient_accumulation_steps: 1.0e300", "`gradient_accumulation_steps` must be an integer in [2, 2147483647]"},
        {"gradient_accumulation_steps: 9223372036854775807", "[2, 2147483647]"},
        {"use_ema: true, ema_overwrite_frequency: 9223372036854775807", "[1, 2147483647]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = tmp_path("s.yaml");
        write_text(p,
                   "model:\n  class_name: Sequential\n  config:\n    layers:\n"
                   "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n" GRU_DENSE
                   "compile: {loss: mse, optimizer: {class_name: Adam, config: {%s}}}\n"
                   "data: {" TASK "}\n",
                   cases[i][0]);
        rnnc_test_run r = RUN("train", p);
        expect_error(&r, 1, cases[i][1], NULL);
        rnnc_test_run_free(&r);
    }
}

Test(limits, checkpoint_sizes_are_checked)
{
    const char *p = spec("s.yaml", GRU_DENSE, "epochs: 1", TASK, "checkpoint: {directory: ck, every: 4294967297}\n");
    rnnc_test_run r = RUN("train", p);
    expect_error(&r, 1, "'every'", "1000000", "s.yaml:", NULL);
    cr_expect(!exists(tmp_path("ck")));
    rnnc_test_run_free(&r);
    p = spec("s.yaml", GRU_DENSE, "epochs: 1", TASK, "checkpoint: {directory: ck, keep: 18446744073709551615}\n");
    r = RUN("train", p);
    expect_error(&r, 1, "s.yaml:", NULL); /* beyond 64 bits: the YAML reader's range message */
    cr_expect(!exists(tmp_path("ck")));
    rnnc_test_run_free(&r);
    p = spec("s.yaml", GRU_DENSE, "epochs: 1", TASK, "checkpoint: {directory: ck, keep: 1000001}\n");
    r = RUN("train", p);
    expect_error(&r, 1, "'keep'", "1000000", "s.yaml:", NULL);
    cr_expect(!exists(tmp_path("ck")));
    rnnc_test_run_free(&r);
}

Test(limits, the_limits_themselves_are_accepted)
{
    const char *p = spec("s.yaml", GRU_DENSE, "epochs: 1000000, batch_size: 16777216, seed: 9223372036854775807",
                         TASK, "checkpoint: {directory: ck, every: 1000000, keep: 1000000}\n");
    rnnc_test_run r = RUN("inspect", p);
    cr_expect_eq(r.code, 0, "stderr: %s", r.err);
    cr_expect(strstr(r.out, "epochs 1000000, batch_size 16777216") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "seed 9223372036854775807") != NULL, "%s", r.out);
    rnnc_test_run_free(&r);
}

Test(limits, command_line_sizes_are_checked)
{
    const char *p = spec("s.yaml", GRU_DENSE, "epochs: 1", TASK, NULL);
    rnnc_test_run r = RUN("train", p, "--epochs", "4294967297");
    expect_error(&r, 2, "--epochs", "1000000", NULL);
    rnnc_test_run_free(&r);
    r = RUN("train", p, "--seed", "9223372036854775808");
    expect_error(&r, 2, "--seed", "9223372036854775807", NULL);
    rnnc_test_run_free(&r);
    r = RUN("evaluate", p, "--weights", "w.weights.h5", "--batch-size", "9223372036854775807");
    expect_error(&r, 2, "--batch-size", "16777216", NULL);
    rnnc_test_run_free(&r);
    /* B * T * (F + U) of these overflowed 64 bits (UBSan: signed overflow) */
    r = RUN("bench", "gru", "--shapes", "4294967296,4294967296,2,2");
    expect_error(&r, 2, "shape 1", "1048576", NULL);
    rnnc_test_run_free(&r);
    r = RUN("bench", "gru", "--shapes", "9223372036854775807,9223372036854775807,9223372036854775807,1");
    expect_error(&r, 2, "shape 1", "1048576", NULL);
    rnnc_test_run_free(&r);
}

/* Keras clamps the batch size to the data: 64 samples, batch_size 1000 ->
 * one batch of 64 per epoch (the progress line says 1/1). */
Test(limits, a_batch_larger_than_the_data_is_one_batch)
{
    const char *p = spec("s.yaml", GRU_DENSE, "epochs: 2, batch_size: 16777216", TASK, NULL);
    rnnc_test_run r = RUN("train", p);
    cr_expect_eq(r.code, 0, "stderr: %s", r.err);
    cr_expect(strstr(r.out, "Epoch 2/2") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "1/1 - ") != NULL, "%s", r.out);
    rnnc_test_run_free(&r);
}

/* ---- HDF5 data ---- */

#define N 10
static float xs[N * 6 * 2], ys[N * 2 * 3], ws[N * 7];

/* data.h5 with x (rows, 6, 2), y of y_dims (rows first), optional sw. */
static void write_data(const char *name, hsize_t rows, int y_ndim, const hsize_t *y_dims, bool with_sw,
                       const hsize_t *sw_dims, int sw_ndim)
{
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        xs[i] = (float)((i * 37) % 11) / 11.0f;
    for (size_t i = 0; i < sizeof ys / sizeof ys[0]; i++)
        ys[i] = 0.5f;
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
        ws[i] = 1.0f;
    rnnc_h5m_dataset d[3] = {
        {"x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, {rows, 6, 2, 0}, xs, false},
        {"y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, y_ndim, {0}, ys, false},
        {"sw", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sw_ndim, {0}, ws, false},
    };
    for (int k = 0; k < y_ndim; k++)
        d[1].dims[k] = y_dims[k];
    for (int k = 0; with_sw && k < sw_ndim; k++)
        d[2].dims[k] = sw_dims[k];
    cr_assert(rnnc_h5m_write(tmp_path(name), d, with_sw ? 3 : 2));
}

Test(limits, zero_training_samples_is_an_error_in_the_program)
{
    write_data("empty.h5", 0, 2, (const hsize_t[]){0, 1}, false, NULL, 0);
    const char *p = spec("s.yaml", GRU_DENSE, "epochs: 1", "path: empty.h5", "checkpoint: {directory: ck}\n");
    rnnc_test_run r = RUN("train", p);
    expect_error(&r, 1, "0 samples", "empty.h5", "s.yaml", NULL);
    cr_expect(!exists(tmp_path("ck")));
    rnnc_test_run_free(&r);
    /* empty validation data too */
    write_data("good.h5", N, 2, (const hsize_t[]){N, 1}, false, NULL, 0);
    p = spec("s.yaml", GRU_DENSE, "epochs: 1, validation_data: {path: empty.h5}", "path: good.h5", NULL);
    r = RUN("train", p);
    expect_error(&r, 1, "0 samples", "validation data", "empty.h5", NULL);
    rnnc_test_run_free(&r);
}

Test(limits, zero_training_samples_is_an_error_in_fit)
{
    rnnc_model *m;
    rnnc_layer *dense;
    rnnc_dense_options o = rnnc_dense_options_default(1);
    cr_assert_eq(rnnc_sequential_create("m", &m), RNNC_OK);
    cr_assert_eq(rnnc_dense_create(&o, &dense), RNNC_OK);
    cr_assert_eq(rnnc_model_add(m, dense), RNNC_OK);
    rnnc_shape in = RNNC_SHAPE(-1, 3);
    cr_assert_eq(rnnc_model_build(m, &in), RNNC_OK);
    rnnc_trainer *tr;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    rnnc_cfg *loss = rnnc_cfg_string("mse");
    cr_assert_eq(rnnc_trainer_compile_config(tr, NULL, loss, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x, *y;
    rnnc_shape xs0 = RNNC_SHAPE(0, 3), ys0 = RNNC_SHAPE(0, 1);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &xs0, &x), RNNC_OK);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys0, &y), RNNC_OK);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    cr_expect_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "0 samples") != NULL, "%s", rnnc_last_error());
    cr_expect_null(h);
    rnnc_history_destroy(h);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_cfg_destroy(loss);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
}

/* ---- messages that point at the cause ---- */

Test(limits, a_misspelt_required_key_is_named)
{
    const char *p = spec("s.yaml", "      - {class_name: GRU, config: {unit: 32}}\n", "epochs: 1", TASK, NULL);
    rnnc_test_run r = RUN("train", p);
    expect_error(&r, 1, "unrecognized key 'unit'", "did you mean 'units'?", "missing required argument 'units'",
                 "s.yaml:6:", NULL);
    rnnc_test_run_free(&r);
    p = spec("s.yaml", "      - {class_name: GRU, config: {units: 3}}\n      - {class_name: Dense, config: {unit: 32}}\n",
             "epochs: 1", TASK, NULL);
    r = RUN("train", p);
    expect_error(&r, 1, "Dense", "unrecognized key 'unit'", "did you mean 'units'?",
                 "missing required argument 'units'", "s.yaml:7:", NULL);
    rnnc_test_run_free(&r);
    /* the other required arguments: Dropout's rate, a wrapper's layer, a schedule's arguments */
    p = spec("s.yaml", "      - {class_name: Dropout, config: {rat: 0.5}}\n", "epochs: 1", TASK, NULL);
    r = RUN("train", p);
    expect_error(&r, 1, "Dropout: unrecognized key 'rat'", "did you mean 'rate'?", "'rate' is required", NULL);
    rnnc_test_run_free(&r);
    p = spec("s.yaml", "      - {class_name: Bidirectional, config: {layr: {class_name: GRU, config: {units: 2}}}}\n",
             "epochs: 1", TASK, NULL);
    r = RUN("train", p);
    expect_error(&r, 1, "unrecognized key 'layr'", "did you mean 'layer'?", "'layer'", "is required", NULL);
    rnnc_test_run_free(&r);
    p = tmp_path("s.yaml");
    write_text(p,
               "model:\n  class_name: Sequential\n  config:\n    layers:\n"
               "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n" GRU_DENSE
               "compile:\n  loss: mse\n  optimizer: {class_name: SGD, config: {learning_rate: {class_name: ExponentialDecay,\n"
               "    config: {initial_learning_rate: 0.1, decay_step: 10, decay_rate: 0.9}}}}\n"
               "data: {" TASK "}\n");
    r = RUN("train", p);
    expect_error(&r, 1, "ExponentialDecay: unrecognized key 'decay_step'", "did you mean 'decay_steps'?",
                 "missing required argument 'decay_steps'", "s.yaml:11:", NULL);
    rnnc_test_run_free(&r);
    /* a valid key near the missing one is not blamed */
    p = spec("s.yaml", "      - {class_name: Dropout, config: {name: rate_0}}\n", "epochs: 1", TASK, NULL);
    r = RUN("train", p);
    expect_error(&r, 1, "Dropout: 'rate' is required", NULL);
    cr_expect(strstr(r.err, "unrecognized") == NULL, "%s", r.err);
    rnnc_test_run_free(&r);
    p = spec("s.yaml", "      - {class_name: Embedding, config: {output_dim: 4}}\n", "epochs: 1", TASK, NULL);
    r = RUN("train", p);
    expect_error(&r, 1, "Embedding: missing required argument 'input_dim'", NULL);
    rnnc_test_run_free(&r);
}

/* A failure found before training: one line naming the spec, the data and
 * "checked before training", no "epoch 1, batch 0", no epoch started, no
 * checkpoint folder. */
static void expect_found_before_training(const char *spec_path, const char *what, const char *file)
{
    rnnc_test_run r = RUN("train", spec_path);
    expect_error(&r, 1, "s.yaml", what, file, "checked before training", NULL);
    cr_expect(strstr(r.err, "epoch 1, batch 0") == NULL, "%s", r.err);
    cr_expect(strstr(r.out, "Epoch 1/") == NULL, "it trained:\n%s", r.out);
    cr_expect(!exists(tmp_path("ck")), "a checkpoint folder was made");
    rnnc_test_run_free(&r);
}

Test(limits, a_loss_that_does_not_fit_the_output_is_found_before_the_first_step)
{
    /* return_sequences: the output is (batch, 6, 1); y is (batch, 1): mse
     * cannot broadcast them for a batch of 16 (a batch of 1 would) */
    const char *seq = "      - {class_name: GRU, config: {units: 3, return_sequences: true}}\n"
                      "      - {class_name: Dense, config: {units: 3}}\n";
    const char *p = spec("s.yaml", seq, "epochs: 1, batch_size: 16", TASK, "checkpoint: {directory: ck}\n");
    expect_found_before_training(p, "training data", "task adding");
    /* sparse categorical crossentropy on (batch, 1) targets and a (batch, 6, 3) output */
    p = tmp_path("s.yaml");
    write_text(p,
               "model:\n  class_name: Sequential\n  config:\n    layers:\n"
               "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n%s"
               "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
               "fit: {verbose: 2, epochs: 1}\n"
               "data: {" TASK "}\n"
               "checkpoint: {directory: ck}\n",
               seq);
    expect_found_before_training(p, "training data", "task adding");
}

Test(limits, targets_and_weights_of_the_wrong_shape_are_found_before_the_first_step)
{
    write_data("good.h5", N, 2, (const hsize_t[]){N, 1}, false, NULL, 0);
    /* y (N, 2, 3) against an output (N, 1) */
    write_data("bad_y.h5", N, 3, (const hsize_t[]){N, 2, 3}, false, NULL, 0);
    const char *p = spec("s.yaml", GRU_DENSE, "epochs: 1", "path: bad_y.h5", "checkpoint: {directory: ck}\n");
    expect_found_before_training(p, "training data", "bad_y.h5");
    /* the same targets as validation data, and as test data */
    p = spec("s.yaml", GRU_DENSE, "epochs: 1, validation_data: {path: bad_y.h5}", "path: good.h5",
             "checkpoint: {directory: ck}\n");
    expect_found_before_training(p, "validation data", "bad_y.h5");
    p = spec("s.yaml", GRU_DENSE, "epochs: 1", "path: good.h5, test: bad_y.h5", "checkpoint: {directory: ck}\n");
    expect_found_before_training(p, "test data", "bad_y.h5");
    /* sample weights (N, 7) for per-sample losses of shape (N,): the data
     * reader refuses them (before training too) */
    write_data("bad_sw.h5", N, 2, (const hsize_t[]){N, 1}, true, (const hsize_t[]){N, 7}, 2);
    p = spec("s.yaml", GRU_DENSE, "epochs: 1", "path: bad_sw.h5, sample_weight: sw", "checkpoint: {directory: ck}\n");
    rnnc_test_run r = RUN("train", p);
    expect_error(&r, 1, "bad_sw.h5", "'/sw'", "(10, 7)", NULL);
    cr_expect(strstr(r.out, "Epoch 1/") == NULL, "it trained:\n%s", r.out);
    cr_expect(!exists(tmp_path("ck")));
    rnnc_test_run_free(&r);
    /* and good data still trains */
    p = spec("s.yaml", GRU_DENSE, "epochs: 1", "path: good.h5", NULL);
    r = RUN("train", p);
    cr_expect_eq(r.code, 0, "stderr: %s", r.err);
    rnnc_test_run_free(&r);
}
