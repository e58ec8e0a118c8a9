/* cpu_ops.c - the CPU backend of the op table (framework/backend_ops.h):
 * host buffers, OpenBLAS for matmul, and the CPU code's own arithmetic for
 * the rest, so a table call computes what the tape ops and the optimizers
 * compute:
 *   activations    rnnc_act_apply / rnnc_act_deriv in double, stored as
 *                  float (framework/ops_activation.c);
 *   softmax        per row in double, max subtracted (ops_softmax.c);
 *   losses         the formulas of optim/losses.c and optim/loss_ops.c
 *                  (TF's stable sigmoid cross-entropy, log-sum-exp,
 *                  float32 epsilon clipping, CCE's row normalization), in
 *                  double; optim/ cannot be called from framework/
 *                  (tests/check_layering.sh), so test_backend_ops checks
 *                  these against rnnc_loss_values itself;
 *   optimizers     optim/sgd.c and optim/adam.c's float loops, expression
 *                  for expression (AdamW's decay as optim/optimizer.c);
 *   scale_rows, gather/scatter, metrics, copy_block, reverse_time, layer_norm
 *                  cpu_train_ops.c;
 *   the GRU        cpu_gru.c (a float32 reference with BPTT).
 *   the LSTM       cpu_lstm.c (likewise).
 * Nothing here changes an existing caller. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend/cpu/cpu_internal.h"
#include "framework/backend_ops.h"
#include "framework/backend_ops_internal.h"

static const rnnc_backend_ops cpu_ops;
#define BE (&cpu_ops)

static rnnc_status cpu_alloc(rnnc_dtype dtype, size_t n, rnnc_bbuf **out)
{
    rnnc_bbuf *b;
    RNNC_TRY(rnnc__bbuf_header(BE, dtype, n, &b));
    if (n && !(b->data = malloc(n * rnnc_dtype_size(dtype)))) {
        free(b);
        return rnnc_fail(RNNC_E_NOMEM, "cpu alloc: out of memory for %zu elements", n);
    }
    *out = b;
    return RNNC_OK;
}

static void cpu_free(rnnc_bbuf *b)
{
    if (!b)
        return;
    free(b->data);
    free(b);
}

static rnnc_status cpu_upload(rnnc_bbuf *dst, const void *host)
{
    RNNC_TRY(rnnc__transfer_check(BE, "upload", "dst", dst, host));
    if (dst->n)
        memcpy(dst->data, host, dst->n * rnnc_dtype_size(dst->dtype));
    return RNNC_OK;
}

static rnnc_status cpu_download(void *host, const rnnc_bbuf *src)
{
    RNNC_TRY(rnnc__transfer_check(BE, "download", "src", src, host));
    if (src->n)
        memcpy(host, src->data, src->n * rnnc_dtype_size(src->dtype));
    return RNNC_OK;
}

static rnnc_status cpu_fill(rnnc_bbuf *b, float v)
{
    RNNC_TRY(rnnc__bop_check(BE, "fill", "b", b, RNNC_F32, SIZE_MAX));
    float *p = b->data;
    for (size_t i = 0; i < b->n; i++)
        p[i] = v;
    return RNNC_OK;
}

static rnnc_status cpu_copy(rnnc_bbuf *dst, const rnnc_bbuf *src)
{
    RNNC_TRY(rnnc__bop_check(BE, "copy", "src", src, src ? src->dtype : RNNC_F32, SIZE_MAX));
    RNNC_TRY(rnnc__bop_check(BE, "copy", "dst", dst, src->dtype, src->n));
    if (src->n && dst != src)
        memmove(dst->data, src->data, src->n * rnnc_dtype_size(src->dtype));
    return RNNC_OK;
}

static rnnc_status cpu_matmul(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const rnnc_bbuf *a,
                              const rnnc_bbuf *b, float beta, rnnc_bbuf *c)
{
    RNNC_TRY(rnnc__matmul_check(BE, ta, tb, m, n, k, a, b, beta, c));
    if (m == 0 || n == 0)
        return RNNC_OK;
    if (k == 0) {
        if (beta == 0.0f)
            memset(c->data, 0, c->n * sizeof(float));
        return RNNC_OK;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a->data, ta ? (int)m : (int)k, b->data,
                tb ? (int)k : (int)n, beta, c->data, (int)n);
    return RNNC_OK;
}

static rnnc_status cpu_bias_add(int64_t rows, int64_t cols, const rnnc_bbuf *x,
                                const rnnc_bbuf *bias, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__bias_add_check(BE, rows, cols, x, bias, y));
    const float *X = x->data, *B = bias->data;
    float *Y = y->data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            Y[r * cols + j] = X[r * cols + j] + B[j];
    return RNNC_OK;
}

static rnnc_status cpu_binary(rnnc_binop op, const rnnc_bbuf *a, const rnnc_bbuf *b, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__binary_check(BE, op, a, b, y));
    const float *A = a->data, *B = b->data;
    float *Y = y->data;
    for (size_t i = 0; i < a->n; i++)
        Y[i] = op == RNNC_BIN_ADD ? A[i] + B[i] : op == RNNC_BIN_SUB ? A[i] - B[i] : A[i] * B[i];
    return RNNC_OK;
}

static rnnc_status cpu_activation(rnnc_act a, const rnnc_bbuf *x, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__act_check(BE, "activation", a, x, y, NULL, NULL));
    const float *X = x->data;
    float *Y = y->data;
    for (size_t i = 0; i < x->n; i++)
        Y[i] = (float)rnnc_act_apply(a, (double)X[i]);
    return RNNC_OK;
}

static rnnc_status cpu_activation_backward(rnnc_act a, const rnnc_bbuf *x, const rnnc_bbuf *y,
                                           const rnnc_bbuf *dy, rnnc_bbuf *dx)
{
    RNNC_TRY(rnnc__act_check(BE, "activation_backward", a, x, y, dy, dx));
    const float *X = x->data, *Y = y->data, *G = dy->data;
    float *GX = dx->data;
    for (size_t i = 0; i < x->n; i++)
        GX[i] += (float)((double)G[i] * rnnc_act_deriv(a, (double)X[i], (double)Y[i]));
    return RNNC_OK;
}

static double row_max(const float *x, int64_t c)
{
    double m = -INFINITY;
    for (int64_t j = 0; j < c; j++)
        m = ((double)x[j] > m || x[j] != x[j]) ? (double)x[j] : m;
    return m;
}

static rnnc_status cpu_softmax(int64_t rows, int64_t cols, const rnnc_bbuf *x, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__rows_check(BE, "softmax", rows, cols, x, y, NULL));
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + r * cols;
        float *yr = (float *)y->data + r * cols;
        const double m = row_max(xr, cols);
        double s = 0;
        for (int64_t j = 0; j < cols; j++)
            s += exp((double)xr[j] - m);
        for (int64_t j = 0; j < cols; j++)
            yr[j] = (float)(exp((double)xr[j] - m) / s);
    }
    return RNNC_OK;
}

static rnnc_status cpu_softmax_backward(int64_t rows, int64_t cols, const rnnc_bbuf *y,
                                        const rnnc_bbuf *dy, rnnc_bbuf *dx)
{
    RNNC_TRY(rnnc__rows_check(BE, "softmax_backward", rows, cols, y, dy, dx));
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = (const float *)y->data + r * cols, *g = (const float *)dy->data + r * cols;
        float *gx = (float *)dx->data + r * cols;
        double dot = 0;
        for (int64_t j = 0; j < cols; j++)
            dot += (double)g[j] * (double)yr[j];
        for (int64_t j = 0; j < cols; j++)
            gx[j] += (float)((double)yr[j] * ((double)g[j] - dot));
    }
    return RNNC_OK;
}

static rnnc_status cpu_reduce(rnnc_redop op, int64_t outer, int64_t len, int64_t inner,
                              const rnnc_bbuf *x, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__reduce_check(BE, op, outer, len, inner, x, y));
    const float *X = x->data;
    float *Y = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double s = 0;
            for (int64_t l = 0; l < len; l++)
                s += (double)X[(o * len + l) * inner + i];
            Y[o * inner + i] = (float)(op == RNNC_RED_MEAN ? s / (double)len : s);
        }
    return RNNC_OK;
}

/* ---- losses (optim/losses.c's per-sample functions, in double) ---------- */

/* backend.epsilon() and 1 - epsilon as float32 rounds them (losses.c). */
static const double clip_lo = (double)(float)1e-7, clip_hi = (double)(float)(1.0 - 1e-7);

static double clipd(double p, bool *pass)
{
    *pass = p >= clip_lo && p <= clip_hi;
    return p < clip_lo ? clip_lo : p > clip_hi ? clip_hi : p;
}

/* One row: value, and g (cols) = d value / d p when g is not NULL. */
static double loss_row(rnnc_bloss kind, bool logits, int64_t c, const float *t, int32_t id,
                       const float *p, double *g)
{
    double v = 0;
    if (kind == RNNC_BLOSS_MSE) {
        for (int64_t j = 0; j < c; j++) {
            const double d = (double)p[j] - (double)t[j];
            v += d * d;
            if (g)
                g[j] = 2.0 * d / (double)c;
        }
        return v / (double)c;
    }
    if (kind == RNNC_BLOSS_BCE) {
        for (int64_t j = 0; j < c; j++) {
            const double x = p[j], z = t[j];
            if (logits) {
                v += (x > 0 ? x : 0.0) - x * z + log1p(exp(-fabs(x)));
                if (g) {
                    const double s = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
                    g[j] = (s - z) / (double)c;
                }
            } else {
                bool pass;
                const double q = clipd(x, &pass);
                v -= z * log(q) + (1.0 - z) * log(1.0 - q);
                if (g)
                    g[j] = pass ? (-z / q + (1.0 - z) / (1.0 - q)) / (double)c : 0.0;
            }
        }
        return v / (double)c;
    }
    /* The categorical losses: log q_j and dv/dlogq_j through a softmax of
     * logits, or from clipped probabilities. */
    if (logits) {
        const double m = row_max(p, c);
        double s = 0, ts = 0;
        for (int64_t j = 0; j < c; j++)
            s += exp((double)p[j] - m);
        const double lse = m + log(s);
        for (int64_t j = 0; j < c; j++) {
            const double tj = kind == RNNC_BLOSS_SCCE ? (j == id) : (double)t[j];
            v -= tj * ((double)p[j] - lse);
            ts += tj;
        }
        if (g)
            for (int64_t j = 0; j < c; j++) {
                const double tj = kind == RNNC_BLOSS_SCCE ? (j == id) : (double)t[j];
                g[j] = exp((double)p[j] - m) / s * ts - tj;
            }
        return v;
    }
    if (kind == RNNC_BLOSS_CCE) {
        /* q = p / sum(p), clipped; v = -sum t log q. */
        double s = 0, aq = 0;
        for (int64_t j = 0; j < c; j++)
            s += (double)p[j];
        for (int64_t j = 0; j < c; j++) {
            bool pass;
            const double q = clipd((double)p[j] / s, &pass);
            v -= (double)t[j] * log(q);
            if (g) {
                g[j] = pass ? -(double)t[j] / q : 0.0; /* dv/dq_j */
                aq += g[j] * ((double)p[j] / s);
            }
        }
        if (g)
            for (int64_t j = 0; j < c; j++)
                g[j] = (g[j] - aq) / s;
        return v;
    }
    /* SCCE from probabilities: logits = log(clip(p)) (losses.c). */
    double s = 0;
    for (int64_t j = 0; j < c; j++) {
        bool pass;
        s += clipd((double)p[j], &pass);
    }
    bool pass_id;
    const double qid = clipd((double)p[id], &pass_id);
    v = log(s) - log(qid);
    if (g)
        for (int64_t j = 0; j < c; j++) {
            bool pass;
            const double q = clipd((double)p[j], &pass);
            g[j] = pass ? (q / s - (j == id)) / q : 0.0;
        }
    return v;
}

static rnnc_status cpu_loss(rnnc_bloss kind, bool from_logits, int64_t rows, int64_t cols,
                            const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred, rnnc_bbuf *values,
                            rnnc_bbuf *grad, float scale)
{
    RNNC_TRY(rnnc__loss_check(BE, kind, rows, cols, y_true, y_pred, values, grad));
    const int32_t *ids = kind == RNNC_BLOSS_SCCE ? y_true->data : NULL;
    for (int64_t r = 0; ids && r < rows; r++)
        if (ids[r] < 0 || ids[r] >= cols)
            return rnnc_fail(RNNC_E_ARG, "cpu loss: sparse_categorical_crossentropy: class id %d "
                             "in row %lld is outside [0, %lld)", (int)ids[r], (long long)r,
                             (long long)cols);
    double *g = grad ? malloc((size_t)cols * sizeof *g) : NULL;
    if (grad && !g)
        return rnnc_fail(RNNC_E_NOMEM, "cpu loss: out of memory for a row of %lld", (long long)cols);
    const float *P = y_pred->data, *T = ids ? NULL : y_true->data;
    float *V = values->data, *G = grad ? grad->data : NULL;
    for (int64_t r = 0; r < rows; r++) {
        V[r] = (float)loss_row(kind, from_logits, cols, T ? T + r * cols : NULL, ids ? ids[r] : 0,
                               P + r * cols, g);
        for (int64_t j = 0; G && j < cols; j++)
            G[r * cols + j] = (float)((double)scale * g[j]);
    }
    free(g);
    return RNNC_OK;
}

/* ---- optimizers (optim/sgd.c, optim/adam.c with T = float) --------------- */

static rnnc_status cpu_sgd(const rnnc_sgd_params *p, rnnc_bbuf *w, const rnnc_bbuf *g, rnnc_bbuf *m)
{
    RNNC_TRY(rnnc__sgd_check(BE, p, w, g, m));
    typedef float T;
    T *pw = w->data;
    const T *pg = g->data;
    const T l = p->lr;
    if (p->momentum == 0.0f) {
        for (size_t j = 0; j < w->n; j++)
            pw[j] = pw[j] - pg[j] * l;
        return RNNC_OK;
    }
    T *pm = m->data;
    const T mu = p->momentum;
    for (size_t j = 0; j < w->n; j++) {
        pm[j] = pm[j] * mu - pg[j] * l;
        if (p->nesterov)
            pw[j] = pw[j] + (pm[j] * mu - pg[j] * l);
        else
            pw[j] = pw[j] + pm[j];
    }
    return RNNC_OK;
}

static rnnc_status cpu_adam(const rnnc_adam_params *p, rnnc_bbuf *w, const rnnc_bbuf *g,
                            rnnc_bbuf *m, rnnc_bbuf *v, rnnc_bbuf *vhat, const rnnc_bbuf *g_sq)
{
    RNNC_TRY(rnnc__adam_check(BE, p, w, g, m, v, vhat, g_sq));
    typedef float T;
    const rnnc__adam_consts k = rnnc__adam_consts_of(p);
    T *pw = w->data, *pm = m->data, *pv = v->data, *ph = p->amsgrad ? vhat->data : NULL;
    const T *pg = g->data, *psq = g_sq ? g_sq->data : NULL;
    if (p->weight_decay != 0.0)
        for (size_t j = 0; j < w->n; j++)
            pw[j] = pw[j] - (T)(pw[j] * k.wd) * k.lr; /* w - w * wd * lr */
    for (size_t j = 0; j < w->n; j++) {
        pm[j] = pm[j] + (pg[j] - pm[j]) * k.c1;
        pv[j] = pv[j] + ((psq ? psq[j] : pg[j] * pg[j]) - pv[j]) * k.c2;
        T vv = pv[j];
        if (ph) {
            ph[j] = ph[j] > vv ? ph[j] : vv;
            vv = ph[j];
        }
        pw[j] = pw[j] - (pm[j] * k.alpha) / ((T)sqrt((double)vv) + k.eps);
    }
    return RNNC_OK;
}

static const rnnc_backend_ops cpu_ops = {
    .name = "cpu",
    .device = RNNC_DEVICE_CPU,
    .supports = rnnc__bop_supports_f32,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .fill = cpu_fill,
    .copy = cpu_copy,
    .matmul = cpu_matmul,
    .bias_add = cpu_bias_add,
    .binary = cpu_binary,
    .activation = cpu_activation,
    .activation_backward = cpu_activation_backward,
    .softmax = cpu_softmax,
    .softmax_backward = cpu_softmax_backward,
    .reduce = cpu_reduce,
    .loss = cpu_loss,
    .sgd = cpu_sgd,
    .adam = cpu_adam,
    .scale_rows = rnnc__cpu_scale_rows,
    .mul_bcast = rnnc__cpu_mul_bcast,
    .gather_rows = rnnc__cpu_gather_rows,
    .scatter_add_rows = rnnc__cpu_scatter_add_rows,
    .metric = rnnc__cpu_metric,
    .gru_create = rnnc__cpu_gru_create,
    .gru_destroy = rnnc__cpu_gru_destroy,
    .gru_forward = rnnc__cpu_gru_forward,
    .gru_backward = rnnc__cpu_gru_backward,
    .lstm_create = rnnc__cpu_lstm_create,
    .lstm_destroy = rnnc__cpu_lstm_destroy,
    .lstm_forward = rnnc__cpu_lstm_forward,
    .lstm_backward = rnnc__cpu_lstm_backward,
    .copy_block = rnnc__cpu_copy_block,
    .reverse_time = rnnc__cpu_reverse_time,
    .layer_norm = rnnc__cpu_layer_norm,
    .layer_norm_backward = rnnc__cpu_layer_norm_backward,
    .batch_norm = rnnc__cpu_batch_norm,
    .batch_norm_backward = rnnc__cpu_batch_norm_backward,
};

const rnnc_backend_ops *rnnc_backend_ops_cpu(void)
{
    return &cpu_ops;
}
