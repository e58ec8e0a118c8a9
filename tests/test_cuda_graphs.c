/* test_cuda_graphs.c - the generic GPU GRU's step loops as CUDA graphs
 * (cuda_gru_generic.c, rnnc_cuda_gru_config.use_graphs).
 *
 * Oracle: the same GRU object type with use_graphs=false (every step
 * launched, the path tests/test_cuda_emulated.c checks against the CPU
 * reference), fed the same weights and data, must give bit-identical
 * outputs and gradients on every call (on a real GPU within 1e-5: cuBLAS
 * may pick another algorithm inside a capture); the first call is also
 * checked against the CPU reference GRU of tests/helpers
 * (cuda_gru_cases.h). The process-wide counts of rnnc_cuda_stats say what
 * was captured and what was replayed. Each call brings new weights and
 * data in the same device tensors (a graph that kept the captured values,
 * or read a caller's buffer it no longer should, gives the old results),
 * and one call brings fresh caller tensors (other pointers). The op
 * table's GRU op and a short fit through rnnc_trainer_set_device are
 * checked against the CPU table / the CPU path.
 *
 * Suites: cuda_graphs_emulated (the backend's C code on tests/cuda_emu,
 * whose capture records calls and replays them with the captured
 * pointers, and refuses host work as CUDA does), with emulator-only cases
 * (forced capture failures, the emulation itself); cuda_graphs_gpu (the
 * same cases on a real GPU, skipped without one). */
#include "cuda_emu/cuda_backend_sources.c"

#pragma GCC diagnostic ignored "-Wunused-function" /* cuda_gru_cases.h's runners */
#include "cuda_gru_cases.h"

#include "framework/backend.h"
#include "framework/backend_ops.h"
#include "framework/layer.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "optim/trainer.h"

/* ---- a GRU object and the caller's device tensors ---- */

typedef struct runner {
    rnnc_cuda_gru *g;
    rnnc_dtensor *k, *rk, *b, *x, *h0, *drop, *dY, *dL, *dS;
} runner;

static void upload_into(rnnc_dtensor *d, const double *v)
{
    rnnc_tensor *h = NULL;
    OK(rnnc_tensor_from(RNNC_F64, &d->shape, v, &h));
    OK(gpu->upload(d, h));
    rnnc_tensor_destroy(h);
}

static void drop_tensors(runner *r)
{
    rnnc_dtensor *ts[] = {r->k, r->rk, r->b, r->x, r->h0, r->drop, r->dY, r->dL, r->dS};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        gpu->tensor_destroy(ts[i]);
    rnnc_cuda_gru *g = r->g;
    memset(r, 0, sizeof *r);
    r->g = g;
}

/* (Re)creates the caller's tensors for c's shapes: the new ones made before
 * the old ones go, so every pointer changes (and the old blocks, back in
 * the cache, still hold the old data). */
static void make_tensors(runner *r, const gcase *c)
{
    runner old = *r;
    const int64_t B = c->B, T = c->T, F = c->F, U = c->U;
    const rnnc_shape ks = RNNC_SHAPE(F, 3 * U), rs = RNNC_SHAPE(U, 3 * U), bs = bias_shape(c);
    const rnnc_shape xs = RNNC_SHAPE(B, T, F), hs = RNNC_SHAPE(B, U), ys = RNNC_SHAPE(B, T, U);
    const rnnc_shape ds = RNNC_SHAPE(B, F);
    r->k = dev_from(c->W, &ks);
    r->rk = dev_from(c->R, &rs);
    r->b = c->use_bias ? dev_from(c->bias, &bs) : NULL;
    r->x = dev_from(c->x, &xs);
    r->h0 = c->has_h0 ? dev_from(c->h0, &hs) : NULL;
    r->drop = c->drop ? dev_from(c->drop, &ds) : NULL;
    r->dY = dev_from(c->dY, &ys);
    r->dL = dev_from(c->dL, &hs);
    r->dS = dev_from(c->dS, &hs);
    drop_tensors(&old);
}

static void runner_open(runner *r, const gcase *c, bool graphs)
{
    memset(r, 0, sizeof *r);
    rnnc_cuda_gru_config cfg = case_config(c); /* c is a generic case */
    cr_assert_eq(cfg.kernel, RNNC_CUDA_GRU_GENERIC);
    cr_assert(cfg.use_graphs, "use_graphs defaults to true");
    cfg.use_graphs = graphs;
    OK(gpu->gru_create(&cfg, &r->g));
    make_tensors(r, c);
}

static void runner_close(runner *r)
{
    drop_tensors(r);
    gpu->gru_destroy(r->g);
}

/* One training step with c's current weights and data, written into the
 * runner's tensors: set_weights, zero_grad, forward, backward, downloads. */
static void runner_step(runner *r, const gcase *c, gpu_result *out)
{
    upload_into(r->k, c->W);
    upload_into(r->rk, c->R);
    if (r->b)
        upload_into(r->b, c->bias);
    upload_into(r->x, c->x);
    if (r->h0)
        upload_into(r->h0, c->h0);
    if (r->drop)
        upload_into(r->drop, c->drop);
    upload_into(r->dY, c->dY);
    upload_into(r->dL, c->dL);
    upload_into(r->dS, c->dS);
    rnnc_tensor *mask = NULL;
    const rnnc_shape ms = RNNC_SHAPE(c->B, c->T);
    if (c->mask)
        OK(rnnc_tensor_from(RNNC_U8, &ms, c->mask, &mask));
    OK(gpu->gru_set_weights(r->g, r->k, r->rk, r->b));
    OK(gpu->gru_zero_grad(r->g));
    rnnc_cuda_gru_forward_args fa = {.x = r->x, .h0 = r->h0, .mask = mask, .dropout = r->drop,
                                     .training = true};
    rnnc_cuda_gru_outputs o;
    OK(gpu->gru_forward(r->g, &fa, &o));
    rnnc_cuda_gru_backward_args ba = {.d_outputs = r->dY, .d_last = r->dL, .d_state = r->dS};
    rnnc_cuda_gru_grads gr;
    OK(gpu->gru_backward(r->g, &ba, &gr));
    OK(gpu->synchronize());
    *out = (gpu_result){host_of(o.outputs), host_of(o.last), host_of(o.state), host_of(gr.dx),
                        host_of(gr.dh0), host_of(gr.dkernel), host_of(gr.drecurrent_kernel),
                        c->use_bias ? host_of(gr.dbias) : NULL};
    rnnc_tensor_destroy(mask);
}

/* Emulated: the same calls on the same data give bit-identical results. A
 * real GPU's cuBLAS may pick another algorithm inside a capture, so there
 * the results need only agree within 1e-5 (relative above 1). */
static bool exact_results = true;

static void expect_same(const gpu_result *a, const gpu_result *b, const gcase *c, const char *when)
{
    const size_t B = (size_t)c->B, T = (size_t)c->T, F = (size_t)c->F, U = (size_t)c->U;
    const struct { const char *name; const double *p, *q; size_t n; } f[] = {
        {"outputs", a->Y, b->Y, B * T * U},       {"last", a->last, b->last, B * U},
        {"state", a->state, b->state, B * U},     {"dx", a->dx, b->dx, B * T * F},
        {"dh0", a->dh0, b->dh0, B * U},           {"dkernel", a->dW, b->dW, F * 3 * U},
        {"drecurrent", a->dR, b->dR, U * 3 * U},  {"dbias", a->db, b->db, n_bias(c)},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].n)
            cr_expect(exact_results ? memcmp(f[i].p, f[i].q, f[i].n * sizeof(double)) == 0
                                    : max_err(f[i].p, f[i].q, f[i].n) <= 1e-5,
                      "%s differs with graphs (%s; max err %g): %s", f[i].name, when,
                      max_err(f[i].p, f[i].q, f[i].n), c->desc);
}

/* New random values for every weight and data array (same shapes; the
 * mask keeps its presence, its pattern changes). */
static void refresh(gcase *c)
{
    const int64_t B = c->B, T = c->T, F = c->F, U = c->U;
    double **arrs[] = {&c->W, &c->R, &c->bias, &c->x, &c->h0, &c->dY, &c->dL, &c->dS};
    const size_t ns[] = {(size_t)(F * 3 * U), (size_t)(U * 3 * U), n_bias(c), (size_t)(B * T * F),
                         (size_t)(B * U),      (size_t)(B * T * U), (size_t)(B * U), (size_t)(B * U)};
    const double lim[] = {0.6, 0.6, 0.4, 1.0, 0.8, 1.0, 1.0, 1.0};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        free(*arrs[i]);
        *arrs[i] = rand_array(ns[i], -lim[i], lim[i]);
    }
    if (c->has_drop) {
        free(c->drop);
        c->drop = malloc((size_t)(B * F) * sizeof *c->drop);
        cr_assert(c->drop);
        for (int64_t i = 0; i < B * F; i++)
            c->drop[i] = uni(0, 1) < 0.3 ? 0.0 : 1.0 / 0.7;
    }
    if (c->has_mask) {
        free(c->mask);
        c->mask = malloc((size_t)(B * T));
        cr_assert(c->mask);
        for (int64_t i = 0; i < B * T; i++)
            c->mask[i] = uni(0, 1) < 0.7;
    } else {
        free(c->mask);
        c->mask = NULL;
    }
}

static rnnc_cuda_stats stats_now(void)
{
    rnnc_cuda_stats s;
    OK(gpu->stats(&s));
    return s;
}

/* Graph counts since s0: captures, replays, fallbacks. */
static void expect_graphs(rnnc_cuda_stats s0, uint64_t cap, uint64_t rep, uint64_t fb,
                          const char *what)
{
    const rnnc_cuda_stats s1 = stats_now();
    const uint64_t c = s1.graph_captures - s0.graph_captures,
                   r = s1.graph_replays - s0.graph_replays,
                   f = s1.graph_fallbacks - s0.graph_fallbacks;
    cr_expect(c == cap && r == rep && f == fb,
              "graphs captured %llu, replayed %llu, fallbacks %llu; want %llu %llu %llu: %s",
              (unsigned long long)c, (unsigned long long)r, (unsigned long long)f,
              (unsigned long long)cap, (unsigned long long)rep, (unsigned long long)fb, what);
}

/* ---- the cases (both suites) ---- */

/* Random generic configurations, 4 training steps each with new weights
 * and data: the first captures both loops, the others replay them; every
 * result equals the uncaptured GRU's bit for bit; step 3 brings fresh
 * caller tensors. Step 1 also against the CPU reference. */
static void run_graphs_replay_the_uncaptured_results_exactly(void)
{
    rng_s = 1601;
    for (int n = 0; n < 6; n++) {
        gcase c;
        make_case(&c, RNNC_CUDA_GRU_GENERIC, false);
        runner on, off;
        runner_open(&on, &c, true);
        runner_open(&off, &c, false);
        gpu_result prev = {0};
        for (int step = 1; step <= 4; step++) {
            if (step > 1)
                refresh(&c);
            if (step == 3) {
                make_tensors(&on, &c);
                make_tensors(&off, &c);
            }
            char when[32];
            snprintf(when, sizeof when, "step %d", step);
            rnnc_cuda_stats s0 = stats_now();
            gpu_result a, b;
            runner_step(&on, &c, &a);
            char what[400];
            snprintf(what, sizeof what, "%s, %s", when, c.desc);
            expect_graphs(s0, step == 1 ? 2 : 0, step == 1 ? 0 : 2, 0, what);
            s0 = stats_now();
            runner_step(&off, &c, &b);
            expect_graphs(s0, 0, 0, 0, "use_graphs=false");
            expect_same(&a, &b, &c, when);
            if (step == 1) {
                const size_t nY = (size_t)(c.B * c.T * c.U);
                double *Y = malloc(nY * sizeof *Y), *last = malloc((size_t)(c.B * c.U) * sizeof *last);
                double *hT = malloc((size_t)(c.B * c.U) * sizeof *hT);
                ref_run(&c, Y, last, hT);
                cr_expect_lt(max_err(a.Y, Y, nY), TOL, "outputs vs the CPU: %s", c.desc);
                cr_expect_lt(max_err(a.state, hT, (size_t)(c.B * c.U)), TOL, "state: %s", c.desc);
                free(Y), free(last), free(hT);
            } else {
                /* The new data reached the replayed graph: results moved. */
                cr_expect_gt(max_err(a.Y, prev.Y, (size_t)(c.B * c.T * c.U)), 0.0,
                             "outputs did not change with new data (%s): %s", when, c.desc);
                cr_expect_gt(fmax(max_err(a.dx, prev.dx, (size_t)(c.B * c.T * c.F)),
                                  max_err(a.dW, prev.dW, (size_t)(c.F * 3 * c.U))),
                             0.0, "gradients did not change with new data (%s): %s", when, c.desc);
            }
            free_result(&prev);
            prev = a;
            free_result(&b);
        }
        free_result(&prev);
        runner_close(&on);
        runner_close(&off);
        free_case(&c);
    }
}

/* Sets c's batch, steps and mask presence (new data, weights kept). */
static void reshape(gcase *c, int64_t B, int64_t T, bool mask)
{
    c->B = B;
    c->T = T;
    c->has_mask = mask;
    refresh(c);
}

/* A changed batch, sequence length or mask presence captures again; a
 * repeat of one of the last 4 keys replays its graphs, an older one (the
 * least recently used, evicted) is captured again. */
static void run_a_changed_key_captures_again(void)
{
    rng_s = 1602;
    gcase c;
    make_case(&c, RNNC_CUDA_GRU_GENERIC, false);
    c.has_h0 = true;
    c.has_drop = false;
    free(c.drop);
    c.drop = NULL;
    reshape(&c, 3, 5, true);
    runner on, off;
    runner_open(&on, &c, true);
    runner_open(&off, &c, false);
    static const struct { int B, T, mask, captured; } seq[] = {
        {3, 5, 1, 1}, {3, 5, 1, 0}, {3, 4, 1, 1}, {3, 4, 1, 0}, {2, 4, 1, 1},
        {2, 4, 0, 1}, {2, 4, 0, 0}, {3, 5, 1, 0}, /* 4 keys kept */
        {1, 2, 1, 1}, /* evicts (3, 4) */
        {3, 4, 1, 1}, /* evicts (2, 4, mask) */
        {2, 4, 0, 0}, {1, 2, 1, 0}, {3, 5, 1, 0}, {2, 4, 1, 1},
        {4, 6, 1, 1}, /* larger buffers: new pointers */
        {4, 6, 1, 0},
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        const bool same = i > 0 && seq[i].B == seq[i - 1].B && seq[i].T == seq[i - 1].T;
        reshape(&c, seq[i].B, seq[i].T, seq[i].mask);
        if (!same) {
            make_tensors(&on, &c);
            make_tensors(&off, &c);
        }
        char when[64];
        snprintf(when, sizeof when, "call %zu (B=%d T=%d mask=%d)", i + 1, seq[i].B, seq[i].T,
                 seq[i].mask);
        const rnnc_cuda_stats s0 = stats_now();
        gpu_result a, b;
        runner_step(&on, &c, &a);
        expect_graphs(s0, seq[i].captured ? 2 : 0, seq[i].captured ? 0 : 2, 0, when);
        runner_step(&off, &c, &b);
        expect_same(&a, &b, &c, when);
        free_result(&a);
        free_result(&b);
    }
    runner_close(&on);
    runner_close(&off);
    free_case(&c);
}

/* The op table's GRU op (what the device training step calls) on the
 * generic kernel: 3 steps of one shape replay the loops' graphs (4
 * replays) and give the CPU table's numbers. */
static void run_the_op_table_gru_replays_and_matches_the_cpu(const rnnc_backend_ops *be)
{
    const rnnc_backend_ops *cpu = rnnc_backend_ops_cpu();
    rng_s = 1603;
    const int64_t B = 4, T = 6, F = 3, U = 5;
    const rnnc_bgru_config cfg = {.input_size = F, .units = U, .activation = RNNC_ACT_TANH,
                                  .recurrent_activation = RNNC_ACT_SIGMOID, .use_bias = true,
                                  .reset_after = true, .return_sequences = true, .cudnn = false};
    const size_t nx = (size_t)(B * T * F), ny = (size_t)(B * T * U), nw = (size_t)(F * 3 * U),
                 nr = (size_t)(U * 3 * U), nb = (size_t)(6 * U);
    uint8_t mask[4 * 6];
    for (int i = 0; i < B * T; i++)
        mask[i] = (i % 5) != 3;
    const rnnc_backend_ops *bes[2] = {cpu, be};
    rnnc_bgru *g[2];
    rnnc_bbuf *buf[2][9]; /* x W R b y dy dx dW dR ... */
    const size_t sizes[9] = {nx, nw, nr, nb, ny, ny, nx, nw, nr};
    for (int k = 0; k < 2; k++) {
        OK(bes[k]->gru_create(&cfg, &g[k]));
        for (int i = 0; i < 9; i++)
            OK(bes[k]->alloc(RNNC_F32, sizes[i], &buf[k][i]));
    }
    rnnc_bbuf *db[2];
    for (int k = 0; k < 2; k++)
        OK(bes[k]->alloc(RNNC_F32, nb, &db[k]));
    const rnnc_cuda_stats s0 = stats_now();
    for (int step = 0; step < 3; step++) {
        float *host[6];
        for (int i = 0; i < 6; i++) {
            host[i] = malloc(sizes[i] * sizeof(float));
            for (size_t j = 0; j < sizes[i]; j++)
                host[i][j] = (float)uni(-0.5, 0.5);
        }
        float *out[2][5];
        for (int k = 0; k < 2; k++) {
            const rnnc_backend_ops *b = bes[k];
            rnnc_bbuf **u = buf[k];
            for (int i = 0; i < 6; i++)
                OK(b->upload(u[i], host[i]));
            OK(b->fill(u[7], 0.0f));
            OK(b->fill(u[8], 0.0f));
            OK(b->fill(db[k], 0.0f));
            OK(b->gru_forward(g[k], B, T, u[0], NULL, mask, u[1], u[2], u[3], true, u[4], NULL));
            OK(b->gru_backward(g[k], u[5], u[6], NULL, u[7], u[8], db[k]));
            rnnc_bbuf *res[5] = {u[4], u[6], u[7], u[8], db[k]};
            for (int i = 0; i < 5; i++) {
                out[k][i] = malloc(res[i]->n * sizeof(float));
                OK(b->download(out[k][i], res[i]));
            }
        }
        const size_t rn[5] = {ny, nx, nw, nr, nb};
        static const char *const names[5] = {"y", "dx", "dkernel", "drecurrent", "dbias"};
        for (int i = 0; i < 5; i++) {
            double e = 0.0, scale = 0.0;
            for (size_t j = 0; j < rn[i]; j++) {
                e = fmax(e, fabs((double)out[1][i][j] - out[0][i][j]));
                scale = fmax(scale, fabs((double)out[0][i][j]));
            }
            cr_expect_leq(e, 1e-5 * (1.0 + scale), "step %d %s: err %g", step + 1, names[i], e);
            free(out[0][i]), free(out[1][i]);
        }
        for (int i = 0; i < 6; i++)
            free(host[i]);
    }
    expect_graphs(s0, 2, 4, 0, "the op table's GRU, 3 steps");
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 9; i++)
            bes[k]->free(buf[k][i]);
        bes[k]->free(db[k]);
        bes[k]->gru_destroy(g[k]);
    }
}

/* ---- emulated suite ---- */

static void emulated(void)
{
    gpu = rnnc__cuda_api();
}

Test(cuda_graphs_emulated, graphs_replay_the_uncaptured_results_exactly)
{
    emulated();
    const unsigned long l0 = emu_graph_launches, x0 = emu_execs_live, g0 = emu_graphs_live;
    run_graphs_replay_the_uncaptured_results_exactly();
    /* 6 cases x 4 steps x (forward + backward), every one launched. */
    cr_expect_eq(emu_graph_launches - l0, 48ul);
    cr_expect_eq(emu_execs_live, x0, "executable graphs left behind");
    cr_expect_eq(emu_graphs_live, g0, "graphs left behind (destroyed after instantiation)");
    gpu->shutdown();
}

Test(cuda_graphs_emulated, a_changed_key_captures_again)
{
    emulated();
    const unsigned long x0 = emu_execs_live;
    run_a_changed_key_captures_again();
    cr_expect_eq(emu_execs_live, x0, "executable graphs left behind");
    gpu->shutdown();
}

Test(cuda_graphs_emulated, the_op_table_gru_replays_and_matches_the_cpu)
{
    emulated();
    run_the_op_table_gru_replays_and_matches_the_cpu(rnnc__cuda_backend_ops());
    gpu->shutdown();
}

/* ---- a fit through the device training step ---- */

/* Two generic GRUs (use_cudnn false; a Masking layer before them, arbitrary
 * masked steps) and a Dense: the device step's GRU op runs the generic
 * kernel, so the fit replays the loops' graphs. */
#define FIT_MODEL                                                                                              \
    "model:\n  class_name: Sequential\n  config:\n    name: v\n    layers:\n"                                 \
    "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 3], dtype: float32}}\n"                  \
    "      - {class_name: Masking, config: {name: m, mask_value: 0.0}}\n"                                      \
    "      - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true, use_cudnn: false}}\n"     \
    "      - {class_name: GRU, config: {name: gru_1, units: 4, reset_after: false, use_cudnn: false}}\n"       \
    "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
#define FIT_COMPILE "{optimizer: {class_name: Adam, config: {learning_rate: 0.02}}, loss: mse, metrics: [mae]}"

static rnnc_model *fit_model(void)
{
    rnnc_cfg *tree = NULL;
    OK(rnnc_spec_read_string(FIT_MODEL, strlen(FIT_MODEL), "model", &tree));
    rnnc_model *m = NULL;
    rnnc_layer_reset_names();
    const rnnc_status st = rnnc_model_from_config(tree, NULL, &m);
    rnnc_cfg_destroy(tree);
    OK(st);
    return m;
}

/* x (n, 6, 3) in [-1, 1] with about a fifth of the steps all zeros
 * (masked), y the mean of feature 0. */
static void fit_data(int64_t n, rnnc_tensor **x, rnnc_tensor **y)
{
    const rnnc_shape xs = RNNC_SHAPE(n, 6, 3), ys = RNNC_SHAPE(n, 1);
    OK(rnnc_tensor_create(RNNC_F32, &xs, x));
    OK(rnnc_tensor_create(RNNC_F32, &ys, y));
    float *xd = (*x)->data, *yd = (*y)->data;
    for (int64_t i = 0; i < n; i++) {
        yd[i] = 0.0f;
        for (int64_t t = 0; t < 6; t++) {
            const bool masked = uni(0, 1) < 0.2;
            for (int64_t f = 0; f < 3; f++)
                xd[(i * 6 + t) * 3 + f] = masked ? 0.0f : (float)uni(-1, 1);
            yd[i] += xd[(i * 6 + t) * 3] / 6.0f;
        }
    }
}

/* 3 epochs (batches 16, 16, 8) with validation on be (NULL: the CPU path). */
static rnnc_history *fit_on(const rnnc_backend_ops *be, rnnc_model *m, rnnc_tensor *const *d)
{
    rnnc_trainer *tr;
    OK(rnnc_trainer_create(m, &tr));
    rnnc_cfg *compile = NULL;
    OK(rnnc_spec_read_string(FIT_COMPILE, strlen(FIT_COMPILE), "compile", &compile));
    OK(rnnc_trainer_compile_config(tr, rnnc_cfg_peek(compile, "optimizer"), rnnc_cfg_peek(compile, "loss"),
                                   rnnc_cfg_peek(compile, "metrics"), NULL));
    OK(rnnc_trainer_set_device(tr, be));
    rnnc_fit_options o = rnnc_fit_options_default();
    o.epochs = 3;
    o.batch_size = 16;
    o.seed = 5;
    o.verbose = RNNC_VERBOSE_SILENT;
    o.x_val = d[2];
    o.y_val = d[3];
    rnnc_history *h = NULL;
    OK(rnnc_trainer_fit(tr, d[0], d[1], &o, &h));
    rnnc_trainer_destroy(tr);
    rnnc_cfg_destroy(compile);
    return h;
}

/* The fit on the emulated CUDA table (graphs replayed: the stats say so)
 * gives the CPU path's epochs within 1e-4 and its final weights. */
static void run_a_device_fit_gives_the_cpu_path_numbers(const rnnc_backend_ops *be)
{
    rng_s = 1605;
    rnnc_tensor *d[4];
    fit_data(40, &d[0], &d[1]);
    fit_data(20, &d[2], &d[3]);
    rnnc_model *mc = fit_model(), *md = fit_model();
    rnnc_weight *wc[16], *wd[16];
    int nc, nd;
    OK(rnnc_model_weights(mc, wc, 16, &nc));
    OK(rnnc_model_weights(md, wd, 16, &nd));
    cr_assert_eq(nc, nd);
    for (int i = 0; i < nc; i++) /* the same initial weights */
        memcpy(wd[i]->value->data, wc[i]->value->data, wc[i]->value->numel * sizeof(float));
    rnnc_history *hc = fit_on(NULL, mc, d);
    const rnnc_cuda_stats s0 = stats_now();
    rnnc_history *hd = fit_on(be, md, d);
    const rnnc_cuda_stats s1 = stats_now();
    const uint64_t cap = s1.graph_captures - s0.graph_captures, rep = s1.graph_replays - s0.graph_replays;
    cr_expect(cap > 0 && rep > 2 * cap && s1.graph_fallbacks == s0.graph_fallbacks,
              "graphs captured %llu, replayed %llu, fallbacks %llu", (unsigned long long)cap,
              (unsigned long long)rep, (unsigned long long)(s1.graph_fallbacks - s0.graph_fallbacks));
    cr_log_info("device fit: %llu loop graphs captured, %llu replayed", (unsigned long long)cap,
                (unsigned long long)rep);
    cr_assert_eq(rnnc_history_n_epochs(hd), 3);
    static const char *const keys[] = {"loss", "mae", "val_loss", "val_mae"};
    for (int k = 0; k < 4; k++) {
        const double *a = rnnc_history_get(hc, keys[k]), *b = rnnc_history_get(hd, keys[k]);
        cr_assert(a && b, "no '%s'", keys[k]);
        for (int e = 0; e < 3; e++)
            cr_expect(fabs(a[e] - b[e]) <= 1e-4 * fmax(1.0, fabs(a[e])), "%s epoch %d: %.9g, the CPU path's %.9g",
                      keys[k], e + 1, b[e], a[e]);
    }
    for (int i = 0; i < nc; i++) {
        const float *p = wc[i]->value->data, *q = wd[i]->value->data;
        size_t bad = 0;
        for (size_t j = 0; j < wc[i]->value->numel; j++)
            bad += !(fabs((double)p[j] - q[j]) <= 1e-4 * fmax(1.0, fabs((double)p[j])));
        cr_expect_eq(bad, 0, "weight '%s': %zu values off", wc[i]->name, bad);
    }
    rnnc_history_destroy(hc);
    rnnc_history_destroy(hd);
    rnnc_model_destroy(mc);
    rnnc_model_destroy(md);
    for (int i = 0; i < 4; i++)
        rnnc_tensor_destroy(d[i]);
}

Test(cuda_graphs_emulated, a_device_fit_gives_the_cpu_path_numbers)
{
    emulated();
    run_a_device_fit_gives_the_cpu_path_numbers(rnnc__cuda_backend_ops());
    gpu->shutdown();
}

/* A capture that fails (cuBLAS without its workspace, a refused
 * instantiation) runs the loop uncaptured: the same results, nothing kept;
 * the next call captures again. */
Test(cuda_graphs_emulated, a_failed_capture_runs_the_loop_uncaptured)
{
    emulated();
    rng_s = 1604;
    gcase c;
    make_case(&c, RNNC_CUDA_GRU_GENERIC, false);
    runner on, off;
    runner_open(&on, &c, true);
    runner_open(&off, &c, false);
    gpu_result a, b;
    runner_step(&on, &c, &a); /* captures; the workspace is set */
    free_result(&a);
    const unsigned long g0 = emu_graphs_live;
    for (int how = 0; how < 2; how++) {
        const unsigned long x0 = emu_execs_live;
        reshape(&c, c.B + 1, c.T, c.has_mask); /* a new key (larger buffers) */
        make_tensors(&on, &c);
        make_tensors(&off, &c);
        void *ws = emu_cublas.ws;
        if (how == 0)
            emu_cublas.ws = NULL; /* cublasSgemm refuses to be captured */
        else
            emu_instantiate_error = cudaErrorInvalidValue;
        const rnnc_cuda_stats s0 = stats_now();
        runner_step(&on, &c, &a);
        emu_cublas.ws = ws;
        emu_instantiate_error = cudaSuccess;
        expect_graphs(s0, 0, 0, 2, how ? "instantiation refused" : "sgemm refused");
        cr_expect_eq(emu_execs_live, x0, "failure %d: nothing kept, the old graphs stay", how);
        cr_expect_eq(emu_graphs_live, g0, "failure %d: a failed capture's graph is freed", how);
        cr_expect_eq(emu_cap.on, 0, "failure %d: the capture was ended", how);
        runner_step(&off, &c, &b);
        expect_same(&a, &b, &c, how ? "instantiation refused" : "sgemm refused");
        free_result(&a);
        free_result(&b);
        /* The same key again: captured now. */
        const rnnc_cuda_stats s1 = stats_now();
        runner_step(&on, &c, &a);
        expect_graphs(s1, 2, 0, 0, "the capture after a failure");
        runner_step(&off, &c, &b);
        expect_same(&a, &b, &c, "the capture after a failure");
        free_result(&a);
        free_result(&b);
    }
    runner_close(&on);
    runner_close(&off);
    free_case(&c);
    gpu->shutdown();
}

/* The emulation itself: a capture records (nothing runs), the launch reads
 * the current data through the captured pointers, host work is refused
 * and invalidates the capture, the API's order is checked. */
Test(cuda_graphs_emulated, the_emulated_capture_records_and_refuses_host_work)
{
    cudaStream_t s;
    cr_assert_eq(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    float ws[64];
    cr_assert_eq(cublasSetWorkspace(h, ws, sizeof ws), CUBLAS_STATUS_SUCCESS);
    float A[4] = {1, 2, 3, 4}, Bm[2] = {1, 1}, C[2] = {-7, -7}, Z[3] = {5, 5, 5};
    cudaGraph_t g = NULL;
    cr_assert_eq(cudaStreamEndCapture(s, &g), cudaErrorIllegalState, "end without begin");
    cr_assert_eq(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    cr_expect_eq(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaErrorIllegalState);
    const float one = 1.0f, zero = 0.0f;
    /* C (2x1) = A (2x2, column-major) B (2x1) */
    cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 2, &one, A, 2, Bm, 2, &zero, C, 2),
                 CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cudaMemsetAsync(Z, 0, sizeof Z, s), cudaSuccess);
    cr_expect(C[0] == -7 && C[1] == -7 && Z[0] == 5, "a captured call ran");
    cr_assert_eq(cudaStreamEndCapture(s, &g), cudaSuccess);
    cudaGraphExec_t x = NULL;
    cr_assert_eq(cudaGraphInstantiate(&x, g, 0), cudaSuccess);
    cr_assert_eq(cudaGraphDestroy(g), cudaSuccess); /* the executable graph stands alone */
    Bm[1] = 2; /* new data: the launch reads it */
    cr_assert_eq(cudaGraphLaunch(x, s), cudaSuccess);
    cr_expect(C[0] == 1 + 3 * 2 && C[1] == 2 + 4 * 2, "C = %g %g", C[0], C[1]);
    cr_expect(Z[0] == 0 && Z[2] == 0);
    cr_assert_eq(cudaGraphExecDestroy(x), cudaSuccess);

    /* Host work in a capture: refused, the capture invalidated. */
    float host[2] = {0, 0};
    const struct { const char *what; int kind; } refused[] = {
        {"host-to-device copy", 0}, {"device-to-host copy", 1}, {"synchronize", 2},
        {"cudaMalloc", 3}, {"cuBLAS without a workspace", 4}, {"an unrecorded kernel", 5}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        cr_assert_eq(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
        int e = 0;
        void *p = NULL;
        switch (refused[i].kind) {
        case 0: e = cudaMemcpyAsync(C, host, sizeof host, cudaMemcpyHostToDevice, s); break;
        case 1: e = cudaMemcpyAsync(host, C, sizeof host, cudaMemcpyDeviceToHost, s); break;
        case 2: e = cudaStreamSynchronize(s); break;
        case 3: e = cudaMalloc(&p, 16); break;
        case 4:
            cublasSetWorkspace(h, NULL, 0); /* refused in a capture: stays set */
            emu_cublas.ws = NULL;
            e = cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 2, &one, A, 2, Bm, 2, &zero, C, 2) ==
                        CUBLAS_STATUS_NOT_SUPPORTED
                    ? cudaErrorStreamCaptureUnsupported
                    : cudaSuccess;
            break;
        default: e = rnnc__k_fill(s, host, 2, 1.0f); break;
        }
        cr_expect_eq(e, cudaErrorStreamCaptureUnsupported, "%s in a capture", refused[i].what);
        cr_expect_eq(cudaMemsetAsync(Z, 0, sizeof Z, s), cudaErrorStreamCaptureInvalidated,
                     "after %s the capture is invalidated", refused[i].what);
        g = (cudaGraph_t)(void *)host;
        cr_expect_eq(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated, "%s",
                     refused[i].what);
        cr_expect_null(g);
        cr_expect(host[0] == 0 && host[1] == 0, "%s ran", refused[i].what);
    }
    cublasDestroy(h);
    cudaStreamDestroy(s);
}

/* ---- real GPU (skipped without one) ---- */

static void need_gpu(void)
{
    if (rnnc_backend_cuda(&gpu) != RNNC_OK)
        cr_skip_test("GPU tests skipped: %s", rnnc_last_error());
    exact_results = false;
}

Test(cuda_graphs_gpu, graphs_replay_the_uncaptured_results_exactly)
{
    need_gpu();
    run_graphs_replay_the_uncaptured_results_exactly();
    gpu->shutdown();
}

Test(cuda_graphs_gpu, a_changed_key_captures_again)
{
    need_gpu();
    run_a_changed_key_captures_again();
    gpu->shutdown();
}

Test(cuda_graphs_gpu, a_device_fit_gives_the_cpu_path_numbers)
{
    need_gpu();
    const rnnc_backend_ops *be;
    OK(rnnc_backend_ops_get(RNNC_DEVICE_CUDA, &be));
    run_a_device_fit_gives_the_cpu_path_numbers(be);
    gpu->shutdown();
}

Test(cuda_graphs_gpu, the_op_table_gru_replays_and_matches_the_cpu)
{
    need_gpu();
    const rnnc_backend_ops *be;
    OK(rnnc_backend_ops_get(RNNC_DEVICE_CUDA, &be));
    run_the_op_table_gru_replays_and_matches_the_cpu(be);
    gpu->shutdown();
}
