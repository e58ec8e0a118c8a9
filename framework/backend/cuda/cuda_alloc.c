/* cuda_alloc.c - the caching device allocator, growable buffers and views.
 *
 * cudaMalloc and cudaFree synchronize the device and cost tens of
 * microseconds, more than a GRU step at small batch sizes; a training loop
 * with fixed shapes asks for the same sizes every step. So freed blocks are
 * kept in a list and handed out again (best fit, at most about twice the
 * size asked for), and the driver is called only when nothing fits. Sizes
 * are rounded (512 B under 1 MiB, else whole MiB) so near sizes share
 * blocks. When cudaMalloc runs out of memory, the cache is returned to the
 * driver and the call retried once.
 *
 * Reuse is safe without events because all work runs on the backend's one
 * stream: a block handed out again is only used by work queued later. */
#include "framework/backend/cuda/cuda_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    void *ptr;
    size_t size;
    bool used;
} block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static block *blocks;
static size_t n_blocks, cap_blocks;
static rnnc_cuda_stats stats;

static size_t round_size(size_t n)
{
    const size_t mib = (size_t)1 << 20;
    if (n < mib)
        return (n + 511) & ~(size_t)511;
    return (n + mib - 1) & ~(mib - 1);
}

/* Frees every cached (unused) block; called with the lock held. */
static rnnc_status release_locked(void)
{
    size_t k = 0;
    rnnc_status s = RNNC_OK;
    for (size_t i = 0; i < n_blocks; i++) {
        if (blocks[i].used) {
            blocks[k++] = blocks[i];
            continue;
        }
        cudaError_t e = cudaFree(blocks[i].ptr);
        stats.device_frees++;
        stats.bytes_cached -= blocks[i].size;
        if (e != cudaSuccess && s == RNNC_OK)
            s = rnnc__cuda_fail(e, "cudaFree(cached block)", __FILE__, __LINE__);
    }
    n_blocks = k;
    return s;
}

static rnnc_status alloc_locked(size_t bytes, void **ptr, size_t *got)
{
    const size_t need = round_size(bytes);
    /* Best fit among free blocks, not wasting more than about half. */
    size_t best = (size_t)-1;
    for (size_t i = 0; i < n_blocks; i++)
        if (!blocks[i].used && blocks[i].size >= need && blocks[i].size <= 2 * need + 4096 &&
            (best == (size_t)-1 || blocks[i].size < blocks[best].size))
            best = i;
    if (best != (size_t)-1) {
        blocks[best].used = true;
        stats.bytes_cached -= blocks[best].size;
        stats.bytes_in_use += blocks[best].size;
        *ptr = blocks[best].ptr;
        *got = blocks[best].size;
        return RNNC_OK;
    }
    if (n_blocks == cap_blocks) {
        size_t nc = cap_blocks ? 2 * cap_blocks : 64;
        block *nb = realloc(blocks, nc * sizeof *nb);
        if (!nb)
            return rnnc_fail(RNNC_E_NOMEM, "CUDA allocator: out of host memory for the block list");
        blocks = nb;
        cap_blocks = nc;
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, need);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        RNNC_TRY(release_locked());
        e = cudaMalloc(&p, need);
    }
    if (e != cudaSuccess)
        return rnnc_fail_context(rnnc__cuda_fail(e, "cudaMalloc(&p, need)", __FILE__, __LINE__),
                                 "allocating %zu bytes on the GPU (%zu in use, %zu cached): ",
                                 need, stats.bytes_in_use, stats.bytes_cached);
    stats.device_mallocs++;
    stats.bytes_in_use += need;
    blocks[n_blocks++] = (block){p, need, true};
    *ptr = p;
    *got = need;
    return RNNC_OK;
}

rnnc_status rnnc__cuda_alloc(size_t bytes, void **ptr, size_t *got)
{
    if (bytes == 0)
        return rnnc_fail(RNNC_E_ARG, "CUDA allocator: zero-byte request");
    rnnc__cuda_ctx *c; /* make sure the device is initialized */
    RNNC_TRY(rnnc__cuda_ctx_get(&c));
    pthread_mutex_lock(&lock);
    rnnc_status s = alloc_locked(bytes, ptr, got);
    pthread_mutex_unlock(&lock);
    return s;
}

void rnnc__cuda_free(void *ptr)
{
    if (!ptr)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_blocks; i++)
        if (blocks[i].ptr == ptr && blocks[i].used) {
            blocks[i].used = false;
            stats.bytes_in_use -= blocks[i].size;
            stats.bytes_cached += blocks[i].size;
            break;
        }
    pthread_mutex_unlock(&lock);
}

rnnc_status rnnc__cuda_alloc_stats(rnnc_cuda_stats *out)
{
    pthread_mutex_lock(&lock);
    *out = stats;
    pthread_mutex_unlock(&lock);
    return RNNC_OK;
}

rnnc_status rnnc__cuda_release_cache(void)
{
    pthread_mutex_lock(&lock);
    rnnc_status s = release_locked();
    pthread_mutex_unlock(&lock);
    return s;
}

void rnnc__cuda_alloc_shutdown(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_blocks; i++) {
        cudaFree(blocks[i].ptr);
        stats.device_frees++;
    }
    free(blocks);
    blocks = NULL;
    n_blocks = cap_blocks = 0;
    stats.bytes_in_use = stats.bytes_cached = 0;
    pthread_mutex_unlock(&lock);
}

rnnc_status rnnc__dbuf_reserve(rnnc__dbuf *b, size_t bytes)
{
    if (bytes <= b->cap)
        return RNNC_OK;
    rnnc__cuda_free(b->ptr);
    b->ptr = NULL;
    b->cap = 0;
    void *p;
    size_t got;
    RNNC_TRY(rnnc__cuda_alloc(bytes, &p, &got));
    b->ptr = p;
    b->cap = got;
    return RNNC_OK;
}

void rnnc__dbuf_free(rnnc__dbuf *b)
{
    rnnc__cuda_free(b->ptr);
    b->ptr = NULL;
    b->cap = 0;
}

void rnnc__dview(rnnc_dtensor *t, rnnc_dtype dtype, const rnnc_shape *shape, void *data)
{
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->shape = *shape;
    size_t n = 1;
    for (int i = 0; i < shape->ndim; i++)
        n *= (size_t)shape->dim[i];
    t->numel = n;
    t->data = data;
    t->bytes = 0; /* a view: never freed through rnnc_dtensor destroy */
}
