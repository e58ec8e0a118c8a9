/* init_orthogonal.h - private: the Orthogonal initializer's matrix (spec 7.4),
 * used by initializers.c. */
#ifndef RNNC_INIT_ORTHOGONAL_H
#define RNNC_INIT_ORTHOGONAL_H

#include <stdint.h>

#include "framework/tensor.h"

/* Fills out (numel(shape) doubles, row-major) with Keras's orthogonal
 * initializer: rows = prod(shape[:-1]), cols = shape[-1]; A ~ N(0, 1) of
 * shape (max, min) drawn from rnnc_rng seeded with `seed` (row-major order);
 * A = QR (Householder, double); column j of Q times sign(R_jj); transposed
 * when rows < cols; times gain. Needs rank >= 2 (RNNC_E_SHAPE otherwise,
 * naming `what`); RNNC_E_NOMEM when the work matrices cannot be allocated. */
rnnc_status rnnc__orthogonal_fill(uint64_t seed, double gain, const rnnc_shape *shape,
                                  const char *what, double *out);

/* Householder QR of a (m, k) row-major matrix a, m >= k: writes the reduced
 * (m, k) Q into q and R's diagonal into rdiag (k values; R_jj =
 * -sign(a_jj) * norm, so it may be negative). a is destroyed; betas is k
 * doubles of work space. Exposed for tests. */
void rnnc__householder_qr(double *a, int64_t m, int64_t k, double *q, double *rdiag,
                          double *betas);

#endif
