/* test_stream_reader.c - io/stream_reader.h: an HDF5 file streamed a
 * window of chunks at a time, in a windowed shuffle order, prefetched by a
 * thread. Oracles: the file's own rows (x holds each row's index), the
 * windowed shuffle's definition (every row once per epoch; rows of a chunk
 * at most one window apart) and an in-memory fit on the same order. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/builders.h"
#include "helpers/h5_make.h"
#include "io/model_loader.h"
#include "io/stream_reader.h"
#include "optim/trainer.h"

#define N 103

/* x (N, 2) = [i, 2i], y (N, 1) = 3i, sample_weight (N,) = 1 + i % 3. */
static void write_file(const char *path)
{
    static float x[N * 2], y[N], sw[N];
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)(2 * i);
        y[i] = (float)(3 * i);
        sw[i] = (float)(1 + i % 3);
    }
    rnnc_h5m_dataset ds[3] = {
        {"x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, {N, 2}, x, true},
        {"y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, {N, 1}, y, false},
        {"sample_weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, {N}, sw, false},
    };
    cr_assert(rnnc_h5m_write(path, ds, 3), "cannot write %s", path);
}

/* One epoch of positions 0..N-1 in requests of `bs`: the row each gave. */
static void read_epoch(rnnc_stream_reader *r, rnnc_ctx *cx, int bs, int *row_at)
{
    int64_t pos[N];
    for (int at = 0; at < N; at += bs) {
        const int m = at + bs < N ? bs : N - at;
        for (int i = 0; i < m; i++)
            pos[i] = at + i;
        rnnc_tensor *x, *y, *sw;
        cr_assert_eq(rnnc_stream_reader_read(r, cx, pos, m, &x, &y, &sw), RNNC_OK, "%s", rnnc_last_error());
        cr_assert(x && y && sw);
        cr_assert_eq(x->shape.dim[0], m);
        for (int i = 0; i < m; i++) {
            const int id = (int)rnnc_tensor_get(x, (size_t)(2 * i));
            cr_assert_eq(rnnc_tensor_get(x, (size_t)(2 * i + 1)), 2.0 * id, "x row %d is torn", id);
            cr_assert_eq(rnnc_tensor_get(y, (size_t)i), 3.0 * id, "y of row %d", id);
            cr_assert_eq(rnnc_tensor_get(sw, (size_t)i), 1.0 + id % 3, "sample weight of row %d", id);
            row_at[at + i] = id;
        }
        rnnc_ctx_clear(cx);
    }
}

Test(stream_reader, every_row_once_per_epoch_in_a_windowed_shuffle)
{
    char path[64];
    snprintf(path, sizeof path, "stream_%d.h5", getpid());
    write_file(path);
    rnnc_stream_options o = {.chunk_rows = 10, .window_chunks = 3, .seed = 4};
    rnnc_stream_reader *r;
    cr_assert_eq(rnnc_stream_reader_open(path, NULL, &o, &r), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_stream_reader_count(r), N);
    rnnc_ctx *cx = rnnc_ctx_create();
    int order[2][N];
    for (int e = 0; e < 2; e++) {
        read_epoch(r, cx, 7, order[e]);
        int seen[N] = {0}, first[11], last[11];
        for (int c = 0; c < 11; c++)
            first[c] = N, last[c] = -1;
        for (int p = 0; p < N; p++) {
            const int id = order[e][p];
            cr_assert(id >= 0 && id < N);
            cr_assert_eq(seen[id]++, 0, "epoch %d: row %d twice", e, id);
            cr_assert_eq(rnnc_stream_reader_row(r, e, p), id, "epoch %d position %d", e, p);
            const int c = id / 10;
            first[c] = p < first[c] ? p : first[c];
            last[c] = p > last[c] ? p : last[c];
        }
        /* a chunk's rows stay inside one window of 3 chunks (at most 30 rows) */
        for (int c = 0; c < 11; c++)
            cr_expect_lt(last[c] - first[c], 30, "epoch %d: chunk %d spread over positions %d..%d", e, c, first[c],
                         last[c]);
    }
    cr_expect_neq(memcmp(order[0], order[1], sizeof order[0]), 0, "the two epochs have the same order");
    int identity = 0;
    for (int p = 0; p < N; p++)
        identity += order[0][p] == p;
    cr_expect_lt(identity, N / 2, "epoch 0 is barely shuffled (%d rows in place)", identity);
    /* two windows of x, y and weights at most: 2 * 30 rows * 4 floats */
    cr_expect_leq(rnnc_stream_reader_peak_bytes(r), (size_t)(2 * 30 * 4 * 4), "%zu bytes held",
                  rnnc_stream_reader_peak_bytes(r));
    cr_expect_gt(rnnc_stream_reader_peak_bytes(r), 0);
    rnnc_ctx_destroy(cx);
    rnnc_stream_reader_close(r);
    remove(path);
}

Test(stream_reader, without_shuffle_the_file_order)
{
    char path[64];
    snprintf(path, sizeof path, "stream_ns_%d.h5", getpid());
    write_file(path);
    rnnc_stream_options o = {.chunk_rows = 8, .window_chunks = 2, .no_shuffle = true};
    rnnc_stream_reader *r;
    cr_assert_eq(rnnc_stream_reader_open(path, NULL, &o, &r), RNNC_OK, "%s", rnnc_last_error());
    rnnc_ctx *cx = rnnc_ctx_create();
    int order[N];
    read_epoch(r, cx, 5, order);
    for (int p = 0; p < N; p++)
        cr_assert_eq(order[p], p);
    /* positions that are not consecutive are refused, with the reason */
    int64_t bad[2] = {3, 9};
    rnnc_tensor *x, *y, *sw;
    cr_expect_eq(rnnc_stream_reader_read(r, cx, bad, 2, &x, &y, &sw), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "consecutive"), "%s", rnnc_last_error());
    rnnc_ctx_destroy(cx);
    rnnc_stream_reader_close(r);
    cr_expect_neq(rnnc_stream_reader_open("no/such/stream.h5", NULL, NULL, &r), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "no/such/stream.h5"), "%s", rnnc_last_error());
    remove(path);
}

/* fit over the stream (one epoch) equals fit on the same rows in memory in
 * the stream's order. */
Test(stream_reader, fit_on_the_stream_equals_fit_in_memory_in_its_order)
{
    char path[64];
    snprintf(path, sizeof path, "stream_fit_%d.h5", getpid());
    write_file(path);
    rnnc_stream_options o = {.chunk_rows = 16, .window_chunks = 2, .seed = 9};
    rnnc_stream_reader *r;
    cr_assert_eq(rnnc_stream_reader_open(path, NULL, &o, &r), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *cfg = th_parse("{class_name: Sequential, config: {name: s, layers: ["
                             "{class_name: InputLayer, config: {batch_shape: [null, 2]}},"
                             "{class_name: Dense, config: {name: d, units: 1, kernel_initializer: Zeros}}]}}");
    rnnc_cfg *loss = th_parse("mse"), *opt = th_parse("{class_name: SGD, config: {learning_rate: 0.000001}}");
    double w[2][3];
    for (int run = 0; run < 2; run++) {
        rnnc_model *m;
        rnnc_trainer *tr;
        cr_assert_eq(rnnc_model_from_config(cfg, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
        cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
        cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
        rnnc_fit_options fo = rnnc_fit_options_default();
        fo.verbose = RNNC_VERBOSE_SILENT;
        fo.shuffle = false;
        fo.batch_size = 10;
        if (run == 0) {
            rnnc_row_source src = {rnnc_stream_reader_count(r), rnnc_stream_reader_read, r};
            cr_assert_eq(rnnc_trainer_fit_source(tr, &src, &fo, NULL), RNNC_OK, "%s", rnnc_last_error());
        } else {
            /* the stream's epoch-0 order, in memory */
            rnnc_tensor *x, *y, *sw;
            rnnc_shape xs = RNNC_SHAPE(N, 2), ys = RNNC_SHAPE(N, 1), ws = RNNC_SHAPE(N);
            cr_assert_eq(rnnc_tensor_create(RNNC_F32, &xs, &x), RNNC_OK);
            cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ys, &y), RNNC_OK);
            cr_assert_eq(rnnc_tensor_create(RNNC_F32, &ws, &sw), RNNC_OK);
            for (int p = 0; p < N; p++) {
                const int64_t id = rnnc_stream_reader_row(r, 0, p);
                rnnc_tensor_set(x, (size_t)(2 * p), (double)id);
                rnnc_tensor_set(x, (size_t)(2 * p + 1), 2.0 * (double)id);
                rnnc_tensor_set(y, (size_t)p, 3.0 * (double)id);
                rnnc_tensor_set(sw, (size_t)p, 1.0 + (double)(id % 3));
            }
            fo.sample_weight = sw;
            cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, NULL), RNNC_OK, "%s", rnnc_last_error());
            rnnc_tensor_destroy(x);
            rnnc_tensor_destroy(y);
            rnnc_tensor_destroy(sw);
        }
        rnnc_weight *ws[4];
        int nw = 0;
        cr_assert_eq(rnnc_model_weights(m, ws, 4, &nw), RNNC_OK);
        cr_assert_eq(nw, 2);
        w[run][0] = rnnc_tensor_get(ws[0]->value, 0);
        w[run][1] = rnnc_tensor_get(ws[0]->value, 1);
        w[run][2] = rnnc_tensor_get(ws[1]->value, 0);
        rnnc_trainer_destroy(tr);
        rnnc_model_destroy(m);
    }
    for (int k = 0; k < 3; k++)
        cr_expect_eq(w[0][k], w[1][k], "weight %d: stream %.9g, memory %.9g", k, w[0][k], w[1][k]);
    cr_expect_neq(w[0][0], 0.0, "training did not move the kernel");
    rnnc_cfg_destroy(cfg);
    rnnc_cfg_destroy(loss);
    rnnc_cfg_destroy(opt);
    rnnc_stream_reader_close(r);
    remove(path);
}
