/* fit_callbacks.c - `fit.callbacks` of a training spec as trainer callbacks
 * (fit_callbacks.h). */
#define _POSIX_C_SOURCE 200809L
#include "apps/fit_callbacks.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/cli.h"
#include "apps/tb_events.h"
#include "io/checkpoint_dir.h"
#include "optim/schedules.h"

/* ---- ModelCheckpoint's file names ---- */

/* One {name:spec} field: value v (an int when is_int) into out. */
static rnnc_status format_field(const char *tmpl, const char *name, const char *spec, double v, bool is_int,
                                char *out, size_t cap)
{
    const char *p = spec;
    bool zero = false;
    int width = 0, prec = -1;
    if (*p == '0') {
        zero = true;
        p++;
    }
    while (isdigit((unsigned char)*p) && width < 1000)
        width = width * 10 + (*p++ - '0');
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            goto bad;
        prec = 0;
        while (isdigit((unsigned char)*p) && prec < 100)
            prec = prec * 10 + (*p++ - '0');
    }
    char type = *p ? *p++ : '\0';
    if (*p || (type && !strchr("dfFeEgG%", type)))
        goto bad;
    if (type == 'd' && !is_int)
        return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: filepath '%s': format '{%s:%s}' is for integers, but %s is a float; use e.g. {%s:.4f}",
                         tmpl, name, spec, name, name);
    if (width > 200 || prec > 30)
        goto bad;
    if (!type) {
        if (is_int) {
            snprintf(out, cap, "%*lld", width, (long long)v);
        } else if (prec >= 0) {
            snprintf(out, cap, zero ? "%0*.*g" : "%*.*g", width, prec ? prec : 1, v);
        } else {
            char r[64];
            rnnc_format_float_repr(v, r, sizeof r);
            snprintf(out, cap, "%*s", width, r);
        }
        return RNNC_OK;
    }
    if (type == 'd') {
        if (prec >= 0)
            goto bad; /* Python: precision not allowed in integer format specifier */
        snprintf(out, cap, zero ? "%0*lld" : "%*lld", width, (long long)v);
        return RNNC_OK;
    }
    char f[16];
    const char t = type == '%' ? 'f' : type;
    snprintf(f, sizeof f, zero ? "%%0*.*%c%s" : "%%*.*%c%s", t, type == '%' ? "%%" : "");
    /* the width counts the '%' sign */
    snprintf(out, cap, f, width - (type == '%'), prec >= 0 ? prec : 6, type == '%' ? v * 100.0 : v);
    return RNNC_OK;
bad:
    return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: filepath '%s': format spec '%s' of {%s} is not supported; use [0][width][.precision][d|f|e|g|%%], e.g. {epoch:02d} or {val_loss:.4f}",
                     tmpl, spec, name);
}

rnnc_status rnnc_fit_format_path(const char *tmpl, int epoch, int batch, const rnnc_logs *logs, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    for (const char *p = tmpl; *p;) {
        char piece[256];
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            snprintf(piece, sizeof piece, "%c", p[0]);
            p += 2;
        } else if (*p == '}') {
            return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: filepath '%s' has a single '}' (write '}}' for a brace)", tmpl);
        } else if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close)
                return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: filepath '%s' has a '{' without its '}'", tmpl);
            char field[200], *spec;
            if ((size_t)(close - p - 1) >= sizeof field)
                return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: filepath '%s': a field is too long", tmpl);
            memcpy(field, p + 1, (size_t)(close - p - 1));
            field[close - p - 1] = '\0';
            spec = strchr(field, ':');
            if (spec)
                *spec++ = '\0';
            double v = 0;
            bool is_int = true;
            const double *lv;
            if (strcmp(field, "epoch") == 0) {
                v = epoch + 1;
            } else if (strcmp(field, "batch") == 0 && batch >= 0) {
                v = batch + 1;
            } else if (!logs || (lv = rnnc_logs_get(logs, field))) {
                v = logs ? *lv : 0.0; /* no logs: checking the template only */
                is_int = false;
            } else {
                char names[600] = "epoch";
                if (batch >= 0)
                    strcat(names, ", batch");
                for (int i = 0; i < logs->n && strlen(names) + strlen(logs->names[i]) + 3 < sizeof names; i++) {
                    strcat(names, ", ");
                    strcat(names, logs->names[i]);
                }
                return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: filepath '%s' names {%s}, which is not among this %s's values (%s)",
                                 tmpl, field, batch >= 0 ? "batch" : "epoch", names);
            }
            RNNC_TRY(format_field(tmpl, field, spec ? spec : "", v, is_int, piece, sizeof piece));
            p = close + 1;
        } else {
            size_t n = strcspn(p, "{}");
            n = n < sizeof piece - 1 ? n : sizeof piece - 1;
            memcpy(piece, p, n);
            piece[n] = '\0';
            p += n;
        }
        size_t len = strlen(piece);
        if (at + len + 1 > cap)
            return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: filepath '%s' gives a path longer than %zu bytes", tmpl, cap - 1);
        memcpy(out + at, piece, len + 1);
        at += len;
    }
    return RNNC_OK;
}

/* ---- reading the entries ---- */

static const char *const class_names[] = {"EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger",
                                          "TerminateOnNaN", "BackupAndRestore", "LearningRateScheduler",
                                          "TensorBoard", "LambdaCallback", "RemoteMonitor", "ProgbarLogger",
                                          "History", "SwapEMAWeights", NULL};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static rnnc_status read_mode(const rnnc_cfg *c, const char *what, rnnc_monitor_mode *out)
{
    static const char *const modes[] = {"auto", "min", "max", NULL};
    const char *m;
    char w[300];
    RNNC_TRY(rnnc_cfg_read_string(c, what, "mode", "auto", &m));
    for (int i = 0; modes[i]; i++)
        if (strcmp(m, modes[i]) == 0) {
            *out = (rnnc_monitor_mode)i;
            return RNNC_OK;
        }
    const char *near = rnnc_nearest_name(m, modes);
    char hint[64] = "";
    if (near)
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    return rnnc_fail(RNNC_E_ARG, "%s: 'mode' must be auto, min or max, got '%s'%s%s", what, m,
                     rnnc_cfg_where(rnnc_cfg_peek(c, "mode"), w, sizeof w), hint);
}

static rnnc_status read_int(const rnnc_cfg *c, const char *what, const char *key, int64_t dflt, int64_t lo,
                            int64_t hi, int *out)
{
    int64_t v;
    RNNC_TRY(rnnc_cfg_read_int_range(c, what, key, dflt, lo, hi, &v));
    *out = (int)v;
    return RNNC_OK;
}

/* save_freq: "epoch" -> 0, an integer >= 1, or (allow_false) false -> -1. */
static rnnc_status read_save_freq(const rnnc_cfg *c, const char *what, bool allow_false, int64_t *out)
{
    char w[300];
    const rnnc_cfg *v = rnnc_cfg_get(c, "save_freq");
    *out = 0;
    if (!v || v->type == RNNC_CFG_NULL || (v->type == RNNC_CFG_STRING && strcmp(v->v.s, "epoch") == 0))
        return RNNC_OK;
    if (allow_false && v->type == RNNC_CFG_BOOL && !v->v.b) {
        *out = -1;
        return RNNC_OK;
    }
    if (v->type == RNNC_CFG_INT && v->v.i >= 1 && v->v.i <= INT32_MAX) {
        *out = v->v.i;
        return RNNC_OK;
    }
    return rnnc_fail(RNNC_E_ARG, "%s: 'save_freq' must be 'epoch'%s or a number of batches >= 1%s", what,
                     allow_false ? ", false" : "", rnnc_cfg_where(v, w, sizeof w));
}

static rnnc_status resolve(const rnnc_fit_callbacks *fc, const char *rel, char **out)
{
    if (!(*out = rnnc_training_spec_resolve(fc->ts->ses->spec, rel)))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    return RNNC_OK;
}

/* A file a callback will write (a copy of path), for the check that no
 * output is an input. */
static rnnc_status add_output(rnnc_fit_callbacks *fc, const char *what, const char *path)
{
    if (fc->n_outputs >= RNNC_FIT_CALLBACKS_MAX)
        return RNNC_OK;
    size_t n = strlen(path) + 1;
    char *c = malloc(n);
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    memcpy(c, path, n);
    snprintf(fc->output_what[fc->n_outputs], sizeof fc->output_what[0], "%s", what);
    fc->outputs[fc->n_outputs++] = c;
    return RNNC_OK;
}

/* ModelCheckpoint's save: the formatted path, its folder made, the file written. */
typedef struct mc_user {
    rnnc_train_state *ts;
    char *filepath;   /* resolved template */
    bool weights_only;
    int verbose;
} mc_user;

static rnnc_status mc_save(void *user, rnnc_trainer *tr, int epoch, int batch, const rnnc_logs *logs)
{
    mc_user *u = user;
    char path[4200];
    RNNC_TRY(rnnc_fit_format_path(u->filepath, epoch, batch, logs, path, sizeof path));
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        rnnc_status s = rnnc_mkdir_parents("ModelCheckpoint folder", path);
        *slash = '/';
        RNNC_TRY(s);
    }
    if (u->verbose > 0) {
        char msg[4400];
        snprintf(msg, sizeof msg, "\nEpoch %d: saving model to %s\n", epoch + 1, path);
        rnnc_trainer_print(tr, msg);
    }
    if (ends_with(path, ".weights.h5"))
        return rnnc_train_state_save_weights(u->ts, path);
    if (ends_with(path, ".keras"))
        return rnnc_train_state_save_keras(u->ts, path);
    return rnnc_fail(RNNC_E_ARG, "ModelCheckpoint: '%s' must end in .weights.h5 or .keras", path);
}

static rnnc_status add(rnnc_fit_callbacks *fc, rnnc_callback *cb)
{
    fc->list[fc->n++] = cb;
    return RNNC_OK;
}

static rnnc_status build_early(rnnc_fit_callbacks *fc, const rnnc_cfg *c, const char *what)
{
    rnnc_early_stopping_options o = rnnc_early_stopping_options_default();
    int64_t patience, start;
    const rnnc_cfg *b;
    RNNC_TRY(rnnc_cfg_read_string(c, what, "monitor", "val_loss", &o.monitor));
    RNNC_TRY(rnnc_cfg_read_float(c, what, "min_delta", 0.0, &o.min_delta));
    RNNC_TRY(rnnc_cfg_read_int_range(c, what, "patience", 0, 0, INT32_MAX, &patience));
    RNNC_TRY(read_int(c, what, "verbose", 0, 0, 2, &o.verbose));
    RNNC_TRY(read_mode(c, what, &o.mode));
    if ((b = rnnc_cfg_peek(c, "baseline")) && b->type != RNNC_CFG_NULL) {
        o.has_baseline = true;
        RNNC_TRY(rnnc_cfg_read_float(c, what, "baseline", 0.0, &o.baseline));
    } else {
        (void)rnnc_cfg_get(c, "baseline");
    }
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "restore_best_weights", false, &o.restore_best_weights));
    RNNC_TRY(rnnc_cfg_read_int_range(c, what, "start_from_epoch", 0, 0, INT32_MAX, &start));
    o.patience = (int)patience;
    o.start_from_epoch = (int)start;
    static const char *const keys[] = {"monitor", "min_delta", "patience", "verbose", "mode", "baseline",
                                       "restore_best_weights", "start_from_epoch", NULL};
    RNNC_TRY(rnnc_cfg_check_unread(c, what, keys));
    rnnc_callback *cb;
    RNNC_TRY(rnnc_early_stopping_create(&o, &cb));
    return add(fc, cb);
}

static rnnc_status build_plateau(rnnc_fit_callbacks *fc, const rnnc_cfg *c, const char *what)
{
    rnnc_reduce_lr_on_plateau_options o = rnnc_reduce_lr_on_plateau_options_default();
    char w[300];
    RNNC_TRY(rnnc_cfg_read_string(c, what, "monitor", "val_loss", &o.monitor));
    RNNC_TRY(rnnc_cfg_read_float(c, what, "factor", 0.1, &o.factor));
    RNNC_TRY(read_int(c, what, "patience", 10, 0, INT32_MAX, &o.patience));
    RNNC_TRY(read_int(c, what, "verbose", 0, 0, 2, &o.verbose));
    RNNC_TRY(read_mode(c, what, &o.mode));
    RNNC_TRY(rnnc_cfg_read_float(c, what, "min_delta", 1e-4, &o.min_delta));
    RNNC_TRY(read_int(c, what, "cooldown", 0, 0, INT32_MAX, &o.cooldown));
    RNNC_TRY(rnnc_cfg_read_float(c, what, "min_lr", 0.0, &o.min_lr));
    static const char *const keys[] = {"monitor", "factor", "patience", "verbose", "mode",
                                       "min_delta", "cooldown", "min_lr", NULL};
    RNNC_TRY(rnnc_cfg_check_unread(c, what, keys));
    if (!(o.factor >= 0 && o.factor < 1.0))
        return rnnc_fail(RNNC_E_ARG, "%s: 'factor' must be in [0, 1) (ReduceLROnPlateau does not support a factor >= 1.0), got %g%s",
                         what, o.factor, rnnc_cfg_where(rnnc_cfg_peek(c, "factor"), w, sizeof w));
    rnnc_callback *cb;
    RNNC_TRY(rnnc_reduce_lr_on_plateau_create(&o, &cb));
    return add(fc, cb);
}

static rnnc_status build_csv(rnnc_fit_callbacks *fc, const rnnc_cfg *c, const char *what)
{
    const char *file, *sep;
    bool append;
    char w[300];
    RNNC_TRY(rnnc_cfg_read_string(c, what, "filename", NULL, &file));
    if (!file || !file[0])
        return rnnc_cfg_missing(c, what, "filename", (const char *const[]){"separator", "append", NULL});
    RNNC_TRY(rnnc_cfg_read_string(c, what, "separator", ",", &sep));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "append", false, &append));
    static const char *const keys[] = {"filename", "separator", "append", NULL};
    RNNC_TRY(rnnc_cfg_check_unread(c, what, keys));
    if (strlen(sep) != 1)
        return rnnc_fail(RNNC_E_ARG, "%s: 'separator' must be one character, got '%s'%s", what, sep,
                         rnnc_cfg_where(rnnc_cfg_peek(c, "separator"), w, sizeof w));
    char *path;
    RNNC_TRY(resolve(fc, file, &path));
    rnnc_callback *cb;
    char *slash = strrchr(path, '/');
    rnnc_status s = RNNC_OK;
    if (slash && slash != path) { /* its folder, as ModelCheckpoint makes its own */
        *slash = '\0';
        s = rnnc_mkdir_parents("CSVLogger folder", path);
        *slash = '/';
    }
    if (!s)
        s = add_output(fc, "CSVLogger's filename", path);
    if (!s)
        s = rnnc_csv_logger_create(path, sep[0], append, &cb);
    free(path);
    RNNC_TRY(s);
    return add(fc, cb);
}

static rnnc_status build_checkpoint(rnnc_fit_callbacks *fc, const rnnc_cfg *c, const char *what)
{
    rnnc_model_checkpoint_options o = rnnc_model_checkpoint_options_default();
    const char *file;
    bool weights_only;
    const rnnc_cfg *t;
    char w[300];
    RNNC_TRY(rnnc_cfg_read_string(c, what, "filepath", NULL, &file));
    if (!file || !file[0])
        return rnnc_cfg_missing(c, what, "filepath", (const char *const[]){"monitor", "save_best_only", NULL});
    RNNC_TRY(rnnc_cfg_read_string(c, what, "monitor", "val_loss", &o.monitor));
    RNNC_TRY(read_int(c, what, "verbose", 0, 0, 2, &o.verbose));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "save_best_only", false, &o.save_best_only));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "save_weights_only", false, &weights_only));
    RNNC_TRY(read_mode(c, what, &o.mode));
    RNNC_TRY(read_save_freq(c, what, false, &o.save_freq));
    if ((t = rnnc_cfg_peek(c, "initial_value_threshold")) && t->type != RNNC_CFG_NULL) {
        o.has_initial_value_threshold = true;
        RNNC_TRY(rnnc_cfg_read_float(c, what, "initial_value_threshold", 0.0, &o.initial_value_threshold));
    } else {
        (void)rnnc_cfg_get(c, "initial_value_threshold");
    }
    static const char *const keys[] = {"filepath", "monitor", "verbose", "save_best_only", "save_weights_only",
                                       "mode", "save_freq", "initial_value_threshold", NULL};
    RNNC_TRY(rnnc_cfg_check_unread(c, what, keys));
    const rnnc_cfg *fp = rnnc_cfg_peek(c, "filepath");
    if (weights_only && !ends_with(file, ".weights.h5"))
        return rnnc_fail(RNNC_E_ARG, "%s: with save_weights_only true, 'filepath' must end in .weights.h5 (Keras weights format), got '%s'%s",
                         what, file, rnnc_cfg_where(fp, w, sizeof w));
    if (!weights_only && !ends_with(file, ".keras") && !ends_with(file, ".weights.h5"))
        return rnnc_fail(RNNC_E_ARG, "%s: 'filepath' must end in .keras (Keras model format) or .weights.h5 (weights only), got '%s'%s",
                         what, file, rnnc_cfg_where(fp, w, sizeof w));
    /* the template must format with the names an epoch has (caught now, not after an epoch) */
    mc_user *u = calloc(1, sizeof *u);
    if (!u)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    fc->users[fc->n_users++] = u;
    u->ts = fc->ts;
    u->weights_only = weights_only;
    u->verbose = o.verbose;
    RNNC_TRY(resolve(fc, file, &u->filepath));
    char probe[4200];
    rnnc_status s = rnnc_fit_format_path(u->filepath, 0, o.save_freq > 0 ? 0 : -1, NULL, probe, sizeof probe);
    if (s)
        return rnnc_fail_context(s, "%s%s: ", what, rnnc_cfg_where(fp, w, sizeof w));
    if (!strchr(u->filepath, '{') && !strchr(u->filepath, '}'))
        RNNC_TRY(add_output(fc, "ModelCheckpoint's filepath", probe));
    o.save_at = mc_save;
    o.user = u;
    rnnc_callback *cb;
    RNNC_TRY(rnnc_model_checkpoint_create(&o, &cb));
    return add(fc, cb);
}

static rnnc_status build_scheduler(rnnc_fit_callbacks *fc, const rnnc_cfg *c, const char *what)
{
    char w[300];
    int verbose;
    const rnnc_cfg *sc = rnnc_cfg_get(c, "schedule");
    if (!sc || sc->type == RNNC_CFG_NULL)
        return rnnc_cfg_missing(c, what, "schedule", (const char *const[]){"verbose", NULL});
    if (sc->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: 'schedule' must be a learning-rate schedule object, e.g. {class_name: ExponentialDecay, config: {initial_learning_rate: 0.01, decay_steps: 1, decay_rate: 0.9}} (a Python function has no YAML form)%s",
                         what, rnnc_cfg_where(sc, w, sizeof w));
    RNNC_TRY(read_int(c, what, "verbose", 0, 0, 2, &verbose));
    static const char *const keys[] = {"schedule", "verbose", NULL};
    RNNC_TRY(rnnc_cfg_check_unread(c, what, keys));
    char sw[200];
    snprintf(sw, sizeof sw, "%s.schedule", what);
    rnnc_schedule *sched;
    RNNC_TRY(rnnc_schedule_from_config(sc, sw, &sched));
    rnnc_callback *cb;
    rnnc_status s = rnnc_lr_scheduler_create(sched, verbose, &cb);
    rnnc_schedule_destroy(sched);
    RNNC_TRY(s);
    return add(fc, cb);
}

/* ---- BackupAndRestore ---- */

static rnnc_status backup_write(rnnc_fit_callbacks *fc, rnnc_checkpoint_pos pos)
{
    char path[4200];
    rnnc_checkpoint_filename_at(fc->backup.dir, pos, path, sizeof path);
    RNNC_TRY(rnnc_mkdir_parents("BackupAndRestore backup_dir", fc->backup.dir));
    RNNC_TRY(rnnc_train_state_checkpoint(fc->ts, pos, path));
    if (fc->backup.last[0] && strcmp(fc->backup.last, path) != 0 && unlink(fc->backup.last) != 0 && errno != ENOENT)
        return rnnc_fail(RNNC_E_IO, "BackupAndRestore: cannot delete the older backup '%s': %s", fc->backup.last,
                         strerror(errno));
    snprintf(fc->backup.last, sizeof fc->backup.last, "%s", path);
    return RNNC_OK;
}

static rnnc_status backup_epoch_begin(rnnc_callback *cb, rnnc_trainer *tr, int epoch)
{
    (void)tr;
    rnnc_fit_callbacks *fc = cb->user;
    fc->backup.epoch = epoch;
    return RNNC_OK;
}

static rnnc_status backup_batch_end(rnnc_callback *cb, rnnc_trainer *tr, int batch, const rnnc_logs *logs)
{
    (void)logs;
    rnnc_fit_callbacks *fc = cb->user;
    if (fc->backup.save_freq <= 0)
        return RNNC_OK;
    if (++fc->backup.seen < fc->backup.save_freq)
        return RNNC_OK;
    /* the end of an epoch is backed up after the epoch (with its validation and history) */
    if (batch + 1 >= rnnc_trainer_fit_steps(tr))
        return RNNC_OK;
    fc->backup.seen = 0;
    return backup_write(fc, (rnnc_checkpoint_pos){fc->backup.epoch, batch + 1});
}

static rnnc_status backup_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    (void)tr;
    (void)logs;
    rnnc_fit_callbacks *fc = cb->user;
    if (fc->backup.save_freq != 0)
        return RNNC_OK;
    return backup_write(fc, (rnnc_checkpoint_pos){epoch + 1, 0});
}

static rnnc_status backup_train_end(rnnc_callback *cb, rnnc_trainer *tr, const rnnc_logs *logs)
{
    (void)tr;
    (void)logs;
    rnnc_fit_callbacks *fc = cb->user;
    if (!fc->backup.delete_checkpoint)
        return RNNC_OK;
    rnnc_checkpoint_pos *all;
    size_t n;
    RNNC_TRY(rnnc_checkpoint_list(fc->backup.dir, &all, &n));
    rnnc_status s = RNNC_OK;
    for (size_t i = 0; i < n && !s; i++) {
        char path[4200];
        rnnc_checkpoint_filename_at(fc->backup.dir, all[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            s = rnnc_fail(RNNC_E_IO, "BackupAndRestore: cannot delete backup '%s': %s", path, strerror(errno));
    }
    free(all);
    fc->backup.last[0] = '\0';
    if (!s)
        (void)rmdir(fc->backup.dir); /* only when empty, as the folder was */
    return s;
}

static rnnc_status build_backup(rnnc_fit_callbacks *fc, const rnnc_cfg *c, const char *what)
{
    const char *dir;
    bool dbl;
    RNNC_TRY(rnnc_cfg_read_string(c, what, "backup_dir", NULL, &dir));
    if (!dir || !dir[0])
        return rnnc_cfg_missing(c, what, "backup_dir", (const char *const[]){"save_freq", "delete_checkpoint", NULL});
    RNNC_TRY(read_save_freq(c, what, true, &fc->backup.save_freq));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "double_checkpoint", false, &dbl));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "delete_checkpoint", true, &fc->backup.delete_checkpoint));
    static const char *const keys[] = {"backup_dir", "save_freq", "double_checkpoint", "delete_checkpoint", NULL};
    RNNC_TRY(rnnc_cfg_check_unread(c, what, keys));
    if (fc->has_backup)
        return rnnc_fail(RNNC_E_ARG, "%s: a second BackupAndRestore; give one", what);
    RNNC_TRY(resolve(fc, dir, &fc->backup.dir));
    const rnnc_training_spec *spec = fc->ts->ses->spec;
    if (spec->has_checkpoint && strcmp(spec->checkpoint_dir, fc->backup.dir) == 0)
        return rnnc_fail(RNNC_E_ARG, "%s: backup_dir '%s' is the checkpoint directory; give it a folder of its own", what,
                         fc->backup.dir);
    fc->has_backup = true;
    fc->backup_cb.user = fc;
    fc->backup_cb.on_epoch_begin = backup_epoch_begin;
    fc->backup_cb.on_train_batch_end = backup_batch_end;
    fc->backup_cb.on_epoch_end = backup_epoch_end;
    fc->backup_cb.on_train_end = backup_train_end;
    return RNNC_OK;
}

/* ---- TensorBoard ---- */

typedef struct tensorboard {
    rnnc_train_state *ts;
    char *log_dir;             /* resolved */
    int64_t histogram_freq;    /* epochs; 0: none */
    int64_t update_freq;       /* 0: "epoch"; N: batch scalars every N batches */
    bool write_graph, write_steps_per_second;
    rnnc_tb_writer *train, *val;
    int64_t global_batch;
    int64_t epoch_iterations;  /* optimizer iterations when the epoch began */
    double epoch_start;
} tensorboard;

static rnnc_status tb_open(tensorboard *t, const char *sub, rnnc_tb_writer **w)
{
    if (*w)
        return RNNC_OK;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", t->log_dir, sub);
    return rnnc_tb_writer_open(dir, w);
}

static rnnc_status tb_train_begin(rnnc_callback *cb, rnnc_trainer *tr)
{
    (void)tr;
    tensorboard *t = cb->user;
    RNNC_TRY(tb_open(t, "train", &t->train));
    if (t->write_graph) /* Keras's keras_model_summary: the model config under the tag "keras" */
        RNNC_TRY(rnnc_tb_text(t->train, "keras", 0, "graph_keras_model", "1", t->ts->model_json));
    return RNNC_OK;
}

static rnnc_status tb_epoch_begin(rnnc_callback *cb, rnnc_trainer *tr, int epoch)
{
    (void)epoch;
    tensorboard *t = cb->user;
    t->epoch_iterations = rnnc_optimizer_iterations(rnnc_trainer_optimizer(tr));
    t->epoch_start = rnnc_cli_now();
    return RNNC_OK;
}

static rnnc_status tb_batch_end(rnnc_callback *cb, rnnc_trainer *tr, int batch, const rnnc_logs *logs)
{
    (void)tr;
    (void)batch;
    tensorboard *t = cb->user;
    t->global_batch++;
    if (t->update_freq <= 0 || t->global_batch % t->update_freq != 0)
        return RNNC_OK;
    for (int i = 0; i < logs->n; i++) {
        char tag[RNNC_LOG_NAME_MAX + 8];
        snprintf(tag, sizeof tag, "batch_%s", logs->names[i]);
        RNNC_TRY(rnnc_tb_scalar(t->train, tag, t->global_batch, logs->values[i]));
    }
    return RNNC_OK;
}

/* Weight histograms, tagged "<layer path>/<weight>/histogram" as Keras tags them. */
static rnnc_status tb_layer_histograms(tensorboard *t, rnnc_layer *l, const char *path, int epoch)
{
    for (int i = 0; i < l->n_weights; i++) {
        const rnnc_tensor *v = l->weights[i].value;
        if (!v)
            continue;
        float *x = malloc(v->numel * sizeof *x + 1);
        if (!x)
            return rnnc_fail(RNNC_E_NOMEM, "TensorBoard: out of memory");
        for (size_t k = 0; k < v->numel; k++)
            x[k] = v->dtype == RNNC_F32 ? ((const float *)v->data)[k] : (float)((const double *)v->data)[k];
        char tag[600];
        snprintf(tag, sizeof tag, "%s/%s/histogram", path, l->weights[i].name);
        rnnc_status s = rnnc_tb_histogram(t->train, tag, epoch, x, v->numel);
        free(x);
        RNNC_TRY(s);
    }
    for (int i = 0; i < l->n_children; i++) {
        char sub[500];
        snprintf(sub, sizeof sub, "%s/%s", path, l->children[i]->name);
        RNNC_TRY(tb_layer_histograms(t, l->children[i], sub, epoch));
    }
    return RNNC_OK;
}

static rnnc_status tb_epoch_end(rnnc_callback *cb, rnnc_trainer *tr, int epoch, rnnc_logs *logs)
{
    tensorboard *t = cb->user;
    char tag[RNNC_LOG_NAME_MAX + 8];
    bool lr_logged = false;
    for (int i = 0; i < logs->n; i++) {
        const char *name = logs->names[i];
        if (strncmp(name, "val_", 4) == 0) {
            RNNC_TRY(tb_open(t, "validation", &t->val));
            snprintf(tag, sizeof tag, "epoch_%s", name + 4);
            RNNC_TRY(rnnc_tb_scalar(t->val, tag, epoch, logs->values[i]));
            continue;
        }
        snprintf(tag, sizeof tag, "epoch_%s", name);
        lr_logged = lr_logged || strcmp(name, "learning_rate") == 0;
        RNNC_TRY(rnnc_tb_scalar(t->train, tag, epoch, logs->values[i]));
    }
    rnnc_optimizer *opt = rnnc_trainer_optimizer(tr);
    if (!lr_logged) /* Keras adds the optimizer's learning rate */
        RNNC_TRY(rnnc_tb_scalar(t->train, "epoch_learning_rate", epoch, rnnc_optimizer_learning_rate(opt)));
    if (t->write_steps_per_second) {
        double secs = rnnc_cli_now() - t->epoch_start;
        double steps = (double)(rnnc_optimizer_iterations(opt) - t->epoch_iterations);
        RNNC_TRY(rnnc_tb_scalar(t->train, "epoch_steps_per_second", epoch, secs > 0 ? steps / secs : 0.0));
    }
    if (t->histogram_freq > 0 && epoch % t->histogram_freq == 0) {
        rnnc_model *m = rnnc_trainer_model(tr);
        for (int i = 0; i < m->n_layers; i++)
            RNNC_TRY(tb_layer_histograms(t, m->layers[i], m->layers[i]->name, epoch));
    }
    return RNNC_OK;
}

static rnnc_status tb_close(tensorboard *t)
{
    rnnc_status a = rnnc_tb_writer_close(t->train), b = rnnc_tb_writer_close(t->val);
    t->train = t->val = NULL;
    return a ? a : b;
}

static rnnc_status tb_train_end(rnnc_callback *cb, rnnc_trainer *tr, const rnnc_logs *logs)
{
    (void)tr;
    (void)logs;
    return tb_close(cb->user);
}

static void tb_destroy(rnnc_callback *cb)
{
    tensorboard *t = cb->user;
    (void)tb_close(t);
    free(t->log_dir);
    free(t);
    free(cb);
}

static rnnc_status build_tensorboard(rnnc_fit_callbacks *fc, const rnnc_cfg *c, const char *what)
{
    const char *dir;
    bool images;
    int64_t emb, profile;
    char w[300];
    tensorboard *t = calloc(1, sizeof *t);
    rnnc_callback *cb = calloc(1, sizeof *cb);
    if (!t || !cb) {
        free(t);
        free(cb);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    cb->user = t;
    cb->destroy = tb_destroy;
    fc->list[fc->n++] = cb; /* owned from here on */
    t->ts = fc->ts;
    RNNC_TRY(rnnc_cfg_read_string(c, what, "log_dir", "logs", &dir));
    RNNC_TRY(rnnc_cfg_read_int_range(c, what, "histogram_freq", 0, 0, INT32_MAX, &t->histogram_freq));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "write_graph", true, &t->write_graph));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "write_images", false, &images));
    RNNC_TRY(rnnc_cfg_read_bool(c, what, "write_steps_per_second", false, &t->write_steps_per_second));
    const rnnc_cfg *uf = rnnc_cfg_get(c, "update_freq");
    if (uf && uf->type == RNNC_CFG_STRING && strcmp(uf->v.s, "batch") == 0)
        t->update_freq = 1;
    else if (uf && uf->type == RNNC_CFG_INT && uf->v.i >= 1 && uf->v.i <= INT32_MAX)
        t->update_freq = uf->v.i;
    else if (uf && uf->type != RNNC_CFG_NULL && !(uf->type == RNNC_CFG_STRING && strcmp(uf->v.s, "epoch") == 0))
        return rnnc_fail(RNNC_E_ARG, "%s: 'update_freq' must be 'epoch', 'batch' or a number of batches >= 1%s", what,
                         rnnc_cfg_where(uf, w, sizeof w));
    RNNC_TRY(rnnc_cfg_read_int_range(c, what, "profile_batch", 0, 0, 0, &profile));
    RNNC_TRY(rnnc_cfg_read_int_range(c, what, "embeddings_freq", 0, 0, 0, &emb));
    (void)rnnc_cfg_get(c, "embeddings_metadata");
    static const char *const keys[] = {"log_dir", "histogram_freq", "write_graph", "write_images",
                                       "write_steps_per_second", "update_freq", "profile_batch",
                                       "embeddings_freq", "embeddings_metadata", NULL};
    RNNC_TRY(rnnc_cfg_check_unread(c, what, keys));
    if (images)
        return rnnc_fail(RNNC_E_ARG, "%s: write_images is not supported (rnnc writes scalars, histograms and the model config)%s",
                         what, rnnc_cfg_where(rnnc_cfg_peek(c, "write_images"), w, sizeof w));
    if (!dir[0])
        return rnnc_fail(RNNC_E_ARG, "%s: 'log_dir' is empty", what);
    RNNC_TRY(resolve(fc, dir, &t->log_dir));
    char train_dir[4200]; /* its first writes, probed before the first step as the files are */
    snprintf(train_dir, sizeof train_dir, "%s/train/", t->log_dir);
    RNNC_TRY(add_output(fc, "TensorBoard's log_dir", train_dir));
    cb->on_train_begin = tb_train_begin;
    cb->on_epoch_begin = tb_epoch_begin;
    cb->on_train_batch_end = tb_batch_end;
    cb->on_epoch_end = tb_epoch_end;
    cb->on_train_end = tb_train_end;
    return RNNC_OK;
}

/* One entry: its class name and config map (NULL for none). */
static rnnc_status entry_parts(const rnnc_cfg *e, const char *what, const char **cls, const rnnc_cfg **config)
{
    char w[300];
    *config = NULL;
    if (e->type == RNNC_CFG_STRING) {
        *cls = e->v.s;
        return RNNC_OK;
    }
    if (e->type != RNNC_CFG_MAP || e->n == 0)
        return rnnc_fail(RNNC_E_ARG, "%s must be {class_name: NAME, config: {...}}, {NAME: {...}} or a callback name, got a %s%s",
                         what, rnnc_cfg_type_name(e->type), rnnc_cfg_where(e, w, sizeof w));
    if (rnnc_cfg_peek(e, "class_name")) {
        RNNC_TRY(rnnc_cfg_read_string(e, what, "class_name", NULL, cls));
        *config = rnnc_cfg_get(e, "config");
        (void)rnnc_cfg_get(e, "module");
        (void)rnnc_cfg_get(e, "registered_name");
        static const char *const keys[] = {"class_name", "config", "module", "registered_name", NULL};
        RNNC_TRY(rnnc_cfg_check_unread(e, what, keys));
    } else {
        if (e->n != 1)
            return rnnc_fail(RNNC_E_ARG, "%s: the short form holds one callback, {NAME: {arguments}}, got %zu keys (%s, %s, ...)%s; write one list entry per callback",
                             what, e->n, e->keys[0], e->keys[1], rnnc_cfg_where(e, w, sizeof w));
        *cls = e->keys[0];
        *config = rnnc_cfg_get(e, e->keys[0]);
    }
    if (*config && (*config)->type == RNNC_CFG_NULL)
        *config = NULL;
    if (*config && (*config)->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: the arguments of %s must be a map, got a %s%s", what, *cls,
                         rnnc_cfg_type_name((*config)->type), rnnc_cfg_where(*config, w, sizeof w));
    return RNNC_OK;
}

static rnnc_status build_one(rnnc_fit_callbacks *fc, const rnnc_cfg *e, int i)
{
    char what[160], w[300];
    const char *cls;
    const rnnc_cfg *config;
    snprintf(what, sizeof what, "fit.callbacks[%d]", i);
    RNNC_TRY(entry_parts(e, what, &cls, &config));
    rnnc_cfg *empty = NULL;
    if (!config && !(config = empty = rnnc_cfg_map()))
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    snprintf(what, sizeof what, "fit.callbacks[%d] %s", i, cls);
    rnnc_status s;
    if (strcmp(cls, "EarlyStopping") == 0) {
        s = build_early(fc, config, what);
    } else if (strcmp(cls, "ReduceLROnPlateau") == 0) {
        s = build_plateau(fc, config, what);
    } else if (strcmp(cls, "CSVLogger") == 0) {
        s = build_csv(fc, config, what);
    } else if (strcmp(cls, "ModelCheckpoint") == 0) {
        s = build_checkpoint(fc, config, what);
    } else if (strcmp(cls, "LearningRateScheduler") == 0) {
        s = build_scheduler(fc, config, what);
    } else if (strcmp(cls, "BackupAndRestore") == 0) {
        s = build_backup(fc, config, what);
    } else if (strcmp(cls, "TerminateOnNaN") == 0) {
        rnnc_callback *cb;
        s = rnnc_cfg_check_unread(config, what, (const char *const[]){NULL});
        if (!s && !(s = rnnc_terminate_on_nan_create(&cb)))
            s = add(fc, cb);
    } else if (strcmp(cls, "TensorBoard") == 0) {
        s = build_tensorboard(fc, config, what);
    } else if (strcmp(cls, "LambdaCallback") == 0 || strcmp(cls, "RemoteMonitor") == 0 ||
               strcmp(cls, "ProgbarLogger") == 0 || strcmp(cls, "History") == 0 ||
               strcmp(cls, "SwapEMAWeights") == 0) {
        s = rnnc_fail(RNNC_E_ARG, "%s is not available from a spec (%s)%s", what,
                      strcmp(cls, "LambdaCallback") == 0 ? "it runs Python functions"
                      : strcmp(cls, "RemoteMonitor") == 0 ? "rnnc sends nothing over the network"
                      : strcmp(cls, "SwapEMAWeights") == 0 ? "not implemented"
                                                            : "fit.verbose and the history files do its work",
                      rnnc_cfg_where(e, w, sizeof w));
    } else {
        const char *near = rnnc_nearest_name(cls, class_names);
        char hint[80] = "";
        if (near)
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
        s = rnnc_fail(RNNC_E_ARG, "fit.callbacks[%d]: unknown callback '%s'%s%s; known: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, CSVLogger, TerminateOnNaN, BackupAndRestore, LearningRateScheduler, TensorBoard",
                      i, cls, rnnc_cfg_where(e, w, sizeof w), hint);
    }
    rnnc_cfg_destroy(empty);
    return s;
}

rnnc_status rnnc_fit_callbacks_build(rnnc_fit_callbacks *fc, rnnc_train_state *ts)
{
    memset(fc, 0, sizeof *fc);
    fc->ts = ts;
    const rnnc_cfg *list = ts->ses->spec->callbacks;
    if (!list)
        return RNNC_OK;
    if (list->n > RNNC_FIT_CALLBACKS_MAX)
        return rnnc_fail(RNNC_E_ARG, "fit.callbacks: at most %d callbacks, got %zu", RNNC_FIT_CALLBACKS_MAX, list->n);
    rnnc_status s = RNNC_OK;
    for (size_t i = 0; i < list->n && !s; i++)
        s = build_one(fc, list->items[i], (int)i);
    if (s)
        rnnc_fit_callbacks_clear(fc);
    return s;
}

rnnc_status rnnc_fit_callbacks_backup_found(const rnnc_fit_callbacks *fc, char *path, size_t cap, bool *found)
{
    *found = false;
    if (!fc->has_backup)
        return RNNC_OK;
    if (access(fc->backup.dir, F_OK) != 0)
        return RNNC_OK;
    return rnnc_checkpoint_latest(fc->backup.dir, path, cap, found);
}

void rnnc_fit_callbacks_clear(rnnc_fit_callbacks *fc)
{
    for (int i = 0; i < fc->n; i++)
        rnnc_callback_destroy(fc->list[i]);
    for (int i = 0; i < fc->n_users; i++) {
        mc_user *u = fc->users[i];
        free(u->filepath);
        free(u);
    }
    for (int i = 0; i < fc->n_outputs; i++)
        free(fc->outputs[i]);
    free(fc->backup.dir);
    memset(fc, 0, sizeof *fc);
}
