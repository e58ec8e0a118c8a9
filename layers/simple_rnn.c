/* simple_rnn.c - the SimpleRNN layer (simple_rnn.h). */
#include "layers/simple_rnn.h"

#include <string.h>

#include "layers/registry.h"

static rnnc_status simple_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    const rnnc_rnn *r = (const rnnc_rnn *)l;
    return rnnc__simple_rnn_cell_config_keys((const rnnc_simple_rnn_cell *)r->cell, cfg, l);
}

static const rnnc_rnn_class simple_rnn_class = {
    .layer = {
        .class_name = "SimpleRNN",
        .module = "keras.layers",
        .build = rnnc__rnn_build,
        .call = rnnc__rnn_call,
        .compute_output_spec = rnnc__rnn_output_spec,
        .get_config = rnnc__rnn_get_config,
        .destroy = rnnc__rnn_destroy,
    },
    .get_config = simple_get_config,
};

bool rnnc_layer_is_simple_rnn(const rnnc_layer *l) { return l && l->cls == &simple_rnn_class.layer; }

static rnnc_status make_layer(const rnnc_simple_rnn_options *o, const char *name,
                              rnnc_layer *cell, rnnc_layer **out)
{
    const rnnc_rnn_options ro = {o->return_sequences, o->return_state, o->go_backwards,
                                 o->stateful,         o->unroll,       o->zero_output_for_mask};
    rnnc_rnn *r;
    *out = NULL;
    RNNC_TRY(rnnc__rnn_subclass_create(sizeof(rnnc_rnn), &simple_rnn_class, name, o->dtype,
                                       o->trainable, cell, &ro, &r));
    *out = &r->base;
    return RNNC_OK;
}

rnnc_status rnnc_simple_rnn_create(const rnnc_simple_rnn_options *o, rnnc_layer **out)
{
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "SimpleRNN: options are NULL (start from rnnc_simple_rnn_options_default())");
    rnnc_simple_rnn_options co = *o;
    co.name = "simple_rnn_cell"; /* Keras's name for the cell */
    rnnc_layer *cell, *l;
    RNNC_TRY(rnnc_simple_rnn_cell_create(&co, &cell));
    RNNC_TRY(make_layer(o, o->name, cell, &l));
    return rnnc__rnn_finish_create(l, o->activity_regularizer, out);
}

static const char *const layer_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "return_sequences", "return_state",
    "go_backwards", "stateful", "unroll", "zero_output_for_mask", "units", "activation",
    "use_bias", "kernel_initializer", "recurrent_initializer", "bias_initializer",
    "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "dropout", "recurrent_dropout", "seed",
    "time_major", "autocast", "input_shape", "batch_input_shape", "input_dim", "batch_size",
    NULL};

rnnc_status rnnc_simple_rnn_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    rnnc_simple_rnn_options o = rnnc_simple_rnn_options_default();
    rnnc__rnn_cell_objects p;
    rnnc_rnn_options ro;
    rnnc_layer *cell = NULL, *l = NULL;
    rnnc_status s;
    *out = NULL;
    if ((s = rnnc__simple_rnn_cell_read_config(config, "SimpleRNN", &o, &p)) ||
        (s = rnnc__rnn_read_options(config, "SimpleRNN", &ro))) {
        rnnc__rnn_cell_objects_clear(&p);
        return s;
    }
    o.return_sequences = ro.return_sequences;
    o.return_state = ro.return_state;
    o.go_backwards = ro.go_backwards;
    o.stateful = ro.stateful;
    o.unroll = ro.unroll;
    o.zero_output_for_mask = ro.zero_output_for_mask;
    RNNC_TRY(rnnc__simple_rnn_cell_create_parsed(&o, &p, "simple_rnn_cell", "SimpleRNN", &cell));
    RNNC_TRY(make_layer(&o, rnnc_layer_config_name(config), cell, &l));
    if ((s = rnnc__rnn_read_layer_tail(l, config, "SimpleRNN", NULL)) ||
        (s = rnnc_cfg_check_unread(config, "SimpleRNN", layer_keys))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}
