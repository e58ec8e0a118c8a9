/* bidirectional.c - the Bidirectional wrapper: cloning the wrapped layer
 * through its config, the forward/backward calls, flipping and merging,
 * shapes, masks and config. */
#include "layers/bidirectional.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "framework/rnn.h"
#include "layers/device_classes_internal.h"
#include "layers/registry.h"

const char *rnnc_merge_mode_name(rnnc_merge_mode m)
{
    switch (m) {
    case RNNC_MERGE_CONCAT: return "concat";
    case RNNC_MERGE_SUM: return "sum";
    case RNNC_MERGE_MUL: return "mul";
    case RNNC_MERGE_AVE: return "ave";
    default: return NULL;
    }
}

/* A fresh copy of src from its serialization, named prefix + name (without
 * a leading prefix already there, as Keras's removeprefix), optionally with
 * go_backwards = true. */
static rnnc_status clone_layer(const rnnc_layer *src, const char *prefix, bool backwards, rnnc_layer **out)
{
    rnnc_cfg *env;
    char name[300];
    *out = NULL;
    RNNC_TRY(rnnc_layer_serialize(src, &env));
    rnnc_cfg *config = (rnnc_cfg *)rnnc_cfg_peek(env, "config");
    size_t plen = strlen(prefix);
    const char *base = strncmp(src->name, prefix, plen) == 0 ? src->name + plen : src->name;
    snprintf(name, sizeof name, "%s%s", prefix, base);
    rnnc_status s = rnnc_cfg_set_string(config, "name", name);
    if (s == RNNC_OK && backwards)
        s = rnnc_cfg_set_bool(config, "go_backwards", true);
    if (s == RNNC_OK)
        s = rnnc_layer_from_config(env, out);
    rnnc_cfg_destroy(env);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "Bidirectional: cloning %s '%s' from its config: ", src->cls->class_name,
                                 src->name);
    return RNNC_OK;
}

/* Keras's _verify_layer_config. */
static rnnc_status verify_pair(rnnc_layer *fwd, rnnc_layer *bwd)
{
    const rnnc_rnn *f = rnnc_rnn_of(fwd), *b = rnnc_rnn_of(bwd);
    if (!b)
        return rnnc_fail(RNNC_E_ARG, "Bidirectional: backward_layer must be a recurrent layer (RNN, GRU), got %s '%s'",
                         bwd->cls->class_name, bwd->name);
    if (f->opt.go_backwards == b->opt.go_backwards)
        return rnnc_fail(RNNC_E_ARG, "Bidirectional: forward layer and backward layer should have different go_backwards values; got forward_layer.go_backwards=%s, backward_layer.go_backwards=%s",
                         f->opt.go_backwards ? "True" : "False", b->opt.go_backwards ? "True" : "False");
    const char *names[3] = {"stateful", "return_sequences", "return_state"};
    const bool fv[3] = {f->opt.stateful, f->opt.return_sequences, f->opt.return_state};
    const bool bv[3] = {b->opt.stateful, b->opt.return_sequences, b->opt.return_state};
    for (int i = 0; i < 3; i++)
        if (fv[i] != bv[i])
            return rnnc_fail(RNNC_E_ARG, "Bidirectional: forward layer and backward layer are expected to have the same value for attribute \"%s\", got \"%s\" for forward layer and \"%s\" for backward layer",
                             names[i], fv[i] ? "True" : "False", bv[i] ? "True" : "False");
    return RNNC_OK;
}

static rnnc_status bidi_build(rnnc_layer *l, const rnnc_shape *in)
{
    rnnc_bidirectional *b = (rnnc_bidirectional *)l;
    RNNC_TRY(rnnc_layer_build(b->forward_layer, in));
    return rnnc_layer_build(b->backward_layer, in);
}

static rnnc_status bidi_output_spec(const rnnc_layer *l, const rnnc_shape *in, rnnc_output_spec *spec)
{
    const rnnc_bidirectional *b = (const rnnc_bidirectional *)l;
    rnnc_output_spec fs;
    RNNC_TRY(rnnc_layer_output_spec(b->forward_layer, in, &fs));
    int n_states = b->return_state ? fs.n_outputs - 1 : 0;
    int n_out = b->merge_mode == RNNC_MERGE_NONE ? 2 : 1;
    if (n_out + 2 * n_states > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "Bidirectional: %d outputs exceed the limit of %d", n_out + 2 * n_states,
                         RNNC_MAX_IO);
    spec->shapes[0] = fs.shapes[0];
    if (b->merge_mode == RNNC_MERGE_CONCAT) {
        int64_t *last = &spec->shapes[0].dim[spec->shapes[0].ndim - 1];
        if (*last >= 0)
            *last *= 2;
    } else if (b->merge_mode == RNNC_MERGE_NONE) {
        spec->shapes[1] = fs.shapes[0];
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < n_states; i++)
            spec->shapes[n_out + k * n_states + i] = fs.shapes[1 + i];
    spec->n_outputs = n_out + 2 * n_states;
    spec->dtype = l->dtype;
    return RNNC_OK;
}

static rnnc_status bidi_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                             rnnc_call_result *res)
{
    rnnc_bidirectional *b = (rnnc_bidirectional *)l;
    rnnc_call_args fa, ba;
    rnnc_call_result fr, br;
    /* initial states: first half forward, second half backward (Keras's len // 2) */
    const int n_init = args->n_inputs - 1, half = n_init / 2;
    memset(&fa, 0, sizeof fa);
    memset(&ba, 0, sizeof ba);
    fa.inputs[0] = ba.inputs[0] = args->inputs[0];
    fa.n_inputs = 1 + half;
    ba.n_inputs = 1 + (n_init - half);
    for (int i = 0; i < half; i++)
        fa.inputs[1 + i] = args->inputs[1 + i];
    for (int i = half; i < n_init; i++)
        ba.inputs[1 + i - half] = args->inputs[1 + i];
    fa.mask = ba.mask = args->mask;
    fa.training = ba.training = args->training;
    RNNC_TRY(rnnc_layer_call(b->forward_layer, cx, &fa, &fr));
    RNNC_TRY(rnnc_layer_call(b->backward_layer, cx, &ba, &br));
    rnnc_tensor *y = fr.outputs[0], *y_rev = br.outputs[0], *out = NULL;
    if (y->dtype != y_rev->dtype)
        return rnnc_fail(RNNC_E_DTYPE, "Bidirectional: the forward output is %s but the backward output is %s",
                         rnnc_dtype_name(y->dtype), rnnc_dtype_name(y_rev->dtype));
    /* the backward sequence is in processing order: flip it back in time */
    if (b->return_sequences)
        RNNC_TRY(rnnc_reverse(cx, y_rev, 1, &y_rev));
    int n = 0;
    switch (b->merge_mode) {
    case RNNC_MERGE_CONCAT: {
        rnnc_tensor *pair[2] = {y, y_rev};
        RNNC_TRY(rnnc_concat(cx, pair, 2, y->shape.ndim - 1, &out));
        break;
    }
    case RNNC_MERGE_SUM: RNNC_TRY(rnnc_add(cx, y, y_rev, &out)); break;
    case RNNC_MERGE_MUL: RNNC_TRY(rnnc_mul(cx, y, y_rev, &out)); break;
    case RNNC_MERGE_AVE:
        RNNC_TRY(rnnc_add(cx, y, y_rev, &out));
        RNNC_TRY(rnnc_affine(cx, out, 0.5, 0.0, &out));
        break;
    case RNNC_MERGE_NONE: break;
    }
    if (b->merge_mode == RNNC_MERGE_NONE) {
        res->outputs[n++] = y;
        res->outputs[n++] = y_rev;
    } else {
        res->outputs[n++] = out;
    }
    if (b->return_state) {
        if (n + (fr.n_outputs - 1) + (br.n_outputs - 1) > RNNC_MAX_IO)
            return rnnc_fail(RNNC_E_UNSUPPORTED, "Bidirectional: too many states to return (limit %d outputs)",
                             RNNC_MAX_IO);
        for (int i = 1; i < fr.n_outputs; i++)
            res->outputs[n++] = fr.outputs[i];
        for (int i = 1; i < br.n_outputs; i++)
            res->outputs[n++] = br.outputs[i];
    }
    res->n_outputs = n;
    /* Keras's compute_mask: the input mask for sequences, none otherwise. */
    res->mask = b->return_sequences ? (rnnc_tensor *)args->mask : NULL;
    return RNNC_OK;
}

static rnnc_status bidi_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_bidirectional *b = (const rnnc_bidirectional *)l;
    rnnc_cfg *fc, *bc;
    const char *mm = rnnc_merge_mode_name(b->merge_mode);
    RNNC_TRY(mm ? rnnc_cfg_set_string(c, "merge_mode", mm) : rnnc_cfg_set_null(c, "merge_mode"));
    RNNC_TRY(rnnc_layer_serialize(b->forward_layer, &fc));
    RNNC_TRY(rnnc_cfg_set(c, "layer", fc));
    RNNC_TRY(rnnc_layer_serialize(b->backward_layer, &bc));
    return rnnc_cfg_set(c, "backward_layer", bc);
}

const rnnc_layer_class rnnc_bidirectional_class = {
    .class_name = "Bidirectional",
    .module = "keras.layers",
    .build = bidi_build,
    .call = bidi_call,
    .compute_output_spec = bidi_output_spec,
    .get_config = bidi_get_config,
    .destroy = NULL,
    /* The call sets the output mask itself (none without return_sequences),
     * so the base must not pass the input mask on. */
    .supports_masking = false,
    .device = &rnnc_bidirectional_device_class,
};

rnnc_status rnnc_bidirectional_create(rnnc_layer *layer, rnnc_merge_mode merge_mode,
                                      rnnc_layer *backward_layer, const char *name, rnnc_layer **out)
{
    rnnc_layer *fwd = NULL, *bwd = backward_layer;
    rnnc_bidirectional *b = NULL;
    rnnc_status s;
    *out = NULL;
    if (!layer) {
        s = rnnc_fail(RNNC_E_ARG, "Bidirectional: the wrapped layer is NULL");
        goto fail;
    }
    if ((unsigned)merge_mode > RNNC_MERGE_NONE) {
        s = rnnc_fail(RNNC_E_ARG, "Bidirectional: invalid merge mode %d; it should be one of concat, sum, mul, ave, None",
                      (int)merge_mode);
        goto fail;
    }
    if (!rnnc_layer_is_rnn(layer)) {
        s = rnnc_fail(RNNC_E_ARG, "Bidirectional: the wrapped layer must be a recurrent layer (RNN, GRU), got %s '%s'",
                      layer->cls->class_name, layer->name);
        goto fail;
    }
    /* Keras recreates both layers from the config so no state carries over. */
    if ((s = clone_layer(layer, "forward_", false, &fwd)) != RNNC_OK)
        goto fail;
    if (!bwd && (s = clone_layer(layer, "backward_", true, &bwd)) != RNNC_OK)
        goto fail;
    if ((s = verify_pair(fwd, bwd)) != RNNC_OK)
        goto fail;
    /* Masked steps must give zeros in both directions before merging. */
    rnnc_rnn *f = rnnc_rnn_of(fwd), *r = rnnc_rnn_of(bwd);
    f->opt.zero_output_for_mask = f->opt.return_sequences;
    r->opt.zero_output_for_mask = r->opt.return_sequences;
    b = calloc(1, sizeof *b);
    if (!b) {
        s = rnnc_fail(RNNC_E_NOMEM, "Bidirectional: out of memory");
        goto fail;
    }
    if ((s = rnnc_layer_init(&b->base, &rnnc_bidirectional_class, name, layer->dtype)) != RNNC_OK)
        goto fail;
    b->merge_mode = merge_mode;
    b->return_sequences = f->opt.return_sequences;
    b->return_state = f->opt.return_state;
    b->stateful = f->opt.stateful;
    s = rnnc_layer_add_child(&b->base, "forward_layer", fwd);
    fwd = NULL; /* owned by b from here, also on failure */
    if (s != RNNC_OK)
        goto fail;
    b->forward_layer = b->base.children[0];
    s = rnnc_layer_add_child(&b->base, "backward_layer", bwd);
    bwd = NULL;
    if (s != RNNC_OK)
        goto fail;
    b->backward_layer = b->base.children[1];
    rnnc_layer_destroy(layer);
    *out = &b->base;
    return RNNC_OK;
fail:
    rnnc_layer_destroy(fwd);
    if (bwd != layer)
        rnnc_layer_destroy(bwd);
    rnnc_layer_destroy(layer);
    rnnc_layer_destroy(b ? &b->base : NULL);
    return s;
}

rnnc_status rnnc_bidirectional_reset_state(rnnc_layer *l)
{
    if (!l || l->cls != &rnnc_bidirectional_class)
        return rnnc_fail(RNNC_E_ARG, "rnnc_bidirectional_reset_state: not a Bidirectional layer");
    rnnc_bidirectional *b = (rnnc_bidirectional *)l;
    if (!b->stateful)
        return rnnc_fail(RNNC_E_STATE, "Bidirectional '%s': layer must be stateful to reset its state", l->name);
    RNNC_TRY(rnnc_rnn_reset_state(b->forward_layer));
    return rnnc_rnn_reset_state(b->backward_layer);
}

static const char *const bidi_keys[] = {"name", "trainable", "dtype", "activity_regularizer", "merge_mode", "layer",
                                        "backward_layer", "weights", "input_shape", "batch_input_shape",
                                        "input_dim", "batch_size", NULL};

static rnnc_status read_merge_mode(const rnnc_cfg *c, rnnc_merge_mode *m)
{
    static const char *const names[] = {"concat", "sum", "mul", "ave", NULL};
    char w[300];
    const rnnc_cfg *mm = rnnc_cfg_get(c, "merge_mode");
    *m = RNNC_MERGE_CONCAT;
    if (!mm)
        return RNNC_OK;
    if (mm->type == RNNC_CFG_NULL) {
        *m = RNNC_MERGE_NONE;
        return RNNC_OK;
    }
    if (mm->type == RNNC_CFG_STRING)
        for (int i = 0; names[i]; i++)
            if (strcmp(mm->v.s, names[i]) == 0) {
                *m = (rnnc_merge_mode)i;
                return RNNC_OK;
            }
    return rnnc_fail(RNNC_E_ARG, "Bidirectional: invalid merge_mode %s%s%s; it should be one of \"sum\", \"mul\", \"ave\", \"concat\", null%s",
                     mm->type == RNNC_CFG_STRING ? "'" : "a ",
                     mm->type == RNNC_CFG_STRING ? mm->v.s : rnnc_cfg_type_name(mm->type),
                     mm->type == RNNC_CFG_STRING ? "'" : "", rnnc_cfg_where(mm, w, sizeof w));
}

rnnc_status rnnc_bidirectional_from_config(const rnnc_cfg *c, rnnc_layer **out)
{
    char w[300];
    rnnc_merge_mode mode;
    rnnc_layer *layer = NULL, *backward = NULL, *l = NULL;
    rnnc_shape in;
    bool has_in;
    rnnc_status s;
    *out = NULL;
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Bidirectional: config must be a map");
    RNNC_TRY(read_merge_mode(c, &mode));
    const rnnc_cfg *wts = rnnc_cfg_get(c, "weights");
    if (wts && wts->type != RNNC_CFG_NULL)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "Bidirectional: the 'weights' argument is not supported in configs; load a weights file instead%s",
                         rnnc_cfg_where(wts, w, sizeof w));
    const rnnc_cfg *lc = rnnc_cfg_get(c, "layer");
    char hint[600];
    if (!lc || lc->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Bidirectional: %s'layer' (the wrapped recurrent layer's serialization) is required%s",
                         lc ? "" : rnnc_cfg_misspelt(c, "layer", bidi_keys, hint, sizeof hint),
                         rnnc_cfg_where(lc ? lc : c, w, sizeof w));
    if ((s = rnnc_layer_from_config(lc, &layer)) != RNNC_OK)
        return rnnc_fail_context(s, "Bidirectional.layer: ");
    const rnnc_cfg *bc = rnnc_cfg_get(c, "backward_layer");
    if (bc && bc->type != RNNC_CFG_NULL && (s = rnnc_layer_from_config(bc, &backward)) != RNNC_OK) {
        rnnc_layer_destroy(layer);
        return rnnc_fail_context(s, "Bidirectional.backward_layer: ");
    }
    RNNC_TRY(rnnc_bidirectional_create(layer, mode, backward, rnnc_layer_config_name(c), &l));
    if ((s = rnnc_layer_read_base_config(l, c, true)) ||
        (s = rnnc_layer_config_input_shape(c, "Bidirectional", true, &in, &has_in)) ||
        (s = rnnc_cfg_check_unread(c, "Bidirectional", bidi_keys))) {
        rnnc_layer_destroy(l);
        return s;
    }
    *out = l;
    return RNNC_OK;
}
