/* masking_device.c - Masking on a backend (framework/device_layer.h): the
 * mask is computed from the host batch as masking.c computes it (a row is
 * kept when any feature differs from mask_value, compared in the input's
 * precision), and y = x * keep on the device. Only directly on the model
 * input: elsewhere the mask would need the device values back. */
#include <stdlib.h>

#include "framework/device_layer.h"
#include "layers/masking.h"

struct rnnc_dlayer {
    rnnc_dmodel *dm;
    const rnnc_backend_ops *be;
    const rnnc_masking *m;
    int64_t rows, F;
    uint8_t *mask;     /* host (rows) */
    float *keep_host;  /* host (rows) */
    size_t cap;
    rnnc_bbuf *keep, *y, *dx;
};

static void masking_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    dl->be->free(dl->keep);
    dl->be->free(dl->y);
    dl->be->free(dl->dx);
    free(dl->mask);
    free(dl->keep_host);
    free(dl);
}

static rnnc_status masking_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    *out = NULL;
    if (!in->on_input)
        return rnnc__dlayer_refuse(in->layer, "runs on a device only directly on the model input (its mask is computed from the host batch)");
    if (in->in_shape.ndim < 2)
        return rnnc__dlayer_refuse(in->layer, "an input of rank %d (at least 2)", in->in_shape.ndim);
    const rnnc_bop ops[] = {RNNC_BOP_SCALE_ROWS};
    RNNC_TRY(rnnc__dlayer_need_ops(in->layer, in->be, ops, 1));
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "Masking: out of memory");
    dl->dm = in->dm;
    dl->be = in->be;
    dl->m = (const rnnc_masking *)in->layer;
    *out = dl;
    return RNNC_OK;
}

static rnnc_status masking_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    const rnnc_tensor *x = io->x_host;
    const int nd = io->x_shape.ndim;
    const int64_t F = io->x_shape.dim[nd - 1];
    const size_t rows = x->numel / (size_t)F;
    if (dl->cap < rows) {
        uint8_t *mk = realloc(dl->mask, rows);
        if (mk)
            dl->mask = mk;
        float *kh = realloc(dl->keep_host, rows * sizeof *kh);
        if (kh)
            dl->keep_host = kh;
        if (!mk || !kh)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        dl->cap = rows;
    }
    /* masking.c's rule, on the input as the layer sees it: a float batch
     * cast to float32 (rnnc_layer_call's autocast), mask_value cast to it;
     * integers as given. */
    const bool f = rnnc_dtype_is_float(x->dtype);
    const double mv = f ? (double)(float)dl->m->mask_value : dl->m->mask_value;
    for (size_t r = 0; r < rows; r++) {
        bool any = false;
        for (int64_t j = 0; j < F && !any; j++) {
            const double v = rnnc_tensor_get(x, r * (size_t)F + (size_t)j);
            any = (f ? (double)(float)v : v) != mv;
        }
        dl->mask[r] = any;
        dl->keep_host[r] = any ? 1.0f : 0.0f;
    }
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, rows, &dl->keep));
    RNNC_TRY(dl->be->upload(dl->keep, dl->keep_host));
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, io->x->n, &dl->y));
    RNNC_TRY(dl->be->scale_rows((int64_t)rows, F, dl->keep, 1.0f, io->x, dl->y));
    dl->rows = (int64_t)rows;
    dl->F = F;
    io->y = dl->y;
    io->y_shape = io->x_shape;
    io->y_mask = dl->mask;
    return RNNC_OK;
}

/* No weights; the input gradient (masked rows get none) only when asked,
 * which the model never does for its input. */
static rnnc_status masking_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    if (!dx)
        return RNNC_OK;
    RNNC_TRY(rnnc__dbuf_ensure(dl->dm, RNNC_F32, dy->n, &dl->dx));
    RNNC_TRY(dl->be->scale_rows(dl->rows, dl->F, dl->keep, 1.0f, dy, dl->dx));
    *dx = dl->dx;
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_masking_device_class = {
    .create = masking_dcreate,
    .forward = masking_dforward,
    .backward = masking_dbackward,
    .destroy = masking_ddestroy,
};
