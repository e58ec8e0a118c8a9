/* model.c - the model: layer list, forward pass (the layers in order, or a
 * Functional model's graph), weights, losses, serialization. */
#include "framework/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/graph.h"
#include "framework/ops.h"

static int seq_count;
static int functional_count;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

rnnc_status rnnc_sequential_create(const char *name, rnnc_model **out)
{
    char buf[64];
    *out = NULL;
    if (name && strchr(name, '/'))
        return rnnc_fail(RNNC_E_ARG, "Sequential: name '%s' must not contain '/'", name);
    if (!name) {
        if (seq_count++ == 0)
            snprintf(buf, sizeof buf, "sequential");
        else
            snprintf(buf, sizeof buf, "sequential_%d", seq_count - 1);
        name = buf;
    }
    rnnc_model *m = calloc(1, sizeof *m);
    if (!m || !(m->name = dup_str(name))) {
        free(m);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    m->input_dtype = RNNC_F32;
    *out = m;
    return RNNC_OK;
}

rnnc_status rnnc_functional_create(const char *name, rnnc_graph *g, rnnc_model **out)
{
    char buf[64];
    rnnc_model *m = NULL;
    rnnc_status s = RNNC_OK;
    *out = NULL;
    if (!g) {
        s = rnnc_fail(RNNC_E_ARG, "Functional: graph is NULL");
        goto fail;
    }
    if (rnnc_graph_n_outputs(g) == 0) {
        s = rnnc_fail(RNNC_E_STATE, "Functional: the graph is not complete (set its outputs first)");
        goto fail;
    }
    if (name && strchr(name, '/')) {
        s = rnnc_fail(RNNC_E_ARG, "Functional: name '%s' must not contain '/'", name);
        goto fail;
    }
    if (!name) {
        if (functional_count++ == 0)
            snprintf(buf, sizeof buf, "functional");
        else
            snprintf(buf, sizeof buf, "functional_%d", functional_count - 1);
        name = buf;
    }
    int n = rnnc_graph_n_layers(g);
    m = calloc(1, sizeof *m);
    if (!m || !(m->name = dup_str(name)) || !(m->input_name = dup_str(rnnc_graph_input_name(g, 0))) ||
        (n > 0 && !(m->layers = malloc((size_t)n * sizeof *m->layers)))) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    /* Operations stay with the graph: Keras's model.layers has no ops. */
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!rnnc_graph_layer(g, i)->cls->is_operation)
            m->layers[k++] = rnnc_graph_layer(g, i);
    m->n_layers = k;
    m->cap_layers = n;
    rnnc__graph_release_layers(g); /* the model frees them from now on */
    m->graph = g;
    m->has_input = true;
    m->input_shape = rnnc_graph_input_shape(g, 0);
    m->input_dtype = rnnc_graph_input_dtype(g, 0);
    m->built = true;
    *out = m;
    return RNNC_OK;
fail:
    if (m) {
        free(m->layers);
        free(m->name);
        free(m->input_name);
        free(m);
    }
    rnnc_graph_destroy(g);
    return s;
}

void rnnc_model_destroy(rnnc_model *m)
{
    if (!m)
        return;
    rnnc_graph_destroy(m->graph); /* released: it no longer frees the layers */
    for (int i = 0; i < m->n_layers; i++)
        rnnc_layer_destroy(m->layers[i]);
    free(m->layers);
    free(m->name);
    free(m->input_name);
    free(m);
}

rnnc_layer *rnnc_model_layer(const rnnc_model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            return m->layers[i];
    return NULL;
}

rnnc_status rnnc_model_add(rnnc_model *m, rnnc_layer *l)
{
    if (!l)
        return rnnc_fail(RNNC_E_ARG, "Sequential.add: layer is NULL");
    if (m->graph) {
        rnnc_status s = rnnc_fail(RNNC_E_STATE, "Functional '%s': layers cannot be appended; add calls to its graph before creating the model",
                                  m->name);
        rnnc_layer_destroy(l);
        return s;
    }
    if (rnnc_model_layer(m, l->name)) {
        rnnc_status s = rnnc_fail(RNNC_E_ARG, "Sequential '%s': a layer named '%s' is already in the model; layer names must be unique",
                                  m->name, l->name);
        rnnc_layer_destroy(l);
        return s;
    }
    if (m->n_layers == m->cap_layers) {
        int ncap = m->cap_layers ? 2 * m->cap_layers : 8;
        rnnc_layer **p = realloc(m->layers, (size_t)ncap * sizeof *p);
        if (!p) {
            rnnc_layer_destroy(l);
            return rnnc_fail(RNNC_E_NOMEM, "out of memory");
        }
        m->layers = p;
        m->cap_layers = ncap;
    }
    m->layers[m->n_layers++] = l;
    m->built = false;
    return RNNC_OK;
}

rnnc_status rnnc_model_set_input(rnnc_model *m, const rnnc_shape *batch_shape, rnnc_dtype dtype,
                                 const char *name)
{
    char *n = dup_str(name ? name : "input_layer");
    if (!n)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    free(m->input_name);
    m->input_name = n;
    m->input_shape = *batch_shape;
    m->input_dtype = dtype;
    m->has_input = true;
    return RNNC_OK;
}

rnnc_status rnnc_model_build(rnnc_model *m, const rnnc_shape *input_shape)
{
    if (m->graph) {
        /* Built from its inputs' shapes when its outputs were set. */
        m->built = true;
        return RNNC_OK;
    }
    rnnc_shape shape = *input_shape;
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_layer *l = m->layers[i];
        rnnc_output_spec spec;
        RNNC_TRY(rnnc_layer_build(l, &shape));
        rnnc_status s = rnnc_layer_output_spec(l, &shape, &spec);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "Sequential '%s': layer %d ('%s'): ", m->name, i, l->name);
        shape = spec.shapes[0];
    }
    if (!m->has_input)
        RNNC_TRY(rnnc_model_set_input(m, input_shape, m->input_dtype, NULL));
    m->built = true;
    return RNNC_OK;
}

rnnc_status rnnc_model_call(rnnc_model *m, rnnc_ctx *cx, const rnnc_call_args *args,
                            rnnc_call_result *res)
{
    rnnc_call_args a = *args;
    memset(res, 0, sizeof *res);
    if (m->graph) {
        rnnc_status s = rnnc_graph_run(m->graph, cx, args, res);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "Functional '%s': ", m->name);
        return RNNC_OK;
    }
    if (m->n_layers == 0)
        return rnnc_fail(RNNC_E_STATE, "Sequential '%s' has no layers", m->name);
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_status s = rnnc_layer_call(m->layers[i], cx, &a, res);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "Sequential '%s', layer %d: ", m->name, i);
        a.n_inputs = 1;
        a.inputs[0] = res->outputs[0];
        a.mask = res->mask;
    }
    m->built = true;
    return RNNC_OK;
}

rnnc_status rnnc_model_weights(const rnnc_model *m, rnnc_weight **out, int cap, int *n)
{
    /* Trainable weights of every layer in model order, then non-trainable. */
    int total = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < m->n_layers; i++) {
            int k;
            RNNC_TRY(rnnc_layer_trainable_weights(m->layers[i], pass == 0, out + (total < cap ? total : cap),
                                                  total < cap ? cap - total : 0, &k));
            total += k;
        }
    *n = total;
    return RNNC_OK;
}

size_t rnnc_model_count_params(const rnnc_model *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += rnnc_layer_count_params(m->layers[i]);
    return total;
}

rnnc_status rnnc_model_losses(rnnc_model *m, rnnc_ctx *cx, rnnc_tensor **loss)
{
    *loss = NULL;
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_tensor *l;
        RNNC_TRY(rnnc_layer_losses(m->layers[i], cx, &l));
        if (!l)
            continue;
        if (*loss && l->dtype != (*loss)->dtype) /* layers of several dtypes: cast on the tape */
            RNNC_TRY(rnnc_cast(cx, l, (*loss)->dtype, &l));
        if (*loss)
            RNNC_TRY(rnnc_add(cx, *loss, l, loss));
        else
            *loss = l;
    }
    return RNNC_OK;
}

void rnnc_model_zero_grad(rnnc_model *m)
{
    rnnc_weight *w[1024];
    int n = 0;
    if (rnnc_model_weights(m, w, 1024, &n) != RNNC_OK)
        return;
    for (int i = 0; i < n && i < 1024; i++)
        rnnc_tensor_zero_grad(w[i]->value);
}

static rnnc_cfg *input_layer_config(const rnnc_model *m)
{
    rnnc_cfg *env = rnnc_cfg_map(), *c = rnnc_cfg_map(), *shape = rnnc_cfg_list();
    if (!env || !c || !shape)
        goto fail;
    for (int i = 0; i < m->input_shape.ndim; i++)
        if (rnnc_cfg_push(shape, m->input_shape.dim[i] < 0 ? rnnc_cfg_null() : rnnc_cfg_int(m->input_shape.dim[i])))
            goto fail;
    if (rnnc_cfg_set(c, "batch_shape", shape)) {
        shape = NULL;
        goto fail;
    }
    shape = NULL;
    if (rnnc_cfg_set_string(c, "dtype", rnnc_dtype_name(m->input_dtype)) ||
        rnnc_cfg_set_bool(c, "sparse", false) || rnnc_cfg_set_bool(c, "ragged", false) ||
        rnnc_cfg_set_string(c, "name", m->input_name ? m->input_name : "input_layer") ||
        rnnc_cfg_set_bool(c, "optional", false))
        goto fail;
    if (rnnc_cfg_set_string(env, "module", "keras.layers") ||
        rnnc_cfg_set_string(env, "class_name", "InputLayer"))
        goto fail;
    if (rnnc_cfg_set(env, "config", c)) {
        c = NULL;
        goto fail;
    }
    c = NULL;
    if (rnnc_cfg_set_null(env, "registered_name"))
        goto fail;
    return env;
fail:
    rnnc_cfg_destroy(env);
    rnnc_cfg_destroy(c);
    rnnc_cfg_destroy(shape);
    return NULL;
}

/* Keras 3's Functional envelope around the graph's config. */
static rnnc_status serialize_functional(const rnnc_model *m, rnnc_cfg **out)
{
    rnnc_cfg *env = rnnc_cfg_map(), *c = rnnc_cfg_map(), *bc = rnnc_cfg_map();
    rnnc_status s = RNNC_OK;
    if (!env || !c || !bc) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((s = rnnc_cfg_set_string(c, "name", m->name)) || (s = rnnc_cfg_set_bool(c, "trainable", true)) ||
        (s = rnnc_graph_write_config(m->graph, c)) ||
        (s = rnnc_cfg_set_string(env, "module", "keras.src.models.functional")) ||
        (s = rnnc_cfg_set_string(env, "class_name", "Functional")))
        goto fail;
    s = rnnc_cfg_set(env, "config", c);
    c = NULL;
    if (s || (s = rnnc_cfg_set_string(env, "registered_name", "Functional")) ||
        (s = rnnc_cfg_set_null(bc, "input_shape")))
        goto fail;
    s = rnnc_cfg_set(env, "build_config", bc);
    bc = NULL;
    if (s)
        goto fail;
    *out = env;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(env);
    rnnc_cfg_destroy(c);
    rnnc_cfg_destroy(bc);
    return s;
}

rnnc_status rnnc_model_serialize(const rnnc_model *m, rnnc_cfg **out)
{
    if (m->graph) {
        *out = NULL;
        return serialize_functional(m, out);
    }
    rnnc_cfg *env = rnnc_cfg_map(), *c = rnnc_cfg_map(), *layers = rnnc_cfg_list();
    rnnc_status s = RNNC_OK;
    *out = NULL;
    if (!env || !c || !layers) {
        s = rnnc_fail(RNNC_E_NOMEM, "out of memory");
        goto fail;
    }
    if (m->has_input && (s = rnnc_cfg_push(layers, input_layer_config(m))))
        goto fail;
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_cfg *lc;
        if ((s = rnnc_layer_serialize(m->layers[i], &lc)) || (s = rnnc_cfg_push(layers, lc)))
            goto fail;
    }
    if ((s = rnnc_cfg_set_string(c, "name", m->name)) || (s = rnnc_cfg_set_bool(c, "trainable", true)) ||
        (s = rnnc_cfg_set(c, "dtype", rnnc_dtype_policy_config(RNNC_F32))))
        goto fail;
    s = rnnc_cfg_set(c, "layers", layers);
    layers = NULL;
    if (s)
        goto fail;
    if ((s = rnnc_cfg_set_string(env, "module", "keras")) ||
        (s = rnnc_cfg_set_string(env, "class_name", "Sequential")))
        goto fail;
    s = rnnc_cfg_set(env, "config", c);
    c = NULL;
    if (s || (s = rnnc_cfg_set_null(env, "registered_name")))
        goto fail;
    *out = env;
    return RNNC_OK;
fail:
    rnnc_cfg_destroy(env);
    rnnc_cfg_destroy(c);
    rnnc_cfg_destroy(layers);
    return s;
}
