/* activation_device.c - the Activation layer on a backend
 * (framework/device_layer.h), as activation.c calls it (rnnc_activation on
 * the whole input): an element-wise activation through the activation op
 * (dx = dy * act'(x) by activation_backward), softmax over the last axis
 * through softmax / softmax_backward (the input as prod(leading) rows of
 * its last axis), linear passes the input and the gradient through. The
 * mask passes through (supports_masking; the Activation layer does not
 * use it, unlike the Softmax layer). Other activations (log_softmax,
 * sparsemax, glu: across the last axis) are refused with one line. */
#include <stdlib.h>

#include "framework/device_layer.h"
#include "layers/activation.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    rnnc_act act;
    int64_t rows, cols;   /* of the latest forward */
    const rnnc_bbuf *x;   /* the latest input (owned upstream, valid until backward) */
    rnnc_bbuf *y, *dx;
};

static void activation_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    dl->be->free(dl->y);
    dl->be->free(dl->dx);
    free(dl);
}

static rnnc_status activation_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    const rnnc_act a = ((const rnnc_activation_layer *)in->layer)->activation;
    *out = NULL;
    if (a != RNNC_ACT_SOFTMAX && !rnnc_act_is_elementwise(a))
        return rnnc__dlayer_refuse(in->layer, "activation '%s' has no device implementation (element-wise ones and softmax)",
                                   rnnc_act_name(a));
    const bool sm = a == RNNC_ACT_SOFTMAX;
    const rnnc_bop ops[] = {sm ? RNNC_BOP_SOFTMAX : RNNC_BOP_ACTIVATION,
                            sm ? RNNC_BOP_SOFTMAX_BACKWARD : RNNC_BOP_ACTIVATION_BACKWARD, RNNC_BOP_FILL};
    if (a != RNNC_ACT_LINEAR)
        RNNC_TRY(rnnc__dlayer_need_ops(in->layer, in->be, ops, 3));
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "Activation: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->act = a;
    *out = dl;
    return RNNC_OK;
}

static rnnc_status activation_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    io->y_shape = io->x_shape;
    io->y_mask = io->mask;
    dl->x = io->x;
    if (dl->act == RNNC_ACT_LINEAR) {
        io->y = io->x;
        return RNNC_OK;
    }
    const int nd = io->x_shape.ndim;
    dl->cols = nd ? io->x_shape.dim[nd - 1] : 1;
    dl->rows = dl->cols ? (int64_t)(io->x->n / (size_t)dl->cols) : 0;
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, io->x->n, &dl->y));
    if (dl->act == RNNC_ACT_SOFTMAX)
        RNNC_TRY(dl->be->softmax(dl->rows, dl->cols, io->x, dl->y));
    else
        RNNC_TRY(dl->be->activation(dl->act, io->x, dl->y));
    io->y = dl->y;
    if (dl->act == RNNC_ACT_SOFTMAX || dl->act == RNNC_ACT_SIGMOID) {
        io->logits = io->x; /* activation.c's call is that one op */
        io->logits_act = dl->act;
    }
    return RNNC_OK;
}

static rnnc_status activation_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    if (!dx)
        return RNNC_OK;
    if (dl->act == RNNC_ACT_LINEAR) {
        *dx = dy;
        return RNNC_OK;
    }
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dy->n, &dl->dx));
    RNNC_TRY(dl->be->fill(dl->dx, 0.0f)); /* the backward ops accumulate */
    if (dl->act == RNNC_ACT_SOFTMAX)
        RNNC_TRY(dl->be->softmax_backward(dl->rows, dl->cols, dl->y, dy, dl->dx));
    else
        RNNC_TRY(dl->be->activation_backward(dl->act, dl->x, dl->y, dy, dl->dx));
    *dx = dl->dx;
    return RNNC_OK;
}

/* given the gradient with respect to the input (io.logits): passed on */
static rnnc_status activation_dbackward_logits(rnnc_dlayer *dl, const rnnc_bbuf *dlogits, const rnnc_bbuf **dx)
{
    (void)dl;
    if (dx)
        *dx = dlogits;
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_activation_device_class = {
    .create = activation_dcreate,
    .forward = activation_dforward,
    .backward = activation_dbackward,
    .backward_logits = activation_dbackward_logits,
    .destroy = activation_ddestroy,
};
