/* arena.h - objects a test makes and the suite's teardown frees: layers,
 * leaf tensors, shapes passed by address. For suites that build many small
 * layers (test_layers, test_bidirectional): call th_arena_free() in the
 * suite's .fini. Failures abort the calling test (Criterion assertions).
 *
 * Linked into every test executable (tests/helpers/ is globbed). */
#ifndef RNNC_TEST_ARENA_H
#define RNNC_TEST_ARENA_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/layer.h"

/* Keeps l (non-NULL) for th_arena_free; returns it. */
rnnc_layer *th_own(rnnc_layer *l);
/* The layer th_own kept last now belongs to something else (a wrapper). */
void th_disown_last(void);
/* A tensor of dtype dt and shape s holding vals[0..numel) (NULL: zeros),
 * requiring a gradient when grad; kept for th_arena_free. */
rnnc_tensor *th_leaf(rnnc_dtype dt, rnnc_shape s, const double *vals, bool grad);
/* A float64 leaf of uniform values in [lo, hi) from seed. */
rnnc_tensor *th_rand_leaf(rnnc_shape s, uint64_t seed, double lo, double hi, bool grad);
/* A shape's address for calls that take a pointer (a ring of 8 slots). */
const rnnc_shape *th_shp(rnnc_shape s);
/* Frees everything kept since the last call. */
void th_arena_free(void);

#endif
