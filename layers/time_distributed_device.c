/* time_distributed_device.c - TimeDistributed on a backend
 * (framework/device_layer.h), as time_distributed.c calls it: the input
 * (B, T, rest...) folded to (B*T, rest...) (the same buffer: the time axis
 * is row-major inside the batch), the wrapped layer's own device instance
 * run on it, its output (B*T, out...) unfolded to (B, T, out...); backward
 * is the wrapped layer's on the same buffers. The mask (B, T) goes to the
 * wrapped layer folded ((B*T,), the same bytes) and is also the output
 * mask, as on the CPU and in Keras 3.15.1 (supports_masking).
 *
 * Wrapped layers whose rows are independent run: Dense, Activation,
 * Dropout and LayerNormalization (their device classes). A Dropout draws
 * one mask over the folded (B*T, ...) input from its own generator, as
 * rnnc's CPU layer does (Keras 3.15.1 calls the layer once per step with
 * (B, ...), so its draws come in another order: the same distribution,
 * other numbers). Anything else is refused with one line: a wrapped layer
 * without a device class, one whose rows depend on each other
 * (BatchNormalization, which the CPU calls step by step) or that reads
 * the sequence (GRU, Bidirectional), and the wrapped layer's own refusals
 * prefixed with this layer's name. */
#include <stdlib.h>
#include <string.h>

#include "framework/device_layer.h"
#include "layers/time_distributed.h"

struct rnnc_dlayer {
    const rnnc_layer *layer;
    const struct rnnc_layer_device_class *cls;
    rnnc_dlayer *sub;
};

static void td_ddestroy(rnnc_dlayer *dl)
{
    if (!dl)
        return;
    if (dl->sub)
        dl->cls->destroy(dl->sub);
    free(dl);
}

/* The wrapped classes whose device class works on independent rows. */
static bool runs_on_rows(const rnnc_layer *sub)
{
    static const char *const names[] = {"Dense", "Activation", "Dropout", "LayerNormalization"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(sub->cls->class_name, names[i]) == 0)
            return sub->cls->device != NULL;
    return false;
}

static rnnc_status td_dcreate(const rnnc_dlayer_init *in, rnnc_dlayer **out)
{
    const rnnc_layer *l = in->layer;
    const rnnc_layer *sub = ((const rnnc_time_distributed *)l)->inner;
    *out = NULL;
    if (!runs_on_rows(sub))
        return rnnc__dlayer_refuse(l, "the wrapped %s '%s' has no device implementation inside TimeDistributed (Dense, Activation, Dropout and LayerNormalization run)",
                                   sub->cls->class_name, sub->name);
    if (in->in_shape.ndim < 3)
        return rnnc__dlayer_refuse(l, "an input of rank %d (at least 3: batch, time, ...)", in->in_shape.ndim);
    rnnc_dlayer *dl = calloc(1, sizeof *dl);
    if (!dl)
        return rnnc_fail(RNNC_E_NOMEM, "TimeDistributed: out of memory");
    dl->layer = l;
    dl->cls = sub->cls->device;
    rnnc_dlayer_init si = *in;
    si.layer = ((const rnnc_time_distributed *)l)->inner;
    si.on_input = false;
    si.in_shape.ndim = in->in_shape.ndim - 1; /* (B*T, rest...) */
    si.in_shape.dim[0] = in->in_shape.dim[0] < 0 || in->in_shape.dim[1] < 0
                             ? -1 : in->in_shape.dim[0] * in->in_shape.dim[1];
    for (int d = 2; d < in->in_shape.ndim; d++)
        si.in_shape.dim[d - 1] = in->in_shape.dim[d];
    const rnnc_status s = dl->cls->create(&si, &dl->sub);
    if (s != RNNC_OK) {
        td_ddestroy(dl);
        return rnnc_fail_context(s, "layer '%s' (TimeDistributed): ", l->name);
    }
    *out = dl;
    return RNNC_OK;
}

static rnnc_status td_dforward(rnnc_dlayer *dl, rnnc_dlayer_io *io)
{
    char s[160], t[160];
    const rnnc_shape xs = io->x_shape;
    if (xs.ndim < 3)
        return rnnc_fail(RNNC_E_SHAPE, "TimeDistributed: the input must have at least 3 dimensions (batch, time, ...), got %s",
                         rnnc_shape_str(&xs, s, sizeof s));
    const int64_t B = xs.dim[0], T = xs.dim[1];
    rnnc_dlayer_io sio = {.x = io->x, .x_host = NULL, .mask = io->mask, .training = io->training};
    sio.x_shape.ndim = xs.ndim - 1;
    sio.x_shape.dim[0] = B * T;
    for (int d = 2; d < xs.ndim; d++)
        sio.x_shape.dim[d - 1] = xs.dim[d];
    RNNC_TRY(dl->cls->forward(dl->sub, &sio));
    const rnnc_shape *ys = &sio.y_shape;
    if (ys->ndim < 1 || ys->dim[0] != B * T || ys->ndim + 1 > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "TimeDistributed: the wrapped layer turned %s into %s; it must keep the batch axis",
                         rnnc_shape_str(&sio.x_shape, s, sizeof s), rnnc_shape_str(ys, t, sizeof t));
    io->y = sio.y;
    io->y_shape.ndim = ys->ndim + 1;
    io->y_shape.dim[0] = B;
    io->y_shape.dim[1] = T;
    for (int d = 1; d < ys->ndim; d++)
        io->y_shape.dim[d + 1] = ys->dim[d];
    io->y_mask = io->mask;
    return RNNC_OK;
}

static rnnc_status td_dbackward(rnnc_dlayer *dl, const rnnc_bbuf *dy, const rnnc_bbuf **dx)
{
    return dl->cls->backward(dl->sub, dy, dx);
}

const struct rnnc_layer_device_class rnnc_time_distributed_device_class = {
    .create = td_dcreate,
    .forward = td_dforward,
    .backward = td_dbackward,
    .destroy = td_ddestroy,
};
