/* test_bench_cuda.c - `rnnc bench gru --device cuda|auto` (issue 16, "Speed").
 *
 * Through the program (no GPU here, or no CUDA build): --device cuda fails
 * before any work with the backend's one line and exit 1 (the peer never
 * runs: a fake Python that would leave a file leaves none); what the GPU
 * bench cannot do is a usage error (exit 2) whatever the machine;
 * --device auto without a GPU runs the CPU bench as before.
 *
 * In this process, on the emulated CUDA backend (tests/cuda_emu: the
 * backend's own C code with CPU stand-ins for CUDA, cuBLAS and cuDNN; the
 * GRU's cuDNN forward computed in double from cuDNN's documented
 * equations): the GPU bench itself (apps/cmd_bench_cuda.c) on a small
 * shape, both kernels, with a fake peer (a shell script given as its
 * Python) that records its command line: --device cuda reaches it (the
 * default peer, bench/torch2_rnn_bench.py, and a script of one's own), its
 * figures land in the table with the ratio, the allocator makes no
 * cudaMalloc call per step after the warm-up, and a peer that prints
 * "# skip: ..." is said to be skipped once and run no more. The training
 * step's weight update is checked against central finite differences of
 * the MSE through the emulated forward: the second of two steps moves each
 * weight by -1e-3 times the loss's gradient at its start (SGD 1e-3, the
 * gradients zeroed between steps), so the bench times a real step; through
 * rnnc_cuda_api's GRU and through the op table's GRU op (skipped while the
 * CUDA table does not support it).
 *
 * The program's own path (apps/cmd_bench.c: options, --device cuda and
 * auto, the default peer) runs here too, with the emulated backend as its
 * CUDA table; and the GPU bench's default shapes (the shared ones plus the
 * large one).
 *
 * The figures of a real GPU: bench/gpu_check.sh on a machine that has one. */
#define _POSIX_C_SOURCE 200809L /* the bench's files, compiled in here */
#define _DEFAULT_SOURCE
#include "cuda_emu/cuda_backend_sources.c"

#include "apps/cli.c"
#include "apps/cmd_bench.c"
#include "apps/cmd_bench_common.c"
#include "apps/cmd_bench_cuda.c"

/* cmd_bench.c hands these over; not reached here. */
int rnnc_cmd_bench_dist(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}

int rnnc_cmd_bench_stream(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framework/backend.h"
#include "helpers/program_dir.h"
#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

TestSuite(bench_cuda, .timeout = 300);

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void free3(char *a, char *b, char *c)
{
    free(a);
    free(b);
    free(c);
}

/* dir/<tag>: test_bench_cuda_<tag>_<pid> in the build folder, created. */
static void own_dir(char *dir, size_t cap, const char *tag)
{
    char name[64];
    snprintf(name, sizeof name, "test_bench_cuda_%s", tag);
    rnnc_test_own_dir(dir, cap, name);
}

/* A fake Python at dir/fakepy (its path in py): appends its arguments (one
 * line per call) to dir/calls, then runs body. An empty dir/peer.py too,
 * for a peer given as a script path. */
static void fake_python(const char *dir, const char *body, char *py, size_t cap)
{
    char text[2048];
    snprintf(text, sizeof text, "echo \"$*\" >> '%s/calls'\n%s", dir, body);
    rnnc_test_fake_python(dir, text, py, cap);
    rnnc_test_write_file(dir, "peer.py", "", false);
}

/* ---- through the program, no GPU ------------------------------------------ */

Test(bench_cuda, device_cuda_without_gpu_fails_before_any_work)
{
    if (rnnc_device_available(RNNC_DEVICE_CUDA))
        cr_skip_test("a CUDA device is present: bench/gpu_check.sh times it");
    char dir[512], py[600], calls[600];
    own_dir(dir, sizeof dir, "nogpu");
    fake_python(dir, "echo '2,3,4,5,1,1.0,2.0'\n", py, sizeof py);
    char script[600];
    snprintf(script, sizeof script, "%s/peer.py", dir);
    const char *args[] = {"bench", "gru", "--device", "cuda", "--peer", script, "--python", py,
                          "--shapes", "2,3,4,5", "--rounds", "1", "--min-time", "0.01", NULL};
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, args);
    snprintf(calls, sizeof calls, "%s/calls", dir);
    const bool peer_ran = access(calls, F_OK) == 0;
    rnnc_test_rm_tree(dir);
    cr_expect_eq(r.code, 1, "exit %d, stderr: %s", r.code, r.err);
    const char *want = rnnc_device_built(RNNC_DEVICE_CUDA)
                           ? "rnnc bench: --device cuda: no CUDA device present"
                           : "rnnc bench: --device cuda: CUDA backend not built (configure with -DRNNC_CUDA=ON)\n";
    cr_expect(starts_with(r.err, want), "stderr:\n%s\nwanted it to start with:\n%s", r.err, want);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "one line:\n%s", r.err);
    cr_expect_str_empty(r.out, "nothing measured, nothing printed:\n%s", r.out);
    cr_expect(!peer_ran, "the peer ran");
    rnnc_test_run_free(&r);
}

Test(bench_cuda, device_auto_without_gpu_runs_the_cpu_bench)
{
    if (rnnc_device_available(RNNC_DEVICE_CUDA))
        cr_skip_test("a CUDA device is present: auto takes it");
    char dir[512];
    own_dir(dir, sizeof dir, "auto");
    const char *args[] = {"bench", "gru", "--device", "auto", "--peer", "none", "--shapes", "2,3,4,5",
                          "--rounds", "1", "--min-time", "0.01", "--threads", "1", NULL};
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, args);
    rnnc_test_rm_tree(dir);
    cr_expect_eq(r.code, 0, "exit %d, stderr: %s", r.code, r.err);
    cr_expect(starts_with(r.out, "# rnnc bench gru: kernel=fused, float32"), "%s", r.out);
    cr_expect(strstr(r.out, "    2    3    4    5 |"), "no CPU row:\n%s", r.out);
    cr_expect_str_empty(r.err, "%s", r.err);
    rnnc_test_run_free(&r);
}

/* What the GPU bench cannot do: usage errors (exit 2, one line) before the
 * device is looked at, so the same on every machine. */
Test(bench_cuda, device_cuda_usage_errors)
{
    static const struct {
        const char *args[8];
        const char *want;
    } cases[] = {
        {{"bench", "lstm", "--device", "cuda", NULL}, "rnnc bench: --device cuda: there is no GPU LSTM"},
        {{"bench", "gru", "--device", "cuda", "--memory", NULL},
         "rnnc bench: --device cuda: --memory is for the CPU bench only"},
        {{"bench", "gru", "--device", "cuda", "--kernel", "fused", NULL},
         "rnnc bench: --device cuda: --kernel must be 'cudnn' or 'generic' (default: both), got 'fused'"},
        {{"bench", "gru", "--device", "cuda", "--peer", "keras", NULL},
         "rnnc bench: --device cuda: --peer must be torch"},
        {{"bench", "gru", "--device", "cuda", "--threads", "1,2", NULL},
         "rnnc bench: --device cuda: --threads is the peer's one CPU thread count"},
        {{"bench", "gru", "--device", "gpu", NULL},
         "rnnc bench: --device: unknown device 'gpu' (valid: cpu, cuda, auto)"},
    };
    char dir[512];
    own_dir(dir, sizeof dir, "usage");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, cases[i].args);
        cr_expect_eq(r.code, 2, "case %zu: exit %d, stderr: %s", i, r.code, r.err);
        cr_expect(starts_with(r.err, cases[i].want), "case %zu: %s", i, r.err);
        cr_expect_eq(rnnc_test_count_lines(r.err), 1, "case %zu: %s", i, r.err);
        cr_expect_str_empty(r.out, "case %zu: %s", i, r.out);
        rnnc_test_run_free(&r);
    }
    rnnc_test_rm_tree(dir);
}

/* ---- the GPU bench on the emulated backend --------------------------------- */

/* Runs rnnc__bench_gpu (o) or, with o NULL, rnnc_cmd_bench(argv) with
 * stdout into dir/out and stderr into dir/err; returns the exit code, the
 * outputs (malloc'd) in *out and *err, and the fake peer's dir/calls in
 * *calls (NULL when it never ran); removes dir. */
static int run_bench(const char *dir, const bench_gpu_options *o, char **argv, char **out,
                     char **err, char **calls)
{
    char path[2][600];
    int saved[2];
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", dir, i ? "err" : "out");
        saved[i] = dup(1 + i);
        const int fd = open(path[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert(saved[i] >= 0 && fd >= 0);
        dup2(fd, 1 + i);
        close(fd);
    }
    int argc = 0;
    while (!o && argv[argc])
        argc++;
    const int rc = o ? rnnc__bench_gpu(rnnc__cuda_api(), o) : rnnc_cmd_bench(argc, argv);
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        dup2(saved[i], 1 + i);
        close(saved[i]);
    }
    *out = rnnc_test_slurp(path[0], NULL);
    *err = rnnc_test_slurp(path[1], NULL);
    snprintf(path[0], sizeof path[0], "%s/calls", dir);
    *calls = rnnc_test_slurp(path[0], NULL);
    rnnc_test_rm_tree(dir);
    rnnc__cuda_api()->shutdown();
    cr_assert(*out && *err);
    return rc;
}

/* The line of out that starts with prefix, copied into line (cr_assert). */
static void line_of(const char *out, const char *prefix, char *line, size_t cap)
{
    const char *p = strstr(out, prefix);
    cr_assert(p, "no line '%s' in:\n%s", prefix, out);
    const char *end = strchr(p, '\n');
    snprintf(line, cap, "%.*s", (int)(end ? end - p : (ptrdiff_t)strlen(p)), p);
}

Test(bench_cuda, emulated_gpu_bench_passes_device_cuda_to_the_peer)
{
    char dir[512], py[600];
    own_dir(dir, sizeof dir, "emu");
    /* 1 s forward, 2 s training step: far slower than the emulated GRU on 2x3x4x5 */
    fake_python(dir, "echo '# version: fake torch 0'\necho 'B,T,F,U,threads,fwd_ms,train_ms'\n"
                     "echo '2,3,4,5,1,1000.0,2000.0'\n", py, sizeof py);
    /* the peer `rnnc bench gru --device cuda --python PY` picks by default
     * (--peer torch), from the repository root as the bench runs */
    cr_assert_eq(chdir(RNNC_SOURCE_DIR), 0);
    bench_peer peer;
    char pybuf[700];
    cr_assert_eq(rnnc__bench_gpu_peer(NULL, py, &peer, pybuf, sizeof pybuf), 1);
    const bench_shape shape = {2, 3, 4, 5};
    const bench_gpu_options o = {.shapes = &shape, .n_shapes = 1,
                                 .kernels = RNNC_BENCH_CUDNN | RNNC_BENCH_GENERIC, .rounds = 2,
                                 .min_time = 0.01, .min_reps = 3, .peers = &peer, .n_peers = 1,
                                 .threads_arg = "1"};
    char *out, *err, *argv_lines;
    const int rc = run_bench(dir, &o, NULL, &out, &err, &argv_lines);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_str_empty(err, "%s", err);
    cr_assert(argv_lines, "the peer never ran");
    /* one call per round, each with the device and the shape */
    char want[800];
    snprintf(want, sizeof want, "bench/torch2_rnn_bench.py --mode eager --device cuda --shapes 2,3,4,5 --threads 1 --min-time 0.01\n");
    cr_expect(starts_with(argv_lines, want), "peer's command line:\n%s\nwanted:\n%s", argv_lines, want);
    cr_expect_eq(rnnc_test_count_lines(argv_lines), 2, "one call per round:\n%s", argv_lines);
    cr_expect(strstr(out, "# rnnc bench gru --device cuda: ") && strstr(out, "full float32 math (no TF32)"), "%s", out);
    cr_expect(strstr(out, "# GRU through the backend op table's GRU op") ||
                  strstr(out, "# GRU through the CUDA backend's GRU API"), "%s", out);
    char line[400];
    for (int k = 0; k < 2; k++) {
        const char *prefix = k == 0 ? "    2    3    4    5 cudnn   |" : "    2    3    4    5 generic |";
        line_of(out, prefix, line, sizeof line);
        double fwd, pf, fr, train, pt, tr;
        cr_assert_eq(sscanf(line + strlen(prefix), " %lf %lf %lfx %*f | %lf %lf %lfx", &fwd, &pf, &fr,
                            &train, &pt, &tr), 6, "row: %s", line);
        cr_expect(fwd > 0 && train > 0 && fwd < 1000 && train < 2000, "row: %s", line);
        cr_expect_eq(pf, 1000.0, "the peer's forward: %s", line);
        cr_expect_eq(pt, 2000.0, "the peer's training step: %s", line);
        /* the ratio printed is peer / rnnc (rnnc's ms printed to 0.001) */
        cr_expect(fabs(fr - 1000.0 / fwd) <= fr * (0.0006 / fwd + 0.005) &&
                      fabs(tr - 2000.0 / train) <= tr * (0.0006 / train + 0.005),
                  "ratios: %s", line);
    }
    line_of(out, "      time steps/s: ", line, sizeof line);
    cr_expect(strstr(line, "cudnn fwd ") && strstr(line, "generic fwd "), "%s", line);
    /* the caching allocator: no cudaMalloc in a timed step */
    const char *m1 = strstr(line, "cudaMalloc per call "), *m2 = m1 ? strstr(m1 + 1, "cudaMalloc per call ") : NULL;
    cr_expect(m1 && m2 && starts_with(m1 + 20, "0.00)") && starts_with(m2 + 20, "0.00)"), "%s", line);
    cr_expect(strstr(out, "# peer torch version: fake torch 0"), "%s", out);
    free3(argv_lines, out, err);
}

Test(bench_cuda, emulated_peer_that_skips_is_said_once_and_not_run_again)
{
    char dir[512], py[600];
    own_dir(dir, sizeof dir, "skip");
    fake_python(dir, "echo '# skip: torch 0 has no CUDA device'\n", py, sizeof py);
    char script[600], pybuf[700];
    snprintf(script, sizeof script, "%s/peer.py", dir);
    bench_peer peer; /* --peer PATH --python torch=PY */
    char popt[700];
    snprintf(popt, sizeof popt, "peer=%s", py);
    cr_assert_eq(rnnc__bench_gpu_peer(script, popt, &peer, pybuf, sizeof pybuf), 1);
    const bench_shape shapes[2] = {{2, 3, 4, 5}, {1, 2, 3, 4}};
    const bench_gpu_options o = {.shapes = shapes, .n_shapes = 2, .kernels = RNNC_BENCH_GENERIC,
                                 .rounds = 3, .min_time = 0.01, .min_reps = 3, .peers = &peer,
                                 .n_peers = 1, .threads_arg = "1"};
    char *out, *err, *argv_lines;
    const int rc = run_bench(dir, &o, NULL, &out, &err, &argv_lines);
    cr_expect_str_eq(err, "rnnc bench: peer 'peer' skipped: torch 0 has no CUDA device\n");
    cr_expect_eq(rc, 0, "%s", out);
    cr_assert(argv_lines);
    char want[800];
    snprintf(want, sizeof want, "%s --device cuda --shapes 2,3,4,5 --threads 1 --min-time 0.01\n", script);
    cr_expect_str_eq(argv_lines, want);
    cr_expect_eq(rnnc_test_count_lines(argv_lines), 1, "run once:\n%s", argv_lines);
    char line[400];
    line_of(out, "    1    2    3    4 generic |", line, sizeof line);
    cr_expect(strstr(line, "        - ") && !strstr(out, " cudnn "), "no peer figure, generic only: %s", line);
    free3(argv_lines, out, err);
}

/* ---- the program's GPU path, on the emulated backend ------------------------ */

static rnnc_status emulated_table(const rnnc_cuda_api **out)
{
    *out = rnnc__cuda_api();
    return RNNC_OK;
}

/* rnnc bench gru --device DEV as the program runs it (apps/cmd_bench.c),
 * with the emulated backend as the CUDA table and the fake Python as the
 * peer's, from the repository root (the peer's script is found there). */
static int program_gpu_bench(const char *dev, char **out, char **err, char **calls)
{
    char dir[512], py[600];
    own_dir(dir, sizeof dir, "program");
    fake_python(dir, "echo 'B,T,F,U,threads,fwd_ms,train_ms'\necho '2,3,4,5,1,1000.0,2000.0'\n", py,
                sizeof py);
    cr_assert_eq(chdir(RNNC_SOURCE_DIR), 0);
    bench_cuda_table = emulated_table;
    char *argv[] = {"bench", "gru", "--device", (char *)dev, "--shapes", "2,3,4,5", "--rounds", "1",
                    "--min-time", "0.01", "--kernel", "generic", "--python", py, NULL};
    return run_bench(dir, NULL, argv, out, err, calls);
}

Test(bench_cuda, emulated_program_device_cuda_runs_the_gpu_bench)
{
    char *out, *err, *calls;
    const int rc = program_gpu_bench("cuda", &out, &err, &calls);
    cr_expect_eq(rc, 0, "%s%s", out, err);
    cr_expect_str_empty(err, "%s", err);
    cr_expect(starts_with(out, "# rnnc bench gru --device cuda: CPU emulation"), "%s", out);
    cr_expect(strstr(out, "    2    3    4    5 generic |") && !strstr(out, " cudnn "), "%s", out);
    cr_expect(strstr(out, "# peer torch: ") && strstr(out, " bench/torch2_rnn_bench.py --mode eager --device cuda\n"),
              "%s", out);
    cr_assert(calls, "the peer never ran");
    cr_expect_str_eq(calls, "bench/torch2_rnn_bench.py --mode eager --device cuda --shapes 2,3,4,5 --threads 1 --min-time 0.01\n");
    free3(out, err, calls);
}

Test(bench_cuda, emulated_program_device_auto_takes_the_gpu_saying_so)
{
    char *out, *err, *calls;
    const int rc = program_gpu_bench("auto", &out, &err, &calls);
    cr_expect_eq(rc, 0, "%s%s", out, err);
    cr_expect(starts_with(err, "rnnc bench: --device auto: a CUDA device is present (CPU emulation") &&
                  strstr(err, "); timing the GRU on it\n"), "%s", err);
    cr_expect_eq(rnnc_test_count_lines(err), 1, "%s", err);
    cr_expect(starts_with(out, "# rnnc bench gru --device cuda: CPU emulation"), "%s", out);
    free3(out, err, calls);
}

/* The GPU bench's default shapes: ../shared/bench/shapes.txt's plus the
 * issue's large one (the CPU bench: the file's alone); --shapes-file or
 * --shapes replace both. */
Test(bench_cuda, gpu_default_shapes_add_the_large_one)
{
    char dir[512], path[700];
    own_dir(dir, sizeof dir, "shapes");
    snprintf(path, sizeof path, "%s/shared", dir);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/shared/bench", dir);
    mkdir(path, 0777);
    rnnc_test_write_file(dir, "shared/bench/shapes.txt", "# B T F U\n2 3 4 5\n1 2 3 4  # two\n", false);
    snprintf(path, sizeof path, "%s/repo", dir);
    mkdir(path, 0777);
    cr_assert_eq(chdir(path), 0);
    bench_shape sh[BENCH_MAX_SHAPES];
    int n = 0;
    char *argv[] = {"bench", "gru", NULL};
    cr_assert_eq(rnnc_cli_parse(&bench_cmd, 2, argv), -1);
    cr_expect_eq(get_shapes(false, sh, &n), -1);
    cr_expect_eq(n, 2);
    cr_expect_eq(get_shapes(true, sh, &n), -1);
    cr_assert_eq(n, 3);
    cr_expect(sh[0].B == 2 && sh[0].T == 3 && sh[0].F == 4 && sh[0].U == 5);
    cr_expect(sh[1].B == 1 && sh[1].T == 2 && sh[1].F == 3 && sh[1].U == 4);
    cr_expect(sh[2].B == 256 && sh[2].T == 200 && sh[2].F == 128 && sh[2].U == 512);
    char *argv2[] = {"bench", "gru", "--shapes", "7,8,9,10", NULL};
    cr_assert_eq(rnnc_cli_parse(&bench_cmd, 4, argv2), -1);
    cr_expect_eq(get_shapes(true, sh, &n), -1);
    cr_expect(n == 1 && sh[0].B == 7, "--shapes alone: %d shapes", n);
    rnnc_test_rm_tree(dir);
}

/* ---- the training step is a real one ---------------------------------------- */

/* MSE(last output, target) of b's current device weights (forward only). */
static double emu_loss(gpu_bench *b)
{
    const rnnc_dtensor *last;
    cr_assert_eq(gpu_forward(b, false, &last), RNNC_OK, "%s", rnnc_last_error());
    const int64_t n = b->s.B * b->s.U;
    rnnc_shape sh = RNNC_SHAPE(b->s.B, b->s.U);
    rnnc_tensor *y, *t;
    cr_assert_eq(rnnc_tensor_create(RNNC_F64, &sh, &y), RNNC_OK);
    cr_assert_eq(rnnc_tensor_create(RNNC_F64, &sh, &t), RNNC_OK);
    cr_assert_eq(b->api->download(y, last), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(b->api->download(t, b->target), RNNC_OK, "%s", rnnc_last_error());
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = rnnc_f64(y)[i] - rnnc_f64(t)[i];
        sum += d * d;
    }
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(t);
    return sum / (double)n;
}

/* Puts host weights w back on the device (and into the GRU). */
static void emu_set(gpu_bench *b, rnnc_tensor *const *w)
{
    for (int i = 0; i < 3; i++)
        cr_assert_eq(b->api->upload(b->w[i], w[i]), RNNC_OK, "%s", rnnc_last_error());
    if (!b->use_ops)
        cr_assert_eq(b->api->gru_set_weights(b->g, b->w[0], b->w[1], b->w[2]), RNNC_OK);
}

/* ops: through the op table's GRU op (skipped while the emulated CUDA
 * table does not support it), else through rnnc_cuda_api's gru_*. */
static void check_sgd_step(bool cudnn, bool ops)
{
    const rnnc_backend_ops *table = rnnc__cuda_api()->ops();
    if (ops && !table->supports(RNNC_BOP_GRU, RNNC_F32))
        cr_skip_test("the CUDA op table does not support the GRU op yet");
    gpu_force_api = !ops;
    gpu_bench b;
    const bench_shape s = {3, 4, 2, 3};
    cr_assert_eq(gpu_setup(&b, rnnc__cuda_api(), s, cudnn), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(b.use_ops, ops);
    /* a first step, so that the checked one starts with the gradients of
     * another step in the buffers (they must be zeroed, not added to) */
    cr_assert_eq(gpu_run_train(&b), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *before[3], *after[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(rnnc_tensor_create(RNNC_F64, &b.w[i]->shape, &before[i]), RNNC_OK);
        cr_assert_eq(rnnc_tensor_create(RNNC_F64, &b.w[i]->shape, &after[i]), RNNC_OK);
        cr_assert_eq(b.api->download(before[i], b.w[i]), RNNC_OK);
    }
    cr_assert_eq(gpu_run_train(&b), RNNC_OK, "%s", rnnc_last_error());
    for (int i = 0; i < 3; i++)
        cr_assert_eq(b.api->download(after[i], b.w[i]), RNNC_OK);
    /* the update must be -lr * dL/dw, dL/dw by central differences in the weights */
    int checked = 0, moved = 0;
    const double h = 3e-3;
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < before[i]->numel; j++) {
            rnnc_tensor *w[3];
            for (int q = 0; q < 3; q++) {
                cr_assert_eq(rnnc_tensor_create(RNNC_F64, &before[q]->shape, &w[q]), RNNC_OK);
                memcpy(rnnc_f64(w[q]), rnnc_f64(before[q]), before[q]->numel * sizeof(double));
            }
            rnnc_f64(w[i])[j] += h;
            emu_set(&b, w);
            const double lp = emu_loss(&b);
            rnnc_f64(w[i])[j] -= 2 * h;
            emu_set(&b, w);
            const double lm = emu_loss(&b);
            const double grad = (lp - lm) / (2 * h);
            const double step = rnnc_f64(after[i])[j] - rnnc_f64(before[i])[j];
            /* float32 weights: after - before is exact to about an ulp of w (6e-8) */
            cr_expect(fabs(step + 1e-3 * grad) <= 1e-7 + 1e-2 * fabs(1e-3 * grad),
                      "%s kernel, weight %d element %zu: moved %.9g, -lr * dL/dw = %.9g",
                      cudnn ? "cudnn" : "generic", i, j, step, -1e-3 * grad);
            moved += fabs(step) > 1e-7;
            checked++;
            for (int q = 0; q < 3; q++)
                rnnc_tensor_destroy(w[q]);
        }
    cr_expect_gt(moved, checked / 2, "%d of %d weights moved", moved, checked);
    for (int i = 0; i < 3; i++) {
        rnnc_tensor_destroy(before[i]);
        rnnc_tensor_destroy(after[i]);
    }
    gpu_teardown(&b);
    rnnc__cuda_api()->shutdown();
}

Test(bench_cuda, emulated_training_step_is_sgd_on_the_mse_gradient_api_cudnn)
{
    check_sgd_step(true, false);
}

Test(bench_cuda, emulated_training_step_is_sgd_on_the_mse_gradient_api_generic)
{
    check_sgd_step(false, false);
}

Test(bench_cuda, emulated_training_step_is_sgd_on_the_mse_gradient_op_table_cudnn)
{
    check_sgd_step(true, true);
}

Test(bench_cuda, emulated_training_step_is_sgd_on_the_mse_gradient_op_table_generic)
{
    check_sgd_step(false, true);
}
