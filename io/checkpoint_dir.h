/* checkpoint_dir.h - the checkpoint directory of a training run: file
 * names, creating the directory, finding the newest checkpoint, rotation
 * and removing what killed writers left behind.
 *
 * Not here: the checkpoint file format (checkpoint.h), deciding when to
 * write one (apps/train_state.h). */
#ifndef RNNC_IO_CHECKPOINT_DIR_H
#define RNNC_IO_CHECKPOINT_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/config.h"

/* A checkpoint's place in its run: epochs completed and batches of the
 * next epoch done (0 for a checkpoint written at an epoch end). */
typedef struct rnnc_checkpoint_pos {
    int64_t epoch, batch;
} rnnc_checkpoint_pos;

/* "<dir>/ckpt-000012.weights.h5" into buf; returns buf. */
const char *rnnc_checkpoint_filename(const char *dir, int64_t epoch, char *buf, size_t cap);
/* The same for a position: batch 0 gives the name above, batch 17 of the
 * epoch after 12 gives "<dir>/ckpt-000012-batch000017.weights.h5". */
const char *rnnc_checkpoint_filename_at(const char *dir, rnnc_checkpoint_pos pos, char *buf, size_t cap);
/* The position a checkpoint file name stands for (the base name, no folder),
 * or false for any other name (only the canonical spelling counts). */
bool rnnc_checkpoint_parse_name(const char *name, rnnc_checkpoint_pos *pos);
/* -1, 0, +1 as a is before, at or after b. */
int rnnc_checkpoint_pos_cmp(rnnc_checkpoint_pos a, rnnc_checkpoint_pos b);
/* The checkpoint files of dir, oldest first (malloc'd, *n may be 0). */
rnnc_status rnnc_checkpoint_list(const char *dir, rnnc_checkpoint_pos **out, size_t *n);
/* Creates dir and its parents (mode 0777 & ~umask) when missing; fails with
 * RNNC_E_IO naming what the folder is for ("TensorBoard log_dir") and the
 * part that cannot be made. */
rnnc_status rnnc_mkdir_parents(const char *what, const char *dir);
/* rnnc_mkdir_parents for a checkpoint directory. */
rnnc_status rnnc_checkpoint_mkdir(const char *dir);
/* Rotation over the checkpoints a run wrote itself: own[0..*n) (any order)
 * are the positions of its files in dir. Deletes the oldest of them until
 * `keep` remain and removes them from own (sorted oldest first on return).
 * No other file is ever touched, whatever else dir holds. */
rnnc_status rnnc_checkpoint_rotate(const char *dir, int64_t keep, rnnc_checkpoint_pos *own, size_t *n);
/* Deletes temporary files a killed writer left in dir
 * ("ckpt-NNNNNN.weights.h5.partial.<pid>..." whose process is gone);
 * *removed (may be NULL) gets their number. Other files are never touched. */
rnnc_status rnnc_checkpoint_clean_stale(const char *dir, int *removed);
/* The newest checkpoint file of dir (by epoch, then batch) into buf
 * (*found false when none). */
rnnc_status rnnc_checkpoint_latest(const char *dir, char *buf, size_t cap, bool *found);

#endif
