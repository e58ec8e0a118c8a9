/* keras_cases.h - shared by the tests that replay Keras fixture cases:
 * the case list of a fixture folder and an exact config comparison. */
#ifndef RNNC_TEST_KERAS_CASES_H
#define RNNC_TEST_KERAS_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "framework/config.h"
#include "framework/layer.h"

/* The names listed in <dir>/cases.txt ('#' lines skipped), NULL-terminated,
 * malloc'd (free with rnnc_test_free_cases); NULL when the file is missing. */
char **rnnc_test_read_cases(const char *dir, int *n);
void rnnc_test_free_cases(char **names);

/* Whether a and b are the same tree: types, values, map keys in the same
 * order. On a difference, appends where and what to path (a dotted path
 * whose start the caller wrote, e.g. "config"). */
bool rnnc_test_cfg_equal(const rnnc_cfg *a, const rnnc_cfg *b, char *path, size_t cap);

/* A layer from a serialized-layer JSON string (rnnc_layer_from_config). */
rnnc_status rnnc_test_layer_from_json(const char *json, rnnc_layer **out);

/* Replays <dir>/<name>.h5 written by tests/gen_lstm_fixtures.py
 * (write_layer_case): the layer from Keras's serialized layer, Keras's
 * weights, one float64 call (with the mask when the case has one), outputs,
 * losses and the gradients of x and every weight against Keras to 1e-9,
 * and get_config equal to Keras's. Reports through cr_expect; returns the
 * number of mismatches. */
int rnnc_test_run_layer_case(const char *dir, const char *name);

#endif
