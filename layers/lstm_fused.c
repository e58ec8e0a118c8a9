/* lstm_fused.c - the fused whole-sequence LSTM kernel (lstm_fused.h):
 * argument checks, the tape node and its saved state; the float32 and
 * float64 bodies come from lstm_fused_impl.h. */
#include "layers/lstm_fused.h"

#include "framework/block_cache.h"
#include "framework/fpenv.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/small_gemm_internal.h"

enum { ACT_GENERAL, ACT_SIGMOID, ACT_TANH, ACT_LINEAR };

static int act_mode(rnnc_act a)
{
    switch (a) {
    case RNNC_ACT_SIGMOID:
        return ACT_SIGMOID;
    case RNNC_ACT_TANH:
        return ACT_TANH;
    case RNNC_ACT_LINEAR:
        return ACT_LINEAR;
    default:
        return ACT_GENERAL;
    }
}

/* What the node keeps from forward to backward; the workspace is one block. */
typedef struct lstm_state {
    rnnc_dtype dt;
    int64_t B, T, F, U;
    bool go_backwards, return_sequences, zofm, spent, done;
    bool save;     /* a tape node will run backward: keep G, Cn, Ca of every step */
    rnnc_act act, ract;
    int mode_a, mode_r;
    uint8_t *mask; /* (B*T) copy, or NULL */
    void *block;   /* everything below lives in it */
    void *drop;    /* (B, F) dropout mask copy, or NULL */
    void *xt;      /* (T*B, F) time-major (dropped) input */
    void *Z, *G, *Hp, *Cp, *Cn, *Ca;
    void *bw;      /* backward scratch: 4 x (B, U), (U) zeros (float32 with small_sgemm:
                    * and R^T, (4U, U)); forward's row scratch (6U) and the
                    * step product (B, 4U) */
} lstm_state;

static void state_free(void *p)
{
    lstm_state *st = p;
    if (!st)
        return;
    free(st->mask);
    rnnc__block_free(st->block);
    free(st);
}

static inline float sigm_f(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline double sigm_d(double x) { return 1.0 / (1.0 + exp(-x)); }

/* float32 rows of sigmoid / tanh and the LSTM row kernels: 4 lanes
 * everywhere, 8 with AVX2 and 16 with AVX-512F where the CPU has them (x86,
 * GCC / Clang), 1 lane for a row's tail; bit-identical at every width. */
typedef float v1f __attribute__((vector_size(4)));
typedef int32_t v1i __attribute__((vector_size(4)));
#define V v1f
#define VI v1i
#define VW 1
#define VN(n) n##_v1
#define VATTR
#include "layers/vec_act_rows.h"
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
#define V v4f
#define VI v4i
#define VW 4
#define VN(n) n##_v4
#define VATTR
#include "layers/vec_act_rows.h"
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LSTM_WIDE 1
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
#define V v8f
#define VI v8i
#define VW 8
#define VN(n) n##_v8
#define VATTR __attribute__((target("avx2")))
#include "layers/vec_act_rows.h"
#define V v16f
#define VI v16i
#define VW 16
#define VN(n) n##_v16
#define VATTR __attribute__((target("avx512f")))
#include "layers/vec_act_rows.h"
#else
#define LSTM_WIDE 0
#endif

/* Widest row kernel this CPU runs: 16, 8 or 4 lanes (decided once). */
static int row_width(void)
{
    static int w;
    if (!w) {
#if LSTM_WIDE
        __builtin_cpu_init();
        w = __builtin_cpu_supports("avx512f") ? 16 : __builtin_cpu_supports("avx2") ? 8 : 4;
#else
        w = 4;
#endif
    }
    return w;
}

/* out = act(in) over n floats, sigmoid or tanh, vector rows then a tail. */
static void vec_act_f32(bool is_tanh, const float *in, float *out, int64_t n)
{
    int64_t u = 0;
#if LSTM_WIDE
    const int w = row_width();
    if (w == 16)
        u = act_row_v16(is_tanh, in, out, n);
    else if (w == 8)
        u = act_row_v8(is_tanh, in, out, n);
#endif
    u += act_row_v4(is_tanh, in + u, out + u, n - u);
    act_row_v1(is_tanh, in + u, out + u, n - u);
}

/* One kept row of a forward step, default activation pair (vec_act_rows.h). */
static void lstm_fwd_row_f32(int64_t U, const float *z, const float *hr, const float *bias,
                             const float *cp, float *g, float *cn, float *ca, float *h, float *y)
{
    int64_t u = 0;
#if LSTM_WIDE
    const int w = row_width();
    if (w == 16)
        u = lstm_fwd_row_v16(0, U, z, hr, bias, cp, g, cn, ca, h, y);
    else if (w == 8)
        u = lstm_fwd_row_v8(0, U, z, hr, bias, cp, g, cn, ca, h, y);
#endif
    u = lstm_fwd_row_v4(u, U, z, hr, bias, cp, g, cn, ca, h, y);
    lstm_fwd_row_v1(u, U, z, hr, bias, cp, g, cn, ca, h, y);
}

/* One kept row of a backward step, default activation pair. */
static void lstm_back_row_f32(int64_t U, const float *g, const float *ca, const float *cp,
                              const float *dyk, const float *dl, float *cr, const float *dh,
                              float *dc, float *z)
{
    int64_t u = 0;
#if LSTM_WIDE
    const int w = row_width();
    if (w == 16)
        u = lstm_back_row_v16(0, U, g, ca, cp, dyk, dl, cr, dh, dc, z);
    else if (w == 8)
        u = lstm_back_row_v8(0, U, g, ca, cp, dyk, dl, cr, dh, dc, z);
#endif
    u = lstm_back_row_v4(u, U, g, ca, cp, dyk, dl, cr, dh, dc, z);
    lstm_back_row_v1(u, U, g, ca, cp, dyk, dl, cr, dh, dc, z);
}

#define R float
#define SFX(n) n##_f32
#define GEMM cblas_sgemm
#define GEMV cblas_sgemv
#define SIGM sigm_f
#define TANH tanhf
#define ROW_VEC 1
#define SGEMM 1
#include "layers/lstm_fused_impl.h"
#undef SGEMM
#undef ROW_VEC
#undef R
#undef SFX
#undef GEMM
#undef GEMV
#undef SIGM
#undef TANH

#define R double
#define SFX(n) n##_f64
#define GEMM cblas_dgemm
#define GEMV cblas_dgemv
#define SIGM sigm_d
#define TANH tanh
#define ROW_VEC 0
#define SGEMM 0
#include "layers/lstm_fused_impl.h"
#undef SGEMM
#undef ROW_VEC
#undef R
#undef SFX
#undef GEMM
#undef GEMV
#undef SIGM
#undef TANH

static void *grad_of(rnnc_tensor *t) { return (t && t->requires_grad) ? t->grad : NULL; }
static const void *out_grad(rnnc_tensor *t) { return t ? t->grad : NULL; }

static rnnc_status lstm_backward(rnnc_node *n)
{
    lstm_state *st = n->state;
    if (!st || !st->done)
        return rnnc_fail(RNNC_E_STATE, "lstm_fused backward: the forward pass did not complete");
    if (st->spent)
        return rnnc_fail(RNNC_E_STATE, "lstm_fused backward: this node's backward already ran (its saved pre-activations are spent); run the forward again");
    st->spent = true;
    const int o = st->return_sequences ? 1 : 0;
    const void *dY = st->return_sequences ? out_grad(n->out[0]) : NULL;
    const void *dl = out_grad(n->out[o]), *dh = out_grad(n->out[o + 1]),
               *dc = out_grad(n->out[o + 2]);
    rnnc_tensor *x = n->in[0], *W = n->in[3], *Rk = n->in[4];
    rnnc_tensor *bias = n->n_in > 5 ? n->in[5] : NULL;
    if (st->dt == RNNC_F32) { /* FTZ + DAZ inside (framework/fpenv.h) */
        const rnnc__fp_scope fp = rnnc__flush_begin();
        rnnc_status s = backward_f32(st, dY, dl, dh, dc, x->data, W->data, Rk->data, grad_of(x),
                                     grad_of(n->in[1]), grad_of(n->in[2]), grad_of(W),
                                     grad_of(Rk), grad_of(bias));
        rnnc__flush_end(fp);
        return s;
    }
    return backward_f64(st, dY, dl, dh, dc, x->data, W->data, Rk->data, grad_of(x),
                        grad_of(n->in[1]), grad_of(n->in[2]), grad_of(W), grad_of(Rk),
                        grad_of(bias));
}

static rnnc_status check_args(const rnnc__lstm_fused_args *a)
{
    char s1[160], s2[160], s3[160];
    if (!a->x || !a->h0 || !a->c0 || !a->kernel || !a->recurrent_kernel)
        return rnnc_fail(RNNC_E_ARG, "lstm_fused: x, h0, c0, kernel and recurrent_kernel are required");
    const rnnc_dtype dt = a->x->dtype;
    if (dt != RNNC_F32 && dt != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "lstm_fused: x must be float32 or float64, got %s",
                         rnnc_dtype_name(dt));
    const rnnc_tensor *fl[5] = {a->h0, a->c0, a->kernel, a->recurrent_kernel, a->bias};
    for (int i = 0; i < 5; i++)
        if (fl[i] && fl[i]->dtype != dt)
            return rnnc_fail(RNNC_E_DTYPE, "lstm_fused: all operands must be %s like x, got %s of shape %s",
                             rnnc_dtype_name(dt), rnnc_dtype_name(fl[i]->dtype),
                             rnnc_shape_str(&fl[i]->shape, s1, sizeof s1));
    if (a->x->shape.ndim != 3 || a->kernel->shape.ndim != 2 ||
        a->recurrent_kernel->shape.ndim != 2)
        return rnnc_fail(RNNC_E_SHAPE, "lstm_fused: x %s must be (B, T, F), kernel %s (F, 4U), recurrent_kernel %s (U, 4U)",
                         rnnc_shape_str(&a->x->shape, s1, sizeof s1),
                         rnnc_shape_str(&a->kernel->shape, s2, sizeof s2),
                         rnnc_shape_str(&a->recurrent_kernel->shape, s3, sizeof s3));
    const int64_t B = a->x->shape.dim[0], T = a->x->shape.dim[1], F = a->x->shape.dim[2];
    const int64_t U = a->recurrent_kernel->shape.dim[0];
    const rnnc_shape ks = RNNC_SHAPE(F, 4 * U), rs = RNNC_SHAPE(U, 4 * U), hs = RNNC_SHAPE(B, U),
                     bs = RNNC_SHAPE(4 * U);
    if (B < 1 || T < 1 || F < 1 || U < 1 || !rnnc_shape_eq(&a->kernel->shape, &ks) ||
        !rnnc_shape_eq(&a->recurrent_kernel->shape, &rs) || !rnnc_shape_eq(&a->h0->shape, &hs) ||
        !rnnc_shape_eq(&a->c0->shape, &hs) || (a->bias && !rnnc_shape_eq(&a->bias->shape, &bs)))
        return rnnc_fail(RNNC_E_SHAPE, "lstm_fused: shapes do not fit x %s: kernel %s, recurrent_kernel %s (states (B, U), bias (4U,))",
                         rnnc_shape_str(&a->x->shape, s1, sizeof s1),
                         rnnc_shape_str(&a->kernel->shape, s2, sizeof s2),
                         rnnc_shape_str(&a->recurrent_kernel->shape, s3, sizeof s3));
    if (a->mask) {
        const rnnc_shape ms = RNNC_SHAPE(B, T);
        if (a->mask->dtype != RNNC_U8 || !rnnc_shape_eq(&a->mask->shape, &ms))
            return rnnc_fail(RNNC_E_SHAPE, "lstm_fused: mask must be uint8 %s, got %s %s",
                             rnnc_shape_str(&ms, s1, sizeof s1), rnnc_dtype_name(a->mask->dtype),
                             rnnc_shape_str(&a->mask->shape, s2, sizeof s2));
    }
    if (a->dropout) {
        const rnnc_shape ds = RNNC_SHAPE(B, F);
        if (a->dropout->dtype != dt || !rnnc_shape_eq(&a->dropout->shape, &ds))
            return rnnc_fail(RNNC_E_SHAPE, "lstm_fused: the dropout mask must be %s %s, got %s %s",
                             rnnc_dtype_name(dt), rnnc_shape_str(&ds, s1, sizeof s1),
                             rnnc_dtype_name(a->dropout->dtype),
                             rnnc_shape_str(&a->dropout->shape, s2, sizeof s2));
    }
    if (!rnnc_act_is_elementwise(a->activation) || !rnnc_act_is_elementwise(a->recurrent_activation))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "lstm_fused: activations '%s'/'%s': only element-wise activations are fused",
                         rnnc_act_name(a->activation), rnnc_act_name(a->recurrent_activation));
    if (B * T > INT_MAX / 8 || 4 * U > INT_MAX / 8 || F > INT_MAX / 8 ||
        (B * T) > (int64_t)(SIZE_MAX / 32) / (F + 12 * U + 8))
        return rnnc_fail(RNNC_E_SHAPE, "lstm_fused: x %s is too large for BLAS int dimensions",
                         rnnc_shape_str(&a->x->shape, s1, sizeof s1));
    return RNNC_OK;
}

/* Carves the workspace out of one block. */
static bool state_alloc(lstm_state *st, const rnnc__lstm_fused_args *a)
{
    const int64_t B = st->B, T = st->T, F = st->F, U = st->U, BT = B * T;
    const size_t es = rnnc_dtype_size(st->dt);
    const bool drop = a->dropout != NULL;
    const int64_t back = 4 * B * U + U + (st->dt == RNNC_F32 && rnnc__small_gemm_steps(B, 4 * U, U)
                                          ? 4 * U * U
                                          : 0);
    const int64_t scratch = back > 6 * U + 4 * B * U ? back : 6 * U + 4 * B * U;
    size_t n = (size_t)(BT * (8 * U + 4 * U) + scratch + BT * F);
    if (drop)
        n += (size_t)(B * F);
    char *p = rnnc__block_alloc(n * es, false); /* reused across calls (block_cache.h) */
    if (!p)
        return false;
    st->block = p;
#define TAKE(field, count)                                                                         \
    do {                                                                                           \
        st->field = p;                                                                             \
        p += (size_t)(count) * es;                                                                 \
    } while (0)
    TAKE(Z, BT * 4 * U);
    TAKE(G, BT * 4 * U);
    TAKE(Hp, BT * U);
    TAKE(Cp, BT * U);
    TAKE(Cn, BT * U);
    TAKE(Ca, BT * U);
    TAKE(bw, scratch);
    TAKE(xt, BT * F);
    if (drop) {
        TAKE(drop, B * F);
        memcpy(st->drop, a->dropout->data, (size_t)(B * F) * es);
    }
#undef TAKE
    if (a->mask) {
        st->mask = malloc((size_t)BT);
        if (!st->mask)
            return false;
        memcpy(st->mask, a->mask->data, (size_t)BT);
    }
    return true;
}

rnnc_status rnnc__lstm_fused(rnnc_ctx *cx, const rnnc__lstm_fused_args *a,
                             rnnc__lstm_fused_out *out)
{
    memset(out, 0, sizeof *out);
    RNNC_TRY(check_args(a));
    const rnnc_dtype dt = a->x->dtype;
    const int64_t B = a->x->shape.dim[0], T = a->x->shape.dim[1], F = a->x->shape.dim[2];
    const int64_t U = a->recurrent_kernel->shape.dim[0];
    const rnnc_shape ys = RNNC_SHAPE(B, T, U), hs = RNNC_SHAPE(B, U);
    rnnc_tensor *Y = NULL, *last, *hT, *cT;
    if (a->return_sequences)
        RNNC_TRY(rnnc_ctx_tensor(cx, dt, &ys, &Y));
    RNNC_TRY(rnnc_ctx_tensor(cx, dt, &hs, &last));
    RNNC_TRY(rnnc_ctx_tensor(cx, dt, &hs, &hT));
    RNNC_TRY(rnnc_ctx_tensor(cx, dt, &hs, &cT));
    lstm_state *st = calloc(1, sizeof *st);
    if (!st)
        return rnnc_fail(RNNC_E_NOMEM, "lstm_fused: out of memory");
    st->dt = dt;
    st->B = B;
    st->T = T;
    st->F = F;
    st->U = U;
    st->go_backwards = a->go_backwards;
    st->return_sequences = a->return_sequences;
    st->zofm = a->zero_output_for_mask;
    st->act = a->activation;
    st->ract = a->recurrent_activation;
    st->mode_a = act_mode(a->activation);
    st->mode_r = act_mode(a->recurrent_activation);
    if (!state_alloc(st, a)) {
        state_free(st);
        return rnnc_fail(RNNC_E_NOMEM, "lstm_fused: out of memory for the workspace of x %lld x %lld x %lld, units %lld",
                         (long long)B, (long long)T, (long long)F, (long long)U);
    }
    rnnc_tensor *ins[6] = {a->x, a->h0, a->c0, a->kernel, a->recurrent_kernel, a->bias};
    rnnc_tensor *outs[4];
    int n_out = 0;
    if (Y)
        outs[n_out++] = Y;
    outs[n_out++] = last;
    outs[n_out++] = hT;
    outs[n_out++] = cT;
    rnnc_node *node;
    rnnc_status s = rnnc_ctx_record(cx, "lstm_fused", lstm_backward, a->bias ? 6 : 5, ins, n_out,
                                    outs, &node);
    if (s) {
        state_free(st);
        return s;
    }
    if (node) {
        node->state = st;
        node->free_state = state_free;
    }
    st->save = node != NULL;
    const void *bias = a->bias ? a->bias->data : NULL;
    if (dt == RNNC_F32) { /* FTZ + DAZ inside (framework/fpenv.h) */
        const rnnc__fp_scope fp = rnnc__flush_begin();
        s = forward_f32(st, a->x->data, a->h0->data, a->c0->data, a->kernel->data,
                        a->recurrent_kernel->data, bias, Y ? Y->data : NULL, last->data, hT->data,
                        cT->data);
        rnnc__flush_end(fp);
    } else
        s = forward_f64(st, a->x->data, a->h0->data, a->c0->data, a->kernel->data,
                        a->recurrent_kernel->data, bias, Y ? Y->data : NULL, last->data, hT->data,
                        cT->data);
    st->done = s == RNNC_OK;
    if (!node)
        state_free(st);
    if (s)
        return s;
    out->outputs = Y;
    out->last = last;
    out->h = hT;
    out->c = cT;
    return RNNC_OK;
}
