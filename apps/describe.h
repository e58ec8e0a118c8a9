/* describe.h - what `rnnc inspect` (and train's start-up banner) prints: a
 * Keras-style model summary, the resolved config as pretty JSON, and the
 * tensors stored in an HDF5 file.
 *
 * Not here: deciding what a file is (cmd_inspect.c). */
#ifndef RNNC_APPS_DESCRIBE_H
#define RNNC_APPS_DESCRIBE_H

#include <stdio.h>

#include <hdf5.h>

#include "framework/model.h"

/* "(None, 50, 32)" for a shape with -1 = None; into buf. */
const char *rnnc_app_shape_str(const rnnc_shape *s, char *buf, size_t cap);

/* Keras's model.summary(): one row per layer (name (class), output shape,
 * parameter count), then totals. The model must be built or have a
 * declared input; otherwise output shapes read "?". */
rnnc_status rnnc_app_print_summary(FILE *f, const rnnc_model *m);

/* The model's full config (every default filled in) as indented JSON. */
rnnc_status rnnc_app_print_config(FILE *f, const rnnc_model *m);

/* Every dataset of an open HDF5 file: path, dtype, shape; and the count. */
rnnc_status rnnc_app_print_h5_tensors(FILE *f, hid_t file, const char *label);

#endif
