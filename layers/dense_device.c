/* dense_device.c - Dense on a backend (framework/device_layer.h):
 * y = act(x K + b) over the rows of x ((B, ..., F) as prod(leading) rows),
 * as dense.c computes it; the mask passes through (supports_masking). */
#include <stdlib.h>

#include "framework/device_layer.h"
#include "layers/dense.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    const rnnc_dense *d;
    rnnc_dweight *kernel, *bias; /* bias NULL without use_bias */
    int64_t F, U, rows;          /* rows of the latest forward */
    const rnnc_bbuf *x;          /* the latest input (owned upstream, valid until backward) */
    rnnc_bbuf *z, *y, *dz, *dx, *ones; /* z = x K + b; y = act(z) (not for linear) */
};

static void dense_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    rnnc_bbuf *b[] = {dl->z, dl->y, dl->dz, dl->dx, dl->ones};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        dl->be->free(b[i]);
    free(dl);
}

static rnnc_status dense_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    const rnnc_dense *d = (const rnnc_dense *)in->layer;
    const rnnc_act a = d->activation;
    *out = NULL;
    if (a != RNNC_ACT_SOFTMAX && !rnnc_act_is_elementwise(a))
        return rnnc__dlayer_refuse(in->layer, "activation '%s' has no device implementation (element-wise ones and softmax)",
                                   rnnc_act_name(a));
    const rnnc_bop ops[] = {RNNC_BOP_MATMUL, RNNC_BOP_BIAS_ADD,
                            a == RNNC_ACT_SOFTMAX ? RNNC_BOP_SOFTMAX : RNNC_BOP_ACTIVATION,
                            a == RNNC_ACT_SOFTMAX ? RNNC_BOP_SOFTMAX_BACKWARD : RNNC_BOP_ACTIVATION_BACKWARD};
    RNNC_TRY(rnnc__dlayer_need_ops(in->layer, in->be, ops, a == RNNC_ACT_LINEAR ? 2 : 4));
    if (in->in_shape.ndim < 2)
        return rnnc__dlayer_refuse(in->layer, "an input of rank %d (at least 2)", in->in_shape.ndim);
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "Dense: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->d = d;
    dl->kernel = rnnc__dlayer_weight(in, d->kernel);
    dl->bias = d->use_bias ? rnnc__dlayer_weight(in, d->bias) : NULL;
    dl->F = d->kernel->shape.dim[0];
    dl->U = d->units;
    if (!dl->kernel || (d->use_bias && !dl->bias)) {
        free(dl);
        return rnnc_fail(RNNC_E_STATE, "Dense '%s': its weights are not among the model's", in->layer->name);
    }
    *out = dl;
    return RNNC_OK;
}

static rnnc_status dense_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    const rnnc_backend_ops *be = dl->be;
    const int nd = io->x_shape.ndim;
    char s[160];
    if (nd < 2 || io->x_shape.dim[nd - 1] != dl->F)
        return rnnc_fail(RNNC_E_SHAPE, "input shape %s does not match the kernel (last axis must be %lld)",
                         rnnc_shape_str(&io->x_shape, s, sizeof s), (long long)dl->F);
    const int64_t rows = (int64_t)(io->x->n / (size_t)dl->F), U = dl->U;
    const size_t n = (size_t)rows * (size_t)U;
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->z));
    RNNC_TRY(be->matmul(false, false, rows, U, dl->F, io->x, dl->kernel->value, 0.0f, dl->z));
    if (dl->bias)
        RNNC_TRY(be->bias_add(rows, U, dl->z, dl->bias->value, dl->z));
    const rnnc_act a = dl->d->activation;
    const rnnc_bbuf *y = dl->z;
    if (a != RNNC_ACT_LINEAR) {
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, n, &dl->y));
        if (a == RNNC_ACT_SOFTMAX)
            RNNC_TRY(be->softmax(rows, U, dl->z, dl->y));
        else
            RNNC_TRY(be->activation(a, dl->z, dl->y));
        y = dl->y;
    }
    dl->rows = rows;
    dl->x = io->x;
    if (a == RNNC_ACT_SOFTMAX || a == RNNC_ACT_SIGMOID) {
        /* dense.c's last op at any rank (a rank > 2 input is reshaped back before it) */
        io->logits = dl->z;
        io->logits_act = a;
    }
    io->y = y;
    io->y_shape = io->x_shape;
    io->y_shape.dim[nd - 1] = U;
    io->y_mask = io->mask;
    return RNNC_OK;
}

/* backward from dz, the gradient with respect to z = x K + b */
static rnnc_status dense_dbackward_logits(rnnc_dlayer *dl, const rnnc_bbuf *dz, const rnnc_bbuf **dx)
{
    const rnnc_backend_ops *be = dl->be;
    const int64_t rows = dl->rows, U = dl->U, F = dl->F;
    if (dl->kernel->grad) /* dK += x^T dz */
        RNNC_TRY(be->matmul(true, false, F, U, rows, dl->x, dz, 1.0f, dl->kernel->grad));
    if (dl->bias && dl->bias->grad) { /* db += 1^T dz */
        if (!dl->ones || dl->ones->n != (size_t)rows) {
            RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)rows, &dl->ones));
            RNNC_TRY(be->fill(dl->ones, 1.0f));
        }
        RNNC_TRY(be->matmul(false, false, 1, U, rows, dl->ones, dz, 1.0f, dl->bias->grad));
    }
    if (dx) { /* dx = dz K^T */
        RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, (size_t)rows * (size_t)F, &dl->dx));
        RNNC_TRY(be->matmul(false, true, rows, F, U, dz, dl->kernel->value, 0.0f, dl->dx));
        *dx = dl->dx;
    }
    return RNNC_OK;
}

static rnnc_status dense_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    const rnnc_backend_ops *be = dl->be;
    const rnnc_act a = dl->d->activation;
    if (a == RNNC_ACT_LINEAR)
        return dense_dbackward_logits(dl, dy, dx);
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dy->n, &dl->dz));
    RNNC_TRY(be->fill(dl->dz, 0.0f)); /* the backward ops accumulate */
    if (a == RNNC_ACT_SOFTMAX)
        RNNC_TRY(be->softmax_backward(dl->rows, dl->U, dl->y, dy, dl->dz));
    else
        RNNC_TRY(be->activation_backward(a, dl->z, dl->y, dy, dl->dz));
    return dense_dbackward_logits(dl, dl->dz, dx);
}

const struct rnnc_layer_device_class rnnc_dense_device_class = {
    .create = dense_dcreate,
    .forward = dense_dforward,
    .backward = dense_dbackward,
    .backward_logits = dense_dbackward_logits,
    .destroy = dense_ddestroy,
};
