/* reshaping.c - Flatten, Reshape, RepeatVector (reshaping.h). */
#include "layers/reshaping.h"

#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/index_gather.h"
#include "layers/registry.h"

enum { K_FLATTEN, K_RESHAPE, K_REPEAT };

typedef struct reshaping {
    rnnc_layer base;
    int kind;
    bool channels_first;   /* Flatten */
    int n_target;          /* Reshape */
    int64_t target[RNNC_MAX_DIMS];
    int64_t n;             /* RepeatVector */
} reshaping;

/* The output shape for an input shape (batch kept). */
static rnnc_status out_shape(const reshaping *r, const rnnc_shape *in, rnnc_shape *o)
{
    char b[160];
    const char *cn = r->base.cls->class_name;
    *o = RNNC_SHAPE(in->ndim >= 1 ? in->dim[0] : -1);
    if (in->ndim < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': input needs a batch axis", cn, r->base.name);
    int64_t rest = 1;
    bool unknown = false;
    for (int d = 1; d < in->ndim; d++) {
        unknown |= in->dim[d] < 0;
        rest *= in->dim[d] < 0 ? 1 : in->dim[d];
    }
    if (r->kind == K_FLATTEN) {
        o->ndim = 2;
        o->dim[1] = unknown ? -1 : rest;
        return RNNC_OK;
    }
    if (r->kind == K_REPEAT) {
        if (in->ndim != 2)
            return rnnc_fail(RNNC_E_SHAPE, "RepeatVector '%s': expected a rank-2 input (batch, features), got %s",
                             r->base.name, rnnc_shape_str(in, b, sizeof b));
        *o = RNNC_SHAPE(in->dim[0], r->n, in->dim[1]);
        return RNNC_OK;
    }
    int64_t known = 1;
    int free_at = -1;
    o->ndim = 1 + r->n_target;
    for (int i = 0; i < r->n_target; i++) {
        o->dim[1 + i] = r->target[i];
        if (r->target[i] < 0)
            free_at = 1 + i;
        else
            known *= r->target[i];
    }
    if (unknown)
        return RNNC_OK;
    if (free_at >= 0 && known > 0 && rest % known == 0)
        o->dim[free_at] = rest / known;
    else if (free_at >= 0 || known != rest)
        return rnnc_fail(RNNC_E_SHAPE, "Reshape '%s': cannot reshape %s into the target shape (%lld elements per sample)",
                         r->base.name, rnnc_shape_str(in, b, sizeof b), (long long)rest);
    return RNNC_OK;
}

static rnnc_status rs_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    spec->n_outputs = 1;
    spec->dtype = l->dtype;
    return out_shape((const reshaping *)l, in, &spec->shapes[0]);
}

static rnnc_status rs_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res)
{
    reshaping *r = (reshaping *)l;
    rnnc_tensor *x = args->inputs[0], *y = x;
    rnnc_shape o;
    RNNC_TRY(out_shape(r, &x->shape, &o));
    const int64_t B = x->shape.dim[0];
    if (r->kind == K_REPEAT || (r->kind == K_FLATTEN && r->channels_first && x->shape.ndim >= 3)) {
        /* RepeatVector: y[b, k, f] = x[b, f]; channels_first Flatten: move
         * axis 1 to the end first, as Keras does */
        int64_t *idx = malloc((x->numel * (size_t)(r->kind == K_REPEAT ? r->n : 1) + 1) * sizeof *idx);
        if (!idx)
            return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", l->name);
        size_t i = 0;
        if (r->kind == K_REPEAT) {
            const int64_t F = x->shape.dim[1];
            for (int64_t b = 0; b < B; b++)
                for (int64_t k = 0; k < r->n; k++)
                    for (int64_t f = 0; f < F; f++)
                        idx[i++] = b * F + f;
        } else {
            const int64_t C = x->shape.dim[1], S = B > 0 ? (int64_t)x->numel / (B * C) : 0;
            for (int64_t b = 0; b < B; b++)
                for (int64_t sp = 0; sp < S; sp++)
                    for (int64_t c = 0; c < C; c++)
                        idx[i++] = (b * C + c) * S + sp;
        }
        rnnc_status s = rnnc__index_gather(cx, x, idx, &o, 0.0, &y);
        free(idx);
        RNNC_TRY(s);
    } else {
        RNNC_TRY(rnnc_reshape(cx, x, &o, &y));
    }
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status rs_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    const reshaping *r = (const reshaping *)l;
    if (r->kind == K_FLATTEN)
        return rnnc_cfg_set_string(cfg, "data_format",
                                   r->channels_first ? "channels_first" : "channels_last");
    if (r->kind == K_REPEAT)
        return rnnc_cfg_set_int(cfg, "n", r->n);
    rnnc_cfg *list = rnnc_cfg_list();
    if (!list)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    for (int i = 0; i < r->n_target; i++) {
        rnnc_status s = rnnc_cfg_push(list, rnnc_cfg_int(r->target[i]));
        if (s) {
            rnnc_cfg_destroy(list);
            return s;
        }
    }
    return rnnc_cfg_set(cfg, "target_shape", list);
}

#define RS_CLASS(var, cname)                                                                       \
    static const rnnc_layer_class var = {                                                          \
        .class_name = cname,                                                                       \
        .module = "keras.layers",                                                                  \
        .call = rs_call,                                                                           \
        .compute_output_spec = rs_output_spec,                                                     \
        .get_config = rs_get_config,                                                               \
    }
RS_CLASS(flatten_class, "Flatten");
RS_CLASS(reshape_class, "Reshape");
RS_CLASS(repeat_class, "RepeatVector");

static rnnc_status read_target(reshaping *r, const rnnc_cfg *cfg)
{
    char w[300];
    const rnnc_cfg *v = rnnc_cfg_get(cfg, "target_shape");
    if (!v || v->type != RNNC_CFG_LIST || v->n < 1 || v->n >= RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_ARG, "Reshape: 'target_shape' must be a list of 1 to %d integers%s",
                         RNNC_MAX_DIMS - 1, v ? rnnc_cfg_where(v, w, sizeof w) : "");
    int n_free = 0;
    for (size_t i = 0; i < v->n; i++) {
        const rnnc_cfg *e = v->items[i];
        if (e->type != RNNC_CFG_INT || e->v.i == 0 || e->v.i < -1 || e->v.i > RNNC_CFG_MAX_DIM)
            return rnnc_fail(RNNC_E_ARG, "Reshape: 'target_shape' entries must be positive integers or one -1%s",
                             rnnc_cfg_where(e, w, sizeof w));
        n_free += e->v.i == -1;
        r->target[i] = e->v.i;
    }
    if (n_free > 1)
        return rnnc_fail(RNNC_E_ARG, "Reshape: at most one 'target_shape' entry may be -1%s",
                         rnnc_cfg_where(v, w, sizeof w));
    r->n_target = (int)v->n;
    return RNNC_OK;
}

static rnnc_status from_config(const rnnc_layer_class *cls, int kind, const rnnc_cfg *cfg,
                               rnnc_layer **out)
{
    static const char *const keys[] = {"name",        "trainable",  "dtype",
                                       "data_format", "target_shape", "n",
                                       "input_shape", "batch_input_shape", "input_dim",
                                       "batch_size",  NULL};
    const char *W = cls->class_name;
    rnnc_status s = RNNC_OK;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!cfg || cfg->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: the config must be a map of arguments", W);
    reshaping *r = calloc(1, sizeof *r);
    if (!r)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_layer_init(&r->base, cls, rnnc_layer_config_name(cfg), RNNC_F32))) {
        free(r->base.name);
        free(r);
        return s;
    }
    r->kind = kind;
    if (kind == K_FLATTEN) {
        s = rnnc__read_data_format(cfg, W, &r->channels_first);
    } else if (kind == K_RESHAPE) {
        s = read_target(r, cfg);
    } else {
        s = rnnc_cfg_require_int_range(cfg, W, "n", 1, RNNC_CFG_MAX_DIM, keys, &r->n);
    }
    if (s || (s = rnnc_layer_read_base_config(&r->base, cfg, false)) ||
        (s = rnnc_layer_config_input_shape(cfg, W, true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(cfg, W, keys))) {
        rnnc_layer_destroy(&r->base);
        return s;
    }
    *out = &r->base;
    return RNNC_OK;
}

rnnc_status rnnc_flatten_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return from_config(&flatten_class, K_FLATTEN, config, out);
}
rnnc_status rnnc_reshape_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return from_config(&reshape_class, K_RESHAPE, config, out);
}
rnnc_status rnnc_repeat_vector_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return from_config(&repeat_class, K_REPEAT, config, out);
}
