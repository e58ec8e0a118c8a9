/* builders.h - test helpers shared by the suites: config trees built in
 * code, their structural comparison, and tensors from literal values.
 * Failures abort the calling test (Criterion assertions).
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#ifndef RNNC_TEST_BUILDERS_H
#define RNNC_TEST_BUILDERS_H

#include <stdbool.h>
#include <stddef.h>

#include "framework/config.h"
#include "framework/tensor.h"

/* A map from NULL-terminated (key, rnnc_cfg *value) pairs; takes the values:
 * th_map_of("axis", rnnc_cfg_int(0), "rate", rnnc_cfg_float(0.5), NULL). */
rnnc_cfg *th_map_of(const char *key, ...);
/* {"module": module (omitted when NULL), "class_name": cls, "config": config
 * (omitted when NULL)}; takes config. */
rnnc_cfg *th_envelope(const char *module, const char *cls, rnnc_cfg *config);
/* A list of n ints (the variadic arguments, as int). */
rnnc_cfg *th_int_list(int n, ...);
/* A tree parsed from JSON or YAML text. */
rnnc_cfg *th_parse(const char *text);
/* Structural equality: types, values, map key order. On a difference, why
 * (may be NULL) says where and what, as "[layers] [item] int 3 vs 4". */
bool th_cfg_equal(const rnnc_cfg *a, const rnnc_cfg *b, char *why, size_t cap);

/* A new tensor of dtype dt and shape s holding v[0..numel) (NULL: zeros);
 * caller destroys. */
rnnc_tensor *th_tensor(rnnc_dtype dt, rnnc_shape s, const double *v);

#endif
