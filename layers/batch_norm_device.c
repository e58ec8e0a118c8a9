/* batch_norm_device.c - BatchNormalization on a backend
 * (framework/device_layer.h) with its feature axis last (axis -1), as
 * batch_norm.c computes it: the batch_norm op (backend_ops.h: the tape's
 * float32 roundings) over the input as prod(leading) rows of its last
 * axis. In a training call of a trainable layer: the batch's statistics
 * (with a mask, Keras's masked moments: the mask's rows as 0/1 row weights
 * uploaded with the batch) and the moving mean and variance updated on the
 * device with momentum (non-trainable weights: downloaded with the others);
 * otherwise (inference, or trainable=False as Keras) the moving statistics.
 * Backward through batch_norm_backward (through the batch statistics in
 * training). The mask passes through. Refused with one line: a feature
 * axis other than the last. synchronized=True runs as False (one process:
 * the same numbers; the device path takes no communicator). */
#include <stdlib.h>

#include "framework/device_layer.h"
#include "layers/batch_norm.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    const rnnc_batch_norm *b;
    rnnc_dweight *gamma, *beta, *mm, *mv; /* gamma, beta NULL when absent */
    int64_t rows, cols;         /* of the latest forward */
    bool training, weighted;    /* of the latest forward */
    const rnnc_bbuf *x;         /* the latest input (owned upstream, valid until backward) */
    float *w_host;
    size_t w_cap;
    rnnc_bbuf *w, *y, *mean, *den, *dx;
};

static void bn_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    rnnc_bbuf *b[] = {dl->w, dl->y, dl->mean, dl->den, dl->dx};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        dl->be->free(b[i]);
    free(dl->w_host);
    free(dl);
}

static rnnc_status bn_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    const rnnc_batch_norm *b = (const rnnc_batch_norm *)in->layer;
    *out = NULL;
    if (b->feature_axis != in->in_shape.ndim - 1)
        return rnnc__dlayer_refuse(in->layer, "axis %d (not the last axis of a rank-%d input) has no device implementation (axis -1 runs)",
                                   b->axis, in->in_shape.ndim);
    const rnnc_bop ops[] = {RNNC_BOP_BATCH_NORM};
    RNNC_TRY(rnnc__dlayer_need_ops(in->layer, in->be, ops, 1));
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "BatchNormalization: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->b = b;
    dl->gamma = rnnc__dlayer_weight(in, b->gamma);
    dl->beta = rnnc__dlayer_weight(in, b->beta);
    dl->mm = rnnc__dlayer_weight(in, b->moving_mean);
    dl->mv = rnnc__dlayer_weight(in, b->moving_variance);
    if ((b->gamma && !dl->gamma) || (b->beta && !dl->beta) || !dl->mm || !dl->mv) {
        free(dl);
        return rnnc_fail(RNNC_E_STATE, "BatchNormalization '%s': its weights are not among the model's", in->layer->name);
    }
    *out = dl;
    return RNNC_OK;
}

/* The mask's rows as 0/1 weights on the device. */
static rnnc_status upload_weights(rnnc_dlayer *dl, const uint8_t *mask, int64_t rows)
{
    if (dl->w_cap < (size_t)rows) {
        float *p = realloc(dl->w_host, (size_t)rows * sizeof *p);
        if (!p)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        dl->w_host = p;
        dl->w_cap = (size_t)rows;
    }
    for (int64_t r = 0; r < rows; r++)
        dl->w_host[r] = mask[r] ? 1.0f : 0.0f;
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)rows, &dl->w));
    return dl->be->upload(dl->w, dl->w_host);
}

static rnnc_status bn_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    const int nd = io->x_shape.ndim;
    const int64_t cols = io->x_shape.dim[nd - 1], rows = (int64_t)(io->x->n / (size_t)cols);
    const bool training = io->training && dl->b->base.trainable;
    dl->weighted = training && io->mask;
    if (dl->weighted)
        RNNC_TRY(upload_weights(dl, io->mask, rows));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, io->x->n, &dl->y));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)cols, &dl->mean));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)cols, &dl->den));
    RNNC_TRY(dl->be->batch_norm(rows, cols, dl->b->epsilon, dl->b->momentum, training, io->x,
                                dl->weighted ? dl->w : NULL, dl->gamma ? dl->gamma->value : NULL,
                                dl->beta ? dl->beta->value : NULL, dl->mm->value, dl->mv->value, dl->y, dl->mean,
                                dl->den));
    dl->rows = rows;
    dl->cols = cols;
    dl->training = training;
    dl->x = io->x;
    io->y = dl->y;
    io->y_shape = io->x_shape;
    io->y_mask = io->mask;
    return RNNC_OK;
}

static rnnc_status bn_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    rnnc_bbuf *dxb = NULL;
    if (dx) {
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dy->n, &dl->dx));
        dxb = dl->dx;
    }
    RNNC_TRY(dl->be->batch_norm_backward(dl->rows, dl->cols, dl->training, dl->x, dl->weighted ? dl->w : NULL,
                                         dl->gamma ? dl->gamma->value : NULL, dl->mean, dl->den, dy, dxb,
                                         dl->gamma ? dl->gamma->grad : NULL, dl->beta ? dl->beta->grad : NULL));
    if (dx)
        *dx = dl->dx;
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_batch_norm_device_class = {
    .create = bn_dcreate,
    .forward = bn_dforward,
    .backward = bn_dbackward,
    .destroy = bn_ddestroy,
};
