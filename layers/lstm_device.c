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
 * exactly as lstm_cell.c's begin_call draws it (dropout_device.h),
 * expanded over the T steps, and x * mask goes into the op; backward
 * multiplies the op's dx by the same mask. Every call also advances the
 * generator where the CPU's begin_call only skips a mask, so the host
 * stream stays the CPU path's.
 *
 * Refused at create, each with one line: stateful, return_state,
 * activations that are not element-wise, recurrent_dropout in (0, 1) (the
 * op takes no recurrent mask), dropout in (0, 1) with implementation 1
 * (four per-gate input masks), use_cudnn=True. */
#include <stdio.h>
#include <stdlib.h>

#include "framework/device_layer.h"
#include "framework/rnn.h"
#include "layers/dropout_device.h"
#include "layers/lstm.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    const rnnc_layer *l;
    rnnc_lstm_cell *cell; /* its rng is the dropout stream */
    rnnc_blstm_config cfg;
    rnnc_dweight *w[3];   /* kernel, recurrent_kernel, bias (NULL without bias) */
    rnnc_blstm *op;
    bool ran;             /* a forward ran since create */
    int64_t B, T;
    rnnc__ddrop drop;     /* the input dropout mask (B, T, F) */
    bool dropped;         /* the latest forward applied it */
    rnnc_bbuf *y, *dx;
    rnnc_bbuf *scratch[3]; /* gradients of frozen weights (never read) */
};

static void lstm_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    const rnnc_backend_ops *be = dl->be;
    if (dl->op)
        be->lstm_destroy(dl->op);
    be->free(dl->y);
    be->free(dl->dx);
    for (int i = 0; i < 3; i++)
        be->free(dl->scratch[i]);
    rnnc__ddrop_free(&dl->drop);
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
    if (rnn->opt.stateful)
        return rnnc__dlayer_refuse(l, "stateful=True has no device implementation");
    if (rnn->opt.return_state)
        return rnnc__dlayer_refuse(l, "return_state=True has no device implementation");
    if (!rnnc_act_is_elementwise(c->activation) || !rnnc_act_is_elementwise(c->recurrent_activation))
        return rnnc__dlayer_refuse(l, "activation '%s' / recurrent_activation '%s' has no device implementation (element-wise ones)",
                                   rnnc_act_name(c->activation), rnnc_act_name(c->recurrent_activation));
    if (c->recurrent_dropout > 0.0 && c->recurrent_dropout < 1.0)
        return rnnc__dlayer_refuse(l, "recurrent_dropout %g has no device implementation (the LSTM op takes no recurrent mask; dropout runs)",
                                   c->recurrent_dropout);
    if (c->dropout > 0.0 && c->dropout < 1.0 && c->implementation == 1)
        return rnnc__dlayer_refuse(l, "dropout %g with implementation 1 (a mask per gate) has no device implementation (implementation 2's shared mask runs)",
                                   c->dropout);
    if (in->in_shape.ndim != 3)
        return rnnc__dlayer_refuse(l, "an input of rank %d (an LSTM takes (batch, timesteps, features))",
                                   in->in_shape.ndim);
    const rnnc_bop ops[] = {RNNC_BOP_LSTM, RNNC_BOP_BINARY};
    RNNC_TRY(rnnc__dlayer_need_ops(l, in->be, ops, c->dropout > 0.0 && c->dropout < 1.0 ? 2 : 1));
    if (rnnc_lstm_use_cudnn(l) == RNNC_USE_CUDNN_TRUE)
        return rnnc__dlayer_refuse(l, "use_cudnn=True, but the %s backend has no cuDNN LSTM (pass use_cudnn='auto' for the generic kernel)",
                                   in->be->name);
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "LSTM: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->drop.dm = in->dm;
    dl->drop.be = in->be;
    dl->l = l;
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
    dl->w[0] = rnnc__dlayer_weight(in, c->kernel);
    dl->w[1] = rnnc__dlayer_weight(in, c->recurrent_kernel);
    dl->w[2] = c->use_bias ? rnnc__dlayer_weight(in, c->bias) : NULL;
    rnnc_status s = RNNC_OK;
    if (!dl->w[0] || !dl->w[1] || (c->use_bias && !dl->w[2]))
        s = rnnc_fail(RNNC_E_STATE, "LSTM '%s': its weights are not among the model's", l->name);
    if (!s)
        s = dl->be->lstm_create(&dl->cfg, &dl->op);
    if (s) {
        lstm_ddestroy(dl);
        return s;
    }
    *out = dl;
    return RNNC_OK;
}

/* The cell's dropout masks for this call, as lstm_cell.c's begin_call
 * draws them: input mask(s) of (B, F) first, then recurrent ones of
 * (B, U); a mask the call does not apply only moves the counter by what
 * its draw would take. The applied one multiplies x into dl->drop's
 * buffer: *x points there. */
static rnnc_status input_dropout(rnnc_dlayer *dl, const rnnc_dlayer_io *io, const rnnc_bbuf **x)
{
    rnnc_lstm_cell *c = dl->cell;
    const int64_t B = io->x_shape.dim[0], F = dl->cfg.input_size, U = dl->cfg.units;
    const int n_in = c->dropout > 0.0 ? (c->implementation == 1 ? 4 : 1) : 0;
    const int n_rec = c->recurrent_dropout > 0.0 ? 4 : 0;
    dl->dropped = io->training && c->dropout > 0.0 && c->dropout < 1.0; /* implementation 2 (create) */
    if (dl->dropped) {
        const rnnc_shape noise = RNNC_SHAPE(B, 1, F);
        RNNC_TRY(rnnc__ddrop_forward(&dl->drop, &c->rng, c->dropout, &noise, &io->x_shape, io->x, x));
    } else {
        c->rng.counter += (uint64_t)n_in * (uint64_t)((B * F + 1) / 2);
    }
    c->rng.counter += (uint64_t)n_rec * (uint64_t)((B * U + 1) / 2);
    return RNNC_OK;
}

static rnnc_status lstm_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    char s[160];
    if (io->x_shape.ndim != 3 || io->x_shape.dim[2] != dl->cfg.input_size)
        return rnnc_fail(RNNC_E_SHAPE, "input shape %s does not match the kernel (expected (batch, timesteps, %lld))",
                         rnnc_shape_str(&io->x_shape, s, sizeof s), (long long)dl->cfg.input_size);
    const int64_t B = io->x_shape.dim[0], T = io->x_shape.dim[1], U = dl->cfg.units;
    const rnnc_bbuf *x = io->x;
    dl->ran = false;
    RNNC_TRY(input_dropout(dl, io, &x));
    const size_t ny = (size_t)B * (size_t)(dl->cfg.return_sequences ? T : 1) * (size_t)U;
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, ny, &dl->y));
    RNNC_TRY(dl->be->lstm_forward(dl->op, B, T, x, NULL, NULL, io->mask, dl->w[0]->value,
                                  dl->w[1]->value, dl->w[2] ? dl->w[2]->value : NULL, io->training,
                                  dl->y, NULL, NULL));
    dl->ran = true;
    dl->B = B;
    dl->T = T;
    io->y = dl->y;
    const rnnc_shape seq = RNNC_SHAPE(B, T, U), last = RNNC_SHAPE(B, U);
    io->y_shape = dl->cfg.return_sequences ? seq : last;
    io->y_mask = dl->cfg.return_sequences ? io->mask : NULL;
    return RNNC_OK;
}

static rnnc_status lstm_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    rnnc_bbuf *grad[3] = {NULL, NULL, NULL};
    if (!dl->ran)
        return rnnc_fail(RNNC_E_STATE, "backward without a forward");
    for (int i = 0; i < 3; i++) {
        if (!dl->w[i])
            continue;
        grad[i] = dl->w[i]->grad;
        if (!grad[i]) { /* frozen: the op still writes somewhere */
            RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dl->w[i]->value->n, &dl->scratch[i]));
            RNNC_TRY(dl->be->fill(dl->scratch[i], 0.0f));
            grad[i] = dl->scratch[i];
        }
    }
    if (dx)
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)(dl->B * dl->T * dl->cfg.input_size), &dl->dx));
    RNNC_TRY(dl->be->lstm_backward(dl->op, dy, dx ? dl->dx : NULL, NULL, NULL, grad[0], grad[1],
                                   grad[2]));
    if (dx && dl->dropped) /* d(x * mask) / dx */
        RNNC_TRY(rnnc__ddrop_backward(&dl->drop, dl->dx, dl->dx));
    if (dx)
        *dx = dl->dx;
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_lstm_device_class = {
    .create = lstm_dcreate,
    .forward = lstm_dforward,
    .backward = lstm_dbackward,
    .destroy = lstm_ddestroy,
};
