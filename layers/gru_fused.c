/* gru_fused.c - the fused whole-sequence GRU kernel (gru_fused.h): argument
 * checks, the tape node and its saved state, the workspace cache, float32's
 * row-kernel dispatch (gru_fused_rows.h at 1, 4, 8 and 16 lanes); the
 * float32 products go through small_gemm.c (small_sgemm on AVX-512F, else
 * BLAS); the float32 and float64 bodies come from
 * gru_fused_impl.h (included once per type). Measurements behind the
 * choices: README.md, "Performance". */
#include "layers/gru_fused.h"

#include "framework/block_cache.h"
#include "framework/fpenv.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers/small_gemm_internal.h"

/* How an activation is evaluated inside the kernel: inline fast paths for
 * the common ones, rnnc_act_apply / rnnc_act_deriv for the rest. */
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

/* What the node keeps from forward to backward (buffers in the node's dtype). */
typedef struct fused_state {
    rnnc_dtype dt;
    int64_t B, T, F, U;
    bool reset_after, go_backwards, return_sequences, zofm;
    rnnc_act act, ract;
    int mode_h, mode_r;
    bool save_pre;  /* an activation needs its pre-activation for the derivative */
    rnnc_precision prec; /* a 16-bit policy's rounding (float32 only), or NONE */
    bool spent;     /* backward ran: it overwrites the saved gates */
    uint8_t *mask;  /* (B, T) copy, or NULL */
    void *drop;     /* (B, F) copy of the input dropout mask, or NULL */
    void *xw;       /* (B*T, 3U) input projections; backward's dxw */
    void *hs;       /* (T+1, B, U) states */
    void *gates;    /* (T, B, 3U) z, r, h~; backward turns it into dhr */
    void *pre;      /* (T, B, 3U) pre-activations, or NULL */
    void *rh;       /* (T, B, U) */
} fused_state;

/* ---- workspaces --------------------------------------------------------- */

/* The workspaces are big (several B*T*3U arrays) and the next call of a
 * training loop wants the same sizes again: they come from the process's
 * block cache (framework/block_cache.h), so a call does not fault in fresh
 * pages. */
static void *ws_alloc(size_t bytes) { return rnnc__block_alloc(bytes, false); }
static void ws_free(void *p) { rnnc__block_free(p); }

static void state_free(void *p)
{
    fused_state *st = p;
    if (!st)
        return;
    free(st->mask);
    free(st->drop);
    ws_free(st->xw);
    ws_free(st->hs);
    ws_free(st->gates);
    ws_free(st->pre);
    ws_free(st->rh);
    free(st);
}

#if defined(__clang__)
/* The row kernels rely on a * b + c staying two roundings at every vector
 * width (GCC's default in ISO C mode; Clang contracts unless told). */
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__GNUC__) /* GCC and Clang: vector extensions */
#define RNNC__FUSED_VEC 1
/* float32 row kernels for the default activations, on vector types: 4
 * lanes (one SSE2/NEON register, the baseline of x86-64 and arm64), on x86
 * also 8 (AVX2) and 16 (AVX-512F) lanes picked at run time, and 1 lane for
 * a row's tail (gru_fused_rows.h). All widths give bit-identical results. */
typedef float v1f __attribute__((vector_size(4)));
typedef int32_t v1i __attribute__((vector_size(4)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

#define VATTR
#define V v1f
#define VI v1i
#define VW 1
#define VN(n) n##_v1
#include "layers/gru_fused_rows.h"
#undef V
#undef VI
#undef VW
#undef VN
#define V v4f
#define VI v4i
#define VW 4
#define VN(n) n##_v4
#include "layers/gru_fused_rows.h"
#undef V
#undef VI
#undef VW
#undef VN
#undef VATTR

#if defined(__x86_64__) || defined(__i386__)
#define RNNC__FUSED_WIDE 1
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
/* Vectors wider than the baseline cross no call boundary: every function
 * taking or returning one is inlined into a row driver of its own target. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#define VATTR __attribute__((target("avx2")))
#define V v8f
#define VI v8i
#define VW 8
#define VN(n) n##_v8
#include "layers/gru_fused_rows.h"
#undef V
#undef VI
#undef VW
#undef VN
#undef VATTR
#define VATTR __attribute__((target("avx512f")))
#define V v16f
#define VI v16i
#define VW 16
#define VN(n) n##_v16
#include "layers/gru_fused_rows.h"
#undef V
#undef VI
#undef VW
#undef VN
#undef VATTR
#pragma GCC diagnostic pop
#else
#define RNNC__FUSED_WIDE 0
#endif

/* The row drivers of one width. */
typedef struct row_kernels {
    void (*fwd_ra)(int64_t U, const float *x, const float *h, const float *bx, const float *bhr,
                   const float *hp, float *g, float *rh, float *hn);
    void (*fwd_rb1)(int64_t U, const float *x, const float *h, const float *bx, const float *hp,
                    float *g, float *rh);
    void (*fwd_rb2)(int64_t U, const float *xh, const float *q, const float *bxh, const float *hp,
                    float *g, float *hn);
    void (*back_keep)(int64_t U, bool reset_after, const float *g, const float *rh,
                      const float *hp, const float *dYk, const float *dl, float *dy,
                      const float *dh, float *dx, float *dq, float *dhp, float *dhn);
    void (*back_rb2)(int64_t U, const float *g, const float *hp, const float *q,
                     const float *dnz, float *dx, float *dq, float *dhp);
    /* mixed_bfloat16 forward rows */
    void (*lp_proj)(int64_t n, float *x, const float *b);
    void (*lp_acc)(int64_t n, float *c, const float *p);
    void (*lp_ra)(int64_t U, const float *x, const float *h, const float *br, const float *hp,
                  float *g, float *rh, float *hn);
    void (*lp_rb1)(int64_t U, const float *x, const float *h, const float *hp, float *g,
                   float *rh);
    void (*lp_rb2)(int64_t U, const float *xh, const float *q, const float *hp, float *g,
                   float *hn);
    void (*lp_back)(int64_t U, bool reset_after, const float *g, const float *ih,
                    const float *hp, const float *dYk, const float *dl, float *dy,
                    const float *dh, float *dx, float *dq, float *dhp, float *dhn);
} row_kernels;

#define ROW_KERNELS(w)                                                                         \
    {row_fwd_ra_##w, row_fwd_rb1_##w, row_fwd_rb2_##w, row_back_keep_##w, row_back_rb2_##w,    \
     row_lp_proj_##w, row_lp_acc_##w, row_lp_ra_##w, row_lp_rb1_##w, row_lp_rb2_##w,          \
     row_lp_back_##w}
static const row_kernels rows_v4 = ROW_KERNELS(v4);
#if RNNC__FUSED_WIDE
static const row_kernels rows_v8 = ROW_KERNELS(v8), rows_v16 = ROW_KERNELS(v16);
#endif

/* The widest row kernels this CPU runs (the answer is the same every call). */
static const row_kernels *rows(void)
{
#if RNNC__FUSED_WIDE
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return &rows_v16;
    if (__builtin_cpu_supports("avx2"))
        return &rows_v8;
#endif
    return &rows_v4;
}

/* Scalar forms with the very same operations (for the other activation
 * pairs that include sigmoid or tanh). */
static inline float fast_sigmoidf(float x) { return sigmoid_v1((v1f){x})[0]; }
static inline float fast_tanhf(float x) { return tanh_v1((v1f){x})[0]; }
#else /* no vector extensions: libm, scalar loops */
#define RNNC__FUSED_VEC 0
static inline float fast_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float fast_tanhf(float x) { return tanhf(x); }
#endif

static inline double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

#define FUSED_VEC RNNC__FUSED_VEC
#define R float
#define SFX(n) n##_f32
#define GEMM cblas_sgemm
#define GEMV cblas_sgemv
#define SIGM fast_sigmoidf
#define TANH fast_tanhf
#include "layers/gru_fused_impl.h"
#undef R
#undef SFX
#undef GEMM
#undef GEMV
#undef SIGM
#undef TANH
#undef FUSED_VEC

/* float64 keeps libm: it is the precision reference (and matches Keras's
 * float64 fixtures to 1e-9). */
#define FUSED_VEC 0
#define R double
#define SFX(n) n##_f64
#define GEMM cblas_dgemm
#define GEMV cblas_dgemv
#define SIGM sigmoid_d
#define TANH tanh
#include "layers/gru_fused_impl.h"
#undef R
#undef SFX
#undef GEMM
#undef GEMV
#undef SIGM
#undef TANH
#undef FUSED_VEC

bool rnnc__gru_fused_supports(rnnc_act a)
{
    return rnnc_act_is_elementwise(a);
}

/* A gradient buffer to accumulate into, or NULL when t needs none. */
static void *grad_of(rnnc_tensor *t) { return (t && t->requires_grad) ? t->grad : NULL; }

static rnnc_status fused_backward(rnnc_node *n)
{
    fused_state *st = n->state;
    if (!st || !st->hs)
        return rnnc_fail(RNNC_E_STATE, "gru_fused backward: the forward pass did not complete");
    if (st->spent)
        return rnnc_fail(RNNC_E_STATE, "gru_fused backward: this node's backward already ran (its saved gates are spent); run the forward again");
    st->spent = true;
    const int o = st->return_sequences ? 1 : 0;
    const void *dY = st->return_sequences ? n->out[0]->grad : NULL;
    const void *dlast = n->out[o]->grad, *dhT = n->out[o + 1]->grad;
    rnnc_tensor *x = n->in[0], *h0 = n->in[1], *W = n->in[2], *Rk = n->in[3];
    rnnc_tensor *bias = n->n_in > 4 ? n->in[4] : NULL;
    if (st->dt == RNNC_F32) { /* FTZ + DAZ inside (framework/fpenv.h) */
        const rnnc__fp_scope fp = rnnc__flush_begin();
        rnnc_status s = backward_f32(st, dY, dlast, dhT, x->data, W->data, Rk->data, grad_of(x),
                                     grad_of(h0), grad_of(W), grad_of(Rk), grad_of(bias));
        rnnc__flush_end(fp);
        return s;
    }
    return backward_f64(st, dY, dlast, dhT, x->data, W->data, Rk->data, grad_of(x), grad_of(h0),
                        grad_of(W), grad_of(Rk), grad_of(bias));
}

static rnnc_status check_args(const rnnc__gru_fused_args *a)
{
    char s1[160], s2[160], s3[160];
    if (!a->x || !a->h0 || !a->kernel || !a->recurrent_kernel)
        return rnnc_fail(RNNC_E_ARG, "gru_fused: x, h0, kernel and recurrent_kernel are required");
    const rnnc_dtype dt = a->x->dtype;
    if (dt != RNNC_F32 && dt != RNNC_F64)
        return rnnc_fail(RNNC_E_DTYPE, "gru_fused: x must be float32 or float64, got %s",
                         rnnc_dtype_name(dt));
    const rnnc_tensor *fl[4] = {a->h0, a->kernel, a->recurrent_kernel, a->bias};
    for (int i = 0; i < 4; i++)
        if (fl[i] && fl[i]->dtype != dt)
            return rnnc_fail(RNNC_E_DTYPE, "gru_fused: all operands must be %s like x, got %s of shape %s",
                             rnnc_dtype_name(dt), rnnc_dtype_name(fl[i]->dtype),
                             rnnc_shape_str(&fl[i]->shape, s1, sizeof s1));
    if (a->x->shape.ndim != 3 || a->recurrent_kernel->shape.ndim != 2 ||
        a->kernel->shape.ndim != 2)
        return rnnc_fail(RNNC_E_SHAPE, "gru_fused: x %s must be (B, T, F), kernel %s (F, 3U), recurrent_kernel %s (U, 3U)",
                         rnnc_shape_str(&a->x->shape, s1, sizeof s1),
                         rnnc_shape_str(&a->kernel->shape, s2, sizeof s2),
                         rnnc_shape_str(&a->recurrent_kernel->shape, s3, sizeof s3));
    const int64_t B = a->x->shape.dim[0], T = a->x->shape.dim[1], F = a->x->shape.dim[2];
    const int64_t U = a->recurrent_kernel->shape.dim[0];
    const rnnc_shape ks = RNNC_SHAPE(F, 3 * U), rs = RNNC_SHAPE(U, 3 * U), hs = RNNC_SHAPE(B, U);
    if (B < 1 || T < 1 || F < 1 || U < 1 || !rnnc_shape_eq(&a->kernel->shape, &ks) ||
        !rnnc_shape_eq(&a->recurrent_kernel->shape, &rs) || !rnnc_shape_eq(&a->h0->shape, &hs))
        return rnnc_fail(RNNC_E_SHAPE, "gru_fused: shapes do not fit x %s: kernel %s, recurrent_kernel %s, h0 %s",
                         rnnc_shape_str(&a->x->shape, s1, sizeof s1),
                         rnnc_shape_str(&a->kernel->shape, s2, sizeof s2),
                         rnnc_shape_str(&a->recurrent_kernel->shape, s3, sizeof s3),
                         rnnc_shape_str(&a->h0->shape, s3, sizeof s3));
    if (a->bias) {
        const rnnc_shape bs = a->reset_after ? RNNC_SHAPE(2, 3 * U) : RNNC_SHAPE(3 * U);
        if (!rnnc_shape_eq(&a->bias->shape, &bs))
            return rnnc_fail(RNNC_E_SHAPE, "gru_fused: bias must be %s for reset_after=%s, got %s",
                             rnnc_shape_str(&bs, s1, sizeof s1), a->reset_after ? "True" : "False",
                             rnnc_shape_str(&a->bias->shape, s2, sizeof s2));
    }
    if (a->mask) {
        const rnnc_shape ms = RNNC_SHAPE(B, T);
        if (a->mask->dtype != RNNC_U8 || !rnnc_shape_eq(&a->mask->shape, &ms))
            return rnnc_fail(RNNC_E_SHAPE, "gru_fused: mask must be uint8 %s, got %s %s",
                             rnnc_shape_str(&ms, s1, sizeof s1), rnnc_dtype_name(a->mask->dtype),
                             rnnc_shape_str(&a->mask->shape, s2, sizeof s2));
    }
    if (a->dropout) {
        const rnnc_shape ds = RNNC_SHAPE(B, F);
        if (a->dropout->dtype != dt || !rnnc_shape_eq(&a->dropout->shape, &ds))
            return rnnc_fail(RNNC_E_SHAPE, "gru_fused: the dropout mask must be %s %s, got %s %s",
                             rnnc_dtype_name(dt), rnnc_shape_str(&ds, s1, sizeof s1),
                             rnnc_dtype_name(a->dropout->dtype),
                             rnnc_shape_str(&a->dropout->shape, s2, sizeof s2));
    }
    if (!rnnc__gru_fused_supports(a->activation) || !rnnc__gru_fused_supports(a->recurrent_activation))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "gru_fused: activations '%s'/'%s': only element-wise activations are fused",
                         rnnc_act_name(a->activation), rnnc_act_name(a->recurrent_activation));
    /* BLAS takes int dimensions. */
    if (B * T > INT_MAX / 4 || 3 * U > INT_MAX / 4 || F > INT_MAX / 4)
        return rnnc_fail(RNNC_E_SHAPE, "gru_fused: x %s is too large for BLAS int dimensions",
                         rnnc_shape_str(&a->x->shape, s1, sizeof s1));
    return RNNC_OK;
}

rnnc_status rnnc__gru_fused(rnnc_ctx *cx, const rnnc__gru_fused_args *a, rnnc__gru_fused_out *out)
{
    memset(out, 0, sizeof *out);
    RNNC_TRY(check_args(a));
    const rnnc_dtype dt = a->x->dtype;
    const int64_t B = a->x->shape.dim[0], T = a->x->shape.dim[1], F = a->x->shape.dim[2];
    const int64_t U = a->recurrent_kernel->shape.dim[0];
    const rnnc_shape ys = RNNC_SHAPE(B, T, U), hs = RNNC_SHAPE(B, U);
    rnnc_tensor *Y = NULL, *last, *hT;
    if (a->return_sequences)
        RNNC_TRY(rnnc_ctx_tensor(cx, dt, &ys, &Y));
    RNNC_TRY(rnnc_ctx_tensor(cx, dt, &hs, &last));
    RNNC_TRY(rnnc_ctx_tensor(cx, dt, &hs, &hT));

    fused_state *st = calloc(1, sizeof *st);
    if (!st)
        return rnnc_fail(RNNC_E_NOMEM, "gru_fused: out of memory");
    st->dt = dt;
    st->B = B;
    st->T = T;
    st->F = F;
    st->U = U;
    st->reset_after = a->reset_after;
    st->go_backwards = a->go_backwards;
    st->return_sequences = a->return_sequences;
    st->zofm = a->zero_output_for_mask;
    st->act = a->activation;
    st->ract = a->recurrent_activation;
    st->mode_h = act_mode(a->activation);
    st->mode_r = act_mode(a->recurrent_activation);
    st->save_pre = st->mode_h == ACT_GENERAL || st->mode_r == ACT_GENERAL;
    st->prec = dt == RNNC_F32 ? a->prec : RNNC_PREC_NONE;
    if (a->mask) {
        st->mask = malloc((size_t)(B * T));
        if (st->mask)
            memcpy(st->mask, a->mask->data, (size_t)(B * T));
    }
    if (a->dropout) {
        st->drop = malloc((size_t)(B * F) * rnnc_dtype_size(dt));
        if (st->drop)
            memcpy(st->drop, a->dropout->data, (size_t)(B * F) * rnnc_dtype_size(dt));
    }
    if ((a->mask && !st->mask) || (a->dropout && !st->drop)) {
        state_free(st);
        return rnnc_fail(RNNC_E_NOMEM, "gru_fused: out of memory");
    }

    rnnc_tensor *ins[5] = {a->x, a->h0, a->kernel, a->recurrent_kernel, a->bias};
    rnnc_tensor *outs[3];
    int n_out = 0;
    if (Y)
        outs[n_out++] = Y;
    outs[n_out++] = last;
    outs[n_out++] = hT;
    rnnc_node *node;
    rnnc_status s = rnnc_ctx_record(cx, "gru_fused", fused_backward, a->bias ? 5 : 4, ins, n_out,
                                    outs, &node);
    if (s) {
        state_free(st);
        return s;
    }
    if (node) { /* the node owns st from here on, also if forward fails */
        node->state = st;
        node->free_state = state_free;
    }
    const void *bias = a->bias ? a->bias->data : NULL;
    if (dt == RNNC_F32) { /* FTZ + DAZ inside (framework/fpenv.h) */
        const rnnc__fp_scope fp = rnnc__flush_begin();
        s = forward_f32(st, node != NULL, a->x->data, a->h0->data, a->kernel->data,
                        a->recurrent_kernel->data, bias, Y ? Y->data : NULL, last->data, hT->data);
        rnnc__flush_end(fp);
    } else
        s = forward_f64(st, node != NULL, a->x->data, a->h0->data, a->kernel->data,
                        a->recurrent_kernel->data, bias, Y ? Y->data : NULL, last->data, hT->data);
    if (!node)
        state_free(st);
    if (s)
        return s;
    out->outputs = Y;
    out->last = last;
    out->state = hT;
    return RNNC_OK;
}
