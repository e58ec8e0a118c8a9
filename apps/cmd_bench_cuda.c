/* cmd_bench_cuda.c - `rnnc bench gru --device cuda`: the GRU layer on the
 * GPU (apps/cmd_bench.h, rnnc__bench_gpu), against PyTorch's cuDNN GRU.
 *
 * For every shape (B, T, F, U) and kernel (cuDNN's GRU, the generic GPU
 * GRU: cuBLAS products and one kernel per step), it times
 *   fwd   - an inference forward (training=false) of the whole sequence;
 *   train - one training step: the forward with training=true, MSE between
 *           the last output and a fixed (B, U) target (the op table's loss
 *           op: value and gradient), the backward with the weight gradients
 *           (and dx), and SGD(lr 1e-3) on the three weights (the sgd op),
 *           all on the device; through the CUDA GRU API also the weights'
 *           copy into cuDNN's layout (gru_set_weights), which that API
 *           needs after every optimizer step.
 * That is the step of the CPU bench (apps/cmd_bench.c) and of the peer
 * (bench/torch2_rnn_bench.py --device cuda). Float32 with full float32
 * math (no TF32), as the peer is told to run. Each call is timed on the
 * host between two device synchronizations (api->synchronize: every
 * queued kernel finished), after 3 warm-up calls; the figure is the median
 * over at least min_reps calls and min_time seconds, then the median over
 * the rounds, which alternate with the peer's process (order reversed in
 * every other round), as on the CPU.
 *
 * The GRU is reached through the backend op table's GRU op
 * (rnnc_backend_ops gru_create / gru_forward / gru_backward,
 * framework/backend_ops.h) when the CUDA table says it supports it, else
 * through the CUDA backend's own GRU API (rnnc_cuda_api gru_*,
 * framework/backend/cuda_api.h); the header line says which. The weights
 * start as the CPU bench's (a Keras-initialized GRU layer), x and the
 * target uniform in [-1, 1] from the same seed.
 *
 * tests/test_bench_cuda.c runs this file on the emulated CUDA backend
 * (tests/cuda_emu); the figures of a real GPU come from bench/gpu_check.sh. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cli.h"
#include "apps/cmd_bench.h"
#include "framework/backend_ops.h"
#include "framework/random.h"
#include "layers/gru.h"

#define GPU_MAX_ROUNDS 100
#define GPU_WARMUP 3

/* Take rnnc_cuda_api's gru_* even when the op table has the GRU op
 * (tests/test_bench_cuda.c checks both paths; the program never sets it). */
static bool gpu_force_api;

/* One shape on the device, through one of the two GRU interfaces. */
typedef struct gpu_bench {
    const rnnc_cuda_api *api;
    const rnnc_backend_ops *ops; /* the CUDA op table (loss, sgd, fill; the GRU op when use_ops) */
    bool use_ops;                /* the op table's GRU op; else api->gru_* */
    bench_shape s;
    /* device tensors: x (B, T, F), target (B, U), weights kernel (F, 3U),
     * recurrent_kernel (U, 3U), bias (2, 3U); the op table's path also
     * owns y (B, U) and the weight gradients; dy (B, U) and the loss
     * values (B) both. */
    rnnc_dtensor *x, *target, *w[3], *dw[3], *y, *dy, *values;
    rnnc_cuda_gru *g; /* api path */
    rnnc_bgru *bg;    /* op table path */
} gpu_bench;

/* A borrowed op-table buffer over device tensor t. */
static rnnc_bbuf view(const gpu_bench *b, const rnnc_dtensor *t)
{
    return rnnc_bbuf_view(b->ops, RNNC_F32, t->numel, t->data);
}

static rnnc_status new_tensor(const gpu_bench *b, rnnc_shape shape, rnnc_dtensor **out)
{
    return b->api->tensor_create(RNNC_F32, &shape, out);
}

/* x and the target as the CPU bench draws them (seed 42), uploaded. */
static rnnc_status upload_data(gpu_bench *b)
{
    const bench_shape s = b->s;
    rnnc_rng rng;
    rnnc_rng_init(&rng, 42);
    const rnnc_shape xs = RNNC_SHAPE(s.B, s.T, s.F), ys = RNNC_SHAPE(s.B, s.U);
    rnnc_tensor *hx = NULL, *hy = NULL;
    rnnc_status st = rnnc_tensor_create(RNNC_F32, &xs, &hx);
    if (st == RNNC_OK)
        st = rnnc_tensor_create(RNNC_F32, &ys, &hy);
    if (st == RNNC_OK) {
        rnnc__bench_fill_uniform(hx, &rng);
        rnnc__bench_fill_uniform(hy, &rng);
        st = b->api->upload(b->x, hx);
    }
    if (st == RNNC_OK)
        st = b->api->upload(b->target, hy);
    rnnc_tensor_destroy(hx);
    rnnc_tensor_destroy(hy);
    return st;
}

/* The weights of a Keras-initialized GRU layer (the CPU bench's), uploaded. */
static rnnc_status upload_weights(gpu_bench *b)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    o.units = b->s.U;
    rnnc_layer *gru = NULL;
    rnnc_weight *w[4];
    int n_w = 0;
    const rnnc_shape xs = RNNC_SHAPE(b->s.B, b->s.T, b->s.F);
    rnnc_status st = rnnc_gru_create(&o, &gru);
    if (st == RNNC_OK)
        st = rnnc_layer_build(gru, &xs);
    if (st == RNNC_OK)
        st = rnnc_layer_weights(gru, w, 4, &n_w);
    if (st == RNNC_OK && n_w != 3)
        st = rnnc_fail(RNNC_E_STATE, "the GRU layer has %d weights, 3 expected", n_w);
    for (int i = 0; st == RNNC_OK && i < 3; i++) /* kernel, recurrent_kernel, bias */
        st = b->api->upload(b->w[i], w[i]->value);
    rnnc_layer_destroy(gru);
    return st;
}

static void gpu_teardown(gpu_bench *b)
{
    if (b->g)
        b->api->gru_destroy(b->g);
    if (b->bg)
        b->ops->gru_destroy(b->bg);
    rnnc_dtensor **all[] = {&b->x, &b->target, &b->w[0], &b->w[1], &b->w[2], &b->dw[0],
                            &b->dw[1], &b->dw[2], &b->y, &b->dy, &b->values};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        b->api->tensor_destroy(*all[i]);
        *all[i] = NULL;
    }
    b->g = NULL;
    b->bg = NULL;
}

static rnnc_status gpu_setup(gpu_bench *b, const rnnc_cuda_api *cu, bench_shape s, bool cudnn)
{
    memset(b, 0, sizeof *b);
    b->api = cu;
    b->s = s;
    b->ops = cu->ops();
    if (!b->ops || !b->ops->supports(RNNC_BOP_LOSS, RNNC_F32) || !b->ops->supports(RNNC_BOP_SGD, RNNC_F32))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "the CUDA op table has no loss or sgd op");
    b->use_ops = !gpu_force_api && b->ops->supports(RNNC_BOP_GRU, RNNC_F32);
    const int64_t B = s.B, F = s.F, U = s.U;
    RNNC_TRY(new_tensor(b, RNNC_SHAPE(B, s.T, F), &b->x));
    RNNC_TRY(new_tensor(b, RNNC_SHAPE(B, U), &b->target));
    RNNC_TRY(new_tensor(b, RNNC_SHAPE(F, 3 * U), &b->w[0]));
    RNNC_TRY(new_tensor(b, RNNC_SHAPE(U, 3 * U), &b->w[1]));
    RNNC_TRY(new_tensor(b, RNNC_SHAPE(2, 3 * U), &b->w[2]));
    RNNC_TRY(new_tensor(b, RNNC_SHAPE(B, U), &b->dy));
    RNNC_TRY(new_tensor(b, RNNC_SHAPE(B), &b->values));
    RNNC_TRY(upload_data(b));
    RNNC_TRY(upload_weights(b));
    if (b->use_ops) {
        RNNC_TRY(new_tensor(b, RNNC_SHAPE(B, U), &b->y));
        for (int i = 0; i < 3; i++)
            RNNC_TRY(new_tensor(b, b->w[i]->shape, &b->dw[i]));
        const rnnc_bgru_config c = {
            .input_size = F, .units = U, .activation = RNNC_ACT_TANH,
            .recurrent_activation = RNNC_ACT_SIGMOID, .use_bias = true, .reset_after = true,
            .go_backwards = false, .return_sequences = false, .zero_output_for_mask = false,
            .cudnn = cudnn};
        return b->ops->gru_create(&c, &b->bg);
    }
    rnnc_cuda_gru_config c = rnnc_cuda_gru_config_default(F, U);
    c.kernel = cudnn ? RNNC_CUDA_GRU_CUDNN : RNNC_CUDA_GRU_GENERIC;
    c.allow_tf32 = false;
    RNNC_TRY(cu->gru_create(&c, &b->g));
    return cu->gru_set_weights(b->g, b->w[0], b->w[1], b->w[2]);
}

/* The forward over x; *last gets the (B, U) last output. */
static rnnc_status gpu_forward(gpu_bench *b, bool training, const rnnc_dtensor **last)
{
    if (b->use_ops) {
        const rnnc_bbuf x = view(b, b->x), k = view(b, b->w[0]), rk = view(b, b->w[1]),
                        bias = view(b, b->w[2]);
        rnnc_bbuf y = view(b, b->y);
        *last = b->y;
        return b->ops->gru_forward(b->bg, b->s.B, b->s.T, &x, NULL, NULL, &k, &rk, &bias, training,
                                   &y, NULL);
    }
    const rnnc_cuda_gru_forward_args a = {.x = b->x, .training = training};
    rnnc_cuda_gru_outputs out;
    RNNC_TRY(b->api->gru_forward(b->g, &a, &out));
    *last = out.last;
    return RNNC_OK;
}

static rnnc_status gpu_run_fwd(gpu_bench *b)
{
    const rnnc_dtensor *last;
    return gpu_forward(b, false, &last);
}

/* forward + MSE(last output, target) + backward + SGD(1e-3), on the device. */
static rnnc_status gpu_run_train(gpu_bench *b)
{
    const rnnc_dtensor *last, *grads[3];
    if (b->use_ops)
        for (int i = 0; i < 3; i++) {
            rnnc_bbuf g = view(b, b->dw[i]);
            RNNC_TRY(b->ops->fill(&g, 0.0f)); /* the GRU op accumulates */
        }
    else
        RNNC_TRY(b->api->gru_zero_grad(b->g));
    RNNC_TRY(gpu_forward(b, true, &last));
    const rnnc_bbuf t = view(b, b->target), p = view(b, last);
    rnnc_bbuf values = view(b, b->values), dy = view(b, b->dy);
    /* per-row mean over U, gradient scaled by 1/B: the gradient of the mean over all B*U */
    RNNC_TRY(b->ops->loss(RNNC_BLOSS_MSE, false, b->s.B, b->s.U, &t, &p, &values, &dy,
                          1.0f / (float)b->s.B));
    if (b->use_ops) {
        rnnc_bbuf dk = view(b, b->dw[0]), drk = view(b, b->dw[1]), db = view(b, b->dw[2]);
        RNNC_TRY(b->ops->gru_backward(b->bg, &dy, NULL, NULL, &dk, &drk, &db));
        for (int i = 0; i < 3; i++)
            grads[i] = b->dw[i];
    } else {
        const rnnc_cuda_gru_backward_args a = {.d_last = b->dy};
        rnnc_cuda_gru_grads g;
        RNNC_TRY(b->api->gru_backward(b->g, &a, &g));
        grads[0] = g.dkernel;
        grads[1] = g.drecurrent_kernel;
        grads[2] = g.dbias;
    }
    const rnnc_sgd_params sgd = {.lr = 1e-3f, .momentum = 0.0f, .nesterov = false};
    for (int i = 0; i < 3; i++) {
        rnnc_bbuf w = view(b, b->w[i]);
        const rnnc_bbuf g = view(b, grads[i]);
        RNNC_TRY(b->ops->sgd(&sgd, &w, &g, NULL));
    }
    if (!b->use_ops)
        RNNC_TRY(b->api->gru_set_weights(b->g, b->w[0], b->w[1], b->w[2]));
    return RNNC_OK;
}

/* Median milliseconds of fn, each call between two device synchronizations,
 * after the warm-up; *mallocs: cudaMalloc calls per timed call. */
static rnnc_status gpu_time(rnnc_status (*fn)(gpu_bench *), gpu_bench *b, double min_ms,
                            int min_reps, double *out, double *mallocs)
{
    double t[1000];
    int n = 0;
    for (int i = 0; i < GPU_WARMUP; i++)
        RNNC_TRY(fn(b));
    RNNC_TRY(b->api->synchronize());
    rnnc_cuda_stats s0, s1;
    RNNC_TRY(b->api->stats(&s0));
    const double start = rnnc__bench_now_ms();
    while (n < 1000 && (n < min_reps || rnnc__bench_now_ms() - start < min_ms)) {
        const double t0 = rnnc__bench_now_ms();
        RNNC_TRY(fn(b));
        RNNC_TRY(b->api->synchronize());
        t[n++] = rnnc__bench_now_ms() - t0;
    }
    RNNC_TRY(b->api->stats(&s1));
    *mallocs = (double)(s1.device_mallocs - s0.device_mallocs) / n;
    *out = rnnc__bench_median(t, n);
    return RNNC_OK;
}

/* Per kernel: the rounds' medians (fwd, train) and cudaMalloc calls per call. */
typedef struct gpu_times {
    double f[GPU_MAX_ROUNDS], t[GPU_MAX_ROUNDS], mallocs;
    int n;
    bool failed;
} gpu_times;

static const char *kernel_name(int k) { return k == RNNC_BENCH_CUDNN ? "cudnn" : "generic"; }

/* One round of rnnc on shape s: every kernel of o, fwd then train. */
static void rnnc_round(const rnnc_cuda_api *cu, const bench_gpu_options *o, bench_shape s,
                       gpu_times *kt, int *failures)
{
    for (int k = RNNC_BENCH_CUDNN; k <= RNNC_BENCH_GENERIC; k <<= 1) {
        gpu_times *tm = &kt[k - 1];
        if (!(o->kernels & k) || tm->failed)
            continue;
        gpu_bench b;
        double m1 = 0, m2 = 0;
        rnnc_status st = gpu_setup(&b, cu, s, k == RNNC_BENCH_CUDNN);
        if (st == RNNC_OK)
            st = gpu_time(gpu_run_fwd, &b, o->min_time * 1e3, o->min_reps, &tm->f[tm->n], &m1);
        if (st == RNNC_OK)
            st = gpu_time(gpu_run_train, &b, o->min_time * 1e3, o->min_reps, &tm->t[tm->n], &m2);
        gpu_teardown(&b);
        if (st != RNNC_OK) {
            fprintf(stderr, "rnnc bench: --device cuda, shape %lld,%lld,%lld,%lld, kernel %s: %s\n",
                    (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U,
                    kernel_name(k), rnnc_last_error());
            tm->failed = true;
            (*failures)++;
            continue;
        }
        tm->mallocs = m1 > m2 ? m1 : m2;
        tm->n++;
    }
}

/* "12.345" and "1.23x" (peer / rnnc) into the cells, or "-". */
static void peer_cells(double peer_ms, double rnnc_ms, char *ms, char *ratio, size_t cap)
{
    snprintf(ms, cap, "-");
    snprintf(ratio, cap, "-");
    if (isfinite(peer_ms)) {
        snprintf(ms, cap, "%.3f", peer_ms);
        snprintf(ratio, cap, "%.2fx", peer_ms / rnnc_ms);
    }
}

static void print_header(const rnnc_cuda_api *cu, const bench_gpu_options *o)
{
    char dev[256] = "?";
    if (cu->device_describe(dev, sizeof dev) != RNNC_OK)
        snprintf(dev, sizeof dev, "(device_describe failed: %s)", rnnc_last_error());
    const rnnc_backend_ops *ops = cu->ops();
    const bool use_ops = ops && ops->supports(RNNC_BOP_GRU, RNNC_F32);
    printf("# rnnc bench gru --device cuda: %s; float32, full float32 math (no TF32); medians over %lld rounds of >= %.2f s; every call timed between two device synchronizations\n",
           dev, (long long)o->rounds, o->min_time);
    printf("# GRU through %s\n",
           use_ops ? "the backend op table's GRU op (rnnc_backend_ops gru_forward / gru_backward)"
                   : "the CUDA backend's GRU API (rnnc_cuda_api gru_*; the op table's GRU op is not supported by this build)");
    printf("# fwd: inference forward; train: forward + MSE on the last output + backward (weight gradients) + SGD(1e-3), all on the device%s\n",
           use_ops ? "" : ", + gru_set_weights (the weights into cuDNN's layout)");
    if (o->n_peers == 0)
        printf("# peer: none\n");
    else
        printf("# peer %s: %s %s %s\n", o->peers[0].name, o->peers[0].python, o->peers[0].script,
               o->peers[0].args);
    printf("# ms: median; ratio: peer_ms / rnnc_ms (above 1 = rnnc faster); GF/s: 2*B*T*3U*(F+U) per forward, 3x per training step\n");
    printf("%5s %4s %4s %4s %-7s | %9s %9s %7s %7s | %9s %9s %7s %7s\n", "B", "T", "F", "U", "kernel",
           "fwd_ms", "peer_ms", "ratio", "GF/s", "train_ms", "peer_ms", "ratio", "GF/s");
}

int rnnc__bench_gpu_peer(const char *peer_opt, const char *python_opt, bench_peer *p, char *pybuf,
                         size_t cap)
{
    memset(p, 0, sizeof *p);
    if (peer_opt && strcmp(peer_opt, "none") == 0)
        return 0;
    const bool script = peer_opt && strcmp(peer_opt, "torch") != 0;
    p->name = script ? "peer" : "torch";
    p->python = rnnc__bench_python_for(python_opt, p->name, pybuf, cap);
    if (!p->python)
        p->python = "python3"; /* pip's torch, wherever python3 is */
    p->script = script ? peer_opt : "bench/torch2_rnn_bench.py";
    p->args = script ? "--device cuda" : "--mode eager --device cuda";
    return rnnc__bench_peer_usable(p) ? 1 : 0;
}

int rnnc__bench_gpu(const rnnc_cuda_api *cu, const bench_gpu_options *o)
{
    print_header(cu, o);
    const int rounds = (int)(o->rounds < GPU_MAX_ROUNDS ? o->rounds : GPU_MAX_ROUNDS);
    const int peer_threads = atoi(o->threads_arg);
    int failures = 0;
    for (int i = 0; i < o->n_shapes; i++) {
        const bench_shape s = o->shapes[i];
        gpu_times kt[2];
        memset(kt, 0, sizeof kt);
        double pf[GPU_MAX_ROUNDS], pt[GPU_MAX_ROUNDS];
        int npf = 0, npt = 0;
        for (int r = 0; r < rounds; r++)
            for (int q = 0; q < 2; q++) { /* rnnc, then the peer; reversed every other round */
                if ((q == 0) == (r % 2 == 0)) {
                    rnnc_round(cu, o, s, kt, &failures);
                    continue;
                }
                double f, t;
                if (o->n_peers > 0 && rnnc__bench_run_peer(&o->peers[0], s, o->min_time, o->threads_arg,
                                                           &peer_threads, 1, &f, &t)) {
                    if (!isnan(f))
                        pf[npf++] = f;
                    if (!isnan(t))
                        pt[npt++] = t;
                }
            }
        const double pfm = rnnc__bench_median(pf, npf), ptm = rnnc__bench_median(pt, npt);
        const double flop = 2.0 * (double)s.B * (double)s.T * 3.0 * (double)s.U * (double)(s.F + s.U);
        char tail[256] = "";
        size_t used = 0;
        for (int k = RNNC_BENCH_CUDNN; k <= RNNC_BENCH_GENERIC; k <<= 1) {
            gpu_times *tm = &kt[k - 1];
            if (!(o->kernels & k) || tm->n == 0)
                continue;
            const double fwd = rnnc__bench_median(tm->f, tm->n), train = rnnc__bench_median(tm->t, tm->n);
            char c1[32], c2[32], c3[32], c4[32];
            peer_cells(pfm, fwd, c1, c2, sizeof c1);
            peer_cells(ptm, train, c3, c4, sizeof c3);
            printf("%5lld %4lld %4lld %4lld %-7s | %9.3f %9s %7s %7.1f | %9.3f %9s %7s %7.1f\n",
                   (long long)s.B, (long long)s.T, (long long)s.F, (long long)s.U, kernel_name(k), fwd,
                   c1, c2, flop / (fwd * 1e6), train, c3, c4, 3.0 * flop / (train * 1e6));
            const int w = snprintf(tail + used, sizeof tail - used,
                                   "%s%s fwd %.0f, train %.0f (cudaMalloc per call %.2f)", used ? "; " : "",
                                   kernel_name(k), (double)(s.B * s.T) / (fwd * 1e-3),
                                   (double)(s.B * s.T) / (train * 1e-3), tm->mallocs);
            if (w > 0 && (size_t)w < sizeof tail - used)
                used += (size_t)w;
        }
        if (used)
            printf("      time steps/s: %s\n", tail);
        fflush(stdout);
    }
    rnnc_cuda_stats st;
    if ((o->kernels & RNNC_BENCH_GENERIC) && cu->stats(&st) == RNNC_OK)
        printf("# generic kernel's step loops as CUDA graphs: %llu captured, %llu replayed, %llu "
               "captures failed (those ran uncaptured)\n",
               (unsigned long long)st.graph_captures, (unsigned long long)st.graph_replays,
               (unsigned long long)st.graph_fallbacks);
    if (o->n_peers > 0 && o->peers[0].version[0])
        printf("# peer %s version: %s\n", o->peers[0].name, o->peers[0].version);
    return failures ? RNNC_EXIT_FAIL : RNNC_EXIT_OK;
}
