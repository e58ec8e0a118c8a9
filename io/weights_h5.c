/* weights_h5.c - Keras 3 .weights.h5 save and load (spec 11.1): the layer
 * walk that names groups by snake_case class name, per-object vars groups,
 * the optimizer group, and check-everything-then-assign loading. */
#include "io/weights_h5_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5_util.h"

#define MAX_PATH 1024

/* ---- naming ---- */

/* Keras's container naming: snake_case class name, then _1, _2, ... for
 * repeats, in list order. keys[i] receives layer i's key. */
static rnnc_status layer_keys(const rnnc_model *m, char (*keys)[128])
{
    for (int i = 0; i < m->n_layers; i++) {
        char base[128];
        rnnc_snake_case(m->layers[i]->cls->class_name, base, sizeof base);
        int seen = 0;
        for (int j = 0; j < i; j++) {
            char other[128];
            rnnc_snake_case(m->layers[j]->cls->class_name, other, sizeof other);
            if (strcmp(other, base) == 0)
                seen++;
        }
        if (seen)
            snprintf(keys[i], 128, "%.100s_%d", base, seen);
        else
            snprintf(keys[i], 128, "%s", base);
    }
    return RNNC_OK;
}

/* A layer's own weights in Keras's saved order: trainable (as created)
 * first, then non-trainable, each in creation order. */
static int own_weights(const rnnc_layer *l, rnnc_weight **out)
{
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < l->n_weights; i++)
            if (l->weights[i].trainable == (pass == 0))
                out[n++] = &l->weights[i];
    return n;
}

static rnnc_status ensure_built(rnnc_model *m, const char *what)
{
    if (m->built)
        return RNNC_OK;
    bool all = m->n_layers > 0;
    for (int i = 0; i < m->n_layers; i++)
        all = all && m->layers[i]->built;
    if (all)
        return RNNC_OK;
    if (!m->has_input)
        return rnnc_fail(RNNC_E_STATE, "%s: model '%s' is not built and has no input shape; build it (or call it once) before loading weights",
                         what, m->name);
    rnnc_status s = rnnc_model_build(m, &m->input_shape);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s: building model '%s': ", what, m->name);
    return RNNC_OK;
}

/* ---- save ---- */

/* Closes a group made here (exactly once); a failing close fails a save
 * that was going well. */
static rnnc_status close_group(hid_t g, rnnc_status s, const char *path)
{
    char p[MAX_PATH];
    rnnc_h5_path(g, "", p, sizeof p);
    rnnc_h5_quiet q;
    rnnc_h5_quiet_begin(&q);
    herr_t e = H5Gclose(g);
    rnnc_h5_quiet_end(&q);
    if (e < 0 && s == RNNC_OK)
        return rnnc_fail(RNNC_E_IO, "'%s': closing group '%s' failed", path, p);
    return s;
}

/* Writes <grp>/vars with the object's name and its tensors. */
static rnnc_status save_vars(hid_t grp, const char *obj_name, const rnnc_tensor *const *t, int n,
                             const char *path)
{
    char key[32];
    hid_t vars;
    RNNC_TRY(rnnc_h5_group_create(grp, "vars", path, &vars));
    rnnc_status s = rnnc_h5_attr_write_string(vars, "name", obj_name, path);
    for (int i = 0; i < n && s == RNNC_OK; i++) {
        snprintf(key, sizeof key, "%d", i);
        s = rnnc_h5_write_tensor(vars, key, t[i], path);
    }
    return close_group(vars, s, path);
}

static rnnc_status save_layer(hid_t grp, const rnnc_layer *l, const char *path)
{
    rnnc_weight *w[64];
    const rnnc_tensor *t[64];
    if (l->n_weights > 64)
        return rnnc_fail(RNNC_E_ARG, "'%s': layer '%s' has %d weights (at most 64 supported)", path,
                         l->name, l->n_weights);
    int n = own_weights(l, w);
    for (int i = 0; i < n; i++)
        t[i] = w[i]->value;
    RNNC_TRY(save_vars(grp, l->name, t, n, path));
    for (int c = 0; c < l->n_children; c++) {
        /* a child key with a path (StackedRNNCells' "cells/lstm_cell", as
         * Keras's saver names list items) makes the groups on the way */
        hid_t sub;
        RNNC_TRY(rnnc_h5_group_create(grp, l->child_keys[c], path, &sub));
        RNNC_TRY(close_group(sub, save_layer(sub, l->children[c], path), path));
    }
    return RNNC_OK;
}

static rnnc_status save_all(hid_t f, const rnnc_model *m, const char *path,
                            const rnnc_tensor *const *opt_vars, int n_opt, const char *opt_name)
{
    char (*keys)[128] = calloc(m->n_layers ? (size_t)m->n_layers : 1, sizeof *keys);
    if (!keys)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = layer_keys(m, keys);
    hid_t layers = -1;
    if (s == RNNC_OK)
        s = rnnc_h5_group_create(f, "layers", path, &layers);
    for (int i = 0; i < m->n_layers && s == RNNC_OK; i++) {
        hid_t g;
        if ((s = rnnc_h5_group_create(layers, keys[i], path, &g)))
            break;
        s = close_group(g, save_layer(g, m->layers[i], path), path);
    }
    if (layers >= 0)
        s = close_group(layers, s, path);
    free(keys);
    if (s == RNNC_OK && n_opt > 0) {
        hid_t og;
        RNNC_TRY(rnnc_h5_group_create(f, "optimizer", path, &og));
        s = close_group(og, save_vars(og, opt_name ? opt_name : "optimizer", opt_vars, n_opt, path), path);
    }
    if (s == RNNC_OK)
        s = save_vars(f, m->name, NULL, 0, path);
    return s;
}

rnnc_status rnnc_weights_save_h5(hid_t file, const rnnc_model *m, const char *path,
                                 const rnnc_tensor *const *opt_vars, int n_opt,
                                 const char *opt_name)
{
    if (!m || !path)
        return rnnc_fail(RNNC_E_ARG, "rnnc_weights_save: needs a model and a path");
    if (n_opt < 0 || (n_opt > 0 && !opt_vars))
        return rnnc_fail(RNNC_E_ARG, "'%s': optimizer variables: bad count %d", path, n_opt);
    for (int i = 0; i < n_opt; i++)
        if (!opt_vars[i])
            return rnnc_fail(RNNC_E_ARG, "'%s': optimizer variable %d is NULL", path, i);
    for (int i = 0; i < m->n_layers; i++)
        if (!m->layers[i]->built)
            return rnnc_fail(RNNC_E_STATE, "'%s': layer '%s' of model '%s' is not built: it has no weights to save yet",
                             path, m->layers[i]->name, m->name);
    return save_all(file, m, path, opt_vars, n_opt, opt_name);
}

rnnc_status rnnc_weights_save(const rnnc_model *m, const char *path,
                              const rnnc_tensor *const *opt_vars, int n_opt,
                              const char *opt_name)
{
    if (!m || !path)
        return rnnc_fail(RNNC_E_ARG, "rnnc_weights_save: needs a model and a path");
    rnnc_h5_writer w;
    RNNC_TRY(rnnc_h5_writer_begin(path, &w));
    rnnc_status s = rnnc_weights_save_h5(w.file, m, path, opt_vars, n_opt, opt_name);
    if (s != RNNC_OK) {
        rnnc_h5_writer_discard(&w);
        return s;
    }
    return rnnc_h5_writer_commit(&w);
}

/* ---- load ---- */

/* Weights to assign once everything has been read. */
typedef struct pending {
    rnnc_tensor *dst;  /* the weight (owned by its layer) */
    rnnc_tensor *tmp;  /* the value read (owned here) */
} pending;

typedef struct loader {
    hid_t file;
    const char *label;
    pending *items;
    int n, cap;
} loader;

static void loader_free(loader *ld)
{
    for (int i = 0; i < ld->n; i++)
        rnnc_tensor_destroy(ld->items[i].tmp);
    free(ld->items);
}

static rnnc_status loader_push(loader *ld, rnnc_tensor *dst, rnnc_tensor *tmp)
{
    if (ld->n == ld->cap) {
        int nc = ld->cap ? 2 * ld->cap : 16;
        pending *p = realloc(ld->items, (size_t)nc * sizeof *p);
        if (!p) {
            rnnc_tensor_destroy(tmp);
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        }
        ld->items = p;
        ld->cap = nc;
    }
    ld->items[ld->n].dst = dst;
    ld->items[ld->n++].tmp = tmp;
    return RNNC_OK;
}

/* Checks <obj>/vars holds exactly n datasets "0".."n-1" of the given
 * shapes and reads them. `who` describes the object for messages. */
static rnnc_status load_vars(loader *ld, const char *obj, rnnc_tensor *const *dst,
                             const char *const *names, int n, const char *who)
{
    char vars_path[MAX_PATH], ds[MAX_PATH + 16], expected[512] = "";
    snprintf(vars_path, sizeof vars_path, "%s/vars", obj);
    size_t found = 0;
    if (rnnc_h5_exists(ld->file, vars_path)) {
        hid_t g;
        RNNC_TRY(rnnc_h5_group_open(ld->file, vars_path, ld->label, &g));
        rnnc_status s = rnnc_h5_group_count(g, ld->label, &found);
        H5Oclose(g);
        RNNC_TRY(s);
    }
    if (found != (size_t)n) {
        for (int i = 0; i < n; i++) {
            size_t len = strlen(expected);
            snprintf(expected + len, sizeof expected - len, "%s%s", i ? ", " : "", names[i]);
        }
        return rnnc_fail(RNNC_E_SHAPE, "'%s': %s expects %d variable%s [%s] in '%s', but the file has %zu%s",
                         ld->label, who, n, n == 1 ? "" : "s", expected, vars_path, found,
                         found == 0 && !rnnc_h5_exists(ld->file, vars_path) ? " (the group is missing)" : "");
    }
    for (int i = 0; i < n; i++) {
        snprintf(ds, sizeof ds, "%s/%d", vars_path, i);
        rnnc_tensor *tmp;
        RNNC_TRY(rnnc_tensor_create(dst[i]->dtype, &dst[i]->shape, &tmp));
        rnnc_status s = rnnc_h5_read_into(ld->file, ds, ld->label, tmp);
        if (s != RNNC_OK) {
            rnnc_tensor_destroy(tmp);
            return rnnc_fail_context(s, "%s, variable '%s': ", who, names[i]);
        }
        RNNC_TRY(loader_push(ld, dst[i], tmp));
    }
    return RNNC_OK;
}

static rnnc_status load_layer(loader *ld, const char *obj, const rnnc_layer *l)
{
    rnnc_weight *w[64];
    rnnc_tensor *dst[64];
    const char *names[64];
    char who[300], sub[MAX_PATH];
    if (l->n_weights > 64)
        return rnnc_fail(RNNC_E_ARG, "layer '%s' has %d weights (at most 64 supported)", l->name,
                         l->n_weights);
    int n = own_weights(l, w);
    for (int i = 0; i < n; i++) {
        dst[i] = w[i]->value;
        names[i] = w[i]->name;
    }
    snprintf(who, sizeof who, "layer '%s' (%s)", l->name, l->cls->class_name);
    RNNC_TRY(load_vars(ld, obj, dst, names, n, who));
    for (int c = 0; c < l->n_children; c++) {
        int len = snprintf(sub, sizeof sub, "%s/%s", obj, l->child_keys[c]);
        if (len < 0 || (size_t)len >= sizeof sub)
            return rnnc_fail(RNNC_E_ARG, "layer '%s': path too long", l->name);
        RNNC_TRY(load_layer(ld, sub, l->children[c]));
    }
    return RNNC_OK;
}

bool rnnc_weights_h5_is_keras3(hid_t file)
{
    return rnnc_h5_exists(file, "layers") || rnnc_h5_exists(file, "_layer_checkpoint_dependencies") ||
           rnnc_h5_exists(file, "vars");
}

rnnc_status rnnc_weights_load_h5(rnnc_model *m, hid_t file, const char *label)
{
    if (!m || file < 0)
        return rnnc_fail(RNNC_E_ARG, "rnnc_weights_load: needs a model and an open file");
    RNNC_TRY(ensure_built(m, label));
    loader ld = {file, label, NULL, 0, 0};
    /* tf-keras's 2.13-era .keras files name the layer list differently. */
    const char *list = rnnc_h5_exists(file, "layers") ? "layers"
                       : rnnc_h5_exists(file, "_layer_checkpoint_dependencies") ? "_layer_checkpoint_dependencies"
                                                                               : "layers";
    char (*keys)[128] = calloc(m->n_layers ? (size_t)m->n_layers : 1, sizeof *keys);
    if (!keys)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = layer_keys(m, keys);
    char obj[MAX_PATH];
    for (int i = 0; i < m->n_layers && s == RNNC_OK; i++) {
        snprintf(obj, sizeof obj, "%s/%s", list, keys[i]);
        s = load_layer(&ld, obj, m->layers[i]);
    }
    free(keys);
    /* Everything was read and checked: now assign. */
    for (int i = 0; i < ld.n && s == RNNC_OK; i++)
        s = rnnc_tensor_copy(ld.items[i].dst, ld.items[i].tmp);
    loader_free(&ld);
    return s;
}

rnnc_status rnnc_weights_load(rnnc_model *m, const char *path)
{
    hid_t f;
    if (!m || !path)
        return rnnc_fail(RNNC_E_ARG, "rnnc_weights_load: needs a model and a path");
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    rnnc_status s;
    if (!rnnc_weights_h5_is_keras3(f))
        s = rnnc_fail(RNNC_E_FORMAT, "'%s' is not a Keras 3 weights file (no '/layers' or '/vars' group)", path);
    else
        s = rnnc_weights_load_h5(m, f, path);
    rnnc_h5_close(f);
    return s;
}

rnnc_status rnnc_weights_load_optimizer(const char *path, rnnc_tensor *const *vars, int n,
                                        bool *found)
{
    hid_t f;
    *found = false;
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    rnnc_status s = rnnc_weights_load_optimizer_h5(f, path, vars, n, found);
    rnnc_h5_close(f);
    return s;
}

rnnc_status rnnc_weights_load_optimizer_h5(hid_t f, const char *path, rnnc_tensor *const *vars, int n,
                                           bool *found)
{
    hid_t g = -1;
    char ds[64], a[160], b[160];
    *found = false;
    if (n < 0 || (n > 0 && !vars))
        return rnnc_fail(RNNC_E_ARG, "'%s': optimizer variables: bad count %d", path, n);
    rnnc_status s = RNNC_OK;
    rnnc_tensor **tmp = calloc(n ? (size_t)n : 1, sizeof *tmp);
    if (!tmp)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (!rnnc_h5_exists(f, "optimizer/vars"))
        goto done;
    *found = true;
    size_t count = 0;
    if ((s = rnnc_h5_group_open(f, "optimizer/vars", path, &g)) != RNNC_OK ||
        (s = rnnc_h5_group_count(g, path, &count)) != RNNC_OK)
        goto done;
    if (count != (size_t)n) {
        s = rnnc_fail(RNNC_E_SHAPE, "'%s': the optimizer expects %d variables but '/optimizer/vars' holds %zu",
                      path, n, count);
        goto done;
    }
    for (int i = 0; i < n && s == RNNC_OK; i++) {
        snprintf(ds, sizeof ds, "%d", i);
        s = rnnc_h5_read_tensor(g, ds, path, vars[i]->dtype, false, &tmp[i]);
        if (s == RNNC_OK && !rnnc_shape_eq(&tmp[i]->shape, &vars[i]->shape))
            s = rnnc_fail(RNNC_E_SHAPE, "'%s': dataset '/optimizer/vars/%d' has shape %s, expected %s",
                          path, i, rnnc_shape_str(&tmp[i]->shape, a, sizeof a),
                          rnnc_shape_str(&vars[i]->shape, b, sizeof b));
    }
    for (int i = 0; i < n && s == RNNC_OK; i++)
        memcpy(vars[i]->data, tmp[i]->data, vars[i]->numel * rnnc_dtype_size(vars[i]->dtype));
done:
    for (int i = 0; i < n; i++)
        rnnc_tensor_destroy(tmp[i]);
    free(tmp);
    if (g >= 0)
        H5Oclose(g);
    return s;
}
