/* callbacks.c - Keras's EarlyStopping, ReduceLROnPlateau, CSVLogger,
 * TerminateOnNaN and the ModelCheckpoint hook, as rnnc_callback values
 * (trainer.h). The progress callback is in trainer.c, its display in
 * progress.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/callback_internal.h"
#include "optim/trainer.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- monitor (MonitorCallback) --------------------------------------------- */

typedef struct monitor {
    char name[RNNC_LOG_NAME_MAX];
    rnnc_monitor_mode mode;
    int op;           /* 0 unset, -1 less is better, +1 greater is better */
    double min_delta; /* sign set with op */
    bool has_best;
    double best;
} monitor;

static rnnc_status monitor_init(monitor *m, const char *cls, const char *name, rnnc_monitor_mode mode,
                                double min_delta)
{
    if (!name)
        name = "val_loss";
    if (strlen(name) >= RNNC_LOG_NAME_MAX)
        return rnnc_fail(RNNC_E_ARG, "%s: monitor name '%s' is too long", cls, name);
    if ((unsigned)mode > RNNC_MODE_MAX)
        return rnnc_fail(RNNC_E_ARG, "%s: mode must be auto, min or max", cls);
    memset(m, 0, sizeof *m);
    strcpy(m->name, name);
    m->mode = mode;
    m->min_delta = fabs(min_delta);
    return RNNC_OK;
}

static rnnc_status monitor_set_op(monitor *m, rnnc_trainer *tr, const char *cls)
{
    if (m->op)
        return RNNC_OK;
    if (m->mode == RNNC_MODE_MIN)
        m->op = -1;
    else if (m->mode == RNNC_MODE_MAX)
        m->op = 1;
    else
        m->op = rnnc_trainer_log_direction(tr, m->name);
    if (!m->op)
        return rnnc_fail(RNNC_E_ARG, "%s callback received monitor=%s, but it is not able to automatically determine whether that metric should be maximized or minimized; pass mode max or min",
                         cls, m->name);
    if (m->op < 0)
        m->min_delta = -m->min_delta;
    return RNNC_OK;
}

static bool improved(const monitor *m, double current, bool has_ref, double ref)
{
    if (!has_ref)
        return true;
    const double v = current - m->min_delta;
    return m->op > 0 ? v > ref : v < ref;
}

/* ---- EarlyStopping ----------------------------------------------------------- */

rnnc_early_stopping_options rnnc_early_stopping_options_default(void)
{
    rnnc_early_stopping_options o;
    memset(&o, 0, sizeof o);
    o.monitor = "val_loss";
    return o;
}

typedef struct early {
    rnnc_early_stopping_options o;
    monitor mon;
    int wait, stopped_epoch, best_epoch;
    rnnc_tensor **best;  /* snapshot of every model weight */
    int n_best;
} early;

static void early_free_best(early *e)
{
    for (int i = 0; i < e->n_best; i++)
        rnnc_tensor_destroy(e->best[i]);
    free(e->best);
    e->best = NULL;
    e->n_best = 0;
}

static rnnc_status snapshot(rnnc_trainer *tr, early *e)
{
    rnnc_model *m = rnnc_trainer_model(tr);
    int n = 0;
    RNNC_TRY(rnnc_model_weights(m, NULL, 0, &n));
    rnnc_weight **w = calloc((size_t)n + 1, sizeof *w);
    if (!w)
        return rnnc_fail(RNNC_E_NOMEM, "EarlyStopping: out of memory");
    rnnc_status s = rnnc_model_weights(m, w, n, &n);
    if (!s && e->n_best != n) {
        early_free_best(e);
        e->best = calloc((size_t)n + 1, sizeof *e->best);
        if (!e->best)
            s = rnnc_fail(RNNC_E_NOMEM, "EarlyStopping: out of memory");
        else
            e->n_best = n;
    }
    for (int i = 0; !s && i < n; i++) {
        if (!e->best[i])
            s = rnnc_tensor_clone(w[i]->value, &e->best[i]);
        else
            s = rnnc_tensor_copy(e->best[i], w[i]->value);
    }
    free(w);
    return s;
}

static rnnc_status restore(rnnc_trainer *tr, early *e)
{
    rnnc_model *m = rnnc_trainer_model(tr);
    int n = 0;
    RNNC_TRY(rnnc_model_weights(m, NULL, 0, &n));
    if (n != e->n_best)
        return rnnc_fail(RNNC_E_STATE, "EarlyStopping: the model has %d weights, the saved best has %d", n, e->n_best);
    rnnc_weight **w = calloc((size_t)n + 1, sizeof *w);
    if (!w)
        return rnnc_fail(RNNC_E_NOMEM, "EarlyStopping: out of memory");
    rnnc_status s = rnnc_model_weights(m, w, n, &n);
    for (int i = 0; !s && i < n; i++)
        s = rnnc_tensor_copy(w[i]->value, e->best[i]);
    free(w);
    return s;
}

static rnnc_status early_begin(rnnc_callback *cb, rnnc_trainer *tr)
{
    (void)tr;
    early *e = cb->user;
    e->wait = 0;
    e->stopped_epoch = 0;
    e->best_epoch = 0;
    e->mon.has_best = false;
    early_free_best(e);
    return RNNC_OK;
}

static rnnc_status early_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    early *e = cb->user;
    RNNC_TRY(monitor_set_op(&e->mon, tr, "EarlyStopping"));
    const double *cur = rnnc_logs_get(logs, e->mon.name);
    if (!cur || epoch < e->o.start_from_epoch)
        return RNNC_OK; /* Keras warns that the monitor is not available */
    if (e->o.restore_best_weights && !e->best) {
        RNNC_TRY(snapshot(tr, e));
        e->best_epoch = epoch;
    }
    e->wait++;
    if (improved(&e->mon, *cur, e->mon.has_best, e->mon.best)) {
        e->mon.best = *cur;
        e->mon.has_best = true;
        e->best_epoch = epoch;
        if (e->o.restore_best_weights)
            RNNC_TRY(snapshot(tr, e));
        if (!e->o.has_baseline || improved(&e->mon, *cur, true, e->o.baseline))
            e->wait = 0;
        return RNNC_OK;
    }
    if (e->wait >= e->o.patience && epoch > 0) {
        e->stopped_epoch = epoch;
        rnnc_trainer_stop(tr);
    }
    return RNNC_OK;
}

static rnnc_status early_end(rnnc_callback *cb, rnnc_trainer *tr, const rnnc_logs *logs)
{
    (void)logs;
    early *e = cb->user;
    char msg[160];
    if (e->stopped_epoch > 0 && e->o.verbose > 0) {
        snprintf(msg, sizeof msg, "Epoch %d: early stopping\n", e->stopped_epoch + 1);
        rnnc_trainer_print(tr, msg);
    }
    if (e->o.restore_best_weights && e->best) {
        if (e->o.verbose > 0) {
            snprintf(msg, sizeof msg, "Restoring model weights from the end of the best epoch: %d.\n",
                     e->best_epoch + 1);
            rnnc_trainer_print(tr, msg);
        }
        RNNC_TRY(restore(tr, e));
    }
    return RNNC_OK;
}

static void early_destroy(rnnc_callback *cb)
{
    early *e = cb->user;
    early_free_best(e);
    rnnc__callback_destroy_state(cb);
}

rnnc_status rnnc_early_stopping_create(const rnnc_early_stopping_options *o, rnnc_callback **out)
{
    rnnc_early_stopping_options d = rnnc_early_stopping_options_default();
    *out = NULL;
    if (!o)
        o = &d;
    if (o->patience < 0)
        return rnnc_fail(RNNC_E_ARG, "EarlyStopping: patience must be >= 0, got %d", o->patience);
    rnnc_callback *cb;
    RNNC_TRY(rnnc__callback_create("EarlyStopping", sizeof(early), &cb));
    early *e = cb->user;
    e->o = *o;
    rnnc_status s = monitor_init(&e->mon, "EarlyStopping", o->monitor, o->mode, o->min_delta);
    if (s) {
        rnnc__callback_destroy_state(cb);
        return s;
    }
    cb->on_train_begin = early_begin;
    cb->on_epoch_end = early_epoch_end;
    cb->on_train_end = early_end;
    cb->destroy = early_destroy;
    *out = cb;
    return RNNC_OK;
}

/* ---- ReduceLROnPlateau ----------------------------------------------------------- */

rnnc_reduce_lr_on_plateau_options rnnc_reduce_lr_on_plateau_options_default(void)
{
    rnnc_reduce_lr_on_plateau_options o;
    memset(&o, 0, sizeof o);
    o.monitor = "val_loss";
    o.factor = 0.1;
    o.patience = 10;
    o.min_delta = 1e-4;
    return o;
}

typedef struct reduce_lr {
    rnnc_reduce_lr_on_plateau_options o;
    monitor mon;
    int wait, cooldown_counter;
} reduce_lr;

static rnnc_status rlr_begin(rnnc_callback *cb, rnnc_trainer *tr)
{
    (void)tr;
    reduce_lr *r = cb->user;
    r->mon.has_best = false;
    r->wait = 0;
    r->cooldown_counter = 0;
    return RNNC_OK;
}

static rnnc_status rlr_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    reduce_lr *r = cb->user;
    rnnc_optimizer *opt = rnnc_trainer_optimizer(tr);
    RNNC_TRY(monitor_set_op(&r->mon, tr, "ReduceLROnPlateau"));
    RNNC_TRY(rnnc_logs_set(logs, "learning_rate", rnnc_optimizer_learning_rate(opt)));
    const double *cur = rnnc_logs_get(logs, r->mon.name);
    if (!cur)
        return RNNC_OK; /* Keras warns: the monitor is not available */
    if (r->cooldown_counter > 0) {
        r->cooldown_counter--;
        r->wait = 0;
    }
    if (improved(&r->mon, *cur, r->mon.has_best, r->mon.best)) {
        r->mon.best = *cur;
        r->mon.has_best = true;
        r->wait = 0;
    } else if (r->cooldown_counter <= 0) {
        r->wait++;
        if (r->wait >= r->o.patience) {
            const double old_lr = rnnc_optimizer_learning_rate(opt);
            if (old_lr > (double)(float)r->o.min_lr) {
                double new_lr = old_lr * r->o.factor;
                if (new_lr < r->o.min_lr)
                    new_lr = r->o.min_lr;
                RNNC_TRY(rnnc_optimizer_set_learning_rate(opt, new_lr));
                if (r->o.verbose > 0) {
                    char msg[160];
                    snprintf(msg, sizeof msg, "\nEpoch %d: ReduceLROnPlateau reducing learning rate to %.17g.\n",
                             epoch + 1, new_lr);
                    rnnc_trainer_print(tr, msg);
                }
                r->cooldown_counter = r->o.cooldown;
                r->wait = 0;
            }
        }
    }
    return RNNC_OK;
}

rnnc_status rnnc_reduce_lr_on_plateau_create(const rnnc_reduce_lr_on_plateau_options *o, rnnc_callback **out)
{
    rnnc_reduce_lr_on_plateau_options d = rnnc_reduce_lr_on_plateau_options_default();
    *out = NULL;
    if (!o)
        o = &d;
    if (!(o->factor < 1.0))
        return rnnc_fail(RNNC_E_ARG, "ReduceLROnPlateau does not support a factor >= 1.0, got factor=%g", o->factor);
    rnnc_callback *cb;
    RNNC_TRY(rnnc__callback_create("ReduceLROnPlateau", sizeof(reduce_lr), &cb));
    reduce_lr *r = cb->user;
    r->o = *o;
    rnnc_status s = monitor_init(&r->mon, "ReduceLROnPlateau", o->monitor, o->mode, o->min_delta);
    if (s) {
        rnnc__callback_destroy_state(cb);
        return s;
    }
    cb->on_train_begin = rlr_begin;
    cb->on_epoch_end = rlr_epoch_end;
    *out = cb;
    return RNNC_OK;
}

/* ---- CSVLogger ------------------------------------------------------------------- */

typedef struct csv_logger {
    char *filename;
    char sep;
    bool append, append_header;
    FILE *f;
    int n_keys;
    char keys[RNNC_LOGS_MAX * 2][RNNC_LOG_NAME_MAX];
} csv_logger;

static rnnc_status csv_begin(rnnc_callback *cb, rnnc_trainer *tr)
{
    (void)tr;
    csv_logger *c = cb->user;
    c->append_header = true;
    if (c->append) {
        FILE *r = fopen(c->filename, "r");
        if (r) {
            c->append_header = fgetc(r) == EOF;
            fclose(r);
        }
    }
    if (c->f)
        fclose(c->f);
    c->f = fopen(c->filename, c->append ? "a" : "w");
    if (!c->f)
        return rnnc_fail(RNNC_E_IO, "CSVLogger: cannot open '%s' for writing: %s", c->filename, strerror(errno));
    c->n_keys = 0;
    return RNNC_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

void rnnc_format_float_repr(double v, char *buf, size_t cap)
{
    if (isnan(v)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eninf"))
        strncat(buf, ".0", cap - strlen(buf) - 1);
}

static rnnc_status csv_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    (void)tr;
    csv_logger *c = cb->user;
    if (!c->f)
        return rnnc_fail(RNNC_E_STATE, "CSVLogger: file '%s' is not open", c->filename);
    if (c->n_keys == 0) {
        /* sorted keys; without validation keys, val_<key> columns are added too */
        for (int i = 0; i < logs->n; i++)
            strcpy(c->keys[c->n_keys++], logs->names[i]);
        qsort(c->keys, (size_t)c->n_keys, sizeof c->keys[0], cmp_str);
        bool has_val = false;
        for (int i = 0; i < c->n_keys; i++)
            has_val = has_val || strncmp(c->keys[i], "val_", 4) == 0;
        const int n0 = c->n_keys;
        for (int i = 0; !has_val && i < n0; i++) {
            char name[RNNC_LOG_NAME_MAX]; /* a copy: source and target rows share the array */
            memcpy(name, c->keys[i], sizeof name);
            snprintf(c->keys[c->n_keys++], RNNC_LOG_NAME_MAX, "val_%.*s", RNNC_LOG_NAME_MAX - 5, name);
        }
        if (c->append_header) {
            fputs("epoch", c->f);
            for (int i = 0; i < c->n_keys; i++)
                fprintf(c->f, "%c%s", c->sep, c->keys[i]);
            fputs("\r\n", c->f); /* csv.excel's line terminator */
        }
    }
    fprintf(c->f, "%d", epoch);
    for (int i = 0; i < c->n_keys; i++) {
        const double *v = rnnc_logs_get(logs, c->keys[i]);
        char buf[64] = "NA";
        if (v)
            rnnc_format_float_repr(*v, buf, sizeof buf);
        fprintf(c->f, "%c%s", c->sep, buf);
    }
    fputs("\r\n", c->f);
    if (ferror(c->f) || fflush(c->f) != 0)
        return rnnc_fail(RNNC_E_IO, "CSVLogger: writing '%s' failed: %s", c->filename,
                         errno ? strerror(errno) : "write error");
    return RNNC_OK;
}

static rnnc_status csv_end(rnnc_callback *cb, rnnc_trainer *tr, const rnnc_logs *logs)
{
    (void)tr;
    (void)logs;
    csv_logger *c = cb->user;
    if (c->f) {
        int rc = fclose(c->f);
        c->f = NULL;
        if (rc != 0)
            return rnnc_fail(RNNC_E_IO, "CSVLogger: closing '%s' failed: %s", c->filename, strerror(errno));
    }
    return RNNC_OK;
}

static void csv_destroy(rnnc_callback *cb)
{
    csv_logger *c = cb->user;
    if (c->f)
        fclose(c->f);
    free(c->filename);
    rnnc__callback_destroy_state(cb);
}

rnnc_status rnnc_csv_logger_create(const char *filename, char separator, bool append, rnnc_callback **out)
{
    *out = NULL;
    if (!filename || !*filename)
        return rnnc_fail(RNNC_E_ARG, "CSVLogger: filename is empty");
    rnnc_callback *cb;
    RNNC_TRY(rnnc__callback_create("CSVLogger", sizeof(csv_logger), &cb));
    csv_logger *c = cb->user;
    if (!(c->filename = dup_str(filename))) {
        rnnc__callback_destroy_state(cb);
        return rnnc_fail(RNNC_E_NOMEM, "CSVLogger: out of memory");
    }
    c->sep = separator ? separator : ',';
    c->append = append;
    cb->on_train_begin = csv_begin;
    cb->on_epoch_end = csv_epoch_end;
    cb->on_train_end = csv_end;
    cb->destroy = csv_destroy;
    *out = cb;
    return RNNC_OK;
}

/* ---- TerminateOnNaN ---------------------------------------------------------------- */

static rnnc_status nan_batch_end(rnnc_callback *cb, rnnc_trainer *tr, int step, const rnnc_logs *logs)
{
    (void)cb;
    const double *loss = rnnc_logs_get(logs, "loss");
    if (loss && !isfinite(*loss)) {
        char msg[96];
        snprintf(msg, sizeof msg, "Batch %d: Invalid loss, terminating training\n", step);
        rnnc_trainer_print(tr, msg);
        rnnc_trainer_stop(tr);
    }
    return RNNC_OK;
}

rnnc_status rnnc_terminate_on_nan_create(rnnc_callback **out)
{
    RNNC_TRY(rnnc__callback_create("TerminateOnNaN", 0, out));
    (*out)->on_train_batch_end = nan_batch_end;
    return RNNC_OK;
}

/* ---- ModelCheckpoint hook ------------------------------------------------------------ */

typedef struct checkpoint {
    rnnc_model_checkpoint_options o;
    monitor mon;
    int epoch;
    int64_t seen;     /* batches since the last save (save_freq N) */
    int last_batch;   /* -1: none yet */
} checkpoint;

static rnnc_status ckpt_begin(rnnc_callback *cb, rnnc_trainer *tr)
{
    (void)tr;
    checkpoint *c = cb->user;
    c->seen = 0;
    c->last_batch = -1;
    return RNNC_OK;
}

static rnnc_status ckpt_epoch_begin(rnnc_callback *cb, rnnc_trainer *tr, int epoch)
{
    (void)tr;
    ((checkpoint *)cb->user)->epoch = epoch;
    return RNNC_OK;
}

/* Keras's ModelCheckpoint._save_model: batch -1 at an epoch's end. */
static rnnc_status ckpt_save(checkpoint *c, rnnc_trainer *tr, int epoch, int batch, const rnnc_logs *logs)
{
    if (c->o.save_best_only) {
        RNNC_TRY(monitor_set_op(&c->mon, tr, "ModelCheckpoint"));
        const double *cur = rnnc_logs_get(logs, c->mon.name);
        if (cur) {
            if (c->mon.has_best && !improved(&c->mon, *cur, true, c->mon.best)) {
                if (c->o.verbose > 0) {
                    char msg[200];
                    snprintf(msg, sizeof msg, "\nEpoch %d: %s did not improve from %.5f\n", epoch + 1, c->mon.name,
                             c->mon.best);
                    rnnc_trainer_print(tr, msg);
                }
                return RNNC_OK;
            }
            if (c->o.verbose > 0) {
                char msg[200];
                snprintf(msg, sizeof msg, "\nEpoch %d: %s improved to %.5f, saving model\n", epoch + 1,
                         c->mon.name, *cur);
                rnnc_trainer_print(tr, msg);
            }
            c->mon.best = *cur;
            c->mon.has_best = true;
        } /* else Keras warns that it can save the best model only with the monitor available, and saves */
    }
    rnnc_status s = c->o.save_at ? c->o.save_at(c->o.user, tr, epoch, batch, logs) : c->o.save(c->o.user, tr, epoch, logs);
    return s ? rnnc_fail_context(s, "ModelCheckpoint (epoch %d): ", epoch + 1) : RNNC_OK;
}

static rnnc_status ckpt_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    checkpoint *c = cb->user;
    if (c->o.save_best_only)
        RNNC_TRY(monitor_set_op(&c->mon, tr, "ModelCheckpoint"));
    return c->o.save_freq > 0 ? RNNC_OK : ckpt_save(c, tr, epoch, -1, logs);
}

static rnnc_status ckpt_batch_end(rnnc_callback *cb, rnnc_trainer *tr, int batch, const rnnc_logs *logs)
{
    checkpoint *c = cb->user;
    if (c->o.save_freq <= 0)
        return RNNC_OK;
    /* Keras's _should_save_on_batch */
    c->seen += c->last_batch < 0 || batch <= c->last_batch ? batch + 1 : batch - c->last_batch;
    c->last_batch = batch;
    if (c->seen < c->o.save_freq)
        return RNNC_OK;
    c->seen = 0;
    return ckpt_save(c, tr, c->epoch, batch, logs);
}

rnnc_model_checkpoint_options rnnc_model_checkpoint_options_default(void)
{
    rnnc_model_checkpoint_options o;
    memset(&o, 0, sizeof o);
    o.monitor = "val_loss";
    return o;
}

rnnc_status rnnc_model_checkpoint_create(const rnnc_model_checkpoint_options *o, rnnc_callback **out)
{
    *out = NULL;
    if (!o || (!o->save && !o->save_at))
        return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: a save function is required");
    if (o->save_freq < 0)
        return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: save_freq must be 'epoch' (0) or a number of batches >= 1, got %lld",
                         (long long)o->save_freq);
    rnnc_callback *cb;
    RNNC_TRY(rnnc__callback_create("ModelCheckpoint", sizeof(checkpoint), &cb));
    checkpoint *c = cb->user;
    c->o = *o;
    c->last_batch = -1;
    rnnc_status s = monitor_init(&c->mon, "ModelCheckpoint", o->monitor, o->mode, 0.0);
    if (s) {
        rnnc__callback_destroy_state(cb);
        return s;
    }
    if (o->has_initial_value_threshold) {
        c->mon.best = o->initial_value_threshold;
        c->mon.has_best = true;
    }
    cb->on_train_begin = ckpt_begin;
    cb->on_epoch_begin = ckpt_epoch_begin;
    cb->on_train_batch_end = ckpt_batch_end;
    cb->on_epoch_end = ckpt_epoch_end;
    *out = cb;
    return RNNC_OK;
}

/* ---- LearningRateScheduler ------------------------------------------------------------ */

typedef struct lr_scheduler {
    rnnc_schedule *schedule;
    int verbose;
} lr_scheduler;

static rnnc_status lrs_epoch_begin(rnnc_callback *cb, rnnc_trainer *tr, int epoch)
{
    lr_scheduler *l = cb->user;
    rnnc_optimizer *opt = rnnc_trainer_optimizer(tr);
    if (rnnc_optimizer_has_schedule(opt))
        return rnnc_fail(RNNC_E_ARG, "LearningRateScheduler: the optimizer already has a learning-rate schedule; give the schedule to one of them only");
    const double lr = rnnc_schedule_value(l->schedule, epoch);
    if (!isfinite(lr))
        return rnnc_fail(RNNC_E_ARG, "LearningRateScheduler: the schedule gave %g for epoch %d; it must be a finite number",
                         lr, epoch);
    RNNC_TRY(rnnc_optimizer_set_learning_rate(opt, lr));
    if (l->verbose > 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "\nEpoch %d: LearningRateScheduler setting learning rate to %.17g.\n", epoch + 1, lr);
        rnnc_trainer_print(tr, msg);
    }
    return RNNC_OK;
}

static rnnc_status lrs_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    (void)cb;
    (void)epoch;
    return rnnc_logs_set(logs, "learning_rate", rnnc_optimizer_learning_rate(rnnc_trainer_optimizer(tr)));
}

static void lrs_destroy(rnnc_callback *cb)
{
    lr_scheduler *l = cb->user;
    rnnc_schedule_destroy(l->schedule);
    rnnc__callback_destroy_state(cb);
}

rnnc_status rnnc_lr_scheduler_create(const rnnc_schedule *schedule, int verbose, rnnc_callback **out)
{
    *out = NULL;
    if (!schedule)
        return rnnc_fail(RNNC_E_ARG, "LearningRateScheduler: a schedule is required");
    rnnc_callback *cb;
    RNNC_TRY(rnnc__callback_create("LearningRateScheduler", sizeof(lr_scheduler), &cb));
    lr_scheduler *l = cb->user;
    rnnc_status s = rnnc_schedule_clone(schedule, &l->schedule);
    if (s) {
        rnnc__callback_destroy_state(cb);
        return s;
    }
    l->verbose = verbose;
    cb->on_epoch_begin = lrs_epoch_begin;
    cb->on_epoch_end = lrs_epoch_end;
    cb->destroy = lrs_destroy;
    *out = cb;
    return RNNC_OK;
}
