/* dist_cases.c - see dist_cases.h. */
#include "dist/dist_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/layer.h"
#include "framework/model.h"
#include "framework/random.h"
#include "io/row_reader.h"
#include "io/stream_reader.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"

/* Masking + GRU + Dense on padded sequences: masks (trailing zeros),
 * per-sample weights, 10 samples in batches of 4 (a last batch of 2, so
 * with 3 or 4 ranks some ranks have no row), plain SGD. */
static const char *const mask_model =
    "class_name: Sequential\n"
    "config:\n"
    "  name: m\n"
    "  layers:\n"
    "    - {class_name: InputLayer, config: {batch_shape: [null, 6, 3]}}\n"
    "    - {class_name: Masking, config: {name: mask, mask_value: 0.0}}\n"
    "    - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"
    "    - {class_name: TimeDistributed, config: {name: td, layer: {class_name: Dense, config: {name: d, units: 2}}}}\n";

/* Bidirectional GRU + Dense with an L2 kernel regularizer and a MaxNorm
 * constraint, Adam with global_clipnorm, 11 samples in batches of 5. */
static const char *const bidir_model =
    "class_name: Sequential\n"
    "config:\n"
    "  name: b\n"
    "  layers:\n"
    "    - {class_name: InputLayer, config: {batch_shape: [null, 5, 2]}}\n"
    "    - {class_name: Bidirectional, config: {name: bi, merge_mode: concat, layer: {class_name: GRU, config: {name: g, units: 4}}}}\n"
    "    - class_name: Dense\n"
    "      config:\n"
    "        name: out\n"
    "        units: 3\n"
    "        kernel_regularizer: {class_name: L2, config: {l2: 0.01}}\n"
    "        kernel_constraint: {class_name: MaxNorm, config: {max_value: 0.5, axis: 0}}\n";

/* Embedding(mask_zero) + GRU + Dense on ids from a pool of 6 (every batch
 * repeats ids), Adam: the table's gradient is rows per occurrence, which
 * the ranks gather so that Adam squares each occurrence as one process
 * does. 9 samples in batches of 4. */
static const char *const embed_model =
    "class_name: Sequential\n"
    "config:\n"
    "  name: e\n"
    "  layers:\n"
    "    - {class_name: InputLayer, config: {batch_shape: [null, 5], dtype: int32}}\n"
    "    - {class_name: Embedding, config: {name: emb, input_dim: 40, output_dim: 3, mask_zero: true}}\n"
    "    - {class_name: GRU, config: {name: g, units: 4}}\n"
    "    - {class_name: Dense, config: {name: out, units: 2}}\n";

/* BatchNormalization(momentum 0.5, synchronized %s) between a GRU and the
 * output: "bn_mask" (masked sequences, the mask case's data, 10 samples in
 * batches of 4: with 3 ranks the last batch leaves a rank without rows)
 * and "bn_plain" (the Bidirectional case's data, 11 samples in batches of
 * 5: the last batch of 1 leaves every rank but one without rows). The
 * "_local" forms say synchronized: false. */
static const char *const bn_mask_model =
    "class_name: Sequential\n"
    "config:\n"
    "  name: bm\n"
    "  layers:\n"
    "    - {class_name: InputLayer, config: {batch_shape: [null, 6, 3]}}\n"
    "    - {class_name: Masking, config: {name: mask, mask_value: 0.0}}\n"
    "    - {class_name: GRU, config: {name: gru, units: 5, return_sequences: true}}\n"
    "    - {class_name: BatchNormalization, config: {name: bn, momentum: 0.5, synchronized: %s}}\n"
    "    - {class_name: TimeDistributed, config: {name: td, layer: {class_name: Dense, config: {name: d, units: 2}}}}\n";

static const char *const bn_plain_model =
    "class_name: Sequential\n"
    "config:\n"
    "  name: bp\n"
    "  layers:\n"
    "    - {class_name: InputLayer, config: {batch_shape: [null, 5, 2]}}\n"
    "    - {class_name: GRU, config: {name: g, units: 4}}\n"
    "    - {class_name: BatchNormalization, config: {name: bn, momentum: 0.5, synchronized: %s}}\n"
    "    - {class_name: Dense, config: {name: out, units: 3}}\n";

static rnnc_status refuse_config(const rnnc_layer *l, rnnc_cfg *config)
{
    (void)config;
    return rnnc_fail(RNNC_E_UNSUPPORTED, "layer '%s' has no config (dist case)", l->name);
}

/* Layer `name` of m (made from m's config) refuses get_config from now on. */
static int no_config(rnnc_model *m, const char *name)
{
    static rnnc_layer_class cls;
    rnnc_layer *l = rnnc_model_layer(m, name);
    if (!l)
        return 1;
    cls = *l->cls;
    cls.get_config = refuse_config;
    l->cls = &cls;
    return 0;
}

void dist_result_free(dist_result *r)
{
    free(r->w);
    r->w = NULL;
}

typedef struct hook_cb {
    rnnc_callback cb;
    dist_batch_hook hook;
    int rank, step;
} hook_cb;

static rnnc_status on_batch(rnnc_callback *cb, rnnc_trainer *tr, int step, const rnnc_logs *logs)
{
    hook_cb *h = (hook_cb *)cb;
    (void)tr, (void)step, (void)logs;
    h->hook(h->rank, h->step++);
    return RNNC_OK;
}

static int fail(const char *what)
{
    fprintf(stderr, "dist case: %s: %s\n", what, rnnc_last_error());
    return 1;
}

/* Deterministic weights: every trainable weight value from one Philox
 * stream (moving statistics keep their initial zeros / ones). */
static void fill_weights(rnnc_model *m)
{
    rnnc_weight *w[64];
    int n = 0;
    rnnc_rng r;
    rnnc_rng_init(&r, 99);
    if (rnnc_model_weights(m, w, 64, &n) != RNNC_OK)
        return;
    for (int i = 0; i < n && i < 64; i++)
        for (size_t j = 0; w[i]->trainable && j < w[i]->value->numel; j++) {
            double u;
            rnnc_rng_uniform(&r, &u, 1);
            rnnc_tensor_set(w[i]->value, j, 0.6 * (u - 0.5));
        }
}

/* The model's weights flattened and the last epoch's logs into out. */
static int collect_result(rnnc_model *m, const rnnc_history *h, dist_result *out)
{
    rnnc_weight *w[64];
    int nw = 0;
    if (rnnc_model_weights(m, w, 64, &nw))
        return fail("weights");
    for (int i = 0; i < nw; i++)
        out->n += w[i]->value->numel;
    out->w = malloc(out->n * sizeof *out->w);
    if (!out->w)
        return 1;
    size_t at = 0;
    for (int i = 0; i < nw; i++)
        for (size_t j = 0; j < w[i]->value->numel; j++)
            out->w[at++] = rnnc_tensor_get(w[i]->value, j);
    const int ne = rnnc_history_n_epochs(h);
    for (int k = 0; k < rnnc_history_n_keys(h); k++)
        rnnc_logs_set(&out->logs, rnnc_history_key(h, k), rnnc_history_get(h, rnnc_history_key(h, k))[ne - 1]);
    return 0;
}

static int embed_case(rnnc_comm *comm, dist_result *out)
{
    rnnc_cfg *cfg = NULL, *opt = NULL, *loss = NULL;
    rnnc_model *m = NULL;
    rnnc_trainer *tr = NULL;
    rnnc_tensor *x = NULL, *y = NULL;
    rnnc_history *h = NULL;
    int rc = 1;
    const char *opt_text = "{class_name: Adam, config: {learning_rate: 0.05}}";
    if (rnnc_spec_read_string(embed_model, strlen(embed_model), "embed_adam", &cfg) ||
        rnnc_model_from_config(cfg, NULL, &m)) {
        rc = fail("model");
        goto done;
    }
    fill_weights(m);
    if (rnnc_spec_read_string(opt_text, strlen(opt_text), "opt", &opt) ||
        rnnc_spec_read_string("mse", 3, "loss", &loss) || rnnc_trainer_create(m, &tr) ||
        rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL) || rnnc_trainer_set_comm(tr, comm)) {
        rc = fail("compile");
        goto done;
    }
    rnnc_trainer_set_bucket_bytes(tr, 256);
    const int64_t n = 9, T = 5;
    const rnnc_shape xs = RNNC_SHAPE(n, T), ys = RNNC_SHAPE(n, 2);
    if (rnnc_tensor_create(RNNC_I32, &xs, &x) || rnnc_tensor_create(RNNC_F32, &ys, &y)) {
        rc = fail("data");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        for (int64_t t = 0; t < T; t++) /* ids 3, 7, ..., 38, zero padding at the end */
            rnnc_tensor_set(x, (size_t)(i * T + t), t < 2 + i % 4 ? 3 + 7 * ((i * 5 + t * 3) % 6) : 0);
        rnnc_tensor_set(y, (size_t)(i * 2), 0.3 * (double)(i % 3) - 0.2);
        rnnc_tensor_set(y, (size_t)(i * 2 + 1), 0.1 * (double)(i % 5));
    }
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.batch_size = 4;
    fo.epochs = 3;
    fo.shuffle = true;
    fo.seed = 5;
    fo.verbose = RNNC_VERBOSE_SILENT;
    if (rnnc_trainer_fit(tr, x, y, &fo, &h)) {
        rc = fail("fit");
        goto done;
    }
    rc = collect_result(m, h, out);
done:
    rnnc_history_destroy(h);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(cfg);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    return rc;
}

int dist_case_data(const char *name, rnnc_tensor **x, rnnc_tensor **y, rnnc_tensor **sw)
{
    const bool masked = strncmp(name, "mask_sw_sgd", 11) == 0 || strncmp(name, "bn_mask", 7) == 0;
    const int64_t n = masked ? 10 : 11, T = masked ? 6 : 5, F = masked ? 3 : 2;
    *x = *y = *sw = NULL;
    rnnc_shape xs = RNNC_SHAPE(n, T, F), ys = masked ? RNNC_SHAPE(n, T, 2) : RNNC_SHAPE(n, 3),
               ws = masked ? RNNC_SHAPE(n, T) : RNNC_SHAPE(n);
    if (rnnc_tensor_create(RNNC_F32, &xs, x) || rnnc_tensor_create(RNNC_F32, &ys, y) ||
        rnnc_tensor_create(RNNC_F32, &ws, sw))
        return fail("data");
    rnnc_rng r;
    rnnc_rng_init(&r, 7);
    for (int64_t i = 0; i < n; i++) {
        const int64_t len = masked ? 2 + i % (T - 1) : T; /* valid steps, then zero padding */
        for (int64_t t = 0; t < T; t++)
            for (int64_t f = 0; f < F; f++) {
                double u;
                rnnc_rng_uniform(&r, &u, 1);
                rnnc_tensor_set(*x, (size_t)((i * T + t) * F + f), t < len ? 0.1 + u : 0.0);
            }
        if (masked) {
            for (int64_t k = 0; k < T * 2; k++) {
                double u;
                rnnc_rng_uniform(&r, &u, 1);
                rnnc_tensor_set(*y, (size_t)(i * T * 2 + k), 2 * u - 1);
            }
        } else {
            for (int64_t c = 0; c < 3; c++)
                rnnc_tensor_set(*y, (size_t)(i * 3 + c), c == i % 3);
        }
        if (masked)
            for (int64_t t = 0; t < T; t++) /* temporal weights */
                rnnc_tensor_set(*sw, (size_t)(i * T + t), 0.5 + (double)((i + t) % 4) * 0.5);
        else
            rnnc_tensor_set(*sw, (size_t)i, 0.5 + (double)(i % 4) * 0.5);
    }
    return 0;
}

int dist_case_run(const char *name, rnnc_comm *comm, dist_batch_hook hook, dist_result *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(name, "embed_adam") == 0)
        return embed_case(comm, out);
    /* "<case>_h5": the same case, its training rows read from the file
     * RNNC_DIST_H5 names (dist_case_data written there) on demand */
    const size_t len = strlen(name);
    const bool from_h5 = len > 3 && strcmp(name + len - 3, "_h5") == 0;
    /* "<case>_stream": the same through io/stream_reader.h (its own windowed order) */
    const bool streamed = len > 7 && strcmp(name + len - 7, "_stream") == 0;
    const bool bn = strncmp(name, "bn_mask", 7) == 0 || strncmp(name, "bn_plain", 8) == 0;
    const bool masked = strncmp(name, "mask_sw_sgd", 11) == 0 || strncmp(name, "bn_mask", 7) == 0;
    if (!masked && !bn && strncmp(name, "bidir_adam_reg", 14) != 0) {
        fprintf(stderr, "dist case: unknown case '%s'\n", name);
        return 1;
    }
    char bn_text[1024];
    if (bn)
        snprintf(bn_text, sizeof bn_text, masked ? bn_mask_model : bn_plain_model,
                 strstr(name, "_local") ? "false" : "true");
    const char *h5 = getenv("RNNC_DIST_H5");
    if ((from_h5 || streamed) && !h5) {
        fprintf(stderr, "dist case: %s needs RNNC_DIST_H5 (the data file)\n", name);
        return 1;
    }
    const char *text = bn ? bn_text : masked ? mask_model : bidir_model;
    const int64_t bs = masked ? 4 : 5;
    rnnc_dataset_rows *rows = NULL, *vrows = NULL;
    rnnc_stream_reader *stream = NULL;
    rnnc_cfg *cfg = NULL, *opt = NULL, *loss = NULL, *metrics = NULL, *wmetrics = NULL;
    rnnc_model *m = NULL;
    rnnc_trainer *tr = NULL;
    rnnc_tensor *x = NULL, *y = NULL, *sw = NULL;
    rnnc_history *h = NULL;
    int rc = 1;
    if (rnnc_spec_read_string(text, strlen(text), name, &cfg) || rnnc_model_from_config(cfg, NULL, &m)) {
        rc = fail("model");
        goto done;
    }
    fill_weights(m);
    /* "_noconfig": the output layer cannot give its config (as a custom
     * layer without get_config), so the model cannot be serialized */
    if (strstr(name, "_noconfig") && no_config(m, "out")) {
        rc = fail("noconfig");
        goto done;
    }
    /* The BatchNormalization cases train with plain SGD at a modest rate:
     * the normalization divides by the batch's standard deviation (small
     * over 5 rows of 4 units), which amplifies the float32 rounding that
     * a different order of summation leaves. With Adam (whose m / sqrt(v)
     * turns rounding in the nearly cancelling GRU bias gradients into
     * steps of the learning rate's size) or SGD at 0.1, 2 and 3 ranks
     * ended 1e-6 to 6e-6 away from one process after 9 steps; at 0.05,
     * below 3e-7. */
    const char *opt_text = bn       ? "{class_name: SGD, config: {learning_rate: 0.05, momentum: 0.5}}"
                           : masked ? "{class_name: SGD, config: {learning_rate: 0.1, momentum: 0.5}}"
                                  : "{class_name: Adam, config: {learning_rate: 0.02, global_clipnorm: 0.3}}";
    const char *loss_text = masked ? "mse" : "categorical_crossentropy";
    const char *met_text = masked ? "[mae]" : "[categorical_accuracy]";
    const char *wmet_text = masked ? "[mse]" : "[categorical_crossentropy]";
    if (rnnc_spec_read_string(opt_text, strlen(opt_text), "opt", &opt) ||
        rnnc_spec_read_string(loss_text, strlen(loss_text), "loss", &loss) ||
        rnnc_spec_read_string(met_text, strlen(met_text), "metrics", &metrics) ||
        rnnc_spec_read_string(wmet_text, strlen(wmet_text), "wmetrics", &wmetrics) || rnnc_trainer_create(m, &tr) ||
        rnnc_trainer_compile_config(tr, opt, loss, metrics, wmetrics) || rnnc_trainer_set_comm(tr, comm)) {
        rc = fail("compile");
        goto done;
    }
    /* small buckets: several per step, so the bucket path is exercised */
    rnnc_trainer_set_bucket_bytes(tr, 256);
    if ((rc = dist_case_data(name, &x, &y, &sw)))
        goto done;
    rc = 1;
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.batch_size = bs;
    fo.epochs = 3;
    fo.shuffle = true;
    fo.seed = 5;
    fo.sample_weight = sw;
    fo.verbose = RNNC_VERBOSE_SILENT;
    fo.x_val = x;
    fo.y_val = y;
    /* "_vsplit": Keras's validation_split (the last 30 % of the rows);
     * "_vfile": weighted validation rows, from the file in the "_h5" form */
    const bool vsplit = strstr(name, "_vsplit") != NULL, vfile = strstr(name, "_vfile") != NULL;
    if (vsplit) {
        fo.validation_split = 0.3;
        fo.x_val = fo.y_val = NULL;
    }
    if (vfile)
        fo.sample_weight_val = sw;
    hook_cb hc;
    memset(&hc, 0, sizeof hc);
    rnnc_callback *cbs[1] = {&hc.cb};
    if (hook) {
        hc.cb.on_train_batch_end = on_batch;
        hc.hook = hook;
        hc.rank = rnnc_comm_rank(comm);
        fo.callbacks = cbs;
        fo.n_callbacks = 1;
    }
    if (from_h5) {
        /* validation stays in memory; the training rows come from the file */
        if (rnnc_dataset_rows_open(h5, NULL, &rows)) {
            rc = fail("open the data file");
            goto done;
        }
        rnnc_row_source src = {rnnc_dataset_rows_count(rows), rnnc_dataset_rows_read, rows}, vsrc;
        fo.sample_weight = NULL;
        if (vfile) { /* a reader of its own: each rank reads its rows of every validation batch */
            if (rnnc_dataset_rows_open(h5, NULL, &vrows)) {
                rc = fail("open the data file");
                goto done;
            }
            vsrc = (rnnc_row_source){rnnc_dataset_rows_count(vrows), rnnc_dataset_rows_read, vrows};
            fo.x_val = fo.y_val = fo.sample_weight_val = NULL;
            fo.val_source = &vsrc;
        }
        if (rnnc_trainer_fit_source(tr, &src, &fo, &h)) {
            rc = fail("fit");
            goto done;
        }
        out->rows_read = rnnc_dataset_rows_read_so_far(rows);
        out->val_rows_read = vrows ? rnnc_dataset_rows_read_so_far(vrows) : 0;
    } else if (streamed) {
        /* chunks of 3 rows, windows of 2 chunks (a batch fits in two windows) */
        rnnc_stream_options so = {.chunk_rows = 3, .window_chunks = 2, .seed = 8};
        if (rnnc_stream_reader_open(h5, NULL, &so, &stream)) {
            rc = fail("open the data file");
            goto done;
        }
        rnnc_row_source src = {rnnc_stream_reader_count(stream), rnnc_stream_reader_read, stream};
        fo.sample_weight = NULL;
        fo.shuffle = false;
        if (rnnc_trainer_fit_source(tr, &src, &fo, &h)) {
            rc = fail("fit");
            goto done;
        }
    } else if (rnnc_trainer_fit(tr, x, y, &fo, &h)) {
        rc = fail("fit");
        goto done;
    }
    rc = collect_result(m, h, out);
done:
    rnnc_stream_reader_close(stream);
    rnnc_dataset_rows_close(rows);
    rnnc_dataset_rows_close(vrows);
    rnnc_history_destroy(h);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(sw);
    rnnc_trainer_destroy(tr);
    rnnc_model_destroy(m);
    rnnc_cfg_destroy(cfg);
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    rnnc_cfg_destroy(metrics);
    rnnc_cfg_destroy(wmetrics);
    return rc;
}
