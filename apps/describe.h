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
 * parameter count), then the totals with their size in bytes. A
 * Sequential model must be built or have a declared input; otherwise
 * output shapes read "?". A Functional model prints as Keras 3 does: a
 * row for each InputLayer, layer and Keras operation in config order,
 * output shapes from the graph's shape inference (a layer called several
 * times: its last call's; several outputs: "[(None, 5, 4), (None, 4)]"),
 * and, unless the graph is a chain (each call takes one tensor, no layer
 * is shared, one call ends it), a "Connected to" column listing the
 * tensors each call takes as name[call][tensor] ("-" for inputs). Columns
 * are as wide as their longest cell: nothing wraps. */
rnnc_status rnnc_app_print_summary(FILE *f, const rnnc_model *m);

/* The model's full config (every default filled in) as indented JSON. */
rnnc_status rnnc_app_print_config(FILE *f, const rnnc_model *m);

/* Every dataset of an open HDF5 file: path, dtype, shape; and the count. */
rnnc_status rnnc_app_print_h5_tensors(FILE *f, hid_t file, const char *label);

#endif
