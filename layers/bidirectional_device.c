/* bidirectional_device.c - Bidirectional on a backend
 * (framework/device_layer.h), as bidirectional.c computes it: the forward
 * and backward layers' own device instances (their layer classes' device
 * classes: GRU's in gru_device.c) run on the same input and mask; with
 * return_sequences the backward output, in processing order, is flipped
 * back along the whole time axis (reverse_time: Keras 3.15.1's
 * ops.flip(y_rev, axis=1), masked steps included; both layers have
 * zero_output_for_mask forced on, bidirectional.c); then merged: concat
 * (copy_block into the two halves of the last axis), sum / mul (binary),
 * ave (binary add, then scale_rows by 0.5: x * 0.5, as the CPU's affine).
 * The output mask is the input's with return_sequences, else none.
 *
 * Backward splits the gradient (concat: copy_block out of each half; sum:
 * dy to both; ave: dy * 0.5 to both; mul: dy * the other output), flips
 * the backward half back into processing order, runs both layers'
 * backward (each accumulates its weights' gradients) and adds their input
 * gradients.
 *
 * Refused at create, each with one line: merge_mode None (a list of two
 * outputs), return_state, stateful, a wrapped layer without a device
 * class (LSTM, SimpleRNN), with a 16-bit dtype policy or an activity
 * regularizer; whatever the wrapped layer's own device class refuses
 * (GRU: recurrent_dropout, ...) comes back prefixed with this layer's
 * name. What it runs (a GRU's input dropout from its own generator) runs
 * here the same, both copies in the CPU's order (forward, then backward). */
#include <stdlib.h>

#include "framework/device_layer.h"
#include "layers/bidirectional.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    const rnnc_bidirectional *b;
    const struct rnnc_layer_device_class *cls[2]; /* forward, backward */
    rnnc_dlayer *sub[2];
    bool seq, done;            /* done: a training forward ran */
    int64_t B, T, U, rows;     /* U: one direction's units; rows = B (* T with seq) */
    const rnnc_bbuf *yf, *yb;  /* forward's output; backward's in input time order */
    rnnc_bbuf *rev, *y;        /* backward's output flipped (seq); merged output */
    rnnc_bbuf *dyf, *dyb, *dyb_rev, *dx;
};

static void bidi_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    for (int k = 0; k < 2; k++)
        if (dl->sub[k])
            dl->cls[k]->destroy(dl->sub[k]);
    rnnc_bbuf *bufs[] = {dl->rev, dl->y, dl->dyf, dl->dyb, dl->dyb_rev, dl->dx};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        dl->be->free(bufs[i]);
    free(dl);
}

/* What the device model checks for each of its own layers, for a wrapped one. */
static rnnc_status check_sublayer(const rnnc_layer *l, const rnnc_layer *sub)
{
    if (!sub->cls->device || sub->cls->device->host_input)
        return rnnc__dlayer_refuse(l, "the wrapped %s '%s' has no device implementation", sub->cls->class_name,
                                   sub->name);
    if (rnnc_layer_precision(sub) != RNNC_PREC_NONE || sub->dtype != RNNC_F32)
        return rnnc__dlayer_refuse(l, "the wrapped %s '%s' is not float32 (float32 only on a device)",
                                   sub->cls->class_name, sub->name);
    if (sub->activity_regularizer)
        return rnnc__dlayer_refuse(l, "the wrapped %s '%s' has an activity_regularizer, which has no device implementation",
                                   sub->cls->class_name, sub->name);
    return RNNC_OK;
}

static rnnc_status bidi_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    const rnnc_layer *l = in->layer;
    const rnnc_bidirectional *b = (const rnnc_bidirectional *)l;
    *out = NULL;
    if (b->merge_mode == RNNC_MERGE_NONE)
        return rnnc__dlayer_refuse(l, "merge_mode=None (a list of two outputs) has no device implementation");
    if (b->return_state)
        return rnnc__dlayer_refuse(l, "return_state=True has no device implementation");
    if (b->stateful)
        return rnnc__dlayer_refuse(l, "stateful=True has no device implementation");
    rnnc_layer *subs[2] = {b->forward_layer, b->backward_layer};
    for (int k = 0; k < 2; k++)
        RNNC_TRY(check_sublayer(l, subs[k]));
    rnnc_bop ops[3];
    int n_ops = 0;
    if (b->merge_mode == RNNC_MERGE_CONCAT)
        ops[n_ops++] = RNNC_BOP_COPY_BLOCK;
    else
        ops[n_ops++] = RNNC_BOP_BINARY;
    if (b->merge_mode == RNNC_MERGE_AVE)
        ops[n_ops++] = RNNC_BOP_SCALE_ROWS;
    if (b->return_sequences)
        ops[n_ops++] = RNNC_BOP_REVERSE_TIME;
    RNNC_TRY(rnnc__dlayer_need_ops(l, in->be, ops, n_ops));
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "Bidirectional: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->b = b;
    dl->seq = b->return_sequences;
    for (int k = 0; k < 2; k++) {
        rnnc_dlayer_init si = *in;
        si.layer = subs[k];
        dl->cls[k] = subs[k]->cls->device;
        const rnnc_status s = dl->cls[k]->create(&si, &dl->sub[k]);
        if (s != RNNC_OK) {
            bidi_ddestroy(dl);
            return rnnc_fail_context(s, "layer '%s' (Bidirectional): ", l->name);
        }
    }
    *out = dl;
    return RNNC_OK;
}

static rnnc_status bidi_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    const rnnc_backend_ops *be = dl->be;
    rnnc_dlayer_io sio[2];
    dl->done = false;
    for (int k = 0; k < 2; k++) {
        sio[k] = (rnnc_dlayer_io){.x = io->x, .x_shape = io->x_shape, .x_host = io->x_host,
                                  .mask = io->mask, .training = io->training};
        RNNC_TRY(dl->cls[k]->forward(dl->sub[k], &sio[k]));
    }
    const rnnc_shape ys = sio[0].y_shape;
    const int64_t B = ys.dim[0], T = dl->seq ? ys.dim[1] : 1, U = ys.dim[ys.ndim - 1];
    const size_t n = (size_t)(B * T * U);
    dl->B = B, dl->T = T, dl->U = U, dl->rows = B * T;
    dl->yf = sio[0].y;
    dl->yb = sio[1].y;
    if (dl->seq) {
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->rev));
        RNNC_TRY(be->reverse_time(B, T, U, sio[1].y, dl->rev));
        dl->yb = dl->rev;
    }
    const bool concat = dl->b->merge_mode == RNNC_MERGE_CONCAT;
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, concat ? 2 * n : n, &dl->y));
    switch (dl->b->merge_mode) {
    case RNNC_MERGE_CONCAT:
        RNNC_TRY(be->copy_block(dl->rows, U, dl->yf, U, 0, dl->y, 2 * U, 0, false));
        RNNC_TRY(be->copy_block(dl->rows, U, dl->yb, U, 0, dl->y, 2 * U, U, false));
        break;
    case RNNC_MERGE_MUL: RNNC_TRY(be->binary(RNNC_BIN_MUL, dl->yf, dl->yb, dl->y)); break;
    default: /* sum, ave */
        RNNC_TRY(be->binary(RNNC_BIN_ADD, dl->yf, dl->yb, dl->y));
        if (dl->b->merge_mode == RNNC_MERGE_AVE)
            RNNC_TRY(be->scale_rows(1, (int64_t)n, NULL, 0.5f, dl->y, dl->y));
        break;
    }
    io->y = dl->y;
    io->y_shape = ys;
    if (concat)
        io->y_shape.dim[ys.ndim - 1] = 2 * U;
    io->y_mask = dl->seq ? io->mask : NULL;
    dl->done = io->training;
    return RNNC_OK;
}

static rnnc_status bidi_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    const rnnc_backend_ops *be = dl->be;
    if (!dl->done)
        return rnnc_fail(RNNC_E_STATE, "Bidirectional: backward without a training forward");
    dl->done = false;
    const int64_t U = dl->U, rows = dl->rows;
    const size_t n = (size_t)(rows * U);
    const rnnc_bbuf *dyf = dy, *dyb = dy; /* sum: dy to both */
    switch (dl->b->merge_mode) {
    case RNNC_MERGE_CONCAT:
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->dyf));
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->dyb));
        RNNC_TRY(be->copy_block(rows, U, dy, 2 * U, 0, dl->dyf, U, 0, false));
        RNNC_TRY(be->copy_block(rows, U, dy, 2 * U, U, dl->dyb, U, 0, false));
        dyf = dl->dyf, dyb = dl->dyb;
        break;
    case RNNC_MERGE_MUL:
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->dyf));
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->dyb));
        RNNC_TRY(be->binary(RNNC_BIN_MUL, dy, dl->yb, dl->dyf));
        RNNC_TRY(be->binary(RNNC_BIN_MUL, dy, dl->yf, dl->dyb));
        dyf = dl->dyf, dyb = dl->dyb;
        break;
    case RNNC_MERGE_AVE:
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->dyf));
        RNNC_TRY(be->scale_rows(1, (int64_t)n, NULL, 0.5f, dy, dl->dyf));
        dyf = dyb = dl->dyf;
        break;
    default: break;
    }
    if (dl->seq) { /* back into the backward layer's processing order */
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->dyb_rev));
        RNNC_TRY(be->reverse_time(dl->B, dl->T, U, dyb, dl->dyb_rev));
        dyb = dl->dyb_rev;
    }
    const rnnc_bbuf *dxs[2] = {NULL, NULL};
    RNNC_TRY(dl->cls[0]->backward(dl->sub[0], dyf, dx ? &dxs[0] : NULL));
    RNNC_TRY(dl->cls[1]->backward(dl->sub[1], dyb, dx ? &dxs[1] : NULL));
    if (dx) {
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dxs[0]->n, &dl->dx));
        RNNC_TRY(be->binary(RNNC_BIN_ADD, dxs[0], dxs[1], dl->dx));
        *dx = dl->dx;
    }
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_bidirectional_device_class = {
    .create = bidi_dcreate,
    .forward = bidi_dforward,
    .backward = bidi_dbackward,
    .destroy = bidi_ddestroy,
};
