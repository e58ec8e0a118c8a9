/* masking.c - the Masking layer: the mask from the data, and the zeroing. */
#include "layers/masking.h"

#include <stdlib.h>

#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

static rnnc_status masking_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                       rnnc_output_spec *spec)
{
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

static rnnc_status masking_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                                rnnc_call_result *res)
{
    const rnnc_masking *m = (const rnnc_masking *)l;
    rnnc_tensor *x = args->inputs[0], *mask, *keep, *y;
    char s[160];
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    if (x->shape.ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "Masking: input must have rank >= 1, got shape %s",
                         rnnc_shape_str(&x->shape, s, sizeof s));
    const int nd = x->shape.ndim;
    const int64_t F = x->shape.dim[nd - 1];
    const size_t rows = F > 0 ? x->numel / (size_t)F : 0;
    rnnc_shape ms = x->shape, ks = x->shape;
    ms.ndim = nd - 1; /* (...): the output mask */
    ks.dim[nd - 1] = 1; /* (..., 1): the multiplier, broadcast over features */
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &ms, &mask));
    RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ks, &keep));
    uint8_t *mk = mask->data;
    /* Compared in the input's precision, as Keras casts mask_value to it. */
    const double mv = x->dtype == RNNC_F32 ? (double)(float)m->mask_value : m->mask_value;
    for (size_t r = 0; r < rows; r++) {
        bool any = false;
        for (int64_t j = 0; j < F && !any; j++)
            any = rnnc_tensor_get(x, r * (size_t)F + (size_t)j) != mv;
        mk[r] = any;
        rnnc_tensor_set(keep, r, any ? 1.0 : 0.0);
    }
    /* y = x * keep: masked steps become 0 and get no gradient. */
    RNNC_TRY(rnnc_mul(cx, x, keep, &y));
    res->n_outputs = 1;
    res->outputs[0] = y;
    res->mask = mask;
    return RNNC_OK;
}

static rnnc_status masking_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_masking *m = (const rnnc_masking *)l;
    return rnnc_layer_config_set_number(c, "mask_value", (rnnc_layer_num){m->mask_value, m->value_is_int});
}

const rnnc_layer_class rnnc_masking_class = {
    .class_name = "Masking",
    .module = "keras.layers",
    .build = NULL,
    .call = masking_call,
    .compute_output_spec = masking_output_spec,
    .get_config = masking_get_config,
    .destroy = NULL,
    .supports_masking = true,
    .device = &rnnc_masking_device_class,
};

static rnnc_status masking_alloc(const char *name, rnnc_dtype dtype, rnnc_masking **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "Masking: out of memory");
    rnnc_status s = rnnc_layer_init(&(*out)->base, &rnnc_masking_class, name, dtype);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(&(*out)->base);
        *out = NULL;
    }
    return s;
}

rnnc_status rnnc_masking_create(double mask_value, const char *name, rnnc_dtype dtype,
                                rnnc_layer **out)
{
    rnnc_masking *m;
    *out = NULL;
    RNNC_TRY(masking_alloc(name, dtype, &m));
    m->mask_value = mask_value;
    *out = &m->base;
    return RNNC_OK;
}

static const char *const masking_keys[] = {"name", "trainable", "dtype", "activity_regularizer",
                                           "mask_value", "input_shape", "batch_input_shape",
                                           "input_dim", "batch_size", NULL};

rnnc_status rnnc_masking_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    rnnc_masking *m;
    rnnc_layer_num v;
    rnnc_shape in;
    bool has_in;
    rnnc_status s;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Masking: config must be a map");
    RNNC_TRY(masking_alloc(rnnc_layer_config_name(c), RNNC_F32, &m));
    if ((s = rnnc_layer_read_base_config(&m->base, c, true)) ||
        (s = rnnc_layer_config_number(c, "Masking", "mask_value", (rnnc_layer_num){0.0, false}, &v)) ||
        (s = rnnc_layer_config_input_shape(c, "Masking", true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(c, "Masking", masking_keys))) {
        rnnc_layer_destroy(&m->base);
        return s;
    }
    m->mask_value = v.v;
    m->value_is_int = v.is_int;
    *out = &m->base;
    return RNNC_OK;
}
