/* dataset.h - training and prediction data in HDF5 files.
 *
 * Input files hold a dataset `x` (samples first), usually `y` (targets,
 * same number of samples), optionally `sample_weight` ((N,) or (N, T) for
 * per-timestep losses) and `mask` ((N, T), non-zero = keep). Every shape,
 * dtype and value is checked before use: the sample counts must agree,
 * float data must be float32/float64 (integers are accepted for x when the
 * model takes token ids) and must not hold NaN or Inf (the message names the
 * dataset and the index).
 *
 * Output files (`predict`) hold output_0, output_1, ... and are written to a
 * temporary file that is renamed into place, so a failure leaves no partial
 * file and an existing file intact.
 *
 * Not here: batching and shuffling (the training loop), Keras weights (see
 * weights_h5.h, legacy_h5.h). */
#ifndef RNNC_IO_DATASET_H
#define RNNC_IO_DATASET_H

#include <stdbool.h>

#include "framework/tensor.h"

/* Which datasets to read and how. Zero-initialised means: x as float32 from
 * "x", y required from "y", "sample_weight" and "mask" read when present. */
typedef struct rnnc_dataset_options {
    const char *x_name;             /* NULL -> "x" */
    const char *y_name;             /* NULL -> "y" */
    const char *sample_weight_name; /* NULL -> "sample_weight" */
    const char *mask_name;          /* NULL -> "mask" */
    rnnc_dtype x_dtype;             /* float32 (default), float64, or int32/int64 for token ids */
    rnnc_dtype y_dtype;             /* float32 (default), float64, or int32/int64 for class ids */
    bool y_optional;                /* true: a file without y is fine (predict) */
} rnnc_dataset_options;

typedef struct rnnc_dataset {
    rnnc_tensor *x;             /* (N, ...) */
    rnnc_tensor *y;             /* (N, ...) or NULL */
    rnnc_tensor *sample_weight; /* float32 (N,) or (N, T), or NULL */
    rnnc_tensor *mask;          /* uint8 (N, T) with T = x's dim 1, or NULL */
    int64_t n_samples;          /* N */
} rnnc_dataset;

/* Reads the datasets of `path` (opts may be NULL for the defaults). All
 * tensors are owned by *out; free with rnnc_dataset_destroy. Fails with
 * RNNC_E_IO / RNNC_E_FORMAT (file), RNNC_E_SHAPE (ranks or sample counts,
 * naming both datasets and shapes), RNNC_E_DTYPE, or RNNC_E_NUMERIC for a
 * NaN/Inf value ("'d.h5': dataset '/x' holds NaN at [3, 7, 0]"). */
rnnc_status rnnc_dataset_read(const char *path, const rnnc_dataset_options *opts,
                              rnnc_dataset **out);
void rnnc_dataset_destroy(rnnc_dataset *d); /* NULL is a no-op */

/* Fails with RNNC_E_NUMERIC naming `what` (e.g. "'d.h5': dataset '/x'") and
 * the multi-index of the first NaN or Inf in a float tensor. */
rnnc_status rnnc_dataset_check_finite(const rnnc_tensor *t, const char *what);

/* Writes outputs[i] as dataset "output_<i>" of a new file at path, through
 * a temporary file renamed into place. */
rnnc_status rnnc_dataset_write_outputs(const char *path, const rnnc_tensor *const *outputs,
                                       int n_outputs);

#endif
