/* test_backend_ops_lstm.c - the table's LSTM op (backend_ops.h lstm_*),
 * CPU table:
 *   - Keras 3.15.1 itself: the LSTM fixtures of tests/fixtures/lstm (made
 *     by tests/gen_lstm_fixtures.py, also read by test_lstm_keras.c):
 *     outputs and both final states of every non-stateful case with
 *     element-wise activations, and the gradients (x, h0, c0, the weights)
 *     of those whose cotangents the op takes (no return_state cotangent,
 *     no regularizer losses);
 *   - central differences of a float64 LSTM written out below on tiny
 *     random cases: masks (right-padded, arbitrary, a fully masked row),
 *     go_backwards, zero_output_for_mask, use_bias off, both
 *     return_sequences, given or zero initial states, other activations;
 *   - argument and state errors.
 * The CUDA table has no LSTM op yet (supports says no: test_backend_ops). */
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

typedef struct lstm_case {
    rnnc_blstm_config c;
    int64_t B, T;
    float *x, *h0, *c0, *W, *R, *bias, *dy; /* h0, c0, bias may be NULL */
    uint8_t *mask;                           /* may be NULL */
    float *gW0, *gR0, *gB0;                  /* initial weight gradients */
} lstm_case;

typedef struct lstm_result {
    float *y, *h, *cs, *dx, *dh0, *dc0, *dW, *dR, *dB;
} lstm_result;

static size_t n_y(const lstm_case *k)
{
    return (size_t)(k->B * k->c.units * (k->c.return_sequences ? k->T : 1));
}

/* The backend run_lstm and the helpers below use. */
static const rnnc_backend_ops *on;

/* Forward (training) and backward of case k, twice on one object (the
 * first backward's weight gradients thrown away). */
static lstm_result run_lstm(const lstm_case *k)
{
    const int64_t B = k->B, T = k->T, F = k->c.input_size, U = k->c.units;
    const size_t nw = (size_t)(F * 4 * U), nr = (size_t)(U * 4 * U), nb = (size_t)(4 * U),
                 bu = (size_t)(B * U);
    rnnc_blstm *g;
    OK(on->lstm_create(&k->c, &g));
    rnnc_bbuf *x = up(on, k->x, (size_t)(B * T * F)), *h0 = up(on, k->h0, bu), *c0 = up(on, k->c0, bu);
    rnnc_bbuf *W = up(on, k->W, nw), *R = up(on, k->R, nr), *bias = k->c.use_bias ? up(on, k->bias, nb) : NULL;
    rnnc_bbuf *y = zeros(on, n_y(k)), *hs = zeros(on, bu), *cs = zeros(on, bu);
    rnnc_bbuf *dy = up(on, k->dy, n_y(k)), *dx = zeros(on, (size_t)(B * T * F)), *dh0 = zeros(on, bu),
              *dc0 = zeros(on, bu);
    rnnc_bbuf *dW = up(on, k->gW0, nw), *dR = up(on, k->gR0, nr), *dB = k->c.use_bias ? up(on, k->gB0, nb) : NULL;
    OK(on->lstm_forward(g, B, T, x, h0, c0, k->mask, W, R, bias, true, y, hs, cs));
    rnnc_bbuf *sW = zeros(on, nw), *sR = zeros(on, nr), *sB = k->c.use_bias ? zeros(on, nb) : NULL;
    OK(on->lstm_backward(g, dy, dx, dh0, dc0, sW, sR, sB));
    on->free(sW), on->free(sR), on->free(sB);
    OK(on->fill(y, 0.0f));
    OK(on->lstm_forward(g, B, T, x, h0, c0, k->mask, W, R, bias, true, y, hs, cs));
    OK(on->lstm_backward(g, dy, dx, dh0, dc0, dW, dR, dB));
    cr_assert_eq(on->lstm_backward(g, dy, dx, dh0, dc0, dW, dR, dB), RNNC_E_STATE);
    on->lstm_destroy(g);
    on->free(x), on->free(h0), on->free(c0), on->free(W), on->free(R), on->free(bias);
    on->free(dy);
    lstm_result r = {down(y), down(hs), down(cs), down(dx), down(dh0), down(dc0),
                     down(dW), down(dR), down(dB)};
    return r;
}

static void result_free(lstm_result *r)
{
    free(r->y), free(r->h), free(r->cs), free(r->dx), free(r->dh0), free(r->dc0);
    free(r->dW), free(r->dR), free(r->dB);
}

static void case_free(lstm_case *k)
{
    free(k->x), free(k->h0), free(k->c0), free(k->W), free(k->R), free(k->bias), free(k->dy);
    free(k->mask), free(k->gW0), free(k->gR0), free(k->gB0);
}

/* got - init (an accumulated gradient's own part) within atol + rtol |want|. */
static void expect_grad(const float *got, const float *init, const double *want, size_t n,
                        double tol, const char *what, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const double g = (double)got[i] - (init ? (double)init[i] : 0.0);
        cr_assert(fabs(g - want[i]) <= tol * (1 + fabs(want[i])), "%s: %s [%zu]: %.9g vs %.9g",
                  name, what, i, g, want[i]);
    }
}

/* ---- the CPU op against Keras 3.15.1 ------------------------------------- */

static void expect_dataset(rnnc_fixture *fx, const char *ds, const float *got, const float *init,
                           size_t n, double tol, const char *name)
{
    rnnc_tensor *t;
    OK(rnnc_fixture_read(fx, ds, RNNC_F64, &t));
    cr_assert_eq(t->numel, n, "%s: %s has %zu values, the op gave %zu", name, ds, t->numel, n);
    expect_grad(got, init, (const double *)t->data, n, tol, ds, name);
    rnnc_tensor_destroy(t);
}

/* Loads a Keras case; false (skipped) when the op cannot express it. */
static bool load_keras_case(const char *name, lstm_case *k, rnnc_fixture **fxo, bool *grads,
                            bool *ret_state)
{
    char path[512], *json = NULL;
    snprintf(path, sizeof path, "%s/lstm/%s.h5", RNNC_FIXTURES, name);
    rnnc_fixture *fx = case_open(path, &json);
    memset(k, 0, sizeof *k);
    if (!case_usable(fx, json, &k->c.activation, &k->c.recurrent_activation))
        return false;
    k->c.use_bias = json_flag(json, "use_bias");
    k->c.go_backwards = json_flag(json, "go_backwards");
    k->c.return_sequences = json_flag(json, "return_sequences");
    k->c.zero_output_for_mask = json_flag(json, "zero_output_for_mask");
    *ret_state = json_flag(json, "return_state");
    free(json);
    k->x = read_x(fx, &k->B, &k->T, &k->c.input_size);
    size_t nr;
    k->R = read_f32(fx, "recurrent_kernel", &nr);
    k->c.units = (int64_t)llround(sqrt((double)nr / 4.0));
    k->W = read_f32(fx, "kernel", NULL);
    if (k->c.use_bias)
        k->bias = read_f32(fx, "bias", NULL);
    if (rnnc_fixture_has(fx, "initial_h"))
        k->h0 = read_f32(fx, "initial_h", NULL);
    if (rnnc_fixture_has(fx, "initial_c"))
        k->c0 = read_f32(fx, "initial_c", NULL);
    k->mask = read_mask(fx);
    k->dy = read_f32(fx, "dy_0", NULL);
    const double losses = read_losses(fx);
    /* the op takes no cotangent for the final states */
    *grads = losses == 0.0 && !*ret_state;
    const size_t F = (size_t)k->c.input_size, U = (size_t)k->c.units;
    k->gW0 = rand_vec(F * 4 * U, -1, 1), k->gR0 = rand_vec(U * 4 * U, -1, 1);
    k->gB0 = k->c.use_bias ? rand_vec(4 * U, -1, 1) : NULL;
    *fxo = fx;
    return true;
}

Test(backend_ops_lstm_cpu, matches_keras_outputs_states_and_gradients)
{
    cpu = on = rnnc_backend_ops_cpu();
    char list[512], line[256];
    snprintf(list, sizeof list, "%s/lstm/cases.txt", RNNC_FIXTURES);
    FILE *f = fopen(list, "r");
    cr_assert(f, "cannot open %s", list);
    int n_fwd = 0, n_state = 0, n_grad = 0, n_init = 0, n_mask_grad = 0;
    rng_seed(1);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        lstm_case k;
        rnnc_fixture *fx;
        bool grads, ret_state;
        if (!load_keras_case(line, &k, &fx, &grads, &ret_state))
            continue;
        lstm_result r = run_lstm(&k);
        const double tol = 2e-5, gt = 1e-4;
        const size_t bu = (size_t)(k.B * k.c.units), F = (size_t)k.c.input_size,
                     U = (size_t)k.c.units;
        expect_dataset(fx, "output_0", r.y, NULL, n_y(&k), tol, line);
        n_fwd++;
        if (ret_state) {
            expect_dataset(fx, "output_1", r.h, NULL, bu, tol, line);
            expect_dataset(fx, "output_2", r.cs, NULL, bu, tol, line);
            n_state++;
        }
        if (grads) {
            expect_dataset(fx, "grad_x", r.dx, NULL, (size_t)(k.B * k.T) * F, gt, line);
            if (k.h0) {
                expect_dataset(fx, "grad_initial_h", r.dh0, NULL, bu, gt, line);
                expect_dataset(fx, "grad_initial_c", r.dc0, NULL, bu, gt, line);
                n_init++;
            }
            expect_dataset(fx, "grad_kernel", r.dW, k.gW0, F * 4 * U, gt, line);
            expect_dataset(fx, "grad_recurrent_kernel", r.dR, k.gR0, U * 4 * U, gt, line);
            if (k.c.use_bias)
                expect_dataset(fx, "grad_bias", r.dB, k.gB0, 4 * U, gt, line);
            n_grad++;
            n_mask_grad += k.mask != NULL;
        }
        result_free(&r);
        case_free(&k);
        rnnc_fixture_close(fx);
    }
    fclose(f);
    cr_assert_geq(n_fwd, 20, "only %d Keras cases ran", n_fwd);
    cr_assert_geq(n_state, 5, "only %d cases had their states checked", n_state);
    cr_assert_geq(n_grad, 10, "only %d Keras cases had gradients checked", n_grad);
    cr_log_info("LSTM op vs Keras: %d cases, %d with states, %d with gradients (%d initial "
                "states, %d masked)", n_fwd, n_state, n_grad, n_init, n_mask_grad);
}

/* ---- the CPU op against central differences of a float64 LSTM ------------ */

static double ref_act(rnnc_act a, double v) { return rnnc_act_apply(a, v); }

/* sum(y * dy) of a float64 LSTM in the op's layout; y_out the outputs. */
static double ref_loss(const lstm_case *k, double *const ps[6], double *y_out)
{
    const int64_t B = k->B, T = k->T, F = k->c.input_size, U = k->c.units, G = 4 * U;
    const double *x = ps[0], *h0 = ps[1], *c0 = ps[2], *W = ps[3], *R = ps[4], *bias = ps[5];
    double *h = calloc((size_t)U, sizeof *h), *c = calloc((size_t)U, sizeof *c),
           *out = calloc((size_t)U, sizeof *out), *z = malloc((size_t)G * sizeof *z);
    double s = 0;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t j = 0; j < U; j++) {
            h[j] = h0 ? h0[b * U + j] : 0.0;
            c[j] = c0 ? c0[b * U + j] : 0.0;
            out[j] = 0.0;
        }
        for (int64_t kk = 0; kk < T; kk++) {
            const int64_t t = k->c.go_backwards ? T - 1 - kk : kk;
            const bool keep = !k->mask || k->mask[b * T + t];
            if (keep) {
                for (int64_t g = 0; g < G; g++) {
                    double v = bias ? bias[g] : 0.0;
                    for (int64_t f = 0; f < F; f++)
                        v += x[(b * T + t) * F + f] * W[f * G + g];
                    for (int64_t u = 0; u < U; u++)
                        v += h[u] * R[u * G + g];
                    z[g] = v;
                }
                for (int64_t j = 0; j < U; j++) {
                    const rnnc_act ra = k->c.recurrent_activation, fa = k->c.activation;
                    const double i = ref_act(ra, z[j]), fg = ref_act(ra, z[U + j]),
                                 gg = ref_act(fa, z[2 * U + j]), o = ref_act(ra, z[3 * U + j]);
                    c[j] = fg * c[j] + i * gg;
                    h[j] = o * ref_act(fa, c[j]);
                    out[j] = h[j];
                }
            } else if (k->c.zero_output_for_mask) {
                for (int64_t j = 0; j < U; j++)
                    out[j] = 0.0;
            }
            for (int64_t j = 0; j < U && k->c.return_sequences; j++) {
                const size_t i = (size_t)((b * T + kk) * U + j);
                s += out[j] * (double)k->dy[i];
                if (y_out)
                    y_out[i] = out[j];
            }
        }
        for (int64_t j = 0; j < U && !k->c.return_sequences; j++) {
            s += out[j] * (double)k->dy[b * U + j];
            if (y_out)
                y_out[b * U + j] = out[j];
        }
    }
    free(h), free(c), free(out), free(z);
    return s;
}

static void fd_check(const lstm_case *k, double *const ps[6], int which, size_t n, const float *got,
                     const float *init, const char *what, const char *name)
{
    double *p = ps[which];
    for (size_t i = 0; i < n; i++) {
        const double h = 1e-6, save = p[i];
        p[i] = save + h;
        const double lp = ref_loss(k, ps, NULL);
        p[i] = save - h;
        const double lm = ref_loss(k, ps, NULL);
        p[i] = save;
        const double want = (lp - lm) / (2 * h);
        const double g = (double)got[i] - (init ? (double)init[i] : 0.0);
        cr_assert(fabs(g - want) <= 2e-4 * (1 + fabs(want)), "%s: d/d%s[%zu]: op %.9g, finite "
                  "differences %.9g", name, what, i, g, want);
    }
}

/* Tiny case v of 24 (sizes, masks none / right-padded / arbitrary with a
 * fully masked row, go_backwards, zofm, no bias, h0 / c0, activations,
 * both return_sequences), its name in name. */
static lstm_case random_case(int v, int64_t scale, char *name, size_t cap)
{
    static const rnnc_act acts[][2] = {{RNNC_ACT_TANH, RNNC_ACT_SIGMOID},
                                       {RNNC_ACT_SOFTSIGN, RNNC_ACT_HARD_SIGMOID},
                                       {RNNC_ACT_LINEAR, RNNC_ACT_TANH}};
    {
        const int64_t B = scale * (1 + v % 3), T = scale * (1 + v % 4), F = scale * (1 + v % 3),
                      U = scale * (1 + (v / 3) % 3);
        const int mask_kind = v % 3;
        lstm_case k;
        memset(&k, 0, sizeof k);
        k.B = B, k.T = T;
        k.c = (rnnc_blstm_config){.input_size = F, .units = U, .activation = acts[v % 3][0],
                                  .recurrent_activation = acts[v % 3][1], .use_bias = v % 5 != 4,
                                  .go_backwards = (v & 4) != 0,
                                  .return_sequences = (v & 8) != 0,
                                  .zero_output_for_mask = (v % 7) == 3};
        const size_t nx = (size_t)(B * T * F), nh = (size_t)(B * U), nw = (size_t)(F * 4 * U),
                     nr = (size_t)(U * 4 * U), nb = (size_t)(4 * U);
        k.x = rand_vec(nx, -1, 1);
        k.h0 = v & 1 ? rand_vec(nh, -1, 1) : NULL;
        k.c0 = v & 2 ? rand_vec(nh, -1, 1) : NULL;
        k.W = rand_vec(nw, -0.8f, 0.8f), k.R = rand_vec(nr, -0.8f, 0.8f);
        k.bias = rand_vec(nb, -0.5f, 0.5f);
        k.gW0 = rand_vec(nw, -1, 1), k.gR0 = rand_vec(nr, -1, 1), k.gB0 = rand_vec(nb, -1, 1);
        k.dy = rand_vec(n_y(&k), -1, 1);
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
        snprintf(name, cap, "case %d (B %lld T %lld F %lld U %lld mask %d %s%s%s%s%s%s)", v,
                 (long long)B, (long long)T, (long long)F, (long long)U, mask_kind,
                 k.c.use_bias ? "" : "no bias ", k.c.go_backwards ? "backwards " : "",
                 k.c.zero_output_for_mask ? "zofm " : "", k.h0 ? "h0 " : "", k.c0 ? "c0 " : "",
                 k.c.return_sequences ? "seq" : "last");
        return k;
    }
}

Test(backend_ops_lstm_cpu, gradients_match_finite_differences_of_a_double_lstm)
{
    cpu = on = rnnc_backend_ops_cpu();
    rng_seed(2);
    for (int v = 0; v < 24; v++) {
        char name[200];
        lstm_case k = random_case(v, 1, name, sizeof name);
        const int64_t B = k.B, T = k.T, F = k.c.input_size, U = k.c.units;
        const size_t nx = (size_t)(B * T * F), nh = (size_t)(B * U), nw = (size_t)(F * 4 * U),
                     nr = (size_t)(U * 4 * U), nb = (size_t)(4 * U);
        lstm_result r = run_lstm(&k);
        double *ps[6] = {to_d(k.x, nx), to_d(k.h0, nh), to_d(k.c0, nh), to_d(k.W, nw),
                         to_d(k.R, nr), k.c.use_bias ? to_d(k.bias, nb) : NULL};
        double *yref = malloc(n_y(&k) * sizeof *yref);
        ref_loss(&k, ps, yref);
        expect_ref_y(r.y, yref, n_y(&k), name);
        fd_check(&k, ps, 0, nx, r.dx, NULL, "x", name);
        if (k.h0)
            fd_check(&k, ps, 1, nh, r.dh0, NULL, "h0", name);
        if (k.c0)
            fd_check(&k, ps, 2, nh, r.dc0, NULL, "c0", name);
        fd_check(&k, ps, 3, nw, r.dW, k.gW0, "kernel", name);
        fd_check(&k, ps, 4, nr, r.dR, k.gR0, "recurrent_kernel", name);
        if (k.c.use_bias)
            fd_check(&k, ps, 5, nb, r.dB, k.gB0, "bias", name);
        for (int i = 0; i < 6; i++)
            free(ps[i]);
        free(yref);
        result_free(&r);
        case_free(&k);
    }
}

Test(backend_ops_lstm_cpu, argument_and_state_errors)
{
    cpu = on = rnnc_backend_ops_cpu();
    rnnc_blstm_config c = {.input_size = 2, .units = 3, .activation = RNNC_ACT_SOFTMAX,
                           .recurrent_activation = RNNC_ACT_SIGMOID, .use_bias = true};
    rnnc_blstm *g;
    cr_assert_eq(cpu->lstm_create(&c, &g), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "lstm_create") && strstr(rnnc_last_error(), "softmax"),
              "%s", rnnc_last_error());
    c.activation = RNNC_ACT_TANH;
    c.units = 0;
    cr_assert_eq(cpu->lstm_create(&c, &g), RNNC_E_ARG);
    c.units = 3;
    OK(cpu->lstm_create(&c, &g));
    rnnc_bbuf *x = zeros(on, 2 * 4 * 2), *W = zeros(on, 2 * 12), *R = zeros(on, 3 * 12), *bias = zeros(on, 12),
              *y = zeros(on, 2 * 3), *dy = zeros(on, 2 * 3), *short_bias = zeros(on, 9), *h = zeros(on, 6);
    cr_assert_eq(cpu->lstm_backward(g, dy, NULL, NULL, NULL, W, R, bias), RNNC_E_STATE);
    OK(cpu->lstm_forward(g, 2, 4, x, NULL, NULL, NULL, W, R, bias, false, y, NULL, NULL));
    cr_assert_eq(cpu->lstm_backward(g, dy, NULL, NULL, NULL, W, R, bias), RNNC_E_STATE);
    cr_assert(strstr(rnnc_last_error(), "training"), "%s", rnnc_last_error());
    cr_assert_eq(cpu->lstm_forward(g, 2, 4, x, NULL, NULL, NULL, W, R, short_bias, true, y, NULL, NULL),
                 RNNC_E_SHAPE);
    cr_assert(strstr(rnnc_last_error(), "lstm_forward: argument 'bias'"), "%s", rnnc_last_error());
    cr_assert_eq(cpu->lstm_forward(g, 2, 0, x, NULL, NULL, NULL, W, R, bias, true, y, NULL, NULL),
                 RNNC_E_SHAPE);
    cr_assert_eq(cpu->lstm_forward(g, 2, 4, x, NULL, NULL, NULL, W, R, bias, true, y, h, h),
                 RNNC_E_ARG);
    cr_assert_eq(cpu->lstm_forward(g, 2, 4, x, h, NULL, NULL, W, R, bias, true, y, NULL, h),
                 RNNC_E_ARG);
    OK(cpu->lstm_forward(g, 2, 4, x, NULL, NULL, NULL, W, R, bias, true, y, NULL, NULL));
    cr_assert_eq(cpu->lstm_backward(g, dy, NULL, h, h, W, R, bias), RNNC_E_ARG);
    OK(cpu->lstm_backward(g, dy, NULL, NULL, NULL, W, R, bias));
    cpu->lstm_destroy(g);
    cpu->lstm_destroy(NULL);
    c.use_bias = false;
    OK(cpu->lstm_create(&c, &g));
    cr_assert_eq(cpu->lstm_forward(g, 2, 4, x, NULL, NULL, NULL, W, R, bias, true, y, NULL, NULL),
                 RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "use_bias=False"), "%s", rnnc_last_error());
    cpu->lstm_destroy(g);
    cpu->free(x), cpu->free(W), cpu->free(R), cpu->free(bias), cpu->free(y), cpu->free(dy);
    cpu->free(short_bias), cpu->free(h);
}

/* ---- the CUDA table against the CPU one ----------------------------------- */

static void expect_near(const float *got, const float *want, size_t n, double tol, const char *what,
                        const char *name)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs((double)got[i] - (double)want[i]) <= tol * (1 + fabs((double)want[i])),
                  "%s on %s: %s [%zu]: %.9g vs the CPU's %.9g", name, be_label, what, i,
                  (double)got[i], (double)want[i]);
}

/* Every random case (sizes x1 and x3) on `be` against the CPU table:
 * outputs, final states and every gradient (two steps on one object). */
static void run_lstm_cases(void)
{
    for (int scale = 1; scale <= 3; scale += 2)
        for (int v = 0; v < 24; v++) {
            char name[200];
            lstm_case k = random_case(v, scale, name, sizeof name);
            on = cpu;
            lstm_result want = run_lstm(&k);
            on = be;
            lstm_result got = run_lstm(&k);
            const size_t F = (size_t)k.c.input_size, U = (size_t)k.c.units, bu = (size_t)k.B * U;
            expect_near(got.y, want.y, n_y(&k), 1e-5, "y", name);
            expect_near(got.h, want.h, bu, 1e-5, "h_state", name);
            expect_near(got.cs, want.cs, bu, 1e-5, "c_state", name);
            expect_near(got.dx, want.dx, (size_t)(k.B * k.T) * F, 1e-4, "dx", name);
            expect_near(got.dh0, want.dh0, bu, 1e-4, "dh0", name);
            expect_near(got.dc0, want.dc0, bu, 1e-4, "dc0", name);
            expect_near(got.dW, want.dW, F * 4 * U, 1e-4, "dkernel", name);
            expect_near(got.dR, want.dR, U * 4 * U, 1e-4, "drecurrent_kernel", name);
            if (k.c.use_bias)
                expect_near(got.dB, want.dB, 4 * U, 1e-4, "dbias", name);
            result_free(&want);
            result_free(&got);
            case_free(&k);
        }
}

/* The same argument errors as the CPU op's, and no cuDNN LSTM. */
static void run_lstm_refusals(void)
{
    rnnc_blstm_config c = {.input_size = 2, .units = 3, .activation = RNNC_ACT_SOFTMAX,
                           .recurrent_activation = RNNC_ACT_SIGMOID, .use_bias = true};
    rnnc_blstm *g;
    cr_assert_eq(be->lstm_create(&c, &g), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "cuda lstm_create"), "%s", rnnc_last_error());
    c.activation = RNNC_ACT_TANH;
    c.cudnn = true;
    cr_assert_eq(be->lstm_create(&c, &g), RNNC_E_UNSUPPORTED);
    c.cudnn = false;
    OK(be->lstm_create(&c, &g));
    on = be;
    rnnc_bbuf *x = zeros(on, 16), *W = zeros(on, 24), *R = zeros(on, 36), *bias = zeros(on, 12), *y = zeros(on, 6),
              *dy = zeros(on, 6);
    cr_assert_eq(be->lstm_backward(g, dy, NULL, NULL, NULL, W, R, bias), RNNC_E_STATE);
    OK(be->lstm_forward(g, 2, 4, x, NULL, NULL, NULL, W, R, bias, false, y, NULL, NULL));
    cr_assert_eq(be->lstm_backward(g, dy, NULL, NULL, NULL, W, R, bias), RNNC_E_STATE);
    cr_assert_eq(be->lstm_forward(g, 2, 4, x, NULL, NULL, NULL, W, R, dy, true, y, NULL, NULL),
                 RNNC_E_SHAPE);
    be->lstm_destroy(g);
    be->lstm_destroy(NULL);
    be->free(x), be->free(W), be->free(R), be->free(bias), be->free(y), be->free(dy);
}

BACKEND_CASE(backend_ops_lstm_cuda_emulated, use_emulated, emulated_done, lstm_cases, 3)
BACKEND_CASE(backend_ops_lstm_cuda_emulated, use_emulated, emulated_done, lstm_refusals, 4)
BACKEND_CASE(backend_ops_lstm_cuda_gpu, use_real_gpu, real_gpu_done, lstm_cases, 3)
