/* init_internal.h - private to the initializer files: the initializer's
 * fields (initializers.c parses and serializes them, init_fill.c fills
 * tensors from them) and the Orthogonal matrix (init_orthogonal.c). */
#ifndef RNNC_INIT_INTERNAL_H
#define RNNC_INIT_INTERNAL_H

#include <stdint.h>

#include "framework/initializers.h"
#include "framework/keras_object.h"

typedef enum {
    RNNC__INIT_ZEROS,
    RNNC__INIT_ONES,
    RNNC__INIT_CONSTANT,
    RNNC__INIT_IDENTITY,
    RNNC__INIT_RANDOM_NORMAL,
    RNNC__INIT_RANDOM_UNIFORM,
    RNNC__INIT_TRUNCATED_NORMAL,
    RNNC__INIT_VARIANCE_SCALING,
    RNNC__INIT_GLOROT_UNIFORM,
    RNNC__INIT_GLOROT_NORMAL,
    RNNC__INIT_HE_UNIFORM,
    RNNC__INIT_HE_NORMAL,
    RNNC__INIT_LECUN_UNIFORM,
    RNNC__INIT_LECUN_NORMAL,
    RNNC__INIT_ORTHOGONAL,
    RNNC__INIT_STFT,
    RNNC__INIT_KIND_COUNT
} rnnc__init_kind;

/* Canonical class names (what get_config writes), by kind. */
extern const char *const rnnc__init_class_names[];

typedef enum { RNNC__VS_FAN_IN, RNNC__VS_FAN_OUT, RNNC__VS_FAN_AVG } rnnc__vs_mode;
typedef enum {
    RNNC__VS_UNIFORM,
    RNNC__VS_TRUNCATED_NORMAL,
    RNNC__VS_UNTRUNCATED_NORMAL
} rnnc__vs_dist;

/* Standard deviation of a unit normal truncated to [-2, 2]. */
#define RNNC__TRUNC_STD 0.87962566103423978

struct rnnc_initializer {
    rnnc__init_kind kind;
    /* Arguments as written (kept for get_config):
     *   Constant: p[0] = value;  Identity, Orthogonal: p[0] = gain;
     *   RandomNormal, TruncatedNormal: p = {mean, stddev};
     *   RandomUniform: p = {minval, maxval};  VarianceScaling: p[0] = scale. */
    rnnc_keras_num p[2];
    rnnc__vs_mode mode;   /* variance scaling family */
    rnnc__vs_dist dist;
    bool random;          /* has a seed */
    rnnc_cfg *seed_cfg;   /* seed as given (null, int or dict); owned */
    uint64_t seed;        /* the seed actually used */
    rnnc_cfg *input_axes; /* as given (int or list), or NULL for None; owned */
    rnnc_cfg *output_axes;
};

/* Fills out (numel(shape) doubles, row-major) with Keras's orthogonal
 * initializer: rows = prod(shape[:-1]), cols = shape[-1]; A ~ N(0, 1) of
 * shape (max, min) drawn from rnnc_rng seeded with `seed` (row-major order);
 * A = QR (Householder, double); column j of Q times sign(R_jj); transposed
 * when rows < cols; times gain. Needs rank >= 2 (RNNC_E_SHAPE otherwise,
 * naming `what`); RNNC_E_NOMEM when the work matrices cannot be allocated. */
rnnc_status rnnc__orthogonal_fill(uint64_t seed, double gain, const rnnc_shape *shape,
                                  const char *what, double *out);

/* Householder QR of an (m, k) matrix, m >= k, stored column-major (column j
 * at a + j*m): writes the reduced Q, also column-major (m, k), into q and
 * R's diagonal into rdiag (k values; R_jj = -sign(a_jj) * norm, so it may be
 * negative). a is destroyed; betas is k doubles of work space. Exposed for
 * tests. */
void rnnc__householder_qr(double *a, int64_t m, int64_t k, double *q, double *rdiag,
                          double *betas);

#endif
