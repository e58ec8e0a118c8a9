/* test_optimizers_f64.c - optimizers on float64 variables against Keras
 * 3.15.1 (tests/fixtures/optim/optimizers_f64.h5, written by
 * tests/gen_optimizer_f64_fixture.py).
 *
 * Keras on TensorFlow casts some hyperparameters to the variable's dtype
 * through a float32 tensor (Adam's beta powers, SGD's momentum, weight
 * decay) and uses others as exact Python floats; a float64 model trained by
 * rnnc must take the same numbers. Each case applies the five gradient sets
 * and compares both variables after every step to 1e-12. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers/builders.h"
#include "helpers/fixture.h"
#include "optim/optimizer.h"

#define F64_FILE RNNC_FIXTURES "/optim/optimizers_f64.h5"

static rnnc_tensor *read_t(rnnc_fixture *fx, const char *path)
{
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_read(fx, path, RNNC_F64, &t), RNNC_OK, "%s", rnnc_last_error());
    return t;
}

static void run_case(const char *name)
{
    char path[256];
    rnnc_fixture *fx = NULL;
    cr_assert_eq(rnnc_fixture_open(F64_FILE, &fx), RNNC_OK, "%s", rnnc_last_error());
    char *config = NULL;
    snprintf(path, sizeof path, "%s_config", name);
    cr_assert_eq(rnnc_fixture_attr_string(fx, path, &config), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *cfg = th_parse(config);
    rnnc_optimizer *opt = NULL;
    cr_assert_eq(rnnc_optimizer_from_config(cfg, name, &opt), RNNC_OK, "%s: %s", name, rnnc_last_error());

    rnnc_weight w[2];
    memset(w, 0, sizeof w);
    w[0].name = "kernel";
    w[1].name = "bias";
    rnnc_tensor *grads[2], *want[2];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/init/%d", name, i);
        w[i].value = read_t(fx, path);
        w[i].trainable = true;
        cr_assert_eq(rnnc_tensor_set_requires_grad(w[i].value, true), RNNC_OK);
        snprintf(path, sizeof path, "%s/grad%d", name, i);
        grads[i] = read_t(fx, path);
        snprintf(path, sizeof path, "%s/var%d", name, i);
        want[i] = read_t(fx, path);
    }
    rnnc_weight *wp[2] = {&w[0], &w[1]};
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < 2; i++) {
            const size_t n = w[i].value->numel;
            memcpy(w[i].value->grad, (const double *)grads[i]->data + (size_t)k * n, n * sizeof(double));
        }
        cr_assert_eq(rnnc_optimizer_apply(opt, wp, 2), RNNC_OK, "%s step %d: %s", name, k, rnnc_last_error());
        for (int i = 0; i < 2; i++) {
            const size_t n = w[i].value->numel;
            const double *got = w[i].value->data, *ref = (const double *)want[i]->data + (size_t)k * n;
            double e = 0;
            for (size_t j = 0; j < n; j++) {
                const double d = fabs(got[j] - ref[j]) / fmax(1.0, fabs(ref[j]));
                e = d > e || d != d ? d : e;
            }
            cr_expect_leq(e, 1e-12, "%s step %d var %d: error %.3g vs Keras", name, k, i, e);
        }
    }
    for (int i = 0; i < 2; i++) {
        rnnc_tensor_destroy(w[i].value);
        rnnc_tensor_destroy(grads[i]);
        rnnc_tensor_destroy(want[i]);
    }
    rnnc_optimizer_destroy(opt);
    rnnc_cfg_destroy(cfg);
    free(config);
    rnnc_fixture_close(fx);
}

#define F64_CASE(n) \
    Test(optimizers_f64_keras, n) { run_case(#n); }

F64_CASE(sgd)
F64_CASE(sgd_momentum)
F64_CASE(sgd_nesterov)
F64_CASE(sgd_weight_decay)
F64_CASE(adam)
F64_CASE(adam_amsgrad)
F64_CASE(adamw)
F64_CASE(rmsprop_centered_momentum)
F64_CASE(adagrad)
F64_CASE(adam_ema)
