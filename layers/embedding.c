/* embedding.c - the Embedding layer: config, build (independent of the input
 * shape, as Keras), id conversion, lookup and the mask_zero mask. */
#include "layers/embedding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "framework/sparse_grad.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

static void emb_destroy(rnnc_layer *l)
{
    rnnc_embedding *e = (rnnc_embedding *)l;
    rnnc_initializer_destroy(e->embeddings_initializer);
    rnnc_regularizer_destroy(e->embeddings_regularizer);
    rnnc_constraint_destroy(e->embeddings_constraint);
}

static rnnc_status emb_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_embedding *e = (rnnc_embedding *)l;
    rnnc_regularizer *r = NULL;
    rnnc_constraint *c = NULL;
    rnnc_shape ws = RNNC_SHAPE(e->input_dim, e->output_dim);
    if (e->embeddings_regularizer)
        RNNC_TRY(rnnc_regularizer_clone(e->embeddings_regularizer, &r));
    if (e->embeddings_constraint) {
        rnnc_status s = rnnc_constraint_clone(e->embeddings_constraint, &c);
        if (s != RNNC_OK) {
            rnnc_regularizer_destroy(r);
            return s;
        }
    }
    RNNC_TRY(rnnc_layer_add_weight(l, "embeddings", &ws, e->embeddings_initializer, r, c, true, &e->embeddings));
    /* The lookup's gradient reaches the optimizer as rows per occurrence,
     * as TensorFlow's IndexedSlices do (docs/keras-compat.md). */
    return rnnc_tensor_enable_sparse_grad(e->embeddings);
}

static rnnc_status emb_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    char s[160];
    if (in->ndim >= RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "Embedding: input shape %s leaves no room for the embedding axis (at most %d dims)",
                         rnnc_shape_str(in, s, sizeof s), RNNC_MAX_DIMS);
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->shapes[0].dim[in->ndim] = ((const rnnc_embedding *)l)->output_dim;
    spec->shapes[0].ndim = in->ndim + 1;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* ids as int32 (Keras casts non-integer inputs to int32). */
static rnnc_status to_i32(rnnc_ctx *cx, const rnnc_tensor *ids, const rnnc_tensor **out)
{
    rnnc_tensor *t;
    if (ids->dtype == RNNC_I32) {
        *out = ids;
        return RNNC_OK;
    }
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_I32, &ids->shape, &t));
    int32_t *d = t->data;
    for (size_t i = 0; i < ids->numel; i++) {
        double v = rnnc_tensor_get(ids, i);
        if (!(v > -2147483649.0 && v < 2147483648.0)) /* also NaN */
            return rnnc_fail(RNNC_E_ARG, "Embedding: id %g at position %zu is not a valid index", v, i);
        d[i] = (int32_t)v; /* truncates toward zero, as a cast */
    }
    *out = t;
    return RNNC_OK;
}

static rnnc_status emb_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                            rnnc_call_result *res)
{
    rnnc_embedding *e = (rnnc_embedding *)l;
    const rnnc_tensor *ids = NULL;
    rnnc_tensor *y;
    RNNC_TRY(to_i32(cx, args->inputs[0], &ids));
    RNNC_TRY(rnnc_gather_rows(cx, e->embeddings, ids, &y));
    res->n_outputs = 1;
    res->outputs[0] = y;
    if (e->mask_zero) {
        rnnc_tensor *m;
        RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &ids->shape, &m));
        /* Keras compares the inputs as given (before the int32 cast) with 0. */
        const rnnc_tensor *in = args->inputs[0];
        uint8_t *mk = m->data;
        for (size_t i = 0; i < in->numel; i++)
            mk[i] = rnnc_tensor_get(in, i) != 0.0;
        res->mask = m;
    }
    return RNNC_OK;
}

static rnnc_status emb_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_embedding *e = (const rnnc_embedding *)l;
    RNNC_TRY(rnnc_cfg_set_int(c, "input_dim", e->input_dim));
    RNNC_TRY(rnnc_cfg_set_int(c, "output_dim", e->output_dim));
    RNNC_TRY(rnnc_layer_config_set_initializer(c, "embeddings_initializer", e->embeddings_initializer));
    RNNC_TRY(rnnc_layer_config_set_regularizer(c, "embeddings_regularizer", e->embeddings_regularizer));
    /* Keras's Embedding lists activity_regularizer itself; when the base
     * already wrote it (not None) this replaces it in place. */
    RNNC_TRY(rnnc_layer_config_set_regularizer(c, "activity_regularizer", l->activity_regularizer));
    RNNC_TRY(rnnc_layer_config_set_constraint(c, "embeddings_constraint", e->embeddings_constraint));
    RNNC_TRY(rnnc_cfg_set_bool(c, "mask_zero", e->mask_zero));
    return rnnc_cfg_set_null(c, "quantization_config");
}

const rnnc_layer_class rnnc_embedding_class = {
    .class_name = "Embedding",
    .module = "keras.layers",
    .build = emb_build,
    .call = emb_call,
    .compute_output_spec = emb_output_spec,
    .get_config = emb_get_config,
    .destroy = emb_destroy,
    /* Only with mask_zero, which sets the mask itself; otherwise a mask is dropped. */
    .supports_masking = false,
    .device = &rnnc_embedding_device_class,
};

rnnc_embedding_options rnnc_embedding_options_default(int64_t input_dim, int64_t output_dim)
{
    rnnc_embedding_options o;
    memset(&o, 0, sizeof o);
    o.dtype = RNNC_F32;
    o.input_dim = input_dim;
    o.output_dim = output_dim;
    return o;
}

static rnnc_status emb_alloc(const char *name, rnnc_dtype dtype, rnnc_embedding **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "Embedding: out of memory");
    rnnc_status s = rnnc_layer_init(&(*out)->base, &rnnc_embedding_class, name, dtype);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(&(*out)->base);
        *out = NULL;
    }
    return s;
}

static rnnc_status check_dims(int64_t input_dim, int64_t output_dim)
{
    if (input_dim <= 0 || input_dim > RNNC_CFG_MAX_DIM)
        return rnnc_fail(RNNC_E_ARG, "Embedding: 'input_dim' must be a positive integer of at most %lld, got %lld",
                         (long long)RNNC_CFG_MAX_DIM, (long long)input_dim);
    if (output_dim <= 0 || output_dim > RNNC_CFG_MAX_UNITS)
        return rnnc_fail(RNNC_E_ARG, "Embedding: 'output_dim' must be a positive integer of at most %lld, got %lld",
                         (long long)RNNC_CFG_MAX_UNITS, (long long)output_dim);
    return RNNC_OK;
}

rnnc_status rnnc_embedding_create(const rnnc_embedding_options *o, rnnc_layer **out)
{
    rnnc_embedding *e;
    rnnc_status s;
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "Embedding: options are NULL");
    RNNC_TRY(check_dims(o->input_dim, o->output_dim));
    RNNC_TRY(emb_alloc(o->name, o->dtype, &e));
    e->input_dim = o->input_dim;
    e->output_dim = o->output_dim;
    e->mask_zero = o->mask_zero;
    if (o->embeddings_initializer)
        s = rnnc_initializer_clone(o->embeddings_initializer, &e->embeddings_initializer);
    else
        s = rnnc_initializer_from_name("uniform", "Embedding.embeddings_initializer", &e->embeddings_initializer);
    if (s != RNNC_OK ||
        (o->embeddings_regularizer && (s = rnnc_regularizer_clone(o->embeddings_regularizer, &e->embeddings_regularizer))) ||
        (o->activity_regularizer && (s = rnnc_regularizer_clone(o->activity_regularizer, &e->base.activity_regularizer))) ||
        (o->embeddings_constraint && (s = rnnc_constraint_clone(o->embeddings_constraint, &e->embeddings_constraint)))) {
        rnnc_layer_destroy(&e->base);
        return s;
    }
    *out = &e->base;
    return RNNC_OK;
}

static const char *const emb_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "input_dim", "output_dim",
    "embeddings_initializer", "embeddings_regularizer", "embeddings_constraint", "mask_zero",
    "quantization_config", "lora_rank", "lora_alpha", "input_length", "input_shape",
    "batch_input_shape", "batch_size", NULL};

/* input_dim / output_dim: positive ints; bools and floats are refused (spec 12.4). */
static rnnc_status read_dim(const rnnc_cfg *c, const char *key, int64_t *out)
{
    const int64_t hi = strcmp(key, "input_dim") == 0 ? RNNC_CFG_MAX_DIM : RNNC_CFG_MAX_UNITS;
    return rnnc_cfg_require_int_range(c, "Embedding", key, 1, hi, emb_keys, out);
}

rnnc_status rnnc_embedding_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    const char *W = "Embedding";
    char w[300];
    rnnc_embedding *e;
    rnnc_status s;
    int64_t in_dim, out_dim;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Embedding: config must be a map");
    RNNC_TRY(read_dim(c, "input_dim", &in_dim));
    RNNC_TRY(read_dim(c, "output_dim", &out_dim));
    const rnnc_cfg *wts = rnnc_cfg_peek(c, "weights");
    if (wts)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "Embedding: the 'weights' argument is not supported in configs; load the weights from a weights file instead%s",
                         rnnc_cfg_where(wts, w, sizeof w));
    /* Keras 2's input_length: accepted (any int or null) and ignored, as Keras 3 does. */
    const rnnc_cfg *il = rnnc_cfg_get(c, "input_length");
    if (il && il->type != RNNC_CFG_NULL && il->type != RNNC_CFG_INT)
        return rnnc_fail(RNNC_E_ARG, "Embedding: 'input_length' must be an integer or null%s",
                         rnnc_cfg_where(il, w, sizeof w));
    RNNC_TRY(emb_alloc(rnnc_layer_config_name(c), RNNC_F32, &e));
    e->input_dim = in_dim;
    e->output_dim = out_dim;
    if ((s = rnnc_layer_read_base_config(&e->base, c, true)) ||
        (s = rnnc_layer_config_initializer(c, W, "embeddings_initializer", "uniform", &e->embeddings_initializer)) ||
        (s = rnnc_layer_config_regularizer(c, W, "embeddings_regularizer", &e->embeddings_regularizer)) ||
        (s = rnnc_layer_config_constraint(c, W, "embeddings_constraint", &e->embeddings_constraint)) ||
        (s = rnnc_cfg_read_bool(c, W, "mask_zero", false, &e->mask_zero)) ||
        (s = rnnc_layer_config_no_quantization(c, W)) ||
        (s = rnnc_layer_config_input_shape(c, W, false, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(c, W, emb_keys))) {
        rnnc_layer_destroy(&e->base);
        return s;
    }
    *out = &e->base;
    return RNNC_OK;
}
