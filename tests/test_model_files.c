/* test_model_files.c - whole model files (io/model_loader.h, keras_archive,
 * legacy_h5, dataset) against Keras's own files and outputs, and bad input:
 * missing, directory, empty, truncated, damaged, wrong type, mismatched
 * weights, absurd sizes, unsupported graphs, hostile HDF5 datasets.
 *
 * Keras-written fixtures come from tests/gen_keras_roundtrip.py (Keras
 * 3.15.1); expected arrays are read with the independent test reader
 * (helpers/fixture.h). */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "framework/model.h"
#include "helpers/fixture.h"
#include "io/dataset.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"

#define RT RNNC_FIXTURES "/roundtrip"

static char tmpdir[512];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/test_model_files_%ld", RNNC_BUILD_DIR, (long)getpid());
    mkdir(tmpdir, 0777);
}

static void teardown(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

static const char *tmp(const char *name)
{
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    cr_assert(fp, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot read %s", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    cr_assert_eq(fread(b, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return b;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = read_bytes(from, &n);
    write_bytes(to, b, n);
    free(b);
}

static rnnc_tensor *read_fixture(const char *path, const char *name, rnnc_dtype dt)
{
    rnnc_fixture *f = NULL;
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_read(f, name, dt, &t), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fixture_close(f);
    return t;
}

static rnnc_tensor *predict(rnnc_model *m, rnnc_tensor *x)
{
    rnnc_ctx *cx = rnnc_ctx_create();
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .mask = NULL, .training = false};
    rnnc_call_result r;
    cr_assert_eq(rnnc_model_call(m, cx, &a, &r), RNNC_OK, "predict: %s", rnnc_last_error());
    rnnc_tensor *y;
    cr_assert_eq(rnnc_tensor_clone(r.outputs[0], &y), RNNC_OK);
    rnnc_ctx_destroy(cx);
    return y;
}

/* max |got - want|, or +inf when shapes differ. */
static double max_diff(const rnnc_tensor *got, const rnnc_tensor *want)
{
    if (!rnnc_shape_eq(&got->shape, &want->shape))
        return INFINITY;
    double worst = 0;
    for (size_t i = 0; i < want->numel; i++) {
        double d = fabs(rnnc_tensor_get(got, i) - rnnc_tensor_get(want, i));
        if (!(d <= worst))
            worst = d;
    }
    return worst;
}

static bool close_enough(const rnnc_tensor *got, const rnnc_tensor *want)
{
    if (!rnnc_shape_eq(&got->shape, &want->shape))
        return false;
    for (size_t i = 0; i < want->numel; i++) {
        double g = rnnc_tensor_get(got, i), y = rnnc_tensor_get(want, i);
        if (!(fabs(g - y) <= 1e-5 + 1e-5 * fabs(y)))
            return false;
    }
    return true;
}

/* Loads a model file and compares its predictions on io's x with io's y_name. */
static void expect_file_predicts(const char *model_file, const char *io, const char *y_name)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(model_file, &m), RNNC_OK, "%s: %s", model_file, rnnc_last_error());
    rnnc_tensor *x = read_fixture(io, "x", RNNC_F32), *y = read_fixture(io, y_name, RNNC_F32);
    rnnc_tensor *got = predict(m, x);
    cr_expect(close_enough(got, y), "%s: predictions differ from Keras's %s (max |diff| %g)", model_file, y_name,
              max_diff(got, y));
    rnnc_tensor_destroy(got);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
}

/* ---- Keras's formats ---- */

Test(model_files, keras_archives_stored_and_deflated)
{
    expect_file_predicts(RT "/seq_gru.keras", RT "/seq_gru_io.h5", "y");
    expect_file_predicts(RT "/func_chain.keras", RT "/func_chain_io.h5", "y");
    expect_file_predicts(RT "/func_chain_deflated.keras", RT "/func_chain_io.h5", "y");
}

Test(model_files, keras3_legacy_h5)
{
    expect_file_predicts(RT "/seq_gru_legacy.h5", RT "/seq_gru_io.h5", "y");
}

Test(model_files, functional_json_config_with_keras3_weights)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(RT "/func_chain.json", &m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(m->n_layers, 4, "GRU, Dropout, GRU, Dense in chain order");
    cr_expect_str_eq(m->layers[0]->cls->class_name, "GRU");
    cr_expect_str_eq(m->layers[1]->cls->class_name, "Dropout");
    cr_expect_str_eq(m->layers[3]->cls->class_name, "Dense");
    cr_assert_eq(rnnc_model_load_weights(m, RT "/func_chain.weights.h5"), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x = read_fixture(RT "/func_chain_io.h5", "x", RNNC_F32);
    rnnc_tensor *y = read_fixture(RT "/func_chain_io.h5", "y", RNNC_F32);
    rnnc_tensor *got = predict(m, x);
    cr_expect(close_enough(got, y), "max |diff| %g", max_diff(got, y));
    /* The weights of a .keras archive load into it too. */
    cr_assert_eq(rnnc_model_load_weights(m, RT "/func_chain_deflated.keras"), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor_destroy(got);
    got = predict(m, x);
    cr_expect(close_enough(got, y), "max |diff| %g", max_diff(got, y));
    rnnc_tensor_destroy(got);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
}

/* The same weights and config; keras_version 2.4.0 must give Keras 2's
 * hard_sigmoid (0.2x + 0.5, Keras's output with that callable), 3.15.1
 * Keras 3's. The two outputs differ by far more than the tolerance. */
Test(model_files, hard_sigmoid_follows_the_writers_keras_version)
{
    rnnc_tensor *y2 = read_fixture(RT "/k2_hsig_io.h5", "y_keras2", RNNC_F32);
    rnnc_tensor *y3 = read_fixture(RT "/k2_hsig_io.h5", "y_keras3", RNNC_F32);
    cr_assert_gt(max_diff(y2, y3), 1e-3, "the fixture should tell the formulas apart");
    expect_file_predicts(RT "/k2_hsig.h5", RT "/k2_hsig_io.h5", "y_keras2");
    expect_file_predicts(RT "/k3_hsig.h5", RT "/k2_hsig_io.h5", "y_keras3");
    rnnc_tensor_destroy(y2);
    rnnc_tensor_destroy(y3);
}

/* A config JSON with a Keras 2 top-level keras_version behaves the same. */
Test(model_files, hard_sigmoid_from_a_keras2_json_config)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(RT "/k3_hsig.h5", &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg *c;
    cr_assert_eq(rnnc_model_serialize(m, &c), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model *m2;
    cr_assert_eq(rnnc_model_from_config(c, "2.4.0", &m2), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_load_weights(m2, RT "/k2_hsig.h5"), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x = read_fixture(RT "/k2_hsig_io.h5", "x", RNNC_F32);
    rnnc_tensor *y2 = read_fixture(RT "/k2_hsig_io.h5", "y_keras2", RNNC_F32);
    rnnc_tensor *got = predict(m2, x);
    cr_expect(close_enough(got, y2), "max |diff| %g", max_diff(got, y2));
    rnnc_tensor_destroy(got);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y2);
    rnnc_cfg_destroy(c);
    rnnc_model_destroy(m);
    rnnc_model_destroy(m2);
}

/* Helpers that rewrite attributes of a copy of a Keras file. */
static char *get_vlen_attr(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5Aget_type(a), mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    char *v = NULL;
    cr_assert_geq(H5Aread(a, mt, &v), 0);
    char *out = strdup(v);
    H5free_memory(v);
    H5Tclose(mt);
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

static void put_vlen_attr(hid_t obj, const char *name, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t s = H5Screate(H5S_SCALAR), a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, t, &value), 0);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

/* Fixed-length null-padded string array of `size` bytes per name. */
static void put_fixed_attr(hid_t obj, const char *name, const char *const *v, int n, size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, size);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    hsize_t dim = (hsize_t)n;
    char *buf = calloc((size_t)n, size);
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * size, v[i], strlen(v[i]) < size ? strlen(v[i]) : size);
    hid_t s = H5Screate_simple(1, &dim, NULL), a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Awrite(a, t, buf), 0);
    free(buf);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

/* model_config split into model_config0/1 and layer_names split into
 * layer_names0/1 as fixed-length strings that fill their slots (no NUL). */
TestSuite(model_files, .init = setup, .fini = teardown);

Test(model_files, chunked_attributes_and_full_slot_names)
{
    const char *p = tmp("chunked.h5");
    copy_file(RT "/seq_gru_legacy.h5", p);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    char *mc = get_vlen_attr(f, "model_config");
    size_t half = strlen(mc) / 2;
    char *second = strdup(mc + half);
    mc[half] = '\0';
    H5Adelete(f, "model_config");
    put_vlen_attr(f, "model_config0", mc);
    put_vlen_attr(f, "model_config1", second);
    hid_t g = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    H5Adelete(g, "layer_names");
    const char *first[1] = {"gru"}, *rest[1] = {"dense"};
    put_fixed_attr(g, "layer_names0", first, 1, 3);
    put_fixed_attr(g, "layer_names1", rest, 1, 5);
    H5Gclose(g);
    H5Fclose(f);
    free(mc);
    free(second);
    expect_file_predicts(p, RT "/seq_gru_io.h5", "y");
}

/* A Keras 2-style weights-only file: the layer groups and layer_names at
 * the root. */
Test(model_files, legacy_weights_only_file)
{
    const char *p = tmp("weights_only.h5");
    hid_t src = H5Fopen(RT "/seq_gru_legacy.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t dst = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Ocopy(src, "model_weights/gru", dst, "gru", H5P_DEFAULT, H5P_DEFAULT), 0);
    cr_assert_geq(H5Ocopy(src, "model_weights/dense", dst, "dense", H5P_DEFAULT, H5P_DEFAULT), 0);
    const char *names[2] = {"gru", "dense"};
    put_fixed_attr(dst, "layer_names", names, 2, 5);
    put_vlen_attr(dst, "keras_version", "2.4.0");
    put_vlen_attr(dst, "backend", "tensorflow");
    H5Fclose(dst);
    H5Fclose(src);
    rnnc_model *m = NULL;
    cr_expect_eq(rnnc_model_load(p, &m), RNNC_E_FORMAT);
    cr_expect(strstr(rnnc_last_error(), "only weights"), "%s", rnnc_last_error());
    cr_assert_null(m);
    cr_assert_eq(rnnc_model_load(RT "/seq_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_model_load_weights(m, p), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x = read_fixture(RT "/seq_gru_io.h5", "x", RNNC_F32), *y = read_fixture(RT "/seq_gru_io.h5", "y", RNNC_F32);
    rnnc_tensor *got = predict(m, x);
    cr_expect(close_enough(got, y), "max |diff| %g", max_diff(got, y));
    rnnc_tensor_destroy(got);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
}

/* ---- bad input ---- */

static void expect_load_fails(const char *path, rnnc_status want, const char *needle)
{
    rnnc_model *m = (rnnc_model *)0x1;
    rnnc_status s = rnnc_model_load(path, &m);
    cr_expect_eq(s, want, "%s: status %s, expected %s: %s", path, rnnc_status_str(s), rnnc_status_str(want),
                 rnnc_last_error());
    cr_expect_null(m, "%s: *out must be NULL on failure", path);
    if (needle)
        cr_expect(strstr(rnnc_last_error(), needle), "%s: message lacks '%s': %s", path, needle, rnnc_last_error());
    if (s == RNNC_OK)
        rnnc_model_destroy(m);
}

Test(model_files, missing_directory_and_empty_files)
{
    expect_load_fails(tmp("no_such_model.keras"), RNNC_E_IO, "no_such_model.keras");
    expect_load_fails(tmpdir, RNNC_E_IO, "is a directory");
    write_bytes(tmp("empty.h5"), "", 0);
    expect_load_fails(tmp("empty.h5"), RNNC_E_FORMAT, "empty");
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(RT "/seq_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_model_load_weights(m, tmp("nothing.weights.h5")), RNNC_E_IO);
    cr_expect_eq(rnnc_model_load_weights(m, tmpdir), RNNC_E_IO);
    cr_expect_eq(rnnc_model_load_weights(m, tmp("empty.h5")), RNNC_E_FORMAT);
    rnnc_model_destroy(m);
}

/* Every prefix length in a sweep: an error every time, never a crash. */
static void truncations(const char *src, const char *name)
{
    size_t n;
    unsigned char *b = read_bytes(src, &n);
    const char *p = tmp(name);
    for (int k = 1; k < 24; k++) {
        size_t len = n * (size_t)k / 24;
        write_bytes(p, b, len);
        rnnc_model *m = NULL;
        rnnc_status s = rnnc_model_load(p, &m);
        cr_expect_neq(s, RNNC_OK, "%s cut to %zu of %zu bytes loaded", src, len, n);
        cr_expect(strstr(rnnc_last_error(), name), "%s cut to %zu bytes: message does not name the file: %s", src,
                  len, rnnc_last_error());
        rnnc_model_destroy(m);
    }
    free(b);
}

Test(model_files, truncated_files)
{
    truncations(RT "/seq_gru_legacy.h5", "cut.h5");
    truncations(RT "/seq_gru.keras", "cut.keras");
    /* A truncated weights file for an existing model. */
    size_t n;
    unsigned char *b = read_bytes(RT "/seq_gru.weights.h5", &n);
    write_bytes(tmp("cut.weights.h5"), b, n / 2);
    free(b);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(RT "/seq_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_status s = rnnc_model_load_weights(m, tmp("cut.weights.h5"));
    cr_expect_eq(s, RNNC_E_FORMAT, "%s", rnnc_last_error());
    rnnc_model_destroy(m);
}

Test(model_files, wrong_file_types)
{
    unsigned char noise[2048];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)(i * 131 + 7);
    noise[0] = 0x00;
    write_bytes(tmp("noise.h5"), noise, sizeof noise);
    expect_load_fails(tmp("noise.h5"), RNNC_E_FORMAT, "not a model file");
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    write_bytes(tmp("picture.keras"), png, sizeof png);
    expect_load_fails(tmp("picture.keras"), RNNC_E_FORMAT, "picture.keras");
    write_bytes(tmp("notes.yaml"), "hello: world\n", 13);
    expect_load_fails(tmp("notes.yaml"), RNNC_E_ARG, "class_name");
    write_bytes(tmp("broken.json"), "{\"class_name\": \"Sequential\", \"config\": [", 41);
    expect_load_fails(tmp("broken.json"), RNNC_E_FORMAT, "broken.json");
    /* A zip that is not a .keras archive; an HDF5 file that is not Keras. */
    expect_load_fails(RT "/bad/no_config.keras", RNNC_E_FORMAT, "config.json");
    hid_t f = H5Fcreate(tmp("plain.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    expect_load_fails(tmp("plain.h5"), RNNC_E_FORMAT, "not a Keras model");
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(RT "/seq_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_model_load_weights(m, tmp("plain.h5")), RNNC_E_FORMAT);
    cr_expect_eq(rnnc_model_load_weights(m, tmp("notes.yaml")), RNNC_E_FORMAT);
    rnnc_model_destroy(m);
}

Test(model_files, damaged_keras_archives)
{
    expect_load_fails(RT "/bad/no_weights.keras", RNNC_E_FORMAT, "model.weights.h5");
    expect_load_fails(RT "/bad/bad_config.keras", RNNC_E_FORMAT, "config.json");
    expect_load_fails(RT "/bad/weights_not_hdf5.keras", RNNC_E_FORMAT, "model.weights.h5");
    expect_load_fails(RT "/bad/crc.keras", RNNC_E_FORMAT, "model.weights.h5");
}

Test(model_files, legacy_weights_that_do_not_fit)
{
    rnnc_model *m = NULL;
    /* seq_gru: GRU(4) over 8 features; k2_hsig's GRU(4) has 3. */
    cr_assert_eq(rnnc_model_load(RT "/seq_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_status s = rnnc_model_load_weights(m, RT "/k2_hsig.h5");
    cr_expect_eq(s, RNNC_E_SHAPE, "%s", rnnc_last_error());
    const char *e = rnnc_last_error();
    cr_expect(strstr(e, "dataset '/model_weights/gru") && strstr(e, "/gru_cell/kernel'"), "no dataset in: %s", e);
    cr_expect(strstr(e, "(3, 12)") && strstr(e, "(8, 12)"), "no shapes in: %s", e);
    rnnc_model_destroy(m);
    /* Three layers with weights against a file with two. */
    cr_assert_eq(rnnc_model_load(RT "/two_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    s = rnnc_model_load_weights(m, RT "/seq_gru_legacy.h5");
    cr_expect_eq(s, RNNC_E_SHAPE, "%s", rnnc_last_error());
    cr_expect(strstr(rnnc_last_error(), "2 layers") && strstr(rnnc_last_error(), "3 layers"), "%s",
              rnnc_last_error());
    rnnc_model_destroy(m);
}

Test(model_files, integer_weights_are_refused_with_the_dataset_named)
{
    const char *p = tmp("intw.weights.h5");
    copy_file(RT "/seq_gru.weights.h5", p);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "layers/dense/vars/1", H5P_DEFAULT);
    hsize_t one = 1;
    hid_t sp = H5Screate_simple(1, &one, NULL);
    hid_t d = H5Dcreate2(f, "layers/dense/vars/1", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int v = 3;
    H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(RT "/seq_gru.json", &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_model_load_weights(m, p), RNNC_E_DTYPE, "%s", rnnc_last_error());
    cr_expect(strstr(rnnc_last_error(), "/layers/dense/vars/1"), "%s", rnnc_last_error());
    rnnc_model_destroy(m);
}

static rnnc_status from_text(const char *text, rnnc_model **m)
{
    rnnc_cfg *c = NULL;
    *m = NULL;
    rnnc_status s = rnnc_spec_read_string(text, strlen(text), "inline", &c);
    cr_assert_eq(s, RNNC_OK, "%s", rnnc_last_error());
    s = rnnc_model_from_config(c, NULL, m);
    rnnc_cfg_destroy(c);
    return s;
}

Test(model_files, absurd_sizes_in_a_config)
{
    static const char *const configs[] = {
        "{class_name: Sequential, config: {name: s, layers: ["
        "{class_name: InputLayer, config: {batch_shape: [null, 5, 3]}},"
        "{class_name: GRU, config: {units: 1000000000000}}]}}",
        "{class_name: Sequential, config: {name: s, layers: ["
        "{class_name: InputLayer, config: {batch_shape: [null, 5, 3]}},"
        "{class_name: Dense, config: {units: 1000000000000}}]}}",
        "{class_name: Sequential, config: {name: s, layers: ["
        "{class_name: InputLayer, config: {batch_shape: [null, 5, 1000000000000]}},"
        "{class_name: GRU, config: {units: 1000000}}]}}",
        "{class_name: Sequential, config: {name: s, layers: ["
        "{class_name: InputLayer, config: {batch_shape: [null, 5, 3]}},"
        "{class_name: GRU, config: {units: -4}}]}}",
        "{class_name: Sequential, config: {name: s, layers: ["
        "{class_name: InputLayer, config: {batch_shape: [null, 5, 3]}},"
        "{class_name: GRU, config: {units: 99999999999999999999999}}]}}",
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        rnnc_model *m = NULL;
        rnnc_cfg *c = NULL;
        rnnc_status s = rnnc_spec_read_string(configs[i], strlen(configs[i]), "inline", &c);
        if (s == RNNC_OK)
            s = rnnc_model_from_config(c, NULL, &m);
        rnnc_cfg_destroy(c);
        cr_expect_neq(s, RNNC_OK, "config %zu was accepted", i);
        cr_expect_null(m);
        cr_expect_gt(strlen(rnnc_last_error()), 10, "config %zu: no message", i);
        cr_log_info("config %zu: %s", i, rnnc_last_error());
    }
}

/* The model loader hands Functional configs to the graph loader: branches,
 * multi-input layers, shared layers and tensor keyword arguments all load. */
Test(model_files, functional_graphs_that_are_not_chains)
{
    /* Keras 2 form: a branch (gru feeds two Dense layers). */
    const char *branch =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 4, 2], \"name\": \"in\"}, \"name\": \"in\", \"inbound_nodes\": []},"
        "{\"class_name\": \"GRU\", \"config\": {\"name\": \"g\", \"units\": 3}, \"name\": \"g\", \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d1\", \"units\": 1}, \"name\": \"d1\", \"inbound_nodes\": [[[\"g\", 0, 0, {}]]]},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d2\", \"units\": 1}, \"name\": \"d2\", \"inbound_nodes\": [[[\"g\", 0, 0, {}]]]}],"
        "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"d1\", 0, 0]]}}";
    rnnc_model *m;
    cr_assert_eq(from_text(branch, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(m->n_layers, 3); /* d2 is not on the path to the output but is in model.layers */
    rnnc_model_destroy(m);
    /* Keras 2 form: a layer with two inputs. */
    const char *two_in =
        "{\"class_name\": \"Model\", \"config\": {\"name\": \"m\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 4, 2], \"name\": \"in\"}, \"name\": \"in\", \"inbound_nodes\": []},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"a\", \"units\": 2}, \"name\": \"a\", \"inbound_nodes\": [[[\"in\", 0, 0, {}]]]},"
        "{\"class_name\": \"Add\", \"config\": {\"name\": \"add\"}, \"name\": \"add\", \"inbound_nodes\": [[[\"a\", 0, 0, {}], [\"in\", 0, 0, {}]]]}],"
        "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"add\", 0, 0]]}}";
    cr_assert_eq(from_text(two_in, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(m->n_layers, 2);
    rnnc_model_destroy(m);
    /* Keras 3 form: a shared layer (called twice). */
    const char *kt = "{\"class_name\": \"__keras_tensor__\", \"config\": {\"keras_history\": [\"%s\", %d, 0]}}";
    char t1[200], t2[200], shared[2000];
    snprintf(t1, sizeof t1, kt, "in", 0);
    snprintf(t2, sizeof t2, kt, "d", 0);
    snprintf(shared, sizeof shared,
             "{\"module\": \"keras.src.models.functional\", \"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
             "{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 2], \"name\": \"in\"}, \"name\": \"in\", \"inbound_nodes\": []},"
             "{\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2}, \"name\": \"d\", \"inbound_nodes\": ["
             "{\"args\": [%s], \"kwargs\": {}}, {\"args\": [%s], \"kwargs\": {}}]}],"
             "\"input_layers\": [\"in\", 0, 0], \"output_layers\": [\"d\", 0, 0]}}",
             t1, t2);
    cr_assert_eq(from_text(shared, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(m->n_layers, 1, "a shared layer is one layer");
    rnnc_model_destroy(m);
    /* Keras 3 form: a tensor passed as a keyword argument (initial_state). */
    char kw[3000];
    snprintf(kw, sizeof kw,
             "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 4, 2], \"name\": \"in\"}, \"name\": \"in\", \"inbound_nodes\": []},"
             "{\"class_name\": \"GRU\", \"config\": {\"name\": \"g\", \"units\": 2}, \"name\": \"g\", \"inbound_nodes\": ["
             "{\"args\": [%s], \"kwargs\": {\"initial_state\": [%s]}}]}],"
             "\"input_layers\": [\"in\", 0, 0], \"output_layers\": [\"g\", 0, 0]}}",
             t1, t1);
    cr_assert_eq(from_text(kw, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model_destroy(m);
    /* And a proper chain in the Keras 3 form builds. */
    char chain[3000];
    snprintf(chain, sizeof chain,
             "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
             "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 4, 2], \"name\": \"in\"}, \"name\": \"in\", \"inbound_nodes\": []},"
             "{\"class_name\": \"GRU\", \"config\": {\"name\": \"g\", \"units\": 2}, \"name\": \"g\", \"inbound_nodes\": ["
             "{\"args\": [%s], \"kwargs\": {\"training\": false, \"mask\": null}}]}],"
             "\"input_layers\": [\"in\", 0, 0], \"output_layers\": [\"g\", 0, 0]}}",
             t1);
    cr_assert_eq(from_text(chain, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(m->n_layers, 1);
    cr_expect(m->built);
    cr_expect_eq(m->input_shape.dim[2], 2);
    rnnc_model_destroy(m);
}

Test(model_files, keras2_sequential_takes_its_input_from_the_first_layer)
{
    const char *k2 = "{\"class_name\": \"Sequential\", \"keras_version\": \"2.3.1\", \"backend\": \"tensorflow\", "
                     "\"config\": {\"name\": \"sequential_1\", \"layers\": ["
                     "{\"class_name\": \"GRU\", \"config\": {\"name\": \"gru_1\", \"units\": 3, \"time_major\": false, "
                     "\"batch_input_shape\": [null, 6, 2], \"recurrent_activation\": \"hard_sigmoid\", \"reset_after\": false}},"
                     "{\"class_name\": \"Dense\", \"config\": {\"name\": \"dense_1\", \"units\": 1}}]}}";
    rnnc_model *m;
    cr_assert_eq(from_text(k2, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(m->has_input && m->built);
    cr_expect_eq(m->input_shape.ndim, 3);
    cr_expect_eq(m->input_shape.dim[1], 6);
    cr_expect_str_eq(m->input_name, "gru_1_input");
    rnnc_model_destroy(m);
    const char *tm = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
                     "{\"class_name\": \"GRU\", \"config\": {\"units\": 3, \"time_major\": true, \"batch_input_shape\": [null, 6, 2]}}]}}";
    cr_expect_eq(from_text(tm, &m), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "time_major"), "%s", rnnc_last_error());
}

/* ---- datasets ---- */

static void write_f32(hid_t f, const char *name, const float *v, int nd, const hsize_t *dims)
{
    hid_t sp = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(f, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Dclose(d);
    H5Sclose(sp);
}

Test(model_files, datasets_reject_nan_inf_and_mismatched_samples)
{
    float x[2 * 3 * 2] = {0}, y[2] = {1, 2}, y3[3] = {0};
    hsize_t xd[3] = {2, 3, 2}, yd[1] = {2}, y3d[1] = {3};
    x[1 * 6 + 2 * 2 + 0] = NAN;
    hid_t f = H5Fcreate(tmp("nan.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    write_f32(f, "x", x, 3, xd);
    write_f32(f, "y", y, 1, yd);
    H5Fclose(f);
    rnnc_dataset *d = NULL;
    cr_expect_eq(rnnc_dataset_read(tmp("nan.h5"), NULL, &d), RNNC_E_NUMERIC);
    cr_expect(strstr(rnnc_last_error(), "'/x'") && strstr(rnnc_last_error(), "NaN at [1, 2, 0]"), "%s",
              rnnc_last_error());
    x[1 * 6 + 2 * 2 + 0] = 0;
    y[1] = -INFINITY;
    f = H5Fcreate(tmp("inf.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    write_f32(f, "x", x, 3, xd);
    write_f32(f, "y", y, 1, yd);
    H5Fclose(f);
    cr_expect_eq(rnnc_dataset_read(tmp("inf.h5"), NULL, &d), RNNC_E_NUMERIC);
    cr_expect(strstr(rnnc_last_error(), "'/y'") && strstr(rnnc_last_error(), "-Inf at [1]"), "%s", rnnc_last_error());
    f = H5Fcreate(tmp("count.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    write_f32(f, "x", x, 3, xd);
    write_f32(f, "y", y3, 1, y3d);
    H5Fclose(f);
    cr_expect_eq(rnnc_dataset_read(tmp("count.h5"), NULL, &d), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "(3,)") && strstr(rnnc_last_error(), "(2, 3, 2)"), "%s", rnnc_last_error());
    /* A file without y: an error unless y is optional. */
    f = H5Fcreate(tmp("xonly.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    write_f32(f, "x", x, 3, xd);
    H5Fclose(f);
    cr_expect_eq(rnnc_dataset_read(tmp("xonly.h5"), NULL, &d), RNNC_E_FORMAT);
    rnnc_dataset_options o = {.y_optional = true};
    cr_assert_eq(rnnc_dataset_read(tmp("xonly.h5"), &o, &d), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(d->n_samples, 2);
    cr_expect_null(d->y);
    rnnc_dataset_destroy(d);
}

/* Declared sizes are checked against the file before allocating. */
Test(model_files, hostile_dataset_sizes)
{
    hid_t f = H5Fcreate(tmp("huge.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    /* Contiguous, never written: 4e12 bytes declared in a tiny file. */
    hsize_t big[3] = {1000000, 1000000, 1};
    hid_t sp = H5Screate_simple(3, big, NULL);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(pl, H5D_ALLOC_TIME_LATE);
    hid_t d = H5Dcreate2(f, "x", H5T_IEEE_F32LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
    /* Chunked and compressed, never written: 2^62 elements declared. */
    hsize_t huge[2] = {(hsize_t)1 << 31, (hsize_t)1 << 31}, chunk[2] = {16, 16};
    sp = H5Screate_simple(2, huge, NULL);
    pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 2, chunk);
    H5Pset_deflate(pl, 6);
    d = H5Dcreate2(f, "y", H5T_IEEE_F32LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
    H5Fclose(f);
    rnnc_dataset *ds = NULL;
    cr_expect_eq(rnnc_dataset_read(tmp("huge.h5"), NULL, &ds), RNNC_E_FORMAT);
    cr_expect(strstr(rnnc_last_error(), "'/x'") && strstr(rnnc_last_error(), "(1000000, 1000000, 1)"), "%s",
              rnnc_last_error());
    rnnc_dataset_options o = {.x_name = "y", .y_optional = true};
    cr_expect_neq(rnnc_dataset_read(tmp("huge.h5"), &o, &ds), RNNC_OK);
    cr_expect(strstr(rnnc_last_error(), "/y"), "%s", rnnc_last_error());
    cr_expect_null(ds);
}

Test(model_files, prediction_outputs_are_written_atomically)
{
    const char *p = tmp("pred.h5");
    write_bytes(p, "old", 3);
    rnnc_tensor *a, *b;
    rnnc_shape sa = RNNC_SHAPE(2, 3), sb = RNNC_SHAPE(2);
    cr_assert_eq(rnnc_tensor_create(RNNC_F32, &sa, &a), RNNC_OK);
    cr_assert_eq(rnnc_tensor_create(RNNC_F64, &sb, &b), RNNC_OK);
    rnnc_f32(a)[4] = 1.5f;
    rnnc_f64(b)[1] = -2.25;
    const rnnc_tensor *bad[2] = {a, NULL};
    cr_expect_eq(rnnc_dataset_write_outputs(p, bad, 2), RNNC_E_ARG);
    size_t n;
    unsigned char *old = read_bytes(p, &n);
    cr_expect(n == 3 && memcmp(old, "old", 3) == 0, "a failed write touched the old file");
    free(old);
    const rnnc_tensor *good[2] = {a, b};
    cr_assert_eq(rnnc_dataset_write_outputs(p, good, 2), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *r0 = read_fixture(p, "output_0", RNNC_F32), *r1 = read_fixture(p, "output_1", RNNC_F64);
    cr_expect_eq(rnnc_f32(r0)[4], 1.5f);
    cr_expect_eq(rnnc_f64(r1)[1], -2.25);
    cr_expect(rnnc_shape_eq(&r0->shape, &a->shape));
    /* Nothing else in the directory: no temporary left behind. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int tmps = 0;
    while ((e = readdir(d)) != NULL)
        tmps += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    cr_expect_eq(tmps, 0);
    rnnc_tensor_destroy(a);
    rnnc_tensor_destroy(b);
    rnnc_tensor_destroy(r0);
    rnnc_tensor_destroy(r1);
}

Test(model_files, legacy_layer_names_naming_a_missing_group)
{
    const char *p = tmp("missing_group.h5");
    copy_file(RT "/seq_gru_legacy.h5", p);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(H5Ldelete(f, "model_weights/dense", H5P_DEFAULT), 0);
    H5Fclose(f);
    expect_load_fails(p, RNNC_E_FORMAT, "dense");
}

Test(model_files, other_config_shapes)
{
    rnnc_model *m;
    /* An rnnc spec's model section (YAML). */
    const char *spec = "model:\n"
                       "  class_name: Sequential\n"
                       "  config:\n"
                       "    name: from_yaml\n"
                       "    layers:\n"
                       "      - {class_name: InputLayer, config: {batch_shape: [null, 5, 2]}}\n"
                       "      - {class_name: GRU, config: {units: 3}}\n"
                       "fit: {epochs: 1}\n";
    cr_assert_eq(from_text(spec, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_str_eq(m->name, "from_yaml");
    cr_expect(m->built);
    rnnc_model_destroy(m);
    /* Keras <= 2.2: the Sequential config is the list of layers. */
    const char *old = "{\"class_name\": \"Sequential\", \"config\": ["
                      "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2, \"batch_input_shape\": [null, 4]}}]}";
    cr_assert_eq(from_text(old, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(m->built && m->n_layers == 1 && m->input_shape.dim[1] == 4);
    rnnc_model_destroy(m);
    /* A lone layer with its build_config runs as a one-layer model. */
    const char *one = "{\"module\": \"keras.layers\", \"class_name\": \"GRU\", \"config\": {\"name\": \"solo\", \"units\": 2},"
                      " \"registered_name\": null, \"build_config\": {\"input_shape\": [null, 3, 5]}}";
    cr_assert_eq(from_text(one, &m), RNNC_OK, "%s", rnnc_last_error());
    cr_expect(m->built && m->n_layers == 1);
    cr_expect_str_eq(m->layers[0]->name, "solo");
    cr_expect_eq(m->input_shape.dim[2], 5);
    rnnc_model_destroy(m);
    /* Unknown classes and misplaced InputLayers are named. */
    const char *unknown = "{class_name: Sequential, config: {name: s, layers: [{class_name: LSTMM, config: {units: 2}}]}}";
    cr_expect_eq(from_text(unknown, &m), RNNC_E_ARG);
    cr_expect(strstr(rnnc_last_error(), "LSTMM"), "%s", rnnc_last_error());
    const char *late = "{class_name: Sequential, config: {name: s, layers: [{class_name: Dense, config: {units: 2}},"
                       "{class_name: InputLayer, config: {batch_shape: [null, 2]}}]}}";
    cr_expect_eq(from_text(late, &m), RNNC_E_UNSUPPORTED);
    cr_expect(strstr(rnnc_last_error(), "InputLayer"), "%s", rnnc_last_error());
}

Test(model_files, integer_datasets_are_range_checked)
{
    int64_t ids[4] = {1, 2, 3, (int64_t)1 << 40};
    float y[2] = {0, 1};
    hsize_t xd[2] = {2, 2}, yd[1] = {2};
    hid_t f = H5Fcreate(tmp("ids.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(2, xd, NULL);
    hid_t d = H5Dcreate2(f, "x", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids);
    H5Dclose(d);
    H5Sclose(sp);
    write_f32(f, "y", y, 1, yd);
    H5Fclose(f);
    rnnc_dataset *ds = NULL;
    rnnc_dataset_options o32 = {.x_dtype = RNNC_I32};
    cr_expect_eq(rnnc_dataset_read(tmp("ids.h5"), &o32, &ds), RNNC_E_DTYPE);
    cr_expect(strstr(rnnc_last_error(), "'/x'") && strstr(rnnc_last_error(), "index 3"), "%s", rnnc_last_error());
    rnnc_dataset_options o64 = {.x_dtype = RNNC_I64};
    cr_assert_eq(rnnc_dataset_read(tmp("ids.h5"), &o64, &ds), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(((int64_t *)ds->x->data)[3], (int64_t)1 << 40);
    cr_expect_eq(((int64_t *)ds->x->data)[1], 2);
    rnnc_dataset_destroy(ds);
    /* Integers where floats are wanted are converted (token ids as features). */
    rnnc_dataset_options of = {0};
    cr_assert_eq(rnnc_dataset_read(tmp("ids.h5"), &of, &ds), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(rnnc_f32(ds->x)[2], 3.0f);
    rnnc_dataset_destroy(ds);
}
