/* time_distributed.c - the TimeDistributed wrapper: shapes, build, the
 * folded (B*T) call and the per-step call, config. */
#include "layers/time_distributed.h"

#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

/* (B, T, rest...) -> (B, rest...) for the wrapped layer. */
static rnnc_status child_shape(const rnnc_shape *in, rnnc_shape *out)
{
    char s[160];
    if (in->ndim < 3)
        return rnnc_fail(RNNC_E_SHAPE, "TimeDistributed: the input must have at least 3 dimensions (batch, time, ...), got %s",
                         rnnc_shape_str(in, s, sizeof s));
    out->ndim = in->ndim - 1;
    out->dim[0] = in->dim[0];
    for (int d = 2; d < in->ndim; d++)
        out->dim[d - 1] = in->dim[d];
    return RNNC_OK;
}

static rnnc_status td_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_shape cs;
    RNNC_TRY(child_shape(in, &cs));
    return rnnc_layer_build(((rnnc_time_distributed *)l)->inner, &cs);
}

static rnnc_status td_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    rnnc_shape cs;
    rnnc_output_spec inner;
    char s[160];
    RNNC_TRY(child_shape(in, &cs));
    RNNC_TRY(rnnc_layer_output_spec(((const rnnc_time_distributed *)l)->inner, &cs, &inner));
    const rnnc_shape *o = &inner.shapes[0];
    if (o->ndim < 1 || o->ndim + 1 > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "TimeDistributed: the wrapped layer's output %s cannot take a time axis",
                         rnnc_shape_str(o, s, sizeof s));
    spec->n_outputs = 1;
    spec->shapes[0].ndim = o->ndim + 1;
    spec->shapes[0].dim[0] = o->dim[0];
    spec->shapes[0].dim[1] = in->dim[1];
    for (int d = 1; d < o->ndim; d++)
        spec->shapes[0].dim[d + 1] = o->dim[d];
    spec->dtype = inner.dtype;
    return RNNC_OK;
}

static rnnc_status call_inner(rnnc_layer *inner, rnnc_ctx *cx, rnnc_tensor *x,
                              const rnnc_tensor *mask, bool training, rnnc_tensor **y)
{
    rnnc_call_args a;
    rnnc_call_result r;
    memset(&a, 0, sizeof a);
    memset(&r, 0, sizeof r);
    a.n_inputs = 1;
    a.inputs[0] = x;
    a.mask = mask;
    a.training = training;
    /* Keras calls layer.call directly: no activity penalty, no build here. */
    rnnc_status s = inner->cls->call(inner, cx, &a, &r);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "TimeDistributed: wrapped %s '%s': ", inner->cls->class_name, inner->name);
    if (r.n_outputs != 1 || !r.outputs[0])
        return rnnc_fail(RNNC_E_UNSUPPORTED, "TimeDistributed: the wrapped %s '%s' returned %d outputs; only single-output layers can be wrapped",
                         inner->cls->class_name, inner->name, r.n_outputs);
    *y = r.outputs[0];
    return RNNC_OK;
}

/* Layers whose output rows depend on the other rows of the batch must see
 * one time step's batch at a time. */
static bool needs_per_step(const rnnc_layer *inner)
{
    return strcmp(inner->cls->class_name, "BatchNormalization") == 0;
}

static rnnc_status td_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res)
{
    rnnc_time_distributed *td = (rnnc_time_distributed *)l;
    rnnc_tensor *x = args->inputs[0], *y;
    const rnnc_tensor *mask = args->mask;
    char s[160], t[160];
    rnnc_shape cs;
    RNNC_TRY(child_shape(&x->shape, &cs));
    const int64_t B = x->shape.dim[0], T = x->shape.dim[1];
    if (mask && (mask->shape.ndim < 2 || mask->shape.dim[0] != B || mask->shape.dim[1] != T))
        return rnnc_fail(RNNC_E_SHAPE, "TimeDistributed: the mask must have shape (%lld, %lld, ...), got %s for inputs of shape %s",
                         (long long)B, (long long)T, rnnc_shape_str(&mask->shape, s, sizeof s),
                         rnnc_shape_str(&x->shape, t, sizeof t));
    if (needs_per_step(td->inner)) {
        rnnc_tensor **steps = malloc((size_t)(T > 0 ? T : 1) * sizeof *steps);
        if (!steps)
            return rnnc_fail(RNNC_E_NOMEM, "TimeDistributed: out of memory");
        rnnc_status st = RNNC_OK;
        for (int64_t k = 0; k < T && st == RNNC_OK; k++) {
            rnnc_tensor *xk, *mk = NULL;
            st = rnnc_slice(cx, x, 1, k, 1, &xk);
            if (st == RNNC_OK)
                st = rnnc_reshape(cx, xk, &cs, &xk);
            if (st == RNNC_OK && mask) {
                rnnc_shape ms = mask->shape;
                ms.ndim--;
                for (int d = 1; d < ms.ndim; d++)
                    ms.dim[d] = mask->shape.dim[d + 1];
                st = rnnc_slice(cx, (rnnc_tensor *)mask, 1, k, 1, &mk);
                if (st == RNNC_OK)
                    st = rnnc_reshape(cx, mk, &ms, &mk);
            }
            if (st == RNNC_OK)
                st = call_inner(td->inner, cx, xk, mk, args->training, &steps[k]);
        }
        if (st == RNNC_OK)
            st = rnnc_stack(cx, steps, (int)T, 1, &y);
        free(steps);
        RNNC_TRY(st);
    } else {
        /* (B, T, rest...) -> (B*T, rest...) -> wrapped -> (B, T, out...) */
        rnnc_shape fs = cs;
        rnnc_tensor *xf, *yf, *mf = NULL;
        fs.dim[0] = B * T;
        RNNC_TRY(rnnc_reshape(cx, x, &fs, &xf));
        if (mask) {
            rnnc_shape ms = mask->shape;
            ms.ndim--;
            ms.dim[0] = B * T;
            for (int d = 1; d < ms.ndim; d++)
                ms.dim[d] = mask->shape.dim[d + 1];
            RNNC_TRY(rnnc_reshape(cx, (rnnc_tensor *)mask, &ms, &mf));
        }
        RNNC_TRY(call_inner(td->inner, cx, xf, mf, args->training, &yf));
        rnnc_shape os;
        if (yf->shape.ndim < 1 || yf->shape.dim[0] != B * T || yf->shape.ndim + 1 > RNNC_MAX_DIMS)
            return rnnc_fail(RNNC_E_SHAPE, "TimeDistributed: the wrapped layer turned %s into %s; it must keep the batch axis",
                             rnnc_shape_str(&xf->shape, s, sizeof s), rnnc_shape_str(&yf->shape, t, sizeof t));
        os.ndim = yf->shape.ndim + 1;
        os.dim[0] = B;
        os.dim[1] = T;
        for (int d = 1; d < yf->shape.ndim; d++)
            os.dim[d + 1] = yf->shape.dim[d];
        RNNC_TRY(rnnc_reshape(cx, yf, &os, &y));
    }
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status td_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    rnnc_cfg *inner;
    RNNC_TRY(rnnc_layer_serialize(((const rnnc_time_distributed *)l)->inner, &inner));
    return rnnc_cfg_set(c, "layer", inner);
}

const rnnc_layer_class rnnc_time_distributed_class = {
    .class_name = "TimeDistributed",
    .module = "keras.layers",
    .build = td_build,
    .call = td_call,
    .compute_output_spec = td_output_spec,
    .get_config = td_get_config,
    .destroy = NULL,
    .supports_masking = true,
    .device = &rnnc_time_distributed_device_class,
};

/* A wrapper around inner (owned from the start, also on failure). */
static rnnc_status td_new(rnnc_layer *inner, const char *name, rnnc_time_distributed **out)
{
    *out = NULL;
    rnnc_time_distributed *td = calloc(1, sizeof *td);
    if (!td) {
        rnnc_layer_destroy(inner);
        return rnnc_fail(RNNC_E_NOMEM, "TimeDistributed: out of memory");
    }
    rnnc_status s = rnnc_layer_init(&td->base, &rnnc_time_distributed_class, name, inner->dtype);
    if (s == RNNC_OK)
        s = rnnc_layer_add_child(&td->base, "layer", inner);
    else
        rnnc_layer_destroy(inner);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(&td->base);
        return s;
    }
    td->inner = inner;
    *out = td;
    return RNNC_OK;
}

rnnc_status rnnc_time_distributed_create(rnnc_layer *layer, const char *name, rnnc_layer **out)
{
    rnnc_time_distributed *td;
    *out = NULL;
    if (!layer)
        return rnnc_fail(RNNC_E_ARG, "TimeDistributed: the wrapped layer is NULL");
    RNNC_TRY(td_new(layer, name, &td));
    *out = &td->base;
    return RNNC_OK;
}

static const char *const td_keys[] = {"name", "trainable", "dtype", "activity_regularizer", "layer",
                                      "input_shape", "batch_input_shape", "input_dim", "batch_size",
                                      NULL};

rnnc_status rnnc_time_distributed_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    char w[300];
    rnnc_layer *inner;
    rnnc_time_distributed *td;
    rnnc_shape in;
    bool has_in;
    rnnc_status s;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "TimeDistributed: config must be a map");
    const rnnc_cfg *lc = rnnc_cfg_get(c, "layer");
    char hint[600];
    if (!lc || lc->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "TimeDistributed: %s'layer' (the wrapped layer's serialization) is required%s",
                         lc ? "" : rnnc_cfg_misspelt(c, "layer", td_keys, hint, sizeof hint),
                         rnnc_cfg_where(lc ? lc : c, w, sizeof w));
    s = rnnc_layer_from_config(lc, &inner);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "TimeDistributed.layer: ");
    RNNC_TRY(td_new(inner, rnnc_layer_config_name(c), &td));
    if ((s = rnnc_layer_read_base_config(&td->base, c, true)) ||
        (s = rnnc_layer_config_input_shape(c, "TimeDistributed", true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(c, "TimeDistributed", td_keys))) {
        rnnc_layer_destroy(&td->base);
        return s;
    }
    *out = &td->base;
    return RNNC_OK;
}
