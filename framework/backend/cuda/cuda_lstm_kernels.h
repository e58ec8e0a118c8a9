/* cuda_lstm_kernels.h - the generic LSTM's step kernels (bodies in
 * cuda_lstm_math.h; launched from cuda_backend_lstm.c, emulated by
 * tests/cuda_emu/cuda_emu_lstm.c) and the op table's LSTM entries
 * (backend_ops.h lstm_*). Every pointer is device memory. */
#ifndef RNNC_CUDA_LSTM_KERNELS_H
#define RNNC_CUDA_LSTM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One sequence's saved state: xp (B, T, 4U) the input projections with
 * the bias; hs, cs ((T + 1), B, U) states ([0] the initial ones); P, A
 * (T, B, 4U) pre-activations and gate values; CA (T, B, U) act(c'); prev
 * (B, U) the latest output; Y (B, T, U) outputs when seq; mask (B, T) or
 * NULL. act, ract: rnnc_act values. */
typedef struct rnnc__lstm_kargs {
    int B, T, U;
    int act, ract, seq, zofm;
    const float *xp;
    float *hs, *cs, *P, *A, *CA, *prev, *Y;
    const uint8_t *mask;
} rnnc__lstm_kargs;

/* The backward step's buffers (rnnc__b_lstm_bwd). */
typedef struct rnnc__lstm_bargs {
    float *dzx, *dzk, *dh, *dc, *dhp, *carry;
} rnnc__lstm_bargs;

/* Step k (time t) for every unit; rec (B, 4U) = h_prev R. */
cudaError_t rnnc__k_lstm_fwd(cudaStream_t s, rnnc__lstm_kargs a, int k, int t, const float *rec);
/* The backward of step k; dY as the forward's Y (seq) or (B, U). */
cudaError_t rnnc__k_lstm_bwd(cudaStream_t s, rnnc__lstm_kargs a, int k, int t, const float *dY,
                             rnnc__lstm_bargs w);

#ifdef __cplusplus
}
#endif

#ifndef __CUDACC__
/* The op table's LSTM entries (cuda_backend_lstm.c). */
#include "framework/backend_ops.h"
rnnc_status rnnc__cuda_blstm_create(const rnnc_blstm_config *c, rnnc_blstm **out);
void rnnc__cuda_blstm_destroy(rnnc_blstm *g);
rnnc_status rnnc__cuda_blstm_forward(rnnc_blstm *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                     const rnnc_bbuf *h0, const rnnc_bbuf *c0, const uint8_t *mask,
                                     const rnnc_bbuf *kernel, const rnnc_bbuf *recurrent_kernel,
                                     const rnnc_bbuf *bias, bool training, rnnc_bbuf *y,
                                     rnnc_bbuf *h_state, rnnc_bbuf *c_state);
rnnc_status rnnc__cuda_blstm_backward(rnnc_blstm *g, const rnnc_bbuf *dy, rnnc_bbuf *dx,
                                      rnnc_bbuf *dh0, rnnc_bbuf *dc0, rnnc_bbuf *dkernel,
                                      rnnc_bbuf *drecurrent_kernel, rnnc_bbuf *dbias);
#endif

#endif
