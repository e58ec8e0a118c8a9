/* legacy_h5.c - legacy Keras .h5 files: root attributes and loading
 * weights by topology through layer_names / weight_names. */
#include "io/legacy_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5_util.h"
#include "layers/lstm.h"

#define MAX_W 64

void rnnc_legacy_info_free(rnnc_legacy_info *info)
{
    if (!info)
        return;
    free(info->model_config);
    free(info->keras_version);
    free(info->backend);
    info->model_config = info->keras_version = info->backend = NULL;
}

static bool has_attr_or_chunks(hid_t obj, const char *name)
{
    char key[128];
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    snprintf(key, sizeof key, "%s0", name);
    bool yes = H5Aexists(obj, name) > 0 || H5Aexists(obj, key) > 0;
    rnnc_h5_quiet_end(&q);
    return yes;
}

bool rnnc_legacy_has_model_config(hid_t file) { return has_attr_or_chunks(file, "model_config"); }

bool rnnc_legacy_has_weights(hid_t file)
{
    return has_attr_or_chunks(file, "layer_names") || rnnc_h5_exists(file, "model_weights");
}

rnnc_status rnnc_legacy_read_info(hid_t file, const char *label, rnnc_legacy_info *info)
{
    bool found;
    memset(info, 0, sizeof *info);
    rnnc_status s = rnnc_h5_attr_string(file, "model_config", label, &found, &info->model_config);
    if (s == RNNC_OK)
        s = rnnc_h5_attr_string(file, "keras_version", label, &found, &info->keras_version);
    if (s == RNNC_OK)
        s = rnnc_h5_attr_string(file, "backend", label, &found, &info->backend);
    if (s == RNNC_OK && !info->keras_version && rnnc_h5_exists(file, "model_weights")) {
        hid_t g;
        s = rnnc_h5_group_open(file, "model_weights", label, &g);
        if (s == RNNC_OK) {
            s = rnnc_h5_attr_string(g, "keras_version", label, &found, &info->keras_version);
            if (s == RNNC_OK && !info->backend)
                s = rnnc_h5_attr_string(g, "backend", label, &found, &info->backend);
            H5Oclose(g);
        }
    }
    if (s != RNNC_OK)
        rnnc_legacy_info_free(info);
    return s;
}

/* One file layer that has weights. */
typedef struct file_layer {
    char *name;
    char **weight_names;
    size_t n_weights;
} file_layer;

static void file_layers_free(file_layer *fl, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(fl[i].name);
        rnnc_h5_strings_free(fl[i].weight_names, fl[i].n_weights);
    }
    free(fl);
}

/* The layers of the weights group that have weights, in layer_names order. */
static rnnc_status read_file_layers(hid_t wg, const char *label, file_layer **out, size_t *n_out)
{
    char **names = NULL;
    size_t n = 0, kept = 0;
    char p[1200];
    *out = NULL;
    *n_out = 0;
    RNNC_TRY(rnnc_h5_attr_strings(wg, "layer_names", label, NULL, &names, &n));
    file_layer *fl = calloc(n ? n : 1, sizeof *fl);
    if (!fl) {
        rnnc_h5_strings_free(names, n);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    rnnc_status s = RNNC_OK;
    for (size_t i = 0; i < n && s == RNNC_OK; i++) {
        hid_t g;
        if (!names[i][0] || !rnnc_h5_exists(wg, names[i])) {
            s = rnnc_fail(RNNC_E_FORMAT, "'%s': layer '%s' is listed in layer_names but group '%s' is missing",
                          label, names[i], rnnc_h5_path(wg, names[i], p, sizeof p));
            break;
        }
        if ((s = rnnc_h5_group_open(wg, names[i], label, &g)) != RNNC_OK)
            break;
        char **wn = NULL;
        size_t nw = 0;
        bool found = false;
        s = rnnc_h5_attr_strings(g, "weight_names", label, &found, &wn, &nw);
        H5Oclose(g);
        if (s != RNNC_OK)
            break;
        if (nw == 0) {
            rnnc_h5_strings_free(wn, nw);
            continue;
        }
        fl[kept].name = names[i];
        names[i] = NULL;
        fl[kept].weight_names = wn;
        fl[kept++].n_weights = nw;
    }
    rnnc_h5_strings_free(names, n);
    if (s != RNNC_OK) {
        file_layers_free(fl, kept);
        return s;
    }
    *out = fl;
    *n_out = kept;
    return RNNC_OK;
}

static void join_names(char *buf, size_t cap, const char *const *names, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names[i]);
}

/* Whether l is an LSTM or wraps one (Bidirectional, TimeDistributed). */
static bool has_lstm(const rnnc_layer *l)
{
    if (rnnc_layer_is_lstm(l))
        return true;
    for (int i = 0; i < l->n_children; i++)
        if (has_lstm(l->children[i]))
            return true;
    return false;
}

/* Keras 2's CuDNNLSTM stores the bias as (8U,): input biases, then
 * recurrent ones; the LSTM's (4U,) bias is their sum (Keras 2's own
 * conversion). Reads `rel` into dst (4U,) that way when the file holds
 * twice dst's size for an LSTM "bias"; *done = false (nothing read) when
 * it does not apply. */
static rnnc_status read_cudnn_bias(hid_t g, const char *rel, const char *label,
                                   const rnnc_layer *l, const rnnc_weight *w, rnnc_tensor *dst,
                                   bool *done)
{
    *done = false;
    if (strcmp(w->name, "bias") != 0 || dst->shape.ndim != 1 || !has_lstm(l))
        return RNNC_OK;
    hid_t d = H5Dopen2(g, rel, H5P_DEFAULT);
    if (d < 0)
        return RNNC_OK; /* the normal read reports it */
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    const int nd = sp < 0 ? -1 : H5Sget_simple_extent_dims(sp, dims, NULL);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    if (nd != 1 || dims[0] != 2 * (hsize_t)dst->numel)
        return RNNC_OK;
    rnnc_tensor *t;
    RNNC_TRY(rnnc_h5_read_tensor(g, rel, label, dst->dtype, false, &t));
    const size_t n = dst->numel;
    for (size_t i = 0; i < n; i++)
        rnnc_tensor_set(dst, i, rnnc_tensor_get(t, i) + rnnc_tensor_get(t, n + i));
    rnnc_tensor_destroy(t);
    *done = true;
    return RNNC_OK;
}

static rnnc_status load_from_group(rnnc_model *m, hid_t wg, const char *label)
{
    file_layer *fl = NULL;
    size_t nfl = 0;
    char list_a[1024], list_b[1024];
    RNNC_TRY(read_file_layers(wg, label, &fl, &nfl));
    /* The model's layers that have weights. */
    rnnc_layer **ml = calloc(m->n_layers ? (size_t)m->n_layers : 1, sizeof *ml);
    if (!ml) {
        file_layers_free(fl, nfl);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    size_t nml = 0;
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_weight *w[MAX_W];
        int k = 0;
        rnnc_layer_weights(m->layers[i], w, MAX_W, &k);
        if (k > 0)
            ml[nml++] = m->layers[i];
    }
    rnnc_status s = RNNC_OK;
    rnnc_tensor **tmp = NULL;
    rnnc_tensor **dst = NULL;
    size_t n_tmp = 0;
    if (nml != nfl) {
        const char *a[256] = {0}, *b[256] = {0};
        for (size_t i = 0; i < nfl && i < 256; i++)
            a[i] = fl[i].name;
        for (size_t i = 0; i < nml && i < 256; i++)
            b[i] = ml[i]->name;
        join_names(list_a, sizeof list_a, a, nfl < 256 ? nfl : 256);
        join_names(list_b, sizeof list_b, b, nml < 256 ? nml : 256);
        s = rnnc_fail(RNNC_E_SHAPE, "'%s' holds weights for %zu layer%s [%s] but model '%s' has %zu layer%s with weights [%s]",
                      label, nfl, nfl == 1 ? "" : "s", list_a, m->name, nml, nml == 1 ? "" : "s",
                      list_b);
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < nfl; i++)
        total += fl[i].n_weights;
    tmp = calloc(total ? total : 1, sizeof *tmp);
    dst = calloc(total ? total : 1, sizeof *dst);
    if (!tmp || !dst) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nfl && s == RNNC_OK; i++) {
        rnnc_weight *w[MAX_W];
        int k = 0;
        rnnc_layer_weights(ml[i], w, MAX_W, &k);
        if (k > MAX_W) {
            s = rnnc_fail(RNNC_E_ARG, "layer '%s' has %d weights (at most %d supported)", ml[i]->name, k, MAX_W);
            break;
        }
        if ((size_t)k != fl[i].n_weights) {
            const char *b[MAX_W] = {0};
            for (int j = 0; j < k; j++)
                b[j] = w[j]->name;
            join_names(list_a, sizeof list_a, (const char *const *)fl[i].weight_names, fl[i].n_weights);
            join_names(list_b, sizeof list_b, b, (size_t)k);
            s = rnnc_fail(RNNC_E_SHAPE, "'%s': layer '%s' (%s) expects %d weights [%s] but the file's layer '%s' has %zu [%s]",
                          label, ml[i]->name, ml[i]->cls->class_name, k, list_b, fl[i].name,
                          fl[i].n_weights, list_a);
            break;
        }
        hid_t g;
        if ((s = rnnc_h5_group_open(wg, fl[i].name, label, &g)) != RNNC_OK)
            break;
        for (int j = 0; j < k && s == RNNC_OK; j++) {
            rnnc_tensor *t;
            if ((s = rnnc_tensor_create(w[j]->value->dtype, &w[j]->value->shape, &t)) != RNNC_OK)
                break;
            bool cudnn = false;
            rnnc_h5_quiet q;
            rnnc_h5_quiet_begin(&q);
            s = read_cudnn_bias(g, fl[i].weight_names[j], label, ml[i], w[j], t, &cudnn);
            rnnc_h5_quiet_end(&q);
            if (s == RNNC_OK && !cudnn)
                s = rnnc_h5_read_into(g, fl[i].weight_names[j], label, t);
            if (s != RNNC_OK) {
                rnnc_tensor_destroy(t);
                rnnc_fail_context(s, "layer '%s' (%s), weight '%s': ", ml[i]->name,
                                  ml[i]->cls->class_name, w[j]->name);
                break;
            }
            tmp[n_tmp] = t;
            dst[n_tmp++] = w[j]->value;
        }
        H5Oclose(g);
    }
    /* Everything was read and checked: now assign. */
    for (size_t i = 0; i < n_tmp && s == RNNC_OK; i++)
        s = rnnc_tensor_copy(dst[i], tmp[i]);
done:
    for (size_t i = 0; i < n_tmp; i++)
        rnnc_tensor_destroy(tmp[i]);
    free(tmp);
    free(dst);
    free(ml);
    file_layers_free(fl, nfl);
    return s;
}

rnnc_status rnnc_legacy_load_weights_h5(rnnc_model *m, hid_t file, const char *label)
{
    if (!m || file < 0)
        return rnnc_fail(RNNC_E_ARG, "rnnc_legacy_load_weights: needs a model and an open file");
    if (!m->built) {
        bool all = m->n_layers > 0;
        for (int i = 0; i < m->n_layers; i++)
            all = all && m->layers[i]->built;
        if (!all) {
            if (!m->has_input)
                return rnnc_fail(RNNC_E_STATE, "%s: model '%s' is not built and has no input shape; build it (or call it once) before loading weights",
                                 label, m->name);
            rnnc_status s = rnnc_model_build(m, &m->input_shape);
            if (s != RNNC_OK)
                return rnnc_fail_context(s, "%s: building model '%s': ", label, m->name);
        }
    }
    /* Keras: the root if it lists layer_names, else model_weights. */
    if (has_attr_or_chunks(file, "layer_names"))
        return load_from_group(m, file, label);
    if (!rnnc_h5_exists(file, "model_weights"))
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is not a legacy Keras weights file (no layer_names attribute and no '/model_weights' group)",
                         label);
    hid_t g;
    RNNC_TRY(rnnc_h5_group_open(file, "model_weights", label, &g));
    rnnc_status s = load_from_group(m, g, label);
    H5Oclose(g);
    return s;
}

rnnc_status rnnc_legacy_load_weights(rnnc_model *m, const char *path)
{
    hid_t f;
    if (!m || !path)
        return rnnc_fail(RNNC_E_ARG, "rnnc_legacy_load_weights: needs a model and a path");
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    rnnc_status s = rnnc_legacy_load_weights_h5(m, f, path);
    rnnc_h5_close(f);
    return s;
}
