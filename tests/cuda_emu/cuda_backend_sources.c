/* cuda_backend_sources.c - the emulated CUDA backend as one unity-build
 * include: tests/cuda_emu/cuda_emu.c and cuda_emu_train.c (CPU stand-ins for
 * the CUDA runtime, cuBLAS, cuDNN and the kernels' launchers) and every C
 * source of framework/backend/cuda. A test that wants the CUDA backend on the CPU
 * #includes this file first (before any other header) and is compiled with
 * tests/cuda_emu on the include path ahead of the system (tests/CMakeLists.txt
 * does that for every test). Add each new .c file of framework/backend/cuda
 * here. */
#include "cuda_emu/cuda_emu.c"
#include "cuda_emu/cuda_emu_train.c"
#include "cuda_emu/cuda_emu_lstm.c"

#include "framework/backend/cuda/cuda_alloc.c"
#include "framework/backend/cuda/cuda_api.c"
#include "framework/backend/cuda/cuda_backend_gru.c"
#include "framework/backend/cuda/cuda_backend_lstm.c"
#include "framework/backend/cuda/cuda_backend_ops.c"
#include "framework/backend/cuda/cuda_blas.c"
#include "framework/backend/cuda/cuda_context.c"
#include "framework/backend/cuda/cuda_errors.c"
#include "framework/backend/cuda/cuda_gru.c"
#include "framework/backend/cuda/cuda_gru_cudnn.c"
#include "framework/backend/cuda/cuda_gru_generic.c"
#include "framework/backend/cuda/cuda_ops.c"
#include "framework/backend/cuda/cuda_tensor.c"
