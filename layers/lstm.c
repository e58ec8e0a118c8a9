/* lstm.c - the LSTM layer: construction from options or Keras config, the
 * kernel choice (fused CPU kernel vs the generic loop, use_cudnn), and
 * get_config in Keras 3.15's key order. The RNN protocol itself is
 * framework/rnn.c's. */
#include "layers/lstm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend/cuda_gru.h"
#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/lstm_fused.h"
#include "layers/registry.h"
#include "layers/rnn_common.h"

typedef struct rnnc_lstm {
    rnnc_rnn base;
    rnnc_use_cudnn use_cudnn;
    rnnc_gru_kernel kernel, last_kernel;
} rnnc_lstm;

static rnnc_lstm_cell *cell_of(const rnnc_lstm *g) { return (rnnc_lstm_cell *)g->base.cell; }

/* Why the fused kernel would not give the generic loop's numbers for this
 * call (after the cell's begin_call), or NULL. */
static const char *fused_blocker(const rnnc_lstm *g, char *buf, size_t cap)
{
    const rnnc_lstm_cell *c = cell_of(g);
    if (g->base.opt.unroll)
        return "unroll=True";
    if (!rnnc_act_is_elementwise(c->activation) ||
        !rnnc_act_is_elementwise(c->recurrent_activation)) {
        snprintf(buf, cap, "activation '%s' / recurrent_activation '%s': one works along the last axis",
                 rnnc_act_name(c->activation), rnnc_act_name(c->recurrent_activation));
        return buf;
    }
    if (c->rec_dropout_on)
        return "recurrent_dropout is applied (training with 0 < recurrent_dropout < 1)";
    if (c->in_dropout_on && c->implementation == 1)
        return "implementation 1 applies four per-gate input dropout masks";
    return NULL;
}

static rnnc_status lstm_inner_loop(rnnc_rnn *rnn, rnnc_ctx *cx, const rnnc_rnn_loop_args *a,
                                   rnnc_rnn_loop_result *res, bool *handled)
{
    rnnc_lstm *g = (rnnc_lstm *)rnn;
    rnnc_lstm_cell *c = cell_of(g);
    rnnc_layer *l = &rnn->base;
    char why[256];
    *handled = false;
    if (g->use_cudnn == RNNC_USE_CUDNN_TRUE) {
        /* Keras's LSTM conditions: those of the GRU without reset_after. */
        rnnc_cudnn_gru_query q = {
            .activation = c->activation,
            .recurrent_activation = c->recurrent_activation,
            .use_bias = c->use_bias,
            .reset_after = true,
            .unroll = rnn->opt.unroll,
            .recurrent_dropout = c->recurrent_dropout,
            .per_gate_input_dropout = c->in_dropout_on && c->implementation == 1,
            .dtype = l->dtype,
        };
        char reason[512];
        if (rnnc_cudnn_gru_supported(&q, a->mask, reason, sizeof reason) != RNNC_CUDNN_GRU_OK)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "LSTM '%s': use_cudnn=True, but cuDNN cannot run this call (pass use_cudnn='auto' to fall back): %s",
                             l->name, reason);
        return rnnc_fail(RNNC_E_UNSUPPORTED, "LSTM '%s': use_cudnn=True: this build runs the LSTM on the CPU only; use 'auto'",
                         l->name);
    }
    const char *blocker = fused_blocker(g, why, sizeof why);
    if (g->kernel == RNNC_GRU_KERNEL_GENERIC || (blocker && g->kernel == RNNC_GRU_KERNEL_AUTO)) {
        g->last_kernel = RNNC_GRU_KERNEL_GENERIC;
        return RNNC_OK;
    }
    if (blocker)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "LSTM '%s': the fused kernel was forced but cannot serve this call: %s",
                         l->name, blocker);
    rnnc__lstm_fused_args fa = {
        .x = a->sequences,
        .h0 = a->initial_states[0],
        .c0 = a->initial_states[1],
        .kernel = c->kernel,
        .recurrent_kernel = c->recurrent_kernel,
        .bias = c->bias,
        .mask = a->mask,
        .dropout = c->in_dropout_on ? c->in_masks[0] : NULL,
        .activation = c->activation,
        .recurrent_activation = c->recurrent_activation,
        .go_backwards = rnn->opt.go_backwards,
        .return_sequences = rnn->opt.return_sequences,
        .zero_output_for_mask = rnn->opt.zero_output_for_mask,
    };
    rnnc__lstm_fused_out fo;
    RNNC_TRY(rnnc__lstm_fused(cx, &fa, &fo));
    res->last_output = fo.last;
    if (fo.outputs) {
        res->outputs = fo.outputs;
    } else {
        const rnnc_shape s = RNNC_SHAPE(fo.last->shape.dim[0], 1, c->units);
        RNNC_TRY(rnnc_reshape(cx, fo.last, &s, &res->outputs));
    }
    res->n_states = 2;
    res->states[0] = fo.h;
    res->states[1] = fo.c;
    g->last_kernel = RNNC_GRU_KERNEL_FUSED;
    *handled = true;
    return RNNC_OK;
}

static rnnc_status lstm_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    return rnnc__lstm_cell_config_keys(cell_of((const rnnc_lstm *)l), cfg, l);
}

static const rnnc_rnn_class lstm_class = {
    .layer = {
        .class_name = "LSTM",
        .module = "keras.layers",
        .build = rnnc__rnn_build,
        .call = rnnc__rnn_call,
        .compute_output_spec = rnnc__rnn_output_spec,
        .get_config = rnnc__rnn_get_config,
        .destroy = rnnc__rnn_destroy,
        .supports_masking = false,
        .device = &rnnc_lstm_device_class,
    },
    .inner_loop = lstm_inner_loop,
    .get_config = lstm_get_config,
};

bool rnnc_layer_is_lstm(const rnnc_layer *l) { return l && l->cls == &lstm_class.layer; }

rnnc_lstm_cell *rnnc_lstm_cell_of_layer(rnnc_layer *l)
{
    return rnnc_layer_is_lstm(l) ? cell_of((rnnc_lstm *)l) : NULL;
}

rnnc_use_cudnn rnnc_lstm_use_cudnn(const rnnc_layer *l)
{
    return rnnc_layer_is_lstm(l) ? ((const rnnc_lstm *)l)->use_cudnn : RNNC_USE_CUDNN_AUTO;
}

rnnc_status rnnc_lstm_set_kernel(rnnc_layer *l, rnnc_gru_kernel k)
{
    if (!rnnc_layer_is_lstm(l))
        return rnnc_fail(RNNC_E_ARG, "set_kernel: layer '%s' is not an LSTM", l ? l->name : "(null)");
    if (k != RNNC_GRU_KERNEL_AUTO && k != RNNC_GRU_KERNEL_GENERIC && k != RNNC_GRU_KERNEL_FUSED)
        return rnnc_fail(RNNC_E_ARG, "LSTM '%s': unknown kernel choice %d", l->name, (int)k);
    ((rnnc_lstm *)l)->kernel = k;
    return RNNC_OK;
}

rnnc_gru_kernel rnnc_lstm_last_kernel(const rnnc_layer *l)
{
    return rnnc_layer_is_lstm(l) ? ((const rnnc_lstm *)l)->last_kernel : RNNC_GRU_KERNEL_AUTO;
}

/* ---- construction -------------------------------------------------------- */

static rnnc_status make_lstm(const rnnc_lstm_options *o, const char *name, rnnc_layer *cell,
                             rnnc_layer **out)
{
    const rnnc_rnn_options ro = {o->return_sequences, o->return_state, o->go_backwards,
                                 o->stateful,         o->unroll,       o->zero_output_for_mask};
    rnnc_rnn *r;
    *out = NULL;
    RNNC_TRY(rnnc__rnn_subclass_create(sizeof(rnnc_lstm), &lstm_class, name, o->dtype,
                                       o->trainable, cell, &ro, &r));
    ((rnnc_lstm *)r)->use_cudnn = o->use_cudnn;
    *out = &r->base;
    return RNNC_OK;
}

rnnc_status rnnc_lstm_create(const rnnc_lstm_options *o, rnnc_layer **out)
{
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "LSTM: options are NULL (start from rnnc_lstm_options_default())");
    if (o->units < 1)
        return rnnc_fail(RNNC_E_ARG, "LSTM: 'units' must be a positive integer, got %lld",
                         (long long)o->units);
    if (o->use_cudnn != RNNC_USE_CUDNN_AUTO && o->use_cudnn != RNNC_USE_CUDNN_TRUE &&
        o->use_cudnn != RNNC_USE_CUDNN_FALSE)
        return rnnc_fail(RNNC_E_ARG, "LSTM: 'use_cudnn' must be 'auto', True or False, got %d",
                         (int)o->use_cudnn);
    rnnc_lstm_options co = *o;
    co.name = "lstm_cell"; /* Keras names the cell "lstm_cell" */
    rnnc_layer *cell, *l;
    RNNC_TRY(rnnc_lstm_cell_create(&co, &cell));
    RNNC_TRY(make_lstm(o, o->name, cell, &l));
    return rnnc__rnn_finish_create(l, o->activity_regularizer, out);
}

static const char *const lstm_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "return_sequences", "return_state",
    "go_backwards", "stateful", "unroll", "zero_output_for_mask", "units", "activation",
    "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer",
    "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
    "recurrent_dropout", "seed", "use_cudnn", "implementation", "time_major", "autocast",
    "input_shape", "batch_input_shape", "input_dim", "batch_size", NULL};

rnnc_status rnnc_lstm_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    rnnc_lstm_options o = rnnc_lstm_options_default();
    rnnc_lstm_cell_parsed p;
    rnnc_rnn_options ro;
    rnnc_layer *cell = NULL, *l = NULL;
    rnnc_status s;
    *out = NULL;
    if (!config || config->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "LSTM: the config must be a map of arguments");
    if ((s = rnnc__lstm_cell_read_config(config, "LSTM", &o, &p)) ||
        (s = rnnc__rnn_read_options(config, "LSTM", &ro))) {
        rnnc__lstm_cell_parsed_clear(&p);
        return s;
    }
    o.return_sequences = ro.return_sequences;
    o.return_state = ro.return_state;
    o.go_backwards = ro.go_backwards;
    o.stateful = ro.stateful;
    o.unroll = ro.unroll;
    o.zero_output_for_mask = ro.zero_output_for_mask;
    if ((s = rnnc__lstm_cell_create_parsed(&o, &p, "lstm_cell", "LSTM", &cell)))
        return s;
    const char *name = rnnc_layer_config_name(config);
    if (name && strchr(name, '/')) {
        rnnc_layer_destroy(cell);
        return rnnc_fail(RNNC_E_ARG, "LSTM: name '%s' must not contain '/'", name);
    }
    if ((s = make_lstm(&o, name, cell, &l)))
        return s;
    if ((s = rnnc__rnn_read_layer_tail(l, config, "LSTM", &((rnnc_lstm *)l)->use_cudnn)))
        goto fail;
    if ((s = rnnc_cfg_check_unread(config, "LSTM", lstm_keys)))
        goto fail;
    *out = l;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(l);
    return s;
}
