/* gru_fused.h - the fused whole-sequence GRU kernel on the CPU (private to
 * layers/: the GRU layer calls it; tests call it through the layer).
 *
 * One tape node for the whole sequence, forward and backward. Forward: one
 * GEMM (B*T, F) x (F, 3U) for the input projection of every step, then per
 * step one (B, U) x (U, 3U) GEMM for the recurrence (reset_after=True; two
 * smaller ones for reset_after=False) and one fused element-wise pass for
 * the gates, the interpolation, the mask and the outputs. Backward walks
 * the steps in reverse with one GEMM per step for dh (two for
 * reset_after=False), writing the recurrent-product gradients over the
 * saved gates, then finishes with single big GEMMs over all steps for
 * dkernel, dinputs and drecurrent_kernel, and column sums for dbias; a
 * node's backward therefore runs once (a second call fails with
 * RNNC_E_STATE, like PyTorch without retain_graph). Workspaces are
 * allocated once per call; nothing is allocated inside the step loops.
 * float64 runs cblas_dgemm. float32 runs cblas_sgemm, except on CPUs with
 * AVX-512F, where the per-step products (and, with one BLAS thread, the big
 * ones too) run rnnc's own register-blocked kernel (gru_fused.c:
 * small_sgemm) and the gate passes 16 lanes wide; results are
 * deterministic run to run. As with OpenBLAS itself, the last bits depend
 * on the BLAS thread count and on the CPU's kernel choice.
 *
 * Same math and masking rules as the generic loop over GRUCell (spec 1.2,
 * 1.3, 1.4, 3.2 with TensorFlow's "previous output, zeros before the first
 * valid step", zero_output_for_mask, 5.1 go_backwards), any element-wise
 * activation pair (tanh/sigmoid/linear take inline fast paths, the rest go
 * through rnnc_act_apply / rnnc_act_deriv), an optional (B, F) input
 * dropout mask shared by the three gates (implementation 2 semantics).
 * Not here: recurrent dropout and implementation-1 per-gate masks, and
 * activations working along the last axis (softmax, log_softmax,
 * sparsemax, glu): those go through the generic loop. */
#ifndef RNNC_GRU_FUSED_H
#define RNNC_GRU_FUSED_H

#include "framework/activations.h"
#include "framework/autograd.h"
#include "framework/precision.h"

typedef struct rnnc__gru_fused_args {
    rnnc_tensor *x;                /* (B, T, F) */
    rnnc_tensor *h0;               /* (B, U) initial state */
    rnnc_tensor *kernel;           /* (F, 3U) */
    rnnc_tensor *recurrent_kernel; /* (U, 3U) */
    rnnc_tensor *bias;             /* (2, 3U) if reset_after, (3U,) if not, or NULL */
    const rnnc_tensor *mask;       /* uint8 (B, T), non-zero = keep, or NULL */
    const rnnc_tensor *dropout;    /* (B, F) input dropout mask (already scaled), or NULL */
    rnnc_act activation, recurrent_activation;
    bool reset_after, go_backwards, return_sequences, zero_output_for_mask;
    /* float32 only: a 16-bit dtype policy's compute format (RNNC_PREC_NONE
     * = plain float32). The forward then rounds every intermediate Keras
     * holds in that format, in Keras's GRUCell order (docs/mixed-precision.md);
     * the caller passes x, h0 and the weights already rounded. */
    rnnc_precision prec;
} rnnc__gru_fused_args;

typedef struct rnnc__gru_fused_out {
    rnnc_tensor *outputs; /* (B, T, U) in processing order when return_sequences, else NULL */
    rnnc_tensor *last;    /* (B, U) output of the last processed step */
    rnnc_tensor *state;   /* (B, U) final state */
} rnnc__gru_fused_out;

/* Whether the kernel handles this activation (element-wise ones). */
bool rnnc__gru_fused_supports(rnnc_act a);

/* Runs the kernel; results are ctx-owned and, when grad mode is on and an
 * input requires a gradient, produced by one tape node. Shapes and dtypes
 * are checked (RNNC_E_SHAPE / RNNC_E_DTYPE with the shapes seen). */
rnnc_status rnnc__gru_fused(rnnc_ctx *cx, const rnnc__gru_fused_args *a, rnnc__gru_fused_out *out);

#endif
