/* test_block_cache.c - big tensor buffers and kernel workspaces are reused
 * across calls (framework/block_cache.h) instead of being handed back to the
 * system and faulted in again.
 *
 * Oracles: the process's own page-fault counter (getrusage ru_minflt):
 * writing a 48 MiB tensor that replaces a freed one of the same size must
 * not fault its 12288 pages in again (glibc alone unmaps blocks above
 * 32 MiB on free, so every such call faulted); a reused buffer reads as
 * zeros (rnnc_tensor_create's contract); the cache's bounds (slot count,
 * bytes, the 2x fit rule). Under AddressSanitizer nothing is cached (so a
 * use after free stays visible): those cases are skipped there. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include "framework/block_cache.h"
#include "framework/tensor.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifndef ASAN
#define ASAN 0
#endif

#define OK(expr) cr_assert_eq((expr), RNNC_OK, "%s failed: %s", #expr, rnnc_last_error())

static void skip_under_asan(void)
{
    if (ASAN)
        cr_skip_test("the block cache is off under AddressSanitizer");
}

static long minflt(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_minflt;
}

static void fill(rnnc_tensor *t, float v)
{
    float *p = t->data;
    for (size_t i = 0; i < t->numel; i++)
        p[i] = v;
}

Test(block_cache, a_recreated_big_tensor_faults_no_pages_in)
{
    skip_under_asan();
    rnnc_memory_cache_release();
    const rnnc_shape s = RNNC_SHAPE(12 * 1024 * 1024); /* 48 MiB of float32 */
    rnnc_tensor *t;
    OK(rnnc_tensor_create(RNNC_F32, &s, &t));
    fill(t, 1.0f); /* faults its pages in once */
    rnnc_tensor_destroy(t);
    const long before = minflt();
    OK(rnnc_tensor_create(RNNC_F32, &s, &t));
    fill(t, 2.0f);
    const long faults = minflt() - before;
    rnnc_tensor_destroy(t);
    cr_expect_lt(faults, 1024, "%ld page faults writing a 48 MiB tensor that replaces a freed one "
                               "(12288 would mean its pages were handed back and faulted in again)",
                 faults);
    rnnc_memory_cache_release();
}

Test(block_cache, a_reused_buffer_reads_as_zeros)
{
    const rnnc_shape s = RNNC_SHAPE(512, 1024); /* 2 MiB */
    rnnc_tensor *t, *u;
    OK(rnnc_tensor_create(RNNC_F32, &s, &t));
    fill(t, 7.0f);
    OK(rnnc_tensor_ensure_grad(t));
    memset(t->grad, 0x5a, t->numel * sizeof(float));
    void *old = t->data;
    rnnc_tensor_destroy(t);
    OK(rnnc_tensor_create(RNNC_F32, &s, &u));
    OK(rnnc_tensor_ensure_grad(u));
    if (!ASAN)
        cr_expect(u->data == old || u->grad == old, "a freed 2 MiB buffer is handed out again");
    const float *d = u->data, *g = u->grad;
    for (size_t i = 0; i < u->numel; i++)
        cr_assert(d[i] == 0.0f && g[i] == 0.0f, "element %zu: data %g grad %g, want 0", i, d[i], g[i]);
    rnnc_tensor_destroy(u);
    rnnc_memory_cache_release();
}

Test(block_cache, bounded_by_slots_bytes_and_the_fit_rule)
{
    skip_under_asan();
    rnnc_memory_cache_release();
    enum { N = RNNC__BLOCK_CACHE_SLOTS + 4 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = rnnc__block_alloc(((size_t)1 << 20) + (size_t)i * 4096, false);
        cr_assert_not_null(p[i]);
    }
    for (int i = 0; i < N; i++)
        rnnc__block_free(p[i]);
    rnnc_memory_cache_stats st;
    rnnc_memory_cache_stats_get(&st);
    cr_expect_eq(st.blocks, (size_t)RNNC__BLOCK_CACHE_SLOTS, "the cache keeps at most its slots");
    /* the biggest ones stay: the smallest four were evicted */
    size_t want = 0;
    for (int i = 4; i < N; i++)
        want += ((size_t)1 << 20) + (size_t)i * 4096;
    cr_expect_eq(st.bytes, want);

    /* A request less than half a cached block's size does not take it. */
    rnnc_memory_cache_release();
    void *big = rnnc__block_alloc((size_t)4 << 20, false);
    rnnc__block_free(big);
    rnnc_memory_cache_stats_get(&st);
    const unsigned long long hits = st.hits;
    void *small = rnnc__block_alloc((size_t)1 << 20, false);
    rnnc_memory_cache_stats_get(&st);
    cr_expect_eq(st.hits, hits, "a 1 MiB request took a 4 MiB block");
    cr_expect_eq(st.blocks, 1u);
    void *again = rnnc__block_alloc((size_t)3 << 20, false);
    rnnc_memory_cache_stats_get(&st);
    cr_expect_eq(st.hits, hits + 1, "a 3 MiB request reuses the 4 MiB block");
    cr_expect_eq(again, big);
    rnnc__block_free(small);
    rnnc__block_free(again);

    /* Blocks above the byte bound are never kept; release empties it. */
    rnnc_memory_cache_release();
    rnnc_memory_cache_stats_get(&st);
    cr_expect_eq(st.blocks, 0u);
    cr_expect_eq(st.bytes, 0u);
    rnnc__block_free(rnnc__block_alloc(0, true)); /* size 0 works */
    rnnc__block_free(NULL);
}
