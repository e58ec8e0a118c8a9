/* test_train_continue.c - `rnnc train` of a spec whose model is a compiled
 * .keras archive and that has no `compile` section does what Keras's
 * `model = keras.saving.load_model(path); model.fit(...)` does: the model is
 * compiled as the archive's compile_config says and its optimizer continues
 * from the variables saved in it (slots, iteration count, learning rate).
 * With a `compile` section the spec recompiles, as model.compile(...) after
 * load_model does: a new optimizer.
 *
 * Oracle: Keras 3.15.1 (tests/gen_keras_continue_fixture.py): for Adam and
 * for RMSprop (momentum, centered), a model trained 2 epochs and saved; its
 * weights and optimizer variables after load_model + fit 1 epoch, and its
 * weights after load_model + compile(a new optimizer) + fit 1 epoch. Both
 * within 1e-6 (relative, absolute below 1); the two Keras results are more
 * than 1e-3 apart, so a run that dropped the saved state fails. Before, a
 * spec without `compile` was refused, and one with it started afresh. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers/fixture.h"
#include "helpers/program_dir.h"
#include "rnnc.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"
#define FX RNNC_FIXTURES "/keras_continue"

static char dir[512];

static void setup(void) { rnnc_test_own_dir(dir, sizeof dir, "train_continue"); }
static void teardown(void) { rnnc_test_rm_tree(dir); }

TestSuite(train_continue, .init = setup, .fini = teardown, .timeout = 300);

/* rnnc train c.yaml (the model FX/<name>.keras, its data, 1 epoch of
 * batches of 8 in order, `compile` the section or NULL) --save-weights
 * out.weights.h5; returns its stdout (caller frees with the run). */
static rnnc_test_run train(const char *name, const char *compile)
{
    char spec[2048];
    snprintf(spec, sizeof spec,
             "model: " FX "/%s.keras\n"
             "%s%s%s"
             "fit: {epochs: 1, batch_size: 8, shuffle: false, verbose: 2}\n"
             "data: {path: " FX "/data.h5}\n",
             name, compile ? "compile: " : "", compile ? compile : "", compile ? "\n" : "");
    rnnc_test_write_file(dir, "c.yaml", spec, false);
    rnnc_test_run r = rnnc_test_run_program(
        RNNC_BIN, dir, NULL, (const char *const[]){"train", "c.yaml", "--save-weights", "out.weights.h5", NULL});
    cr_assert_eq(r.code, 0, "rnnc train (%s, compile %s) failed (%d):\n%s\n%s", name, compile ? compile : "none",
                 r.code, r.out, r.err);
    return r;
}

static double rel_err(double got, double want) { return fabs(got - want) / fmax(1.0, fabs(want)); }

/* The largest error of tensor got against want (float64 both). */
static double max_err(const rnnc_tensor *got, const rnnc_tensor *want)
{
    cr_assert_eq(got->numel, want->numel, "%zu values, Keras %zu", got->numel, want->numel);
    double e = 0;
    for (size_t k = 0; k < want->numel; k++)
        e = fmax(e, rel_err(rnnc_tensor_get(got, k), rnnc_tensor_get(want, k)));
    return e;
}

/* The weights rnnc saved in dir/out.weights.h5 against Keras's
 * <group>/<i> of FX/<name>_expected.h5 (model.weights order); the largest
 * error. */
static double weights_err(const char *name, const char *group)
{
    char path[700], keras[300], ds[64];
    rnnc_model *m = NULL;
    snprintf(keras, sizeof keras, FX "/%s.keras", name);
    cr_assert_eq(rnnc_model_load(keras, &m), RNNC_OK, "%s", rnnc_last_error());
    snprintf(path, sizeof path, "%s/out.weights.h5", dir);
    cr_assert_eq(rnnc_model_load_weights(m, path), RNNC_OK, "%s", rnnc_last_error());
    rnnc_weight *w[16];
    int nw = 0;
    cr_assert_eq(rnnc_model_weights(m, w, 16, &nw), RNNC_OK);
    snprintf(path, sizeof path, FX "/%s_expected.h5", name);
    rnnc_fixture *f = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    double e = 0;
    for (int i = 0; i < nw; i++) {
        rnnc_tensor *want = NULL;
        snprintf(ds, sizeof ds, "%s/%d", group, i);
        cr_assert_eq(rnnc_fixture_read(f, ds, RNNC_F64, &want), RNNC_OK, "%s", rnnc_last_error());
        e = fmax(e, max_err(w[i]->value, want));
        rnnc_tensor_destroy(want);
    }
    snprintf(ds, sizeof ds, "%s/%d", group, nw);
    cr_assert(!rnnc_fixture_has(f, ds), "Keras has more weights than rnnc's %d", nw);
    rnnc_fixture_close(f);
    rnnc_model_destroy(m);
    return e;
}

/* rnnc's optimizer variables (optimizer/vars of out.weights.h5) against
 * Keras's model.optimizer.variables after its fit; the largest error. */
static double optimizer_err(const char *name)
{
    char path[700], ds[64];
    rnnc_fixture *got = NULL, *want = NULL;
    snprintf(path, sizeof path, "%s/out.weights.h5", dir);
    cr_assert_eq(rnnc_fixture_open(path, &got), RNNC_OK, "%s", rnnc_last_error());
    snprintf(path, sizeof path, FX "/%s_expected.h5", name);
    cr_assert_eq(rnnc_fixture_open(path, &want), RNNC_OK, "%s", rnnc_last_error());
    cr_assert(rnnc_fixture_has(got, "optimizer/vars"), "rnnc saved no optimizer variables");
    double e = 0;
    int i = 0;
    for (;; i++) {
        snprintf(ds, sizeof ds, "opt/%d", i);
        if (!rnnc_fixture_has(want, ds))
            break;
        rnnc_tensor *a = NULL, *b = NULL;
        cr_assert_eq(rnnc_fixture_read(want, ds, RNNC_F64, &a), RNNC_OK, "%s", rnnc_last_error());
        snprintf(ds, sizeof ds, "optimizer/vars/%d", i);
        cr_assert(rnnc_fixture_has(got, ds), "rnnc saved %d optimizer variables, Keras has more", i);
        cr_assert_eq(rnnc_fixture_read(got, ds, RNNC_F64, &b), RNNC_OK, "%s", rnnc_last_error());
        double ei = max_err(b, a);
        cr_expect(ei <= 1e-6, "%s: optimizer variable %d: error %.3g against Keras", name, i, ei);
        if (i == 0)
            cr_expect_eq(rnnc_tensor_get(b, 0), rnnc_tensor_get(a, 0), "%s: iteration %g, Keras %g", name,
                         rnnc_tensor_get(b, 0), rnnc_tensor_get(a, 0));
        e = fmax(e, ei);
        rnnc_tensor_destroy(a);
        rnnc_tensor_destroy(b);
    }
    snprintf(ds, sizeof ds, "optimizer/vars/%d", i);
    cr_expect(!rnnc_fixture_has(got, ds), "%s: rnnc saved more than Keras's %d optimizer variables", name, i);
    cr_expect_gt(i, 2, "the fixture has no optimizer variables");
    rnnc_fixture_close(got);
    rnnc_fixture_close(want);
    return e;
}

/* The fixture discriminates: continuing and starting afresh differ. */
static void expect_fixture_discriminates(const char *name)
{
    char path[300], ds[64];
    snprintf(path, sizeof path, FX "/%s_expected.h5", name);
    rnnc_fixture *f = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    double d = 0;
    for (int i = 0;; i++) {
        snprintf(ds, sizeof ds, "w/%d", i);
        if (!rnnc_fixture_has(f, ds))
            break;
        rnnc_tensor *a = NULL, *b = NULL;
        cr_assert_eq(rnnc_fixture_read(f, ds, RNNC_F64, &a), RNNC_OK);
        snprintf(ds, sizeof ds, "fresh/%d", i);
        cr_assert_eq(rnnc_fixture_read(f, ds, RNNC_F64, &b), RNNC_OK);
        d = fmax(d, max_err(a, b));
        rnnc_tensor_destroy(a);
        rnnc_tensor_destroy(b);
    }
    rnnc_fixture_close(f);
    cr_assert_gt(d, 1e-3, "%s: Keras's continued and fresh runs differ by only %.3g", name, d);
}

static void check_case(const char *name, const char *compile)
{
    expect_fixture_discriminates(name);
    /* no compile section: load_model + fit */
    rnnc_test_run r = train(name, NULL);
    /* Keras's iteration count at the save: 2 epochs of 4 batches */
    cr_expect(strstr(r.out, "Continuing the optimizer state") && strstr(r.out, "iteration 8)"),
              "%s: no line saying the optimizer continues from iteration 8:\n%s", name, r.out);
    rnnc_test_run_free(&r);
    double ew = weights_err(name, "w");
    cr_expect(ew <= 1e-6, "%s: weights after load_model + fit: error %.3g against Keras", name, ew);
    optimizer_err(name);
    /* a compile section: load_model + compile + fit, a new optimizer */
    r = train(name, compile);
    cr_expect(strstr(r.out, "recompiles") != NULL, "%s: no line saying the compile section recompiles:\n%s", name,
              r.out);
    rnnc_test_run_free(&r);
    double ef = weights_err(name, "fresh");
    cr_expect(ef <= 1e-6, "%s: weights after load_model + compile + fit: error %.3g against Keras", name, ef);
}

Test(train_continue, adam_continues_from_a_compiled_keras_archive)
{
    check_case("adam", "{optimizer: {class_name: Adam, config: {learning_rate: 0.01}}, loss: mse, metrics: [mae]}");
}

Test(train_continue, rmsprop_continues_from_a_compiled_keras_archive)
{
    check_case("rmsprop", "{optimizer: {class_name: RMSprop, config: {learning_rate: 0.005, momentum: 0.5, "
                          "centered: true}}, loss: mse, metrics: [mae]}");
}

/* A model compiled but saved before any training: Keras writes its
 * optimizer unbuilt (optimizer/vars holds iteration and learning_rate
 * only) and load_model + fit builds the slots at the first step. rnnc
 * refused it before ("the optimizer expects 12 variables but
 * '/optimizer/vars' holds 2"). */
Test(train_continue, a_compiled_archive_saved_before_training_continues_from_iteration_0)
{
    rnnc_test_run r = train("unbuilt", NULL);
    cr_expect(strstr(r.out, "Continuing the optimizer state") && strstr(r.out, "iteration 0)"),
              "no line saying the optimizer continues from iteration 0:\n%s", r.out);
    rnnc_test_run_free(&r);
    double ew = weights_err("unbuilt", "w");
    cr_expect(ew <= 1e-6, "weights after load_model + fit: error %.3g against Keras", ew);
}
