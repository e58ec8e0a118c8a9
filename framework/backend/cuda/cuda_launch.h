/* cuda_launch.h - launch helpers shared by the backend's .cu files
 * (cuda_kernels.cu, cuda_ops_kernels.cu): block size, grid size for n
 * items (capped; kernels loop with a grid stride), and that loop. CUDA
 * only (blockIdx, ...): never included by C files. */
#ifndef RNNC_CUDA_LAUNCH_H
#define RNNC_CUDA_LAUNCH_H

#include <stddef.h>

#define THREADS 256

static inline unsigned int blocks_for(size_t n)
{
    const size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned int)(b > 65535u * 32u ? 65535u * 32u : (b ? b : 1));
}

#define GRID_STRIDE(i, n)                                                        \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);      \
         i += (size_t)blockDim.x * gridDim.x)

#endif
