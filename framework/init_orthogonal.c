/* init_orthogonal.c - the Orthogonal initializer's matrix: a reduced
 * Householder QR in double (no LAPACK dependency) of a normal random matrix,
 * sign-fixed so that the result is the unique Q whose R has a positive
 * diagonal, as Keras does (spec 7.4). Not here: parsing and config
 * (initializers.c). */
#include "framework/init_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framework/random.h"

/* dot(x, y) and y -= s * x over n contiguous doubles: the two kernels the
 * reflections are made of (contiguous, so the compiler vectorizes them). */
static double dot(const double *x, const double *y, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

static void axpy(double s, const double *x, double *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] -= s * x[i];
}

void rnnc__householder_qr(double *a, int64_t m, int64_t k, double *q, double *rdiag,
                          double *betas)
{
    /* Column-major throughout: column j of a is a + j*m. Rebuilding Q needs
     * every reflector, so reflector j is kept in a's column j (rows j..m-1,
     * where R is no longer needed) and its scaling 2/|v|^2 in betas[j]. */
    for (int64_t j = 0; j < k; j++) {
        double *v = a + j * m + j; /* (m - j,) */
        int64_t len = m - j;
        double norm2 = dot(v, v, len);
        double norm = sqrt(norm2);
        if (norm == 0.0) {
            /* A zero column below the diagonal: no reflection, R_jj = 0. */
            betas[j] = 0.0;
            rdiag[j] = 0.0;
            continue;
        }
        double x0 = v[0];
        /* alpha = -sign(x0) * norm avoids cancellation in v0 = x0 - alpha. */
        double alpha = x0 > 0.0 ? -norm : norm;
        v[0] = x0 - alpha;
        /* |v|^2 = v0^2 + (norm^2 - x0^2) */
        betas[j] = 2.0 / (v[0] * v[0] + (norm2 - x0 * x0));
        rdiag[j] = alpha;
        /* H = I - beta v v^T on the remaining columns c > j. */
        for (int64_t c = j + 1; c < k; c++) {
            double *ac = a + c * m + j;
            axpy(betas[j] * dot(v, ac, len), v, ac, len);
        }
    }
    /* Q = H_0 H_1 ... H_{k-1} [I_k; 0]: apply the reflectors right to left.
     * H_j touches rows j..m-1, where columns c < j of Q are still zero. */
    memset(q, 0, (size_t)(m * k) * sizeof *q);
    for (int64_t j = 0; j < k; j++)
        q[j * m + j] = 1.0;
    for (int64_t j = k - 1; j >= 0; j--) {
        if (betas[j] == 0.0)
            continue;
        const double *v = a + j * m + j;
        for (int64_t c = j; c < k; c++) {
            double *qc = q + c * m + j;
            axpy(betas[j] * dot(v, qc, m - j), v, qc, m - j);
        }
    }
}

rnnc_status rnnc__orthogonal_fill(uint64_t seed, double gain, const rnnc_shape *shape,
                                  const char *what, double *out)
{
    char buf[128];
    if (shape->ndim < 2)
        return rnnc_fail(RNNC_E_SHAPE,
                         "%s: Orthogonal needs a weight of rank >= 2, got shape %s of rank %d",
                         what, rnnc_shape_str(shape, buf, sizeof buf), shape->ndim);
    int64_t rows = 1;
    for (int d = 0; d < shape->ndim - 1; d++)
        rows *= shape->dim[d];
    int64_t cols = shape->dim[shape->ndim - 1];
    int64_t m = rows > cols ? rows : cols; /* A is (m, k) = (max, min) */
    int64_t k = rows > cols ? cols : rows;
    if (k == 0)
        return RNNC_OK; /* an empty weight: nothing to fill */

    double *a = malloc((size_t)(m * k) * sizeof *a);       /* (k, m): A column-major */
    double *q = malloc((size_t)(m * k) * sizeof *q);       /* (m, k) draws, then Q column-major */
    double *rdiag = malloc((size_t)k * 2 * sizeof *rdiag); /* (k,) diag R, then (k,) betas */
    if (!a || !q || !rdiag) {
        free(a);
        free(q);
        free(rdiag);
        return rnnc_fail(RNNC_E_NOMEM, "%s: Orthogonal: out of memory for a (%lld, %lld) QR",
                         what, (long long)m, (long long)k);
    }

    /* A is drawn row-major (documented in init_internal.h), then stored by
     * columns for the QR. */
    rnnc_rng rng;
    rnnc_rng_init(&rng, seed);
    rnnc_rng_normal(&rng, q, (size_t)(m * k));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < k; j++)
            a[j * m + i] = q[i * k + j];
    rnnc__householder_qr(a, m, k, q, rdiag, rdiag + k);

    /* Q D with D = sign(diag R): the unique Q whose R has a positive diagonal;
     * a zero R_jj zeroes column j, as Keras's q * sign(d) does. */
    for (int64_t j = 0; j < k; j++) {
        double sg = rdiag[j] > 0.0 ? 1.0 : (rdiag[j] < 0.0 ? -1.0 : 0.0);
        for (int64_t i = 0; i < m; i++)
            q[j * m + i] *= sg * gain;
    }
    if (rows < cols) {
        /* (rows, cols) = Q^T: row r of the result is column r of Q. */
        memcpy(out, q, (size_t)(m * k) * sizeof *out);
    } else {
        for (int64_t i = 0; i < m; i++) /* (rows, cols) = Q */
            for (int64_t j = 0; j < k; j++)
                out[i * k + j] = q[j * m + i];
    }
    free(a);
    free(q);
    free(rdiag);
    return RNNC_OK;
}
