/* cuda_lstm_kernels.cu - the generic LSTM's step kernels and launchers
 * (contracts in cuda_lstm_kernels.h): a grid-stride loop over the B*U
 * units of one step, bodies in cuda_lstm_math.h. */
#include "framework/backend/cuda/cuda_launch.h"
#include "framework/backend/cuda/cuda_lstm_math.h"

__global__ void k_lstm_fwd(rnnc__lstm_kargs a, int k, int t, const float *rec)
{
    GRID_STRIDE(i, (size_t)a.B * a.U) rnnc__b_lstm_fwd(&a, k, t, rec, i);
}

__global__ void k_lstm_bwd(rnnc__lstm_kargs a, int k, int t, const float *dY, rnnc__lstm_bargs w)
{
    GRID_STRIDE(i, (size_t)a.B * a.U) rnnc__b_lstm_bwd(&a, k, t, dY, &w, i);
}

extern "C" cudaError_t rnnc__k_lstm_fwd(cudaStream_t s, rnnc__lstm_kargs a, int k, int t,
                                        const float *rec)
{
    k_lstm_fwd<<<blocks_for((size_t)a.B * a.U), THREADS, 0, s>>>(a, k, t, rec);
    return cudaGetLastError();
}

extern "C" cudaError_t rnnc__k_lstm_bwd(cudaStream_t s, rnnc__lstm_kargs a, int k, int t,
                                        const float *dY, rnnc__lstm_bargs w)
{
    k_lstm_bwd<<<blocks_for((size_t)a.B * a.U), THREADS, 0, s>>>(a, k, t, dY, w);
    return cudaGetLastError();
}
