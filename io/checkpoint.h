/* checkpoint.h - training checkpoints: one HDF5 file holding everything a
 * run needs to continue bit-for-bit.
 *
 * The file is a Keras 3 `.weights.h5` (weights_h5.h: /layers/..., /vars,
 * /optimizer/vars with iteration, learning_rate and the slots), so Keras's
 * model.load_weights() reads it, plus one group Keras ignores:
 *
 *   /rnnc_checkpoint                 attr format = "rnnc-checkpoint"
 *   /rnnc_checkpoint/version         int64 ()   1
 *   /rnnc_checkpoint/model_config    string ()  the model's Keras JSON
 *   /rnnc_checkpoint/optimizer_config string () the optimizer's Keras JSON
 *   /rnnc_checkpoint/training_spec   string ()  the spec as JSON (the
 *                                    three strings are optional; datasets,
 *                                    not attributes, so size is unbounded;
 *                                    fixed-length UTF-8, like the format
 *                                    attribute, so that reading never
 *                                    reaches HDF5's global heap: variable-
 *                                    length strings are refused)
 *   /rnnc_checkpoint/epoch           int64 ()   epochs completed
 *   /rnnc_checkpoint/step            int64 ()   training batches completed
 *   /rnnc_checkpoint/batch           int64 ()   batches of the next epoch done
 *                                    (0 at an epoch end; absent: 0)
 *   /rnnc_checkpoint/run_id          int64 ()   the run it belongs to (absent: 0)
 *   /rnnc_checkpoint/metric_state    float64 (n,) the running loss and metrics
 *                                    (total, count pairs) of a checkpoint
 *                                    taken inside an epoch (batch > 0)
 *   /rnnc_checkpoint/rng/<name>      int64 (2,) a generator: seed, counter
 *                                    (uint64 bits); e.g. "shuffle"
 *   /rnnc_checkpoint/history/<key>   float64 (epoch,) per-epoch values
 *                                    (loss, val_loss, metrics ...)
 *
 * Writing is atomic: the whole file (weights and checkpoint group) is
 * built in memory, written beside the destination under a temporary name
 * ("<path>.partial.<pid>.<n>"), fsync'd and renamed into place, then the
 * directory fsync'd (h5_util.h's writer; a failure names the file and the
 * OS's reason and leaves no temporary file). A crash or kill leaves
 * the previous checkpoint as it was (at most a stale "*.partial.*" file).
 * Loading reads and checks the whole checkpoint before changing the model.
 *
 * The checkpoint directory (file names, rotation, lookup) is
 * checkpoint_dir.h, included here.
 *
 * Not here: deciding when to checkpoint (the training command) and the
 * trainer's own state (it hands its generators and history over here). */
#ifndef RNNC_IO_CHECKPOINT_H
#define RNNC_IO_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/config.h"
#include "framework/model.h"
#include "framework/random.h"
#include "io/checkpoint_dir.h"
#include "optim/optimizer.h"

#define RNNC_CHECKPOINT_MAX_RNGS 64
#define RNNC_CHECKPOINT_VERSION 1
/* Written instead of 1 by a checkpoint taken inside an epoch (batch > 0),
 * so that a reader that knows only version 1 refuses it. */
#define RNNC_CHECKPOINT_VERSION_MID_EPOCH 2
#define RNNC_CHECKPOINT_MAX_METRIC_STATE 128

typedef struct rnnc_checkpoint_rng {
    char name[64];   /* letters, digits, '_', '-', '.' only */
    rnnc_rng state;
} rnnc_checkpoint_rng;

/* The training state besides weights and optimizer variables. */
typedef struct rnnc_checkpoint_state {
    int64_t epoch;             /* epochs completed */
    int64_t step;              /* training batches completed */
    int64_t batch;             /* batches of epoch index `epoch` done (0: at an epoch end) */
    uint64_t run_id;           /* the run lineage (0: unknown) */
    int n_metric_state;        /* entries of metric_state (0 at an epoch end) */
    double metric_state[RNNC_CHECKPOINT_MAX_METRIC_STATE];
    int n_rngs;
    rnnc_checkpoint_rng rngs[RNNC_CHECKPOINT_MAX_RNGS];
    rnnc_cfg *history;         /* map: key -> list of floats, one per epoch; owned, or NULL */
    char *model_config;        /* JSON; owned, or NULL (save: written when set) */
    char *optimizer_config;    /* JSON; owned, or NULL */
    char *training_spec;       /* JSON; owned, or NULL */
} rnnc_checkpoint_state;

/* Frees the owned members and zeroes s (the struct itself is the caller's). */
void rnnc_checkpoint_state_clear(rnnc_checkpoint_state *s);
/* Adds or replaces a generator by name. Fails with RNNC_E_ARG on a bad name
 * and RNNC_E_NOMEM when RNNC_CHECKPOINT_MAX_RNGS are taken. */
rnnc_status rnnc_checkpoint_state_set_rng(rnnc_checkpoint_state *s, const char *name,
                                          const rnnc_rng *r);
/* The generator by name, or NULL. */
const rnnc_rng *rnnc_checkpoint_state_rng(const rnnc_checkpoint_state *s, const char *name);

/* Writes a checkpoint of a built model, its optimizer (may be NULL: no
 * optimizer group) and the state to path, atomically. Creates no
 * directories. On failure path is untouched and no temporary file remains. */
rnnc_status rnnc_checkpoint_save(const char *path, const rnnc_model *m, const rnnc_optimizer *opt,
                                 const rnnc_checkpoint_state *state);

/* Reads a checkpoint into a model with the same architecture (built, or
 * buildable from its declared input), its optimizer (may be NULL: skipped;
 * built here for the model's weights when it is not) and *state (cleared
 * first; caller clears it after). Everything is read and checked before the
 * model or optimizer changes: a file that is missing, truncated, not a
 * checkpoint, of another version, or of another model fails with a message
 * naming the file and what is wrong, and leaves them unchanged. */
rnnc_status rnnc_checkpoint_load(const char *path, rnnc_model *m, rnnc_optimizer *opt,
                                 rnnc_checkpoint_state *state);

/* Reads only the state (no model needed), e.g. for inspect. */
rnnc_status rnnc_checkpoint_read_state(const char *path, rnnc_checkpoint_state *state);

/* Whether the file is an HDF5 file with a /rnnc_checkpoint group. Never fails. */
bool rnnc_checkpoint_sniff(const char *path);

#endif
