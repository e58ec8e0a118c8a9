/* model_predict.c - batched inference over whole arrays (predict.h). */
#include "framework/predict.h"

#include <string.h>

#include "framework/graph.h"
#include "framework/rnn.h"

int rnnc_model_n_inputs(const rnnc_model *m)
{
    return m->graph ? rnnc_graph_n_inputs(m->graph) : 1;
}

const char *rnnc_model_input_info(const rnnc_model *m, int i, rnnc_shape *shape, bool *known,
                                  rnnc_dtype *dtype)
{
    if (m->graph) {
        *shape = rnnc_graph_input_shape(m->graph, i);
        *known = true;
        *dtype = rnnc_graph_input_dtype(m->graph, i);
        return rnnc_graph_input_name(m->graph, i);
    }
    *shape = m->input_shape;
    *known = m->has_input;
    *dtype = m->input_dtype;
    return m->has_input ? m->input_name : NULL;
}

int rnnc_model_n_outputs(const rnnc_model *m)
{
    return m->graph ? rnnc_graph_n_outputs(m->graph) : 1;
}

rnnc_layer *rnnc_model_output_layer(const rnnc_model *m, int i)
{
    return m->graph ? rnnc_graph_node_layer(m->graph, rnnc_graph_output(m->graph, i).node) : NULL;
}

/* Rows [r0, r0+n) of t as a view (t's first axis is the batch). */
static rnnc_status rows(const rnnc_tensor *t, int64_t r0, int64_t n, rnnc_tensor **out)
{
    rnnc_shape s = t->shape;
    size_t row = t->numel / (size_t)t->shape.dim[0];
    s.dim[0] = n;
    return rnnc_tensor_view((rnnc_tensor *)t, (size_t)r0 * row, &s, out);
}

/* A Sequential model: the layers in order, the initial state to the first
 * recurrent one. */
static rnnc_status call_layers(rnnc_model *m, rnnc_ctx *cx, rnnc_tensor *x, const rnnc_tensor *mask,
                               rnnc_tensor *state, rnnc_call_result *res)
{
    rnnc_call_args a = {.n_inputs = 1, .inputs = {x}, .mask = mask, .training = false};
    bool state_used = state == NULL;
    memset(res, 0, sizeof *res);
    for (int i = 0; i < m->n_layers; i++) {
        rnnc_layer *l = m->layers[i];
        a.n_inputs = 1;
        if (!state_used && rnnc_layer_is_rnn(l)) {
            a.inputs[1] = state;
            a.n_inputs = 2;
            state_used = true;
        }
        rnnc_status s = rnnc_layer_call(l, cx, &a, res);
        if (s != RNNC_OK)
            return rnnc_fail_context(s, "model '%s', layer %d ('%s'): ", m->name, i, l->name);
        a.inputs[0] = res->outputs[0];
        a.mask = res->mask;
    }
    if (!state_used)
        return rnnc_fail(RNNC_E_ARG, "an initial_state was given but model '%s' has no recurrent layer to take it; remove initial_state from the input",
                         m->name);
    return RNNC_OK;
}

/* One batch: rows [r0, r0+bs) of every input through the model. The row
 * views go to views[] (input i at 2i, its mask at 2i+1, the initial state
 * last), which the caller destroys. */
static rnnc_status call_batch(rnnc_model *m, rnnc_ctx *cx, const rnnc_model_inputs *in, int64_t r0,
                              int64_t bs, rnnc_tensor **views, rnnc_call_result *res)
{
    rnnc_call_args a;
    memset(&a, 0, sizeof a);
    a.n_inputs = in->n;
    for (int i = 0; i < in->n; i++) {
        RNNC_TRY(rows(in->x[i], r0, bs, &views[2 * i]));
        a.inputs[i] = views[2 * i];
        if (in->mask[i]) {
            RNNC_TRY(rows(in->mask[i], r0, bs, &views[2 * i + 1]));
            a.input_masks[i] = views[2 * i + 1];
        }
    }
    if (!m->graph) {
        if (in->initial_state)
            RNNC_TRY(rows(in->initial_state, r0, bs, &views[2 * RNNC_MAX_IO]));
        return call_layers(m, cx, a.inputs[0], a.input_masks[0], views[2 * RNNC_MAX_IO], res);
    }
    a.mask = a.input_masks[0];
    return rnnc_model_call(m, cx, &a, res);
}

static rnnc_status check_inputs(const rnnc_model *m, const rnnc_model_inputs *in, int64_t batch_size)
{
    int want = rnnc_model_n_inputs(m);
    if (batch_size < 1)
        return rnnc_fail(RNNC_E_ARG, "batch size must be >= 1, got %lld", (long long)batch_size);
    if (!m->graph && m->n_layers == 0)
        return rnnc_fail(RNNC_E_STATE, "model '%s' has no layers", m->name);
    if (in->n != want)
        return rnnc_fail(RNNC_E_ARG, "model '%s' takes %d input%s, got %d", m->name, want, want == 1 ? "" : "s",
                         in->n);
    if (m->graph && in->initial_state)
        return rnnc_fail(RNNC_E_ARG, "model '%s' is Functional: it takes initial states only as model inputs (Input layers passed as initial_state=), not as a separate initial_state",
                         m->name);
    const int64_t n = in->x[0] && in->x[0]->shape.ndim >= 1 ? in->x[0]->shape.dim[0] : 0;
    if (n < 1)
        return rnnc_fail(RNNC_E_SHAPE, "inputs have no samples");
    for (int i = 0; i < in->n; i++) {
        const rnnc_tensor *t[2] = {in->x[i], in->mask[i]};
        const char *what[2] = {"input", "mask of input"};
        for (int k = 0; k < 2; k++)
            if ((k == 0 || t[k]) && (!t[k] || t[k]->shape.ndim < 1 || t[k]->shape.dim[0] != n))
                return rnnc_fail(RNNC_E_SHAPE, "%s %d has %lld rows but input 0 has %lld samples", what[k], i,
                                 (long long)(t[k] && t[k]->shape.ndim ? t[k]->shape.dim[0] : 0), (long long)n);
    }
    const rnnc_tensor *st = in->initial_state;
    if (st && (st->shape.ndim < 1 || st->shape.dim[0] != n))
        return rnnc_fail(RNNC_E_SHAPE, "initial_state has %lld rows but x has %lld samples",
                         (long long)(st->shape.ndim ? st->shape.dim[0] : 0), (long long)n);
    return RNNC_OK;
}

/* Copies batch outputs (rows [r0, r0+bs)) into the full outputs, creating
 * them at the first batch. */
static rnnc_status gather(const rnnc_call_result *res, int64_t r0, int64_t bs, int64_t n,
                          rnnc_tensor **outs, int *n_outs)
{
    if (r0 == 0) {
        for (int k = 0; k < res->n_outputs; k++) {
            rnnc_shape shape = res->outputs[k]->shape;
            if (shape.ndim < 1 || shape.dim[0] != bs)
                return rnnc_fail(RNNC_E_SHAPE, "model output %d has no batch axis", k);
            shape.dim[0] = n;
            RNNC_TRY(rnnc_tensor_create(res->outputs[k]->dtype, &shape, &outs[k]));
            (*n_outs)++;
        }
    }
    if (res->n_outputs != *n_outs)
        return rnnc_fail(RNNC_E_SHAPE, "the model returned %d outputs, then %d", *n_outs, res->n_outputs);
    for (int k = 0; k < *n_outs; k++) {
        const rnnc_tensor *o = res->outputs[k];
        size_t row = outs[k]->numel / (size_t)n;
        if (o->numel != row * (size_t)bs || o->dtype != outs[k]->dtype)
            return rnnc_fail(RNNC_E_SHAPE, "model output %d changed shape between batches", k);
        memcpy((char *)outs[k]->data + (size_t)r0 * row * rnnc_dtype_size(o->dtype), o->data,
               o->numel * rnnc_dtype_size(o->dtype));
    }
    return RNNC_OK;
}

rnnc_status rnnc_model_predict_inputs(rnnc_model *m, const rnnc_model_inputs *in,
                                      int64_t batch_size, rnnc_tensor **outs, int *n_outs)
{
    *n_outs = 0;
    if (!m || !in || !outs)
        return rnnc_fail(RNNC_E_ARG, "rnnc_model_predict_inputs: model, inputs and outs must not be NULL");
    RNNC_TRY(check_inputs(m, in, batch_size));
    const int64_t n = in->x[0]->shape.dim[0];
    rnnc_ctx *cx = rnnc_ctx_create();
    if (!cx)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_status s = RNNC_OK;
    for (int64_t r0 = 0; s == RNNC_OK && r0 < n; r0 += batch_size) {
        int64_t bs = n - r0 < batch_size ? n - r0 : batch_size;
        rnnc_tensor *views[2 * RNNC_MAX_IO + 1] = {NULL};
        rnnc_call_result res;
        s = call_batch(m, cx, in, r0, bs, views, &res);
        if (s == RNNC_OK)
            s = gather(&res, r0, bs, n, outs, n_outs);
        for (int i = 0; i < 2 * RNNC_MAX_IO + 1; i++)
            rnnc_tensor_destroy(views[i]);
        rnnc_ctx_clear(cx);
    }
    rnnc_ctx_destroy(cx);
    if (s != RNNC_OK) {
        for (int k = 0; k < *n_outs; k++)
            rnnc_tensor_destroy(outs[k]);
        *n_outs = 0;
    }
    return s;
}

rnnc_status rnnc_model_predict(rnnc_model *m, const rnnc_tensor *x, int64_t batch_size,
                               rnnc_tensor **out)
{
    if (!out)
        return rnnc_fail(RNNC_E_ARG, "rnnc_model_predict: out must not be NULL");
    *out = NULL;
    if (!m || !x)
        return rnnc_fail(RNNC_E_ARG, "rnnc_model_predict: model and x must not be NULL");
    if (rnnc_model_n_inputs(m) != 1 || rnnc_model_n_outputs(m) != 1)
        return rnnc_fail(RNNC_E_ARG, "model '%s' has %d inputs and %d outputs; rnnc_model_predict takes one of each, use rnnc_model_predict_inputs",
                         m->name, rnnc_model_n_inputs(m), rnnc_model_n_outputs(m));
    if (!m->built && !m->graph && x->shape.ndim >= 1) {
        rnnc_shape s = x->shape;
        s.dim[0] = -1;
        RNNC_TRY(rnnc_model_build(m, &s));
    }
    rnnc_model_inputs in;
    memset(&in, 0, sizeof in);
    in.n = 1;
    in.x[0] = x;
    rnnc_tensor *outs[RNNC_MAX_IO] = {NULL};
    int n_outs = 0;
    RNNC_TRY(rnnc_model_predict_inputs(m, &in, batch_size, outs, &n_outs));
    *out = outs[0];
    for (int k = 1; k < n_outs; k++)
        rnnc_tensor_destroy(outs[k]);
    return RNNC_OK;
}
