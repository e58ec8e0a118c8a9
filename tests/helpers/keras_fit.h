/* keras_fit.h - the training run of the Keras fixtures that record a loss
 * curve (tests/gen_lstm_fixtures.py's finetune models,
 * tests/gen_mixed_precision_fixtures.py's training cases): model.compile
 * with the fixture's optimizer and loss "mse", then model.fit(x, y,
 * batch_size=4, epochs=4, shuffle=False). Failures abort the calling test
 * (Criterion assertions).
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#ifndef RNNC_TEST_KERAS_FIT_H
#define RNNC_TEST_KERAS_FIT_H

#include "framework/model.h"
#include "framework/tensor.h"
#include "optim/trainer.h"

/* The epochs of that fit (the length of the fixtures' loss curves). */
#define TH_KERAS_FIT_EPOCHS 4

/* A trainer of m compiled as above: the optimizer from opt_json (Keras's
 * serialized optimizer, as the fixture stores it), loss "mse". Caller
 * destroys; `what` names the case in failure messages. */
rnnc_trainer *th_keras_trainer(rnnc_model *m, const char *opt_json, const char *what);

/* m compiled and fit as above, silently. Returns the History (caller
 * destroys). */
rnnc_history *th_keras_fit(rnnc_model *m, const char *opt_json, const rnnc_tensor *x,
                           const rnnc_tensor *y, const char *what);

#endif
