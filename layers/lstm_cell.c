/* lstm_cell.c - LSTMCell: construction and validation, weights (with
 * unit_forget_bias), dropout masks, the differentiable step (both
 * implementations), config. The sequence loop is framework/rnn.c's, the
 * fused kernel lstm_fused.c's, the layer lstm.c's. */
#include "layers/lstm_cell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "layers/registry.h"
#include "layers/rnn_common.h"

rnnc_lstm_options rnnc_lstm_options_default(void)
{
    rnnc_lstm_options o;
    memset(&o, 0, sizeof o);
    o.activation = RNNC_ACT_TANH;
    o.recurrent_activation = RNNC_ACT_SIGMOID;
    o.use_bias = true;
    o.unit_forget_bias = true;
    o.implementation = 2;
    o.use_cudnn = RNNC_USE_CUDNN_AUTO;
    o.dtype = RNNC_F32;
    o.trainable = true;
    return o;
}

static bool applies(double rate) { return rate > 0.0 && rate < 1.0; }

void rnnc__lstm_cell_parsed_clear(rnnc_lstm_cell_parsed *p) { rnnc__rnn_cell_objects_clear(p); }

static void cell_destroy(rnnc_layer *l) { rnnc__rnn_cell_objects_clear(&((rnnc_lstm_cell *)l)->obj); }

/* Keras's unit_forget_bias initializer: init((U,)), ones((U,)), init((2U,)). */
static rnnc_status forget_bias_fill(rnnc_lstm_cell *c)
{
    const int64_t U = c->units;
    const rnnc_shape s1 = RNNC_SHAPE(U), s2 = RNNC_SHAPE(2 * U);
    rnnc_tensor *a = NULL, *b = NULL;
    rnnc_status s = rnnc_tensor_create(c->bias->dtype, &s1, &a);
    if (!s)
        s = rnnc_tensor_create(c->bias->dtype, &s2, &b);
    if (!s && c->obj.init[2])
        s = rnnc_initializer_fill(c->obj.init[2], a);
    if (!s && c->obj.init[2])
        s = rnnc_initializer_fill(c->obj.init[2], b);
    if (!s && !c->obj.init[2]) { /* Keras None: add_weight's glorot_uniform */
        rnnc_initializer *g = NULL;
        s = rnnc_initializer_from_name("glorot_uniform", "LSTMCell.bias_initializer", &g);
        if (!s)
            s = rnnc_initializer_fill(g, a);
        if (!s)
            s = rnnc_initializer_fill(g, b);
        rnnc_initializer_destroy(g);
    }
    for (int64_t u = 0; !s && u < U; u++) {
        rnnc_tensor_set(c->bias, (size_t)u, rnnc_tensor_get(a, (size_t)u));
        rnnc_tensor_set(c->bias, (size_t)(U + u), 1.0);
        rnnc_tensor_set(c->bias, (size_t)(2 * U + u), rnnc_tensor_get(b, (size_t)u));
        rnnc_tensor_set(c->bias, (size_t)(3 * U + u), rnnc_tensor_get(b, (size_t)(U + u)));
    }
    rnnc_tensor_destroy(a);
    rnnc_tensor_destroy(b);
    return s;
}

static rnnc_status cell_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_lstm_cell *c = (rnnc_lstm_cell *)l;
    char b[160];
    const int64_t U = c->units;
    if (in->ndim < 1 || in->dim[in->ndim - 1] < 1)
        return rnnc_fail(RNNC_E_SHAPE, "LSTMCell '%s': cannot build for input shape %s (the last dimension, the features, must be known)",
                         l->name, rnnc_shape_str(in, b, sizeof b));
    const rnnc_shape ks = RNNC_SHAPE(in->dim[in->ndim - 1], 4 * U), rs = RNNC_SHAPE(U, 4 * U),
                     bs = RNNC_SHAPE(4 * U);
    RNNC_TRY(rnnc__rnn_cell_add_weight(l, &c->obj, 0, "kernel", &ks, &c->kernel));
    RNNC_TRY(rnnc__rnn_cell_add_weight(l, &c->obj, 1, "recurrent_kernel", &rs, &c->recurrent_kernel));
    if (!c->use_bias)
        return RNNC_OK;
    RNNC_TRY(rnnc__rnn_cell_add_weight(l, &c->obj, 2, "bias", &bs, &c->bias));
    return c->unit_forget_bias ? forget_bias_fill(c) : RNNC_OK;
}

/* ---- dropout masks ------------------------------------------------------- */

static rnnc_status cell_begin_call(rnnc_layer *l, rnnc_ctx *cx, int64_t batch, bool training)
{
    rnnc_lstm_cell *c = (rnnc_lstm_cell *)l;
    const int64_t F = c->kernel ? c->kernel->shape.dim[0] : 0;
    const int n_in = c->dropout > 0.0 ? (c->implementation == 1 ? 4 : 1) : 0;
    const int n_rec = c->recurrent_dropout > 0.0 ? 4 : 0;
    if (c->activation == RNNC_ACT_GLU || c->recurrent_activation == RNNC_ACT_GLU)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "LSTMCell '%s': activation 'glu' halves the last axis, so the gates of width %lld cannot use it (Keras fails at call time too)",
                         l->name, (long long)c->units);
    memset(c->in_masks, 0, sizeof c->in_masks);
    memset(c->rec_masks, 0, sizeof c->rec_masks);
    c->in_dropout_on = training && applies(c->dropout);
    c->rec_dropout_on = training && applies(c->recurrent_dropout);
    c->prepared_for = NULL;
    c->in_call = true;
    RNNC_TRY(rnnc__rnn_cell_masks(&c->rng, cx, l->dtype, l->name, n_in, c->in_dropout_on, batch,
                                  F, c->dropout, c->in_masks));
    RNNC_TRY(rnnc__rnn_cell_masks(&c->rng, cx, l->dtype, l->name, n_rec, c->rec_dropout_on,
                                  batch, c->units, c->recurrent_dropout, c->rec_masks));
    c->n_in_masks = c->in_dropout_on ? n_in : 0;
    c->n_rec_masks = c->rec_dropout_on ? n_rec : 0;
    return RNNC_OK;
}

static void cell_end_call(rnnc_layer *l)
{
    rnnc_lstm_cell *c = (rnnc_lstm_cell *)l;
    c->in_call = false;
    c->prepared_for = NULL;
}

/* ---- the step ------------------------------------------------------------ */

/* Per-gate column blocks of the weights, sliced once per call on the tape. */
static rnnc_status prepare(rnnc_lstm_cell *c, rnnc_ctx *cx)
{
    const int64_t U = c->units;
    if (c->prepared_for == cx && c->in_call)
        return RNNC_OK;
    memset(c->w_gate, 0, sizeof c->w_gate);
    memset(c->r_gate, 0, sizeof c->r_gate);
    memset(c->b_gate, 0, sizeof c->b_gate);
    for (int g = 0; g < 4 && c->implementation == 1; g++) {
        RNNC_TRY(rnnc_slice(cx, c->kernel, 1, g * U, U, &c->w_gate[g]));
        RNNC_TRY(rnnc_slice(cx, c->recurrent_kernel, 1, g * U, U, &c->r_gate[g]));
        if (c->bias)
            RNNC_TRY(rnnc_slice(cx, c->bias, 0, g * U, U, &c->b_gate[g]));
    }
    c->prepared_for = cx;
    return RNNC_OK;
}

/* The four gate pre-activations z_g (B, U). */
static rnnc_status preacts(rnnc_lstm_cell *c, rnnc_ctx *cx, rnnc_tensor *x, rnnc_tensor *h,
                           rnnc_tensor **z)
{
    const int64_t U = c->units;
    rnnc_tensor *t, *u;
    if (c->implementation == 1) {
        for (int g = 0; g < 4; g++) {
            rnnc_tensor *xi = x, *hi = h;
            if (c->in_dropout_on)
                RNNC_TRY(rnnc_mul(cx, x, c->in_masks[g], &xi));
            if (c->rec_dropout_on)
                RNNC_TRY(rnnc_mul(cx, h, c->rec_masks[g], &hi));
            RNNC_TRY(rnnc_matmul(cx, xi, c->w_gate[g], false, false, &t));
            if (c->bias)
                RNNC_TRY(rnnc_add(cx, t, c->b_gate[g], &t));
            RNNC_TRY(rnnc_matmul(cx, hi, c->r_gate[g], false, false, &u));
            RNNC_TRY(rnnc_add(cx, t, u, &z[g]));
        }
        return RNNC_OK;
    }
    rnnc_tensor *xi = x;
    if (c->in_dropout_on)
        RNNC_TRY(rnnc_mul(cx, x, c->in_masks[0], &xi));
    RNNC_TRY(rnnc_matmul(cx, xi, c->kernel, false, false, &t));
    RNNC_TRY(rnnc_matmul(cx, h, c->recurrent_kernel, false, false, &u));
    RNNC_TRY(rnnc_add(cx, t, u, &t));
    if (c->bias)
        RNNC_TRY(rnnc_add(cx, t, c->bias, &t));
    for (int g = 0; g < 4; g++)
        RNNC_TRY(rnnc_slice(cx, t, 1, g * U, U, &z[g]));
    return RNNC_OK;
}

static rnnc_status cell_step(rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor *x,
                             rnnc_tensor *const *states, bool training, rnnc_tensor **output,
                             rnnc_tensor **new_states)
{
    rnnc_lstm_cell *c = (rnnc_lstm_cell *)l;
    rnnc_tensor *z[4], *i, *f, *g, *o, *a, *b, *cn, *h;
    (void)training; /* encoded in the masks of begin_call */
    if (!c->kernel)
        return rnnc_fail(RNNC_E_STATE, "LSTMCell '%s': step before build", l->name);
    RNNC_TRY(prepare(c, cx));
    RNNC_TRY(preacts(c, cx, x, states[0], z));
    RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, z[0], &i));
    RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, z[1], &f));
    RNNC_TRY(rnnc_activation(cx, c->activation, z[2], &g));
    RNNC_TRY(rnnc_activation(cx, c->recurrent_activation, z[3], &o));
    RNNC_TRY(rnnc_mul(cx, f, states[1], &a));
    RNNC_TRY(rnnc_mul(cx, i, g, &b));
    RNNC_TRY(rnnc_add(cx, a, b, &cn));
    RNNC_TRY(rnnc_activation(cx, c->activation, cn, &a));
    RNNC_TRY(rnnc_mul(cx, o, a, &h));
    *output = h;
    new_states[0] = h;
    new_states[1] = cn;
    return RNNC_OK;
}

static int cell_n_states(const rnnc_layer *l)
{
    (void)l;
    return 2;
}

static int64_t cell_units(const rnnc_layer *l) { return ((const rnnc_lstm_cell *)l)->units; }

static int64_t cell_state_size(const rnnc_layer *l, int i)
{
    (void)i;
    return cell_units(l);
}

static const rnnc_rnn_cell_ops lstm_cell_ops = {
    .n_states = cell_n_states,
    .state_size = cell_state_size,
    .output_size = cell_units,
    .begin_call = cell_begin_call,
    .step = cell_step,
    .end_call = cell_end_call,
};

/* ---- standalone call: LSTMCell(x, [h, c]) -> h, [h, c] -------------------- */

static rnnc_status cell_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                             rnnc_call_result *res)
{
    return rnnc__rnn_cell_standalone_call(l, cx, args, ((rnnc_lstm_cell *)l)->kernel->shape.dim[0], res);
}

static rnnc_status cell_output_spec(const rnnc_layer *l, const rnnc_shape *in,
                                    rnnc_output_spec *spec)
{
    const int64_t B = in->ndim >= 1 ? in->dim[0] : -1;
    spec->n_outputs = 3;
    spec->shapes[0] = spec->shapes[1] = spec->shapes[2] = RNNC_SHAPE(B, cell_units(l));
    spec->dtype = l->dtype;
    return RNNC_OK;
}

/* ---- config -------------------------------------------------------------- */

rnnc_status rnnc__lstm_cell_config_keys(const rnnc_lstm_cell *c, rnnc_cfg *cfg,
                                        const rnnc_layer *activity)
{
    const bool layer = activity != NULL;
    RNNC_TRY(rnnc_cfg_set_int(cfg, "units", c->units));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "activation", rnnc_act_name(c->activation)));
    RNNC_TRY(rnnc_cfg_set_string(cfg, "recurrent_activation",
                                 rnnc_act_name(c->recurrent_activation)));
    RNNC_TRY(rnnc_cfg_set_bool(cfg, "use_bias", c->use_bias));
    if (!layer) /* LSTMCell: right after use_bias */
        RNNC_TRY(rnnc_cfg_set_bool(cfg, "unit_forget_bias", c->unit_forget_bias));
    RNNC_TRY(rnnc__rnn_cell_write_initializers(&c->obj, cfg));
    if (layer) /* LSTM: after the initializers */
        RNNC_TRY(rnnc_cfg_set_bool(cfg, "unit_forget_bias", c->unit_forget_bias));
    RNNC_TRY(rnnc__rnn_cell_write_regs_cons(&c->obj, cfg, activity));
    RNNC_TRY(rnnc_cfg_set_float(cfg, "dropout", c->dropout));
    RNNC_TRY(rnnc_cfg_set_float(cfg, "recurrent_dropout", c->recurrent_dropout));
    if (c->has_seed)
        return rnnc_cfg_set_int(cfg, "seed", c->seed);
    return rnnc_cfg_set_null(cfg, "seed");
}

static rnnc_status cell_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    return rnnc__lstm_cell_config_keys((const rnnc_lstm_cell *)l, cfg, NULL);
}

static const rnnc_layer_class lstm_cell_class = {
    .class_name = "LSTMCell",
    .module = "keras.layers",
    .build = cell_build,
    .call = cell_call,
    .compute_output_spec = cell_output_spec,
    .get_config = cell_get_config,
    .destroy = cell_destroy,
    .supports_masking = false,
};

bool rnnc_layer_is_lstm_cell(const rnnc_layer *l) { return l && l->cls == &lstm_cell_class; }

rnnc_lstm_cell *rnnc_lstm_cell_of(rnnc_layer *l)
{
    return rnnc_layer_is_lstm_cell(l) ? (rnnc_lstm_cell *)l : NULL;
}

/* ---- construction -------------------------------------------------------- */

rnnc_status rnnc__lstm_cell_create_parsed(const rnnc_lstm_options *o, rnnc_lstm_cell_parsed *p,
                                          const char *name, const char *what, rnnc_layer **out)
{
    rnnc_status s;
    *out = NULL;
    if ((s = rnnc__rnn_cell_check_args(what, o->units, o->activation, o->recurrent_activation,
                                       o->implementation)))
        goto fail;
    rnnc_lstm_cell *c = calloc(1, sizeof *c);
    if (!c) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    s = rnnc_layer_init(&c->base.base, &lstm_cell_class, name, o->dtype);
    if (s) {
        free(c->base.base.name);
        free(c);
        goto fail;
    }
    c->base.ops = &lstm_cell_ops;
    c->base.base.trainable = o->trainable;
    c->units = o->units;
    c->activation = o->activation;
    c->recurrent_activation = o->recurrent_activation;
    c->use_bias = o->use_bias;
    c->unit_forget_bias = o->unit_forget_bias;
    c->dropout = rnnc__rnn_clamp_rate(o->dropout);
    c->recurrent_dropout = rnnc__rnn_clamp_rate(o->recurrent_dropout);
    c->implementation = c->recurrent_dropout != 0.0 ? 1 : o->implementation;
    c->has_seed = o->has_seed;
    c->seed = o->seed;
    rnnc_rng_init(&c->rng, o->has_seed ? (uint64_t)o->seed : rnnc_next_seed());
    c->obj = *p;
    memset(p, 0, sizeof *p);
    *out = &c->base.base;
    return RNNC_OK;
fail:
    rnnc__lstm_cell_parsed_clear(p);
    return s;
}

rnnc_status rnnc_lstm_cell_create(const rnnc_lstm_options *o, rnnc_layer **out)
{
    rnnc_lstm_cell_parsed p;
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "LSTMCell: options are NULL (start from rnnc_lstm_options_default())");
    const rnnc_initializer *in[3] = {o->kernel_initializer, o->recurrent_initializer,
                                     o->bias_initializer};
    const rnnc_regularizer *rg[3] = {o->kernel_regularizer, o->recurrent_regularizer,
                                     o->bias_regularizer};
    const rnnc_constraint *cs[3] = {o->kernel_constraint, o->recurrent_constraint,
                                    o->bias_constraint};
    RNNC_TRY(rnnc__rnn_cell_objects_clone(in, rg, cs, "LSTMCell", &p));
    return rnnc__lstm_cell_create_parsed(o, &p, o->name, "LSTMCell", out);
}

static rnnc_status read_act(const rnnc_cfg *cfg, const char *what, const char *key, rnnc_act dflt,
                            rnnc_act *out)
{
    *out = dflt;
    if (!rnnc_cfg_peek(cfg, key))
        return RNNC_OK;
    return rnnc_layer_config_activation(cfg, what, key, out);
}

rnnc_status rnnc__lstm_cell_read_config(const rnnc_cfg *cfg, const char *what,
                                        rnnc_lstm_options *o, rnnc_lstm_cell_parsed *p)
{
    memset(p, 0, sizeof *p);
    if (!cfg || cfg->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "%s: the config must be a map of arguments", what);
    RNNC_TRY(rnnc_cfg_require_int_range(cfg, what, "units", 1, RNNC_CFG_MAX_UNITS, NULL, &o->units));
    RNNC_TRY(read_act(cfg, what, "activation", RNNC_ACT_TANH, &o->activation));
    RNNC_TRY(read_act(cfg, what, "recurrent_activation", RNNC_ACT_SIGMOID,
                      &o->recurrent_activation));
    RNNC_TRY(rnnc_cfg_read_bool(cfg, what, "use_bias", true, &o->use_bias));
    RNNC_TRY(rnnc_cfg_read_bool(cfg, what, "unit_forget_bias", true, &o->unit_forget_bias));
    RNNC_TRY(rnnc__rnn_cell_objects_read(cfg, what, p));
    double d;
    RNNC_TRY(rnnc_cfg_read_float(cfg, what, "dropout", 0.0, &d));
    o->dropout = rnnc__rnn_clamp_rate(d);
    RNNC_TRY(rnnc_cfg_read_float(cfg, what, "recurrent_dropout", 0.0, &d));
    o->recurrent_dropout = rnnc__rnn_clamp_rate(d);
    RNNC_TRY(rnnc__rnn_read_seed(cfg, what, &o->has_seed, &o->seed));
    int64_t impl;
    RNNC_TRY(rnnc_cfg_read_int(cfg, what, "implementation", 2, &impl));
    if (impl != 1 && impl != 2)
        return rnnc_fail(RNNC_E_ARG, "%s: 'implementation' must be 1 or 2, got %lld", what,
                         (long long)impl);
    o->implementation = (int)impl;
    return RNNC_OK;
}

static const char *const cell_keys[] = {
    "name", "trainable", "dtype", "units", "activation", "recurrent_activation", "use_bias",
    "unit_forget_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
    "implementation", NULL};

rnnc_status rnnc_lstm_cell_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    rnnc_lstm_options o = rnnc_lstm_options_default();
    rnnc_lstm_cell_parsed p;
    rnnc_layer *l = NULL;
    *out = NULL;
    rnnc_status s = rnnc__lstm_cell_read_config(config, "LSTMCell", &o, &p);
    if (s) {
        rnnc__lstm_cell_parsed_clear(&p);
        return s;
    }
    if ((s = rnnc__lstm_cell_create_parsed(&o, &p, rnnc_layer_config_name(config), "LSTMCell", &l)))
        return s;
    const rnnc_cfg *ar = rnnc_cfg_peek(config, "activity_regularizer");
    if (ar && ar->type != RNNC_CFG_NULL) {
        rnnc_layer_destroy(l);
        return rnnc_fail(RNNC_E_UNSUPPORTED, "LSTMCell: an activity_regularizer on a cell is not supported (put it on the RNN layer)");
    }
    if (ar)
        rnnc_cfg_get(config, "activity_regularizer");
    if ((s = rnnc_layer_read_base_config(l, config, false)) ||
        (s = rnnc_cfg_check_unread(config, "LSTMCell", cell_keys))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}
