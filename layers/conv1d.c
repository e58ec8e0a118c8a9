/* conv1d.c - Keras's Conv1D (conv1d.h). */
#include "layers/conv1d.h"

#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/index_gather.h"
#include "layers/registry.h"

typedef struct conv1d {
    rnnc_layer base;
    int64_t filters, kernel_size, strides, dilation, groups;
    rnnc__padding padding;
    bool channels_first, use_bias;
    rnnc_act activation;
    rnnc_initializer *kernel_init, *bias_init;
    rnnc_regularizer *kernel_reg, *bias_reg;
    rnnc_constraint *kernel_cons, *bias_cons;
    rnnc_tensor *kernel, *bias;
} conv1d;

static void conv_destroy(rnnc_layer *l)
{
    conv1d *c = (conv1d *)l;
    rnnc_initializer_destroy(c->kernel_init);
    rnnc_initializer_destroy(c->bias_init);
    rnnc_regularizer_destroy(c->kernel_reg);
    rnnc_regularizer_destroy(c->bias_reg);
    rnnc_constraint_destroy(c->kernel_cons);
    rnnc_constraint_destroy(c->bias_cons);
}

/* (L, C) of an input shape in the layer's data format. */
static rnnc_status dims(const conv1d *c, const rnnc_shape *in, int64_t *L, int64_t *C)
{
    char b[160];
    if (in->ndim != 3)
        return rnnc_fail(RNNC_E_SHAPE, "Conv1D '%s': expected a rank-3 input (batch, steps, channels), got %s",
                         c->base.name, rnnc_shape_str(in, b, sizeof b));
    *L = c->channels_first ? in->dim[2] : in->dim[1];
    *C = c->channels_first ? in->dim[1] : in->dim[2];
    if (*C < 1 || *C % c->groups)
        return rnnc_fail(RNNC_E_SHAPE, "Conv1D '%s': the input channels (%lld) must be known and divisible by groups=%lld",
                         c->base.name, (long long)*C, (long long)c->groups);
    return RNNC_OK;
}

static rnnc_status conv_build(rnnc_layer *l, const rnnc_shape *in)
{
    conv1d *c = (conv1d *)l;
    int64_t L = 0, C = 0;
    RNNC_TRY(dims(c, in, &L, &C));
    const rnnc_shape ks = RNNC_SHAPE(c->kernel_size, C / c->groups, c->filters),
                     bs = RNNC_SHAPE(c->filters);
    rnnc_regularizer *r = NULL;
    rnnc_constraint *k = NULL;
    if (c->kernel_reg)
        RNNC_TRY(rnnc_regularizer_clone(c->kernel_reg, &r));
    rnnc_status s = c->kernel_cons ? rnnc_constraint_clone(c->kernel_cons, &k) : RNNC_OK;
    if (s) {
        rnnc_regularizer_destroy(r);
        return s;
    }
    RNNC_TRY(rnnc_layer_add_weight(l, "kernel", &ks, c->kernel_init, r, k, true, &c->kernel));
    if (!c->use_bias)
        return RNNC_OK;
    r = NULL;
    k = NULL;
    if (c->bias_reg)
        RNNC_TRY(rnnc_regularizer_clone(c->bias_reg, &r));
    s = c->bias_cons ? rnnc_constraint_clone(c->bias_cons, &k) : RNNC_OK;
    if (s) {
        rnnc_regularizer_destroy(r);
        return s;
    }
    return rnnc_layer_add_weight(l, "bias", &bs, c->bias_init, r, k, true, &c->bias);
}

static rnnc_status conv_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                    rnnc_output_spec *spec)
{
    const conv1d *c = (const conv1d *)l;
    int64_t L = 0, C = 0, Lo = -1, pad = 0;
    RNNC_TRY(dims(c, in, &L, &C));
    if (L >= 0)
        rnnc__window1d(L, c->kernel_size, c->strides, c->dilation, c->padding, &Lo, &pad);
    spec->n_outputs = 1;
    spec->shapes[0] = c->channels_first ? RNNC_SHAPE(in->dim[0], c->filters, Lo)
                                        : RNNC_SHAPE(in->dim[0], Lo, c->filters);
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* Index map of group g's patches (B*Lo, K*Cg). */
static void patch_map(const conv1d *c, int64_t B, int64_t L, int64_t C, int64_t Lo, int64_t pad,
                      int64_t g, int64_t *idx)
{
    const int64_t K = c->kernel_size, Cg = C / c->groups;
    size_t i = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < Lo; o++)
            for (int64_t k = 0; k < K; k++) {
                const int64_t pos = o * c->strides + k * c->dilation - pad;
                for (int64_t ch = g * Cg; ch < (g + 1) * Cg; ch++, i++) {
                    if (pos < 0 || pos >= L)
                        idx[i] = -1;
                    else
                        idx[i] = c->channels_first ? (b * C + ch) * L + pos : (b * L + pos) * C + ch;
                }
            }
}

static rnnc_status conv_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                             rnnc_call_result *res)
{
    conv1d *c = (conv1d *)l;
    rnnc_tensor *x = args->inputs[0], *parts[64], *y;
    int64_t L = 0, C = 0, Lo = 0, pad = 0;
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    RNNC_TRY(dims(c, &x->shape, &L, &C));
    const int64_t B = x->shape.dim[0], K = c->kernel_size, G = c->groups, Cg = C / G,
                  Fg = c->filters / G;
    rnnc__window1d(L, K, c->strides, c->dilation, c->padding, &Lo, &pad);
    if (Lo < 1)
        return rnnc_fail(RNNC_E_SHAPE, "Conv1D '%s': %lld steps are too few for kernel_size %lld with dilation_rate %lld and padding \"valid\"",
                         l->name, (long long)L, (long long)K, (long long)c->dilation);
    int64_t *idx = malloc((size_t)(B * Lo * K * Cg) * sizeof *idx);
    if (!idx)
        return rnnc_fail(RNNC_E_NOMEM, "Conv1D '%s': out of memory", l->name);
    rnnc_status s = RNNC_OK;
    const rnnc_shape ps = RNNC_SHAPE(B * Lo, K * Cg), kg = RNNC_SHAPE(K * Cg, Fg);
    for (int64_t g = 0; g < G && !s; g++) {
        rnnc_tensor *p, *kslice = c->kernel, *k2;
        patch_map(c, B, L, C, Lo, pad, g, idx);
        s = rnnc__index_gather(cx, x, idx, &ps, 0.0, &p);
        if (!s && G > 1)
            s = rnnc_slice(cx, c->kernel, 2, g * Fg, Fg, &kslice);
        if (!s)
            s = rnnc_reshape(cx, kslice, &kg, &k2);
        if (!s)
            s = rnnc_matmul(cx, p, k2, false, false, &parts[g]);
    }
    free(idx);
    RNNC_TRY(s);
    if (G > 1)
        RNNC_TRY(rnnc_concat(cx, parts, (int)G, 1, &y));
    else
        y = parts[0];
    if (c->bias)
        RNNC_TRY(rnnc_add(cx, y, c->bias, &y));
    RNNC_TRY(rnnc_activation(cx, c->activation, y, &y));
    const rnnc_shape ys = RNNC_SHAPE(B, Lo, c->filters);
    RNNC_TRY(rnnc_reshape(cx, y, &ys, &y));
    if (c->channels_first)
        RNNC_TRY(rnnc__swap_last_axes(cx, y, &y));
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status conv_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    const conv1d *c = (const conv1d *)l;
    RNNC_TRY(rnnc_cfg_set_int(cfg, "filters", c->filters));
    RNNC_TRY(rnnc__set_int1(cfg, "kernel_size", c->kernel_size));
    RNNC_TRY(rnnc__set_int1(cfg, "strides", c->strides));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "padding", rnnc__padding_name(c->padding)));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "data_format",
                                 c->channels_first ? "channels_first" : "channels_last"));
    RNNC_TRY(rnnc__set_int1(cfg, "dilation_rate", c->dilation));
    RNNC_TRY(rnnc_cfg_set_int(cfg, "groups", c->groups));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "activation", rnnc_act_name(c->activation)));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "use_bias", c->use_bias));
    RNNC_TRY(rnnc_layer_config_set_initializer(cfg, "kernel_initializer", c->kernel_init));
    RNNC_TRY(rnnc_layer_config_set_initializer(cfg, "bias_initializer", c->bias_init));
    RNNC_TRY(rnnc_layer_config_set_regularizer(cfg, "kernel_regularizer", c->kernel_reg));
    RNNC_TRY(rnnc_layer_config_set_regularizer(cfg, "bias_regularizer", c->bias_reg));
    RNNC_TRY(rnnc_layer_config_set_regularizer(cfg, "activity_regularizer",
                                               l->activity_regularizer));
    RNNC_TRY(rnnc_layer_config_set_constraint(cfg, "kernel_constraint", c->kernel_cons));
    return rnnc_layer_config_set_constraint(cfg, "bias_constraint", c->bias_cons);
}

static const rnnc_layer_class conv1d_class = {
    .class_name = "Conv1D",
    .module = "keras.layers",
    .build = conv_build,
    .call = conv_call,
    .compute_output_spec = conv_output_spec,
    .get_config = conv_get_config,
    .destroy = conv_destroy,
};

static const char *const conv_keys[] = {
    "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding", "data_format",
    "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
    "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
    "kernel_constraint", "bias_constraint", "lora_rank", "lora_alpha", "input_shape",
    "batch_input_shape", "input_dim", "batch_size", NULL};

rnnc_status rnnc_conv1d_from_config(const rnnc_cfg *cfg, rnnc_layer **out)
{
    const char *W = "Conv1D";
    rnnc_status s;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!cfg || cfg->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Conv1D: the config must be a map of arguments");
    conv1d *c = calloc(1, sizeof *c);
    if (!c)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if ((s = rnnc_layer_init(&c->base, &conv1d_class, rnnc_layer_config_name(cfg), RNNC_F32))) {
        free(c->base.name);
        free(c);
        return s;
    }
    if ((s = rnnc_cfg_require_int_range(cfg, W, "filters", 1, RNNC_CFG_MAX_UNITS, conv_keys,
                                        &c->filters)) ||
        (s = rnnc__read_int1(cfg, W, "kernel_size", 0, &c->kernel_size)) ||
        (s = rnnc__read_int1(cfg, W, "strides", 1, &c->strides)) ||
        (s = rnnc__read_padding(cfg, W, true, &c->padding)) ||
        (s = rnnc__read_data_format(cfg, W, &c->channels_first)) ||
        (s = rnnc__read_int1(cfg, W, "dilation_rate", 1, &c->dilation)) ||
        (s = rnnc_cfg_read_int_range(cfg, W, "groups", 1, 1, RNNC_CFG_MAX_UNITS, &c->groups)) ||
        (s = rnnc_layer_config_activation(cfg, W, "activation", &c->activation)) ||
        (s = rnnc_cfg_read_bool(cfg, W, "use_bias", true, &c->use_bias)) ||
        (s = rnnc_layer_config_initializer(cfg, W, "kernel_initializer", "glorot_uniform",
                                           &c->kernel_init)) ||
        (s = rnnc_layer_config_initializer(cfg, W, "bias_initializer", "zeros", &c->bias_init)) ||
        (s = rnnc_layer_config_regularizer(cfg, W, "kernel_regularizer", &c->kernel_reg)) ||
        (s = rnnc_layer_config_regularizer(cfg, W, "bias_regularizer", &c->bias_reg)) ||
        (s = rnnc_layer_config_constraint(cfg, W, "kernel_constraint", &c->kernel_cons)) ||
        (s = rnnc_layer_config_constraint(cfg, W, "bias_constraint", &c->bias_cons)) ||
        (s = rnnc_layer_read_base_config(&c->base, cfg, true)) ||
        (s = rnnc_layer_config_no_quantization(cfg, W)) ||
        (s = rnnc_layer_config_input_shape(cfg, W, true, &in, &has_in)))
        goto fail;
    if (c->kernel_size < 1) {
        s = rnnc_fail(RNNC_E_ARG, "Conv1D: 'kernel_size' is required");
        goto fail;
    }
    if (c->filters % c->groups) {
        s = rnnc_fail(RNNC_E_ARG, "Conv1D: 'filters' (%lld) must be divisible by 'groups' (%lld)",
                      (long long)c->filters, (long long)c->groups);
        goto fail;
    }
    if (c->strides > 1 && c->dilation > 1) {
        s = rnnc_fail(RNNC_E_ARG, "Conv1D: strides > 1 is not compatible with dilation_rate > 1 (Keras's rule)");
        goto fail;
    }
    if ((s = rnnc_cfg_check_unread(cfg, W, conv_keys)))
        goto fail;
    *out = &c->base;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(&c->base);
    return s;
}
