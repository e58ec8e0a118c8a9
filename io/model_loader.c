/* model_loader.c - config trees (Sequential, Keras 2 Sequential, single
 * layer, chain-shaped Functional) to rnnc_model, Keras 2 fix-ups
 * (time_major, axis lists, hard_sigmoid), and file-type dispatch for
 * rnnc_model_load / rnnc_model_load_weights. */
#define _POSIX_C_SOURCE 200809L

#include "io/model_loader.h"
#include "io/functional_loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/checkpoint.h"
#include "io/h5_util.h"
#include "io/keras_archive.h"
#include "io/legacy_h5.h"
#include "io/spec_reader.h"
#include "io/weights_h5_internal.h"
#include "layers/activation.h"
#include "layers/dense.h"
#include "layers/gru_cell.h"
#include "layers/lstm_cell.h"
#include "layers/input_layer.h"
#include "layers/registry.h"

int rnnc_keras_version_major(const char *v)
{
    if (!v || v[0] < '0' || v[0] > '9')
        return 0;
    return atoi(v);
}

/* ---- Keras 2 fix-ups ---- */

static bool is_legacy_entry(const rnnc_cfg *entry)
{
    return entry && entry->type == RNNC_CFG_MAP && !rnnc_cfg_peek(entry, "module");
}

/* Keras 3's legacy path: drop time_major (Keras 3 itself fails on it; only
 * false is meaningful here), turn a one-element axis list into an int, and
 * do the same inside wrapped layers (Bidirectional, TimeDistributed). */
static rnnc_status legacy_fixups(rnnc_cfg *config, const char *class_name)
{
    char w[300];
    if (!config || config->type != RNNC_CFG_MAP)
        return RNNC_OK;
    const rnnc_cfg *tm = rnnc_cfg_peek(config, "time_major");
    if (tm) {
        if (tm->type == RNNC_CFG_BOOL && tm->v.b)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "%s: time_major=True (time-first inputs) is not supported%s",
                             class_name, rnnc_cfg_where(tm, w, sizeof w));
        rnnc_cfg_remove(config, "time_major");
    }
    const rnnc_cfg *axis = rnnc_cfg_peek(config, "axis");
    if (axis && axis->type == RNNC_CFG_LIST && axis->n == 1 && axis->items[0]->type == RNNC_CFG_INT)
        RNNC_TRY(rnnc_cfg_set_int(config, "axis", axis->items[0]->v.i));
    static const char *const nested[] = {"layer", "forward_layer", "backward_layer", "cell", NULL};
    for (int k = 0; nested[k]; k++) {
        rnnc_cfg *sub = NULL;
        for (size_t i = 0; i < config->n; i++)
            if (strcmp(config->keys[i], nested[k]) == 0)
                sub = config->items[i];
        if (!sub || !is_legacy_entry(sub))
            continue;
        const rnnc_cfg *cn = rnnc_cfg_peek(sub, "class_name");
        for (size_t i = 0; i < sub->n; i++)
            if (strcmp(sub->keys[i], "config") == 0)
                RNNC_TRY(legacy_fixups(sub->items[i],
                                       cn && cn->type == RNNC_CFG_STRING ? cn->v.s : nested[k]));
    }
    return RNNC_OK;
}

/* Number of activation / recurrent_activation keys equal to "hard_sigmoid". */
static int count_hard_sigmoid(const rnnc_cfg *c)
{
    int n = 0;
    if (!c)
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        const rnnc_cfg *it = c->items[i];
        if (c->type == RNNC_CFG_MAP && it->type == RNNC_CFG_STRING &&
            (strcmp(c->keys[i], "activation") == 0 || strcmp(c->keys[i], "recurrent_activation") == 0) &&
            strcmp(it->v.s, "hard_sigmoid") == 0)
            n++;
        if (it->type == RNNC_CFG_MAP || it->type == RNNC_CFG_LIST)
            n += count_hard_sigmoid(it);
    }
    return n;
}

static int patch_act(rnnc_act *a)
{
    if (*a != RNNC_ACT_HARD_SIGMOID)
        return 0;
    *a = RNNC_ACT_HARD_SIGMOID_K2;
    return 1;
}

/* Switches hard_sigmoid to Keras 2's formula in the layer tree (before the
 * first build or call, so nothing has been derived from it yet). */
static int patch_hard_sigmoid(rnnc_layer *l)
{
    int n = 0;
    rnnc_gru_cell *c = rnnc_gru_cell_of(l);
    rnnc_lstm_cell *lc = rnnc_lstm_cell_of(l);
    if (c) {
        n += patch_act(&c->activation);
        n += patch_act(&c->recurrent_activation);
    } else if (lc) {
        n += patch_act(&lc->activation);
        n += patch_act(&lc->recurrent_activation);
    } else if (l->cls == &rnnc_dense_class) {
        n += patch_act(&((rnnc_dense *)l)->activation);
    } else if (l->cls == &rnnc_activation_layer_class) {
        n += patch_act(&((rnnc_activation_layer *)l)->activation);
    }
    for (int i = 0; i < l->n_children; i++)
        n += patch_hard_sigmoid(l->children[i]);
    return n;
}

/* ---- loading state ---- */

typedef struct loader {
    bool keras2;       /* hard_sigmoid means 0.2x + 0.5 */
    const char *label; /* the file, for messages ("" for in-memory trees) */
} loader;

static const char *where(const rnnc_cfg *c, char *buf, size_t cap)
{
    return rnnc_cfg_where(c, buf, cap);
}

/* The layer's name for messages: config.name, else the entry's name. */
static const char *entry_name(const rnnc_cfg *entry)
{
    const rnnc_cfg *cfg = rnnc_cfg_peek(entry, "config");
    const rnnc_cfg *n = cfg && cfg->type == RNNC_CFG_MAP ? rnnc_cfg_peek(cfg, "name") : NULL;
    if (!n || n->type != RNNC_CFG_STRING)
        n = rnnc_cfg_peek(entry, "name");
    return n && n->type == RNNC_CFG_STRING ? n->v.s : "?";
}

static const char *entry_class(const rnnc_cfg *entry)
{
    const rnnc_cfg *c = entry && entry->type == RNNC_CFG_MAP ? rnnc_cfg_peek(entry, "class_name") : NULL;
    return c && c->type == RNNC_CFG_STRING ? c->v.s : NULL;
}

/* ---- InputLayer ---- */

static rnnc_status read_input_layer(const rnnc_cfg *entry, rnnc_model *m)
{
    char w[300];
    rnnc_input_layer_config in;
    const rnnc_cfg *c = rnnc_cfg_get(entry, "config");
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "InputLayer: 'config' must be a map%s", where(entry, w, sizeof w));
    RNNC_TRY(rnnc_input_layer_from_config(c, &in));
    if (!in.name[0]) {
        /* A Functional entry also names the layer outside its config. */
        const rnnc_cfg *n = rnnc_cfg_peek(entry, "name");
        if (n && n->type == RNNC_CFG_STRING)
            snprintf(in.name, sizeof in.name, "%s", n->v.s);
    }
    return rnnc_input_layer_apply(&in, m);
}

/* ---- layers ---- */

/* A layer from its serialized entry. The entry is copied without the keys
 * a Functional config adds (name, inbound_nodes) and, for Keras 2 entries,
 * fixed up; *has_shape / *shape report a legacy input shape. */
static rnnc_status make_layer(const loader *ld, const rnnc_cfg *entry, int index, rnnc_layer **out,
                              rnnc_shape *shape, bool *has_shape)
{
    static const char *const keep[] = {"module", "class_name", "config", "registered_name",
                                       "build_config", "shared_object_id", NULL};
    char w[300];
    *out = NULL;
    *has_shape = false;
    if (!entry || entry->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "layer %d: must be a map with 'class_name' and 'config'%s", index,
                         where(entry, w, sizeof w));
    rnnc_cfg *env = rnnc_cfg_map();
    if (!env)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = RNNC_OK;
    for (int k = 0; keep[k] && s == RNNC_OK; k++) {
        const rnnc_cfg *v = rnnc_cfg_peek(entry, keep[k]);
        if (!v)
            continue;
        rnnc_cfg *copy = rnnc_cfg_clone(v);
        s = copy ? rnnc_cfg_set(env, keep[k], copy) : rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    env->file = entry->file;
    env->line = entry->line;
    env->col = entry->col;
    const char *cls = entry_class(entry);
    if (s == RNNC_OK && is_legacy_entry(entry)) {
        for (size_t i = 0; i < env->n; i++)
            if (strcmp(env->keys[i], "config") == 0)
                s = legacy_fixups(env->items[i], cls ? cls : "layer");
    }
    rnnc_layer *l = NULL;
    if (s == RNNC_OK)
        s = rnnc_layer_from_config_ex(env, &l, shape, has_shape);
    if (s == RNNC_OK && ld->keras2) {
        int want = count_hard_sigmoid(env);
        if (want > 0 && patch_hard_sigmoid(l) == 0)
            s = rnnc_fail(RNNC_E_UNSUPPORTED, "layer '%s' (%s) uses hard_sigmoid from a Keras 2 file (0.2x + 0.5); rnnc applies Keras 2's formula only in GRU, GRUCell, LSTM, LSTMCell, Dense and Activation layers",
                          l->name, l->cls->class_name);
    }
    rnnc_cfg_destroy(env);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(l);
        const char *nm = entry_name(entry);
        if (strcmp(nm, "?") == 0)
            return rnnc_fail_context(s, "layer %d (%s): ", index, cls ? cls : "no class_name");
        return rnnc_fail_context(s, "layer %d ('%s'): ", index, nm);
    }
    *out = l;
    return RNNC_OK;
}

/* Adds the entries (InputLayer first, if any) to m. */
static rnnc_status add_entries(const loader *ld, rnnc_model *m, const rnnc_cfg *const *entries,
                               int n)
{
    char w[300];
    for (int i = 0; i < n; i++) {
        const char *cls = entry_class(entries[i]);
        if (cls && strcmp(cls, "InputLayer") == 0) {
            if (m->n_layers > 0 || m->has_input)
                return rnnc_fail(RNNC_E_UNSUPPORTED, "layer %d: an InputLayer is only supported as the first layer%s",
                                 i, where(entries[i], w, sizeof w));
            RNNC_TRY(read_input_layer(entries[i], m));
            continue;
        }
        rnnc_layer *l;
        rnnc_shape shape;
        bool has_shape;
        RNNC_TRY(make_layer(ld, entries[i], i, &l, &shape, &has_shape));
        if (has_shape && m->n_layers == 0 && !m->has_input) {
            /* Keras 2 Sequential: the first layer's batch_input_shape makes
             * an InputLayer named "<layer>_input". */
            char iname[300];
            snprintf(iname, sizeof iname, "%s_input", l->name);
            rnnc_status s = rnnc_model_set_input(m, &shape, RNNC_F32, iname);
            if (s != RNNC_OK) {
                rnnc_layer_destroy(l);
                return s;
            }
        }
        RNNC_TRY(rnnc_model_add(m, l));
    }
    return RNNC_OK;
}

/* Builds m from its input, else from build_input_shape, else from the first
 * layer's build shape; leaves it unbuilt when none is known. */
static rnnc_status finish_build(rnnc_model *m, const rnnc_cfg *build_input_shape)
{
    if (!m->has_input && build_input_shape && build_input_shape->type == RNNC_CFG_LIST) {
        rnnc_shape s = {0};
        int n = 0;
        RNNC_TRY(rnnc_cfg_read_dims(build_input_shape, "Sequential", "build_input_shape", s.dim,
                                    RNNC_MAX_DIMS, &n));
        s.ndim = n;
        RNNC_TRY(rnnc_model_set_input(m, &s, RNNC_F32, NULL));
    }
    if (!m->has_input && m->n_layers > 0 && m->layers[0]->has_build_shape)
        RNNC_TRY(rnnc_model_set_input(m, &m->layers[0]->build_shape, RNNC_F32, NULL));
    if (!m->has_input || m->n_layers == 0)
        return RNNC_OK;
    rnnc_status s = rnnc_model_build(m, &m->input_shape);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "building model '%s': ", m->name);
    return RNNC_OK;
}

static rnnc_status read_model_name(const rnnc_cfg *config, const char *what, const char *dflt,
                                   const char **name)
{
    *name = dflt;
    if (!config || config->type != RNNC_CFG_MAP)
        return RNNC_OK;
    RNNC_TRY(rnnc_cfg_read_string(config, what, "name", dflt, name));
    return RNNC_OK;
}

/* Model-level trainable=False freezes every layer, as Keras's setter does. */
static rnnc_status apply_trainable(rnnc_model *m, const rnnc_cfg *config, const char *what)
{
    bool trainable = true;
    if (!config || config->type != RNNC_CFG_MAP)
        return RNNC_OK;
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "trainable", true, &trainable));
    if (!trainable)
        for (int i = 0; i < m->n_layers; i++)
            m->layers[i]->trainable = false;
    return RNNC_OK;
}

static rnnc_status sequential(const loader *ld, const rnnc_cfg *config, rnnc_model **out)
{
    char w[300];
    const rnnc_cfg *layers = config;
    const char *name = NULL;
    if (config->type == RNNC_CFG_MAP) {
        RNNC_TRY(read_model_name(config, "Sequential", NULL, &name));
        layers = rnnc_cfg_get(config, "layers");
        rnnc_cfg_get(config, "dtype");
        if (!layers || layers->type != RNNC_CFG_LIST)
            return rnnc_fail(RNNC_E_ARG, "Sequential: 'layers' must be a list%s",
                             where(layers ? layers : config, w, sizeof w));
    } else if (config->type != RNNC_CFG_LIST) {
        return rnnc_fail(RNNC_E_ARG, "Sequential: 'config' must be a map with 'layers'%s", where(config, w, sizeof w));
    }
    if (layers->n > 100000)
        return rnnc_fail(RNNC_E_ARG, "Sequential: %zu layers is more than supported%s", layers->n,
                         where(layers, w, sizeof w));
    rnnc_model *m;
    RNNC_TRY(rnnc_sequential_create(name, &m));
    rnnc_status s = add_entries(ld, m, (const rnnc_cfg *const *)layers->items, (int)layers->n);
    if (s == RNNC_OK && config->type == RNNC_CFG_MAP)
        s = apply_trainable(m, config, "Sequential");
    if (s == RNNC_OK)
        s = finish_build(m, config->type == RNNC_CFG_MAP ? rnnc_cfg_get(config, "build_input_shape") : NULL);
    if (s != RNNC_OK) {
        rnnc_model_destroy(m);
        return rnnc_fail_context(s, "Sequential '%s': ", name ? name : "sequential");
    }
    *out = m;
    return RNNC_OK;
}

/* ---- top level ---- */

static rnnc_status single_layer(const loader *ld, const rnnc_cfg *root, rnnc_model **out)
{
    rnnc_model *m;
    RNNC_TRY(rnnc_sequential_create(NULL, &m));
    const rnnc_cfg *entries[1] = {root};
    rnnc_status s = add_entries(ld, m, entries, 1);
    if (s == RNNC_OK)
        s = finish_build(m, NULL);
    if (s != RNNC_OK) {
        rnnc_model_destroy(m);
        return s;
    }
    *out = m;
    return RNNC_OK;
}

/* Functional graphs (io/functional_loader.h), with this loader's Keras 2
 * fix-ups and hard_sigmoid handling applied to every layer. */
static rnnc_status functional_layer(void *user, const rnnc_cfg *entry, int index, rnnc_layer **out)
{
    rnnc_shape shape;
    bool has_shape;
    return make_layer(user, entry, index, out, &shape, &has_shape);
}

rnnc_status rnnc_model_from_config(const rnnc_cfg *root, const char *keras_version,
                                   rnnc_model **out)
{
    char w[300];
    *out = NULL;
    if (!root || root->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "model config must be a map with 'class_name' and 'config'%s",
                         where(root, w, sizeof w));
    const rnnc_cfg *model = rnnc_cfg_peek(root, "model");
    if (!rnnc_cfg_peek(root, "class_name") && model && model->type == RNNC_CFG_MAP) {
        rnnc_cfg_get(root, "model");
        root = model; /* an rnnc training spec: the model section */
    }
    if (!keras_version) {
        const rnnc_cfg *kv = rnnc_cfg_get(root, "keras_version");
        if (kv && kv->type == RNNC_CFG_STRING)
            keras_version = kv->v.s;
    }
    rnnc_cfg_get(root, "backend");
    loader ld = {rnnc_keras_version_major(keras_version) == 1 || rnnc_keras_version_major(keras_version) == 2,
                 root->file ? root->file : ""};
    const char *cls = entry_class(root);
    const rnnc_cfg *config = rnnc_cfg_peek(root, "config");
    if (!cls) {
        if (rnnc_cfg_peek(root, "layers"))
            return sequential(&ld, root, out); /* a bare Sequential config body */
        return rnnc_fail(RNNC_E_ARG, "model config has no 'class_name' (expected Sequential, Functional or a layer)%s",
                         where(root, w, sizeof w));
    }
    if (!config)
        return rnnc_fail(RNNC_E_ARG, "model config ('%s') has no 'config'%s", cls, where(root, w, sizeof w));
    if (strcmp(cls, "Sequential") == 0)
        return sequential(&ld, config, out);
    if (strcmp(cls, "Functional") == 0 || strcmp(cls, "Model") == 0)
        return rnnc_functional_from_config_ex(root, functional_layer, &ld, out);
    if (strcmp(cls, "InputLayer") == 0)
        return rnnc_fail(RNNC_E_ARG, "model config is a lone InputLayer: there is nothing to run%s", where(root, w, sizeof w));
    return single_layer(&ld, root, out);
}

/* ---- files ---- */

typedef enum { KIND_ZIP, KIND_HDF5, KIND_TEXT, KIND_BINARY } file_kind;

/* Missing, directory, unreadable and empty files get their own message;
 * otherwise the kind from the first bytes. */
static rnnc_status sniff(const char *path, file_kind *kind)
{
    struct stat st;
    if (!path || !path[0])
        return rnnc_fail(RNNC_E_ARG, "model file: no path given");
    if (stat(path, &st) != 0)
        return rnnc_fail(RNNC_E_IO, "'%s': cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return rnnc_fail(RNNC_E_IO, "'%s' is a directory, not a model file", path);
    if (!S_ISREG(st.st_mode))
        return rnnc_fail(RNNC_E_IO, "'%s' is not a regular file", path);
    if (st.st_size == 0)
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is empty (0 bytes): not a model file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return rnnc_fail(RNNC_E_IO, "'%s': cannot open: %s", path, strerror(errno));
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (n >= 4 && buf[0] == 'P' && buf[1] == 'K' && ((buf[2] == 3 && buf[3] == 4) || (buf[2] == 5 && buf[3] == 6))) {
        *kind = KIND_ZIP;
        return RNNC_OK;
    }
    for (size_t off = 0; off + 8 <= n; off = off ? off * 2 : 512)
        if (memcmp(buf + off, hdf5, 8) == 0) {
            *kind = KIND_HDF5;
            return RNNC_OK;
        }
    *kind = memchr(buf, 0, n) ? KIND_BINARY : KIND_TEXT;
    if (*kind == KIND_BINARY && n == sizeof buf) {
        /* A user block longer than 4 KiB: let HDF5 look further. */
        rnnc_h5_quiet q;
        rnnc_h5_quiet_begin(&q);
        if (H5Fis_hdf5(path) > 0)
            *kind = KIND_HDF5;
        rnnc_h5_quiet_end(&q);
    }
    return RNNC_OK;
}

static rnnc_status archive_version(const rnnc_keras_archive *a, char **version)
{
    char label[1200];
    rnnc_cfg *meta = NULL;
    *version = NULL;
    if (!a->metadata_json)
        return RNNC_OK;
    snprintf(label, sizeof label, "%s:metadata.json", a->path);
    RNNC_TRY(rnnc_spec_read_string(a->metadata_json, a->metadata_len, label, &meta));
    const rnnc_cfg *kv = meta->type == RNNC_CFG_MAP ? rnnc_cfg_peek(meta, "keras_version") : NULL;
    if (kv && kv->type == RNNC_CFG_STRING) {
        *version = malloc(strlen(kv->v.s) + 1);
        if (*version)
            strcpy(*version, kv->v.s);
    }
    rnnc_cfg_destroy(meta);
    return RNNC_OK;
}

static rnnc_status load_archive(const char *path, rnnc_model **out)
{
    rnnc_keras_archive *a;
    rnnc_cfg *cfg = NULL;
    char *version = NULL;
    char label[1200];
    rnnc_model *m = NULL;
    hid_t f = -1;
    RNNC_TRY(rnnc_keras_archive_read(path, &a));
    snprintf(label, sizeof label, "%s:config.json", path);
    rnnc_status s = rnnc_spec_read_string(a->config_json, a->config_len, label, &cfg);
    if (s == RNNC_OK)
        s = archive_version(a, &version);
    if (s == RNNC_OK && !a->weights)
        s = rnnc_fail(RNNC_E_FORMAT, "'%s' has no model.weights.h5", path);
    if (s == RNNC_OK && (s = rnnc_model_from_config(cfg, version, &m)) != RNNC_OK)
        rnnc_fail_context(s, "%s: ", label);
    if (s == RNNC_OK) {
        snprintf(label, sizeof label, "%s:model.weights.h5", path);
        s = rnnc_h5_open_image(a->weights, a->weights_size, label, &f);
    }
    if (s == RNNC_OK)
        s = rnnc_weights_load_h5(m, f, label);
    rnnc_h5_close(f);
    rnnc_cfg_destroy(cfg);
    free(version);
    rnnc_keras_archive_destroy(a);
    if (s != RNNC_OK) {
        rnnc_model_destroy(m);
        return s;
    }
    *out = m;
    return RNNC_OK;
}

static rnnc_status load_legacy(const char *path, rnnc_model **out)
{
    hid_t f;
    rnnc_legacy_info info;
    rnnc_cfg *cfg = NULL;
    rnnc_model *m = NULL;
    char label[1200];
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    rnnc_status s = RNNC_OK;
    if (!rnnc_legacy_has_model_config(f)) {
        if (rnnc_weights_h5_is_keras3(f) || rnnc_legacy_has_weights(f))
            s = rnnc_fail(RNNC_E_FORMAT, "'%s' holds only weights (no model_config): create the model from its config first, then load these weights with rnnc_model_load_weights",
                          path);
        else
            s = rnnc_fail(RNNC_E_FORMAT, "'%s' is an HDF5 file but not a Keras model (no model_config attribute)", path);
        rnnc_h5_close(f);
        return s;
    }
    if ((s = rnnc_legacy_read_info(f, path, &info)) != RNNC_OK) {
        rnnc_h5_close(f);
        return s;
    }
    snprintf(label, sizeof label, "%s:model_config", path);
    s = rnnc_spec_read_string(info.model_config, strlen(info.model_config), label, &cfg);
    if (s == RNNC_OK && (s = rnnc_model_from_config(cfg, info.keras_version, &m)) != RNNC_OK)
        rnnc_fail_context(s, "%s: ", label);
    if (s == RNNC_OK) {
        if (rnnc_legacy_has_weights(f))
            s = rnnc_legacy_load_weights_h5(m, f, path);
        else
            s = rnnc_fail(RNNC_E_FORMAT, "'%s' has a model_config but no weights ('/model_weights' is missing)", path);
    }
    rnnc_cfg_destroy(cfg);
    rnnc_legacy_info_free(&info);
    rnnc_h5_close(f);
    if (s != RNNC_OK) {
        rnnc_model_destroy(m);
        return s;
    }
    *out = m;
    return RNNC_OK;
}

/* An rnnc checkpoint: the model from /rnnc_checkpoint/model_config, then
 * every weight through rnnc_checkpoint_load (which checks them all first). */
static rnnc_status load_checkpoint(const char *path, rnnc_model **out)
{
    rnnc_checkpoint_state st;
    rnnc_cfg *cfg = NULL;
    rnnc_model *m = NULL;
    char label[1200];
    RNNC_TRY(rnnc_checkpoint_read_state(path, &st));
    snprintf(label, sizeof label, "%s:/rnnc_checkpoint/model_config", path);
    rnnc_status s = RNNC_OK;
    if (!st.model_config)
        s = rnnc_fail(RNNC_E_FORMAT, "'%s' is an rnnc checkpoint without a model config; create the model from its spec or config, then load this file as its weights",
                      path);
    if (s == RNNC_OK)
        s = rnnc_spec_read_string(st.model_config, strlen(st.model_config), label, &cfg);
    if (s == RNNC_OK && (s = rnnc_model_from_config(cfg, NULL, &m)) != RNNC_OK)
        rnnc_fail_context(s, "%s: ", label);
    if (s == RNNC_OK && !m->built && m->has_input)
        s = rnnc_model_build(m, &m->input_shape);
    if (s == RNNC_OK && !m->built)
        s = rnnc_fail(RNNC_E_FORMAT, "%s: the model config declares no input shape, so its weights cannot be placed", label);
    rnnc_checkpoint_state_clear(&st);
    if (s == RNNC_OK)
        s = rnnc_checkpoint_load(path, m, NULL, &st);
    rnnc_checkpoint_state_clear(&st);
    rnnc_cfg_destroy(cfg);
    if (s != RNNC_OK) {
        rnnc_model_destroy(m);
        return s;
    }
    *out = m;
    return RNNC_OK;
}

rnnc_status rnnc_model_load(const char *path, rnnc_model **out)
{
    file_kind kind;
    if (!out)
        return rnnc_fail(RNNC_E_ARG, "rnnc_model_load: out is NULL");
    *out = NULL;
    RNNC_TRY(sniff(path, &kind));
    switch (kind) {
    case KIND_ZIP:
        return load_archive(path, out);
    case KIND_HDF5:
        return rnnc_checkpoint_sniff(path) ? load_checkpoint(path, out) : load_legacy(path, out);
    case KIND_BINARY:
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is not a model file: expected a .keras archive, a Keras .h5 file, or a YAML/JSON config",
                         path);
    case KIND_TEXT:
    default: {
        rnnc_cfg *cfg;
        RNNC_TRY(rnnc_spec_read_file(path, &cfg));
        rnnc_status s = rnnc_model_from_config(cfg, NULL, out);
        rnnc_cfg_destroy(cfg);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "%s: ", path);
        return RNNC_OK;
    }
    }
}

rnnc_status rnnc_model_load_weights(rnnc_model *m, const char *path)
{
    file_kind kind;
    if (!m)
        return rnnc_fail(RNNC_E_ARG, "rnnc_model_load_weights: model is NULL");
    RNNC_TRY(sniff(path, &kind));
    if (kind == KIND_ZIP) {
        rnnc_keras_archive *a;
        hid_t f = -1;
        char label[1200];
        RNNC_TRY(rnnc_keras_archive_read(path, &a));
        snprintf(label, sizeof label, "%s:model.weights.h5", path);
        rnnc_status s = a->weights ? rnnc_h5_open_image(a->weights, a->weights_size, label, &f)
                                   : rnnc_fail(RNNC_E_FORMAT, "'%s' has no model.weights.h5", path);
        if (s == RNNC_OK)
            s = rnnc_weights_load_h5(m, f, label);
        rnnc_h5_close(f);
        rnnc_keras_archive_destroy(a);
        return s;
    }
    if (kind != KIND_HDF5)
        return rnnc_fail(RNNC_E_FORMAT, "'%s' is not a weights file: expected a Keras .weights.h5, a legacy .h5 or a .keras archive",
                         path);
    hid_t f;
    RNNC_TRY(rnnc_h5_open_read(path, &f));
    rnnc_status s;
    if (rnnc_weights_h5_is_keras3(f))
        s = rnnc_weights_load_h5(m, f, path);
    else if (rnnc_legacy_has_weights(f))
        s = rnnc_legacy_load_weights_h5(m, f, path);
    else
        s = rnnc_fail(RNNC_E_FORMAT, "'%s' is an HDF5 file without Keras weights (no '/layers', '/vars', layer_names or '/model_weights')",
                      path);
    rnnc_h5_close(f);
    return s;
}
