/* fit_callbacks.h - the callbacks of a spec's `fit.callbacks` list, built as
 * Keras builds them from their serialized form: each entry is
 *   {class_name: EarlyStopping, config: {patience: 3}}   (Keras's form), or
 *   {EarlyStopping: {patience: 3}}                       (the short form), or
 *   TerminateOnNaN                                       (a name alone)
 * with Keras's argument names and defaults: EarlyStopping,
 * ModelCheckpoint, ReduceLROnPlateau, CSVLogger, TerminateOnNaN,
 * BackupAndRestore, LearningRateScheduler (schedule objects only). Unknown
 * classes and arguments fail with file:line:col and the nearest name.
 * File names (ModelCheckpoint's filepath, CSVLogger's filename,
 * BackupAndRestore's backup_dir) are relative to the spec's folder, as the
 * spec's other paths.
 *
 * BackupAndRestore is built on rnnc's checkpoints: backup_dir holds
 * ckpt-*.weights.h5 files of the run (the newest kept); a run that finds
 * one there continues from it as --resume would; a run that ends (not
 * interrupted) deletes them when delete_checkpoint is true.
 *
 * Not here: the trainer's callbacks themselves (optim/trainer.h), the
 * checkpoint format (io/checkpoint.h). */
#ifndef RNNC_APPS_FIT_CALLBACKS_H
#define RNNC_APPS_FIT_CALLBACKS_H

#include <stdbool.h>

#include "apps/train_state.h"

#define RNNC_FIT_CALLBACKS_MAX 32

typedef struct rnnc_fit_backup {
    char *dir;               /* resolved backup_dir */
    int64_t save_freq;       /* 0: every epoch; N: every N batches; -1: never (save_freq: false) */
    bool delete_checkpoint;  /* true */
    int64_t seen;            /* batches since the last backup */
    int epoch;
    char last[4200];         /* the newest backup written, "" if none */
} rnnc_fit_backup;

typedef struct rnnc_fit_callbacks {
    rnnc_callback *list[RNNC_FIT_CALLBACKS_MAX]; /* owned, in the spec's order */
    int n;
    bool has_backup;
    rnnc_fit_backup backup;
    rnnc_callback backup_cb;  /* give to fit after the train state's callback; user = this struct */
    rnnc_train_state *ts;     /* borrowed */
    void *users[RNNC_FIT_CALLBACKS_MAX]; /* ModelCheckpoint save contexts (owned) */
    int n_users;
    /* the files the callbacks will write whose names are known before
     * training (CSVLogger's filename, a ModelCheckpoint filepath without
     * fields), resolved, owned; what[i] names the spec entry */
    char *outputs[RNNC_FIT_CALLBACKS_MAX];
    char output_what[RNNC_FIT_CALLBACKS_MAX][64];
    int n_outputs;
} rnnc_fit_callbacks;

/* Builds the callbacks of ts's spec (fit.callbacks; none when absent).
 * Nothing is written yet. On failure *fc holds nothing. */
rnnc_status rnnc_fit_callbacks_build(rnnc_fit_callbacks *fc, rnnc_train_state *ts);
/* BackupAndRestore: the newest backup in backup_dir into path (*found false
 * when there is none, or no BackupAndRestore). */
rnnc_status rnnc_fit_callbacks_backup_found(const rnnc_fit_callbacks *fc, char *path, size_t cap, bool *found);
void rnnc_fit_callbacks_clear(rnnc_fit_callbacks *fc);

/* Python's str.format of a ModelCheckpoint filepath: {epoch} (1-based),
 * {batch} (1-based, batch >= 0 only) and log names, each with an optional
 * format spec ([0][width][.precision][dfFeEgG%]); {{ and }} are braces.
 * A name that is not there fails naming it and the names that are; logs
 * NULL checks the template only (every other name reads as 0.0). */
rnnc_status rnnc_fit_format_path(const char *tmpl, int epoch, int batch, const rnnc_logs *logs, char *out,
                                 size_t cap);

#endif
