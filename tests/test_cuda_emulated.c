/* test_cuda_emulated.c - the CUDA backend's own C code run on the CPU.
 *
 * The C files of framework/backend/cuda are compiled into this test (unity build)
 * against the stand-in headers of tests/cuda_emu (put first on the include
 * path by tests/CMakeLists.txt), and tests/cuda_emu/cuda_emu.c supplies
 * CPU versions of the CUDA runtime, cuBLAS and cuDNN calls plus CPU loops
 * over the kernels' bodies (framework/backend/cuda/cuda_kernel_math.h, the
 * same code the .cu file runs on the GPU). The cases are those of the real
 * GPU test (cuda_gru_cases.h). So every build, with or without CUDA and a
 * GPU, checks the backend's argument handling, buffers, the row-major
 * cuBLAS calls, the cuDNN call sequence and weight-space mapping, masks,
 * go_backwards, dropout, outputs and gradients against the CPU reference.
 *
 * What it cannot check: the real libraries' behaviour (that cuDNN lays its
 * matrices out as documented, numerical details, launch configurations,
 * races between GPU threads); tests/test_cuda_gru.c does, on a GPU. */
#include "cuda_emu/cuda_backend_sources.c"

#include "cuda_gru_cases.h"

static void emulated(void)
{
    gpu = rnnc__cuda_api();
}

#define EMU_TEST(name)              \
    Test(cuda_emulated, name)       \
    {                               \
        emulated();                 \
        run_##name();               \
        gpu->shutdown();            \
    }

EMU_TEST(cudnn_kernel_matches_the_cpu_on_random_configurations)
EMU_TEST(generic_kernel_matches_the_cpu_on_random_configurations)
EMU_TEST(both_gpu_kernels_agree_on_cudnn_configurations)
EMU_TEST(elementwise_activations_match_the_cpu)
EMU_TEST(cudnn_kernel_refuses_what_cudnn_cannot_do)
EMU_TEST(training_loop_stops_allocating_and_gradients_accumulate)
EMU_TEST(device_tensors_round_trip)

Test(cuda_emulated, every_device_block_is_returned)
{
    emulated();
    run_device_tensors_round_trip();
    run_training_loop_stops_allocating_and_gradients_accumulate();
    gpu->shutdown();
    cr_expect_eq(emu_mallocs, emu_frees, "cudaMalloc %lu vs cudaFree %lu", emu_mallocs, emu_frees);
    cr_expect_gt(emu_mallocs, 0ul);
}
