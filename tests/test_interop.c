/* test_interop.c - every case of ../shared/interop (models saved by Keras
 * 2.3 to 3.8 in real projects): load the model file, predict on input.h5's
 * x, and compare with expected.h5's y (computed by an independent reference
 * and checked against PyTorch / TensorFlow.js oracles, see the corpus
 * README) to |got - y| <= 1e-5 + 1e-5 |y|.
 *
 * The folder is listed at run time, so a case added there is tested too. On
 * a mismatch the layers are run one by one against expected.h5's layers/
 * group to name the first layer that disagrees. Expected arrays are read
 * with the independent test reader (helpers/fixture.h), not with io/. */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "framework/model.h"
#include "helpers/fixture.h"
#include "io/dataset.h"
#include "io/model_loader.h"

#define INTEROP RNNC_SHARED "/interop"
#define ATOL 1e-5
#define RTOL 1e-5

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Sorted names of the case folders; caller frees. */
static char **list_cases(int *n)
{
    DIR *d = opendir(INTEROP);
    char **names = NULL;
    int cnt = 0, cap = 0;
    *n = 0;
    if (!d)
        return NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", INTEROP, e->d_name);
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            names = realloc(names, (size_t)cap * sizeof *names);
        }
        names[cnt++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)cnt, sizeof *names, cmp_str);
    *n = cnt;
    return names;
}

/* The model file of a case: *.keras, or *.h5 other than input/expected. */
static bool find_model_file(const char *dir, char *out, size_t cap)
{
    size_t dlen = strlen(dir);
    DIR *d = opendir(dir);
    bool found = false;
    if (!d)
        return false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strcmp(n, "input.h5") == 0 || strcmp(n, "expected.h5") == 0)
            continue;
        if ((ends_with(n, ".keras") || ends_with(n, ".h5")) && dlen + strlen(n) + 2 <= cap) {
            memcpy(out, dir, dlen);
            out[dlen] = '/';
            memcpy(out + dlen + 1, n, strlen(n) + 1);
            found = true;
            break;
        }
    }
    closedir(d);
    return found;
}

/* Index of the first element outside tolerance, or -1; *worst = max |diff|. */
static long first_mismatch(const rnnc_tensor *got, const rnnc_tensor *want, double *worst)
{
    long bad = -1;
    *worst = 0;
    for (size_t i = 0; i < want->numel; i++) {
        double g = rnnc_tensor_get(got, i), y = rnnc_tensor_get(want, i);
        double d = fabs(g - y);
        if (!(d <= ATOL + RTOL * fabs(y)) && bad < 0)
            bad = (long)i;
        if (!(d <= *worst))
            *worst = d;
    }
    return bad;
}

/* Runs the layers one at a time and names the first whose output differs
 * from expected.h5's layers/<name>. */
static void locate_layer(const char *cname, rnnc_model *m, rnnc_tensor *x, const char *expected)
{
    rnnc_fixture *f = NULL;
    if (rnnc_fixture_open(expected, &f) != RNNC_OK)
        return;
    if (!rnnc_fixture_has(f, "layers")) {
        cr_log_warn("%s: expected.h5 has no layers/ group to locate the mismatch", cname);
        rnnc_fixture_close(f);
        return;
    }
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .mask = NULL, .training = false};
    rnnc_call_result r;
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_layer *l = m->layers[i];
        if (rnnc_layer_call(l, cx, &a, &r) != RNNC_OK) {
            cr_log_error("%s: layer %d '%s' failed: %s", cname, i, l->name, rnnc_last_error());
            break;
        }
        char ds[300];
        snprintf(ds, sizeof ds, "layers/%s", l->name);
        rnnc_tensor *want = NULL;
        if (rnnc_fixture_read(f, ds, RNNC_F64, &want) == RNNC_OK) {
            double worst;
            long bad = rnnc_shape_eq(&want->shape, &r.outputs[0]->shape)
                           ? first_mismatch(r.outputs[0], want, &worst)
                           : 0;
            if (bad >= 0) {
                cr_log_error("%s: first layer that disagrees: %d '%s' (%s), flat index %ld: got %.9g, expected %.9g",
                             cname, i, l->name, l->cls->class_name, bad,
                             rnnc_tensor_get(r.outputs[0], (size_t)bad), rnnc_tensor_get(want, (size_t)bad));
                rnnc_tensor_destroy(want);
                break;
            }
            rnnc_tensor_destroy(want);
        }
        a.inputs[0] = r.outputs[0];
        a.mask = r.mask;
    }
    rnnc_ctx_destroy(cx);
    rnnc_fixture_close(f);
}

/* Loads, predicts and compares one case; returns true when it matches. */
static bool run_case(const char *cname)
{
    char dir[4096], model_path[4096], input[4200], expected[4200];
    snprintf(dir, sizeof dir, "%s/%s", INTEROP, cname);
    snprintf(input, sizeof input, "%s/input.h5", dir);
    snprintf(expected, sizeof expected, "%s/expected.h5", dir);
    if (!find_model_file(dir, model_path, sizeof model_path)) {
        cr_log_error("%s: no model file (*.keras or *.h5) in %s", cname, dir);
        return false;
    }
    rnnc_model *m = NULL;
    if (rnnc_model_load(model_path, &m) != RNNC_OK) {
        cr_log_error("%s: loading %s failed: %s", cname, model_path, rnnc_last_error());
        return false;
    }
    rnnc_dataset_options xo = {.y_optional = true};
    rnnc_dataset *in = NULL;
    rnnc_fixture *ef = NULL;
    rnnc_tensor *y = NULL;
    bool ok = false;
    if (rnnc_dataset_read(input, &xo, &in) != RNNC_OK || rnnc_fixture_open(expected, &ef) != RNNC_OK ||
        rnnc_fixture_read(ef, "y", RNNC_F64, &y) != RNNC_OK) {
        cr_log_error("%s: reading input/expected failed: %s", cname, rnnc_last_error());
        goto done;
    }
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {in->x}, .mask = NULL, .training = false};
    rnnc_call_result r;
    if (rnnc_model_call(m, cx, &a, &r) != RNNC_OK) {
        cr_log_error("%s: predict failed: %s", cname, rnnc_last_error());
        rnnc_ctx_destroy(cx);
        goto done;
    }
    char gs[160], ws[160];
    if (!rnnc_shape_eq(&r.outputs[0]->shape, &y->shape)) {
        cr_log_error("%s: output shape %s, expected %s", cname,
                     rnnc_shape_str(&r.outputs[0]->shape, gs, sizeof gs), rnnc_shape_str(&y->shape, ws, sizeof ws));
    } else {
        double worst;
        long bad = first_mismatch(r.outputs[0], y, &worst);
        if (bad < 0) {
            ok = true;
            cr_log_info("%s: %zu values match, max |diff| %.3g", cname, y->numel, worst);
        } else {
            cr_log_error("%s: output differs at flat index %ld: got %.9g, expected %.9g (max |diff| %.3g)", cname,
                         bad, rnnc_tensor_get(r.outputs[0], (size_t)bad), rnnc_tensor_get(y, (size_t)bad), worst);
        }
    }
    rnnc_ctx_destroy(cx);
    if (!ok)
        locate_layer(cname, m, in->x, expected);
done:
    rnnc_dataset_destroy(in);
    rnnc_tensor_destroy(y);
    rnnc_fixture_close(ef);
    rnnc_model_destroy(m);
    return ok;
}

Test(interop, every_case_reproduces_its_expected_output)
{
    int n = 0;
    char **cases = list_cases(&n);
    cr_assert_gt(n, 0, "no cases found in %s", INTEROP);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        bool ok = run_case(cases[i]);
        cr_expect(ok, "interop case '%s' does not reproduce its expected output (see the log above)", cases[i]);
        failed += !ok;
        free(cases[i]);
    }
    free(cases);
    cr_expect_eq(failed, 0, "%d of %d interop cases failed", failed, n);
}

/* The corpus's own contract: the six cases named in its README are there,
 * so a missing checkout of shared/ is not mistaken for success. */
Test(interop, corpus_has_the_documented_cases)
{
    static const char *const known[] = {"arima-gru", "cos30018-traffic-gru", "gru-deployment",
                                        "heitao-gru-relu", "sleepecg-ws-gru-mesa", "stockprediction-gru"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s/expected.h5", INTEROP, known[i]);
        cr_expect_eq(stat(p, &st), 0, "missing interop case %s", p);
    }
}
