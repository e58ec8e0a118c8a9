/* graph.c - the Functional layer graph: nodes, validation (dangling
 * references, cycles, tensor indices), shape inference and build, the
 * forward run with Keras's mask rules, and the Functional config's layers /
 * input_layers / output_layers. Reading configs is io/functional_loader.c. */
#include "framework/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "framework/rnn.h"

typedef struct gnode {
    bool is_input;
    int layer;             /* index into g->layers; -1 for inputs */
    int call_index;        /* Keras's node_index: this call's number for its layer */
    rnnc_graph_call call;  /* layer calls only */
    char *name;            /* inputs only (owned) */
    rnnc_shape shape;      /* inputs: batch shape */
    rnnc_dtype dtype;      /* inputs */
    rnnc_output_spec spec; /* static output shapes, after set_outputs */
    bool needed;           /* on a path to an output */
    /* per run */
    int n_out;
    rnnc_tensor *out[RNNC_MAX_IO];
    const rnnc_tensor *mask; /* mask of out[0], or NULL */
} gnode;

/* Inputs and layers in the order they entered the graph (the config's
 * "layers" order). */
typedef struct gop {
    bool is_input;
    int index; /* node id of an input, or layer index */
} gop;

struct rnnc_graph {
    int n_nodes, cap_nodes;
    gnode *nodes;
    int n_layers, cap_layers;
    rnnc_layer **layers;
    int *layer_calls;         /* calls per layer */
    rnnc_tensor **act_sum;    /* per layer, per run: summed activity losses */
    bool owns_layers;
    int n_ops, cap_ops;
    gop *ops;
    int n_inputs;
    int inputs[RNNC_MAX_IO];  /* model input order: node ids */
    bool inputs_set, inputs_as_list;
    int n_outputs;
    rnnc_graph_ref outputs[RNNC_MAX_IO];
    bool outputs_as_list;
    bool complete;
    int *order;               /* topological order of all nodes */
};

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

rnnc_graph_call rnnc_graph_call_default(rnnc_graph_ref arg)
{
    rnnc_graph_call c;
    memset(&c, 0, sizeof c);
    c.n_args = 1;
    c.args[0] = arg;
    c.training = -1;
    return c;
}

rnnc_status rnnc_graph_create(rnnc_graph **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return rnnc_fail(RNNC_E_NOMEM, "graph: out of memory");
    (*out)->owns_layers = true;
    return RNNC_OK;
}

void rnnc_graph_destroy(rnnc_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        free(g->nodes[i].name);
    if (g->owns_layers)
        for (int i = 0; i < g->n_layers; i++)
            rnnc_layer_destroy(g->layers[i]);
    free(g->nodes);
    free(g->layers);
    free(g->layer_calls);
    free(g->act_sum);
    free(g->ops);
    free(g->order);
    free(g);
}

void rnnc__graph_release_layers(rnnc_graph *g)
{
    if (g)
        g->owns_layers = false;
}

/* ---- building the graph ---------------------------------------------------- */

/* The name of what a node calls: the input's name or the layer's. */
static const char *node_name(const rnnc_graph *g, int id)
{
    const gnode *n = &g->nodes[id];
    return n->is_input ? n->name : g->layers[n->layer]->name;
}

static bool name_taken(const rnnc_graph *g, const char *name)
{
    for (int i = 0; i < g->n_layers; i++)
        if (strcmp(g->layers[i]->name, name) == 0)
            return true;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].is_input && strcmp(g->nodes[i].name, name) == 0)
            return true;
    return false;
}

static rnnc_status grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return RNNC_OK;
    int ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(*p, (size_t)ncap * elem);
    if (!q)
        return rnnc_fail(RNNC_E_NOMEM, "graph: out of memory");
    *p = q;
    *cap = ncap;
    return RNNC_OK;
}

static rnnc_status push_op(rnnc_graph *g, bool is_input, int index)
{
    RNNC_TRY(grow((void **)&g->ops, &g->cap_ops, g->n_ops + 1, sizeof *g->ops));
    g->ops[g->n_ops].is_input = is_input;
    g->ops[g->n_ops++].index = index;
    return RNNC_OK;
}

static rnnc_status new_node(rnnc_graph *g, gnode **out)
{
    RNNC_TRY(grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes));
    *out = &g->nodes[g->n_nodes];
    memset(*out, 0, sizeof **out);
    return RNNC_OK;
}

rnnc_status rnnc_graph_add_input(rnnc_graph *g, const char *name, const rnnc_shape *batch_shape,
                                 rnnc_dtype dtype, int *id)
{
    char s[160];
    if (!g || !name || !batch_shape)
        return rnnc_fail(RNNC_E_ARG, "graph input: needs a graph, a name and a batch shape");
    if (g->complete)
        return rnnc_fail(RNNC_E_STATE, "graph input '%s': the graph is complete (outputs set); no more inputs", name);
    if (!name[0] || strchr(name, '/'))
        return rnnc_fail(RNNC_E_ARG, "graph input: name '%s' must be non-empty without '/'", name);
    if (name_taken(g, name))
        return rnnc_fail(RNNC_E_ARG, "graph input '%s': the name is already used by another input or layer", name);
    if (batch_shape->ndim < 1 || batch_shape->ndim > RNNC_MAX_DIMS)
        return rnnc_fail(RNNC_E_SHAPE, "graph input '%s': the batch shape must have 1 to %d axes (batch first), got %s",
                         name, RNNC_MAX_DIMS, rnnc_shape_str(batch_shape, s, sizeof s));
    for (int i = 0; i < batch_shape->ndim; i++)
        if (batch_shape->dim[i] < -1 || batch_shape->dim[i] == 0)
            return rnnc_fail(RNNC_E_SHAPE, "graph input '%s': dimensions must be positive or -1 (None), got %s",
                             name, rnnc_shape_str(batch_shape, s, sizeof s));
    if ((int)dtype < 0 || dtype >= RNNC_DTYPE_COUNT)
        return rnnc_fail(RNNC_E_DTYPE, "graph input '%s': unknown dtype %d", name, (int)dtype);
    int n_in = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n_in += g->nodes[i].is_input;
    if (n_in >= RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "graph input '%s': a model takes at most %d inputs", name, RNNC_MAX_IO);
    gnode *n;
    RNNC_TRY(new_node(g, &n));
    n->name = dup_str(name);
    if (!n->name)
        return rnnc_fail(RNNC_E_NOMEM, "graph: out of memory");
    n->is_input = true;
    n->layer = -1;
    n->shape = *batch_shape;
    n->dtype = dtype;
    RNNC_TRY(push_op(g, true, g->n_nodes));
    if (id)
        *id = g->n_nodes;
    g->n_nodes++;
    return RNNC_OK;
}

static rnnc_status check_call_form(const rnnc_layer *l, const rnnc_graph_call *c)
{
    const char *cn = l->cls->class_name;
    if (c->n_args < 1 || c->n_args > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': a call needs 1 to %d positional tensors, got %d", cn, l->name,
                         RNNC_MAX_IO, c->n_args);
    if (c->n_states < 0 || c->n_args + c->n_states > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': %d tensors and %d initial states are more than the %d a call takes",
                         cn, l->name, c->n_args, c->n_states, RNNC_MAX_IO);
    if (c->args_as_list && c->n_states > 0)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': a call on a list of tensors cannot also take initial states", cn,
                         l->name);
    if (c->training < -1 || c->training > 1)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': training must be -1 (not given), 0 or 1, got %d", cn, l->name,
                         c->training);
    const rnnc_graph_ref *refs[2 * RNNC_MAX_IO + 1];
    int n = 0;
    for (int i = 0; i < c->n_args; i++)
        refs[n++] = &c->args[i];
    for (int i = 0; i < c->n_states; i++)
        refs[n++] = &c->states[i];
    if (c->has_mask)
        refs[n++] = &c->mask;
    for (int i = 0; i < n; i++)
        if (refs[i]->node < 0 || refs[i]->tensor < 0 || refs[i]->tensor >= RNNC_MAX_IO)
            return rnnc_fail(RNNC_E_ARG, "%s '%s': a reference to node %d, tensor %d is invalid", cn, l->name,
                             refs[i]->node, refs[i]->tensor);
    return RNNC_OK;
}

static int layer_index(const rnnc_graph *g, const rnnc_layer *l)
{
    for (int i = 0; i < g->n_layers; i++)
        if (g->layers[i] == l)
            return i;
    return -1;
}

rnnc_status rnnc_graph_add_node(rnnc_graph *g, rnnc_layer *layer, const rnnc_graph_call *call, int *id)
{
    rnnc_status s = RNNC_OK;
    int li = g && layer ? layer_index(g, layer) : -1;
    if (!g || !layer || !call) {
        s = rnnc_fail(RNNC_E_ARG, "graph node: needs a graph, a layer and a call");
        goto fail;
    }
    if (g->complete) {
        s = rnnc_fail(RNNC_E_STATE, "graph node ('%s'): the graph is complete (outputs set); no more nodes",
                      layer->name);
        goto fail;
    }
    if ((s = check_call_form(layer, call)) != RNNC_OK)
        goto fail;
    if (li < 0) {
        if (name_taken(g, layer->name)) {
            s = rnnc_fail(RNNC_E_ARG, "graph node: another layer or input is already named '%s'; layer names must be unique",
                          layer->name);
            goto fail;
        }
        if ((s = grow((void **)&g->layers, &g->cap_layers, g->n_layers + 1, sizeof *g->layers)) != RNNC_OK)
            goto fail;
        int *calls = realloc(g->layer_calls, (size_t)g->cap_layers * sizeof *calls);
        if (!calls) {
            s = rnnc_fail(RNNC_E_NOMEM, "graph: out of memory");
            goto fail;
        }
        g->layer_calls = calls;
        if ((s = push_op(g, false, g->n_layers)) != RNNC_OK)
            goto fail;
        li = g->n_layers++;
        g->layers[li] = layer;
        g->layer_calls[li] = 0;
    }
    gnode *n;
    RNNC_TRY(new_node(g, &n)); /* the layer is in g->layers now: the graph frees it */
    n->layer = li;
    n->call_index = g->layer_calls[li]++;
    n->call = *call;
    if (id)
        *id = g->n_nodes;
    g->n_nodes++;
    return RNNC_OK;
fail:
    if (li < 0)
        rnnc_layer_destroy(layer);
    return s;
}

rnnc_status rnnc_graph_set_inputs(rnnc_graph *g, const int *ids, int n, bool as_list)
{
    int n_in = 0;
    if (!g || (!ids && n > 0))
        return rnnc_fail(RNNC_E_ARG, "graph inputs: needs a graph and input ids");
    for (int i = 0; i < g->n_nodes; i++)
        n_in += g->nodes[i].is_input;
    if (g->complete)
        return rnnc_fail(RNNC_E_STATE, "graph: the inputs cannot change once the outputs are set");
    if (n != n_in)
        return rnnc_fail(RNNC_E_ARG, "graph: the model inputs must list each of the %d input nodes once, got %d",
                         n_in, n);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= g->n_nodes || !g->nodes[ids[i]].is_input)
            return rnnc_fail(RNNC_E_ARG, "graph: model input %d is node %d, which is not an input", i, ids[i]);
        for (int j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return rnnc_fail(RNNC_E_ARG, "graph: input '%s' is listed twice among the model inputs",
                                 g->nodes[ids[i]].name);
        g->inputs[i] = ids[i];
    }
    g->n_inputs = n;
    g->inputs_set = true;
    g->inputs_as_list = as_list || n != 1;
    return RNNC_OK;
}

/* ---- validation, order, shapes --------------------------------------------- */

/* Every reference of node id: args, states, mask. */
static int node_refs(const gnode *n, rnnc_graph_ref *refs)
{
    int k = 0;
    if (n->is_input)
        return 0;
    for (int i = 0; i < n->call.n_args; i++)
        refs[k++] = n->call.args[i];
    for (int i = 0; i < n->call.n_states; i++)
        refs[k++] = n->call.states[i];
    if (n->call.has_mask)
        refs[k++] = n->call.mask;
    return k;
}

static const char *ref_role(const gnode *n, int k)
{
    if (k < n->call.n_args)
        return "argument";
    if (k < n->call.n_args + n->call.n_states)
        return "initial state";
    return "mask";
}

static rnnc_status check_refs(const rnnc_graph *g)
{
    for (int id = 0; id < g->n_nodes; id++) {
        rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
        int k = node_refs(&g->nodes[id], refs);
        for (int i = 0; i < k; i++)
            if (refs[i].node >= g->n_nodes)
                return rnnc_fail(RNNC_E_ARG, "graph: layer '%s' (call %d): its %s refers to node %d, but the graph has only %d nodes (a dangling reference)",
                                 node_name(g, id), g->nodes[id].call_index, ref_role(&g->nodes[id], i), refs[i].node,
                                 g->n_nodes);
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i].node < 0 || g->outputs[i].node >= g->n_nodes || g->outputs[i].tensor < 0)
            return rnnc_fail(RNNC_E_ARG, "graph: output %d refers to node %d, tensor %d, which does not exist (the graph has %d nodes)",
                             i, g->outputs[i].node, g->outputs[i].tensor, g->n_nodes);
    return RNNC_OK;
}

/* Kahn's algorithm, smallest id first so that the order is the order of
 * addition whenever that is already topological. */
static rnnc_status toposort(rnnc_graph *g)
{
    int n = g->n_nodes;
    int *indeg = calloc((size_t)n + 1, sizeof *indeg);
    bool *done = calloc((size_t)n + 1, sizeof *done);
    int *order = malloc(((size_t)n + 1) * sizeof *order);
    if (!indeg || !done || !order) {
        free(indeg);
        free(done);
        free(order);
        return rnnc_fail(RNNC_E_NOMEM, "graph: out of memory");
    }
    for (int id = 0; id < n; id++) {
        rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
        indeg[id] = node_refs(&g->nodes[id], refs);
    }
    int k = 0;
    while (k < n) {
        int pick = -1;
        for (int id = 0; id < n && pick < 0; id++)
            if (!done[id] && indeg[id] == 0)
                pick = id;
        if (pick < 0)
            break;
        done[pick] = true;
        order[k++] = pick;
        for (int id = 0; id < n; id++) {
            rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
            int m = node_refs(&g->nodes[id], refs);
            for (int i = 0; i < m; i++)
                if (refs[i].node == pick)
                    indeg[id]--;
        }
    }
    rnnc_status s = RNNC_OK;
    if (k < n) {
        char list[600] = "";
        for (int id = 0, shown = 0; id < n; id++)
            if (!done[id] && shown < 8) {
                size_t len = strlen(list);
                snprintf(list + len, sizeof list - len, "%s'%s' (call %d)", shown ? ", " : "", node_name(g, id),
                         g->nodes[id].call_index);
                shown++;
            }
        s = rnnc_fail(RNNC_E_ARG, "graph: the layer calls %s depend on each other in a cycle (or on a call in one); a Functional model must be acyclic",
                      list);
        free(order);
    } else {
        free(g->order);
        g->order = order;
    }
    free(indeg);
    free(done);
    return s;
}

static void mark_needed(rnnc_graph *g)
{
    int *stack = malloc(((size_t)g->n_nodes + 1) * sizeof *stack), top = 0;
    for (int i = 0; i < g->n_nodes; i++)
        g->nodes[i].needed = false;
    if (!stack) {
        /* Without scratch space, run everything: correct, only slower. */
        for (int i = 0; i < g->n_nodes; i++)
            g->nodes[i].needed = true;
        return;
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (!g->nodes[g->outputs[i].node].needed) {
            g->nodes[g->outputs[i].node].needed = true;
            stack[top++] = g->outputs[i].node;
        }
    while (top > 0) {
        rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
        int k = node_refs(&g->nodes[stack[--top]], refs);
        for (int i = 0; i < k; i++)
            if (!g->nodes[refs[i].node].needed) {
                g->nodes[refs[i].node].needed = true;
                stack[top++] = refs[i].node;
            }
    }
    free(stack);
}

/* The static shape of ref, checking the tensor index. `user` names the
 * node or output that refers to it, for the message. */
static rnnc_status ref_shape(const rnnc_graph *g, rnnc_graph_ref r, const char *user, rnnc_shape *shape,
                             rnnc_dtype *dtype)
{
    const gnode *src = &g->nodes[r.node];
    if (r.tensor >= src->spec.n_outputs)
        return rnnc_fail(RNNC_E_ARG, "graph: %s uses output %d of '%s' (call %d), which has only %d output%s%s", user,
                         r.tensor, node_name(g, r.node), src->call_index, src->spec.n_outputs,
                         src->spec.n_outputs == 1 ? "" : "s",
                         src->is_input ? "" : " (a GRU has a second output only with return_state=True)");
    *shape = src->spec.shapes[r.tensor];
    if (dtype)
        *dtype = src->spec.dtype;
    return RNNC_OK;
}

static rnnc_status infer_node(rnnc_graph *g, int id)
{
    gnode *n = &g->nodes[id];
    char user[200];
    if (n->is_input) {
        n->spec.n_outputs = 1;
        n->spec.shapes[0] = n->shape;
        n->spec.dtype = n->dtype;
        return RNNC_OK;
    }
    rnnc_layer *l = g->layers[n->layer];
    snprintf(user, sizeof user, "layer '%s' (call %d)", l->name, n->call_index);
    rnnc_shape shapes[2 * RNNC_MAX_IO + 1];
    rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
    int k = node_refs(n, refs);
    for (int i = 0; i < k; i++)
        RNNC_TRY(ref_shape(g, refs[i], user, &shapes[i], NULL));
    rnnc_status s;
    if (n->call.args_as_list && !l->cls->compute_output_spec_n)
        return rnnc_fail(RNNC_E_ARG, "graph: %s: a %s is called on a list of %d tensors, but it takes one input",
                         user, l->cls->class_name, n->call.n_args);
    if ((s = rnnc_layer_build(l, &shapes[0])) != RNNC_OK)
        return rnnc_fail_context(s, "graph: %s: ", user);
    if (n->call.args_as_list)
        s = l->cls->compute_output_spec_n(l, shapes, n->call.n_args, &n->spec);
    else
        s = rnnc_layer_output_spec(l, &shapes[0], &n->spec);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "graph: %s: ", user);
    if (n->spec.n_outputs < 1 || n->spec.n_outputs > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_STATE, "graph: %s: shape inference gave %d outputs", user, n->spec.n_outputs);
    return RNNC_OK;
}

rnnc_status rnnc_graph_set_outputs(rnnc_graph *g, const rnnc_graph_ref *outs, int n, bool as_list)
{
    if (!g || !outs)
        return rnnc_fail(RNNC_E_ARG, "graph outputs: needs a graph and outputs");
    if (g->complete)
        return rnnc_fail(RNNC_E_STATE, "graph: the outputs are already set");
    if (n < 1 || n > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_ARG, "graph: a model has 1 to %d outputs, got %d", RNNC_MAX_IO, n);
    if (!g->inputs_set) {
        int k = 0;
        for (int i = 0; i < g->n_nodes; i++)
            if (g->nodes[i].is_input)
                g->inputs[k++] = i;
        g->n_inputs = k;
        g->inputs_as_list = k != 1;
    }
    if (g->n_inputs == 0)
        return rnnc_fail(RNNC_E_ARG, "graph: the model has no inputs");
    memcpy(g->outputs, outs, (size_t)n * sizeof *outs);
    g->n_outputs = n;
    g->outputs_as_list = as_list || n != 1;
    RNNC_TRY(check_refs(g));
    RNNC_TRY(toposort(g));
    for (int i = 0; i < g->n_nodes; i++)
        RNNC_TRY(infer_node(g, g->order[i]));
    for (int i = 0; i < n; i++) {
        char user[64];
        rnnc_shape s;
        snprintf(user, sizeof user, "model output %d", i);
        RNNC_TRY(ref_shape(g, outs[i], user, &s, NULL));
    }
    mark_needed(g);
    free(g->act_sum);
    g->act_sum = calloc((size_t)g->n_layers + 1, sizeof *g->act_sum);
    if (!g->act_sum)
        return rnnc_fail(RNNC_E_NOMEM, "graph: out of memory");
    g->complete = true;
    return RNNC_OK;
}

/* ---- running ----------------------------------------------------------------- */

/* A mask given as a tensor of any dtype becomes uint8, non-zero = keep. */
static rnnc_status as_mask(rnnc_ctx *cx, const rnnc_tensor *t, const rnnc_tensor **out)
{
    if (t->dtype == RNNC_U8) {
        *out = t;
        return RNNC_OK;
    }
    rnnc_tensor *m;
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &t->shape, &m));
    uint8_t *d = m->data;
    for (size_t i = 0; i < t->numel; i++)
        d[i] = rnnc_tensor_get(t, i) != 0.0;
    *out = m;
    return RNNC_OK;
}

static rnnc_status runtime_ref(const rnnc_graph *g, rnnc_graph_ref r, const char *user, rnnc_tensor **t,
                               const rnnc_tensor **mask)
{
    const gnode *src = &g->nodes[r.node];
    if (r.tensor >= src->n_out || !src->out[r.tensor])
        return rnnc_fail(RNNC_E_STATE, "graph: %s uses output %d of '%s' (call %d), but that call returned %d output%s",
                         user, r.tensor, node_name(g, r.node), src->call_index, src->n_out,
                         src->n_out == 1 ? "" : "s");
    *t = src->out[r.tensor];
    if (mask)
        *mask = r.tensor == 0 ? src->mask : NULL;
    return RNNC_OK;
}

/* Keras's compute_mask(first_arg, previous_mask) for a call that was not
 * given a mask although its first argument has one (spec 3.2). */
static const rnnc_tensor *fallback_mask(rnnc_layer *l, const rnnc_tensor *prev)
{
    rnnc_rnn *rnn = rnnc_rnn_of(l);
    if (rnn)
        return rnn->opt.return_sequences ? prev : NULL;
    return l->cls->supports_masking ? prev : NULL;
}

static rnnc_status run_node(rnnc_graph *g, rnnc_ctx *cx, int id, bool training)
{
    gnode *n = &g->nodes[id];
    rnnc_layer *l = g->layers[n->layer];
    const rnnc_graph_call *c = &n->call;
    char user[200];
    snprintf(user, sizeof user, "layer '%s' (call %d)", l->name, n->call_index);
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.training = training;
    const rnnc_tensor *first_mask = NULL;
    for (int i = 0; i < c->n_args; i++) {
        const rnnc_tensor *m = NULL;
        RNNC_TRY(runtime_ref(g, c->args[i], user, &a.inputs[i], &m));
        if (c->args_as_list)
            a.input_masks[i] = m;
        if (i == 0)
            first_mask = m;
    }
    for (int i = 0; i < c->n_states; i++)
        RNNC_TRY(runtime_ref(g, c->states[i], user, &a.inputs[c->n_args + i], NULL));
    a.n_inputs = c->n_args + c->n_states;
    if (c->has_mask) {
        rnnc_tensor *mt;
        RNNC_TRY(runtime_ref(g, c->mask, user, &mt, NULL));
        RNNC_TRY(as_mask(cx, mt, &a.mask));
    } else if (!c->args_as_list && a.n_inputs == 1) {
        /* Exactly one tensor argument: its mask is picked up (spec 3.2). */
        a.mask = first_mask;
    }
    rnnc_call_result r;
    rnnc_status s = rnnc_layer_call(l, cx, &a, &r);
    if (s != RNNC_OK)
        return rnnc_fail_context(s, "%s: ", user);
    if (r.n_outputs < 1 || r.n_outputs > RNNC_MAX_IO)
        return rnnc_fail(RNNC_E_STATE, "graph: %s returned %d outputs", user, r.n_outputs);
    n->n_out = r.n_outputs;
    memcpy(n->out, r.outputs, sizeof r.outputs);
    n->mask = r.mask;
    if (!n->mask && !a.mask && !c->args_as_list && first_mask)
        n->mask = fallback_mask(l, first_mask);
    if (l->activity_loss) {
        rnnc_tensor **sum = &g->act_sum[n->layer];
        if (*sum)
            RNNC_TRY(rnnc_add(cx, *sum, l->activity_loss, sum));
        else
            *sum = l->activity_loss;
    }
    return RNNC_OK;
}

static rnnc_status bind_inputs(rnnc_graph *g, rnnc_ctx *cx, const rnnc_call_args *args)
{
    char se[160], sg[160];
    if (args->n_inputs != g->n_inputs)
        return rnnc_fail(RNNC_E_ARG, "Functional model: expects %d input%s, got %d", g->n_inputs,
                         g->n_inputs == 1 ? "" : "s", args->n_inputs);
    for (int i = 0; i < g->n_inputs; i++) {
        gnode *n = &g->nodes[g->inputs[i]];
        rnnc_tensor *t = args->inputs[i];
        if (!t)
            return rnnc_fail(RNNC_E_ARG, "Functional model: input %d ('%s') is NULL", i, n->name);
        if (t->dtype != n->dtype)
            return rnnc_fail(RNNC_E_DTYPE, "Functional model: input %d ('%s') must be %s, got %s", i, n->name,
                             rnnc_dtype_name(n->dtype), rnnc_dtype_name(t->dtype));
        bool ok = t->shape.ndim == n->shape.ndim;
        for (int d = 0; ok && d < n->shape.ndim; d++)
            ok = n->shape.dim[d] < 0 || n->shape.dim[d] == t->shape.dim[d];
        if (!ok)
            return rnnc_fail(RNNC_E_SHAPE, "Functional model: input %d ('%s') has shape %s, expected %s (-1 = any)", i,
                             n->name, rnnc_shape_str(&t->shape, sg, sizeof sg),
                             rnnc_shape_str(&n->shape, se, sizeof se));
        n->n_out = 1;
        n->out[0] = t;
        const rnnc_tensor *m = args->input_masks[i];
        if (!m && i == 0)
            m = args->mask;
        n->mask = NULL;
        if (m)
            RNNC_TRY(as_mask(cx, m, &n->mask));
    }
    return RNNC_OK;
}

rnnc_status rnnc_graph_run(rnnc_graph *g, rnnc_ctx *cx, const rnnc_call_args *args, rnnc_call_result *res)
{
    if (res)
        memset(res, 0, sizeof *res);
    if (!g || !cx || !args || !res)
        return rnnc_fail(RNNC_E_ARG, "graph run: needs a graph, a context, arguments and a result");
    if (!g->complete)
        return rnnc_fail(RNNC_E_STATE, "graph run: the graph has no outputs yet (rnnc_graph_set_outputs)");
    for (int i = 0; i < g->n_nodes; i++) {
        g->nodes[i].n_out = 0;
        memset(g->nodes[i].out, 0, sizeof g->nodes[i].out);
        g->nodes[i].mask = NULL;
    }
    for (int i = 0; i < g->n_layers; i++)
        g->act_sum[i] = NULL;
    RNNC_TRY(bind_inputs(g, cx, args));
    for (int k = 0; k < g->n_nodes; k++) {
        int id = g->order[k];
        if (!g->nodes[id].is_input && g->nodes[id].needed)
            RNNC_TRY(run_node(g, cx, id, args->training));
    }
    /* A layer called several times: its activity loss is that of all calls. */
    for (int i = 0; i < g->n_layers; i++)
        if (g->act_sum[i])
            g->layers[i]->activity_loss = g->act_sum[i];
    for (int i = 0; i < g->n_outputs; i++) {
        char user[64];
        const rnnc_tensor *m = NULL;
        snprintf(user, sizeof user, "model output %d", i);
        RNNC_TRY(runtime_ref(g, g->outputs[i], user, &res->outputs[i], &m));
        if (i == 0)
            res->mask = (rnnc_tensor *)m;
    }
    res->n_outputs = g->n_outputs;
    return RNNC_OK;
}

/* ---- queries ------------------------------------------------------------------ */

int rnnc_graph_n_nodes(const rnnc_graph *g) { return g ? g->n_nodes : 0; }
int rnnc_graph_n_inputs(const rnnc_graph *g) { return g ? g->n_inputs : 0; }
int rnnc_graph_n_outputs(const rnnc_graph *g) { return g ? g->n_outputs : 0; }
int rnnc_graph_n_layers(const rnnc_graph *g) { return g ? g->n_layers : 0; }

int rnnc_graph_input_node(const rnnc_graph *g, int i)
{
    return g && i >= 0 && i < g->n_inputs ? g->inputs[i] : -1;
}

const char *rnnc_graph_input_name(const rnnc_graph *g, int i)
{
    int id = rnnc_graph_input_node(g, i);
    return id < 0 ? NULL : g->nodes[id].name;
}

rnnc_shape rnnc_graph_input_shape(const rnnc_graph *g, int i)
{
    rnnc_shape s = {0};
    int id = rnnc_graph_input_node(g, i);
    return id < 0 ? s : g->nodes[id].shape;
}

rnnc_dtype rnnc_graph_input_dtype(const rnnc_graph *g, int i)
{
    int id = rnnc_graph_input_node(g, i);
    return id < 0 ? RNNC_F32 : g->nodes[id].dtype;
}

rnnc_graph_ref rnnc_graph_output(const rnnc_graph *g, int i)
{
    rnnc_graph_ref none = {-1, -1};
    return g && i >= 0 && i < g->n_outputs ? g->outputs[i] : none;
}

rnnc_layer *rnnc_graph_layer(const rnnc_graph *g, int i)
{
    return g && i >= 0 && i < g->n_layers ? g->layers[i] : NULL;
}

int rnnc_graph_find_node(const rnnc_graph *g, const char *name, int call_index)
{
    for (int id = 0; g && name && id < g->n_nodes; id++)
        if (g->nodes[id].call_index == call_index && strcmp(node_name(g, id), name) == 0)
            return id;
    return -1;
}

rnnc_status rnnc_graph_tensor_shape(const rnnc_graph *g, rnnc_graph_ref ref, rnnc_shape *shape,
                                    rnnc_dtype *dtype)
{
    if (!g || !g->complete)
        return rnnc_fail(RNNC_E_STATE, "graph: shapes are known once the outputs are set");
    if (ref.node < 0 || ref.node >= g->n_nodes || ref.tensor < 0)
        return rnnc_fail(RNNC_E_ARG, "graph: node %d, tensor %d does not exist", ref.node, ref.tensor);
    return ref_shape(g, ref, "the query", shape, dtype);
}

/* ---- config ------------------------------------------------------------------- */

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

/* [name, node_index, tensor_index] */
static rnnc_cfg *history_cfg(const rnnc_graph *g, rnnc_graph_ref r)
{
    rnnc_cfg *h = rnnc_cfg_list();
    if (!h || push(h, rnnc_cfg_string(node_name(g, r.node))) || push(h, rnnc_cfg_int(g->nodes[r.node].call_index)) ||
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
        rnnc_cfg_set_string(c, "dtype", rnnc_dtype_name(sp->dtype)) || put(c, "keras_history", history_cfg(g, r)) ||
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
static rnnc_cfg *node_cfg(const rnnc_graph *g, const gnode *n)
{
    const rnnc_graph_call *c = &n->call;
    rnnc_cfg *nd = rnnc_cfg_map(), *args = rnnc_cfg_list(), *kw = rnnc_cfg_map();
    bool ok = nd && args && kw;
    if (ok && c->args_as_list) {
        ok = push(args, tensor_list_cfg(g, c->args, c->n_args)) == RNNC_OK;
    } else if (ok) {
        for (int i = 0; ok && i < c->n_args; i++)
            ok = push(args, keras_tensor_cfg(g, c->args[i])) == RNNC_OK;
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

static rnnc_status input_entry(const rnnc_graph *g, const gnode *n, rnnc_cfg **out)
{
    rnnc_cfg *e = rnnc_cfg_map(), *c = rnnc_cfg_map();
    rnnc_status s = e && c ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    (void)g;
    if (s == RNNC_OK &&
        ((s = put(c, "batch_shape", dims_cfg(&n->shape))) || (s = rnnc_cfg_set_string(c, "dtype", rnnc_dtype_name(n->dtype))) ||
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
static rnnc_status build_config_override(const rnnc_graph *g, const gnode *first, rnnc_cfg *env)
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

static rnnc_status layer_entry(const rnnc_graph *g, int li, rnnc_cfg **out)
{
    rnnc_cfg *e = NULL, *nodes = rnnc_cfg_list();
    rnnc_status s = nodes ? RNNC_OK : rnnc_fail(RNNC_E_NOMEM, "graph config: out of memory");
    const gnode *first = NULL;
    if (s == RNNC_OK)
        s = rnnc_layer_serialize(g->layers[li], &e);
    for (int id = 0; s == RNNC_OK && id < g->n_nodes; id++) {
        const gnode *n = &g->nodes[id];
        if (n->is_input || n->layer != li)
            continue;
        if (!first)
            first = n;
        s = push(nodes, node_cfg(g, n));
    }
    if (s == RNNC_OK && first)
        s = build_config_override(g, first, e);
    if (s == RNNC_OK)
        s = rnnc_cfg_set_string(e, "name", g->layers[li]->name);
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
