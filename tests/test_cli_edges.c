/* test_cli_edges.c - the rnnc program where a user meets its edges, each
 * case against what Keras 3.15.1 does in the same situation:
 *
 * - A stateful RNN takes batches of exactly its stored state's batch size
 *   (Keras's RNN.call: "If an RNN is stateful, the batch size of the input
 *   sequences must be the same as the batch size of the initial state";
 *   model.fit fails at the first other batch, after epochs have run).
 *   `rnnc train` refuses training, validation and test data that would give
 *   another batch, in one line before the first epoch, writing nothing
 *   (it used to fail after epoch 1 on the validation data's last partial
 *   batch, or after the whole run on the test data, losing the trained
 *   weights of --save-weights). A stateful model whose every batch fits
 *   trains, reports its test data and its first 5 predictions (from one
 *   batch of 8: a batch of 5 used to fail there, after training, losing
 *   the weights) and saves its weights. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers/program_dir.h"
#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/rnnc_cli_edges_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) { rnnc_test_rm_tree(dir); }

TestSuite(cli_edges, .init = make_dir, .fini = remove_dir, .timeout = 300);

#define RNNC(...) rnnc_test_run_program(RNNC_BIN, dir, NULL, (const char *const[]){__VA_ARGS__, NULL})

static bool exists_in_dir(const char *name)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* A failed run: exit 1, one line on stderr holding every fragment, no epoch run. */
static void expect_refused(rnnc_test_run *r, const char *const *frags)
{
    cr_expect_eq(r->code, 1, "exit %d, stdout:\n%s\nstderr: %s", r->code, r->out, r->err);
    const char *nl = strchr(r->err, '\n');
    cr_expect(nl && !nl[1], "stderr must be one line:\n%s", r->err);
    for (int i = 0; frags[i]; i++)
        cr_expect(strstr(r->err, frags[i]), "stderr lacks \"%s\":\n%s", frags[i], r->err);
    cr_expect(!strstr(r->out, "Epoch"), "refused after training began:\n%s", r->out);
}

/* A spec of a stateful GRU (batch_shape 8) on the adding task. */
static void write_stateful_spec(const char *name, int batch_size, int validation, int test)
{
    char text[2048];
    snprintf(text, sizeof text,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    name: st\n"
             "    layers:\n"
             "      - class_name: InputLayer\n"
             "        config: {batch_shape: [8, 6, 2]}\n"
             "      - class_name: GRU\n"
             "        config: {name: gru, units: 4, stateful: true}\n"
             "      - class_name: Dense\n"
             "        config: {name: dense, units: 1}\n"
             "compile:\n"
             "  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}\n"
             "  loss: mse\n"
             "fit: {epochs: 2, batch_size: %d, seed: 1, verbose: 2, shuffle: false, history: hist}\n"
             "data: {task: adding, timesteps: 6, samples: 64, validation_samples: %d, test_samples: %d, seed: 7}\n",
             batch_size, validation, test);
    rnnc_test_write_file(dir, name, text, false);
}

Test(cli_edges, stateful_rnn_batches_are_checked_before_training)
{
    /* the validation data's last batch holds 4 (Keras: fails after epoch 1) */
    write_stateful_spec("val12.yaml", 8, 12, 16);
    rnnc_test_run r = RNNC("train", "val12.yaml", "--save-weights", "v.weights.h5");
    expect_refused(&r, (const char *const[]){"GRU 'gru' is stateful with batch size 8",
                                             "the validation data has 12 samples in batches of 8",
                                             "its last batch holds 4", NULL});
    cr_expect(!exists_in_dir("v.weights.h5") && !exists_in_dir("hist"), "a refused run wrote files");
    rnnc_test_run_free(&r);

    /* batches of 4 for a state of 8 (Keras: fails at the first batch) */
    write_stateful_spec("bs4.yaml", 4, 16, 16);
    r = RNNC("train", "bs4.yaml");
    expect_refused(&r, (const char *const[]){"bs4.yaml: GRU 'gru' is stateful with batch size 8",
                                             "in batches of 4", NULL});
    rnnc_test_run_free(&r);

    /* the test data, reported after training, would fail there and lose the
     * weights: refused first */
    write_stateful_spec("test12.yaml", 8, 16, 12);
    r = RNNC("train", "test12.yaml", "--save-weights", "t.weights.h5");
    expect_refused(&r, (const char *const[]){"test12.yaml: GRU 'gru' is stateful with batch size 8",
                                             "the test data (task adding) has 12 samples", NULL});
    cr_expect(!exists_in_dir("t.weights.h5"), "a refused run wrote its weights");
    rnnc_test_run_free(&r);

    /* every batch holds 8: trains, validates, reports 5 test predictions, saves */
    write_stateful_spec("ok.yaml", 8, 16, 16);
    r = RNNC("train", "ok.yaml", "--save-weights", "ok.weights.h5");
    cr_expect_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.out, "Epoch 2/2") && strstr(r.out, "val_loss") && strstr(r.out, "Test (16 samples)"),
              "stdout:\n%s", r.out);
    const char *shown = strstr(r.out, "Predictions on test samples:");
    cr_expect(shown && rnnc_test_count_lines(shown) >= 7, "five predictions shown:\n%s", r.out);
    cr_expect(exists_in_dir("ok.weights.h5"), "no weights saved");
    rnnc_test_run_free(&r);

    /* evaluate with a batch size the state does not take: one line */
    r = RNNC("evaluate", "ok.yaml", "--weights", "ok.weights.h5", "--batch-size", "5");
    cr_expect_eq(r.code, 1, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(strstr(r.err, "stateful with batch size 8") && strstr(r.err, "in batches of 5"), "stderr: %s", r.err);
    rnnc_test_run_free(&r);
}
