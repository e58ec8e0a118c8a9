/* test_distributed.c - data-parallel training over Open MPI
 * (optim/trainer.h rnnc_trainer_set_comm, framework/comm.h).
 *
 * The oracle of the exactness cases is the definition: N ranks
 * must end with the weights of one process training on the same global
 * batches, within 1e-6 (float32; only the order of summation differs), and
 * print the same (global) loss and metrics. The one-process run happens
 * here, in-process, without a communicator; the N-rank run is dist_worker
 * under mpirun (N = 1, 2, 3, 4; one of them over TCP). Cases: masks,
 * sample weights and a partial last batch split unevenly (some ranks get
 * no row), SGD with momentum; Bidirectional GRU, Adam with global_clipnorm,
 * an L2 kernel regularizer and a MaxNorm constraint, crossentropy.
 * Fault cases: a rank killed by SIGKILL, and a rank that stops answering
 * (collective timeout 3 s): mpirun must end, non-zero, within 60 s, with
 * a message that says what happened.
 *
 * Skipped with a message when rnnc is built without MPI, when mpirun is
 * missing, and under valgrind (an mpirun job under valgrind's
 * --trace-children would take minutes per case; the one-process half and
 * framework/comm.c's one-rank path run there, through the other cases). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include "dist/dist_cases.h"
#include "framework/ops.h"
#include "helpers/builders.h"
#include "helpers/h5_make.h"
#include "helpers/run_program.h"
#include "io/row_reader.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"

#ifndef RNNC_DIST_WORKER
#define RNNC_DIST_WORKER ""
#endif

/* The ranks under ASan: Open MPI's own allocations kept to the end are not
 * leaks (tests/dist/lsan_mpi.supp); its components stay loaded so that
 * their frames keep their names. */
#define LSAN_MPI "LSAN_OPTIONS=suppressions=" RNNC_SOURCE_DIR "/tests/dist/lsan_mpi.supp:print_suppressions=0"
#define DLCLOSE_OFF "OMPI_MCA_mca_base_component_disable_dlclose=1", "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0"

static bool under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && (strstr(p, "vgpreload") || strstr(p, "valgrind"));
}

static void need_mpi(void)
{
    if (!rnnc_comm_mpi_built() || !*RNNC_DIST_WORKER)
        cr_skip_test("rnnc was built without MPI (configure with -DRNNC_MPI=ON and libopenmpi-dev): skipped");
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test("mpirun not found (apt-get install openmpi-bin): skipped");
    if (under_valgrind())
        cr_skip_test("under valgrind: the mpirun cases are skipped (see the file's comment)");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The "_h5" cases' data file (RNNC_DIST_H5 for the ranks). */
static char g_h5_env[300] = "RNNC_DIST_H5=";

/* Writes case's data (dist_case_data) as x, y, sample_weight of an HDF5
 * file and points RNNC_DIST_H5 at it. */
static void write_case_h5(const char *case_name, char *path, size_t cap)
{
    rnnc_tensor *x, *y, *sw;
    cr_assert_eq(dist_case_data(case_name, &x, &y, &sw), 0);
    snprintf(path, cap, "dist_%s_%d.h5", case_name, getpid());
    rnnc_h5m_dataset ds[3];
    const rnnc_tensor *t[3] = {x, y, sw};
    const char *names[3] = {"x", "y", "sample_weight"};
    for (int k = 0; k < 3; k++) {
        memset(&ds[k], 0, sizeof ds[k]);
        ds[k].name = names[k];
        ds[k].file_type = H5T_IEEE_F32LE;
        ds[k].mem_type = H5T_NATIVE_FLOAT;
        ds[k].ndim = t[k]->shape.ndim;
        for (int d = 0; d < t[k]->shape.ndim; d++)
            ds[k].dims[d] = (hsize_t)t[k]->shape.dim[d];
        ds[k].data = t[k]->data;
        ds[k].chunked = k == 0; /* x row by row, y and the weights contiguous */
    }
    cr_assert(rnnc_h5m_write(path, ds, 3), "cannot write %s", path);
    snprintf(g_h5_env, sizeof g_h5_env, "RNNC_DIST_H5=%s", path);
    setenv("RNNC_DIST_H5", path, 1);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(sw);
}

/* mpirun -np N dist_worker CASE OUT [fault], at most `limit` seconds. */
static rnnc_test_run mpirun(int np, bool tcp, const char *case_name, const char *out, const char *fault,
                            int limit)
{
    char npb[16], lim[16];
    snprintf(npb, sizeof npb, "%d", np);
    snprintf(lim, sizeof lim, "%d", limit);
    /* the stalled-rank case waits 3 s; the others allow a busy
     * machine (ASan, a parallel ctest) its delays */
    const char *env[] = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                         "OMPI_MCA_rmaps_base_oversubscribe=1", "OPENBLAS_NUM_THREADS=1", "OMP_NUM_THREADS=1",
                         fault && strcmp(fault, "stall") == 0 ? "RNNC_COMM_TIMEOUT=3" : "RNNC_COMM_TIMEOUT=120",
                         LSAN_MPI, DLCLOSE_OFF, g_h5_env,
                         NULL};
    const char *args[24];
    int a = 0;
    args[a++] = "--kill-after=5";
    args[a++] = lim;
    args[a++] = "mpirun";
    args[a++] = "--oversubscribe";
    args[a++] = "-np";
    args[a++] = npb;
    if (tcp) {
        args[a++] = "--mca";
        args[a++] = "btl";
        args[a++] = "tcp,self";
    }
    args[a++] = RNNC_DIST_WORKER;
    args[a++] = case_name;
    args[a++] = out;
    if (fault)
        args[a++] = fault;
    args[a] = NULL;
    return rnnc_test_run_program("/usr/bin/timeout", ".", env, args);
}

/* The most rows a rank reads from `rows` rows in batches of bs over np ranks. */
static long long share_of(long long rows, long long bs, int np)
{
    long long share = 0;
    for (long long a = 0; a < rows; a += bs) {
        const long long m = a + bs < rows ? bs : rows - a;
        share += (m + np - 1) / np;
    }
    return share;
}

/* same: N ranks must give one process's weights and logs (1e-6); false:
 * the weights must differ by more than 1e-4 somewhere (the oracle that a
 * computation is really per rank). */
static void check_case_vs(const char *case_name, int np, bool tcp, bool same)
{
    need_mpi();
    dist_result ref;
    /* an "_h5" case against its in-memory form in one process */
    char base[64], h5[256] = "";
    snprintf(base, sizeof base, "%s", case_name);
    const size_t bl = strlen(base);
    const bool from_h5 = bl > 3 && strcmp(base + bl - 3, "_h5") == 0;
    const bool streamed = bl > 7 && strcmp(base + bl - 7, "_stream") == 0;
    if (from_h5) {
        base[bl - 3] = '\0';
        write_case_h5(base, h5, sizeof h5);
    }
    if (streamed) { /* against one process streaming the same file */
        char data[64];
        snprintf(data, sizeof data, "%.*s", (int)(bl - 7), base);
        write_case_h5(data, h5, sizeof h5);
    }
    cr_assert_eq(dist_case_run(base, NULL, NULL, &ref), 0, "the one-process run failed");
    char out[256];
    snprintf(out, sizeof out, "dist_%s_%d_%d.txt", case_name, np, getpid());
    rnnc_test_run r = mpirun(np, tcp, case_name, out, NULL, 240);
    cr_assert_eq(r.code, 0, "mpirun -np %d failed (%d):\n%s\n%s", np, r.code, r.out, r.err);
    FILE *f = fopen(out, "r");
    cr_assert(f, "rank 0 wrote no %s", out);
    size_t n = 0;
    cr_assert_eq(fscanf(f, "%zu", &n), 1);
    cr_assert_eq(n, ref.n, "%zu weights from %d ranks, %zu from one process", n, np, ref.n);
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double v;
        cr_assert_eq(fscanf(f, "%lg", &v), 1);
        double d = fabs(v - ref.w[i]);
        if (d > worst) {
            worst = d;
            at = i;
        }
    }
    if (!same) {
        cr_expect_gt(worst, 1e-4, "%s, %d ranks: the weights are one process's (worst difference %g)", case_name, np,
                     worst);
        fclose(f);
        remove(out);
        dist_result_free(&ref);
        rnnc_test_run_free(&r);
        return;
    }
    cr_expect_leq(worst, 1e-6, "%s, %d ranks: weight %zu differs by %g from one process", case_name, np, at,
                  worst);
    long long rows_total = -1, rows_max = -1, vrows_total = -1, vrows_max = -1;
    cr_assert_eq(fscanf(f, " ROWS %lld %lld %lld %lld", &rows_total, &rows_max, &vrows_total, &vrows_max), 4);
    if (streamed)
        remove(h5);
    if (from_h5) {
        /* 3 epochs: every row read once per epoch, by one rank; none
         * read more than its share of each batch */
        rnnc_tensor *x, *y, *sw;
        cr_assert_eq(dist_case_data(base, &x, &y, &sw), 0);
        const long long rows = x->shape.dim[0], bs = strncmp(base, "mask", 4) == 0 ? 4 : 5;
        long long share = share_of(rows, bs, np);
        if (strstr(base, "_vsplit")) /* 7 training rows, then 3 validation rows (validation_split 0.3) */
            share = share_of(7, bs, np) + share_of(rows - 7, bs, np);
        cr_expect_eq(rows_total, 3 * rows, "%s, %d ranks: %lld rows read from the file, want %lld", case_name, np,
                     rows_total, 3 * rows);
        cr_expect_leq(rows_max, 3 * share, "%s, %d ranks: a rank read %lld rows, its share is %lld", case_name, np,
                      rows_max, 3 * share);
        if (strstr(base, "_vfile")) { /* validation: every row once per epoch, each rank its share */
            cr_expect_eq(vrows_total, 3 * rows, "%s, %d ranks: %lld validation rows read, want %lld", case_name, np,
                         vrows_total, 3 * rows);
            cr_expect_leq(vrows_max, 3 * share, "%s, %d ranks: a rank read %lld validation rows, its share is %lld",
                          case_name, np, vrows_max, 3 * share);
        }
        rnnc_tensor_destroy(x);
        rnnc_tensor_destroy(y);
        rnnc_tensor_destroy(sw);
        remove(h5);
    }
    /* the printed numbers are the global ones */
    int nlogs = 0;
    char name[64];
    double v;
    while (fscanf(f, "%63s %lg", name, &v) == 2) {
        const double *want = rnnc_logs_get(&ref.logs, name);
        cr_assert(want, "log '%s' is not in the one-process logs", name);
        /* validation: 1e-6 (the bound) */
        const double tol = strncmp(name, "val_", 4) == 0 ? 1e-6 : 1e-5;
        cr_expect(fabs(v - *want) <= tol * (1 + fabs(*want)), "%s, %d ranks: %s %.9g, one process %.9g", case_name,
                  np, name, v, *want);
        nlogs++;
    }
    cr_expect_eq(nlogs, ref.logs.n, "%d logs from %d ranks, %d from one process", nlogs, np, ref.logs.n);
    fclose(f);
    remove(out);
    dist_result_free(&ref);
    rnnc_test_run_free(&r);
}

static void check_case(const char *case_name, int np, bool tcp) { check_case_vs(case_name, np, tcp, true); }

Test(distributed, mask_sw_sgd_1_rank) { check_case("mask_sw_sgd", 1, false); }
Test(distributed, mask_sw_sgd_2_ranks_over_tcp) { check_case("mask_sw_sgd", 2, true); }
Test(distributed, mask_sw_sgd_3_ranks) { check_case("mask_sw_sgd", 3, false); }
Test(distributed, mask_sw_sgd_4_ranks) { check_case("mask_sw_sgd", 4, false); }
Test(distributed, mask_sw_sgd_rows_from_hdf5_on_3_ranks) { check_case("mask_sw_sgd_h5", 3, false); }
Test(distributed, bidir_adam_reg_rows_from_hdf5_on_2_ranks) { check_case("bidir_adam_reg_h5", 2, false); }
Test(distributed, mask_sw_sgd_streamed_on_3_ranks) { check_case("mask_sw_sgd_stream", 3, false); }
Test(distributed, bidir_adam_reg_streamed_on_2_ranks) { check_case("bidir_adam_reg_stream", 2, false); }
Test(distributed, bidir_adam_reg_1_rank) { check_case("bidir_adam_reg", 1, false); }
Test(distributed, bidir_adam_reg_2_ranks) { check_case("bidir_adam_reg", 2, false); }
Test(distributed, bidir_adam_reg_3_ranks) { check_case("bidir_adam_reg", 3, false); }
Test(distributed, bidir_adam_reg_4_ranks) { check_case("bidir_adam_reg", 4, false); }
/* An Embedding's rows per occurrence are gathered over the ranks (Adam squares each one) */
Test(distributed, embed_adam_2_ranks) { check_case("embed_adam", 2, false); }
Test(distributed, embed_adam_3_ranks) { check_case("embed_adam", 3, false); }

/* Validation under mpirun: each rank evaluates its part of every
 * validation batch and the logs are reduced: the val_ numbers of one
 * process, with the validation rows read from the file (each rank its
 * share) or split off with validation_split (in memory, or off a file's
 * rows). */
Test(distributed, validation_rows_from_hdf5_on_3_ranks) { check_case("mask_sw_sgd_vfile_h5", 3, false); }
Test(distributed, validation_split_of_hdf5_rows_on_2_ranks) { check_case("mask_sw_sgd_vsplit_h5", 2, false); }
Test(distributed, validation_split_in_memory_on_3_ranks) { check_case("mask_sw_sgd_vsplit", 3, false); }

/* BatchNormalization synchronized: true: the batch statistics (and so the
 * gradients and the moving mean / variance) of the global batch, masked
 * or not, with a rank left without rows by the last batch. */
Test(distributed, batch_norm_synchronized_2_ranks) { check_case("bn_plain", 2, false); }
Test(distributed, batch_norm_synchronized_3_ranks) { check_case("bn_plain", 3, false); }
Test(distributed, batch_norm_synchronized_masked_2_ranks) { check_case("bn_mask", 2, false); }
Test(distributed, batch_norm_synchronized_masked_3_ranks) { check_case("bn_mask", 3, false); }
/* A model that cannot be serialized (a layer without a config): the ranks
 * left without rows must still join the synchronized statistics (they hung
 * until the collective timeout when the config was what told them to) */
Test(distributed, batch_norm_synchronized_model_without_config) { check_case("bn_plain_noconfig", 3, false); }
/* synchronized: false keeps each rank's own statistics (Keras's per-replica
 * ones): not one process's weights */
Test(distributed, batch_norm_not_synchronized_is_per_rank)
{
    check_case_vs("bn_mask_local", 2, false, false);
    check_case_vs("bn_plain_local", 3, false, false);
}

static void check_fault(const char *fault, const char *expect)
{
    need_mpi();
    char out[256];
    snprintf(out, sizeof out, "dist_fault_%s_%d.txt", fault, getpid());
    const double t0 = now();
    rnnc_test_run r = mpirun(3, false, "mask_sw_sgd", out, fault, 100);
    const double secs = now() - t0;
    cr_expect_neq(r.code, 0, "a %s rank: mpirun exited 0", fault);
    cr_expect_neq(r.code, 124, "a %s rank: mpirun hung (killed by timeout after %.0f s)", fault, secs);
    cr_expect_lt(secs, 60, "a %s rank: took %.0f s to stop", fault, secs);
    cr_expect(strstr(r.err, expect) || strstr(r.out, expect), "a %s rank: no '%s' in:\n%s\n%s", fault, expect,
              r.out, r.err);
    cr_expect(access(out, F_OK) != 0, "a %s rank: the result file was written", fault);
    remove(out);
    rnnc_test_run_free(&r);
}

/* The cause of the fault case's lost message (empty output, the right
 * exit code): two tests running programs in the same folder at once (as
 * criterion runs them without --jobs 1) shared the capture files, and the
 * first to finish unlinked the other's. Each capture is now the caller's
 * own: a slow program's output survives a quick one's run beside it. */
Test(distributed, programs_run_side_by_side_keep_their_own_output)
{
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fd[0]);
        rnnc_test_run r = rnnc_test_run_program("/bin/sh", ".", NULL,
                                                (const char *[]){"-c", "sleep 1; echo slow; echo slow-err >&2", NULL});
        char got[256];
        int n = snprintf(got, sizeof got, "%s|%s", r.out, r.err);
        _exit(write(fd[1], got, (size_t)n) == n ? 0 : 1);
    }
    close(fd[1]);
    rnnc_test_run q = rnnc_test_run_program("/bin/sh", ".", NULL, (const char *[]){"-c", "echo quick", NULL});
    cr_expect_str_eq(q.out, "quick\n");
    char got[256] = "";
    ssize_t n = 0, k;
    while ((k = read(fd[0], got + n, sizeof got - 1 - (size_t)n)) > 0)
        n += k;
    got[n] = '\0';
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    cr_expect_str_eq(got, "slow\n|slow-err\n", "the slow program's capture: '%s'", got);
    rnnc_test_run_free(&q);
}

Test(distributed, a_killed_rank_stops_every_rank) { check_fault("die", "signal 9"); }
Test(distributed, a_stalled_rank_stops_every_rank_after_the_timeout)
{
    check_fault("stall", "a rank died or stalled");
}

/* ---- `mpirun -np N rnnc train` ------------------------------------------ */

static const char *const tiny_spec =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    name: tiny\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 8, 2]}}\n"
    "      - {class_name: GRU, config: {name: gru, units: 6}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}\n"
    "  loss: mse\n"
    "  metrics: [mae]\n"
    "fit: {epochs: 3, batch_size: 10, seed: 3, verbose: 2}\n"
    "data: {task: adding, timesteps: 8, samples: 55, validation_samples: 12, test_samples: 9, seed: 7}\n"
    "checkpoint: {directory: ckpt, every: 1, keep: 5}\n";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* The weights of the spec's model in file `weights`, flattened. */
static size_t load_flat(const char *spec, const char *weights, double *out, size_t cap)
{
    rnnc_cfg *cfg;
    rnnc_model *m;
    cr_assert_eq(rnnc_spec_read_file(spec, &cfg), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_from_config(cfg, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_load_weights(m, weights), RNNC_OK, "%s: %s", weights, rnnc_last_error());
    rnnc_weight *w[64];
    int nw = 0;
    cr_assert_eq(rnnc_model_weights(m, w, 64, &nw), RNNC_OK);
    size_t n = 0;
    for (int i = 0; i < nw; i++)
        for (size_t j = 0; j < w[i]->value->numel && n < cap; j++)
            out[n++] = rnnc_tensor_get(w[i]->value, j);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(cfg);
    return n;
}

static rnnc_test_run run_rnnc(int np, const char *dir, const char *const *extra)
{
    char npb[16];
    snprintf(npb, sizeof npb, "%d", np);
    const char *env[] = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OPENBLAS_NUM_THREADS=1",
                         "RNNC_COMM_TIMEOUT=60", LSAN_MPI, DLCLOSE_OFF, NULL};
    const char *args[32];
    int a = 0;
    if (np > 0) {
        args[a++] = "--kill-after=5";
        args[a++] = "240";
        args[a++] = "mpirun";
        args[a++] = "--oversubscribe";
        args[a++] = "-np";
        args[a++] = npb;
    }
    args[a++] = RNNC_BUILD_DIR "/rnnc";
    args[a++] = "train";
    args[a++] = "tiny.yaml";
    for (int i = 0; extra[i]; i++)
        args[a++] = extra[i];
    args[a] = NULL;
    return rnnc_test_run_program(np > 0 ? "/usr/bin/timeout" : RNNC_BUILD_DIR "/rnnc", dir, env,
                                 np > 0 ? args : args + 1);
}

static int count_of(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

/* Two ranks train 2 epochs, three ranks resume for the third: the same
 * weights and printed numbers as one process training 3 epochs; rank 0
 * alone prints and writes (one progress display, the checkpoints of a
 * one-process run and nothing else). */
Test(distributed, rnnc_train_two_ranks_then_resume_on_three)
{
    need_mpi();
    char one[64], dist[64];
    snprintf(one, sizeof one, "dist_cli_one_%d", getpid());
    snprintf(dist, sizeof dist, "dist_cli_n_%d", getpid());
    rnnc_test_rm_tree(one);
    rnnc_test_rm_tree(dist);
    mkdir(one, 0755);
    mkdir(dist, 0755);
    char p1[128], p2[128];
    snprintf(p1, sizeof p1, "%s/tiny.yaml", one);
    snprintf(p2, sizeof p2, "%s/tiny.yaml", dist);
    write_file(p1, tiny_spec);
    write_file(p2, tiny_spec);

    rnnc_test_run r1 = run_rnnc(0, one, (const char *[]){"--save-weights", "w.weights.h5", NULL});
    cr_assert_eq(r1.code, 0, "one process: %s\n%s", r1.out, r1.err);
    rnnc_test_run r2 = run_rnnc(2, dist, (const char *[]){"--epochs", "2", NULL});
    cr_assert_eq(r2.code, 0, "2 ranks: %s\n%s", r2.out, r2.err);
    cr_expect_eq(count_of(r2.out, "Epoch 1/2"), 1, "one progress display expected:\n%s", r2.out);
    rnnc_test_run r3 = run_rnnc(3, dist, (const char *[]){"--resume", "ckpt", "--save-weights", "w.weights.h5", NULL});
    cr_assert_eq(r3.code, 0, "3 ranks, resumed: %s\n%s", r3.out, r3.err);
    cr_expect_eq(count_of(r3.out, "Epoch 3/3"), 1, "one progress display expected:\n%s", r3.out);

    /* the same numbers printed: the last epoch's line and the test split */
    const char *f1 = strstr(r1.out, "Final epoch:"), *f3 = strstr(r3.out, "Final epoch:");
    cr_assert(f1 && f3, "no final line:\n%s\n%s", r1.out, r3.out);
    cr_expect_eq(strncmp(f1, f3, strcspn(f1, "\n")), 0, "one process: %.*s\nranks: %.*s", (int)strcspn(f1, "\n"), f1,
                 (int)strcspn(f3, "\n"), f3);
    char w1[160], w3[160];
    snprintf(w1, sizeof w1, "%s/w.weights.h5", one);
    snprintf(w3, sizeof w3, "%s/w.weights.h5", dist);
    static double a[4096], b[4096];
    size_t na = load_flat(p1, w1, a, 4096), nb = load_flat(p2, w3, b, 4096);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        cr_expect(fabs(a[i] - b[i]) <= 1e-6, "weight %zu: one process %.9g, ranks %.9g", i, a[i], b[i]);
    /* the files of a one-process run, once */
    char ck[160];
    for (int e = 1; e <= 3; e++) {
        snprintf(ck, sizeof ck, "%s/ckpt/ckpt-%06d.weights.h5", dist, e);
        cr_expect(access(ck, F_OK) == 0, "missing %s", ck);
    }
    rnnc_test_run_free(&r1);
    rnnc_test_run_free(&r2);
    rnnc_test_run_free(&r3);
    rnnc_test_rm_tree(one);
    rnnc_test_rm_tree(dist);
}

/* `rnnc train tiny.yaml` (the spec text) in one process (*r1) and on np
 * ranks (*r2), each in a folder of its own (removed after). */
static void one_and_ranks(const char *tag, const char *spec, int np, rnnc_test_run *r1, rnnc_test_run *r2)
{
    char one[64], dist[64], p1[128], p2[128];
    snprintf(one, sizeof one, "dist_%s_one_%d", tag, getpid());
    snprintf(dist, sizeof dist, "dist_%s_n_%d", tag, getpid());
    rnnc_test_rm_tree(one);
    rnnc_test_rm_tree(dist);
    mkdir(one, 0755);
    mkdir(dist, 0755);
    snprintf(p1, sizeof p1, "%s/tiny.yaml", one);
    snprintf(p2, sizeof p2, "%s/tiny.yaml", dist);
    write_file(p1, spec);
    write_file(p2, spec);
    *r1 = run_rnnc(0, one, (const char *[]){NULL});
    *r2 = run_rnnc(np, dist, (const char *[]){NULL});
    rnnc_test_rm_tree(one);
    rnnc_test_rm_tree(dist);
    cr_assert_eq(r1->code, 0, "one process: %s\n%s", r1->out, r1->err);
    cr_assert_eq(r2->code, 0, "%d ranks: %s\n%s", np, r2->out, r2->err);
}

/* Callbacks on rank 0 only (as `rnnc train` runs them): EarlyStopping's
 * stop and restored weights and ReduceLROnPlateau's learning rate reach the
 * other ranks, so the run ends as one process's does. */
Test(distributed, rnnc_train_callbacks_on_rank_0_steer_every_rank)
{
    need_mpi();
    static const char *const cb_spec =
        "model:\n"
        "  class_name: Sequential\n"
        "  config:\n"
        "    name: cb\n"
        "    layers:\n"
        "      - {class_name: InputLayer, config: {batch_shape: [null, 8, 2]}}\n"
        "      - {class_name: GRU, config: {name: gru, units: 6}}\n"
        "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
        "compile:\n"
        "  optimizer: {class_name: Adam, config: {learning_rate: 0.05}}\n"
        "  loss: mse\n"
        "fit:\n"
        "  epochs: 12\n"
        "  batch_size: 16\n"
        "  seed: 3\n"
        "  verbose: 2\n"
        "  callbacks:\n"
        "    - EarlyStopping: {monitor: val_loss, min_delta: 0.01, patience: 2, restore_best_weights: true}\n"
        "    - ReduceLROnPlateau: {monitor: val_loss, factor: 0.5, patience: 0, min_delta: 0.05}\n"
        "data: {task: adding, timesteps: 8, samples: 120, validation_samples: 30, test_samples: 9, seed: 7}\n";
    rnnc_test_run r1, r2;
    one_and_ranks("cb", cb_spec, 2, &r1, &r2);
    /* the oracle's run must exercise both callbacks */
    cr_assert(strstr(r1.out, "learning_rate: 0.0250"), "ReduceLROnPlateau never acted:\n%s", r1.out);
    cr_assert(!strstr(r1.out, "Epoch 12/12"), "EarlyStopping never stopped:\n%s", r1.out);
    const char *f1 = strstr(r1.out, "Final epoch:"), *f2 = strstr(r2.out, "Final epoch:");
    const char *t1 = strstr(r1.out, "Test ("), *t2 = strstr(r2.out, "Test (");
    cr_assert(f1 && f2 && t1 && t2, "no summary:\n%s\n%s", r1.out, r2.out);
    cr_expect_eq(strncmp(f1, f2, strcspn(f1, "\n")), 0, "one process: %.*s\n2 ranks: %.*s", (int)strcspn(f1, "\n"), f1,
                 (int)strcspn(f2, "\n"), f2);
    /* the test split is evaluated with the restored weights on every rank */
    cr_expect_eq(strncmp(t1, t2, strcspn(t1, "\n")), 0, "one process: %.*s\n2 ranks: %.*s", (int)strcspn(t1, "\n"), t1,
                 (int)strcspn(t2, "\n"), t2);
    cr_expect_eq(count_of(r1.out, "Epoch "), count_of(r2.out, "Epoch "), "epochs run differ:\n%s\n%s", r1.out, r2.out);
    rnnc_test_run_free(&r1);
    rnnc_test_run_free(&r2);
}

/* mpirun rnnc train with HDF5 training, validation and test files (each
 * rank reads its rows of every batch of all three) and a synchronized
 * BatchNormalization (11 rows in batches of 5: the last batch leaves two of
 * the three ranks without rows): the printed epoch line (val_ included) and
 * test line are one process's. The same with fit.validation_split (its
 * last 4 rows validate, read by rows too). */
Test(distributed, rnnc_train_validation_and_test_files_by_rows)
{
    need_mpi();
    char h5[256], cwd[1024], abs_h5[1400];
    write_case_h5("bidir_adam_reg", h5, sizeof h5);
    cr_assert(getcwd(cwd, sizeof cwd), "getcwd");
    snprintf(abs_h5, sizeof abs_h5, "%s/%s", cwd, h5);
    for (int split = 0; split < 2; split++) {
        char spec[8192], fit[5000];
        if (split)
            snprintf(fit, sizeof fit, "fit: {epochs: 2, batch_size: 5, seed: 3, verbose: 2, validation_split: 0.3}\n"
                                      "data: {path: '%s', streaming: false}\n", abs_h5);
        else
            snprintf(fit, sizeof fit, "fit: {epochs: 2, batch_size: 5, seed: 3, verbose: 2, validation_data: {path: '%s'}}\n"
                                      "data: {path: '%s', streaming: false, test: '%s'}\n", abs_h5, abs_h5, abs_h5);
        snprintf(spec, sizeof spec,
                 "model:\n"
                 "  class_name: Sequential\n"
                 "  config:\n"
                 "    name: vt\n"
                 "    layers:\n"
                 "      - {class_name: InputLayer, config: {batch_shape: [null, 5, 2]}}\n"
                 "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
                 "      - {class_name: BatchNormalization, config: {name: bn, synchronized: true}}\n"
                 "      - {class_name: Dense, config: {name: dense, units: 3}}\n"
                 "compile:\n"
                 "  optimizer: {class_name: SGD, config: {learning_rate: 0.05}}\n"
                 "  loss: categorical_crossentropy\n"
                 "  metrics: [categorical_accuracy]\n"
                 "%s",
                 fit);
        rnnc_test_run r1, r2;
        one_and_ranks("vt", spec, 3, &r1, &r2);
        const char *what = split ? "Validation (4 samples)" : "Test (11 samples)";
        const char *f1 = strstr(r1.out, "Final epoch:"), *f2 = strstr(r2.out, "Final epoch:");
        const char *t1 = strstr(r1.out, what), *t2 = strstr(r2.out, what);
        cr_assert(f1 && f2 && t1 && t2, "no summary:\n%s\n%s", r1.out, r2.out);
        cr_assert(strstr(f1, "val_loss"), "no validation in:\n%s", r1.out);
        if (!split)
            cr_expect(strstr(r2.out, "Each rank reads its rows of every validation batch from") &&
                          strstr(r2.out, "Each rank reads its rows of every test batch from"),
                      "validation and test not read by rows:\n%s", r2.out);
        else /* the split read by rows too: the first 7 rows train (batches of 5 and 2 over 3 ranks, 2 epochs) */
            cr_expect(strstr(r2.out, "(its last 4 rows)") && strstr(r2.out, "by each rank: 6 6 2\n"),
                      "validation_split not read by rows:\n%s", r2.out);
        cr_expect_eq(strncmp(f1, f2, strcspn(f1, "\n")), 0, "one process: %.*s\n3 ranks: %.*s", (int)strcspn(f1, "\n"),
                     f1, (int)strcspn(f2, "\n"), f2);
        cr_expect_eq(strncmp(t1, t2, strcspn(t1, "\n")), 0, "one process: %.*s\n3 ranks: %.*s", (int)strcspn(t1, "\n"),
                     t1, (int)strcspn(t2, "\n"), t2);
        rnnc_test_run_free(&r1);
        rnnc_test_run_free(&r2);
    }
    remove(h5);
}

/* One process reading its batches' rows from the file trains exactly as
 * with the data in memory, reading each row once per epoch. */
Test(distributed, rows_from_hdf5_in_one_process_equal_the_data_in_memory)
{
    const char *cases[2] = {"mask_sw_sgd", "bidir_adam_reg"};
    for (int c = 0; c < 2; c++) {
        char h5[256], name[64];
        write_case_h5(cases[c], h5, sizeof h5);
        snprintf(name, sizeof name, "%s_h5", cases[c]);
        dist_result a, b;
        cr_assert_eq(dist_case_run(cases[c], NULL, NULL, &a), 0);
        cr_assert_eq(dist_case_run(name, NULL, NULL, &b), 0);
        cr_assert_eq(a.n, b.n);
        for (size_t i = 0; i < a.n; i++)
            cr_assert_eq(a.w[i], b.w[i], "%s: weight %zu: %.9g in memory, %.9g from the file", cases[c], i, a.w[i],
                         b.w[i]);
        rnnc_tensor *x, *y, *sw;
        cr_assert_eq(dist_case_data(cases[c], &x, &y, &sw), 0);
        cr_expect_eq(b.rows_read, 3 * x->shape.dim[0], "%s: %lld rows read", cases[c], (long long)b.rows_read);
        rnnc_tensor_destroy(x);
        rnnc_tensor_destroy(y);
        rnnc_tensor_destroy(sw);
        dist_result_free(&a);
        dist_result_free(&b);
        remove(h5);
    }
}

/* A row source that fails: fit stops with its message. */
static rnnc_status failing_read(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                                rnnc_tensor **y, rnnc_tensor **sw)
{
    (void)user, (void)cx, (void)rows, (void)count, (void)x, (void)y, (void)sw;
    return rnnc_fail(RNNC_E_IO, "'data.h5': the disk went away");
}

Test(distributed, a_failing_row_source_stops_fit_with_its_message)
{
    rnnc_dataset_rows *r = NULL;
    cr_expect_neq(rnnc_dataset_rows_open("no/such/file.h5", NULL, &r), RNNC_OK);
    cr_expect_null(r);
    cr_expect(strstr(rnnc_last_error(), "no/such/file.h5"), "%s", rnnc_last_error());
    rnnc_cfg *cfg = th_parse("{class_name: Sequential, config: {name: s, layers: ["
                             "{class_name: InputLayer, config: {batch_shape: [null, 3]}},"
                             "{class_name: Dense, config: {name: d, units: 1}}]}}");
    rnnc_model *m;
    rnnc_trainer *tr;
    cr_assert_eq(rnnc_model_from_config(cfg, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    rnnc_cfg *loss = th_parse("mse");
    cr_assert_eq(rnnc_trainer_compile_config(tr, NULL, loss, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_row_source src = {5, failing_read, NULL};
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.verbose = RNNC_VERBOSE_SILENT;
    cr_expect_eq(rnnc_trainer_fit_source(tr, &src, &fo, NULL), RNNC_E_IO);
    cr_expect(strstr(rnnc_last_error(), "the disk went away"), "%s", rnnc_last_error());
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(cfg);
    rnnc_cfg_destroy(loss);
}

/* The hook the gradient buckets start from: a leaf is reported as soon as
 * no node left to run reads it, before backward reaches the nodes of the
 * leaves used earlier; a leaf no node reads comes last. */
typedef struct ready_log {
    rnnc_tensor *const *leaves;
    int order[4], n;
    double w1_grad_when_w2_ready;
} ready_log;

static rnnc_status on_ready(void *user, int i)
{
    ready_log *l = user;
    if (i == 1) /* w2: w1's gradient must not have been computed yet */
        l->w1_grad_when_w2_ready = ((const float *)l->leaves[0]->grad)[0];
    l->order[l->n++] = i;
    return RNNC_OK;
}

Test(distributed, backward_reports_each_gradient_as_soon_as_it_is_final)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    const rnnc_shape s1 = RNNC_SHAPE(1);
    const double one = 2.0, two = 3.0, xv = 5.0;
    rnnc_tensor *w1 = th_tensor(RNNC_F32, s1, &one), *w2 = th_tensor(RNNC_F32, s1, &two),
                *unused = th_tensor(RNNC_F32, s1, &one), *x = th_tensor(RNNC_F32, s1, &xv);
    cr_assert_eq(rnnc_tensor_set_requires_grad(w1, true), RNNC_OK);
    cr_assert_eq(rnnc_tensor_set_requires_grad(w2, true), RNNC_OK);
    cr_assert_eq(rnnc_tensor_set_requires_grad(unused, true), RNNC_OK);
    rnnc_tensor *h, *y, *loss;
    /* loss = sum(w2 * (w1 * x)): w1's node runs after w2's in backward */
    cr_assert_eq(rnnc_mul(cx, w1, x, &h), RNNC_OK);
    cr_assert_eq(rnnc_mul(cx, w2, h, &y), RNNC_OK);
    cr_assert_eq(rnnc_sum(cx, y, NULL, 0, false, &loss), RNNC_OK);
    rnnc_tensor *leaves[3] = {w1, w2, unused};
    ready_log log = {leaves, {0}, 0, -1};
    rnnc_ctx_watch_grads(cx, leaves, 3, on_ready, &log);
    cr_assert_eq(rnnc_backward(cx, loss), RNNC_OK, "%s", rnnc_last_error());
    rnnc_ctx_watch_grads(cx, NULL, 0, NULL, NULL);
    cr_assert_eq(log.n, 3);
    cr_expect_eq(log.order[0], 1, "w2 first");
    cr_expect_eq(log.order[1], 0, "then w1");
    cr_expect_eq(log.order[2], 2, "the unused leaf last");
    cr_expect_eq(log.w1_grad_when_w2_ready, 0.0, "w2 was reported only after w1's gradient was computed");
    cr_expect_eq(((const float *)w1->grad)[0], 15.0f); /* d/dw1 = w2 * x */
    cr_expect_eq(((const float *)w2->grad)[0], 10.0f); /* d/dw2 = w1 * x */
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(w1);
    rnnc_tensor_destroy(w2);
    rnnc_tensor_destroy(unused);
    rnnc_tensor_destroy(x);
}

/* The reduction synchronized BatchNormalization uses, in one process: a
 * sum over the listed axes times the scale, its gradient spread back
 * times the scale (by hand); a stand-in rank's x counts as zeros and gets
 * no gradient. */
Test(distributed, sum_over_the_ranks_in_one_process)
{
    rnnc_comm *c;
    cr_assert_eq(rnnc_comm_single(&c), RNNC_OK);
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_comm(cx, c);
    const double xv[6] = {1, 2, 3, 4, 5, 6}, wv[3] = {1, 10, 100};
    rnnc_tensor *x = th_tensor(RNNC_F32, RNNC_SHAPE(2, 3), xv), *w = th_tensor(RNNC_F32, RNNC_SHAPE(1, 3), wv);
    cr_assert_eq(rnnc_tensor_set_requires_grad(x, true), RNNC_OK);
    for (int stand_in = 0; stand_in < 2; stand_in++) {
        rnnc_comm_set_stand_in(c, stand_in);
        rnnc_tensor *y, *p, *loss;
        const int ax[1] = {0};
        cr_assert_eq(rnnc_comm_sum_op(cx, x, ax, 1, 0.5, &y), RNNC_OK, "%s", rnnc_last_error());
        cr_assert_eq(y->shape.ndim, 2);
        cr_assert_eq(y->shape.dim[0], 1);
        cr_assert_eq(y->shape.dim[1], 3);
        for (int j = 0; j < 3; j++) /* (x[0][j] + x[1][j]) / 2, or nothing from a stand-in */
            cr_expect_eq(rnnc_tensor_get(y, (size_t)j), stand_in ? 0.0 : (xv[j] + xv[3 + j]) * 0.5);
        cr_assert_eq(rnnc_mul(cx, y, w, &p), RNNC_OK);
        cr_assert_eq(rnnc_sum(cx, p, NULL, 0, false, &loss), RNNC_OK);
        cr_assert_eq(rnnc_backward(cx, loss), RNNC_OK, "%s", rnnc_last_error());
        for (int i = 0; i < 6; i++) /* d loss / d x[i][j] = w[j] * 0.5 */
            cr_expect_eq(rnnc_tensor_get_grad(x, (size_t)i), stand_in ? 0.0 : wv[i % 3] * 0.5, "x.grad[%d]", i);
        rnnc_tensor_zero_grad(x);
        rnnc_ctx_clear(cx);
    }
    rnnc_comm_set_stand_in(c, false);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(w);
    rnnc_ctx_destroy(cx);
    rnnc_comm_destroy(c);
}

/* Without MPI ranks, a one-rank communicator changes nothing. */
Test(distributed, one_rank_communicator_is_one_process)
{
    rnnc_comm *c;
    cr_assert_eq(rnnc_comm_single(&c), RNNC_OK);
    cr_assert_eq(rnnc_comm_size(c), 1);
    /* BatchNormalization synchronized: true is the local computation, bit for bit */
    const char *cases[2] = {"bidir_adam_reg", "bn_mask"};
    for (int k = 0; k < 2; k++) {
        dist_result a, b;
        cr_assert_eq(dist_case_run(cases[k], NULL, NULL, &a), 0);
        cr_assert_eq(dist_case_run(cases[k], c, NULL, &b), 0);
        cr_assert_eq(a.n, b.n);
        for (size_t i = 0; i < a.n; i++)
            cr_assert_eq(a.w[i], b.w[i], "%s: weight %zu", cases[k], i);
        dist_result_free(&a);
        dist_result_free(&b);
    }
    double buf[2] = {1.5, 2.5};
    cr_assert_eq(rnnc_comm_allreduce_sum(c, buf, 2, RNNC_F64), RNNC_OK);
    cr_assert_eq(buf[0], 1.5);
    rnnc_comm_destroy(c);
}
