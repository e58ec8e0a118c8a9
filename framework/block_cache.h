/* block_cache.h - big memory blocks kept for reuse across calls (internal).
 *
 * A training or inference loop asks for the same big buffers on every call:
 * tensor data and gradients that rnnc_ctx_clear frees (a layer's outputs,
 * intermediate gradients) and the fused kernels' workspaces. Handing them
 * back to malloc makes every call fault in fresh pages: glibc returns
 * blocks above its mmap threshold (at most 32 MiB) to the system on free.
 * Blocks of at least RNNC__BLOCK_CACHE_MIN bytes therefore go to a small
 * process-wide cache when freed; an allocation takes the smallest cached
 * block that fits and is at most twice the size asked for. The cache holds
 * at most RNNC__BLOCK_CACHE_SLOTS blocks and RNNC__BLOCK_CACHE_MAX_BYTES in
 * all (the smallest block goes first when it is full);
 * rnnc_memory_cache_release() gives everything back. Thread-safe (a spin
 * lock held for a few loads). Under AddressSanitizer nothing is cached, so
 * a use after free of a tensor's data is still caught.
 *
 * Every block carries a 64-byte header (its capacity), so rnnc__block_free
 * takes only blocks from rnnc__block_alloc. */
#ifndef RNNC_BLOCK_CACHE_H
#define RNNC_BLOCK_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#define RNNC__BLOCK_CACHE_MIN ((size_t)256 * 1024)
#define RNNC__BLOCK_CACHE_SLOTS 16
#define RNNC__BLOCK_CACHE_MAX_BYTES ((size_t)1 << 30)

/* bytes (0 allowed) of memory, zero-filled when zero is set; NULL when out
 * of memory. */
void *rnnc__block_alloc(size_t bytes, bool zero);
/* Gives p back (to the cache when it is big enough); NULL is a no-op. */
void rnnc__block_free(void *p);

typedef struct rnnc_memory_cache_stats {
    size_t blocks, bytes;  /* held in the cache now */
    unsigned long long hits, misses; /* big-block allocations served from it / from malloc */
} rnnc_memory_cache_stats;

void rnnc_memory_cache_stats_get(rnnc_memory_cache_stats *out);
/* Frees every cached block (e.g. after training, before other work). */
void rnnc_memory_cache_release(void);

#endif
