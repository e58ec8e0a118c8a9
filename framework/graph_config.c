/* graph_config.c - a layer graph as Keras 3's Functional config: the
 * "layers" list (InputLayers, layers with their inbound_nodes in the
 * {"args", "kwargs"} form, operations in Keras's operation form),
 * "input_layers" and "output_layers". */
#include <stdio.h>
#include <string.h>

#include "framework/graph_internal.h"

static rnnc_cfg *dims_cfg(const rnnc_shape *s)
{
    rnnc_cfg *l = rnnc_cfg_list();
    for (int i = 0; l && i < s->ndim; i++)
        if (rnnc_cfg_push(l, s->dim[i] < 0 ? rnnc_cfg_null() : rnnc_cfg_int(s->dim[i])) != RNNC_OK) {
            rnnc_cfg_destroy(l);
            return NULL;
        }
    return l;
}

/* Sets map[key] = item, failing on a NULL item (out of memory upstream). */
static rnnc_status put(rnnc_cfg *map, const char *key, rnnc_cfg *item)
{
    if (!item)
        return rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    return rnnc_cfg_set(map, key, item);
}

static rnnc_status push(rnnc_cfg *list, rnnc_cfg *item)
{
    if (!item)
        return rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    return rnnc_cfg_push(list, item);
}

/* Keras's name of a dtype: masks (uint8 here) are "bool". */
static const char *keras_dtype(rnnc_dtype t)
{
    return t == RNNC_U8 ? "bool" : rnnc_dtype_name(t);
}

/* [name, node_index, tensor_index] */
static rnnc_cfg *history_cfg(const rnnc_graph *g, rnnc_graph_ref r)
{
    rnnc_cfg *h = rnnc_cfg_list();
    if (!h || push(h, rnnc_cfg_string(rnnc__graph_node_name(g, r.node))) || push(h, rnnc_cfg_int(g->nodes[r.node].call_index)) ||
        push(h, rnnc_cfg_int(r.tensor))) {
        rnnc_cfg_destroy(h);
        return NULL;
    }
    return h;
}

/* {"class_name": "__keras_tensor__", "config": {"shape", "dtype", "keras_history"}} */
static rnnc_cfg *keras_tensor_cfg(const rnnc_graph *g, rnnc_graph_ref r)
{
    const rnnc_output_spec *sp = &g->nodes[r.node].spec;
    rnnc_cfg *t = rnnc_cfg_map(), *c = rnnc_cfg_map();
    if (!t || !c || put(c, "shape", dims_cfg(&sp->shapes[r.tensor])) ||
        rnnc_cfg_set_string(c, "dtype", keras_dtype(sp->dtype)) || put(c, "keras_history", history_cfg(g, r)) ||
        rnnc_cfg_set_string(t, "class_name", "__keras_tensor__")) {
        rnnc_cfg_destroy(t);
        rnnc_cfg_destroy(c);
        return NULL;
    }
    if (rnnc_cfg_set(t, "config", c)) { /* c is freed by the failed set */
        rnnc_cfg_destroy(t);
        return NULL;
    }
    return t;
}

static rnnc_cfg *tensor_list_cfg(const rnnc_graph *g, const rnnc_graph_ref *refs, int n)
{
    rnnc_cfg *l = rnnc_cfg_list();
    for (int i = 0; l && i < n; i++)
        if (push(l, keras_tensor_cfg(g, refs[i]))) {
            rnnc_cfg_destroy(l);
            return NULL;
        }
    return l;
}

/* {"args": [...], "kwargs": {...}} of one call, Keras 3's form. */
static rnnc_cfg *node_cfg(const rnnc_graph *g, const rnnc__gnode *n)
{
    const rnnc_graph_call *c = &n->call;
    rnnc_cfg *nd = rnnc_cfg_map(), *args = rnnc_cfg_list(), *kw = rnnc_cfg_map();
    bool ok = nd && args && kw;
    if (ok && c->args_as_list) {
        ok = push(args, tensor_list_cfg(g, c->args, c->n_args)) == RNNC_OK;
    } else if (ok) {
        for (int i = 0; ok && i < c->n_args; i++)
            ok = push(args, !c->consts[i].on       ? keras_tensor_cfg(g, c->args[i])
                            : c->consts[i].is_int ? rnnc_cfg_int((int64_t)c->consts[i].value)
                                                  : rnnc_cfg_float(c->consts[i].value)) == RNNC_OK;
    }
    if (ok && c->n_states > 0)
        ok = put(kw, "initial_state", c->states_as_list || c->n_states > 1
                                          ? tensor_list_cfg(g, c->states, c->n_states)
                                          : keras_tensor_cfg(g, c->states[0])) == RNNC_OK;
    if (ok && c->training >= 0)
        ok = rnnc_cfg_set_bool(kw, "training", c->training == 1) == RNNC_OK;
    if (ok && c->has_mask)
        ok = put(kw, "mask", keras_tensor_cfg(g, c->mask)) == RNNC_OK;
    else if (ok && c->mask_none)
        ok = rnnc_cfg_set_null(kw, "mask") == RNNC_OK;
    if (ok) {
        ok = rnnc_cfg_set(nd, "args", args) == RNNC_OK;
        args = NULL;
    }
    if (ok) {
        ok = rnnc_cfg_set(nd, "kwargs", kw) == RNNC_OK;
        kw = NULL;
    }
    rnnc_cfg_destroy(args);
    rnnc_cfg_destroy(kw);
    if (!ok) {
        rnnc_cfg_destroy(nd);
        return NULL;
    }
    return nd;
}

static rnnc_status input_entry(const rnnc_graph *g, const rnnc__gnode *n, rnnc_cfg **out)
{
    rnnc_cfg *e = rnnc_cfg_map(), *c = rnnc_cfg_map();
    rnnc_status s = e && c ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    (void)g;
    if (s == RNNC_OK &&
        ((s = put(c, "batch_shape", dims_cfg(&n->shape))) || (s = rnnc_cfg_set_string(c, "dtype", keras_dtype(n->dtype))) ||
         (s = rnnc_cfg_set_bool(c, "sparse", false)) || (s = rnnc_cfg_set_bool(c, "ragged", false)) ||
         (s = rnnc_cfg_set_string(c, "name", n->name)) || (s = rnnc_cfg_set_bool(c, "optional", false)) ||
         (s = rnnc_cfg_set_string(e, "module", "keras.layers")) ||
         (s = rnnc_cfg_set_string(e, "class_name", "InputLayer"))))
        goto fail;
    if (s == RNNC_OK) {
        s = rnnc_cfg_set(e, "config", c);
        c = NULL;
    }
    if (s || (s = rnnc_cfg_set_null(e, "registered_name")) || (s = rnnc_cfg_set_string(e, "name", n->name)) ||
        (s = put(e, "inbound_nodes", rnnc_cfg_list())))
        goto fail;
    *out = e;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(e);
    rnnc_cfg_destroy(c);
    return s;
}

static rnnc_cfg *ref_dims(const rnnc_graph *g, rnnc_graph_ref r)
{
    return dims_cfg(&g->nodes[r.node].spec.shapes[r.tensor]);
}

static rnnc_cfg *ref_dims_list(const rnnc_graph *g, const rnnc_graph_ref *refs, int n)
{
    rnnc_cfg *l = rnnc_cfg_list();
    for (int i = 0; l && i < n; i++)
        if (push(l, ref_dims(g, refs[i]))) {
            rnnc_cfg_destroy(l);
            return NULL;
        }
    return l;
}

/* Keras's get_build_config from the first call: one shape per list element
 * for list calls; shapes_dict for calls with initial states; else the
 * layer's own input_shape. */
static rnnc_status build_config_override(const rnnc_graph *g, const rnnc__gnode *first, rnnc_cfg *env)
{
    const rnnc_graph_call *c = &first->call;
    rnnc_cfg *bc;
    if (c->args_as_list) {
        bc = rnnc_cfg_map();
        if (!bc || put(bc, "input_shape", ref_dims_list(g, c->args, c->n_args))) {
            rnnc_cfg_destroy(bc);
            return rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
        }
    } else if (c->n_states > 0 && c->n_args == 1) {
        rnnc_cfg *sd = rnnc_cfg_map();
        bc = rnnc_cfg_map();
        bool ok = sd && bc && put(sd, "sequences_shape", ref_dims(g, c->args[0])) == RNNC_OK &&
                  put(sd, "initial_state_shape", c->states_as_list || c->n_states > 1
                                                     ? ref_dims_list(g, c->states, c->n_states)
                                                     : ref_dims(g, c->states[0])) == RNNC_OK;
        if (!ok || rnnc_cfg_set(bc, "shapes_dict", sd)) {
            if (!ok)
                rnnc_cfg_destroy(sd);
            rnnc_cfg_destroy(bc);
            return rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
        }
    } else {
        return RNNC_OK;
    }
    return rnnc_cfg_set(env, "build_config", bc);
}

/* Keras's operation form: {"module", "class_name", "config": {"name",
 * the operation's keys}, "registered_name": class_name}. */
static rnnc_status operation_entry(const rnnc_layer *l, rnnc_cfg **out)
{
    rnnc_cfg *e = rnnc_cfg_map(), *c = rnnc_cfg_map();
    rnnc_status s = e && c ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    if (s == RNNC_OK && ((s = rnnc_cfg_set_string(e, "module", l->cls->module)) ||
                         (s = rnnc_cfg_set_string(e, "class_name", l->cls->class_name)) ||
                         (s = rnnc_cfg_set_string(c, "name", l->name)) ||
                         (l->cls->get_config && (s = l->cls->get_config(l, c)))))
        goto fail;
    if (s == RNNC_OK) {
        s = rnnc_cfg_set(e, "config", c);
        c = NULL;
    }
    if (s || (s = rnnc_cfg_set_string(e, "registered_name", l->cls->class_name)))
        goto fail;
    *out = e;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(e);
    rnnc_cfg_destroy(c);
    return s;
}

static rnnc_status layer_entry(const rnnc_graph *g, int li, rnnc_cfg **out)
{
    rnnc_cfg *e = NULL, *nodes = rnnc_cfg_list();
    rnnc_status s = nodes ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    const rnnc__gnode *first = NULL;
    const rnnc_layer *l = g->layers[li];
    if (s == RNNC_OK && l->cls->is_operation)
        s = operation_entry(l, &e);
    else if (s == RNNC_OK)
        s = rnnc_layer_serialize(l, &e);
    for (int id = 0; s == RNNC_OK && id < g->n_nodes; id++) {
        const rnnc__gnode *n = &g->nodes[id];
        if (n->is_input || n->layer != li)
            continue;
        if (!first)
            first = n;
        s = push(nodes, node_cfg(g, n));
    }
    if (s == RNNC_OK && first && !l->cls->is_operation)
        s = build_config_override(g, first, e);
    if (s == RNNC_OK && !l->cls->build)
        rnnc_cfg_remove(e, "build_config"); /* Keras: no build method, no build_config (Dropout, Masking) */
    if (s == RNNC_OK)
        s = rnnc_cfg_set_string(e, "name", l->name);
    if (s == RNNC_OK) {
        s = rnnc_cfg_set(e, "inbound_nodes", nodes);
        nodes = NULL;
    }
    rnnc_cfg_destroy(nodes);
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(e);
        return s;
    }
    *out = e;
    return RNNC_OK;
}

/* [name, i, t] alone when single and not a list, else a list of them. */
static rnnc_cfg *endpoints_cfg(const rnnc_graph *g, const rnnc_graph_ref *refs, int n, bool as_list)
{
    if (!as_list && n == 1)
        return history_cfg(g, refs[0]);
    rnnc_cfg *l = rnnc_cfg_list();
    for (int i = 0; l && i < n; i++)
        if (push(l, history_cfg(g, refs[i]))) {
            rnnc_cfg_destroy(l);
            return NULL;
        }
    return l;
}

rnnc_status rnnc_graph_write_config(const rnnc_graph *g, rnnc_cfg *config)
{
    if (!g || !config || config->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "graph config: needs a graph and a config map");
    if (!g->complete)
        return rnnc_fail(RNNC_E_STATE, "graph config: the graph has no outputs yet");
    rnnc_cfg *layers = rnnc_cfg_list();
    if (!layers)
        return rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    rnnc_status s = RNNC_OK;
    for (int i = 0; s == RNNC_OK && i < g->n_ops; i++) {
        rnnc_cfg *e = NULL;
        s = g->ops[i].is_input ? input_entry(g, &g->nodes[g->ops[i].index], &e) : layer_entry(g, g->ops[i].index, &e);
        if (s == RNNC_OK)
            s = rnnc_cfg_push(layers, e);
    }
    if (s != RNNC_OK) {
        rnnc_cfg_destroy(layers);
        return s;
    }
    RNNC_TRY(rnnc_cfg_set(config, "layers", layers));
    rnnc_graph_ref ins[RNNC_MAX_IO];
    for (int i = 0; i < g->n_inputs; i++) {
        ins[i].node = g->inputs[i];
        ins[i].tensor = 0;
    }
    RNNC_TRY(put(config, "input_layers", endpoints_cfg(g, ins, g->n_inputs, g->inputs_as_list)));
    RNNC_TRY(put(config, "output_layers", endpoints_cfg(g, g->outputs, g->n_outputs, g->outputs_as_list)));
    return RNNC_OK;
}
