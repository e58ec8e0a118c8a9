/* test_keras315_files.c - models as Keras 3.15.1 saves them load in rnnc
 * and predict Keras's numbers (fixtures: tests/gen_keras315_fixtures.py).
 *
 * - BatchNormalization: Keras 3.15 writes renorm: false, renorm_clipping:
 *   null and renorm_momentum: 0.99 into every config; rnnc refused the
 *   whole model ("unrecognized key 'renorm_clipping'"), so no Keras 3.15
 *   model with BatchNormalization could be trained, predicted or exported.
 *   Now they load (inactive; renorm: true stays refused), and the model's
 *   predictions equal Keras's within 1e-5. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <string.h>

#include "rnnc.h"

#define DIR RNNC_FIXTURES "/keras315/"

Test(keras315_files, batch_norm_model_predicts_as_keras)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(DIR "bn_gru.keras", &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_dataset *in = NULL, *want = NULL;
    rnnc_dataset_options o = {.y_optional = true};
    cr_assert_eq(rnnc_dataset_read(DIR "bn_gru_io.h5", &o, &in), RNNC_OK, "%s", rnnc_last_error());
    o.x_name = "y";
    cr_assert_eq(rnnc_dataset_read(DIR "bn_gru_io.h5", &o, &want), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *y = NULL;
    cr_assert_eq(rnnc_model_predict(m, in->x, 2, &y), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(y->numel, want->x->numel);
    for (size_t i = 0; i < y->numel; i++)
        cr_expect_float_eq(rnnc_f32(y)[i], rnnc_f32(want->x)[i], 1e-5, "output %zu: %g, Keras %g", i, rnnc_f32(y)[i],
                           rnnc_f32(want->x)[i]);
    rnnc_tensor_destroy(y);
    rnnc_dataset_destroy(in);
    rnnc_dataset_destroy(want);
    rnnc_model_destroy(m);
}

Test(keras315_files, batch_norm_renorm_keys_are_checked)
{
    const char *cases[][2] = {
        {"{\"class_name\": \"BatchNormalization\", \"config\": {\"renorm\": true}}", "renorm"},
        {"{\"class_name\": \"BatchNormalization\", \"config\": {\"renorm_clipping\": 3}}", "renorm_clipping"},
        {"{\"class_name\": \"BatchNormalization\", \"config\": {\"renorm_momentum\": \"x\"}}", "renorm_momentum"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rnnc_cfg *c = NULL;
        cr_assert_eq(rnnc_spec_read_string(cases[i][0], strlen(cases[i][0]), "case", &c), RNNC_OK, "%s", rnnc_last_error());
        rnnc_layer *l = NULL;
        cr_expect_neq(rnnc_layer_from_config(c, &l), RNNC_OK, "%s accepted", cases[i][0]);
        cr_expect(strstr(rnnc_last_error(), cases[i][1]), "%s: %s", cases[i][0], rnnc_last_error());
        cr_expect_null(l);
        rnnc_cfg_destroy(c);
    }
    rnnc_cfg *c = NULL;
    const char *ok = "{\"class_name\": \"BatchNormalization\", \"config\": {\"renorm\": false, "
                     "\"renorm_clipping\": null, \"renorm_momentum\": 0.99}}";
    cr_assert_eq(rnnc_spec_read_string(ok, strlen(ok), "case", &c), RNNC_OK);
    rnnc_layer *l = NULL;
    cr_expect_eq(rnnc_layer_from_config(c, &l), RNNC_OK, "%s", rnnc_last_error());
    rnnc_layer_destroy(l);
    rnnc_cfg_destroy(c);
}
