/* test_keras_export.c - `rnnc train --save-model OUT.keras` and `rnnc export
 * CHECKPOINT OUT.keras|OUT.weights.h5` write what Keras writes.
 *
 * Oracle: .keras archives written by Keras 3.15.1's model.save for a
 * Sequential, a Functional and a Bidirectional model
 * (tests/fixtures/keras_export, made by tests/gen_keras_export_fixtures.py,
 * which also checked with real Keras that load_model opens rnnc's archives
 * and predicts rnnc's numbers). Compared: the zip members (names, order,
 * stored uncompressed), metadata.json's keys and Keras version,
 * config.json (every key and value, less what only Keras's saving adds:
 * shared_object_id, compile_config, build_config, build_input_shape), and
 * the datasets of model.weights.h5 (paths and shapes; optimizer/ aside). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/run_program.h"
#include "io/keras_archive.h"
#include "io/spec_reader.h"

#define RNNC_BIN RNNC_BUILD_DIR "/rnnc"
#define FX RNNC_FIXTURES "/keras_export"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rnnc_kexp_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void teardown(void) { rnnc_test_rm_tree(tmpdir); }

TestSuite(keras_export, .init = setup, .fini = teardown, .timeout = 300);

static const char *tmp_path(const char *name)
{
    static char p[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static rnnc_test_run run(const char *const *args) { return rnnc_test_run_program(RNNC_BIN, tmpdir, NULL, args); }

static uint32_t le16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const unsigned char *p) { return le16(p) | le16(p + 2) << 16; }

/* The zip's central directory: "name:method " per member, in order. */
static void zip_members(const char *path, char *out, size_t cap)
{
    size_t len;
    unsigned char *z = (unsigned char *)rnnc_test_slurp(path, &len);
    cr_assert_not_null(z, "%s", path);
    cr_assert_geq(len, 22u);
    size_t eocd = len - 22;
    while (eocd > 0 && le32(z + eocd) != 0x06054b50u)
        eocd--;
    cr_assert_eq(le32(z + eocd), 0x06054b50u, "%s: no end of central directory", path);
    uint32_t n = le16(z + eocd + 10), at = le32(z + eocd + 16);
    out[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        cr_assert_lt((size_t)at + 46, len);
        cr_assert_eq(le32(z + at), 0x02014b50u);
        uint32_t method = le16(z + at + 10), nlen = le16(z + at + 28), xlen = le16(z + at + 30),
                 clen = le16(z + at + 32);
        char item[300];
        snprintf(item, sizeof item, "%.*s:%u ", (int)nlen, (const char *)z + at + 46, method);
        strncat(out, item, cap - strlen(out) - 1);
        at += 46 + nlen + xlen + clen;
    }
    free(z);
}

static bool volatile_key(const char *k)
{
    return strcmp(k, "shared_object_id") == 0 || strcmp(k, "compile_config") == 0 ||
           strcmp(k, "build_config") == 0 || strcmp(k, "build_input_shape") == 0;
}

/* a (rnnc's) and b (Keras's) config trees are the same, less volatile keys. */
static void same_tree(const rnnc_cfg *a, const rnnc_cfg *b, const char *where)
{
    const bool num_a = a->type == RNNC_CFG_INT || a->type == RNNC_CFG_FLOAT,
               num_b = b->type == RNNC_CFG_INT || b->type == RNNC_CFG_FLOAT;
    if (num_a && num_b) {
        double x = a->type == RNNC_CFG_INT ? (double)a->v.i : a->v.f, y = b->type == RNNC_CFG_INT ? (double)b->v.i : b->v.f;
        cr_assert_eq(x, y, "%s: rnnc %g, Keras %g", where, x, y);
        return;
    }
    cr_assert_eq(a->type, b->type, "%s: rnnc has a %s, Keras a %s", where, rnnc_cfg_type_name(a->type),
                 rnnc_cfg_type_name(b->type));
    char sub[1024];
    switch (a->type) {
    case RNNC_CFG_STRING:
        cr_assert_str_eq(a->v.s, b->v.s, "%s", where);
        break;
    case RNNC_CFG_BOOL:
        cr_assert_eq(a->v.b, b->v.b, "%s", where);
        break;
    case RNNC_CFG_LIST:
        cr_assert_eq(a->n, b->n, "%s: %zu entries, Keras %zu", where, a->n, b->n);
        for (size_t i = 0; i < a->n; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            same_tree(a->items[i], b->items[i], sub);
        }
        break;
    case RNNC_CFG_MAP:
        for (size_t i = 0; i < b->n; i++) {
            if (volatile_key(b->keys[i]))
                continue;
            snprintf(sub, sizeof sub, "%s/%s", where, b->keys[i]);
            const rnnc_cfg *x = rnnc_cfg_peek(a, b->keys[i]);
            cr_assert_not_null(x, "%s: missing in rnnc's config", sub);
            same_tree(x, b->items[i], sub);
        }
        for (size_t i = 0; i < a->n; i++)
            cr_assert(volatile_key(a->keys[i]) || rnnc_cfg_peek(b, a->keys[i]), "%s/%s: not in Keras's config", where,
                      a->keys[i]);
        break;
    default:
        break;
    }
}

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *op)
{
    /* optimizer/: a compiled model's optimizer variables (--save-model
     * writes them as Keras's model.save does; the fixtures are uncompiled;
     * test_model_save_compiled checks them against Keras's). */
    if (info->type != H5O_TYPE_DATASET || strncmp(name, "optimizer/", 10) == 0)
        return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT), sp = H5Dget_space(d);
    hsize_t dims[8] = {0};
    int r = H5Sget_simple_extent_dims(sp, dims, NULL);
    char item[400];
    snprintf(item, sizeof item, "%s(%d:%llu,%llu,%llu) ", name, r, (unsigned long long)dims[0],
             (unsigned long long)dims[1], (unsigned long long)dims[2]);
    strncat(op, item, 8191 - strlen(op));
    H5Sclose(sp);
    H5Dclose(d);
    return 0;
}

/* Datasets and shapes of a weights file, "path(rank:dims) ..." in name order. */
static void datasets_of(const char *file, char *out)
{
    out[0] = '\0';
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0, "%s", file);
    cr_assert_geq(H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, out), 0);
    H5Fclose(f);
}

static herr_t collect(hid_t obj, const char *name, const H5O_info_t *info, void *op)
{
    (void)obj;
    if (info->type == H5O_TYPE_DATASET && strncmp(name, "optimizer/", 10) != 0) { /* as visit */
        strncat(op, name, 8191 - strlen(op));
        strncat(op, "\n", 8191 - strlen(op));
    }
    return 0;
}

static double *values(hid_t f, const char *name, hssize_t *n)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), sp = H5Dget_space(d);
    cr_assert_geq(d, 0, "%s", name);
    *n = H5Sget_simple_extent_npoints(sp);
    double *v = malloc((size_t)*n * sizeof *v + 1);
    cr_assert_geq(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Sclose(sp);
    H5Dclose(d);
    return v;
}

/* Every dataset of a is in b with the same values (the trained weights). */
static void same_values(const char *a, const char *b)
{
    char *names = calloc(8192, 1), *save;
    hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT), fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert(fa >= 0 && fb >= 0);
    cr_assert_geq(H5Ovisit(fa, H5_INDEX_NAME, H5_ITER_INC, collect, names), 0);
    for (char *n = strtok_r(names, "\n", &save); n; n = strtok_r(NULL, "\n", &save)) {
        hssize_t na, nb;
        double *va = values(fa, n, &na), *vb = values(fb, n, &nb);
        cr_assert_eq(na, nb, "%s", n);
        for (hssize_t i = 0; i < na; i++)
            cr_assert_eq(va[i], vb[i], "%s[%lld]: %s and %s differ", n, (long long)i, a, b);
        free(va);
        free(vb);
    }
    H5Fclose(fa);
    H5Fclose(fb);
    free(names);
}

static void archive_weights_to(const rnnc_keras_archive *a, const char *file)
{
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(a->weights, 1, a->weights_size, f), a->weights_size);
    fclose(f);
}

/* rnnc's archive at path against Keras's FX/<kind>.keras. */
static void same_as_keras(const char *path, const char *kind)
{
    char keras_path[600], mine[1024], theirs[1024];
    snprintf(keras_path, sizeof keras_path, "%s/%s.keras", FX, kind);
    zip_members(path, mine, sizeof mine);
    zip_members(keras_path, theirs, sizeof theirs);
    cr_assert_str_eq(mine, theirs, "zip members (name:method)");
    rnnc_keras_archive *a, *k;
    cr_assert_eq(rnnc_keras_archive_read(path, &a), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_keras_archive_read(keras_path, &k), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *ma, *mk, *ca, *ck;
    cr_assert_not_null(a->metadata_json);
    cr_assert_eq(rnnc_spec_read_string(a->metadata_json, a->metadata_len, "rnnc metadata", &ma), RNNC_OK);
    cr_assert_eq(rnnc_spec_read_string(k->metadata_json, k->metadata_len, "Keras metadata", &mk), RNNC_OK);
    cr_assert_eq(ma->n, mk->n, "metadata.json: %s vs Keras's %s", a->metadata_json, k->metadata_json);
    for (size_t i = 0; i < mk->n; i++)
        cr_assert_not_null(rnnc_cfg_peek(ma, mk->keys[i]), "metadata.json lacks '%s'", mk->keys[i]);
    cr_assert_str_eq(rnnc_cfg_peek(ma, "keras_version")->v.s, rnnc_cfg_peek(mk, "keras_version")->v.s);
    cr_assert_eq(rnnc_spec_read_string(a->config_json, a->config_len, "rnnc config", &ca), RNNC_OK);
    cr_assert_eq(rnnc_spec_read_string(k->config_json, k->config_len, "Keras config", &ck), RNNC_OK);
    same_tree(ca, ck, kind);
    char *da = malloc(8192), *dk = malloc(8192);
    archive_weights_to(a, tmp_path("a.weights.h5"));
    archive_weights_to(k, tmp_path("k.weights.h5"));
    datasets_of(tmp_path("a.weights.h5"), da);
    datasets_of(tmp_path("k.weights.h5"), dk);
    cr_assert_str_eq(da, dk, "model.weights.h5 datasets");
    free(da);
    free(dk);
    rnnc_cfg_destroy(ma);
    rnnc_cfg_destroy(mk);
    rnnc_cfg_destroy(ca);
    rnnc_cfg_destroy(ck);
    rnnc_keras_archive_destroy(a);
    rnnc_keras_archive_destroy(k);
}

static void train_and_export(const char *kind)
{
    FILE *f = fopen(tmp_path("spec.yaml"), "w");
    cr_assert_not_null(f);
    fprintf(f,
            "model: %s/%s.json\ncompile: {optimizer: adam, loss: mse}\nfit: {epochs: 2, batch_size: 8, verbose: 0}\n"
            "data: {path: %s/data.h5}\ncheckpoint: {directory: ck}\n",
            FX, kind, FX);
    fclose(f);
    rnnc_test_run r = run((const char *const[]){"train", "spec.yaml", "--save-model", "trained.keras", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "Saved model: trained.keras"), "%s", r.out);
    rnnc_test_run_free(&r);
    same_as_keras(tmp_path("trained.keras"), kind);
    r = run((const char *const[]){"export", "ck/ckpt-000002.weights.h5", "export.keras", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    same_as_keras(tmp_path("export.keras"), kind);
    /* the export of the last checkpoint holds the trained weights */
    rnnc_keras_archive *a, *b;
    cr_assert_eq(rnnc_keras_archive_read(tmp_path("trained.keras"), &a), RNNC_OK);
    cr_assert_eq(rnnc_keras_archive_read(tmp_path("export.keras"), &b), RNNC_OK);
    archive_weights_to(a, tmp_path("t.weights.h5"));
    archive_weights_to(b, tmp_path("e.weights.h5"));
    rnnc_keras_archive_destroy(a);
    rnnc_keras_archive_destroy(b);
    r = run((const char *const[]){"export", "ck/ckpt-000002.weights.h5", "export.weights.h5", NULL});
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    rnnc_test_run_free(&r);
    char *dt = malloc(8192), *dw = malloc(8192);
    datasets_of(tmp_path("t.weights.h5"), dt);
    datasets_of(tmp_path("export.weights.h5"), dw);
    cr_assert_str_eq(dw, dt, "export.weights.h5 holds the model's datasets");
    free(dt);
    free(dw);
    same_values(tmp_path("t.weights.h5"), tmp_path("e.weights.h5"));
    same_values(tmp_path("t.weights.h5"), tmp_path("export.weights.h5"));
}

Test(keras_export, sequential) { train_and_export("seq"); }
Test(keras_export, functional) { train_and_export("func"); }
Test(keras_export, bidirectional) { train_and_export("bidi"); }

Test(keras_export, errors_name_the_cause_and_write_nothing)
{
    rnnc_test_run r = run((const char *const[]){"export", "nothing.weights.h5", "out.keras", NULL});
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "nothing.weights.h5"), "%s", r.err);
    rnnc_test_run_free(&r);
    r = run((const char *const[]){"export", FX "/seq.keras", "out.zip", NULL});
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "must end in .keras"), "%s", r.err);
    rnnc_test_run_free(&r);
    r = run((const char *const[]){"train", "spec.yaml", "--save-model", "out.h5", NULL});
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--save-model 'out.h5' must end in .keras"), "%s", r.err);
    rnnc_test_run_free(&r);
    cr_assert_eq(access(tmp_path("out.keras"), F_OK), -1);
    /* a Keras archive is exported again as it is (Keras -> rnnc -> Keras) */
    r = run((const char *const[]){"export", FX "/func.keras", "again.keras", NULL});
    cr_assert_eq(r.code, 0, "%s", r.err);
    rnnc_test_run_free(&r);
    same_as_keras(tmp_path("again.keras"), "func");
}
