/* test_backend_ops_gru.c - the GRU op of the backend table
 * (backend_ops.h gru_create / gru_forward / gru_backward), the part of
 * test_backend_ops.c's "every op on every backend" that needs fixtures.
 *
 * The CPU backend's GRU against:
 *   - Keras 3.15.1 itself: the GRU fixtures of tests/fixtures/gru (made by
 *     tests/gen_gru_fixtures.py, also read by test_gru_keras.c): outputs and
 *     final states of every case with element-wise activations, and the
 *     gradients of x, the initial state and the weights of every case whose
 *     cotangents the op can take (no return_state unless the state equals
 *     the last output, no regularization losses); and, for the masked cases
 *     those leave out (the last output, zero_output_for_mask, go_backwards
 *     and reset_after=False with masks), the twins without return_state of
 *     tests/fixtures/gru_op (tests/gen_backend_gru_fixtures.py);
 *   - central finite differences in double of the independent double
 *     reference GRU of tests/helpers/fixture.c (rnnc_ref_gru) on tiny cases
 *     (masks, go_backwards, zero_output_for_mask, reset_after both, no bias);
 *   - the argument and state rules (RNNC_E_STATE for a second backward).
 * Then every available backend against the CPU one ("cuda-emu": the CUDA
 * backend's C code on the emulation of tests/cuda_emu; "cuda": the real
 * GPU, skipped without one): forward outputs and all gradients, cuDNN on
 * and off, right-padded masks (cuDNN) and arbitrary ones (generic),
 * go_backwards, reset_after false (generic), random sizes with 1 and odd
 * ones. Backward accumulates into the weight gradients: every comparison
 * starts them from random values. */
#include "cuda_emu/cuda_backend_sources.c"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_ops_test_util.h"
#include "framework/backend_ops.h"
#include "helpers/fixture.h"
#include "backend_ops_rnn_fixture.h"


/* ---- random data (backend_ops_test_util.h) -------------------------------- */


/* ---- one GRU call on a backend ------------------------------------------- */

typedef struct gru_case {
    rnnc_bgru_config c;
    int64_t B, T;
    float *x, *h0, *W, *R, *bias, *dy; /* h0, bias may be NULL */
    uint8_t *mask;                      /* may be NULL */
    float *gW0, *gR0, *gB0;             /* initial weight gradients (accumulated into) */
} gru_case;

typedef struct gru_result {
    float *y, *state, *dx, *dh0, *dW, *dR, *dB;
} gru_result;

static size_t n_y(const gru_case *k)
{
    return (size_t)(k->B * k->c.units * (k->c.return_sequences ? k->T : 1));
}

static size_t n_bias(const gru_case *k)
{
    return (size_t)((k->c.reset_after ? 6 : 3) * k->c.units);
}

/* Forward (training) and backward of case k on backend b. */
static gru_result run_gru(const rnnc_backend_ops *b, const gru_case *k)
{
    const int64_t B = k->B, T = k->T, F = k->c.input_size, U = k->c.units;
    rnnc_bgru *g;
    OK(b->gru_create(&k->c, &g));
    rnnc_bbuf *x = up(b, k->x, (size_t)(B * T * F)), *h0 = up(b, k->h0, (size_t)(B * U));
    rnnc_bbuf *W = up(b, k->W, (size_t)(F * 3 * U)), *R = up(b, k->R, (size_t)(U * 3 * U));
    rnnc_bbuf *bias = k->c.use_bias ? up(b, k->bias, n_bias(k)) : NULL;
    rnnc_bbuf *y = zeros(b, n_y(k)), *state = zeros(b, (size_t)(B * U));
    rnnc_bbuf *dy = up(b, k->dy, n_y(k)), *dx = zeros(b, (size_t)(B * T * F)),
              *dh0 = zeros(b, (size_t)(B * U));
    rnnc_bbuf *dW = up(b, k->gW0, (size_t)(F * 3 * U)), *dR = up(b, k->gR0, (size_t)(U * 3 * U));
    rnnc_bbuf *dB = k->c.use_bias ? up(b, k->gB0, n_bias(k)) : NULL;
    /* A first step on the same object, its weight gradients thrown away:
     * the second must neither see its state nor its gradients. */
    OK(b->gru_forward(g, B, T, x, h0, k->mask, W, R, bias, true, y, state));
    rnnc_bbuf *sW = zeros(b, (size_t)(F * 3 * U)), *sR = zeros(b, (size_t)(U * 3 * U)),
              *sB = k->c.use_bias ? zeros(b, n_bias(k)) : NULL;
    OK(b->gru_backward(g, dy, dx, dh0, sW, sR, sB));
    b->free(sW), b->free(sR), b->free(sB);
    OK(b->fill(y, 0.0f));
    OK(b->gru_forward(g, B, T, x, h0, k->mask, W, R, bias, true, y, state));
    OK(b->gru_backward(g, dy, dx, dh0, dW, dR, dB));
    cr_assert_eq(b->gru_backward(g, dy, dx, dh0, dW, dR, dB), RNNC_E_STATE, "a second backward");
    b->gru_destroy(g);
    b->free(x), b->free(h0), b->free(W), b->free(R), b->free(bias), b->free(dy);
    gru_result r = {down(y), down(state), down(dx), down(dh0), down(dW), down(dR), down(dB)};
    return r;
}

static void result_free(gru_result *r)
{
    free(r->y), free(r->state), free(r->dx), free(r->dh0), free(r->dW), free(r->dR), free(r->dB);
}

static void case_free(gru_case *k)
{
    free(k->x), free(k->h0), free(k->W), free(k->R), free(k->bias), free(k->dy), free(k->mask);
    free(k->gW0), free(k->gR0), free(k->gB0);
}

/* |a - b| <= atol + rtol |b| everywhere. */
static void expect_close(const float *a, const float *b, size_t n, double rtol, double atol,
                         const char *what, const char *name)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)a[i] - (double)b[i]) <= atol + rtol * fabs((double)b[i]),
                  "%s: %s [%zu]: %.9g vs %.9g", name, what, i, (double)a[i], (double)b[i]);
}

/* got - initial (an accumulated gradient's own part) against want. */
static void expect_grad(const float *got, const float *init, const float *want, size_t n,
                        double rtol, double atol, const char *what, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const double g = (double)got[i] - (init ? (double)init[i] : 0.0);
        cr_assert(fabs(g - (double)want[i]) <= atol + rtol * fabs((double)want[i]),
                  "%s: %s [%zu]: %.9g vs %.9g", name, what, i, g, (double)want[i]);
    }
}

/* ---- the CPU op against Keras 3.15.1 ------------------------------------- */

#define CASES_DIR RNNC_FIXTURES "/gru"

/* Loads a Keras case into k; false (skipped) when the op cannot express it. */
static bool load_keras_case(const char *dir, const char *name, gru_case *k, rnnc_fixture **fxo,
                            bool *grads)
{
    char path[512], *json = NULL;
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    rnnc_fixture *fx = case_open(path, &json);
    memset(k, 0, sizeof *k);
    if (!case_usable(fx, json, &k->c.activation, &k->c.recurrent_activation))
        return false;
    k->c.use_bias = json_flag(json, "use_bias");
    k->c.reset_after = json_flag(json, "reset_after");
    k->c.go_backwards = json_flag(json, "go_backwards");
    k->c.return_sequences = json_flag(json, "return_sequences");
    k->c.zero_output_for_mask = json_flag(json, "zero_output_for_mask");
    const bool ret_state = json_flag(json, "return_state");
    free(json);
    k->x = read_x(fx, &k->B, &k->T, &k->c.input_size);
    size_t nr;
    k->R = read_f32(fx, "recurrent_kernel", &nr);
    k->c.units = (int64_t)llround(sqrt((double)nr / 3.0));
    k->W = read_f32(fx, "kernel", NULL);
    if (k->c.use_bias)
        k->bias = read_f32(fx, "bias", NULL);
    if (rnnc_fixture_has(fx, "initial_state"))
        k->h0 = read_f32(fx, "initial_state", NULL);
    k->mask = read_mask(fx);
    k->dy = read_f32(fx, "dy_0", NULL);
    /* The op takes no cotangent for the state: fold it into the last output
     * where they are the same tensor (no mask, the last output returned). */
    const double losses = read_losses(fx);
    *grads = losses == 0.0 && (!ret_state || (!k->mask && !k->c.return_sequences));
    if (ret_state && *grads) {
        float *d1 = read_f32(fx, "dy_1", NULL);
        for (size_t i = 0; i < n_y(k); i++)
            k->dy[i] += d1[i];
        free(d1);
    }
    const size_t F = (size_t)k->c.input_size, U = (size_t)k->c.units;
    k->gW0 = rand_vec(F * 3 * U, -1, 1), k->gR0 = rand_vec(U * 3 * U, -1, 1);
    k->gB0 = k->c.use_bias ? rand_vec(n_bias(k), -1, 1) : NULL;
    *fxo = fx;
    return true;
}

static void expect_dataset(rnnc_fixture *fx, const char *ds, const float *got, const float *init,
                           size_t n, double tol, const char *name)
{
    size_t nw;
    float *want = read_f32(fx, ds, &nw);
    cr_assert_eq(nw, n, "%s: %s has %zu values, the op gave %zu", name, ds, nw, n);
    expect_grad(got, init, want, n, tol, tol, ds, name);
    free(want);
}

/* Every case of dir/cases.txt the op can express, on the CPU backend. */
static void keras_cases(const char *dir, int *n_fwd, int *n_grad)
{
    char list[512], line[256];
    snprintf(list, sizeof list, "%s/cases.txt", dir);
    FILE *f = fopen(list, "r");
    cr_assert(f, "cannot open %s", list);
    *n_fwd = *n_grad = 0;
    rng_seed(1);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        gru_case k;
        rnnc_fixture *fx;
        bool grads;
        if (!load_keras_case(dir, line, &k, &fx, &grads))
            continue;
        gru_result r = run_gru(cpu, &k);
        /* float32 against Keras's float64 (or float32) numbers */
        const double tol = 2e-5;
        expect_dataset(fx, "output_0", r.y, NULL, n_y(&k), tol, line);
        if (rnnc_fixture_has(fx, "output_1"))
            expect_dataset(fx, "output_1", r.state, NULL, (size_t)(k.B * k.c.units), tol, line);
        (*n_fwd)++;
        if (grads) {
            const size_t F = (size_t)k.c.input_size, U = (size_t)k.c.units;
            const double gt = 1e-4;
            expect_dataset(fx, "grad_x", r.dx, NULL, (size_t)k.B * (size_t)k.T * F, gt, line);
            if (k.h0)
                expect_dataset(fx, "grad_initial_state", r.dh0, NULL, (size_t)k.B * U, gt, line);
            expect_dataset(fx, "grad_kernel", r.dW, k.gW0, F * 3 * U, gt, line);
            expect_dataset(fx, "grad_recurrent_kernel", r.dR, k.gR0, U * 3 * U, gt, line);
            if (k.c.use_bias)
                expect_dataset(fx, "grad_bias", r.dB, k.gB0, n_bias(&k), gt, line);
            (*n_grad)++;
        }
        result_free(&r);
        case_free(&k);
        rnnc_fixture_close(fx);
    }
    fclose(f);
}

Test(backend_ops_gru_cpu, matches_keras_outputs_and_gradients)
{
    cpu = rnnc_backend_ops_cpu();
    int n_fwd, n_grad;
    keras_cases(CASES_DIR, &n_fwd, &n_grad);
    /* cases.txt has 50-odd element-wise cases; most with gradients */
    cr_assert_geq(n_fwd, 50, "only %d Keras cases ran", n_fwd);
    cr_assert_geq(n_grad, 35, "only %d Keras cases had gradients checked", n_grad);
}

/* tests/gen_backend_gru_fixtures.py: masks with the last output,
 * zero_output_for_mask, go_backwards, reset_after=False, no return_state. */
Test(backend_ops_gru_cpu, matches_keras_masked_gradients)
{
    cpu = rnnc_backend_ops_cpu();
    int n_fwd, n_grad;
    keras_cases(RNNC_FIXTURES "/gru_op", &n_fwd, &n_grad);
    cr_assert_eq(n_fwd, 9, "%d of the 9 cases ran", n_fwd);
    cr_assert_eq(n_grad, 9, "%d of the 9 cases had gradients checked", n_grad);
}

/* ---- the CPU op against finite differences of a double reference -------- */

static const char *ref_name(rnnc_act a)
{
    switch (a) {
    case RNNC_ACT_TANH: return "tanh";
    case RNNC_ACT_SIGMOID: return "sigmoid";
    case RNNC_ACT_LINEAR: return "linear";
    case RNNC_ACT_RELU: return "relu";
    case RNNC_ACT_HARD_SIGMOID: return "hard_sigmoid";
    default: return "softsign";
    }
}

/* sum(y * dy) of the reference GRU in double, y as the op returns it. */
static double ref_loss(const gru_case *k, const double *x, const double *h0, const double *W,
                       const double *R, const double *bias, double *y_out)
{
    const int64_t B = k->B, T = k->T, U = k->c.units;
    double *Y = malloc((size_t)(B * T * U) * sizeof *Y), *last = malloc((size_t)(B * U) * sizeof *last),
           *hT = malloc((size_t)(B * U) * sizeof *hT);
    const rnnc_ref_gru_args a = {
        .B = B, .T = T, .F = k->c.input_size, .U = U, .x = x, .h0 = h0, .W = W, .R = R,
        .bias = bias, .mask = k->mask, .act = ref_name(k->c.activation),
        .ract = ref_name(k->c.recurrent_activation), .reset_after = k->c.reset_after,
        .go_backwards = k->c.go_backwards, .zero_output_for_mask = k->c.zero_output_for_mask,
    };
    cr_assert(rnnc_ref_gru(&a, Y, last, hT));
    const double *y = k->c.return_sequences ? Y : last;
    double s = 0;
    for (size_t i = 0; i < n_y(k); i++) {
        s += y[i] * (double)k->dy[i];
        if (y_out)
            y_out[i] = y[i];
    }
    free(Y), free(last), free(hT);
    return s;
}

/* A random tiny case; mask_kind 0 none, 1 right-padded, 2 arbitrary (with a
 * fully masked row and leading masked steps). */
static gru_case random_case(int64_t B, int64_t T, int64_t F, int64_t U, int mask_kind, bool h0,
                            float wscale)
{
    gru_case k;
    memset(&k, 0, sizeof k);
    k.B = B, k.T = T;
    k.c.input_size = F, k.c.units = U;
    k.c.activation = RNNC_ACT_TANH, k.c.recurrent_activation = RNNC_ACT_SIGMOID;
    k.c.use_bias = k.c.reset_after = true;
    k.x = rand_vec((size_t)(B * T * F), -1, 1);
    k.h0 = h0 ? rand_vec((size_t)(B * U), -1, 1) : NULL;
    k.W = rand_vec((size_t)(F * 3 * U), -wscale, wscale);
    k.R = rand_vec((size_t)(U * 3 * U), -wscale, wscale);
    k.bias = rand_vec((size_t)(6 * U), -0.5f, 0.5f);
    if (mask_kind) {
        k.mask = malloc((size_t)(B * T));
        for (int64_t b = 0; b < B; b++) {
            const int64_t len = 1 + (int64_t)(rng_u32() % (uint32_t)T);
            for (int64_t t = 0; t < T; t++)
                k.mask[b * T + t] = mask_kind == 1 ? t < len : (rng_u32() % 3) != 0;
        }
        if (mask_kind == 2 && B > 1) {
            memset(k.mask + (B - 1) * T, 0, (size_t)T); /* a fully masked row */
            k.mask[0] = 0;                              /* a leading masked step */
        }
    }
    k.gW0 = rand_vec((size_t)(F * 3 * U), -1, 1);
    k.gR0 = rand_vec((size_t)(U * 3 * U), -1, 1);
    k.gB0 = rand_vec((size_t)(6 * U), -1, 1);
    return k;
}

static void set_outputs(gru_case *k, bool seq)
{
    k->c.return_sequences = seq;
    free(k->dy);
    k->dy = rand_vec(n_y(k), -1, 1);
}

/* d sum(y dy) / d p[i] for every element of one parameter, by central
 * differences of the double reference; p is the parameter's double copy. */
static void fd_check(const gru_case *k, double *const ps[5], int which, size_t n, const float *got,
                     const float *init, const char *what, const char *name)
{
    double *p = ps[which];
    for (size_t i = 0; i < n; i++) {
        const double h = 1e-6, save = p[i];
        p[i] = save + h;
        const double lp = ref_loss(k, ps[0], ps[1], ps[2], ps[3], ps[4], NULL);
        p[i] = save - h;
        const double lm = ref_loss(k, ps[0], ps[1], ps[2], ps[3], ps[4], NULL);
        p[i] = save;
        const double want = (lp - lm) / (2 * h);
        const double g = (double)got[i] - (init ? (double)init[i] : 0.0);
        cr_assert(fabs(g - want) <= 2e-4 * (1 + fabs(want)), "%s: d/d%s[%zu]: op %.9g, finite "
                  "differences %.9g", name, what, i, g, want);
    }
}

Test(backend_ops_gru_cpu, gradients_match_finite_differences_of_a_double_reference)
{
    cpu = rnnc_backend_ops_cpu();
    static const rnnc_act acts[][2] = {{RNNC_ACT_TANH, RNNC_ACT_SIGMOID},
                                       {RNNC_ACT_SOFTSIGN, RNNC_ACT_HARD_SIGMOID},
                                       {RNNC_ACT_LINEAR, RNNC_ACT_TANH}};
    rng_seed(2);
    for (int v = 0; v < 24; v++) {
        const int64_t B = 1 + v % 3, T = 1 + v % 4, F = 1 + v % 3, U = 1 + (v / 3) % 3;
        gru_case k = random_case(B, T, F, U, v % 3, v & 1, 0.8f);
        k.c.reset_after = !(v & 2);
        k.c.use_bias = v % 5 != 4;
        k.c.go_backwards = (v & 4) != 0;
        k.c.zero_output_for_mask = (v % 7) == 3;
        k.c.activation = acts[v % 3][0];
        k.c.recurrent_activation = acts[v % 3][1];
        set_outputs(&k, (v & 8) != 0);
        char name[160];
        snprintf(name, sizeof name, "case %d (B %lld T %lld F %lld U %lld %s mask %d %s%s%s%s)", v,
                 (long long)B, (long long)T, (long long)F, (long long)U,
                 k.c.reset_after ? "reset_after" : "reset_before", v % 3,
                 k.c.use_bias ? "" : "no bias ", k.c.go_backwards ? "backwards " : "",
                 k.c.zero_output_for_mask ? "zofm " : "", k.c.return_sequences ? "seq" : "last");
        gru_result r = run_gru(cpu, &k);
        const size_t nx = (size_t)(B * T * F), nh = (size_t)(B * U), nw = (size_t)(F * 3 * U),
                     nr = (size_t)(U * 3 * U), nb = n_bias(&k);
        double *ps[5] = {to_d(k.x, nx), k.h0 ? to_d(k.h0, nh) : NULL, to_d(k.W, nw), to_d(k.R, nr),
                         k.c.use_bias ? to_d(k.bias, nb) : NULL};
        double *yref = malloc(n_y(&k) * sizeof *yref);
        ref_loss(&k, ps[0], ps[1], ps[2], ps[3], ps[4], yref);
        expect_ref_y(r.y, yref, n_y(&k), name);
        fd_check(&k, ps, 0, nx, r.dx, NULL, "x", name);
        if (k.h0)
            fd_check(&k, ps, 1, nh, r.dh0, NULL, "h0", name);
        fd_check(&k, ps, 2, nw, r.dW, k.gW0, "kernel", name);
        fd_check(&k, ps, 3, nr, r.dR, k.gR0, "recurrent_kernel", name);
        if (k.c.use_bias)
            fd_check(&k, ps, 4, nb, r.dB, k.gB0, "bias", name);
        for (int i = 0; i < 5; i++)
            free(ps[i]);
        free(yref);
        result_free(&r);
        case_free(&k);
    }
}

Test(backend_ops_gru_cpu, argument_and_state_errors)
{
    cpu = rnnc_backend_ops_cpu();
    rnnc_bgru_config c = {.input_size = 2, .units = 3, .activation = RNNC_ACT_SOFTMAX,
                          .recurrent_activation = RNNC_ACT_SIGMOID, .use_bias = true,
                          .reset_after = true};
    rnnc_bgru *g;
    cr_assert_eq(cpu->gru_create(&c, &g), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "gru_create") && strstr(rnnc_last_error(), "softmax"), "%s",
              rnnc_last_error());
    c.activation = RNNC_ACT_TANH;
    c.units = 0;
    cr_assert_eq(cpu->gru_create(&c, &g), RNNC_E_ARG);
    c.units = 3;
    OK(cpu->gru_create(&c, &g));
    rnnc_bbuf *x = zeros(cpu, 2 * 4 * 2), *W = zeros(cpu, 2 * 9), *R = zeros(cpu, 3 * 9),
              *bias = zeros(cpu, 18), *y = zeros(cpu, 2 * 3), *dy = zeros(cpu, 2 * 3),
              *short_bias = zeros(cpu, 9);
    /* backward before any forward, and after an inference forward */
    cr_assert_eq(cpu->gru_backward(g, dy, NULL, NULL, W, R, bias), RNNC_E_STATE);
    OK(cpu->gru_forward(g, 2, 4, x, NULL, NULL, W, R, bias, false, y, NULL));
    cr_assert_eq(cpu->gru_backward(g, dy, NULL, NULL, W, R, bias), RNNC_E_STATE);
    cr_assert(strstr(rnnc_last_error(), "training"), "%s", rnnc_last_error());
    /* sizes: a (3U) bias for reset_after, a y of the wrong size, T = 0 */
    cr_assert_eq(cpu->gru_forward(g, 2, 4, x, NULL, NULL, W, R, short_bias, true, y, NULL), RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "gru_forward: argument 'bias'"), "%s", rnnc_last_error());
    cr_assert_eq(cpu->gru_forward(g, 2, 4, x, NULL, NULL, W, R, bias, true, dy, y), RNNC_OK);
    cr_assert_eq(cpu->gru_forward(g, 2, 0, x, NULL, NULL, W, R, bias, true, y, NULL), RNNC_E_SHAPE);
    cr_assert_eq(cpu->gru_forward(g, 2, 4, x, NULL, NULL, W, R, bias, true, y, y), RNNC_E_ARG);
    /* nothing wanted but the weights: dx and dh0 NULL */
    OK(cpu->gru_forward(g, 2, 4, x, NULL, NULL, W, R, bias, true, y, NULL));
    OK(cpu->gru_backward(g, dy, NULL, NULL, W, R, bias));
    cpu->gru_destroy(g);
    cpu->gru_destroy(NULL);
    cpu->free(x), cpu->free(W), cpu->free(R), cpu->free(bias), cpu->free(y), cpu->free(dy);
    cpu->free(short_bias);
}

/* ---- every other backend against the CPU one ------------------------------ */

static int64_t pick(const int64_t *v, size_t n)
{
    return v[rng_u32() % n];
}

/* Case k on be and on the CPU: every output and gradient. */
static void compare_case(const gru_case *k, const char *name)
{
    gru_result c = run_gru(cpu, k), d = run_gru(be, k);
    const size_t F = (size_t)k->c.input_size, U = (size_t)k->c.units, BU = (size_t)k->B * U;
    /* float32 sums in another order (cuBLAS vs OpenBLAS, cuDNN's kernels) */
    const double rt = 1e-4, at = 2e-5 * (double)(k->T + 1);
    char what[96];
    snprintf(what, sizeof what, "%s vs cpu", be_label);
    expect_close(d.y, c.y, n_y(k), rt, at, what, name);
    expect_close(d.state, c.state, BU, rt, at, what, name);
    expect_close(d.dx, c.dx, (size_t)(k->B * k->T) * F, rt, at, what, name);
    expect_close(d.dh0, c.dh0, BU, rt, at, what, name);
    expect_close(d.dW, c.dW, F * 3 * U, rt, at * (double)k->B, what, name);
    expect_close(d.dR, c.dR, U * 3 * U, rt, at * (double)k->B, what, name);
    if (k->c.use_bias)
        expect_close(d.dB, c.dB, n_bias(k), rt, at * (double)k->B, what, name);
    result_free(&c);
    result_free(&d);
}

static void run_gru_cases(bool cudnn)
{
    static const int64_t Bs[] = {1, 2, 3, 5, 8}, Ts[] = {1, 2, 3, 5, 9}, Fs[] = {1, 2, 3, 7},
                         Us[] = {1, 2, 3, 5, 17};
    static const rnnc_act acts[][2] = {{RNNC_ACT_TANH, RNNC_ACT_SIGMOID},
                                       {RNNC_ACT_RELU, RNNC_ACT_HARD_SIGMOID},
                                       {RNNC_ACT_SOFTSIGN, RNNC_ACT_TANH},
                                       {RNNC_ACT_ELU, RNNC_ACT_SIGMOID}};
    for (int v = 0; v < 24; v++) {
        const int64_t B = pick(Bs, 5), T = pick(Ts, 5), F = pick(Fs, 4), U = pick(Us, 5);
        /* cuDNN: no mask or right-padded; generic: arbitrary masks too */
        const int mask_kind = cudnn ? (v % 3 == 0 ? 0 : 1) : v % 3;
        gru_case k = random_case(B, T, F, U, mask_kind, v & 1, 0.6f);
        k.c.cudnn = cudnn;
        k.c.go_backwards = (v & 2) != 0;
        k.c.zero_output_for_mask = v % 5 == 2;
        if (!cudnn) {
            k.c.reset_after = v % 4 != 1;
            k.c.use_bias = v % 6 != 5;
            k.c.activation = acts[v % 4][0];
            k.c.recurrent_activation = acts[v % 4][1];
        }
        set_outputs(&k, (v & 4) != 0);
        char name[192];
        snprintf(name, sizeof name, "%s case %d (B %lld T %lld F %lld U %lld %s %s mask %d %s%s%s%s%s)",
                 cudnn ? "cudnn" : "generic", v, (long long)B, (long long)T, (long long)F,
                 (long long)U, k.c.reset_after ? "reset_after" : "reset_before",
                 rnnc_act_name(k.c.activation), mask_kind, k.c.use_bias ? "" : "no bias ",
                 k.c.go_backwards ? "backwards " : "", k.c.zero_output_for_mask ? "zofm " : "",
                 k.h0 ? "h0 " : "", k.c.return_sequences ? "seq" : "last");
        compare_case(&k, name);
        case_free(&k);
    }
}

/* What the cuDNN kernel cannot run is refused, naming the condition. */
static void run_gru_refusals(void)
{
    rnnc_bgru_config c = {.input_size = 2, .units = 2, .activation = RNNC_ACT_TANH,
                          .recurrent_activation = RNNC_ACT_SIGMOID, .use_bias = true,
                          .reset_after = false, .cudnn = true};
    rnnc_bgru *g;
    cr_assert_eq(be->gru_create(&c, &g), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "reset_after"), "%s", rnnc_last_error());
    c.reset_after = true;
    OK(be->gru_create(&c, &g));
    gru_case k = random_case(2, 3, 2, 2, 0, false, 0.5f);
    const uint8_t gap[6] = {1, 0, 1, 1, 1, 1}; /* row 0 not right-padded */
    rnnc_bbuf *x = up(be, k.x, 12), *W = up(be, k.W, 12), *R = up(be, k.R, 12), *b = up(be, k.bias, 12),
              *y = zeros(be, 4);
    cr_assert_eq(be->gru_forward(g, 2, 3, x, NULL, gap, W, R, b, true, y, NULL), RNNC_E_UNSUPPORTED);
    cr_assert(strstr(rnnc_last_error(), "right-padded"), "%s", rnnc_last_error());
    rnnc_bbuf *dy = zeros(be, 4);
    cr_assert_eq(be->gru_backward(g, dy, NULL, NULL, W, R, b), RNNC_E_STATE);
    be->gru_destroy(g);
    be->free(x), be->free(W), be->free(R), be->free(b), be->free(y), be->free(dy);
    case_free(&k);
}

/* The caller may overwrite x and h0 between forward and backward. */
static void run_gru_inputs_reused(void)
{
    gru_case k = random_case(3, 4, 2, 3, 2, true, 0.6f);
    set_outputs(&k, true);
    gru_result want = run_gru(cpu, &k);
    rnnc_bgru *g;
    OK(be->gru_create(&k.c, &g));
    rnnc_bbuf *x = up(be, k.x, 24), *h0 = up(be, k.h0, 9), *W = up(be, k.W, 18), *R = up(be, k.R, 27),
              *b = up(be, k.bias, 18), *y = zeros(be, n_y(&k));
    OK(be->gru_forward(g, 3, 4, x, h0, k.mask, W, R, b, true, y, NULL));
    OK(be->fill(x, 9.0f));
    OK(be->fill(h0, 9.0f));
    rnnc_bbuf *dy = up(be, k.dy, n_y(&k)), *dx = zeros(be, 24), *dh0 = zeros(be, 9),
              *dW = up(be, k.gW0, 18), *dR = up(be, k.gR0, 27), *dB = up(be, k.gB0, 18);
    OK(be->gru_backward(g, dy, dx, dh0, dW, dR, dB));
    float *gdx = down(dx), *gdW = down(dW);
    expect_close(gdx, want.dx, 24, 1e-4, 1e-5, "dx after x was overwritten", be_label);
    expect_close(gdW, want.dW, 18, 1e-4, 1e-5, "dkernel after x was overwritten", be_label);
    free(gdx), free(gdW);
    be->gru_destroy(g);
    be->free(x), be->free(h0), be->free(W), be->free(R), be->free(b), be->free(y), be->free(dy);
    be->free(dh0), be->free(dR), be->free(dB);
    result_free(&want);
    case_free(&k);
}

static void run_gru_cudnn(void)
{
    run_gru_cases(true);
}

static void run_gru_generic(void)
{
    run_gru_cases(false);
}

#define GRU_CASES(suite, setup, teardown)                       \
    BACKEND_CASE(suite, setup, teardown, gru_cudnn, 21)         \
    BACKEND_CASE(suite, setup, teardown, gru_generic, 22)       \
    BACKEND_CASE(suite, setup, teardown, gru_refusals, 23)      \
    BACKEND_CASE(suite, setup, teardown, gru_inputs_reused, 24)

GRU_CASES(backend_ops_gru_cuda_emulated, use_emulated, emulated_done)
GRU_CASES(backend_ops_gru_cuda_gpu, use_real_gpu, real_gpu_done)

Test(backend_ops_gru_cuda_emulated, every_device_block_is_returned)
{
    use_emulated();
    const unsigned long m0 = emu_mallocs, f0 = emu_frees;
    rng_seed(25);
    run_gru_cases(true);
    run_gru_cases(false);
    emulated_done();
    cr_expect_gt(emu_mallocs, m0);
    cr_expect_eq(emu_mallocs - m0, emu_frees - f0, "cudaMalloc %lu vs cudaFree %lu",
                 emu_mallocs - m0, emu_frees - f0);
}

/* Nothing goes device -> host inside gru_forward / gru_backward (the mask
 * is a host array; cuda_emu.c counts the copies), with either kernel. */
Test(backend_ops_gru_cuda_emulated, forward_and_backward_copy_nothing_to_the_host)
{
    use_emulated();
    rng_seed(26);
    for (int cudnn = 0; cudnn < 2; cudnn++) {
        gru_case k = random_case(3, 5, 2, 4, 1, true, 0.6f);
        k.c.cudnn = cudnn;
        set_outputs(&k, cudnn != 0);
        rnnc_bgru *g;
        OK(be->gru_create(&k.c, &g));
        rnnc_bbuf *x = up(be, k.x, 30), *h0 = up(be, k.h0, 12), *W = up(be, k.W, 24),
                  *R = up(be, k.R, 48), *b = up(be, k.bias, 24), *y = zeros(be, n_y(&k)),
                  *st = zeros(be, 12), *dy = up(be, k.dy, n_y(&k)), *dx = zeros(be, 30),
                  *dh0 = zeros(be, 12), *dW = zeros(be, 24), *dR = zeros(be, 48), *dB = zeros(be, 24);
        const unsigned long c0 = emu_d2h_copies;
        for (int step = 0; step < 2; step++) {
            OK(be->gru_forward(g, 3, 5, x, h0, k.mask, W, R, b, true, y, st));
            OK(be->gru_backward(g, dy, dx, dh0, dW, dR, dB));
        }
        cr_assert_eq(emu_d2h_copies, c0, "%s kernel: %lu device->host copies in forward/backward",
                     cudnn ? "cuDNN" : "generic", emu_d2h_copies - c0);
        be->gru_destroy(g);
        rnnc_bbuf *all[] = {x, h0, W, R, b, y, st, dy, dx, dh0, dW, dR, dB};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            be->free(all[i]);
        case_free(&k);
    }
    emulated_done();
}
