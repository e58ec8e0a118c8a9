/* dropout_device.c - Dropout on a backend (framework/device_layer.h) and
 * the host-drawn dropout mask it shares with the GRU's input dropout
 * (dropout_device_internal.h).
 *
 * Dropout as dropout.c calls it: in a training forward with rate > 0, one
 * mask of the noise shape (None entries from the input; the input's shape
 * without noise_shape) drawn from the layer's generator, broadcast, and
 * y = x * mask; backward dx = dy * mask. Otherwise (inference, rate 0) the
 * input passes through and so does the gradient; the generator does not
 * move, as on the CPU. The mask passes through (supports_masking). */
#include "layers/dropout_device_internal.h"

#include <stdlib.h>
#include <string.h>

#include "layers/device_classes_internal.h"
#include "layers/dropout.h"

/* ---- the shared mask ------------------------------------------------------- */

void rnnc__dropout_draw_host(rnnc_rng *rng, double rate, float *m, size_t n)
{
    /* In chunks of an even size: rnnc_rng_uniform turns each block into two
     * doubles, so this is one draw of n (ops_dropout.c's draw_mask). */
    enum { CHUNK = 1024 };
    double u[CHUNK];
    if (rate >= 1.0) {
        memset(m, 0, n * sizeof *m);
        return;
    }
    const float keep = (float)(1.0 / (1.0 - rate));
    for (size_t base = 0; base < n; base += CHUNK) {
        const size_t cnt = n - base < CHUNK ? n - base : CHUNK;
        rnnc_rng_uniform(rng, u, cnt);
        for (size_t i = 0; i < cnt; i++)
            m[base + i] = u[i] >= rate ? keep : 0.0f;
    }
}

static rnnc_status grow(float **p, size_t *cap, size_t n)
{
    if (*cap >= n)
        return RNNC_OK;
    float *q = realloc(*p, n * sizeof *q);
    if (!q)
        return rnnc_fail(RNNC_E_NOMEM, "dropout: out of memory for a mask of %zu elements", n);
    *p = q;
    *cap = n;
    return RNNC_OK;
}

/* dst (shape to) = src (shape from, each dim to's or 1) broadcast. */
static void broadcast(const float *src, const rnnc_shape *from, const rnnc_shape *to, float *dst)
{
    int64_t idx[RNNC_MAX_DIMS] = {0}, stride[RNNC_MAX_DIMS];
    const int nd = to->ndim;
    int64_t s = 1, n = 1;
    for (int d = nd - 1; d >= 0; d--) {
        stride[d] = from->dim[d] == 1 ? 0 : s;
        s *= from->dim[d];
        n *= to->dim[d];
    }
    int64_t off = 0;
    for (int64_t i = 0; i < n; i++) {
        dst[i] = src[off];
        for (int d = nd - 1; d >= 0; d--) { /* next index, row-major */
            off += stride[d];
            if (++idx[d] < to->dim[d])
                break;
            off -= stride[d] * idx[d];
            idx[d] = 0;
        }
    }
}

/* Whether noise broadcasts to `to` over one run of dims [a, b) (those
 * where it is 1 and `to` is not, with only size-1 dims of `to` between
 * them): then x is (outer, mid, inner) and the mask (outer, inner). */
static bool one_run(const rnnc_shape *noise, const rnnc_shape *to, int64_t *outer, int64_t *mid, int64_t *inner)
{
    int a = -1, b = -1;
    for (int d = 0; d < to->ndim; d++)
        if (noise->dim[d] != to->dim[d]) {
            a = a < 0 ? d : a;
            b = d + 1;
        }
    if (a < 0)
        return false;
    *outer = *mid = *inner = 1;
    for (int d = 0; d < to->ndim; d++) {
        if (d >= a && d < b && noise->dim[d] == to->dim[d] && to->dim[d] != 1)
            return false; /* a kept dim inside the run: two runs */
        *(d < a ? outer : d < b ? mid : inner) *= to->dim[d];
    }
    return true;
}

rnnc_status rnnc__ddrop_forward(rnnc__ddrop *dd, rnnc_rng *rng, double rate, const rnnc_shape *noise,
                                const rnnc_shape *x_shape, const rnnc_bbuf *x, const rnnc_bbuf **y)
{
    size_t nn;
    RNNC_TRY(rnnc_shape_numel(noise, &nn));
    const size_t nx = x->n;
    const bool same = nn == nx;
    RNNC_TRY(grow(&dd->noise, &dd->noise_cap, nn ? nn : 1));
    rnnc__dropout_draw_host(rng, rate, dd->noise, nn);
    dd->bcast = !same && dd->be->mul_bcast && dd->be->supports(RNNC_BOP_MUL_BCAST, RNNC_F32) &&
                one_run(noise, x_shape, &dd->outer, &dd->mid, &dd->inner);
    if (dd->bcast) { /* upload the draw only: (outer, inner) */
        RNNC_TRY(rnnc__dbuf_ensure(dd->dm, RNNC_F32, nn, &dd->mask));
        RNNC_TRY(rnnc__dbuf_ensure(dd->dm, RNNC_F32, nx, &dd->y));
        RNNC_TRY(dd->be->upload(dd->mask, dd->noise));
        RNNC_TRY(dd->be->mul_bcast(dd->outer, dd->mid, dd->inner, x, dd->mask, dd->y));
        *y = dd->y;
        return RNNC_OK;
    }
    if (!same) {
        RNNC_TRY(grow(&dd->host, &dd->host_cap, nx ? nx : 1));
        broadcast(dd->noise, noise, x_shape, dd->host);
    }
    RNNC_TRY(rnnc__dbuf_ensure(dd->dm, RNNC_F32, nx, &dd->mask));
    RNNC_TRY(rnnc__dbuf_ensure(dd->dm, RNNC_F32, nx, &dd->y));
    RNNC_TRY(dd->be->upload(dd->mask, same ? dd->noise : dd->host));
    RNNC_TRY(dd->be->binary(RNNC_BIN_MUL, x, dd->mask, dd->y));
    *y = dd->y;
    return RNNC_OK;
}

rnnc_status rnnc__ddrop_backward(rnnc__ddrop *dd, const rnnc_bbuf *dy, rnnc_bbuf *dx)
{
    const size_t n = !dd->mask ? 0 : dd->bcast ? (size_t)(dd->outer * dd->mid * dd->inner) : dd->mask->n;
    if (!dd->mask || n != dy->n)
        return rnnc_fail(RNNC_E_STATE, "dropout backward: no mask of %zu elements from a training forward", dy->n);
    if (dd->bcast)
        return dd->be->mul_bcast(dd->outer, dd->mid, dd->inner, dy, dd->mask, dx);
    return dd->be->binary(RNNC_BIN_MUL, dy, dd->mask, dx);
}

void rnnc__ddrop_free(rnnc__ddrop *dd)
{
    if (!dd->be)
        return;
    dd->be->free(dd->mask);
    dd->be->free(dd->y);
    free(dd->noise);
    free(dd->host);
    memset(dd, 0, sizeof *dd);
}

/* ---- the Dropout layer ------------------------------------------------------ */

struct rnnc_dlayer {
    rnnc_dropout_layer *d;
    rnnc__ddrop drop;
    bool applied; /* the latest forward multiplied by a mask */
    rnnc_bbuf *dx;
};

static void dropout_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    dl->drop.be->free(dl->dx);
    rnnc__ddrop_free(&dl->drop);
    free(dl);
}

static rnnc_status dropout_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    *out = NULL;
    const rnnc_bop ops[] = {RNNC_BOP_BINARY};
    RNNC_TRY(rnnc__dlayer_need_ops(in->layer, in->be, ops, 1));
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "Dropout: out of memory");
    dl->d = (rnnc_dropout_layer *)in->layer;
    dl->drop.dm = in->dm;
    dl->drop.be = in->be;
    *out = dl;
    return RNNC_OK;
}

static rnnc_status dropout_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    rnnc_dropout_layer *d = dl->d;
    dl->applied = false;
    io->y = io->x;
    io->y_shape = io->x_shape;
    io->y_mask = io->mask;
    if (!io->training || d->rate <= 0.0)
        return RNNC_OK;
    rnnc_shape noise = io->x_shape;
    if (d->noise_ndim)
        RNNC_TRY(rnnc__dropout_resolve_noise(d, &io->x_shape, &noise));
    RNNC_TRY(rnnc__ddrop_forward(&dl->drop, &d->rng, d->rate, &noise, &io->x_shape, io->x, &io->y));
    dl->applied = true;
    return RNNC_OK;
}

static rnnc_status dropout_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    if (!dx)
        return RNNC_OK;
    if (!dl->applied) { /* the identity's gradient */
        *dx = dy;
        return RNNC_OK;
    }
    RNNC_TRY(rnnc__dbuf_ensure(dl->drop.dm, RNNC_F32, dy->n, &dl->dx));
    RNNC_TRY(rnnc__ddrop_backward(&dl->drop, dy, dl->dx));
    *dx = dl->dx;
    return RNNC_OK;
}

const struct rnnc_layer_device_class rnnc_dropout_device_class = {
    .passes_logits = true, /* dropout.c returns its input when it draws no mask */
    .create = dropout_dcreate,
    .forward = dropout_dforward,
    .backward = dropout_dbackward,
    .destroy = dropout_ddestroy,
};
