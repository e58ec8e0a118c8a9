/* cpu_train_ops.c - the CPU backend's training-step ops (backend_ops.h):
 * scale_rows, mul_bcast, gather_rows / scatter_add_rows, the metrics, copy_block,
 * reverse_time and layer_norm / layer_norm_backward. The metrics
 * are optim/metrics.c's per-sample functions (which framework/ cannot call,
 * tests/check_layering.sh): MAE and MSE as means over the last axis in
 * double, Accuracy as exact float equality, BinaryAccuracy as
 * (p > threshold) == t, the categorical ones through argmax_row below,
 * which takes the first maximum (TensorFlow's tie rule) and, as metrics.c,
 * a NaN only in column 0. */
#include <math.h>
#include <string.h>

#include "framework/backend/cpu/cpu_internal.h"
#include "framework/backend_ops_internal.h"

#define BE (rnnc_backend_ops_cpu())

rnnc_status rnnc__cpu_scale_rows(int64_t rows, int64_t cols, const rnnc_bbuf *w, float alpha,
                                 const rnnc_bbuf *x, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__scale_rows_check(BE, rows, cols, w, x, y));
    const float *W = w ? w->data : NULL, *X = x->data;
    float *Y = y->data;
    for (int64_t r = 0; r < rows; r++) {
        const float f = W ? alpha * W[r] : alpha;
        for (int64_t j = 0; j < cols; j++)
            Y[r * cols + j] = X[r * cols + j] * f;
    }
    return RNNC_OK;
}

rnnc_status rnnc__cpu_mul_bcast(int64_t outer, int64_t mid, int64_t inner, const rnnc_bbuf *x,
                                const rnnc_bbuf *w, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__mul_bcast_check(BE, outer, mid, inner, x, w, y));
    const float *W = w->data, *X = x->data;
    float *Y = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t m = 0; m < mid; m++) {
            const int64_t r = (o * mid + m) * inner;
            for (int64_t j = 0; j < inner; j++)
                Y[r + j] = X[r + j] * W[o * inner + j];
        }
    return RNNC_OK;
}

rnnc_status rnnc__cpu_gather_rows(int64_t rows, int64_t dim, const rnnc_bbuf *table,
                                  const rnnc_bbuf *ids, rnnc_bbuf *out)
{
    size_t n;
    RNNC_TRY(rnnc__rows_index_check(BE, false, rows, dim, table, ids, out, &n));
    const int32_t *I = ids->data;
    for (size_t i = 0; i < n; i++)
        if (I[i] < 0 || I[i] >= rows)
            return rnnc_fail(RNNC_E_ARG, "cpu gather_rows: id %d at position %zu is outside [0, %lld)",
                             (int)I[i], i, (long long)rows);
    for (size_t i = 0; i < n && dim > 0; i++)
        memcpy((float *)out->data + i * (size_t)dim, (const float *)table->data + (size_t)I[i] * (size_t)dim,
               (size_t)dim * sizeof(float));
    return RNNC_OK;
}

rnnc_status rnnc__cpu_scatter_add_rows(int64_t rows, int64_t dim, const rnnc_bbuf *ids,
                                       const rnnc_bbuf *dy, rnnc_bbuf *dtable)
{
    size_t n;
    RNNC_TRY(rnnc__rows_index_check(BE, true, rows, dim, dtable, ids, dy, &n));
    const int32_t *I = ids->data;
    const float *G = dy->data;
    float *D = dtable->data;
    for (size_t i = 0; i < n; i++) {
        if (I[i] < 0 || I[i] >= rows)
            continue;
        float *d = D + (size_t)I[i] * (size_t)dim;
        const float *g = G + i * (size_t)dim;
        for (int64_t j = 0; j < dim; j++)
            d[j] += g[j];
    }
    return RNNC_OK;
}

/* optim/metrics.c's argmax_row: the first maximum; a NaN counts only in column 0. */
static int64_t argmax_row(const float *x, int64_t c)
{
    int64_t best = 0;
    double bv = -INFINITY;
    for (int64_t j = 0; j < c; j++) {
        const double v = x[j];
        if (v > bv || (j == 0 && v != v)) {
            bv = v;
            best = j;
        }
    }
    return best;
}

static double metric_row(rnnc_bmetric kind, float threshold, int64_t c, const float *t, int32_t id,
                         const float *p)
{
    if (kind == RNNC_BMETRIC_CATEGORICAL_ACCURACY)
        return argmax_row(t, c) == argmax_row(p, c);
    if (kind == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY)
        return id == argmax_row(p, c);
    double s = 0;
    for (int64_t j = 0; j < c; j++) {
        const double pj = p[j], tj = t[j];
        switch (kind) {
        case RNNC_BMETRIC_MAE: s += fabs(pj - tj); break;
        case RNNC_BMETRIC_MSE: s += (pj - tj) * (pj - tj); break;
        case RNNC_BMETRIC_ACCURACY: s += pj == tj; break;
        default: s += (pj > (double)threshold ? 1.0 : 0.0) == tj; break; /* binary */
        }
    }
    return s / (double)c;
}

rnnc_status rnnc__cpu_metric(rnnc_bmetric kind, float threshold, int64_t rows, int64_t cols,
                             const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred, rnnc_bbuf *values)
{
    RNNC_TRY(rnnc__metric_check(BE, kind, rows, cols, y_true, y_pred, values));
    const bool sparse = kind == RNNC_BMETRIC_SPARSE_CATEGORICAL_ACCURACY;
    const int32_t *ids = sparse ? y_true->data : NULL;
    const float *T = sparse ? NULL : y_true->data, *P = y_pred->data;
    float *V = values->data;
    for (int64_t r = 0; r < rows; r++)
        V[r] = (float)metric_row(kind, threshold, cols, T ? T + r * cols : NULL, ids ? ids[r] : 0,
                                 P + r * cols);
    return RNNC_OK;
}

rnnc_status rnnc__cpu_copy_block(int64_t rows, int64_t width, const rnnc_bbuf *src, int64_t src_cols,
                                 int64_t src_off, rnnc_bbuf *dst, int64_t dst_cols, int64_t dst_off,
                                 bool accumulate)
{
    RNNC_TRY(rnnc__copy_block_check(BE, rows, width, src, src_cols, src_off, dst, dst_cols, dst_off));
    for (int64_t r = 0; r < rows && width > 0; r++) {
        const float *s = (const float *)src->data + r * src_cols + src_off;
        float *d = (float *)dst->data + r * dst_cols + dst_off;
        if (!accumulate) {
            memcpy(d, s, (size_t)width * sizeof(float));
            continue;
        }
        for (int64_t c = 0; c < width; c++)
            d[c] += s[c];
    }
    return RNNC_OK;
}

rnnc_status rnnc__cpu_reverse_time(int64_t B, int64_t T, int64_t C, const rnnc_bbuf *x, rnnc_bbuf *y)
{
    RNNC_TRY(rnnc__reverse_time_check(BE, B, T, C, x, y));
    for (int64_t b = 0; b < B && C > 0; b++)
        for (int64_t t = 0; t < T; t++)
            memcpy((float *)y->data + (b * T + t) * C, (const float *)x->data + (b * T + T - 1 - t) * C,
                   (size_t)C * sizeof(float));
    return RNNC_OK;
}

/* layer_norm's rounding steps (backend_ops.h), as layers/layer_norm.c's
 * tape takes them: double sums, each tensor rounded to float32. */
rnnc_status rnnc__cpu_layer_norm(int64_t rows, int64_t cols, double epsilon, bool rms, const rnnc_bbuf *x,
                                 const rnnc_bbuf *gamma, const rnnc_bbuf *beta, rnnc_bbuf *y, rnnc_bbuf *mean,
                                 rnnc_bbuf *inv)
{
    RNNC_TRY(rnnc__layer_norm_check(BE, true, rows, cols, rms, x, gamma, beta, y, mean, inv, NULL, NULL, NULL));
    const float *G = gamma ? gamma->data : NULL, *Bt = beta ? beta->data : NULL;
    const double scale = 1.0 / (double)cols;
    for (int64_t r = 0; r < rows; r++) {
        const float *X = (const float *)x->data + r * cols;
        float *Y = (float *)y->data + r * cols;
        double s1 = 0.0, s2 = 0.0;
        for (int64_t c = 0; c < cols; c++)
            s1 += (double)X[c];
        const float mu = (float)(s1 * scale);
        for (int64_t c = 0; c < cols; c++) {
            const float d = X[c] - mu;
            s2 += (double)(d * d);
        }
        const float var = (float)(s2 * scale);
        const float iv = 1.0f / (float)sqrt((double)(float)((double)var + epsilon));
        ((float *)mean->data)[r] = mu;
        ((float *)inv->data)[r] = iv;
        for (int64_t c = 0; c < cols; c++) {
            const float g = G ? iv * G[c] : iv;
            const float xg = X[c] * g;
            if (rms) {
                Y[c] = xg;
                continue;
            }
            const float m = -(mu * g);
            Y[c] = xg + (Bt ? m + Bt[c] : m);
        }
    }
    return RNNC_OK;
}

rnnc_status rnnc__cpu_layer_norm_backward(int64_t rows, int64_t cols, bool rms, const rnnc_bbuf *x,
                                          const rnnc_bbuf *gamma, const rnnc_bbuf *mean, const rnnc_bbuf *inv,
                                          const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma, rnnc_bbuf *dbeta)
{
    RNNC_TRY(rnnc__layer_norm_check(BE, false, rows, cols, rms, x, gamma, dbeta, NULL, mean, inv, dy, dx, dgamma));
    const float *X = x->data, *G = gamma ? gamma->data : NULL, *M = mean->data, *I = inv->data, *DY = dy->data;
    for (int64_t r = 0; dx && r < rows; r++) {
        const float *xr = X + r * cols, *dyr = DY + r * cols;
        float *dxr = (float *)dx->data + r * cols;
        const double mu = M[r], iv = I[r];
        double sg = 0.0, sgx = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            const double g = G ? (double)dyr[c] * G[c] : (double)dyr[c];
            sg += g;
            sgx += g * (rms ? (double)xr[c] : ((double)xr[c] - mu) * iv);
        }
        sg /= (double)cols;
        sgx /= (double)cols;
        for (int64_t c = 0; c < cols; c++) {
            const double g = G ? (double)dyr[c] * G[c] : (double)dyr[c], d = (double)xr[c] - mu;
            dxr[c] = (float)(rms ? iv * g - iv * iv * iv * d * sgx : iv * (g - sg - d * iv * sgx));
        }
    }
    for (int64_t c = 0; (dgamma || dbeta) && c < cols; c++) {
        double sgm = 0.0, sb = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const double v = DY[r * cols + c], xv = X[r * cols + c];
            sgm += v * (rms ? xv : xv - (double)M[r]) * (double)I[r];
            sb += v;
        }
        if (dgamma)
            ((float *)dgamma->data)[c] = (float)((double)((float *)dgamma->data)[c] + sgm);
        if (dbeta)
            ((float *)dbeta->data)[c] = (float)((double)((float *)dbeta->data)[c] + sb);
    }
    return RNNC_OK;
}

/* batch_norm's rounding steps (backend_ops.h), as layers/batch_norm.c's
 * tape takes them, column by column over the rows in order. */
rnnc_status rnnc__cpu_batch_norm(int64_t rows, int64_t cols, double epsilon, double momentum, bool training,
                                 const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *beta,
                                 rnnc_bbuf *moving_mean, rnnc_bbuf *moving_var, rnnc_bbuf *y, rnnc_bbuf *mean,
                                 rnnc_bbuf *den)
{
    RNNC_TRY(rnnc__batch_norm_check(BE, true, rows, cols, x, w, gamma, beta, moving_mean, moving_var, y, mean, den,
                                    NULL, NULL, NULL, NULL));
    const float *X = x->data, *W = w ? w->data : NULL, *G = gamma ? gamma->data : NULL, *Bt = beta ? beta->data : NULL;
    float *MM = moving_mean->data, *MV = moving_var->data, *Y = y->data;
    for (int64_t c = 0; c < cols; c++) {
        float mu = MM[c], var = MV[c];
        if (training) {
            double s1 = 0.0, s2 = 0.0, cnt = 0.0;
            for (int64_t r = 0; r < rows; r++)
                if (!W || W[r] != 0.0f) {
                    s1 += (double)X[r * cols + c];
                    cnt += 1.0;
                }
            const float sw = W ? (float)((double)(float)cnt + 1e-7) : 0.0f;
            mu = W ? (float)s1 / sw : (float)(s1 * (1.0 / (double)rows));
            for (int64_t r = 0; r < rows; r++)
                if (!W || W[r] != 0.0f) {
                    const float d = X[r * cols + c] - mu;
                    s2 += (double)(d * d);
                }
            var = W ? (float)s2 / sw : (float)(s2 * (1.0 / (double)rows));
            MM[c] = (float)((double)MM[c] * momentum + (double)mu * (1.0 - momentum));
            MV[c] = (float)((double)MV[c] * momentum + (double)var * (1.0 - momentum));
        }
        const float dn = (float)sqrt((double)(float)((double)var + epsilon));
        ((float *)mean->data)[c] = mu;
        ((float *)den->data)[c] = dn;
        for (int64_t r = 0; r < rows; r++) {
            float v = (X[r * cols + c] - mu) / dn;
            if (G)
                v = v * G[c];
            if (Bt)
                v = v + Bt[c];
            Y[r * cols + c] = v;
        }
    }
    return RNNC_OK;
}

rnnc_status rnnc__cpu_batch_norm_backward(int64_t rows, int64_t cols, bool training, const rnnc_bbuf *x,
                                          const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *mean,
                                          const rnnc_bbuf *den, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma,
                                          rnnc_bbuf *dbeta)
{
    RNNC_TRY(rnnc__batch_norm_check(BE, false, rows, cols, x, w, gamma, NULL, NULL, NULL, NULL, mean, den, dy, dx,
                                    dgamma, dbeta));
    const float *X = x->data, *W = w ? w->data : NULL, *DY = dy->data;
    for (int64_t c = 0; c < cols; c++) {
        const double mu = ((const float *)mean->data)[c], inv = 1.0 / (double)((const float *)den->data)[c];
        const double gm = gamma ? (double)((const float *)gamma->data)[c] : 1.0;
        double A = 0.0, B = 0.0, P = 0.0, cnt = 0.0, sgm = 0.0, sb = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const double g = DY[r * cols + c], d = (double)X[r * cols + c] - mu, wr = W ? (double)W[r] : 1.0;
            A += g * gm;
            B += g * gm * d;
            P += wr * d;
            cnt += wr;
            sgm += g * d * inv;
            sb += g;
        }
        const double sw = W ? (double)(float)((double)(float)cnt + 1e-7) : (double)rows;
        const double dvar = -0.5 * inv * inv * inv * B, dmean = -inv * A - 2.0 * dvar * P / sw;
        for (int64_t r = 0; dx && r < rows; r++) {
            const double g = DY[r * cols + c], d = (double)X[r * cols + c] - mu, wr = W ? (double)W[r] : 1.0;
            ((float *)dx->data)[r * cols + c] =
                (float)(inv * g * gm + (training ? wr * (dmean + 2.0 * dvar * d) / sw : 0.0));
        }
        if (dgamma)
            ((float *)dgamma->data)[c] = (float)((double)((float *)dgamma->data)[c] + sgm);
        if (dbeta)
            ((float *)dbeta->data)[c] = (float)((double)((float *)dbeta->data)[c] + sb);
    }
    return RNNC_OK;
}
