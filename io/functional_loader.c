/* functional_loader.c - Functional model configs (Keras 3 and Keras 2
 * inbound_nodes forms) -> a layer graph -> rnnc_model. Layers come from the
 * registry (or the caller's maker); the graph checks cycles and shapes. */
#include "io/functional_loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/graph.h"
#include "layers/input_layer.h"
#include "layers/keras_ops.h"
#include "layers/registry.h"

/* One entry of config.layers. */
typedef struct entry {
    const rnnc_cfg *cfg;
    const char *name;   /* the entry's name: what references use */
    bool is_input;
    int n_calls;        /* nodes: 1 for an InputLayer */
    int base;           /* node id of its first call */
} entry;

typedef struct loader {
    const char *model;  /* model name, for messages */
    entry *e;
    int n;
    const char **names; /* NULL-terminated, for suggestions */
    rnnc_graph *g;
} loader;

static const char *where(const rnnc_cfg *c, char *buf, size_t cap)
{
    return rnnc_cfg_where(c, buf, cap);
}

static const char *str_of(const rnnc_cfg *c)
{
    return c && c->type == RNNC_CFG_STRING ? c->v.s : NULL;
}

static int find_entry(const loader *ld, const char *name)
{
    for (int i = 0; i < ld->n; i++)
        if (strcmp(ld->e[i].name, name) == 0)
            return i;
    return -1;
}

/* [name, node_index, tensor_index(, ...)] with the right types. */
static bool is_history(const rnnc_cfg *h)
{
    return h && h->type == RNNC_CFG_LIST && h->n >= 3 && h->items[0]->type == RNNC_CFG_STRING &&
           h->items[1]->type == RNNC_CFG_INT && h->items[2]->type == RNNC_CFG_INT;
}

/* A [name, node_index, tensor_index] -> graph reference. `user` says who
 * refers to it (for messages). */
static rnnc_status resolve(const loader *ld, const rnnc_cfg *h, const char *user, rnnc_graph_ref *ref)
{
    char w[300];
    if (!is_history(h))
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: a tensor reference must be [layer_name, node_index, tensor_index]%s",
                         ld->model, user, where(h, w, sizeof w));
    const char *name = h->items[0]->v.s;
    int64_t ni = h->items[1]->v.i, ti = h->items[2]->v.i;
    int k = find_entry(ld, name);
    if (k < 0) {
        const char *near = rnnc_nearest_name(name, ld->names);
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s refers to layer '%s', which is not in the model's layers%s%s%s%s",
                         ld->model, user, name, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "",
                         where(h, w, sizeof w));
    }
    if (ni < 0 || ni >= ld->e[k].n_calls)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s refers to call %lld of '%s', which is called %d time%s%s",
                         ld->model, user, (long long)ni, name, ld->e[k].n_calls, ld->e[k].n_calls == 1 ? "" : "s",
                         where(h, w, sizeof w));
    if (ti < 0 || ti >= RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s refers to output %lld of '%s', which does not exist%s",
                         ld->model, user, (long long)ti, name, where(h, w, sizeof w));
    ref->node = ld->e[k].base + (int)ni;
    ref->tensor = (int)ti;
    return RNNC_OK;
}

/* ---- Keras 3 nodes ------------------------------------------------------- */

static bool is_keras_tensor(const rnnc_cfg *t)
{
    const char *cn = t && t->type == RNNC_CFG_MAP ? str_of(rnnc_cfg_peek(t, "class_name")) : NULL;
    return cn && strcmp(cn, "__keras_tensor__") == 0;
}

static rnnc_status k3_tensor(const loader *ld, const rnnc_cfg *t, const char *user, rnnc_graph_ref *ref)
{
    char w[300];
    if (!is_keras_tensor(t))
        return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': %s: only tensors ({\"class_name\": \"__keras_tensor__\", ...}) are supported as call arguments, got %s%s",
                         ld->model, user, t ? rnnc_cfg_type_name(t->type) : "nothing", where(t, w, sizeof w));
    rnnc_cfg_get(t, "class_name");
    const rnnc_cfg *c = rnnc_cfg_get(t, "config");
    if (!c || c->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: a __keras_tensor__ needs a 'config' map%s", ld->model, user,
                         where(t, w, sizeof w));
    rnnc_cfg_get(c, "shape");
    rnnc_cfg_get(c, "dtype");
    return resolve(ld, rnnc_cfg_get(c, "keras_history"), user, ref);
}

/* A tensor or a list of tensors (initial_state); *n_out entries. */
static rnnc_status k3_tensors(const loader *ld, const rnnc_cfg *v, const char *user, rnnc_graph_ref *refs,
                              int cap, int *n_out, bool *as_list)
{
    char w[300];
    *as_list = v->type == RNNC_CFG_LIST;
    if (!*as_list) {
        *n_out = 1;
        return k3_tensor(ld, v, user, &refs[0]);
    }
    if ((int)v->n > cap)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: %zu tensors are more than the %d supported%s", ld->model,
                         user, v->n, cap, where(v, w, sizeof w));
    for (size_t i = 0; i < v->n; i++)
        RNNC_TRY(k3_tensor(ld, v->items[i], user, &refs[i]));
    *n_out = (int)v->n;
    return RNNC_OK;
}

/* ---- Keras 2 nodes ------------------------------------------------------- */

/* A kwargs tensor: [name, i, t] or a list of them. */
static rnnc_status k2_tensors(const loader *ld, const rnnc_cfg *v, const char *user, rnnc_graph_ref *refs,
                              int cap, int *n_out, bool *as_list)
{
    char w[300];
    if (is_history(v)) {
        *as_list = false;
        *n_out = 1;
        return resolve(ld, v, user, &refs[0]);
    }
    if (v->type != RNNC_CFG_LIST || v->n == 0)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': %s: expected a tensor [layer, node_index, tensor_index] or a list of them%s",
                         ld->model, user, where(v, w, sizeof w));
    if ((int)v->n > cap)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: %zu tensors are more than the %d supported%s", ld->model,
                         user, v->n, cap, where(v, w, sizeof w));
    for (size_t i = 0; i < v->n; i++)
        RNNC_TRY(resolve(ld, v->items[i], user, &refs[i]));
    *as_list = true;
    *n_out = (int)v->n;
    return RNNC_OK;
}

/* ---- kwargs (both forms) ------------------------------------------------- */

static rnnc_status read_kwargs(const loader *ld, const rnnc_cfg *kw, bool keras2, const char *user,
                               rnnc_graph_call *c)
{
    char w[300], what[640];
    if (!kw || kw->type == RNNC_CFG_NULL)
        return RNNC_OK;
    if (kw->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: 'kwargs' must be a map%s", ld->model, user,
                         where(kw, w, sizeof w));
    for (size_t i = 0; i < kw->n; i++) {
        const char *key = kw->keys[i];
        const rnnc_cfg *v = kw->items[i];
        kw->used[i] = true;
        snprintf(what, sizeof what, "%s, %s=", user, key);
        if (strcmp(key, "training") == 0) {
            if (v->type == RNNC_CFG_BOOL)
                c->training = v->v.b ? 1 : 0;
            else if (v->type != RNNC_CFG_NULL)
                return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: 'training' must be true, false or null%s", ld->model,
                                 user, where(v, w, sizeof w));
        } else if (strcmp(key, "mask") == 0) {
            if (v->type == RNNC_CFG_NULL) {
                c->mask_none = true;
                continue;
            }
            int n;
            bool list;
            rnnc_graph_ref refs[RNNC_MAX_IO];
            RNNC_TRY(keras2 ? k2_tensors(ld, v, what, refs, RNNC_MAX_IO, &n, &list)
                            : k3_tensors(ld, v, what, refs, RNNC_MAX_IO, &n, &list));
            if (list)
                return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': %s: a list of masks is not supported (one mask tensor is)%s",
                                 ld->model, user, where(v, w, sizeof w));
            c->has_mask = true;
            c->mask = refs[0];
        } else if (strcmp(key, "initial_state") == 0) {
            if (v->type == RNNC_CFG_NULL)
                continue;
            int cap = RNNC_MAX_IO - c->n_args;
            RNNC_TRY(keras2 ? k2_tensors(ld, v, what, c->states, cap, &c->n_states, &c->states_as_list)
                            : k3_tensors(ld, v, what, c->states, cap, &c->n_states, &c->states_as_list));
        } else {
            return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': %s: the call argument '%s' is not supported (mask, initial_state and training are)%s",
                             ld->model, user, key, where(v, w, sizeof w));
        }
    }
    return RNNC_OK;
}

/* One inbound node of a layer entry -> a call. */
static rnnc_status read_node(const loader *ld, const rnnc_cfg *node, const char *user, rnnc_graph_call *c)
{
    char w[300];
    rnnc_graph_ref none = {0, 0};
    *c = rnnc_graph_call_default(none);
    c->n_args = 0;
    if (node->type == RNNC_CFG_MAP) {
        /* Keras 3: {"args": [...], "kwargs": {...}} */
        static const char *const keys[] = {"args", "kwargs", NULL};
        const rnnc_cfg *args = rnnc_cfg_get(node, "args");
        const rnnc_cfg *kw = rnnc_cfg_get(node, "kwargs");
        char what[640];
        snprintf(what, sizeof what, "Functional '%s': %s", ld->model, user);
        RNNC_TRY(rnnc_cfg_check_unread(node, what, keys));
        if (!args || args->type != RNNC_CFG_LIST || args->n == 0)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: 'args' must be a non-empty list of tensors%s", ld->model,
                             user, where(args ? args : node, w, sizeof w));
        if (args->items[0]->type == RNNC_CFG_LIST) {
            if (args->n != 1)
                return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': %s: a list of tensors followed by more positional arguments is not supported%s",
                                 ld->model, user, where(args, w, sizeof w));
            bool list;
            RNNC_TRY(k3_tensors(ld, args->items[0], user, c->args, RNNC_MAX_IO, &c->n_args, &list));
            if (c->n_args == 0)
                return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: an empty list of tensors%s", ld->model, user,
                                 where(args, w, sizeof w));
            c->args_as_list = true;
        } else {
            if ((int)args->n > RNNC_MAX_IO)
                return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: %zu positional arguments are more than the %d supported%s",
                                 ld->model, user, args->n, RNNC_MAX_IO, where(args, w, sizeof w));
            for (size_t i = 0; i < args->n; i++) {
                const rnnc_cfg *a = args->items[i];
                if (a->type == RNNC_CFG_INT || a->type == RNNC_CFG_FLOAT) {
                    /* a number: Keras ops such as not_equal(x, 0.0) */
                    c->consts[i].on = true;
                    c->consts[i].is_int = a->type == RNNC_CFG_INT;
                    c->consts[i].value = a->type == RNNC_CFG_INT ? (double)a->v.i : a->v.f;
                    continue;
                }
                RNNC_TRY(k3_tensor(ld, a, user, &c->args[i]));
            }
            c->n_args = (int)args->n;
        }
        return read_kwargs(ld, kw, false, user, c);
    }
    if (node->type == RNNC_CFG_LIST) {
        /* Keras 2: [[name, node_index, tensor_index, {kwargs}], ...] */
        if (node->n == 0 || (int)node->n > RNNC_MAX_IO)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: an inbound node must list 1 to %d tensors%s", ld->model,
                             user, RNNC_MAX_IO, where(node, w, sizeof w));
        for (size_t i = 0; i < node->n; i++) {
            const rnnc_cfg *h = node->items[i];
            if (is_history(h) && h->items[0]->type == RNNC_CFG_STRING && strcmp(h->items[0]->v.s, "_CONSTANT_VALUE") == 0)
                return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': %s: constant call arguments (_CONSTANT_VALUE) are not supported%s",
                                 ld->model, user, where(h, w, sizeof w));
            if (is_history(h) && h->n > 4)
                return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: an inbound tensor is [layer, node_index, tensor_index, kwargs], got %zu items%s",
                                 ld->model, user, h->n, where(h, w, sizeof w));
            RNNC_TRY(resolve(ld, h, user, &c->args[i]));
        }
        c->n_args = (int)node->n;
        c->args_as_list = node->n > 1;
        const rnnc_cfg *first = node->items[0];
        return read_kwargs(ld, first->n > 3 ? first->items[3] : NULL, true, user, c);
    }
    return rnnc_fail(RNNC_E_ARG, "Functional '%s': %s: an inbound node must be a map (Keras 3) or a list (Keras 2)%s",
                     ld->model, user, where(node, w, sizeof w));
}

/* ---- entries ------------------------------------------------------------- */

static rnnc_status scan_entries(loader *ld, const rnnc_cfg *layers)
{
    char w[300];
    int next = 0;
    for (int i = 0; i < ld->n; i++) {
        const rnnc_cfg *e = layers->items[i];
        entry *en = &ld->e[i];
        en->cfg = e;
        if (e->type != RNNC_CFG_MAP)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': layer %d must be a map%s", ld->model, i, where(e, w, sizeof w));
        const char *cls = str_of(rnnc_cfg_peek(e, "class_name"));
        const rnnc_cfg *c = rnnc_cfg_peek(e, "config");
        en->name = str_of(rnnc_cfg_peek(e, "name"));
        if (!en->name && c && c->type == RNNC_CFG_MAP)
            en->name = str_of(rnnc_cfg_peek(c, "name"));
        if (!en->name)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': layer %d (%s) has no 'name'%s", ld->model, i,
                             cls ? cls : "no class_name", where(e, w, sizeof w));
        for (int j = 0; j < i; j++)
            if (strcmp(ld->e[j].name, en->name) == 0)
                return rnnc_fail(RNNC_E_ARG, "Functional '%s': two layers are named '%s' (layers %d and %d)%s", ld->model,
                                 en->name, j, i, where(e, w, sizeof w));
        ld->names[i] = en->name;
        en->is_input = cls && strcmp(cls, "InputLayer") == 0;
        const rnnc_cfg *nodes = rnnc_cfg_peek(e, "inbound_nodes");
        if (nodes && nodes->type != RNNC_CFG_LIST && nodes->type != RNNC_CFG_NULL)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': layer '%s': 'inbound_nodes' must be a list%s", ld->model,
                             en->name, where(nodes, w, sizeof w));
        int n_nodes = nodes && nodes->type == RNNC_CFG_LIST ? (int)nodes->n : 0;
        if (en->is_input && n_nodes > 0)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': InputLayer '%s' must have no inbound nodes%s", ld->model,
                             en->name, where(nodes, w, sizeof w));
        if (!en->is_input && n_nodes == 0)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': layer '%s' is never called (no inbound_nodes): it is not part of the graph%s",
                             ld->model, en->name, where(e, w, sizeof w));
        if (n_nodes > 100000)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': layer '%s' has %d calls, more than supported%s", ld->model,
                             en->name, n_nodes, where(nodes, w, sizeof w));
        en->n_calls = en->is_input ? 1 : n_nodes;
        en->base = next;
        next += en->n_calls;
    }
    ld->names[ld->n] = NULL;
    return RNNC_OK;
}

static rnnc_status add_input(loader *ld, int i)
{
    char w[300];
    const entry *en = &ld->e[i];
    const rnnc_cfg *c = rnnc_cfg_get(en->cfg, "config");
    rnnc_input_layer_config in;
    rnnc_status s = rnnc_input_layer_from_config(c, &in);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "Functional '%s': InputLayer '%s': ", ld->model, en->name);
    rnnc_cfg_get(en->cfg, "name");
    rnnc_cfg_get(en->cfg, "inbound_nodes");
    int id;
    s = rnnc_graph_add_input(ld->g, in.name[0] ? in.name : en->name, &in.batch_shape, in.dtype, &id);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "Functional '%s': %s", ld->model, where(en->cfg, w, sizeof w));
    return RNNC_OK;
}

static rnnc_status default_maker(void *user, const rnnc_cfg *e, int index, rnnc_layer **out)
{
    (void)user;
    (void)index;
    return rnnc_layer_from_config(e, out);
}

/* A Keras operation entry (keras.src.ops: the mask arithmetic Keras records). */
static rnnc_status make_operation(const rnnc_cfg *e, rnnc_layer **out)
{
    static const char *const keys[] = {"module", "class_name", "config", "registered_name", "name",
                                       "inbound_nodes", NULL};
    char w[300];
    const char *cls = str_of(rnnc_cfg_get(e, "class_name"));
    const rnnc_cfg *reg = rnnc_cfg_get(e, "registered_name");
    const rnnc_cfg *config = rnnc_cfg_get(e, "config");
    rnnc_cfg_get(e, "module");
    rnnc_cfg_get(e, "name");
    rnnc_cfg_get(e, "inbound_nodes");
    if (reg && reg->type == RNNC_CFG_STRING && cls && strcmp(reg->v.s, cls) != 0)
        return rnnc_fail(RNNC_E_ARG, "operation '%s': registered_name '%s' names a custom class%s", cls, reg->v.s,
                         where(reg, w, sizeof w));
    RNNC_TRY(rnnc_cfg_check_unread(e, cls ? cls : "operation", keys));
    return rnnc_keras_op_from_config(cls, config, out);
}

static rnnc_status add_layer(loader *ld, int i, rnnc_functional_layer_fn make, void *user)
{
    const entry *en = &ld->e[i];
    rnnc_layer *l = NULL;
    rnnc_status s = rnnc_keras_op_module(str_of(rnnc_cfg_peek(en->cfg, "module"))) ? make_operation(en->cfg, &l)
                                                                                   : make(user, en->cfg, i, &l);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "Functional '%s': layer %d ('%s'): ", ld->model, i, en->name);
    if (!l)
        return rnnc_fail(RNNC_E_STATE, "Functional '%s': layer %d ('%s'): the layer maker returned no layer", ld->model,
                         i, en->name);
    const rnnc_cfg *nodes = rnnc_cfg_get(en->cfg, "inbound_nodes");
    for (int j = 0; j < en->n_calls; j++) {
        char user_s[300];
        rnnc_graph_call call;
        snprintf(user_s, sizeof user_s, "layer '%s' (call %d)", en->name, j);
        s = read_node(ld, nodes->items[j], user_s, &call);
        if (s != RNNC_OK) {
            if (j == 0) /* not yet handed to the graph */
                rnnc_layer_destroy(l);
            return s;
        }
        int id;
        if ((s = rnnc_graph_add_node(ld->g, l, &call, &id)) != RNNC_OK)
            return rnnc_fail_context(s, "Functional '%s': ", ld->model);
    }
    return RNNC_OK;
}

/* input_layers / output_layers: one [name, i, t] or a list of them. */
static rnnc_status read_endpoints(const loader *ld, const rnnc_cfg *v, const char *key, rnnc_graph_ref *refs,
                                  int *n, bool *as_list)
{
    char w[300], user[64];
    if (v && v->type == RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': '%s' as a dict (named inputs/outputs) is not supported; use a list%s",
                         ld->model, key, where(v, w, sizeof w));
    if (!v || v->type != RNNC_CFG_LIST || v->n == 0)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': '%s' must be [layer, node_index, tensor_index] or a non-empty list of them%s",
                         ld->model, key, where(v, w, sizeof w));
    if (v->items[0]->type == RNNC_CFG_STRING) {
        *as_list = false;
        *n = 1;
        snprintf(user, sizeof user, "'%s'", key);
        return resolve(ld, v, user, &refs[0]);
    }
    if ((int)v->n > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %zu %s are more than the %d supported%s", ld->model, v->n, key,
                         RNNC_MAX_IO, where(v, w, sizeof w));
    for (size_t i = 0; i < v->n; i++) {
        const rnnc_cfg *it = v->items[i];
        /* a nested list: the states of an RNN over StackedRNNCells with
         * return_state, one list per cell (Keras's nested outputs) */
        if (it->type == RNNC_CFG_LIST && it->n > 0 && is_history(it->items[0]))
            return rnnc_fail(RNNC_E_UNSUPPORTED, "Functional '%s': '%s'[%zu] is a nested list of the outputs of layer '%s': an RNN over StackedRNNCells with return_state (its states one list per cell) is not supported as a model output; list its state tensors one by one%s",
                             ld->model, key, i, it->items[0]->items[0]->v.s, where(it, w, sizeof w));
        snprintf(user, sizeof user, "'%s'[%zu]", key, i);
        RNNC_TRY(resolve(ld, it, user, &refs[i]));
    }
    *as_list = true;
    *n = (int)v->n;
    return RNNC_OK;
}

static rnnc_status read_io(loader *ld, const rnnc_cfg *config)
{
    char w[300];
    rnnc_graph_ref ins[RNNC_MAX_IO], outs[RNNC_MAX_IO];
    int n_in, n_out, ids[RNNC_MAX_IO];
    bool in_list, out_list;
    const rnnc_cfg *il = rnnc_cfg_get(config, "input_layers");
    RNNC_TRY(read_endpoints(ld, il, "input_layers", ins, &n_in, &in_list));
    for (int i = 0; i < n_in; i++) {
        int k = 0;
        while (k < ld->n && !(ins[i].node >= ld->e[k].base && ins[i].node < ld->e[k].base + ld->e[k].n_calls))
            k++;
        if (k == ld->n || !ld->e[k].is_input || ins[i].tensor != 0)
            return rnnc_fail(RNNC_E_ARG, "Functional '%s': input_layers[%d] must be an InputLayer's tensor [name, 0, 0]; '%s' is %s%s",
                             ld->model, i, k < ld->n ? ld->e[k].name : "?",
                             k < ld->n && !ld->e[k].is_input ? "not an InputLayer" : "given a tensor index other than 0",
                             where(il, w, sizeof w));
        ids[i] = ins[i].node;
    }
    rnnc_status s = rnnc_graph_set_inputs(ld->g, ids, n_in, in_list);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "Functional '%s': ", ld->model);
    RNNC_TRY(read_endpoints(ld, rnnc_cfg_get(config, "output_layers"), "output_layers", outs, &n_out, &out_list));
    /* Checks the whole graph (cycles, tensor indices) and builds it. */
    s = rnnc_graph_set_outputs(ld->g, outs, n_out, out_list);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "Functional '%s': ", ld->model);
    return RNNC_OK;
}

/* The config map: the envelope's "config", or the tree itself. */
static rnnc_status unwrap(const rnnc_cfg *root, const rnnc_cfg **config)
{
    char w[300];
    if (!root || root->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Functional: the config must be a map%s", where(root, w, sizeof w));
    const rnnc_cfg *cn = rnnc_cfg_peek(root, "class_name");
    if (!cn) {
        *config = root;
        return RNNC_OK;
    }
    const char *cls = str_of(cn);
    if (!cls || (strcmp(cls, "Functional") != 0 && strcmp(cls, "Model") != 0))
        return rnnc_fail(RNNC_E_ARG, "Functional: expected class_name 'Functional' (or Keras 2's 'Model'), got %s%s",
                         cls ? cls : "a non-string", where(cn, w, sizeof w));
    static const char *const env_keys[] = {"module", "class_name", "config", "registered_name", "build_config",
                                           "compile_config", "keras_version", "backend", "shared_object_id", NULL};
    for (int i = 0; env_keys[i]; i++)
        rnnc_cfg_get(root, env_keys[i]);
    RNNC_TRY(rnnc_cfg_check_unread(root, "Functional", env_keys));
    *config = rnnc_cfg_get(root, "config");
    if (!*config || (*config)->type != RNNC_CFG_MAP)
        return rnnc_fail(RNNC_E_ARG, "Functional: 'config' must be a map%s", where(*config ? *config : root, w, sizeof w));
    return RNNC_OK;
}

rnnc_status rnnc_functional_from_config_ex(const rnnc_cfg *root, rnnc_functional_layer_fn make, void *user,
                                           rnnc_model **out)
{
    static const char *const keys[] = {"name", "trainable", "layers", "input_layers", "output_layers", NULL};
    char w[300];
    const rnnc_cfg *config = NULL;
    *out = NULL;
    RNNC_TRY(unwrap(root, &config));
    const char *name = NULL;
    bool trainable = true;
    RNNC_TRY(rnnc_cfg_read_string(config, "Functional", "name", NULL, &name));
    RNNC_TRY(rnnc_cfg_read_bool(config, "Functional", "trainable", true, &trainable));
    const rnnc_cfg *layers = rnnc_cfg_get(config, "layers");
    if (!layers || layers->type != RNNC_CFG_LIST || layers->n == 0)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': 'layers' must be a non-empty list%s", name ? name : "functional",
                         where(layers ? layers : config, w, sizeof w));
    if (layers->n > 100000)
        return rnnc_fail(RNNC_E_ARG, "Functional '%s': %zu layers are more than supported%s", name ? name : "functional",
                         layers->n, where(layers, w, sizeof w));
    rnnc_cfg_get(config, "input_layers");
    rnnc_cfg_get(config, "output_layers");
    RNNC_TRY(rnnc_cfg_check_unread(config, "Functional", keys));
    loader ld = {.model = name ? name : "functional", .n = (int)layers->n};
    ld.e = calloc(layers->n, sizeof *ld.e);
    ld.names = calloc(layers->n + 1, sizeof *ld.names);
    rnnc_status s = ld.e && ld.names ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "out of memory");
    if (s == RNNC_OK)
        s = scan_entries(&ld, layers);
    if (s == RNNC_OK)
        s = rnnc_graph_create(&ld.g);
    for (int i = 0; s == RNNC_OK && i < ld.n; i++)
        s = ld.e[i].is_input ? add_input(&ld, i) : add_layer(&ld, i, make ? make : default_maker, user);
    if (s == RNNC_OK)
        s = read_io(&ld, config);
    rnnc_model *m = NULL;
    if (s == RNNC_OK) {
        s = rnnc_functional_create(name, ld.g, &m); /* takes the graph, also on failure */
        ld.g = NULL;
    }
    if (s == RNNC_OK && !trainable)
        for (int i = 0; i < m->n_layers; i++)
            m->layers[i]->trainable = false; /* Keras's model.trainable = False */
    rnnc_graph_destroy(ld.g);
    free(ld.e);
    free(ld.names);
    if (s != RNNC_OK)
        return s;
    *out = m;
    return RNNC_OK;
}

rnnc_status rnnc_functional_from_config(const rnnc_cfg *config, rnnc_model **out)
{
    return rnnc_functional_from_config_ex(config, NULL, NULL, out);
}
