/* train_state.c - history, checkpoint schedule, random streams and resume
 * for `rnnc train` (train_state.h). */
#define _POSIX_C_SOURCE 200809L
#include "apps/train_state.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apps/history_files.h"
#include "apps/interrupt.h"
#include "apps/resume_check.h"

#include "framework/rnn.h"
#include "io/json_writer.h"
#include "io/model_save.h"
#include "io/weights_h5.h"
#include "layers/dropout.h"
#include "layers/gru_cell.h"
#include "layers/lstm_cell.h"
#include "layers/simple_rnn_cell.h"

/* ---- the random streams of a model ---- */

/* required false: a stream that older checkpoints did not hold (LSTM and
 * SimpleRNN cells'); one missing there keeps its current state. */
typedef rnnc_status (*rng_fn)(void *user, const char *name, rnnc_rng *r, bool required);

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
 * GRU, LSTM and SimpleRNN cells' and Dropout layers' dropout streams. */
static rnnc_status walk(rnnc_layer *l, const char *path, rng_fn fn, void *user)
{
    rnnc_rng *r = NULL;
    bool required = true;
    if (rnnc_layer_is_gru_cell(l))
        r = &rnnc_gru_cell_of(l)->rng;
    else if (l->cls == &rnnc_dropout_class)
        r = &((rnnc_dropout_layer *)l)->rng;
    else if (rnnc_layer_is_lstm_cell(l))
        r = &rnnc_lstm_cell_of(l)->rng, required = false;
    else if (rnnc_simple_rnn_cell_of(l))
        r = &rnnc_simple_rnn_cell_of(l)->rng, required = false;
    if (r) {
        char name[64];
        stream_name(path, name, sizeof name);
        RNNC_TRY(fn(user, name, r, required));
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

static rnnc_status collect(void *user, const char *name, rnnc_rng *r, bool required)
{
    (void)required;
    return rnnc_checkpoint_state_set_rng(user, name, r);
}

typedef struct restore_ctx {
    const rnnc_checkpoint_state *st;
    const char *path;
    bool apply; /* false: only check that every stream is there */
} restore_ctx;

static rnnc_status restore(void *user, const char *name, rnnc_rng *r, bool required)
{
    restore_ctx *c = user;
    const rnnc_rng *saved = rnnc_checkpoint_state_rng(c->st, name);
    if (!saved && !required)
        return RNNC_OK; /* an older checkpoint: the stream goes on from where it is */
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
    if (!ts->shuffle || (!ts->orig[0] && !ts->perm))
        return RNNC_OK;
    int64_t n = ts->ses->train_rows;
    int64_t *perm = ts->perm ? ts->perm : malloc((size_t)n * sizeof *perm);
    if (!perm)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory shuffling %lld samples", (long long)n);
    /* One order per pass over the data: with steps_per_epoch an epoch may
     * continue the pass of the one before (the pass is the epoch without). */
    int64_t first, count, pass;
    rnnc_fit_epoch_span(ts->steps, ts->ses->spec->steps_per_epoch, epoch - rnnc_train_state_pass_origin(ts), &first,
                        &count, &pass);
    epoch_permutation(ts->shuffle_seed, pass, perm, (size_t)n);
    if (perm == ts->perm)
        return RNNC_OK; /* the row source reads the file's rows in this order */
    reorder(ts, perm, n);
    free(perm);
    return RNNC_OK;
}

int64_t rnnc_train_state_pass_origin(const rnnc_train_state *ts)
{
    const int64_t origin = ts->ses->spec->initial_epoch;
    return origin < ts->start_epoch ? origin : ts->start_epoch;
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
    ses->train_rows = at;
    return RNNC_OK;
}

/* ---- the callback ---- */

/* Records a checkpoint this run wrote in its directory, then rotates the
 * run's own files; last_checkpoint names it while it exists. */
static rnnc_status own_written(rnnc_train_state *ts, rnnc_checkpoint_pos pos, const char *path, bool rotate)
{
    const rnnc_training_spec *spec = ts->ses->spec;
    bool known = false;
    for (size_t i = 0; i < ts->n_own && !known; i++)
        known = rnnc_checkpoint_pos_cmp(ts->own[i], pos) == 0;
    if (!known) {
        rnnc_checkpoint_pos *p = realloc(ts->own, (ts->n_own + 1) * sizeof *p);
        if (!p)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        ts->own = p;
        ts->own[ts->n_own++] = pos;
    }
    if (rotate)
        RNNC_TRY(rnnc_checkpoint_rotate(spec->checkpoint_dir, spec->checkpoint_keep, ts->own, &ts->n_own));
    struct stat st;
    snprintf(ts->last_checkpoint, sizeof ts->last_checkpoint, "%s", stat(path, &st) == 0 ? path : "");
    return RNNC_OK;
}

static rnnc_status on_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    rnnc_train_state *ts = cb->user;
    (void)tr;
    RNNC_TRY(history_append(ts->history, logs));
    if (ts->history_dir) {
        RNNC_TRY(rnnc_mkdir_parents("history folder", ts->history_dir));
        RNNC_TRY(rnnc_history_files_write(ts->history_dir, ts->history, ts->history_first_epoch));
    }
    ts->last_logs = *logs;
    ts->last_epoch = epoch;
    const rnnc_training_spec *spec = ts->ses->spec;
    int64_t done = epoch + 1;
    if (spec->has_checkpoint && (done % spec->checkpoint_every == 0 || done == spec->epochs)) {
        char path[4200];
        rnnc_checkpoint_pos pos = {done, 0};
        rnnc_checkpoint_filename_at(spec->checkpoint_dir, pos, path, sizeof path);
        RNNC_TRY(rnnc_train_state_checkpoint(ts, pos, path));
        RNNC_TRY(own_written(ts, pos, path, true));
    }
    return RNNC_OK;
}

static rnnc_status on_batch_end(rnnc_callback *cb, rnnc_trainer *tr, int step, const rnnc_logs *logs)
{
    (void)cb;
    (void)tr;
    (void)step;
    (void)logs;
    rnnc_interrupt_test_batch();
    return RNNC_OK;
}

void rnnc_train_state_init(rnnc_train_state *ts)
{
    memset(ts, 0, sizeof *ts);
    ts->callback.user = ts;
    ts->callback.on_epoch_end = on_epoch_end;
    ts->callback.on_epoch_begin = on_epoch_begin;
    ts->callback.on_train_batch_end = on_batch_end;
    ts->last_epoch = -1;
}

void rnnc_train_state_clear(rnnc_train_state *ts)
{
    rnnc_cfg_destroy(ts->history);
    for (int k = 0; k < 3; k++)
        rnnc_tensor_destroy(ts->orig[k]);
    free(ts->model_json);
    free(ts->spec_json);
    free(ts->own);
    free(ts->history_dir);
    free(ts->perm);
    rnnc_train_state_init(ts);
}

/* The spec as JSON with fit.epochs and fit.seed as this run uses them
 * (--epochs, --seed), for the checkpoint and the comparison on --resume. */
static rnnc_status spec_as_used(const rnnc_training_spec *spec, char **out)
{
    rnnc_cfg *root = rnnc_cfg_clone(spec->root);
    if (!root)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_status s = RNNC_OK;
    if (root->type == RNNC_CFG_MAP && !rnnc_cfg_peek(root, "fit"))
        s = rnnc_cfg_set(root, "fit", rnnc_cfg_map());
    rnnc_cfg *fit = s == RNNC_OK ? (rnnc_cfg *)rnnc_cfg_peek(root, "fit") : NULL;
    if (fit && fit->type == RNNC_CFG_MAP) {
        if ((s = rnnc_cfg_set_int(fit, "epochs", spec->epochs)) == RNNC_OK)
            s = rnnc_cfg_set_int(fit, "seed", (int64_t)spec->seed);
    }
    if (s == RNNC_OK)
        s = rnnc_json_write(root, -1, out);
    rnnc_cfg_destroy(root);
    return s;
}

rnnc_status rnnc_train_state_setup(rnnc_train_state *ts, rnnc_app_session *ses, rnnc_trainer *tr)
{
    ts->ses = ses;
    ts->tr = tr;
    ts->shuffle_seed = ses->spec->seed;
    ts->shuffle = ses->spec->shuffle;
    RNNC_TRY(split_validation(ses));
    if (ses->train.x) {
        const int64_t n = ses->train_rows, bs = ses->spec->batch_size;
        ts->steps = n / bs + (n % bs != 0);
    }
    ts->history_first_epoch = ses->spec->initial_epoch;
    RNNC_TRY(rnnc_train_state_history_dir(ses->spec, &ts->history_dir));
    if (ts->shuffle && ses->train_by_rows && !ses->streaming && ses->train_rows > 1 &&
        !(ts->perm = malloc((size_t)ses->train_rows * sizeof *ts->perm)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory for the order of %lld samples", (long long)ses->train_rows);
    if (ts->shuffle && !ses->train_by_rows && ses->train.x && ses->train.x->shape.dim[0] > 1) {
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
    RNNC_TRY(spec_as_used(ses->spec, &ts->spec_json));
    if (ses->spec->has_checkpoint) {
        RNNC_TRY(rnnc_checkpoint_mkdir(ses->spec->checkpoint_dir));
        RNNC_TRY(rnnc_checkpoint_clean_stale(ses->spec->checkpoint_dir, NULL));
    }
    return RNNC_OK;
}

/* This run's optimizer config as JSON (*out NULL without an optimizer). */
static rnnc_status optimizer_json(rnnc_optimizer *opt, char **out)
{
    rnnc_cfg *oc = NULL;
    *out = NULL;
    if (!opt)
        return RNNC_OK;
    RNNC_TRY(rnnc_optimizer_serialize(opt, &oc));
    rnnc_status s = rnnc_json_write(oc, -1, out);
    rnnc_cfg_destroy(oc);
    return s;
}

rnnc_status rnnc_train_state_checkpoint(rnnc_train_state *ts, rnnc_checkpoint_pos pos, const char *path)
{
    rnnc_optimizer *opt = rnnc_trainer_optimizer(ts->tr);
    rnnc_checkpoint_state st;
    memset(&st, 0, sizeof st);
    int64_t epochs_done = pos.epoch;
    st.epoch = epochs_done;
    st.batch = pos.batch;
    st.run_id = ts->run_id;
    st.step = opt ? rnnc_optimizer_iterations(opt) : 0;
    if (pos.batch > 0)
        RNNC_TRY(rnnc_trainer_metric_state(ts->tr, st.metric_state, RNNC_CHECKPOINT_MAX_METRIC_STATE,
                                           &st.n_metric_state));
    /* Borrowed: this state is only read by the save, never cleared. */
    st.history = ts->history;
    st.model_config = ts->model_json;
    st.training_spec = ts->spec_json;
    rnnc_rng shuffle = {.seed = ts->shuffle_seed, .counter = (uint64_t)epochs_done};
    RNNC_TRY(rnnc_checkpoint_state_set_rng(&st, "shuffle", &shuffle));
    RNNC_TRY(walk_model(ts->ses->model, collect, &st));
    char *opt_json = NULL;
    RNNC_TRY(optimizer_json(opt, &opt_json));
    st.optimizer_config = opt_json;
    rnnc_status s = rnnc_checkpoint_save(path, ts->ses->model, opt, &st);
    free(opt_json);
    return s;
}

rnnc_status rnnc_train_state_resume(rnnc_train_state *ts, const char *path, FILE *out)
{
    rnnc_optimizer *opt = rnnc_trainer_optimizer(ts->tr);
    rnnc_checkpoint_state st;
    memset(&st, 0, sizeof st);
    /* Checked against the file before anything changes: the setup (model,
     * optimizer, spec) and every random stream. */
    char *opt_json = NULL;
    bool lr_changed = false;
    rnnc_status s = rnnc_checkpoint_read_state(path, &st);
    if (s == RNNC_OK)
        s = optimizer_json(opt, &opt_json);
    if (s == RNNC_OK) {
        rnnc_resume_now now = {ts->model_json, opt_json, ts->spec_json, ts->shuffle_seed};
        s = rnnc_resume_check(&st, path, &now, out, &lr_changed);
    }
    free(opt_json);
    if (s != RNNC_OK) {
        rnnc_checkpoint_state_clear(&st);
        return s;
    }
    restore_ctx rc = {&st, path, false};
    s = walk_model(ts->ses->model, restore, &rc);
    rnnc_checkpoint_state_clear(&st);
    /* The spec's learning rate wins over the one saved with the optimizer. */
    const bool set_lr = opt && lr_changed && !rnnc_optimizer_has_schedule(opt);
    const double lr = opt ? rnnc_optimizer_learning_rate(opt) : 0.0;
    if (s == RNNC_OK)
        s = rnnc_checkpoint_load(path, ts->ses->model, opt, &st);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "--resume: ");
    if (set_lr && (s = rnnc_optimizer_set_learning_rate(opt, lr))) {
        rnnc_checkpoint_state_clear(&st);
        return s;
    }
    rc.apply = true;
    walk_model(ts->ses->model, restore, &rc);
    ts->start_epoch = st.epoch;
    ts->start_batch = st.batch;
    ts->run_id = st.run_id;
    ts->n_metric_state = st.n_metric_state;
    memcpy(ts->metric_state, st.metric_state, sizeof ts->metric_state);
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

/* A new run id: random bits, never 0. */
static uint64_t new_run_id(void)
{
    uint64_t id = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, &id, sizeof id) != (ssize_t)sizeof id)
            id = 0;
        close(fd);
    }
    if (id == 0) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        id = ((uint64_t)t.tv_sec * 1000000007ull) ^ (uint64_t)t.tv_nsec ^ ((uint64_t)getpid() << 40);
    }
    return id ? id : 1;
}

/* Whether the checkpoint at pos in dir is this run's up to where it starts. */
static bool is_own(const rnnc_train_state *ts, const char *dir, rnnc_checkpoint_pos pos, bool resumed)
{
    rnnc_checkpoint_pos start = {ts->start_epoch, ts->start_batch};
    if (!resumed || rnnc_checkpoint_pos_cmp(pos, start) > 0)
        return false;
    char path[4200];
    rnnc_checkpoint_filename_at(dir, pos, path, sizeof path);
    rnnc_checkpoint_state st;
    if (rnnc_checkpoint_read_state(path, &st) != RNNC_OK) {
        rnnc_clear_error(); /* damaged: not known to be the run's */
        return false;
    }
    bool own = st.run_id == ts->run_id;
    rnnc_checkpoint_state_clear(&st);
    return own;
}

rnnc_status rnnc_train_state_claim_dir(rnnc_train_state *ts, bool resumed, bool overwrite, FILE *out)
{
    const rnnc_training_spec *spec = ts->ses->spec;
    if (!resumed)
        ts->run_id = new_run_id();
    if (!spec->has_checkpoint)
        return RNNC_OK;
    const char *dir = spec->checkpoint_dir;
    rnnc_checkpoint_pos *all;
    size_t n, n_other = 0;
    RNNC_TRY(rnnc_checkpoint_list(dir, &all, &n));
    free(ts->own);
    ts->own = NULL;
    ts->n_own = 0;
    /* all[] is split in place: own files first, then the others. */
    for (size_t i = 0; i < n; i++)
        if (is_own(ts, dir, all[i], resumed)) {
            rnnc_checkpoint_pos t = all[ts->n_own];
            all[ts->n_own++] = all[i];
            all[i] = t;
        }
    n_other = n - ts->n_own;
    rnnc_checkpoint_pos *other = all + ts->n_own;
    char first[4200], last[4200];
    rnnc_status s = RNNC_OK;
    if (n_other > 0) {
        rnnc_checkpoint_filename_at(dir, other[0], first, sizeof first);
        rnnc_checkpoint_filename_at(dir, other[n_other - 1], last, sizeof last);
        const char *a = strrchr(first, '/') + 1, *b = strrchr(last, '/') + 1;
        if (!overwrite && !resumed)
            s = rnnc_fail(RNNC_E_ARG, "checkpoint directory '%s' already holds %zu checkpoint%s of an earlier run (%s%s%s); a new run does not delete them: continue that run with --resume %s, move them away, or pass --overwrite to delete them first",
                          dir, n_other, n_other == 1 ? "" : "s", a, n_other > 1 ? " ... " : "", n_other > 1 ? b : "",
                          dir);
        else if (!overwrite)
            s = rnnc_fail(RNNC_E_ARG, "checkpoint directory '%s' holds %zu checkpoint%s that %s not the resumed run's up to where it resumes (%s%s%s: another run's, damaged, or past the checkpoint resumed from); move them away, or pass --overwrite to delete them first",
                          dir, n_other, n_other == 1 ? "" : "s", n_other == 1 ? "is" : "are", a,
                          n_other > 1 ? " ... " : "", n_other > 1 ? b : "");
        for (size_t i = 0; s == RNNC_OK && i < n_other; i++) {
            char path[4200];
            rnnc_checkpoint_filename_at(dir, other[i], path, sizeof path);
            if (unlink(path) != 0 && errno != ENOENT)
                s = rnnc_fail(RNNC_E_IO, "--overwrite: cannot delete old checkpoint '%s': %s", path, strerror(errno));
        }
        if (s == RNNC_OK)
            fprintf(out, "Removed %zu old checkpoint%s from %s (--overwrite): %s%s%s\n", n_other,
                    n_other == 1 ? "" : "s", dir, a, n_other > 1 ? " ... " : "", n_other > 1 ? b : "");
    }
    if (s == RNNC_OK && ts->n_own > 0) {
        ts->own = all; /* the own entries are first */
        all = NULL;
    } else {
        ts->n_own = 0;
    }
    free(all);
    return s;
}

rnnc_status rnnc_train_state_interrupt(rnnc_train_state *ts, int epoch, int64_t batches_done, char *path,
                                       size_t cap)
{
    const rnnc_training_spec *spec = ts->ses->spec;
    rnnc_checkpoint_pos pos = {epoch, batches_done};
    if (spec->has_checkpoint) {
        rnnc_checkpoint_filename_at(spec->checkpoint_dir, pos, path, cap);
    } else {
        const char *base = strrchr(spec->path, '/') ? strrchr(spec->path, '/') + 1 : spec->path;
        const char *dot = strrchr(base, '.');
        int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
        snprintf(path, cap, "%.*s.interrupted.weights.h5", len, base);
    }
    rnnc_interrupt_test_point("ckpt");
    RNNC_TRY(rnnc_train_state_checkpoint(ts, pos, path));
    /* Counted as the run's own for later rotation, but none is deleted now. */
    if (spec->has_checkpoint)
        RNNC_TRY(own_written(ts, pos, path, false));
    return RNNC_OK;
}

rnnc_status rnnc_train_state_save_weights(rnnc_train_state *ts, const char *path)
{
    rnnc_optimizer *opt = rnnc_trainer_optimizer(ts->tr);
    const rnnc_tensor **t = NULL;
    int n = 0;
    RNNC_TRY(rnnc_model_save_optimizer_tensors(opt, &t, &n));
    rnnc_status s = rnnc_weights_save(ts->ses->model, path, t, n, opt ? rnnc_optimizer_name(opt) : NULL);
    free(t);
    return s;
}

rnnc_status rnnc_train_state_history_dir(const rnnc_training_spec *spec, char **out)
{
    char buf[4200];
    const char *dir = spec->history_dir ? spec->history_dir : spec->has_checkpoint ? spec->checkpoint_dir : NULL;
    if (!dir) {
        const char *base = strrchr(spec->path, '/') ? strrchr(spec->path, '/') + 1 : spec->path;
        const char *dot = strrchr(base, '.');
        int len = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
        snprintf(buf, sizeof buf, "%.*s.history", len, base);
        dir = buf;
    }
    size_t n = strlen(dir) + 1;
    if (!(*out = malloc(n)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    memcpy(*out, dir, n);
    return RNNC_OK;
}

rnnc_status rnnc_train_state_save_keras(rnnc_train_state *ts, const char *path)
{
    /* Compiled as the spec's compile section says, with the optimizer's
     * state: keras.saving.load_model gives a model that goes on training. */
    const rnnc_cfg *c = ts->ses->spec->compile;
    rnnc_model_compile_info ci = {
        .optimizer = rnnc_trainer_optimizer(ts->tr),
        .loss = c ? rnnc_cfg_peek(c, "loss") : NULL,
        .metrics = c ? rnnc_cfg_peek(c, "metrics") : NULL,
        .weighted_metrics = c ? rnnc_cfg_peek(c, "weighted_metrics") : NULL,
    };
    return rnnc_model_save_compiled(ts->ses->model, path, &ci);
}
