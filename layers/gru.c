/* gru.c - the GRU layer: construction from options or Keras config, the
 * kernel choice (fused CPU kernel vs the generic loop, use_cudnn), and
 * get_config in Keras 3.15's key order. The RNN protocol itself (masks,
 * states, outputs) is framework/rnn.c's. */
#include "layers/gru.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/backend/cuda_gru.h"
#include "framework/ops.h"
#include "layers/device_classes_internal.h"
#include "layers/gru_fused.h"

typedef struct rnnc_gru {
    rnnc_rnn base; /* first: a rnnc_gru* is a rnnc_rnn* and a rnnc_layer* */
    rnnc_use_cudnn use_cudnn;
    rnnc_gru_kernel kernel;      /* forced choice, AUTO by default */
    rnnc_gru_kernel last_kernel; /* what the latest call ran */
} rnnc_gru;

static rnnc_gru_cell *cell_of(const rnnc_gru *g) { return (rnnc_gru_cell *)g->base.cell; }

/* Why the fused kernel would not give the generic loop's numbers for this
 * call (the cell's begin_call has run), or NULL when it applies. */
static const char *fused_blocker(const rnnc_gru *g, char *buf, size_t cap)
{
    const rnnc_gru_cell *c = cell_of(g);
    if (g->base.opt.unroll)
        return "unroll=True";
    if (!rnnc__gru_fused_supports(c->activation) ||
        !rnnc__gru_fused_supports(c->recurrent_activation)) {
        snprintf(buf, cap, "activation '%s' / recurrent_activation '%s': one works along the last axis",
                 rnnc_act_name(c->activation), rnnc_act_name(c->recurrent_activation));
        return buf;
    }
    if (c->rec_dropout_on)
        return "recurrent_dropout is applied (training with 0 < recurrent_dropout < 1)";
    if (c->in_dropout_on && c->implementation == 1)
        return "implementation 1 applies three per-gate input dropout masks";
    return NULL;
}

static rnnc_status gru_inner_loop(rnnc_rnn *rnn, rnnc_ctx *cx, const rnnc_rnn_loop_args *a,
                                  rnnc_rnn_loop_result *res, bool *handled)
{
    rnnc_gru *g = (rnnc_gru *)rnn;
    rnnc_gru_cell *c = cell_of(g);
    rnnc_layer *l = &rnn->base;
    char why[256];
    *handled = false;
    if (g->use_cudnn == RNNC_USE_CUDNN_TRUE) {
        /* Keras's order: the layer's arguments and the mask first, then the
         * machine; the message names the condition that fails. */
        rnnc_cudnn_gru_query q = {
            .activation = c->activation,
            .recurrent_activation = c->recurrent_activation,
            .use_bias = c->use_bias,
            .reset_after = c->reset_after,
            .unroll = g->base.opt.unroll,
            .recurrent_dropout = c->rec_dropout_on ? c->recurrent_dropout : 0.0,
            .per_gate_input_dropout = c->in_dropout_on && c->implementation == 1,
            .dtype = l->dtype,
        };
        rnnc_status s = rnnc_cudnn_gru_check_call(&q, a->mask);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "use_cudnn=True, but cuDNN cannot run this call (pass use_cudnn='auto' to fall back): ");
        /* The device kernels exist (framework/backend/cuda) but the layer
         * does not hand them tensors yet: say so rather than run the CPU. */
        return rnnc_fail(RNNC_E_UNSUPPORTED,
                         "use_cudnn=True: running the GRU layer on the GPU is not wired in yet; use 'auto' (CPU kernels)");
    }
    const char *blocker = fused_blocker(g, why, sizeof why);
    /* A 16-bit dtype policy is emulated inside the fused kernel only (the
     * generic loop would not round its intermediates as Keras does). */
    const rnnc_precision prec = rnnc_layer_precision(l);
    if (prec != RNNC_PREC_NONE && (blocker || g->kernel == RNNC_GRU_KERNEL_GENERIC))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "GRU '%s': the %s dtype policy runs in the fused kernel only, which cannot serve this call: %s",
                         l->name, rnnc_dtype_policy_name(l->policy),
                         blocker ? blocker : "the generic kernel was forced");
    if (g->kernel == RNNC_GRU_KERNEL_GENERIC || (blocker && g->kernel == RNNC_GRU_KERNEL_AUTO)) {
        g->last_kernel = RNNC_GRU_KERNEL_GENERIC;
        return RNNC_OK;
    }
    if (blocker)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "GRU '%s': the fused kernel was forced but cannot serve this call: %s",
                         l->name, blocker);
    rnnc__gru_fused_args fa;
    rnnc__gru_fused_out fo;
    memset(&fa, 0, sizeof fa);
    fa.x = a->sequences;
    fa.h0 = a->initial_states[0];
    fa.kernel = c->kernel;
    fa.recurrent_kernel = c->recurrent_kernel;
    fa.bias = c->bias;
    fa.mask = a->mask;
    fa.dropout = c->in_dropout_on ? c->in_masks[0] : NULL;
    fa.activation = c->activation;
    fa.recurrent_activation = c->recurrent_activation;
    fa.reset_after = c->reset_after;
    fa.go_backwards = rnn->opt.go_backwards;
    fa.return_sequences = rnn->opt.return_sequences;
    fa.zero_output_for_mask = rnn->opt.zero_output_for_mask;
    if (prec != RNNC_PREC_NONE) { /* Keras's casts: state and weights as read in call */
        fa.prec = prec;
        RNNC_TRY(rnnc_round_op(cx, fa.h0, prec, &fa.h0));
        /* With the default activations under bfloat16 the kernel rounds
         * each step's weight gradients itself (gru_fused_impl.h). */
        const bool own = prec == RNNC_PREC_BF16 && c->activation == RNNC_ACT_TANH &&
                         c->recurrent_activation == RNNC_ACT_SIGMOID;
        rnnc_tensor **w[3] = {&fa.kernel, &fa.recurrent_kernel, &fa.bias};
        for (int i = 0; i < 3; i++)
            if (*w[i])
                RNNC_TRY(own ? rnnc_round_op_exact_grad(cx, *w[i], prec, w[i])
                             : rnnc_layer_read_weight(l, cx, *w[i], w[i]));
    }
    RNNC_TRY(rnnc__gru_fused(cx, &fa, &fo));
    res->last_output = fo.last;
    if (fo.outputs) {
        res->outputs = fo.outputs;
    } else {
        rnnc_shape s = RNNC_SHAPE(fo.last->shape.dim[0], 1, c->units);
        RNNC_TRY(rnnc_reshape(cx, fo.last, &s, &res->outputs));
    }
    res->n_states = 1;
    res->states[0] = fo.state;
    g->last_kernel = RNNC_GRU_KERNEL_FUSED;
    *handled = true;
    return RNNC_OK;
}

static rnnc_status gru_get_config(const rnnc_layer *l, rnnc_cfg *cfg)
{
    const rnnc_gru *g = (const rnnc_gru *)l;
    return rnnc__gru_cell_config_keys(cell_of(g), cfg, l);
}

static const rnnc_rnn_class gru_class = {
    .layer = {
        .class_name = "GRU",
        .module = "keras.layers",
        .build = rnnc__rnn_build,
        .call = rnnc__rnn_call,
        .compute_output_spec = rnnc__rnn_output_spec,
        .get_config = rnnc__rnn_get_config,
        .destroy = rnnc__rnn_destroy,
        .supports_masking = false, /* the RNN call sets the output mask itself */
        .device = &rnnc_gru_device_class,
    },
    .inner_loop = gru_inner_loop,
    .get_config = gru_get_config,
};

bool rnnc_layer_is_gru(const rnnc_layer *l) { return l && l->cls == &gru_class.layer; }

rnnc_gru_cell *rnnc_gru_cell_of_layer(rnnc_layer *l)
{
    return rnnc_layer_is_gru(l) ? cell_of((rnnc_gru *)l) : NULL;
}

rnnc_use_cudnn rnnc_gru_use_cudnn(const rnnc_layer *l)
{
    return rnnc_layer_is_gru(l) ? ((const rnnc_gru *)l)->use_cudnn : RNNC_USE_CUDNN_AUTO;
}

rnnc_status rnnc_gru_set_kernel(rnnc_layer *l, rnnc_gru_kernel k)
{
    if (!rnnc_layer_is_gru(l))
        return rnnc_fail(RNNC_E_ARG, "set_kernel: layer '%s' is not a GRU", l ? l->name : "(null)");
    if (k != RNNC_GRU_KERNEL_AUTO && k != RNNC_GRU_KERNEL_GENERIC && k != RNNC_GRU_KERNEL_FUSED)
        return rnnc_fail(RNNC_E_ARG, "GRU '%s': unknown kernel choice %d", l->name, (int)k);
    ((rnnc_gru *)l)->kernel = k;
    return RNNC_OK;
}

rnnc_gru_kernel rnnc_gru_last_kernel(const rnnc_layer *l)
{
    return rnnc_layer_is_gru(l) ? ((const rnnc_gru *)l)->last_kernel : RNNC_GRU_KERNEL_AUTO;
}

rnnc_status rnnc_gru_set_dropout_masks(rnnc_layer *l, const rnnc_tensor *const *in_masks, int n_in,
                                       const rnnc_tensor *const *rec_masks, int n_rec)
{
    if (!rnnc_layer_is_gru(l))
        return rnnc_fail(RNNC_E_ARG, "set_dropout_masks: layer '%s' is not a GRU",
                         l ? l->name : "(null)");
    return rnnc_gru_cell_set_dropout_masks(((rnnc_gru *)l)->base.cell, in_masks, n_in, rec_masks,
                                           n_rec);
}

/* ---- construction -------------------------------------------------------- */

/* The GRU around an already made cell (taken over, also on failure). */
static rnnc_status make_gru(const rnnc_gru_options *o, const char *name, rnnc_layer *cell,
                            rnnc_layer **out)
{
    rnnc_rnn_options ro = rnnc_rnn_options_default();
    ro.return_sequences = o->return_sequences;
    ro.return_state = o->return_state;
    ro.go_backwards = o->go_backwards;
    ro.stateful = o->stateful;
    ro.unroll = o->unroll;
    ro.zero_output_for_mask = o->zero_output_for_mask;
    *out = NULL;
    rnnc_gru *g = calloc(1, sizeof *g);
    if (!g) {
        rnnc_layer_destroy(cell);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    rnnc_status s = rnnc_rnn_init(&g->base, &gru_class, name, o->dtype, cell, &ro);
    if (s) {
        if (g->base.base.cls)
            rnnc_layer_destroy(&g->base.base);
        else
            free(g);
        return s;
    }
    g->use_cudnn = o->use_cudnn;
    g->base.base.trainable = o->trainable;
    *out = &g->base.base;
    return RNNC_OK;
}

rnnc_status rnnc_gru_create(const rnnc_gru_options *o, rnnc_layer **out)
{
    *out = NULL;
    if (!o)
        return rnnc_fail(RNNC_E_ARG, "GRU: options are NULL (start from rnnc_gru_options_default())");
    if (o->units < 1)
        return rnnc_fail(RNNC_E_ARG, "GRU: 'units' must be a positive integer, got %lld",
                         (long long)o->units);
    if (o->use_cudnn != RNNC_USE_CUDNN_AUTO && o->use_cudnn != RNNC_USE_CUDNN_TRUE &&
        o->use_cudnn != RNNC_USE_CUDNN_FALSE)
        return rnnc_fail(RNNC_E_ARG, "GRU: 'use_cudnn' must be 'auto', True or False, got %d",
                         (int)o->use_cudnn);
    rnnc_gru_options co = *o;
    co.name = "gru_cell"; /* Keras names the cell "gru_cell" whatever the GRU's name */
    rnnc_layer *cell, *l;
    RNNC_TRY(rnnc_gru_cell_create(&co, &cell));
    RNNC_TRY(make_gru(o, o->name, cell, &l));
    if (o->activity_regularizer) {
        rnnc_status s = rnnc_regularizer_clone(o->activity_regularizer, &l->activity_regularizer);
        if (s) {
            rnnc_layer_destroy(l);
            return s;
        }
    }
    *out = l;
    return RNNC_OK;
}

static const char *const gru_keys[] = {
    "name", "trainable", "dtype", "activity_regularizer", "return_sequences", "return_state",
    "go_backwards", "stateful", "unroll", "zero_output_for_mask", "units", "activation",
    "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
    "recurrent_dropout", "reset_after", "seed", "use_cudnn", "implementation", "time_major",
    "autocast", "input_shape", "batch_input_shape", "input_dim", "batch_size", NULL};

static rnnc_status read_use_cudnn(const rnnc_cfg *cfg, rnnc_use_cudnn *out)
{
    char w[300];
    const rnnc_cfg *v = rnnc_cfg_get(cfg, "use_cudnn");
    *out = RNNC_USE_CUDNN_AUTO;
    if (!v)
        return RNNC_OK;
    if (v->type == RNNC_CFG_STRING && strcmp(v->v.s, "auto") == 0)
        return RNNC_OK;
    if (v->type == RNNC_CFG_BOOL) {
        *out = v->v.b ? RNNC_USE_CUDNN_TRUE : RNNC_USE_CUDNN_FALSE;
        return RNNC_OK;
    }
    /* Python equality lets 1 and 0 pass as True and False. */
    if (v->type == RNNC_CFG_INT && (v->v.i == 0 || v->v.i == 1)) {
        *out = v->v.i ? RNNC_USE_CUDNN_TRUE : RNNC_USE_CUDNN_FALSE;
        return RNNC_OK;
    }
    return rnnc_fail(RNNC_E_ARG, "GRU: invalid 'use_cudnn' %s%s%s%s: expected 'auto', true or false",
                     v->type == RNNC_CFG_STRING ? "'" : "", v->type == RNNC_CFG_STRING ? v->v.s : rnnc_cfg_type_name(v->type),
                     v->type == RNNC_CFG_STRING ? "'" : "", rnnc_cfg_where(v, w, sizeof w));
}

rnnc_status rnnc_gru_from_config(const rnnc_cfg *config, rnnc_layer **out)
{
    rnnc_gru_options o = rnnc_gru_options_default();
    rnnc_gru_cell_parsed p;
    rnnc_rnn_options ro;
    rnnc_layer *cell = NULL, *l = NULL;
    rnnc_status s;
    char w[300];
    *out = NULL;
    if (!config || config->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "GRU: the config must be a map of arguments");
    s = rnnc__gru_cell_read_config(config, "GRU", &o, &p);
    if (s) {
        rnnc__gru_cell_parsed_clear(&p);
        return s;
    }
    if ((s = rnnc__rnn_read_options(config, "GRU", &ro))) {
        rnnc__gru_cell_parsed_clear(&p);
        return s;
    }
    o.return_sequences = ro.return_sequences;
    o.return_state = ro.return_state;
    o.go_backwards = ro.go_backwards;
    o.stateful = ro.stateful;
    o.unroll = ro.unroll;
    o.zero_output_for_mask = ro.zero_output_for_mask;
    if ((s = rnnc__gru_cell_create_parsed(&o, &p, "gru_cell", "GRU", &cell)))
        return s;
    /* Take the config's name up front so no auto-name is consumed. */
    const rnnc_cfg *nm = rnnc_cfg_peek(config, "name");
    const char *name = (nm && nm->type == RNNC_CFG_STRING) ? nm->v.s : NULL;
    if (name && strchr(name, '/')) {
        rnnc_layer_destroy(cell);
        return rnnc_fail(RNNC_E_ARG, "GRU: name '%s' must not contain '/'", name);
    }
    if ((s = make_gru(&o, name, cell, &l)))
        return s;
    if ((s = rnnc_layer_read_base_config(l, config, true)))
        goto fail;
    /* The cell shares the layer's dtype and trainable flag (Keras copies them). */
    cell = rnnc_rnn_cell_of(l);
    cell->dtype = l->dtype;
    cell->trainable = l->trainable;
    if ((s = read_use_cudnn(config, &((rnnc_gru *)l)->use_cudnn)))
        goto fail;
    /* Keras 2's time_major: only false meant anything; true is not supported. */
    const rnnc_cfg *tm = rnnc_cfg_get(config, "time_major");
    if (tm && !(tm->type == RNNC_CFG_BOOL && !tm->v.b) && tm->type != RNNC_CFG_NULL) {
        s = rnnc_fail(RNNC_E_UNSUPPORTED, "GRU: 'time_major' (a Keras 2 argument) is only accepted as false%s",
                      rnnc_cfg_where(tm, w, sizeof w));
        goto fail;
    }
    bool autocast;
    if ((s = rnnc_cfg_read_bool(config, "GRU", "autocast", true, &autocast)))
        goto fail;
    /* Deprecated shape keys belong to the model loader (it inserts an
     * InputLayer); the layer itself ignores them. */
    rnnc_cfg_get(config, "input_shape");
    rnnc_cfg_get(config, "batch_input_shape");
    rnnc_cfg_get(config, "input_dim");
    rnnc_cfg_get(config, "batch_size");
    if ((s = rnnc_cfg_check_unread(config, "GRU", gru_keys)))
        goto fail;
    *out = l;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(l);
    return s;
}
