/* cuda_ops_math.h - the bodies of the op table's CUDA kernels (element i or
 * row r), plain C compiled both as device code (cuda_ops_kernels.cu: one
 * grid-stride loop per body) and as host C (tests/cuda_emu/cuda_emu.c runs
 * the same bodies in CPU loops, so tests/test_backend_ops.c checks this
 * very code against the CPU backend on machines without a GPU).
 *
 * Float32 throughout, IEEE functions (expf, logf, log1pf, sqrtf; no fast
 * math). The formulas are those of the CPU backend (framework/backend/cpu/
 * cpu_ops.c, which works in double) and optim/adam.c / optim/sgd.c (which
 * work in float, as these do). Sibling of cuda_kernel_math.h (the GRU's and
 * the activations' bodies, reused here for the activation ops). */
#ifndef RNNC_CUDA_OPS_MATH_H
#define RNNC_CUDA_OPS_MATH_H

#include "framework/backend/cuda/cuda_kernel_math.h"
#include "framework/backend/cuda/cuda_ops_kernels.h"

/* backend.epsilon() and 1 - epsilon in float32 (optim/losses.c). */
#define RNNC__K_CLIP_LO ((float)1e-7)
#define RNNC__K_CLIP_HI ((float)(1.0 - 1e-7))

RNNC_HD void rnnc__b_bias_add(float *y, const float *x, const float *bias, int64_t cols, size_t i)
{
    y[i] = x[i] + bias[i % (size_t)cols];
}

RNNC_HD void rnnc__b_binary(int op, const float *a, const float *b, float *y, size_t i)
{
    const float u = a[i], v = b[i];
    y[i] = op == RNNC__K_BIN_ADD ? u + v : op == RNNC__K_BIN_SUB ? u - v : u * v;
}

/* The max of a row, NaN when the row has one (as the CPU's row max). */
RNNC_HD float rnnc__b_row_max(const float *x, int64_t c)
{
    float m = -INFINITY;
    for (int64_t j = 0; j < c; j++)
        m = (x[j] > m || x[j] != x[j]) ? x[j] : m;
    return m;
}

RNNC_HD void rnnc__b_softmax_row(const float *x, float *y, int64_t cols, size_t r)
{
    const float *xr = x + r * (size_t)cols;
    float *yr = y + r * (size_t)cols;
    const float m = rnnc__b_row_max(xr, cols);
    float s = 0.0f;
    for (int64_t j = 0; j < cols; j++)
        s += expf(xr[j] - m);
    for (int64_t j = 0; j < cols; j++)
        yr[j] = expf(xr[j] - m) / s;
}

RNNC_HD void rnnc__b_softmax_bwd_row(const float *y, const float *dy, float *dx, int64_t cols,
                                     size_t r)
{
    const size_t o = r * (size_t)cols;
    float dot = 0.0f;
    for (int64_t j = 0; j < cols; j++)
        dot += dy[o + j] * y[o + j];
    for (int64_t j = 0; j < cols; j++)
        dx[o + j] += y[o + j] * (dy[o + j] - dot);
}

/* i indexes y (outer, inner). */
RNNC_HD void rnnc__b_reduce(int op, const float *x, float *y, int64_t len, int64_t inner, size_t i)
{
    const size_t o = i / (size_t)inner, in = i % (size_t)inner;
    float s = 0.0f;
    for (int64_t l = 0; l < len; l++)
        s += x[(o * (size_t)len + (size_t)l) * (size_t)inner + in];
    y[i] = op == RNNC__K_RED_MEAN ? s / (float)len : s;
}

RNNC_HD float rnnc__b_clip(float p, int *pass)
{
    *pass = p >= RNNC__K_CLIP_LO && p <= RNNC__K_CLIP_HI;
    return p < RNNC__K_CLIP_LO ? RNNC__K_CLIP_LO : p > RNNC__K_CLIP_HI ? RNNC__K_CLIP_HI : p;
}

/* Row r of the loss: values[r] and, when a->grad, the gradient row. */
RNNC_HD void rnnc__b_loss_row(const rnnc__loss_kargs *a, size_t r)
{
    const int64_t c = a->cols;
    const float fc = (float)c;
    const float *p = a->p + r * (size_t)c;
    const float *t = a->t ? a->t + r * (size_t)c : NULL;
    float *g = a->grad ? a->grad + r * (size_t)c : NULL;
    const int id = a->ids ? a->ids[r] : -1;
    float v = 0.0f;
    int pass;
    if (a->kind == RNNC__K_LOSS_SCCE && (id < 0 || id >= c)) {
        /* Out of range: NaN, as TensorFlow on a GPU (no host check). */
        a->values[r] = NAN;
        for (int64_t j = 0; g && j < c; j++)
            g[j] = NAN;
        return;
    }
    if (a->kind == RNNC__K_LOSS_MSE) {
        for (int64_t j = 0; j < c; j++) {
            const float d = p[j] - t[j];
            v += d * d;
            if (g)
                g[j] = a->scale * (2.0f * d / fc);
        }
        a->values[r] = v / fc;
        return;
    }
    if (a->kind == RNNC__K_LOSS_BCE) {
        for (int64_t j = 0; j < c; j++) {
            const float x = p[j], z = t[j];
            if (a->from_logits) {
                v += (x > 0.0f ? x : 0.0f) - x * z + log1pf(expf(-fabsf(x)));
                if (g)
                    g[j] = a->scale * ((rnnc__k_sigmoid(x) - z) / fc);
            } else {
                const float q = rnnc__b_clip(x, &pass);
                v -= z * logf(q) + (1.0f - z) * logf(1.0f - q);
                if (g)
                    g[j] = pass ? a->scale * ((-z / q + (1.0f - z) / (1.0f - q)) / fc) : 0.0f;
            }
        }
        a->values[r] = v / fc;
        return;
    }
    if (a->from_logits) { /* CCE, SCCE: log_softmax */
        const float m = rnnc__b_row_max(p, c);
        float s = 0.0f, ts = 0.0f;
        for (int64_t j = 0; j < c; j++)
            s += expf(p[j] - m);
        const float lse = m + logf(s);
        for (int64_t j = 0; j < c; j++) {
            const float tj = t ? t[j] : (j == id ? 1.0f : 0.0f);
            v -= tj * (p[j] - lse);
            ts += tj;
        }
        for (int64_t j = 0; g && j < c; j++) {
            const float tj = t ? t[j] : (j == id ? 1.0f : 0.0f);
            g[j] = a->scale * (expf(p[j] - m) / s * ts - tj);
        }
        a->values[r] = v;
        return;
    }
    if (a->kind == RNNC__K_LOSS_CCE) { /* q = clip(p / sum p); -sum t log q */
        float s = 0.0f, aq = 0.0f;
        for (int64_t j = 0; j < c; j++)
            s += p[j];
        for (int64_t j = 0; j < c; j++) {
            const float q = rnnc__b_clip(p[j] / s, &pass);
            v -= t[j] * logf(q);
            if (g) {
                g[j] = pass ? -t[j] / q : 0.0f; /* dv/dq_j, kept in g for now */
                aq += g[j] * (p[j] / s);
            }
        }
        for (int64_t j = 0; g && j < c; j++)
            g[j] = a->scale * ((g[j] - aq) / s);
        a->values[r] = v;
        return;
    }
    /* SCCE from probabilities: logits = log(clip(p)). */
    float s = 0.0f;
    for (int64_t j = 0; j < c; j++)
        s += rnnc__b_clip(p[j], &pass);
    a->values[r] = logf(s) - logf(rnnc__b_clip(p[id], &pass));
    for (int64_t j = 0; g && j < c; j++) {
        const float q = rnnc__b_clip(p[j], &pass);
        g[j] = pass ? a->scale * ((q / s - (j == id ? 1.0f : 0.0f)) / q) : 0.0f;
    }
}

/* ---- the training-step ops ---------------------------------------------- */

/* Device code adds with atomicAdd; host passes (the emulation's loop, one
 * thread) add plainly. */
#if defined(__CUDA_ARCH__)
#define RNNC__K_ATOMIC_ADD(p, v) atomicAdd((p), (v))
#else
#define RNNC__K_ATOMIC_ADD(p, v) (*(p) += (v))
#endif

RNNC_HD void rnnc__b_scale_rows(float *y, const float *x, const float *w, float alpha, int64_t cols,
                                size_t i)
{
    y[i] = x[i] * (w ? alpha * w[i / (size_t)cols] : alpha);
}

/* i indexes y (outer, mid, inner); w is (outer, inner). */
RNNC_HD void rnnc__b_mul_bcast(float *y, const float *x, const float *w, int64_t mid, int64_t inner,
                               size_t i)
{
    const size_t in = (size_t)inner, o = i / ((size_t)mid * in);
    y[i] = x[i] * w[o * in + i % in];
}

/* i indexes out (n, dim). */
RNNC_HD void rnnc__b_gather_rows(float *out, const float *table, const int32_t *ids, int64_t rows,
                                 int64_t dim, size_t i)
{
    const int32_t id = ids[i / (size_t)dim];
    out[i] = id >= 0 && id < rows ? table[(size_t)id * (size_t)dim + i % (size_t)dim] : 0.0f;
}

/* i indexes dy (n, dim). */
RNNC_HD void rnnc__b_scatter_add_rows(float *dtable, const float *dy, const int32_t *ids,
                                      int64_t rows, int64_t dim, size_t i)
{
    const int32_t id = ids[i / (size_t)dim];
    if (id >= 0 && id < rows)
        RNNC__K_ATOMIC_ADD(dtable + (size_t)id * (size_t)dim + i % (size_t)dim, dy[i]);
}

/* i indexes the block (rows, width). */
RNNC_HD void rnnc__b_copy_block(float *dst, const float *src, int64_t width, int64_t src_cols,
                                int64_t src_off, int64_t dst_cols, int64_t dst_off, int accumulate,
                                size_t i)
{
    const size_t r = i / (size_t)width, c = i % (size_t)width;
    const float v = src[r * (size_t)src_cols + (size_t)src_off + c];
    float *d = dst + r * (size_t)dst_cols + (size_t)dst_off + c;
    *d = accumulate ? *d + v : v;
}

/* i indexes y (B, T, C). */
RNNC_HD void rnnc__b_reverse_time(float *y, const float *x, int64_t T, int64_t C, size_t i)
{
    const size_t c = i % (size_t)C, bt = i / (size_t)C, t = bt % (size_t)T, b = bt / (size_t)T;
    y[i] = x[(b * (size_t)T + (size_t)T - 1 - t) * (size_t)C + c];
}

/* ---- layer_norm (backend_ops.h's rounding steps, as the CPU backend's) -- */

/* Float products and sums kept apart (no contraction into an FMA, which
 * nvcc does by default): the CPU's roundings. */
#if defined(__CUDA_ARCH__)
#define RNNC__K_FMUL(a, b) __fmul_rn((a), (b))
#define RNNC__K_FADD(a, b) __fadd_rn((a), (b))
#else
#define RNNC__K_FMUL(a, b) ((a) * (b))
#define RNNC__K_FADD(a, b) ((a) + (b))
#endif

RNNC_HD void rnnc__b_layer_norm_row(const rnnc__ln_kargs *a, size_t r)
{
    const int64_t n = a->cols;
    const float *x = a->x + r * (size_t)n;
    float *y = a->y + r * (size_t)n;
    const double scale = 1.0 / (double)n;
    double s1 = 0.0, s2 = 0.0;
    for (int64_t c = 0; c < n; c++)
        s1 += (double)x[c];
    const float mu = (float)(s1 * scale);
    for (int64_t c = 0; c < n; c++) {
        const float d = x[c] - mu;
        s2 += (double)RNNC__K_FMUL(d, d);
    }
    const float var = (float)(s2 * scale);
    const float iv = 1.0f / (float)sqrt((double)(float)((double)var + a->epsilon));
    a->mean[r] = mu;
    a->inv[r] = iv;
    for (int64_t c = 0; c < n; c++) {
        const float g = a->gamma ? RNNC__K_FMUL(iv, a->gamma[c]) : iv;
        const float xg = RNNC__K_FMUL(x[c], g);
        if (a->rms) {
            y[c] = xg;
            continue;
        }
        const float m = -RNNC__K_FMUL(mu, g);
        y[c] = RNNC__K_FADD(xg, a->beta ? RNNC__K_FADD(m, a->beta[c]) : m);
    }
}

/* dx of row r, in double. */
RNNC_HD void rnnc__b_layer_norm_bwd_row(const rnnc__ln_kargs *a, size_t r)
{
    const int64_t n = a->cols;
    const float *x = a->x + r * (size_t)n, *dy = a->dy + r * (size_t)n;
    float *dx = a->dx + r * (size_t)n;
    const double mu = a->mean[r], iv = a->inv[r];
    double sg = 0.0, sgx = 0.0;
    for (int64_t c = 0; c < n; c++) {
        const double g = a->gamma ? (double)dy[c] * a->gamma[c] : (double)dy[c];
        sg += g;
        sgx += g * (a->rms ? (double)x[c] : ((double)x[c] - mu) * iv);
    }
    sg /= (double)n;
    sgx /= (double)n;
    for (int64_t c = 0; c < n; c++) {
        const double g = a->gamma ? (double)dy[c] * a->gamma[c] : (double)dy[c], d = (double)x[c] - mu;
        dx[c] = (float)(a->rms ? iv * g - iv * iv * iv * d * sgx : iv * (g - sg - d * iv * sgx));
    }
}

/* dgamma[c], dbeta[c] += column c's sums over the rows in order, in double. */
RNNC_HD void rnnc__b_layer_norm_bwd_col(const rnnc__ln_kargs *a, size_t c)
{
    const size_t n = (size_t)a->cols;
    double sgm = 0.0, sb = 0.0;
    for (int64_t r = 0; r < a->rows; r++) {
        const double v = a->dy[(size_t)r * n + c], xv = a->x[(size_t)r * n + c];
        sgm += v * (a->rms ? xv : xv - (double)a->mean[r]) * (double)a->inv[r];
        sb += v;
    }
    if (a->dgamma)
        a->dgamma[c] = (float)((double)a->dgamma[c] + sgm);
    if (a->dbeta)
        a->dbeta[c] = (float)((double)a->dbeta[c] + sb);
}

/* ---- batch_norm (backend_ops.h's rounding steps, as the CPU backend's) -- */

/* Column c: statistics (training: the batch's, the moving ones updated;
 * else the moving ones), then y. */
RNNC_HD void rnnc__b_batch_norm_col(const rnnc__bn_kargs *a, size_t c)
{
    const size_t n = (size_t)a->cols, R = (size_t)a->rows;
    float mu, var;
    if (a->training) {
        double s1 = 0.0, s2 = 0.0, cnt = 0.0;
        for (size_t r = 0; r < R; r++)
            if (!a->w || a->w[r] != 0.0f) {
                s1 += (double)a->x[r * n + c];
                cnt += 1.0;
            }
        float sw = 0.0f;
        if (a->w) {
            sw = (float)((double)(float)cnt + 1e-7);
            mu = (float)s1 / sw;
        } else {
            mu = (float)(s1 * (1.0 / (double)R));
        }
        for (size_t r = 0; r < R; r++)
            if (!a->w || a->w[r] != 0.0f) {
                const float d = a->x[r * n + c] - mu;
                s2 += (double)RNNC__K_FMUL(d, d);
            }
        var = a->w ? (float)s2 / sw : (float)(s2 * (1.0 / (double)R));
        a->moving_mean[c] = (float)((double)a->moving_mean[c] * a->momentum + (double)mu * (1.0 - a->momentum));
        a->moving_var[c] = (float)((double)a->moving_var[c] * a->momentum + (double)var * (1.0 - a->momentum));
    } else {
        mu = a->moving_mean[c];
        var = a->moving_var[c];
    }
    const float den = (float)sqrt((double)(float)((double)var + a->epsilon));
    a->mean[c] = mu;
    a->den[c] = den;
    for (size_t r = 0; r < R; r++) {
        float v = (a->x[r * n + c] - mu) / den;
        if (a->gamma)
            v = RNNC__K_FMUL(v, a->gamma[c]);
        if (a->beta)
            v = RNNC__K_FADD(v, a->beta[c]);
        a->y[r * n + c] = v;
    }
}

/* Column c of dx, dgamma, dbeta, in double. */
RNNC_HD void rnnc__b_batch_norm_bwd_col(const rnnc__bn_kargs *a, size_t c)
{
    const size_t n = (size_t)a->cols, R = (size_t)a->rows;
    const double mu = a->mean[c], inv = 1.0 / (double)a->den[c], gm = a->gamma ? (double)a->gamma[c] : 1.0;
    double A = 0.0, B = 0.0, P = 0.0, cnt = 0.0, sgm = 0.0, sb = 0.0;
    for (size_t r = 0; r < R; r++) {
        const double dy = a->dy[r * n + c], d = (double)a->x[r * n + c] - mu, wr = a->w ? (double)a->w[r] : 1.0;
        A += dy * gm;
        B += dy * gm * d;
        P += wr * d;
        cnt += wr;
        sgm += dy * d * inv;
        sb += dy;
    }
    const double sw = a->w ? (double)(float)((double)(float)cnt + 1e-7) : (double)R;
    const double dvar = -0.5 * inv * inv * inv * B, dmean = -inv * A - 2.0 * dvar * P / sw;
    for (size_t r = 0; a->dx && r < R; r++) {
        const double dy = a->dy[r * n + c], d = (double)a->x[r * n + c] - mu, wr = a->w ? (double)a->w[r] : 1.0;
        a->dx[r * n + c] = (float)(inv * dy * gm + (a->training ? wr * (dmean + 2.0 * dvar * d) / sw : 0.0));
    }
    if (a->dgamma)
        a->dgamma[c] = (float)((double)a->dgamma[c] + sgm);
    if (a->dbeta)
        a->dbeta[c] = (float)((double)a->dbeta[c] + sb);
}

/* optim/metrics.c's argmax: the first maximum; a NaN counts only in column 0. */
RNNC_HD int64_t rnnc__b_argmax(const float *x, int64_t c)
{
    int64_t best = 0;
    float bv = -INFINITY;
    for (int64_t j = 0; j < c; j++)
        if (x[j] > bv || (j == 0 && x[j] != x[j])) {
            bv = x[j];
            best = j;
        }
    return best;
}

RNNC_HD void rnnc__b_metric_row(const rnnc__metric_kargs *a, size_t r)
{
    const int64_t c = a->cols;
    const float *p = a->p + r * (size_t)c;
    const float *t = a->t ? a->t + r * (size_t)c : NULL;
    if (a->kind == RNNC__K_METRIC_SPARSE_CATEGORICAL_ACCURACY) {
        a->values[r] = a->ids[r] == rnnc__b_argmax(p, c) ? 1.0f : 0.0f;
        return;
    }
    if (a->kind == RNNC__K_METRIC_CATEGORICAL_ACCURACY) {
        a->values[r] = rnnc__b_argmax(t, c) == rnnc__b_argmax(p, c) ? 1.0f : 0.0f;
        return;
    }
    float s = 0.0f;
    for (int64_t j = 0; j < c; j++) {
        const float d = p[j] - t[j];
        if (a->kind == RNNC__K_METRIC_MAE)
            s += fabsf(d);
        else if (a->kind == RNNC__K_METRIC_MSE)
            s += d * d;
        else if (a->kind == RNNC__K_METRIC_ACCURACY)
            s += p[j] == t[j] ? 1.0f : 0.0f;
        else
            s += (p[j] > a->threshold ? 1.0f : 0.0f) == t[j] ? 1.0f : 0.0f;
    }
    a->values[r] = s / (float)c;
}

/* optim/sgd.c's loop body. */
RNNC_HD void rnnc__b_sgd(const rnnc__sgd_kargs *a, float *w, const float *g, float *m, size_t i)
{
    if (a->momentum == 0.0f) {
        w[i] = w[i] - g[i] * a->lr;
        return;
    }
    m[i] = m[i] * a->momentum - g[i] * a->lr;
    if (a->nesterov)
        w[i] = w[i] + (m[i] * a->momentum - g[i] * a->lr);
    else
        w[i] = w[i] + m[i];
}

/* optim/adam.c's loop body, after AdamW's decay (optim/optimizer.c); v
 * moves toward gsq[i] when gsq is not NULL, else g[i] * g[i]. */
RNNC_HD void rnnc__b_adam(const rnnc__adam_kargs *a, float *w, const float *g, const float *gsq, float *m,
                          float *v, float *vhat, size_t i)
{
    if (a->decay)
        w[i] = w[i] - (w[i] * a->wd) * a->lr;
    m[i] = m[i] + (g[i] - m[i]) * a->c1;
    v[i] = v[i] + ((gsq ? gsq[i] : g[i] * g[i]) - v[i]) * a->c2;
    float vv = v[i];
    if (a->amsgrad) {
        vhat[i] = vhat[i] > vv ? vhat[i] : vv;
        vv = vhat[i];
    }
    w[i] = w[i] - (m[i] * a->alpha) / (sqrtf(vv) + a->eps);
}

#endif
