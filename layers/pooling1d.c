/* pooling1d.c - the 1-D pooling layers (pooling1d.h). */
#include "layers/pooling1d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/index_gather.h"
#include "layers/registry.h"

typedef struct pool1d {
    rnnc_layer base;
    bool is_max, global, channels_first, keepdims;
    int64_t pool, strides;
    rnnc__padding padding;
} pool1d;

static rnnc_status in_dims(const pool1d *p, const rnnc_shape *in, int64_t *L, int64_t *C)
{
    char b[160];
    if (in->ndim != 3)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': expected a rank-3 input (batch, steps, features), got %s",
                         p->base.cls->class_name, p->base.name, rnnc_shape_str(in, b, sizeof b));
    *L = p->channels_first ? in->dim[2] : in->dim[1];
    *C = p->channels_first ? in->dim[1] : in->dim[2];
    return RNNC_OK;
}

static rnnc_status pool_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                    rnnc_output_spec *spec)
{
    const pool1d *p = (const pool1d *)l;
    int64_t L = 0, C = 0, Lo = 1, pad = 0;
    RNNC_TRY(in_dims(p, in, &L, &C));
    if (!p->global && L >= 0)
        rnnc__window1d(L, p->pool, p->strides, 1, p->padding, &Lo, &pad);
    else if (!p->global)
        Lo = -1;
    spec->n_outputs = 1;
    spec->dtype = l->dtype;
    if (p->global && !p->keepdims)
        spec->shapes[0] = RNNC_SHAPE(in->dim[0], C);
    else
        spec->shapes[0] = p->channels_first ? RNNC_SHAPE(in->dim[0], C, Lo)
                                            : RNNC_SHAPE(in->dim[0], Lo, C);
    return RNNC_OK;
}

/* x in the layer's format -> windows (B, Lo, C, pool) channels-last, with
 * fill where a window leaves the input; *count (B*Lo*C) real taps. */
static rnnc_status windows(const pool1d *p, rnnc_ctx *cx, rnnc_tensor *x, int64_t L, int64_t C,
                           int64_t Lo, int64_t pool, int64_t stride, int64_t pad, double fill,
                           rnnc_tensor **w, rnnc_tensor *count)
{
    const int64_t B = x->shape.dim[0];
    int64_t *idx = malloc((size_t)(B * Lo * C * pool > 0 ? B * Lo * C * pool : 1) * sizeof *idx);
    if (!idx)
        return rnnc_fail(RNNC_E_NOMEM, "%s: out of memory", p->base.name);
    size_t i = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < Lo; o++)
            for (int64_t ch = 0; ch < C; ch++) {
                int64_t n = 0;
                for (int64_t k = 0; k < pool; k++, i++) {
                    const int64_t pos = o * stride + k - pad;
                    const bool in = pos >= 0 && pos < L;
                    idx[i] = !in ? -1
                                 : p->channels_first ? (b * C + ch) * L + pos
                                                     : (b * L + pos) * C + ch;
                    n += in;
                }
                if (count)
                    rnnc_tensor_set(count, (size_t)((b * Lo + o) * C + ch), (double)n);
            }
    const rnnc_shape ws = RNNC_SHAPE(B, Lo, C, pool);
    rnnc_status s = rnnc__index_gather(cx, x, idx, &ws, fill, w);
    free(idx);
    return s;
}

static rnnc_status pool_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                             rnnc_call_result *res)
{
    pool1d *p = (pool1d *)l;
    rnnc_tensor *x = args->inputs[0], *w, *y, *count = NULL;
    int64_t L = 0, C = 0, Lo = 1, pad = 0;
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    RNNC_TRY(in_dims(p, &x->shape, &L, &C));
    const int64_t B = x->shape.dim[0];
    const int64_t pool = p->global ? L : p->pool, stride = p->global ? 1 : p->strides;
    if (!p->global)
        rnnc__window1d(L, pool, stride, 1, p->padding, &Lo, &pad);
    if (Lo < 1 || L < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': %lld steps are too few for pool_size %lld",
                         l->cls->class_name, l->name, (long long)L, (long long)pool);
    const rnnc_shape cs = RNNC_SHAPE(B, Lo, C);
    if (!p->is_max)
        RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &cs, &count));
    RNNC_TRY(windows(p, cx, x, L, C, Lo, pool, stride, pad, p->is_max ? -INFINITY : 0.0, &w,
                     count));
    if (p->is_max) {
        RNNC_TRY(rnnc_slice(cx, w, 3, 0, 1, &y));
        for (int64_t k = 1; k < pool; k++) {
            rnnc_tensor *t;
            RNNC_TRY(rnnc_slice(cx, w, 3, k, 1, &t));
            RNNC_TRY(rnnc_maximum(cx, y, t, &y));
        }
        RNNC_TRY(rnnc_reshape(cx, y, &cs, &y));
    } else if (p->global && args->mask) {
        /* mean over the kept steps: sum(x * m) / sum(m) */
        rnnc_tensor *m, *num, *den;
        const rnnc_shape ms = RNNC_SHAPE(B, 1, C, L);
        RNNC_TRY(rnnc_ctx_tensor(cx, x->dtype, &ms, &m));
        for (int64_t b = 0; b < B; b++)
            for (int64_t ch = 0; ch < C; ch++)
                for (int64_t t = 0; t < L; t++)
                    rnnc_tensor_set(m, (size_t)((b * C + ch) * L + t),
                                    rnnc_tensor_get(args->mask, (size_t)(b * L + t)) != 0.0);
        const int ax = 3;
        RNNC_TRY(rnnc_mul(cx, w, m, &num));
        RNNC_TRY(rnnc_sum(cx, num, &ax, 1, false, &num));
        RNNC_TRY(rnnc_sum(cx, m, &ax, 1, false, &den));
        RNNC_TRY(rnnc_div(cx, num, den, &y));
    } else {
        const int ax = 3;
        RNNC_TRY(rnnc_sum(cx, w, &ax, 1, false, &y));
        RNNC_TRY(rnnc_div(cx, y, count, &y));
    }
    /* y (B, Lo, C) channels-last */
    if (p->global && !p->keepdims) {
        const rnnc_shape s2 = RNNC_SHAPE(B, C);
        RNNC_TRY(rnnc_reshape(cx, y, &s2, &y));
    } else if (p->channels_first) {
        RNNC_TRY(rnnc__swap_last_axes(cx, y, &y));
    }
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status pool_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    const pool1d *p = (const pool1d *)l;
    if (!p->global) {
        RNNC_TRY(rnnc__set_int1(cfg, "pool_size", p->pool));
        RNNC_TRY(rnnc_cfg_set_string(cfg, "padding", rnnc__padding_name(p->padding)));
        RNNC_TRY(rnnc__set_int1(cfg, "strides", p->strides));
    }
    RNNC_TRY(rnnc_cfg_set_string(cfg, "data_format",
                                 p->channels_first ? "channels_first" : "channels_last"));
    return p->global ? rnnc_cfg_set_bool(cfg, "keepdims", p->keepdims) : RNNC_OK;
}

#define POOL_CLASS(var, cname)                                                            \
    static const rnnc_layer_class var = {                                                          \
        .class_name = cname,                                                                       \
        .module = "keras.layers",                                                                  \
        .call = pool_call,                                                                         \
        .compute_output_spec = pool_output_spec,                                                   \
        .get_config = pool_get_config,                                                             \
    }
POOL_CLASS(max_class, "MaxPooling1D");
POOL_CLASS(avg_class, "AveragePooling1D");
POOL_CLASS(gavg_class, "GlobalAveragePooling1D");
POOL_CLASS(gmax_class, "GlobalMaxPooling1D");

static const char *const pool_keys[] = {"name",        "trainable",  "dtype",
                                        "pool_size",   "padding",    "strides",
                                        "data_format", "input_shape", "batch_input_shape",
                                        "input_dim",   "batch_size", NULL};
static const char *const global_keys[] = {"name",       "trainable",         "dtype",
                                          "data_format", "keepdims",         "input_shape",
                                          "batch_input_shape", "input_dim", "batch_size",
                                          NULL};

static rnnc_status from_config(const rnnc_layer_class *cls, bool is_max, bool global,
                               const rnnc_cfg *cfg, rnnc_layer **out)
{
    const char *W = cls->class_name;
    rnnc_status s;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!cfg || cfg->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: the config must be a map of arguments", W);
    pool1d *p = calloc(1, sizeof *p);
    if (!p)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_layer_init(&p->base, cls, rnnc_layer_config_name(cfg), RNNC_F32))) {
        free(p->base.name);
        free(p);
        return s;
    }
    p->is_max = is_max;
    p->global = global;
    if (global) {
        s = rnnc_cfg_read_bool(cfg, W, "keepdims", false, &p->keepdims);
    } else {
        s = rnnc__read_int1(cfg, W, "pool_size", 0, &p->pool);
        if (!s && p->pool < 1)
            s = rnnc_fail(RNNC_E_ARG, "%s: 'pool_size' is required", W);
        if (!s)
            s = rnnc__read_int1(cfg, W, "strides", p->pool, &p->strides);
        if (!s)
            s = rnnc__read_padding(cfg, W, false, &p->padding);
    }
    if (s || (s = rnnc__read_data_format(cfg, W, &p->channels_first)) ||
        (s = rnnc_layer_read_base_config(&p->base, cfg, false)) ||
        (s = rnnc_layer_config_input_shape(cfg, W, true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(cfg, W, global ? global_keys : pool_keys))) {
        rnnc_layer_destroy(&p->base);
        return s;
    }
    *out = &p->base;
    return RNNC_OK;
}

rnnc_status rnnc_max_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return from_config(&max_class, true, false, config, out);
}
rnnc_status rnnc_average_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return from_config(&avg_class, false, false, config, out);
}
rnnc_status rnnc_global_average_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return from_config(&gavg_class, false, true, config, out);
}
rnnc_status rnnc_global_max_pooling1d_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    return from_config(&gmax_class, true, true, config, out);
}
