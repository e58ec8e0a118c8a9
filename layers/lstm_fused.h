/* lstm_fused.h - the fused whole-sequence LSTM kernel on the CPU (private to
 * layers/: the LSTM layer calls it; tests call it through the layer).
 *
 * One tape node for the whole sequence. Forward: one GEMM (B*T, F) x
 * (F, 4U) for the input projections of every step, then per step one
 * (B, U) x (U, 4U) GEMM accumulated into that step's projections and one
 * element-wise pass for gates, carry, state, mask and outputs. Backward:
 * the steps in reverse with one (B, 4U) x (4U, U) GEMM per step for dh,
 * then single GEMMs over all steps for dkernel, dinputs and
 * drecurrent_kernel and column sums for dbias. A node's backward runs once
 * (the saved pre-activations are overwritten by their gradients; a second
 * call fails with RNNC_E_STATE). Workspaces are allocated once per call;
 * nothing is allocated in the step loops. The workspaces are time-major
 * (each step's B rows contiguous); the input is copied once into that
 * order (times the dropout mask).
 * Products: float32 through small_gemm.c as the fused GRU's (its own
 * register-blocked AVX-512 small_sgemm for the per-step products and, with
 * one BLAS thread, the sums over all steps; R^T transposed once per
 * backward; else OpenBLAS), float64 cblas_dgemm; GEMV for a single row
 * (batch 1). float32 with the default pair (sigmoid gates, tanh) runs one
 * pass per row forward and backward (vec_act_rows.h: 16 lanes with
 * AVX-512F, 8 with AVX2, 4, and 1 for the tail, bit-identical at every
 * width; sigmoid / tanh ~2 ulp): forward, the step's recurrent product
 * goes to a (B, 4U) scratch and the row kernel adds the projection and the
 * bias as it reads them; other activation pairs take the bias in the
 * projection and sigmoid / tanh rows on the same vectors; float64 uses
 * libm. Without a tape node (inference) the gates of a step live in one
 * row's scratch.
 *
 * Same math and masking rules as the generic loop over LSTMCell (rnn.h:
 * state frozen on a masked step, the previous output repeated, zeros before
 * a row's first valid step, zeros always with zero_output_for_mask;
 * go_backwards; outputs in processing order), any element-wise activation
 * pair, an optional (B, F) input dropout mask shared by the four gates
 * (implementation 2). Not here: recurrent dropout and implementation-1
 * per-gate masks, activations along the last axis. */
#ifndef RNNC_LSTM_FUSED_H
#define RNNC_LSTM_FUSED_H

#include "framework/activations.h"
#include "framework/autograd.h"

typedef struct rnnc__lstm_fused_args {
    rnnc_tensor *x;                /* (B, T, F) */
    rnnc_tensor *h0, *c0;          /* (B, U) initial states */
    rnnc_tensor *kernel;           /* (F, 4U) */
    rnnc_tensor *recurrent_kernel; /* (U, 4U) */
    rnnc_tensor *bias;             /* (4U,) or NULL */
    const rnnc_tensor *mask;       /* uint8 (B, T), non-zero = keep, or NULL */
    const rnnc_tensor *dropout;    /* (B, F) input dropout mask (scaled), or NULL */
    rnnc_act activation, recurrent_activation;
    bool go_backwards, return_sequences, zero_output_for_mask;
} rnnc__lstm_fused_args;

typedef struct rnnc__lstm_fused_out {
    rnnc_tensor *outputs; /* (B, T, U) in processing order when return_sequences, else NULL */
    rnnc_tensor *last;    /* (B, U) output of the last processed step */
    rnnc_tensor *h, *c;   /* (B, U) final states */
} rnnc__lstm_fused_out;

rnnc_status rnnc__lstm_fused(rnnc_ctx *cx, const rnnc__lstm_fused_args *a,
                             rnnc__lstm_fused_out *out);

#endif
