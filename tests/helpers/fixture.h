/* fixture.h - test fixtures: a small HDF5 reader for the files in
 * tests/fixtures/, seeded random tensors, and an independent scalar
 * reference GRU.
 *
 * The HDF5 reader reads whole datasets into rnnc tensors (converted to the
 * dtype asked for) and scalar attributes (strings of any HDF5 string type,
 * integers). Every failure returns a status with the file and
 * dataset/attribute named in rnnc_last_error().
 *
 * The reference GRU is plain double-precision loops written straight from
 * the spec's equations (keras-gru.md 1.2-1.5, 3.2 TensorFlow rule, 5.1), with
 * its own activation formulas, sharing no code with the library: an oracle
 * for hand-checkable cases and injected dropout masks.
 *
 * Linked into every test executable. */
#ifndef RNNC_TEST_FIXTURE_H
#define RNNC_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/tensor.h"

typedef struct rnnc_fixture rnnc_fixture;

/* Opens path read-only. Caller closes with rnnc_fixture_close. */
rnnc_status rnnc_fixture_open(const char *path, rnnc_fixture **out);
void rnnc_fixture_close(rnnc_fixture *f); /* NULL is a no-op */

/* Whether a dataset (or group) of that name exists at the root. */
bool rnnc_fixture_has(const rnnc_fixture *f, const char *name);
bool rnnc_fixture_has_attr(const rnnc_fixture *f, const char *name);

/* The dataset as a new tensor of dtype (float32, float64, uint8, int32,
 * int64; HDF5 converts). Rank 0 datasets become rank-0 tensors. Caller owns. */
rnnc_status rnnc_fixture_read(const rnnc_fixture *f, const char *name, rnnc_dtype dtype,
                              rnnc_tensor **out);

/* A root attribute holding a string (fixed or variable length); *out is
 * malloc'd and NUL-terminated, caller frees. */
rnnc_status rnnc_fixture_attr_string(const rnnc_fixture *f, const char *name, char **out);
/* A root attribute holding one integer. */
rnnc_status rnnc_fixture_attr_int(const rnnc_fixture *f, const char *name, int64_t *out);

/* ---- random tensors ---------------------------------------------------- */

/* A new tensor of dtype/shape with uniform values in [lo, hi) from a
 * splitmix64 stream of `seed` (independent of the library's generator). */
rnnc_status rnnc_fixture_uniform(rnnc_dtype dtype, const rnnc_shape *shape, uint64_t seed,
                                 double lo, double hi, rnnc_tensor **out);
/* Element-wise max of |a - b| / max(1, |b|) (b is the expected value);
 * +inf on a shape mismatch or a non-finite a. */
double rnnc_fixture_max_err(const rnnc_tensor *a, const rnnc_tensor *b);
/* Same against a grad buffer: a->grad (zeros when NULL) vs b's data. */
double rnnc_fixture_max_grad_err(const rnnc_tensor *a, const rnnc_tensor *b);

/* ---- reference GRU ------------------------------------------------------ */

typedef struct rnnc_ref_gru_args {
    int64_t B, T, F, U;
    const double *x;           /* (B, T, F) */
    const double *h0;          /* (B, U), NULL = zeros */
    const double *W;           /* (F, 3U) */
    const double *R;           /* (U, 3U) */
    const double *bias;        /* (2, 3U) if reset_after, (3U,) if not; NULL = no bias */
    const uint8_t *mask;       /* (B, T), NULL = all kept */
    const double *in_mask[3];  /* (B, F) per gate z, r, h (implementation 1), NULL = none */
    const double *rec_mask[3]; /* (B, U) per gate, NULL = none */
    const char *act, *ract;    /* "tanh" "sigmoid" "linear" "relu" "hard_sigmoid" "softsign" */
    bool reset_after, go_backwards, zero_output_for_mask;
} rnnc_ref_gru_args;

/* Y (B, T, U) outputs in processing order (may be NULL), last (B, U) the
 * last output, hT (B, U) the final state. Returns false on an unknown
 * activation name. */
bool rnnc_ref_gru(const rnnc_ref_gru_args *a, double *Y, double *last, double *hT);

/* The tensor's values as a malloc'd double array (caller frees). */
double *rnnc_fixture_doubles(const rnnc_tensor *t);

#endif
