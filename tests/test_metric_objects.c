/* test_metric_objects.c - compile() metrics given as Keras metric objects:
 * {"module": "keras.metrics", "class_name": "MeanAbsoluteError", "config":
 * {"name": ..., "dtype": "float32"}, "registered_name": null}, as a .keras
 * archive's compile_config holds them after
 * model.compile(metrics=[keras.metrics.MeanAbsoluteError(), ...]), and the
 * same map form in a spec's compile.metrics / weighted_metrics.
 *
 * Oracle: Keras 3.15.1 (tests/gen_keras_metric_objects_fixture.py): the
 * History.history of load_model(m.keras) + fit 1 epoch (the archive's
 * metric objects, one named "acc", one "xent"), and of load_model +
 * compile(metric objects in map form, a BinaryAccuracy with threshold 0.3)
 * + fit 1 epoch. rnnc train's history.json must have the same keys and
 * values within 1e-5 relative. Before, rnnc refused metric configs given as
 * maps ("expected a metric name, got map"). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/fixture.h"
#include "helpers/program_dir.h"
#include "io/spec_reader.h"
#include "optim/metrics.h"
#include "rnnc.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"
#define FX RNNC_FIXTURES "/keras_metric_objects"

static char dir[512];

static void setup(void) { rnnc_test_own_dir(dir, sizeof dir, "metric_objects"); }
static void teardown(void) { rnnc_test_rm_tree(dir); }

TestSuite(metric_objects, .init = setup, .fini = teardown, .timeout = 300);

static rnnc_cfg *parse(const char *text, const char *what)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(text, strlen(text), what, &c), RNNC_OK, "%s: %s", what, rnnc_last_error());
    return c;
}

static char *fixture_attr(const char *name)
{
    rnnc_fixture *f = NULL;
    char *s = NULL;
    cr_assert_eq(rnnc_fixture_open(FX "/expected.h5", &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_attr_string(f, name, &s), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fixture_close(f);
    return s;
}

static double num(const rnnc_cfg *v)
{
    cr_assert(v && (v->type == RNNC_CFG_FLOAT || v->type == RNNC_CFG_INT), "not a number");
    return v->type == RNNC_CFG_INT ? (double)v->v.i : v->v.f;
}

/* rnnc train c.yaml (model FX/m.keras, 1 epoch of batches of 8 in order,
 * `compile` the section or NULL, history into dir/hist); returns the run. */
static rnnc_test_run train(const char *compile)
{
    char spec[2048];
    snprintf(spec, sizeof spec,
             "model: " FX "/m.keras\n"
             "%s%s%s"
             "fit: {epochs: 1, batch_size: 8, shuffle: false, verbose: 2, history: hist}\n"
             "data: {path: " FX "/data.h5}\n",
             compile ? "compile: " : "", compile ? compile : "", compile ? "\n" : "");
    rnnc_test_write_file(dir, "c.yaml", spec, false);
    return rnnc_test_run_program(RNNC_BIN, dir, NULL, (const char *const[]){"train", "c.yaml", NULL});
}

/* dir/hist/history.json against Keras's History.history (JSON attribute
 * `case` of expected.h5): the same keys, values within 1e-5 relative. */
static void expect_history(const char *keras_case)
{
    char path[700];
    snprintf(path, sizeof path, "%s/hist/history.json", dir);
    char *got_text = rnnc_test_slurp(path, NULL);
    cr_assert_not_null(got_text, "no %s", path);
    char *want_text = fixture_attr(keras_case);
    rnnc_cfg *got = parse(got_text, path), *want = parse(want_text, keras_case);
    cr_assert_eq(got->type, RNNC_CFG_MAP);
    cr_assert_eq(want->type, RNNC_CFG_MAP);
    cr_expect_eq(got->n, want->n, "%s: rnnc's history has %zu keys, Keras's %zu:\nrnnc:  %s\nKeras: %s", keras_case,
                 got->n, want->n, got_text, want_text);
    for (size_t i = 0; i < want->n; i++) {
        const rnnc_cfg *g = rnnc_cfg_peek(got, want->keys[i]);
        cr_expect_not_null(g, "%s: Keras's history key '%s' is not in rnnc's: %s", keras_case, want->keys[i],
                           got_text);
        if (!g)
            continue;
        cr_assert(g->type == RNNC_CFG_LIST && g->n == 1, "%s: '%s' is not a 1-epoch list", keras_case,
                  want->keys[i]);
        const double a = num(g->items[0]), b = num(want->items[i]->items[0]);
        cr_expect(fabs(a - b) <= 1e-5 * fabs(b), "%s: '%s' = %.9g, Keras %.9g", keras_case, want->keys[i], a, b);
    }
    rnnc_cfg_destroy(got);
    rnnc_cfg_destroy(want);
    free(got_text);
    free(want_text);
}

Test(metric_objects, compiled_keras_archive_with_metric_objects_continues)
{
    rnnc_test_run r = train(NULL);
    cr_assert_eq(r.code, 0, "rnnc train of an archive compiled with metric objects failed (%d):\n%s\n%s", r.code,
                 r.out, r.err);
    rnnc_test_run_free(&r);
    expect_history("continue");
}

#define RECOMPILE                                                                                                  \
    "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: binary_crossentropy,\n"                  \
    "  metrics: [{class_name: MeanAbsoluteError, config: {name: abs_err}}, mse,\n"                                 \
    "            {module: keras.metrics, class_name: BinaryAccuracy,\n"                                            \
    "             config: {name: acc, dtype: float32, threshold: 0.3}, registered_name: null}],\n"                  \
    "  weighted_metrics: [{class_name: MeanSquaredError}]}"

Test(metric_objects, spec_compile_metrics_in_keras_map_form)
{
    /* the fixture discriminates: threshold 0.3 and the default 0.5 differ */
    char *acc5 = fixture_attr("recompile_acc_at_0.5"), *re = fixture_attr("recompile");
    rnnc_cfg *h = parse(re, "recompile");
    cr_assert_gt(fabs(num(rnnc_cfg_peek(h, "acc")->items[0]) - strtod(acc5, NULL)), 0.01);
    rnnc_cfg_destroy(h);
    free(acc5);
    free(re);
    rnnc_test_run r = train(RECOMPILE);
    cr_assert_eq(r.code, 0, "rnnc train with compile.metrics in map form failed (%d):\n%s\n%s", r.code, r.out, r.err);
    rnnc_test_run_free(&r);
    expect_history("recompile");
}

/* rnnc_metric_from_config on a spec snippet: NULL on success, else the error. */
static char *from_config(const char *yaml, rnnc_metric **out)
{
    rnnc_cfg *c = parse(yaml, "snippet");
    rnnc_status s = rnnc_metric_from_config(c, "compile.metrics[0]", out);
    char *e = s ? strdup(rnnc_last_error()) : NULL;
    rnnc_cfg_destroy(c);
    return e;
}

static void expect_refused(const char *yaml, const char *a, const char *b)
{
    rnnc_metric *m = NULL;
    char *e = from_config(yaml, &m);
    cr_assert_not_null(e, "%s was accepted", yaml);
    cr_expect_null(m);
    cr_expect(strstr(e, "compile.metrics[0]") && strstr(e, a) && strstr(e, b) && !strchr(e, '\n'),
              "%s: error '%s' should name '%s' and '%s' in one line", yaml, e, a, b);
    free(e);
}

Test(metric_objects, keras_metric_classes_map_to_rnnc_metrics)
{
    static const struct {
        const char *yaml, *name;
        rnnc_metric_kind kind;
    } cases[] = {
        {"{class_name: MeanSquaredError, config: {name: mean_squared_error, dtype: float32}}", "mean_squared_error",
         RNNC_METRIC_MEAN_SQUARED_ERROR},
        {"{module: keras.metrics, class_name: MeanAbsoluteError, config: {name: m1, dtype: float64}, registered_name: null}",
         "m1", RNNC_METRIC_MEAN_ABSOLUTE_ERROR},
        {"{class_name: Accuracy}", "accuracy", RNNC_METRIC_ACCURACY},
        {"{class_name: BinaryAccuracy, config: {threshold: 0.7}}", "binary_accuracy", RNNC_METRIC_BINARY_ACCURACY},
        {"{class_name: CategoricalAccuracy, config: {name: ca}}", "ca", RNNC_METRIC_CATEGORICAL_ACCURACY},
        {"{class_name: SparseCategoricalAccuracy, config: {name: acc}}", "acc",
         RNNC_METRIC_SPARSE_CATEGORICAL_ACCURACY},
        {"{class_name: BinaryCrossentropy, config: {from_logits: true, label_smoothing: 0.1}}", "binary_crossentropy",
         RNNC_METRIC_BINARY_CROSSENTROPY},
        {"{class_name: CategoricalCrossentropy, config: {axis: -1}}", "categorical_crossentropy",
         RNNC_METRIC_CATEGORICAL_CROSSENTROPY},
        {"{class_name: SparseCategoricalCrossentropy, config: {name: sce, from_logits: false}}", "sce",
         RNNC_METRIC_SPARSE_CATEGORICAL_CROSSENTROPY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rnnc_metric *m = NULL;
        char *e = from_config(cases[i].yaml, &m);
        cr_assert_null(e, "%s: %s", cases[i].yaml, e);
        cr_expect_str_eq(rnnc_metric_name(m), cases[i].name, "%s", cases[i].yaml);
        cr_expect_eq(rnnc_metric_get_kind(m), cases[i].kind, "%s", cases[i].yaml);
        rnnc_metric_destroy(m);
    }
    rnnc_metric *m = NULL;
    cr_assert_null(from_config("{class_name: BinaryAccuracy, config: {threshold: 0.7}}", &m));
    cr_expect_eq(rnnc_metric_threshold(m), 0.7);
    rnnc_metric_destroy(m);
}

/* Each class's config as Keras 3.15.1's get_config() writes it for the
 * defaults (printed by Keras, pasted here): all keys are accepted. */
Test(metric_objects, keras_default_configs_are_accepted)
{
    static const char *const configs[] = {
        "{class_name: MeanSquaredError, config: {'name': 'mean_squared_error', 'dtype': 'float32'}}",
        "{class_name: MeanAbsoluteError, config: {'name': 'mean_absolute_error', 'dtype': 'float32'}}",
        "{class_name: Accuracy, config: {'name': 'accuracy', 'dtype': 'float32'}}",
        "{class_name: BinaryAccuracy, config: {'name': 'binary_accuracy', 'dtype': 'float32', 'threshold': 0.5}}",
        "{class_name: CategoricalAccuracy, config: {'name': 'categorical_accuracy', 'dtype': 'float32'}}",
        "{class_name: SparseCategoricalAccuracy, config: {'name': 'sparse_categorical_accuracy', 'dtype': 'float32'}}",
        "{class_name: BinaryCrossentropy, config: {'name': 'binary_crossentropy', 'dtype': 'float32', 'from_logits': "
        "false, 'label_smoothing': 0}}",
        "{class_name: CategoricalCrossentropy, config: {'name': 'categorical_crossentropy', 'dtype': 'float32', "
        "'from_logits': false, 'label_smoothing': 0, 'axis': -1}}",
        "{class_name: SparseCategoricalCrossentropy, config: {'name': 'sparse_categorical_crossentropy', 'dtype': "
        "'float32', 'from_logits': false, 'ignore_class': null, 'axis': -1}}",
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        rnnc_metric *m = NULL;
        char *e = from_config(configs[i], &m);
        cr_expect_null(e, "%s: %s", configs[i], e);
        free(e);
        rnnc_metric_destroy(m);
    }
    expect_refused("{class_name: SparseCategoricalCrossentropy, config: {ignore_class: 2}}", "ignore_class",
                   "SparseCategoricalCrossentropy");
}

/* BinaryCrossentropy(from_logits=True) as a metric: Keras's value for
 * y_true [1, 0], logits [2, -1]: mean(log(1 + e^-2), log(1 + e^-1)). */
Test(metric_objects, crossentropy_metric_object_honours_from_logits)
{
    rnnc_metric *m = NULL;
    cr_assert_null(from_config("{class_name: BinaryCrossentropy, config: {from_logits: true}}", &m));
    const rnnc_shape s = {.ndim = 2, .dim = {2, 1}};
    rnnc_tensor *yt = NULL, *yp = NULL;
    cr_assert_eq(rnnc_tensor_from(RNNC_F32, &s, (const float[]){1, 0}, &yt), RNNC_OK);
    cr_assert_eq(rnnc_tensor_from(RNNC_F32, &s, (const float[]){2, -1}, &yp), RNNC_OK);
    cr_assert_eq(rnnc_metric_update(m, yt, yp, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    const double want = (log1p(exp(-2.0)) + log1p(exp(-1.0))) / 2;
    cr_expect(fabs(rnnc_metric_result(m) - want) <= 1e-6, "%.9g, want %.9g", rnnc_metric_result(m), want);
    rnnc_metric_destroy(m);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
}

/* BinaryCrossentropy(label_smoothing=0.1) as a metric, on probabilities:
 * Keras 3.15.1's metric (and loss) value for these y_true, y_pred is
 * 0.4334695339 (0.3858032823 without smoothing). */
Test(metric_objects, binary_crossentropy_metric_object_honours_label_smoothing)
{
    rnnc_metric *m = NULL;
    cr_assert_null(from_config("{class_name: BinaryCrossentropy, config: {label_smoothing: 0.1}}", &m));
    const rnnc_shape s = {.ndim = 2, .dim = {2, 3}};
    rnnc_tensor *yt = NULL, *yp = NULL;
    cr_assert_eq(rnnc_tensor_from(RNNC_F32, &s, (const float[]){1, 0, 0, 0, 1, 0}, &yt), RNNC_OK);
    cr_assert_eq(rnnc_tensor_from(RNNC_F32, &s, (const float[]){0.7f, 0.2f, 0.1f, 0.3f, 0.4f, 0.3f}, &yp), RNNC_OK);
    cr_assert_eq(rnnc_metric_update(m, yt, yp, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(fabs(rnnc_metric_result(m) - 0.4334695339) <= 1e-6, "%.9g, Keras 0.4334695339", rnnc_metric_result(m));
    rnnc_metric_destroy(m);
    rnnc_tensor_destroy(yt);
    rnnc_tensor_destroy(yp);
}

Test(metric_objects, metric_objects_rnnc_cannot_honour_are_refused_in_one_line)
{
    expect_refused("{class_name: RootMeanSquaredError, config: {name: rmse}}", "RootMeanSquaredError",
                   "MeanAbsoluteError");
    expect_refused("{class_name: AUC}", "AUC", "SparseCategoricalAccuracy");
    expect_refused("{class_name: BinaryAccuracy, config: {threshold: 1.5}}", "threshold", "1.5");
    expect_refused("{class_name: MeanAbsoluteError, config: {dtype: float16}}", "dtype", "float16");
    expect_refused("{class_name: MeanAbsoluteError, config: {name: m, thresholds: 0.5}}", "MeanAbsoluteError",
                   "thresholds");
    expect_refused("{class_name: CategoricalCrossentropy, config: {axis: 1}}", "axis", "CategoricalCrossentropy");
    expect_refused("{class_name: SparseCategoricalCrossentropy, config: {label_smoothing: 0.1}}", "label_smoothing",
                   "SparseCategoricalCrossentropy");
    expect_refused("{module: my_package, class_name: MeanAbsoluteError}", "my_package", "module");
    expect_refused("{config: {name: x}}", "class_name", "metric");
}

Test(metric_objects, rnnc_train_refuses_an_unknown_metric_class_in_one_line)
{
    rnnc_test_run r = train("{optimizer: adam, loss: binary_crossentropy, metrics: [mae, {class_name: AUC}]}");
    cr_expect_neq(r.code, 0);
    cr_expect(strstr(r.err, "compile.metrics[1]") && strstr(r.err, "'AUC'") && strstr(r.err, "MeanAbsoluteError"),
              "%s", r.err);
    cr_expect_eq(rnnc_test_count_lines(r.err), 1, "not one line:\n%s", r.err);
    rnnc_test_run_free(&r);
}
