/* dropout.c - the Dropout layer: config, validation and the training-time
 * draw (through rnnc_dropout, so the keep rule and scaling are the op's). */
#include "layers/dropout.h"

#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

static rnnc_status check_rate(double rate)
{
    if (!(rate >= 0.0 && rate <= 1.0)) /* also rejects NaN */
        return rnnc_fail(RNNC_E_ARG, "Dropout: 'rate' must be a float between 0 and 1, got %g", rate);
    return RNNC_OK;
}

static rnnc_status dropout_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                       rnnc_output_spec *spec)
{
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* The noise shape for input shape `in`: None entries filled from the input,
 * each entry equal to the input's or 1 so that it broadcasts. */
rnnc_status rnnc__dropout_resolve_noise(const rnnc_dropout_layer *d, const rnnc_shape *in,
                                        rnnc_shape *noise)
{
    char s[160];
    if (d->noise_ndim != in->ndim)
        return rnnc_fail(RNNC_E_SHAPE, "Dropout: noise_shape has %d dimensions but the input %s has %d",
                         d->noise_ndim, rnnc_shape_str(in, s, sizeof s), in->ndim);
    noise->ndim = in->ndim;
    for (int i = 0; i < in->ndim; i++) {
        int64_t n = d->noise_shape[i] < 0 ? in->dim[i] : d->noise_shape[i];
        if (n != in->dim[i] && n != 1)
            return rnnc_fail(RNNC_E_SHAPE, "Dropout: noise_shape entry %d is %lld, which does not broadcast to the input %s (must be %lld, 1 or None)",
                             i, (long long)n, rnnc_shape_str(in, s, sizeof s), (long long)in->dim[i]);
        noise->dim[i] = n;
    }
    return RNNC_OK;
}

static rnnc_status dropout_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                                rnnc_call_result *res)
{
    rnnc_dropout_layer *d = (rnnc_dropout_layer *)l;
    rnnc_tensor *x = args->inputs[0], *y = x;
    res->n_outputs = 1;
    if (args->training && d->rate > 0.0) {
        if (!rnnc_dtype_is_float(x->dtype))
            return rnnc_fail(RNNC_E_DTYPE, "Dropout: input must be float32 or float64, got %s",
                             rnnc_dtype_name(x->dtype));
        if (d->noise_ndim == 0) {
            RNNC_TRY(rnnc_dropout(cx, x, d->rate, &d->rng, &y, NULL));
        } else {
            /* One draw of the noise shape, broadcast by the multiply. */
            rnnc_shape ns;
            rnnc_tensor *ones, *keep;
            RNNC_TRY(rnnc__dropout_resolve_noise(d, &x->shape, &ns));
            RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ns, &ones));
            rnnc_tensor_fill(ones, 1.0);
            RNNC_TRY(rnnc_dropout(cx, ones, d->rate, &d->rng, &keep, NULL));
            RNNC_TRY(rnnc_mul(cx, x, keep, &y));
        }
    }
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status dropout_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_dropout_layer *d = (const rnnc_dropout_layer *)l;
    RNNC_TRY(rnnc_layer_config_set_number(c, "rate", (rnnc_layer_num){d->rate, d->rate_is_int}));
    if (d->has_seed)
        RNNC_TRY(rnnc_cfg_set_int(c, "seed", d->seed));
    else
        RNNC_TRY(rnnc_cfg_set_null(c, "seed"));
    if (d->noise_ndim == 0)
        return rnnc_cfg_set_null(c, "noise_shape");
    rnnc_cfg *list = rnnc_cfg_list();
    if (!list)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int i = 0; i < d->noise_ndim; i++)
        if (rnnc_cfg_push(list, d->noise_shape[i] < 0 ? rnnc_cfg_null() : rnnc_cfg_int(d->noise_shape[i]))) {
            rnnc_cfg_destroy(list);
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        }
    return rnnc_cfg_set(c, "noise_shape", list);
}

const rnnc_layer_class rnnc_dropout_class = {
    .class_name = "Dropout",
    .module = "keras.layers",
    .build = NULL,
    .call = dropout_call,
    .compute_output_spec = dropout_output_spec,
    .get_config = dropout_get_config,
    .destroy = NULL,
    .supports_masking = true,
    .device = &rnnc_dropout_device_class,
};

rnnc_dropout_options rnnc_dropout_options_default(double rate)
{
    rnnc_dropout_options o;
    memset(&o, 0, sizeof o);
    o.dtype = RNNC_F32;
    o.rate = rate;
    return o;
}

static void seed_rng(rnnc_dropout_layer *d)
{
    /* Keras's SeedGenerator(None) draws a seed from the global source. */
    rnnc_rng_init(&d->rng, d->has_seed ? (uint64_t)d->seed : rnnc_next_seed());
}

rnnc_status rnnc_dropout_create(const rnnc_dropout_options *o, rnnc_layer **out)
{
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "Dropout: options are NULL");
    RNNC_TRY(check_rate(o->rate));
    if (o->noise_ndim < 0 || o->noise_ndim > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_ARG, "Dropout: noise_shape must have 0..%d dimensions, got %d",
                         RNNC_MAX_DIMS, o->noise_ndim);
    for (int i = 0; i < o->noise_ndim; i++)
        if (o->noise_shape[i] == 0 || o->noise_shape[i] < -1)
            return rnnc_fail(RNNC_E_ARG, "Dropout: noise_shape entries must be positive integers or None (-1); entry %d is %lld",
                             i, (long long)o->noise_shape[i]);
    rnnc_dropout_layer *d = calloc(1, sizeof *d);
    if (!d)
        return rnnc_fail(RNNC_E_NOMEM, "Dropout: out of memory");
    rnnc_status s = rnnc_layer_init(&d->base, &rnnc_dropout_class, o->name, o->dtype);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(&d->base);
        return s;
    }
    d->rate = o->rate;
    d->has_seed = o->has_seed;
    d->seed = o->seed;
    d->noise_ndim = o->noise_ndim;
    memcpy(d->noise_shape, o->noise_shape, sizeof d->noise_shape);
    seed_rng(d);
    *out = &d->base;
    return RNNC_OK;
}

static const char *const dropout_keys[] = {"name", "trainable", "dtype", "activity_regularizer", "rate", "seed", "noise_shape",
                                           "input_shape", "batch_input_shape", "input_dim",
                                           "batch_size", NULL};

static rnnc_status read_noise_shape(const rnnc_cfg *c, rnnc_dropout_layer *d)
{
    char w[300];
    const rnnc_cfg *ns = rnnc_cfg_get(c, "noise_shape");
    d->noise_ndim = 0;
    if (!ns || ns->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (ns->type != RNNC_CFG_LIST)
        return rnnc_fail(RNNC_E_ARG, "Dropout: 'noise_shape' must be a list of integers or null, got %s%s",
                         rnnc_cfg_type_name(ns->type), rnnc_cfg_where(ns, w, sizeof w));
    if (ns->n > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_ARG, "Dropout: 'noise_shape' has %zu entries, at most %d are supported%s",
                         ns->n, RNNC_MAX_DIMS, rnnc_cfg_where(ns, w, sizeof w));
    for (size_t i = 0; i < ns->n; i++) {
        const rnnc_cfg *e = ns->items[i];
        if (e->type == RNNC_CFG_NULL) {
            d->noise_shape[i] = -1;
        } else if (e->type != RNNC_CFG_INT) {
            return rnnc_fail(RNNC_E_ARG, "Dropout: 'noise_shape' entries must be integers or null; entry %zu is %s%s",
                             i, rnnc_cfg_type_name(e->type), rnnc_cfg_where(e, w, sizeof w));
        } else if (e->v.i <= 0 || e->v.i > RNNC_CFG_MAX_DIM) {
            return rnnc_fail(RNNC_E_ARG, "Dropout: 'noise_shape' entries must be positive (at most %lld) or null; entry %zu is %lld%s",
                             (long long)RNNC_CFG_MAX_DIM, i, (long long)e->v.i, rnnc_cfg_where(e, w, sizeof w));
        } else {
            d->noise_shape[i] = e->v.i;
        }
    }
    d->noise_ndim = (int)ns->n;
    return RNNC_OK;
}

rnnc_status rnnc_dropout_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    char w[300];
    rnnc_status s;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Dropout: config must be a map");
    const rnnc_cfg *rc = rnnc_cfg_peek(c, "rate");
    char hint[600];
    if (!rc || rc->type == RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_ARG, "Dropout: %s'rate' is required (a float between 0 and 1)%s",
                         rnnc_cfg_misspelt(c, "rate", dropout_keys, hint, sizeof hint), rnnc_cfg_where(c, w, sizeof w));
    rnnc_layer_num rate;
    RNNC_TRY(rnnc_layer_config_number(c, "Dropout", "rate", (rnnc_layer_num){0, false}, &rate));
    if (!(rate.v >= 0.0 && rate.v <= 1.0))
        return rnnc_fail(RNNC_E_ARG, "Dropout: 'rate' must be a float between 0 and 1, got %g%s", rate.v,
                         rnnc_cfg_where(rc, w, sizeof w));
    const rnnc_cfg *sc = rnnc_cfg_get(c, "seed");
    if (sc && sc->type != RNNC_CFG_NULL && sc->type != RNNC_CFG_INT)
        return rnnc_fail(RNNC_E_ARG, "Dropout: 'seed' must be an integer or null, got %s%s",
                         rnnc_cfg_type_name(sc->type), rnnc_cfg_where(sc, w, sizeof w));
    rnnc_dropout_layer *d = calloc(1, sizeof *d);
    if (!d)
        return rnnc_fail(RNNC_E_NOMEM, "Dropout: out of memory");
    if ((s = rnnc_layer_init(&d->base, &rnnc_dropout_class, rnnc_layer_config_name(c), RNNC_F32)) ||
        (s = rnnc_layer_read_base_config(&d->base, c, true)) || (s = read_noise_shape(c, d)) ||
        (s = rnnc_layer_config_input_shape(c, "Dropout", true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(c, "Dropout", dropout_keys))) {
        rnnc_layer_destroy(&d->base);
        return s;
    }
    d->rate = rate.v;
    d->rate_is_int = rate.is_int;
    d->has_seed = sc && sc->type == RNNC_CFG_INT;
    d->seed = d->has_seed ? sc->v.i : 0;
    seed_rng(d);
    *out = &d->base;
    return RNNC_OK;
}
