/* graph.c - the Functional layer graph: nodes, validation (dangling
 * references, cycles, tensor indices), shape inference and build, and the
 * forward run with Keras's mask rules. Writing the config is
 * graph_config.c; reading configs is io/functional_loader.c. */
#include "framework/graph_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"
#include "framework/rnn.h"

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
    for (int i = 0; i < g->n_layers; i++)
        if (g->owns_layers || g->layers[i]->cls->is_operation)
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
const char *rnnc__graph_node_name(const rnnc_graph *g, int id)
{
    const rnnc__gnode *n = &g->nodes[id];
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

static rnnc_status new_node(rnnc_graph *g, rnnc__gnode **out)
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
    rnnc__gnode *n;
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
    int n = 0, n_tensors = 0;
    for (int i = 0; i < c->n_args; i++) {
        if (c->consts[i].on && c->args_as_list)
            return rnnc_fail(RNNC_E_ARG, "%s '%s': numbers inside a list argument are not supported", cn, l->name);
        if (!c->consts[i].on) {
            refs[n++] = &c->args[i];
            n_tensors++;
        }
    }
    if (n_tensors == 0)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': a call needs at least one tensor argument", cn, l->name);
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
    rnnc__gnode *n;
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

/* Every tensor reference of a node: args (not numbers), states, mask;
 * roles[k] (may be NULL) says which. */
static int node_refs_roles(const rnnc__gnode *n, rnnc_graph_ref *refs, const char **roles)
{
    int k = 0;
    if (n->is_input)
        return 0;
    for (int i = 0; i < n->call.n_args; i++)
        if (!n->call.consts[i].on) {
            if (roles)
                roles[k] = "argument";
            refs[k++] = n->call.args[i];
        }
    for (int i = 0; i < n->call.n_states; i++) {
        if (roles)
            roles[k] = "initial state";
        refs[k++] = n->call.states[i];
    }
    if (n->call.has_mask) {
        if (roles)
            roles[k] = "mask";
        refs[k++] = n->call.mask;
    }
    return k;
}

static int node_refs(const rnnc__gnode *n, rnnc_graph_ref *refs)
{
    return node_refs_roles(n, refs, NULL);
}

static rnnc_status check_refs(const rnnc_graph *g)
{
    for (int id = 0; id < g->n_nodes; id++) {
        rnnc_graph_ref refs[2 * RNNC_MAX_IO + 1];
        const char *roles[2 * RNNC_MAX_IO + 1];
        int k = node_refs_roles(&g->nodes[id], refs, roles);
        for (int i = 0; i < k; i++)
            if (refs[i].node >= g->n_nodes)
                return rnnc_fail(RNNC_E_ARG, "graph: layer '%s' (call %d): its %s refers to node %d, but the graph has only %d nodes (a dangling reference)",
                                 rnnc__graph_node_name(g, id), g->nodes[id].call_index, roles[i], refs[i].node, g->n_nodes);
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
                snprintf(list + len, sizeof list - len, "%s'%s' (call %d)", shown ? ", " : "", rnnc__graph_node_name(g, id),
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
    const rnnc__gnode *src = &g->nodes[r.node];
    if (r.tensor >= src->spec.n_outputs)
        return rnnc_fail(RNNC_E_ARG, "graph: %s uses output %d of '%s' (call %d), which has only %d output%s%s", user,
                         r.tensor, rnnc__graph_node_name(g, r.node), src->call_index, src->spec.n_outputs,
                         src->spec.n_outputs == 1 ? "" : "s",
                         src->is_input ? "" : " (a GRU has a second output only with return_state=True)");
    *shape = src->spec.shapes[r.tensor];
    if (dtype)
        *dtype = src->spec.dtype;
    return RNNC_OK;
}

static rnnc_status infer_node(rnnc_graph *g, int id)
{
    rnnc__gnode *n = &g->nodes[id];
    char user[200];
    if (n->is_input) {
        n->spec.n_outputs = 1;
        n->spec.shapes[0] = n->shape;
        n->spec.dtype = n->dtype;
        return RNNC_OK;
    }
    rnnc_layer *l = g->layers[n->layer];
    const rnnc_graph_call *c = &n->call;
    snprintf(user, sizeof user, "layer '%s' (call %d)", l->name, n->call_index);
    /* Positional arguments (numbers are rank-0 float64), then the rest. */
    rnnc_shape shapes[RNNC_MAX_IO], other;
    rnnc_dtype dtypes[RNNC_MAX_IO];
    for (int i = 0; i < c->n_args; i++) {
        if (c->consts[i].on) {
            memset(&shapes[i], 0, sizeof shapes[i]);
            dtypes[i] = RNNC_F64;
        } else {
            RNNC_TRY(ref_shape(g, c->args[i], user, &shapes[i], &dtypes[i]));
        }
    }
    for (int i = 0; i < c->n_states; i++)
        RNNC_TRY(ref_shape(g, c->states[i], user, &other, NULL));
    if (c->has_mask)
        RNNC_TRY(ref_shape(g, c->mask, user, &other, NULL));
    rnnc_status s;
    if (c->args_as_list && !l->cls->compute_output_spec_n)
        return rnnc_fail(RNNC_E_ARG, "graph: %s: a %s is called on a list of %d tensors, but it takes one input",
                         user, l->cls->class_name, c->n_args);
    if ((s = rnnc_layer_build(l, &shapes[0])) != RNNC_OK)
        return rnnc_fail_context(s, "graph: %s: ", user);
    if (l->cls->compute_output_spec_n)
        s = l->cls->compute_output_spec_n(l, shapes, dtypes, c->n_args, &n->spec);
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
    rnnc_status s = check_refs(g);
    if (s == RNNC_OK)
        s = toposort(g);
    for (int i = 0; s == RNNC_OK && i < g->n_nodes; i++)
        s = infer_node(g, g->order[i]);
    for (int i = 0; s == RNNC_OK && i < n; i++) {
        char user[64];
        rnnc_shape sh;
        snprintf(user, sizeof user, "model output %d", i);
        s = ref_shape(g, outs[i], user, &sh, NULL);
    }
    if (s != RNNC_OK) {
        g->n_outputs = 0; /* still incomplete */
        return s;
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
    const rnnc__gnode *src = &g->nodes[r.node];
    if (r.tensor >= src->n_out || !src->out[r.tensor])
        return rnnc_fail(RNNC_E_STATE, "graph: %s uses output %d of '%s' (call %d), but that call returned %d output%s",
                         user, r.tensor, rnnc__graph_node_name(g, r.node), src->call_index, src->n_out,
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
    rnnc__gnode *n = &g->nodes[id];
    rnnc_layer *l = g->layers[n->layer];
    const rnnc_graph_call *c = &n->call;
    char user[200];
    snprintf(user, sizeof user, "layer '%s' (call %d)", l->name, n->call_index);
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.training = training;
    const rnnc_tensor *first_mask = NULL;
    int n_tensors = c->n_states;
    for (int i = 0; i < c->n_args; i++) {
        const rnnc_tensor *m = NULL;
        if (c->consts[i].on) {
            rnnc_shape scalar = {0};
            RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_F64, &scalar, &a.inputs[i]));
            rnnc_tensor_set(a.inputs[i], 0, c->consts[i].value);
        } else {
            RNNC_TRY(runtime_ref(g, c->args[i], user, &a.inputs[i], &m));
            n_tensors++;
        }
        if (c->args_as_list)
            a.input_masks[i] = m;
        if (i == 0)
            first_mask = m;
    }
    for (int i = 0; i < c->n_states; i++)
        RNNC_TRY(runtime_ref(g, c->states[i], user, &a.inputs[c->n_args + i], NULL));
    a.n_inputs = c->n_args + c->n_states;
    if (c->has_mask) {
        rnnc_tensor *mt = NULL;
        RNNC_TRY(runtime_ref(g, c->mask, user, &mt, NULL));
        RNNC_TRY(as_mask(cx, mt, &a.mask));
    } else if (!c->args_as_list && n_tensors == 1) {
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

/* Keras's Functional converts each input to its Input's dtype
 * (ops.convert_to_tensor(x, dtype=input.dtype)): float64 data into a
 * float32 model is cast (on the tape), float ids into an int32 Input are
 * truncated, as tf.cast does. */
static rnnc_status convert_input(rnnc_ctx *cx, rnnc_tensor *t, rnnc_dtype dtype, int i, const char *name,
                                 rnnc_tensor **out)
{
    if (rnnc_dtype_is_float(t->dtype) && rnnc_dtype_is_float(dtype))
        return rnnc_cast(cx, t, dtype, out);
    rnnc_tensor *c;
    RNNC_TRY(rnnc_ctx_tensor(cx, dtype, &t->shape, &c));
    for (size_t k = 0; k < t->numel; k++) {
        const double v = rnnc_tensor_get(t, k);
        if (!rnnc_dtype_is_float(dtype) && !(v > -2147483649.0 && v < 2147483648.0))
            return rnnc_fail(RNNC_E_DTYPE, "Functional model: input %d ('%s') is %s and holds %g at flat position %zu, which %s cannot hold",
                             i, name, rnnc_dtype_name(t->dtype), v, k, rnnc_dtype_name(dtype));
        rnnc_tensor_set(c, k, v);
    }
    *out = c;
    return RNNC_OK;
}

static rnnc_status bind_inputs(rnnc_graph *g, rnnc_ctx *cx, const rnnc_call_args *args)
{
    char se[160], sg[160];
    if (args->n_inputs != g->n_inputs)
        return rnnc_fail(RNNC_E_ARG, "Functional model: expects %d input%s, got %d", g->n_inputs,
                         g->n_inputs == 1 ? "" : "s", args->n_inputs);
    for (int i = 0; i < g->n_inputs; i++) {
        rnnc__gnode *n = &g->nodes[g->inputs[i]];
        rnnc_tensor *t = args->inputs[i];
        if (!t)
            return rnnc_fail(RNNC_E_ARG, "Functional model: input %d ('%s') is NULL", i, n->name);
        if (t->dtype != n->dtype)
            RNNC_TRY(convert_input(cx, t, n->dtype, i, n->name, &t));
        bool ok = t->shape.ndim == n->shape.ndim;
        for (int d = 0; ok && d < n->shape.ndim; d++)
            ok = n->shape.dim[d] < 0 || n->shape.dim[d] == t->shape.dim[d];
        if (!ok)
            return rnnc_fail(RNNC_E_SHAPE, "Functional model: input %d ('%s') has shape %s, expected %s (None: any size)", i,
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
        if (g->nodes[id].call_index == call_index && strcmp(rnnc__graph_node_name(g, id), name) == 0)
            return id;
    return -1;
}

int rnnc_graph_n_entries(const rnnc_graph *g) { return g ? g->n_ops : 0; }

void rnnc_graph_entry(const rnnc_graph *g, int i, int *node, rnnc_layer **layer)
{
    *node = -1;
    *layer = NULL;
    if (!g || i < 0 || i >= g->n_ops)
        return;
    if (g->ops[i].is_input)
        *node = g->ops[i].index;
    else
        *layer = g->layers[g->ops[i].index];
}

static const rnnc__gnode *node_at(const rnnc_graph *g, int id)
{
    return g && id >= 0 && id < g->n_nodes ? &g->nodes[id] : NULL;
}

rnnc_layer *rnnc_graph_node_layer(const rnnc_graph *g, int id)
{
    const rnnc__gnode *n = node_at(g, id);
    return n && !n->is_input ? g->layers[n->layer] : NULL;
}

const char *rnnc_graph_node_name(const rnnc_graph *g, int id)
{
    return node_at(g, id) ? rnnc__graph_node_name(g, id) : NULL;
}

int rnnc_graph_node_call_index(const rnnc_graph *g, int id)
{
    const rnnc__gnode *n = node_at(g, id);
    return n ? n->call_index : -1;
}

bool rnnc_graph_node_needed(const rnnc_graph *g, int id)
{
    const rnnc__gnode *n = node_at(g, id);
    return n && g->complete && n->needed;
}

int rnnc_graph_node_n_outputs(const rnnc_graph *g, int id)
{
    const rnnc__gnode *n = node_at(g, id);
    if (!n || !g->complete)
        return 0;
    return n->is_input ? 1 : n->spec.n_outputs;
}

int rnnc_graph_node_inputs(const rnnc_graph *g, int id, rnnc_graph_ref *refs, int cap)
{
    const rnnc__gnode *n = node_at(g, id);
    rnnc_graph_ref all[2 * RNNC_MAX_IO + 1];
    if (!n)
        return 0;
    int k = node_refs(n, all);
    for (int i = 0; i < k && i < cap; i++)
        refs[i] = all[i];
    return k;
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
