/* cuda_runtime.h (CPU stand-in): see cuda_runtime_api.h. */
#ifndef RNNC_CUDA_EMU_RUNTIME_H
#define RNNC_CUDA_EMU_RUNTIME_H
#include "cuda_runtime_api.h"
#endif
