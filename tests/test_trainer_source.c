/* test_trainer_source.c - rnnc_trainer_fit_source / rnnc_trainer_evaluate_source
 * in one process, on an in-memory row source. Oracles by hand: a Dense
 * with zero kernel and bias predicts 0, so its MSE over rows is the mean
 * of y^2 over those rows; and the messages a broken source gets (what and
 * where, the call named once). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers/builders.h"
#include "io/model_loader.h"
#include "optim/trainer.h"

#define N 10

/* Row i: x = (i, 1), y = i + 1. short_by > 0: every read gives that many
 * rows fewer than asked (a broken source). */
typedef struct mem_source {
    int short_by;
} mem_source;

static rnnc_status mem_read(void *user, rnnc_ctx *cx, const int64_t *rows, int64_t count, rnnc_tensor **x,
                            rnnc_tensor **y, rnnc_tensor **sw)
{
    const mem_source *m = user;
    const int64_t give = count > m->short_by ? count - m->short_by : 0;
    rnnc_shape xs = RNNC_SHAPE(give, 2), ys = RNNC_SHAPE(give, 1);
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_F32, &xs, x));
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_F32, &ys, y));
    for (int64_t i = 0; i < give; i++) {
        rnnc_tensor_set(*x, (size_t)(2 * i), (double)rows[i]);
        rnnc_tensor_set(*x, (size_t)(2 * i + 1), 1.0);
        rnnc_tensor_set(*y, (size_t)i, (double)rows[i] + 1.0);
    }
    *sw = NULL;
    return RNNC_OK;
}

/* Dense(1) with zero kernel and bias, MSE, SGD with learning rate 0 (the
 * weights stay zero: every prediction is 0). */
static rnnc_trainer *zero_model(rnnc_model **m)
{
    rnnc_cfg *cfg = th_parse("{class_name: Sequential, config: {name: s, layers: ["
                             "{class_name: InputLayer, config: {batch_shape: [null, 2]}},"
                             "{class_name: Dense, config: {name: d, units: 1, kernel_initializer: Zeros}}]}}");
    rnnc_cfg *loss = th_parse("mse"), *opt = th_parse("{class_name: SGD, config: {learning_rate: 0.0}}");
    rnnc_trainer *tr;
    cr_assert_eq(rnnc_model_from_config(cfg, NULL, m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_trainer_create(*m, &tr), RNNC_OK);
    cr_assert_eq(rnnc_trainer_compile_config(tr, opt, loss, NULL, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(cfg);
    rnnc_cfg_destroy(loss);
    rnnc_cfg_destroy(opt);
    return tr;
}

/* The zero model and a source of N rows (short_by: mem_source's). */
typedef struct setup {
    rnnc_model *m;
    rnnc_trainer *tr;
    mem_source ms;
    rnnc_row_source src;
} setup;

static void setup_open(setup *t, int short_by)
{
    t->tr = zero_model(&t->m);
    t->ms.short_by = short_by;
    t->src = (rnnc_row_source){N, mem_read, &t->ms};
}

static void setup_close(setup *t)
{
    rnnc_trainer_destroy(t->tr);
    rnnc_model_destroy(t->m);
}

/* mean of (i + 1)^2 over rows [a, b) */
static double mean_sq(int a, int b)
{
    double s = 0;
    for (int i = a; i < b; i++)
        s += (double)(i + 1) * (i + 1);
    return s / (b - a);
}

Test(trainer_source, evaluate_source_reads_every_row)
{
    setup t;
    setup_open(&t, 0);
    rnnc_logs logs;
    cr_assert_eq(rnnc_trainer_evaluate_source(t.tr, &t.src, 3, &logs), RNNC_OK, "%s", rnnc_last_error());
    const double *loss = rnnc_logs_get(&logs, "loss");
    cr_assert(loss);
    cr_expect_float_eq(*loss, mean_sq(0, N), 1e-5 * mean_sq(0, N), "loss %g", *loss);
    setup_close(&t);
}

Test(trainer_source, validation_split_validates_on_the_last_rows)
{
    setup t;
    setup_open(&t, 0);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.verbose = RNNC_VERBOSE_SILENT;
    fo.batch_size = 3;
    fo.epochs = 1;
    fo.validation_split = 0.3; /* Keras: rows [7, 10) validate */
    rnnc_history *h = NULL;
    cr_assert_eq(rnnc_trainer_fit_source(t.tr, &t.src, &fo, &h), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_history_n_epochs(h), 1);
    const double *vl = rnnc_history_get(h, "val_loss"), *tl = rnnc_history_get(h, "loss");
    cr_assert(vl && tl);
    cr_expect_float_eq(*vl, mean_sq(7, N), 1e-5 * mean_sq(7, N), "val_loss %g", *vl);
    cr_expect_float_eq(*tl, mean_sq(0, 7), 1e-5 * mean_sq(0, 7), "loss %g", *tl);
    rnnc_history_destroy(h);
    setup_close(&t);
}

/* A source that gives fewer rows than asked: one line saying so, the call
 * named once ("evaluate: ...", "fit: epoch 1, batch 1: ..."). */
Test(trainer_source, a_short_read_is_refused_naming_the_call_once)
{
    setup t;
    setup_open(&t, 1);
    rnnc_logs logs;
    cr_assert_eq(rnnc_trainer_evaluate_source(t.tr, &t.src, 4, &logs), RNNC_E_SHAPE);
    const char *e = rnnc_last_error();
    cr_expect(strncmp(e, "evaluate: the row source gave ", 30) == 0 && !strstr(e, "fit"), "%s", e);
    cr_expect(strstr(e, "3 rows") && strstr(e, "4 asked"), "%s", e);
    rnnc_fit_options fo = rnnc_fit_options_default();
    fo.verbose = RNNC_VERBOSE_SILENT;
    fo.batch_size = 4;
    cr_assert_neq(rnnc_trainer_fit_source(t.tr, &t.src, &fo, NULL), RNNC_OK);
    e = rnnc_last_error();
    cr_expect(strncmp(e, "fit: epoch 1, batch ", 20) == 0 && !strstr(e + 4, "fit"), "%s", e);
    setup_close(&t);
}
