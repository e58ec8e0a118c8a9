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
 *   the weights) and saves its weights.
 * - fit.initial_epoch without a checkpoint is no resume: `rnnc train` said
 *   "Resuming from  at epoch 3" (an empty path) and "the checkpoint is at
 *   epoch 3"; with initial_epoch >= epochs Keras's fit trains nothing, and
 *   rnnc says so naming fit.initial_epoch.
 * - fit.steps_per_epoch with fit.initial_epoch: Keras's epoch iterator
 *   starts a new pass over the data at initial_epoch (its fit knows no
 *   earlier epochs); the losses of a Keras 3.15.1 fit (fixture made by
 *   tests/gen_cli_edges_fixtures.py) within 1e-5 (relative). rnnc counted
 *   passes from epoch 0 and ran other batches in each epoch.
 * - The files a spec's callbacks write (CSVLogger's filename, a
 *   ModelCheckpoint filepath without fields) and --save-model are outputs
 *   like --save-weights: one that is an input (the spec, its data, --weights)
 *   is refused before training, and the input is left as it was (CSVLogger
 *   named after the training data used to replace it with its log). */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers/program_dir.h"
#include "io/h5_util.h"
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

/* The spec of a GRU on the committed fit_callbacks data (copied to the
 * test's folder as data.h5), with one callback. */
static void write_data_spec(const char *name, const char *callback)
{
    char text[2048];
    snprintf(text, sizeof text,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    name: g\n"
             "    layers:\n"
             "      - class_name: InputLayer\n"
             "        config: {batch_shape: [null, 5, 3]}\n"
             "      - class_name: GRU\n"
             "        config: {name: gru, units: 3}\n"
             "      - class_name: Dense\n"
             "        config: {name: dense, units: 1}\n"
             "compile: {optimizer: sgd, loss: mse}\n"
             "fit: {epochs: 1, batch_size: 16, verbose: 0, history: hist, callbacks: [%s]}\n"
             "data: {path: data.h5}\n",
             callback);
    rnnc_test_write_file(dir, name, text, false);
}

static char *read_in_dir(const char *name, size_t *len)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *d = rnnc_test_slurp(p, len);
    cr_assert(d, "cannot read %s", p);
    return d;
}

/* name's bytes are still `before` (len bytes). */
static void expect_unchanged(const char *name, const char *before, size_t len)
{
    size_t n;
    char *now = read_in_dir(name, &n);
    cr_expect(n == len && memcmp(now, before, len) == 0, "%s was changed", name);
    free(now);
}

Test(cli_edges, callback_outputs_that_are_inputs_are_refused)
{
    size_t dlen;
    char *data = rnnc_test_slurp(RNNC_FIXTURES "/fit_callbacks/data.h5", &dlen);
    cr_assert(data);
    char p[600];
    snprintf(p, sizeof p, "%s/data.h5", dir);
    FILE *f = fopen(p, "wb");
    cr_assert(f && fwrite(data, 1, dlen, f) == dlen && fclose(f) == 0);

    /* CSVLogger over the training data */
    write_data_spec("csv.yaml", "{CSVLogger: {filename: data.h5}}");
    rnnc_test_run r = RNNC("train", "csv.yaml");
    expect_refused(&r, (const char *const[]){"CSVLogger's filename 'data.h5' is the same file as the spec's data.path",
                                             NULL});
    rnnc_test_run_free(&r);
    expect_unchanged("data.h5", data, dlen);

    /* CSVLogger over the spec itself */
    write_data_spec("self.yaml", "{CSVLogger: {filename: ./self.yaml}}");
    size_t slen;
    char *spec = read_in_dir("self.yaml", &slen);
    r = RNNC("train", "self.yaml");
    expect_refused(&r, (const char *const[]){"is the same file as the spec 'self.yaml'", NULL});
    rnnc_test_run_free(&r);
    expect_unchanged("self.yaml", spec, slen);
    free(spec);

    /* ModelCheckpoint over --weights: made by a first run's --save-weights */
    write_data_spec("ok.yaml", "{CSVLogger: {filename: log.csv}}");
    r = RNNC("train", "ok.yaml", "--save-weights", "init.weights.h5");
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    rnnc_test_run_free(&r);
    size_t wlen;
    char *w = read_in_dir("init.weights.h5", &wlen);
    write_data_spec("mc.yaml", "{ModelCheckpoint: {filepath: init.weights.h5, monitor: loss}}");
    r = RNNC("train", "mc.yaml", "--weights", "init.weights.h5");
    expect_refused(&r, (const char *const[]){"ModelCheckpoint's filepath 'init.weights.h5' is the same file as --weights",
                                             NULL});
    rnnc_test_run_free(&r);
    expect_unchanged("init.weights.h5", w, wlen);
    free(w);

    /* --save-model over the spec's .keras model (written by a first run) */
    r = RNNC("train", "ok.yaml", "--save-model", "m.keras");
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    rnnc_test_run_free(&r);
    rnnc_test_write_file(dir, "fromk.yaml",
                         "model: m.keras\n"
                         "compile: {optimizer: sgd, loss: mse}\n"
                         "fit: {epochs: 1, batch_size: 16, verbose: 0, history: hist}\n"
                         "data: {path: data.h5}\n",
                         false);
    size_t klen;
    char *k = read_in_dir("m.keras", &klen);
    r = RNNC("train", "fromk.yaml", "--save-model", "m.keras");
    expect_refused(&r, (const char *const[]){"--save-model 'm.keras' is the same file as the spec's model", NULL});
    rnnc_test_run_free(&r);
    expect_unchanged("m.keras", k, klen);
    free(k);
    free(data);
}

Test(cli_edges, initial_epoch_is_not_a_resume)
{
    write_stateful_spec("st.yaml", 8, 16, 16);
    char *spec = NULL;
    size_t len;
    spec = read_in_dir("st.yaml", &len);
    /* the same spec with fit.initial_epoch 1 (of 2 epochs), then 2 */
    for (int k = 1; k <= 2; k++) {
        char text[4096], *at = strstr(spec, "fit: {");
        cr_assert(at);
        snprintf(text, sizeof text, "%.*sfit: {initial_epoch: %d, %s", (int)(at - spec), spec, k, at + strlen("fit: {"));
        rnnc_test_write_file(dir, "ie.yaml", text, false);
        rnnc_test_run r = RNNC("train", "ie.yaml");
        cr_expect_eq(r.code, 0, "exit %d: %s", r.code, r.err);
        cr_expect(!strstr(r.out, "Resuming") && !strstr(r.out, "checkpoint is at"), "no checkpoint was resumed:\n%s", r.out);
        if (k == 1)
            cr_expect(strstr(r.out, "Starting at epoch 2 (fit.initial_epoch 1)") && strstr(r.out, "Epoch 2/2") &&
                          !strstr(r.out, "Epoch 1/2"),
                      "stdout:\n%s", r.out);
        else
            cr_expect(strstr(r.out, "Nothing to train: fit.initial_epoch is 2 and fit.epochs is 2") &&
                          !strstr(r.out, "Epoch "),
                      "stdout:\n%s", r.out);
        rnnc_test_run_free(&r);
    }
    free(spec);
}

#define SPE RNNC_FIXTURES "/cli_edges/spe_initial_epoch"

/* The loss column of history.csv ("epoch,loss" rows) into v; how many. */
static int history_losses(const char *csv, double *v, int cap)
{
    size_t len;
    char *t = read_in_dir(csv, &len), *line = strchr(t, '\n');
    int n = 0;
    while (line && line[1] && n < cap) {
        const char *comma = strchr(line + 1, ',');
        cr_assert(comma, "history line without a comma: %s", t);
        v[n++] = strtod(comma + 1, NULL);
        line = strchr(line + 1, '\n');
    }
    free(t);
    return n;
}

Test(cli_edges, steps_per_epoch_with_initial_epoch_as_keras)
{
    char text[2048];
    snprintf(text, sizeof text,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    name: spe\n"
             "    layers:\n"
             "      - class_name: InputLayer\n"
             "        config: {batch_shape: [null, 5, 3]}\n"
             "      - class_name: GRU\n"
             "        config: {name: gru, units: 4}\n"
             "      - class_name: Dense\n"
             "        config: {name: dense, units: 1}\n"
             "compile:\n"
             "  optimizer: {class_name: SGD, config: {learning_rate: 0.1}}\n"
             "  loss: mse\n"
             "fit: {epochs: 4, initial_epoch: 1, steps_per_epoch: 2, batch_size: 8, shuffle: false, verbose: 0, history: hist}\n"
             "data: {path: %s.h5}\n",
             SPE);
    rnnc_test_write_file(dir, "spe.yaml", text, false);
    rnnc_test_run r = RNNC("train", "spe.yaml", "--weights", SPE "_init.weights.h5");
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    rnnc_test_run_free(&r);
    double got[8], want[3];
    hid_t f;
    cr_assert_eq(rnnc_h5_open_read(SPE ".h5", &f), RNNC_OK);
    hid_t d = H5Dopen2(f, "loss", H5P_DEFAULT);
    cr_assert(d >= 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, want) >= 0);
    H5Dclose(d);
    rnnc_h5_close(f);
    cr_assert_eq(history_losses("hist/history.csv", got, 8), 3, "three epochs (2 to 4)");
    for (int i = 0; i < 3; i++)
        cr_expect(fabs(got[i] - want[i]) <= 1e-5 * fabs(want[i]), "epoch %d: loss %.9g, Keras %.9g", i + 2, got[i],
                  want[i]);
}
