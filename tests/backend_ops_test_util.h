/* backend_ops_test_util.h - what test_backend_ops.c and test_backend_ops_gru.c
 * share: a seeded random stream independent of the library's generator,
 * random float vectors, the OK() assertion, and the backend under test
 * (cpu, be, be_label; use_emulated: the CUDA backend's C code on
 * tests/cuda_emu; use_real_gpu: librnnc_cuda on a GPU, skipped without
 * one) with BACKEND_CASE, one Criterion test running run_<name>() on it.
 * Include after cuda_emu/cuda_backend_sources.c and <criterion/criterion.h>. */
#ifndef RNNC_TEST_BACKEND_OPS_UTIL_H
#define RNNC_TEST_BACKEND_OPS_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "framework/backend.h"
#include "framework/backend_ops.h"

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

/* The CPU backend and the backend under test. */
static const rnnc_backend_ops *cpu;
static const rnnc_backend_ops *be;
static const char *be_label;

static inline void use_emulated(void)
{
    cpu = rnnc_backend_ops_cpu();
    be = rnnc__cuda_backend_ops();
    be_label = "cuda-emu";
}

static inline void emulated_done(void)
{
    rnnc__cuda_api()->shutdown();
}

static inline void use_real_gpu(void)
{
    cpu = rnnc_backend_ops_cpu();
    if (rnnc_backend_ops_get(RNNC_DEVICE_CUDA, &be) != RNNC_OK)
        cr_skip_test("no CUDA backend to test: %s", rnnc_last_error());
    be_label = "cuda";
}

static inline void real_gpu_done(void)
{
    const rnnc_cuda_api *tbl = rnnc_backend_cuda_table();
    if (tbl)
        tbl->shutdown();
}

#define BACKEND_CASE(suite, setup, teardown, name, seed) \
    Test(suite, name)                                    \
    {                                                    \
        setup();                                         \
        rng_seed(seed);                                  \
        run_##name();                                    \
        teardown();                                      \
    }

#endif
