/* test_dist_stateful.c - `mpirun -np N rnnc train` of a model with a
 * stateful GRU: each rank runs its part of every global batch (the first
 * batch % N ranks one row more), so every rank's part must hold the
 * stateful batch size B (the input's batch_shape), as Keras requires of
 * every batch. A global batch size that gives some rank another part is
 * refused before the first epoch (no epoch line, no history file); one of
 * N x B trains.
 *
 * The oracle: the split rule (the rows of a global batch of m, N ranks)
 * worked by hand per case, and the file system (history.json written or
 * not). Skipped without MPI, without mpirun, and under valgrind (as
 * test_distributed's mpirun cases). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "framework/comm.h"
#include "helpers/run_program.h"

#define LSAN_MPI "LSAN_OPTIONS=suppressions=" RNNC_SOURCE_DIR "/tests/dist/lsan_mpi.supp:print_suppressions=0"
#define DLCLOSE_OFF "OMPI_MCA_mca_base_component_disable_dlclose=1", "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_diststate_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(dist_stateful, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 300);

static void need_mpi(void)
{
    const char *p = getenv("LD_PRELOAD");
    if (!rnnc_comm_mpi_built())
        cr_skip_test("rnnc was built without MPI (configure with -DRNNC_MPI=ON and libopenmpi-dev): skipped");
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test("mpirun not found (apt-get install openmpi-bin): skipped");
    if (p && (strstr(p, "vgpreload") || strstr(p, "valgrind")))
        cr_skip_test("under valgrind: the mpirun cases are skipped (as test_distributed's)");
}

/* tmpdir/<tag>/tiny.yaml: a stateful GRU of batch size 4, `samples`
 * training samples (12 for validation), fit.batch_size `bs`. */
static void write_spec(const char *tag, int samples, int bs)
{
    char dir[512], path[600], text[2048];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, tag);
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    snprintf(text, sizeof text,
             "model:\n"
             "  class_name: Sequential\n"
             "  config:\n"
             "    name: tiny\n"
             "    layers:\n"
             "      - {class_name: InputLayer, config: {batch_shape: [4, 6, 2]}}\n"
             "      - {class_name: GRU, config: {name: gru, units: 4, stateful: true}}\n"
             "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
             "compile:\n"
             "  optimizer: {class_name: Adam, config: {learning_rate: 0.01}}\n"
             "  loss: mse\n"
             "fit: {epochs: 2, batch_size: %d, shuffle: false, seed: 3, verbose: 2, history: hist}\n"
             "data: {task: adding, timesteps: 6, samples: %d, validation_samples: 24, seed: 7}\n",
             bs, samples);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* mpirun -np np rnnc train tiny.yaml in tmpdir/<tag>. */
static rnnc_test_run run_ranks(const char *tag, int np)
{
    char dir[512], npb[16];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, tag);
    snprintf(npb, sizeof npb, "%d", np);
    const char *env[] = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OPENBLAS_NUM_THREADS=1",
                         "RNNC_COMM_TIMEOUT=60", LSAN_MPI, DLCLOSE_OFF, NULL};
    const char *args[] = {"--kill-after=5", "240", "mpirun", "--oversubscribe", "-np", npb,
                          RNNC_BUILD_DIR "/rnnc", "train", "tiny.yaml", NULL};
    rnnc_test_run r = rnnc_test_run_program("/usr/bin/timeout", dir, env, args);
    cr_assert_neq(r.code, -1, "cannot start mpirun");
    return r;
}

static bool has_history(const char *tag)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s/hist/history.json", tmpdir, tag);
    return access(p, F_OK) == 0;
}

/* Refused before the first epoch: non-zero exit, the message names the
 * stateful layer and every fragment; no epoch ran. */
static void expect_refused(const char *tag, int np, const char *const *frags)
{
    rnnc_test_run r = run_ranks(tag, np);
    cr_expect_neq(r.code, 0, "%s: mpirun exited 0:\n%s", tag, r.out);
    cr_expect_neq(r.code, 124, "%s: mpirun hung", tag);
    cr_expect(strstr(r.err, "'gru' is stateful with batch size 4") != NULL, "%s: no stateful message:\n%s", tag,
              r.err);
    for (int i = 0; frags[i]; i++)
        cr_expect(strstr(r.err, frags[i]) != NULL, "%s: stderr lacks '%s':\n%s", tag, frags[i], r.err);
    cr_expect(strstr(r.out, "Epoch 1") == NULL, "%s: an epoch started before the check:\n%s", tag, r.out);
    cr_expect(!has_history(tag), "%s: history.json written: an epoch ran", tag);
    rnnc_test_run_free(&r);
}

/* fit.batch_size 4 on 2 ranks: each rank's part of a batch holds 2, not 4
 * (one process would take it). */
Test(dist_stateful, global_batch_of_the_stateful_size_is_refused_before_the_first_epoch)
{
    need_mpi();
    write_spec("b4", 32, 4);
    expect_refused("b4", 2,
                   (const char *const[]){"data-parallel on 2 ranks", "part of a batch of 4 holds 2",
                                         "fit.batch_size 8", NULL});
}

/* fit.batch_size 12 on 3 ranks: full batches split 4+4+4, but the last of
 * 32 samples (32 % 12 = 8 rows) splits 3+3+2. */
Test(dist_stateful, a_last_batch_that_splits_unevenly_is_refused_before_the_first_epoch)
{
    need_mpi();
    write_spec("last", 32, 12);
    expect_refused("last", 3,
                   (const char *const[]){"data-parallel on 3 ranks", "part of its last batch of 8 holds", NULL});
}

/* fit.batch_size 8 = 2 ranks x 4, 32 samples (and 24 validation samples):
 * every rank's part of every batch holds 4, so it trains. */
Test(dist_stateful, ranks_times_the_stateful_size_trains)
{
    need_mpi();
    write_spec("b8", 32, 8);
    rnnc_test_run r = run_ranks("b8", 2);
    cr_expect_eq(r.code, 0, "mpirun failed (%d):\n%s\n%s", r.code, r.out, r.err);
    cr_expect(strstr(r.out, "Epoch 2/2") != NULL, "no second epoch:\n%s", r.out);
    cr_expect(has_history("b8"), "no history.json");
    rnnc_test_run_free(&r);
}
