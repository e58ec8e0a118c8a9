/* cuda_gru_cases.h - the GPU backend's test cases, shared by
 * tests/test_cuda_gru.c (the real GPU; skipped without one) and
 * tests/test_cuda_emulated.c (the backend's C code on the CPU, against the
 * stand-ins of tests/cuda_emu). The including file sets `gpu` to the
 * backend's function table before calling a run_* function.
 *
 * The CPU reference is the independent scalar GRU of tests/helpers
 * (spec 1.2-1.4, 3.2 TensorFlow rule, 5.1) in double precision; gradients
 * are its central finite differences of
 *   L = sum(Y * dY) + sum(last * dL) + sum(state * dS)
 * with respect to kernel, recurrent_kernel, bias, x and h0. Random
 * configurations cover both kernels' options: sizes, go_backwards,
 * zero_output_for_mask, initial state, masks (right-padded for cuDNN, any
 * for the generic kernel, fully masked rows included), one input dropout
 * mask, and for the generic kernel the activation pair, use_bias and
 * reset_after. Tolerance 1e-4 (float32 on the device). */
#ifndef RNNC_TEST_CUDA_GRU_CASES_H
#define RNNC_TEST_CUDA_GRU_CASES_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend/cuda_api.h"
#include "helpers/fixture.h"

static const rnnc_cuda_api *gpu;

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s: %s", #expr, rnnc_last_error())

/* ---- deterministic random numbers (splitmix64) ---- */

static uint64_t rng_s;

static uint64_t next_u64(void)
{
    uint64_t z = (rng_s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uni(double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

static int irange(int lo, int hi) /* inclusive */
{
    return lo + (int)(next_u64() % (uint64_t)(hi - lo + 1));
}

static double *rand_array(size_t n, double lo, double hi)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    cr_assert(a);
    for (size_t i = 0; i < n; i++)
        a[i] = uni(lo, hi);
    return a;
}

/* ---- device helpers ---- */

static rnnc_dtensor *dev_from(const double *v, const rnnc_shape *shape)
{
    rnnc_tensor *h = NULL;
    OK(rnnc_tensor_from(RNNC_F64, shape, v, &h));
    rnnc_dtensor *d = NULL;
    OK(gpu->tensor_create(RNNC_F32, shape, &d));
    OK(gpu->upload(d, h));
    rnnc_tensor_destroy(h);
    return d;
}

static double *host_of(const rnnc_dtensor *d)
{
    rnnc_tensor *h = NULL;
    OK(rnnc_tensor_create(RNNC_F64, &d->shape, &h));
    OK(gpu->download(h, d));
    double *v = malloc((h->numel ? h->numel : 1) * sizeof *v);
    cr_assert(v);
    memcpy(v, h->data, h->numel * sizeof *v);
    rnnc_tensor_destroy(h);
    return v;
}

/* max |a - b| / max(1, |b|), b the reference. */
static double max_err(const double *a, const double *b, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fmax(1.0, fabs(b[i]));
        if (!(d <= e)) /* NaN counts */
            e = isnan(d) ? INFINITY : d;
    }
    return e;
}

/* ---- one random GRU case ---- */

typedef struct gcase {
    int64_t B, T, F, U;
    rnnc_act act, ract;
    const char *act_name, *ract_name;
    bool use_bias, reset_after, go_backwards, zofm, has_h0, has_mask, has_drop;
    rnnc_cuda_gru_kernel kernel;
    double *W, *R, *bias; /* (F, 3U), (U, 3U), (2, 3U) | (3U,) */
    double *x, *h0;       /* (B, T, F), (B, U) (zeros when !has_h0) */
    double *drop;         /* (B, F) or NULL */
    uint8_t *mask;        /* (B, T) or NULL */
    double *dY, *dL, *dS; /* (B, T, U), (B, U), (B, U) */
    char desc[256];
} gcase;

static size_t n_bias(const gcase *c)
{
    return c->use_bias ? (size_t)((c->reset_after ? 6 : 3) * c->U) : 0;
}

static const char *const ref_acts[] = {"tanh", "sigmoid", "linear", "relu", "hard_sigmoid",
                                       "softsign"};

static void make_case(gcase *c, rnnc_cuda_gru_kernel kernel, bool right_padded)
{
    memset(c, 0, sizeof *c);
    c->kernel = kernel;
    c->B = irange(1, 5);
    c->T = irange(1, 7);
    c->F = irange(1, 6);
    c->U = irange(1, 8);
    if (kernel == RNNC_CUDA_GRU_CUDNN) {
        c->act_name = "tanh";
        c->ract_name = "sigmoid";
        c->use_bias = true;
        c->reset_after = true;
    } else {
        /* Gates from the bounded activations: with linear or relu gates
         * h' = z h + (1 - z) h~ is a polynomial whose degree doubles each
         * step, and both float32 and the reference overflow. */
        static const char *const gate_acts[] = {"tanh", "sigmoid", "hard_sigmoid", "softsign"};
        c->act_name = ref_acts[irange(0, 5)];
        c->ract_name = gate_acts[irange(0, 3)];
        c->use_bias = irange(0, 3) != 0;
        c->reset_after = irange(0, 1);
    }
    cr_assert_eq(rnnc_act_from_name(c->act_name, "test", &c->act), RNNC_OK);
    cr_assert_eq(rnnc_act_from_name(c->ract_name, "test", &c->ract), RNNC_OK);
    c->go_backwards = irange(0, 1);
    c->zofm = irange(0, 2) == 0;
    c->has_h0 = irange(0, 1);
    c->has_mask = irange(0, 2) != 0;
    c->has_drop = irange(0, 2) == 0;
    const int64_t B = c->B, T = c->T, F = c->F, U = c->U;
    c->W = rand_array((size_t)(F * 3 * U), -0.6, 0.6);
    c->R = rand_array((size_t)(U * 3 * U), -0.6, 0.6);
    c->bias = rand_array(n_bias(c), -0.4, 0.4);
    c->x = rand_array((size_t)(B * T * F), -1.0, 1.0);
    c->h0 = rand_array((size_t)(B * U), -0.8, 0.8);
    if (!c->has_h0)
        memset(c->h0, 0, (size_t)(B * U) * sizeof *c->h0);
    if (c->has_drop) { /* inverted dropout at rate 0.3: 0 or 1/0.7 */
        c->drop = malloc((size_t)(B * F) * sizeof *c->drop);
        for (int64_t i = 0; i < B * F; i++)
            c->drop[i] = uni(0, 1) < 0.3 ? 0.0 : 1.0 / 0.7;
        /* Keep one feature per row: with every feature dropped, no bias and
         * a zero state a pre-activation is exactly 0, the kink of relu,
         * where finite differences average the two slopes. */
        for (int64_t b = 0; b < B; b++)
            c->drop[b * F + irange(0, (int)F - 1)] = 1.0 / 0.7;
    }
    if (c->has_mask) {
        c->mask = malloc((size_t)(B * T));
        for (int64_t b = 0; b < B; b++) {
            if (right_padded) { /* a kept prefix of 1..T steps */
                const int len = irange(1, (int)T);
                for (int64_t t = 0; t < T; t++)
                    c->mask[b * T + t] = t < len;
            } else { /* anything, fully masked rows included */
                for (int64_t t = 0; t < T; t++)
                    c->mask[b * T + t] = uni(0, 1) < 0.7;
            }
        }
    }
    c->dY = rand_array((size_t)(B * T * U), -1.0, 1.0);
    c->dL = rand_array((size_t)(B * U), -1.0, 1.0);
    c->dS = rand_array((size_t)(B * U), -1.0, 1.0);
    snprintf(c->desc, sizeof c->desc,
             "%s B=%lld T=%lld F=%lld U=%lld act=%s ract=%s bias=%d reset_after=%d back=%d "
             "zofm=%d h0=%d mask=%d drop=%d",
             kernel == RNNC_CUDA_GRU_CUDNN ? "cudnn" : "generic", (long long)B, (long long)T,
             (long long)F, (long long)U, c->act_name, c->ract_name, c->use_bias, c->reset_after,
             c->go_backwards, c->zofm, c->has_h0, c->has_mask, c->has_drop);
}

static void free_case(gcase *c)
{
    double *arrs[] = {c->W, c->R, c->bias, c->x, c->h0, c->drop, c->dY, c->dL, c->dS};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        free(arrs[i]);
    free(c->mask);
}

/* The reference forward; returns L. Y (B,T,U), last, hT (B,U) scratch. */
static double ref_run(const gcase *c, double *Y, double *last, double *hT)
{
    rnnc_ref_gru_args a = {
        .B = c->B, .T = c->T, .F = c->F, .U = c->U,
        .x = c->x, .h0 = c->h0, .W = c->W, .R = c->R,
        .bias = c->use_bias ? c->bias : NULL,
        .mask = c->mask,
        .in_mask = {c->drop, c->drop, c->drop}, /* one mask shared by the gates */
        .act = c->act_name, .ract = c->ract_name,
        .reset_after = c->reset_after, .go_backwards = c->go_backwards,
        .zero_output_for_mask = c->zofm,
    };
    cr_assert(rnnc_ref_gru(&a, Y, last, hT));
    const int64_t BU = c->B * c->U;
    double L = 0.0;
    for (int64_t i = 0; i < c->B * c->T * c->U; i++)
        L += Y[i] * c->dY[i];
    for (int64_t i = 0; i < BU; i++)
        L += last[i] * c->dL[i] + hT[i] * c->dS[i];
    return L;
}

/* Central differences of L with respect to every element of p. */
static double *fd_grad(gcase *c, double *p, size_t n, double *Y, double *last, double *hT)
{
    double *g = malloc((n ? n : 1) * sizeof *g);
    cr_assert(g);
    const double eps = 1e-6;
    for (size_t i = 0; i < n; i++) {
        const double keep = p[i];
        p[i] = keep + eps;
        const double lp = ref_run(c, Y, last, hT);
        p[i] = keep - eps;
        const double lm = ref_run(c, Y, last, hT);
        p[i] = keep;
        g[i] = (lp - lm) / (2.0 * eps);
    }
    return g;
}

typedef struct gpu_result {
    double *Y, *last, *state;          /* forward */
    double *dx, *dh0, *dW, *dR, *db;   /* backward */
} gpu_result;

static void free_result(gpu_result *r)
{
    double *arrs[] = {r->Y, r->last, r->state, r->dx, r->dh0, r->dW, r->dR, r->db};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++)
        free(arrs[i]);
}

static rnnc_shape bias_shape(const gcase *c)
{
    return c->reset_after ? RNNC_SHAPE(2, 3 * c->U) : RNNC_SHAPE(3 * c->U);
}

/* The GPU GRU's config for the case (the defaults' other fields). */
static rnnc_cuda_gru_config case_config(const gcase *c)
{
    rnnc_cuda_gru_config cfg = rnnc_cuda_gru_config_default(c->F, c->U);
    cfg.activation = c->act;
    cfg.recurrent_activation = c->ract;
    cfg.use_bias = c->use_bias;
    cfg.reset_after = c->reset_after;
    cfg.go_backwards = c->go_backwards;
    cfg.zero_output_for_mask = c->zofm;
    cfg.kernel = c->kernel;
    return cfg;
}

/* Runs the case on the GPU: forward (training), backward, downloads. */
static void gpu_run(const gcase *c, gpu_result *r)
{
    const int64_t B = c->B, T = c->T, F = c->F, U = c->U;
    const rnnc_cuda_gru_config cfg = case_config(c);
    rnnc_cuda_gru *g = NULL;
    OK(gpu->gru_create(&cfg, &g));

    const rnnc_shape ks = RNNC_SHAPE(F, 3 * U), rs = RNNC_SHAPE(U, 3 * U), bs = bias_shape(c);
    const rnnc_shape xs = RNNC_SHAPE(B, T, F), hs = RNNC_SHAPE(B, U), ys = RNNC_SHAPE(B, T, U);
    const rnnc_shape ds = RNNC_SHAPE(B, F), ms = RNNC_SHAPE(B, T);
    rnnc_dtensor *k = dev_from(c->W, &ks), *rk = dev_from(c->R, &rs);
    rnnc_dtensor *b = c->use_bias ? dev_from(c->bias, &bs) : NULL;
    OK(gpu->gru_set_weights(g, k, rk, b));
    rnnc_dtensor *x = dev_from(c->x, &xs);
    rnnc_dtensor *h0 = c->has_h0 ? dev_from(c->h0, &hs) : NULL;
    rnnc_dtensor *drop = c->drop ? dev_from(c->drop, &ds) : NULL;
    rnnc_tensor *mask = NULL;
    if (c->mask)
        OK(rnnc_tensor_from(RNNC_U8, &ms, c->mask, &mask));

    rnnc_cuda_gru_forward_args fa = {.x = x, .h0 = h0, .mask = mask, .dropout = drop,
                                     .training = true};
    rnnc_cuda_gru_outputs out;
    OK(gpu->gru_forward(g, &fa, &out));
    r->Y = host_of(out.outputs);
    r->last = host_of(out.last);
    r->state = host_of(out.state);

    rnnc_dtensor *dY = dev_from(c->dY, &ys), *dL = dev_from(c->dL, &hs), *dS = dev_from(c->dS, &hs);
    rnnc_cuda_gru_backward_args ba = {.d_outputs = dY, .d_last = dL, .d_state = dS};
    rnnc_cuda_gru_grads gr;
    OK(gpu->gru_backward(g, &ba, &gr));
    r->dx = host_of(gr.dx);
    r->dh0 = host_of(gr.dh0);
    r->dW = host_of(gr.dkernel);
    r->dR = host_of(gr.drecurrent_kernel);
    r->db = c->use_bias ? host_of(gr.dbias) : NULL;
    cr_expect_eq(gr.dbias == NULL, !c->use_bias);
    OK(gpu->synchronize());

    rnnc_dtensor *ts[] = {k, rk, b, x, h0, drop, dY, dL, dS};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        gpu->tensor_destroy(ts[i]);
    rnnc_tensor_destroy(mask);
    gpu->gru_destroy(g);
}

#define TOL 1e-4

static void check_case(gcase *c)
{
    const int64_t B = c->B, T = c->T, F = c->F, U = c->U;
    gpu_result r = {0};
    gpu_run(c, &r);

    double *Y = malloc((size_t)(B * T * U) * sizeof *Y);
    double *last = malloc((size_t)(B * U) * sizeof *last), *hT = malloc((size_t)(B * U) * sizeof *hT);
    ref_run(c, Y, last, hT);
    cr_expect_lt(max_err(r.Y, Y, (size_t)(B * T * U)), TOL, "outputs: %s", c->desc);
    cr_expect_lt(max_err(r.last, last, (size_t)(B * U)), TOL, "last: %s", c->desc);
    cr_expect_lt(max_err(r.state, hT, (size_t)(B * U)), TOL, "state: %s", c->desc);

    struct {
        const char *name;
        double *param, *gpu;
        size_t n;
    } gs[] = {
        {"dkernel", c->W, r.dW, (size_t)(F * 3 * U)},
        {"drecurrent_kernel", c->R, r.dR, (size_t)(U * 3 * U)},
        {"dbias", c->bias, r.db, n_bias(c)},
        {"dx", c->x, r.dx, (size_t)(B * T * F)},
        {"dh0", c->h0, r.dh0, (size_t)(B * U)},
    };
    for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
        if (!gs[i].n)
            continue;
        double *fd = fd_grad(c, gs[i].param, gs[i].n, Y, last, hT);
        const double e = max_err(gs[i].gpu, fd, gs[i].n);
        cr_expect_lt(e, TOL, "%s differs by %g: %s", gs[i].name, e, c->desc);
        free(fd);
    }
    free(Y);
    free(last);
    free(hT);
    free_result(&r);
}

static void run_cudnn_kernel_matches_the_cpu_on_random_configurations(void)
{
    rng_s = 0x5eed0001;
    for (int i = 0; i < 48; i++) {
        gcase c;
        make_case(&c, RNNC_CUDA_GRU_CUDNN, true);
        check_case(&c);
        free_case(&c);
    }
}

static void run_generic_kernel_matches_the_cpu_on_random_configurations(void)
{
    rng_s = 0x5eed0002;
    for (int i = 0; i < 96; i++) {
        gcase c;
        make_case(&c, RNNC_CUDA_GRU_GENERIC, irange(0, 3) == 0);
        check_case(&c);
        free_case(&c);
    }
}

static void run_both_gpu_kernels_agree_on_cudnn_configurations(void)
{
    rng_s = 0x5eed0003;
    for (int i = 0; i < 16; i++) {
        gcase c;
        make_case(&c, RNNC_CUDA_GRU_CUDNN, true);
        gpu_result a = {0}, b = {0};
        gpu_run(&c, &a);
        c.kernel = RNNC_CUDA_GRU_GENERIC;
        gpu_run(&c, &b);
        const int64_t B = c.B, T = c.T, F = c.F, U = c.U;
        cr_expect_lt(max_err(a.Y, b.Y, (size_t)(B * T * U)), 1e-5, "%s", c.desc);
        cr_expect_lt(max_err(a.state, b.state, (size_t)(B * U)), 1e-5, "%s", c.desc);
        cr_expect_lt(max_err(a.dx, b.dx, (size_t)(B * T * F)), 1e-4, "%s", c.desc);
        cr_expect_lt(max_err(a.dW, b.dW, (size_t)(F * 3 * U)), 1e-4, "%s", c.desc);
        cr_expect_lt(max_err(a.dR, b.dR, (size_t)(U * 3 * U)), 1e-4, "%s", c.desc);
        cr_expect_lt(max_err(a.db, b.db, n_bias(&c)), 1e-4, "%s", c.desc);
        free_result(&a);
        free_result(&b);
        free_case(&c);
    }
}

static void run_elementwise_activations_match_the_cpu(void)
{
    enum { N = 601 };
    double xs[N];
    for (int i = 0; i < N; i++) /* a grid over [-7.5, 7.5] with the kinks on it */
        xs[i] = -7.5 + 0.025 * i;
    const rnnc_shape s = RNNC_SHAPE(N);
    double ones[N];
    for (int i = 0; i < N; i++)
        ones[i] = 1.0;
    for (int a = 0; a < RNNC_ACT_COUNT; a++) {
        if (!rnnc_act_is_elementwise((rnnc_act)a))
            continue;
        rnnc_dtensor *x = dev_from(xs, &s), *y = NULL, *dx = NULL, *dy = dev_from(ones, &s);
        OK(gpu->tensor_create(RNNC_F32, &s, &y));
        OK(gpu->tensor_create(RNNC_F32, &s, &dx));
        OK(gpu->activation((rnnc_act)a, x, y));
        OK(gpu->activation_backward((rnnc_act)a, x, y, dy, dx));
        double *yv = host_of(y), *dv = host_of(dx);
        double ey = 0.0, ed = 0.0;
        for (int i = 0; i < N; i++) {
            /* the input the GPU saw is xs[i] rounded to float */
            const double xf = (double)(float)xs[i];
            const double want = rnnc_act_apply((rnnc_act)a, xf);
            const double dwant = rnnc_act_deriv((rnnc_act)a, xf, want);
            ey = fmax(ey, fabs(yv[i] - want) / fmax(1.0, fabs(want)));
            ed = fmax(ed, fabs(dv[i] - dwant) / fmax(1.0, fabs(dwant)));
        }
        cr_expect_lt(ey, 1e-5, "%s forward differs by %g", rnnc_act_name((rnnc_act)a), ey);
        cr_expect_lt(ed, 1e-5, "%s derivative differs by %g", rnnc_act_name((rnnc_act)a), ed);
        free(yv);
        free(dv);
        gpu->tensor_destroy(x);
        gpu->tensor_destroy(y);
        gpu->tensor_destroy(dx);
        gpu->tensor_destroy(dy);
    }
    /* Not element-wise: refused with a message. */
    rnnc_dtensor *x = NULL;
    OK(gpu->tensor_create(RNNC_F32, &s, &x));
    cr_expect_eq(gpu->activation(RNNC_ACT_SOFTMAX, x, x), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "softmax"), "%s", rnnc_last_error());
    gpu->tensor_destroy(x);
}

static void run_cudnn_kernel_refuses_what_cudnn_cannot_do(void)
{
    rnnc_cuda_gru *g = NULL;
    rnnc_cuda_gru_config cfg = rnnc_cuda_gru_config_default(3, 4);
    cfg.activation = RNNC_ACT_RELU;
    cr_expect_eq(gpu->gru_create(&cfg, &g), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "activation is 'relu'"), "%s", rnnc_last_error());
    cfg = rnnc_cuda_gru_config_default(3, 4);
    cfg.reset_after = false;
    cr_expect_eq(gpu->gru_create(&cfg, &g), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "reset_after=False"), "%s", rnnc_last_error());
    /* The generic kernel takes both. */
    cfg.kernel = RNNC_CUDA_GRU_GENERIC;
    cfg.activation = RNNC_ACT_RELU;
    OK(gpu->gru_create(&cfg, &g));
    gpu->gru_destroy(g);

    /* Masks: left padding and fully masked rows are refused at call time. */
    cfg = rnnc_cuda_gru_config_default(3, 4);
    OK(gpu->gru_create(&cfg, &g));
    rng_s = 7;
    double *w = rand_array(3 * 12, -0.5, 0.5), *r = rand_array(4 * 12, -0.5, 0.5);
    double *bb = rand_array(24, -0.5, 0.5), *xv = rand_array(2 * 3 * 3, -1, 1);
    const rnnc_shape ks = RNNC_SHAPE(3, 12), rs = RNNC_SHAPE(4, 12), bs = RNNC_SHAPE(2, 12);
    const rnnc_shape xs = RNNC_SHAPE(2, 3, 3), ms = RNNC_SHAPE(2, 3);
    rnnc_dtensor *k = dev_from(w, &ks), *rk = dev_from(r, &rs), *b = dev_from(bb, &bs);
    rnnc_dtensor *x = dev_from(xv, &xs);
    OK(gpu->gru_set_weights(g, k, rk, b));
    const uint8_t left[6] = {1, 1, 1, 0, 1, 1}, full[6] = {1, 0, 0, 0, 0, 0};
    rnnc_tensor *m = NULL;
    OK(rnnc_tensor_from(RNNC_U8, &ms, left, &m));
    rnnc_cuda_gru_forward_args fa = {.x = x, .mask = m, .training = true};
    rnnc_cuda_gru_outputs out;
    cr_expect_eq(gpu->gru_forward(g, &fa, &out), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "right-padded"), "%s", rnnc_last_error());
    memcpy(m->data, full, 6);
    cr_expect_eq(gpu->gru_forward(g, &fa, &out), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "fully masked"), "%s", rnnc_last_error());
    /* Backward without a successful training forward. */
    rnnc_cuda_gru_backward_args ba = {0};
    rnnc_cuda_gru_grads gr;
    cr_expect_eq(gpu->gru_backward(g, &ba, &gr), RNNC_E_STATE);
    /* Wrong feature count. */
    const rnnc_shape bad = RNNC_SHAPE(2, 3, 5);
    rnnc_dtensor *xb = NULL;
    OK(gpu->tensor_create(RNNC_F32, &bad, &xb));
    fa.x = xb;
    fa.mask = NULL;
    cr_expect_eq(gpu->gru_forward(g, &fa, &out), RNNC_E_SHAPE);
    rnnc_dtensor *ts[] = {k, rk, b, x, xb};
    for (size_t i = 0; i < 5; i++)
        gpu->tensor_destroy(ts[i]);
    rnnc_tensor_destroy(m);
    free(w);
    free(r);
    free(bb);
    free(xv);
    gpu->gru_destroy(g);
}

/* A fixed-shape training loop: after the first step no cudaMalloc, and
 * weight gradients accumulate until zero_grad. */
static void loop_case(rnnc_cuda_gru_kernel kernel)
{
    rng_s = 11 + (uint64_t)kernel;
    const int64_t B = 4, T = 6, F = 5, U = 7;
    rnnc_cuda_gru_config cfg = rnnc_cuda_gru_config_default(F, U);
    cfg.kernel = kernel;
    rnnc_cuda_gru *g = NULL;
    OK(gpu->gru_create(&cfg, &g));
    double *w = rand_array((size_t)(F * 3 * U), -0.5, 0.5), *r = rand_array((size_t)(U * 3 * U), -0.5, 0.5);
    double *bb = rand_array((size_t)(6 * U), -0.5, 0.5), *xv = rand_array((size_t)(B * T * F), -1, 1);
    double *dyv = rand_array((size_t)(B * T * U), -1, 1);
    const rnnc_shape ks = RNNC_SHAPE(F, 3 * U), rs = RNNC_SHAPE(U, 3 * U), bs = RNNC_SHAPE(2, 3 * U);
    const rnnc_shape xs = RNNC_SHAPE(B, T, F), ys = RNNC_SHAPE(B, T, U), ms = RNNC_SHAPE(B, T);
    rnnc_dtensor *k = dev_from(w, &ks), *rk = dev_from(r, &rs), *b = dev_from(bb, &bs);
    rnnc_dtensor *x = dev_from(xv, &xs), *dy = dev_from(dyv, &ys);
    uint8_t mv[4 * 6];
    for (int64_t i = 0; i < B; i++)
        for (int64_t t = 0; t < T; t++)
            mv[i * T + t] = t < T - i;
    rnnc_tensor *m = NULL;
    OK(rnnc_tensor_from(RNNC_U8, &ms, mv, &m));
    rnnc_cuda_gru_forward_args fa = {.x = x, .mask = m, .training = true};
    rnnc_cuda_gru_backward_args ba = {.d_outputs = dy};
    rnnc_cuda_gru_outputs out;
    rnnc_cuda_gru_grads gr;
    rnnc_cuda_stats st0 = {0}, st1 = {0};
    double *first = NULL;
    for (int step = 0; step < 5; step++) {
        OK(gpu->gru_set_weights(g, k, rk, b));
        OK(gpu->gru_zero_grad(g));
        OK(gpu->gru_forward(g, &fa, &out));
        OK(gpu->gru_backward(g, &ba, &gr));
        OK(gpu->synchronize());
        if (step == 0) {
            OK(gpu->stats(&st0));
            first = host_of(gr.dkernel);
        }
    }
    OK(gpu->stats(&st1));
    cr_expect_eq(st1.device_mallocs, st0.device_mallocs,
                 "steps 2-5 called cudaMalloc %llu times",
                 (unsigned long long)(st1.device_mallocs - st0.device_mallocs));
    /* One more backward pass without zero_grad: twice the gradient. */
    OK(gpu->gru_forward(g, &fa, &out));
    OK(gpu->gru_backward(g, &ba, &gr));
    double *twice = host_of(gr.dkernel);
    double e = 0.0;
    for (int64_t i = 0; i < F * 3 * U; i++)
        e = fmax(e, fabs(twice[i] - 2.0 * first[i]) / fmax(1.0, fabs(first[i])));
    cr_expect_lt(e, 1e-5, "weight gradients must accumulate (err %g)", e);
    /* A second backward for the same forward is refused. */
    cr_expect_eq(gpu->gru_backward(g, &ba, &gr), RNNC_E_STATE);
    free(first);
    free(twice);
    rnnc_dtensor *ts[] = {k, rk, b, x, dy};
    for (size_t i = 0; i < 5; i++)
        gpu->tensor_destroy(ts[i]);
    rnnc_tensor_destroy(m);
    free(w);
    free(r);
    free(bb);
    free(xv);
    free(dyv);
    gpu->gru_destroy(g);
}

static void run_training_loop_stops_allocating_and_gradients_accumulate(void)
{
    loop_case(RNNC_CUDA_GRU_CUDNN);
    loop_case(RNNC_CUDA_GRU_GENERIC);
}

static void run_device_tensors_round_trip(void)
{
    char desc[256];
    OK(gpu->device_describe(desc, sizeof desc));
    cr_log_info("GPU: %s", desc);
    const rnnc_shape s = RNNC_SHAPE(3, 5);
    double v[15];
    for (int i = 0; i < 15; i++)
        v[i] = i * 0.25 - 1.0;
    rnnc_dtensor *d = dev_from(v, &s), *e = NULL;
    OK(gpu->tensor_create(RNNC_F32, &s, &e));
    double *z = host_of(e); /* created zero-filled */
    for (int i = 0; i < 15; i++)
        cr_expect_eq(z[i], 0.0);
    OK(gpu->copy(e, d));
    double *w = host_of(e);
    for (int i = 0; i < 15; i++)
        cr_expect_eq(w[i], v[i]);
    OK(gpu->fill(e, 2.5f));
    double *f = host_of(e);
    for (int i = 0; i < 15; i++)
        cr_expect_eq(f[i], 2.5);
    rnnc_tensor *wrong = NULL;
    const rnnc_shape s2 = RNNC_SHAPE(5, 3);
    OK(rnnc_tensor_create(RNNC_F32, &s2, &wrong));
    cr_expect_eq(gpu->download(wrong, e), RNNC_E_SHAPE);
    rnnc_tensor_destroy(wrong);
    rnnc_dtensor *bad = NULL;
    cr_expect_eq(gpu->tensor_create(RNNC_F64, &s, &bad), RNNC_E_DTYPE);
    free(z);
    free(w);
    free(f);
    gpu->tensor_destroy(d);
    gpu->tensor_destroy(e);
    gpu->tensor_destroy(NULL);
}

#endif
