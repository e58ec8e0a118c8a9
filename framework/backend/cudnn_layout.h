/* cudnn_layout.h - Keras GRU weights <-> the cuDNN / PyTorch parameter blob.
 *
 * Pure C, no CUDA headers, always built: the CUDA backend uses it to move
 * weights into cuDNN's weight space and gradients back, importers use it to
 * read PyTorch nn.GRU weights, and it is unit-tested on the CPU.
 *
 * Keras (spec 1.1): kernel W (F, 3U), recurrent_kernel R (U, 3U), bias (2, 3U)
 * (row 0 input side bi, row 1 recurrent side br); gate columns z [0,U),
 * r [U,2U), h [2U,3U). Only reset_after=True with a bias maps (spec 1.6).
 *
 * cuDNN CUDNN_GRU, one layer, unidirectional, CUDNN_RNN_DOUBLE_BIAS: the
 * linear layers of cudnnGetRNNWeightParams (cuDNN 9 API reference: "0 and 3
 * reference the reset gate, 1 and 4 the update gate, 2 and 5 the new memory
 * gate"; IDs 0-2 multiply the input, 3-5 the previous state; each ID's bias
 * is the one added to that product):
 *
 *   ID | gate        | matrix, row-major    | from Keras           | bias  | from Keras
 *   ---+-------------+----------------------+----------------------+-------+---------------
 *    0 | r (reset)   | W_r^T  (U x F)       | W[:, U:2U]^T         | bi_r  | bias[0, U:2U]
 *    1 | z (update)  | W_z^T  (U x F)       | W[:, 0:U]^T          | bi_z  | bias[0, 0:U]
 *    2 | h' (new)    | W_h^T  (U x F)       | W[:, 2U:3U]^T        | bi_h  | bias[0, 2U:3U]
 *    3 | r (reset)   | R_r^T  (U x U)       | R[:, U:2U]^T         | br_r  | bias[1, U:2U]
 *    4 | z (update)  | R_z^T  (U x U)       | R[:, 0:U]^T          | br_z  | bias[1, 0:U]
 *    5 | h' (new)    | R_h^T  (U x U)       | R[:, 2U:3U]^T        | br_h  | bias[1, 2U:3U]
 *
 * The canonical blob is the six matrices in ID order, then the six biases
 * in ID order: 3U(F + U) + 6U floats. It is exactly PyTorch's nn.GRU
 * parameter list flattened (weight_ih_l0 (3U, F) rows r, z, n; weight_hh_l0
 * (3U, U); bias_ih_l0 (3U); bias_hh_l0 (3U)), and TensorFlow's _cudnn_gru
 * parameter vector (spec 1.6). The CUDA backend asks cuDNN where each piece
 * lives in its weight space (cudnnGetRNNWeightParams) rather than assuming
 * this order; rnnc_cudnn_gru_keras_index gives the source of each piece.
 *
 * Every mapping is a permutation, so "forward" (Keras -> blob) and
 * "backward" (blob -> Keras; gradients) are the same table read both ways. */
#ifndef RNNC_CUDNN_LAYOUT_H
#define RNNC_CUDNN_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "framework/status.h"

#define RNNC_CUDNN_GRU_NUM_LIN 6

/* One row of the table above. */
typedef struct rnnc_cudnn_gru_linlayer {
    int id;          /* cuDNN linLayerID */
    char gate;       /* cuDNN/PyTorch gate: 'r', 'z', 'n' (= Keras h) */
    int keras_gate;  /* Keras column block: 0 z, 1 r, 2 h */
    bool recurrent;  /* multiplies h_{t-1} (R, bias row 1) instead of x_t (W, bias row 0) */
} rnnc_cudnn_gru_linlayer;

extern const rnnc_cudnn_gru_linlayer rnnc_cudnn_gru_linlayers[RNNC_CUDNN_GRU_NUM_LIN];

/* Sizes (in elements) of the Keras concatenation [kernel | recurrent_kernel |
 * bias] (F*3U + U*3U + 6U) and of the canonical blob; they are equal. */
size_t rnnc_cudnn_gru_param_count(int64_t F, int64_t U);

/* Element offsets in the canonical blob of linear layer id's matrix (U rows
 * of F or U) and bias (U). */
size_t rnnc_cudnn_gru_matrix_offset(int64_t F, int64_t U, int id);
size_t rnnc_cudnn_gru_bias_offset(int64_t F, int64_t U, int id);
/* Rows x columns of linear layer id's matrix: U x F (ids 0-2) or U x U. */
int64_t rnnc_cudnn_gru_matrix_cols(int64_t F, int64_t U, int id);

/* PyTorch's four tensors inside the blob: element offsets of weight_ih_l0,
 * weight_hh_l0, bias_ih_l0, bias_hh_l0. */
void rnnc_cudnn_gru_torch_offsets(int64_t F, int64_t U, size_t off[4]);

/* Where element `row`, `col` of linear layer id's matrix comes from in the
 * Keras concatenation [kernel (F*3U) | recurrent_kernel (U*3U) | bias (6U)];
 * col < F for ids 0-2 and < U for 3-5. */
size_t rnnc_cudnn_gru_keras_matrix_index(int64_t F, int64_t U, int id, int64_t row, int64_t col);
/* Same for element `row` of linear layer id's bias. */
size_t rnnc_cudnn_gru_keras_bias_index(int64_t F, int64_t U, int id, int64_t row);
/* Canonical blob element i -> its index in the Keras concatenation. */
size_t rnnc_cudnn_gru_keras_index(int64_t F, int64_t U, size_t i);

/* map[i] = rnnc_cudnn_gru_keras_index(F, U, i) for every blob element
 * (rnnc_cudnn_gru_param_count entries). Fails with RNNC_E_ARG on F, U < 1
 * or sizes beyond int32 (the device gathers with 32-bit indices). */
rnnc_status rnnc_cudnn_gru_index_map(int64_t F, int64_t U, int32_t *map);

/* Keras -> blob (forward): kernel (F, 3U), recurrent (U, 3U), bias (2, 3U)
 * or NULL for zeros. Fails with RNNC_E_ARG on F, U < 1. */
rnnc_status rnnc_cudnn_gru_from_keras_f32(int64_t F, int64_t U, const float *kernel,
                                          const float *recurrent, const float *bias, float *blob);
rnnc_status rnnc_cudnn_gru_from_keras_f64(int64_t F, int64_t U, const double *kernel,
                                          const double *recurrent, const double *bias,
                                          double *blob);

/* Blob -> Keras (backward). With accumulate, adds into the Keras arrays (a
 * gradient from cuDNN added to the layer's grads); otherwise overwrites.
 * bias may be NULL (the bias part is skipped). */
rnnc_status rnnc_cudnn_gru_to_keras_f32(int64_t F, int64_t U, const float *blob, float *kernel,
                                        float *recurrent, float *bias, bool accumulate);
rnnc_status rnnc_cudnn_gru_to_keras_f64(int64_t F, int64_t U, const double *blob, double *kernel,
                                        double *recurrent, double *bias, bool accumulate);

#endif
