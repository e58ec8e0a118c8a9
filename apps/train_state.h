/* train_state.h - what `rnnc train` keeps across epochs and runs: the
 * history, the checkpoint schedule (a fit callback that writes
 * ckpt-NNNNNN.weights.h5 after every `every`-th epoch and the last, keeping
 * the newest `keep`), every random stream a run depends on (shuffling and
 * the layers' dropout generators), and resuming all of it from a
 * checkpoint.
 *
 * Shuffling is done here, not by fit: before each epoch the training rows
 * are put in the order of a permutation drawn from (seed, epoch) alone,
 * and fit runs with shuffle off. So epoch k sees the same batches whether
 * the run started at epoch 0 or resumed at k (fit's own stream restarts
 * at its first epoch). The validation split is taken off first, as Keras
 * does, so validation rows never move into training.
 *
 * The checkpoint directory belongs to one run at a time: a fresh run
 * refuses a directory that holds checkpoints (--overwrite deletes them
 * first), a resumed run one that holds checkpoints other than its own up
 * to where it resumes; rotation deletes only the run's own files. Each
 * checkpoint records its run's id.
 *
 * Not here: the command line (cmd_train.c), the file format (io/checkpoint.h). */
#ifndef RNNC_APPS_TRAIN_STATE_H
#define RNNC_APPS_TRAIN_STATE_H

#include <stdio.h>

#include "apps/session.h"
#include "io/checkpoint.h"
#include "optim/trainer.h"

typedef struct rnnc_train_state {
    rnnc_callback callback;    /* give to fit; user = this struct */
    rnnc_app_session *ses;     /* borrowed */
    rnnc_trainer *tr;          /* borrowed */
    rnnc_cfg *history;         /* key -> list of per-epoch values (all epochs, resumed ones too) */
    rnnc_logs last_logs;       /* the latest epoch's */
    int64_t start_epoch;       /* epochs done before this run (from --resume) */
    int64_t start_batch;       /* and batches of the next epoch (a checkpoint taken inside one) */
    int n_metric_state;        /* that epoch's running loss and metrics (rnnc_trainer_set_metric_state) */
    double metric_state[RNNC_CHECKPOINT_MAX_METRIC_STATE];
    uint64_t run_id;           /* the run: new for a fresh run, the checkpoint's on --resume */
    rnnc_checkpoint_pos *own;  /* this run's checkpoints in the checkpoint directory (rotation) */
    size_t n_own;
    int64_t last_epoch;        /* 0-based index of the latest finished epoch, start_epoch - 1 before */
    uint64_t shuffle_seed;     /* fit.seed, or the resumed run's */
    char last_checkpoint[4200]; /* path of the newest checkpoint written, "" if none */
    char *model_json, *spec_json; /* for the checkpoint */
    bool shuffle;              /* fit.shuffle */
    rnnc_tensor *orig[3];      /* x, y, sample_weight in their original order (owned), or NULL */
    rnnc_tensor *work[3];      /* the session's training tensors, reordered every epoch (borrowed) */
    int64_t *perm;             /* rows read from the file by the row reader (ses->train_by_rows, not */
                               /* streaming) with shuffle: file row of each position this pass (owned) */
    char *history_dir;         /* where history.json / history.csv go after each epoch (owned) */
    int64_t history_first_epoch; /* the epoch of the history's first row (fit.initial_epoch) */
    int64_t steps;             /* batches in a pass over the training data */
} rnnc_train_state;

void rnnc_train_state_init(rnnc_train_state *ts);
/* Ties the state to a session and its compiled trainer; creates the
 * checkpoint directory when the spec has one (failing now, not after an
 * epoch, when it cannot). A validation_split is applied to the session's
 * data here (the last fraction of the training rows becomes its
 * validation data, when it has none). */
rnnc_status rnnc_train_state_setup(rnnc_train_state *ts, rnnc_app_session *ses, rnnc_trainer *tr);
/* The epoch the run's passes over the data count from (steps_per_epoch):
 * the spec's fit.initial_epoch, where Keras's fit starts a pass, also for a
 * resumed run (so it continues the uninterrupted run's passes). */
int64_t rnnc_train_state_pass_origin(const rnnc_train_state *ts);
/* Loads a checkpoint into the model, the optimizer, the generators and the
 * history; start_epoch / start_batch become its position and run_id its
 * run's. Differences between the checkpoint's setup and this run's are
 * printed to out, or fail when they cannot carry over (resume_check.h).
 * Nothing changes on failure. */
rnnc_status rnnc_train_state_resume(rnnc_train_state *ts, const char *path, FILE *out);
/* Takes the spec's checkpoint directory for this run (after resume, if
 * any): checkpoints in it that are not this run's up to its start make it
 * fail, naming them, unless overwrite, which deletes them (one line to
 * out). A fresh run gets a new run id here. No-op without a checkpoint
 * section. */
rnnc_status rnnc_train_state_claim_dir(rnnc_train_state *ts, bool resumed, bool overwrite, FILE *out);
/* Writes a checkpoint of the current state at pos to path. */
rnnc_status rnnc_train_state_checkpoint(rnnc_train_state *ts, rnnc_checkpoint_pos pos, const char *path);
/* After fit stopped at (epoch, batches_done) on a signal: writes the
 * checkpoint that continues from there into the checkpoint directory, or
 * without one to "<spec name>.interrupted.weights.h5" in the current
 * folder; its path into path. */
rnnc_status rnnc_train_state_interrupt(rnnc_train_state *ts, int epoch, int64_t batches_done, char *path,
                                       size_t cap);
/* Saves the weights (and the optimizer's variables, as Keras's
 * save_weights does) in the Keras 3 layout, atomically. */
rnnc_status rnnc_train_state_save_weights(rnnc_train_state *ts, const char *path);
/* Saves the model as a Keras 3 .keras archive (config.json, metadata.json,
 * model.weights.h5), atomically. */
rnnc_status rnnc_train_state_save_keras(rnnc_train_state *ts, const char *path);
/* The folder of the run's history files: fit.history, else the checkpoint
 * directory, else "<spec name>.history" in the current folder. */
rnnc_status rnnc_train_state_history_dir(const rnnc_training_spec *spec, char **out);
void rnnc_train_state_clear(rnnc_train_state *ts);

#endif
