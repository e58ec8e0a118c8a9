/* test_sparse_grad.c - an Embedding's gradient reaches the optimizer as rows
 * per occurrence (TensorFlow's IndexedSlices) and every optimizer and
 * gradient transform treats it as Keras 3.15.1 does on TensorFlow.
 *
 * Oracles: tests/fixtures/optim/embed_finetune.h5 (tests/gen_embedding_fixtures.py:
 * Embedding(10000, mask_zero) -> Bidirectional(GRU) -> Dense fine-tuned 3
 * epochs by Keras with each optimizer and clipping mode, and with an L2
 * embeddings_regularizer, which makes the gradient dense), through the C
 * API's fit and through `rnnc train` from a spec; and small cases worked
 * out by hand. The rules are in docs/keras-compat.md ("Sparse gradients"),
 * found by tests/keras_sparse_rules.py. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framework/model.h"
#include "framework/ops.h"
#include "framework/sparse_grad.h"
#include "helpers/fixture.h"
#include "helpers/run_program.h"
#include "io/h5_util.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/weights_h5.h"
#include "layers/embedding.h"
#include "optim/optimizer.h"
#include "optim/trainer.h"

#define FX RNNC_FIXTURES "/optim/embed_finetune.h5"
#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

TestSuite(sparse_grad);

static const char *const CASES[] = {
    "sgd", "sgd_momentum", "sgd_nesterov", "adam", "adam_amsgrad", "adamw", "rmsprop",
    "rmsprop_centered", "rmsprop_momentum", "rmsprop_momentum_centered", "adagrad",
    "sgd_clipnorm", "adam_clipnorm", "rmsprop_clipnorm", "adagrad_clipnorm",
    "sgd_global_clipnorm", "adam_global_clipnorm", "adagrad_global_clipnorm", "sgd_clipvalue",
    "adam_clipvalue", "rmsprop_clipvalue", "adagrad_clipvalue", "sgd_weight_decay",
    "adagrad_ema", "adam_accumulation", "adam_l2", "adagrad_l2", NULL};

/* The fixture's initial table, computed as the generator does. */
static double table0(int64_t v, int64_t d)
{
    return (float)((((double)((v * 7919 + d * 104729) % 2003)) / 2003.0 - 0.5) * 0.2);
}

static rnnc_tensor *fx_read(rnnc_fixture *f, const char *name, rnnc_dtype dt)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(f, name, dt, &t), RNNC_OK, "%s: %s", name, rnnc_last_error());
    return t;
}

static char *fx_attr(rnnc_fixture *f, const char *name)
{
    char *s = NULL;
    cr_assert_eq(rnnc_fixture_attr_string(f, name, &s), RNNC_OK, "%s: %s", name, rnnc_last_error());
    return s;
}

static rnnc_cfg *parse(const char *text, const char *what)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, strlen(text), what, &c), RNNC_OK, "%s: %s", what,
                 rnnc_last_error());
    return c;
}

static rnnc_weight **weights_of(rnnc_model *m, int *n)
{
    static rnnc_weight *w[32];
    cr_assert_eq(rnnc_model_weights(m, w, 32, n), RNNC_OK);
    cr_assert(*n >= 2 && *n <= 32);
    return w;
}

/* The case's model JSON (model_<case>, else the shared one); caller frees. */
static char *model_json(rnnc_fixture *f, const char *cs)
{
    char attr[96];
    snprintf(attr, sizeof attr, "model_%s", cs);
    return fx_attr(f, rnnc_fixture_has_attr(f, attr) ? attr : "model");
}

/* The case's model with its initial weights (table by the formula). */
static rnnc_model *initial_model(rnnc_fixture *f, const char *cs)
{
    char *json = model_json(f, cs);
    rnnc_cfg *c = parse(json, "model");
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_from_config(c, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    free(json);
    int n;
    rnnc_weight **w = weights_of(m, &n);
    rnnc_tensor *table = w[0]->value;
    cr_assert_eq(table->shape.dim[0], 10000);
    const int64_t D = table->shape.dim[1];
    for (int64_t v = 0; v < 10000; v++)
        for (int64_t d = 0; d < D; d++)
            rnnc_tensor_set(table, (size_t)(v * D + d), table0(v, d));
    rnnc_tensor *init = fx_read(f, "init", RNNC_F32);
    size_t at = 0;
    for (int i = 1; i < n; i++)
        for (size_t j = 0; j < w[i]->value->numel; j++, at++) {
            cr_assert_lt(at, init->numel, "init holds fewer values than the model's weights");
            rnnc_tensor_set(w[i]->value, j, rnnc_tensor_get(init, at));
        }
    cr_assert_eq(at, init->numel, "init holds more values than the model's weights");
    rnnc_tensor_destroy(init);
    return m;
}

/* Final weights within 1e-5 of Keras's: every non-table weight, the rows any
 * batch touched and 16 untouched rows, and sums over the whole table. */
static void expect_final_weights(rnnc_model *m, rnnc_fixture *f, const char *cs, const char *how)
{
    char name[96];
    int n;
    rnnc_weight **w = weights_of(m, &n);
    snprintf(name, sizeof name, "%s/w", cs);
    rnnc_tensor *want = fx_read(f, name, RNNC_F32);
    size_t at = 0;
    for (int i = 1; i < n; i++) {
        double e = 0;
        for (size_t j = 0; j < w[i]->value->numel && at < want->numel; j++, at++)
            e = fmax(e, fabs(rnnc_tensor_get(w[i]->value, j) - rnnc_tensor_get(want, at)));
        cr_expect_lt(e, 1e-5, "%s (%s): weight %d '%s' differs from Keras's by %g", cs, how, i, w[i]->name, e);
    }
    cr_expect_eq(at, want->numel, "%s: the fixture holds %zu values, the model %zu", cs, want->numel, at);
    rnnc_tensor_destroy(want);
    const rnnc_tensor *table = w[0]->value;
    const int64_t D = table->shape.dim[1];
    snprintf(name, sizeof name, "%s/ids", cs);
    rnnc_tensor *ids = fx_read(f, name, RNNC_I32);
    snprintf(name, sizeof name, "%s/rows", cs);
    rnnc_tensor *rows = fx_read(f, name, RNNC_F32);
    double e = 0;
    for (size_t r = 0; r < ids->numel; r++)
        for (int64_t d = 0; d < D; d++) {
            const int64_t v = ((const int32_t *)ids->data)[r];
            e = fmax(e, fabs(rnnc_tensor_get(table, (size_t)(v * D + d)) -
                             rnnc_tensor_get(rows, r * (size_t)D + (size_t)d)));
        }
    cr_expect_lt(e, 1e-5, "%s (%s): table rows differ from Keras's by %g", cs, how, e);
    rnnc_tensor_destroy(ids);
    rnnc_tensor_destroy(rows);
    double sum = 0, sumsq = 0;
    for (size_t i = 0; i < table->numel; i++) {
        const double x = rnnc_tensor_get(table, i);
        sum += x;
        sumsq += x * x;
    }
    snprintf(name, sizeof name, "%s/stats", cs);
    rnnc_tensor *st = fx_read(f, name, RNNC_F64);
    cr_expect_lt(fabs(sum - rnnc_f64(st)[3]), 1e-4, "%s (%s): table sum %.9g, Keras %.9g", cs, how, sum,
                 rnnc_f64(st)[3]);
    cr_expect_lt(fabs(sumsq - rnnc_f64(st)[4]), 1e-4, "%s (%s): table sum of squares %.9g, Keras %.9g",
                 cs, how, sumsq, rnnc_f64(st)[4]);
    rnnc_tensor_destroy(st);
}

static void expect_losses(const double *got, rnnc_fixture *f, const char *cs, const char *how)
{
    char name[96];
    snprintf(name, sizeof name, "%s/stats", cs);
    rnnc_tensor *want = fx_read(f, name, RNNC_F64);
    for (int e = 0; e < 3; e++)
        cr_expect_lt(fabs(got[e] - rnnc_f64(want)[e]), 1e-6, "%s (%s): epoch %d loss %.9g, Keras %.9g",
                     cs, how, e + 1, got[e], rnnc_f64(want)[e]);
    rnnc_tensor_destroy(want);
}

Test(sparse_grad, fit_matches_keras_with_every_optimizer_and_clipping_mode, .timeout = 600)
{
    rnnc_fixture *f;
    cr_assert_eq(rnnc_fixture_open(FX, &f), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x = fx_read(f, "x", RNNC_I32), *y = fx_read(f, "y", RNNC_F32);
    for (int c = 0; CASES[c]; c++) {
        char attr[96];
        snprintf(attr, sizeof attr, "optimizer_%s", CASES[c]);
        char *oj = fx_attr(f, attr);
        rnnc_cfg *opt = parse(oj, "optimizer"), *loss = parse("\"mse\"", "loss");
        rnnc_model *m = initial_model(f, CASES[c]);
        rnnc_trainer *tr = NULL;
        cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK);
        cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL), RNNC_OK, "%s: %s", CASES[c],
                     rnnc_last_error());
        rnnc_fit_options fo = rnnc_fit_options_default();
        fo.batch_size = 8;
        fo.epochs = 3;
        fo.shuffle = false;
        fo.verbose = RNNC_VERBOSE_SILENT;
        rnnc_history *h = NULL;
        cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s: %s", CASES[c], rnnc_last_error());
        const double *got = rnnc_history_get(h, "loss");
        cr_assert_not_null(got);
        expect_losses(got, f, CASES[c], "fit");
        expect_final_weights(m, f, CASES[c], "fit");
        rnnc_history_destroy(h);
        rnnc_trainer_destroy(tr);
        rnnc_model_destroy(m);
        rnnc_cfg_destroy(opt);
        rnnc_cfg_destroy(loss);
        free(oj);
    }
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_fixture_close(f);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp, "%s", path);
    fputs(text, fp);
    cr_assert_eq(fclose(fp), 0);
}

static void write_data(const char *path, const rnnc_tensor *x, const rnnc_tensor *y)
{
    rnnc_h5_writer w;
    cr_assert_eq(rnnc_h5_writer_begin(path, &w), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_write_tensor(w.file, "x", x, path), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_write_tensor(w.file, "y", y, path), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_writer_commit(&w), RNNC_OK, "%s", rnnc_last_error());
}

/* history.json's "loss" list, as numbers. */
static void read_history_losses(const char *path, double *out)
{
    char *text = rnnc_test_slurp(path, NULL);
    cr_assert_not_null(text, "%s", path);
    rnnc_cfg *h = parse(text, path);
    const rnnc_cfg *l = rnnc_cfg_get(h, "loss");
    cr_assert(l && l->type == RNNC_CFG_LIST && l->n == 3, "%s: no 3-epoch loss list", path);
    for (int e = 0; e < 3; e++)
        out[e] = l->items[e]->type == RNNC_CFG_INT ? (double)l->items[e]->v.i : l->items[e]->v.f;
    rnnc_cfg_destroy(h);
    free(text);
}

Test(sparse_grad, rnnc_train_from_a_spec_matches_keras, .timeout = 600)
{
    char dir[] = "/tmp/rnnc_sparse_XXXXXX", path[600];
    cr_assert_not_null(mkdtemp(dir));
    rnnc_fixture *f;
    cr_assert_eq(rnnc_fixture_open(FX, &f), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x = fx_read(f, "x", RNNC_I32), *y = fx_read(f, "y", RNNC_F32);
    snprintf(path, sizeof path, "%s/data.h5", dir);
    write_data(path, x, y);
    for (int c = 0; CASES[c]; c++) {
        char attr[96], spec[4096];
        /* the case's model and its initial weights, as a user would have them */
        char *mj = model_json(f, CASES[c]);
        snprintf(path, sizeof path, "%s/%s.json", dir, CASES[c]);
        write_text(path, mj);
        free(mj);
        rnnc_model *m0 = initial_model(f, CASES[c]);
        snprintf(path, sizeof path, "%s/%s.init.weights.h5", dir, CASES[c]);
        cr_assert_eq(rnnc_weights_save(m0, path, NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());
        rnnc_model_destroy(m0);
        snprintf(attr, sizeof attr, "optimizer_%s", CASES[c]);
        char *oj = fx_attr(f, attr);
        snprintf(spec, sizeof spec,
                 "model: %s.json\n"
                 "compile:\n  optimizer: %s\n  loss: mse\n"
                 "fit: {epochs: 3, batch_size: 8, shuffle: false, history: hist_%s}\n"
                 "data: {path: data.h5}\n",
                 CASES[c], oj, CASES[c]);
        snprintf(path, sizeof path, "%s/%s.yaml", dir, CASES[c]);
        write_text(path, spec);
        char yaml[128], out[128], init[128];
        snprintf(yaml, sizeof yaml, "%s.yaml", CASES[c]);
        snprintf(out, sizeof out, "%s.weights.h5", CASES[c]);
        snprintf(init, sizeof init, "%s.init.weights.h5", CASES[c]);
        const char *args[] = {"train", yaml, "--weights", init, "--save-weights", out, NULL};
        rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, args);
        cr_assert_eq(r.code, 0, "%s: rnnc train exited %d: %s", CASES[c], r.code, r.err);
        rnnc_test_run_free(&r);
        double got[3];
        snprintf(path, sizeof path, "%s/hist_%s/history.json", dir, CASES[c]);
        read_history_losses(path, got);
        expect_losses(got, f, CASES[c], "rnnc train");
        rnnc_model *m = initial_model(f, CASES[c]);
        snprintf(path, sizeof path, "%s/%s", dir, out);
        cr_assert_eq(rnnc_model_load_weights(m, path), RNNC_OK, "%s", rnnc_last_error());
        expect_final_weights(m, f, CASES[c], "rnnc train");
        rnnc_model_destroy(m);
        free(oj);
    }
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_fixture_close(f);
    rnnc_test_rm_tree(dir);
}

/* ---- each optimizer and transform on slices, step by step ------------------ */

#define RULES RNNC_FIXTURES "/optim/sparse_rules.h5"

/* tests/keras_sparse_rules.py's cases: three steps of slices (duplicate ids,
 * untouched rows) on a (7, 3) table plus a dense (2,) bias, through
 * optimizer.apply() in Keras; every value after the third step to 1e-6. */
Test(sparse_grad, every_rule_case_matches_keras_step_by_step)
{
    rnnc_fixture *f;
    cr_assert_eq(rnnc_fixture_open(RULES, &f), RNNC_OK, "%s", rnnc_last_error());
    int64_t n_cases = 0;
    cr_assert_eq(rnnc_fixture_attr_int(f, "n_cases", &n_cases), RNNC_OK);
    cr_assert_gt(n_cases, 20);
    rnnc_tensor *t0 = fx_read(f, "init/table", RNNC_F32), *b0 = fx_read(f, "init/bias", RNNC_F32);
    rnnc_tensor *results = fx_read(f, "results", RNNC_F32);
    for (int64_t c = 0; c < n_cases; c++) {
        char attr[64];
        snprintf(attr, sizeof attr, "config_%lld", (long long)c);
        char *cj = fx_attr(f, attr);
        rnnc_cfg *cfg = parse(cj, attr);
        rnnc_optimizer *opt = NULL;
        cr_assert_eq(rnnc_optimizer_from_config(cfg, attr, &opt), RNNC_OK, "%s", rnnc_last_error());
        rnnc_tensor *table, *bias;
        cr_assert_eq(rnnc_tensor_clone(t0, &table), RNNC_OK);
        cr_assert_eq(rnnc_tensor_clone(b0, &bias), RNNC_OK);
        cr_assert_eq(rnnc_tensor_set_requires_grad(table, true), RNNC_OK);
        cr_assert_eq(rnnc_tensor_set_requires_grad(bias, true), RNNC_OK);
        cr_assert_eq(rnnc_tensor_enable_sparse_grad(table), RNNC_OK);
        rnnc_weight wt[2] = {{"embeddings", table, NULL, NULL, true}, {"bias", bias, NULL, NULL, true}};
        rnnc_weight *wp[2] = {&wt[0], &wt[1]};
        for (int k = 0; k < 3; k++) {
            char name[32];
            rnnc_tensor_zero_grad(table);
            rnnc_tensor_zero_grad(bias);
            snprintf(name, sizeof name, "step%d/ids", k);
            rnnc_tensor *ids = fx_read(f, name, RNNC_I32);
            snprintf(name, sizeof name, "step%d/rows", k);
            rnnc_tensor *rows = fx_read(f, name, RNNC_F32);
            snprintf(name, sizeof name, "step%d/bias", k);
            rnnc_tensor *bg = fx_read(f, name, RNNC_F32);
            cr_assert_eq(rnnc_tensor_sparse_grad_append(table, ids->data, rows->data, (int64_t)ids->numel),
                         RNNC_OK, "%s", rnnc_last_error());
            memcpy(bias->grad, bg->data, bias->numel * sizeof(float));
            cr_assert_eq(rnnc_optimizer_apply(opt, wp, 2), RNNC_OK, "%s: %s", cj, rnnc_last_error());
            rnnc_tensor_destroy(ids);
            rnnc_tensor_destroy(rows);
            rnnc_tensor_destroy(bg);
        }
        const float *want = (const float *)results->data + c * 23;
        double e = 0;
        for (size_t i = 0; i < 21; i++)
            e = fmax(e, fabs(rnnc_tensor_get(table, i) - want[i]) / (1 + fabs(want[i])));
        for (size_t i = 0; i < 2; i++)
            e = fmax(e, fabs(rnnc_tensor_get(bias, i) - want[21 + i]) / (1 + fabs(want[21 + i])));
        cr_expect_lt(e, 1e-6, "case %lld %s: differs from Keras's by %g", (long long)c, cj, e);
        rnnc_tensor_destroy(table);
        rnnc_tensor_destroy(bias);
        rnnc_optimizer_destroy(opt);
        rnnc_cfg_destroy(cfg);
        free(cj);
    }
    rnnc_tensor_destroy(t0);
    rnnc_tensor_destroy(b0);
    rnnc_tensor_destroy(results);
    rnnc_fixture_close(f);
}

/* ---- the gradient itself --------------------------------------------------- */

static rnnc_layer *built_embedding(int64_t V, int64_t D)
{
    rnnc_embedding_options o = rnnc_embedding_options_default(V, D);
    rnnc_layer *l = NULL;
    cr_assert_eq(rnnc_embedding_create(&o, &l), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_layer_build(l, &(rnnc_shape){2, {-1, 3}}), RNNC_OK, "%s", rnnc_last_error());
    return l;
}

/* Looks up ids (2, 3) and backpropagates d(out) = flat index + 1, so
 * occurrence j's row is (D j + 1, ..., D j + D). */
static void lookup_backward(rnnc_layer *l, rnnc_ctx *cx, const int32_t *ids6)
{
    rnnc_tensor *ids;
    cr_assert_eq(rnnc_tensor_from(RNNC_I32, &(rnnc_shape){2, {2, 3}}, ids6, &ids), RNNC_OK);
    cr_assert_eq(rnnc_ctx_adopt(cx, ids), RNNC_OK);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {ids}, .training = true};
    rnnc_call_result r;
    cr_assert_eq(rnnc_layer_call(l, cx, &a, &r), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *seed;
    cr_assert_eq(rnnc_ctx_tensor(cx, RNNC_F32, &r.outputs[0]->shape, &seed), RNNC_OK);
    for (size_t i = 0; i < seed->numel; i++)
        rnnc_tensor_set(seed, i, (double)i + 1);
    cr_assert_eq(rnnc_backward_with(cx, r.outputs[0], seed), RNNC_OK, "%s", rnnc_last_error());
}

Test(sparse_grad, lookup_hands_rows_per_occurrence_and_leaves_the_dense_buffer_alone)
{
    rnnc_layer *l = built_embedding(5, 2);
    rnnc_tensor *t = ((rnnc_embedding *)l)->embeddings;
    cr_assert_not_null(t->sgrad);
    /* poison the dense buffer: nothing may read or clear it */
    for (size_t i = 0; i < t->numel; i++)
        ((float *)t->grad)[i] = NAN;
    rnnc_ctx *cx = rnnc_ctx_create();
    lookup_backward(l, cx, (const int32_t[]){3, 1, 3, 3, 0, 1});
    cr_assert(rnnc_tensor_grad_is_sparse(t));
    cr_assert_eq(t->sgrad->n, 6, "one row per occurrence, duplicates kept");
    const int32_t want_ids[] = {3, 1, 3, 3, 0, 1};
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(t->sgrad->ids[i], want_ids[i]);
        cr_expect_eq(((float *)t->sgrad->rows)[2 * i], 2 * i + 1);
        cr_expect_eq(((float *)t->sgrad->rows)[2 * i + 1], 2 * i + 2);
    }
    /* read back as the summed gradient: row 3 = (1+5+7, 2+6+8) */
    cr_expect_eq(rnnc_tensor_get_grad(t, 6), 13.0);
    cr_expect_eq(rnnc_tensor_get_grad(t, 7), 16.0);
    cr_expect_eq(rnnc_tensor_get_grad(t, 4), 0.0, "row 2 untouched: 0, not the poisoned buffer");
    rnnc_tensor_zero_grad(t);
    cr_expect(!rnnc_tensor_has_grad(t));
    cr_expect(isnan(((float *)t->grad)[0]), "zero_grad passed over the dense buffer");
    rnnc_ctx_destroy(cx);
    rnnc_layer_destroy(l);
}

Test(sparse_grad, densify_adds_rows_to_a_dense_contribution)
{
    rnnc_layer *l = built_embedding(4, 1);
    rnnc_tensor *t = ((rnnc_embedding *)l)->embeddings;
    rnnc_tensor_zero_grad(t);
    rnnc_ctx *cx = rnnc_ctx_create();
    lookup_backward(l, cx, (const int32_t[]){2, 2, 0, 1, 2, 0});
    /* a dense contribution too (a regularizer would add one): seed the table */
    rnnc_tensor *seed;
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &t->shape, &seed), RNNC_OK);
    rnnc_tensor_fill(seed, 0.5);
    cr_assert_eq(rnnc_ctx_seed_grad(cx, t, seed), RNNC_OK);
    cr_expect(rnnc_tensor_has_grad(t) && !rnnc_tensor_grad_is_sparse(t));
    cr_assert_eq(rnnc_tensor_grad_densify(t), RNNC_OK);
    /* row 0: 3 + 6, row 1: 4, row 2: 1 + 2 + 5, row 3: 0; each + 0.5 */
    const double want[] = {9.5, 4.5, 8.5, 0.5};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(((float *)t->grad)[i], want[i], "row %d: %g", i, ((float *)t->grad)[i]);
    rnnc_tensor_zero_grad(t);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(((float *)t->grad)[i], 0.0f);
    rnnc_tensor_destroy(seed);
    rnnc_ctx_destroy(cx);
    rnnc_layer_destroy(l);
}

/* Adam's first step by hand: m = 0.1 G, v = 0.001 sum(g_i^2), so the step is
 * lr * G / sqrt(sum g_i^2) (not lr * sign(G)) on touched rows; plain SGD and
 * Adagrad touch only those rows, clipnorm counts each occurrence. */
Test(sparse_grad, first_steps_by_hand)
{
    struct {
        rnnc_optimizer_kind kind;
        double clipnorm;
        double want_row1; /* weight of row 1 after the step, from 0 */
    } cases[] = {
        /* row 1 gets rows (1, 2) and (9, 10): at column 0, g = 1 and 9 */
        {RNNC_OPTIMIZER_ADAM, NAN, -0.1 * 10.0 / sqrt(82.0)},
        {RNNC_OPTIMIZER_SGD, NAN, -0.1 * 10.0},
        /* Adagrad: acc = 0.1 + 1 + 81, then both occurrences: 0.1 * (1 + 9) / sqrt(acc) */
        {RNNC_OPTIMIZER_ADAGRAD, NAN, -0.1 * 10.0 / sqrt(82.1)},
        /* clipnorm 1: norm over all 6 rows per occurrence: sqrt(sum (k)^2, k=1..12) */
        {RNNC_OPTIMIZER_SGD, 1.0, -0.1 * 10.0 / sqrt(650.0)},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rnnc_layer *l = built_embedding(5, 2);
        rnnc_tensor *t = ((rnnc_embedding *)l)->embeddings;
        rnnc_tensor_fill(t, 0.0);
        rnnc_ctx *cx = rnnc_ctx_create();
        lookup_backward(l, cx, (const int32_t[]){1, 3, 3, 3, 1, 0});
        rnnc_optimizer_options o = rnnc_optimizer_options_default();
        o.learning_rate = 0.1;
        o.clipnorm = cases[c].clipnorm;
        rnnc_optimizer *opt;
        cr_assert_eq(rnnc_optimizer_create(cases[c].kind, &o, &opt), RNNC_OK, "%s", rnnc_last_error());
        rnnc_weight *w = &l->weights[0];
        cr_assert_eq(rnnc_optimizer_apply(opt, &w, 1), RNNC_OK, "%s", rnnc_last_error());
        const double got = rnnc_tensor_get(t, 2);
        cr_expect(fabs(got - cases[c].want_row1) < 1e-6 * (1 + fabs(cases[c].want_row1)),
                  "case %zu: row 1 = %.9g, want %.9g", c, got, cases[c].want_row1);
        if (cases[c].kind != RNNC_OPTIMIZER_ADAM)
            cr_expect_eq(rnnc_tensor_get(t, 4), 0.0, "case %zu: untouched row 2 moved", c);
        rnnc_optimizer_destroy(opt);
        rnnc_ctx_destroy(cx);
        rnnc_layer_destroy(l);
    }
}
