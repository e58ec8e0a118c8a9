/* test_backend_ops.c - every op of the backend table (framework/backend_ops.h)
 * on every available backend, against the CPU backend, and the CPU backend
 * against independent oracles (ggml's test-backend-ops idea).
 *
 * Backends under test:
 *   - "cuda-emu": the CUDA backend's own C code (framework/backend/cuda,
 *     compiled into this test against the stand-in headers of
 *     tests/cuda_emu, as test_cuda_emulated does) with the kernels' bodies
 *     (cuda_ops_math.h, cuda_kernel_math.h: the code the .cu files run on
 *     the GPU) in CPU loops. Runs on every machine.
 *   - "cuda": the real backend (librnnc_cuda.so through
 *     rnnc_backend_ops_get), only in a CUDA build on a machine with a GPU;
 *     its cases skip with the backend's message otherwise.
 * Each case draws random shapes (odd sizes and size 1 included) and random
 * data, runs the op on the CPU backend and on the backend under test, and
 * compares outputs and gradients within float32 tolerances.
 *
 * The CPU backend itself is checked against: float64 loops written here
 * (matmul, bias, element-wise, reductions, SGD and Adam from Keras's
 * formulas), numbers derived by hand (softmax of (1, 2, 3), losses of small
 * rows), central finite differences in double (activation, softmax and loss
 * gradients), and rnnc's own losses (optim/losses.c values and their
 * autograd gradients), so that "matches the CPU backend" means something.
 *
 * What it cannot check: launch configurations and races on a real GPU
 * (only the "cuda" cases do), cuBLAS's own numerics (the emulated cuBLAS is
 * a double loop). */
#include "cuda_emu/cuda_backend_sources.c"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/autograd.h"
#include "backend_ops_test_util.h"
#include "framework/backend_ops.h"
#include "framework/ops.h"
#include "optim/losses.h"
#include "optim/metrics.h"

/* ---- random data (backend_ops_test_util.h) -------------------------------- */

/* Sizes the cases draw from: 1, small odd ones, a few larger. */
static int64_t rng_size(void)
{
    static const int64_t sizes[] = {1, 1, 2, 3, 5, 7, 16, 17, 31, 64};
    return sizes[rng_u32() % (sizeof sizes / sizeof *sizes)];
}


/* ---- backends ------------------------------------------------------------ */

/* cpu, be, be_label, use_emulated / use_real_gpu: backend_ops_test_util.h */

static rnnc_bbuf *up(const rnnc_backend_ops *b, const float *host, size_t n)
{
    rnnc_bbuf *d;
    OK(b->alloc(RNNC_F32, n, &d));
    OK(b->upload(d, host));
    return d;
}

static rnnc_bbuf *up_i32(const rnnc_backend_ops *b, const int32_t *host, size_t n)
{
    rnnc_bbuf *d;
    OK(b->alloc(RNNC_I32, n, &d));
    OK(b->upload(d, host));
    return d;
}

static float *down(const rnnc_bbuf *d)
{
    float *h = malloc((d->n ? d->n : 1) * sizeof *h);
    cr_assert(h);
    OK(d->be->download(h, d));
    return h;
}

/* |a - b| <= atol + rtol |b| everywhere (NaN only where both are NaN). */
static void expect_close(const float *a, const float *b, size_t n, double rtol, double atol,
                         const char *what)
{
    for (size_t i = 0; i < n; i++) {
        const double x = a[i], y = b[i];
        if (isnan(x) || isnan(y)) {
            cr_assert(isnan(x) && isnan(y), "%s: [%zu] %.9g vs %.9g", what, i, x, y);
            continue;
        }
        cr_assert(fabs(x - y) <= atol + rtol * fabs(y), "%s: [%zu] %.9g vs %.9g (diff %.3g)", what,
                  i, x, y, fabs(x - y));
    }
}

static void expect_close_d(const float *a, const double *b, size_t n, double rtol, double atol,
                           const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)a[i] - b[i]) <= atol + rtol * fabs(b[i]),
                  "%s: [%zu] %.9g vs oracle %.9g", what, i, (double)a[i], b[i]);
}

/* Runs the same op on the CPU backend and on the backend under test: the
 * buffers come as host arrays; `out` names the output compared. */
static void compare_bufs(const rnnc_bbuf *c, const rnnc_bbuf *d, double rtol, double atol,
                         const char *what)
{
    float *hc = down(c), *hd = down(d);
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s vs cpu", what, be_label);
    expect_close(hd, hc, c->n, rtol, atol, msg);
    free(hc);
    free(hd);
}

/* ---- the shared cases: backend under test vs the CPU backend ------------- */

static void run_memory_ops(void)
{
    for (int rep = 0; rep < 20; rep++) {
        const size_t n = (size_t)rng_size() * (size_t)rng_size();
        float *h = rand_vec(n, -3, 3);
        rnnc_bbuf *d = up(be, h, n), *e;
        OK(be->alloc(RNNC_F32, n, &e));
        OK(be->copy(e, d));
        float *back = down(e);
        cr_assert(memcmp(back, h, n * sizeof *h) == 0, "%s: upload/copy/download changed data", be_label);
        OK(be->fill(e, 2.5f));
        free(back);
        back = down(e);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(back[i], 2.5f);
        int32_t *ids = malloc(n * sizeof *ids), *ids2 = malloc(n * sizeof *ids2);
        for (size_t i = 0; i < n; i++)
            ids[i] = (int32_t)rng_u32() - (1 << 30);
        rnnc_bbuf *di = up_i32(be, ids, n), *dj;
        OK(be->alloc(RNNC_I32, n, &dj));
        OK(be->copy(dj, di));
        OK(be->download(ids2, dj));
        cr_assert(memcmp(ids, ids2, n * sizeof *ids) == 0);
        be->free(di);
        be->free(dj);
        be->free(d);
        be->free(e);
        free(ids);
        free(ids2);
        free(back);
        free(h);
    }
    /* Empty buffers are fine; a buffer of another backend is refused. */
    rnnc_bbuf *z, *c1;
    OK(be->alloc(RNNC_F32, 0, &z));
    OK(be->fill(z, 1.0f));
    be->free(z);
    OK(cpu->alloc(RNNC_F32, 3, &c1));
    cr_assert_eq(be->fill(c1, 0.0f), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "fill") && strstr(rnnc_last_error(), "cpu buffer"),
              "%s", rnnc_last_error());
    cpu->free(c1);
    cr_assert(be->supports(RNNC_BOP_MATMUL, RNNC_F32));
    cr_assert(!be->supports(RNNC_BOP_MATMUL, RNNC_F64));
    cr_assert(!be->supports(RNNC_BOP_MATMUL, RNNC_I32));
    cr_assert(be->supports(RNNC_BOP_COPY, RNNC_I32));
    for (int op = RNNC_BOP_SCALE_ROWS; op < RNNC_BOP_COUNT; op++)
        cr_assert(be->supports((rnnc_bop)op, RNNC_F32) && !be->supports((rnnc_bop)op, RNNC_I32),
                  "%s: %s", be_label, rnnc_bop_name((rnnc_bop)op));
}

static void run_matmul(void)
{
    for (int rep = 0; rep < 40; rep++) {
        const bool ta = rep & 1, tb = rep & 2;
        const float beta = (rep & 4) ? 1.0f : 0.0f;
        const int64_t m = rng_size(), n = rng_size(), k = rep == 8 ? 0 : rng_size();
        float *a = rand_vec((size_t)(m * k), -1, 1), *b = rand_vec((size_t)(k * n), -1, 1);
        float *c0 = rand_vec((size_t)(m * n), -1, 1);
        rnnc_bbuf *ca = up(cpu, a, (size_t)(m * k)), *cb = up(cpu, b, (size_t)(k * n)),
                  *cc = up(cpu, c0, (size_t)(m * n));
        rnnc_bbuf *da = up(be, a, (size_t)(m * k)), *db = up(be, b, (size_t)(k * n)),
                  *dc = up(be, c0, (size_t)(m * n));
        OK(cpu->matmul(ta, tb, m, n, k, ca, cb, beta, cc));
        OK(be->matmul(ta, tb, m, n, k, da, db, beta, dc));
        compare_bufs(cc, dc, 1e-5, 1e-5 * (double)(k + 1), "matmul");
        cpu->free(ca), cpu->free(cb), cpu->free(cc);
        be->free(da), be->free(db), be->free(dc);
        free(a), free(b), free(c0);
    }
}

static void run_elementwise(void)
{
    for (int rep = 0; rep < 20; rep++) {
        const int64_t rows = rng_size(), cols = rng_size();
        const size_t n = (size_t)(rows * cols);
        float *x = rand_vec(n, -2, 2), *y = rand_vec(n, -2, 2), *bias = rand_vec((size_t)cols, -1, 1);
        rnnc_bbuf *cx = up(cpu, x, n), *cy = up(cpu, y, n), *cbias = up(cpu, bias, (size_t)cols), *co;
        rnnc_bbuf *dx = up(be, x, n), *dy = up(be, y, n), *dbias = up(be, bias, (size_t)cols), *dout;
        OK(cpu->alloc(RNNC_F32, n, &co));
        OK(be->alloc(RNNC_F32, n, &dout));
        OK(cpu->bias_add(rows, cols, cx, cbias, co));
        OK(be->bias_add(rows, cols, dx, dbias, dout));
        compare_bufs(co, dout, 0, 0, "bias_add");
        for (int op = RNNC_BIN_ADD; op <= RNNC_BIN_MUL; op++) {
            OK(cpu->binary((rnnc_binop)op, cx, cy, co));
            OK(be->binary((rnnc_binop)op, dx, dy, dout));
            compare_bufs(co, dout, 0, 0, "binary");
        }
        /* In place: y = y * x. */
        OK(cpu->binary(RNNC_BIN_MUL, cy, cx, cy));
        OK(be->binary(RNNC_BIN_MUL, dy, dx, dy));
        compare_bufs(cy, dy, 0, 0, "binary in place");
        cpu->free(cx), cpu->free(cy), cpu->free(cbias), cpu->free(co);
        be->free(dx), be->free(dy), be->free(dbias), be->free(dout);
        free(x), free(y), free(bias);
    }
}

static void run_activations(void)
{
    for (int a = 0; a < RNNC_ACT_COUNT; a++) {
        if (!rnnc_act_is_elementwise((rnnc_act)a))
            continue;
        const size_t n = (size_t)(rng_size() * rng_size()) + 3;
        float *x = rand_vec(n, -4, 4), *g = rand_vec(n, -1, 1), *gx = rand_vec(n, -1, 1);
        x[0] = 0.0f, x[1] = 1.0f, x[2] = -1.0f; /* kinks */
        rnnc_bbuf *cx = up(cpu, x, n), *cg = up(cpu, g, n), *cgx = up(cpu, gx, n), *cy;
        rnnc_bbuf *dx = up(be, x, n), *dg = up(be, g, n), *dgx = up(be, gx, n), *dy;
        OK(cpu->alloc(RNNC_F32, n, &cy));
        OK(be->alloc(RNNC_F32, n, &dy));
        OK(cpu->activation((rnnc_act)a, cx, cy));
        OK(be->activation((rnnc_act)a, dx, dy));
        char what[96];
        snprintf(what, sizeof what, "activation %s", rnnc_act_name((rnnc_act)a));
        compare_bufs(cy, dy, 2e-6, 1e-6, what);
        OK(cpu->activation_backward((rnnc_act)a, cx, cy, cg, cgx));
        OK(be->activation_backward((rnnc_act)a, dx, dy, dg, dgx));
        snprintf(what, sizeof what, "activation_backward %s", rnnc_act_name((rnnc_act)a));
        compare_bufs(cgx, dgx, 1e-5, 1e-6, what);
        cpu->free(cx), cpu->free(cg), cpu->free(cgx), cpu->free(cy);
        be->free(dx), be->free(dg), be->free(dgx), be->free(dy);
        free(x), free(g), free(gx);
    }
    rnnc_bbuf *d;
    OK(be->alloc(RNNC_F32, 4, &d));
    cr_assert_eq(be->activation(RNNC_ACT_SOFTMAX, d, d), RNNC_E_UNSUPPORTED);
    be->free(d);
}

static void run_softmax(void)
{
    for (int rep = 0; rep < 20; rep++) {
        const int64_t rows = rng_size(), cols = rng_size();
        const size_t n = (size_t)(rows * cols);
        float *x = rand_vec(n, -6, 6), *g = rand_vec(n, -1, 1), *gx = rand_vec(n, -1, 1);
        rnnc_bbuf *cx = up(cpu, x, n), *cg = up(cpu, g, n), *cgx = up(cpu, gx, n), *cy;
        rnnc_bbuf *dx = up(be, x, n), *dg = up(be, g, n), *dgx = up(be, gx, n), *dy;
        OK(cpu->alloc(RNNC_F32, n, &cy));
        OK(be->alloc(RNNC_F32, n, &dy));
        OK(cpu->softmax(rows, cols, cx, cy));
        OK(be->softmax(rows, cols, dx, dy));
        compare_bufs(cy, dy, 1e-5, 1e-7, "softmax");
        OK(cpu->softmax_backward(rows, cols, cy, cg, cgx));
        OK(be->softmax_backward(rows, cols, dy, dg, dgx));
        compare_bufs(cgx, dgx, 1e-5, 1e-6, "softmax_backward");
        cpu->free(cx), cpu->free(cg), cpu->free(cgx), cpu->free(cy);
        be->free(dx), be->free(dg), be->free(dgx), be->free(dy);
        free(x), free(g), free(gx);
    }
}

static void run_reduce(void)
{
    for (int rep = 0; rep < 30; rep++) {
        const int64_t outer = rng_size(), len = rep == 3 ? 0 : rng_size(), inner = rng_size();
        const size_t n = (size_t)(outer * len * inner), no = (size_t)(outer * inner);
        float *x = rand_vec(n, -2, 2);
        rnnc_bbuf *cx = up(cpu, x, n), *dx = up(be, x, n), *cy, *dy;
        OK(cpu->alloc(RNNC_F32, no, &cy));
        OK(be->alloc(RNNC_F32, no, &dy));
        for (int op = RNNC_RED_SUM; op <= RNNC_RED_MEAN; op++) {
            OK(cpu->reduce((rnnc_redop)op, outer, len, inner, cx, cy));
            OK(be->reduce((rnnc_redop)op, outer, len, inner, dx, dy));
            compare_bufs(cy, dy, 1e-5, 1e-6 * (double)(len + 1), op ? "mean" : "sum");
        }
        cpu->free(cx), cpu->free(cy), be->free(dx), be->free(dy);
        free(x);
    }
}

/* Random y_true / y_pred for a loss: probabilities in (0, 1) (some at the
 * clip edges) or logits; distributions for CCE; ids for SCCE. */
static void loss_data(rnnc_bloss kind, bool logits, int64_t rows, int64_t cols, float *t,
                      int32_t *ids, float *p)
{
    const size_t n = (size_t)(rows * cols);
    for (size_t i = 0; i < n; i++) {
        p[i] = logits || kind == RNNC_BLOSS_MSE ? rng_uniform(-4, 4) : rng_uniform(0.01f, 0.99f);
        t[i] = kind == RNNC_BLOSS_MSE ? rng_uniform(-2, 2) : (float)(rng_u32() & 1);
    }
    if (!logits && kind != RNNC_BLOSS_MSE && n > 2) {
        p[0] = 0.0f; /* clipped: zero gradient */
        p[n - 1] = 1.0f;
    }
    for (int64_t r = 0; r < rows; r++) {
        ids[r] = (int32_t)(rng_u32() % (uint32_t)cols);
        if (kind == RNNC_BLOSS_CCE) {
            float s = 0;
            for (int64_t j = 0; j < cols; j++)
                s += (t[r * cols + j] = rng_uniform(0, 1));
            for (int64_t j = 0; j < cols; j++)
                t[r * cols + j] /= s;
        }
    }
}

static void run_losses(void)
{
    for (int kind = 0; kind < RNNC_BLOSS_COUNT; kind++)
        for (int logits = 0; logits < 2; logits++) {
            if (kind == RNNC_BLOSS_MSE && logits)
                continue;
            for (int rep = 0; rep < 8; rep++) {
                const int64_t rows = rng_size(), cols = rng_size();
                const size_t n = (size_t)(rows * cols);
                float *t = malloc(n * sizeof *t), *p = malloc(n * sizeof *p);
                int32_t *ids = malloc((size_t)rows * sizeof *ids);
                loss_data((rnnc_bloss)kind, logits, rows, cols, t, ids, p);
                const bool sp = kind == RNNC_BLOSS_SCCE;
                rnnc_bbuf *ct = sp ? up_i32(cpu, ids, (size_t)rows) : up(cpu, t, n);
                rnnc_bbuf *dt = sp ? up_i32(be, ids, (size_t)rows) : up(be, t, n);
                rnnc_bbuf *cp = up(cpu, p, n), *dp = up(be, p, n), *cv, *dv, *cg, *dg;
                OK(cpu->alloc(RNNC_F32, (size_t)rows, &cv));
                OK(be->alloc(RNNC_F32, (size_t)rows, &dv));
                OK(cpu->alloc(RNNC_F32, n, &cg));
                OK(be->alloc(RNNC_F32, n, &dg));
                const float scale = 1.0f / (float)rows;
                OK(cpu->loss((rnnc_bloss)kind, logits, rows, cols, ct, cp, cv, cg, scale));
                OK(be->loss((rnnc_bloss)kind, logits, rows, cols, dt, dp, dv, dg, scale));
                char what[96];
                snprintf(what, sizeof what, "loss %d (logits %d) values", kind, logits);
                compare_bufs(cv, dv, 2e-5, 2e-6, what);
                snprintf(what, sizeof what, "loss %d (logits %d) grad", kind, logits);
                compare_bufs(cg, dg, 2e-5, 2e-6, what);
                /* Without a gradient buffer: the same values. */
                OK(be->loss((rnnc_bloss)kind, logits, rows, cols, dt, dp, dv, NULL, 1.0f));
                compare_bufs(cv, dv, 2e-5, 2e-6, "loss values, no grad");
                cpu->free(ct), cpu->free(cp), cpu->free(cv), cpu->free(cg);
                be->free(dt), be->free(dp), be->free(dv), be->free(dg);
                free(t), free(p), free(ids);
            }
        }
}

static void run_optimizers(void)
{
    for (int rep = 0; rep < 16; rep++) {
        const size_t n = (size_t)(rng_size() * rng_size());
        float *w = rand_vec(n, -1, 1), *zero = calloc(n ? n : 1, sizeof *zero);
        rnnc_bbuf *cw = up(cpu, w, n), *dw = up(be, w, n);
        rnnc_bbuf *cm = up(cpu, zero, n), *dm = up(be, zero, n), *cv = up(cpu, zero, n),
                  *dv = up(be, zero, n), *ch = up(cpu, zero, n), *dh = up(be, zero, n);
        const rnnc_sgd_params sp = {0.05f, (rep % 3) ? 0.9f : 0.0f, rep % 3 == 2};
        const rnnc_adam_params ap = {0.01, 0.9, 0.999, 1e-7, 1, rep & 1, (rep & 2) ? 0.004 : 0.0};
        for (int step = 1; step <= 5; step++) {
            float *g = rand_vec(n, -1, 1), *sq = rand_vec(n, 0, 2); /* g_sq (rep & 4): not g * g */
            rnnc_bbuf *cg = up(cpu, g, n), *dg = up(be, g, n), *cs = up(cpu, sq, n), *ds = up(be, sq, n);
            if (rep < 8) {
                OK(cpu->sgd(&sp, cw, cg, cm));
                OK(be->sgd(&sp, dw, dg, dm));
            } else {
                rnnc_adam_params a = ap;
                a.step = step;
                OK(cpu->adam(&a, cw, cg, cm, cv, ch, (rep & 4) ? cs : NULL));
                OK(be->adam(&a, dw, dg, dm, dv, dh, (rep & 4) ? ds : NULL));
            }
            cpu->free(cg), be->free(dg), cpu->free(cs), be->free(ds);
            free(g), free(sq);
        }
        compare_bufs(cw, dw, 1e-5, 1e-6, rep < 8 ? "sgd w" : "adam w");
        compare_bufs(cm, dm, 1e-5, 1e-6, rep < 8 ? "sgd m" : "adam m");
        if (rep >= 8)
            compare_bufs(cv, dv, 1e-5, 1e-9, "adam v");
        cpu->free(cw), cpu->free(cm), cpu->free(cv), cpu->free(ch);
        be->free(dw), be->free(dm), be->free(dv), be->free(dh);
        free(w), free(zero);
    }
}

/* Random metric data: values on a coarse grid so that ties, equalities and
 * values at the threshold happen. */
static void metric_data(rnnc_bmetric kind, int64_t rows, int64_t cols, float *t, int32_t *ids, float *p)
{
    for (int64_t i = 0; i < rows * cols; i++) {
        p[i] = (float)(int)(rng_u32() % 5) * 0.25f;
        t[i] = kind == RNNC_BMETRIC_BINARY_ACCURACY ? (float)(rng_u32() & 1)
                                                    : (float)(int)(rng_u32() % 5) * 0.25f;
    }
    for (int64_t r = 0; r < rows; r++)
        ids[r] = (int32_t)(rng_u32() % (uint32_t)(cols + 1)) - (r == 0); /* -1 and cols too */
}

static void run_scale_rows(void)
{
    for (int rep = 0; rep < 20; rep++) {
        const int64_t rows = rng_size(), cols = rep == 4 ? 0 : rng_size();
        const size_t n = (size_t)(rows * cols);
        float *x = rand_vec(n, -3, 3), *w = rand_vec((size_t)rows, -2, 2);
        const float alpha = rng_uniform(-2, 2);
        rnnc_bbuf *cx = up(cpu, x, n), *cw = up(cpu, w, (size_t)rows), *cy;
        rnnc_bbuf *dx = up(be, x, n), *dw = up(be, w, (size_t)rows), *dy;
        OK(cpu->alloc(RNNC_F32, n, &cy));
        OK(be->alloc(RNNC_F32, n, &dy));
        OK(cpu->scale_rows(rows, cols, rep & 1 ? NULL : cw, alpha, cx, cy));
        OK(be->scale_rows(rows, cols, rep & 1 ? NULL : dw, alpha, dx, dy));
        compare_bufs(cy, dy, 0, 0, "scale_rows");
        OK(cpu->scale_rows(rows, cols, cw, alpha, cx, cx)); /* in place */
        OK(be->scale_rows(rows, cols, dw, alpha, dx, dx));
        compare_bufs(cx, dx, 0, 0, "scale_rows in place");
        cpu->free(cx), cpu->free(cw), cpu->free(cy), be->free(dx), be->free(dw), be->free(dy);
        free(x), free(w);
    }
}

/* y (outer, mid, inner) = x * w (outer, inner), against a float64 loop
 * (the exact float64 product rounded once to float32 is the float32
 * product: equal), out of place and in place; then the checks. */
static void run_mul_bcast(void)
{
    for (int rep = 0; rep < 20; rep++) {
        const int64_t outer = rng_size(), mid = rep == 3 ? 0 : rng_size(), inner = rng_size();
        const size_t n = (size_t)(outer * mid * inner), nw = (size_t)(outer * inner);
        float *x = rand_vec(n, -3, 3), *w = rand_vec(nw, 0, 2);
        for (size_t i = 0; i < nw; i += 3)
            w[i] = 0.0f; /* a dropped entry */
        double *want = malloc((n + 1) * sizeof *want);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t m = 0; m < mid; m++)
                for (int64_t j = 0; j < inner; j++) {
                    const size_t i = (size_t)((o * mid + m) * inner + j);
                    want[i] = (double)(float)((double)x[i] * (double)w[o * inner + j]);
                }
        rnnc_bbuf *dx = up(be, x, n), *dw = up(be, w, nw), *dy;
        OK(be->alloc(RNNC_F32, n, &dy));
        OK(be->mul_bcast(outer, mid, inner, dx, dw, dy));
        float *got = down(dy);
        expect_close_d(got, want, n, 0, 0, "mul_bcast");
        free(got);
        OK(be->mul_bcast(outer, mid, inner, dx, dw, dx));
        got = down(dx);
        expect_close_d(got, want, n, 0, 0, "mul_bcast in place");
        free(got);
        be->free(dx), be->free(dw), be->free(dy);
        free(x), free(w), free(want);
    }
    rnnc_bbuf *a, *b;
    OK(be->alloc(RNNC_F32, 24, &a));
    OK(be->alloc(RNNC_F32, 6, &b));
    OK(be->mul_bcast(2, 4, 3, a, b, a));
    cr_assert_eq(be->mul_bcast(2, 4, 3, a, a, a), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "mul_bcast") && strstr(rnnc_last_error(), "w"), "%s", rnnc_last_error());
    cr_assert_eq(be->mul_bcast(2, 3, 3, a, b, a), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "mul_bcast") && strstr(rnnc_last_error(), "x"), "%s", rnnc_last_error());
    cr_assert_eq(be->mul_bcast(2, -1, 3, a, b, a), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "mul_bcast: invalid sizes 2 x -1 x 3"), "%s", rnnc_last_error());
    be->free(a), be->free(b);
}

/* The CPU table's mul_bcast against the float64 loop (the CUDA table's
 * runs in BACKEND_CASES). */
Test(backend_ops_cpu, mul_bcast_matches_a_float64_loop)
{
    cpu = be = rnnc_backend_ops_cpu();
    be_label = "cpu";
    rng_seed(17);
    run_mul_bcast();
}

static void run_gather_scatter(void)
{
    for (int rep = 0; rep < 20; rep++) {
        const int64_t rows = rng_size(), dim = rng_size(), n = rep == 3 ? 0 : rng_size() * 2;
        const size_t nt = (size_t)(rows * dim), no = (size_t)(n * dim);
        float *table = rand_vec(nt, -2, 2), *g = rand_vec(no, -1, 1);
        int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
        for (int64_t i = 0; i < n; i++) /* repeats, so rows get several additions */
            ids[i] = (int32_t)(rng_u32() % (uint32_t)rows);
        rnnc_bbuf *ct = up(cpu, table, nt), *ci = up_i32(cpu, ids, (size_t)n), *cg = up(cpu, g, no), *co;
        rnnc_bbuf *dt = up(be, table, nt), *di = up_i32(be, ids, (size_t)n), *dg = up(be, g, no), *dout;
        OK(cpu->alloc(RNNC_F32, no, &co));
        OK(be->alloc(RNNC_F32, no, &dout));
        OK(cpu->gather_rows(rows, dim, ct, ci, co));
        OK(be->gather_rows(rows, dim, dt, di, dout));
        compare_bufs(co, dout, 0, 0, "gather_rows");
        OK(cpu->scatter_add_rows(rows, dim, ci, cg, ct));
        OK(be->scatter_add_rows(rows, dim, di, dg, dt));
        /* atomics add in any order: float32 rounding of a few sums */
        compare_bufs(ct, dt, 1e-6, 1e-6 * (double)(n + 1), "scatter_add_rows");
        cpu->free(ct), cpu->free(ci), cpu->free(cg), cpu->free(co);
        be->free(dt), be->free(di), be->free(dg), be->free(dout);
        free(table), free(g), free(ids);
    }
    /* Out-of-range ids: scatter skips them; CUDA's gather writes a zero row. */
    const float table[4] = {1, 2, 3, 4}, g[4] = {5, 6, 7, 8};
    const int32_t ids[2] = {-1, 2};
    rnnc_bbuf *dt = up(be, table, 4), *di = up_i32(be, ids, 2), *dg = up(be, g, 4), *dout;
    OK(be->alloc(RNNC_F32, 4, &dout));
    OK(be->scatter_add_rows(2, 2, di, dg, dt));
    float *back = down(dt);
    cr_assert(memcmp(back, table, sizeof table) == 0, "%s: scatter_add_rows wrote an out-of-range id",
              be_label);
    free(back);
    if (be->device == RNNC_DEVICE_CUDA) {
        OK(be->gather_rows(2, 2, dt, di, dout));
        back = down(dout);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(back[i], 0.0f, "%s: gather of an out-of-range id: [%d] %g", be_label, i,
                         (double)back[i]);
        free(back);
    }
    be->free(dt), be->free(di), be->free(dg), be->free(dout);
}

static void run_metrics(void)
{
    for (int kind = 0; kind < RNNC_BMETRIC_COUNT; kind++)
        for (int rep = 0; rep < 8; rep++) {
            const int64_t rows = rng_size(), cols = rng_size();
            const size_t n = (size_t)(rows * cols);
            float *t = malloc(n * sizeof *t), *p = malloc(n * sizeof *p);
            int32_t *ids = malloc((size_t)rows * sizeof *ids);
            metric_data((rnnc_bmetric)kind, rows, cols, t, ids, p);
            if (rep == 1 && n > 1) /* a NaN in column 0 and one elsewhere */
                p[0] = NAN, p[n - 1] = NAN;
            const bool sp = kind == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY;
            rnnc_bbuf *ct = sp ? up_i32(cpu, ids, (size_t)rows) : up(cpu, t, n), *cp = up(cpu, p, n), *cv;
            rnnc_bbuf *dt = sp ? up_i32(be, ids, (size_t)rows) : up(be, t, n), *dp = up(be, p, n), *dv;
            OK(cpu->alloc(RNNC_F32, (size_t)rows, &cv));
            OK(be->alloc(RNNC_F32, (size_t)rows, &dv));
            const float thr = rep & 2 ? 0.25f : 0.5f;
            OK(cpu->metric((rnnc_bmetric)kind, thr, rows, cols, ct, cp, cv));
            OK(be->metric((rnnc_bmetric)kind, thr, rows, cols, dt, dp, dv));
            char what[64];
            snprintf(what, sizeof what, "metric %d", kind);
            compare_bufs(cv, dv, 1e-6, 1e-6, what);
            cpu->free(ct), cpu->free(cp), cpu->free(cv), be->free(dt), be->free(dp), be->free(dv);
            free(t), free(p), free(ids);
        }
}

static void run_argument_errors(void)
{
    rnnc_bbuf *a, *b, *i;
    OK(be->alloc(RNNC_F32, 6, &a));
    OK(be->alloc(RNNC_F32, 5, &b));
    OK(be->alloc(RNNC_I32, 2, &i));
    cr_assert_eq(be->matmul(false, false, 2, 3, 2, a, a, 0.0f, b), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "matmul"), "%s", rnnc_last_error());
    cr_assert_eq(be->binary(RNNC_BIN_ADD, a, b, a), RNNC_E_SHAPE);
    cr_assert_eq(be->softmax(2, 3, i, a), RNNC_E_DTYPE);
    cr_assert(strstr(rnnc_last_error(), "softmax") && strstr(rnnc_last_error(), "int32"), "%s",
              rnnc_last_error());
    cr_assert_eq(be->loss(RNNC_BLOSS_CCE, false, 2, 3, i, a, b, NULL, 1.0f), RNNC_E_DTYPE);
    /* a NULL host pointer is refused (CPU and device), naming the op */
    const rnnc_backend_ops *const both[2] = {be, cpu};
    for (int k = 0; k < 2; k++) {
        rnnc_bbuf *h;
        OK(both[k]->alloc(RNNC_F32, 3, &h));
        cr_assert_eq(both[k]->upload(h, NULL), RNNC_E_ARG);
        cr_assert(strstr(rnnc_last_error(), "upload: argument 'host' is NULL"), "%s", rnnc_last_error());
        cr_assert_eq(both[k]->download(NULL, h), RNNC_E_ARG);
        cr_assert(strstr(rnnc_last_error(), "download: argument 'host' is NULL"), "%s", rnnc_last_error());
        both[k]->free(h);
    }
    be->free(a), be->free(b), be->free(i);
}

/* Equal values (a NaN equal to any NaN: a GPU may change its payload). */
static void expect_same(const rnnc_bbuf *c, const rnnc_bbuf *d, const char *what)
{
    float *hc = down(c), *hd = down(d);
    for (size_t i = 0; i < c->n; i++)
        cr_assert(hc[i] == hd[i] || (hc[i] != hc[i] && hd[i] != hd[i]), "%s: %s [%zu] %.9g vs cpu %.9g",
                  what, be_label, i, (double)hd[i], (double)hc[i]);
    free(hc);
    free(hd);
}

/* copy_block and reverse_time: exact, so equal to the CPU's (NaNs and
 * infinities pass through); blocks at each end of the rows and in the
 * middle, accumulated onto a prefilled dst, and dst's other columns kept. */
static void run_layout(void)
{
    for (int rep = 0; rep < 24; rep++) {
        const int64_t rows = rep == 3 ? 0 : rng_size(), sc = rng_size(), dc = rng_size() + (rep & 1);
        const int64_t maxw = sc < dc ? sc : dc;
        const int64_t width = rep == 5 ? 0 : 1 + (int64_t)(rng_u32() % (uint32_t)maxw);
        const int64_t so = (int64_t)(rng_u32() % (uint32_t)(sc - width + 1));
        const int64_t dof = rep % 3 == 0 ? dc - width : (int64_t)(rng_u32() % (uint32_t)(dc - width + 1));
        const size_t ns = (size_t)(rows * sc), nd = (size_t)(rows * dc);
        float *src = rand_vec(ns, -3, 3), *dst = rand_vec(nd, -3, 3);
        if (ns > 2)
            src[1] = NAN, src[2] = INFINITY;
        rnnc_bbuf *cs = up(cpu, src, ns), *cd = up(cpu, dst, nd), *ds = up(be, src, ns), *dd = up(be, dst, nd);
        for (int acc = 0; acc < 2; acc++) {
            OK(cpu->copy_block(rows, width, cs, sc, so, cd, dc, dof, acc));
            OK(be->copy_block(rows, width, ds, sc, so, dd, dc, dof, acc));
            expect_same(cd, dd, acc ? "copy_block accumulate" : "copy_block");
        }
        /* reverse_time over (B, T, C) = (rows, sc, dc) */
        const size_t nr = (size_t)(rows * sc * dc);
        float *x = rand_vec(nr, -3, 3);
        rnnc_bbuf *cx = up(cpu, x, nr), *dx = up(be, x, nr), *cy, *dy;
        OK(cpu->alloc(RNNC_F32, nr, &cy));
        OK(be->alloc(RNNC_F32, nr, &dy));
        OK(cpu->reverse_time(rows, sc, dc, cx, cy));
        OK(be->reverse_time(rows, sc, dc, dx, dy));
        expect_same(cy, dy, "reverse_time");
        cpu->free(cs), cpu->free(cd), cpu->free(cx), cpu->free(cy);
        be->free(ds), be->free(dd), be->free(dx), be->free(dy);
        free(src), free(dst), free(x);
    }
    /* the shared argument checks, on the backend under test */
    rnnc_bbuf *a, *b;
    OK(be->alloc(RNNC_F32, 12, &a));
    OK(be->alloc(RNNC_F32, 12, &b));
    cr_assert_eq(be->copy_block(3, 3, a, 4, 2, b, 4, 0, false), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "copy_block: columns [2, 2 + 3) of 4"), "%s", rnnc_last_error());
    cr_assert_eq(be->copy_block(3, 2, a, 4, 0, b, 3, 0, false), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "copy_block: argument 'dst' has 12 elements, expected 9"), "%s",
              rnnc_last_error());
    rnnc_bbuf half = rnnc_bbuf_slice(a, 2, 6);
    rnnc_bbuf first = rnnc_bbuf_slice(a, 0, 6);
    cr_assert_eq(be->copy_block(2, 1, &first, 3, 0, &half, 3, 1, false), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "copy_block: dst must not share memory with src"), "%s",
              rnnc_last_error());
    cr_assert_eq(be->reverse_time(2, 3, 2, a, a), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "reverse_time: y must not share memory with x"), "%s", rnnc_last_error());
    cr_assert_eq(be->reverse_time(2, 3, 3, a, b), RNNC_E_SHAPE);
    cr_assert_eq(be->reverse_time(2, -3, 2, a, b), RNNC_E_SHAPE);
    be->free(a), be->free(b);
}

/* layer_norm and its backward against the CPU's: random sizes (rows 0
 * and cols 1 included), with and without gamma / beta, rms, a NaN row,
 * dgamma / dbeta accumulated onto non-zero values; then the argument
 * errors (rms with beta, dx sharing dy, a zero-width row, a short inv). */
static void run_layer_norm(void)
{
    for (int rep = 0; rep < 24; rep++) {
        const int64_t rows = rep == 0 ? 0 : rng_size(), cols = rng_size();
        const size_t n = (size_t)(rows * cols), nr = (size_t)rows, nc = (size_t)cols;
        const bool rms = rep % 3 == 2, has_g = rep % 4 != 1, has_b = !rms && rep % 2 == 0;
        const double eps = rep % 5 == 0 ? 1e-6 : 1e-3;
        float *x = rand_vec(n, -3, 3), *gm = rand_vec(nc, 0.5f, 1.5f), *bt = rand_vec(nc, -1, 1);
        float *dy = rand_vec(n, -1, 1), *g0 = rand_vec(nc, -1, 1), *b0 = rand_vec(nc, -1, 1);
        if (rep == 5 && n > 0)
            x[0] = NAN;
        rnnc_bbuf *c[11], *d[11]; /* x gamma beta y mean inv dy dx dgamma dbeta (spare) */
        const rnnc_backend_ops *const tb[2] = {cpu, be};
        rnnc_bbuf **bufs[2] = {c, d};
        for (int k = 0; k < 2; k++) {
            rnnc_bbuf **b = bufs[k];
            b[0] = up(tb[k], x, n);
            b[1] = has_g ? up(tb[k], gm, nc) : NULL;
            b[2] = has_b ? up(tb[k], bt, nc) : NULL;
            OK(tb[k]->alloc(RNNC_F32, n, &b[3]));
            OK(tb[k]->alloc(RNNC_F32, nr, &b[4]));
            OK(tb[k]->alloc(RNNC_F32, nr, &b[5]));
            b[6] = up(tb[k], dy, n);
            OK(tb[k]->alloc(RNNC_F32, n, &b[7]));
            b[8] = up(tb[k], g0, nc);
            b[9] = up(tb[k], b0, nc);
            OK(tb[k]->layer_norm(rows, cols, eps, rms, b[0], b[1], b[2], b[3], b[4], b[5]));
            OK(tb[k]->layer_norm_backward(rows, cols, rms, b[0], b[1], b[4], b[5], b[6], b[7], has_g ? b[8] : NULL,
                                          rms ? NULL : b[9]));
        }
        compare_bufs(c[3], d[3], 1e-6, 1e-7, "layer_norm y");
        compare_bufs(c[4], d[4], 1e-6, 1e-7, "layer_norm mean");
        compare_bufs(c[5], d[5], 1e-6, 1e-7, "layer_norm inv");
        compare_bufs(c[7], d[7], 1e-5, 1e-6, "layer_norm_backward dx");
        compare_bufs(c[8], d[8], 1e-5, 1e-6, "layer_norm_backward dgamma");
        compare_bufs(c[9], d[9], 1e-5, 1e-6, "layer_norm_backward dbeta");
        for (int i = 0; i < 10; i++)
            cpu->free(c[i]), be->free(d[i]);
        free(x), free(gm), free(bt), free(dy), free(g0), free(b0);
    }
    rnnc_bbuf *a, *b, *m, *v, *g;
    OK(be->alloc(RNNC_F32, 6, &a));
    OK(be->alloc(RNNC_F32, 6, &b));
    OK(be->alloc(RNNC_F32, 2, &m));
    OK(be->alloc(RNNC_F32, 1, &v));
    OK(be->alloc(RNNC_F32, 3, &g));
    cr_assert_eq(be->layer_norm(2, 3, 1e-3, true, a, g, g, b, m, m), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "layer_norm: rms scaling takes no beta"), "%s", rnnc_last_error());
    cr_assert_eq(be->layer_norm(2, 3, 1e-3, false, a, g, g, b, m, v), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "layer_norm") && strstr(rnnc_last_error(), "inv"), "%s", rnnc_last_error());
    cr_assert_eq(be->layer_norm(6, 0, 1e-3, false, a, NULL, NULL, b, m, m), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "layer_norm: a row of 0 columns"), "%s", rnnc_last_error());
    cr_assert_eq(be->layer_norm_backward(2, 3, false, a, g, m, m, b, b, g, NULL), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "layer_norm_backward: dx must not share memory with dy or x"), "%s",
              rnnc_last_error());
    be->free(a), be->free(b), be->free(m), be->free(v), be->free(g);
}

/* batch_norm and its backward against the CPU's: random sizes, with and
 * without row weights (a zero-weight column of rows included), gamma /
 * beta, training and inference (the moving statistics updated or kept),
 * dgamma / dbeta added onto non-zero values; then argument errors. */
static void run_batch_norm(void)
{
    for (int rep = 0; rep < 24; rep++) {
        const int64_t rows = rng_size(), cols = rng_size();
        const size_t n = (size_t)(rows * cols), nr = (size_t)rows, nc = (size_t)cols;
        const bool training = rep % 4 != 3, has_w = rep % 2 == 1, has_g = rep % 3 != 1, has_b = rep % 5 != 2;
        float *x = rand_vec(n, -3, 3), *w = rand_vec(nr, 0, 1), *gm = rand_vec(nc, 0.5f, 1.5f);
        float *bt = rand_vec(nc, -1, 1), *mm = rand_vec(nc, -1, 1), *mv = rand_vec(nc, 0.5f, 2), *dy = rand_vec(n, -1, 1);
        float *g0 = rand_vec(nc, -1, 1), *b0 = rand_vec(nc, -1, 1);
        for (size_t r = 0; r < nr; r++)
            w[r] = r == 0 || w[r] < 0.3f ? 0.0f : 1.0f;
        rnnc_bbuf *c[13], *d[13]; /* x w gamma beta mm mv y mean den dy dx dgamma dbeta */
        const rnnc_backend_ops *const tb[2] = {cpu, be};
        rnnc_bbuf **bufs[2] = {c, d};
        for (int k = 0; k < 2; k++) {
            rnnc_bbuf **b = bufs[k];
            b[0] = up(tb[k], x, n);
            b[1] = has_w ? up(tb[k], w, nr) : NULL;
            b[2] = has_g ? up(tb[k], gm, nc) : NULL;
            b[3] = has_b ? up(tb[k], bt, nc) : NULL;
            b[4] = up(tb[k], mm, nc);
            b[5] = up(tb[k], mv, nc);
            OK(tb[k]->alloc(RNNC_F32, n, &b[6]));
            OK(tb[k]->alloc(RNNC_F32, nc, &b[7]));
            OK(tb[k]->alloc(RNNC_F32, nc, &b[8]));
            b[9] = up(tb[k], dy, n);
            OK(tb[k]->alloc(RNNC_F32, n, &b[10]));
            b[11] = up(tb[k], g0, nc);
            b[12] = up(tb[k], b0, nc);
            OK(tb[k]->batch_norm(rows, cols, 1e-3, 0.9, training, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]));
            OK(tb[k]->batch_norm_backward(rows, cols, training, b[0], b[1], b[2], b[7], b[8], b[9], b[10], b[11],
                                          b[12]));
        }
        const char *names[] = {"moving_mean", "moving_var", "y", "mean", "den", NULL, "dx", "dgamma", "dbeta"};
        for (int i = 4; i < 13; i++)
            if (i != 9)
                compare_bufs(c[i], d[i], i < 9 ? 1e-6 : 1e-5, i < 9 ? 1e-7 : 1e-6, names[i - 4]);
        for (int i = 0; i < 13; i++)
            cpu->free(c[i]), be->free(d[i]);
        free(x), free(w), free(gm), free(bt), free(mm), free(mv), free(dy), free(g0), free(b0);
    }
    rnnc_bbuf *a, *b, *m;
    OK(be->alloc(RNNC_F32, 6, &a));
    OK(be->alloc(RNNC_F32, 6, &b));
    OK(be->alloc(RNNC_F32, 3, &m));
    cr_assert_eq(be->batch_norm(2, 3, 1e-3, 0.9, true, a, NULL, NULL, NULL, m, m, a, m, m), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "batch_norm: y must not share memory with x"), "%s", rnnc_last_error());
    cr_assert_eq(be->batch_norm(3, 2, 1e-3, 0.9, true, a, NULL, NULL, NULL, m, m, b, m, m), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "batch_norm") && strstr(rnnc_last_error(), "mean"), "%s", rnnc_last_error());
    cr_assert_eq(be->batch_norm(0, 3, 1e-3, 0.9, true, a, NULL, NULL, NULL, m, m, b, m, m), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "batch_norm: 0 rows of 3 columns"), "%s", rnnc_last_error());
    cr_assert_eq(be->batch_norm_backward(2, 3, true, a, NULL, NULL, m, m, b, b, NULL, NULL), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "batch_norm_backward: dx must not share memory with dy or x"), "%s",
              rnnc_last_error());
    be->free(a), be->free(b), be->free(m);
}

/* The backend under test on every op (BACKEND_CASE: backend_ops_test_util.h). */
#define BACKEND_CASES(suite, setup, teardown)                      \
    BACKEND_CASE(suite, setup, teardown, memory_ops, 1)            \
    BACKEND_CASE(suite, setup, teardown, matmul, 2)                \
    BACKEND_CASE(suite, setup, teardown, elementwise, 3)           \
    BACKEND_CASE(suite, setup, teardown, activations, 4)           \
    BACKEND_CASE(suite, setup, teardown, softmax, 5)               \
    BACKEND_CASE(suite, setup, teardown, reduce, 6)                \
    BACKEND_CASE(suite, setup, teardown, losses, 7)                \
    BACKEND_CASE(suite, setup, teardown, optimizers, 8)            \
    BACKEND_CASE(suite, setup, teardown, argument_errors, 9)       \
    BACKEND_CASE(suite, setup, teardown, scale_rows, 11)           \
    BACKEND_CASE(suite, setup, teardown, mul_bcast, 17)            \
    BACKEND_CASE(suite, setup, teardown, gather_scatter, 12)       \
    BACKEND_CASE(suite, setup, teardown, metrics, 13)              \
    BACKEND_CASE(suite, setup, teardown, layout, 14)               \
    BACKEND_CASE(suite, setup, teardown, layer_norm, 15)               \
    BACKEND_CASE(suite, setup, teardown, batch_norm, 16)

BACKEND_CASES(backend_ops_cuda_emulated, use_emulated, emulated_done)
BACKEND_CASES(backend_ops_cuda_gpu, use_real_gpu, real_gpu_done)

Test(backend_ops_cuda_emulated, every_device_block_is_returned)
{
    use_emulated();
    const unsigned long m0 = emu_mallocs, f0 = emu_frees;
    rng_seed(10);
    run_matmul();
    run_losses();
    run_optimizers();
    emulated_done();
    cr_expect_gt(emu_mallocs, m0);
    cr_expect_eq(emu_mallocs - m0, emu_frees - f0, "cudaMalloc %lu vs cudaFree %lu",
                 emu_mallocs - m0, emu_frees - f0);
}

/* ---- the CPU backend against independent oracles -------------------------- */

Test(backend_ops_cpu, registry_gives_the_cpu_table_and_names_ops)
{
    const rnnc_backend_ops *b;
    OK(rnnc_backend_ops_get(RNNC_DEVICE_CPU, &b));
    cr_assert_eq(b, rnnc_backend_ops_cpu());
    cr_assert_str_eq(b->name, "cpu");
    cr_assert_str_eq(rnnc_bop_name(RNNC_BOP_SOFTMAX_BACKWARD), "softmax_backward");
    cr_assert_str_eq(rnnc_bop_name(RNNC_BOP_COUNT), "unknown");
    rnnc_status s = rnnc_backend_ops_get(RNNC_DEVICE_CUDA, &b);
    if (!rnnc_device_available(RNNC_DEVICE_CUDA)) {
        cr_assert_eq(s, RNNC_E_NODEV);
        cr_assert(strstr(rnnc_last_error(), "CUDA"), "%s", rnnc_last_error());
    }
}

Test(backend_ops_cpu, matmul_elementwise_reduce_match_float64_loops)
{
    cpu = rnnc_backend_ops_cpu();
    rng_seed(20);
    for (int rep = 0; rep < 24; rep++) {
        const bool ta = rep & 1, tb = rep & 2;
        const float beta = (rep & 4) ? 1.0f : 0.0f;
        const int64_t m = rng_size(), n = rng_size(), k = rng_size();
        float *a = rand_vec((size_t)(m * k), -1, 1), *b = rand_vec((size_t)(k * n), -1, 1);
        float *c0 = rand_vec((size_t)(m * n), -1, 1);
        double *want = malloc((size_t)(m * n) * sizeof *want);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = beta ? c0[i * n + j] : 0.0;
                for (int64_t l = 0; l < k; l++)
                    s += (double)(ta ? a[l * m + i] : a[i * k + l]) *
                         (double)(tb ? b[j * k + l] : b[l * n + j]);
                want[i * n + j] = s;
            }
        rnnc_bbuf *ca = up(cpu, a, (size_t)(m * k)), *cb = up(cpu, b, (size_t)(k * n)),
                  *cc = up(cpu, c0, (size_t)(m * n));
        OK(cpu->matmul(ta, tb, m, n, k, ca, cb, beta, cc));
        expect_close_d(cc->data, want, (size_t)(m * n), 1e-5, 1e-5 * (double)k, "cpu matmul");
        cpu->free(ca), cpu->free(cb), cpu->free(cc);
        free(a), free(b), free(c0), free(want);
    }
    /* k = 0: C = beta C. */
    float one = 1.0f, c2[2] = {3.0f, 4.0f};
    rnnc_bbuf *e, *cc = up(cpu, c2, 2);
    OK(cpu->alloc(RNNC_F32, 0, &e));
    OK(cpu->matmul(false, false, 1, 2, 0, e, e, 1.0f, cc));
    cr_assert(((float *)cc->data)[0] == 3.0f && ((float *)cc->data)[1] == 4.0f);
    OK(cpu->matmul(false, false, 1, 2, 0, e, e, 0.0f, cc));
    cr_assert(((float *)cc->data)[0] == 0.0f && ((float *)cc->data)[1] == 0.0f);
    cpu->free(e), cpu->free(cc);
    (void)one;
    /* Bias and reductions, by hand. */
    float x[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {10, 20, 30};
    rnnc_bbuf *bx = up(cpu, x, 6), *bb = up(cpu, bias, 3), *by, *r2;
    OK(cpu->alloc(RNNC_F32, 6, &by));
    OK(cpu->bias_add(2, 3, bx, bb, by));
    const double want_b[6] = {11, 22, 33, 14, 25, 36};
    expect_close_d(by->data, want_b, 6, 0, 0, "bias_add");
    OK(cpu->alloc(RNNC_F32, 3, &r2));
    OK(cpu->reduce(RNNC_RED_SUM, 1, 2, 3, bx, r2)); /* over axis 0 of (2, 3) */
    const double want_s[3] = {5, 7, 9};
    expect_close_d(r2->data, want_s, 3, 0, 0, "sum axis 0");
    cpu->free(r2);
    OK(cpu->alloc(RNNC_F32, 2, &r2));
    OK(cpu->reduce(RNNC_RED_MEAN, 2, 3, 1, bx, r2)); /* over axis 1 */
    const double want_m[2] = {2, 5};
    expect_close_d(r2->data, want_m, 2, 0, 0, "mean axis 1");
    cpu->free(r2), cpu->free(bx), cpu->free(bb), cpu->free(by);
}

/* d/dx of sum(g * f(x)) by central differences in double. */
static double fd_act(rnnc_act a, double x)
{
    const double h = 1e-6 * (fabs(x) > 1 ? fabs(x) : 1);
    return (rnnc_act_apply(a, x + h) - rnnc_act_apply(a, x - h)) / (2 * h);
}

Test(backend_ops_cpu, activations_against_hand_values_and_finite_differences)
{
    cpu = rnnc_backend_ops_cpu();
    float xs[3] = {0.5f, 0.0f, -1.0f};
    rnnc_bbuf *x = up(cpu, xs, 3), *y, *g, *gx;
    OK(cpu->alloc(RNNC_F32, 3, &y));
    OK(cpu->activation(RNNC_ACT_TANH, x, y));
    const double tanh_want[3] = {0.46211715726000974, 0.0, -0.7615941559557649};
    expect_close_d(y->data, tanh_want, 3, 1e-6, 0, "tanh");
    OK(cpu->activation(RNNC_ACT_SIGMOID, x, y));
    const double sig_want[3] = {0.6224593312018546, 0.5, 0.2689414213699951};
    expect_close_d(y->data, sig_want, 3, 1e-6, 0, "sigmoid");
    cpu->free(x), cpu->free(y);
    rng_seed(21);
    for (int a = 0; a < RNNC_ACT_COUNT; a++) {
        if (!rnnc_act_is_elementwise((rnnc_act)a))
            continue;
        const size_t n = 40;
        float *xv = rand_vec(n, -3, 3), *gv = rand_vec(n, -1, 1);
        for (size_t i = 0; i < n; i++) /* away from the kinks at 0, +-0.5, +-1, +-3, 6 */
            if (fabsf(xv[i] - roundf(xv[i] * 2) / 2) < 0.01f)
                xv[i] += 0.05f;
        x = up(cpu, xv, n);
        g = up(cpu, gv, n);
        OK(cpu->alloc(RNNC_F32, n, &y));
        OK(cpu->alloc(RNNC_F32, n, &gx));
        OK(cpu->fill(gx, 0.25f));
        OK(cpu->activation((rnnc_act)a, x, y));
        OK(cpu->activation_backward((rnnc_act)a, x, y, g, gx));
        double want[40];
        for (size_t i = 0; i < n; i++)
            want[i] = 0.25 + (double)gv[i] * fd_act((rnnc_act)a, (double)xv[i]);
        char what[80];
        snprintf(what, sizeof what, "%s backward vs finite differences", rnnc_act_name((rnnc_act)a));
        expect_close_d(gx->data, want, n, 1e-4, 1e-5, what);
        cpu->free(x), cpu->free(g), cpu->free(y), cpu->free(gx);
        free(xv), free(gv);
    }
}

Test(backend_ops_cpu, softmax_against_hand_values_and_finite_differences)
{
    cpu = rnnc_backend_ops_cpu();
    float xs[6] = {1, 2, 3, 1000, 1000, 1000};
    rnnc_bbuf *x = up(cpu, xs, 6), *y, *g, *gx;
    OK(cpu->alloc(RNNC_F32, 6, &y));
    OK(cpu->softmax(2, 3, x, y));
    const double want[6] = {0.09003057317038046, 0.24472847105479764, 0.6652409557748219,
                            1.0 / 3, 1.0 / 3, 1.0 / 3};
    expect_close_d(y->data, want, 6, 1e-6, 0, "softmax");
    /* d/dx sum(g * softmax(x)), row 0, by central differences. */
    float gs[6] = {0.3f, -1.0f, 2.0f, 1, 1, 1};
    g = up(cpu, gs, 6);
    OK(cpu->alloc(RNNC_F32, 6, &gx));
    OK(cpu->fill(gx, 0.0f));
    OK(cpu->softmax_backward(2, 3, y, g, gx));
    double fd[6] = {0, 0, 0, 0, 0, 0};
    for (int j = 0; j < 3; j++) {
        double l[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            double z[3] = {1, 2, 3}, s = 0, acc = 0;
            z[j] += sgn ? -1e-6 : 1e-6;
            for (int i = 0; i < 3; i++)
                s += exp(z[i]);
            for (int i = 0; i < 3; i++)
                acc += gs[i] * exp(z[i]) / s;
            l[sgn] = acc;
        }
        fd[j] = (l[0] - l[1]) / 2e-6;
    }
    expect_close_d(gx->data, fd, 6, 1e-4, 1e-6, "softmax backward vs finite differences");
    cpu->free(x), cpu->free(y), cpu->free(g), cpu->free(gx);
}

/* LayerNormalization's map in float64 (no roundings): y = (x - mean) /
 * sqrt(var + eps) * gamma + beta, rms: x / sqrt(var + eps) * gamma (the
 * variance about the mean, as Keras 3.15); returns sum(y * r). */
static double ln_f64(int64_t rows, int64_t cols, double eps, bool rms, const double *x, const double *gm,
                     const double *bt, const double *r, double *y)
{
    double l = 0.0;
    for (int64_t i = 0; i < rows; i++) {
        const double *xr = x + i * cols;
        double mu = 0.0, var = 0.0;
        for (int64_t c = 0; c < cols; c++)
            mu += xr[c] / (double)cols;
        for (int64_t c = 0; c < cols; c++)
            var += (xr[c] - mu) * (xr[c] - mu) / (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            const double v = (rms ? xr[c] : xr[c] - mu) / sqrt(var + eps) * gm[c] + (rms ? 0.0 : bt[c]);
            if (y)
                y[i * cols + c] = v;
            l += v * r[i * cols + c];
        }
    }
    return l;
}

/* The CPU's layer_norm against the float64 map, and its backward (dx,
 * dgamma, dbeta, added onto 0.5) against central differences of
 * sum(y * r); mean and inv against their definitions; with and without rms. */
Test(backend_ops_cpu, layer_norm_against_float64_loops_and_finite_differences)
{
    cpu = rnnc_backend_ops_cpu();
    rng_seed(77);
    enum { R = 3, C = 5 };
    const double eps = 1e-3;
    for (int rms = 0; rms < 2; rms++) {
        double xd[R * C], gd[C], bd[C], rd[R * C], yd[R * C];
        float xf[R * C], gf[C], bf[C], rf[R * C], half[C]; /* dgamma, dbeta start at 0.5: added into */
        for (int i = 0; i < R * C; i++)
            xd[i] = xf[i] = rng_uniform(-2, 2), rd[i] = rf[i] = rng_uniform(-1, 1);
        for (int c = 0; c < C; c++)
            gd[c] = gf[c] = rng_uniform(0.5f, 1.5f), bd[c] = bf[c] = rng_uniform(-1, 1), half[c] = 0.5f;
        rnnc_bbuf *x = up(cpu, xf, R * C), *g = up(cpu, gf, C), *b = up(cpu, bf, C), *r = up(cpu, rf, R * C);
        rnnc_bbuf *dg = up(cpu, half, C), *db = up(cpu, half, C), *y, *m, *iv, *dx;
        OK(cpu->alloc(RNNC_F32, R * C, &y));
        OK(cpu->alloc(RNNC_F32, R * C, &dx));
        OK(cpu->alloc(RNNC_F32, R, &m));
        OK(cpu->alloc(RNNC_F32, R, &iv));
        OK(cpu->layer_norm(R, C, eps, rms, x, g, rms ? NULL : b, y, m, iv));
        ln_f64(R, C, eps, rms, xd, gd, bd, rd, yd);
        expect_close_d(y->data, yd, R * C, 1e-5, 1e-6, rms ? "rms layer_norm y" : "layer_norm y");
        double md[R], ivd[R];
        for (int i = 0; i < R; i++) {
            double mu = 0, var = 0;
            for (int c = 0; c < C; c++)
                mu += xd[i * C + c] / C;
            for (int c = 0; c < C; c++)
                var += (xd[i * C + c] - mu) * (xd[i * C + c] - mu) / C;
            md[i] = mu;
            ivd[i] = 1.0 / sqrt(var + eps);
        }
        expect_close_d(m->data, md, R, 1e-6, 1e-7, "layer_norm mean");
        expect_close_d(iv->data, ivd, R, 1e-6, 0, "layer_norm inv");
        OK(cpu->layer_norm_backward(R, C, rms, x, g, m, iv, r, dx, dg, rms ? NULL : db));
        double fx[R * C], fg[C], fb[C];
        const double h = 1e-6;
        for (int i = 0; i < R * C; i++) {
            const double keep = xd[i];
            xd[i] = keep + h;
            const double lp = ln_f64(R, C, eps, rms, xd, gd, bd, rd, NULL);
            xd[i] = keep - h;
            fx[i] = (lp - ln_f64(R, C, eps, rms, xd, gd, bd, rd, NULL)) / (2 * h);
            xd[i] = keep;
        }
        for (int c = 0; c < C; c++) {
            double keep = gd[c];
            gd[c] = keep + h;
            double lp = ln_f64(R, C, eps, rms, xd, gd, bd, rd, NULL);
            gd[c] = keep - h;
            fg[c] = 0.5 + (lp - ln_f64(R, C, eps, rms, xd, gd, bd, rd, NULL)) / (2 * h);
            gd[c] = keep;
            keep = bd[c];
            bd[c] = keep + h;
            lp = ln_f64(R, C, eps, rms, xd, gd, bd, rd, NULL);
            bd[c] = keep - h;
            fb[c] = 0.5 + (lp - ln_f64(R, C, eps, rms, xd, gd, bd, rd, NULL)) / (2 * h);
            bd[c] = keep;
        }
        expect_close_d(dx->data, fx, R * C, 1e-4, 1e-5, rms ? "rms dx vs finite differences" : "dx vs finite differences");
        expect_close_d(dg->data, fg, C, 1e-4, 1e-5, "dgamma vs finite differences");
        if (!rms)
            expect_close_d(db->data, fb, C, 1e-4, 1e-5, "dbeta vs finite differences");
        rnnc_bbuf *all[] = {x, g, b, r, dg, db, y, m, iv, dx};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            cpu->free(all[i]);
    }
}

/* BatchNormalization's map in float64 (no roundings) over columns of x
 * (R, C): training: mean = sum w x / sw, var = sum w (x - mean)^2 / sw
 * (w NULL: 1, sw = R; else sw = count + 1e-7, Keras's masked moments);
 * else mean, var = mm, mv; y = (x - mean) / sqrt(var + eps) * g + b.
 * Returns sum(y * r); stat (2C) gets mean and var when not NULL. */
static double bn_f64(int64_t R, int64_t C, bool training, const double *w, const double *x, const double *g,
                     const double *b, const double *mm, const double *mv, const double *r, double *y, double *stat)
{
    double l = 0.0;
    for (int64_t c = 0; c < C; c++) {
        double mu = mm[c], var = mv[c];
        if (training) {
            double sw = 0.0, s = 0.0, v = 0.0;
            for (int64_t i = 0; i < R; i++)
                sw += w ? w[i] : 1.0, s += (w ? w[i] : 1.0) * x[i * C + c];
            if (w)
                sw += 1e-7;
            mu = s / sw;
            for (int64_t i = 0; i < R; i++)
                v += (w ? w[i] : 1.0) * (x[i * C + c] - mu) * (x[i * C + c] - mu);
            var = v / sw;
        }
        if (stat)
            stat[c] = mu, stat[C + c] = var;
        for (int64_t i = 0; i < R; i++) {
            const double v = (x[i * C + c] - mu) / sqrt(var + 1e-3) * g[c] + b[c];
            if (y)
                y[i * C + c] = v;
            l += v * r[i * C + c];
        }
    }
    return l;
}

/* The CPU's batch_norm against the float64 map (y, the moving statistics
 * moved with momentum 0.9), and its backward (dx, dgamma, dbeta added onto
 * 0.5) against central differences of sum(y * r): training without and
 * with row weights (one row left out), and inference. */
Test(backend_ops_cpu, batch_norm_against_float64_loops_and_finite_differences)
{
    cpu = rnnc_backend_ops_cpu();
    rng_seed(78);
    enum { R = 5, C = 3 };
    for (int mode = 0; mode < 3; mode++) {
        const bool training = mode < 2, weighted = mode == 1;
        double xd[R * C], wd[R] = {1, 0, 1, 1, 1}, gd[C], bd[C], mmd[C], mvd[C], rd[R * C], yd[R * C], st[2 * C];
        float xf[R * C], wf[R] = {1, 0, 1, 1, 1}, gf[C], bf[C], mmf[C], mvf[C], rf[R * C], half[C];
        for (int i = 0; i < R * C; i++)
            xd[i] = xf[i] = rng_uniform(-2, 2), rd[i] = rf[i] = rng_uniform(-1, 1);
        for (int c = 0; c < C; c++) {
            gd[c] = gf[c] = rng_uniform(0.5f, 1.5f), bd[c] = bf[c] = rng_uniform(-1, 1), half[c] = 0.5f;
            mmd[c] = mmf[c] = rng_uniform(-1, 1), mvd[c] = mvf[c] = rng_uniform(0.5f, 2);
        }
        const double *wp = weighted ? wd : NULL;
        rnnc_bbuf *x = up(cpu, xf, R * C), *w = weighted ? up(cpu, wf, R) : NULL, *g = up(cpu, gf, C);
        rnnc_bbuf *b = up(cpu, bf, C), *mm = up(cpu, mmf, C), *mv = up(cpu, mvf, C), *r = up(cpu, rf, R * C);
        rnnc_bbuf *dg = up(cpu, half, C), *db = up(cpu, half, C), *y, *m, *dn, *dx;
        OK(cpu->alloc(RNNC_F32, R * C, &y));
        OK(cpu->alloc(RNNC_F32, R * C, &dx));
        OK(cpu->alloc(RNNC_F32, C, &m));
        OK(cpu->alloc(RNNC_F32, C, &dn));
        OK(cpu->batch_norm(R, C, 1e-3, 0.9, training, x, w, g, b, mm, mv, y, m, dn));
        bn_f64(R, C, training, wp, xd, gd, bd, mmd, mvd, rd, yd, st);
        expect_close_d(y->data, yd, R * C, 1e-5, 1e-6, "batch_norm y");
        double want_mm[C], want_mv[C];
        for (int c = 0; c < C; c++) {
            want_mm[c] = training ? 0.9 * mmd[c] + 0.1 * st[c] : mmd[c];
            want_mv[c] = training ? 0.9 * mvd[c] + 0.1 * st[C + c] : mvd[c];
        }
        expect_close_d(mm->data, want_mm, C, 1e-6, 1e-7, "batch_norm moving_mean");
        expect_close_d(mv->data, want_mv, C, 1e-6, 1e-7, "batch_norm moving_var");
        OK(cpu->batch_norm_backward(R, C, training, x, w, g, m, dn, r, dx, dg, db));
        double fx[R * C], fg[C], fb[C];
        const double h = 1e-6;
        for (int i = 0; i < R * C; i++) {
            const double keep = xd[i];
            xd[i] = keep + h;
            const double lp = bn_f64(R, C, training, wp, xd, gd, bd, mmd, mvd, rd, NULL, NULL);
            xd[i] = keep - h;
            fx[i] = (lp - bn_f64(R, C, training, wp, xd, gd, bd, mmd, mvd, rd, NULL, NULL)) / (2 * h);
            xd[i] = keep;
        }
        for (int c = 0; c < C; c++) {
            double keep = gd[c];
            gd[c] = keep + h;
            double lp = bn_f64(R, C, training, wp, xd, gd, bd, mmd, mvd, rd, NULL, NULL);
            gd[c] = keep - h;
            fg[c] = 0.5 + (lp - bn_f64(R, C, training, wp, xd, gd, bd, mmd, mvd, rd, NULL, NULL)) / (2 * h);
            gd[c] = keep;
            keep = bd[c];
            bd[c] = keep + h;
            lp = bn_f64(R, C, training, wp, xd, gd, bd, mmd, mvd, rd, NULL, NULL);
            bd[c] = keep - h;
            fb[c] = 0.5 + (lp - bn_f64(R, C, training, wp, xd, gd, bd, mmd, mvd, rd, NULL, NULL)) / (2 * h);
            bd[c] = keep;
        }
        expect_close_d(dx->data, fx, R * C, 1e-4, 1e-5, "batch_norm dx vs finite differences");
        expect_close_d(dg->data, fg, C, 1e-4, 1e-5, "batch_norm dgamma vs finite differences");
        expect_close_d(db->data, fb, C, 1e-4, 1e-5, "batch_norm dbeta vs finite differences");
        rnnc_bbuf *all[] = {x, w, g, b, mm, mv, r, dg, db, y, m, dn, dx};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            cpu->free(all[i]);
    }
}

/* rnnc's own loss (optim/losses.c, the tape) on the same data: values, and
 * the gradient of their mean by rnnc_backward. */
static void rnnc_loss_oracle(rnnc_bloss kind, bool logits, int64_t rows, int64_t cols,
                             const float *t, const int32_t *ids, const float *p, float *values,
                             float *grad)
{
    static const rnnc_loss_kind kinds[] = {
        RNNC_LOSS_MEAN_SQUARED_ERROR, RNNC_LOSS_BINARY_CROSSENTROPY,
        RNNC_LOSS_CATEGORICAL_CROSSENTROPY, RNNC_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY};
    rnnc_loss_options o = rnnc_loss_options_default();
    o.from_logits = logits;
    rnnc_loss *l;
    OK(rnnc_loss_create(kinds[kind], &o, &l));
    rnnc_ctx *cx = rnnc_ctx_create();
    cr_assert(cx);
    rnnc_tensor *yt, *yp, *v, *mean;
    const rnnc_shape ps = RNNC_SHAPE(rows, cols), is = RNNC_SHAPE(rows);
    if (kind == RNNC_BLOSS_SCCE)
        OK(rnnc_tensor_from(RNNC_I32, &is, ids, &yt));
    else
        OK(rnnc_tensor_from(RNNC_F32, &ps, t, &yt));
    OK(rnnc_tensor_from(RNNC_F32, &ps, p, &yp));
    OK(rnnc_tensor_set_requires_grad(yp, true));
    OK(rnnc_loss_values(l, cx, yt, yp, &v, NULL));
    OK(rnnc_mean(cx, v, NULL, 0, false, &mean));
    OK(rnnc_backward(cx, mean));
    memcpy(values, v->data, (size_t)rows * sizeof *values);
    memcpy(grad, yp->grad, (size_t)(rows * cols) * sizeof *grad);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
    rnnc_loss_destroy(l);
}

Test(backend_ops_cpu, losses_match_rnnc_losses_and_finite_differences)
{
    cpu = rnnc_backend_ops_cpu();
    rng_seed(22);
    for (int kind = 0; kind < RNNC_BLOSS_COUNT; kind++)
        for (int logits = 0; logits < 2; logits++) {
            if (kind == RNNC_BLOSS_MSE && logits)
                continue;
            for (int rep = 0; rep < 6; rep++) {
                const int64_t rows = rng_size(), cols = rng_size() + (kind >= RNNC_BLOSS_CCE);
                const size_t n = (size_t)(rows * cols);
                float *t = malloc(n * sizeof *t), *p = malloc(n * sizeof *p);
                float *v = malloc((size_t)rows * sizeof *v), *g = malloc(n * sizeof *g);
                float *vo = malloc((size_t)rows * sizeof *vo), *go = malloc(n * sizeof *go);
                int32_t *ids = malloc((size_t)rows * sizeof *ids);
                loss_data((rnnc_bloss)kind, logits, rows, cols, t, ids, p);
                const bool sp = kind == RNNC_BLOSS_SCCE;
                rnnc_bbuf *ct = sp ? up_i32(cpu, ids, (size_t)rows) : up(cpu, t, n);
                rnnc_bbuf *cp = up(cpu, p, n), *cv, *cg;
                OK(cpu->alloc(RNNC_F32, (size_t)rows, &cv));
                OK(cpu->alloc(RNNC_F32, n, &cg));
                OK(cpu->loss((rnnc_bloss)kind, logits, rows, cols, ct, cp, cv, cg, 1.0f / (float)rows));
                rnnc_loss_oracle((rnnc_bloss)kind, logits, rows, cols, t, ids, p, vo, go);
                char what[96];
                snprintf(what, sizeof what, "cpu loss %d (logits %d) vs rnnc_loss_values", kind, logits);
                expect_close(cv->data, vo, (size_t)rows, 1e-5, 1e-6, what);
                snprintf(what, sizeof what, "cpu loss %d (logits %d) grad vs rnnc_backward", kind, logits);
                expect_close(cg->data, go, n, 1e-5, 1e-6, what);
                /* Finite differences of the table's own values, at entries
                 * away from the clip edges. */
                for (size_t i = 0; i < n && i < 12; i++) {
                    const bool probs = !logits && kind != RNNC_BLOSS_MSE;
                    if (probs && (p[i] < 0.1f || p[i] > 0.9f))
                        continue;
                    const int64_t r = (int64_t)i / cols;
                    double lv[2];
                    for (int sgn = 0; sgn < 2; sgn++) {
                        const float h = probs ? 1e-3f : 1e-2f * (fabsf(p[i]) > 1 ? fabsf(p[i]) : 1);
                        float *q = malloc(n * sizeof *q);
                        memcpy(q, p, n * sizeof *q);
                        q[i] += sgn ? -h : h;
                        rnnc_bbuf *cq = up(cpu, q, n);
                        OK(cpu->loss((rnnc_bloss)kind, logits, rows, cols, ct, cq, cv, NULL, 1.0f));
                        lv[sgn] = ((float *)cv->data)[r] / (double)h;
                        cpu->free(cq);
                        free(q);
                    }
                    const double fd = (lv[0] - lv[1]) / 2 / (double)rows;
                    cr_assert(fabs(((float *)cg->data)[i] - fd) <= 2e-3 + 2e-2 * fabs(fd),
                              "loss %d logits %d grad[%zu] %.6g vs finite difference %.6g", kind,
                              logits, i, (double)((float *)cg->data)[i], fd);
                }
                cpu->free(ct), cpu->free(cp), cpu->free(cv), cpu->free(cg);
                free(t), free(p), free(v), free(g), free(vo), free(go), free(ids);
            }
        }
}

Test(backend_ops_cpu, losses_hand_values)
{
    cpu = rnnc_backend_ops_cpu();
    /* MSE of (1, 2) against (0, 0): (1 + 4) / 2; BCE of logit 0: log 2;
     * CCE of logits (0, 0) with t = (1, 0): log 2; SCCE of probabilities
     * (0.25, 0.75), id 1: -log 0.75. */
    float p1[2] = {1, 2}, t1[2] = {0, 0}, v[1];
    rnnc_bbuf *cp = up(cpu, p1, 2), *ct = up(cpu, t1, 2), *cv, *ci;
    OK(cpu->alloc(RNNC_F32, 1, &cv));
    OK(cpu->loss(RNNC_BLOSS_MSE, false, 1, 2, ct, cp, cv, NULL, 1));
    OK(cpu->download(v, cv));
    cr_assert_float_eq(v[0], 2.5f, 1e-6);
    float z[2] = {0, 0}, onehot[2] = {1, 0};
    cpu->free(cp), cpu->free(ct);
    cp = up(cpu, z, 2), ct = up(cpu, onehot, 2);
    OK(cpu->loss(RNNC_BLOSS_CCE, true, 1, 2, ct, cp, cv, NULL, 1));
    OK(cpu->download(v, cv));
    cr_assert_float_eq(v[0], (float)log(2.0), 1e-6);
    OK(cpu->loss(RNNC_BLOSS_BCE, true, 1, 2, ct, cp, cv, NULL, 1));
    OK(cpu->download(v, cv));
    cr_assert_float_eq(v[0], (float)log(2.0), 1e-6);
    float pr[2] = {0.25f, 0.75f};
    int32_t id[1] = {1}, bad[1] = {2};
    cpu->free(cp);
    cp = up(cpu, pr, 2);
    ci = up_i32(cpu, id, 1);
    OK(cpu->loss(RNNC_BLOSS_SCCE, false, 1, 2, ci, cp, cv, NULL, 1));
    OK(cpu->download(v, cv));
    cr_assert_float_eq(v[0], (float)-log(0.75), 1e-6);
    OK(cpu->upload(ci, bad));
    cr_assert_eq(cpu->loss(RNNC_BLOSS_SCCE, false, 1, 2, ci, cp, cv, NULL, 1), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "class id 2"), "%s", rnnc_last_error());
    cpu->free(cp), cpu->free(ct), cpu->free(cv), cpu->free(ci);
}

Test(backend_ops_cuda_emulated, sparse_id_out_of_range_gives_nan)
{
    use_emulated();
    float pr[2] = {0.25f, 0.75f}, v[1], g[2];
    int32_t bad[1] = {-1};
    rnnc_bbuf *cp = up(be, pr, 2), *ci = up_i32(be, bad, 1), *cv, *cg;
    OK(be->alloc(RNNC_F32, 1, &cv));
    OK(be->alloc(RNNC_F32, 2, &cg));
    OK(be->loss(RNNC_BLOSS_SCCE, true, 1, 2, ci, cp, cv, cg, 1));
    OK(be->download(v, cv));
    OK(be->download(g, cg));
    cr_assert(isnan(v[0]) && isnan(g[0]) && isnan(g[1]));
    be->free(cp), be->free(ci), be->free(cv), be->free(cg);
    emulated_done();
}

/* Keras's formulas in double: SGD (momentum, nesterov), Adam/AdamW
 * (amsgrad), epsilon outside the square root, decay w - w wd lr first. */
Test(backend_ops_cpu, optimizers_match_kerass_formulas_in_float64)
{
    cpu = rnnc_backend_ops_cpu();
    rng_seed(23);
    for (int rep = 0; rep < 12; rep++) {
        const size_t n = 37;
        float *w0 = rand_vec(n, -1, 1), *zero = calloc(n, sizeof *zero);
        double w[37], m[37], v[37], vh[37];
        for (size_t i = 0; i < n; i++)
            w[i] = w0[i], m[i] = v[i] = vh[i] = 0;
        rnnc_bbuf *cw = up(cpu, w0, n), *cm = up(cpu, zero, n), *cv = up(cpu, zero, n),
                  *ch = up(cpu, zero, n);
        const double lr = 0.01, mu = (rep % 3) ? 0.9 : 0.0, b1 = 0.9, b2 = 0.999, eps = 1e-7;
        const bool nesterov = rep % 3 == 2, ams = rep & 1, adam = rep >= 6;
        const double wd = (rep & 2) && adam ? 0.004 : 0.0;
        for (int step = 1; step <= 4; step++) {
            float *g = rand_vec(n, -1, 1);
            rnnc_bbuf *cg = up(cpu, g, n);
            if (!adam) {
                const rnnc_sgd_params p = {(float)lr, (float)mu, nesterov};
                OK(cpu->sgd(&p, cw, cg, cm));
                for (size_t i = 0; i < n; i++) {
                    if (mu == 0) {
                        w[i] -= lr * g[i];
                        continue;
                    }
                    m[i] = mu * m[i] - lr * g[i];
                    w[i] += nesterov ? mu * m[i] - lr * g[i] : m[i];
                }
            } else {
                /* rep 7 and 11: v moves toward a given g_sq (a sparse
                 * gradient's sum of squared rows), not g * g */
                float *sq = rep % 4 == 3 ? rand_vec(n, 0, 2) : NULL;
                rnnc_bbuf *cs = sq ? up(cpu, sq, n) : NULL;
                const rnnc_adam_params p = {lr, b1, b2, eps, step, ams, wd};
                OK(cpu->adam(&p, cw, cg, cm, cv, ch, cs));
                const double lr_t = lr * sqrt(1 - pow(b2, step)) / (1 - pow(b1, step));
                for (size_t i = 0; i < n; i++) {
                    w[i] -= w[i] * wd * lr;
                    m[i] = b1 * m[i] + (1 - b1) * g[i];
                    v[i] = b2 * v[i] + (1 - b2) * (sq ? (double)sq[i] : (double)g[i] * g[i]);
                    vh[i] = vh[i] > v[i] ? vh[i] : v[i];
                    w[i] -= lr_t * m[i] / (sqrt(ams ? vh[i] : v[i]) + eps);
                }
                cpu->free(cs);
                free(sq);
            }
            cpu->free(cg);
            free(g);
        }
        expect_close_d(cw->data, w, n, 1e-5, 1e-6, adam ? "adam w vs float64" : "sgd w vs float64");
        if (adam)
            expect_close_d(cv->data, v, n, 1e-5, 1e-9, "adam v vs float64");
        cpu->free(cw), cpu->free(cm), cpu->free(cv), cpu->free(ch);
        free(w0), free(zero);
    }
}

/* ---- the training-step ops on the CPU: float64 loops, hand values, optim/ -- */

Test(backend_ops_cpu, scale_gather_scatter_match_float64_loops)
{
    cpu = rnnc_backend_ops_cpu();
    rng_seed(30);
    for (int rep = 0; rep < 20; rep++) {
        const int64_t rows = rng_size(), cols = rng_size(), n_ids = rep == 5 ? 0 : rng_size();
        const size_t n = (size_t)(rows * cols), m = (size_t)(n_ids * cols);
        float *x = rand_vec(n, -2, 2), *w = rand_vec((size_t)rows, -2, 2), *dy = rand_vec(m, -1, 1);
        const float alpha = rng_uniform(-3, 3);
        double *want = malloc((n + 1) * sizeof *want);
        /* y = alpha w[r] x[r, c], with and without w; then in place. */
        rnnc_bbuf *cx = up(cpu, x, n), *cw = up(cpu, w, (size_t)rows), *cy;
        OK(cpu->alloc(RNNC_F32, n, &cy));
        for (int with_w = 0; with_w < 2; with_w++) {
            for (size_t i = 0; i < n; i++)
                want[i] = (double)alpha * (with_w ? (double)w[i / (size_t)cols] : 1.0) * (double)x[i];
            OK(cpu->scale_rows(rows, cols, with_w ? cw : NULL, alpha, cx, cy));
            expect_close_d(cy->data, want, n, 2e-7, 0, "scale_rows");
        }
        OK(cpu->scale_rows(rows, cols, cw, alpha, cx, cx));
        expect_close_d(cx->data, want, n, 2e-7, 0, "scale_rows in place");
        /* gather: out[i] = table[ids[i]]; scatter: dtable[ids[i]] += dy[i]. */
        int32_t *ids = malloc(((size_t)n_ids + 1) * sizeof *ids);
        for (int64_t i = 0; i < n_ids; i++)
            ids[i] = (int32_t)(rng_u32() % (uint32_t)rows);
        rnnc_bbuf *ci = up_i32(cpu, ids, (size_t)n_ids), *cout, *cdy = up(cpu, dy, m);
        rnnc_bbuf *ct = up(cpu, w, (size_t)rows); /* any table: (rows, 1) */
        OK(cpu->alloc(RNNC_F32, m, &cout));
        rnnc_bbuf *tab = up(cpu, x, n);
        OK(cpu->gather_rows(rows, cols, tab, ci, cout));
        for (int64_t i = 0; i < n_ids; i++)
            for (int64_t j = 0; j < cols; j++)
                cr_assert_eq(((float *)cout->data)[i * cols + j], x[ids[i] * cols + j], "gather_rows");
        double *acc = malloc((n + 1) * sizeof *acc);
        for (size_t i = 0; i < n; i++)
            acc[i] = x[i];
        for (int64_t i = 0; i < n_ids; i++)
            for (int64_t j = 0; j < cols; j++)
                acc[ids[i] * cols + j] += (double)dy[i * cols + j];
        OK(cpu->scatter_add_rows(rows, cols, ci, cdy, tab));
        expect_close_d(tab->data, acc, n, 1e-6, 1e-6, "scatter_add_rows");
        cpu->free(cx), cpu->free(cw), cpu->free(cy), cpu->free(ci), cpu->free(cout), cpu->free(cdy);
        cpu->free(ct), cpu->free(tab);
        free(x), free(w), free(dy), free(want), free(ids), free(acc);
    }
}

/* copy_block and reverse_time against index loops and hand values. */
Test(backend_ops_cpu, copy_block_and_reverse_time_match_index_loops)
{
    cpu = rnnc_backend_ops_cpu();
    /* concat of two (2, 2) halves into (2, 5) at columns 0 and 3, then the
     * gradient split back out of a (2, 5) and added onto a half */
    const float f[4] = {1, 2, 3, 4}, g[4] = {5, 6, 7, 8};
    rnnc_bbuf *bf = up(cpu, f, 4), *bg = up(cpu, g, 4), *out;
    OK(cpu->alloc(RNNC_F32, 10, &out));
    OK(cpu->fill(out, -1.0f));
    OK(cpu->copy_block(2, 2, bf, 2, 0, out, 5, 0, false));
    OK(cpu->copy_block(2, 2, bg, 2, 0, out, 5, 3, false));
    const double want[10] = {1, 2, -1, 5, 6, 3, 4, -1, 7, 8};
    expect_close_d(out->data, want, 10, 0, 0, "copy_block concat");
    OK(cpu->copy_block(2, 2, out, 5, 3, bf, 2, 0, true));
    const double want_acc[4] = {1 + 5, 2 + 6, 3 + 7, 4 + 8};
    expect_close_d(bf->data, want_acc, 4, 0, 0, "copy_block accumulate");
    OK(cpu->copy_block(2, 1, out, 5, 4, bg, 2, 1, false));
    const double want_g[4] = {5, 6, 7, 8};
    expect_close_d(bg->data, want_g, 4, 0, 0, "copy_block into column 1");
    /* random sizes against an index loop */
    rng_seed(31);
    for (int rep = 0; rep < 20; rep++) {
        const int64_t B = rng_size(), T = rng_size(), C = rng_size();
        const size_t n = (size_t)(B * T * C);
        float *x = rand_vec(n, -2, 2);
        rnnc_bbuf *cx = up(cpu, x, n), *cy;
        OK(cpu->alloc(RNNC_F32, n, &cy));
        OK(cpu->reverse_time(B, T, C, cx, cy));
        const float *y = cy->data;
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t c = 0; c < C; c++)
                    cr_assert_eq(y[(b * T + t) * C + c], x[(b * T + (T - 1 - t)) * C + c],
                                 "reverse_time [%lld, %lld, %lld]", (long long)b, (long long)t, (long long)c);
        /* copy_block: the block of columns [so, so + w) of (B*T, C) into
         * columns [do, do + w) of (B*T, C + 2) */
        const int64_t w = 1 + (int64_t)(rng_u32() % (uint32_t)C), so = C - w, dof = 2;
        float *d0 = rand_vec((size_t)(B * T * (C + 2)), -2, 2);
        rnnc_bbuf *cd = up(cpu, d0, (size_t)(B * T * (C + 2)));
        OK(cpu->copy_block(B * T, w, cx, C, so, cd, C + 2, dof, rep & 1));
        const float *d = cd->data;
        for (int64_t r = 0; r < B * T; r++)
            for (int64_t c = 0; c < C + 2; c++) {
                const float old = d0[r * (C + 2) + c];
                const bool in = c >= dof && c < dof + w;
                const float src = in ? x[r * C + so + c - dof] : 0.0f;
                const float e = !in ? old : (rep & 1) ? old + src : src;
                cr_assert_eq(d[r * (C + 2) + c], e, "copy_block [%lld, %lld]", (long long)r, (long long)c);
            }
        cpu->free(cx), cpu->free(cy), cpu->free(cd);
        free(x), free(d0);
    }
    cpu->free(bf), cpu->free(bg), cpu->free(out);
}

Test(backend_ops_cpu, gather_refuses_bad_ids_and_scatter_skips_them)
{
    cpu = rnnc_backend_ops_cpu();
    const float table[6] = {1, 2, 3, 4, 5, 6}, dy[6] = {10, 20, 30, 40, 50, 60};
    const int32_t bad[3] = {2, 3, 0}, neg[3] = {-1, 1, 1};
    rnnc_bbuf *t = up(cpu, table, 6), *d = up(cpu, dy, 6), *ib = up_i32(cpu, bad, 3),
              *in = up_i32(cpu, neg, 3), *out;
    OK(cpu->alloc(RNNC_F32, 6, &out));
    OK(cpu->fill(out, 7.0f));
    /* (3, 2) table: id 3 is out of range; nothing is written. */
    cr_assert_eq(cpu->gather_rows(3, 2, t, ib, out), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "gather_rows: id 3 at position 1 is outside [0, 3)"), "%s",
              rnnc_last_error());
    for (int i = 0; i < 6; i++)
        cr_assert_eq(((float *)out->data)[i], 7.0f, "gather wrote before failing");
    /* scatter skips -1; row 1 gets both of its additions. */
    OK(cpu->scatter_add_rows(3, 2, in, d, t));
    const double want[6] = {1, 2, 3 + 30 + 50, 4 + 40 + 60, 5, 6};
    expect_close_d(t->data, want, 6, 0, 0, "scatter with a skipped id");
    /* dtype and size errors name the op and the argument. */
    cr_assert_eq(cpu->gather_rows(3, 2, t, d, out), RNNC_E_DTYPE);
    cr_assert(strstr(rnnc_last_error(), "gather_rows: argument 'ids' must be int32"), "%s",
              rnnc_last_error());
    cr_assert_eq(cpu->scale_rows(2, 2, d, 1.0f, t, t), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "scale_rows: argument 'w'"), "%s", rnnc_last_error());
    cpu->free(t), cpu->free(d), cpu->free(ib), cpu->free(in), cpu->free(out);
}

/* The mean of rnnc's own metric (optim/metrics.c) over one row. */
static double optim_metric_row(rnnc_bmetric kind, float threshold, int64_t cols, const float *t,
                               int32_t id, const float *p)
{
    static const rnnc_metric_kind map[RNNC_BMETRIC_COUNT] = {
        [RNNC_BMETRIC_MAE] = RNNC_METRIC_MEAN_ABSOLUTE_ERROR,
        [RNNC_BMETRIC_MSE] = RNNC_METRIC_MEAN_SQUARED_ERROR,
        [RNNC_BMETRIC_ACCURACY] = RNNC_METRIC_ACCURACY,
        [RNNC_BMETRIC_BINARY_ACCURACY] = RNNC_METRIC_BINARY_ACCURACY,
        [RNNC_BMETRIC_CATEGORICAL_ACCURACY] = RNNC_METRIC_CATEGORICAL_ACCURACY,
        [RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY] = RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    };
    rnnc_metric *m;
    OK(rnnc_metric_create(map[kind], NULL, &m));
    rnnc_metric_set_threshold(m, threshold);
    const rnnc_shape ps = RNNC_SHAPE(1, cols), is = RNNC_SHAPE(1);
    rnnc_tensor *yp, *yt;
    OK(rnnc_tensor_create(RNNC_F32, &ps, &yp));
    memcpy(yp->data, p, (size_t)cols * sizeof *p);
    if (kind == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY) {
        OK(rnnc_tensor_create(RNNC_I32, &is, &yt));
        ((int32_t *)yt->data)[0] = id;
    } else {
        OK(rnnc_tensor_create(RNNC_F32, &ps, &yt));
        memcpy(yt->data, t, (size_t)cols * sizeof *t);
    }
    OK(rnnc_metric_update(m, yt, yp, NULL, NULL));
    const double r = rnnc_metric_result(m);
    rnnc_tensor_destroy(yp);
    rnnc_tensor_destroy(yt);
    rnnc_metric_destroy(m);
    return r;
}

Test(backend_ops_cpu, metrics_match_optim_metrics_and_float64_loops)
{
    cpu = rnnc_backend_ops_cpu();
    rng_seed(31);
    for (int kind = 0; kind < RNNC_BMETRIC_COUNT; kind++)
        for (int rep = 0; rep < 8; rep++) {
            const int64_t rows = rng_size(), cols = rng_size();
            const size_t n = (size_t)(rows * cols);
            const float thr = rep & 1 ? 0.5f : 0.25f;
            float *t = malloc(n * sizeof *t), *p = malloc(n * sizeof *p);
            int32_t *ids = malloc((size_t)rows * sizeof *ids);
            metric_data((rnnc_bmetric)kind, rows, cols, t, ids, p);
            const bool sp = kind == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY;
            rnnc_bbuf *ct = sp ? up_i32(cpu, ids, (size_t)rows) : up(cpu, t, n), *cp = up(cpu, p, n), *cv;
            OK(cpu->alloc(RNNC_F32, (size_t)rows, &cv));
            OK(cpu->metric((rnnc_bmetric)kind, thr, rows, cols, ct, cp, cv));
            for (int64_t r = 0; r < rows; r++) {
                const float *tr = t + r * cols, *pr = p + r * cols;
                /* float64 loop of the formula */
                double s = 0;
                int64_t at = 0, ap = 0;
                for (int64_t j = 0; j < cols; j++) {
                    const double d = (double)pr[j] - (double)tr[j];
                    s += kind == RNNC_BMETRIC_MAE ? fabs(d) : kind == RNNC_BMETRIC_MSE ? d * d
                         : kind == RNNC_BMETRIC_ACCURACY ? (double)(pr[j] == tr[j])
                         : (double)(((double)pr[j] > (double)thr ? 1.0f : 0.0f) == tr[j]);
                    at = tr[j] > tr[at] ? j : at;
                    ap = pr[j] > pr[ap] ? j : ap;
                }
                double want = s / (double)cols;
                if (kind == RNNC_BMETRIC_CATEGORICAL_ACCURACY)
                    want = at == ap;
                if (sp)
                    want = ids[r] == ap;
                const double got = ((float *)cv->data)[r];
                cr_assert(fabs(got - want) <= 1e-6 * (1 + fabs(want)), "metric %d row %lld: %.9g vs "
                          "float64 loop %.9g", kind, (long long)r, got, want);
                const double om = optim_metric_row((rnnc_bmetric)kind, thr, cols, tr, ids[r], pr);
                cr_assert(fabs(got - om) <= 1e-6 * (1 + fabs(om)), "metric %d row %lld: %.9g vs "
                          "optim/metrics.c %.9g", kind, (long long)r, got, om);
            }
            cpu->free(ct), cpu->free(cp), cpu->free(cv);
            free(t), free(p), free(ids);
        }
}

Test(backend_ops_cpu, metrics_hand_values)
{
    cpu = rnnc_backend_ops_cpu();
    /* Ties take the first maximum (TensorFlow's argmax): rows (1, 1, 0),
     * (0, 2, 2), (NaN, 5, 1) -> argmax 0, 1, 0. */
    const float p[9] = {1, 1, 0, 0, 2, 2, NAN, 5, 1};
    const float t[9] = {1, 0, 0, 0, 0, 1, 1, 0, 0}; /* argmax 0, 2, 0 */
    const int32_t ids[3] = {0, 2, 1};
    rnnc_bbuf *cp = up(cpu, p, 9), *ct = up(cpu, t, 9), *ci = up_i32(cpu, ids, 3), *v;
    OK(cpu->alloc(RNNC_F32, 3, &v));
    OK(cpu->metric(RNNC_BMETRIC_CATEGORICAL_ACCURACY, 0.5f, 3, 3, ct, cp, v));
    expect_close_d(v->data, (const double[]){1, 0, 1}, 3, 0, 0, "categorical_accuracy ties");
    OK(cpu->metric(RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY, 0.5f, 3, 3, ci, cp, v));
    expect_close_d(v->data, (const double[]){1, 0, 0}, 3, 0, 0, "sparse_categorical_accuracy ties");
    /* Threshold edges: p > 0.5 strictly; rows (0.5, 0.50000006), (1, 0). */
    const float pb[4] = {0.5f, 0.50000006f, 1.0f, 0.0f}, tb[4] = {0, 1, 1, 1};
    rnnc_bbuf *bp = up(cpu, pb, 4), *bt = up(cpu, tb, 4), *v2;
    OK(cpu->alloc(RNNC_F32, 2, &v2));
    OK(cpu->metric(RNNC_BMETRIC_BINARY_ACCURACY, 0.5f, 2, 2, bt, bp, v2));
    expect_close_d(v2->data, (const double[]){1, 0.5}, 2, 0, 0, "binary_accuracy at the threshold");
    OK(cpu->metric(RNNC_BMETRIC_BINARY_ACCURACY, 1.0f, 2, 2, bt, bp, v2));
    expect_close_d(v2->data, (const double[]){0.5, 0}, 2, 0, 0, "binary_accuracy, threshold 1");
    /* Accuracy is exact equality; MAE / MSE of (0.5 - 0, 0.50000006 - 1) etc. */
    OK(cpu->metric(RNNC_BMETRIC_ACCURACY, 0.5f, 2, 2, bt, bp, v2));
    expect_close_d(v2->data, (const double[]){0, 0.5}, 2, 0, 0, "accuracy");
    OK(cpu->metric(RNNC_BMETRIC_MAE, 0.5f, 2, 2, bt, bp, v2));
    expect_close_d(v2->data, (const double[]){(0.5 + (1 - 0.50000006)) / 2, 0.5}, 2, 1e-7, 0, "mae");
    OK(cpu->metric(RNNC_BMETRIC_MSE, 0.5f, 2, 2, bt, bp, v2));
    expect_close_d(v2->data, (const double[]){(0.25 + 0.2499999400000036) / 2, 0.5}, 2, 1e-7, 0, "mse");
    cr_assert_eq(cpu->metric(RNNC_BMETRIC_COUNT, 0.5f, 2, 2, bt, bp, v2), RNNC_E_ARG);
    cr_assert_eq(cpu->metric(RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY, 0.5f, 2, 2, bt, bp, v2),
                 RNNC_E_DTYPE);
    cpu->free(cp), cpu->free(ct), cpu->free(ci), cpu->free(v), cpu->free(bp), cpu->free(bt), cpu->free(v2);
}

/* ---- a tensor knows its device ------------------------------------------ */

Test(backend_ops_cpu, cpu_tensor_ops_refuse_a_tensor_of_another_device)
{
    rnnc_tensor *a, *b, *v, *y;
    const rnnc_shape s = RNNC_SHAPE(2, 3);
    OK(rnnc_tensor_create(RNNC_F32, &s, &a));
    OK(rnnc_tensor_create(RNNC_F32, &s, &b));
    cr_assert_eq(a->device, RNNC_DEVICE_CPU, "tensors are created on the CPU");
    rnnc_ctx *cx = rnnc_ctx_create();
    cr_assert(cx);
    OK(rnnc_add(cx, a, b, &y)); /* CPU tensors: as before */
    b->device = RNNC_DEVICE_CUDA;  /* as a device tensor would be marked */
    const int ax = 0;
    const rnnc_shape s6 = RNNC_SHAPE(6), s3 = RNNC_SHAPE(3);
#define EXPECT_REFUSED(call, want)                                                          \
    do {                                                                                    \
        cr_assert_eq((call), RNNC_E_UNSUPPORTED, "%s", #call);                              \
        cr_assert(strstr(rnnc_last_error(), want) && strstr(rnnc_last_error(), "CPU tensors only"), \
                  "%s: %s", #call, rnnc_last_error());                                     \
    } while (0)
    EXPECT_REFUSED(rnnc_add(cx, a, b, &y), "add: argument 'b' is a cuda tensor");
    EXPECT_REFUSED(rnnc_matmul(cx, a, b, false, true, &y), "matmul: argument 'b' is a cuda tensor");
    EXPECT_REFUSED(rnnc_activation(cx, RNNC_ACT_TANH, b, &y), "tanh: argument 'x' is a cuda tensor");
    EXPECT_REFUSED(rnnc_sum(cx, b, &ax, 1, false, &y), "argument 'x' is a cuda tensor");
    EXPECT_REFUSED(rnnc_reshape(cx, b, &s6, &y),
                   "reshape: argument 'x' is a cuda tensor");
    rnnc_tensor *const list[3] = {a, a, b}; /* the message names which one */
    EXPECT_REFUSED(rnnc_concat(cx, list, 3, 0, &y), "concat: argument 'xs[2]' is a cuda tensor");
    EXPECT_REFUSED(rnnc_stack(cx, list, 3, 0, &y), "stack: argument 'xs[2]' is a cuda tensor");
    OK(rnnc_tensor_view(b, 0, &s3, &v));
    cr_assert_eq(v->device, RNNC_DEVICE_CUDA, "a view lives where its storage does");
    EXPECT_REFUSED(rnnc_slice(cx, v, 0, 0, 1, &y), "slice: argument 'x' is a cuda tensor");
#undef EXPECT_REFUSED
    b->device = RNNC_DEVICE_CPU; /* its storage is host memory after all: free it as such */
    rnnc_tensor_destroy(v);
    rnnc_ctx_destroy(cx);
    rnnc_tensor_destroy(a);
    rnnc_tensor_destroy(b);
}

Test(backend_ops_cpu, ops_for_a_tensor_follow_its_device_and_dtype)
{
    rnnc_tensor *t;
    const rnnc_shape s = RNNC_SHAPE(4);
    const rnnc_backend_ops *b;
    OK(rnnc_tensor_create(RNNC_F32, &s, &t));
    OK(rnnc_backend_ops_for(t, RNNC_BOP_ADAM, "Adam update", &b));
    cr_assert_eq(b, rnnc_backend_ops_cpu());
    t->dtype = RNNC_F64; /* header only: nothing reads the data */
    cr_assert_eq(rnnc_backend_ops_for(t, RNNC_BOP_ADAM, "Adam update", &b), RNNC_E_UNSUPPORTED);
    cr_assert_str_eq(rnnc_last_error(), "Adam update: the cpu backend has no adam op for float64");
    t->dtype = RNNC_F32;
    t->device = RNNC_DEVICE_CUDA;
    if (!rnnc_device_available(RNNC_DEVICE_CUDA)) {
        cr_assert_eq(rnnc_backend_ops_for(t, RNNC_BOP_SGD, "SGD update", &b), RNNC_E_NODEV);
        cr_assert(strncmp(rnnc_last_error(), "SGD update: ", 12) == 0 && strstr(rnnc_last_error(), "CUDA"),
                  "%s", rnnc_last_error());
    }
    t->device = RNNC_DEVICE_CPU;
    rnnc_tensor_destroy(t);
}
