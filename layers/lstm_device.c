/* lstm_device.c - LSTM on a backend (framework/device_layer.h): the
 * table's LSTM op (create / forward / backward) over the layer's
 * Keras-layout weights, as gru_device.c does for the GRU. No backend has a
 * cuDNN LSTM yet, so use_cudnn 'auto' and False run the op's generic
 * kernel and True is refused at create naming why (as the CPU LSTM fails
 * at call time without a GPU). The output mask follows Keras 3.15.1
 * (framework/rnn.h): the input mask with return_sequences, else none. A
 * Sequential model gives the LSTM no initial state (zeros).
 *
 * Input dropout (`dropout`, implementation 2: one (B, F) mask shared by
 * the four gates, as lstm_fused.c applies it): in a training call with
 * 0 < dropout < 1 the mask is drawn on the host from the cell's generator
 * exactly as lstm_cell.c's begin_call draws it (dropout_device_internal.h),
 * expanded over the T steps, and x * mask goes into the op; backward
 * multiplies the op's dx by the same mask. Every call also advances the
 * generator where the CPU's begin_call only skips a mask, so the host
 * stream stays the CPU path's.
 *
 * Refused at create, each with one line: stateful, return_state,
 * activations that are not element-wise, recurrent_dropout in (0, 1) (the
 * op takes no recurrent mask), dropout in (0, 1) with implementation 1
 * (four per-gate input masks), use_cudnn=True. */
#include <stdlib.h>

#include "framework/device_layer.h"
#include "framework/rnn.h"
#include "layers/lstm.h"
#include "layers/rnn_device_common_internal.h"

struct rnnc_dlayer {
    rnnc__drnn r;         /* weights, dropout, y, dx */
    rnnc_lstm_cell *cell; /* its rng is the dropout stream */
    rnnc_blstm_config cfg;
    rnnc_blstm *op;
    bool ran;             /* a forward ran since create */
};

static void lstm_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    if (dl->op)
        dl->r.be->lstm_destroy(dl->op);
    rnnc__drnn_free(&dl->r);
    free(dl);
}

static rnnc_status lstm_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    rnnc_layer *l = in->layer;
    rnnc_rnn *rnn = rnnc_rnn_of(l);
    rnnc_lstm_cell *c = rnnc_lstm_cell_of_layer(l);
    *out = NULL;
    if (!rnn || !c)
        return rnnc_fail(RNNC_E_STATE, "layer '%s' is not an LSTM", l->name);
    const rnnc__drnn_cell ci = RNNC__DRNN_CELL(c, 4);
    RNNC_TRY(rnnc__drnn_refuse(in, rnn, &ci, "LSTM", "an LSTM", RNNC_BOP_LSTM));
    if (rnnc_lstm_use_cudnn(l) == RNNC_USE_CUDNN_TRUE)
        return rnnc__dlayer_refuse(l, "use_cudnn=True, but the %s backend has no cuDNN LSTM (pass use_cudnn='auto' for the generic kernel)",
                                   in->be->name);
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "LSTM: out of memory");
    dl->cell = c;
    dl->cfg = (rnnc_blstm_config){
        .input_size = c->kernel->shape.dim[0],
        .units = c->units,
        .activation = c->activation,
        .recurrent_activation = c->recurrent_activation,
        .use_bias = c->use_bias,
        .go_backwards = rnn->opt.go_backwards,
        .return_sequences = rnn->opt.return_sequences,
        .zero_output_for_mask = rnn->opt.zero_output_for_mask,
    };
    rnnc_status s = rnnc__drnn_init(&dl->r, in, rnn, c->kernel, c->recurrent_kernel,
                                    c->use_bias ? c->bias : NULL, c->units, "LSTM");
    if (!s)
        s = dl->r.be->lstm_create(&dl->cfg, &dl->op);
    if (s) {
        lstm_ddestroy(dl);
        return s;
    }
    *out = dl;
    return RNNC_OK;
}

static rnnc_status lstm_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    rnnc__drnn *r = &dl->r;
    RNNC_TRY(rnnc__drnn_check_input(r, io));
    const int64_t B = io->x_shape.dim[0], T = io->x_shape.dim[1];
    const rnnc__drnn_cell ci = RNNC__DRNN_CELL(dl->cell, 4);
    const rnnc_bbuf *x = io->x;
    dl->ran = false;
    RNNC_TRY(rnnc__drnn_begin_forward(r, &ci, io, &x));
    RNNC_TRY(r->be->lstm_forward(dl->op, B, T, x, NULL, NULL, io->mask, r->w[0]->value,
                                 r->w[1]->value, r->w[2] ? r->w[2]->value : NULL, io->training,
                                 r->y, NULL, NULL));
    dl->ran = true;
    rnnc__drnn_end_forward(r, io);
    return RNNC_OK;
}

static rnnc_status lstm_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    rnnc__drnn *r = &dl->r;
    rnnc_bbuf *grad[3];
    if (!dl->ran)
        return rnnc_fail(RNNC_E_STATE, "backward without a forward");
    RNNC_TRY(rnnc__drnn_begin_backward(r, dx != NULL, grad));
    RNNC_TRY(r->be->lstm_backward(dl->op, dy, dx ? r->dx : NULL, NULL, NULL, grad[0], grad[1],
                                  grad[2]));
    return rnnc__drnn_end_backward(r, dx);
}

const struct rnnc_layer_device_class rnnc_lstm_device_class = {
    .create = lstm_dcreate,
    .forward = lstm_dforward,
    .backward = lstm_dbackward,
    .destroy = lstm_ddestroy,
};
