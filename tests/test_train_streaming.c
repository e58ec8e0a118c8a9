/* test_train_streaming.c - `rnnc train` reading its training data from
 * the HDF5 file batch by batch, as a user runs it: data.streaming (the
 * streaming reader, io/stream_reader.h) gives the weights of the C API's
 * streaming fit with the same seed and settings; --resume continues a
 * streamed run bit-exactly, from an epoch's end and from the checkpoint a
 * SIGINT writes inside an epoch; the automatic switch by file size; bad
 * settings name the key with file:line:col; under `mpirun -np 2` each rank
 * reads only its rows of every batch (the row reader) and the run ends with
 * one process's weights, also when one process resumes it; 2 ranks
 * streaming and resuming end with the C API's streaming fit. The mpirun
 * cases skip as test_distributed's do (no MPI in the build, no mpirun,
 * under valgrind). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "framework/comm.h"
#include "helpers/builders.h"
#include "helpers/h5_make.h"
#include "helpers/program_dir.h"
#include "helpers/run_program.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/stream_reader.h"
#include "optim/trainer.h"

#define N 103

/* x (N, 2) = [i / N, (i % 7) / 7] (stored float32 from doubles), y (N, 1) =
 * x0 - 0.5 x1 + 0.25, sample_weight (N,) = 1 + i % 3: a linear target that
 * changes along the file, so the order of the rows matters. */
static void write_h5(const char *path)
{
    static double xs[N][2], ys[N], ws[N];
    for (int i = 0; i < N; i++) {
        xs[i][0] = (double)i / N;
        xs[i][1] = (double)(i % 7) / 7.0;
        ys[i] = xs[i][0] - 0.5 * xs[i][1] + 0.25;
        ws[i] = 1.0 + i % 3;
    }
    const rnnc_h5m_dataset ds[] = {
        {.name = "x", .file_type = H5T_IEEE_F32LE, .mem_type = H5T_NATIVE_DOUBLE, .ndim = 2, .dims = {N, 2},
         .data = xs, .chunked = true},
        {.name = "y", .file_type = H5T_IEEE_F32LE, .mem_type = H5T_NATIVE_DOUBLE, .ndim = 2, .dims = {N, 1}, .data = ys},
        {.name = "sample_weight", .file_type = H5T_IEEE_F32LE, .mem_type = H5T_NATIVE_DOUBLE, .ndim = 1,
         .dims = {N}, .data = ws},
    };
    cr_assert(rnnc_h5m_write(path, ds, 3), "cannot write %s", path);
}

#define MODEL                                                                                                  \
    "model: {class_name: Sequential, config: {name: s, layers: [\n"                                            \
    "  {class_name: InputLayer, config: {batch_shape: [null, 2]}},\n"                                          \
    "  {class_name: Dense, config: {name: d, units: 1, kernel_initializer: Zeros}}]}}\n"                        \
    "compile: {optimizer: {class_name: SGD, config: {learning_rate: 0.05}}, loss: mse}\n"

static char g_dir[64];

static void setup_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "train_stream_%d", getpid());
    rnnc_test_rm_tree(g_dir);
    cr_assert_eq(mkdir(g_dir, 0755), 0);
    char p[128];
    snprintf(p, sizeof p, "%s/train.h5", g_dir);
    write_h5(p);
}

static void write_spec(const char *name, const char *text)
{
    rnnc_test_write_file(g_dir, name, text, false);
}

static rnnc_test_run run_train(const char *const *env, const char *const *extra)
{
    const char *args[24];
    int a = 0;
    args[a++] = "train";
    for (int i = 0; extra[i]; i++)
        args[a++] = extra[i];
    args[a] = NULL;
    return rnnc_test_run_program(RNNC_BUILD_DIR "/rnnc", g_dir, env, args);
}

/* The spec's model (Dense d on 2 features, zero kernel). */
static rnnc_model *new_model(void)
{
    rnnc_cfg *cfg = th_parse("{class_name: Sequential, config: {name: s, layers: ["
                             "{class_name: InputLayer, config: {batch_shape: [null, 2]}},"
                             "{class_name: Dense, config: {name: d, units: 1, kernel_initializer: Zeros}}]}}");
    rnnc_model *m;
    cr_assert_eq(rnnc_model_from_config(cfg, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(cfg);
    return m;
}

/* Kernel (2) and bias (1) of Dense d; frees m. */
static void take_weights(rnnc_model *m, double out[3])
{
    rnnc_weight *w[4];
    int nw = 0;
    cr_assert_eq(rnnc_model_weights(m, w, 4, &nw), RNNC_OK);
    cr_assert_eq(nw, 2);
    out[0] = rnnc_tensor_get(w[0]->value, 0);
    out[1] = rnnc_tensor_get(w[0]->value, 1);
    out[2] = rnnc_tensor_get(w[1]->value, 0);
    rnnc_model_destroy(m);
}

/* The weights in a weights file of the dir. */
static void load_weights(const char *file, double out[3])
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", g_dir, file);
    rnnc_model *m = new_model();
    cr_assert_eq(rnnc_model_load_weights(m, p), RNNC_OK, "%s: %s", p, rnnc_last_error());
    take_weights(m, out);
}

/* The C API: the same model fitted on the streaming reader (chunks of 16
 * rows, windows of 2 chunks, seed 9), batch 10, `epochs` epochs. */
static void c_api_stream_fit(int epochs, double out[3])
{
    char p[128];
    snprintf(p, sizeof p, "%s/train.h5", g_dir);
    rnnc_stream_options o = {.chunk_rows = 16, .window_chunks = 2, .seed = 9};
    rnnc_stream_reader *r;
    cr_assert_eq(rnnc_stream_reader_open(p, NULL, &o, &r), RNNC_OK, "%s", rnnc_last_error());
    /* the spec's fit: epochs, batch 10; the stream is already in its order */
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.epochs = epochs;
    fo.batch_size = 10;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_cfg *loss = th_parse("mse"), *opt = th_parse("{class_name: SGD, config: {learning_rate: 0.05}}");
    rnnc_model *m = new_model();
    rnnc_trainer *tr;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
    cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_row_source src = {rnnc_stream_reader_count(r), rnnc_stream_reader_read, r};
    cr_assert_eq(rnnc_trainer_fit_source(tr, &src, &fo, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_trainer_destroy(tr);
    take_weights(m, out);
    rnnc_cfg_destroy(loss);
    rnnc_cfg_destroy(opt);
    rnnc_stream_reader_close(r);
}

/* The weights rnnc train saved in w.weights.h5 equal the C API's 3-epoch streaming fit. */
static void expect_c_api_weights(const char *what)
{
    double cli[3], api[3];
    load_weights("w.weights.h5", cli);
    c_api_stream_fit(3, api);
    for (int k = 0; k < 3; k++)
        cr_expect_eq(cli[k], api[k], "weight %d: %s %.9g, C API %.9g", k, what, cli[k], api[k]);
    cr_expect_neq(cli[0], 0.0, "training did not move the kernel");
}

static const char *const stream_spec = MODEL "fit: {epochs: 3, batch_size: 10, seed: 9, verbose: 2}\n"
                                             "data: {path: train.h5, streaming: true, chunk_size: 16,\n"
                                             "       shuffle_window: 2}\n"
                                             "checkpoint: {directory: ckpt, every: 1, keep: 5}\n";

Test(train_streaming, streamed_rnnc_train_equals_the_c_api_streaming_fit)
{
    setup_dir();
    write_spec("s.yaml", stream_spec);
    rnnc_test_run r = run_train(NULL, (const char *[]){"s.yaml", "--save-weights", "w.weights.h5", NULL});
    cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
    cr_expect(strstr(r.out, "Streaming the training data from"), "no streaming line:\n%s", r.out);
    cr_expect(strstr(r.out, "103 training samples"), "%s", r.out);
    expect_c_api_weights("rnnc train");
    rnnc_test_run_free(&r);
    rnnc_test_rm_tree(g_dir);
}

/* A first run stopped by `first_args` / `env` (exit `code`, its output
 * holding `stopped`), then --resume ckpt: bit for bit the C API's 3-epoch
 * streaming fit (the stream's order after the stop is that of a run that
 * never stopped). */
static void check_resume(const char *const *env, const char *const *first_args, int code, const char *stopped,
                         const char *resumed)
{
    setup_dir();
    write_spec("s.yaml", stream_spec);
    rnnc_test_run r1 = run_train(env, first_args);
    cr_assert_eq(r1.code, code, "%s\n%s", r1.out, r1.err);
    cr_expect(strstr(r1.out, stopped), "'%s' not in:\n%s", stopped, r1.out);
    rnnc_test_run r2 = run_train(NULL, (const char *[]){"s.yaml", "--resume", "ckpt", "--save-weights", "w.weights.h5", NULL});
    cr_assert_eq(r2.code, 0, "%s\n%s", r2.out, r2.err);
    cr_expect(strstr(r2.out, resumed), "'%s' not in:\n%s", resumed, r2.out);
    expect_c_api_weights("resumed rnnc train");
    rnnc_test_run_free(&r1);
    rnnc_test_run_free(&r2);
    rnnc_test_rm_tree(g_dir);
}

/* One epoch, then --resume for two more. */
Test(train_streaming, resume_continues_a_streamed_run_bit_exactly)
{
    check_resume(NULL, (const char *[]){"s.yaml", "--epochs", "1", NULL}, 0, "Trained 1 epoch", "at epoch 1");
}

/* SIGINT at the 15th batch (the 4th of epoch 2): its checkpoint resumes mid-epoch. */
Test(train_streaming, resume_inside_an_epoch_after_sigint)
{
    check_resume((const char *[]){"RNNC_TEST_RAISE=INT@15", NULL}, (const char *[]){"s.yaml", NULL}, 130,
                 "in epoch 2 after batch 4", "inside epoch 2, after batch 4");
}

/* data.streaming: auto (no key) streams a file above RNNC_STREAMING_ABOVE_BYTES. */
Test(train_streaming, auto_streams_a_file_above_the_threshold)
{
    setup_dir();
    write_spec("a.yaml", MODEL "fit: {epochs: 1, batch_size: 10, verbose: 2}\ndata: {path: train.h5}\n");
    struct stat st;
    char p[128], below[64], above[64];
    snprintf(p, sizeof p, "%s/train.h5", g_dir);
    cr_assert_eq(stat(p, &st), 0);
    snprintf(below, sizeof below, "RNNC_STREAMING_ABOVE_BYTES=%lld", (long long)st.st_size - 1);
    snprintf(above, sizeof above, "RNNC_STREAMING_ABOVE_BYTES=%lld", (long long)st.st_size);
    rnnc_test_run r1 = run_train((const char *[]){below, NULL}, (const char *[]){"a.yaml", NULL});
    cr_assert_eq(r1.code, 0, "%s\n%s", r1.out, r1.err);
    cr_expect(strstr(r1.out, "Streaming the training data"), "a file 1 byte over: not streamed:\n%s", r1.out);
    rnnc_test_run r2 = run_train((const char *[]){above, NULL}, (const char *[]){"a.yaml", NULL});
    cr_assert_eq(r2.code, 0, "%s\n%s", r2.out, r2.err);
    cr_expect(!strstr(r2.out, "Streaming the training data"), "a file at the threshold streamed:\n%s", r2.out);
    rnnc_test_run_free(&r1);
    rnnc_test_run_free(&r2);
    rnnc_test_rm_tree(g_dir);
}

static void expect_error(const char *data_line, const char *const *words)
{
    char spec[2048];
    snprintf(spec, sizeof spec, MODEL "fit: {epochs: 1, batch_size: 10}\n%s", data_line);
    write_spec("bad.yaml", spec);
    rnnc_test_run r = run_train(NULL, (const char *[]){"bad.yaml", NULL});
    cr_expect_neq(r.code, 0, "accepted: %s\n%s", data_line, r.out);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "one line expected:\n%s", r.err);
    for (int i = 0; words[i]; i++)
        cr_expect(strstr(r.err, words[i]), "'%s' not in: %s", words[i], r.err);
    rnnc_test_run_free(&r);
}

Test(train_streaming, bad_streaming_settings_name_the_key_and_where)
{
    setup_dir();
    expect_error("data: {path: train.h5, streaming: true, shuffle_window: 0}\n",
                 (const char *[]){"shuffle_window", "65536", "bad.yaml:6:", NULL});
    expect_error("data: {path: train.h5, streaming: true,\n  chunk_size: 99999999999}\n",
                 (const char *[]){"chunk_size", "16777216", "bad.yaml:7:", NULL});
    expect_error("data: {path: train.h5, streaming: yes please}\n",
                 (const char *[]){"streaming", "true, false or auto", "bad.yaml:6:", NULL});
    expect_error("data: {path: train.h5, streamin: true}\n",
                 (const char *[]){"streamin", "streaming", "bad.yaml:6:", NULL});
    expect_error("data: {path: train.h5, shufle_window: 4}\n",
                 (const char *[]){"shufle_window", "shuffle_window", "bad.yaml:6:", NULL});
    expect_error("data: {path: train.h5, streaming: true, chunk_size: 2, shuffle_window: 4}\n",
                 (const char *[]){"batch_size 10", "chunk_size 2", "shuffle_window 4", "bad.yaml:6:", NULL});
    /* needs the data in memory */
    char spec[2048];
    snprintf(spec, sizeof spec, MODEL "fit: {epochs: 1, batch_size: 10, validation_split: 0.2}\n"
                                      "data: {path: train.h5, streaming: true}\n");
    write_spec("vs.yaml", spec);
    rnnc_test_run r = run_train(NULL, (const char *[]){"vs.yaml", NULL});
    cr_expect_neq(r.code, 0, "%s", r.out);
    cr_expect(strstr(r.err, "validation_split") && strstr(r.err, "vs.yaml:6:"), "%s", r.err);
    rnnc_test_run_free(&r);
    rnnc_test_rm_tree(g_dir);
}

static bool under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && (strstr(p, "vgpreload") || strstr(p, "valgrind"));
}

static void need_mpi(void)
{
    if (!rnnc_comm_mpi_built())
        cr_skip_test("rnnc was built without MPI: skipped");
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        cr_skip_test("mpirun not found (apt-get install openmpi-bin): skipped");
    if (under_valgrind())
        cr_skip_test("under valgrind: the mpirun case is skipped (as test_distributed's)");
}

/* mpirun -np 2 rnnc train ARGS... in the test's folder. */
static rnnc_test_run mpirun_train(const char *const *extra)
{
    const char *env[] = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "OPENBLAS_NUM_THREADS=1",
                         "RNNC_COMM_TIMEOUT=60",
                         "LSAN_OPTIONS=suppressions=" RNNC_SOURCE_DIR "/tests/dist/lsan_mpi.supp:print_suppressions=0",
                         "OMPI_MCA_mca_base_component_disable_dlclose=1",
                         "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0", NULL};
    const char *args[24] = {"--kill-after=5", "240", "mpirun", "--oversubscribe", "-np", "2",
                            RNNC_BUILD_DIR "/rnnc", "train"};
    int a = 8;
    for (int i = 0; extra[i]; i++)
        args[a++] = extra[i];
    args[a] = NULL;
    return rnnc_test_run_program("/usr/bin/timeout", g_dir, env, args);
}

static void expect_close(const char *fa, const char *fb)
{
    double a[3], b[3];
    load_weights(fa, a);
    load_weights(fb, b);
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(a[k] - b[k]) <= 1e-6, "weight %d: %s %.9g, %s %.9g", k, fa, a[k], fb, b[k]);
    cr_expect_neq(a[0], 0.0, "training did not move the kernel");
}

static const char *const rows_spec = MODEL "fit: {epochs: 2, batch_size: 10, seed: 4, verbose: 2}\n"
                                           "data: {path: train.h5}\n"
                                           "checkpoint: {directory: ckpt, every: 1, keep: 5}\n";

/* mpirun -np 2 on an HDF5 file without streaming: each rank reads its half
 * of every batch from the file (N = 103 rows, batch 10, 2 epochs: 5 rows
 * of each full batch per rank, the last batch of 3 split 2 / 1), and the
 * weights are those of one process holding the data in memory. */
Test(train_streaming, two_ranks_each_read_only_their_rows)
{
    need_mpi();
    setup_dir();
    write_spec("m.yaml", rows_spec);
    rnnc_test_run r1 = run_train(NULL, (const char *[]){"m.yaml", "--save-weights", "one.weights.h5", NULL});
    cr_assert_eq(r1.code, 0, "%s\n%s", r1.out, r1.err);
    cr_expect(!strstr(r1.out, "Training rows read"), "%s", r1.out);
    rnnc_test_run r2 = mpirun_train((const char *[]){"m.yaml", "--overwrite", "--save-weights", "two.weights.h5", NULL});
    cr_assert_eq(r2.code, 0, "%s\n%s", r2.out, r2.err);
    /* 10 full batches of 5 + 5 rows and a last one of 2 + 1, twice */
    cr_expect(strstr(r2.out, "by each rank: 104 102\n"), "rows per rank: 2 x (50 + 2) and 2 x (50 + 1) expected:\n%s",
              r2.out);
    expect_close("one.weights.h5", "two.weights.h5");
    rnnc_test_run_free(&r1);
    rnnc_test_run_free(&r2);
    rnnc_test_rm_tree(g_dir);
}

/* 2 ranks reading their rows train one epoch; one process resumes the
 * second: the weights of one process training both epochs in memory. */
Test(train_streaming, two_ranks_reading_rows_then_resume_in_one_process)
{
    need_mpi();
    setup_dir();
    write_spec("m.yaml", rows_spec);
    rnnc_test_run r1 = run_train(NULL, (const char *[]){"m.yaml", "--save-weights", "one.weights.h5", NULL});
    cr_assert_eq(r1.code, 0, "%s\n%s", r1.out, r1.err);
    rnnc_test_run r2 = mpirun_train((const char *[]){"m.yaml", "--overwrite", "--epochs", "1", NULL});
    cr_assert_eq(r2.code, 0, "%s\n%s", r2.out, r2.err);
    rnnc_test_run r3 = run_train(NULL, (const char *[]){"m.yaml", "--resume", "ckpt", "--save-weights", "res.weights.h5", NULL});
    cr_assert_eq(r3.code, 0, "%s\n%s", r3.out, r3.err);
    expect_close("one.weights.h5", "res.weights.h5");
    rnnc_test_run_free(&r1);
    rnnc_test_run_free(&r2);
    rnnc_test_run_free(&r3);
    rnnc_test_rm_tree(g_dir);
}

/* Streaming on 2 ranks: one epoch, then --resume on 2 ranks for two more:
 * the C API's one-process streaming fit of 3 epochs (within 1e-6). */
Test(train_streaming, two_ranks_streaming_then_resume)
{
    need_mpi();
    setup_dir();
    write_spec("s.yaml", stream_spec);
    rnnc_test_run r1 = mpirun_train((const char *[]){"s.yaml", "--epochs", "1", NULL});
    cr_assert_eq(r1.code, 0, "%s\n%s", r1.out, r1.err);
    cr_expect(strstr(r1.out, "Streaming the training data"), "%s", r1.out);
    rnnc_test_run r2 = mpirun_train((const char *[]){"s.yaml", "--resume", "ckpt", "--save-weights", "w.weights.h5", NULL});
    cr_assert_eq(r2.code, 0, "%s\n%s", r2.out, r2.err);
    double cli[3], api[3];
    load_weights("w.weights.h5", cli);
    c_api_stream_fit(3, api);
    for (int k = 0; k < 3; k++)
        cr_expect(fabs(cli[k] - api[k]) <= 1e-6, "weight %d: 2 ranks %.9g, C API %.9g", k, cli[k], api[k]);
    rnnc_test_run_free(&r1);
    rnnc_test_run_free(&r2);
    rnnc_test_rm_tree(g_dir);
}
