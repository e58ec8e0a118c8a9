/* dense.c - the Dense layer: construction, config, build and forward.
 * The backward comes from the ops it is composed of (matmul, add, the
 * activation), so there is nothing to differentiate by hand here. */
#include "layers/dense.h"

#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

static void dense_destroy(rnnc_layer *l)
{
    rnnc_dense *d = (rnnc_dense *)l;
    rnnc_initializer_destroy(d->kernel_initializer);
    rnnc_initializer_destroy(d->bias_initializer);
    rnnc_regularizer_destroy(d->kernel_regularizer);
    rnnc_regularizer_destroy(d->bias_regularizer);
    rnnc_constraint_destroy(d->kernel_constraint);
    rnnc_constraint_destroy(d->bias_constraint);
}

/* Clones of the templates for one weight (the weight owns its copies). */
static rnnc_status clone_pair(const rnnc_regularizer *r, const rnnc_constraint *c,
                              rnnc_regularizer **ro, rnnc_constraint **co)
{
    *ro = NULL;
    *co = NULL;
    if (r)
        RNNC_TRY(rnnc_regularizer_clone(r, ro));
    if (c) {
        rnnc_status s = rnnc_constraint_clone(c, co);
        if (s != RNNC_OK) {
            rnnc_regularizer_destroy(*ro);
            *ro = NULL;
            return s;
        }
    }
    return RNNC_OK;
}

static rnnc_status dense_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_dense *d = (rnnc_dense *)l;
    char s[160];
    if (in->ndim < 2)
        return rnnc_fail(RNNC_E_SHAPE, "Dense: input must have rank >= 2, got shape %s",
                         rnnc_shape_str(in, s, sizeof s));
    int64_t fan_in = in->dim[in->ndim - 1];
    if (fan_in <= 0)
        return rnnc_fail(RNNC_E_SHAPE, "Dense: the last dimension of the input must be defined, got shape %s",
                         rnnc_shape_str(in, s, sizeof s));
    rnnc_regularizer *r;
    rnnc_constraint *c;
    rnnc_shape ks = RNNC_SHAPE(fan_in, d->units);
    RNNC_TRY(clone_pair(d->kernel_regularizer, d->kernel_constraint, &r, &c));
    RNNC_TRY(rnnc_layer_add_weight(l, "kernel", &ks, d->kernel_initializer, r, c, true, &d->kernel));
    if (d->use_bias) {
        rnnc_shape bs = RNNC_SHAPE(d->units);
        RNNC_TRY(clone_pair(d->bias_regularizer, d->bias_constraint, &r, &c));
        RNNC_TRY(rnnc_layer_add_weight(l, "bias", &bs, d->bias_initializer, r, c, true, &d->bias));
    }
    return RNNC_OK;
}

static rnnc_status dense_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                     rnnc_output_spec *spec)
{
    const rnnc_dense *d = (const rnnc_dense *)l;
    char s[160];
    if (in->ndim < 2)
        return rnnc_fail(RNNC_E_SHAPE, "Dense: input must have rank >= 2, got shape %s",
                         rnnc_shape_str(in, s, sizeof s));
    spec->n_outputs = 1;
    spec->shapes[0] = *in;
    spec->shapes[0].dim[in->ndim - 1] = d->units;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* y = act(x @ K + b); rank > 2 is flattened to (prod(leading), in) and
 * x @ K + b reshaped back before the activation. */
static rnnc_status dense_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                              rnnc_call_result *res)
{
    rnnc_dense *d = (rnnc_dense *)l;
    rnnc_tensor *x = args->inputs[0], *x2 = x, *y;
    char s[160], k[160];
    RNNC_TRY(rnnc_layer_check_input_dtype(l, x));
    const int nd = x->shape.ndim;
    if (nd < 2)
        return rnnc_fail(RNNC_E_SHAPE, "Dense: input must have rank >= 2, got shape %s",
                         rnnc_shape_str(&x->shape, s, sizeof s));
    if (x->shape.dim[nd - 1] != d->kernel->shape.dim[0])
        return rnnc_fail(RNNC_E_SHAPE, "Dense: input shape %s does not match the kernel %s (last axis must be %lld)",
                         rnnc_shape_str(&x->shape, s, sizeof s), rnnc_shape_str(&d->kernel->shape, k, sizeof k),
                         (long long)d->kernel->shape.dim[0]);
    if (nd > 2) {
        rnnc_shape flat = RNNC_SHAPE(-1, x->shape.dim[nd - 1]);
        RNNC_TRY(rnnc_reshape(cx, x, &flat, &x2));
    }
    /* Under a 16-bit dtype policy the weights are read rounded
     * (framework/precision.h; no-ops otherwise). In TensorFlow's graph mode
     * (predict, fit) a bfloat16 matmul + bias + one of these activations is
     * one fused oneDNN op with a single rounding (rnnc_layer_call's, at the
     * output); float16 is not fused: each op's result is rounded. */
    const rnnc_precision prec = rnnc_layer_precision(l);
    const rnnc_act a = d->activation;
    const bool fused = prec != RNNC_PREC_F16 &&
                       (a == RNNC_ACT_LINEAR || a == RNNC_ACT_TANH || a == RNNC_ACT_SIGMOID ||
                        a == RNNC_ACT_RELU || a == RNNC_ACT_RELU6 || a == RNNC_ACT_ELU ||
                        a == RNNC_ACT_LEAKY_RELU);
    rnnc_tensor *kern, *bias;
    RNNC_TRY(rnnc_layer_read_weight(l, cx, d->kernel, &kern));
    RNNC_TRY(rnnc_matmul(cx, x2, kern, false, false, &y));
    if (prec == RNNC_PREC_F16 && d->bias)
        RNNC_TRY(rnnc_round_op(cx, y, prec, &y));
    if (d->bias) {
        RNNC_TRY(rnnc_layer_read_weight(l, cx, d->bias, &bias));
        RNNC_TRY(rnnc_add(cx, y, bias, &y));
    }
    if (!fused)
        RNNC_TRY(rnnc_round_op(cx, y, prec, &y));
    if (nd > 2) {
        rnnc_shape out = x->shape;
        out.dim[nd - 1] = d->units;
        RNNC_TRY(rnnc_reshape(cx, y, &out, &y));
    }
    /* The activation is the call's last op at any rank (its values do not
     * depend on the reshape: element-wise or over the last axis), so the
     * crossentropies find a softmax/sigmoid output's logits on its tape
     * node (optim/losses.c logits_of) as Keras's _keras_logits, which the
     * activation sets on the (B, ..., units) tensor. */
    if (d->activation != RNNC_ACT_LINEAR)
        RNNC_TRY(rnnc_activation(cx, d->activation, y, &y));
    res->n_outputs = 1;
    res->outputs[0] = y;
    return RNNC_OK;
}

static rnnc_status dense_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_dense *d = (const rnnc_dense *)l;
    RNNC_TRY(rnnc_cfg_set_int(c, "units", d->units));
    RNNC_TRY(rnnc_cfg_set_string(c, "activation", rnnc_act_name(d->activation)));
    RNNC_TRY(rnnc_cfg_set_bool(c, "use_bias", d->use_bias));
    RNNC_TRY(rnnc_layer_config_set_initializer(c, "kernel_initializer", d->kernel_initializer));
    RNNC_TRY(rnnc_layer_config_set_initializer(c, "bias_initializer", d->bias_initializer));
    RNNC_TRY(rnnc_layer_config_set_regularizer(c, "kernel_regularizer", d->kernel_regularizer));
    RNNC_TRY(rnnc_layer_config_set_regularizer(c, "bias_regularizer", d->bias_regularizer));
    RNNC_TRY(rnnc_layer_config_set_constraint(c, "kernel_constraint", d->kernel_constraint));
    RNNC_TRY(rnnc_layer_config_set_constraint(c, "bias_constraint", d->bias_constraint));
    RNNC_TRY(rnnc_cfg_set_null(c, "quantization_config"));
    return RNNC_OK;
}

const rnnc_layer_class rnnc_dense_class = {
    .class_name = "Dense",
    .module = "keras.layers",
    .build = dense_build,
    .call = dense_call,
    .compute_output_spec = dense_output_spec,
    .get_config = dense_get_config,
    .destroy = dense_destroy,
    .supports_masking = true,
    .device = &rnnc_dense_device_class,
};

rnnc_dense_options rnnc_dense_options_default(int64_t units)
{
    rnnc_dense_options o;
    memset(&o, 0, sizeof o);
    o.dtype = RNNC_F32;
    o.units = units;
    o.activation = RNNC_ACT_LINEAR;
    o.use_bias = true;
    return o;
}

/* A zeroed Dense with the base set up; *out is freed by the caller on failure. */
static rnnc_status dense_alloc(const char *name, rnnc_dtype dtype, rnnc_dense **out)
{
    rnnc_dense *d = calloc(1, sizeof *d);
    *out = d;
    if (!d)
        return rnnc_fail(RNNC_E_NOMEM, "Dense: out of memory");
    return rnnc_layer_init(&d->base, &rnnc_dense_class, name, dtype);
}

static rnnc_status check_units(int64_t units)
{
    if (units <= 0 || units > RNNC_CFG_MAX_UNITS)
        return rnnc_fail(RNNC_E_ARG, "Dense: 'units' must be a positive integer of at most %lld, got %lld",
                         (long long)RNNC_CFG_MAX_UNITS, (long long)units);
    return RNNC_OK;
}

rnnc_status rnnc_dense_create(const rnnc_dense_options *o, rnnc_layer **out)
{
    rnnc_dense *d = NULL;
    rnnc_status s;
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "Dense: options are NULL");
    if ((s = check_units(o->units)) != RNNC_OK)
        return s;
    if ((s = dense_alloc(o->name, o->dtype, &d)) != RNNC_OK)
        goto fail;
    d->units = o->units;
    d->activation = o->activation;
    d->use_bias = o->use_bias;
    if (o->kernel_initializer)
        s = rnnc_initializer_clone(o->kernel_initializer, &d->kernel_initializer);
    else
        s = rnnc_initializer_from_name("glorot_uniform", "Dense.kernel_initializer", &d->kernel_initializer);
    if (s != RNNC_OK)
        goto fail;
    if (o->bias_initializer)
        s = rnnc_initializer_clone(o->bias_initializer, &d->bias_initializer);
    else
        s = rnnc_initializer_from_name("zeros", "Dense.bias_initializer", &d->bias_initializer);
    if (s != RNNC_OK)
        goto fail;
    if ((o->kernel_regularizer && (s = rnnc_regularizer_clone(o->kernel_regularizer, &d->kernel_regularizer))) ||
        (o->bias_regularizer && (s = rnnc_regularizer_clone(o->bias_regularizer, &d->bias_regularizer))) ||
        (o->activity_regularizer &&
         (s = rnnc_regularizer_clone(o->activity_regularizer, &d->base.activity_regularizer))) ||
        (o->kernel_constraint && (s = rnnc_constraint_clone(o->kernel_constraint, &d->kernel_constraint))) ||
        (o->bias_constraint && (s = rnnc_constraint_clone(o->bias_constraint, &d->bias_constraint))))
        goto fail;
    *out = &d->base;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(d ? &d->base : NULL);
    return s;
}

static const char *const dense_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "units", "activation", "use_bias",
    "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
    "kernel_constraint", "bias_constraint", "quantization_config", "lora_rank", "lora_alpha",
    "input_shape", "batch_input_shape", "input_dim", "batch_size", NULL};

rnnc_status rnnc_dense_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    rnnc_dense *d = NULL;
    rnnc_status s;
    int64_t units = 0;
    rnnc_shape in;
    bool has_in;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Dense: config must be a map");
    RNNC_TRY(rnnc_cfg_require_int_range(c, "Dense", "units", 1, RNNC_CFG_MAX_UNITS, dense_keys, &units));
    if ((s = dense_alloc(rnnc_layer_config_name(c), RNNC_F32, &d)) != RNNC_OK)
        goto fail;
    d->units = units;
    if ((s = rnnc_layer_read_base_config(&d->base, c, true)) ||
        (s = rnnc_layer_config_activation(c, "Dense", "activation", &d->activation)) ||
        (s = rnnc_cfg_read_bool(c, "Dense", "use_bias", true, &d->use_bias)) ||
        (s = rnnc_layer_config_initializer(c, "Dense", "kernel_initializer", "glorot_uniform",
                                           &d->kernel_initializer)) ||
        (s = rnnc_layer_config_initializer(c, "Dense", "bias_initializer", "zeros", &d->bias_initializer)) ||
        (s = rnnc_layer_config_regularizer(c, "Dense", "kernel_regularizer", &d->kernel_regularizer)) ||
        (s = rnnc_layer_config_regularizer(c, "Dense", "bias_regularizer", &d->bias_regularizer)) ||
        (s = rnnc_layer_config_constraint(c, "Dense", "kernel_constraint", &d->kernel_constraint)) ||
        (s = rnnc_layer_config_constraint(c, "Dense", "bias_constraint", &d->bias_constraint)) ||
        (s = rnnc_layer_config_no_quantization(c, "Dense")) ||
        (s = rnnc_layer_config_input_shape(c, "Dense", true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(c, "Dense", dense_keys)))
        goto fail;
    *out = &d->base;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(d ? &d->base : NULL);
    return s;
}
