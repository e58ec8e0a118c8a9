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

/* "<dir>/ckpt-000012.weights.h5" into buf; returns buf. */
const char *rnnc_checkpoint_filename(const char *dir, int64_t epoch, char *buf, size_t cap);
/* Creates dir and its parents (mode 0777 & ~umask) when missing; fails with
 * RNNC_E_IO naming the part that cannot be made. */
rnnc_status rnnc_checkpoint_mkdir(const char *dir);
/* Deletes all but the `keep` newest checkpoint files (by epoch in the name)
 * of dir; other files are never touched. */
rnnc_status rnnc_checkpoint_rotate(const char *dir, int64_t keep);
/* Deletes temporary files a killed writer left in dir
 * ("ckpt-NNNNNN.weights.h5.partial.<pid>..." whose process is gone);
 * *removed (may be NULL) gets their number. Other files are never touched. */
rnnc_status rnnc_checkpoint_clean_stale(const char *dir, int *removed);
/* The newest checkpoint file of dir into buf (*found false when none). */
rnnc_status rnnc_checkpoint_latest(const char *dir, char *buf, size_t cap, bool *found);

#endif
