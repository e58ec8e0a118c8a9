/* test_tensorboard.c - the TensorBoard callback of `fit.callbacks` writes
 * event files as TensorFlow's summary writer does.
 *
 * Oracles: TFRecord framing checked with this file's own CRC-32C (itself
 * checked on the standard check value: crc32c("123456789") = 0xE3069283);
 * the Event / Summary protocol buffers decoded here by hand from
 * TensorFlow's field numbers (event.proto, summary.proto); the values
 * against the run's history.csv (another writer); the steps and weight
 * counts derived by hand from the data and model sizes. With real
 * TensorBoard (its EventAccumulator) the same files were read when this
 * test was written (tests/check_tensorboard_events.py). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/run_program.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"
#define FX RNNC_FIXTURES "/fit_callbacks"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_tb_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(tensorboard, .init = setup, .fini = teardown, .timeout = 300);

static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint32_t masked(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- a minimal protocol-buffer reader ---- */

typedef struct field {
    int num, wire;
    uint64_t v;                /* varint, fixed64, fixed32 */
    const unsigned char *data; /* length-delimited */
    size_t len;
} field;

static uint64_t varint(const unsigned char **p, const unsigned char *end)
{
    uint64_t v = 0;
    for (int s = 0; *p < end && s < 64; s += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7F) << s;
        if (!(b & 0x80))
            return v;
    }
    cr_assert_fail("bad varint");
    return 0;
}

/* The next field of [*p, end); false at the end. */
static bool next_field(const unsigned char **p, const unsigned char *end, field *f)
{
    if (*p >= end)
        return false;
    uint64_t key = varint(p, end);
    f->num = (int)(key >> 3);
    f->wire = (int)(key & 7);
    switch (f->wire) {
    case 0:
        f->v = varint(p, end);
        break;
    case 1:
        cr_assert_leq(*p + 8, end);
        f->v = le(*p, 8);
        *p += 8;
        break;
    case 5:
        cr_assert_leq(*p + 4, end);
        f->v = le(*p, 4);
        *p += 4;
        break;
    case 2:
        f->len = (size_t)varint(p, end);
        cr_assert_leq(*p + f->len, end);
        f->data = *p;
        *p += f->len;
        break;
    default:
        cr_assert_fail("wire type %d", f->wire);
    }
    return true;
}

typedef struct event {
    int64_t step;
    char file_version[32];
    char tag[128];
    int kind; /* 0 none, 1 simple_value, 2 histo, 3 tensor */
    float value;
    double histo_num;
    char plugin[64];
} event;

static void decode_value(const unsigned char *p, const unsigned char *end, event *e)
{
    field f;
    while (next_field(&p, end, &f)) {
        if (f.num == 1 && f.wire == 2) {
            snprintf(e->tag, sizeof e->tag, "%.*s", (int)f.len, (const char *)f.data);
        } else if (f.num == 2 && f.wire == 5) {
            uint32_t bits = (uint32_t)f.v;
            memcpy(&e->value, &bits, 4);
            e->kind = 1;
        } else if (f.num == 5 && f.wire == 2) {
            e->kind = 2;
            const unsigned char *q = f.data;
            field h;
            while (next_field(&q, f.data + f.len, &h))
                if (h.num == 3 && h.wire == 1)
                    memcpy(&e->histo_num, &h.v, 8);
        } else if (f.num == 8 && f.wire == 2) {
            e->kind = 3;
        } else if (f.num == 9 && f.wire == 2) { /* SummaryMetadata.plugin_data.plugin_name */
            const unsigned char *q = f.data;
            field m, pd;
            while (next_field(&q, f.data + f.len, &m))
                if (m.num == 1 && m.wire == 2) {
                    const unsigned char *r = m.data;
                    while (next_field(&r, m.data + m.len, &pd))
                        if (pd.num == 1 && pd.wire == 2)
                            snprintf(e->plugin, sizeof e->plugin, "%.*s", (int)pd.len, (const char *)pd.data);
                }
        }
    }
}

static void decode_event(const unsigned char *p, size_t n, event *e)
{
    memset(e, 0, sizeof *e);
    const unsigned char *end = p + n;
    field f;
    while (next_field(&p, end, &f)) {
        if (f.num == 2 && f.wire == 0)
            e->step = (int64_t)f.v;
        else if (f.num == 3 && f.wire == 2)
            snprintf(e->file_version, sizeof e->file_version, "%.*s", (int)f.len, (const char *)f.data);
        else if (f.num == 5 && f.wire == 2) { /* Summary: one value per event */
            const unsigned char *q = f.data;
            field v;
            int nv = 0;
            while (next_field(&q, f.data + f.len, &v))
                if (v.num == 1 && v.wire == 2) {
                    decode_value(v.data, v.data + v.len, e);
                    nv++;
                }
            cr_assert_eq(nv, 1);
        }
    }
}

/* The events of the one event file in dir; *n their count (malloc'd). */
static event *read_events(const char *dir, int *n)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    struct dirent *de;
    char path[800] = "";
    int files = 0;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "events.out.tfevents.", 20) == 0) {
            size_t l = strlen(de->d_name);
            cr_assert(l > 3 && strcmp(de->d_name + l - 3, ".v2") == 0, "%s", de->d_name);
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            files++;
        }
    closedir(d);
    cr_assert_eq(files, 1, "%s: %d event files", dir, files);
    size_t len;
    unsigned char *b = (unsigned char *)rnnc_test_slurp(path, &len);
    cr_assert_not_null(b);
    event *ev = NULL;
    *n = 0;
    for (size_t at = 0; at < len;) {
        cr_assert_leq(at + 12, len, "a record header is cut off");
        uint64_t rl = le(b + at, 8);
        cr_assert_eq((uint32_t)le(b + at + 8, 4), masked(crc32c(b + at, 8)), "length CRC of record %d", *n);
        cr_assert_leq(at + 16 + rl, len, "record %d is cut off", *n);
        cr_assert_eq((uint32_t)le(b + at + 12 + rl, 4), masked(crc32c(b + at + 12, rl)), "data CRC of record %d", *n);
        ev = realloc(ev, (size_t)(*n + 1) * sizeof *ev);
        decode_event(b + at + 12, rl, &ev[(*n)++]);
        at += 16 + rl;
    }
    free(b);
    return ev;
}

static const event *find(const event *ev, int n, const char *tag, int64_t step)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ev[i].tag, tag) == 0 && ev[i].step == step)
            return &ev[i];
    return NULL;
}

static int count_tag(const event *ev, int n, const char *tag)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += strcmp(ev[i].tag, tag) == 0;
    return k;
}

Test(tensorboard, crc32c_check_value) { cr_assert_eq(crc32c((const unsigned char *)"123456789", 9), 0xE3069283u); }

Test(tensorboard, event_files_hold_scalars_histograms_and_the_model)
{
    char spec[700];
    snprintf(spec, sizeof spec, "%s/tb.yaml", tmpdir);
    FILE *f = fopen(spec, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "model: %s/reg.json\ncompile: {optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse, metrics: [mae]}\n"
            "fit:\n  epochs: 3\n  batch_size: 16\n  shuffle: false\n  verbose: 0\n  history: hist\n"
            "  validation_data: {path: %s/data.h5, x: x_val, y: y_val}\n"
            "  callbacks:\n    - TensorBoard: {log_dir: logs, histogram_freq: 2, update_freq: 2}\n"
            "data: {path: %s/data.h5, x: x, y: y}\n",
            FX, FX, FX);
    fclose(f);
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"train", "tb.yaml", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    char dir[800];
    int nt, nv;
    snprintf(dir, sizeof dir, "%s/logs/train", tmpdir);
    event *tr = read_events(dir, &nt);
    snprintf(dir, sizeof dir, "%s/logs/validation", tmpdir);
    event *va = read_events(dir, &nv);
    cr_assert_str_eq(tr[0].file_version, "brain.Event:2");
    cr_assert_str_eq(va[0].file_version, "brain.Event:2");
    /* the model config, as Keras's keras_model_summary */
    const event *k = find(tr, nt, "keras", 0);
    cr_assert(k && k->kind == 3, "no 'keras' tensor");
    cr_assert_str_eq(k->plugin, "graph_keras_model");
    /* epoch scalars = the history's values (as float32); train and validation writers */
    char path[800];
    snprintf(path, sizeof path, "%s/hist/history.csv", tmpdir);
    char *csv = rnnc_test_slurp(path, NULL), *save;
    cr_assert_not_null(csv);
    cr_assert(strncmp(csv, "epoch,loss,mae,val_loss,val_mae\r\n", 33) == 0, "%s", csv);
    strtok_r(csv, "\r\n", &save);
    for (int e = 0; e < 3; e++) {
        char *row = strtok_r(NULL, "\r\n", &save);
        cr_assert_not_null(row);
        double v[5];
        cr_assert_eq(sscanf(row, "%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3], &v[4]), 5);
        const char *tags[4] = {"epoch_loss", "epoch_mae", "epoch_loss", "epoch_mae"};
        for (int i = 0; i < 4; i++) {
            const event *x = find(i < 2 ? tr : va, i < 2 ? nt : nv, tags[i], e);
            cr_assert(x && x->kind == 1, "%s at epoch %d", tags[i], e);
            cr_assert_eq(x->value, (float)v[i + 1], "%s at epoch %d: %g vs %g", tags[i], e, x->value, v[i + 1]);
        }
        const event *lr = find(tr, nt, "epoch_learning_rate", e);
        cr_assert(lr && lr->value == 0.01f, "learning rate at epoch %d", e);
    }
    free(csv);
    /* no val_ names and no validation histograms */
    cr_assert_eq(count_tag(va, nv, "epoch_val_loss") + count_tag(tr, nt, "epoch_val_loss"), 0);
    /* update_freq 2: 48 samples / 16 = 3 batches x 3 epochs -> global batches 2, 4, 6, 8 */
    cr_assert_eq(count_tag(tr, nt, "batch_loss"), 4);
    for (int s = 2; s <= 8; s += 2)
        cr_assert_not_null(find(tr, nt, "batch_loss", s), "batch_loss at %d", s);
    /* histogram_freq 2: epochs 0 and 2; element counts of the GRU(4) on 3 features and Dense(1) */
    const struct {
        const char *tag;
        double n;
    } h[] = {{"gru/gru_cell/kernel/histogram", 3 * 12},
             {"gru/gru_cell/recurrent_kernel/histogram", 4 * 12},
             {"gru/gru_cell/bias/histogram", 2 * 12},
             {"dense/kernel/histogram", 4},
             {"dense/bias/histogram", 1}};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(count_tag(tr, nt, h[i].tag), 2, "%s", h[i].tag);
        for (int e = 0; e <= 2; e += 2) {
            const event *x = find(tr, nt, h[i].tag, e);
            cr_assert(x && x->kind == 2 && x->histo_num == h[i].n, "%s at epoch %d", h[i].tag, e);
        }
    }
    free(tr);
    free(va);
}

Test(tensorboard, bad_arguments_are_named)
{
    char spec[700];
    snprintf(spec, sizeof spec, "%s/bad.yaml", tmpdir);
    FILE *f = fopen(spec, "w");
    fprintf(f, "model: %s/reg.json\ncompile: {optimizer: sgd, loss: mse}\nfit:\n  verbose: 0\n"
               "  callbacks: [{TensorBoard: {log_dir: logs, update_freq: sometimes}}]\ndata: {path: %s/data.h5}\n",
            FX, FX);
    fclose(f);
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"train", "bad.yaml", NULL});
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "'update_freq' must be 'epoch', 'batch'"), "%s", r.err);
    rnnc_test_run_free(&r);
    f = fopen(spec, "w");
    fprintf(f, "model: %s/reg.json\ncompile: {optimizer: sgd, loss: mse}\nfit:\n  verbose: 0\n"
               "  callbacks: [{TensorBoard: {logdir: logs}}]\ndata: {path: %s/data.h5}\n",
            FX, FX);
    fclose(f);
    r = rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, (const char *const[]){"train", "bad.yaml", NULL});
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "did you mean 'log_dir'"), "%s", r.err);
    rnnc_test_run_free(&r);
}
