/* block_cache.c - big blocks kept for reuse across calls (block_cache.h). */
#include "framework/block_cache.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEADER 64 /* keeps the capacity; 64 keeps malloc's alignment of the data */

#if defined(__SANITIZE_ADDRESS__)
#define CACHE_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_ON 0
#endif
#endif
#ifndef CACHE_ON
#define CACHE_ON 1
#endif

static struct {
    void *block[RNNC__BLOCK_CACHE_SLOTS];
    size_t cap[RNNC__BLOCK_CACHE_SLOTS];
    size_t bytes;
    unsigned long long hits, misses;
    atomic_flag lock;
} cache = {.lock = ATOMIC_FLAG_INIT};

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&cache.lock, memory_order_acquire))
        ;
}

static void unlock(void) { atomic_flag_clear_explicit(&cache.lock, memory_order_release); }

void *rnnc__block_alloc(size_t bytes, bool zero)
{
    void *blk = NULL;
    if (CACHE_ON && bytes >= RNNC__BLOCK_CACHE_MIN) {
        int best = -1;
        lock();
        for (int i = 0; i < RNNC__BLOCK_CACHE_SLOTS; i++)
            if (cache.block[i] && cache.cap[i] >= bytes && cache.cap[i] / 2 <= bytes &&
                (best < 0 || cache.cap[i] < cache.cap[best]))
                best = i;
        if (best >= 0) {
            blk = cache.block[best];
            cache.block[best] = NULL;
            cache.bytes -= cache.cap[best];
            cache.hits++;
        } else {
            cache.misses++;
        }
        unlock();
        if (blk) {
            if (zero)
                memset((char *)blk + HEADER, 0, bytes);
            return (char *)blk + HEADER;
        }
    }
    if (bytes > SIZE_MAX - HEADER)
        return NULL;
    blk = zero ? calloc(1, HEADER + bytes) : malloc(HEADER + bytes);
    if (!blk)
        return NULL;
    memcpy(blk, &bytes, sizeof bytes);
    return (char *)blk + HEADER;
}

void rnnc__block_free(void *p)
{
    if (!p)
        return;
    void *blk = (char *)p - HEADER, *drop = blk;
    size_t cap;
    memcpy(&cap, blk, sizeof cap);
    if (CACHE_ON && cap >= RNNC__BLOCK_CACHE_MIN && cap <= RNNC__BLOCK_CACHE_MAX_BYTES) {
        lock();
        /* Room by count and bytes: evict the smallest cached blocks while
         * they are smaller than this one. */
        for (;;) {
            int slot = -1, smallest = -1;
            for (int i = 0; i < RNNC__BLOCK_CACHE_SLOTS; i++) {
                if (!cache.block[i]) {
                    if (slot < 0)
                        slot = i;
                } else if (smallest < 0 || cache.cap[i] < cache.cap[smallest]) {
                    smallest = i;
                }
            }
            if (slot >= 0 && cache.bytes + cap <= RNNC__BLOCK_CACHE_MAX_BYTES) {
                cache.block[slot] = blk;
                cache.cap[slot] = cap;
                cache.bytes += cap;
                drop = NULL;
                break;
            }
            if (smallest < 0 || cache.cap[smallest] >= cap)
                break; /* keep what is cached; free this one */
            void *old = cache.block[smallest];
            cache.bytes -= cache.cap[smallest];
            cache.block[smallest] = NULL;
            unlock();
            free(old);
            lock();
        }
        unlock();
    }
    free(drop);
}

void rnnc_memory_cache_stats_get(rnnc_memory_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    lock();
    for (int i = 0; i < RNNC__BLOCK_CACHE_SLOTS; i++)
        out->blocks += cache.block[i] != NULL;
    out->bytes = cache.bytes;
    out->hits = cache.hits;
    out->misses = cache.misses;
    unlock();
}

void rnnc_memory_cache_release(void)
{
    void *blocks[RNNC__BLOCK_CACHE_SLOTS];
    lock();
    for (int i = 0; i < RNNC__BLOCK_CACHE_SLOTS; i++) {
        blocks[i] = cache.block[i];
        cache.block[i] = NULL;
    }
    cache.bytes = 0;
    unlock();
    for (int i = 0; i < RNNC__BLOCK_CACHE_SLOTS; i++)
        free(blocks[i]);
}
