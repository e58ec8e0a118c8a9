/* row_reader.h - rows of an HDF5 training file read on demand: x, y and
 * (when present) sample_weight of the rows a batch needs, with one
 * hyperslab selection per dataset (consecutive rows merged into blocks),
 * so that no process holds the whole dataset. The trainer's row source
 * (optim/trainer.h rnnc_row_source) takes rnnc_dataset_rows_read:
 *
 *   rnnc_dataset_rows *r;
 *   rnnc_dataset_rows_open("train.h5", NULL, &r);
 *   rnnc_row_source src = {rnnc_dataset_rows_count(r), rnnc_dataset_rows_read, r};
 *   rnnc_trainer_fit_source(tr, &src, &fo, &hist);
 *
 * In a data-parallel fit each rank opens the file and reads only its part
 * of each batch. Every read checks its rows for NaN / Inf. */
#ifndef RNNC_IO_DATASET_ROWS_H
#define RNNC_IO_DATASET_ROWS_H

#include "framework/autograd.h"
#include "io/dataset.h"

typedef struct rnnc_dataset_rows rnnc_dataset_rows;

/* Opens path read-only and checks x, y (required) and sample_weight
 * (optional, (N,) or (N, T)): ranks, sample counts, dtypes (opts as
 * rnnc_dataset_read's; mask is not read). Caller owns *out. */
rnnc_status rnnc_dataset_rows_open(const char *path, const rnnc_dataset_options *opts, rnnc_dataset_rows **out);
void rnnc_dataset_rows_close(rnnc_dataset_rows *r); /* NULL is a no-op */
int64_t rnnc_dataset_rows_count(const rnnc_dataset_rows *r);
/* Rows (of x, y, sample_weight) read so far, counted once per row. */
int64_t rnnc_dataset_rows_read_so_far(const rnnc_dataset_rows *r);
/* A row source's read (user = the rnnc_dataset_rows). */
rnnc_status rnnc_dataset_rows_read(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                                   rnnc_tensor **y, rnnc_tensor **sw);

#endif
