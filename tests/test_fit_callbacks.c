/* test_fit_callbacks.c - `fit.callbacks`, class_weight, validation_freq,
 * steps_per_epoch, initial_epoch and the history files of `rnnc train`,
 * run as a user runs them.
 *
 * Oracles: Keras 3.15.1's fit on the same data, model, initial weights and
 * settings (tests/fixtures/fit_callbacks, made by
 * tests/gen_fit_callbacks_fixtures.py): the epoch EarlyStopping stops at and
 * the weights it restores, the learning rates ReduceLROnPlateau sets, the
 * names and weights of the files ModelCheckpoint writes, CSVLogger's file,
 * and the weights class_weight trains; numbers derived by hand for the
 * epoch and batch counts; an uninterrupted run for BackupAndRestore. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/run_program.h"
#include "io/spec_reader.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"
#define FX RNNC_FIXTURES "/fit_callbacks"

static char tmpdir[256];
static rnnc_cfg *expected;

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_fitcb_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    cr_assert_eq(rnnc_spec_read_file(FX "/expected.json", &expected), RNNC_OK, "%s", rnnc_last_error());
}

static void teardown(void)
{
    rnnc_cfg_destroy(expected);
    rnnc_test_rm_tree(tmpdir);
}

TestSuite(fit_callbacks, .init = setup, .fini = teardown, .timeout = 300);

static const char *tmp_path(const char *name)
{
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* spec.yaml in tmpdir: a model of the fixtures, compile, and the given fit lines. */
static void write_spec(const char *name, const char *model, const char *compile, const char *fit, const char *data)
{
    FILE *f = fopen(tmp_path(name), "w");
    cr_assert_not_null(f);
    fprintf(f, "model: %s/%s.json\ncompile: %s\nfit:\n  shuffle: false\n  verbose: 0\n%s\ndata: %s\n", FX, model,
            compile, fit, data);
    fclose(f);
}

static rnnc_test_run train(const char *spec, const char *init, const char *out, const char *const *env)
{
    const char *args[] = {"train", spec, "--weights", init, "--save-weights", out, NULL};
    return rnnc_test_run_program(RNNC_BIN, tmpdir, env, args);
}

static const rnnc_cfg *exp_get(const char *scenario, const char *key)
{
    const rnnc_cfg *s = rnnc_cfg_peek(expected, scenario);
    cr_assert_not_null(s, "expected.json has no '%s'", scenario);
    return rnnc_cfg_peek(s, key);
}

static double num(const rnnc_cfg *c)
{
    return c->type == RNNC_CFG_INT ? (double)c->v.i : c->v.f;
}

/* A dataset of a .weights.h5 file as doubles (malloc'd), *n its size. */
static double *read_ds(const char *file, const char *ds, size_t *n)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0, "cannot open %s", file);
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    cr_assert_geq(d, 0, "%s has no %s", file, ds);
    hid_t sp = H5Dget_space(d);
    *n = (size_t)H5Sget_simple_extent_npoints(sp);
    double *v = malloc(*n * sizeof *v);
    cr_assert_geq(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

/* The model's weights in Keras's get_weights order. */
static const char *const weight_paths[] = {"layers/gru/cell/vars/0", "layers/gru/cell/vars/1",
                                           "layers/gru/cell/vars/2", "layers/dense/vars/0",
                                           "layers/dense/vars/1", NULL};

static size_t flatten(const rnnc_cfg *c, double *out, size_t at)
{
    if (c->type == RNNC_CFG_LIST) {
        for (size_t i = 0; i < c->n; i++)
            at = flatten(c->items[i], out, at);
        return at;
    }
    out[at] = num(c);
    return at + 1;
}

/* Largest |difference| between the weights of file and Keras's list of arrays. */
static double weights_diff(const char *file, const rnnc_cfg *kw)
{
    cr_assert_eq(kw->n, 5u);
    double worst = 0;
    for (int i = 0; weight_paths[i]; i++) {
        size_t n;
        double *v = read_ds(file, weight_paths[i], &n);
        double *e = malloc(n * sizeof *e);
        cr_assert_eq(flatten(kw->items[i], e, 0), n, "%s: %s has another size than Keras's", file, weight_paths[i]);
        for (size_t k = 0; k < n; k++)
            worst = fmax(worst, fabs(v[k] - e[k]));
        free(v);
        free(e);
    }
    return worst;
}

static double files_diff(const char *a, const char *b)
{
    double worst = 0;
    for (int i = 0; weight_paths[i]; i++) {
        size_t n, m;
        double *v = read_ds(a, weight_paths[i], &n), *w = read_ds(b, weight_paths[i], &m);
        cr_assert_eq(n, m);
        for (size_t k = 0; k < n; k++)
            worst = fmax(worst, fabs(v[k] - w[k]));
        free(v);
        free(w);
    }
    return worst;
}

/* The names in tmpdir ending in suffix, sorted, joined by ' '. */
static void list_files(const char *dir, const char *suffix, char *out, size_t cap)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    cr_assert_geq(n, 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t l = strlen(ents[i]->d_name), k = strlen(suffix);
        if (l >= k && strcmp(ents[i]->d_name + l - k, suffix) == 0) {
            if (out[0])
                strncat(out, " ", cap - strlen(out) - 1);
            strncat(out, ents[i]->d_name, cap - strlen(out) - 1);
        }
        free(ents[i]);
    }
    free(ents);
}

static const char *const REG_DATA = "{path: " FX "/data.h5, x: x, y: y}";
static const char *const VAL = "  validation_data: {path: " FX "/data.h5, x: x_val, y: y_val}\n";

/* Compares a CSV (CSVLogger's layout) with Keras's text: the same header and
 * epochs, the values within tol (Keras's logs are float32 means). */
static void check_csv(const char *got, const char *want, double tol)
{
    char *g = strdup(got), *w = strdup(want), *sg, *sw;
    char *lg = strtok_r(g, "\n", &sg), *lw = strtok_r(w, "\n", &sw);
    cr_assert_str_eq(lg, lw, "header: rnnc '%s', Keras '%s'", lg, lw);
    int rows = 0;
    while (true) {
        lg = strtok_r(NULL, "\n", &sg);
        lw = strtok_r(NULL, "\n", &sw);
        cr_assert_eq(lg == NULL, lw == NULL, "row %d: rnnc and Keras differ in row count", rows);
        if (!lg)
            break;
        rows++;
        char *pg = lg, *pw = lw, *eg, *ew;
        cr_assert_eq(strtol(pg, &eg, 10), strtol(pw, &ew, 10), "row %d: epoch", rows);
        while (*eg == ',' && *ew == ',') {
            double a = strtod(eg + 1, &eg), b = strtod(ew + 1, &ew);
            cr_assert(fabs(a - b) <= tol * fmax(1.0, fabs(b)), "row %d: rnnc %.9g, Keras %.9g", rows, a, b);
        }
        cr_assert(*eg == '\r' && *ew == '\r', "row %d: columns differ or no \\r\\n line end", rows);
    }
    free(g);
    free(w);
}

Test(fit_callbacks, early_stopping_checkpoint_csv_match_keras)
{
    char fit[1024];
    snprintf(fit, sizeof fit,
             "  epochs: 40\n  batch_size: 16\n%s  callbacks:\n"
             "    - EarlyStopping: {monitor: val_loss, min_delta: 0.008, patience: 1, restore_best_weights: true}\n"
             "    - class_name: ModelCheckpoint\n"
             "      config: {filepath: \"ck-{epoch:02d}-{val_loss:.3f}.weights.h5\", monitor: val_loss, save_best_only: true, save_weights_only: true}\n"
             "    - CSVLogger: {filename: log.csv}",
             VAL);
    write_spec("es.yaml", "reg", "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse}", fit,
               REG_DATA);
    rnnc_test_run r = train("es.yaml", FX "/reg_init.weights.h5", "out.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    /* stopping epoch: the rows of CSVLogger's file and of the history */
    char *csv = rnnc_test_slurp(tmp_path("log.csv"), NULL);
    cr_assert_not_null(csv);
    const rnnc_cfg *ecsv = exp_get("early", "csv");
    check_csv(csv, ecsv->v.s, 2e-6);
    cr_assert_eq(rnnc_test_count_lines(csv) - 1, (int)exp_get("early", "epochs_run")->v.i);
    free(csv);
    /* history.csv has CSVLogger's layout and the same values */
    char *hist = rnnc_test_slurp(tmp_path("es.history/history.csv"), NULL);
    cr_assert_not_null(hist);
    check_csv(hist, ecsv->v.s, 2e-6);
    free(hist);
    /* restored weights: those of the best epoch, as Keras restores them */
    cr_assert_lt(weights_diff(tmp_path("out.weights.h5"), exp_get("early", "weights")), 2e-5);
    /* ModelCheckpoint: Keras's file names, each with Keras's weights */
    const rnnc_cfg *ck = exp_get("early", "checkpoints");
    char names[4096], want[4096] = "";
    list_files(tmpdir, ".weights.h5", names, sizeof names);
    for (size_t i = 0; i < ck->n; i++) {
        strcat(want, ck->keys[i]);
        strcat(want, " ");
    }
    strcat(want, "out.weights.h5");
    cr_assert_str_eq(names, want);
    for (size_t i = 0; i < ck->n; i++)
        cr_assert_lt(weights_diff(tmp_path(ck->keys[i]), ck->items[i]), 2e-5, "%s", ck->keys[i]);
}

/* The learning_rate list of rnnc's history.json against Keras's History. */
static void check_learning_rates(const char *history_json, const char *scenario)
{
    rnnc_cfg *h;
    cr_assert_eq(rnnc_spec_read_file(tmp_path(history_json), &h), RNNC_OK, "%s", rnnc_last_error());
    const rnnc_cfg *lr = rnnc_cfg_peek(h, "learning_rate"),
                   *want = rnnc_cfg_peek(exp_get(scenario, "history"), "learning_rate");
    cr_assert_not_null(lr);
    cr_assert_eq(lr->n, want->n);
    for (size_t i = 0; i < lr->n; i++)
        cr_assert(fabs(num(lr->items[i]) - num(want->items[i])) <= 1e-7 * num(want->items[i]),
                  "epoch %zu: learning rate %.9g, Keras %.9g", i, num(lr->items[i]), num(want->items[i]));
    rnnc_cfg_destroy(h);
}

Test(fit_callbacks, reduce_lr_on_plateau_matches_keras)
{
    write_spec("rlr.yaml", "reg", "{optimizer: {class_name: SGD, config: {learning_rate: 0.05}}, loss: mse}",
               "  epochs: 12\n  batch_size: 16\n  history: hist\n  callbacks:\n"
               "    - {class_name: ReduceLROnPlateau, config: {monitor: loss, factor: 0.5, patience: 1, min_delta: 0.05, cooldown: 1, min_lr: 0.001}}",
               REG_DATA);
    rnnc_test_run r = train("rlr.yaml", FX "/reg_init.weights.h5", "out.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    check_learning_rates("hist/history.json", "plateau");
    cr_assert_lt(weights_diff(tmp_path("out.weights.h5"), exp_get("plateau", "weights")), 2e-5);
}

Test(fit_callbacks, class_weight_matches_keras)
{
    const char *compile = "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: sparse_categorical_crossentropy, metrics: [accuracy]}";
    const char *data = "{path: " FX "/data.h5, x: x, y: c}";
    write_spec("cw.yaml", "cls", compile, "  epochs: 3\n  batch_size: 16\n  class_weight: {0: 1.0, 1: 3.0, 2: 0.25}",
               data);
    write_spec("nocw.yaml", "cls", compile, "  epochs: 3\n  batch_size: 16", data);
    rnnc_test_run r = train("cw.yaml", FX "/cls_init.weights.h5", "cw.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    r = train("nocw.yaml", FX "/cls_init.weights.h5", "nocw.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    const double tol = 2e-5;
    cr_assert_lt(weights_diff(tmp_path("cw.weights.h5"), exp_get("class_weight", "weights")), tol);
    cr_assert_lt(weights_diff(tmp_path("nocw.weights.h5"), exp_get("no_class_weight", "weights")), tol);
    /* the weights differ by far more than the tolerance: class_weight acted */
    cr_assert_gt(files_diff(tmp_path("cw.weights.h5"), tmp_path("nocw.weights.h5")), 100 * tol);
}

Test(fit_callbacks, checkpoint_every_n_batches_matches_keras)
{
    write_spec("sf.yaml", "reg", "{optimizer: {class_name: SGD, config: {learning_rate: 0.05}}, loss: mse}",
               "  epochs: 2\n  batch_size: 16\n  callbacks:\n"
               "    - ModelCheckpoint: {filepath: \"sf/b{epoch:02d}-{batch}.weights.h5\", save_weights_only: true, save_freq: 2}",
               REG_DATA);
    rnnc_test_run r = train("sf.yaml", FX "/reg_init.weights.h5", "out.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    const rnnc_cfg *ck = exp_get("save_freq", "checkpoints");
    char names[4096], want[4096] = "";
    list_files(tmp_path("sf"), ".weights.h5", names, sizeof names);
    for (size_t i = 0; i < ck->n; i++) {
        if (i)
            strcat(want, " ");
        strcat(want, ck->keys[i]);
    }
    cr_assert_str_eq(names, want);
    for (size_t i = 0; i < ck->n; i++) {
        char p[300];
        snprintf(p, sizeof p, "sf/%s", ck->keys[i]);
        cr_assert_lt(weights_diff(tmp_path(p), ck->items[i]), 2e-5, "%s", ck->keys[i]);
    }
}

/* Runs a spec expected to fail; its stderr must hold each of the needles. */
static void expect_error(const char *fit, const char *const *needles)
{
    write_spec("bad.yaml", "reg", "{optimizer: sgd, loss: mse}", fit, REG_DATA);
    rnnc_test_run r = train("bad.yaml", FX "/reg_init.weights.h5", "out.weights.h5", NULL);
    cr_assert_neq(r.code, 0, "%s", fit);
    for (int i = 0; needles[i]; i++)
        cr_assert(strstr(r.err, needles[i]), "'%s' not in: %s", needles[i], r.err);
    cr_assert_eq(rnnc_test_count_lines(r.err), 1, "one line: %s", r.err);
    cr_assert_eq(access(tmp_path("out.weights.h5"), F_OK), -1, "nothing written");
    rnnc_test_run_free(&r);
}

Test(fit_callbacks, errors_name_the_cause)
{
    expect_error("  callbacks: [{EarlyStoping: {patience: 2}}]",
                 (const char *const[]){"unknown callback 'EarlyStoping'", "did you mean 'EarlyStopping'", NULL});
    expect_error("  callbacks: [{class_name: EarlyStopping, config: {patiense: 2}}]",
                 (const char *const[]){"patiense", "did you mean 'patience'", "bad.yaml:", NULL});
    expect_error("  callbacks: [{ReduceLROnPlateau: {mode: maxx}}]",
                 (const char *const[]){"'mode' must be auto, min or max", "did you mean 'max'", NULL});
    expect_error("  callbacks: [{ModelCheckpoint: {filepath: m.h5, save_weights_only: true}}]",
                 (const char *const[]){"must end in .weights.h5", NULL});
    expect_error("  callbacks: [{ModelCheckpoint: {filepath: \"m-{epoch:.x}.weights.h5\"}}]",
                 (const char *const[]){"format spec '.x'", NULL});
    expect_error("  callbacks: [{ModelCheckpoint: {filepath: \"m-{val_acc:.2f}.weights.h5\"}}]",
                 (const char *const[]){"names {val_acc}", "loss", NULL});
    expect_error("  callbacks: [{LearningRateScheduler: {schedule: 0.1}}]",
                 (const char *const[]){"schedule object", "Python function", NULL});
    expect_error("  callbacks: [{ModelCheckpoint: {filepath: \"a.weights.h5\", save_freq: epochs}}]",
                 (const char *const[]){"'save_freq' must be 'epoch'", NULL});
    expect_error("  class_weight: {a: 2}", (const char *const[]){"class index", NULL});
    expect_error("  callbacks: {EarlyStopping: {}}", (const char *const[]){"must be a list", NULL});
    expect_error("  validation_freqq: 2", (const char *const[]){"did you mean 'validation_freq'", NULL});
}

/* The values of one history.csv column, as text joined by ' ' ("nan" kept). */
static void csv_column(const char *file, int col, char *out, size_t cap)
{
    char *t = rnnc_test_slurp(file, NULL), *save;
    cr_assert_not_null(t, "%s", file);
    out[0] = '\0';
    strtok_r(t, "\r\n", &save);
    for (char *ln; (ln = strtok_r(NULL, "\r\n", &save));) {
        char *p = ln;
        for (int i = 0; i < col && p; i++)
            p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
        cr_assert_not_null(p);
        size_t n = strcspn(p, ",");
        if (out[0])
            strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, p, n < cap - strlen(out) - 1 ? n : cap - strlen(out) - 1);
    }
    free(t);
}

Test(fit_callbacks, validation_freq_initial_epoch_steps_per_epoch)
{
    /* 48 samples in batches of 16: 3 batches a pass; steps_per_epoch 2 gives
     * epochs of 2, 1, 2, 1 ... batches (the pass ends early). Epochs 3..6
     * (initial_epoch 2), validated after epochs 4 and 6 (validation_freq 2). */
    char fit[512];
    snprintf(fit, sizeof fit,
             "  epochs: 6\n  initial_epoch: 2\n  batch_size: 16\n  steps_per_epoch: 2\n  validation_freq: 2\n%s"
             "  callbacks: [TerminateOnNaN]",
             VAL);
    write_spec("vf.yaml", "reg", "{optimizer: {class_name: SGD, config: {learning_rate: 0.01}}, loss: mse}", fit,
               REG_DATA);
    const char *args[] = {"train", "vf.yaml", NULL};
    FILE *f = fopen(tmp_path("vf.yaml"), "a");
    fprintf(f, "checkpoint: {directory: ck}\n");
    fclose(f);
    const char *env[] = {NULL};
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, tmpdir, env, args);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    char col[256];
    csv_column(tmp_path("ck/history.csv"), 0, col, sizeof col);
    cr_assert_str_eq(col, "2 3 4 5");
    csv_column(tmp_path("ck/history.csv"), 2, col, sizeof col);
    char a[32], b[32], c[32], d[32];
    cr_assert_eq(sscanf(col, "%31s %31s %31s %31s", a, b, c, d), 4, "%s", col);
    cr_assert(strcmp(a, "nan") == 0 && strcmp(c, "nan") == 0, "no validation after epochs 3 and 5: %s", col);
    cr_assert(strtod(b, NULL) > 0 && strtod(d, NULL) > 0, "validation after epochs 4 and 6: %s", col);
    /* the optimizer took 2 + 1 + 2 + 1 steps (epoch 2, counted from 0, starts a pass) */
    size_t n;
    double *it = read_ds(tmp_path("ck/ckpt-000006.weights.h5"), "optimizer/vars/0", &n);
    cr_assert_eq(n, 1u);
    cr_assert_eq(it[0], 6.0, "iterations %g", it[0]);
    free(it);
}

Test(fit_callbacks, learning_rate_scheduler_schedule_object_matches_keras)
{
    write_spec("lrs.yaml", "reg", "{optimizer: {class_name: SGD, config: {learning_rate: 0.05}}, loss: mse}",
               "  epochs: 5\n  batch_size: 16\n  history: h\n  callbacks:\n"
               "    - LearningRateScheduler:\n        schedule: {class_name: ExponentialDecay, config: {initial_learning_rate: 0.1, decay_steps: 2, decay_rate: 0.5, staircase: true}}",
               REG_DATA);
    rnnc_test_run r = train("lrs.yaml", FX "/reg_init.weights.h5", "out.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    check_learning_rates("h/history.json", "scheduler");
    cr_assert_lt(weights_diff(tmp_path("out.weights.h5"), exp_get("scheduler", "weights")), 2e-5);
}

Test(fit_callbacks, backup_and_restore_continues_an_interrupted_run)
{
    const char *fit = "  epochs: 4\n  batch_size: 16\n  callbacks:\n"
                      "    - BackupAndRestore: {backup_dir: bk}";
    write_spec("br.yaml", "reg", "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse}", fit,
               REG_DATA);
    write_spec("plain.yaml", "reg", "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse}",
               "  epochs: 4\n  batch_size: 16", REG_DATA);
    rnnc_test_run r = train("plain.yaml", FX "/reg_init.weights.h5", "plain.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    /* SIGINT after the 7th batch (3 a pass): epochs 1 and 2 are backed up */
    const char *env[] = {"RNNC_TEST_RAISE=INT@7", NULL};
    r = train("br.yaml", FX "/reg_init.weights.h5", "br.weights.h5", env);
    cr_assert_eq(r.code, 130, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    char names[512];
    list_files(tmp_path("bk"), ".weights.h5", names, sizeof names);
    cr_assert_str_eq(names, "ckpt-000002.weights.h5", "the newest backup only: %s", names);
    /* the same command again continues from the backup (no --weights: the backup holds them) */
    const char *args[] = {"train", "br.yaml", "--save-weights", "br.weights.h5", NULL};
    r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, args);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "BackupAndRestore: continuing from"), "%s", r.out);
    rnnc_test_run_free(&r);
    cr_assert_eq(files_diff(tmp_path("br.weights.h5"), tmp_path("plain.weights.h5")), 0.0,
                 "the continued run ends where the uninterrupted one does");
    struct stat st;
    cr_assert_neq(stat(tmp_path("bk"), &st), 0, "delete_checkpoint: the backup folder is gone at the end");
}

Test(fit_callbacks, history_files_continue_on_resume)
{
    /* 2 epochs, then --resume to 4: the history files equal those of 4 epochs straight */
    const char *fit = "  epochs: 4\n  batch_size: 16\n  validation_split: 0.25";
    write_spec("straight.yaml", "reg", "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse}", fit,
               REG_DATA);
    write_spec("parts.yaml", "reg", "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse}", fit,
               REG_DATA);
    FILE *f = fopen(tmp_path("straight.yaml"), "a");
    fprintf(f, "checkpoint: {directory: ck_straight}\n");
    fclose(f);
    f = fopen(tmp_path("parts.yaml"), "a");
    fprintf(f, "checkpoint: {directory: ck_parts}\n");
    fclose(f);
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"train", "straight.yaml", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "History: ck_straight/history.csv"), "%s", r.out);
    rnnc_test_run_free(&r);
    r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"train", "parts.yaml", "--epochs", "2", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    char *two = rnnc_test_slurp(tmp_path("ck_parts/history.csv"), NULL);
    cr_assert_not_null(two);
    cr_assert_eq(rnnc_test_count_lines(two), 3, "header and 2 epochs: %s", two);
    free(two);
    r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL,
                              (const char *const[]){"train", "parts.yaml", "--resume", "ck_parts", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    const char *names[] = {"history.csv", "history.json"};
    for (int i = 0; i < 2; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "ck_straight/%s", names[i]);
        snprintf(b, sizeof b, "ck_parts/%s", names[i]);
        char *x = rnnc_test_slurp(tmp_path(a), NULL), *y = rnnc_test_slurp(tmp_path(b), NULL);
        cr_assert(x && y);
        cr_assert_str_eq(y, x, "%s after --resume", names[i]);
        free(x);
        free(y);
    }
    /* no temporary file is left beside them */
    char names_left[1024];
    list_files(tmp_path("ck_parts"), ".tmp", names_left, sizeof names_left);
    cr_assert_str_eq(names_left, "");
}

Test(fit_callbacks, model_checkpoint_writes_keras_archives_by_suffix)
{
    write_spec("mk.yaml", "reg", "{optimizer: {class_name: SGD, config: {learning_rate: 0.05}}, loss: mse}",
               "  epochs: 2\n  batch_size: 16\n  callbacks:\n"
               "    - ModelCheckpoint: {filepath: \"models/m-{epoch}-{loss:.2f}.keras\", monitor: loss}",
               REG_DATA);
    rnnc_test_run r = train("mk.yaml", FX "/reg_init.weights.h5", "out.weights.h5", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    /* Keras's names: epoch 1-based, loss to 2 places (the SGD run of the fixtures) */
    const rnnc_cfg *loss = rnnc_cfg_peek(exp_get("plateau", "history"), "loss");
    char want[256], names[512];
    snprintf(want, sizeof want, "m-1-%.2f.keras m-2-%.2f.keras", num(loss->items[0]), num(loss->items[1]));
    list_files(tmp_path("models"), ".keras", names, sizeof names);
    cr_assert_str_eq(names, want);
    /* each is a zip (PK\3\4) that `rnnc export` turns into the weights of that epoch; the last = the final weights */
    char last[300];
    snprintf(last, sizeof last, "models/m-2-%.2f.keras", num(loss->items[1]));
    char *z = rnnc_test_slurp(tmp_path(last), NULL);
    cr_assert(z && memcmp(z, "PK\3\4", 4) == 0);
    free(z);
    r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"export", last, "last.weights.h5", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    cr_assert_eq(files_diff(tmp_path("last.weights.h5"), tmp_path("out.weights.h5")), 0.0);
}
