/* device_model.c - a Sequential model's forward and backward on a backend
 * (device_model.h): each layer's device instance (device_layer.h), the
 * weights and their gradients on the device, the layers run in order with
 * Keras's mask propagation and backward in reverse. */
#include "framework/device_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/device_layer.h"

typedef struct dlayer_slot {
    const struct rnnc_layer_device_class *cls;
    rnnc_dlayer *inst;
} dlayer_slot;

struct rnnc_dmodel {
    rnnc_model *m;
    const rnnc_backend_ops *be;
    int n_weights, n_trainable; /* the first n_trainable weights have a grad */
    rnnc_dweight *weights;
    int n_layers;
    dlayer_slot *layers;
    rnnc_bbuf *x;         /* the uploaded input (float32) */
    float *x_f32;         /* host float32 copy of a non-float32 input */
    size_t x_f32_cap;
    size_t allocs;        /* buffers allocated on be */
    bool pending;         /* a training forward waits for its backward */
    const rnnc_bbuf *y;
    rnnc_shape y_shape;
    const rnnc_bbuf *logits; /* rnnc_dmodel_logits */
    rnnc_act logits_act;
    int logits_layer;        /* the layer that set them */
};

rnnc_status rnnc__dlayer_refuse(const rnnc_layer *l, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return rnnc_fail(RNNC_E_UNSUPPORTED, "layer '%s' (%s): %s", l->name, l->cls->class_name, what);
}

rnnc_status rnnc__dlayer_need_ops(const rnnc_layer *l, const rnnc_backend_ops *be, const rnnc_bop *ops,
                                  int n)
{
    for (int i = 0; i < n; i++)
        if (!be->supports(ops[i], RNNC_F32))
            return rnnc__dlayer_refuse(l, "the %s backend has no %s op", be->name, rnnc_bop_name(ops[i]));
    return RNNC_OK;
}

static rnnc_status dm_alloc(rnnc_dmodel *dm, rnnc_dtype dtype, size_t n, rnnc_bbuf **out)
{
    RNNC_TRY(dm->be->alloc(dtype, n, out));
    dm->allocs++;
    return RNNC_OK;
}

rnnc_status rnnc__dbuf_ensure(rnnc_dmodel *dm, rnnc_dtype dtype, size_t n, rnnc_bbuf **b)
{
    if (*b && (*b)->n == n && (*b)->dtype == dtype)
        return RNNC_OK;
    dm->be->free(*b);
    *b = NULL;
    return dm_alloc(dm, dtype, n, b);
}

size_t rnnc__dmodel_allocs(const rnnc_dmodel *dm) { return dm ? dm->allocs : 0; }

const rnnc_backend_ops *rnnc_dmodel_backend(const rnnc_dmodel *dm) { return dm->be; }

rnnc_dweight *rnnc_dmodel_weights(rnnc_dmodel *dm, int *n)
{
    *n = dm->n_weights;
    return dm->weights;
}

void rnnc_dmodel_destroy(rnnc_dmodel *dm)
{
    if (!dm)
        return;
    for (int i = 0; i < dm->n_layers; i++)
        if (dm->layers[i].inst)
            dm->layers[i].cls->destroy(dm->layers[i].inst);
    for (int i = 0; i < dm->n_weights; i++) {
        dm->be->free(dm->weights[i].value);
        dm->be->free(dm->weights[i].grad);
        dm->be->free(dm->weights[i].grad_sq);
    }
    dm->be->free(dm->x);
    free(dm->x_f32);
    free(dm->layers);
    free(dm->weights);
    free(dm);
}

/* Keras's argument for a weight's regularizer or constraint: "kernel",
 * "recurrent" (recurrent_kernel), "bias", "embeddings". */
static int keras_arg_len(const char *weight)
{
    const size_t n = strlen(weight), k = strlen("_kernel");
    return (int)(n > k && strcmp(weight + n - k, "_kernel") == 0 ? n - k : n);
}

/* What every class would refuse alike. */
static rnnc_status check_common(const rnnc_layer *l)
{
    if (!l->cls->device)
        return rnnc__dlayer_refuse(l, "the %s layer has no device implementation", l->cls->class_name);
    if (rnnc_layer_precision(l) != RNNC_PREC_NONE)
        return rnnc__dlayer_refuse(l, "the %s dtype policy has no device implementation (float32 only)",
                                   rnnc_dtype_policy_name(l->policy));
    if (l->dtype != RNNC_F32)
        return rnnc__dlayer_refuse(l, "dtype %s has no device implementation (float32 only)",
                                   rnnc_dtype_name(l->dtype));
    if (l->activity_regularizer)
        return rnnc__dlayer_refuse(l, "activity_regularizer has no device implementation (the CPU path applies it)");
    rnnc_weight *w[16];
    int n;
    RNNC_TRY(rnnc_layer_weights(l, w, 16, &n));
    if (n > 16)
        return rnnc__dlayer_refuse(l, "%d weights; a device layer has at most 16", n);
    for (int i = 0; i < n; i++) {
        const char *what = w[i]->regularizer ? "regularizer" : w[i]->constraint ? "constraint" : NULL;
        if (what)
            return rnnc__dlayer_refuse(l, "%.*s_%s has no device implementation (the CPU path applies it)",
                                       keras_arg_len(w[i]->name), w[i]->name, what);
        if (w[i]->value->dtype != RNNC_F32)
            return rnnc__dlayer_refuse(l, "weight '%s' is %s; the device runs float32", w[i]->name,
                                       rnnc_dtype_name(w[i]->value->dtype));
    }
    return RNNC_OK;
}

static rnnc_status collect_weights(rnnc_dmodel *dm)
{
    rnnc_model *m = dm->m;
    rnnc_weight *dummy[1];
    int n, n_tr = 0;
    RNNC_TRY(rnnc_model_weights(m, dummy, 0, &n));
    for (int i = 0; i < m->n_layers; i++) {
        int k;
        RNNC_TRY(rnnc_layer_trainable_weights(m->layers[i], true, dummy, 0, &k));
        n_tr += k;
    }
    rnnc_weight **w = malloc((size_t)(n ? n : 1) * sizeof *w);
    dm->weights = calloc((size_t)(n ? n : 1), sizeof *dm->weights);
    if (!w || !dm->weights) {
        free(w);
        return rnnc_fail(RNNC_E_NOMEM, "device model: out of memory");
    }
    rnnc_status s = rnnc_model_weights(m, w, n, &n);
    for (int i = 0; s == RNNC_OK && i < n; i++)
        dm->weights[i].host = w[i];
    dm->n_weights = n;
    dm->n_trainable = n_tr; /* rnnc_model_weights puts them first */
    free(w);
    return s;
}

static rnnc_status alloc_weights(rnnc_dmodel *dm)
{
    for (int i = 0; i < dm->n_weights; i++) {
        rnnc_dweight *w = &dm->weights[i];
        RNNC_TRY(dm_alloc(dm, RNNC_F32, w->host->value->numel, &w->value));
        if (i < dm->n_trainable) {
            RNNC_TRY(dm_alloc(dm, RNNC_F32, w->host->value->numel, &w->grad));
            RNNC_TRY(dm->be->fill(w->grad, 0.0f));
            if (w->rows) {
                RNNC_TRY(dm_alloc(dm, RNNC_F32, w->host->value->numel, &w->grad_sq));
                RNNC_TRY(dm->be->fill(w->grad_sq, 0.0f));
            }
        }
    }
    return rnnc_dmodel_upload(dm);
}

static rnnc_status create_layers(rnnc_dmodel *dm)
{
    rnnc_model *m = dm->m;
    rnnc_shape shape = m->input_shape;
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_layer *l = m->layers[i];
        RNNC_TRY(check_common(l));
        const struct rnnc_layer_device_class *cls = l->cls->device;
        if (cls->host_input && i > 0)
            return rnnc__dlayer_refuse(l, "reads the host batch, so it runs on a device only directly on the model input (here after layer '%s')",
                                       m->layers[i - 1]->name);
        rnnc_dlayer_init in = {
            .dm = dm,
            .layer = l,
            .be = dm->be,
            .in_shape = shape,
            .in_dtype = i == 0 ? m->input_dtype : RNNC_F32,
            .on_input = i == 0,
            .weights = dm->weights,
            .n_weights = dm->n_weights,
        };
        dm->layers[i].cls = cls;
        RNNC_TRY(cls->create(&in, &dm->layers[i].inst));
        rnnc_output_spec spec;
        RNNC_TRY(rnnc_layer_output_spec(l, &shape, &spec));
        shape = spec.shapes[0];
    }
    return RNNC_OK;
}

rnnc_status rnnc_dmodel_create(rnnc_model *m, const rnnc_backend_ops *be, rnnc_dmodel **out)
{
    *out = NULL;
    if (!m || !be)
        return rnnc_fail(RNNC_E_ARG, "device model: needs a model and a backend");
    if (m->graph)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "device model: '%s' is a Functional model; only Sequential models run on a device",
                         m->name);
    if (m->n_layers == 0)
        return rnnc_fail(RNNC_E_STATE, "device model: Sequential '%s' has no layers", m->name);
    if (!m->has_input)
        return rnnc_fail(RNNC_E_STATE, "device model: Sequential '%s' has no input shape (add an InputLayer)", m->name);
    for (int i = 0; i < m->n_layers; i++)
        if (!m->layers[i]->built)
            RNNC_TRY(rnnc_model_build(m, &m->input_shape));
    static const rnnc_bop base_ops[] = {RNNC_BOP_ALLOC, RNNC_BOP_FILL};
    for (size_t i = 0; i < sizeof base_ops / sizeof *base_ops; i++)
        if (!be->supports(base_ops[i], RNNC_F32))
            return rnnc_fail(RNNC_E_UNSUPPORTED, "device model: the %s backend has no %s op", be->name,
                             rnnc_bop_name(base_ops[i]));
    rnnc_dmodel *dm = calloc(1, sizeof *dm);
    if (!dm || !(dm->layers = calloc((size_t)m->n_layers, sizeof *dm->layers))) {
        free(dm);
        return rnnc_fail(RNNC_E_NOMEM, "device model: out of memory");
    }
    dm->m = m;
    dm->be = be;
    dm->n_layers = m->n_layers;
    rnnc_status s;
    if ((s = collect_weights(dm)) != RNNC_OK || (s = create_layers(dm)) != RNNC_OK ||
        (s = alloc_weights(dm)) != RNNC_OK) {
        rnnc_dmodel_destroy(dm);
        return s;
    }
    *out = dm;
    return RNNC_OK;
}

rnnc_status rnnc_dmodel_upload(rnnc_dmodel *dm)
{
    for (int i = 0; i < dm->n_weights; i++)
        RNNC_TRY(dm->be->upload(dm->weights[i].value, dm->weights[i].host->value->data));
    return RNNC_OK;
}

rnnc_status rnnc_dmodel_download(rnnc_dmodel *dm)
{
    for (int i = 0; i < dm->n_weights; i++)
        RNNC_TRY(dm->be->download(dm->weights[i].host->value->data, dm->weights[i].value));
    return RNNC_OK;
}

rnnc_status rnnc_dmodel_zero_grad(rnnc_dmodel *dm)
{
    for (int i = 0; i < dm->n_weights; i++) {
        if (dm->weights[i].grad)
            RNNC_TRY(dm->be->fill(dm->weights[i].grad, 0.0f));
        if (dm->weights[i].grad_sq)
            RNNC_TRY(dm->be->fill(dm->weights[i].grad_sq, 0.0f));
    }
    return RNNC_OK;
}

/* The batch against the model's input spec (-1 = any). */
static rnnc_status check_input(const rnnc_dmodel *dm, const rnnc_tensor *x)
{
    const rnnc_model *m = dm->m;
    char s1[160], s2[160];
    bool ok = x->shape.ndim == m->input_shape.ndim && x->numel > 0;
    for (int i = 0; ok && i < x->shape.ndim; i++)
        ok = m->input_shape.dim[i] < 0 || m->input_shape.dim[i] == x->shape.dim[i];
    if (!ok)
        return rnnc_fail(RNNC_E_SHAPE, "device model '%s': a batch of shape %s does not fit the model input %s",
                         m->name, rnnc_shape_str(&x->shape, s1, sizeof s1),
                         rnnc_shape_str(&m->input_shape, s2, sizeof s2));
    if (x->device != RNNC_DEVICE_CPU)
        return rnnc_fail(RNNC_E_ARG, "device model '%s': the batch must be a host tensor", m->name);
    return RNNC_OK;
}

/* x as float32 on the device (Keras casts a float layer's input). */
static rnnc_status upload_input(rnnc_dmodel *dm, const rnnc_tensor *x)
{
    RNNC_TRY(rnnc__dbuf_ensure(dm, RNNC_F32, x->numel, &dm->x));
    if (x->dtype == RNNC_F32)
        return dm->be->upload(dm->x, x->data);
    if (dm->x_f32_cap < x->numel) {
        float *p = realloc(dm->x_f32, x->numel * sizeof *p);
        if (!p)
            return rnnc_fail(RNNC_E_NOMEM, "device model: out of memory");
        dm->x_f32 = p;
        dm->x_f32_cap = x->numel;
    }
    for (size_t i = 0; i < x->numel; i++)
        dm->x_f32[i] = (float)rnnc_tensor_get(x, i);
    return dm->be->upload(dm->x, dm->x_f32);
}

rnnc_status rnnc_dmodel_forward(rnnc_dmodel *dm, const rnnc_tensor *x, bool training, const rnnc_bbuf **y,
                                rnnc_shape *y_shape, const uint8_t **y_mask)
{
    if (!dm || !x || !y)
        return rnnc_fail(RNNC_E_ARG, "device model forward: needs a model, a batch and somewhere for y");
    dm->pending = false;
    dm->y = NULL;
    dm->logits = NULL;
    RNNC_TRY(check_input(dm, x));
    rnnc_dlayer_io io = {.x_shape = x->shape, .x_host = x, .training = training};
    if (!dm->layers[0].cls->host_input) {
        RNNC_TRY(upload_input(dm, x));
        io.x = dm->x;
    }
    int logits_layer = -1;
    for (int i = 0; i < dm->n_layers; i++) {
        const rnnc_layer *l = dm->m->layers[i];
        const rnnc_bbuf *in_logits = io.logits;
        io.logits = NULL;
        rnnc_status s = dm->layers[i].cls->forward(dm->layers[i].inst, &io);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "Sequential '%s', layer %d: %s '%s': ", dm->m->name, i,
                                     l->cls->class_name, l->name);
        if (io.logits)
            logits_layer = i;
        else if (in_logits && dm->layers[i].cls->passes_logits && io.y == io.x)
            io.logits = in_logits; /* logits_act as it was */
        io.x = io.y;
        io.x_shape = io.y_shape;
        io.x_host = NULL;
        io.mask = io.y_mask;
    }
    dm->y = io.y;
    dm->y_shape = io.y_shape;
    if (io.logits && dm->n_trainable > 0 && dm->layers[logits_layer].cls->backward_logits) {
        dm->logits = io.logits;
        dm->logits_act = io.logits_act;
        dm->logits_layer = logits_layer;
    }
    dm->pending = training;
    *y = io.y;
    if (y_shape)
        *y_shape = io.y_shape;
    if (y_mask)
        *y_mask = io.y_mask;
    return RNNC_OK;
}

const rnnc_bbuf *rnnc_dmodel_logits(const rnnc_dmodel *dm, rnnc_act *act)
{
    if (dm->logits && act)
        *act = dm->logits_act;
    return dm->logits;
}

static rnnc_status backward_from(rnnc_dmodel *dm, const rnnc_bbuf *dy, bool logits);

rnnc_status rnnc_dmodel_backward(rnnc_dmodel *dm, const rnnc_bbuf *dy) { return backward_from(dm, dy, false); }

rnnc_status rnnc_dmodel_backward_logits(rnnc_dmodel *dm, const rnnc_bbuf *dlogits)
{
    if (dm && !dm->logits)
        return rnnc_fail(RNNC_E_STATE, "device model '%s': the latest forward's output has no logits", dm->m->name);
    return backward_from(dm, dlogits, true);
}

static rnnc_status backward_from(rnnc_dmodel *dm, const rnnc_bbuf *dy, bool logits)
{
    if (!dm || !dy)
        return rnnc_fail(RNNC_E_ARG, "device model backward: needs a model and dy");
    if (!dm->pending)
        return rnnc_fail(RNNC_E_STATE, "device model '%s': backward needs a training forward before it (one backward per forward)",
                         dm->m->name);
    if (dy->be != dm->be || dy->dtype != RNNC_F32 || dy->n != dm->y->n)
        return rnnc_fail(RNNC_E_ARG, "device model '%s': dy must be a float32 %s buffer of %zu elements (y's), got a %s %s buffer of %zu",
                         dm->m->name, dm->be->name, dm->y->n, rnnc_dtype_name(dy->dtype),
                         dy->be ? dy->be->name : "(no backend)", dy->n);
    dm->pending = false;
    const rnnc_bbuf *g = dy;
    for (int i = dm->n_layers - 1; i >= 0; i--) {
        const rnnc_layer *l = dm->m->layers[i];
        const rnnc_bbuf *dx = NULL;
        const struct rnnc_layer_device_class *cls = dm->layers[i].cls;
        rnnc_status s = (logits && i == dm->logits_layer ? cls->backward_logits : cls->backward)(
            dm->layers[i].inst, g, i > 0 ? &dx : NULL);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "Sequential '%s', layer %d: %s '%s' backward: ", dm->m->name, i,
                                     l->cls->class_name, l->name);
        g = dx;
    }
    return RNNC_OK;
}
