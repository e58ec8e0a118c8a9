/* stream_reader.h - training rows streamed from an HDF5 file larger than
 * memory: the file is read a window of chunks at a time (one hyperslab
 * read per chunk), a prefetch thread reads the next window while training
 * runs on the current one, and the order is a windowed shuffle: each epoch
 * permutes the chunks, groups them into windows of `window_chunks`, and
 * permutes the rows inside each window.
 *
 * The randomness given up against a full shuffle: rows that share a chunk
 * always land in the same window of an epoch, so a batch draws from
 * window_chunks * chunk_rows rows instead of the whole dataset, and two
 * rows of one chunk are at most one window apart. With window_chunks = 1
 * it is a shuffle of chunks and of rows within each chunk; with one window
 * holding every chunk it is a full shuffle (and holds the whole dataset).
 * Memory: two windows of x, y and sample weights (the current and the
 * prefetched one).
 *
 * It is a row source (optim/trainer.h) whose rows are positions in the
 * epoch's stream order: give it to rnnc_trainer_fit_source with shuffle
 * off (fit then asks for positions 0..n-1 each epoch; in a data-parallel
 * fit each rank asks for its part of each batch and loads the windows
 * holding it). A request that starts before the previous one begins the
 * next epoch's order. */
#ifndef RNNC_IO_STREAM_READER_H
#define RNNC_IO_STREAM_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/autograd.h"
#include "io/dataset.h"

typedef struct rnnc_stream_options {
    int64_t chunk_rows; /* rows per chunk; 0 -> 1024 */
    int window_chunks;  /* chunks per window; 0 -> 8 */
    bool no_shuffle;    /* true: the file's order */
    uint64_t seed;      /* of the chunk and row permutations */
    int64_t first_epoch; /* the order of the first request's pass (a resumed run: its pass, 0-based); 0 */
} rnnc_stream_options;

typedef struct rnnc_stream_reader rnnc_stream_reader;

/* Opens path (datasets as rnnc_dataset_read's options; opts NULL: the
 * defaults). Caller owns *out. */
rnnc_status rnnc_stream_reader_open(const char *path, const rnnc_dataset_options *data,
                                    const rnnc_stream_options *opts, rnnc_stream_reader **out);
/* Waits for the prefetch thread, closes the file. NULL is a no-op. */
void rnnc_stream_reader_close(rnnc_stream_reader *r);
int64_t rnnc_stream_reader_count(const rnnc_stream_reader *r);
/* The file row at stream position pos of epoch `epoch` (0-based). */
int64_t rnnc_stream_reader_row(const rnnc_stream_reader *r, int64_t epoch, int64_t pos);
/* Bytes of row data held at most so far (both windows). */
size_t rnnc_stream_reader_peak_bytes(const rnnc_stream_reader *r);
/* A row source's read (user = the reader): rows are stream positions. */
rnnc_status rnnc_stream_reader_read(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                                    rnnc_tensor **y, rnnc_tensor **sw);

#endif
