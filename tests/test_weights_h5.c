/* test_weights_h5.c - Keras 3 .weights.h5 save and load (io/weights_h5.h).
 *
 * Oracles are Keras's own files (tests/fixtures/roundtrip/, written by
 * tests/gen_keras_roundtrip.py with Keras 3.15.1): Keras-written weights
 * must reproduce Keras's predictions; rnnc-written files must have exactly
 * the groups, datasets, shapes, dtypes and name attributes of Keras's file
 * for the same model; and a file rnnc wrote was loaded by Keras itself
 * (rnnc_to_keras/, Keras's predictions and verdict committed). Expected
 * arrays are read with the independent test reader (helpers/fixture.h). */
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
#include "io/json_writer.h"
#include "io/model_loader.h"
#include "io/spec_reader.h"
#include "io/weights_h5.h"

#define RT RNNC_FIXTURES "/roundtrip"

static rnnc_tensor *read_fixture(const char *path, const char *name, rnnc_dtype dt)
{
    rnnc_fixture *f = NULL;
    rnnc_tensor *t = NULL;
    cr_assert_eq(rnnc_fixture_open(path, &f), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_fixture_read(f, name, dt, &t), RNNC_OK, "%s", rnnc_last_error());
    rnnc_fixture_close(f);
    return t;
}

/* Runs the model in inference mode; the caller owns the returned copy. */
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

static void expect_close(const rnnc_tensor *got, const rnnc_tensor *want, const char *what)
{
    char a[160], b[160];
    cr_assert(rnnc_shape_eq(&got->shape, &want->shape), "%s: shape %s, expected %s", what,
              rnnc_shape_str(&got->shape, a, sizeof a), rnnc_shape_str(&want->shape, b, sizeof b));
    for (size_t i = 0; i < want->numel; i++) {
        double g = rnnc_tensor_get(got, i), y = rnnc_tensor_get(want, i);
        cr_assert(fabs(g - y) <= 1e-5 + 1e-5 * fabs(y), "%s: index %zu: got %.9g, expected %.9g", what, i, g, y);
    }
}

static rnnc_model *load_json_model(const char *json)
{
    rnnc_model *m = NULL;
    cr_assert_eq(rnnc_model_load(json, &m), RNNC_OK, "%s: %s", json, rnnc_last_error());
    return m;
}

/* Keras's weights + Keras's JSON -> Keras's predictions. */
static void check_keras_case(const char *name)
{
    char json[512], weights[512], io[512];
    snprintf(json, sizeof json, RT "/%s.json", name);
    snprintf(weights, sizeof weights, RT "/%s.weights.h5", name);
    snprintf(io, sizeof io, RT "/%s_io.h5", name);
    rnnc_model *m = load_json_model(json);
    cr_assert_eq(rnnc_model_load_weights(m, weights), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x = read_fixture(io, "x", RNNC_F32), *y = read_fixture(io, "y", RNNC_F32);
    rnnc_tensor *got = predict(m, x);
    expect_close(got, y, name);
    rnnc_tensor_destroy(got);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
}

Test(weights_h5, keras_written_weights_reproduce_keras_predictions)
{
    check_keras_case("seq_gru");
    check_keras_case("two_gru");
    check_keras_case("func_chain");
}

/* ---- structure of a file, for comparing rnnc's with Keras's ---- */

typedef struct listing {
    char **lines;
    int n, cap;
} listing;

static void listing_add(listing *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->lines = realloc(l->lines, (size_t)l->cap * sizeof *l->lines);
    }
    l->lines[l->n++] = strdup(s);
}

static char *name_attr(hid_t obj)
{
    if (H5Aexists(obj, "name") <= 0)
        return strdup("-");
    hid_t a = H5Aopen(obj, "name", H5P_DEFAULT), t = H5Aget_type(a);
    char *v = NULL, *out;
    cr_assert(H5Tis_variable_str(t) > 0, "name attributes are variable-length strings in Keras files");
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    H5Aread(a, mt, &v);
    out = strdup(v);
    H5free_memory(v);
    H5Tclose(mt);
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

static herr_t visit(hid_t root, const char *name, const H5O_info_t *info, void *data)
{
    listing *l = data;
    char line[1024];
    if (info->type == H5O_TYPE_GROUP) {
        hid_t g = H5Oopen(root, name, H5P_DEFAULT);
        char *n = name_attr(g);
        snprintf(line, sizeof line, "group %s name=%s", name, n);
        free(n);
        H5Oclose(g);
    } else if (info->type == H5O_TYPE_DATASET) {
        hid_t d = H5Dopen2(root, name, H5P_DEFAULT), t = H5Dget_type(d), s = H5Dget_space(d);
        hsize_t dims[8] = {0};
        int nd = H5Sget_simple_extent_ndims(s);
        H5Sget_simple_extent_dims(s, dims, NULL);
        int used = snprintf(line, sizeof line, "dataset %s class=%d size=%zu dims=", name, (int)H5Tget_class(t),
                            H5Tget_size(t));
        for (int i = 0; i < nd; i++)
            used += snprintf(line + used, sizeof line - (size_t)used, "%llu,", (unsigned long long)dims[i]);
        H5Sclose(s);
        H5Tclose(t);
        H5Dclose(d);
    } else {
        return 0;
    }
    listing_add(l, line);
    return 0;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* skip: a path prefix left out (NULL: none). */
static listing list_file(const char *path, const char *skip)
{
    listing l = {0};
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0, "cannot open %s", path);
    cr_assert_geq(H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &l), 0);
    H5Fclose(f);
    int kept = 0;
    for (int i = 0; i < l.n; i++) {
        const char *p = strchr(l.lines[i], ' ') + 1;
        if (skip && strncmp(p, skip, strlen(skip)) == 0)
            free(l.lines[i]);
        else
            l.lines[kept++] = l.lines[i];
    }
    l.n = kept;
    qsort(l.lines, (size_t)l.n, sizeof *l.lines, cmp_line);
    return l;
}

static void listing_free(listing *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->lines[i]);
    free(l->lines);
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/test_weights_h5_%ld_%s", RNNC_BUILD_DIR, (long)getpid(), name);
}

/* The optimizer variables of Keras's file, as tensors of their shapes. */
static int keras_optimizer_vars(const char *path, rnnc_tensor **vars, int cap)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "optimizer/vars", H5P_DEFAULT);
    H5G_info_t info;
    H5Gget_info(g, &info);
    int n = (int)info.nlinks;
    cr_assert_leq(n, cap);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        hid_t d = H5Dopen2(g, name, H5P_DEFAULT), s = H5Dget_space(d), t = H5Dget_type(d);
        hsize_t dims[8] = {0};
        int nd = H5Sget_simple_extent_ndims(s);
        H5Sget_simple_extent_dims(s, dims, NULL);
        rnnc_shape sh = {.ndim = nd};
        for (int k = 0; k < nd; k++)
            sh.dim[k] = (int64_t)dims[k];
        rnnc_dtype dt = H5Tget_class(t) == H5T_INTEGER ? RNNC_I64 : RNNC_F32;
        cr_assert_eq(rnnc_tensor_create(dt, &sh, &vars[i]), RNNC_OK);
        H5Tclose(t);
        H5Sclose(s);
        H5Dclose(d);
    }
    H5Gclose(g);
    H5Fclose(f);
    return n;
}

/* skip: what Keras writes that an rnnc Sequential does not have (a
 * Functional model's InputLayer is in its layer list). */
static void check_layout(const char *name, const char *skip)
{
    char json[512], keras_file[512], ours[512];
    snprintf(json, sizeof json, RT "/%s.json", name);
    snprintf(keras_file, sizeof keras_file, RT "/%s.weights.h5", name);
    tmp_path(ours, sizeof ours, "layout.weights.h5");
    rnnc_model *m = load_json_model(json);
    cr_assert_eq(rnnc_model_load_weights(m, keras_file), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *opt[64] = {0};
    int n_opt = keras_optimizer_vars(keras_file, opt, 64);
    bool found;
    cr_assert_eq(rnnc_weights_load_optimizer(keras_file, opt, n_opt, &found), RNNC_OK, "%s", rnnc_last_error());
    cr_assert(found);
    /* The optimizer's name as Keras wrote it ("adam", "adam_1", ...). */
    hid_t f = H5Fopen(keras_file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "optimizer/vars", H5P_DEFAULT);
    char *opt_name = name_attr(g);
    H5Gclose(g);
    H5Fclose(f);
    cr_assert_eq(rnnc_weights_save(m, ours, (const rnnc_tensor *const *)opt, n_opt, opt_name), RNNC_OK, "%s",
                 rnnc_last_error());
    free(opt_name);
    listing a = list_file(keras_file, skip), b = list_file(ours, NULL);
    cr_expect_eq(a.n, b.n, "%s: Keras's file has %d objects, rnnc's %d", name, a.n, b.n);
    for (int i = 0; i < a.n && i < b.n; i++)
        cr_expect_str_eq(b.lines[i], a.lines[i], "%s: rnnc wrote '%s' where Keras has '%s'", name, b.lines[i],
                         a.lines[i]);
    listing_free(&a);
    listing_free(&b);
    for (int i = 0; i < n_opt; i++)
        rnnc_tensor_destroy(opt[i]);
    unlink(ours);
    rnnc_model_destroy(m);
}

Test(weights_h5, saved_layout_equals_keras_file)
{
    check_layout("seq_gru", NULL);
    check_layout("two_gru", NULL);
    check_layout("func_chain", "layers/input_layer");
}

Test(weights_h5, save_then_load_is_bit_exact)
{
    char path[512];
    tmp_path(path, sizeof path, "rt.weights.h5");
    rnnc_model *a = load_json_model(RT "/two_gru.json");
    rnnc_model *b = load_json_model(RT "/two_gru.json"); /* fresh, different weights */
    cr_assert_eq(rnnc_model_load_weights(a, RT "/two_gru.weights.h5"), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_weights_save(a, path, NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_weights_load(b, path), RNNC_OK, "%s", rnnc_last_error());
    rnnc_weight *wa[32], *wb[32];
    int na, nb;
    rnnc_model_weights(a, wa, 32, &na);
    rnnc_model_weights(b, wb, 32, &nb);
    cr_assert_eq(na, 8); /* kernel, recurrent_kernel, bias twice; Dense kernel, bias */
    cr_assert_eq(na, nb);
    for (int i = 0; i < na; i++) {
        cr_assert(rnnc_shape_eq(&wa[i]->value->shape, &wb[i]->value->shape));
        cr_assert_eq(memcmp(wa[i]->value->data, wb[i]->value->data, wa[i]->value->numel * sizeof(float)), 0,
                     "weight %d (%s) differs after the round trip", i, wa[i]->name);
    }
    unlink(path);
    rnnc_model_destroy(a);
    rnnc_model_destroy(b);
}

/* Keras: iteration 2 (8 samples, batch 4, one epoch), learning_rate
 * float32(0.001), then (m, v) per variable; "10" and "11" must be read
 * after "9", not after "1" (their shapes (1,) differ from var 2's). */
Test(weights_h5, optimizer_variables_are_read_by_index)
{
    rnnc_tensor *opt[64] = {0};
    int n = keras_optimizer_vars(RT "/seq_gru.weights.h5", opt, 64);
    cr_assert_eq(n, 12);
    bool found = false;
    cr_assert_eq(rnnc_weights_load_optimizer(RT "/seq_gru.weights.h5", opt, n, &found), RNNC_OK, "%s",
                 rnnc_last_error());
    cr_assert(found);
    cr_expect_eq(((int64_t *)opt[0]->data)[0], 2);
    cr_expect_eq(rnnc_f32(opt[1])[0], 0.001f);
    cr_expect_eq(opt[2]->shape.ndim, 2);
    cr_expect_eq(opt[2]->shape.dim[0], 8);
    cr_expect_eq(opt[10]->shape.ndim, 1);
    cr_expect_eq(opt[11]->shape.dim[0], 1);
    /* Written and read back: same values in the same slots. */
    char path[512];
    tmp_path(path, sizeof path, "opt.weights.h5");
    rnnc_model *m = load_json_model(RT "/seq_gru.json");
    cr_assert_eq(rnnc_weights_save(m, path, (const rnnc_tensor *const *)opt, n, "adam"), RNNC_OK, "%s",
                 rnnc_last_error());
    rnnc_tensor *back[64] = {0};
    for (int i = 0; i < n; i++)
        cr_assert_eq(rnnc_tensor_create(opt[i]->dtype, &opt[i]->shape, &back[i]), RNNC_OK);
    cr_assert_eq(rnnc_weights_load_optimizer(path, back, n, &found), RNNC_OK, "%s", rnnc_last_error());
    for (int i = 0; i < n; i++)
        cr_expect_eq(memcmp(back[i]->data, opt[i]->data, opt[i]->numel * rnnc_dtype_size(opt[i]->dtype)), 0,
                     "optimizer variable %d differs", i);
    /* A count mismatch is reported, not guessed around. */
    cr_expect_eq(rnnc_weights_load_optimizer(path, back, n - 1, &found), RNNC_E_SHAPE);
    cr_expect(strstr(rnnc_last_error(), "11") && strstr(rnnc_last_error(), "12"), "%s", rnnc_last_error());
    for (int i = 0; i < n; i++) {
        rnnc_tensor_destroy(opt[i]);
        rnnc_tensor_destroy(back[i]);
    }
    unlink(path);
    rnnc_model_destroy(m);
}

static void snapshot(rnnc_model *m, float **buf, size_t *len)
{
    rnnc_weight *w[32];
    int n;
    rnnc_model_weights(m, w, 32, &n);
    *len = 0;
    for (int i = 0; i < n; i++)
        *len += w[i]->value->numel;
    *buf = malloc(*len * sizeof(float));
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(*buf + at, w[i]->value->data, w[i]->value->numel * sizeof(float));
        at += w[i]->value->numel;
    }
}

Test(weights_h5, mismatched_file_names_dataset_and_both_shapes_and_changes_nothing)
{
    rnnc_model *m = load_json_model(RT "/seq_gru.json");
    float *before, *after;
    size_t n1, n2;
    snapshot(m, &before, &n1);
    /* two_gru's first GRU has kernel (3, 15); seq_gru's is (8, 12). */
    rnnc_status s = rnnc_model_load_weights(m, RT "/two_gru.weights.h5");
    cr_assert_eq(s, RNNC_E_SHAPE, "%s", rnnc_last_error());
    const char *e = rnnc_last_error();
    cr_expect(strstr(e, "/layers/gru/cell/vars/0"), "no dataset path in: %s", e);
    cr_expect(strstr(e, "(3, 15)") && strstr(e, "(8, 12)"), "no shapes in: %s", e);
    cr_expect(strstr(e, "two_gru.weights.h5"), "no file in: %s", e);
    snapshot(m, &after, &n2);
    cr_assert_eq(n1, n2);
    cr_expect_eq(memcmp(before, after, n1 * sizeof(float)), 0, "a failed load changed the weights");
    free(before);
    free(after);
    rnnc_model_destroy(m);
}

Test(weights_h5, a_later_failure_changes_nothing_either)
{
    /* The GRU loads fine from this file; the Dense group is then removed,
     * so the failure comes after the GRU's arrays were read. */
    char path[512];
    tmp_path(path, sizeof path, "nodense.weights.h5");
    rnnc_model *m = load_json_model(RT "/seq_gru.json");
    cr_assert_eq(rnnc_model_load_weights(m, RT "/seq_gru.weights.h5"), RNNC_OK, "%s", rnnc_last_error());
    cr_assert_eq(rnnc_weights_save(m, path, NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(H5Ldelete(f, "layers/dense", H5P_DEFAULT), 0);
    H5Fclose(f);
    rnnc_model *fresh = load_json_model(RT "/seq_gru.json");
    float *before, *after;
    size_t n1, n2;
    snapshot(fresh, &before, &n1);
    cr_assert_eq(rnnc_weights_load(fresh, path), RNNC_E_SHAPE);
    const char *e = rnnc_last_error();
    cr_expect(strstr(e, "layer 'dense'") && strstr(e, "expects 2 variables") && strstr(e, "missing"), "%s", e);
    snapshot(fresh, &after, &n2);
    cr_expect_eq(memcmp(before, after, n1 * sizeof(float)), 0, "a failed load changed the weights");
    free(before);
    free(after);
    unlink(path);
    rnnc_model_destroy(m);
    rnnc_model_destroy(fresh);
}

/* Keras's float32 file into a float64 model: converted on read. */
static void set_float64(rnnc_cfg *c)
{
    if (!c)
        return;
    if (c->type == RNNC_CFG_MAP)
        for (size_t i = 0; i < c->n; i++) {
            rnnc_cfg *v = c->items[i];
            if (strcmp(c->keys[i], "dtype") == 0 && v->type == RNNC_CFG_STRING && strcmp(v->v.s, "float32") == 0) {
                free(v->v.s);
                v->v.s = strdup("float64");
            } else if (strcmp(c->keys[i], "name") == 0 && v->type == RNNC_CFG_STRING &&
                       strcmp(v->v.s, "float32") == 0) {
                free(v->v.s); /* a DTypePolicy's config.name */
                v->v.s = strdup("float64");
            } else {
                set_float64(v);
            }
        }
    else if (c->type == RNNC_CFG_LIST)
        for (size_t i = 0; i < c->n; i++)
            set_float64(c->items[i]);
}

Test(weights_h5, float32_file_loads_into_a_float64_model)
{
    rnnc_cfg *cfg;
    cr_assert_eq(rnnc_spec_read_file(RT "/seq_gru.json", &cfg), RNNC_OK, "%s", rnnc_last_error());
    set_float64(cfg);
    rnnc_model *m;
    cr_assert_eq(rnnc_model_from_config(cfg, NULL, &m), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(cfg);
    cr_assert_eq(m->layers[0]->dtype, RNNC_F64);
    cr_assert_eq(rnnc_model_load_weights(m, RT "/seq_gru.weights.h5"), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *x = read_fixture(RT "/seq_gru_io.h5", "x", RNNC_F64);
    rnnc_tensor *y = read_fixture(RT "/seq_gru_io.h5", "y", RNNC_F64);
    rnnc_tensor *got = predict(m, x);
    cr_assert_eq(got->dtype, RNNC_F64);
    expect_close(got, y, "float64 model");
    rnnc_tensor_destroy(got);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(y);
    rnnc_model_destroy(m);
}

static int count_tmp_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".tmp"))
            n++;
    if (d)
        closedir(d);
    return n;
}

Test(weights_h5, a_failed_save_leaves_the_old_file_and_no_temporary)
{
    char path[512], prefix[128];
    tmp_path(path, sizeof path, "keep.weights.h5");
    snprintf(prefix, sizeof prefix, "test_weights_h5_%ld_keep", (long)getpid());
    FILE *fp = fopen(path, "wb");
    fputs("previous contents", fp);
    fclose(fp);
    /* An unbuilt model has nothing to save. */
    rnnc_cfg *c;
    cr_assert_eq(rnnc_spec_read_string("{class_name: Dense, config: {units: 3}}", 39, "t", &c), RNNC_OK, "%s",
                 rnnc_last_error());
    rnnc_model *d;
    cr_assert_eq(rnnc_model_from_config(c, NULL, &d), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(c);
    cr_expect_eq(rnnc_weights_save(d, path, NULL, 0, NULL), RNNC_E_STATE);
    /* An optimizer variable that is NULL. */
    rnnc_model *ok = load_json_model(RT "/seq_gru.json");
    const rnnc_tensor *bad[1] = {NULL};
    cr_expect_eq(rnnc_weights_save(ok, path, bad, 1, "adam"), RNNC_E_ARG);
    char buf[64] = {0};
    fp = fopen(path, "rb");
    cr_assert(fp);
    cr_expect_eq(fread(buf, 1, sizeof buf - 1, fp), strlen("previous contents"));
    fclose(fp);
    cr_expect_str_eq(buf, "previous contents");
    cr_expect_eq(count_tmp_files(RNNC_BUILD_DIR, prefix), 0, "a temporary file was left behind");
    /* A missing directory: an I/O error naming the path, nothing created. */
    cr_expect_eq(rnnc_weights_save(ok, RNNC_BUILD_DIR "/no/such/dir/x.weights.h5", NULL, 0, NULL), RNNC_E_IO);
    cr_expect(strstr(rnnc_last_error(), "no/such/dir"), "%s", rnnc_last_error());
    /* And a successful save replaces it. */
    cr_assert_eq(rnnc_weights_save(ok, path, NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_model *back = load_json_model(RT "/seq_gru.json");
    cr_expect_eq(rnnc_weights_load(back, path), RNNC_OK, "%s", rnnc_last_error());
    cr_expect_eq(count_tmp_files(RNNC_BUILD_DIR, prefix), 0);
    unlink(path);
    rnnc_model_destroy(d);
    rnnc_model_destroy(ok);
    rnnc_model_destroy(back);
}

/* Writes dir/model.json (rnnc's get_config JSON), dir/model.weights.h5 and
 * dir/io.h5 (x and rnnc's predictions y_rnnc), then checks they load back. */
static void write_for_keras(rnnc_model *m, rnnc_tensor *x, const char *dir)
{
    char p[512];
    mkdir(dir, 0777);
    rnnc_cfg *cfg;
    cr_assert_eq(rnnc_model_serialize(m, &cfg), RNNC_OK, "%s", rnnc_last_error());
    snprintf(p, sizeof p, "%s/model.json", dir);
    cr_assert_eq(rnnc_json_write_file(cfg, -1, p), RNNC_OK, "%s", rnnc_last_error());
    rnnc_cfg_destroy(cfg);
    snprintf(p, sizeof p, "%s/model.weights.h5", dir);
    cr_assert_eq(rnnc_weights_save(m, p, NULL, 0, NULL), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *y = predict(m, x);
    snprintf(p, sizeof p, "%s/io.h5", dir);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    const rnnc_tensor *ts[2] = {x, y};
    const char *names[2] = {"x", "y_rnnc"};
    for (int i = 0; i < 2; i++) {
        hsize_t dims[8];
        for (int k = 0; k < ts[i]->shape.ndim; k++)
            dims[k] = (hsize_t)ts[i]->shape.dim[k];
        hid_t sp = H5Screate_simple(ts[i]->shape.ndim, dims, NULL);
        hid_t ds = H5Dcreate2(f, names[i], H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        cr_assert_geq(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ts[i]->data), 0);
        H5Dclose(ds);
        H5Sclose(sp);
    }
    H5Fclose(f);
    /* The written pair loads back into rnnc with the same predictions. */
    snprintf(p, sizeof p, "%s/model.json", dir);
    rnnc_model *back = load_json_model(p);
    snprintf(p, sizeof p, "%s/model.weights.h5", dir);
    cr_assert_eq(rnnc_model_load_weights(back, p), RNNC_OK, "%s", rnnc_last_error());
    rnnc_tensor *y2 = predict(back, x);
    expect_close(y2, y, dir);
    rnnc_tensor_destroy(y);
    rnnc_tensor_destroy(y2);
    rnnc_model_destroy(back);
}

/* rnnc -> Keras. Writes build/rnnc_to_keras/ (two_gru with rnnc's own
 * initial weights) and build/rnnc_to_keras_bidi/ (the interop sleepecg
 * model as rnnc saves it after loading its .keras file), for
 *   python3 tests/gen_keras_roundtrip.py verify build/rnnc_to_keras[_bidi]
 * (run by hand; the results are committed in fixtures/roundtrip/). */
Test(weights_h5, writes_models_for_keras)
{
    rnnc_model *m = load_json_model(RT "/two_gru.json");
    rnnc_tensor *x = read_fixture(RT "/two_gru_io.h5", "x", RNNC_F32);
    write_for_keras(m, x, RNNC_BUILD_DIR "/rnnc_to_keras");
    rnnc_tensor_destroy(x);
    rnnc_model_destroy(m);
    const char *sleep = RNNC_SHARED "/interop/sleepecg-ws-gru-mesa";
    struct stat st;
    if (stat(sleep, &st) != 0)
        return;
    m = NULL;
    cr_assert_eq(rnnc_model_load(RNNC_SHARED "/interop/sleepecg-ws-gru-mesa/classifier.keras", &m), RNNC_OK, "%s",
                 rnnc_last_error());
    x = read_fixture(RNNC_SHARED "/interop/sleepecg-ws-gru-mesa/input.h5", "x", RNNC_F32);
    write_for_keras(m, x, RNNC_BUILD_DIR "/rnnc_to_keras_bidi");
    rnnc_tensor_destroy(x);
    rnnc_model_destroy(m);
}

/* The committed results of that check: Keras 3.15.1 built rnnc's JSON
 * with model_from_json, loaded rnnc's weights file with load_weights, and
 * its predictions (keras_output.h5) are what rnnc computes from the same
 * files. rnnc_to_keras: two_gru with rnnc's initial weights;
 * rnnc_to_keras_bidi: the interop sleepecg model (Masking, BatchNormalization,
 * Dense, ReLU, 2 x Bidirectional(GRU), Dense) as rnnc saves it after loading
 * it from its .keras file. */
static void check_keras_verdict(const char *dir)
{
    char p[512];
    rnnc_model *m;
    snprintf(p, sizeof p, "%s/model.json", dir);
    m = load_json_model(p);
    snprintf(p, sizeof p, "%s/model.weights.h5", dir);
    cr_assert_eq(rnnc_model_load_weights(m, p), RNNC_OK, "%s", rnnc_last_error());
    snprintf(p, sizeof p, "%s/io.h5", dir);
    rnnc_tensor *x = read_fixture(p, "x", RNNC_F32);
    snprintf(p, sizeof p, "%s/keras_output.h5", dir);
    rnnc_tensor *yk = read_fixture(p, "y_keras", RNNC_F32);
    rnnc_tensor *got = predict(m, x);
    expect_close(got, yk, dir);
    rnnc_cfg *v;
    snprintf(p, sizeof p, "%s/verdict.json", dir);
    cr_assert_eq(rnnc_spec_read_file(p, &v), RNNC_OK, "%s", rnnc_last_error());
    bool ok = false;
    cr_assert_eq(rnnc_cfg_read_bool(v, "verdict", "ok", false, &ok), RNNC_OK);
    cr_expect(ok, "%s: Keras's verdict on rnnc's files is not ok", dir);
    rnnc_cfg_destroy(v);
    rnnc_tensor_destroy(got);
    rnnc_tensor_destroy(x);
    rnnc_tensor_destroy(yk);
    rnnc_model_destroy(m);
}

Test(weights_h5, keras_loaded_what_rnnc_wrote)
{
    check_keras_verdict(RT "/rnnc_to_keras");
    check_keras_verdict(RT "/rnnc_to_keras_bidi");
}
