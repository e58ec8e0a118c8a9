/* test_write_faults.c - failed writes, driven through the real rnnc program:
 *
 * - fault injection (tests/fault/fault_inject.c, LD_PRELOAD): the n-th
 *   write, fsync or close of the file being saved fails with ENOSPC (or
 *   EIO), for every n of a small save of a predict output, trained weights
 *   and a checkpoint. Each must exit 1 with one line naming the file and the
 *   OS's reason, leave no temporary file, leave the earlier file byte for
 *   byte, and not crash;
 * - a real small file system (tmpfs, when the test may mount one): full,
 *   then read-only;
 * - an output that is one of the inputs (same path, symbolic link, hard
 *   link, "a/../b" spelling) is refused before any work;
 * - a temporary file a killed writer left is removed by the next write of
 *   the same file, and only when its process is gone.
 *
 * The oracles are the file system's state (bytes, directory listings) and
 * the OS's own strerror text, never rnnc's output. */
#define _GNU_SOURCE

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>

#include "helpers/h5_damage.h"
#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_wfault_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char mnt[400];
    snprintf(mnt, sizeof mnt, "%s/mnt", tmpdir);
    umount2(mnt, MNT_DETACH); /* when a test mounted one and failed midway */
    rnnc_test_rm_tree(tmpdir);
}

TestSuite(write_faults, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 600);

static const char *tmp_path(const char *name)
{
    static char p[8][700];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void put(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void put_text(const char *path, const char *text) { put(path, text, strlen(text)); }

/* Whether the file holds exactly these bytes. */
static bool holds(const char *path, const char *data, size_t n)
{
    size_t len;
    char *b = rnnc_test_slurp(path, &len);
    bool same = b && len == n && memcmp(b, data, n) == 0;
    free(b);
    return same;
}

typedef rnnc_test_run run_result;
#define run_free rnnc_test_run_free

/* Runs build/rnnc in tmpdir with the arguments (NULL-terminated) and, when
 * fault_env is given, the shim preloaded with those NAME=VALUE settings. */
static run_result run_env(const char *const *fault_env, const char *const *args)
{
    static char asan[1024];
    const char *env[16] = {NULL};
    int n = 0;
    if (fault_env) {
        /* The shim comes before a sanitizer runtime: tell ASan that is fine. */
        const char *old = getenv("ASAN_OPTIONS");
        snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "",
                 old && old[0] ? ":" : "");
        env[n++] = asan;
        env[n++] = "LD_PRELOAD=" RNNC_FAULT_LIB;
        for (int i = 0; fault_env[i] && n < 15; i++)
            env[n++] = fault_env[i];
    }
    run_result r = rnnc_test_run_program(RNNC_BIN, tmpdir, env, args);
    cr_assert_neq(r.code, -1, "cannot start %s", RNNC_BIN);
    return r;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Exit 1, one line on stderr holding every fragment, no crash. */
static void expect_failure(const run_result *r, const char *context, ...)
{
    cr_expect_eq(r->code, 1, "%s: exit code %d, expected 1; stderr: %s", context, r->code, r->err);
    cr_expect_eq(rnnc_test_count_lines(r->err), 1, "%s: stderr must be one line, got:\n%s", context, r->err);
    va_list ap;
    va_start(ap, context);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        cr_expect(strstr(r->err, frag) != NULL, "%s: stderr lacks '%s':\n%s", context, frag, r->err);
    va_end(ap);
}

/* Names in folder dir (relative to tmpdir) holding `part`, as one string. */
static int entries_with(const char *dir, const char *part, char *names, size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (cap)
        names[0] = '\0';
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, part)) {
            n++;
            size_t at = strlen(names);
            snprintf(names + at, cap - at, "%s ", e->d_name);
        }
    if (d)
        closedir(d);
    return n;
}

/* No temporary or probe file of any writer is left in dir. */
static void expect_no_leftovers(const char *dir, const char *context)
{
    static const char *const parts[] = {".tmp.", ".partial.", ".rnnc-write-probe"};
    char names[2000];
    for (int i = 0; i < 3; i++)
        cr_expect_eq(entries_with(dir, parts[i], names, sizeof names), 0, "%s: left behind in %s: %s", context,
                     dir, names);
}

/* ---- fixtures ---- */

static const char *tiny_spec =
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
    "fit: {epochs: 1, batch_size: 16, seed: 1, verbose: 2}\n"
    "data: {task: adding, timesteps: 6, samples: 32, seed: 7}\n";

/* tiny.yaml, plus ckpt.yaml with a checkpoint section (folder `ckdir`). */
static void write_specs(const char *ckdir)
{
    put_text(tmp_path("tiny.yaml"), tiny_spec);
    char buf[2048];
    snprintf(buf, sizeof buf, "%scheckpoint: {directory: %s, every: 1, keep: 5}\n", tiny_spec, ckdir);
    put_text(tmp_path("ckpt.yaml"), buf);
}

/* in.h5 with x float32 (3, 6, 2). */
static void write_input(const char *path)
{
    float x[3 * 6 * 2];
    for (int i = 0; i < 36; i++)
        x[i] = (float)((i * 7) % 11) / 11.0f;
    hsize_t dims[3] = {3, 6, 2};
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t d = H5Dcreate2(f, "x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
}

/* Trained weights w.weights.h5 and input in.h5 in tmpdir. */
static void make_model_files(void)
{
    write_specs("ckpt");
    run_result r = run_env(NULL, ARGS("train", "tiny.yaml", "--save-weights", "w.weights.h5"));
    cr_assert_eq(r.code, 0, "setup training failed: %s", r.err);
    run_free(&r);
    write_input(tmp_path("in.h5"));
}

static long read_count(const char *path)
{
    char *t = rnnc_test_slurp(path, NULL);
    cr_assert_not_null(t, "the fault shim wrote no count to %s (was it preloaded?)", path);
    long n = atol(t);
    free(t);
    return n;
}

/* The sweep: `args` writes `target` (relative to tmpdir); every counted
 * call on files whose path holds `pattern` is failed in turn. restore()
 * puts the folder back into its state before the write. */
typedef void (*restore_fn)(void);

static void sweep(const char *const *args, const char *pattern, const char *target, const char *target_dir,
                  restore_fn restore, const char *earlier, size_t earlier_len)
{
    char pat[300], cnt[700], nth[64], errn[64];
    snprintf(pat, sizeof pat, "RNNC_FAULT_PATTERN=%s", pattern);
    snprintf(cnt, sizeof cnt, "RNNC_FAULT_COUNT_FILE=%s", tmp_path("fault.count"));
    /* 1. Count the calls of a good run. */
    restore();
    run_result r = run_env((const char *const[]){pat, cnt, "RNNC_FAULT_N=0", NULL}, args);
    cr_assert_eq(r.code, 0, "the run without faults failed: %s", r.err);
    run_free(&r);
    long total = read_count(tmp_path("fault.count"));
    cr_assert_geq(total, 3, "expected at least a write, an fsync and a close of '%s', counted %ld", pattern,
                  total);
    /* 2. Fail each in turn, with ENOSPC; the first and last also with EIO. */
    for (long n = 1; n <= total + 2; n++) {
        bool eio = n > total;
        long k = eio ? (n == total + 1 ? 1 : total) : n;
        char ctx[200];
        snprintf(ctx, sizeof ctx, "call %ld of %ld failing with %s", k, total, eio ? "EIO" : "ENOSPC");
        snprintf(nth, sizeof nth, "RNNC_FAULT_N=%ld", k);
        snprintf(errn, sizeof errn, "RNNC_FAULT_ERRNO=%d", eio ? EIO : ENOSPC);
        restore();
        r = run_env((const char *const[]){pat, nth, errn, NULL}, args);
        expect_failure(&r, ctx, target, strerror(eio ? EIO : ENOSPC), NULL);
        cr_expect(r.code < 128, "%s: crashed (signal %d)", ctx, r.code - 128);
        run_free(&r);
        expect_no_leftovers(target_dir, ctx);
        char full[800];
        snprintf(full, sizeof full, "%s/%s", tmpdir, target);
        if (earlier)
            cr_expect(holds(full, earlier, earlier_len), "%s: the earlier '%s' changed", ctx, target);
        else
            cr_expect(access(full, F_OK) != 0, "%s: '%s' exists after a failed write", ctx, target);
    }
}

static const char earlier_text[] = "the earlier file: must stay byte for byte\n";

static void restore_out(void) { put_text(tmp_path("out.h5"), earlier_text); }

Test(write_faults, predict_output_every_failed_call)
{
    make_model_files();
    sweep(ARGS("predict", "--model", "tiny.yaml", "--weights", "w.weights.h5", "--input", "in.h5", "--output",
               "out.h5"),
          "out.h5", "out.h5", tmpdir, restore_out, earlier_text, strlen(earlier_text));
}

static void restore_weights(void) { put_text(tmp_path("saved.weights.h5"), earlier_text); }

Test(write_faults, saved_weights_every_failed_call)
{
    write_specs("ckpt");
    sweep(ARGS("train", "tiny.yaml", "--save-weights", "saved.weights.h5"), "saved.weights.h5", "saved.weights.h5",
          tmpdir, restore_weights, earlier_text, strlen(earlier_text));
}

static char *ckpt1;
static size_t ckpt1_len;

static void restore_ckpt(void)
{
    unlink(tmp_path("ck/ckpt-000002.weights.h5"));
    put(tmp_path("ck/ckpt-000001.weights.h5"), ckpt1, ckpt1_len);
}

Test(write_faults, checkpoint_every_failed_call)
{
    write_specs("ck");
    run_result r = run_env(NULL, ARGS("train", "ckpt.yaml"));
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    ckpt1 = rnnc_test_slurp(tmp_path("ck/ckpt-000001.weights.h5"), &ckpt1_len);
    cr_assert_not_null(ckpt1);
    /* Epoch 2 from the checkpoint of epoch 1: its save fails. */
    sweep(ARGS("train", "ckpt.yaml", "--resume", "ck", "--epochs", "2"), "ckpt-000002", "ck/ckpt-000002.weights.h5",
          tmp_path("ck"), restore_ckpt, NULL, 0);
    cr_expect(holds(tmp_path("ck/ckpt-000001.weights.h5"), ckpt1, ckpt1_len),
              "the checkpoint of epoch 1 changed");
    free(ckpt1);
}

/* ---- a real small file system ---- */

/* Mounts a tmpfs of `kib` KiB on tmpdir/mnt; false (and why) when not allowed. */
static bool mount_small(int kib, char *why, size_t cap)
{
    char mnt[400], opts[64];
    snprintf(mnt, sizeof mnt, "%s/mnt", tmpdir);
    mkdir(mnt, 0755);
    snprintf(opts, sizeof opts, "size=%dk", kib);
    if (geteuid() != 0) {
        snprintf(why, cap, "not root, cannot mount a small file system");
        return false;
    }
    if (mount("tmpfs", mnt, "tmpfs", 0, opts) != 0) {
        snprintf(why, cap, "mount -t tmpfs is not allowed here: %s", strerror(errno));
        return false;
    }
    return true;
}

/* Fills the file system of dir until about `leave` bytes are free. */
static void fill(const char *dir, long leave)
{
    char p[700];
    snprintf(p, sizeof p, "%s/filler", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    static char block[4096];
    memset(block, 'f', sizeof block);
    while (write(fd, block, sizeof block) == (ssize_t)sizeof block)
        ;
    close(fd);
    struct stat st;
    stat(p, &st);
    cr_assert_eq(truncate(p, st.st_size > leave ? st.st_size - leave : 0), 0);
}

Test(write_faults, full_then_read_only_small_file_system)
{
    char why[200];
    make_model_files();
    if (!mount_small(256, why, sizeof why))
        cr_skip_test("small file system test skipped: %s", why);
    const char *mnt = tmp_path("mnt");
    fill(mnt, 0);
    /* predict: the output (2 KiB) does not fit a full disk. */
    run_result r = run_env(NULL, ARGS("predict", "--model", "tiny.yaml", "--weights", "w.weights.h5", "--input",
                                      "in.h5", "--output", "mnt/out.h5"));
    expect_failure(&r, "predict onto a full disk", "mnt/out.h5", strerror(ENOSPC), NULL);
    run_free(&r);
    cr_expect(access(tmp_path("mnt/out.h5"), F_OK) != 0, "a partial out.h5 was left");
    expect_no_leftovers(mnt, "predict onto a full disk");
    /* 8 KiB free: weights (~20 KiB) and checkpoints (~30 KiB) are written in
     * part, then the disk is full. */
    struct stat st;
    cr_assert_eq(stat(tmp_path("mnt/filler"), &st), 0);
    cr_assert_eq(truncate(tmp_path("mnt/filler"), st.st_size - 8192), 0);
    r = run_env(NULL, ARGS("train", "tiny.yaml", "--save-weights", "mnt/t.weights.h5"));
    expect_failure(&r, "--save-weights onto a full disk", "mnt/t.weights.h5", strerror(ENOSPC), NULL);
    run_free(&r);
    cr_expect(access(tmp_path("mnt/t.weights.h5"), F_OK) != 0, "a partial weights file was left");
    write_specs("mnt/ck");
    r = run_env(NULL, ARGS("train", "ckpt.yaml"));
    expect_failure(&r, "a checkpoint onto a full disk", "ckpt-000001.weights.h5", strerror(ENOSPC), NULL);
    run_free(&r);
    expect_no_leftovers(tmp_path("mnt/ck"), "a checkpoint onto a full disk");
    expect_no_leftovers(mnt, "a checkpoint onto a full disk");
    /* Read-only: found before any work (no epoch runs). */
    cr_assert_eq(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, NULL), 0, "remount: %s", strerror(errno));
    r = run_env(NULL, ARGS("predict", "--model", "tiny.yaml", "--weights", "w.weights.h5", "--input", "in.h5",
                           "--output", "mnt/out.h5"));
    expect_failure(&r, "predict into a read-only folder", "mnt", strerror(EROFS), NULL);
    cr_expect(strstr(r.out, "predict:") == NULL, "predict ran: %s", r.out);
    run_free(&r);
    r = run_env(NULL, ARGS("train", "tiny.yaml", "--save-weights", "mnt/t.weights.h5"));
    expect_failure(&r, "--save-weights into a read-only folder", "mnt", strerror(EROFS), NULL);
    cr_expect(strstr(r.out, "Epoch 1") == NULL, "training ran before the check: %s", r.out);
    run_free(&r);
    r = run_env(NULL, ARGS("train", "ckpt.yaml"));
    expect_failure(&r, "checkpoints into a read-only folder", "mnt/ck", strerror(EROFS), NULL);
    cr_expect(strstr(r.out, "Epoch 1") == NULL, "training ran before the check: %s", r.out);
    run_free(&r);
    umount2(mnt, MNT_DETACH);
}

/* ---- an output that is an input ---- */

Test(write_faults, output_that_is_an_input_is_refused)
{
    make_model_files();
    size_t in_len;
    char *in = rnnc_test_slurp(tmp_path("in.h5"), &in_len);
    cr_assert_eq(symlink("in.h5", tmp_path("link.h5")), 0);
    cr_assert_eq(link(tmp_path("in.h5"), tmp_path("hard.h5")), 0);
    mkdir(tmp_path("sub"), 0755);
    const char *const outs[] = {"in.h5", "link.h5", "hard.h5", "sub/../in.h5", "./in.h5", "w.weights.h5"};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        run_result r = run_env(NULL, ARGS("predict", "--model", "tiny.yaml", "--weights", "w.weights.h5", "--input",
                                          "in.h5", "--output", outs[i]));
        expect_failure(&r, outs[i], "is the same file as", i == 5 ? "--weights" : "--input", NULL);
        run_free(&r);
        cr_expect(holds(tmp_path("in.h5"), in, in_len), "--output %s changed the input", outs[i]);
    }
    /* The spec itself, or the weights it starts from, as --save-weights. */
    cr_assert_eq(rename(tmp_path("tiny.yaml"), tmp_path("spec.weights.h5")), 0);
    run_result r = run_env(NULL, ARGS("train", "spec.weights.h5", "--save-weights", "./spec.weights.h5"));
    expect_failure(&r, "--save-weights = the spec", "is the same file as", "the spec", NULL);
    cr_expect(strstr(r.out, "Epoch 1") == NULL, "training ran before the check: %s", r.out);
    run_free(&r);
    size_t w_len;
    char *w = rnnc_test_slurp(tmp_path("w.weights.h5"), &w_len);
    r = run_env(NULL, ARGS("train", "spec.weights.h5", "--weights", "w.weights.h5", "--save-weights",
                           "sub/../w.weights.h5"));
    expect_failure(&r, "--save-weights = --weights", "is the same file as", "--weights", NULL);
    run_free(&r);
    cr_expect(holds(tmp_path("w.weights.h5"), w, w_len), "--save-weights replaced --weights");
    /* A new output is no conflict. */
    r = run_env(NULL, ARGS("predict", "--model", "spec.weights.h5", "--weights", "w.weights.h5", "--input", "in.h5",
                           "--output", "sub/new.h5"));
    cr_expect_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    free(in);
    free(w);
}

/* ---- temporary files of killed writers ---- */

/* A pid that no process has (a child that has exited and been reaped). */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    cr_assert(kill(p, 0) != 0 && errno == ESRCH);
    return p;
}

Test(write_faults, stale_temporary_files_are_removed_by_the_next_write)
{
    make_model_files();
    char dead[200], live[200], other[200], partial[200];
    pid_t d = dead_pid();
    snprintf(dead, sizeof dead, "out.h5.tmp.%ld.3", (long)d);
    snprintf(live, sizeof live, "out.h5.tmp.%ld.0", (long)getpid()); /* this test runs: a live writer */
    snprintf(other, sizeof other, "other.h5.tmp.%ld.0", (long)d);
    snprintf(partial, sizeof partial, "w.weights.h5.tmp.%ld.1", (long)d);
    put_text(tmp_path(dead), "half");
    put_text(tmp_path(live), "half");
    put_text(tmp_path(other), "half");
    put_text(tmp_path(partial), "half");
    run_result r = run_env(NULL, ARGS("predict", "--model", "tiny.yaml", "--weights", "w.weights.h5", "--input",
                                      "in.h5", "--output", "out.h5"));
    cr_expect_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    cr_expect(access(tmp_path(dead), F_OK) != 0, "%s of a dead writer was kept", dead);
    cr_expect(access(tmp_path(live), F_OK) == 0, "%s of a live writer was removed", live);
    cr_expect(access(tmp_path(other), F_OK) == 0, "%s of another file was removed", other);
    cr_expect(access(tmp_path(partial), F_OK) == 0, "%s of a file not written was removed", partial);
    /* Saving w.weights.h5 removes its own. */
    r = run_env(NULL, ARGS("train", "tiny.yaml", "--save-weights", "w.weights.h5"));
    cr_expect_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    cr_expect(access(tmp_path(partial), F_OK) != 0, "%s of a dead writer was kept", partial);
}

/* ---- damaged checkpoints: inspect and --resume fail cleanly ---- */

Test(write_faults, damaged_checkpoint_strings_fail_cleanly)
{
    write_specs("ck");
    run_result r = run_env(NULL, ARGS("train", "ckpt.yaml"));
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    size_t n;
    char *good = rnnc_test_slurp(tmp_path("ck/ckpt-000001.weights.h5"), &n);
    cr_assert_not_null(good);
    /* The global heap holds only Keras's `name` attributes, which rnnc never
     * reads: a flipped size of any of its objects (which made HDF5 crash or
     * hang when rnnc's strings were stored there) changes nothing. */
    size_t offs[256];
    size_t k = rnnc_test_gheap_size_bytes((const unsigned char *)good, n, offs, 256);
    cr_assert_gt(k, 0, "the checkpoint has no global heap to damage");
    for (size_t i = 0; i < k; i++) {
        char *bad = malloc(n);
        memcpy(bad, good, n);
        bad[offs[i]] ^= 0x5A;
        put(tmp_path("bad.weights.h5"), bad, n);
        free(bad);
        r = run_env(NULL, ARGS("inspect", "bad.weights.h5"));
        cr_expect(r.code == 0 || r.code == 1, "inspect, global heap byte at %zu flipped: exit %d: %s", offs[i],
                  r.code, r.err);
        run_free(&r);
    }
    /* model_config as a variable-length string (its bytes in the global heap). */
    hid_t f = H5Fopen(tmp_path("ck/ckpt-000001.weights.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0);
    cr_assert(H5Ldelete(f, "/rnnc_checkpoint/model_config", H5P_DEFAULT) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    H5Tset_size(t, H5T_VARIABLE);
    const char *json = "{}";
    hid_t d = H5Dcreate2(f, "/rnnc_checkpoint/model_config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &json) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    r = run_env(NULL, ARGS("inspect", "ck/ckpt-000001.weights.h5"));
    expect_failure(&r, "inspect", "ckpt-000001.weights.h5", "model_config", "variable-length", NULL);
    run_free(&r);
    r = run_env(NULL, ARGS("train", "ckpt.yaml", "--resume", "ck", "--epochs", "2"));
    expect_failure(&r, "--resume", "ckpt-000001.weights.h5", "model_config", "variable-length", NULL);
    cr_expect(strstr(r.out, "Epoch 2") == NULL, "training went on: %s", r.out);
    run_free(&r);
    free(good);
}
