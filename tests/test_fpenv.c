/* test_fpenv.c - flush-to-zero / denormals-are-zero inside rnnc's float32
 * kernels (framework/fpenv.h), against values derived by hand:
 *   - a GRU/LSTM with all weights 0 has z = f = sigmoid(0) = 1/2 and a zero
 *     candidate, so one step halves the state: h = h0 / 2 forward and
 *     dh0 = dh / 2 backward. With h0 (or dh) a float32 subnormal the fused
 *     float32 kernel must give exactly 0 (DAZ reads the subnormal as 0),
 *     and h0 / 2 with flushing switched off; float64 keeps h0 / 2 always;
 *   - the float32 product [1e-39] @ [1] is 0 with flushing, 1e-39 without;
 *   - the caller's MXCSR / FPCR is the same after every call as before
 *     (restored), also when the caller had flushing on already, and every
 *     flushing scope saw the mode on (a probe inside the scope).
 * Skipped where setting the mode does not flush (valgrind's emulated CPU
 * ignores FTZ/DAZ). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "framework/fpenv.h"
#include "framework/ops.h"
#include "layers/gru.h"
#include "layers/lstm.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
/* The control bits of MXCSR (bits 0-5 are sticky exception flags). */
static unsigned long fp_raw(void) { return _mm_getcsr() & ~0x3Ful; }
static void fp_raw_set(unsigned long v) { _mm_setcsr((unsigned)v); }
#define FLUSH_BITS 0x8040ul
#elif defined(__aarch64__)
static unsigned long fp_raw(void)
{
    unsigned long v;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(v));
    return v;
}
static void fp_raw_set(unsigned long v) { __asm__ __volatile__("msr fpcr, %0" : : "r"(v)); }
#define FLUSH_BITS (1ul << 24)
#else
static unsigned long fp_raw(void) { return 0; }
static void fp_raw_set(unsigned long v) { (void)v; }
#define FLUSH_BITS 0ul
#endif

static rnnc_ctx *cx;
static int probe_calls, probe_flushing;

static void probe(void)
{
    probe_calls++;
    probe_flushing += rnnc_fpenv_flushing();
}

static void setup(void)
{
    cx = rnnc_ctx_create();
    rnnc_set_flush_denormals(true);
    probe_calls = probe_flushing = 0;
    rnnc__flush_probe = probe;
}

static void teardown(void)
{
    rnnc__flush_probe = NULL;
    rnnc_set_flush_denormals(true);
    rnnc_ctx_destroy(cx);
}

TestSuite(fpenv, .init = setup, .fini = teardown);

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

/* Whether setting the mode really flushes here: valgrind, for one, runs
 * the program on an emulated CPU that ignores FTZ/DAZ. */
#if defined(__x86_64__)
#define PIN(v) __asm__ __volatile__("" : "+x"(v)) /* keeps the product between the mode changes */
#elif defined(__aarch64__)
#define PIN(v) __asm__ __volatile__("" : "+w"(v))
#else
#define PIN(v) ((void)0)
#endif

static bool flushing_works(void)
{
    volatile float sub_v = 1e-39f, one_v = 1.0f;
    float a = sub_v, b = one_v;
    const unsigned long saved = fp_raw();
    fp_raw_set(saved | FLUSH_BITS);
    PIN(a);
    PIN(b);
    float r = a * b;
    PIN(r);
    const bool kept = (fp_raw() & FLUSH_BITS) == FLUSH_BITS;
    fp_raw_set(saved);
    return kept && r == 0.0f;
}

static void skip_unless_supported(void)
{
    if (!rnnc_flush_denormals_supported())
        cr_skip_test("no FTZ/DAZ control on this CPU");
    if (!flushing_works())
        cr_skip_test("FTZ/DAZ set but not honoured here (an emulator such as valgrind)");
}

/* A one-unit recurrent layer (GRU or LSTM, fused kernel) with every weight 0. */
static rnnc_layer *zero_layer(bool lstm, rnnc_dtype dt)
{
    rnnc_layer *l;
    if (lstm) {
        rnnc_lstm_options o = rnnc_lstm_options_default();
        o.units = 1;
        o.dtype = dt;
        OK(rnnc_lstm_create(&o, &l));
    } else {
        rnnc_gru_options o = rnnc_gru_options_default();
        o.units = 1;
        o.dtype = dt;
        OK(rnnc_gru_create(&o, &l));
    }
    rnnc_shape in = RNNC_SHAPE(1, 1, 1);
    OK(rnnc_layer_build(l, &in));
    rnnc_weight *w[4];
    int n;
    OK(rnnc_layer_weights(l, w, 4, &n));
    for (int i = 0; i < n; i++)
        rnnc_tensor_fill(w[i]->value, 0.0);
    OK(lstm ? rnnc_lstm_set_kernel(l, RNNC_GRU_KERNEL_FUSED)
            : rnnc_gru_set_kernel(l, RNNC_GRU_KERNEL_FUSED));
    return l;
}

static double get1(const rnnc_tensor *t)
{
    return t->dtype == RNNC_F32 ? (double)((const float *)t->data)[0] : ((const double *)t->data)[0];
}

static rnnc_tensor *scalar_tensor(rnnc_dtype dt, double v)
{
    rnnc_tensor *t;
    rnnc_shape s = RNNC_SHAPE(1, 1);
    OK(rnnc_tensor_create(dt, &s, &t));
    if (dt == RNNC_F32)
        ((float *)t->data)[0] = (float)v;
    else
        ((double *)t->data)[0] = v;
    OK(rnnc_ctx_adopt(cx, t));
    return t;
}

/* One step from state h0 (and c0 = h0 for the LSTM); returns the state
 * after it, and with seed != 0 backpropagates d(last output) = seed and
 * returns d h0 in *dh0. */
static double one_step(bool lstm, rnnc_dtype dt, double h0v, double seed, double *dh0)
{
    rnnc_ctx_clear(cx); /* a fresh tape for each step */
    rnnc_layer *l = zero_layer(lstm, dt);
    rnnc_tensor *x, *h0 = scalar_tensor(dt, h0v), *c0 = scalar_tensor(dt, h0v);
    rnnc_shape xs = RNNC_SHAPE(1, 1, 1);
    OK(rnnc_tensor_create(dt, &xs, &x));
    OK(rnnc_ctx_adopt(cx, x));
    OK(rnnc_tensor_set_requires_grad(h0, true));
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = lstm ? 3 : 2;
    a.inputs[0] = x;
    a.inputs[1] = h0;
    a.inputs[2] = c0;
    a.training = true;
    rnnc_call_result r;
    OK(rnnc_layer_call(l, cx, &a, &r));
    const double h1 = get1(r.outputs[0]);
    if (seed != 0.0) {
        OK(rnnc_backward_with(cx, r.outputs[0], scalar_tensor(dt, seed)));
        cr_assert_not_null(h0->grad);
        *dh0 = dt == RNNC_F32 ? (double)((float *)h0->grad)[0] : ((double *)h0->grad)[0];
    }
    if (lstm)
        cr_assert_eq(rnnc_lstm_last_kernel(l), RNNC_GRU_KERNEL_FUSED);
    else
        cr_assert_eq(rnnc_gru_last_kernel(l), RNNC_GRU_KERNEL_FUSED);
    rnnc_layer_destroy(l);
    return h1;
}

/* A float32 subnormal and half of it, as IEEE gradual underflow gives. */
static const double SUB = 1e-39; /* float32: 1e-39 < FLT_MIN = 1.18e-38 */

static void check_f32_flush(bool lstm)
{
    const float sub = (float)SUB;
    cr_assert(sub != 0.0f && fabsf(sub) < FLT_MIN, "1e-39 is a float32 subnormal");
    const double half = (double)(sub * 0.5f);
    double dh0 = -1;
    /* LSTM: c = f c0 + i g = c0 / 2, h = o tanh(c) = c0 / 4; dh0 = 0 (h0
     * only reaches the output through R = 0), so its d c0 is the one to
     * watch; the forward state alone shows DAZ there. */
    const double h_on = one_step(lstm, RNNC_F32, SUB, lstm ? 0.0 : SUB, &dh0);
    cr_assert_eq(h_on, 0.0, "flushing: the state after one step must be exactly 0, got %g", h_on);
    if (!lstm)
        cr_assert_eq(dh0, 0.0, "flushing: d h0 must be exactly 0, got %g", dh0);
    cr_assert_geq(probe_calls, lstm ? 1 : 2, "forward and backward each run one flushing scope");
    cr_assert_eq(probe_flushing, probe_calls, "every scope ran with FTZ+DAZ on");

    rnnc_set_flush_denormals(false);
    const double h_off = one_step(lstm, RNNC_F32, SUB, lstm ? 0.0 : SUB, &dh0);
    if (lstm)
        cr_assert(h_off > 0 && h_off <= half, "IEEE: c0/4 (subnormal, > 0), got %g", h_off);
    else {
        /* within a few subnormal steps (2^-149 = 1.4e-45): sigmoid(0) may
         * round to just under 1/2 */
        cr_assert(h_off > 0 && fabs(h_off - half) < 1e-44, "IEEE: h0/2 = %g, got %g", half, h_off);
        cr_assert(dh0 > 0 && fabs(dh0 - half) < 1e-44, "IEEE: dh/2 = %g, got %g", half, dh0);
    }
}

Test(fpenv, gru_fused_f32_flushes_subnormals_forward_and_backward)
{
    skip_unless_supported();
    check_f32_flush(false);
}

Test(fpenv, lstm_fused_f32_flushes_subnormals)
{
    skip_unless_supported();
    check_f32_flush(true);
}

Test(fpenv, float64_keeps_gradual_underflow)
{
    const double sub = 1e-310; /* a float64 subnormal */
    double dh0 = -1;
    cr_assert_eq(one_step(false, RNNC_F64, sub, sub, &dh0), sub * 0.5);
    cr_assert_eq(dh0, sub * 0.5);
    cr_assert_eq(one_step(true, RNNC_F64, sub, 0.0, &dh0) > 0, 1);
    cr_assert_eq(probe_calls, 0, "no flushing scope on float64 paths");
}

Test(fpenv, caller_mode_is_restored_after_every_kernel)
{
    skip_unless_supported();
    const unsigned long before = fp_raw();
    cr_assert_eq(before & FLUSH_BITS, 0, "the test process starts in IEEE mode");
    double dh0;
    one_step(false, RNNC_F32, 0.25, 1.0, &dh0);
    cr_assert_eq(fp_raw(), before, "GRU: MXCSR/FPCR %#lx after, %#lx before", fp_raw(), before);
    one_step(true, RNNC_F32, 0.25, 1.0, &dh0);
    cr_assert_eq(fp_raw(), before, "LSTM: MXCSR/FPCR %#lx after, %#lx before", fp_raw(), before);
    cr_assert_gt(probe_calls, 0);
    cr_assert_eq(probe_flushing, probe_calls);

    /* A caller that flushes already keeps flushing. */
    fp_raw_set(before | FLUSH_BITS);
    one_step(false, RNNC_F32, 0.25, 1.0, &dh0);
    const unsigned long after = fp_raw();
    fp_raw_set(before);
    cr_assert_eq(after, before | FLUSH_BITS);
}

static double matmul1(rnnc_dtype dt, double a)
{
    rnnc_tensor *y;
    OK(rnnc_matmul(cx, scalar_tensor(dt, a), scalar_tensor(dt, 1.0), false, false, &y));
    return get1(y);
}

Test(fpenv, float32_matmul_flushes)
{
    skip_unless_supported();
    const unsigned long before = fp_raw();
    cr_assert_eq(matmul1(RNNC_F32, SUB), 0.0);
    cr_assert_eq(fp_raw(), before);
    cr_assert_eq(matmul1(RNNC_F64, 1e-310), 1e-310);
    rnnc_set_flush_denormals(false);
    cr_assert_eq(matmul1(RNNC_F32, SUB), (double)(float)SUB);
    cr_assert(!rnnc_flush_denormals());
}
