/* cmd_bench.c - `rnnc bench gru|lstm`: GRU / LSTM throughput and memory
 * against the peers (PyTorch 1.13 and 2 eager / torch.compile, Keras 3 on
 * TensorFlow with XLA, ONNX Runtime: --peer LIST|all, each peer a Python
 * script run as a process of its own per shape and round, alternating with
 * rnnc; a missing Python skips its peer, saying so).
 *
 * --device cpu|cuda|auto: cpu (the default) is everything below; cuda is
 * the GPU bench of apps/cmd_bench_cuda.c (the GRU only), reached only when
 * rnnc_backend_cuda gives a device: without one it fails before any work
 * with the backend's line; auto takes the GPU when present, saying so.
 *
 * Speed (the default). For every shape (B, T, F, U) it times, as
 * ../shared/bench/torch_gru_bench.py does for PyTorch: `fwd`, an inference
 * forward (no tape), and `train`, one training step (forward + MSE on the
 * last output + backward + SGD). Each figure is a median over repeated runs.
 * rnnc and the peer are measured in alternating rounds in the same process
 * tree, both with every BLAS thread count of --threads (default 1,2: the
 * peer's own choice); each side's figure is the faster of its per-thread
 * medians over rounds, and the ratio is peer / rnnc.
 *
 * Also printed: time steps per second (B*T / time), the layer's FLOP rate
 * (2*B*T*GU*(F+U) per forward with G = 3 gates for the GRU, 4 for the
 * LSTM; 3x that per training step), and OpenBLAS's
 * own sgemm rate on the shape of the GRU's biggest product, measured in every
 * round at every thread count (the best median), so "fraction of the
 * hardware" is read against the same library in the same conditions.
 *
 * Memory (--memory). For every shape a forked child runs --steps training
 * steps; its peak resident set (wait4's ru_maxrss) minus its resident set
 * when it started is rnnc's cost. bench/torch_gru_memory.py does the same
 * run with PyTorch and reports ru_maxrss after `import torch` and after the
 * run; the comparison is peak - baseline on both sides (raw peaks printed).
 *
 * Every speed row also prints the minor page faults per call (getrusage,
 * after the warm-up; issue 13: big buffers are reused across calls).
 *
 * Denormals (--denormals flush|keep|ab). rnnc's float32 kernels flush
 * subnormals (FTZ + DAZ, framework/fpenv.h); keep times them with IEEE
 * gradual underflow; ab times both in alternating rounds, with this CPU's
 * measured cost of arithmetic on subnormals and the time per step (ms / T)
 * to show whether the training step stays linear in T.
 *
 * --native-blas: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are read when
 * OpenBLAS loads, so the command re-executes itself with both removed from
 * its environment (and the peer's), says so, and prints the kernel OpenBLAS
 * picked (openblas_get_config()). Tests and CI never do this. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* popen, clock_gettime, fork, setenv */
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* wait4 */
#endif
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apps/cli.h"
#include "apps/cmd_bench.h"
#include "apps/commands.h"
#include "framework/backend.h"
#include "framework/fpenv.h"
#include "framework/ops.h"
#include "layers/gru.h"
#include "layers/small_gemm_internal.h"
#include "layers/lstm.h"

/* OpenBLAS extensions (the Debian libblas alternative is OpenBLAS). */
extern char *openblas_get_config(void);
extern int openblas_get_num_threads(void);
extern void openblas_set_num_threads(int);

#define MAX_THREAD_SETTINGS 4
#define MAX_ROUNDS 100

/* The state one shape's measurements need. */
/* Which layer is measured: 'gru' or 'lstm' (the positional argument). */
static bool bench_lstm;
/* --dtype-policy: the GRU's Keras dtype policy (docs/mixed-precision.md). */
static rnnc_dtype_policy bench_policy;
static int n_gates(void) { return bench_lstm ? 4 : 3; }

typedef struct gru_bench {
    bench_shape s;
    rnnc_layer *gru;
    rnnc_tensor *x, *y; /* (B, T, F), (B, U) */
    rnnc_ctx *cx;
    rnnc_weight *w[4];
    int n_w;
} gru_bench;

static rnnc_status bench_setup(gru_bench *b, bench_shape s, rnnc_gru_kernel kernel)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    rnnc_rng rng;
    rnnc_rng_init(&rng, 42);
    rnnc_shape xs = RNNC_SHAPE(s.B, s.T, s.F), ys = RNNC_SHAPE(s.B, s.U);
    if (bench_lstm) {
        rnnc_lstm_options o = rnnc_lstm_options_default();
        o.units = s.U;
        RNNC_TRY(rnnc_lstm_create(&o, &b->gru));
        RNNC_TRY(rnnc_lstm_set_kernel(b->gru, kernel));
    } else {
        rnnc_gru_options o = rnnc_gru_options_default();
        o.units = s.U;
        RNNC_TRY(rnnc_gru_create(&o, &b->gru));
        RNNC_TRY(rnnc_gru_set_kernel(b->gru, kernel));
        b->gru->policy = bench_policy;
    }
    RNNC_TRY(rnnc_layer_build(b->gru, &xs));
    RNNC_TRY(rnnc_tensor_create(RNNC_F32, &xs, &b->x));
    RNNC_TRY(rnnc_tensor_create(RNNC_F32, &ys, &b->y));
    rnnc__bench_fill_uniform(b->x, &rng);
    rnnc__bench_fill_uniform(b->y, &rng);
    RNNC_TRY(rnnc_layer_weights(b->gru, b->w, 4, &b->n_w));
    b->cx = rnnc_ctx_create();
    return b->cx ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "out of memory");
}

static void bench_teardown(gru_bench *b)
{
    rnnc_ctx_destroy(b->cx);
    rnnc_tensor_destroy(b->x);
    rnnc_tensor_destroy(b->y);
    rnnc_layer_destroy(b->gru);
}

static rnnc_status run_fwd(gru_bench *b)
{
    rnnc_call_args a = {.n_inputs = 1, .inputs = {b->x}, .training = false};
    rnnc_call_result r;
    bool old = rnnc_ctx_set_grad_enabled(b->cx, false);
    rnnc_status s = rnnc_layer_call(b->gru, b->cx, &a, &r);
    rnnc_ctx_set_grad_enabled(b->cx, old);
    rnnc_ctx_clear(b->cx);
    return s;
}

/* forward + MSE(last output, y) + backward + SGD(lr = 1e-3), as the peer. */
static rnnc_status run_train(gru_bench *b)
{
    rnnc_call_args a = {.n_inputs = 1, .inputs = {b->x}, .training = true};
    rnnc_call_result r;
    rnnc_tensor *d, *sq, *loss;
    for (int i = 0; i < b->n_w; i++)
        rnnc_tensor_zero_grad(b->w[i]->value);
    RNNC_TRY(rnnc_layer_call(b->gru, b->cx, &a, &r));
    RNNC_TRY(rnnc_sub(b->cx, r.outputs[0], b->y, &d));
    RNNC_TRY(rnnc_square(b->cx, d, &sq));
    RNNC_TRY(rnnc_mean(b->cx, sq, NULL, 0, false, &loss));
    RNNC_TRY(rnnc_backward(b->cx, loss));
    for (int i = 0; i < b->n_w; i++) {
        rnnc_tensor *w = b->w[i]->value;
        cblas_saxpy((int)w->numel, -1e-3f, (const float *)w->grad, 1, rnnc_f32(w), 1);
    }
    rnnc_ctx_clear(b->cx);
    return RNNC_OK;
}

/* Minor page faults of this process so far (0 where unknown). */
static double minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_minflt : 0.0;
}

/* Median milliseconds of fn over at least min_reps runs and min_ms; with
 * faults, the mean minor page faults per run after the warm-up. */
static rnnc_status time_median(rnnc_status (*fn)(gru_bench *), gru_bench *b, double min_ms,
                               int min_reps, double *out, double *faults)
{
    double t[1000];
    int n = 0;
    for (int i = 0; i < 2; i++) /* warm-up: workspaces, caches */
        RNNC_TRY(fn(b));
    const double f0 = minor_faults();
    double start = rnnc__bench_now_ms();
    while (n < 1000 && (n < min_reps || rnnc__bench_now_ms() - start < min_ms)) {
        double t0 = rnnc__bench_now_ms();
        RNNC_TRY(fn(b));
        t[n++] = rnnc__bench_now_ms() - t0;
    }
    if (faults)
        *faults = (minor_faults() - f0) / n;
    *out = rnnc__bench_median(t, n);
    return RNNC_OK;
}

/* OpenBLAS sgemm GFLOP/s on (M,K)x(K,N), median of repeated runs. */
static double sgemm_gflops(int64_t M, int64_t K, int64_t N, double min_ms)
{
    float *a = calloc((size_t)(M * K), sizeof *a), *bm = calloc((size_t)(K * N), sizeof *bm),
          *c = calloc((size_t)(M * N), sizeof *c);
    double t[1000], result = NAN;
    int n = 0;
    if (a && bm && c) {
        for (int64_t i = 0; i < M * K; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (int64_t i = 0; i < K * N; i++)
            bm[i] = (float)(i % 5) * 0.1f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a,
                    (int)K, bm, (int)N, 0.0f, c, (int)N); /* warm-up */
        double start = rnnc__bench_now_ms();
        while (n < 1000 && (n < 5 || rnnc__bench_now_ms() - start < min_ms)) {
            double t0 = rnnc__bench_now_ms();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a,
                        (int)K, bm, (int)N, 0.0f, c, (int)N);
            t[n++] = rnnc__bench_now_ms() - t0;
        }
        result = 2.0 * (double)M * (double)K * (double)N / (rnnc__bench_median(t, n) * 1e6);
    }
    free(a);
    free(bm);
    free(c);
    return result;
}

/* ---- one core's FMA peak --------------------------------------------------- */

/* n rounds of `chains` independent multiply-add chains over one vector
 * register each, in the widest instruction set the CPU has; returns the
 * seconds. 12 chains cover the latency of two FMA pipes (4 cycles each). */
#define PEAK_CHAINS_PRINTED 12
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PEAK_CHAINS PEAK_CHAINS_PRINTED
/* One function per instruction set: V the vector type, SET1 / FMADD its
 * intrinsics. */
#define FMA_RUN(name, target_isa, V, SET1, FMADD)                                                  \
    static __attribute__((target(target_isa), noinline)) double name(long n)                      \
    {                                                                                              \
        V c[PEAK_CHAINS], a = SET1(0.999f), b = SET1(1e-3f);                                       \
        for (int j = 0; j < PEAK_CHAINS; j++)                                                      \
            c[j] = SET1((float)j);                                                                 \
        const double t0 = rnnc__bench_now_ms();                                                                \
        for (long i = 0; i < n; i++) {                                                             \
            _Pragma("GCC unroll 12") for (int j = 0; j < PEAK_CHAINS; j++) c[j] =                  \
                FMADD(c[j], a, b);                                                                 \
        }                                                                                          \
        const double t = rnnc__bench_now_ms() - t0;                                                            \
        volatile float sink = 0;                                                                   \
        for (int j = 0; j < PEAK_CHAINS; j++) {                                                    \
            float first;                                                                           \
            memcpy(&first, &c[j], sizeof first);                                                   \
            sink += first;                                                                         \
        }                                                                                          \
        (void)sink;                                                                                \
        return t * 1e-3;                                                                           \
    }
FMA_RUN(fma_run_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps)
FMA_RUN(fma_run_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps)
#endif

/* One core's float32 FMA peak in GFLOP/s (best of 200 runs of ~1 ms) and
 * the instruction set that gave it; NAN where none is measured. */
static double fma_peak(const char **isa)
{
    *isa = "none";
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    const bool has512 = __builtin_cpu_supports("avx512f"),
               has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!has512 && !has2)
        return NAN;
    *isa = has512 ? "AVX-512F, 16 lanes" : "AVX2+FMA, 8 lanes";
    const double lanes = has512 ? 16 : 8;
    /* Many short runs (~1 ms), the best: on a shared machine a long run
     * always loses time slices to other processes. */
    const long n = 100000;
    double best = 0;
    for (int r = 0; r < 200; r++) {
        const double sec = has512 ? fma_run_avx512(n) : fma_run_avx2(n);
        const double gf = 2.0 * lanes * PEAK_CHAINS * (double)n / (sec * 1e9);
        best = gf > best ? gf : best;
    }
    return best;
#else
    return NAN;
#endif
}

/* GFLOP/s of C (M x N) = A (M x K) @ B (K x N) on one thread: OpenBLAS
 * sgemm (*blas) and rnnc's small_sgemm (*small; NAN where it does not run),
 * the best of each over ~min_ms of repeats. */
static void one_core_gemm(int64_t M, int64_t K, int64_t N, double min_ms, double *blas, double *small)
{
    float *a = calloc((size_t)(M * K), sizeof *a), *bm = calloc((size_t)(K * N), sizeof *bm),
          *c = calloc((size_t)(M * N), sizeof *c);
    *blas = *small = NAN;
    if (a && bm && c) {
        for (int64_t i = 0; i < M * K; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (int64_t i = 0; i < K * N; i++)
            bm[i] = (float)(i % 5) * 0.1f;
        const int saved = openblas_get_num_threads();
        openblas_set_num_threads(1);
        const double flop = 2.0 * (double)M * (double)K * (double)N;
        for (int side = 0; side < 2; side++) {
            if (side == 1 && !rnnc__small_gemm_ok())
                break;
            double best = INFINITY, start = rnnc__bench_now_ms();
            for (int n = 0; n < 1000 && (n < 5 || rnnc__bench_now_ms() - start < min_ms); n++) {
                const double t0 = rnnc__bench_now_ms();
                if (side == 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K,
                                1.0f, a, (int)K, bm, (int)N, 0.0f, c, (int)N);
                else
                    rnnc__small_sgemm(false, M, N, K, a, K, bm, N, false, c, N);
                const double t = rnnc__bench_now_ms() - t0;
                best = t < best ? t : best;
            }
            *(side == 0 ? blas : small) = flop / (best * 1e6);
        }
        openblas_set_num_threads(saved);
    }
    free(a);
    free(bm);
    free(c);
}

/* ---- peers ---------------------------------------------------------------- */

/* The known peers: name, default Python, GRU script, LSTM script (NULL:
 * none), extra arguments for the GRU and for the LSTM. */
typedef struct peer_def {
    const char *name, *python, *gru, *lstm, *gru_args, *lstm_args;
} peer_def;

static const peer_def peer_defs[] = {
    {"torch", "/usr/bin/python3", "../shared/bench/torch_gru_bench.py", "bench/torch_lstm_bench.py", "", ""},
    {"torch2", "/work/pvenv/bin/python", "bench/torch2_rnn_bench.py", "bench/torch2_rnn_bench.py",
     "--mode eager", "--mode eager --layer lstm"},
    {"compile", "/work/pvenv/bin/python", "bench/torch2_rnn_bench.py", "bench/torch2_rnn_bench.py",
     "--mode compile", "--mode compile --layer lstm"},
    {"keras", "/work/kenv/bin/python", "bench/keras_gru_bench.py", NULL, "", ""},
    {"ort", "/work/pvenv/bin/python", "bench/ort_rnn_bench.py", "bench/ort_rnn_bench.py", "",
     "--layer lstm"},
};

static int read_shapes(const char *text, const char *file, bench_shape *out, int cap)
{
    int n = 0;
    if (text) {
        const char *p = text;
        while (*p && n < cap) {
            long long b, t, f, u;
            int used = 0;
            if (sscanf(p, " %lld,%lld,%lld,%lld%n", &b, &t, &f, &u, &used) != 4)
                return -1;
            out[n++] = (bench_shape){b, t, f, u};
            p += used;
            while (*p == ';' || *p == ' ')
                p++;
        }
        return n;
    }
    FILE *fp = fopen(file, "r");
    if (!fp)
        return -2;
    char line[256];
    while (fgets(line, sizeof line, fp) && n < cap) {
        long long b, t, f, u;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        if (sscanf(line, "%lld %lld %lld %lld", &b, &t, &f, &u) == 4)
            out[n++] = (bench_shape){b, t, f, u};
    }
    fclose(fp);
    return n;
}

/* "1,2" -> {1, 2}; returns the count, or -1 on junk. */
static int parse_threads(const char *text, int *out, int cap)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 256 || n == cap)
            return -1;
        out[n++] = (int)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return n;
}

static rnnc_cli_opt bench_opts[] = {
    {"--shapes", "B,T,F,U;...", "shapes to measure (default: the peer's shapes.txt)", NULL},
    {"--shapes-file", "PATH", "shapes file (default ../shared/bench/shapes.txt)", NULL},
    {"--rounds", "N", "alternating rnnc/peer rounds per shape (default 3)", NULL},
    {"--min-time", "S", "seconds per measurement, at least (default 0.5)", NULL},
    {"--threads", "LIST", "BLAS thread counts to measure both sides with; each side's faster counts (default 1,2)", NULL},
    {"--kernel", "fused|generic", "GRU / LSTM kernel to time (default fused); with --device cuda: cudnn or generic (default both)", NULL},
    {"--device", "cpu|cuda|auto", "where the GRU runs: cpu (the default), cuda (the GPU: cuDNN's and the generic GPU GRU, forward and training step, against PyTorch's cuDNN GRU; the shapes plus 256,200,128,512; fails at once without a GPU), auto (cuda when a GPU is present, saying so; else cpu)", NULL},
    {"--peer", "LIST|PATH", "peers, comma-separated: torch (Debian's PyTorch 1.13: ../shared/bench/torch_gru_bench.py, for lstm bench/torch_lstm_bench.py; the default), torch2 (PyTorch 2 eager and torch.compile, two figures: bench/torch2_rnn_bench.py), eager or compile (one of the two), keras (Keras 3 on TensorFlow with XLA, GRU only: bench/keras_gru_bench.py), ort (ONNX Runtime, forward only: bench/ort_rnn_bench.py), all (every one; each its own process, in alternating rounds); or a script PATH; 'none' to skip", NULL},
    {"--python", "PATH|NAME=PATH,...", "Python for every peer, or per peer (default: torch /usr/bin/python3; torch2, compile, ort /work/pvenv/bin/python, made by bench/setup_peers.sh; keras /work/kenv/bin/python); a peer whose Python is missing is skipped, saying so", NULL},
    {"--memory", NULL, "measure the peak memory of a training run instead of speed", NULL},
    {"--steps", "N", "training steps of the --memory run (default 50)", NULL},
    {"--memory-peer", "PATH", "peer script of --memory (default bench/torch_gru_memory.py; none for lstm; 'none' to skip)", NULL},
    {"--dtype-policy", "NAME", "the GRU's Keras dtype policy: float32 (the default), mixed_bfloat16, mixed_float16 (docs/mixed-precision.md); peers run float32", NULL},
    {"--denormals", "flush|keep|ab", "float32 denormals in rnnc's kernels: flush (FTZ+DAZ, the default), keep (IEEE), or ab: time the training step both ways in alternating rounds", NULL},
    {"--native-blas", NULL, "unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this command (and its peer): OpenBLAS picks its kernel for this CPU", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd bench_cmd = {
    .name = "bench",
    .usage = "gru|lstm [options]   (also: rnnc bench dist --help, rnnc bench stream --help)",
    .summary = "time the GRU or LSTM (inference forward, training step) against PyTorch, Keras/XLA and ONNX Runtime; the GRU on the GPU too (--device cuda)",
    .details = "Prints one row per shape: milliseconds, the BLAS thread count that gave them,\n"
               "the ratio peer_ms / rnnc_ms (above 1 = rnnc faster), GFLOP/s, and the share of\n"
               "OpenBLAS's own sgemm rate measured in the same run; medians over alternating\n"
               "rounds. --memory prints peak resident memory of a training run instead.\n"
               "--device cuda times the GRU on the GPU (cuDNN's and the generic kernel) against\n"
               "PyTorch's cuDNN GRU; without a GPU it fails at once, saying why.",
    .min_pos = 1,
    .max_pos = 1,
    .opts = bench_opts,
};

/* --native-blas: re-executes this command without OpenBLAS's kernel
 * overrides. Returns only when there is nothing to do (or exec failed). */
static void reexec_native_blas(int argc, char **argv)
{
    if (!getenv("OPENBLAS_CORETYPE") && !getenv("OPENBLAS_L2_SIZE"))
        return;
    char **nargv = calloc((size_t)argc + 2, sizeof *nargv);
    if (!nargv)
        return;
    nargv[0] = "rnnc";
    for (int i = 0; i < argc; i++)
        nargv[i + 1] = argv[i];
    fprintf(stderr, "rnnc bench: --native-blas: running again without OPENBLAS_CORETYPE=%s and OPENBLAS_L2_SIZE=%s\n",
            getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)",
            getenv("OPENBLAS_L2_SIZE") ? getenv("OPENBLAS_L2_SIZE") : "(unset)");
    fflush(stdout);
    fflush(stderr);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_L2_SIZE");
    execv("/proc/self/exe", nargv);
    fprintf(stderr, "rnnc bench: --native-blas: could not re-execute (%s); going on with the current kernel\n",
            strerror(errno));
    free(nargv);
}

static void print_blas_line(void)
{
    printf("# OpenBLAS: %s; default threads %d; OPENBLAS_CORETYPE=%s, OPENBLAS_L2_SIZE=%s\n",
           openblas_get_config(), openblas_get_num_threads(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset",
           getenv("OPENBLAS_L2_SIZE") ? getenv("OPENBLAS_L2_SIZE") : "unset");
}

/* ---- memory ------------------------------------------------------------- */

/* Runs `steps` training steps of shape s in a forked child. *base_kb: the
 * child's peak resident set when it started (the program, its libraries
 * and what it inherited); *peak_kb: its peak at the end (wait4). */
static bool rnnc_memory(bench_shape s, rnnc_gru_kernel kernel, int64_t steps, long *base_kb,
                        long *peak_kb)
{
    int fd[2];
    if (pipe(fd) != 0)
        return false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return false;
    }
    if (pid == 0) { /* the child: report the baseline, then run */
        close(fd[0]);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long base = ru.ru_maxrss;
        gru_bench b;
        rnnc_status st = bench_setup(&b, s, kernel);
        for (int64_t i = 0; st == RNNC_OK && i < steps; i++)
            st = run_train(&b);
        bench_teardown(&b);
        if (st != RNNC_OK)
            fprintf(stderr, "rnnc bench --memory: %s\n", rnnc_last_error());
        if (write(fd[1], &base, sizeof base) != (ssize_t)sizeof base)
            _exit(3);
        _exit(st == RNNC_OK ? 0 : 1);
    }
    close(fd[1]);
    long base = -1;
    ssize_t got = read(fd[0], &base, sizeof base);
    close(fd[0]);
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        got != (ssize_t)sizeof base)
        return false;
    *base_kb = base;
    *peak_kb = ru.ru_maxrss; /* kilobytes on Linux */
    return true;
}

static bool peer_memory(const char *python, const char *script, bench_shape s, int threads,
                        int64_t steps, long *base_kb, long *peak_kb)
{
    char cmd[2048], line[256];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --shape '%lld,%lld,%lld,%lld' --threads %d --steps %lld 2>/dev/null",
             python, script, (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U, threads,
             (long long)steps);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    int rows = 0;
    while (fgets(line, sizeof line, p)) {
        long long b, t, f, u, st;
        int th;
        long bk, pk;
        if (sscanf(line, "%lld,%lld,%lld,%lld,%d,%lld,%ld,%ld", &b, &t, &f, &u, &th, &st, &bk, &pk) == 8) {
            *base_kb = bk;
            *peak_kb = pk;
            rows++;
        }
    }
    return pclose(p) == 0 && rows == 1;
}

static int bench_memory(const bench_shape *shapes, int n, rnnc_gru_kernel kernel, int64_t steps,
                        const char *python, const char *peer)
{
    const int threads = openblas_get_num_threads();
    const bool use_peer = strcmp(peer, "none") != 0;
    printf("# rnnc bench %s --memory: kernel=%s, float32, %lld training steps per run, %d BLAS/torch threads\n",
           bench_lstm ? "lstm" : "gru", kernel == RNNC_GRU_KERNEL_FUSED ? "fused" : "generic", (long long)steps, threads);
    print_blas_line();
    printf("# rnnc: a forked child, base = its ru_maxrss at the start, peak = wait4's ru_maxrss\n");
    printf("# peer: %s (base = ru_maxrss after import torch); net = peak - base; MiB\n", use_peer ? peer : "none");
    printf("%5s %4s %4s %4s | %8s %8s %8s | %8s %8s %8s | %9s\n", "B", "T", "F", "U", "base", "peak",
           "net", "base", "peak", "net", "net ratio");
    int failures = 0;
    for (int i = 0; i < n; i++) {
        bench_shape s = shapes[i];
        long rb, rp, pb = 0, pp = 0;
        if (!rnnc_memory(s, kernel, steps, &rb, &rp)) {
            fprintf(stderr, "rnnc bench --memory: shape %lld,%lld,%lld,%lld: the child failed\n",
                    (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U);
            failures++;
            continue;
        }
        bool have_peer = use_peer && peer_memory(python, peer, s, threads, steps, &pb, &pp);
        char c1[16] = "-", c2[16] = "-", c3[16] = "-", c4[16] = "-";
        if (have_peer) {
            snprintf(c1, sizeof c1, "%.1f", pb / 1024.0);
            snprintf(c2, sizeof c2, "%.1f", pp / 1024.0);
            snprintf(c3, sizeof c3, "%.1f", (pp - pb) / 1024.0);
            snprintf(c4, sizeof c4, "%.2f", (double)(rp - rb) / (double)(pp - pb > 0 ? pp - pb : 1));
        }
        printf("%5lld %4lld %4lld %4lld | %8.1f %8.1f %8.1f | %8s %8s %8s | %9s\n", (long long)s.B,
               (long long)s.T, (long long)s.F, (long long)s.U, rb / 1024.0, rp / 1024.0,
               (rp - rb) / 1024.0, c1, c2, c3, c4);
        fflush(stdout);
    }
    return failures ? RNNC_EXIT_FAIL : RNNC_EXIT_OK;
}

/* ---- speed -------------------------------------------------------------- */

/* The faster of per-thread-count medians: value and thread count. */
static double best_of(double (*v)[MAX_ROUNDS], const int *counts, const int *threads, int n_threads,
                      int *best_threads)
{
    double best = INFINITY;
    *best_threads = 0;
    for (int j = 0; j < n_threads; j++) {
        double m = rnnc__bench_median(v[j], counts[j]);
        if (m < best) {
            best = m;
            *best_threads = threads[j];
        }
    }
    return best;
}

/* The figures of one peer for one shape: per thread count, per round. */
typedef struct side_times {
    double f[MAX_THREAD_SETTINGS][MAX_ROUNDS], t[MAX_THREAD_SETTINGS][MAX_ROUNDS];
    int nf[MAX_THREAD_SETTINGS], nt[MAX_THREAD_SETTINGS];
} side_times;

/* "12.34 1" (ms and its thread count) into buf, or "- -" when not measured. */
static void fmt_ms(char *buf, size_t cap, double ms, int t)
{
    if (isfinite(ms))
        snprintf(buf, cap, "%9.4g %d", ms, t);
    else
        snprintf(buf, cap, "%9s %s", "-", "-");
}

/* One line of the table with several peers (fwd, or train with `train`):
 * rnnc's median at its faster thread count, each peer's, and the ratio of
 * the fastest peer (at its faster thread count) to rnnc. */
static void print_multi_line(bench_shape s, bool train, double rnnc_ms, int rt, const bench_peer *peers,
                             int n_peers, side_times *pt, const int *threads, int n_threads)
{
    char cell[32];
    if (train)
        printf("%5s %4s %4s %4s  train |", "", "", "", "");
    else
        printf("%5lld %4lld %4lld %4lld  fwd   |", (long long)s.B, (long long)s.T, (long long)s.F,
               (long long)s.U);
    fmt_ms(cell, sizeof cell, rnnc_ms, rt);
    printf(" %11s |", cell);
    double best = INFINITY;
    int best_k = -1;
    for (int k = 0; k < n_peers; k++) {
        int th;
        const double ms = best_of(train ? pt[k].t : pt[k].f, train ? pt[k].nt : pt[k].nf, threads,
                                  n_threads, &th);
        fmt_ms(cell, sizeof cell, ms, th);
        printf(" %11s", cell);
        if (isfinite(ms) && ms < best) {
            best = ms;
            best_k = k;
        }
    }
    if (best_k >= 0)
        printf(" | %-8s %6.2fx\n", peers[best_k].name, best / rnnc_ms);
    else
        printf(" | %-8s %7s\n", "-", "-");
}

static int bench_speed(const bench_shape *shapes, int n, rnnc_gru_kernel kernel, int64_t rounds,
                       double min_time, const int *threads, int n_threads, const char *threads_arg,
                       bench_peer *peers, int n_peers)
{
    const bool multi = n_peers > 1;
    const int default_threads = openblas_get_num_threads();
    printf("# rnnc bench %s: kernel=%s, float32, medians over %lld rounds of >= %.2f s, BLAS threads %s (each side: its faster)\n",
           bench_lstm ? "lstm" : "gru", kernel == RNNC_GRU_KERNEL_FUSED ? "fused" : "generic", (long long)rounds, min_time, threads_arg);
    print_blas_line();
    const char *isa;
    const double peak = fma_peak(&isa);
    printf("# one core: float32 FMA peak %.1f GFLOP/s measured (%s, %d independent chains); per shape below: one-thread GFLOP/s of OpenBLAS sgemm and rnnc's small_sgemm on the step product (B, U) x (U, GU) and the input projection (B*T, F) x (F, GU)\n",
           peak, isa, PEAK_CHAINS_PRINTED);
    if (n_peers == 0)
        printf("# peer: none\n");
    for (int k = 0; k < n_peers; k++)
        printf("# peer %s: %s %s %s\n", peers[k].name, peers[k].python, peers[k].script, peers[k].args);
    if (multi) {
        printf("# every peer is its own process per shape and round; rnnc and the peers alternate (the order reversed every other round)\n"
               "# ms: median, then the thread count of that median (each side at its faster); best: the fastest peer; ratio: best peer ms / rnnc ms (above 1: rnnc faster)\n");
        printf("%5s %4s %4s %4s  %-5s | %11s |", "B", "T", "F", "U", "", "rnnc ms t");
        for (int k = 0; k < n_peers; k++) {
            char h[32];
            snprintf(h, sizeof h, "%.8s ms t", peers[k].name);
            printf(" %11s", h);
        }
        printf(" | %-8s %7s\n", "best", "ratio");
    } else {
        printf("# ms: median; t: BLAS threads of that median; ratio: peer_ms / rnnc_ms; GF/s: the layer's FLOP rate;\n"
               "# sgemm: OpenBLAS GF/s on the biggest product (best thread count); fwd%%, train%%: GF/s / sgemm\n");
        printf("%5s %4s %4s %4s | %9s %1s %9s %1s %7s %6s | %9s %1s %9s %1s %7s %6s | %6s %5s %6s\n", "B",
               "T", "F", "U", "fwd_ms", "t", "peer_ms", "t", "ratio", "GF/s", "train_ms", "t", "peer_ms",
               "t", "ratio", "GF/s", "sgemm", "fwd%", "train%");
    }
    int failures = 0;
    for (int i = 0; i < n; i++) {
        bench_shape s = shapes[i];
        gru_bench b;
        rnnc_status st = bench_setup(&b, s, kernel);
        static double f_r[MAX_THREAD_SETTINGS][MAX_ROUNDS], t_r[MAX_THREAD_SETTINGS][MAX_ROUNDS],
            g_r[MAX_THREAD_SETTINGS][MAX_ROUNDS], pf_f[MAX_THREAD_SETTINGS][MAX_ROUNDS],
            pf_t[MAX_THREAD_SETTINGS][MAX_ROUNDS];
        static side_times pt[MAX_PEERS];
        memset(pt, 0, sizeof pt);
        int n_r[MAX_THREAD_SETTINGS] = {0};
        const int64_t K = s.F > s.U ? s.F : s.U;
        for (int r = 0; st == RNNC_OK && r < rounds; r++) {
            /* side -1 is rnnc, 0.. the peers; every other round in reverse */
            for (int q = 0; st == RNNC_OK && q <= n_peers; q++) {
                const int side = (r % 2 ? n_peers - q : q) - 1;
                if (side < 0) {
                    for (int jj = 0; st == RNNC_OK && jj < n_threads; jj++) {
                        const int j = r % 2 ? n_threads - 1 - jj : jj; /* alternate the order too */
                        openblas_set_num_threads(threads[j]);
                        st = time_median(run_fwd, &b, min_time * 1e3, 5, &f_r[j][n_r[j]],
                                         &pf_f[j][n_r[j]]);
                        if (st == RNNC_OK)
                            st = time_median(run_train, &b, min_time * 1e3, 5, &t_r[j][n_r[j]],
                                             &pf_t[j][n_r[j]]);
                        if (st == RNNC_OK) {
                            g_r[j][n_r[j]] =
                                -sgemm_gflops(s.B * s.T, K, n_gates() * s.U, min_time * 0.5e3);
                            n_r[j]++;
                        }
                    }
                    openblas_set_num_threads(default_threads);
                    continue;
                }
                double pf[MAX_THREAD_SETTINGS], ptr[MAX_THREAD_SETTINGS];
                side_times *p = &pt[side];
                if (rnnc__bench_run_peer(&peers[side], s, min_time, threads_arg, threads, n_threads, pf, ptr))
                    for (int j = 0; j < n_threads; j++) {
                        if (!isnan(pf[j]))
                            p->f[j][p->nf[j]++] = pf[j];
                        if (!isnan(ptr[j]))
                            p->t[j][p->nt[j]++] = ptr[j];
                    }
            }
        }
        bench_teardown(&b);
        if (st != RNNC_OK) {
            fprintf(stderr, "rnnc bench: shape %lld,%lld,%lld,%lld: %s\n", (long long)s.B, (long long)s.T,
                    (long long)s.F, (long long)s.U, rnnc_last_error());
            failures++;
            continue;
        }
        int tf, tt, tg, tpf = 0, tpt = 0;
        const double fwd = best_of(f_r, n_r, threads, n_threads, &tf);
        const double train = best_of(t_r, n_r, threads, n_threads, &tt);
        const double gemm = -best_of(g_r, n_r, threads, n_threads, &tg); /* stored negated: best = max */
        const double flop = 2.0 * (double)s.B * (double)s.T * n_gates() * (double)s.U * (double)(s.F + s.U);
        const double fwd_gf = flop / (fwd * 1e6), train_gf = 3.0 * flop / (train * 1e6);
        if (multi) {
            print_multi_line(s, false, fwd, tf, peers, n_peers, pt, threads, n_threads);
            print_multi_line(s, true, train, tt, peers, n_peers, pt, threads, n_threads);
            printf("      GF/s: fwd %.1f, train %.1f; OpenBLAS sgemm on the biggest product %.1f (fwd %.0f%%, train %.0f%%)\n",
                   fwd_gf, train_gf, gemm, 100.0 * fwd_gf / gemm, 100.0 * train_gf / gemm);
        } else {
            char pf[16] = "-", ptm_s[16] = "-", rf[16] = "-", rt[16] = "-", tpfs[8] = "-", tpts[8] = "-";
            if (n_peers == 1) {
                const double pfm = best_of(pt[0].f, pt[0].nf, threads, n_threads, &tpf);
                const double ptm = best_of(pt[0].t, pt[0].nt, threads, n_threads, &tpt);
                if (isfinite(pfm)) {
                    snprintf(pf, sizeof pf, "%.3f", pfm);
                    snprintf(rf, sizeof rf, "%.2fx", pfm / fwd);
                    snprintf(tpfs, sizeof tpfs, "%d", tpf);
                }
                if (isfinite(ptm)) {
                    snprintf(ptm_s, sizeof ptm_s, "%.3f", ptm);
                    snprintf(rt, sizeof rt, "%.2fx", ptm / train);
                    snprintf(tpts, sizeof tpts, "%d", tpt);
                }
            }
            printf("%5lld %4lld %4lld %4lld | %9.3f %1d %9s %1s %7s %6.1f | %9.3f %1d %9s %1s %7s %6.1f | %6.1f %4.0f%% %5.0f%%\n",
                   (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U, fwd, tf, pf, tpfs, rf,
                   fwd_gf, train, tt, ptm_s, tpts, rt, train_gf, gemm, 100.0 * fwd_gf / gemm,
                   100.0 * train_gf / gemm);
        }
        printf("      time steps/s: fwd %.0f, train %.0f; minor page faults per call: fwd %.0f, train %.0f\n",
               (double)(s.B * s.T) / (fwd * 1e-3), (double)(s.B * s.T) / (train * 1e-3),
               rnnc__bench_median(pf_f[0], n_r[0]), rnnc__bench_median(pf_t[0], n_r[0]));
        double sb, ss, pb, ps;
        one_core_gemm(s.B, s.U, n_gates() * s.U, min_time * 0.25e3, &sb, &ss);
        one_core_gemm(s.B * s.T, s.F, n_gates() * s.U, min_time * 0.25e3, &pb, &ps);
        printf("      one core, GF/s (%% of FMA peak): step product sgemm %.1f (%.0f%%), small_sgemm %.1f (%.0f%%); input projection sgemm %.1f (%.0f%%), small_sgemm %.1f (%.0f%%)\n",
               sb, 100 * sb / peak, ss, 100 * ss / peak, pb, 100 * pb / peak, ps, 100 * ps / peak);
        fflush(stdout);
    }
    for (int k = 0; k < n_peers; k++)
        if (peers[k].version[0])
            printf("# peer %s version: %s\n", peers[k].name, peers[k].version);
    return failures ? RNNC_EXIT_FAIL : RNNC_EXIT_OK;
}

/* ---- denormals ---------------------------------------------------------- */

typedef float bench_v4f __attribute__((vector_size(16)));

/* Seconds of n rounds of 8 dependent chains a = a * h + c on 4 lanes: with
 * h = 1/2 and c = 1 the chains stay near 2 (normal numbers), with c = 1e-39
 * they settle at 2e-39 (float32 subnormals: operands and results). */
static double chain_seconds(float c, long n)
{
    bench_v4f acc[8], h = {0.5f, 0.5f, 0.5f, 0.5f}, cv = {c, c, c, c};
    for (int j = 0; j < 8; j++)
        acc[j] = cv;
    const double t0 = rnnc__bench_now_ms();
    for (long i = 0; i < n; i++)
        for (int j = 0; j < 8; j++)
            acc[j] = acc[j] * h + cv;
    const double t = rnnc__bench_now_ms() - t0;
    volatile float sink = acc[0][0] + acc[7][3];
    (void)sink;
    return t;
}

/* How much slower this CPU multiplies and adds float32 subnormals than
 * normal numbers (IEEE mode, one thread): the ratio of the best of 100
 * short runs each (on a shared machine long runs lose time slices). */
static double subnormal_penalty(void)
{
    double normal = INFINITY, sub = INFINITY;
    for (int i = 0; i < 100; i++) {
        const double a = chain_seconds(1.0f, 50000), b = chain_seconds(1e-39f, 50000);
        normal = a < normal ? a : normal;
        sub = b < sub ? b : sub;
    }
    return sub / normal;
}

/* --denormals ab: the training step (and forward) with denormals kept
 * (IEEE) and flushed, alternating in every round, at the first --threads
 * count; per-step time (ms / T) shows whether the step stays linear in T. */
static int bench_denormals(const bench_shape *shapes, int n, rnnc_gru_kernel kernel, int64_t rounds,
                           double min_time, int threads)
{
    printf("# rnnc bench %s --denormals ab: kernel=%s, float32, %d BLAS thread(s), medians over %lld alternating rounds of >= %.2f s\n",
           bench_lstm ? "lstm" : "gru", kernel == RNNC_GRU_KERNEL_FUSED ? "fused" : "generic",
           threads, (long long)rounds, min_time);
    print_blas_line();
    openblas_set_num_threads(threads);
    printf("# this CPU: float32 multiply + add (4 lanes, dependent chains) on subnormals takes %.2fx the time of normal numbers (IEEE mode)\n",
           subnormal_penalty());
    printf("# keep: IEEE gradual underflow; flush: FTZ+DAZ inside rnnc's kernels (the default); us/step: train_ms / T * 1000\n");
    printf("%5s %4s %4s %4s | %9s %9s %6s | %9s %9s %6s | %8s %8s\n", "B", "T", "F", "U", "fwd_keep",
           "fwd_flush", "ratio", "trn_keep", "trn_flush", "ratio", "us/step", "us/step");
    printf("%5s %4s %4s %4s | %9s %9s %6s | %9s %9s %6s | %8s %8s\n", "", "", "", "", "ms", "ms",
           "", "ms", "ms", "", "keep", "flush");
    int failures = 0;
    const bool saved = rnnc_flush_denormals();
    for (int i = 0; i < n; i++) {
        bench_shape s = shapes[i];
        gru_bench b;
        rnnc_status st = bench_setup(&b, s, kernel);
        static double f[2][MAX_ROUNDS], t[2][MAX_ROUNDS];
        int nr = 0;
        for (int r = 0; st == RNNC_OK && r < rounds; r++) {
            for (int jj = 0; st == RNNC_OK && jj < 2; jj++) {
                const int j = r % 2 ? 1 - jj : jj; /* 0 keep, 1 flush; alternate the order */
                rnnc_set_flush_denormals(j == 1);
                st = time_median(run_fwd, &b, min_time * 1e3, 3, &f[j][nr], NULL);
                if (st == RNNC_OK)
                    st = time_median(run_train, &b, min_time * 1e3, 3, &t[j][nr], NULL);
            }
            if (st == RNNC_OK)
                nr++;
        }
        rnnc_set_flush_denormals(saved);
        bench_teardown(&b);
        if (st != RNNC_OK) {
            fprintf(stderr, "rnnc bench: shape %lld,%lld,%lld,%lld: %s\n", (long long)s.B,
                    (long long)s.T, (long long)s.F, (long long)s.U, rnnc_last_error());
            failures++;
            continue;
        }
        const double fk = rnnc__bench_median(f[0], nr), ff = rnnc__bench_median(f[1], nr), tk = rnnc__bench_median(t[0], nr),
                     tf = rnnc__bench_median(t[1], nr);
        printf("%5lld %4lld %4lld %4lld | %9.3f %9.3f %5.2fx | %9.3f %9.3f %5.2fx | %8.1f %8.1f\n",
               (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U, fk, ff, fk / ff, tk,
               tf, tk / tf, tk / (double)s.T * 1e3, tf / (double)s.T * 1e3);
        fflush(stdout);
    }
    return failures ? RNNC_EXIT_FAIL : RNNC_EXIT_OK;
}

/* Adds known peer d (GRU or LSTM script) to peers unless its Python or
 * script is missing (then says so on stderr and skips it). */
static void add_peer(const peer_def *d, const char *python_opt, bench_peer *peers,
                     char (*pybuf)[512], int *n)
{
    for (int k = 0; k < *n; k++)
        if (strcmp(peers[k].name, d->name) == 0)
            return; /* named twice */
    bench_peer *p = &peers[*n];
    memset(p, 0, sizeof *p);
    p->name = d->name;
    p->python = rnnc__bench_python_for(python_opt, d->name, pybuf[*n], sizeof pybuf[*n]);
    if (!p->python)
        p->python = d->python;
    p->script = bench_lstm ? d->lstm : d->gru;
    p->args = bench_lstm ? d->lstm_args : d->gru_args;
    if (rnnc__bench_peer_usable(p))
        (*n)++;
}

/* --peer: none, a script PATH, or a comma list of torch, torch2 (eager and
 * compile), eager (PyTorch 2 eager alone), compile, keras, ort, all. Returns -1 to go on, else the exit
 * code of a usage error. */
static int select_peers(const char *spec, const char *python_opt, bench_peer *peers,
                        char (*pybuf)[512], int *n)
{
    *n = 0;
    if (!spec)
        spec = "torch";
    if (strcmp(spec, "none") == 0)
        return -1;
    if (strchr(spec, '/') || strstr(spec, ".py")) { /* a script of one's own */
        bench_peer *p = &peers[0];
        memset(p, 0, sizeof *p);
        p->name = "peer";
        p->python = rnnc__bench_python_for(python_opt, "peer", pybuf[0], sizeof pybuf[0]);
        if (!p->python)
            p->python = "/usr/bin/python3";
        p->script = spec;
        p->args = "";
        if (rnnc__bench_peer_usable(p))
            *n = 1;
        return -1;
    }
    const int n_defs = (int)(sizeof peer_defs / sizeof peer_defs[0]);
    for (const char *q = spec; *q;) {
        const char *end = strchr(q, ',');
        const size_t len = end ? (size_t)(end - q) : strlen(q);
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(len < 31 ? len : 31), q);
        q += len + (end ? 1 : 0);
        const bool all = strcmp(name, "all") == 0;
        bool known = all;
        for (int d = 0; d < n_defs; d++) {
            const char *dn = peer_defs[d].name;
            const bool torch2 = strcmp(dn, "torch2") == 0 || strcmp(dn, "compile") == 0;
            const bool pick = all || strcmp(name, dn) == 0 ||
                              (strcmp(name, "torch2") == 0 && torch2) ||
                              (strcmp(name, "eager") == 0 && strcmp(dn, "torch2") == 0);
            if (!pick)
                continue;
            known = true;
            if (bench_lstm && !peer_defs[d].lstm) {
                if (all)
                    continue; /* Keras: GRU only */
                rnnc_cli_error(&bench_cmd, "--peer %s: there is a Keras peer for the GRU only (bench/keras_gru_bench.py)", name);
                return RNNC_EXIT_USAGE;
            }
            add_peer(&peer_defs[d], python_opt, peers, pybuf, n);
        }
        if (!known) {
            rnnc_cli_error(&bench_cmd, "--peer: unknown peer '%s' (there are torch, torch2, eager, compile, keras, ort, all, none, or a script path)", name);
            return RNNC_EXIT_USAGE;
        }
    }
    return -1;
}

/* The shapes of --shapes, --shapes-file or ../shared/bench/shapes.txt
 * (the GPU bench: plus the large one when neither option is
 * given). Returns -1 to go on, else the exit code. */
#define BENCH_MAX_SHAPES 64
static int get_shapes(bool gpu, bench_shape *shapes, int *n_out)
{
    const char *shapes_file = rnnc_cli_get(&bench_cmd, "--shapes-file");
    const bool default_file = !shapes_file && !rnnc_cli_get(&bench_cmd, "--shapes");
    if (!shapes_file)
        shapes_file = "../shared/bench/shapes.txt";
    int n = read_shapes(rnnc_cli_get(&bench_cmd, "--shapes"), shapes_file, shapes, BENCH_MAX_SHAPES - 1);
    if (n == -1) {
        rnnc_cli_error(&bench_cmd, "--shapes must look like \"32,100,16,32;1,100,16,128\"");
        return RNNC_EXIT_USAGE;
    }
    if (n == -2) {
        rnnc_cli_error(&bench_cmd, "cannot open shapes file '%s' (give --shapes or --shapes-file)", shapes_file);
        return RNNC_EXIT_FAIL;
    }
    if (gpu && default_file) /* issue 16's large shape: batch 256, 512 units, 200 steps */
        shapes[n++] = (bench_shape){256, 200, 128, 512};
    for (int i = 0; i < n; i++)
        if (shapes[i].B < 1 || shapes[i].T < 1 || shapes[i].F < 1 || shapes[i].U < 1 ||
            shapes[i].B > 1 << 20 || shapes[i].T > 1 << 20 || shapes[i].F > 1 << 20 || shapes[i].U > 1 << 20 ||
            shapes[i].B * shapes[i].T * (shapes[i].F + shapes[i].U) > (int64_t)1 << 32) {
            rnnc_cli_error(&bench_cmd, "shape %d (%lld,%lld,%lld,%lld): B, T, F and U must be in [1, 1048576] and B*T*(F+U) at most 4294967296", i + 1,
                           (long long)shapes[i].B, (long long)shapes[i].T, (long long)shapes[i].F,
                           (long long)shapes[i].U);
            return RNNC_EXIT_USAGE;
        }
    *n_out = n;
    return -1;
}

/* What --device cuda cannot take: the LSTM and the CPU-only options.
 * Returns -1 to go on, else RNNC_EXIT_USAGE (said on stderr). */
static int gpu_usage_check(const char *dev)
{
    if (bench_lstm) {
        rnnc_cli_error(&bench_cmd, "--device %s: there is no GPU LSTM; only 'rnnc bench gru' runs on the GPU", dev);
        return RNNC_EXIT_USAGE;
    }
    static const char *const cpu_only[] = {"--memory", "--memory-peer", "--steps", "--denormals",
                                           "--native-blas", "--dtype-policy"};
    for (size_t i = 0; i < sizeof cpu_only / sizeof *cpu_only; i++)
        if (rnnc_cli_get(&bench_cmd, cpu_only[i])) {
            rnnc_cli_error(&bench_cmd, "--device %s: %s is for the CPU bench only (the GPU bench times float32 speed)", dev, cpu_only[i]);
            return RNNC_EXIT_USAGE;
        }
    const char *k = rnnc_cli_get(&bench_cmd, "--kernel");
    if (k && strcmp(k, "cudnn") != 0 && strcmp(k, "generic") != 0) {
        rnnc_cli_error(&bench_cmd, "--device %s: --kernel must be 'cudnn' or 'generic' (default: both), got '%s'", dev, k);
        return RNNC_EXIT_USAGE;
    }
    const char *t = rnnc_cli_get(&bench_cmd, "--threads");
    int th[MAX_THREAD_SETTINGS];
    if (t && parse_threads(t, th, 1) != 1) {
        rnnc_cli_error(&bench_cmd, "--device %s: --threads is the peer's one CPU thread count (default 1), got '%s'", dev, t);
        return RNNC_EXIT_USAGE;
    }
    const char *peer = rnnc_cli_get(&bench_cmd, "--peer");
    if (peer && strcmp(peer, "none") != 0 && strcmp(peer, "torch") != 0 && !strchr(peer, '/') &&
        !strstr(peer, ".py")) {
        rnnc_cli_error(&bench_cmd, "--device %s: --peer must be torch (PyTorch's cuDNN GRU: bench/torch2_rnn_bench.py --device cuda), none, or a script path, got '%s'", dev, peer);
        return RNNC_EXIT_USAGE;
    }
    return -1;
}

/* The GPU bench (apps/cmd_bench_cuda.c) on cu, options already checked. */
static int bench_gpu_cmd(const rnnc_cuda_api *cu, int64_t rounds, double min_time)
{
    bench_shape shapes[BENCH_MAX_SHAPES];
    int n, rc;
    if ((rc = get_shapes(true, shapes, &n)) >= 0)
        return rc;
    const char *k = rnnc_cli_get(&bench_cmd, "--kernel");
    const char *peer = rnnc_cli_get(&bench_cmd, "--peer");
    const char *threads_arg = rnnc_cli_get(&bench_cmd, "--threads");
    static bench_peer peers[1];
    static char pybuf[512];
    bench_gpu_options o = {
        .shapes = shapes, .n_shapes = n, .rounds = rounds, .min_time = min_time, .min_reps = 5,
        .kernels = !k ? RNNC_BENCH_CUDNN | RNNC_BENCH_GENERIC
                   : strcmp(k, "cudnn") == 0 ? RNNC_BENCH_CUDNN : RNNC_BENCH_GENERIC,
        .peers = peers, .threads_arg = threads_arg ? threads_arg : "1"};
    o.n_peers = rnnc__bench_gpu_peer(peer, rnnc_cli_get(&bench_cmd, "--python"), &peers[0], pybuf,
                                     sizeof pybuf);
    return rnnc__bench_gpu(cu, &o);
}

/* Where --device gets the CUDA table: the backend's (tests/test_bench_cuda.c
 * points it at the emulated backend to run this file's GPU path). */
static rnnc_status (*bench_cuda_table)(const rnnc_cuda_api **out) = rnnc_backend_cuda;

/* --device: -1 to run the CPU bench; 0 with *cu for the GPU; else the
 * exit code (said on stderr). cuda without a usable GPU fails here, before
 * any work, with the backend's one line; auto takes the GPU when one is
 * present and says so. */
static int bench_device(const rnnc_cuda_api **cu)
{
    const char *v = rnnc_cli_get(&bench_cmd, "--device");
    rnnc_device want = RNNC_DEVICE_CPU;
    if (v && rnnc_device_parse(v, &want) != RNNC_OK) {
        rnnc_cli_error(&bench_cmd, "--%s", rnnc_last_error());
        return RNNC_EXIT_USAGE;
    }
    if (want == RNNC_DEVICE_CPU)
        return -1;
    int rc;
    if (want == RNNC_DEVICE_CUDA && (rc = gpu_usage_check("cuda")) >= 0)
        return rc;
    if (want == RNNC_DEVICE_CUDA && bench_cuda_table(cu) != RNNC_OK) {
        rnnc_cli_error(&bench_cmd, "--device cuda: %s", rnnc_last_error());
        return RNNC_EXIT_FAIL;
    }
    if (want == RNNC_DEVICE_AUTO) {
        if (bench_cuda_table(cu) != RNNC_OK) /* no GPU: the CPU bench */
            return -1;
        char dev[256] = "a CUDA device";
        (*cu)->device_describe(dev, sizeof dev);
        fprintf(stderr, "rnnc bench: --device auto: a CUDA device is present (%s); timing the GRU on it\n", dev);
        if ((rc = gpu_usage_check("auto")) >= 0)
            return rc;
    }
    return 0;
}

int rnnc_cmd_bench(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "dist") == 0) /* its own options (apps/cmd_bench_dist.c) */
        return rnnc_cmd_bench_dist(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "stream") == 0) /* apps/cmd_bench_stream.c */
        return rnnc_cmd_bench_stream(argc - 1, argv + 1);
    int rc = rnnc_cli_parse(&bench_cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (strcmp(bench_cmd.pos[0], "gru") != 0 && strcmp(bench_cmd.pos[0], "lstm") != 0) {
        rnnc_cli_error(&bench_cmd, "unknown benchmark '%s' (there are 'gru', 'lstm', 'dist' and 'stream')", bench_cmd.pos[0]);
        return RNNC_EXIT_USAGE;
    }
    bench_lstm = strcmp(bench_cmd.pos[0], "lstm") == 0;
    int64_t rounds = 3, steps = 50;
    double min_time = 0.5;
    const char *v;
    if ((v = rnnc_cli_get(&bench_cmd, "--rounds")) &&
        !rnnc_cli_int(&bench_cmd, "--rounds", v, 1, MAX_ROUNDS, &rounds))
        return RNNC_EXIT_USAGE;
    if ((v = rnnc_cli_get(&bench_cmd, "--steps")) && !rnnc_cli_int(&bench_cmd, "--steps", v, 1, 100000, &steps))
        return RNNC_EXIT_USAGE;
    if ((v = rnnc_cli_get(&bench_cmd, "--min-time")) &&
        !rnnc_cli_float(&bench_cmd, "--min-time", v, 0.01, 600, &min_time))
        return RNNC_EXIT_USAGE;
    const rnnc_cuda_api *cu = NULL;
    if ((rc = bench_device(&cu)) >= 0)
        return rc == 0 ? bench_gpu_cmd(cu, rounds, min_time) : rc;
    const char *threads_arg = rnnc_cli_get(&bench_cmd, "--threads");
    if (!threads_arg)
        threads_arg = "1,2";
    int threads[MAX_THREAD_SETTINGS];
    int n_threads = parse_threads(threads_arg, threads, MAX_THREAD_SETTINGS);
    if (n_threads < 1) {
        rnnc_cli_error(&bench_cmd, "--threads must be up to %d counts in 1..256 like \"1,2\", got '%s'",
                       MAX_THREAD_SETTINGS, threads_arg);
        return RNNC_EXIT_USAGE;
    }
    rnnc_gru_kernel kernel = RNNC_GRU_KERNEL_FUSED;
    if ((v = rnnc_cli_get(&bench_cmd, "--kernel"))) {
        if (strcmp(v, "generic") == 0)
            kernel = RNNC_GRU_KERNEL_GENERIC;
        else if (strcmp(v, "fused") != 0) {
            rnnc_cli_error(&bench_cmd, "--kernel must be 'fused' or 'generic', got '%s'", v);
            return RNNC_EXIT_USAGE;
        }
    }
    if ((v = rnnc_cli_get(&bench_cmd, "--dtype-policy")) &&
        (!rnnc_dtype_policy_from_name(v, &bench_policy) || strcmp(v, "float64") == 0 ||
         (bench_lstm && bench_policy != RNNC_POLICY_PLAIN))) {
        rnnc_cli_error(&bench_cmd, "--dtype-policy must be float32, mixed_bfloat16, mixed_float16, bfloat16 or float16 (GRU only), got '%s'", v);
        return RNNC_EXIT_USAGE;
    }
    bool denormals_ab = false;
    if ((v = rnnc_cli_get(&bench_cmd, "--denormals"))) {
        denormals_ab = strcmp(v, "ab") == 0;
        if (!denormals_ab && strcmp(v, "flush") != 0 && strcmp(v, "keep") != 0) {
            rnnc_cli_error(&bench_cmd, "--denormals must be 'flush', 'keep' or 'ab', got '%s'", v);
            return RNNC_EXIT_USAGE;
        }
        rnnc_set_flush_denormals(strcmp(v, "keep") != 0);
    }
    bench_shape shapes[BENCH_MAX_SHAPES];
    int n;
    if ((rc = get_shapes(false, shapes, &n)) >= 0)
        return rc;
    char mpybuf[512];
    const char *python = rnnc__bench_python_for(rnnc_cli_get(&bench_cmd, "--python"), "torch", mpybuf, sizeof mpybuf);
    if (!python)
        python = "/usr/bin/python3";
    if (rnnc_cli_get(&bench_cmd, "--native-blas"))
        reexec_native_blas(argc, argv);
    if (denormals_ab)
        return bench_denormals(shapes, n, kernel, rounds, min_time, threads[0]);
    if (rnnc_cli_get(&bench_cmd, "--memory")) {
        const char *mpeer = rnnc_cli_get(&bench_cmd, "--memory-peer");
        return bench_memory(shapes, n, kernel, steps, python,
                            mpeer ? mpeer : bench_lstm ? "none" : "bench/torch_gru_memory.py");
    }
    bench_peer peers[MAX_PEERS];
    static char pybuf[MAX_PEERS][512];
    int n_peers = 0;
    rc = select_peers(rnnc_cli_get(&bench_cmd, "--peer"), rnnc_cli_get(&bench_cmd, "--python"), peers,
                      pybuf, &n_peers);
    if (rc >= 0)
        return rc;
    return bench_speed(shapes, n, kernel, rounds, min_time, threads, n_threads, threads_arg, peers,
                       n_peers);
}
