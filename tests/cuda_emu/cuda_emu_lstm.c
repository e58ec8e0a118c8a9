/* cuda_emu_lstm.c - CPU launchers of the generic LSTM's step kernels
 * (framework/backend/cuda/cuda_lstm_kernels.h): the bodies of
 * cuda_lstm_math.h over every unit, in order. */
#include "framework/backend/cuda/cuda_lstm_math.h"

cudaError_t rnnc__k_lstm_fwd(cudaStream_t s, rnnc__lstm_kargs a, int k, int t, const float *rec)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)a.B * (size_t)a.U; i++)
        rnnc__b_lstm_fwd(&a, k, t, rec, i);
    return cudaSuccess;
}

cudaError_t rnnc__k_lstm_bwd(cudaStream_t s, rnnc__lstm_kargs a, int k, int t, const float *dY,
                             rnnc__lstm_bargs w)
{
    EMU_EAGER(s);
    for (size_t i = 0; i < (size_t)a.B * (size_t)a.U; i++)
        rnnc__b_lstm_bwd(&a, k, t, dY, &w, i);
    return cudaSuccess;
}
