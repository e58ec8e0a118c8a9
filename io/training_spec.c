/* training_spec.c - reading and validating a training spec (training_spec.h):
 * section structure, fit / data / checkpoint values, path resolution, and
 * unknown-key reporting. The model, compile and task contents are left to
 * their consumers. */
#include "io/training_spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend.h"
#include "io/spec_reader.h"

static const char *const top_keys[] = {"model", "compile", "fit", "data", "checkpoint", "device", NULL};
static const char *const fit_keys[] = {"epochs", "batch_size", "shuffle", "seed",
                                       "validation_split", "validation_data", "verbose",
                                       "callbacks", "class_weight", "validation_freq",
                                       "steps_per_epoch", "initial_epoch", "history", NULL};
static const char *const checkpoint_keys[] = {"directory", "every", "keep", NULL};
static const char *const data_keys[] = {"path", "x", "y", "sample_weight", "mask", "test", "task",
                                        "streaming", "chunk_size", "shuffle_window", NULL};
static const char *const source_keys[] = {"path", "x", "y", "sample_weight", "mask", NULL};
static const char *const compile_keys[] = {"optimizer", "loss", "metrics", "weighted_metrics", NULL};

const char *const *rnnc_training_spec_keys(const char *section)
{
    if (!section || !section[0])
        return top_keys;
    if (strcmp(section, "fit") == 0)
        return fit_keys;
    if (strcmp(section, "checkpoint") == 0)
        return checkpoint_keys;
    if (strcmp(section, "data") == 0)
        return data_keys;
    if (strcmp(section, "compile") == 0)
        return compile_keys;
    return NULL;
}

static char *dup_str(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void source_free(rnnc_spec_source *src)
{
    free(src->path);
    free(src->x);
    free(src->y);
    free(src->sample_weight);
    free(src->mask);
    memset(src, 0, sizeof *src);
}

void rnnc_training_spec_destroy(rnnc_training_spec *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->dir);
    rnnc_cfg_destroy(s->root);
    free(s->model_path);
    source_free(&s->validation_data);
    source_free(&s->train);
    source_free(&s->test);
    free(s->checkpoint_dir);
    free(s->class_weight);
    free(s->history_dir);
    free(s);
}

bool rnnc_training_spec_detect(const rnnc_cfg *root)
{
    if (!root || root->type != RNNC_CFG_MAP || !rnnc_cfg_peek(root, "model"))
        return false;
    return rnnc_cfg_peek(root, "compile") || rnnc_cfg_peek(root, "fit") ||
           rnnc_cfg_peek(root, "data") || rnnc_cfg_peek(root, "checkpoint");
}

char *rnnc_training_spec_resolve(const rnnc_training_spec *s, const char *rel)
{
    if (rel[0] == '/' || !s->dir || strcmp(s->dir, ".") == 0)
        return dup_str(rel);
    size_t n = strlen(s->dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", s->dir, rel);
    return p;
}

rnnc_status rnnc_training_spec_check_section(const rnnc_cfg *map, const char *section,
                                             const char *const *known)
{
    char what[128];
    snprintf(what, sizeof what, "spec section '%s'", section && section[0] ? section : "(top level)");
    return rnnc_cfg_check_unread(map, what, known ? known : rnnc_training_spec_keys(section));
}

/* A section must be a map when present. */
static rnnc_status section_map(const rnnc_cfg *root, const char *key, const char *path,
                               const rnnc_cfg **out)
{
    char w[300];
    const rnnc_cfg *c = rnnc_cfg_get(root, key);
    *out = NULL;
    if (!c || c->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: section '%s' must be a map of keys, got a %s%s", path, key,
                         rnnc_cfg_type_name(c->type), rnnc_cfg_where(c, w, sizeof w));
    *out = c;
    return RNNC_OK;
}

static rnnc_status set_name(char **dst, const char *v)
{
    if (!v)
        return RNNC_OK;
    if (!(*dst = dup_str(v)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    return RNNC_OK;
}

/* A data source: "file.h5" or {path, x, y, sample_weight, mask}. `with_path`
 * false: the keys sit in the data map itself, which has other keys too. */
static rnnc_status read_source(rnnc_training_spec *s, const rnnc_cfg *c, const char *what,
                               bool nested, rnnc_spec_source *out)
{
    char w[300];
    const char *path = NULL, *x = "x", *y = "y", *sw = NULL, *mask = NULL;
    if (c->type == RNNC_CFG_STRING) {
        path = c->v.s;
    } else if (c->type == RNNC_CFG_MAP) {
        RNNC_TRY(rnnc_cfg_read_string(c, what, "path", NULL, &path));
        RNNC_TRY(rnnc_cfg_read_string(c, what, "x", "x", &x));
        RNNC_TRY(rnnc_cfg_read_string(c, what, "y", "y", &y));
        RNNC_TRY(rnnc_cfg_read_string(c, what, "sample_weight", NULL, &sw));
        RNNC_TRY(rnnc_cfg_read_string(c, what, "mask", NULL, &mask));
        if (nested)
            RNNC_TRY(rnnc_cfg_check_unread(c, what, source_keys));
    } else {
        return rnnc_fail(RNNC_E_ARG, "%s must be an HDF5 file path or a map {path, x, y, sample_weight, mask}, got a %s%s",
                         what, rnnc_cfg_type_name(c->type), rnnc_cfg_where(c, w, sizeof w));
    }
    if (!path || !path[0])
        return rnnc_fail(RNNC_E_ARG, "%s: 'path' (the HDF5 file holding %s and %s) is missing%s", what, x, y,
                         rnnc_cfg_where(c, w, sizeof w));
    if (!(out->path = rnnc_training_spec_resolve(s, path)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    RNNC_TRY(set_name(&out->x, x));
    RNNC_TRY(set_name(&out->y, y));
    RNNC_TRY(set_name(&out->sample_weight, sw));
    RNNC_TRY(set_name(&out->mask, mask));
    return RNNC_OK;
}

static rnnc_status read_model(rnnc_training_spec *s)
{
    char w[300];
    const rnnc_cfg *m = rnnc_cfg_get(s->root, "model");
    if (!m && rnnc_cfg_peek(s->root, "class_name"))
        return rnnc_fail(RNNC_E_ARG, "%s is a model config, not a training spec; write a spec with 'model: %s' and the sections compile, fit and data (see docs/spec-format.md)",
                         s->path, s->path);
    if (!m)
        return rnnc_fail(RNNC_E_ARG, "%s: the 'model' section is missing; give a Keras model config (a map with class_name and config) or a path to one",
                         s->path);
    if (m->type == RNNC_CFG_STRING) {
        if (!m->v.s[0])
            return rnnc_fail(RNNC_E_ARG, "%s: 'model' is an empty path%s", s->path, rnnc_cfg_where(m, w, sizeof w));
        if (!(s->model_path = rnnc_training_spec_resolve(s, m->v.s)))
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        return RNNC_OK;
    }
    if (m->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: 'model' must be a Keras model config (a map with class_name and config) or a path to one, got a %s%s",
                         s->path, rnnc_cfg_type_name(m->type), rnnc_cfg_where(m, w, sizeof w));
    if (!rnnc_cfg_peek(m, "class_name"))
        return rnnc_fail(RNNC_E_ARG, "%s: 'model' has no 'class_name'%s; write it as Keras does, e.g. {class_name: Sequential, config: {layers: [...]}}",
                         s->path, rnnc_cfg_where(m, w, sizeof w));
    s->model_config = m;
    return RNNC_OK;
}

/* fit.class_weight: {class index: weight}, as Keras's dict. */
static rnnc_status read_class_weight(rnnc_training_spec *s, const rnnc_cfg *fit)
{
    char w[300];
    const rnnc_cfg *cw = rnnc_cfg_get(fit, "class_weight");
    if (!cw || cw->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (cw->type != RNNC_CFG_MAP || cw->n == 0)
        return rnnc_fail(RNNC_E_ARG, "fit: 'class_weight' must be a non-empty map {class index: weight}, e.g. {0: 1.0, 1: 5.0}%s",
                         rnnc_cfg_where(cw, w, sizeof w));
    int64_t max = -1;
    for (size_t i = 0; i < cw->n; i++) {
        char *end;
        long long k = strtoll(cw->keys[i], &end, 10);
        if (!cw->keys[i][0] || *end || k < 0 || k >= RNNC_SPEC_MAX_CLASSES)
            return rnnc_fail(RNNC_E_ARG, "fit.class_weight: key '%s' must be a class index in [0, %lld)%s", cw->keys[i],
                             (long long)RNNC_SPEC_MAX_CLASSES, rnnc_cfg_where(cw->items[i], w, sizeof w));
        const rnnc_cfg *v = cw->items[i];
        if (v->type != RNNC_CFG_INT && v->type != RNNC_CFG_FLOAT)
            return rnnc_fail(RNNC_E_ARG, "fit.class_weight: the weight of class %lld must be a number, got a %s%s", k,
                             rnnc_cfg_type_name(v->type), rnnc_cfg_where(v, w, sizeof w));
        const double x = v->type == RNNC_CFG_INT ? (double)v->v.i : v->v.f;
        if (!isfinite(x) || x < 0)
            return rnnc_fail(RNNC_E_ARG, "fit.class_weight: the weight of class %lld must be a finite number >= 0, got %g%s",
                             k, x, rnnc_cfg_where(v, w, sizeof w));
        max = k > max ? k : max;
    }
    if (!(s->class_weight = malloc((size_t)(max + 1) * sizeof *s->class_weight)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    s->n_class_weight = (int)(max + 1);
    for (int64_t k = 0; k <= max; k++)
        s->class_weight[k] = 1.0;
    for (size_t i = 0; i < cw->n; i++) {
        const rnnc_cfg *v = cw->items[i];
        s->class_weight[strtoll(cw->keys[i], NULL, 10)] = v->type == RNNC_CFG_INT ? (double)v->v.i : v->v.f;
    }
    return RNNC_OK;
}

/* fit.callbacks (a list; its entries are read by apps/fit_callbacks.c),
 * validation_freq, steps_per_epoch, initial_epoch, history. */
static rnnc_status read_fit_more(rnnc_training_spec *s, const rnnc_cfg *fit)
{
    char w[300];
    const char *hist;
    const rnnc_cfg *cb = rnnc_cfg_get(fit, "callbacks");
    if (cb && cb->type != RNNC_CFG_NULL) {
        if (cb->type != RNNC_CFG_LIST)
            return rnnc_fail(RNNC_E_ARG, "fit: 'callbacks' must be a list of callbacks, e.g. [{EarlyStopping: {patience: 3}}], got a %s%s",
                             rnnc_cfg_type_name(cb->type), rnnc_cfg_where(cb, w, sizeof w));
        s->callbacks = cb;
    }
    RNNC_TRY(read_class_weight(s, fit));
    RNNC_TRY(rnnc_cfg_read_int_range(fit, "fit", "validation_freq", 1, 1, RNNC_SPEC_MAX_EPOCHS, &s->validation_freq));
    RNNC_TRY(rnnc_cfg_read_int_range(fit, "fit", "steps_per_epoch", 0, 1, INT32_MAX, &s->steps_per_epoch));
    RNNC_TRY(rnnc_cfg_read_int_range(fit, "fit", "initial_epoch", 0, 0, RNNC_SPEC_MAX_EPOCHS, &s->initial_epoch));
    RNNC_TRY(rnnc_cfg_read_string(fit, "fit", "history", NULL, &hist));
    if (hist && !hist[0])
        return rnnc_fail(RNNC_E_ARG, "fit: 'history' is an empty folder name%s",
                         rnnc_cfg_where(rnnc_cfg_peek(fit, "history"), w, sizeof w));
    if (hist && !(s->history_dir = rnnc_training_spec_resolve(s, hist)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    return RNNC_OK;
}

static rnnc_status read_fit(rnnc_training_spec *s)
{
    const rnnc_cfg *fit;
    char w[300];
    s->epochs = 1;
    s->batch_size = 32;
    s->shuffle = true;
    s->seed = 1337;
    s->verbose = 1;
    s->validation_freq = 1;
    RNNC_TRY(section_map(s->root, "fit", s->path, &fit));
    if (!fit)
        return RNNC_OK;
    int64_t seed, verbose;
    RNNC_TRY(rnnc_cfg_read_int_range(fit, "fit", "epochs", 1, 1, RNNC_SPEC_MAX_EPOCHS, &s->epochs));
    RNNC_TRY(rnnc_cfg_read_int_range(fit, "fit", "batch_size", 32, 1, RNNC_SPEC_MAX_BATCH_SIZE, &s->batch_size));
    RNNC_TRY(rnnc_cfg_read_bool(fit, "fit", "shuffle", true, &s->shuffle));
    s->has_seed = rnnc_cfg_peek(fit, "seed") && rnnc_cfg_peek(fit, "seed")->type != RNNC_CFG_NULL;
    RNNC_TRY(rnnc_cfg_read_int_range(fit, "fit", "seed", 1337, 0, INT64_MAX, &seed));
    s->seed = (uint64_t)seed;
    const rnnc_cfg *vc = rnnc_cfg_peek(fit, "verbose");
    if (vc && vc->type == RNNC_CFG_STRING && strcmp(vc->v.s, "auto") == 0) {
        (void)rnnc_cfg_get(fit, "verbose");
        verbose = 1;
    } else {
        RNNC_TRY(rnnc_cfg_read_int(fit, "fit", "verbose", 1, &verbose));
        if (verbose < 0 || verbose > 2)
            return rnnc_fail(RNNC_E_ARG, "fit: 'verbose' must be 0 (silent), 1 (progress bar), 2 (one line per epoch) or \"auto\", got %lld%s",
                             (long long)verbose, rnnc_cfg_where(vc, w, sizeof w));
    }
    s->verbose = (int)verbose;
    RNNC_TRY(rnnc_cfg_read_float(fit, "fit", "validation_split", 0.0, &s->validation_split));
    if (!(s->validation_split >= 0.0 && s->validation_split < 1.0))
        return rnnc_fail(RNNC_E_ARG, "fit: 'validation_split' must be in [0, 1), got %g%s", s->validation_split,
                         rnnc_cfg_where(rnnc_cfg_peek(fit, "validation_split"), w, sizeof w));
    const rnnc_cfg *vd = rnnc_cfg_get(fit, "validation_data");
    if (vd && vd->type != RNNC_CFG_NULL) {
        if (s->validation_split > 0)
            return rnnc_fail(RNNC_E_ARG, "fit: give either 'validation_split' or 'validation_data', not both%s",
                             rnnc_cfg_where(vd, w, sizeof w));
        RNNC_TRY(read_source(s, vd, "fit.validation_data", true, &s->validation_data));
    }
    RNNC_TRY(read_fit_more(s, fit));
    return rnnc_training_spec_check_section(fit, "fit", fit_keys);
}

/* data.streaming (true / false / auto), chunk_size, shuffle_window. */
static rnnc_status read_streaming(rnnc_training_spec *s, const rnnc_cfg *data)
{
    char w[300];
    const rnnc_cfg *st = rnnc_cfg_peek(data, "streaming");
    s->streaming = -1;
    if (st && st->type == RNNC_CFG_STRING && strcmp(st->v.s, "auto") == 0) {
        (void)rnnc_cfg_get(data, "streaming");
    } else if (st && st->type != RNNC_CFG_NULL) {
        if (st->type != RNNC_CFG_BOOL)
            return rnnc_fail(RNNC_E_ARG, "data: 'streaming' must be true, false or auto, got a %s%s",
                             rnnc_cfg_type_name(st->type), rnnc_cfg_where(st, w, sizeof w));
        bool on;
        RNNC_TRY(rnnc_cfg_read_bool(data, "data", "streaming", false, &on));
        s->streaming = on ? 1 : 0;
    }
    RNNC_TRY(rnnc_cfg_read_int_range(data, "data", "chunk_size", 1024, 1, RNNC_SPEC_MAX_CHUNK_SIZE, &s->chunk_size));
    RNNC_TRY(rnnc_cfg_read_int_range(data, "data", "shuffle_window", 8, 1, RNNC_SPEC_MAX_SHUFFLE_WINDOW,
                                     &s->shuffle_window));
    return RNNC_OK;
}

static rnnc_status read_data(rnnc_training_spec *s)
{
    const rnnc_cfg *data;
    char w[300];
    RNNC_TRY(section_map(s->root, "data", s->path, &data));
    if (!data)
        return rnnc_fail(RNNC_E_ARG, "%s: the 'data' section is missing; give HDF5 data (data: {path: train.h5}) or a built-in task (data: {task: adding})",
                         s->path);
    s->data_config = data;
    const rnnc_cfg *task = rnnc_cfg_peek(data, "task");
    if (task && task->type != RNNC_CFG_NULL) {
        if (task->type != RNNC_CFG_STRING)
            return rnnc_fail(RNNC_E_ARG, "data: 'task' must be a task name (adding, copy, sine, varlen, chars), got a %s%s",
                             rnnc_cfg_type_name(task->type), rnnc_cfg_where(task, w, sizeof w));
        if (rnnc_cfg_peek(data, "path"))
            return rnnc_fail(RNNC_E_ARG, "data: give either 'task' or 'path' (HDF5 data), not both%s",
                             rnnc_cfg_where(rnnc_cfg_peek(data, "path"), w, sizeof w));
        s->task = task->v.s; /* the task's keys are checked by the task reader */
        return RNNC_OK;
    }
    RNNC_TRY(read_source(s, data, "data", false, &s->train));
    RNNC_TRY(read_streaming(s, data));
    const rnnc_cfg *test = rnnc_cfg_get(data, "test");
    if (test && test->type != RNNC_CFG_NULL)
        RNNC_TRY(read_source(s, test, "data.test", true, &s->test));
    (void)rnnc_cfg_get(data, "task"); /* null task */
    return rnnc_training_spec_check_section(data, "data", data_keys);
}

static rnnc_status read_checkpoint(rnnc_training_spec *s)
{
    const rnnc_cfg *ck;
    const char *dir;
    char w[300];
    RNNC_TRY(section_map(s->root, "checkpoint", s->path, &ck));
    if (!ck)
        return RNNC_OK;
    RNNC_TRY(rnnc_cfg_read_string(ck, "checkpoint", "directory", NULL, &dir));
    if (!dir || !dir[0])
        return rnnc_fail(RNNC_E_ARG, "checkpoint: 'directory' is missing%s; name the folder for checkpoint files, e.g. directory: checkpoints",
                         rnnc_cfg_where(ck, w, sizeof w));
    RNNC_TRY(rnnc_cfg_read_int_range(ck, "checkpoint", "every", 1, 1, RNNC_SPEC_MAX_EPOCHS, &s->checkpoint_every));
    RNNC_TRY(rnnc_cfg_read_int_range(ck, "checkpoint", "keep", 3, 1, RNNC_SPEC_MAX_KEEP, &s->checkpoint_keep));
    if (!(s->checkpoint_dir = rnnc_training_spec_resolve(s, dir)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    s->has_checkpoint = true;
    return rnnc_training_spec_check_section(ck, "checkpoint", checkpoint_keys);
}

/* device: cpu | cuda | auto (what the commands do with it: apps/cli.h). */
static rnnc_status read_device(rnnc_training_spec *s)
{
    char w[300];
    const rnnc_cfg *v = rnnc_cfg_peek(s->root, "device");
    rnnc_device d;
    if (!v)
        return RNNC_OK;
    RNNC_TRY(rnnc_cfg_read_string(s->root, "spec", "device", NULL, &s->device));
    if (s->device && rnnc_device_parse(s->device, &d) != RNNC_OK)
        return rnnc_fail(RNNC_E_ARG, "%s: device: unknown device '%s'%s (valid: cpu, cuda, auto)",
                         s->path, s->device, rnnc_cfg_where(v, w, sizeof w));
    return RNNC_OK;
}

rnnc_status rnnc_training_spec_read(const char *path, rnnc_training_spec **out)
{
    char w[300];
    *out = NULL;
    rnnc_training_spec *s = calloc(1, sizeof *s);
    if (!s)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status st;
    if (!(s->path = dup_str(path))) {
        st = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        s->dir = dup_str(".");
    else if (slash == path)
        s->dir = dup_str("/");
    else if ((s->dir = malloc((size_t)(slash - path) + 1))) {
        memcpy(s->dir, path, (size_t)(slash - path));
        s->dir[slash - path] = '\0';
    }
    if (!s->dir) {
        st = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = rnnc_spec_read_file(path, &s->root)))
        goto fail;
    if (s->root->type != RNNC_CFG_MAP) {
        st = rnnc_fail(RNNC_E_ARG, "%s: a training spec must be a map with sections model, compile, fit, data, checkpoint; got a %s%s",
                       path, rnnc_cfg_type_name(s->root->type), rnnc_cfg_where(s->root, w, sizeof w));
        goto fail;
    }
    if ((st = read_model(s)) || (st = section_map(s->root, "compile", path, &s->compile)) ||
        (st = read_fit(s)) || (st = read_data(s)) || (st = read_checkpoint(s)) || (st = read_device(s)) ||
        (st = rnnc_training_spec_check_section(s->root, "", top_keys)))
        goto fail;
    if (s->validation_data.path && s->task) {
        st = rnnc_fail(RNNC_E_ARG, "%s: fit.validation_data cannot be used with a built-in task (data.task); the task generates its own validation split (data.validation_samples)",
                       path);
        goto fail;
    }
    *out = s;
    return RNNC_OK;
fail:
    rnnc_training_spec_destroy(s);
    return st;
}
