/* test_fit_edges_cli.c - through the real rnnc program:
 *
 * - fit.class_weight over targets that are not one class per sample
 *   (sequence targets (N, T) of the chars task under a per-step loss) is
 *   refused before training, in one line naming fit.class_weight and the
 *   targets' shape: no "Epoch 1" line, no history file, no CSVLogger file.
 *   Keras 3.15.1 refuses it too (it fails at its first training step).
 *   So are one-hot sequence targets (N, T, C) (Keras: "only 0-dimensional
 *   arrays can be converted to Python scalars", before training). class_weight
 *   over (N,) class ids (varlen) and one-hot (N, C) targets still trains.
 * - an RNN over StackedRNNCells with return_state as a model output (Keras's
 *   config nests its states, one list per cell; fixture made by
 *   tests/gen_stacked_return_state_fixture.py) is refused at load in one
 *   line naming the layer and saying what is not supported.
 *
 * The oracles: the file system's state, Keras's shapes and config. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "framework/tensor.h"
#include "helpers/program_dir.h"
#include "io/h5_util.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char tmpdir[512];

static void make_tmpdir(void) { rnnc_test_own_dir(tmpdir, sizeof tmpdir, "fit_edges_cli"); }
static void remove_tmpdir(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(fit_edges_cli, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 300);

static bool exists(const char *name)
{
    char p[800];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return access(p, F_OK) == 0;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static rnnc_test_run run(const char *const *args)
{
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, args);
    cr_assert_neq(r.code, -1, "cannot start %s", RNNC_BIN);
    return r;
}

/* chars: x (32, 8) ids, y (32, 8) next ids; a per-step loss */
static const char chars_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    name: chars\n"
    "    layers:\n"
    "      - class_name: InputLayer\n"
    "        config: {batch_shape: [null, 8], dtype: int32}\n"
    "      - class_name: Embedding\n"
    "        config: {name: embedding, input_dim: 96, output_dim: 4}\n"
    "      - class_name: GRU\n"
    "        config: {name: gru, units: 4, return_sequences: true}\n"
    "      - class_name: Dense\n"
    "        config: {name: dense, units: 96}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.005}}\n"
    "  loss: {class_name: SparseCategoricalCrossentropy, config: {from_logits: true}}\n"
    "fit: {epochs: 2, batch_size: 16, seed: 42, verbose: 2, history: hist, class_weight: {0: 1.0, 3: 2.0},\n"
    "      callbacks: [{CSVLogger: {filename: log.csv}}]}\n"
    "data: {task: chars, timesteps: 8, samples: 32, validation_samples: 16, seed: 7}\n";

/* varlen: y (48,) class ids, one per sample */
static const char varlen_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    name: varlen\n"
    "    layers:\n"
    "      - class_name: InputLayer\n"
    "        config: {batch_shape: [null, 10, 3]}\n"
    "      - class_name: GRU\n"
    "        config: {name: gru, units: 4}\n"
    "      - class_name: Dense\n"
    "        config: {name: dense, units: 3, activation: softmax}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}\n"
    "  loss: sparse_categorical_crossentropy\n"
    "fit: {epochs: 2, batch_size: 16, seed: 42, verbose: 2, history: hist, class_weight: {0: 0.5, 2: 2.0}}\n"
    "data: {task: varlen, timesteps: 10, channels: 3, min_length: 4, samples: 48, validation_samples: 16, seed: 7}\n";

Test(fit_edges_cli, class_weight_over_sequence_targets_is_refused_before_training)
{
    rnnc_test_write_file(tmpdir, "chars.yaml", chars_spec, false);
    rnnc_test_run r = run(ARGS("train", "chars.yaml"));
    cr_expect_eq(r.code, 1, "exit code %d, expected 1; stderr: %s", r.code, r.err);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "stderr must be one line, got:\n%s", r.err);
    cr_expect(strstr(r.err, "fit.class_weight") != NULL, "stderr does not name fit.class_weight:\n%s", r.err);
    cr_expect(strstr(r.err, "(32, 8)") != NULL, "stderr does not give the targets' shape (32, 8):\n%s", r.err);
    cr_expect(strstr(r.out, "Epoch 1") == NULL, "training ran before the check:\n%s", r.out);
    cr_expect(!exists("hist/history.json") && !exists("hist/history.csv"), "a history file was written");
    cr_expect(!exists("log.csv"), "CSVLogger's file was made before the refusal");
    rnnc_test_run_free(&r);
}

Test(fit_edges_cli, class_weight_over_class_ids_still_trains)
{
    rnnc_test_write_file(tmpdir, "varlen.yaml", varlen_spec, false);
    rnnc_test_run r = run(ARGS("train", "varlen.yaml"));
    cr_expect_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    cr_expect(strstr(r.out, "Epoch 2") != NULL, "no second epoch:\n%s", r.out);
    cr_expect(exists("hist/history.json"), "no history.json");
    rnnc_test_run_free(&r);
}

Test(fit_edges_cli, stacked_rnn_cells_return_state_output_is_refused_at_load)
{
    rnnc_test_run r = run(ARGS("inspect", RNNC_FIXTURES "/functional/stacked_return_state.json"));
    cr_expect_eq(r.code, 1, "exit code %d, expected 1; stderr: %s", r.code, r.err);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "stderr must be one line, got:\n%s", r.err);
    cr_expect(strstr(r.err, "'rnn'") != NULL, "stderr does not name the layer 'rnn':\n%s", r.err);
    cr_expect(strstr(r.err, "StackedRNNCells with return_state") != NULL && strstr(r.err, "not supported") != NULL,
              "stderr does not say StackedRNNCells with return_state is not supported:\n%s", r.err);
    rnnc_test_run_free(&r);
}

/* tmpdir/data.h5: x (24, 5, 2) and y, one-hot over 3 classes: (24, 5, 3)
 * per step when seq, else (24, 3); class i % 3 (at step t: (i + t) % 3). */
static void write_onehot_data(bool seq)
{
    const int64_t n = 24, t = 5, c = 3;
    rnnc_shape xs = RNNC_SHAPE(n, t, 2), ys = seq ? RNNC_SHAPE(n, t, c) : RNNC_SHAPE(n, c);
    rnnc_tensor *x, *y;
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &xs, &x), RNNC_OK);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys, &y), RNNC_OK);
    for (size_t i = 0; i < x->numel; i++)
        rnnc_tensor_set(x, i, (double)(i % 7) / 7.0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t s = 0; s < (seq ? t : 1); s++)
            rnnc_tensor_set(y, (size_t)((i * (seq ? t : 1) + s) * c + (i + s) % c), 1.0);
    char path[800];
    snprintf(path, sizeof path, "%s/data.h5", tmpdir);
    rnnc_h5_writer w;
    cr_assert_eq(rnnc_h5_writer_begin(path, &w), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_write_tensor(w.file, "x", x, path), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_write_tensor(w.file, "y", y, path), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_writer_commit(&w), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}

static void write_onehot_spec(bool seq)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    name: onehot\n"
             "    layers:\n"
             "      - class_name: InputLayer\n"
             "        config: {batch_shape: [null, 5, 2]}\n"
             "      - class_name: GRU\n"
             "        config: {name: gru, units: 4, return_sequences: %s}\n"
             "      - class_name: Dense\n"
             "        config: {name: dense, units: 3, activation: softmax}\n"
             "compile:\n"
             "  optimizer: {class_name: SGD, config: {learning_rate: 0.01}}\n"
             "  loss: categorical_crossentropy\n"
             "fit: {epochs: 2, batch_size: 8, seed: 1, verbose: 2, history: hist, class_weight: {0: 1.0, 1: 2.0}}\n"
             "data: {path: data.h5}\n",
             seq ? "true" : "false");
    rnnc_test_write_file(tmpdir, "onehot.yaml", buf, false);
}

Test(fit_edges_cli, class_weight_over_one_hot_sequence_targets_is_refused_before_training)
{
    write_onehot_data(true);
    write_onehot_spec(true);
    rnnc_test_run r = run(ARGS("train", "onehot.yaml"));
    cr_expect_eq(r.code, 1, "exit code %d, expected 1; stderr: %s", r.code, r.err);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "stderr must be one line, got:\n%s", r.err);
    cr_expect(strstr(r.err, "fit.class_weight") != NULL, "stderr does not name fit.class_weight:\n%s", r.err);
    cr_expect(strstr(r.err, "(24, 5, 3)") != NULL, "stderr does not give the targets' shape (24, 5, 3):\n%s", r.err);
    cr_expect(strstr(r.out, "Epoch 1") == NULL, "training ran before the check:\n%s", r.out);
    cr_expect(!exists("hist/history.json") && !exists("hist/history.csv"), "a history file was written");
    rnnc_test_run_free(&r);
}

Test(fit_edges_cli, class_weight_over_one_hot_targets_still_trains)
{
    write_onehot_data(false);
    write_onehot_spec(false);
    rnnc_test_run r = run(ARGS("train", "onehot.yaml"));
    cr_expect_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    cr_expect(strstr(r.out, "Epoch 2") != NULL, "no second epoch:\n%s", r.out);
    cr_expect(exists("hist/history.json"), "no history.json");
    rnnc_test_run_free(&r);
}
