/* test_export_compiled.c - `rnnc export CHECKPOINT OUT.keras` writes a
 * compiled archive, as `rnnc train --save-model` does: a checkpoint records
 * the run's spec (its compile section: loss, metrics, weighted_metrics) and
 * the optimizer's config and variables, so config.json gets compile_config
 * and model.weights.h5 the optimizer's variables under optimizer/vars, and
 * keras.saving.load_model returns a compiled model that continues training.
 * `rnnc export CHECKPOINT OUT.weights.h5` carries the optimizer's variables
 * too (the --save-weights layout). Before, both held the model alone.
 *
 * Oracles: the spec text this test writes (loss, metrics, optimizer
 * arguments), the checkpoint file's own /optimizer/vars read with the
 * tests' HDF5 reader (value for value), and the iteration count worked by hand (2 epochs of
 * 32 samples in batches of 16: 4 steps). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/fixture.h"
#include "helpers/program_dir.h"
#include "io/keras_archive.h"
#include "rnnc.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"

static char dir[512];

static void setup(void) { rnnc_test_own_dir(dir, sizeof dir, "export_compiled"); }
static void teardown(void) { rnnc_test_rm_tree(dir); }

TestSuite(export_compiled, .init = setup, .fini = teardown, .timeout = 300);

static const char *spec_text =
    "model:\n"
    "  class_name: Sequential\n"
    "  config:\n"
    "    name: tiny\n"
    "    layers:\n"
    "      - {class_name: InputLayer, config: {batch_shape: [null, 6, 2]}}\n"
    "      - {class_name: GRU, config: {name: gru, units: 4}}\n"
    "      - {class_name: Dense, config: {name: dense, units: 1}}\n"
    "compile:\n"
    "  optimizer: {class_name: Adam, config: {learning_rate: 0.01, amsgrad: true}}\n"
    "  loss: mse\n"
    "  metrics: [mae]\n"
    "  weighted_metrics: [mse]\n"
    "fit: {epochs: 2, batch_size: 16, seed: 1, verbose: 0}\n"
    "data: {task: adding, timesteps: 6, samples: 32, seed: 7}\n"
    "checkpoint: {directory: ck, every: 1, keep: 5}\n";

#define CKPT "ck/ckpt-000002.weights.h5"

static void run_ok(const char *const *args)
{
    rnnc_test_run r = rnnc_test_run_program(RNNC_BIN, dir, NULL, args);
    cr_assert_eq(r.code, 0, "rnnc %s %s failed (%d):\n%s\n%s", args[0], args[1], r.code, r.out, r.err);
    rnnc_test_run_free(&r);
}

static void train_and_export(const char *out)
{
    rnnc_test_write_file(dir, "s.yaml", spec_text, false);
    run_ok((const char *const[]){"train", "s.yaml", NULL});
    run_ok((const char *const[]){"export", CKPT, out, NULL});
}

/* optimizer/vars/0, 1, ... of the weights file dir/name as float64 tensors
 * (caller destroys); their count. */
static int opt_vars(const char *name, rnnc_tensor **out, int cap)
{
    char path[700], ds[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rnnc_fixture *f = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert(rnnc_fixture_has(f, "optimizer/vars"), "%s: no optimizer/vars group (the optimizer's variables were not written)",
              name);
    int n = 0;
    for (; n < cap; n++) {
        snprintf(ds, sizeof ds, "optimizer/vars/%d", n);
        if (!rnnc_fixture_has(f, ds))
            break;
        cr_assert_eq(rnnc_fixture_read(f, ds, RNNC_F64, &out[n]), RNNC_OK, "%s", rnnc_last_error());
    }
    rnnc_fixture_close(f);
    return n;
}

/* The optimizer variables of weights file dir/name are the checkpoint's,
 * value for value: iteration 4, learning rate 0.01, trained slots. */
static void expect_checkpoint_optimizer(const char *name)
{
    rnnc_tensor *want[64], *got[64];
    int nc = opt_vars(CKPT, want, 64), ng = opt_vars(name, got, 64);
    cr_assert_eq(ng, nc, "%d optimizer variables exported, the checkpoint holds %d", ng, nc);
    cr_assert_gt(nc, 2);
    int trained = 0;
    for (int i = 0; i < nc; i++) {
        cr_assert_eq(got[i]->numel, want[i]->numel, "optimizer/vars/%d: %zu values, the checkpoint %zu", i,
                     got[i]->numel, want[i]->numel);
        const double *a = want[i]->data, *b = got[i]->data;
        for (size_t k = 0; k < want[i]->numel; k++) {
            cr_expect_eq(b[k], a[k], "optimizer/vars/%d[%zu]: %.9g, the checkpoint %.9g", i, k, b[k], a[k]);
            trained += i >= 2 && a[k] != 0;
        }
    }
    cr_expect_eq(((double *)got[0]->data)[0], 4.0, "iteration %g, expected 4 (2 epochs x 2 batches)",
                 ((double *)got[0]->data)[0]);
    cr_expect(fabs(((double *)got[1]->data)[0] - 0.01) < 1e-8, "learning_rate %.9g, the spec's 0.01",
              ((double *)got[1]->data)[0]);
    cr_expect_gt(trained, 50, "the slots should hold trained values");
    for (int i = 0; i < nc; i++) {
        rnnc_tensor_destroy(want[i]);
        rnnc_tensor_destroy(got[i]);
    }
}

Test(export_compiled, keras_archive_of_a_checkpoint_is_compiled_with_its_optimizer_state)
{
    train_and_export("out.keras");
    char path[700];
    snprintf(path, sizeof path, "%s/out.keras", dir);
    rnnc_keras_archive *ka = NULL;
    cr_assert_eq(rnnc_keras_archive_read(path, &ka), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *cfg = NULL;
    cr_assert_eq(rnnc_spec_read_string(ka->config_json, ka->config_len, path, &cfg), RNNC_OK, "%s",
                 rnnc_last_error());
    const rnnc_cfg *cc = rnnc_cfg_peek(cfg, "compile_config");
    cr_assert(cc && cc->type == RNNC_CFG_MAP, "config.json has no compile_config: the archive is not compiled");
    const rnnc_cfg *loss = rnnc_cfg_peek(cc, "loss"), *met = rnnc_cfg_peek(cc, "metrics"),
                   *wm = rnnc_cfg_peek(cc, "weighted_metrics"), *opt = rnnc_cfg_peek(cc, "optimizer");
    cr_assert(loss && loss->type == RNNC_CFG_STRING);
    cr_expect_str_eq(loss->v.s, "mse");
    cr_assert(met && met->type == RNNC_CFG_LIST && met->n == 1 && met->items[0]->type == RNNC_CFG_STRING);
    cr_expect_str_eq(met->items[0]->v.s, "mae");
    cr_assert(wm && wm->type == RNNC_CFG_LIST && wm->n == 1 && wm->items[0]->type == RNNC_CFG_STRING);
    cr_expect_str_eq(wm->items[0]->v.s, "mse");
    cr_assert(opt && opt->type == RNNC_CFG_MAP);
    const rnnc_cfg *cn = rnnc_cfg_peek(opt, "class_name"), *oc = rnnc_cfg_peek(opt, "config");
    cr_assert(cn && cn->type == RNNC_CFG_STRING && oc);
    cr_expect_str_eq(cn->v.s, "Adam");
    const rnnc_cfg *ams = rnnc_cfg_peek(oc, "amsgrad"), *lr = rnnc_cfg_peek(oc, "learning_rate");
    cr_expect(ams && ams->type == RNNC_CFG_BOOL && ams->v.b, "amsgrad: the spec's true");
    cr_expect(lr && lr->type == RNNC_CFG_FLOAT && fabs(lr->v.f - 0.01) < 1e-8, "learning_rate: the spec's 0.01");

    char member[700];
    snprintf(member, sizeof member, "%s/member.weights.h5", dir);
    FILE *fp = fopen(member, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(ka->weights, 1, ka->weights_size, fp), ka->weights_size);
    fclose(fp);
    expect_checkpoint_optimizer("member.weights.h5");
    rnnc_cfg_destroy(cfg);
    rnnc_keras_archive_destroy(ka);

    /* and rnnc reads it back */
    rnnc_model *m = NULL;
    cr_expect_eq(rnnc_model_load(path, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model_destroy(m);
}

Test(export_compiled, weights_file_of_a_checkpoint_carries_its_optimizer_state)
{
    train_and_export("out.weights.h5");
    expect_checkpoint_optimizer("out.weights.h5");
}
