/* train_state.c - history, checkpoint schedule, random streams and resume
 * for `rnnc train` (train_state.h). */
#include "apps/train_state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/rnn.h"
#include "io/json_writer.h"
#include "io/weights_h5.h"
#include "layers/dropout.h"
#include "layers/gru_cell.h"

/* ---- the random streams of a model ---- */

typedef rnnc_status (*rng_fn)(void *user, const char *name, rnnc_rng *r);

/* "dropout.<layer path>" with characters a checkpoint name cannot hold
 * replaced by '_'. */
static void stream_name(const char *path, char *buf, size_t cap)
{
    snprintf(buf, cap, "dropout.%s", path);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            *p = '_';
}

/* Every generator a layer (and its sub-layers) draws from while training:
 * GRU cells' and Dropout layers' dropout streams. */
static rnnc_status walk(rnnc_layer *l, const char *path, rng_fn fn, void *user)
{
    rnnc_rng *r = NULL;
    if (rnnc_layer_is_gru_cell(l))
        r = &rnnc_gru_cell_of(l)->rng;
    else if (l->cls == &rnnc_dropout_class)
        r = &((rnnc_dropout_layer *)l)->rng;
    if (r) {
        char name[64];
        stream_name(path, name, sizeof name);
        RNNC_TRY(fn(user, name, r));
    }
    for (int i = 0; i < l->n_children; i++) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", path, l->child_keys[i]);
        RNNC_TRY(walk(l->children[i], sub, fn, user));
    }
    return RNNC_OK;
}

static rnnc_status walk_model(rnnc_model *m, rng_fn fn, void *user)
{
    for (int i = 0; i < m->n_layers; i++)
        RNNC_TRY(walk(m->layers[i], m->layers[i]->name, fn, user));
    return RNNC_OK;
}

static rnnc_status collect(void *user, const char *name, rnnc_rng *r)
{
    return rnnc_checkpoint_state_set_rng(user, name, r);
}

typedef struct restore_ctx {
    const rnnc_checkpoint_state *st;
    const char *path;
    bool apply; /* false: only check that every stream is there */
} restore_ctx;

static rnnc_status restore(void *user, const char *name, rnnc_rng *r)
{
    restore_ctx *c = user;
    const rnnc_rng *saved = rnnc_checkpoint_state_rng(c->st, name);
    if (!saved)
        return rnnc_fail(RNNC_E_FORMAT, "checkpoint '%s' has no state for the random stream '%s' of this model; it was written for another model",
                         c->path, name);
    if (c->apply)
        *r = *saved;
    return RNNC_OK;
}

/* ---- history ---- */

static size_t history_epochs(const rnnc_cfg *h)
{
    size_t n = 0;
    for (size_t i = 0; h && i < h->n; i++)
        n = h->items[i]->n > n ? h->items[i]->n : n;
    return n;
}

static rnnc_status history_append(rnnc_cfg *h, const rnnc_logs *logs)
{
    size_t before = history_epochs(h);
    for (int i = 0; i < logs->n; i++) {
        rnnc_cfg *list = (rnnc_cfg *)rnnc_cfg_peek(h, logs->names[i]);
        if (!list) {
            RNNC_TRY(rnnc_cfg_set(h, logs->names[i], rnnc_cfg_list()));
            list = (rnnc_cfg *)rnnc_cfg_peek(h, logs->names[i]);
            for (size_t k = 0; k < before; k++) /* a key first seen now */
                RNNC_TRY(rnnc_cfg_push(list, rnnc_cfg_float(NAN)));
        }
        RNNC_TRY(rnnc_cfg_push(list, rnnc_cfg_float(logs->values[i])));
    }
    for (size_t i = 0; i < h->n; i++) /* keys this epoch lacks */
        while (h->items[i]->n < before + 1)
            RNNC_TRY(rnnc_cfg_push(h->items[i], rnnc_cfg_float(NAN)));
    return RNNC_OK;
}

/* ---- shuffling ---- */

/* The permutation of epoch `epoch`: a function of (seed, epoch) only. */
static void epoch_permutation(uint64_t seed, int64_t epoch, int64_t *perm, size_t n)
{
    rnnc_rng r;
    rnnc_rng_init(&r, seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(epoch + 1)));
    rnnc_rng_permutation(&r, perm, n);
}

/* work[i] rows = orig[i] rows in the order perm. */
static void reorder(rnnc_train_state *ts, const int64_t *perm, int64_t n)
{
    for (int k = 0; k < 3; k++) {
        if (!ts->orig[k])
            continue;
        size_t row = ts->orig[k]->numel / (size_t)n * rnnc_dtype_size(ts->orig[k]->dtype);
        for (int64_t i = 0; i < n; i++)
            memcpy((char *)ts->work[k]->data + (size_t)i * row, (const char *)ts->orig[k]->data + (size_t)perm[i] * row,
                   row);
    }
}

static rnnc_status on_epoch_begin(rnnc_callback *cb, rnnc_trainer *tr, int epoch)
{
    rnnc_train_state *ts = cb->user;
    (void)tr;
    if (!ts->shuffle || !ts->orig[0])
        return RNNC_OK;
    int64_t n = ts->orig[0]->shape.dim[0];
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    if (!perm)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory shuffling %lld samples", (long long)n);
    epoch_permutation(ts->shuffle_seed, epoch, perm, (size_t)n);
    reorder(ts, perm, n);
    free(perm);
    return RNNC_OK;
}

/* Rows [r0, r1) of t as a new tensor. */
static rnnc_status take_rows(const rnnc_tensor *t, int64_t r0, int64_t r1, rnnc_tensor **out)
{
    rnnc_shape s = t->shape;
    size_t row = t->numel / (size_t)t->shape.dim[0];
    s.dim[0] = r1 - r0;
    return rnnc_tensor_from(t->dtype, &s, (const char *)t->data + (size_t)r0 * row * rnnc_dtype_size(t->dtype),
                            out);
}

/* Keras's validation_split: the last fraction of the rows, before any shuffling. */
static rnnc_status split_validation(rnnc_app_session *ses)
{
    double frac = ses->spec->validation_split;
    if (!(frac > 0) || ses->validation.x || !ses->train.x)
        return RNNC_OK;
    int64_t n = ses->train.x->shape.dim[0], at = (int64_t)floor((double)n * (1.0 - frac));
    if (at <= 0 || at >= n)
        return rnnc_fail(RNNC_E_ARG, "%s: fit.validation_split %g of %lld samples leaves no %s data; change the split or add data",
                         ses->spec->path, frac, (long long)n, at <= 0 ? "training" : "validation");
    rnnc_task_data tr = {0}, va = {0};
    rnnc_tensor **src[4] = {&ses->train.x, &ses->train.y, &ses->train.sample_weight, &ses->train.mask};
    rnnc_tensor **dt[4] = {&tr.x, &tr.y, &tr.sample_weight, &tr.mask};
    rnnc_tensor **dv[4] = {&va.x, &va.y, &va.sample_weight, &va.mask};
    rnnc_status s = RNNC_OK;
    for (int k = 0; k < 4 && s == RNNC_OK; k++)
        if (*src[k] && (s = take_rows(*src[k], 0, at, dt[k])) == RNNC_OK)
            s = take_rows(*src[k], at, n, dv[k]);
    if (s != RNNC_OK) {
        rnnc_task_data_free(&tr);
        rnnc_task_data_free(&va);
        return s;
    }
    rnnc_task_data_free(&ses->train);
    ses->train = tr;
    ses->validation = va;
    return RNNC_OK;
}

/* ---- the callback ---- */

static rnnc_status on_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    rnnc_train_state *ts = cb->user;
    (void)tr;
    RNNC_TRY(history_append(ts->history, logs));
    ts->last_logs = *logs;
    ts->last_epoch = epoch;
    const rnnc_training_spec *spec = ts->ses->spec;
    int64_t done = epoch + 1;
    if (spec->has_checkpoint && (done % spec->checkpoint_every == 0 || done == spec->epochs)) {
        char path[4200];
        rnnc_checkpoint_filename(spec->checkpoint_dir, done, path, sizeof path);
        RNNC_TRY(rnnc_train_state_checkpoint(ts, done, path));
        RNNC_TRY(rnnc_checkpoint_rotate(spec->checkpoint_dir, spec->checkpoint_keep));
        snprintf(ts->last_checkpoint, sizeof ts->last_checkpoint, "%s", path);
    }
    return RNNC_OK;
}

void rnnc_train_state_init(rnnc_train_state *ts)
{
    memset(ts, 0, sizeof *ts);
    ts->callback.user = ts;
    ts->callback.on_epoch_end = on_epoch_end;
    ts->callback.on_epoch_begin = on_epoch_begin;
    ts->last_epoch = -1;
}

void rnnc_train_state_clear(rnnc_train_state *ts)
{
    rnnc_cfg_destroy(ts->history);
    for (int k = 0; k < 3; k++)
        rnnc_tensor_destroy(ts->orig[k]);
    free(ts->model_json);
    free(ts->spec_json);
    rnnc_train_state_init(ts);
}

rnnc_status rnnc_train_state_setup(rnnc_train_state *ts, rnnc_app_session *ses, rnnc_trainer *tr)
{
    ts->ses = ses;
    ts->tr = tr;
    ts->shuffle_seed = ses->spec->seed;
    ts->shuffle = ses->spec->shuffle;
    RNNC_TRY(split_validation(ses));
    if (ts->shuffle && ses->train.x && ses->train.x->shape.dim[0] > 1) {
        rnnc_tensor *w[3] = {ses->train.x, ses->train.y, ses->train.sample_weight};
        for (int k = 0; k < 3; k++)
            if (w[k]) {
                ts->work[k] = w[k];
                RNNC_TRY(rnnc_tensor_clone(w[k], &ts->orig[k]));
            }
    }
    if (!(ts->history = rnnc_cfg_map()))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_cfg *c;
    RNNC_TRY(rnnc_model_serialize(ses->model, &c));
    rnnc_status s = rnnc_json_write(c, -1, &ts->model_json);
    rnnc_cfg_destroy(c);
    RNNC_TRY(s);
    RNNC_TRY(rnnc_json_write(ses->spec->root, -1, &ts->spec_json));
    if (ses->spec->has_checkpoint) {
        RNNC_TRY(rnnc_checkpoint_mkdir(ses->spec->checkpoint_dir));
        RNNC_TRY(rnnc_checkpoint_clean_stale(ses->spec->checkpoint_dir, NULL));
    }
    return RNNC_OK;
}

rnnc_status rnnc_train_state_checkpoint(rnnc_train_state *ts, int64_t epochs_done, const char *path)
{
    rnnc_optimizer *opt = rnnc_trainer_optimizer(ts->tr);
    rnnc_checkpoint_state st;
    memset(&st, 0, sizeof st);
    st.epoch = epochs_done;
    st.step = opt ? rnnc_optimizer_iterations(opt) : 0;
    /* Borrowed: this state is only read by the save, never cleared. */
    st.history = ts->history;
    st.model_config = ts->model_json;
    st.training_spec = ts->spec_json;
    rnnc_rng shuffle = {.seed = ts->shuffle_seed, .counter = (uint64_t)epochs_done};
    RNNC_TRY(rnnc_checkpoint_state_set_rng(&st, "shuffle", &shuffle));
    RNNC_TRY(walk_model(ts->ses->model, collect, &st));
    rnnc_cfg *oc = NULL;
    char *opt_json = NULL;
    if (opt) {
        RNNC_TRY(rnnc_optimizer_serialize(opt, &oc));
        rnnc_status s = rnnc_json_write(oc, -1, &opt_json);
        rnnc_cfg_destroy(oc);
        RNNC_TRY(s);
    }
    st.optimizer_config = opt_json;
    rnnc_status s = rnnc_checkpoint_save(path, ts->ses->model, opt, &st);
    free(opt_json);
    return s;
}

rnnc_status rnnc_train_state_resume(rnnc_train_state *ts, const char *path)
{
    rnnc_checkpoint_state st;
    memset(&st, 0, sizeof st);
    /* The streams are checked against the file before anything changes. */
    rnnc_status s = rnnc_checkpoint_read_state(path, &st);
    restore_ctx rc = {&st, path, false};
    if (s == RNNC_OK)
        s = walk_model(ts->ses->model, restore, &rc);
    rnnc_checkpoint_state_clear(&st);
    if (s == RNNC_OK)
        s = rnnc_checkpoint_load(path, ts->ses->model, rnnc_trainer_optimizer(ts->tr), &st);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "--resume: ");
    rc.apply = true;
    walk_model(ts->ses->model, restore, &rc);
    const rnnc_rng *sh = rnnc_checkpoint_state_rng(&st, "shuffle");
    if (sh)
        ts->shuffle_seed = sh->seed;
    ts->start_epoch = st.epoch;
    ts->last_epoch = st.epoch - 1;
    if (st.history) {
        rnnc_cfg_destroy(ts->history);
        ts->history = st.history;
        st.history = NULL;
        memset(&ts->last_logs, 0, sizeof ts->last_logs);
        for (size_t i = 0; i < ts->history->n; i++) {
            const rnnc_cfg *l = ts->history->items[i];
            if (l->n > 0)
                rnnc_logs_set(&ts->last_logs, ts->history->keys[i], l->items[l->n - 1]->v.f);
        }
    }
    rnnc_checkpoint_state_clear(&st);
    return RNNC_OK;
}

rnnc_status rnnc_train_state_save_weights(rnnc_train_state *ts, const char *path)
{
    rnnc_optimizer *opt = rnnc_trainer_optimizer(ts->tr);
    int n = 0;
    if (opt)
        RNNC_TRY(rnnc_optimizer_variables(opt, NULL, 0, &n));
    rnnc_optimizer_variable *vars = n ? calloc((size_t)n, sizeof *vars) : NULL;
    const rnnc_tensor **t = n ? calloc((size_t)n, sizeof *t) : NULL;
    rnnc_status s = RNNC_OK;
    if (n && (!vars || !t))
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (s == RNNC_OK && n)
        s = rnnc_optimizer_variables(opt, vars, n, &n);
    for (int i = 0; s == RNNC_OK && i < n; i++)
        t[i] = vars[i].value;
    if (s == RNNC_OK)
        s = rnnc_weights_save(ts->ses->model, path, t, n, opt ? rnnc_optimizer_name(opt) : NULL);
    free(vars);
    free(t);
    return s;
}
