/* forward.c - batched inference over a whole array (forward.h). */
#include "apps/forward.h"

#include <string.h>

#include "framework/rnn.h"

/* Rows [r0, r0+n) of t as a view (t's first axis is the batch). */
static rnnc_status rows(const rnnc_tensor *t, int64_t r0, int64_t n, rnnc_tensor **out)
{
    rnnc_shape s = t->shape;
    size_t row = t->numel / (size_t)t->shape.dim[0];
    s.dim[0] = n;
    return rnnc_tensor_view((rnnc_tensor *)t, (size_t)r0 * row, &s, out);
}

/* The layers in order, the initial state to the first recurrent one. */
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

rnnc_status rnnc_app_forward(rnnc_model *m, const rnnc_tensor *x, const rnnc_tensor *mask,
                             const rnnc_tensor *initial_state, int64_t batch_size,
                             rnnc_tensor **outs, int *n_outs)
{
    *n_outs = 0;
    if (x->shape.ndim < 1 || x->shape.dim[0] < 1)
        return rnnc_fail(RNNC_E_SHAPE, "inputs x have no samples");
    if (batch_size < 1)
        return rnnc_fail(RNNC_E_ARG, "batch size must be >= 1, got %lld", (long long)batch_size);
    if (m->n_layers == 0)
        return rnnc_fail(RNNC_E_STATE, "model '%s' has no layers", m->name);
    int64_t n = x->shape.dim[0];
    if (mask && (mask->shape.ndim < 1 || mask->shape.dim[0] != n))
        return rnnc_fail(RNNC_E_SHAPE, "mask has %lld rows but x has %lld samples",
                         (long long)(mask->shape.ndim ? mask->shape.dim[0] : 0), (long long)n);
    if (initial_state && (initial_state->shape.ndim < 1 || initial_state->shape.dim[0] != n))
        return rnnc_fail(RNNC_E_SHAPE, "initial_state has %lld rows but x has %lld samples",
                         (long long)(initial_state->shape.ndim ? initial_state->shape.dim[0] : 0),
                         (long long)n);
    rnnc_ctx *cx = rnnc_ctx_create();
    if (!cx)
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    rnnc_ctx_set_grad_enabled(cx, false);
    rnnc_status s = RNNC_OK;
    int n_out = 0;
    for (int64_t r0 = 0; s == RNNC_OK && r0 < n; r0 += batch_size) {
        int64_t bs = n - r0 < batch_size ? n - r0 : batch_size;
        rnnc_tensor *xb = NULL, *mb = NULL, *sb = NULL;
        rnnc_call_result res;
        s = rows(x, r0, bs, &xb);
        if (s == RNNC_OK && mask)
            s = rows(mask, r0, bs, &mb);
        if (s == RNNC_OK && initial_state)
            s = rows(initial_state, r0, bs, &sb);
        if (s == RNNC_OK)
            s = call_layers(m, cx, xb, mb, sb, &res);
        if (s == RNNC_OK && r0 == 0) {
            n_out = res.n_outputs;
            for (int k = 0; s == RNNC_OK && k < n_out; k++) {
                rnnc_shape shape = res.outputs[k]->shape;
                if (shape.ndim < 1 || shape.dim[0] != bs) {
                    s = rnnc_fail(RNNC_E_SHAPE, "model output %d has no batch axis", k);
                    break;
                }
                shape.dim[0] = n;
                if ((s = rnnc_tensor_create(res.outputs[k]->dtype, &shape, &outs[k])) == RNNC_OK)
                    (*n_outs)++;
            }
        }
        for (int k = 0; s == RNNC_OK && k < n_out; k++) {
            const rnnc_tensor *o = res.outputs[k];
            size_t row = outs[k]->numel / (size_t)n;
            if (o->numel != row * (size_t)bs || o->dtype != outs[k]->dtype) {
                s = rnnc_fail(RNNC_E_SHAPE, "model output %d changed shape between batches", k);
                break;
            }
            memcpy((char *)outs[k]->data + (size_t)r0 * row * rnnc_dtype_size(o->dtype), o->data,
                   o->numel * rnnc_dtype_size(o->dtype));
        }
        rnnc_tensor_destroy(xb);
        rnnc_tensor_destroy(mb);
        rnnc_tensor_destroy(sb);
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
