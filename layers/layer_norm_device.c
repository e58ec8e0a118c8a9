/* layer_norm_device.c - LayerNormalization on a backend
 * (framework/device_layer.h) over the last axis, as layer_norm.c computes
 * it: the layer_norm op (backend_ops.h: the tape's float32 roundings,
 * epsilon added to the variance in double, gamma folded into the inverse
 * deviation before x is scaled, center/scale/rms_scaling) over the input
 * as prod(leading) rows of its last axis; backward through
 * layer_norm_backward (dx, and dgamma / dbeta accumulated when trainable).
 * The mask passes through (supports_masking). Other axes (a list, or one
 * that is not the last) are refused with one line. */
#include <stdio.h>
#include <stdlib.h>

#include "framework/device_layer.h"
#include "layers/layer_norm.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    rnnc_layer_norm_params p;
    rnnc_dweight *gamma, *beta; /* NULL when absent */
    int64_t rows, cols;         /* of the latest forward */
    const rnnc_bbuf *x;         /* the latest input (owned upstream, valid until backward) */
    rnnc_bbuf *y, *mean, *inv, *dx;
};

static void ln_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    rnnc_bbuf *b[] = {dl->y, dl->mean, dl->inv, dl->dx};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        dl->be->free(b[i]);
    free(dl);
}

static rnnc_status ln_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    *out = NULL;
    rnnc_layer_norm_params p;
    rnnc__layer_norm_params(in->layer, &p);
    const int nd = in->in_shape.ndim;
    if (p.n_axes != 1 || p.axes[0] != nd - 1) {
        char axes[64] = "";
        size_t k = 0;
        for (int i = 0; i < p.n_axes && k < sizeof axes; i++)
            k += (size_t)snprintf(axes + k, sizeof axes - k, "%s%d", i ? ", " : "", p.axes[i]);
        return rnnc__dlayer_refuse(in->layer, "normalizing over axes [%s] of a rank-%d input has no device implementation (the last axis alone runs)",
                                   axes, nd);
    }
    const rnnc_bop ops[] = {RNNC_BOP_LAYER_NORM};
    RNNC_TRY(rnnc__dlayer_need_ops(in->layer, in->be, ops, 1));
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "LayerNormalization: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->p = p;
    dl->gamma = rnnc__dlayer_weight(in, p.gamma);
    dl->beta = rnnc__dlayer_weight(in, p.beta);
    if ((p.gamma && !dl->gamma) || (p.beta && !dl->beta)) {
        free(dl);
        return rnnc_fail(RNNC_E_STATE, "LayerNormalization '%s': its weights are not among the model's", in->layer->name);
    }
    *out = dl;
    return RNNC_OK;
}

static rnnc_status ln_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    const int nd = io->x_shape.ndim;
    const int64_t cols = io->x_shape.dim[nd - 1], rows = (int64_t)(io->x->n / (size_t)cols);
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, io->x->n, &dl->y));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)rows, &dl->mean));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)rows, &dl->inv));
    RNNC_TRY(dl->be->layer_norm(rows, cols, dl->p.epsilon, dl->p.rms, io->x, dl->gamma ? dl->gamma->value : NULL,
                                dl->beta ? dl->beta->value : NULL, dl->y, dl->mean, dl->inv));
    dl->rows = rows;
    dl->cols = cols;
    dl->x = io->x;
    io->y = dl->y;
    io->y_shape = io->x_shape;
    io->y_mask = io->mask;
    return RNNC_OK;
}

static rnnc_status ln_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    rnnc_bbuf *dxb = NULL;
    if (dx) {
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dy->n, &dl->dx));
        dxb = dl->dx;
    }
    RNNC_TRY(dl->be->layer_norm_backward(dl->rows, dl->cols, dl->p.rms, dl->x, dl->gamma ? dl->gamma->value : NULL,
                                         dl->mean, dl->inv, dy, dxb, dl->gamma ? dl->gamma->grad : NULL,
                                         dl->beta ? dl->beta->grad : NULL));
    if (dx)
        *dx = dl->dx;
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_layer_norm_device_class = {
    .create = ln_dcreate,
    .forward = ln_dforward,
    .backward = ln_dbackward,
    .destroy = ln_ddestroy,
};
