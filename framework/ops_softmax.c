/* ops_softmax.c - softmax, log_softmax and sparsemax along the last axis.
 *
 * Each row (last axis) is processed in double and stored in x's dtype.
 * softmax and log_softmax subtract the row max first (as tf.nn.softmax), so
 * large logits do not overflow. sparsemax is the Euclidean projection onto
 * the simplex (Martins & Astudillo 2016), which Keras computes by sorting:
 * with z sorted descending and c_j = z_(1) + ... + z_(j), the support size
 * is k = max{ j : 1 + j z_(j) > c_j }, tau = (c_k - 1) / k and
 * y = max(z - tau, 0). Its Jacobian on the support S = {y > 0} is
 * I - 1 1^T / |S| (0 off S). Keras releases before keras-team/keras PR
 * #23469 took tau from the sum of the cumulative sums over the support
 * (issue #23425), which is wrong whenever |S| > 1; we follow the fixed
 * (correct) definition. Reached through rnnc_activation(). */
#include "framework/ops.h"
#include "framework/ops_internal.h"

#include <math.h>
#include <stdlib.h>

static rnnc_status softmax_backward(rnnc_node *n)
{
    rnnc_tensor *x = n->in[0], *out = n->out[0];
    if (!out->grad || !x->requires_grad || !x->grad)
        return RNNC_OK;
    const rnnc_act act = (rnnc_act)n->iarg[0];
    const int64_t len = x->shape.dim[x->shape.ndim - 1];
    const size_t rows = len ? x->numel / (size_t)len : 0;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *Y = out->data, *G = out->grad;
        T *GX = x->grad;
        for (size_t r = 0; r < rows; r++) {
            const T *y = Y + r * len, *g = G + r * len;
            T *gx = GX + r * len;
            if (act == RNNC_ACT_SOFTMAX) { /* dx = y * (g - sum(g * y)) */
                double dot = 0;
                for (int64_t j = 0; j < len; j++)
                    dot += (double)g[j] * (double)y[j];
                for (int64_t j = 0; j < len; j++)
                    gx[j] += (T)((double)y[j] * ((double)g[j] - dot));
            } else if (act == RNNC_ACT_LOG_SOFTMAX) { /* dx = g - softmax * sum(g) */
                double sum = 0;
                for (int64_t j = 0; j < len; j++)
                    sum += (double)g[j];
                for (int64_t j = 0; j < len; j++)
                    gx[j] += (T)((double)g[j] - exp((double)y[j]) * sum);
            } else { /* sparsemax: dx = g - mean(g over S), on S only */
                double sum = 0;
                int64_t k = 0;
                for (int64_t j = 0; j < len; j++)
                    if (y[j] > 0) {
                        sum += (double)g[j];
                        k++;
                    }
                const double mean = k ? sum / (double)k : 0.0;
                for (int64_t j = 0; j < len; j++)
                    if (y[j] > 0)
                        gx[j] += (T)((double)g[j] - mean);
            }
        }
    });
    return RNNC_OK;
}

static int cmp_desc(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a < b) - (a > b);
}

/* One row of sparsemax: z (len) -> tau; buf: len doubles of scratch. */
static double sparsemax_tau(const double *z, int64_t len, double *buf)
{
    for (int64_t j = 0; j < len; j++)
        buf[j] = z[j];
    qsort(buf, (size_t)len, sizeof *buf, cmp_desc);
    double c = 0, ck = 0;
    int64_t k = 0;
    for (int64_t j = 0; j < len; j++) {
        c += buf[j];
        if (1.0 + (double)(j + 1) * buf[j] > c) { /* the support is a prefix */
            k = j + 1;
            ck = c;
        }
    }
    return k ? (ck - 1.0) / (double)k : NAN; /* k = 0 only for NaN rows */
}

rnnc_status rnnc__last_axis_act(rnnc_ctx *cx, rnnc_act act, rnnc_tensor *x, rnnc_tensor **y)
{
    char s[160];
    const char *name = rnnc_act_name(act);
    if (x->shape.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "activation '%s': works along the last axis, got a scalar %s",
                         name, RNNC__SHAPE_STR(&x->shape, s));
    const int64_t len = x->shape.dim[x->shape.ndim - 1];
    const size_t rows = len ? x->numel / (size_t)len : 0;
    rnnc_tensor *out;
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &x->shape, &out));
    /* Row scratch: z in double, then (sparsemax) its sorted copy. */
    double *z = malloc((size_t)(len ? len : 1) * 2 * sizeof *z);
    if (!z)
        return rnnc_fail(RNNC_E_NOMEM, "activation '%s': out of memory for a row of %lld", name,
                         (long long)len);
    double *buf = z + len;
    RNNC_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *Y = out->data;
        for (size_t r = 0; r < rows; r++) {
            const T *xr = X + r * len;
            T *yr = Y + r * len;
            for (int64_t j = 0; j < len; j++)
                z[j] = (double)xr[j];
            if (act == RNNC_ACT_SPARSEMAX) {
                const double tau = sparsemax_tau(z, len, buf);
                for (int64_t j = 0; j < len; j++)
                    yr[j] = (T)(z[j] - tau > 0 ? z[j] - tau : (z[j] - tau == z[j] - tau ? 0.0 : NAN));
                continue;
            }
            double m = -INFINITY;
            for (int64_t j = 0; j < len; j++)
                m = z[j] > m || z[j] != z[j] ? z[j] : m;
            double sum = 0;
            for (int64_t j = 0; j < len; j++)
                sum += exp(z[j] - m);
            if (act == RNNC_ACT_SOFTMAX) {
                for (int64_t j = 0; j < len; j++)
                    yr[j] = (T)(exp(z[j] - m) / sum);
            } else {
                const double lse = log(sum);
                for (int64_t j = 0; j < len; j++)
                    yr[j] = (T)(z[j] - m - lse);
            }
        }
    });
    free(z);
    rnnc_node *node;
    RNNC_TRY(rnnc_ctx_record(cx, name, softmax_backward, 1, &x, 1, &out, &node));
    if (node)
        node->iarg[0] = act;
    *y = out;
    return RNNC_OK;
}
