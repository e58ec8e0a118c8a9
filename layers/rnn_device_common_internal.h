/* rnn_device_common_internal.h - what the GRU's and the LSTM's device classes
 * (gru_device.c, lstm_device.c) share: the create-time refusals, the
 * three weights and their gradients (scratch for frozen ones), the input
 * dropout with the cell's generator (dropout_device_internal.h) and the output
 * and dx buffers. Each class embeds one rnnc__drnn and keeps its own op. */
#ifndef RNNC_LAYERS_RNN_DEVICE_COMMON_H
#define RNNC_LAYERS_RNN_DEVICE_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "framework/activations.h"
#include "framework/device_layer.h"
#include "framework/random.h"
#include "framework/rnn.h"
#include "layers/dropout_device_internal.h"

/* The cell's settings the shared code reads (GRU: 3 gates, LSTM: 4). */
typedef struct rnnc__drnn_cell {
    rnnc_act activation, recurrent_activation;
    double dropout, recurrent_dropout;
    int implementation;
    int gates;
    rnnc_rng *rng; /* the dropout stream */
} rnnc__drnn_cell;

/* The rnnc__drnn_cell of a GRU or LSTM cell c (a pointer) with n gates. */
#define RNNC__DRNN_CELL(c, n)                                                                    \
    ((rnnc__drnn_cell){.activation = (c)->activation,                                            \
                       .recurrent_activation = (c)->recurrent_activation,                        \
                       .dropout = (c)->dropout,                                                  \
                       .recurrent_dropout = (c)->recurrent_dropout,                              \
                       .implementation = (c)->implementation,                                    \
                       .gates = (n),                                                             \
                       .rng = &(c)->rng})

typedef struct rnnc__drnn {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    rnnc_dweight *w[3];    /* kernel, recurrent_kernel, bias (NULL without bias) */
    int64_t B, T;          /* the latest forward's */
    int64_t F, U;          /* input size, units */
    bool return_sequences;
    rnnc__ddrop drop;      /* the input dropout mask ((B, F), applied over T) */
    bool dropped;          /* the latest forward applied it */
    rnnc_bbuf *y, *dx;
    rnnc_bbuf *scratch[3]; /* gradients of frozen weights (never read) */
} rnnc__drnn;

/* The refusals both layers share, each one line naming the layer; kind is
 * "GRU" or "LSTM", a_kind "a GRU" or "an LSTM"; op the table's op. */
rnnc_status rnnc__drnn_refuse(const rnnc_dlayer_init *in, const rnnc_rnn *rnn,
                              const rnnc__drnn_cell *c, const char *kind, const char *a_kind,
                              rnnc_bop op);

/* Fills r from the layer's weights; fails (kind names the layer) when one
 * is not among the model's. */
rnnc_status rnnc__drnn_init(rnnc__drnn *r, const rnnc_dlayer_init *in, const rnnc_rnn *rnn,
                            rnnc_tensor *kernel, rnnc_tensor *recurrent_kernel, rnnc_tensor *bias,
                            int64_t units, const char *kind);
void rnnc__drnn_free(rnnc__drnn *r);

/* RNNC_E_SHAPE unless io's x is (batch, timesteps, F). */
rnnc_status rnnc__drnn_check_input(const rnnc__drnn *r, const rnnc_dlayer_io *io);

/* The cell's dropout masks for this call, as its begin_call draws them:
 * input mask(s) of (B, F) first, then recurrent ones of (B, U); a mask
 * the call does not apply only moves the counter by what its draw would
 * take. The applied one (training, 0 < dropout < 1, implementation 2)
 * multiplies x into r->drop's buffer: *x points there. Then makes r->y. */
rnnc_status rnnc__drnn_begin_forward(rnnc__drnn *r, const rnnc__drnn_cell *c,
                                     const rnnc_dlayer_io *io, const rnnc_bbuf **x);
/* Records B, T and sets io's y, its shape and its mask. */
void rnnc__drnn_end_forward(rnnc__drnn *r, rnnc_dlayer_io *io);

/* grad[i]: each weight's gradient buffer (a zeroed scratch for a frozen
 * one); with want_dx, makes r->dx. */
rnnc_status rnnc__drnn_begin_backward(rnnc__drnn *r, bool want_dx, rnnc_bbuf *grad[3]);
/* Applies the dropout mask to r->dx and sets *dx (when dx). */
rnnc_status rnnc__drnn_end_backward(rnnc__drnn *r, const rnnc_bbuf **dx);

#endif
