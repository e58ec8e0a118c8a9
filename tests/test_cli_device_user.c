/* test_cli_device_user.c - `rnnc train|evaluate|predict --device cuda` used
 * as a Keras user uses it (issue 16), on the CPU backend's table standing in
 * for a GPU (RNNC_TEST_DEVICE_TABLE=cpu; no GPU here): the same spec run in
 * two folders, one on the CPU path and one on the device path, must leave
 * the same files (same names; every float dataset of every HDF5 file within
 * 1e-5, history.json and the CSV logs within 1e-4, the printed summary within
 * its last printed digit), and a spec the device path refuses must stop
 * with one line naming what, exit 1, and leave the folder as it was.
 *
 * Oracle: the CPU path of the same program (tested against Keras 3.15.1
 * elsewhere) and the file system's real state. Each case is a few epochs of
 * a few dozen samples: the rnnc runs are native under valgrind (the program
 * is not traced). Runs the rnnc program of this build. */
#define _GNU_SOURCE /* strdup, program_invocation_short_name */
#include <criterion/criterion.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/h5_make.h"
#include "helpers/program_dir.h"
#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char root[512];

static void make_root(void) { rnnc_test_own_dir(root, sizeof root, "cli_device_user"); }
static void remove_root(void) { rnnc_test_rm_tree(root); }

TestSuite(cli_device_user, .init = make_root, .fini = remove_root, .timeout = 300);

static const char *const on_table[] = {"RNNC_TEST_DEVICE_TABLE=cpu", NULL};

/* out = a/b; the test stops when it does not fit. */
static void path_join(char *out, size_t cap, const char *a, const char *b)
{
    int k = snprintf(out, cap, "%s/%s", a, b);
    cr_assert(k > 0 && (size_t)k < cap, "path too long: %s/%s", a, b);
}

/* root/<side>, created, with the spec written as spec.yaml. */
static void side_dir(char *dir, size_t cap, const char *side, const char *spec)
{
    path_join(dir, cap, root, side);
    mkdir(dir, 0777);
    rnnc_test_write_file(dir, "spec.yaml", spec, false);
}

/* args with "--device", "cuda" appended (args holds room for them). */
static rnnc_test_run run_side(const char *dir, bool device, const char **args)
{
    int n = 0;
    while (args[n])
        n++;
    if (device) {
        args[n] = "--device";
        args[n + 1] = "cuda";
        args[n + 2] = NULL;
    }
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, device ? on_table : NULL, args);
    args[n] = NULL;
    return r;
}

/* ---- comparing what the two paths leave -------------------------------- */

/* Regular files under dir (relative names, sorted, '\n'-separated) into buf. */
static void list_files(const char *dir, const char *rel, char *buf, size_t cap)
{
    char path[1024];
    if (*rel)
        path_join(path, sizeof path, dir, rel);
    else
        path_join(path, sizeof path, dir, ".");
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    cr_assert_geq(n, 0, "cannot list %s", path);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        char sub[1024], full[1200];
        if (*rel)
            path_join(sub, sizeof sub, rel, name);
        else if (strlen(name) < sizeof sub)
            strcpy(sub, name);
        path_join(full, sizeof full, dir, sub);
        struct stat st;
        if (name[0] != '.' && lstat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                list_files(dir, sub, buf, cap);
            else if (S_ISREG(st.st_mode) && strlen(buf) + strlen(sub) + 2 < cap)
                strcat(strcat(buf, sub), "\n");
        }
        free(ents[i]);
    }
    free(ents);
}

/* The two texts equal but for their numbers, each pair within
 * tol * max(1, |a|), or within one unit of a's last printed digit when
 * `printed`. Returns the first difference, or NULL. */
static const char *numbers_close(const char *a, const char *b, double tol, bool printed)
{
    static char why[512];
    while (*a && *b) {
        const bool na = (*a >= '0' && *a <= '9') || (*a == '-' && a[1] >= '0' && a[1] <= '9');
        const bool nb = (*b >= '0' && *b <= '9') || (*b == '-' && b[1] >= '0' && b[1] <= '9');
        if (na && nb) {
            char *ea, *eb;
            double x = strtod(a, &ea), y = strtod(b, &eb);
            double allow = tol * fmax(1.0, fabs(x));
            const char *dot = memchr(a, '.', (size_t)(ea - a));
            if (printed && dot && !memchr(a, 'e', (size_t)(ea - a)))
                allow = fmax(allow, 1.01 * pow(10.0, -(double)(ea - dot - 1)));
            if (!(fabs(x - y) <= allow)) {
                snprintf(why, sizeof why, "%.*s vs %.*s (allowed %g)", (int)(ea - a), a, (int)(eb - b), b, allow);
                return why;
            }
            a = ea;
            b = eb;
            continue;
        }
        if (*a != *b) {
            snprintf(why, sizeof why, "text differs at '%.40s' vs '%.40s'", a, b);
            return why;
        }
        a++;
        b++;
    }
    if (*a || *b) {
        snprintf(why, sizeof why, "one text ends early: '%.40s' vs '%.40s'", a, b);
        return why;
    }
    return NULL;
}

static void expect_text_files_close(const char *a, const char *b, double tol)
{
    char *ta = rnnc_test_slurp(a, NULL), *tb = rnnc_test_slurp(b, NULL);
    cr_assert(ta && tb, "cannot read %s or %s", a, b);
    const char *why = numbers_close(ta, tb, tol, false);
    cr_expect_null(why, "%s and %s: %s", a, b, why);
    free(ta);
    free(tb);
}

typedef struct {
    hid_t other;
    const char *a, *b;
    double worst;
    int compared, missing;
    char worst_name[256];
} h5cmp;

/* A float dataset's values as doubles (malloc'd), *n their count; NULL for
 * another type or a missing dataset. */
static double *read_doubles(hid_t f, const char *name, size_t *n)
{
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return NULL;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    double *v = NULL;
    if (H5Tget_class(t) == H5T_FLOAT) {
        hssize_t cnt = H5Sget_simple_extent_npoints(sp);
        *n = (size_t)cnt;
        v = malloc(((size_t)cnt + 1) * sizeof *v);
        if (v && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
            free(v);
            v = NULL;
        }
    }
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    return v;
}

static herr_t compare_dataset(hid_t obj, const char *name, const H5O_info_t *info, void *user)
{
    h5cmp *c = user;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    size_t na = 0, nb = 0;
    double *a = read_doubles(obj, name, &na);
    if (!a)
        return 0; /* not float: counters, strings */
    double *b = read_doubles(c->other, name, &nb);
    if (!b || na != nb) {
        c->missing++;
        cr_expect(0, "%s: %s has no float dataset %s of %zu values", c->a, c->b, name, na);
    } else {
        for (size_t i = 0; i < na; i++) {
            double d = isnan(a[i]) && isnan(b[i]) ? 0.0 : fabs(a[i] - b[i]);
            if (!(d <= c->worst)) {
                c->worst = isnan(d) ? INFINITY : d;
                snprintf(c->worst_name, sizeof c->worst_name, "%s[%zu]", name, i);
            }
        }
        c->compared++;
    }
    free(a);
    free(b);
    return 0;
}

/* Every float dataset of a within tol of b's; a and b hold the same number
 * of float datasets. */
static void expect_h5_close(const char *a, const char *b, double tol)
{
    hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT), fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(fa >= 0 && fb >= 0, "cannot open %s or %s", a, b);
    h5cmp ab = {fb, a, b, 0.0, 0, 0, ""}, ba = {fa, b, a, 0.0, 0, 0, ""};
    H5Ovisit(fa, H5_INDEX_NAME, H5_ITER_INC, compare_dataset, &ab);
    H5Ovisit(fb, H5_INDEX_NAME, H5_ITER_INC, compare_dataset, &ba);
    cr_expect_gt(ab.compared, 0, "%s: no float dataset", a);
    cr_expect_eq(ab.compared, ba.compared, "%s and %s hold different datasets", a, b);
    cr_expect(ab.worst <= tol, "%s vs %s: %s differs by %g (allowed %g)", a, b, ab.worst_name, ab.worst, tol);
    H5Fclose(fa);
    H5Fclose(fb);
}

/* The same files in both folders; the HDF5 files' floats within 1e-5, the
 * history and CSV files' numbers within 1e-4. Returns the number of files. */
static int expect_same_outputs(const char *cpu, const char *dev)
{
    char la[8192] = "", lb[8192] = "";
    list_files(cpu, "", la, sizeof la);
    list_files(dev, "", lb, sizeof lb);
    cr_assert_str_eq(lb, la, "the device path wrote other files than the CPU path");
    int n = 0;
    for (char *p = la, *e; *p; p = e + 1, n++) {
        e = strchr(p, '\n');
        *e = '\0';
        char pa[1200], pb[1200];
        path_join(pa, sizeof pa, cpu, p);
        path_join(pb, sizeof pb, dev, p);
        size_t len = strlen(p);
        if (len > 3 && strcmp(p + len - 3, ".h5") == 0)
            expect_h5_close(pa, pb, 1e-5);
        else if ((len > 5 && strcmp(p + len - 5, ".json") == 0) || (len > 4 && strcmp(p + len - 4, ".csv") == 0))
            expect_text_files_close(pa, pb, 1e-4);
    }
    return n;
}

/* Both runs succeeded and printed the same within the last printed digit;
 * frees them. */
static void expect_same_printout(rnnc_test_run *a, rnnc_test_run *b, const char *what)
{
    cr_assert_eq(a->code, 0, "%s on the CPU path: %s", what, a->err);
    cr_assert_eq(b->code, 0, "%s on the device path: %s", what, b->err);
    const char *why = numbers_close(a->out, b->out, 1e-4, true);
    cr_expect_null(why, "%s: %s\n%s---\n%s", what, why, a->out, b->out);
    rnnc_test_run_free(a);
    rnnc_test_run_free(b);
}

/* The program's summary from "Final epoch:" on, timings and file names
 * aside (they name the same relative files): the same within the last
 * printed digit. */
static void expect_same_summary(const char *cpu_out, const char *dev_out)
{
    const char *a = strstr(cpu_out, "Final epoch:"), *b = strstr(dev_out, "Final epoch:");
    cr_assert(a && b, "no summary:\n%s\n---\n%s", cpu_out, dev_out);
    const char *why = numbers_close(a, b, 1e-4, true);
    cr_expect_null(why, "summaries differ: %s\n%s\n---\n%s", why, a, b);
}

/* The per-epoch lines ("N/N - 0s - 12us/step - loss: ...") from " - loss"
 * on, within their last printed digit. */
static void expect_same_epoch_lines(const char *cpu_out, const char *dev_out)
{
    const char *a = cpu_out, *b = dev_out;
    int n = 0;
    while ((a = strstr(a, "/step - ")) && (b = strstr(b, "/step - "))) {
        a += 8;
        b += 8;
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        cr_assert(ea && eb);
        char *sa = strndup(a, (size_t)(ea - a)), *sb = strndup(b, (size_t)(eb - b));
        const char *why = numbers_close(sa, sb, 1e-4, true);
        cr_expect_null(why, "epoch line %d: %s\n  cpu: %s\n  dev: %s", n + 1, why, sa, sb);
        free(sa);
        free(sb);
        n++;
    }
    cr_expect_gt(n, 0, "no epoch lines in:\n%s", cpu_out);
    cr_expect(!a || strstr(a, "/step - ") == NULL, "the CPU path printed more epochs");
}

/* Trains spec on both paths (args after "train spec.yaml"), then checks
 * the exit codes, the printed epochs and summary, and every file. */
static void train_both(const char *spec, const char *const *extra, rnnc_test_run *out_cpu, rnnc_test_run *out_dev)
{
    char cpu[600], dev[600];
    side_dir(cpu, sizeof cpu, "cpu", spec);
    side_dir(dev, sizeof dev, "dev", spec);
    const char *args[24] = {"train", "spec.yaml"};
    int n = 2;
    for (; extra && *extra; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    rnnc_test_run a = run_side(cpu, false, args), b = run_side(dev, true, args);
    cr_assert_eq(a.code, 0, "CPU path: %s", a.err);
    cr_assert_eq(b.code, 0, "device path: %s", b.err);
    cr_expect_str_eq(b.err, a.err, "stderr differs");
    expect_same_epoch_lines(a.out, b.out);
    expect_same_summary(a.out, b.out);
    if (out_cpu)
        *out_cpu = a;
    else
        rnnc_test_run_free(&a);
    if (out_dev)
        *out_dev = b;
    else
        rnnc_test_run_free(&b);
}

/* ---- what a user trains ------------------------------------------------ */

/* Keras's callbacks on a regression: EarlyStopping stops (patience 2 on a
 * learning rate that overshoots: after epoch 3 of 6) and restores the best
 * weights (epoch 1's),
 * ReduceLROnPlateau lowers the rate every epoch (min_delta larger than any
 * change) so later epochs train with it, ModelCheckpoint writes a weights
 * file each epoch (with the optimizer's slots) and the best .keras, CSVLogger
 * logs; then evaluate and predict on the device. */
static const char callbacks_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    name: adding\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 8, 2]}}\n"
    "      - {class_name: GRU, config: {name: gru, units: 6}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.05}}\n"
    "  loss: mse\n"
    "  metrics: [mae, mse]\n"
    "fit:\n"
    "  epochs: 6\n"
    "  batch_size: 16\n"
    "  seed: 42\n"
    "  verbose: 2\n"
    "  history: hist\n"
    "  callbacks:\n"
    "    - EarlyStopping: {monitor: val_loss, patience: 2, restore_best_weights: true}\n"
    "    - ReduceLROnPlateau: {monitor: loss, factor: 0.5, patience: 0, min_delta: 10.0}\n"
    "    - ModelCheckpoint: {filepath: \"ck/w-{epoch:02d}.weights.h5\"}\n"
    "    - ModelCheckpoint: {filepath: \"ck/best.keras\", monitor: val_loss, save_best_only: true}\n"
    "    - CSVLogger: {filename: log.csv}\n"
    "data: {task: adding, timesteps: 8, samples: 48, validation_samples: 16, test_samples: 16, seed: 7}\n";

Test(cli_device_user, callbacks_write_the_cpu_paths_files)
{
    const char *extra[] = {"--save-weights", "w.weights.h5", NULL};
    rnnc_test_run a, b;
    train_both(callbacks_spec, extra, &a, &b);
    /* the callbacks did act: a lowered rate is logged, and the run stopped early */
    cr_expect(strstr(a.out, "learning_rate: 0.0250"), "%s", a.out);
    cr_expect(strstr(a.out, "Epoch 3/6") && !strstr(a.out, "Epoch 4/6"), "EarlyStopping did not stop:\n%s", a.out);
    rnnc_test_run_free(&a);
    rnnc_test_run_free(&b);
    char cpu[600], dev[600];
    path_join(cpu, sizeof cpu, root, "cpu");
    path_join(dev, sizeof dev, root, "dev");
    /* evaluate on each path, --batch-size other than the spec's */
    const char *ev[12] = {"evaluate", "spec.yaml", "--weights", "w.weights.h5", "--batch-size", "5", NULL};
    rnnc_test_run ea = run_side(cpu, false, ev), eb = run_side(dev, true, ev);
    expect_same_printout(&ea, &eb, "evaluate");
    /* predict from the saved best .keras */
    float x[4 * 8 * 2];
    for (int i = 0; i < 64; i++)
        x[i] = (float)((i * 37) % 11) / 11.0f;
    const rnnc_h5m_dataset xs = {"x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, {4, 8, 2}, x, false};
    char path[700];
    for (int side = 0; side < 2; side++) {
        path_join(path, sizeof path, side ? dev : cpu, "in.h5");
        cr_assert(rnnc_h5m_write(path, &xs, 1));
    }
    const char *pr[14] = {"predict", "--model", "ck/best.keras", "--input", "in.h5", "--output", "p.h5", NULL};
    rnnc_test_run pa = run_side(cpu, false, pr), pb = run_side(dev, true, pr);
    cr_assert_eq(pa.code, 0, "%s", pa.err);
    cr_assert_eq(pb.code, 0, "%s", pb.err);
    rnnc_test_run_free(&pa);
    rnnc_test_run_free(&pb);
    int n = expect_same_outputs(cpu, dev);
    cr_expect_geq(n, 10, "spec, in.h5, p.h5, weights, best.keras, 2+ epoch files, log.csv, history x2: %d files", n);
}

/* A classification with everything a masked model brings: Masking on
 * right-padded sequences, a GRU going backwards without reset_after into a
 * stacked GRU, a softmax, sparse labels, compile's "accuracy" (resolved to
 * sparse categorical accuracy) and a crossentropy metric, class_weight,
 * SGD with Nesterov momentum and a learning-rate schedule, no shuffle,
 * steps_per_epoch shorter than the data, initial_epoch. */
static const char varlen_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 10, 3]}}\n"
    "      - {class_name: Masking, config: {name: masking, mask_value: 0.0}}\n"
    "      - {class_name: GRU, config: {name: g1, units: 6, return_sequences: true, go_backwards: true, "
    "reset_after: false}}\n"
    "      - {class_name: GRU, config: {name: g2, units: 5, use_cudnn: false}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 3, activation: softmax}}\n"
    "compile:\n"
    "  optimizer:\n"
    "    class_name: SGD\n"
    "    config:\n"
    "      momentum: 0.9\n"
    "      nesterov: true\n"
    "      learning_rate: {class_name: ExponentialDecay, config: {initial_learning_rate: 0.1, decay_steps: 3, "
    "decay_rate: 0.5}}\n"
    "  loss: sparse_categorical_crossentropy\n"
    "  metrics: [accuracy, sparse_categorical_crossentropy]\n"
    "fit:\n"
    "  epochs: 4\n"
    "  initial_epoch: 1\n"
    "  steps_per_epoch: 3\n"
    "  batch_size: 12\n"
    "  shuffle: false\n"
    "  seed: 3\n"
    "  verbose: 2\n"
    "  class_weight: {0: 0.5, 2: 2.0}\n"
    "  history: hist\n"
    "data: {task: varlen, timesteps: 10, channels: 3, min_length: 3, samples: 48, validation_samples: 16, "
    "test_samples: 16, seed: 7}\n";

Test(cli_device_user, masked_classification_with_class_weight_and_schedule)
{
    const char *extra[] = {"--save-weights", "w.weights.h5", "--save-model", "m.keras", NULL};
    train_both(varlen_spec, extra, NULL, NULL);
    char cpu[600], dev[600];
    path_join(cpu, sizeof cpu, root, "cpu");
    path_join(dev, sizeof dev, root, "dev");
    cr_expect_eq(expect_same_outputs(cpu, dev), 5);
}

/* Characters: Embedding(mask_zero) into a Bidirectional GRU of sequences,
 * Dropout and a GRU with input dropout (their masks drawn as the CPU path
 * draws them), a Dense of logits, SparseCategoricalCrossentropy
 * from_logits, SGD; checkpoints every epoch, stopped by SIGINT inside the
 * second epoch and resumed with the command the program prints: it resumes
 * on the device, and ends where the uninterrupted CPU run ends. */
static const char chars_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 12], dtype: int32}}\n"
    "      - {class_name: Embedding, config: {name: emb, input_dim: 96, output_dim: 6, mask_zero: true}}\n"
    "      - class_name: Bidirectional\n"
    "        config: {name: bi, merge_mode: concat, layer: {class_name: GRU, config: {name: g, units: 4, "
    "return_sequences: true}}}\n"
    "      - {class_name: Dropout, config: {name: drop, rate: 0.25}}\n"
    "      - {class_name: GRU, config: {name: g2, units: 6, return_sequences: true, dropout: 0.2}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 96}}\n"
    "compile:\n"
    "  optimizer: {class_name: SGD, config: {learning_rate: 0.5}}\n"
    "  loss: {class_name: SparseCategoricalCrossentropy, config: {from_logits: true}}\n"
    "  metrics: [accuracy]\n"
    "fit: {epochs: 3, batch_size: 8, seed: 5, verbose: 2, history: hist}\n"
    "data: {task: chars, timesteps: 12, samples: 32, validation_samples: 8, test_samples: 8, seed: 7}\n"
    "checkpoint: {directory: ck, keep: 10}\n";

Test(cli_device_user, interrupted_device_run_resumes_on_the_device)
{
    const char *extra[] = {"--save-weights", "w.weights.h5", NULL};
    train_both(chars_spec, extra, NULL, NULL);
    char cpu[600], dev[600];
    path_join(cpu, sizeof cpu, root, "cpu");
    path_join(dev, sizeof dev, root, "dev");
    expect_same_outputs(cpu, dev);

    /* interrupted at the 6th batch (epoch 2, batch 2) on the device */
    char again[600];
    side_dir(again, sizeof again, "again", chars_spec);
    const char *env[] = {"RNNC_TEST_DEVICE_TABLE=cpu", "RNNC_TEST_RAISE=INT@6", NULL};
    const char *args[] = {"train", "spec.yaml", "--save-weights", "w.weights.h5", "--device", "cuda", NULL};
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, again, env, args);
    cr_assert_eq(r.code, 130, "exit %d: %s", r.code, r.err);
    const char *hint = strstr(r.err, "resume with: ");
    cr_assert(hint, "%s", r.err);
    /* the printed command resumes where the run was: on the device */
    cr_expect(strstr(hint, " --device cuda"), "the resume command drops --device cuda: %s", r.err);
    rnnc_test_run_free(&r);
    const char *resume[] = {"train", "spec.yaml", "--resume", "ck/ckpt-000001-batch000002.weights.h5",
                            "--save-weights", "w.weights.h5", "--device", "cuda", NULL};
    r = rnnc_test_run_program(RNNC_BIN, again, on_table, resume);
    cr_assert_eq(r.code, 0, "%s", r.err);
    rnnc_test_run_free(&r);
    char pa[700], pb[700];
    path_join(pa, sizeof pa, cpu, "w.weights.h5");
    path_join(pb, sizeof pb, again, "w.weights.h5");
    expect_h5_close(pa, pb, 1e-5);
    path_join(pa, sizeof pa, cpu, "hist/history.json");
    path_join(pb, sizeof pb, again, "hist/history.json");
    expect_text_files_close(pa, pb, 1e-4);
}

/* ---- what the device path refuses -------------------------------------- */

static const char refuse_head[] = "model:\n"
                                  "  class_name: Sequential\n"
                                  "  config:\n"
                                  "    layers:\n"
                                  "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n";
#define FIT1 "fit: {epochs: 1, batch_size: 8, history: hist}\n"
static const char refuse_tail[] = "data: {task: adding, timesteps: 6, samples: 16, validation_samples: 8, "
                                  "test_samples: 8, seed: 7}\n"
                                  "checkpoint: {directory: ck}\n";

/* Trains spec (head, middle: layers, compile and fit, then tail: data and
 * checkpoint; files: data files already in the folder, '\n'-separated)
 * with --device cuda: one line holding want, exit 1, nothing printed, the
 * folder as it was (no checkpoint folder either); the CPU path trains it. */
static void expect_refused_in(const char *name, const char *middle, const char *tail, const char *files,
                              void (*add_data)(const char *dir), const char *want)
{
    char spec[4096], dir[600];
    snprintf(spec, sizeof spec, "%s%s%s", refuse_head, middle, tail);
    side_dir(dir, sizeof dir, name, spec);
    if (add_data)
        add_data(dir);
    const char *args[12] = {"train", "spec.yaml", "--save-weights", "w.weights.h5", "--save-model", "m.keras", NULL};
    rnnc_test_run r = run_side(dir, true, args);
    cr_expect_eq(r.code, 1, "%s: exit %d: %s", name, r.code, r.err);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "%s: stderr: %s", name, r.err);
    cr_expect(strstr(r.err, "rnnc train: --device cuda: ") == r.err, "%s: %s", name, r.err);
    cr_expect(strstr(r.err, want), "%s: '%s' not in: %s", name, want, r.err);
    cr_expect_str_empty(r.out, "%s: stdout: %s", name, r.out);
    rnnc_test_run_free(&r);
    char left[1024] = "", ck[700];
    list_files(dir, "", left, sizeof left);
    cr_expect_str_eq(left, files, "%s: the refused run left files", name);
    path_join(ck, sizeof ck, dir, "ck");
    cr_expect_neq(access(ck, F_OK), 0, "%s: the refused run made the checkpoint folder", name);
    r = run_side(dir, false, args);
    cr_expect_eq(r.code, 0, "%s: the CPU path refuses it too: %s", name, r.err);
    rnnc_test_run_free(&r);
}

static void expect_refused(const char *name, const char *middle, const char *want)
{
    expect_refused_in(name, middle, refuse_tail, "spec.yaml\n", NULL, want);
}

Test(cli_device_user, refusals_are_one_line_before_anything_is_written)
{
    expect_refused("recdrop",
                   "      - {class_name: GRU, config: {name: g, units: 4, recurrent_dropout: 0.2}}\n"
                   "      - {class_name: Dense, config: {name: d, units: 1}}\n"
                   "compile: {optimizer: adam, loss: mse}\n" FIT1,
                   "layer 'g' (GRU): recurrent_dropout 0.2 has no device implementation");
    expect_refused("regularizer",
                   "      - {class_name: GRU, config: {name: g, units: 4}}\n"
                   "      - {class_name: Dense, config: {name: d, units: 1, kernel_regularizer: "
                   "{class_name: L2, config: {l2: 0.01}}}}\n"
                   "compile: {optimizer: adam, loss: mse}\n" FIT1,
                   "layer 'd' (Dense): kernel_regularizer has no device implementation");
    expect_refused("masking_inside",
                   "      - {class_name: Dense, config: {name: d0, units: 2}}\n"
                   "      - {class_name: Masking, config: {name: mk}}\n"
                   "      - {class_name: GRU, config: {name: g, units: 4}}\n"
                   "      - {class_name: Dense, config: {name: d, units: 1}}\n"
                   "compile: {optimizer: sgd, loss: mse}\n" FIT1,
                   "layer 'mk' (Masking): runs on a device only directly on the model input");
    expect_refused("mae",
                   "      - {class_name: GRU, config: {name: g, units: 4}}\n"
                   "      - {class_name: Dense, config: {name: d, units: 1}}\n"
                   "compile: {optimizer: adam, loss: mae}\n" FIT1,
                   "compile.loss: 'mae' has no device implementation");
    expect_refused("rmsprop",
                   "      - {class_name: GRU, config: {name: g, units: 4}}\n"
                   "      - {class_name: Dense, config: {name: d, units: 1}}\n"
                   "compile: {optimizer: rmsprop, loss: mse}\n" FIT1,
                   "compile.optimizer: RMSprop ('rm_sprop') has no device implementation");
    expect_refused("sgd_decay",
                   "      - {class_name: GRU, config: {name: g, units: 4}}\n"
                   "      - {class_name: Dense, config: {name: d, units: 1}}\n"
                   "compile: {optimizer: {class_name: SGD, config: {weight_decay: 0.01}}, loss: mse}\n" FIT1,
                   "compile.optimizer: 'sgd': weight_decay has no device implementation");
    expect_refused("backup_freq",
                   "      - {class_name: GRU, config: {name: g, units: 4}}\n"
                   "      - {class_name: Dense, config: {name: d, units: 1}}\n"
                   "compile: {optimizer: adam, loss: mse}\n"
                   "fit: {epochs: 1, batch_size: 8, history: hist, callbacks: [{BackupAndRestore: "
                   "{backup_dir: bk, save_freq: 1}}]}\n",
                   "fit.callbacks: save_freq 1");
}

/* ---- the spec's device: key -------------------------------------------- */

/* A spec saying `device: cuda` trains and evaluates on the device without
 * the option (the same numbers as the CPU path with --device cpu, which
 * wins over the key), and `rnnc inspect` shows the key among the training
 * settings. */
Test(cli_device_user, spec_device_key_is_used_and_shown)
{
    char spec[4096], dir[600];
    snprintf(spec, sizeof spec, "%s%s%s%s", refuse_head,
             "      - {class_name: GRU, config: {name: g, units: 4}}\n"
             "      - {class_name: Dense, config: {name: d, units: 1}}\n"
             "compile: {optimizer: adam, loss: mse, metrics: [mae]}\n" FIT1,
             refuse_tail, "device: cuda\n");
    side_dir(dir, sizeof dir, "key", spec);
    const char *ins[] = {"inspect", "spec.yaml", NULL};
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, ins);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "\n  device            cuda\n"), "inspect does not show the device:\n%s", r.out);
    rnnc_test_run_free(&r);

    const char *cpu[] = {"train", "spec.yaml", "--save-weights", "a.weights.h5", "--device", "cpu", NULL};
    const char *dev[] = {"train", "spec.yaml", "--save-weights", "b.weights.h5", "--overwrite", NULL};
    rnnc_test_run a = rnnc_test_run_program(RNNC_BIN, dir, NULL, cpu);
    rnnc_test_run b = rnnc_test_run_program(RNNC_BIN, dir, on_table, dev);
    cr_assert_eq(a.code, 0, "%s", a.err);
    cr_assert_eq(b.code, 0, "%s", b.err);
    expect_same_epoch_lines(a.out, b.out);
    char pa[700], pb[700];
    path_join(pa, sizeof pa, dir, "a.weights.h5");
    path_join(pb, sizeof pb, dir, "b.weights.h5");
    expect_h5_close(pa, pb, 1e-5);
    rnnc_test_run_free(&a);
    rnnc_test_run_free(&b);
    /* evaluate on the key's device */
    const char *ev[] = {"evaluate", "spec.yaml", "--weights", "a.weights.h5", NULL};
    const char *ev_cpu[] = {"evaluate", "spec.yaml", "--weights", "a.weights.h5", "--device", "cpu", NULL};
    a = rnnc_test_run_program(RNNC_BIN, dir, NULL, ev_cpu);
    b = rnnc_test_run_program(RNNC_BIN, dir, on_table, ev);
    expect_same_printout(&a, &b, "evaluate");
}

/* x (16, 6, 2) and y (16,) in train.h5: a regression (or binary) target
 * of one value per sample as a vector, which Keras pairs with a (N, 1)
 * output. */
static void vector_targets(const char *dir)
{
    float x[16 * 6 * 2], y[16];
    for (int i = 0; i < 16 * 6 * 2; i++)
        x[i] = (float)((i * 37) % 11) / 11.0f;
    for (int i = 0; i < 16; i++)
        y[i] = (float)(i % 2);
    const rnnc_h5m_dataset ds[] = {{"x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, {16, 6, 2}, x, false},
                                   {"y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, {16}, y, false}};
    char path[700];
    path_join(path, sizeof path, dir, "train.h5");
    cr_assert(rnnc_h5m_write(path, ds, 2));
}

/* y (N,) for a (N, 1) output, which Keras and the CPU path expand to
 * (N, 1): the device path trains and evaluates it as the CPU path (it was
 * refused before: "on the device y must have y_pred's shape"). */
static const char vector_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n"
    "      - {class_name: GRU, config: {name: g, units: 4}}\n"
    "      - {class_name: Dense, config: {name: d, units: 1, activation: sigmoid}}\n"
    "compile: {optimizer: adam, loss: binary_crossentropy, metrics: [accuracy, mse]}\n"
    "fit: {epochs: 2, batch_size: 8, seed: 3, verbose: 2, history: hist}\n"
    "data: {path: train.h5, test: train.h5}\n";

/* root/cpu and root/dev, made (empty). */
static void make_sides(char *cpu, char *dev, size_t cap)
{
    path_join(cpu, cap, root, "cpu");
    path_join(dev, cap, root, "dev");
    mkdir(cpu, 0777);
    mkdir(dev, 0777);
}

/* Trains spec.yaml on both sides (--save-weights w.weights.h5), then
 * evaluates those weights on each: the same printout. */
static void train_and_evaluate_both(const char *spec, const char *cpu, const char *dev)
{
    const char *extra[] = {"--save-weights", "w.weights.h5", NULL};
    train_both(spec, extra, NULL, NULL);
    const char *ev[12] = {"evaluate", "spec.yaml", "--weights", "w.weights.h5", NULL};
    rnnc_test_run a = run_side(cpu, false, ev), b = run_side(dev, true, ev);
    expect_same_printout(&a, &b, "evaluate");
}

Test(cli_device_user, vector_targets_train_and_evaluate_as_the_cpu_path)
{
    char cpu[600], dev[600];
    make_sides(cpu, dev, sizeof cpu);
    vector_targets(cpu);
    vector_targets(dev);
    train_and_evaluate_both(vector_spec, cpu, dev);
    const int n = expect_same_outputs(cpu, dev);
    cr_expect_eq(n, 5, "%d files", n); /* spec, data, weights and the history */
}

/* ---- data from files ---------------------------------------------------- */

/* x (n, 6, 3), y (n, 2), sample_weight (n,) into dir/name, from a fixed
 * sequence of values. */
static void weighted_file(const char *dir, const char *name, int n, int salt)
{
    float x[40 * 6 * 3], y[40 * 2], sw[40];
    for (int i = 0; i < n * 18; i++)
        x[i] = (float)(((i + salt) * 37) % 23) / 23.0f - 0.5f;
    for (int i = 0; i < n * 2; i++)
        y[i] = (float)(((i + salt) * 11) % 7) / 7.0f;
    for (int i = 0; i < n; i++)
        sw[i] = (float)((i + salt) % 4) * 0.5f;
    const rnnc_h5m_dataset ds[] = {
        {"x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, {(hsize_t)n, 6, 3}, x, false},
        {"y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, {(hsize_t)n, 2}, y, false},
        {"sample_weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, {(hsize_t)n}, sw, false}};
    char path[700];
    path_join(path, sizeof path, dir, name);
    cr_assert(rnnc_h5m_write(path, ds, 3));
}

/* A regression on HDF5 files with sample weights: the training file
 * streamed in chunks, validation data of its own with its weights, the
 * loss reduced by the sum of the weights, a weighted metric beside plain
 * ones, AdamW with amsgrad and a piecewise-constant schedule. */
static const char files_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 3]}}\n"
    "      - {class_name: GRU, config: {name: g, units: 5, return_sequences: true}}\n"
    "      - {class_name: GRU, config: {name: g2, units: 4, reset_after: false}}\n"
    "      - {class_name: Dense, config: {name: d, units: 2, activation: tanh}}\n"
    "compile:\n"
    "  optimizer:\n"
    "    class_name: AdamW\n"
    "    config:\n"
    "      amsgrad: true\n"
    "      weight_decay: 0.05\n"
    "      learning_rate: {class_name: PiecewiseConstantDecay, config: {boundaries: [4, 8], values: [0.05, 0.02, "
    "0.01]}}\n"
    "  loss: {class_name: MeanSquaredError, config: {reduction: mean_with_sample_weight}}\n"
    "  metrics: [mae, mse]\n"
    "  weighted_metrics: [mae]\n"
    "fit:\n"
    "  epochs: 3\n"
    "  batch_size: 6\n"
    "  seed: 9\n"
    "  verbose: 2\n"
    "  history: hist\n"
    "  validation_data: {path: val.h5}\n"
    "data: {path: train.h5, test: val.h5, streaming: true, chunk_size: 4, shuffle_window: 3}\n";

Test(cli_device_user, streamed_files_with_sample_weights)
{
    char cpu[600], dev[600];
    make_sides(cpu, dev, sizeof cpu);
    for (int side = 0; side < 2; side++) {
        weighted_file(side ? dev : cpu, "train.h5", 30, 0);
        weighted_file(side ? dev : cpu, "val.h5", 10, 5);
    }
    train_and_evaluate_both(files_spec, cpu, dev);
    cr_expect_eq(expect_same_outputs(cpu, dev), 6);
}

/* A softmax output saturated from the start (kernel drawn with stddev 40:
 * probabilities below the crossentropy's 1e-7 clip): the loss and the
 * crossentropy metric come from the logits on both paths, so the device
 * trains as the CPU path (they differed by several units per epoch while
 * the device took the clipped probabilities). */
static const char saturated_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 10, 3]}}\n"
    "      - {class_name: Masking, config: {name: masking}}\n"
    "      - {class_name: GRU, config: {name: gru, units: 8}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 3, activation: softmax, kernel_initializer: "
    "{class_name: RandomNormal, config: {stddev: 40.0, seed: 1}}}}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}\n"
    "  loss: sparse_categorical_crossentropy\n"
    "  metrics: [accuracy, sparse_categorical_crossentropy]\n"
    "fit: {epochs: 3, batch_size: 16, seed: 42, verbose: 2, history: hist}\n"
    "data: {task: varlen, timesteps: 10, channels: 3, min_length: 3, samples: 80, validation_samples: 24, "
    "test_samples: 20, seed: 7}\n";

Test(cli_device_user, saturated_softmax_trains_from_the_logits)
{
    const char *extra[] = {"--save-weights", "w.weights.h5", NULL};
    rnnc_test_run a;
    train_both(saturated_spec, extra, &a, NULL);
    /* saturated indeed: the first epoch's loss is far above a fitted one */
    const char *l = strstr(a.out, " - loss: ");
    cr_assert(l, "%s", a.out);
    cr_expect_gt(strtod(l + 9, NULL), 3.0, "%s", a.out);
    rnnc_test_run_free(&a);
    char cpu[600], dev[600];
    path_join(cpu, sizeof cpu, root, "cpu");
    path_join(dev, sizeof dev, root, "dev");
    cr_expect_eq(expect_same_outputs(cpu, dev), 4);
}

/* ---- the check before training leaves the dropout streams as they were -- */

/* A recurrent layer with input dropout; validation data that is never
 * used (validation_freq past the last epoch) or none at all: the first
 * batches checked before training (each split's; on the device path the
 * check runs twice) must not move the layer's dropout stream, so both
 * runs end with the same weights, bit for bit. Each of
 * GRU, LSTM and SimpleRNN (an LSTM's and a SimpleRNN's stream moved: the
 * check saved only GRU cells' and Dropout layers'). */
/* dir/name: a recurrent `layer` with input dropout 0.3 on the sine task,
 * `epochs` epochs, `validation` validation samples (never used: validation
 * every 100 epochs), `tail` appended (a checkpoint section, or ""). */
static void write_dropout_spec(const char *dir, const char *name, const char *layer, int epochs, int validation,
                               const char *tail)
{
    char text[2048];
    snprintf(text, sizeof text,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    layers:\n"
             "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 1]}}\n"
             "      - {class_name: %s, config: {name: r, units: 4, dropout: 0.3}}\n"
             "      - {class_name: Dense, config: {name: d, units: 2}}\n"
             "compile: {optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse}\n"
             "fit: {epochs: %d, batch_size: 8, seed: 3, verbose: 0, validation_freq: 100, history: h_%s}\n"
             "data: {task: sine, timesteps: 6, horizon: 2, samples: 24, validation_samples: %d, test_samples: 8, "
             "seed: 7}\n%s",
             layer, epochs, name, validation, tail);
    rnnc_test_write_file(dir, name, text, false);
}

Test(cli_device_user, check_before_training_keeps_dropout_streams)
{
    const char *layers[] = {"GRU", "LSTM", "SimpleRNN"};
    char dir[600];
    path_join(dir, sizeof dir, root, "streams");
    mkdir(dir, 0777);
    for (int i = 0; i < 3; i++) {
        char a[64], b[64], wa[80], wb[80];
        snprintf(a, sizeof a, "%s_none.yaml", layers[i]);
        snprintf(b, sizeof b, "%s_val.yaml", layers[i]);
        snprintf(wa, sizeof wa, "%s_none.weights.h5", layers[i]);
        snprintf(wb, sizeof wb, "%s_val.weights.h5", layers[i]);
        write_dropout_spec(dir, a, layers[i], 2, 0, "");
        write_dropout_spec(dir, b, layers[i], 2, 8, "");
        const char *ra[] = {"train", a, "--save-weights", wa, NULL};
        const char *rb[] = {"train", b, "--save-weights", wb, NULL};
        rnnc_test_run x = rnnc_test_run_program(RNNC_BIN, dir, NULL, ra);
        rnnc_test_run y = rnnc_test_run_program(RNNC_BIN, dir, NULL, rb);
        cr_assert_eq(x.code, 0, "%s: %s", layers[i], x.err);
        cr_assert_eq(y.code, 0, "%s: %s", layers[i], y.err);
        rnnc_test_run_free(&x);
        rnnc_test_run_free(&y);
        char pa[700], pb[700];
        path_join(pa, sizeof pa, dir, wa);
        path_join(pb, sizeof pb, dir, wb);
        expect_h5_close(pa, pb, 0.0);
    }
}

/* LSTMs on a device: masked, stacked, the first going backwards with
 * input dropout (its masks drawn from the cell's stream as the CPU path
 * draws them; the check before training leaves that stream alone on both
 * paths), validation every epoch. */
static const char lstm_spec[] =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 10, 3]}}\n"
    "      - {class_name: Masking, config: {name: masking}}\n"
    "      - {class_name: LSTM, config: {name: l1, units: 5, return_sequences: true, go_backwards: true, "
    "dropout: 0.2}}\n"
    "      - {class_name: LSTM, config: {name: l2, units: 4, unit_forget_bias: false}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 3, activation: softmax}}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.02}}\n"
    "  loss: sparse_categorical_crossentropy\n"
    "  metrics: [accuracy]\n"
    "fit: {epochs: 3, batch_size: 16, seed: 4, verbose: 2, history: hist}\n"
    "data: {task: varlen, timesteps: 10, channels: 3, min_length: 3, samples: 48, validation_samples: 16, "
    "test_samples: 16, seed: 7}\n";

Test(cli_device_user, masked_lstms_with_dropout)
{
    const char *extra[] = {"--save-weights", "w.weights.h5", NULL};
    train_both(lstm_spec, extra, NULL, NULL);
    char cpu[600], dev[600];
    path_join(cpu, sizeof cpu, root, "cpu");
    path_join(dev, sizeof dev, root, "dev");
    cr_expect_eq(expect_same_outputs(cpu, dev), 4);
}

/* Checkpoints hold every dropout stream: an LSTM's and a SimpleRNN's with
 * input dropout, 2 epochs and a resume to 4 end bit for bit as 4 straight
 * (they went on from wherever the stream stood: checkpoints held only GRU
 * cells' and Dropout layers' streams); the LSTM also on the device path. */
Test(cli_device_user, resume_keeps_lstm_and_simple_rnn_dropout_streams)
{
    const char *layers[] = {"LSTM", "SimpleRNN", "LSTM"};
    char dir[600];
    path_join(dir, sizeof dir, root, "resume");
    mkdir(dir, 0777);
    for (int i = 0; i < 3; i++) {
        const bool device = i == 2;
        char a[64], b[64], wa[80], wb[80], ck[80];
        snprintf(a, sizeof a, "%s%d_a.yaml", layers[i], i);
        snprintf(b, sizeof b, "%s%d_b.yaml", layers[i], i);
        snprintf(wa, sizeof wa, "%s%d_a.weights.h5", layers[i], i);
        snprintf(wb, sizeof wb, "%s%d_b.weights.h5", layers[i], i);
        snprintf(ck, sizeof ck, "ck_%s", b);
        char ck_a[120], ck_b[120];
        snprintf(ck_a, sizeof ck_a, "checkpoint: {directory: ck_%s, keep: 5}\n", a);
        snprintf(ck_b, sizeof ck_b, "checkpoint: {directory: %s, keep: 5}\n", ck);
        write_dropout_spec(dir, a, layers[i], 4, 8, ck_a);
        write_dropout_spec(dir, b, layers[i], 4, 8, ck_b);
        const char *straight[12] = {"train", a, "--save-weights", wa, NULL};
        const char *first[12] = {"train", b, "--epochs", "2", NULL};
        const char *again[12] = {"train", b, "--resume", ck, "--save-weights", wb, NULL};
        const char *const *steps[] = {straight, first, again};
        for (int k = 0; k < 3; k++) {
            rnnc_test_run r = run_side(dir, device, (const char **)steps[k]);
            cr_assert_eq(r.code, 0, "%s step %d: %s", layers[i], k, r.err);
            rnnc_test_run_free(&r);
        }
        char pa[700], pb[700];
        path_join(pa, sizeof pa, dir, wa);
        path_join(pb, sizeof pb, dir, wb);
        expect_h5_close(pa, pb, 0.0);
    }
}
