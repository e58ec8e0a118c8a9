/* cuda_gru.h - the GRU on the GPU: its C API types, and Keras's use_cudnn
 * conditions (spec 2.1) as pure functions.
 *
 * Two GPU kernels serve a GRU layer:
 *   - RNNC_CUDA_GRU_CUDNN: cuDNN's CUDNN_GRU with CUDNN_RNN_DOUBLE_BIAS
 *     (= Keras reset_after=True), float32. Only for what cuDNN computes:
 *     tanh / sigmoid, bias, reset_after=True, right-padded masks with no
 *     fully masked row (rnnc_cudnn_gru_supported says which condition fails).
 *   - RNNC_CUDA_GRU_GENERIC: cuBLAS products plus CUDA kernels per step, the
 *     GPU twin of the fused CPU kernel: any element-wise activation pair,
 *     both reset_after forms, with or without bias, any mask, go_backwards,
 *     one (B, F) input dropout mask. Not served on the GPU at all: recurrent
 *     dropout and implementation-1 per-gate masks (they run on the CPU).
 * Both follow the generic loop's output rules (spec 3.2, TensorFlow's
 * "previous output, zeros before the first kept step", zero_output_for_mask,
 * 5.1 processing order), so the GPU gives the CPU's numbers: at padded steps
 * the cuDNN kernel repeats the last output as the generic loop does, where
 * Keras-on-TensorFlow's cuDNN path writes zeros (spec 2.1 lists that as a
 * difference; pass zero_output_for_mask=True for zeros).
 *
 * The implementation (framework/backend/cuda/) exists only in CUDA builds;
 * its functions are reached through the table of framework/backend/cuda_api.h.
 * The query functions below are plain C and always built
 * (framework/backend/cudnn_gru_support.c). */
#ifndef RNNC_CUDA_GRU_H
#define RNNC_CUDA_GRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/activations.h"
#include "framework/tensor.h"

/* ---- use_cudnn conditions (pure, CPU) --------------------------------- */

/* The arguments of a GRU call that decide whether cuDNN can run it. */
typedef struct rnnc_cudnn_gru_query {
    rnnc_act activation;           /* must be tanh */
    rnnc_act recurrent_activation; /* must be sigmoid */
    bool use_bias;                 /* must be true */
    bool reset_after;              /* must be true */
    bool unroll;                   /* must be false */
    double recurrent_dropout;      /* clamped rate; must be 0 */
    bool per_gate_input_dropout;   /* implementation-1 input masks applied in this call: must be false */
    rnnc_dtype dtype;              /* must be float32 (the cuDNN path runs float32) */
} rnnc_cudnn_gru_query;

/* Which condition fails, in the order Keras checks them (GRU.inner_loop's
 * recurrent_dropout first, then TensorFlow's cudnn_ok, then the mask). */
typedef enum {
    RNNC_CUDNN_GRU_OK,
    RNNC_CUDNN_GRU_RECURRENT_DROPOUT,     /* recurrent_dropout != 0 */
    RNNC_CUDNN_GRU_PER_GATE_DROPOUT,      /* implementation=1 input dropout (3 masks) */
    RNNC_CUDNN_GRU_ACTIVATION,            /* activation is not tanh */
    RNNC_CUDNN_GRU_RECURRENT_ACTIVATION,  /* recurrent_activation is not sigmoid */
    RNNC_CUDNN_GRU_UNROLL,                /* unroll=True */
    RNNC_CUDNN_GRU_NO_BIAS,               /* use_bias=False */
    RNNC_CUDNN_GRU_RESET_BEFORE,          /* reset_after=False */
    RNNC_CUDNN_GRU_DTYPE,                 /* not float32 */
    RNNC_CUDNN_GRU_MASK_NOT_RIGHT_PADDED, /* a kept step after a masked one in some row */
    RNNC_CUDNN_GRU_MASK_FULLY_MASKED,     /* a row with no kept step */
    RNNC_CUDNN_GRU_BAD_MASK,              /* mask is not a (B, T) tensor */
    RNNC_CUDNN_GRU_CHECK_COUNT
} rnnc_cudnn_gru_check;

/* A short name of the condition ("activation", "mask not right-padded"). */
const char *rnnc_cudnn_gru_check_name(rnnc_cudnn_gru_check c);

/* Whether cuDNN can run a GRU call with these arguments and this mask
 * ((B, T), any dtype, non-zero = keep; NULL = no mask). Pure: looks at no
 * device (ask rnnc_device_available for that). On a failing condition
 * writes a sentence naming it and the value seen into why (may be NULL;
 * truncated to cap) and returns it; on success writes "". */
rnnc_cudnn_gru_check rnnc_cudnn_gru_supported(const rnnc_cudnn_gru_query *q,
                                              const rnnc_tensor *mask, char *why, size_t cap);

/* Whether cuDNN can run this call here and now: the conditions above, then
 * the machine (CUDA backend built, a device present). RNNC_OK; or
 * RNNC_E_UNSUPPORTED with the failing condition's sentence as the message;
 * or RNNC_E_NODEV with the backend's message ("CUDA backend not built
 * (configure with -DRNNC_CUDA=ON)" / "no CUDA device present ..."). What a
 * GRU with use_cudnn=True reports (prefixed with its name) and what
 * use_cudnn='auto' uses to choose. */
rnnc_status rnnc_cudnn_gru_check_call(const rnnc_cudnn_gru_query *q, const rnnc_tensor *mask);

/* Per-row sequence lengths (count of kept steps) of a (B, T) mask, as cuDNN
 * takes them; all T when mask is NULL. lens has B entries. Fails with
 * RNNC_E_SHAPE when mask is not rank 2 with B rows, or B/T exceed int32. */
rnnc_status rnnc_cudnn_gru_seq_lengths(const rnnc_tensor *mask, int64_t B, int64_t T,
                                       int32_t *lens);

/* ---- GPU GRU API types (implementation in CUDA builds only) ---------- */

typedef struct rnnc_dtensor rnnc_dtensor; /* device tensor, cuda_api.h */
typedef struct rnnc_cuda_gru rnnc_cuda_gru; /* opaque: descriptors, weights, workspaces */

typedef enum {
    RNNC_CUDA_GRU_CUDNN,   /* cuDNN's RNN API */
    RNNC_CUDA_GRU_GENERIC  /* cuBLAS + kernels per step */
} rnnc_cuda_gru_kernel;

typedef struct rnnc_cuda_gru_config {
    int64_t input_size;             /* F >= 1 */
    int64_t units;                  /* U >= 1 */
    rnnc_act activation;            /* element-wise; cuDNN: tanh */
    rnnc_act recurrent_activation;  /* element-wise; cuDNN: sigmoid */
    bool use_bias;                  /* cuDNN: true */
    bool reset_after;               /* cuDNN: true */
    bool go_backwards;
    bool zero_output_for_mask;
    rnnc_cuda_gru_kernel kernel;
    bool allow_tf32;                /* cuDNN/cuBLAS may use TF32 tensor cores (faster, ~1e-3);
                                       false: full float32 (FMA) math */
    bool use_graphs;                /* generic kernel: replay the step loops as CUDA graphs
                                       while the shapes and buffers repeat (default true;
                                       false: launch every step, as before) */
} rnnc_cuda_gru_config;

/* Keras's defaults for the given sizes: tanh, sigmoid, bias, reset_after,
 * forward, cuDNN kernel, full float32 math. */
rnnc_cuda_gru_config rnnc_cuda_gru_config_default(int64_t input_size, int64_t units);

typedef struct rnnc_cuda_gru_forward_args {
    const rnnc_dtensor *x;       /* (B, T, F) float32, input order */
    const rnnc_dtensor *h0;      /* (B, U) float32, or NULL = zeros */
    const rnnc_tensor *mask;     /* HOST (B, T), non-zero = keep, or NULL */
    const rnnc_dtensor *dropout; /* (B, F) float32 input dropout mask (already scaled), or NULL */
    bool training;               /* keep what backward needs (cuDNN: reserve space) */
} rnnc_cuda_gru_forward_args;

/* Results of the latest forward; device tensors owned by the rnnc_cuda_gru,
 * valid until its next forward or destroy. */
typedef struct rnnc_cuda_gru_outputs {
    const rnnc_dtensor *outputs; /* (B, T, U) every output, processing order */
    const rnnc_dtensor *last;    /* (B, U) output of the last processed step */
    const rnnc_dtensor *state;   /* (B, U) final state */
} rnnc_cuda_gru_outputs;

/* Gradients of the loss with respect to the three outputs (NULL = zero). */
typedef struct rnnc_cuda_gru_backward_args {
    const rnnc_dtensor *d_outputs; /* (B, T, U) */
    const rnnc_dtensor *d_last;    /* (B, U) */
    const rnnc_dtensor *d_state;   /* (B, U) */
} rnnc_cuda_gru_backward_args;

/* Owned by the rnnc_cuda_gru. dx and dh0 hold the latest backward's values
 * (valid until the next backward); the weight gradients, in Keras layout,
 * ACCUMULATE over backward calls until rnnc_cuda_gru_zero_grad. */
typedef struct rnnc_cuda_gru_grads {
    const rnnc_dtensor *dx;                /* (B, T, F) */
    const rnnc_dtensor *dh0;               /* (B, U) */
    const rnnc_dtensor *dkernel;           /* (F, 3U) */
    const rnnc_dtensor *drecurrent_kernel; /* (U, 3U) */
    const rnnc_dtensor *dbias;             /* (2, 3U) | (3U,) | NULL without bias */
} rnnc_cuda_gru_grads;

#endif
