/* test_cuda_gru.c - the GPU backend on a real GPU, against the CPU: the
 * cuDNN GRU kernel and the generic GPU GRU kernel on random configurations
 * (outputs and every gradient within 1e-4 of a double-precision CPU
 * reference), the element-wise activation kernels, the use_cudnn
 * refusals, gradient accumulation and the caching allocator (cases in
 * cuda_gru_cases.h).
 *
 * Needs a CUDA build and a GPU: each test calls cr_skip_test when
 * rnnc_backend_cuda() reports no usable device, with its message (backend
 * not built / no device present). tests/test_cuda_emulated.c runs the same
 * cases on the CPU against stand-ins of the CUDA libraries. */
#include "cuda_gru_cases.h"

#include "framework/backend.h"

static void need_gpu(void)
{
    if (rnnc_backend_cuda(&gpu) != RNNC_OK)
        cr_skip_test("GPU tests skipped: %s", rnnc_last_error());
}

#define GPU_TEST(name)              \
    Test(cuda_gru, name)            \
    {                               \
        need_gpu();                 \
        run_##name();               \
        gpu->shutdown();            \
    }

GPU_TEST(cudnn_kernel_matches_the_cpu_on_random_configurations)
GPU_TEST(generic_kernel_matches_the_cpu_on_random_configurations)
GPU_TEST(both_gpu_kernels_agree_on_cudnn_configurations)
GPU_TEST(elementwise_activations_match_the_cpu)
GPU_TEST(cudnn_kernel_refuses_what_cudnn_cannot_do)
GPU_TEST(training_loop_stops_allocating_and_gradients_accumulate)
GPU_TEST(device_tensors_round_trip)
