/* history_files.h - the run's History as files, written by `rnnc train`
 * after every epoch and read by `rnnc plot`:
 *   history.json  {"loss": [...], "val_loss": [...], ...}: the dict of lists
 *                 of Keras's History.history (keys in first-seen order,
 *                 one entry per epoch, null where an epoch lacked a value
 *                 or had a non-finite one: strict JSON, no NaN/Infinity)
 *   history.csv   CSVLogger's columns: epoch,<keys sorted>, one row per
 *                 epoch, "\r\n" line ends, values as Python's repr
 * Both are replaced atomically (a temporary file renamed into place).
 *
 * Not here: where the folder is (train_state.h), drawing (cmd_plot.c). */
#ifndef RNNC_APPS_HISTORY_FILES_H
#define RNNC_APPS_HISTORY_FILES_H

#include <stdint.h>

#include "framework/config.h"

/* Writes dir/history.json and dir/history.csv from history (a map of key ->
 * list of floats); the first row is epoch first_epoch (0-based). */
rnnc_status rnnc_history_files_write(const char *dir, const rnnc_cfg *history, int64_t first_epoch);

/* Reads a history.json (or a folder holding one, or a history.csv / a
 * CSVLogger file) into a map of key -> list of floats (caller owns *out);
 * *first_epoch gets the first row's epoch (0 for JSON). */
rnnc_status rnnc_history_files_read(const char *path, rnnc_cfg **out, int64_t *first_epoch);

#endif
