/* test_model_api.c - the short path of the C API: rnnc_model_predict
 * (framework/predict.h) and rnnc_model_save (io/model_save.h). The oracle is
 * Keras 3.15.1's own output for models Keras saved (tests/fixtures/roundtrip:
 * a Sequential and a Functional GRU model, x and Keras's y), before and
 * after a save/load round trip through a .keras archive rnnc wrote. (That
 * Keras loads rnnc's archive and gives the same y was checked by hand with
 * keras.saving.load_model; CI has no Python.) */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rnnc.h"

#define CASES RNNC_FIXTURES "/roundtrip/"

static char dir[] = "/tmp/rnnc_model_api_XXXXXX";

static void setup(void)
{
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Keras's input x and its output y for it (as want->x). */
static void read_case(const char *io, rnnc_dataset **in, rnnc_dataset **want)
{
    rnnc_dataset_options o = {.y_optional = true};
    cr_assert_eq(rnnc_dataset_read(io, &o, in), RNNC_OK, "%s", rnnc_last_error());
    o.x_name = "y";
    cr_assert_eq(rnnc_dataset_read(io, &o, want), RNNC_OK, "%s", rnnc_last_error());
}

static void check_predict(rnnc_model *m, const rnnc_dataset *in, const rnnc_dataset *want, int64_t batch)
{
    rnnc_tensor *y = NULL;
    cr_assert_eq(rnnc_model_predict(m, in->x, batch, &y), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(y->numel, want->x->numel);
    for (size_t i = 0; i < y->numel; i++)
        cr_assert_float_eq(rnnc_f32(y)[i], rnnc_f32(want->x)[i], 1e-5, "output %zu: %g, Keras %g", i,
                           rnnc_f32(y)[i], rnnc_f32(want->x)[i]);
    rnnc_tensor_destroy(y);
}

/* The id of a process that has exited (a killed writer's). */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    cr_assert_geq(p, 0);
    if (p == 0)
        _exit(0);
    cr_assert_eq(waitpid(p, NULL, 0), p);
    return p;
}

TestSuite(model_api, .init = setup, .fini = teardown);

Test(model_api, predict_matches_keras_in_any_batch_size)
{
    const char *models[] = {CASES "seq_gru.keras", CASES "func_chain.keras"};
    const char *ios[] = {CASES "seq_gru_io.h5", CASES "func_chain_io.h5"};
    for (int k = 0; k < 2; k++) {
        rnnc_dataset *in, *want;
        read_case(ios[k], &in, &want);
        rnnc_model *m = NULL;
        cr_assert_eq(rnnc_model_load(models[k], &m), RNNC_OK, "%s", rnnc_last_error());
        check_predict(m, in, want, 32);
        check_predict(m, in, want, 3); /* 3 + 1 rows */
        check_predict(m, in, want, 1);
        rnnc_model_destroy(m);
        rnnc_dataset_destroy(in);
        rnnc_dataset_destroy(want);
    }
}

Test(model_api, save_then_load_gives_keras_numbers)
{
    const char *models[] = {CASES "seq_gru.keras", CASES "func_chain.keras"};
    const char *ios[] = {CASES "seq_gru_io.h5", CASES "func_chain_io.h5"};
    for (int k = 0; k < 2; k++) {
        rnnc_dataset *in, *want;
        read_case(ios[k], &in, &want);
        rnnc_model *m = NULL, *back = NULL;
        cr_assert_eq(rnnc_model_load(models[k], &m), RNNC_OK, "%s", rnnc_last_error());
        char path[128], stale[192];
        snprintf(path, sizeof path, "%s/copy.keras", dir);
        /* What a killed writer left: removed by this save. */
        snprintf(stale, sizeof stale, "%s.tmp.%ld.0", path, (long)dead_pid());
        FILE *f = fopen(stale, "w");
        cr_assert_not_null(f);
        fclose(f);
        cr_assert_eq(rnnc_model_save(m, path), RNNC_OK, "%s", rnnc_last_error()); /* k = 1 replaces it */
        rnnc_model_destroy(m);
        cr_assert(rnnc_keras_archive_sniff(path));
        cr_assert_eq(rnnc_model_load(path, &back), RNNC_OK, "%s", rnnc_last_error());
        check_predict(back, in, want, 4);
        rnnc_model_destroy(back);
        /* Only the archive is left: no temporary file beside it. */
        char cmd[192];
        snprintf(cmd, sizeof cmd, "test \"$(ls '%s')\" = copy.keras", dir);
        cr_assert_eq(system(cmd), 0);
        rnnc_dataset_destroy(in);
        rnnc_dataset_destroy(want);
    }
}

Test(model_api, errors_name_the_problem_and_leave_nothing)
{
    rnnc_model *m = NULL;
    rnnc_tensor *y = (rnnc_tensor *)&m;
    cr_assert_eq(rnnc_sequential_create(NULL, &m), RNNC_OK);
    char path[160];
    snprintf(path, sizeof path, "%s/empty.keras", dir);
    cr_assert_eq(rnnc_model_save(m, path), RNNC_E_STATE);
    cr_assert(strstr(rnnc_last_error(), "not built"), "%s", rnnc_last_error());
    cr_assert_eq(access(path, F_OK), -1);
    rnnc_shape s = RNNC_SHAPE(2, 3);
    rnnc_tensor *x = NULL;
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &s, &x), RNNC_OK);
    cr_assert_eq(rnnc_model_predict(m, x, 2, &y), RNNC_E_STATE);
    cr_assert_null(y);
    cr_assert(strstr(rnnc_last_error(), "no layers"), "%s", rnnc_last_error());
    rnnc_model_destroy(m);

    cr_assert_eq(rnnc_model_load(CASES "seq_gru.keras", &m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_predict(m, x, 0, &y), RNNC_E_ARG);
    cr_assert(strstr(rnnc_last_error(), "batch size"), "%s", rnnc_last_error());
    snprintf(path, sizeof path, "%s/no/such/dir/m.keras", dir);
    cr_assert_eq(rnnc_model_save(m, path), RNNC_E_IO);
    cr_assert(strstr(rnnc_last_error(), path), "%s", rnnc_last_error());
    rnnc_model_destroy(m);
    rnnc_tensor_destroy(x);
}
