/* cmd_bench_stream.c - `rnnc bench stream`: peak memory of training on an
 * HDF5 dataset larger than memory through the streaming reader
 * (io/stream_reader.h, docs/distributed.md). Writes (once) a file of
 * --gib GiB: x (N, 1024) float32 and y (N, 1), then trains Dense(1) on it
 * for one epoch (SGD, mse, batch 256, windowed shuffle) and prints the
 * process's peak resident memory (VmHWM) against the file's size. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apps/cli.h"
#include "apps/commands.h"
#include "framework/random.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/stream_reader.h"
#include "optim/trainer.h"

static rnnc_cli_opt stream_opts[] = {
    {"--gib", "G", "dataset size in GiB (default 4)", NULL},
    {"--file", "PATH", "the dataset (default /tmp/rnnc_stream_bench.h5; written when missing or of another size)", NULL},
    {"--window-chunks", "K", "chunks of 1024 rows per window (default 8)", NULL},
    {NULL, NULL, NULL, NULL},
};

static rnnc_cli_cmd stream_cmd = {
    .name = "bench stream",
    .usage = "[--gib G] [--file PATH] [--window-chunks K]",
    .summary = "Peak memory of one training epoch on an HDF5 file through the streaming reader.",
    .details = "x is (N, 1024) float32, y (N, 1); the model is Dense(1), SGD, batch 256.\n\n"
               "Example:\n"
               "  rnnc bench stream --gib 4",
    .min_pos = 0,
    .max_pos = 0,
    .opts = stream_opts,
};

#define FEAT 1024

static long vm_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key), NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* x (n, FEAT) uniform in [-1, 1), y = mean of the first 8 features. */
static rnnc_status write_data(const char *path, int64_t n)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return rnnc_fail(RNNC_E_IO, "bench stream: cannot create '%s'", path);
    hsize_t xd[2] = {(hsize_t)n, FEAT}, yd[2] = {(hsize_t)n, 1};
    hid_t xs = H5Screate_simple(2, xd, NULL), ys = H5Screate_simple(2, yd, NULL);
    hid_t x = H5Dcreate2(f, "x", H5T_IEEE_F32LE, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t y = H5Dcreate2(f, "y", H5T_IEEE_F32LE, ys, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const int64_t slab = 8192;
    float *bx = malloc((size_t)slab * FEAT * sizeof *bx), *by = malloc((size_t)slab * sizeof *by);
    double *u = malloc((size_t)slab * FEAT * sizeof *u);
    rnnc_status s = RNNC_OK;
    if (x < 0 || y < 0 || !bx || !by || !u)
        s = rnnc_fail(RNNC_E_IO, "bench stream: cannot write '%s'", path);
    rnnc_rng r;
    rnnc_rng_init(&r, 1);
    for (int64_t a = 0; a < n && !s; a += slab) {
        const int64_t m = a + slab < n ? slab : n - a;
        rnnc_rng_uniform(&r, u, (size_t)(m * FEAT));
        for (int64_t i = 0; i < m; i++) {
            double acc = 0;
            for (int j = 0; j < FEAT; j++) {
                bx[i * FEAT + j] = (float)(2 * u[i * FEAT + j] - 1);
                acc += j < 8 ? bx[i * FEAT + j] : 0;
            }
            by[i] = (float)(acc / 8);
        }
        hsize_t st[2] = {(hsize_t)a, 0}, cx[2] = {(hsize_t)m, FEAT}, cy[2] = {(hsize_t)m, 1};
        hid_t mx = H5Screate_simple(2, cx, NULL), my = H5Screate_simple(2, cy, NULL);
        H5Sselect_hyperslab(xs, H5S_SELECT_SET, st, NULL, cx, NULL);
        H5Sselect_hyperslab(ys, H5S_SELECT_SET, st, NULL, cy, NULL);
        if (H5Dwrite(x, H5T_NATIVE_FLOAT, mx, xs, H5P_DEFAULT, bx) < 0 ||
            H5Dwrite(y, H5T_NATIVE_FLOAT, my, ys, H5P_DEFAULT, by) < 0)
            s = rnnc_fail(RNNC_E_IO, "bench stream: writing '%s' failed (disk full?)", path);
        H5Sclose(mx);
        H5Sclose(my);
    }
    free(bx);
    free(by);
    free(u);
    if (x >= 0)
        H5Dclose(x);
    if (y >= 0)
        H5Dclose(y);
    H5Sclose(xs);
    H5Sclose(ys);
    if (H5Fclose(f) < 0 && !s)
        s = rnnc_fail(RNNC_E_IO, "bench stream: closing '%s' failed", path);
    if (s)
        remove(path);
    return s;
}

int rnnc_cmd_bench_stream(int argc, char **argv)
{
    int rc = rnnc_cli_parse(&stream_cmd, argc, argv);
    if (rc >= 0)
        return rc;
    double gib = 4;
    int64_t wchunks = 8;
    const char *v;
    if (((v = rnnc_cli_get(&stream_cmd, "--gib")) && !rnnc_cli_float(&stream_cmd, "--gib", v, 0.001, 64, &gib)) ||
        ((v = rnnc_cli_get(&stream_cmd, "--window-chunks")) &&
         !rnnc_cli_int(&stream_cmd, "--window-chunks", v, 1, 1 << 20, &wchunks)))
        return RNNC_EXIT_USAGE;
    const char *path = rnnc_cli_get(&stream_cmd, "--file");
    if (!path)
        path = "/tmp/rnnc_stream_bench.h5";
    const int64_t n = (int64_t)(gib * 1073741824.0 / (FEAT * 4.0));
    struct stat st;
    rnnc_status s = RNNC_OK;
    const double want = (double)n * (FEAT + 1) * 4.0;
    if (stat(path, &st) != 0 || (double)st.st_size < want || (double)st.st_size > want + (1 << 20)) {
        printf("Writing %s: %lld rows of %d float32 (%.2f GiB)...\n", path, (long long)n, FEAT, want / 1073741824.0);
        fflush(stdout);
        if ((s = write_data(path, n)))
            return rnnc_cli_fail(&stream_cmd, s);
        stat(path, &st);
    }
    /* the peak from here on (writing the file used its own buffers): "5"
     * to clear_refs resets VmHWM to the current resident size */
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr) {
        fputs("5", cr);
        fclose(cr);
    }
    const long rss0 = vm_kib("VmRSS:");
    rnnc_stream_options so = {.chunk_rows = 1024, .window_chunks = (int)wchunks, .seed = 3};
    rnnc_stream_reader *sr = NULL;
    rnnc_cfg *cfg = NULL, *opt = NULL, *loss = NULL;
    rnnc_model *m = NULL;
    rnnc_trainer *tr = NULL;
    const char *spec = "class_name: Sequential\nconfig:\n  name: s\n  layers:\n"
                       "    - {class_name: InputLayer, config: {batch_shape: [null, 1024]}}\n"
                       "    - {class_name: Dense, config: {name: d, units: 1}}\n";
    const char *opt_text = "{class_name: SGD, config: {learning_rate: 0.01}}";
    if ((s = rnnc_stream_reader_open(path, NULL, &so, &sr)) ||
        (s = rnnc_spec_read_string(spec, strlen(spec), "bench", &cfg)) || (s = rnnc_model_from_config(cfg, NULL, &m)) ||
        (s = rnnc_spec_read_string(opt_text, strlen(opt_text), "optimizer", &opt)) ||
        (s = rnnc_spec_read_string("mse", 3, "loss", &loss)) || (s = rnnc_trainer_create(m, &tr)) ||
        (s = rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL)))
        goto done;
    rnnc_row_source src = {rnnc_stream_reader_count(sr), rnnc_stream_reader_read, sr};
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.shuffle = false;
    fo.batch_size = 256;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    const double t0 = rnnc_cli_now();
    s = rnnc_trainer_fit_source(tr, &src, &fo, &h);
    const double secs = rnnc_cli_now() - t0;
    if (!s) {
        const double loss_v = rnnc_history_get(h, "loss")[0];
        const long peak = vm_kib("VmHWM:");
        const double file_mib = (double)st.st_size / 1048576.0;
        printf("rnnc bench stream: %s (%.0f MiB, %lld rows), Dense(1), one epoch, batch 256, windows of %lld x 1024 rows\n",
               path, file_mib, (long long)n, (long long)wchunks);
        printf("  epoch: %.1f s (%.0f rows/s), loss %.4f\n", secs, secs > 0 ? (double)n / secs : 0.0, loss_v);
        printf("  peak resident memory (VmHWM): %.1f MiB = %.2f %% of the file (%.1f MiB before training; "
               "the reader's windows held at most %.1f MiB)\n",
               peak / 1024.0, 100.0 * peak / 1024.0 / file_mib, rss0 / 1024.0,
               (double)rnnc_stream_reader_peak_bytes(sr) / 1048576.0);
    }
    rnnc_history_destroy(h);
done:
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(cfg);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    rnnc_stream_reader_close(sr);
    return s ? rnnc_cli_fail(&stream_cmd, s) : RNNC_EXIT_OK;
}
