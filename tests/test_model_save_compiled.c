/* test_model_save_compiled.c - a compiled model's .keras archive holds what
 * Keras 3.15.1's model.save writes for one (fixture:
 * tests/gen_keras_compile_fixture.py): config.json's compile_config and the
 * optimizer's variables under optimizer/vars in model.weights.h5, so that
 * keras.saving.load_model returns a compiled model that goes on training.
 * rnnc's archives had neither (load_model gave an uncompiled model).
 *
 * The model and the optimizer's state are Keras's (read from Keras's own
 * archive); the archive rnnc writes from them must carry Keras's
 * compile_config key for key and Keras's optimizer variables value for
 * value, and must load back in rnnc. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "io/h5_util.h"
#include "io/keras_archive.h"
#include "rnnc.h"

#define FIX RNNC_FIXTURES "/keras_compile/adam_gru.keras"

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "/tmp/rnnc_test_save_compiled_%ld_%s", (long)getpid(), name);
}

static rnnc_cfg *read_config(const rnnc_keras_archive *a)
{
    rnnc_cfg *c = NULL;
    cr_assert_eq(rnnc_spec_read_string(a->config_json, a->config_len, a->path, &c), RNNC_OK, "%s", rnnc_last_error());
    return c;
}

/* Deep equality of two JSON trees; maps by key (order free), numbers as
 * doubles (Keras writes 1 and 1.0 apart; rnnc must write the same kind). */
static void expect_same(const rnnc_cfg *want, const rnnc_cfg *got, const char *where)
{
    cr_assert_not_null(got, "%s: missing in rnnc's archive", where);
    cr_assert_eq(got->type, want->type, "%s: rnnc wrote a %s, Keras a %s", where, rnnc_cfg_type_name(got->type),
                 rnnc_cfg_type_name(want->type));
    char sub[512];
    switch (want->type) {
    case RNNC_CFG_NULL:
        break;
    case RNNC_CFG_BOOL:
        cr_expect_eq(got->v.b, want->v.b, "%s", where);
        break;
    case RNNC_CFG_INT:
        cr_expect_eq(got->v.i, want->v.i, "%s: %lld, Keras %lld", where, (long long)got->v.i, (long long)want->v.i);
        break;
    case RNNC_CFG_FLOAT:
        cr_expect(fabs(got->v.f - want->v.f) <= 1e-15 * fabs(want->v.f), "%s: %.17g, Keras %.17g", where, got->v.f,
                  want->v.f);
        break;
    case RNNC_CFG_STRING:
        cr_expect_str_eq(got->v.s, want->v.s, "%s", where);
        break;
    case RNNC_CFG_LIST:
        cr_assert_eq(got->n, want->n, "%s: %zu items, Keras %zu", where, got->n, want->n);
        for (size_t i = 0; i < want->n; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            expect_same(want->items[i], got->items[i], sub);
        }
        break;
    case RNNC_CFG_MAP:
        for (size_t i = 0; i < want->n; i++) {
            snprintf(sub, sizeof sub, "%s.%s", where, want->keys[i]);
            expect_same(want->items[i], rnnc_cfg_peek(got, want->keys[i]), sub);
        }
        for (size_t i = 0; i < got->n; i++)
            cr_expect_not_null(rnnc_cfg_peek(want, got->keys[i]), "%s.%s: rnnc wrote a key Keras does not", where,
                               got->keys[i]);
        break;
    }
}

/* optimizer/vars/<i> of an archive's model.weights.h5 as doubles. */
static hsize_t read_var(hid_t f, int i, double *out, hsize_t cap)
{
    char rel[64];
    snprintf(rel, sizeof rel, "optimizer/vars/%d", i);
    hid_t d = H5Dopen2(f, rel, H5P_DEFAULT);
    cr_assert_geq(d, 0, "%s missing", rel);
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    cr_assert(n >= 0 && (hsize_t)n <= cap);
    cr_assert_geq(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), 0);
    H5Sclose(s);
    H5Dclose(d);
    return (hsize_t)n;
}

static hsize_t var_count(hid_t f, char *name, size_t cap)
{
    hid_t g = H5Gopen2(f, "optimizer/vars", H5P_DEFAULT);
    cr_assert_geq(g, 0, "no optimizer/vars group");
    hsize_t n = 0;
    H5G_info_t info;
    cr_assert_geq(H5Gget_info(g, &info), 0);
    n = info.nlinks;
    bool found = false;
    char *v = NULL;
    cr_assert_eq(rnnc_h5_attr_string(g, "name", "optimizer/vars", &found, &v), RNNC_OK, "%s", rnnc_last_error());
    cr_assert(found, "optimizer/vars has no name attribute");
    snprintf(name, cap, "%s", v);
    free(v);
    H5Gclose(g);
    return n;
}

Test(model_save_compiled, archive_carries_keras_compile_config_and_optimizer_state)
{
    /* Keras's model, its compile_config and its optimizer's state. */
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(FIX, &m), RNNC_OK, "a .keras with compile_config: %s", rnnc_last_error());
    rnnc_keras_archive *ka = NULL;
    cr_assert_eq(rnnc_keras_archive_read(FIX, &ka), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *kcfg = read_config(ka);
    const rnnc_cfg *kcc = rnnc_cfg_peek(kcfg, "compile_config");
    cr_assert_not_null(kcc);
    rnnc_optimizer *opt = NULL;
    cr_assert_eq(rnnc_optimizer_from_config(rnnc_cfg_peek(kcc, "optimizer"), "optimizer", &opt), RNNC_OK, "%s",
                 rnnc_last_error());
    rnnc_weight *w[32];
    int nw = 0;
    cr_assert_eq(rnnc_model_weights(m, w, 32, &nw), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_optimizer_build(opt, w, nw), RNNC_OK, "%s", rnnc_last_error());
    rnnc_optimizer_variable vars[64];
    rnnc_tensor *t[64];
    int nv = 0;
    cr_assert_eq(rnnc_optimizer_variables(opt, vars, 64, &nv), RNNC_OK, "%s", rnnc_last_error());
    for (int i = 0; i < nv; i++)
        t[i] = vars[i].value;
    char kweights[256], out[256];
    tmp_path(kweights, sizeof kweights, "keras.weights.h5");
    tmp_path(out, sizeof out, "ours.keras");
    FILE *fp = fopen(kweights, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(ka->weights, 1, ka->weights_size, fp), ka->weights_size);
    fclose(fp);
    bool found = false;
    cr_assert_eq(rnnc_weights_load_optimizer(kweights, t, nv, &found), RNNC_OK, "%s", rnnc_last_error());
    cr_assert(found);
    unlink(kweights);

    /* compile(optimizer, loss="mse", metrics=["mae"], weighted_metrics=["mse"]) as the generator did. */
    rnnc_cfg *loss = rnnc_cfg_string("mse"), *metrics = rnnc_cfg_list(), *weighted = rnnc_cfg_list();
    cr_assert_eq(rnnc_cfg_push(metrics, rnnc_cfg_string("mae")), RNNC_OK);
    cr_assert_eq(rnnc_cfg_push(weighted, rnnc_cfg_string("mse")), RNNC_OK);
    rnnc_model_compile_info ci = {.optimizer = opt, .loss = loss, .metrics = metrics, .weighted_metrics = weighted};
    cr_assert_eq(rnnc_model_save_compiled(m, out, &ci), RNNC_OK, "%s", rnnc_last_error());

    rnnc_keras_archive *ours = NULL;
    cr_assert_eq(rnnc_keras_archive_read(out, &ours), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *ocfg = read_config(ours);
    expect_same(kcc, rnnc_cfg_peek(ocfg, "compile_config"), "compile_config");

    hid_t kf = -1, of = -1;
    cr_assert_eq(rnnc_h5_open_image(ka->weights, ka->weights_size, "keras", &kf), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_h5_open_image(ours->weights, ours->weights_size, "ours", &of), RNNC_OK, "%s",
                 rnnc_last_error());
    char kname[64], oname[64];
    hsize_t kn = var_count(kf, kname, sizeof kname), on = var_count(of, oname, sizeof oname);
    cr_assert_eq(on, kn, "rnnc wrote %llu optimizer variables, Keras %llu", (unsigned long long)on,
                 (unsigned long long)kn);
    cr_expect_str_eq(oname, kname);
    double a[64], b[64];
    int nonzero = 0;
    for (int i = 0; i < (int)kn; i++) {
        hsize_t n1 = read_var(kf, i, a, 64), n2 = read_var(of, i, b, 64);
        cr_assert_eq(n2, n1, "optimizer/vars/%d: %llu values, Keras %llu", i, (unsigned long long)n2,
                     (unsigned long long)n1);
        for (hsize_t k = 0; k < n1; k++) {
            cr_expect_eq(b[k], a[k], "optimizer/vars/%d[%llu]: %.9g, Keras %.9g", i, (unsigned long long)k, b[k], a[k]);
            nonzero += a[k] != 0;
        }
    }
    cr_expect_gt(nonzero, 10, "the fixture's slots should have been trained");
    H5Fclose(kf);
    H5Fclose(of);

    /* rnnc reads its own compiled archive back: the same weights. */
    rnnc_model *back = NULL;
    cr_assert_eq(rnnc_model_load(out, &back), RNNC_OK, "%s", rnnc_last_error());
    rnnc_weight *w2[32];
    int nw2 = 0;
    cr_assert_eq(rnnc_model_weights(back, w2, 32, &nw2), RNNC_OK);
    cr_assert_eq(nw2, nw);
    for (int i = 0; i < nw; i++)
        cr_expect_arr_eq(rnnc_f32(w2[i]->value), rnnc_f32(w[i]->value), w[i]->value->numel * sizeof(float),
                         "weight %d", i);
    unlink(out);

    rnnc_model_destroy(back);
    rnnc_cfg_destroy(ocfg);
    rnnc_keras_archive_destroy(ours);
    rnnc_cfg_destroy(loss);
    rnnc_cfg_destroy(metrics);
    rnnc_cfg_destroy(weighted);
    rnnc_optimizer_destroy(opt);
    rnnc_cfg_destroy(kcfg);
    rnnc_keras_archive_destroy(ka);
    rnnc_model_destroy(m);
}

Test(model_save_compiled, bad_loss_type_fails_and_writes_nothing)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(FIX, &m), RNNC_OK, "%s", rnnc_last_error());
    char out[256];
    tmp_path(out, sizeof out, "bad.keras");
    unlink(out);
    rnnc_cfg *loss = rnnc_cfg_int(3);
    rnnc_model_compile_info ci = {.loss = loss};
    cr_expect_eq(rnnc_model_save_compiled(m, out, &ci), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "loss"), "%s", rnnc_last_error());
    cr_expect_neq(access(out, F_OK), 0, "%s was written", out);
    rnnc_cfg_destroy(loss);
    rnnc_model_destroy(m);
}
