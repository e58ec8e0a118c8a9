/* test_train_outputs.c - `rnnc train`'s model outputs (--save-model, a
 * ModelCheckpoint .keras) into a folder that takes no new files are refused
 * before any work, through the real rnnc program.
 *
 * The read-only folder: a tmpfs remounted read-only when the test runs as
 * root (chmod does not stop root), else a folder chmod 0555; the test skips
 * when it can make neither. The oracles are the file system's state (no
 * history file, no model file, no probe file left) and the OS's strerror
 * text, never rnnc's output. */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/program_dir.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char tmpdir[512];

static void make_tmpdir(void) { rnnc_test_own_dir(tmpdir, sizeof tmpdir, "train_outputs"); }

/* ro: a mount left by a failed test is taken down first, and its mode restored */
static void remove_tmpdir(void)
{
    char ro[700];
    snprintf(ro, sizeof ro, "%s/ro", tmpdir);
    umount2(ro, MNT_DETACH);
    chmod(ro, 0755);
    rnnc_test_rm_tree(tmpdir);
}

TestSuite(train_outputs, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 300);

static const char *tmp_path(const char *name)
{
    static char p[8][800];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static bool exists(const char *name) { return access(tmp_path(name), F_OK) == 0; }

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static rnnc_test_run run(const char *const *args)
{
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, args);
    cr_assert_neq(r.code, -1, "cannot start %s", RNNC_BIN);
    return r;
}

/* tiny.yaml: 2 epochs, its history in tmpdir/<history>; `callbacks` (YAML
 * flow list, or NULL) as fit.callbacks. */
static void write_spec_history(const char *name, const char *callbacks, const char *history)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    name: tiny\n"
             "    layers:\n"
             "      - class_name: InputLayer\n"
             "        config: {batch_shape: [null, 6, 2]}\n"
             "      - class_name: GRU\n"
             "        config: {name: gru, units: 4}\n"
             "      - class_name: Dense\n"
             "        config: {name: dense, units: 1}\n"
             "compile:\n"
             "  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}\n"
             "  loss: mse\n"
             "fit: {epochs: 2, batch_size: 16, seed: 1, verbose: 2, history: %s%s%s}\n"
             "data: {task: adding, timesteps: 6, samples: 32, seed: 7}\n",
             history, callbacks ? ", callbacks: " : "", callbacks ? callbacks : "");
    rnnc_test_write_file(tmpdir, name, buf, false);
}

static void write_spec(const char *name, const char *callbacks) { write_spec_history(name, callbacks, "hist"); }

/* tmpdir/ro: a folder that takes no new files, with `sub` made in it
 * before; false (and why) when none can be made here. */
static bool make_read_only(char *why, size_t cap)
{
    const char *ro = tmp_path("ro");
    cr_assert_eq(mkdir(ro, 0755), 0);
    if (geteuid() != 0) {
        cr_assert_eq(mkdir(tmp_path("ro/sub"), 0755), 0);
        cr_assert_eq(chmod(ro, 0555), 0);
        cr_assert_eq(chmod(tmp_path("ro/sub"), 0555), 0);
        return true;
    }
    if (mount("tmpfs", ro, "tmpfs", 0, "size=64k") != 0) {
        snprintf(why, cap, "root, and mount -t tmpfs is not allowed here: %s", strerror(errno));
        return false;
    }
    cr_assert_eq(mkdir(tmp_path("ro/sub"), 0755), 0);
    cr_assert_eq(mount("tmpfs", ro, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL), 0, "remount: %s", strerror(errno));
    return true;
}

/* Exit 1, one line on stderr naming `path` and (when given) `reason`; no
 * epoch ran (no epoch line, no history file). */
static void expect_refused_before_training(rnnc_test_run *r, const char *context, const char *path,
                                           const char *reason)
{
    cr_expect_eq(r->code, 1, "%s: exit code %d, expected 1; stderr: %s", context, r->code, r->err);
    cr_expect_eq(rnnc_test_count_lines(r->err), 1, "%s: stderr must be one line, got:\n%s", context, r->err);
    cr_expect(strstr(r->err, path) != NULL, "%s: stderr does not name '%s':\n%s", context, path, r->err);
    if (reason)
        cr_expect(strstr(r->err, reason) != NULL, "%s: stderr lacks the OS's reason '%s':\n%s", context, reason,
                  r->err);
    cr_expect(strstr(r->out, "Epoch 1") == NULL, "%s: training ran before the check:\n%s", context, r->out);
    cr_expect(!exists("hist/history.json") && !exists("hist/history.csv"),
              "%s: a history file was written, so an epoch ran", context);
    rnnc_test_rm_tree(tmp_path("hist")); /* for the next case */
    rnnc_test_run_free(r);
}

Test(train_outputs, model_outputs_into_a_read_only_folder_are_refused_before_training)
{
    char why[200];
    if (!make_read_only(why, sizeof why))
        cr_skip_test("read-only folder test skipped: %s", why);
    /* the OS's own reason for a new file there */
    char probe[700];
    snprintf(probe, sizeof probe, "%s/x", tmp_path("ro"));
    FILE *f = fopen(probe, "wb");
    if (f) {
        fclose(f);
        cr_skip_test("a file could be made in the read-only folder (this file system ignores it)");
    }
    const char *reason = strerror(errno);

    write_spec("tiny.yaml", NULL);
    rnnc_test_run r = run(ARGS("train", "tiny.yaml", "--save-model", "ro/m.keras"));
    expect_refused_before_training(&r, "--save-model into a read-only folder", "ro/m.keras", reason);
    cr_expect(!exists("ro/m.keras"), "a model file was written");

    /* ModelCheckpoint's .keras (and .weights.h5), in the folder or in a
     * folder under it that the save would create */
    static const char *const cb[][2] = {
        {"[{ModelCheckpoint: {filepath: ro/mc.keras}}]", "ro/mc.keras"},
        {"[{ModelCheckpoint: {filepath: ro/sub/mc.weights.h5, save_weights_only: true}}]", "ro/sub/mc.weights.h5"},
        {"[{ModelCheckpoint: {filepath: ro/new/deeper/mc.keras}}]", "ro/new/deeper/mc.keras"},
    };
    for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++) {
        write_spec("mc.yaml", cb[i][0]);
        r = run(ARGS("train", "mc.yaml"));
        expect_refused_before_training(&r, cb[i][0], cb[i][1], reason);
    }
    /* TensorBoard's log_dir, after a CSVLogger that would have opened its file */
    write_spec("tb.yaml", "[{CSVLogger: {filename: log.csv}}, {TensorBoard: {log_dir: ro/tb}}]");
    r = run(ARGS("train", "tb.yaml"));
    expect_refused_before_training(&r, "TensorBoard log_dir in a read-only folder", "ro/tb", reason);
    cr_expect(!exists("log.csv"), "CSVLogger's file was made before the TensorBoard refusal");
    /* the history, written after every epoch (no epoch line then) */
    write_spec_history("h.yaml", NULL, "ro/h");
    r = run(ARGS("train", "h.yaml"));
    expect_refused_before_training(&r, "fit.history in a read-only folder", "ro/h/history.json", reason);
}

Test(train_outputs, save_model_into_a_missing_folder_or_under_a_file_is_refused_before_training)
{
    write_spec("tiny.yaml", NULL);
    rnnc_test_write_file(tmpdir, "plain", "a file, not a folder\n", false);
    static const char *const outs[] = {"missing/m.keras", "plain/m.keras"};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        rnnc_test_run r = run(ARGS("train", "tiny.yaml", "--save-model", outs[i]));
        cr_expect_neq(r.code, 0, "%s: exit 0", outs[i]);
        cr_expect_eq(rnnc_test_count_lines(r.err), 1, "%s: stderr must be one line, got:\n%s", outs[i], r.err);
        cr_expect(strstr(r.err, outs[i]) != NULL, "%s: stderr does not name it:\n%s", outs[i], r.err);
        cr_expect(strstr(r.out, "Epoch 1") == NULL, "%s: training ran before the check:\n%s", outs[i], r.out);
        cr_expect(!exists("hist/history.json"), "%s: an epoch ran", outs[i]);
        rnnc_test_run_free(&r);
    }
}

/* The probe refuses nothing that works: a ModelCheckpoint folder the save
 * creates, --save-model in the working folder; and leaves no probe file. */
Test(train_outputs, writable_targets_still_train_and_save)
{
    write_spec("mc.yaml", "[{ModelCheckpoint: {filepath: made/here/mc.keras}}]");
    rnnc_test_run r = run(ARGS("train", "mc.yaml", "--save-model", "m.keras"));
    cr_expect_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    cr_expect(strstr(r.out, "Epoch 2") != NULL, "no second epoch:\n%s", r.out);
    rnnc_test_run_free(&r);
    struct stat st;
    cr_expect(stat(tmp_path("m.keras"), &st) == 0 && st.st_size > 0, "--save-model wrote no m.keras");
    cr_expect(stat(tmp_path("made/here/mc.keras"), &st) == 0 && st.st_size > 0, "ModelCheckpoint wrote nothing");
    cr_expect(exists("hist/history.json"), "no history.json");
    const char *dirs[] = {".", "made", "made/here"};
    for (int i = 0; i < 3; i++) {
        DIR *d = opendir(tmp_path(dirs[i]));
        cr_assert_not_null(d);
        for (struct dirent *e; (e = readdir(d));)
            cr_expect(strstr(e->d_name, "rnnc-write-probe") == NULL, "a probe file was left in %s: %s", dirs[i],
                      e->d_name);
        closedir(d);
    }
}
