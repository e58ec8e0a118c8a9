/* test_train_signals.c - `rnnc train` and its checkpoints, run as a user
 * runs it: the checkpoint directory belongs to one run (a new run refuses
 * an earlier run's files, --overwrite deletes them, the printed checkpoint
 * exists), --resume with a changed spec says what differs, and SIGINT /
 * SIGTERM stop with a checkpoint from which --resume continues bit for bit,
 * also inside an epoch.
 *
 * Oracles: the file system's real state, an uninterrupted run of the same
 * spec (every dataset of the weights files compared byte for byte with
 * HDF5), the numbers written in the specs, and real signals (sent with
 * kill() while the program trains, or raised at a fixed batch through the
 * RNNC_TEST_RAISE hook of apps/interrupt.h). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "framework/model.h"
#include "helpers/fixture.h"
#include "helpers/run_program.h"
#include "io/checkpoint.h"
#include "io/spec_reader.h"
#include "layers/dense.h"
#include "optim/trainer.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_sig_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(train_signals, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 600);

static const char *tmp_path(const char *name)
{
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* The file's text ("" when it cannot be read), malloc'd. */
static char *slurp(const char *path)
{
    char *s = rnnc_test_slurp(path, NULL);
    return s ? s : strdup("");
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

typedef struct run_result {
    bool exited;   /* exited (exit or _exit), not killed by a signal */
    int code;      /* exit code, or the signal that killed it */
    char *out, *err;
} run_result;

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Starts build/rnnc ARGS... in the temporary folder with stdout / stderr
 * into files; env_raise (may be NULL) becomes RNNC_TEST_RAISE. */
static pid_t start(const char *env_raise, const char *const *args)
{
    char outp[400], errp[400];
    snprintf(outp, sizeof outp, "%s/.stdout", tmpdir);
    snprintf(errp, sizeof errp, "%s/.stderr", tmpdir);
    unlink(outp); /* so that nobody reads an earlier run's output */
    unlink(errp);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        if (chdir(tmpdir) != 0)
            _exit(126);
        if (env_raise)
            setenv("RNNC_TEST_RAISE", env_raise, 1);
        else
            unsetenv("RNNC_TEST_RAISE");
        const char *argv[64] = {RNNC_BIN};
        int n = 1;
        for (int i = 0; args[i] && n < 63; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(RNNC_BIN, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static run_result finish(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    run_result r;
    r.exited = WIFEXITED(status);
    r.code = r.exited ? WEXITSTATUS(status) : WTERMSIG(status);
    r.out = slurp(tmp_path(".stdout"));
    r.err = slurp(tmp_path(".stderr"));
    return r;
}

#define RUN_ENV(env, ...) finish(start(env, (const char *const[]){__VA_ARGS__, NULL}))
#define RUN(...) RUN_ENV(NULL, __VA_ARGS__)

/* Exit code `code` (by exit, not by a signal), one line on stderr holding every fragment. */
static void expect_error(const run_result *r, int code, ...)
{
    cr_expect(r->exited, "killed by signal %d; stderr: %s", r->code, r->err);
    cr_expect_eq(r->code, code, "exit code %d, expected %d; stderr: %s", r->code, code, r->err);
    cr_expect_eq(rnnc_test_count_lines(r->err), 1, "stderr must be one line, got:\n%s", r->err);
    va_list ap;
    va_start(ap, code);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        cr_expect(strstr(r->err, frag) != NULL, "stderr lacks '%s':\n%s", frag, r->err);
    va_end(ap);
}

static void expect_ok(const run_result *r)
{
    cr_assert(r->exited && r->code == 0, "exit %s %d\nstdout:\n%s\nstderr:\n%s", r->exited ? "code" : "signal",
              r->code, r->out, r->err);
}

/* A small spec: 96 training samples in batches of 16 (6 batches an epoch),
 * dropout (a random stream), shuffling, validation, Adam, a metric. */
static const char *spec_text =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 10, 2]}}\n"
    "      - {class_name: GRU, config: {units: %d, dropout: 0.2}}\n"
    "      - {class_name: Dense, config: {units: 1}}\n"
    "compile: {optimizer: {class_name: %s, config: {learning_rate: %s}}, loss: mse, metrics: [mae]}\n"
    "fit: {epochs: %d, batch_size: %d, shuffle: true, seed: 9, verbose: 2}\n"
    "data: {task: adding, timesteps: 10, samples: %d, validation_samples: 16, test_samples: 16}\n"
    "%s";

typedef struct spec_opts {
    int units, epochs, batch_size, samples, keep;
    const char *optimizer, *lr, *dir; /* dir NULL: no checkpoint section */
} spec_opts;

static spec_opts defaults(const char *dir)
{
    return (spec_opts){.units = 6, .epochs = 4, .batch_size = 16, .samples = 96, .keep = 10,
                       .optimizer = "Adam", .lr = "0.01", .dir = dir};
}

static void write_spec(const char *name, spec_opts o)
{
    char ck[600] = "", text[4096];
    if (o.dir)
        snprintf(ck, sizeof ck, "checkpoint: {directory: %s, every: 1, keep: %d}\n", o.dir, o.keep);
    snprintf(text, sizeof text, spec_text, o.units, o.optimizer, o.lr, o.epochs, o.batch_size, o.samples, ck);
    write_file(tmp_path(name), text);
}

/* ---- comparing HDF5 files ---- */

typedef struct visit_ctx {
    hid_t other;
    const char *a, *b;
    int compared;
    const char *skip; /* a path prefix left out, or NULL */
} visit_ctx;

static void *read_raw(hid_t f, const char *name, size_t *bytes, hid_t *type_out)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    hid_t nt = H5Tget_native_type(t, H5T_DIR_ASCEND);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    size_t es = H5Tget_size(nt);
    *bytes = (size_t)n * es;
    void *buf = calloc(*bytes ? *bytes : 1, 1);
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0) {
        /* Variable-length strings: compare the text. */
        char *s = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s);
        free(buf);
        buf = strdup(s ? s : "");
        *bytes = strlen(buf);
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, &s);
        H5Tclose(mt);
    } else {
        H5Dread(d, nt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }
    *type_out = H5Tget_class(t);
    H5Tclose(nt);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    return buf;
}

static herr_t compare_one(hid_t obj, const char *name, const H5O_info_t *info, void *user)
{
    visit_ctx *c = user;
    (void)obj;
    if (info->type != H5O_TYPE_DATASET || (c->skip && strncmp(name, c->skip, strlen(c->skip)) == 0))
        return 0;
    size_t na = 0, nb = 0;
    hid_t ta = -1, tb = -1;
    void *a = read_raw(obj, name, &na, &ta);
    void *b = read_raw(c->other, name, &nb, &tb);
    cr_expect(a && b, "dataset %s missing in %s", name, b ? c->a : c->b);
    if (a && b) {
        cr_expect(na == nb && memcmp(a, b, na) == 0, "%s differs between %s and %s", name, c->a, c->b);
        c->compared++;
    }
    free(a);
    free(b);
    return 0;
}

static int count_datasets(hid_t f, const char *skip)
{
    visit_ctx c = {f, "", "", 0, skip};
    H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, compare_one, &c);
    return c.compared;
}

/* Every dataset of a and b (outside `skip`) equal byte for byte; the two
 * files hold the same datasets. */
static void expect_same_h5(const char *a, const char *b, const char *skip)
{
    hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT), fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(fa >= 0 && fb >= 0, "cannot open %s or %s", a, b);
    visit_ctx c = {fb, a, b, 0, skip};
    H5Ovisit(fa, H5_INDEX_NAME, H5_ITER_INC, compare_one, &c);
    cr_expect_gt(c.compared, 5, "only %d datasets compared", c.compared);
    cr_expect_eq(count_datasets(fb, skip), c.compared, "%s holds other datasets than %s", b, a);
    H5Fclose(fa);
    H5Fclose(fb);
}

/* A float32 scalar dataset. */
static float read_f32(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(f >= 0, "%s", path);
    float v = NAN;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(d >= 0, "%s in %s", name, path);
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

/* Names in a folder that start with prefix, sorted, joined by spaces. */
static void list_dir(const char *dir, char *buf, size_t cap)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            size_t at = strlen(buf);
            snprintf(buf + at, cap - at, "%s%s", at ? " " : "", names[i]->d_name);
        }
        free(names[i]);
    }
    if (n >= 0)
        free(names);
}

/* The "Checkpoint: PATH" line's path (relative to the temporary folder). */
static void checkpoint_line(const char *out, char *buf, size_t cap)
{
    const char *at = strstr(out, "Checkpoint: ");
    cr_assert_not_null(at, "no Checkpoint line in:\n%s", out);
    at += strlen("Checkpoint: ");
    size_t n = strcspn(at, "\n");
    snprintf(buf, cap, "%s/%.*s", tmpdir, (int)n, at);
}

/* ---- the checkpoint directory belongs to one run ---- */

Test(train_signals, a_new_run_never_deletes_an_earlier_runs_checkpoints)
{
    /* The reported case: a folder with epochs 198-200 of an older run. */
    write_spec("old.yaml", defaults("ck"));
    run_result r = RUN("train", "old.yaml");
    expect_ok(&r);
    run_free(&r);
    for (int e = 1; e <= 3; e++) {
        char from[64], to[64];
        snprintf(from, sizeof from, "ck/ckpt-%06d.weights.h5", e);
        snprintf(to, sizeof to, "ck/ckpt-%06d.weights.h5", 197 + e);
        cr_assert_eq(rename(tmp_path(from), tmp_path(to)), 0);
    }
    cr_assert_eq(unlink(tmp_path("ck/ckpt-000004.weights.h5")), 0);
    char *before = slurp(tmp_path("ck/ckpt-000200.weights.h5"));
    char listing[2048], after_listing[2048];
    list_dir(tmp_path("ck"), listing, sizeof listing);

    spec_opts o = defaults("ck");
    o.keep = 3;
    write_spec("new.yaml", o);
    r = RUN("train", "new.yaml");
    expect_error(&r, 1, "'ck'", "3 checkpoints", "ckpt-000198.weights.h5", "ckpt-000200.weights.h5", "--overwrite",
                 "--resume", NULL);
    run_free(&r);
    list_dir(tmp_path("ck"), after_listing, sizeof after_listing);
    cr_expect_str_eq(after_listing, listing);
    char *after = slurp(tmp_path("ck/ckpt-000200.weights.h5"));
    cr_expect_str_eq(after, before);
    free(before);
    free(after);

    /* --overwrite: says so in one line, then the folder holds only this run's files. */
    r = RUN("train", "new.yaml", "--overwrite");
    expect_ok(&r);
    cr_expect(strstr(r.out, "Removed 3 old checkpoints from ck (--overwrite): ckpt-000198.weights.h5 ... ckpt-000200.weights.h5\n") != NULL,
              "%s", r.out);
    char ck[800];
    checkpoint_line(r.out, ck, sizeof ck);
    cr_expect(exists(ck), "the printed checkpoint %s does not exist", ck);
    cr_expect_str_eq(ck, tmp_path("ck/ckpt-000004.weights.h5"));
    run_free(&r);
    list_dir(tmp_path("ck"), after_listing, sizeof after_listing);
    cr_expect_str_eq(after_listing,
                     "ckpt-000002.weights.h5 ckpt-000003.weights.h5 ckpt-000004.weights.h5 history.csv history.json");

    /* Files that are not checkpoints never stop a run, and are never touched. */
    write_file(tmp_path("ck2_notes.txt"), "x");
    cr_assert_eq(mkdir(tmp_path("ck2"), 0755), 0);
    write_file(tmp_path("ck2/notes.txt"), "mine");
    write_file(tmp_path("ck2/ckpt-7.weights.h5"), "not a canonical name");
    write_spec("ck2.yaml", defaults("ck2"));
    r = RUN("train", "ck2.yaml");
    expect_ok(&r);
    run_free(&r);
    cr_expect(exists(tmp_path("ck2/notes.txt")) && exists(tmp_path("ck2/ckpt-7.weights.h5")));
}

Test(train_signals, resume_refuses_checkpoints_of_another_run_in_its_folder)
{
    write_spec("a.yaml", defaults("cka"));
    write_spec("b.yaml", defaults("ckb"));
    run_result r = RUN("train", "a.yaml", "--epochs", "2");
    expect_ok(&r);
    run_free(&r);
    r = RUN("train", "b.yaml", "--epochs", "1");
    expect_ok(&r);
    run_free(&r);
    /* Run b's epoch-1 file in run a's folder: resuming a must not adopt or rotate it. */
    char *b1 = slurp(tmp_path("ckb/ckpt-000001.weights.h5"));
    cr_assert_eq(rename(tmp_path("ckb/ckpt-000001.weights.h5"), tmp_path("cka/ckpt-000001.weights.h5")), 0);
    r = RUN("train", "a.yaml", "--resume", "cka/ckpt-000002.weights.h5");
    expect_error(&r, 1, "'cka'", "1 checkpoint", "ckpt-000001.weights.h5", "another run", "--overwrite", NULL);
    run_free(&r);
    char *still = slurp(tmp_path("cka/ckpt-000001.weights.h5"));
    cr_expect_str_eq(still, b1);
    free(still);
    free(b1);

    /* Its own earlier files are fine: after removing the stranger it resumes and rotates them. */
    cr_assert_eq(unlink(tmp_path("cka/ckpt-000001.weights.h5")), 0);
    r = RUN("train", "a.yaml", "--resume", "cka");
    expect_ok(&r);
    run_free(&r);
    char listing[1024];
    list_dir(tmp_path("cka"), listing, sizeof listing);
    cr_expect_str_eq(listing, "ckpt-000002.weights.h5 ckpt-000003.weights.h5 ckpt-000004.weights.h5 history.csv history.json");
}

/* ---- --resume with a changed spec ---- */

Test(train_signals, resume_prints_every_difference_and_uses_the_spec)
{
    write_spec("s.yaml", defaults("ck"));
    run_result r = RUN("train", "s.yaml", "--epochs", "2");
    expect_ok(&r);
    run_free(&r);

    spec_opts o = defaults("ck");
    o.lr = "0.002";
    o.batch_size = 32;
    o.epochs = 3;
    write_spec("changed.yaml", o);
    r = RUN("train", "changed.yaml", "--resume", "ck");
    expect_ok(&r);
    cr_expect(strstr(r.out, "resume: compile.optimizer.learning_rate: checkpoint 0.01, spec 0.002 -> using 0.002\n") != NULL,
              "%s", r.out);
    cr_expect(strstr(r.out, "resume: fit.batch_size: checkpoint 16, spec 32 -> using 32\n") != NULL, "%s", r.out);
    /* The epochs the first run used (--epochs 2), not its spec's 4. */
    cr_expect(strstr(r.out, "resume: fit.epochs: checkpoint 2, spec 3 -> using 3\n") != NULL, "%s", r.out);
    cr_expect(strstr(r.out, "Epoch 3/3") != NULL, "%s", r.out);
    /* Nothing else is reported as different. */
    int n = 0;
    for (const char *p = r.out; (p = strstr(p, "resume: ")); p++)
        n++;
    cr_expect_eq(n, 3, "%s", r.out);
    run_free(&r);
    /* The learning rate used is the spec's (Keras's optimizer variable 1). */
    cr_expect_eq(read_f32(tmp_path("ck/ckpt-000003.weights.h5"), "optimizer/vars/1"), 0.002f);
    /* batch 32: 96 samples are 3 steps an epoch; 2 epochs of 6 before. */
    rnnc_checkpoint_state st;
    cr_assert_eq(rnnc_checkpoint_read_state(tmp_path("ck/ckpt-000003.weights.h5"), &st), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_expect_eq(st.step, 2 * 6 + 3);
    rnnc_checkpoint_state_clear(&st);

    /* Another model: an error naming the difference, nothing written. */
    o = defaults("ck");
    o.units = 7;
    write_spec("units.yaml", o);
    r = RUN("train", "units.yaml", "--resume", "ck/ckpt-000002.weights.h5", "--overwrite");
    expect_error(&r, 1, "another model", "units: checkpoint 6, spec 7", "--weights", NULL);
    run_free(&r);
    cr_expect(exists(tmp_path("ck/ckpt-000003.weights.h5")), "--overwrite acted before the error");
    /* Another optimizer class. */
    o = defaults("ck");
    o.optimizer = "SGD";
    write_spec("sgd.yaml", o);
    r = RUN("train", "sgd.yaml", "--resume", "ck/ckpt-000003.weights.h5");
    expect_error(&r, 1, "\"Adam\"", "\"SGD\"", "cannot carry over", NULL);
    run_free(&r);
}

/* ---- SIGINT / SIGTERM ---- */

/* The command after "resume with: " on stderr, run with /bin/sh in the
 * temporary folder. */
static run_result run_printed_command(const char *err)
{
    const char *at = strstr(err, "resume with: ");
    cr_assert_not_null(at, "no resume command in: %s", err);
    at += strlen("resume with: ");
    char command[8192];
    snprintf(command, sizeof command, "%.*s", (int)strcspn(at, "\n"), at);
    cr_expect(strncmp(command, RNNC_BIN " train ", strlen(RNNC_BIN " train ")) == 0, "%s", command);
    const char *args[] = {"-c", command, NULL};
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int o = open(tmp_path(".stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(tmp_path(".stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, 1);
        dup2(e, 2);
        if (chdir(tmpdir) != 0)
            _exit(126);
        unsetenv("RNNC_TEST_RAISE");
        execv("/bin/sh", (char *const[]){"sh", (char *)args[0], (char *)args[1], NULL});
        _exit(127);
    }
    return finish(pid);
}

/* A straight run of spec into straight_out, then a run stopped by `raise`
 * (RNNC_TEST_RAISE) and resumed with the printed command into resumed_out:
 * the weights files are the same byte for byte. Returns the checkpoint the
 * stopped run printed. */
static void interrupted_equals_straight(const char *spec, const char *raise, int code, const char *signame,
                                        const char *where, char *ckpt, size_t cap)
{
    char straight[300], resumed[300];
    snprintf(straight, sizeof straight, "straight-%s.weights.h5", raise);
    snprintf(resumed, sizeof resumed, "resumed-%s.weights.h5", raise);
    run_result r = RUN("train", spec, "--save-weights", straight, "--overwrite");
    expect_ok(&r);
    run_free(&r);
    r = RUN_ENV(raise, "train", spec, "--save-weights", resumed, "--overwrite");
    cr_expect(r.exited, "killed by signal %d", r.code);
    cr_expect_eq(r.code, code, "exit %d; %s", r.code, r.err);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "%s", r.err);
    cr_expect(strstr(r.err, signame) != NULL && strstr(r.err, "--resume ") != NULL, "%s", r.err);
    cr_expect(strstr(r.out, where) != NULL, "'%s' not in:\n%s", where, r.out);
    cr_expect_not(exists(tmp_path(resumed)), "the stopped run wrote --save-weights");
    checkpoint_line(r.out, ckpt, cap);
    cr_expect(exists(ckpt), "%s", ckpt);
    cr_expect(strstr(r.err, strrchr(ckpt, '/') + 1) != NULL, "the command does not name %s: %s", ckpt, r.err);
    run_result again = run_printed_command(r.err);
    run_free(&r);
    expect_ok(&again);
    cr_expect(strstr(again.out, "Resuming from") != NULL, "%s", again.out);
    run_free(&again);
    expect_same_h5(tmp_path(straight), tmp_path(resumed), NULL);
}

Test(train_signals, sigint_inside_an_epoch_resumes_bit_for_bit)
{
    write_spec("s.yaml", defaults("ck"));
    char ck[800];
    /* Batch 9 of the run: the 3rd of 6 in epoch 2. */
    interrupted_equals_straight("s.yaml", "INT@9", 130, "SIGINT", "Interrupted by SIGINT in epoch 2 after batch 3 of 6",
                                ck, sizeof ck);
    cr_expect_str_eq(ck, tmp_path("ck/ckpt-000001-batch000003.weights.h5"));
    /* The resumed run's last checkpoint: 4 epochs of 6 batches, at an epoch end. */
    rnnc_checkpoint_state st;
    cr_assert_eq(rnnc_checkpoint_read_state(tmp_path("ck/ckpt-000004.weights.h5"), &st), RNNC_OK);
    cr_expect_eq(st.epoch, 4);
    cr_expect_eq(st.batch, 0);
    cr_expect_eq(st.step, 24);
    rnnc_checkpoint_state_clear(&st);
}

Test(train_signals, sigterm_and_stops_at_epoch_ends_resume_bit_for_bit)
{
    write_spec("s.yaml", defaults("ck"));
    char ck[800];
    interrupted_equals_straight("s.yaml", "TERM@14", 143, "SIGTERM", "Interrupted by SIGTERM in epoch 3 after batch 2 of 6",
                                ck, sizeof ck);
    cr_expect_str_eq(ck, tmp_path("ck/ckpt-000002-batch000002.weights.h5"));
    /* After the last batch of epoch 1 the epoch still ends (validation, its checkpoint). */
    interrupted_equals_straight("s.yaml", "INT@6", 130, "SIGINT", "Interrupted by SIGINT before epoch 2", ck, sizeof ck);
    cr_expect_str_eq(ck, tmp_path("ck/ckpt-000001.weights.h5"));
    /* Without a checkpoint section the checkpoint goes beside, named after the spec. */
    write_spec("nock.yaml", defaults(NULL));
    interrupted_equals_straight("nock.yaml", "INT@3", 130, "SIGINT", "after batch 3 of 6", ck, sizeof ck);
    cr_expect_str_eq(ck, tmp_path("nock.interrupted.weights.h5"));
}

Test(train_signals, a_mid_epoch_checkpoint_needs_the_same_batches)
{
    write_spec("s.yaml", defaults("ck"));
    run_result r = RUN_ENV("INT@4", "train", "s.yaml");
    cr_expect_eq(r.code, 130);
    run_free(&r);
    spec_opts o = defaults("ck");
    o.batch_size = 8;
    write_spec("b8.yaml", o);
    r = RUN("train", "b8.yaml", "--resume", "ck");
    expect_error(&r, 1, "ckpt-000000-batch000004.weights.h5", "inside epoch 1", "fit.batch_size: checkpoint 16, spec 8",
                 NULL);
    run_free(&r);
}

/* Waits (up to 60 s) until the file holds `text`. */
static bool wait_for(const char *path, const char *text)
{
    for (int i = 0; i < 6000; i++) {
        char *s = slurp(path);
        bool yes = strstr(s, text) != NULL;
        free(s);
        if (yes)
            return true;
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    return false;
}

Test(train_signals, a_real_sigint_while_training_resumes_bit_for_bit)
{
    spec_opts o = defaults("ck");
    o.epochs = 30;
    o.samples = 1600; /* 100 batches an epoch: a few seconds in all */
    write_spec("long.yaml", o);
    run_result r = RUN("train", "long.yaml", "--save-weights", "straight.weights.h5");
    expect_ok(&r);
    run_free(&r);
    cr_assert_eq(rename(tmp_path("ck"), tmp_path("ck_straight")), 0);

    pid_t pid = start(NULL, (const char *const[]){"train", "long.yaml", "--save-weights", "resumed.weights.h5", NULL});
    cr_assert(wait_for(tmp_path(".stdout"), "Epoch 3/30"), "training did not start");
    kill(pid, SIGINT);
    r = finish(pid);
    cr_expect(r.exited && r.code == 130, "exit %d (exited %d): %s", r.code, r.exited, r.err);
    cr_expect(strstr(r.out, "Interrupted by SIGINT") != NULL, "%s", r.out);
    char ck[800];
    checkpoint_line(r.out, ck, sizeof ck);
    cr_expect(exists(ck), "%s", ck);
    run_result again = run_printed_command(r.err);
    run_free(&r);
    expect_ok(&again);
    run_free(&again);
    expect_same_h5(tmp_path("straight.weights.h5"), tmp_path("resumed.weights.h5"), NULL);
    /* The last checkpoints agree in everything but the run id. */
    expect_same_h5(tmp_path("ck_straight/ckpt-000030.weights.h5"), tmp_path("ck/ckpt-000030.weights.h5"),
                   "rnnc_checkpoint/run_id");
}

/* Every ckpt-*.weights.h5 in dir reads back as a whole checkpoint. */
static int complete_checkpoints(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (!rnnc_checkpoint_parse_name(e->d_name, NULL))
            continue;
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        rnnc_checkpoint_state st;
        cr_expect_eq(rnnc_checkpoint_read_state(p, &st), RNNC_OK, "%s is not whole: %s", p, rnnc_last_error());
        rnnc_checkpoint_state_clear(&st);
        n++;
    }
    closedir(d);
    return n;
}

Test(train_signals, a_second_signal_exits_at_once)
{
    /* Deterministic: the second SIGINT comes as the stop checkpoint is about to be written. */
    write_spec("s.yaml", defaults("ck"));
    run_result r = RUN_ENV("INT@8,INT@ckpt", "train", "s.yaml", "--save-weights", "never.weights.h5");
    cr_expect(r.exited, "killed by signal %d instead of exiting", r.code);
    cr_expect_eq(r.code, 130);
    cr_expect(strstr(r.err, "resume with") == NULL, "%s", r.err);
    run_free(&r);
    cr_expect_not(exists(tmp_path("ck/ckpt-000001-batch000002.weights.h5")));
    cr_expect_not(exists(tmp_path("never.weights.h5")));
    cr_expect_eq(complete_checkpoints(tmp_path("ck")), 1); /* epoch 1's */

    /* Real signals, twice in a row, while it trains: it exits with 130 and
     * every checkpoint file left is whole. */
    spec_opts o = defaults("ck2");
    o.epochs = 30;
    o.samples = 1600;
    write_spec("long.yaml", o);
    pid_t pid = start(NULL, (const char *const[]){"train", "long.yaml", NULL});
    cr_assert(wait_for(tmp_path(".stdout"), "Epoch 2/30"), "training did not start");
    kill(pid, SIGINT);
    kill(pid, SIGINT);
    r = finish(pid);
    cr_expect(r.exited && r.code == 130, "exit %d (exited %d)", r.code, r.exited);
    run_free(&r);
    cr_expect_geq(complete_checkpoints(tmp_path("ck2")), 1);
}

/* ---- the trainer's hook, as a library user sees it ---- */

/* Dense(4, tanh) -> Dense(1) on (None, 3), weights from a fixed stream. */
static rnnc_model *small_model(void)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_sequential_create(NULL, &m), RNNC_OK);
    for (int i = 0; i < 2; i++) {
        rnnc_dense_options o = rnnc_dense_options_default(i == 0 ? 4 : 1);
        if (i == 0)
            o.activation = RNNC_ACT_TANH;
        rnnc_layer *d = NULL;
        cr_assert_eq(rnnc_dense_create(&o, &d), RNNC_OK);
        cr_assert_eq(rnnc_model_add(m, d), RNNC_OK);
    }
    rnnc_shape in = RNNC_SHAPE(-1, 3);
    cr_assert_eq(rnnc_model_build(m, &in), RNNC_OK, "%s", rnnc_last_error());
    rnnc_weight *w[8];
    int n = 0;
    cr_assert_eq(rnnc_model_weights(m, w, 8, &n), RNNC_OK);
    for (int i = 0; i < n; i++) {
        rnnc_tensor *v;
        cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &w[i]->value->shape, 40 + (uint64_t)i, -0.5, 0.5, &v), RNNC_OK);
        memcpy(w[i]->value->data, v->data, v->numel * sizeof(float));
        rnnc_tensor_destroy(v);
    }
    return m;
}

static rnnc_trainer *small_trainer(rnnc_model *m)
{
    const char *opt = "{class_name: Adam, config: {learning_rate: 0.05}}";
    rnnc_cfg *o = NULL, *l = NULL, *mt = NULL;
    cr_assert_eq(rnnc_spec_read_string(opt, strlen(opt), "<opt>", &o), RNNC_OK);
    cr_assert_eq(rnnc_spec_read_string("mse", 3, "<loss>", &l), RNNC_OK);
    cr_assert_eq(rnnc_spec_read_string("[mae]", 5, "<metrics>", &mt), RNNC_OK);
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    cr_assert_eq(rnnc_trainer_compile_config(tr, o, l, mt, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(o);
    rnnc_cfg_destroy(l);
    rnnc_cfg_destroy(mt);
    return tr;
}

static bool stop_after(void *user)
{
    int *left = user;
    return --*left < 0;
}

Test(train_signals, fit_stops_on_request_and_continues_exactly)
{
    rnnc_tensor *x, *y;
    rnnc_shape xs = RNNC_SHAPE(50, 3), ys = RNNC_SHAPE(50, 1);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &xs, 7, -1, 1, &x), RNNC_OK);
    cr_assert_eq(rnnc_fixture_uniform(RNNC_F32, &ys, 8, -1, 1, &y), RNNC_OK);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.batch_size = 8; /* 7 batches an epoch, the last of 2 rows */
    fo.epochs = 3;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_SILENT;

    /* Straight. */
    rnnc_model *ma = small_model();
    rnnc_trainer *ta = small_trainer(ma);
    rnnc_history *ha = NULL;
    cr_assert_eq(rnnc_trainer_fit(ta, x, y, &fo, &ha), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_not(rnnc_trainer_interrupted(ta, NULL, NULL));

    /* Asked before epoch 1, after 6 of its 7 batches, before epoch 2 and after
     * each batch: true at the 11th question, after 3 batches of epoch 2. */
    rnnc_model *mb = small_model();
    rnnc_trainer *tb = small_trainer(mb);
    int left = 10;
    rnnc_fit_options fb = fo;
    fb.stop_requested = stop_after;
    fb.stop_user = &left;
    rnnc_history *hb = NULL;
    cr_assert_eq(rnnc_trainer_fit(tb, x, y, &fb, &hb), RNNC_OK, "%s", rnnc_last_error());
    int epoch = -1;
    int64_t batches = -1;
    cr_assert(rnnc_trainer_interrupted(tb, &epoch, &batches));
    cr_expect_eq(epoch, 1);
    cr_expect_eq(batches, 3);
    cr_expect_eq(rnnc_history_n_epochs(hb), 1, "the stopped epoch must not be in the history");
    rnnc_history_destroy(hb);
    double state[16];
    int n = 0;
    cr_assert_eq(rnnc_trainer_metric_state(tb, state, 16, &n), RNNC_OK);
    cr_expect_eq(n, 4); /* loss and mae: (total, count) each */
    cr_expect_eq(state[1], 24.0, "loss count = rows seen in the epoch"); /* 3 batches of 8 */
    cr_expect_eq(rnnc_trainer_metric_state(tb, state, 3, &n), RNNC_E_ARG);
    rnnc_clear_error();
    /* Anything that resets the metrics in between (evaluate does) is undone by setting them back. */
    rnnc_logs ev;
    cr_assert_eq(rnnc_trainer_evaluate(tb, x, y, NULL, 8, &ev), RNNC_OK);
    cr_expect_eq(rnnc_trainer_set_metric_state(tb, state, 3), RNNC_E_ARG);
    rnnc_clear_error();
    cr_assert_eq(rnnc_trainer_set_metric_state(tb, state, n), RNNC_OK);
    fb = fo;
    fb.initial_epoch = epoch;
    fb.initial_batch = batches;
    cr_assert_eq(rnnc_trainer_fit(tb, x, y, &fb, &hb), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_not(rnnc_trainer_interrupted(tb, NULL, NULL));

    /* Weights and the last two epochs' logs, bit for bit. */
    rnnc_weight *wa[8], *wb[8];
    int na = 0, nb = 0;
    cr_assert_eq(rnnc_model_weights(ma, wa, 8, &na), RNNC_OK);
    cr_assert_eq(rnnc_model_weights(mb, wb, 8, &nb), RNNC_OK);
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++)
        cr_expect_eq(memcmp(wa[i]->value->data, wb[i]->value->data, wa[i]->value->numel * sizeof(float)), 0,
                     "weight %d differs", i);
    cr_assert_eq(rnnc_history_n_epochs(hb), 2);
    const char *keys[] = {"loss", "mae"};
    for (int k = 0; k < 2; k++) {
        const double *va = rnnc_history_get(ha, keys[k]), *vb = rnnc_history_get(hb, keys[k]);
        cr_assert(va && vb);
        cr_expect_eq(memcmp(va + 1, vb, 2 * sizeof(double)), 0, "%s: %.17g %.17g / %.17g %.17g", keys[k], va[1],
                     va[2], vb[0], vb[1]);
    }
    /* initial_batch must fall inside an epoch. */
    fb.initial_batch = 7;
    cr_expect_eq(rnnc_trainer_fit(tb, x, y, &fb, NULL), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "initial_batch 7") != NULL, "%s", rnnc_last_error());
    rnnc_clear_error();

    rnnc_history_destroy(ha);
    rnnc_history_destroy(hb);
    rnnc_trainer_destroy(ta);
    rnnc_trainer_destroy(tb);
    rnnc_model_destroy(ma);
    rnnc_model_destroy(mb);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
}
