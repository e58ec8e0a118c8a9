/* backend_ops_test_util.h - what test_backend_ops.c and test_backend_ops_gru.c
 * share: a seeded random stream independent of the library's generator,
 * random float vectors, and the OK() assertion. Include after
 * <criterion/criterion.h>. */
#ifndef RNNC_TEST_BACKEND_OPS_UTIL_H
#define RNNC_TEST_BACKEND_OPS_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#define OK(call) cr_assert_eq((call), RNNC_OK, "%s: %s", #call, rnnc_last_error())

static uint64_t rng_state;

static inline void rng_seed(uint64_t s)
{
    rng_state = s * 0x9E3779B97F4A7C15ull + 1;
}

static inline uint32_t rng_u32(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

static inline float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_u32() & 0xffffff) / (float)0x1000000;
}

static inline float *rand_vec(size_t n, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    cr_assert(v);
    for (size_t i = 0; i < n; i++)
        v[i] = rng_uniform(lo, hi);
    return v;
}

#endif
