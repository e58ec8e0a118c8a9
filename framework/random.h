/* random.h - a counter-based generator (Philox4x32-10).
 *
 * The stream is a pure function of (seed, counter): block k of 4 random
 * 32-bit words is philox(key = seed, counter = k). Every draw consumes whole
 * blocks and advances the counter, so results are reproducible from the seed,
 * do not depend on thread count (block k can be computed anywhere), and the
 * state (two integers) is saved in checkpoints to resume bit-for-bit. */
#ifndef RNNC_RANDOM_H
#define RNNC_RANDOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct rnnc_rng {
    uint64_t seed;
    uint64_t counter; /* next block index */
} rnnc_rng;

void rnnc_rng_init(rnnc_rng *r, uint64_t seed);
/* Block `index` of the stream for `seed`: four words. */
void rnnc_philox4x32(uint64_t seed, uint64_t index, uint32_t out[4]);

/* n uniform doubles in [0, 1) (53-bit), consuming ceil(n/2) blocks. */
void rnnc_rng_uniform(rnnc_rng *r, double *out, size_t n);
/* n standard normal doubles (Box-Muller), consuming ceil(n/2) blocks. */
void rnnc_rng_normal(rnnc_rng *r, double *out, size_t n);
/* One uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t rnnc_rng_below(rnnc_rng *r, uint64_t n);
/* A uniformly shuffled permutation of 0..n-1 (Fisher-Yates). */
void rnnc_rng_permutation(rnnc_rng *r, int64_t *perm, size_t n);

/* The process-wide seed source for objects built with seed = None (Keras
 * draws a random seed from Python's global `random`). Deterministic: starts
 * from rnnc_set_random_seed's value (default 1337), so unseeded programs
 * still repeat; each call returns the next seed in [1, 10^9]. */
void rnnc_set_random_seed(uint64_t seed);
uint64_t rnnc_next_seed(void);

#endif
