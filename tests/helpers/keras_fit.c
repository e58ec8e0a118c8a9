/* keras_fit.c - the Keras fixtures' training run (keras_fit.h). */
#include "helpers/keras_fit.h"

#include <criterion/criterion.h>
#include <string.h>

#include "io/spec_reader.h"

rnnc_trainer *th_keras_trainer(rnnc_model *m, const char *opt_json, const char *what)
{
    rnnc_cfg *opt = NULL, *loss = NULL;
    cr_assert_eq(rnnc_spec_read_string(opt_json, strlen(opt_json), "optimizer", &opt), RNNC_OK,
                 "%s: optimizer: %s", what, rnnc_last_error());
    cr_assert_eq(rnnc_spec_read_string("\"mse\"", 5, "loss", &loss), RNNC_OK);
    rnnc_trainer *tr = NULL;
    cr_assert_eq(rnnc_trainer_create(m, &tr), RNNC_OK, "%s: %s", what, rnnc_last_error());
    cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL), RNNC_OK, "%s: %s", what,
                 rnnc_last_error());
    rnnc_cfg_destroy(opt);
    rnnc_cfg_destroy(loss);
    return tr;
}

rnnc_history *th_keras_fit(rnnc_model *m, const char *opt_json, const rnnc_tensor *x,
                           const rnnc_tensor *y, const char *what)
{
    rnnc_trainer *tr = th_keras_trainer(m, opt_json, what);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.batch_size = 4;
    fo.epochs = TH_KERAS_FIT_EPOCHS;
    fo.shuffle = false;
    fo.verbose = RNNC_VERBOSE_SILENT;
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit(tr, x, y, &fo, &h), RNNC_OK, "%s: fit: %s", what,
                 rnnc_last_error());
    cr_assert_eq(rnnc_history_n_epochs(h), TH_KERAS_FIT_EPOCHS, "%s", what);
    rnnc_trainer_destroy(tr);
    return h;
}
