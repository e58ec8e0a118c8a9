/* dist_cases.h - the training runs of the data-parallel tests: a model, its
 * data and its fit options, built the same way in one process
 * (test_distributed.c, the reference) and in each rank of an mpirun
 * (dist_worker.c). Everything is a pure function of the case name. */
#ifndef RNNC_TEST_DIST_CASES_H
#define RNNC_TEST_DIST_CASES_H

#include <stddef.h>

#include "framework/comm.h"
#include "optim/trainer.h"

/* Where a case ends: the model's weights flattened in model order, and the
 * last epoch's logs (loss, metrics, val_*). */
typedef struct dist_result {
    double *w;
    size_t n;
    rnnc_logs logs;
    int64_t rows_read; /* "_h5" cases: training rows this rank read from the file */
    int64_t val_rows_read; /* "_vfile_h5": validation rows this rank read from the file */
} dist_result;

/* Hooks of the fault cases, called on every rank after each batch. */
typedef void (*dist_batch_hook)(int rank, int step);

/* Runs case `name` ("mask_sw_sgd", "bidir_adam_reg", "embed_adam",
 * "bn_mask", "bn_plain" (BatchNormalization synchronized: true; their
 * "_local" forms: false), or "mask_sw_sgd_h5" / "bidir_adam_reg_h5": the
 * training rows read on demand from the HDF5 file RNNC_DIST_H5 names;
 * "mask_sw_sgd_vsplit" validates on the last 30 % of the rows
 * (validation_split), "mask_sw_sgd_vfile" on weighted rows, which its
 * "_h5" form reads from the file too (rnnc_fit_options.val_source))
 * with comm (NULL: one process). 0
 * on success, else prints why on stderr. */
int dist_case_run(const char *name, rnnc_comm *comm, dist_batch_hook hook, dist_result *out);
void dist_result_free(dist_result *r);
/* The training data of a case (its "_h5" form reads the same from a
 * file): x, y, sample weights, caller-owned. 0 on success. */
int dist_case_data(const char *name, rnnc_tensor **x, rnnc_tensor **y, rnnc_tensor **sw);

#endif
