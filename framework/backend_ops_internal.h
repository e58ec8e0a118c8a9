/* backend_ops_internal.h - for the backends behind backend_ops.h (CPU in
 * framework/backend/cpu, CUDA in framework/backend/cuda): the shared
 * argument checks, so every backend fails the same way with the same
 * message, and the optimizer constants computed once on the host. */
#ifndef RNNC_BACKEND_OPS_INTERNAL_H
#define RNNC_BACKEND_OPS_INTERNAL_H

#include "framework/backend_ops.h"

/* ---- for backends: the shared argument checks (the message names op) ---- */
/* b is a buffer of `be` with dtype and n elements (n == SIZE_MAX: any). */
rnnc_status rnnc__bop_check(const rnnc_backend_ops *be, const char *op, const char *arg,
                            const rnnc_bbuf *b, rnnc_dtype dtype, size_t n);
/* upload / download: b (named arg) a buffer of `be` (any dtype and size)
 * and, when it has elements, a host pointer to copy from or to (RNNC_E_ARG
 * if NULL). */
rnnc_status rnnc__transfer_check(const rnnc_backend_ops *be, const char *op, const char *arg,
                                 const rnnc_bbuf *b, const void *host);
/* rows * cols as size_t, both >= 0 (RNNC_E_SHAPE otherwise). */
rnnc_status rnnc__bop_dims(const char *op, int64_t rows, int64_t cols, size_t *out);
/* The AdamW / Adam constants exactly as optim/adam.c rounds them in float:
 * alpha = lr sqrt(1 - b2^t) / (1 - b1^t), c1 = 1 - b1, c2 = 1 - b2, eps,
 * and the decay factor wd * lr pieces. */
typedef struct rnnc__adam_consts {
    float alpha, c1, c2, eps, wd, lr;
} rnnc__adam_consts;
rnnc__adam_consts rnnc__adam_consts_of(const rnnc_adam_params *p);
rnnc_status rnnc__adam_check(const rnnc_backend_ops *be, const rnnc_adam_params *p,
                             const rnnc_bbuf *w, const rnnc_bbuf *g, const rnnc_bbuf *m,
                             const rnnc_bbuf *v, const rnnc_bbuf *vhat, const rnnc_bbuf *g_sq);
rnnc_status rnnc__sgd_check(const rnnc_backend_ops *be, const rnnc_sgd_params *p,
                            const rnnc_bbuf *w, const rnnc_bbuf *g, const rnnc_bbuf *m);
/* The loss arguments (dtypes, element counts; not the SCCE id range). */
rnnc_status rnnc__loss_check(const rnnc_backend_ops *be, rnnc_bloss kind, int64_t rows,
                             int64_t cols, const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred,
                             const rnnc_bbuf *values, const rnnc_bbuf *grad);
rnnc_status rnnc__matmul_check(const rnnc_backend_ops *be, bool ta, bool tb, int64_t m, int64_t n,
                               int64_t k, const rnnc_bbuf *a, const rnnc_bbuf *b, float beta,
                               const rnnc_bbuf *c);

/* supports() of a backend that runs every op in float32 and keeps int32
 * buffers (class ids) only: both backends today. */
bool rnnc__bop_supports_f32(rnnc_bop op, rnnc_dtype dtype);
/* A buffer header for `be` (dtype float32 or int32, n elements, data NULL:
 * the backend allocates it). Freed with free(). */
rnnc_status rnnc__bbuf_header(const rnnc_backend_ops *be, rnnc_dtype dtype, size_t n,
                              rnnc_bbuf **out);
rnnc_status rnnc__bias_add_check(const rnnc_backend_ops *be, int64_t rows, int64_t cols,
                                 const rnnc_bbuf *x, const rnnc_bbuf *bias, const rnnc_bbuf *y);
rnnc_status rnnc__binary_check(const rnnc_backend_ops *be, rnnc_binop op, const rnnc_bbuf *a,
                               const rnnc_bbuf *b, const rnnc_bbuf *y);
/* activation (dy, dx NULL) and activation_backward. */
rnnc_status rnnc__act_check(const rnnc_backend_ops *be, const char *op, rnnc_act a,
                            const rnnc_bbuf *x, const rnnc_bbuf *y, const rnnc_bbuf *dy,
                            const rnnc_bbuf *dx);
/* softmax (x, y; c NULL) and softmax_backward (y, dy, dx): float32 (rows, cols). */
rnnc_status rnnc__rows_check(const rnnc_backend_ops *be, const char *op, int64_t rows,
                             int64_t cols, const rnnc_bbuf *a, const rnnc_bbuf *b,
                             const rnnc_bbuf *c);
rnnc_status rnnc__reduce_check(const rnnc_backend_ops *be, rnnc_redop op, int64_t outer,
                               int64_t len, int64_t inner, const rnnc_bbuf *x, const rnnc_bbuf *y);

/* ---- the training-step ops (framework/backend_ops_train_checks.c) ---- */
rnnc_status rnnc__scale_rows_check(const rnnc_backend_ops *be, int64_t rows, int64_t cols,
                                   const rnnc_bbuf *w, const rnnc_bbuf *x, const rnnc_bbuf *y);
rnnc_status rnnc__mul_bcast_check(const rnnc_backend_ops *be, int64_t outer, int64_t mid, int64_t inner,
                                  const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *y);
/* gather_rows (scatter false: table, ids, out) and scatter_add_rows
 * (scatter true: dtable, ids, dy); *n_ids gets ids->n. */
rnnc_status rnnc__rows_index_check(const rnnc_backend_ops *be, bool scatter, int64_t rows,
                                   int64_t dim, const rnnc_bbuf *table, const rnnc_bbuf *ids,
                                   const rnnc_bbuf *rows_buf, size_t *n_ids);
rnnc_status rnnc__metric_check(const rnnc_backend_ops *be, rnnc_bmetric kind, int64_t rows,
                               int64_t cols, const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred,
                               const rnnc_bbuf *values);
/* A recurrent op's config rules (backend_ops_rnn_checks.c): sizes F, U in
 * [1, 2^24] x [1, 2^16], element-wise activations; layer: "gru", "lstm"
 * (the message names <layer>_create). */
rnnc_status rnnc__rnn_op_config_check(const rnnc_backend_ops *be, const char *layer, int64_t F,
                                      int64_t U, rnnc_act act, rnnc_act ract);
/* Its weight-shaped buffers (weights, or gradients with prefix "d"):
 * kernel (F, gates*U), recurrent_kernel (U, gates*U), bias of n_bias
 * when use_bias, else none (a bias given to `layer`, "a GRU", fails). */
rnnc_status rnnc__rnn_op_weights_check(const rnnc_backend_ops *be, const char *op, const char *prefix,
                                       const char *layer, int64_t F, int64_t U, int gates,
                                       size_t n_bias, bool use_bias, const rnnc_bbuf *k,
                                       const rnnc_bbuf *r, const rnnc_bbuf *b);
/* Its batch B and timesteps T for F inputs and G gate columns. */
rnnc_status rnnc__rnn_op_sizes_check(const rnnc_backend_ops *be, const char *op, int64_t B,
                                     int64_t T, int64_t F, int64_t G);
/* The LSTM op's checks (backend_ops_rnn_checks.c): lstm_create's config
 * (sizes >= 1, element-wise activations), lstm_forward's buffers for
 * sizes B, T >= 1, lstm_backward's after a forward of sizes B, T. */
rnnc_status rnnc__lstm_config_check(const rnnc_backend_ops *be, const rnnc_blstm_config *c);
rnnc_status rnnc__lstm_forward_check(const rnnc_backend_ops *be, const rnnc_blstm_config *c,
                                     int64_t B, int64_t T, const rnnc_bbuf *x, const rnnc_bbuf *h0,
                                     const rnnc_bbuf *c0, const rnnc_bbuf *kernel,
                                     const rnnc_bbuf *recurrent_kernel, const rnnc_bbuf *bias,
                                     const rnnc_bbuf *y, const rnnc_bbuf *h_state,
                                     const rnnc_bbuf *c_state);
rnnc_status rnnc__lstm_backward_check(const rnnc_backend_ops *be, const rnnc_blstm_config *c,
                                      int64_t B, int64_t T, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                      const rnnc_bbuf *dh0, const rnnc_bbuf *dc0,
                                      const rnnc_bbuf *dkernel, const rnnc_bbuf *drecurrent_kernel,
                                      const rnnc_bbuf *dbias);
/* gru_create's config rules (sizes >= 1, element-wise activations). */
rnnc_status rnnc__gru_config_check(const rnnc_backend_ops *be, const rnnc_bgru_config *c);
/* gru_forward's buffers for config c and sizes B, T >= 1. */
rnnc_status rnnc__gru_forward_check(const rnnc_backend_ops *be, const rnnc_bgru_config *c, int64_t B,
                                    int64_t T, const rnnc_bbuf *x, const rnnc_bbuf *h0,
                                    const rnnc_bbuf *kernel, const rnnc_bbuf *recurrent_kernel,
                                    const rnnc_bbuf *bias, const rnnc_bbuf *y, const rnnc_bbuf *state);
/* gru_backward's buffers after a forward of sizes B, T. */
rnnc_status rnnc__gru_backward_check(const rnnc_backend_ops *be, const rnnc_bgru_config *c, int64_t B,
                                     int64_t T, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                     const rnnc_bbuf *dh0, const rnnc_bbuf *dkernel,
                                     const rnnc_bbuf *drecurrent_kernel, const rnnc_bbuf *dbias);
/* copy_block's and reverse_time's buffers and sizes. */
rnnc_status rnnc__copy_block_check(const rnnc_backend_ops *be, int64_t rows, int64_t width,
                                   const rnnc_bbuf *src, int64_t src_cols, int64_t src_off,
                                   const rnnc_bbuf *dst, int64_t dst_cols, int64_t dst_off);
rnnc_status rnnc__reverse_time_check(const rnnc_backend_ops *be, int64_t B, int64_t T, int64_t C,
                                     const rnnc_bbuf *x, const rnnc_bbuf *y);
/* layer_norm (dy, dx, dgamma, dbeta NULL; forward true) and
 * layer_norm_backward (y, beta NULL; forward false; dbeta for beta). */
rnnc_status rnnc__layer_norm_check(const rnnc_backend_ops *be, bool forward, int64_t rows, int64_t cols,
                                   bool rms, const rnnc_bbuf *x, const rnnc_bbuf *gamma,
                                   const rnnc_bbuf *beta, const rnnc_bbuf *y, const rnnc_bbuf *mean,
                                   const rnnc_bbuf *inv, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                   const rnnc_bbuf *dgamma);
/* batch_norm (forward: y, the moving statistics) and batch_norm_backward
 * (dy, dx, dgamma, dbeta): x (rows, cols), w (rows), the rest (cols). */
rnnc_status rnnc__batch_norm_check(const rnnc_backend_ops *be, bool forward, int64_t rows, int64_t cols,
                                   const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *gamma,
                                   const rnnc_bbuf *beta, const rnnc_bbuf *moving_mean,
                                   const rnnc_bbuf *moving_var, const rnnc_bbuf *y, const rnnc_bbuf *mean,
                                   const rnnc_bbuf *den, const rnnc_bbuf *dy, const rnnc_bbuf *dx,
                                   const rnnc_bbuf *dgamma, const rnnc_bbuf *dbeta);

#endif
