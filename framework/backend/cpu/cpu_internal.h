/* cpu_internal.h - the CPU backend's ops defined outside cpu_ops.c (which
 * holds the table): the training-step ops of cpu_train_ops.c and the GRU of
 * cpu_gru.c. Contracts: framework/backend_ops.h, the entry of the same name. */
#ifndef RNNC_CPU_INTERNAL_H
#define RNNC_CPU_INTERNAL_H

#include "framework/backend_ops.h"

rnnc_status rnnc__cpu_scale_rows(int64_t rows, int64_t cols, const rnnc_bbuf *w, float alpha,
                                 const rnnc_bbuf *x, rnnc_bbuf *y);
rnnc_status rnnc__cpu_mul_bcast(int64_t outer, int64_t mid, int64_t inner, const rnnc_bbuf *x,
                                const rnnc_bbuf *w, rnnc_bbuf *y);
rnnc_status rnnc__cpu_gather_rows(int64_t rows, int64_t dim, const rnnc_bbuf *table,
                                  const rnnc_bbuf *ids, rnnc_bbuf *out);
rnnc_status rnnc__cpu_scatter_add_rows(int64_t rows, int64_t dim, const rnnc_bbuf *ids,
                                       const rnnc_bbuf *dy, rnnc_bbuf *dtable);
rnnc_status rnnc__cpu_metric(rnnc_bmetric kind, float threshold, int64_t rows, int64_t cols,
                             const rnnc_bbuf *y_true, const rnnc_bbuf *y_pred, rnnc_bbuf *values);
rnnc_status rnnc__cpu_copy_block(int64_t rows, int64_t width, const rnnc_bbuf *src, int64_t src_cols,
                                 int64_t src_off, rnnc_bbuf *dst, int64_t dst_cols, int64_t dst_off,
                                 bool accumulate);
rnnc_status rnnc__cpu_reverse_time(int64_t B, int64_t T, int64_t C, const rnnc_bbuf *x, rnnc_bbuf *y);
rnnc_status rnnc__cpu_layer_norm(int64_t rows, int64_t cols, double epsilon, bool rms, const rnnc_bbuf *x,
                                 const rnnc_bbuf *gamma, const rnnc_bbuf *beta, rnnc_bbuf *y, rnnc_bbuf *mean,
                                 rnnc_bbuf *inv);
rnnc_status rnnc__cpu_layer_norm_backward(int64_t rows, int64_t cols, bool rms, const rnnc_bbuf *x,
                                          const rnnc_bbuf *gamma, const rnnc_bbuf *mean, const rnnc_bbuf *inv,
                                          const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma, rnnc_bbuf *dbeta);
rnnc_status rnnc__cpu_batch_norm(int64_t rows, int64_t cols, double epsilon, double momentum, bool training,
                                 const rnnc_bbuf *x, const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *beta,
                                 rnnc_bbuf *moving_mean, rnnc_bbuf *moving_var, rnnc_bbuf *y, rnnc_bbuf *mean,
                                 rnnc_bbuf *den);
rnnc_status rnnc__cpu_batch_norm_backward(int64_t rows, int64_t cols, bool training, const rnnc_bbuf *x,
                                          const rnnc_bbuf *w, const rnnc_bbuf *gamma, const rnnc_bbuf *mean,
                                          const rnnc_bbuf *den, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dgamma,
                                          rnnc_bbuf *dbeta);

rnnc_status rnnc__cpu_gru_create(const rnnc_bgru_config *c, rnnc_bgru **out);
void rnnc__cpu_gru_destroy(rnnc_bgru *g);
rnnc_status rnnc__cpu_gru_forward(rnnc_bgru *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                  const rnnc_bbuf *h0, const uint8_t *mask, const rnnc_bbuf *kernel,
                                  const rnnc_bbuf *recurrent_kernel, const rnnc_bbuf *bias,
                                  bool training, rnnc_bbuf *y, rnnc_bbuf *state);
rnnc_status rnnc__cpu_gru_backward(rnnc_bgru *g, const rnnc_bbuf *dy, rnnc_bbuf *dx, rnnc_bbuf *dh0,
                                   rnnc_bbuf *dkernel, rnnc_bbuf *drecurrent_kernel,
                                   rnnc_bbuf *dbias);

rnnc_status rnnc__cpu_lstm_create(const rnnc_blstm_config *c, rnnc_blstm **out);
void rnnc__cpu_lstm_destroy(rnnc_blstm *g);
rnnc_status rnnc__cpu_lstm_forward(rnnc_blstm *g, int64_t B, int64_t T, const rnnc_bbuf *x,
                                   const rnnc_bbuf *h0, const rnnc_bbuf *c0, const uint8_t *mask,
                                   const rnnc_bbuf *kernel, const rnnc_bbuf *recurrent_kernel,
                                   const rnnc_bbuf *bias, bool training, rnnc_bbuf *y,
                                   rnnc_bbuf *h_state, rnnc_bbuf *c_state);
rnnc_status rnnc__cpu_lstm_backward(rnnc_blstm *g, const rnnc_bbuf *dy, rnnc_bbuf *dx,
                                    rnnc_bbuf *dh0, rnnc_bbuf *dc0, rnnc_bbuf *dkernel,
                                    rnnc_bbuf *drecurrent_kernel, rnnc_bbuf *dbias);

#endif
