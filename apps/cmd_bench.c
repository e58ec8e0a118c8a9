/* cmd_bench.c - `rnnc bench gru`: GRU throughput against the peer.
 *
 * For every shape (B, T, F, U) it times, as ../shared/bench/torch_gru_bench.py
 * does for PyTorch: `fwd`, an inference forward (no tape), and `train`, one
 * training step (forward + MSE on the last output + backward + SGD). Each
 * figure is a median over repeated runs; rnnc and the peer are measured in
 * alternating rounds in the same process tree, and the ratio uses the
 * faster of the peer's 1- and 2-thread rows, median over rounds.
 *
 * Also printed: time steps per second (B*T / time), the GRU's FLOP rate
 * (2*B*T*3U*(F+U) per forward, 3x that per training step), and OpenBLAS's
 * own sgemm rate measured in this run on the shape of the GRU's biggest
 * product, so "fraction of the hardware" is read against the same library. */
#define _POSIX_C_SOURCE 200809L /* popen, clock_gettime */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "framework/ops.h"
#include "layers/gru.h"

/* OpenBLAS extensions (the Debian libblas alternative is OpenBLAS). */
extern char *openblas_get_config(void);
extern int openblas_get_num_threads(void);

typedef struct bench_shape {
    int64_t B, T, F, U;
} bench_shape;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The state one shape's measurements need. */
typedef struct gru_bench {
    bench_shape s;
    rnnc_layer *gru;
    rnnc_tensor *x, *y; /* (B, T, F), (B, U) */
    rnnc_ctx *cx;
    rnnc_weight *w[4];
    int n_w;
} gru_bench;

static void fill_uniform(rnnc_tensor *t, rnnc_rng *rng)
{
    double *tmp = malloc(t->numel * sizeof *tmp);
    if (!tmp)
        return;
    rnnc_rng_uniform(rng, tmp, t->numel);
    for (size_t i = 0; i < t->numel; i++)
        rnnc_f32(t)[i] = (float)(2.0 * tmp[i] - 1.0);
    free(tmp);
}

static rnnc_status bench_setup(gru_bench *b, bench_shape s, rnnc_gru_kernel kernel)
{
    memset(b, 0, sizeof *b);
    b->s = s;
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = s.U;
    rnnc_rng rng;
    rnnc_rng_init(&rng, 42);
    rnnc_shape xs = RNNC_SHAPE(s.B, s.T, s.F), ys = RNNC_SHAPE(s.B, s.U);
    RNNC_TRY(rnnc_gru_create(&o, &b->gru));
    RNNC_TRY(rnnc_gru_set_kernel(b->gru, kernel));
    RNNC_TRY(rnnc_layer_build(b->gru, &xs));
    RNNC_TRY(rnnc_tensor_create(RNNC_F32, &xs, &b->x));
    RNNC_TRY(rnnc_tensor_create(RNNC_F32, &ys, &b->y));
    fill_uniform(b->x, &rng);
    fill_uniform(b->y, &rng);
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

/* Median milliseconds of fn over at least min_reps runs and min_ms. */
static rnnc_status time_median(rnnc_status (*fn)(gru_bench *), gru_bench *b, double min_ms,
                               int min_reps, double *out)
{
    double t[1000];
    int n = 0;
    for (int i = 0; i < 2; i++) /* warm-up: workspaces, caches */
        RNNC_TRY(fn(b));
    double start = now_ms();
    while (n < 1000 && (n < min_reps || now_ms() - start < min_ms)) {
        double t0 = now_ms();
        RNNC_TRY(fn(b));
        t[n++] = now_ms() - t0;
    }
    *out = median(t, n);
    return RNNC_OK;
}

/* OpenBLAS sgemm GFLOP/s on (M,K)x(K,N), median of repeated runs. */
static double sgemm_gflops(int64_t M, int64_t K, int64_t N, double min_ms)
{
    float *a = calloc((size_t)(M * K), sizeof *a), *bm = calloc((size_t)(K * N), sizeof *bm),
          *c = calloc((size_t)(M * N), sizeof *c);
    double t[1000], result = 0;
    int n = 0;
    if (a && bm && c) {
        for (int64_t i = 0; i < M * K; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (int64_t i = 0; i < K * N; i++)
            bm[i] = (float)(i % 5) * 0.1f;
        double start = now_ms();
        while (n < 1000 && (n < 5 || now_ms() - start < min_ms)) {
            double t0 = now_ms();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a,
                        (int)K, bm, (int)N, 0.0f, c, (int)N);
            t[n++] = now_ms() - t0;
        }
        result = 2.0 * (double)M * (double)K * (double)N / (median(t, n) * 1e6);
    }
    free(a);
    free(bm);
    free(c);
    return result;
}

/* Runs the peer script for one shape; *fwd and *train get the faster of its
 * thread rows. Returns false when the peer is not available. */
static bool run_peer(const char *python, const char *script, bench_shape s, double min_time,
                     double *fwd, double *train)
{
    char cmd[2048], line[256];
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' --shapes '%lld,%lld,%lld,%lld' --threads 1,2 --min-time %.2f 2>/dev/null",
             python, script, (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U, min_time);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    *fwd = *train = INFINITY;
    int rows = 0;
    while (fgets(line, sizeof line, p)) {
        long long b, t, f, u;
        int threads;
        double fm, tm;
        if (sscanf(line, "%lld,%lld,%lld,%lld,%d,%lf,%lf", &b, &t, &f, &u, &threads, &fm, &tm) == 7) {
            *fwd = fm < *fwd ? fm : *fwd;
            *train = tm < *train ? tm : *train;
            rows++;
        }
    }
    int rc = pclose(p);
    return rc == 0 && rows > 0;
}

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

static rnnc_cli_opt bench_opts[] = {
    {"--shapes", "B,T,F,U;...", "shapes to measure (default: the peer's shapes.txt)", NULL},
    {"--shapes-file", "PATH", "shapes file (default ../shared/bench/shapes.txt)", NULL},
    {"--rounds", "N", "alternating rnnc/peer rounds per shape (default 3)", NULL},
    {"--min-time", "S", "seconds per measurement, at least (default 0.5)", NULL},
    {"--kernel", "fused|generic", "GRU kernel to time (default fused)", NULL},
    {"--peer", "PATH", "peer script (default ../shared/bench/torch_gru_bench.py; 'none' to skip)", NULL},
    {"--python", "PATH", "Python for the peer (default /usr/bin/python3)", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd bench_cmd = {
    .name = "bench",
    .usage = "gru [options]",
    .summary = "time the GRU (inference forward, training step) against PyTorch's nn.GRU",
    .details = "Prints one row per shape: milliseconds, time steps/s, GFLOP/s and the ratio\n"
               "peer_ms / rnnc_ms (above 1 = rnnc faster), medians over alternating rounds.",
    .min_pos = 1,
    .max_pos = 1,
    .opts = bench_opts,
};

int rnnc_cmd_bench(int argc, char **argv)
{
    int rc = rnnc_cli_parse(&bench_cmd, argc, argv);
    if (rc >= 0)
        return rc;
    if (strcmp(bench_cmd.pos[0], "gru") != 0) {
        rnnc_cli_error(&bench_cmd, "unknown benchmark '%s' (the only one is 'gru')", bench_cmd.pos[0]);
        return RNNC_EXIT_USAGE;
    }
    int64_t rounds = 3;
    double min_time = 0.5;
    const char *v;
    if ((v = rnnc_cli_get(&bench_cmd, "--rounds")) && !rnnc_cli_int(&bench_cmd, "--rounds", v, 1, 100, &rounds))
        return RNNC_EXIT_USAGE;
    if ((v = rnnc_cli_get(&bench_cmd, "--min-time")) &&
        !rnnc_cli_float(&bench_cmd, "--min-time", v, 0.01, 600, &min_time))
        return RNNC_EXIT_USAGE;
    rnnc_gru_kernel kernel = RNNC_GRU_KERNEL_FUSED;
    if ((v = rnnc_cli_get(&bench_cmd, "--kernel"))) {
        if (strcmp(v, "generic") == 0)
            kernel = RNNC_GRU_KERNEL_GENERIC;
        else if (strcmp(v, "fused") != 0) {
            rnnc_cli_error(&bench_cmd, "--kernel must be 'fused' or 'generic', got '%s'", v);
            return RNNC_EXIT_USAGE;
        }
    }
    const char *shapes_file = rnnc_cli_get(&bench_cmd, "--shapes-file");
    if (!shapes_file)
        shapes_file = "../shared/bench/shapes.txt";
    bench_shape shapes[64];
    int n = read_shapes(rnnc_cli_get(&bench_cmd, "--shapes"), shapes_file, shapes, 64);
    if (n == -1) {
        rnnc_cli_error(&bench_cmd, "--shapes must look like \"32,100,16,32;1,100,16,128\"");
        return RNNC_EXIT_USAGE;
    }
    if (n == -2) {
        rnnc_cli_error(&bench_cmd, "cannot open shapes file '%s' (give --shapes or --shapes-file)", shapes_file);
        return RNNC_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++)
        if (shapes[i].B < 1 || shapes[i].T < 1 || shapes[i].F < 1 || shapes[i].U < 1 ||
            shapes[i].B * shapes[i].T * (shapes[i].F + shapes[i].U) > (int64_t)1 << 32) {
            rnnc_cli_error(&bench_cmd, "shape %d (%lld,%lld,%lld,%lld) must be positive and modest", i + 1,
                           (long long)shapes[i].B, (long long)shapes[i].T, (long long)shapes[i].F,
                           (long long)shapes[i].U);
            return RNNC_EXIT_USAGE;
        }
    const char *peer = rnnc_cli_get(&bench_cmd, "--peer");
    if (!peer)
        peer = "../shared/bench/torch_gru_bench.py";
    const char *python = rnnc_cli_get(&bench_cmd, "--python");
    if (!python)
        python = "/usr/bin/python3";
    bool use_peer = strcmp(peer, "none") != 0;

    printf("# rnnc bench gru: kernel=%s, float32, medians over %lld rounds of >= %.2f s\n",
           kernel == RNNC_GRU_KERNEL_FUSED ? "fused" : "generic", (long long)rounds, min_time);
    printf("# OpenBLAS: %s, %d threads (OPENBLAS_CORETYPE=%s)\n", openblas_get_config(),
           openblas_get_num_threads(), getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset");
    printf("# peer: %s\n", use_peer ? peer : "none");
    printf("%5s %4s %4s %4s | %9s %9s %8s %7s | %9s %9s %8s %7s | %7s %6s\n", "B", "T", "F", "U", "fwd_ms",
           "peer_ms", "ratio", "GF/s", "train_ms", "peer_ms", "ratio", "GF/s", "sgemm", "train%");
    int failures = 0;
    for (int i = 0; i < n; i++) {
        bench_shape s = shapes[i];
        gru_bench b;
        rnnc_status st = bench_setup(&b, s, kernel);
        double f_r[100], t_r[100], f_p[100], t_p[100];
        int n_peer = 0;
        for (int r = 0; st == RNNC_OK && r < rounds; r++) {
            st = time_median(run_fwd, &b, min_time * 1e3, 5, &f_r[r]);
            if (st == RNNC_OK)
                st = time_median(run_train, &b, min_time * 1e3, 5, &t_r[r]);
            if (st == RNNC_OK && use_peer && run_peer(python, peer, s, min_time, &f_p[n_peer], &t_p[n_peer]))
                n_peer++;
        }
        bench_teardown(&b);
        if (st != RNNC_OK) {
            fprintf(stderr, "rnnc bench: shape %lld,%lld,%lld,%lld: %s\n", (long long)s.B, (long long)s.T,
                    (long long)s.F, (long long)s.U, rnnc_last_error());
            failures++;
            continue;
        }
        double fwd = median(f_r, (int)rounds), train = median(t_r, (int)rounds);
        double flop = 2.0 * (double)s.B * (double)s.T * 3.0 * (double)s.U * (double)(s.F + s.U);
        double gemm = sgemm_gflops(s.B * s.T, s.F > s.U ? s.F : s.U, 3 * s.U, min_time * 1e3);
        double train_gf = 3.0 * flop / (train * 1e6);
        char pf[16] = "-", pt[16] = "-", rf[16] = "-", rt[16] = "-";
        if (n_peer > 0) {
            double pfm = median(f_p, n_peer), ptm = median(t_p, n_peer);
            snprintf(pf, sizeof pf, "%.3f", pfm);
            snprintf(pt, sizeof pt, "%.3f", ptm);
            snprintf(rf, sizeof rf, "%.2fx", pfm / fwd);
            snprintf(rt, sizeof rt, "%.2fx", ptm / train);
        }
        printf("%5lld %4lld %4lld %4lld | %9.3f %9s %8s %7.1f | %9.3f %9s %8s %7.1f | %7.1f %5.0f%%\n",
               (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U, fwd, pf, rf,
               flop / (fwd * 1e6), train, pt, rt, train_gf, gemm, 100.0 * train_gf / gemm);
        printf("      time steps/s: fwd %.0f, train %.0f\n", (double)(s.B * s.T) / (fwd * 1e-3),
               (double)(s.B * s.T) / (train * 1e-3));
        fflush(stdout);
    }
    return failures ? RNNC_EXIT_FAIL : RNNC_EXIT_OK;
}
