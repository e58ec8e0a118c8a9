/* random.c - Philox4x32-10 counter-based generator and the draws built on it.
 * Written from the published description (Salmon et al., SC'11): a 10-round
 * bijection of a 128-bit counter under a 64-bit key. */
#include "framework/random.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void rnnc_philox4x32(uint64_t seed, uint64_t index, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void rnnc_rng_init(rnnc_rng *r, uint64_t seed)
{
    r->seed = seed;
    r->counter = 0;
}

/* Two 53-bit uniforms in [0, 1) from one block. */
static void block_uniform2(rnnc_rng *r, double u[2])
{
    uint32_t w[4];
    rnnc_philox4x32(r->seed, r->counter++, w);
    uint64_t a = ((uint64_t)w[0] << 32 | w[1]) >> 11;
    uint64_t b = ((uint64_t)w[2] << 32 | w[3]) >> 11;
    u[0] = (double)a * 0x1.0p-53;
    u[1] = (double)b * 0x1.0p-53;
}

void rnnc_rng_uniform(rnnc_rng *r, double *out, size_t n)
{
    double u[2];
    for (size_t i = 0; i < n; i += 2) {
        block_uniform2(r, u);
        out[i] = u[0];
        if (i + 1 < n)
            out[i + 1] = u[1];
    }
}

void rnnc_rng_normal(rnnc_rng *r, double *out, size_t n)
{
    const double two_pi = 6.283185307179586476925286766559;
    double u[2];
    for (size_t i = 0; i < n; i += 2) {
        block_uniform2(r, u);
        double rad = sqrt(-2.0 * log(1.0 - u[0])); /* 1-u in (0,1]: log is finite */
        out[i] = rad * cos(two_pi * u[1]);
        if (i + 1 < n)
            out[i + 1] = rad * sin(two_pi * u[1]);
    }
}

uint64_t rnnc_rng_below(rnnc_rng *r, uint64_t n)
{
    /* Rejection sampling on 64-bit words removes modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint32_t w[4];
        rnnc_philox4x32(r->seed, r->counter++, w);
        uint64_t v = (uint64_t)w[0] << 32 | w[1];
        if (v < limit)
            return v % n;
    }
}

void rnnc_rng_permutation(rnnc_rng *r, int64_t *perm, size_t n)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = (int64_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rnnc_rng_below(r, i);
        int64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

static rnnc_rng seed_source = {1337, 0};

void rnnc_set_random_seed(uint64_t seed) { rnnc_rng_init(&seed_source, seed); }

uint64_t rnnc_next_seed(void) { return 1 + rnnc_rng_below(&seed_source, 1000000000u); }
