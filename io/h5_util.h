/* h5_util.h - checked HDF5 helpers shared by the io/ readers and writers.
 *
 * Every HDF5 file is treated as hostile: files are checked before HDF5 sees
 * them (missing, directory, empty, not HDF5), dataset shapes and dtypes are
 * checked before anything is allocated, sizes read from a file are overflow-
 * checked and bounded by the file's own size, and every failure becomes an
 * rnnc_fail message naming the file and the object path. HDF5's automatic
 * error printing is switched off around our calls (rnnc_h5_quiet_begin/end);
 * the innermost HDF5 message is folded into ours instead.
 *
 * `file` arguments are labels for messages only ("model.h5", or
 * "model.keras:model.weights.h5" for an in-memory image).
 *
 * Not here: the Keras layouts (weights_h5.c, legacy_h5.c) and datasets
 * (dataset.c). */
#ifndef RNNC_IO_H5_UTIL_H
#define RNNC_IO_H5_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <hdf5.h>

#include "framework/tensor.h"

/* Saved HDF5 auto-print handler; begin silences, end restores. */
typedef struct rnnc_h5_quiet {
    H5E_auto2_t func;
    void *data;
} rnnc_h5_quiet;

void rnnc_h5_quiet_begin(rnnc_h5_quiet *q);
void rnnc_h5_quiet_end(const rnnc_h5_quiet *q);

/* The innermost message on HDF5's default error stack ("" when empty), into
 * buf; clears the stack. */
const char *rnnc_h5_error_detail(char *buf, size_t cap);

/* Opens an existing file read-only. Missing file, directory, empty file and
 * non-HDF5 content each get their own message (RNNC_E_IO / RNNC_E_FORMAT). */
rnnc_status rnnc_h5_open_read(const char *path, hid_t *out);
/* Opens an HDF5 file image held in memory (copied; buf may be freed after). */
rnnc_status rnnc_h5_open_image(const void *buf, size_t size, const char *label, hid_t *out);
/* Closes a file id (negative ids are ignored). */
void rnnc_h5_close(hid_t f);

/* A file being written next to its destination and renamed into place.
 * HDF5 builds it in memory (core driver, no backing store; the file's size
 * in memory once); commit writes the finished image to the temporary file
 * with rnnc's own checked write, fsync and close, so every failure carries
 * the OS's reason (errno) and HDF5 never holds a half-written file on disk. */
typedef struct rnnc_h5_writer {
    hid_t file;  /* the in-memory HDF5 file; -1 when not open */
    int fd;      /* the temporary file, reserved with O_EXCL; -1 when closed */
    void *image; /* the in-memory file's buffer (private) */
    char *path;  /* destination */
    char *tmp;   /* "<path>.<tag>.<pid>.<n>", tag "tmp" unless given */
} rnnc_h5_writer;

/* Creates a temporary file beside `path` (same directory, so rename is
 * atomic), after removing temporary files of path that a killed writer
 * left ("<path>.tmp.<pid>.<n>" whose process is gone). On failure nothing
 * is left on disk. */
rnnc_status rnnc_h5_writer_begin(const char *path, rnnc_h5_writer *w);
/* The same with temporary name "<path>.<tag>.<pid>.<n>" (checkpoints use
 * "partial"). */
rnnc_status rnnc_h5_writer_begin_tagged(const char *path, const char *tag, rnnc_h5_writer *w);
/* Writes the file, fsyncs it, closes it, renames it onto path and fsyncs
 * the directory. On failure (one message naming path and the OS's reason,
 * e.g. "No space left on device") the temporary file is removed and path is
 * untouched. Always frees w. */
rnnc_status rnnc_h5_writer_commit(rnnc_h5_writer *w);
/* Closes and removes the temporary file; path is untouched. */
void rnnc_h5_writer_discard(rnnc_h5_writer *w);
/* Removes "<path>.<tag>.<pid>.<n>[...]" files beside path whose writer is
 * gone (no such process) or was this process; returns how many. Never fails. */
int rnnc_h5_clean_stale_tmp(const char *path, const char *tag);

/* "/group/sub/name" for an object at `rel` below loc, into buf. */
const char *rnnc_h5_path(hid_t loc, const char *rel, char *buf, size_t cap);

/* Whether `rel` (may contain '/') names a link below loc; never fails. */
bool rnnc_h5_exists(hid_t loc, const char *rel);
/* Opens a group; RNNC_E_FORMAT naming file and path when absent or not a group. */
rnnc_status rnnc_h5_group_open(hid_t loc, const char *rel, const char *file, hid_t *out);
/* Creates group `rel` below loc, with the groups on the way when rel has a
 * '/' (StackedRNNCells' "cells/lstm_cell"). RNNC_E_IO "'<file>': cannot
 * create group '<path>'" with HDF5's reason. */
rnnc_status rnnc_h5_group_create(hid_t loc, const char *rel, const char *file, hid_t *out);
/* Number of links directly in a group. */
rnnc_status rnnc_h5_group_count(hid_t grp, const char *file, size_t *n);

/* Shape and on-disk type of a numeric dataset. *dtype is the rnnc dtype the
 * on-disk type maps to (float16 and non-numeric types fail, naming both). */
rnnc_status rnnc_h5_dataset_info(hid_t loc, const char *rel, const char *file,
                                 rnnc_shape *shape, rnnc_dtype *dtype);

/* Reads a dataset into a new tensor of `dtype`. Float tensors take float32
 * or float64 on disk, and integer data too when `allow_int` is set;
 * integer tensors (int32/int64/uint8) take integer or boolean data, range-
 * checked. The declared size is checked against the file's size before
 * anything is allocated. Caller owns *out. */
rnnc_status rnnc_h5_read_tensor(hid_t loc, const char *rel, const char *file, rnnc_dtype dtype,
                                bool allow_int, rnnc_tensor **out);
/* Reads a float32/float64 dataset into an existing float tensor of the same
 * shape (else RNNC_E_SHAPE naming the dataset and both shapes). */
rnnc_status rnnc_h5_read_into(hid_t loc, const char *rel, const char *file, rnnc_tensor *dst);
/* Writes t as a contiguous dataset `name` in loc (rank 0 -> scalar). */
rnnc_status rnnc_h5_write_tensor(hid_t loc, const char *name, const rnnc_tensor *t,
                                 const char *file);

/* A scalar fixed-length (null-padded UTF-8) string dataset: its bytes sit in
 * the dataset's own storage, never in HDF5's global heap. */
rnnc_status rnnc_h5_write_fixed_string(hid_t loc, const char *name, const char *value,
                                       const char *file);
/* Reads one written by rnnc_h5_write_fixed_string (*out malloc'd). Refuses
 * variable-length strings (their bytes live in the global heap) and checks
 * the declared length against the file's size and the dataset's storage
 * before reading. */
rnnc_status rnnc_h5_read_fixed_string(hid_t loc, const char *name, const char *file, char **out);

/* A string attribute: a scalar or one-element array, variable- or fixed-
 * length (a fixed-length value filling its slot has no NUL), or split into
 * name0, name1, ... chunks (concatenated). *found = false and *out = NULL
 * when absent (found may be NULL: then absence is RNNC_E_FORMAT). */
rnnc_status rnnc_h5_attr_string(hid_t obj, const char *name, const char *file, bool *found,
                                char **out);
/* A string-array attribute (layer_names, weight_names), chunks appended in
 * order. An empty attribute of any type (Keras writes float64 []) gives 0
 * names. */
rnnc_status rnnc_h5_attr_strings(hid_t obj, const char *name, const char *file, bool *found,
                                 char ***out, size_t *n);
void rnnc_h5_strings_free(char **v, size_t n);
/* Writes a scalar variable-length UTF-8 string attribute (as h5py does). */
rnnc_status rnnc_h5_attr_write_string(hid_t obj, const char *name, const char *value,
                                      const char *file);
/* Writes a scalar fixed-length UTF-8 string attribute (no global heap). */
rnnc_status rnnc_h5_attr_write_fixed_string(hid_t obj, const char *name, const char *value,
                                            const char *file);
/* Reads a scalar fixed-length string attribute; a variable-length one is
 * refused before any of it is read. found as in rnnc_h5_attr_string. */
rnnc_status rnnc_h5_attr_fixed_string(hid_t obj, const char *name, const char *file, bool *found,
                                     char **out);
/* Writes a 1-D variable-length UTF-8 string array attribute. */
rnnc_status rnnc_h5_attr_write_strings(hid_t obj, const char *name, const char *const *v,
                                       size_t n, const char *file);

#endif
