/* simple_rnn_cell.c - SimpleRNNCell: construction, weights, dropout masks,
 * the differentiable step, config (see simple_rnn_cell.h). */
#include "layers/simple_rnn_cell.h"

#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/registry.h"

rnnc_simple_rnn_options rnnc_simple_rnn_options_default(void)
{
    rnnc_simple_rnn_options o;
    memset(&o, 0, sizeof o);
    o.activation = RNNC_ACT_TANH;
    o.use_bias = true;
    o.dtype = RNNC_F32;
    o.trainable = true;
    return o;
}

static void cell_destroy(rnnc_layer *l)
{
    rnnc__rnn_cell_objects_clear(&((rnnc_simple_rnn_cell *)l)->obj);
}

static rnnc_status cell_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_simple_rnn_cell *c = (rnnc_simple_rnn_cell *)l;
    char b[160];
    const int64_t U = c->units;
    if (in->ndim < 1 || in->dim[in->ndim - 1] < 1)
        return rnnc_fail(RNNC_E_SHAPE, "SimpleRNNCell '%s': cannot build for input shape %s (the last dimension, the features, must be known)",
                         l->name, rnnc_shape_str(in, b, sizeof b));
    const rnnc_shape ks = RNNC_SHAPE(in->dim[in->ndim - 1], U), rs = RNNC_SHAPE(U, U),
                     bs = RNNC_SHAPE(U);
    RNNC_TRY(rnnc__rnn_cell_add_weight(l, &c->obj, 0, "kernel", &ks, &c->kernel));
    RNNC_TRY(rnnc__rnn_cell_add_weight(l, &c->obj, 1, "recurrent_kernel", &rs, &c->recurrent_kernel));
    if (c->use_bias)
        RNNC_TRY(rnnc__rnn_cell_add_weight(l, &c->obj, 2, "bias", &bs, &c->bias));
    return RNNC_OK;
}

static bool applies(double rate) { return rate > 0.0 && rate < 1.0; }

static rnnc_status cell_begin_call(rnnc_layer *l, rnnc_ctx *cx, int64_t batch, bool training)
{
    rnnc_simple_rnn_cell *c = (rnnc_simple_rnn_cell *)l;
    const int64_t F = c->kernel ? c->kernel->shape.dim[0] : 0;
    const bool in_on = training && applies(c->dropout);
    const bool rec_on = training && applies(c->recurrent_dropout);
    c->in_mask = c->rec_mask = NULL;
    RNNC_TRY(rnnc__rnn_cell_masks(&c->rng, cx, l->dtype, l->name, c->dropout > 0.0, in_on, batch,
                                  F, c->dropout, &c->in_mask));
    return rnnc__rnn_cell_masks(&c->rng, cx, l->dtype, l->name, c->recurrent_dropout > 0.0, rec_on,
                                batch, c->units, c->recurrent_dropout, &c->rec_mask);
}

static rnnc_status cell_step(rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor *x,
                             rnnc_tensor *const *states, bool training, rnnc_tensor **output,
                             rnnc_tensor **new_states)
{
    rnnc_simple_rnn_cell *c = (rnnc_simple_rnn_cell *)l;
    rnnc_tensor *h = states[0], *a, *b;
    (void)training; /* encoded in the masks of begin_call */
    if (!c->kernel)
        return rnnc_fail(RNNC_E_STATE, "SimpleRNNCell '%s': step before build", l->name);
    if (c->in_mask)
        RNNC_TRY(rnnc_mul(cx, x, c->in_mask, &x));
    RNNC_TRY(rnnc_matmul(cx, x, c->kernel, false, false, &a));
    if (c->bias)
        RNNC_TRY(rnnc_add(cx, a, c->bias, &a));
    if (c->rec_mask)
        RNNC_TRY(rnnc_mul(cx, h, c->rec_mask, &h));
    RNNC_TRY(rnnc_matmul(cx, h, c->recurrent_kernel, false, false, &b));
    RNNC_TRY(rnnc_add(cx, a, b, &a));
    RNNC_TRY(rnnc_activation(cx, c->activation, a, output));
    new_states[0] = *output;
    return RNNC_OK;
}

static int cell_n_states(const rnnc_layer *l)
{
    (void)l;
    return 1;
}

static int64_t cell_units(const rnnc_layer *l) { return ((const rnnc_simple_rnn_cell *)l)->units; }

static int64_t cell_state_size(const rnnc_layer *l, int i)
{
    (void)i;
    return cell_units(l);
}

static const rnnc_rnn_cell_ops simple_cell_ops = {
    .n_states = cell_n_states,
    .state_size = cell_state_size,
    .output_size = cell_units,
    .begin_call = cell_begin_call,
    .step = cell_step,
};

/* SimpleRNNCell(x, [h]) -> h', [h'] */
static rnnc_status cell_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                             rnnc_call_result *res)
{
    return rnnc__rnn_cell_standalone_call(l, cx, args, ((rnnc_simple_rnn_cell *)l)->kernel->shape.dim[0], res);
}

static rnnc_status cell_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                    rnnc_output_spec *spec)
{
    spec->n_outputs = 2;
    spec->shapes[0] = spec->shapes[1] = RNNC_SHAPE(in->ndim >= 1 ? in->dim[0] : -1, cell_units(l));
    spec->dtype = l->dtype;
    return RNNC_OK;
}

rnnc_status rnnc__simple_rnn_cell_config_keys(const rnnc_simple_rnn_cell *c, rnnc_cfg *cfg,
                                              const rnnc_layer *activity)
{
    RNNC_TRY(rnnc_cfg_set_int(cfg, "units", c->units));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "activation", rnnc_act_name(c->activation)));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "use_bias", c->use_bias));
    RNNC_TRY(rnnc__rnn_cell_write_initializers(&c->obj, cfg));
    RNNC_TRY(rnnc__rnn_cell_write_regs_cons(&c->obj, cfg, activity));
    RNNC_TRY(rnnc_cfg_set_float(cfg, "dropout", c->dropout));
    RNNC_TRY(rnnc_cfg_set_float(cfg, "recurrent_dropout", c->recurrent_dropout));
    if (activity) /* SimpleRNN.get_config has no seed */
        return RNNC_OK;
    if (c->has_seed)
        return rnnc_cfg_set_int(cfg, "seed", c->seed);
    return rnnc_cfg_set_null(cfg, "seed");
}

static rnnc_status cell_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    return rnnc__simple_rnn_cell_config_keys((const rnnc_simple_rnn_cell *)l, cfg, NULL);
}

static const rnnc_layer_class simple_cell_class = {
    .class_name = "SimpleRNNCell",
    .module = "keras.layers",
    .build = cell_build,
    .call = cell_call,
    .compute_output_spec = cell_output_spec,
    .get_config = cell_get_config,
    .destroy = cell_destroy,
};

rnnc_simple_rnn_cell *rnnc_simple_rnn_cell_of(rnnc_layer *l)
{
    return (l && l->cls == &simple_cell_class) ? (rnnc_simple_rnn_cell *)l : NULL;
}

rnnc_status rnnc__simple_rnn_cell_create_parsed(const rnnc_simple_rnn_options *o,
                                                rnnc__rnn_cell_objects *p, const char *name,
                                                const char *what, rnnc_layer **out)
{
    rnnc_status s;
    *out = NULL;
    if ((s = rnnc__rnn_cell_check_args(what, o->units, o->activation, o->activation, 2))) {
        rnnc__rnn_cell_objects_clear(p);
        return s;
    }
    rnnc_simple_rnn_cell *c = calloc(1, sizeof *c);
    if (!c) {
        rnnc__rnn_cell_objects_clear(p);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    if ((s = rnnc_layer_init(&c->base.base, &simple_cell_class, name, o->dtype))) {
        free(c->base.base.name);
        free(c);
        rnnc__rnn_cell_objects_clear(p);
        return s;
    }
    c->base.ops = &simple_cell_ops;
    c->base.base.trainable = o->trainable;
    c->units = o->units;
    c->activation = o->activation;
    c->use_bias = o->use_bias;
    c->dropout = rnnc__rnn_clamp_rate(o->dropout);
    c->recurrent_dropout = rnnc__rnn_clamp_rate(o->recurrent_dropout);
    c->has_seed = o->has_seed;
    c->seed = o->seed;
    rnnc_rng_init(&c->rng, o->has_seed ? (uint64_t)o->seed : rnnc_next_seed());
    c->obj = *p;
    memset(p, 0, sizeof *p);
    *out = &c->base.base;
    return RNNC_OK;
}

rnnc_status rnnc_simple_rnn_cell_create(const rnnc_simple_rnn_options *o, rnnc_layer **out)
{
    rnnc__rnn_cell_objects p;
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "SimpleRNNCell: options are NULL (start from rnnc_simple_rnn_options_default())");
    const rnnc_initializer *in[3] = {o->kernel_initializer, o->recurrent_initializer,
                                     o->bias_initializer};
    const rnnc_regularizer *rg[3] = {o->kernel_regularizer, o->recurrent_regularizer,
                                     o->bias_regularizer};
    const rnnc_constraint *cs[3] = {o->kernel_constraint, o->recurrent_constraint,
                                    o->bias_constraint};
    RNNC_TRY(rnnc__rnn_cell_objects_clone(in, rg, cs, "SimpleRNNCell", &p));
    return rnnc__simple_rnn_cell_create_parsed(o, &p, o->name, "SimpleRNNCell", out);
}

rnnc_status rnnc__simple_rnn_cell_read_config(const rnnc_cfg *cfg, const char *what,
                                              rnnc_simple_rnn_options *o,
                                              rnnc__rnn_cell_objects *p)
{
    memset(p, 0, sizeof *p);
    if (!cfg || cfg->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: the config must be a map of arguments", what);
    RNNC_TRY(rnnc_cfg_require_int_range(cfg, what, "units", 1, RNNC_CFG_MAX_UNITS, NULL, &o->units));
    o->activation = RNNC_ACT_TANH;
    if (rnnc_cfg_peek(cfg, "activation"))
        RNNC_TRY(rnnc_layer_config_activation(cfg, what, "activation", &o->activation));
    RNNC_TRY(rnnc_cfg_read_bool(cfg, what, "use_bias", true, &o->use_bias));
    RNNC_TRY(rnnc__rnn_cell_objects_read(cfg, what, p));
    RNNC_TRY(rnnc_cfg_read_float(cfg, what, "dropout", 0.0, &o->dropout));
    RNNC_TRY(rnnc_cfg_read_float(cfg, what, "recurrent_dropout", 0.0, &o->recurrent_dropout));
    return rnnc__rnn_read_seed(cfg, what, &o->has_seed, &o->seed);
}

static const char *const cell_keys[] = {
    "name", "trainable", "dtype", "units", "activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
    "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint",
    "dropout", "recurrent_dropout", "seed", NULL};

rnnc_status rnnc_simple_rnn_cell_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    rnnc_simple_rnn_options o = rnnc_simple_rnn_options_default();
    rnnc__rnn_cell_objects p;
    rnnc_layer *l = NULL;
    *out = NULL;
    rnnc_status s = rnnc__simple_rnn_cell_read_config(config, "SimpleRNNCell", &o, &p);
    if (s) {
        rnnc__rnn_cell_objects_clear(&p);
        return s;
    }
    RNNC_TRY(rnnc__simple_rnn_cell_create_parsed(&o, &p, rnnc_layer_config_name(config),
                                                 "SimpleRNNCell", &l));
    if ((s = rnnc_layer_read_base_config(l, config, false)) ||
        (s = rnnc_cfg_check_unread(config, "SimpleRNNCell", cell_keys))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}
