/* rnn.c - the RNN base: call protocol, generic per-timestep loop, stateful
 * states, shape inference, config keys; and Keras's plain RNN(cell) class.
 *
 * Fused kernels (the GRU's) live with their layers and plug in through
 * rnnc_rnn_class.inner_loop; everything here is built from autograd ops. */
#include "framework/rnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framework/ops.h"

rnnc_rnn_options rnnc_rnn_options_default(void)
{
    rnnc_rnn_options o;
    memset(&o, 0, sizeof o);
    return o;
}

static const rnnc_rnn_cell_ops *cell_ops(const rnnc_layer *cell)
{
    return ((const rnnc_rnn_cell *)cell)->ops;
}

static const rnnc_rnn_class *rnn_class(const rnnc_rnn *rnn)
{
    return (const rnnc_rnn_class *)rnn->base.cls;
}

bool rnnc_layer_is_rnn(const rnnc_layer *l)
{
    return l && l->cls && l->cls->call == rnnc__rnn_call;
}

rnnc_rnn *rnnc_rnn_of(rnnc_layer *l) { return rnnc_layer_is_rnn(l) ? (rnnc_rnn *)l : NULL; }

rnnc_layer *rnnc_rnn_cell_of(const rnnc_layer *l)
{
    return rnnc_layer_is_rnn(l) ? ((const rnnc_rnn *)l)->cell : NULL;
}

rnnc_status rnnc_rnn_init(rnnc_rnn *rnn, const rnnc_rnn_class *cls, const char *name,
                          rnnc_dtype dtype, rnnc_layer *cell, const rnnc_rnn_options *opt)
{
    rnnc_status s = rnnc_layer_init(&rnn->base, &cls->layer, name, dtype);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(cell);
        return s;
    }
    if (!cell)
        return rnnc_fail(RNNC_E_ARG, "%s: the cell is NULL", cls->layer.class_name);
    const rnnc_rnn_cell_ops *ops = cell_ops(cell);
    if (!ops || !ops->n_states || !ops->state_size || !ops->output_size || !ops->step) {
        rnnc_layer_destroy(cell);
        return rnnc_fail(RNNC_E_ARG, "%s: layer '%s' (%s) is not a recurrent cell (no step function)",
                         cls->layer.class_name, cell->name, cell->cls->class_name);
    }
    RNNC_TRY(rnnc_layer_add_child(&rnn->base, "cell", cell));
    rnn->cell = cell;
    rnn->opt = opt ? *opt : rnnc_rnn_options_default();
    rnn->n_states = ops->n_states(cell);
    if (rnn->n_states < 1 || rnn->n_states > RNNC_RNN_MAX_STATES)
        return rnnc_fail(RNNC_E_ARG, "%s: a cell with %d states is not supported (1..%d)",
                         cls->layer.class_name, rnn->n_states, RNNC_RNN_MAX_STATES);
    for (int i = 0; i < rnn->n_states; i++)
        if (ops->state_size(cell, i) < 1)
            return rnnc_fail(RNNC_E_ARG, "%s: state %d of the cell has size %lld; state sizes must be positive integers",
                             cls->layer.class_name, i, (long long)ops->state_size(cell, i));
    return RNNC_OK;
}

void rnnc__rnn_destroy(rnnc_layer *l)
{
    rnnc_rnn *rnn = (rnnc_rnn *)l;
    for (int i = 0; i < RNNC_RNN_MAX_STATES; i++) {
        rnnc_tensor_destroy(rnn->states[i]);
        rnn->states[i] = NULL;
    }
}

/* ---- build and shape inference ----------------------------------------- */

static rnnc_status check_rank3(const rnnc_layer *l, const rnnc_shape *s)
{
    char b[160];
    if (s->ndim != 3)
        return rnnc_fail(RNNC_E_SHAPE,
                         "%s '%s': expected an input of rank 3 (batch, timesteps, features), found ndim=%d, full shape %s",
                         l->cls->class_name, l->name, s->ndim, rnnc_shape_str(s, b, sizeof b));
    return RNNC_OK;
}

rnnc_status rnnc__rnn_build(rnnc_layer *l, const rnnc_shape *input_shape)
{
    rnnc_rnn *rnn = (rnnc_rnn *)l;
    char b[160];
    RNNC_TRY(check_rank3(l, input_shape));
    const int64_t B = input_shape->dim[0], F = input_shape->dim[2];
    if (F < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': the features dimension must be known and positive to build, got shape %s",
                         l->cls->class_name, l->name, rnnc_shape_str(input_shape, b, sizeof b));
    if (rnn->opt.stateful && B < 1)
        return rnnc_fail(RNNC_E_SHAPE,
                         "%s '%s': a stateful RNN needs a static batch size (the first dimension of the input shape), got shape %s; give the model an input with a fixed batch size",
                         l->cls->class_name, l->name, rnnc_shape_str(input_shape, b, sizeof b));
    rnnc_shape step = RNNC_SHAPE(B, F);
    RNNC_TRY(rnnc_layer_build(rnn->cell, &step));
    if (rnn->opt.stateful) {
        const rnnc_rnn_cell_ops *ops = cell_ops(rnn->cell);
        for (int i = 0; i < rnn->n_states; i++) {
            rnnc_shape ss = RNNC_SHAPE(B, ops->state_size(rnn->cell, i));
            rnnc_tensor_destroy(rnn->states[i]);
            rnn->states[i] = NULL;
            RNNC_TRY(rnnc_tensor_create(l->dtype, &ss, &rnn->states[i]));
        }
    }
    return RNNC_OK;
}

rnnc_status rnnc__rnn_output_spec(const rnnc_layer *l, const rnnc_shape *input_shape,
                                  rnnc_output_spec *spec)
{
    const rnnc_rnn *rnn = (const rnnc_rnn *)l;
    const rnnc_rnn_cell_ops *ops = cell_ops(rnn->cell);
    RNNC_TRY(check_rank3(l, input_shape));
    const int64_t B = input_shape->dim[0], T = input_shape->dim[1];
    const int64_t O = ops->output_size(rnn->cell);
    spec->dtype = l->dtype;
    spec->n_outputs = 0;
    spec->shapes[spec->n_outputs++] = rnn->opt.return_sequences ? RNNC_SHAPE(B, T, O) : RNNC_SHAPE(B, O);
    if (rnn->opt.return_state)
        for (int i = 0; i < rnn->n_states; i++)
            spec->shapes[spec->n_outputs++] = RNNC_SHAPE(B, ops->state_size(rnn->cell, i));
    return RNNC_OK;
}

/* ---- states ------------------------------------------------------------ */

rnnc_status rnnc_rnn_get_initial_state(const rnnc_layer *l, rnnc_ctx *cx, int64_t batch,
                                       rnnc_tensor **states, int *n)
{
    if (!rnnc_layer_is_rnn(l))
        return rnnc_fail(RNNC_E_ARG, "get_initial_state: layer '%s' is not a recurrent layer",
                         l ? l->name : "(null)");
    const rnnc_rnn *rnn = (const rnnc_rnn *)l;
    if (batch < 1)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': get_initial_state: batch_size must be >= 1, got %lld",
                         l->cls->class_name, l->name, (long long)batch);
    for (int i = 0; i < rnn->n_states; i++) {
        rnnc_shape ss = RNNC_SHAPE(batch, cell_ops(rnn->cell)->state_size(rnn->cell, i));
        RNNC_TRY(rnnc_ctx_tensor(cx, l->dtype, &ss, &states[i]));
    }
    *n = rnn->n_states;
    return RNNC_OK;
}

rnnc_status rnnc_rnn_reset_state(rnnc_layer *l)
{
    if (!rnnc_layer_is_rnn(l))
        return rnnc_fail(RNNC_E_ARG, "reset_state: layer '%s' is not a recurrent layer",
                         l ? l->name : "(null)");
    rnnc_rnn *rnn = (rnnc_rnn *)l;
    for (int i = 0; i < rnn->n_states; i++)
        if (rnn->states[i])
            rnnc_tensor_fill(rnn->states[i], 0.0);
    return RNNC_OK;
}

rnnc_status rnnc_rnn_reset_state_to(rnnc_layer *l, const rnnc_tensor *const *values, int n)
{
    char a[160], b[160];
    if (!rnnc_layer_is_rnn(l))
        return rnnc_fail(RNNC_E_ARG, "reset_state: layer '%s' is not a recurrent layer",
                         l ? l->name : "(null)");
    rnnc_rnn *rnn = (rnnc_rnn *)l;
    if (!rnn->opt.stateful || !rnn->states[0])
        return rnnc_fail(RNNC_E_STATE, "%s '%s': reset_state with values needs a stateful, built layer (stateful=%s, built=%s)",
                         l->cls->class_name, l->name, rnn->opt.stateful ? "true" : "false",
                         l->built ? "true" : "false");
    if (n != rnn->n_states || !values)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': reset_state expects %d state value(s), got %d",
                         l->cls->class_name, l->name, rnn->n_states, n);
    for (int i = 0; i < n; i++) {
        if (!values[i] || !rnnc_shape_eq(&values[i]->shape, &rnn->states[i]->shape) ||
            !rnnc_dtype_is_float(values[i]->dtype))
            return rnnc_fail(RNNC_E_SHAPE, "%s '%s': reset_state: state %d must be a float tensor of shape %s, got %s",
                             l->cls->class_name, l->name, i,
                             rnnc_shape_str(&rnn->states[i]->shape, a, sizeof a),
                             values[i] ? rnnc_shape_str(&values[i]->shape, b, sizeof b) : "NULL");
    }
    for (int i = 0; i < n; i++)
        RNNC_TRY(rnnc_tensor_copy(rnn->states[i], values[i]));
    return RNNC_OK;
}

const rnnc_tensor *rnnc_rnn_state(const rnnc_layer *l, int i)
{
    if (!rnnc_layer_is_rnn(l) || i < 0 || i >= RNNC_RNN_MAX_STATES)
        return NULL;
    return ((const rnnc_rnn *)l)->states[i];
}

/* ---- the generic loop --------------------------------------------------- */

/* mask[:, t] as a uint8 (B, 1) column that broadcasts over the units. */
static rnnc_status mask_column(rnnc_ctx *cx, const rnnc_tensor *mask, int64_t t,
                               rnnc_tensor **out)
{
    const int64_t B = mask->shape.dim[0], T = mask->shape.dim[1];
    rnnc_shape s = RNNC_SHAPE(B, 1);
    RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &s, out));
    const uint8_t *m = mask->data;
    uint8_t *c = (*out)->data;
    for (int64_t b = 0; b < B; b++)
        c[b] = m[b * T + t] != 0;
    return RNNC_OK;
}

rnnc_status rnnc_rnn_generic_loop(rnnc_rnn *rnn, rnnc_ctx *cx, const rnnc_rnn_loop_args *a,
                                  rnnc_rnn_loop_result *res)
{
    rnnc_layer *cell = rnn->cell;
    const rnnc_rnn_cell_ops *ops = cell_ops(cell);
    rnnc_tensor *seq = a->sequences;
    const int64_t B = seq->shape.dim[0], T = seq->shape.dim[1], F = seq->shape.dim[2];
    const int64_t O = ops->output_size(cell);
    const int ns = rnn->n_states;
    rnnc_tensor *states[RNNC_RNN_MAX_STATES], *next[RNNC_RNN_MAX_STATES];
    rnnc_tensor *zeros = NULL, *y_prev = NULL, *y = NULL;
    rnnc_tensor **ys = NULL;
    rnnc_status s = RNNC_OK;

    memset(res, 0, sizeof *res);
    for (int i = 0; i < ns; i++)
        states[i] = a->initial_states[i];
    if (a->mask) {
        /* y_{-1} = 0: TensorFlow's rule for steps before a row's first valid one. */
        rnnc_shape os = RNNC_SHAPE(B, O);
        RNNC_TRY(rnnc_ctx_tensor(cx, seq->dtype, &os, &zeros));
        y_prev = zeros;
    }
    if (rnn->opt.return_sequences) {
        ys = malloc((size_t)T * sizeof *ys);
        if (!ys)
            return rnnc_fail(RNNC_E_NOMEM, "out of memory for %lld step outputs", (long long)T);
    }
    const rnnc_shape xs = RNNC_SHAPE(B, F);
    for (int64_t k = 0; k < T; k++) {
        const int64_t t = rnn->opt.go_backwards ? T - 1 - k : k;
        rnnc_tensor *x3, *x, *o;
        if ((s = rnnc_slice(cx, seq, 1, t, 1, &x3)) || (s = rnnc_reshape(cx, x3, &xs, &x)))
            goto done;
        if ((s = ops->step(cell, cx, x, states, a->training, &o, next)))
            goto done;
        if (a->mask) {
            rnnc_tensor *m;
            if ((s = mask_column(cx, a->mask, t, &m)))
                goto done;
            /* Masked rows keep their state and repeat the previous output. */
            for (int i = 0; i < ns; i++)
                if ((s = rnnc_where(cx, m, next[i], states[i], &next[i])))
                    goto done;
            rnnc_tensor *prev = rnn->opt.zero_output_for_mask ? zeros : y_prev;
            if ((s = rnnc_where(cx, m, o, prev, &y)))
                goto done;
        } else {
            y = o;
        }
        y_prev = y;
        if (ys)
            ys[k] = y;
        for (int i = 0; i < ns; i++)
            states[i] = next[i];
    }
    res->last_output = y;
    if (ys) {
        s = rnnc_stack(cx, ys, (int)T, 1, &res->outputs);
    } else {
        rnnc_shape os = RNNC_SHAPE(B, 1, O);
        s = rnnc_reshape(cx, y, &os, &res->outputs);
    }
    if (s)
        goto done;
    res->n_states = ns;
    for (int i = 0; i < ns; i++)
        res->states[i] = states[i];
done:
    free(ys);
    return s;
}

rnnc_status rnnc_rnn_inner_loop(rnnc_rnn *rnn, rnnc_ctx *cx, const rnnc_rnn_loop_args *a,
                                rnnc_rnn_loop_result *res)
{
    const rnnc_rnn_cell_ops *ops = cell_ops(rnn->cell);
    const rnnc_rnn_class *cls = rnn_class(rnn);
    rnnc_status s = RNNC_OK;
    bool handled = false;
    memset(res, 0, sizeof *res);
    if (!rnn->cell->built)
        return rnnc_fail(RNNC_E_STATE, "%s '%s': inner_loop before the layer was built (call it or rnnc_layer_build first)",
                         rnn->base.cls->class_name, rnn->base.name);
    if (ops->begin_call &&
        (s = ops->begin_call(rnn->cell, cx, a->sequences->shape.dim[0], a->training)))
        goto done;
    if (cls->inner_loop && (s = cls->inner_loop(rnn, cx, a, res, &handled)))
        goto done;
    if (!handled)
        s = rnnc_rnn_generic_loop(rnn, cx, a, res);
done:
    if (ops->end_call)
        ops->end_call(rnn->cell);
    return s;
}

/* ---- the call ------------------------------------------------------------ */

/* t in the layer dtype: t itself, or a ctx-owned converted copy when it does
 * not need a gradient (Keras converts inputs to the compute dtype). */
static rnnc_status as_layer_dtype(const rnnc_layer *l, rnnc_ctx *cx, rnnc_tensor *t,
                                  const char *what, rnnc_tensor **out)
{
    if (t->dtype == l->dtype) {
        *out = t;
        return RNNC_OK;
    }
    if (t->requires_grad || !(rnnc_dtype_is_float(t->dtype) || t->dtype == RNNC_I32 ||
                              t->dtype == RNNC_I64 || t->dtype == RNNC_U8))
        return rnnc_fail(RNNC_E_DTYPE, "%s '%s': %s is %s but the layer computes in %s (convert it first; a tensor that needs a gradient is not converted implicitly)",
                         l->cls->class_name, l->name, what, rnnc_dtype_name(t->dtype),
                         rnnc_dtype_name(l->dtype));
    RNNC_TRY(rnnc_ctx_tensor(cx, l->dtype, &t->shape, out));
    for (size_t i = 0; i < t->numel; i++)
        rnnc_tensor_set(*out, i, rnnc_tensor_get(t, i));
    return RNNC_OK;
}

rnnc_status rnnc__rnn_call(rnnc_layer *l, rnnc_ctx *cx, const rnnc_call_args *args,
                           rnnc_call_result *res)
{
    rnnc_rnn *rnn = (rnnc_rnn *)l;
    const rnnc_rnn_cell_ops *ops = cell_ops(rnn->cell);
    const char *cn = l->cls->class_name;
    char a1[160], a2[160];
    rnnc_rnn_loop_args la;
    rnnc_rnn_loop_result lr;

    memset(&la, 0, sizeof la);
    rnnc_tensor *seq = args->inputs[0];
    RNNC_TRY(check_rank3(l, &seq->shape));
    const int64_t B = seq->shape.dim[0], T = seq->shape.dim[1], F = seq->shape.dim[2];
    if (B < 1 || T < 1)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': the input needs at least one sample and one timestep, got shape %s",
                         cn, l->name, rnnc_shape_str(&seq->shape, a1, sizeof a1));
    if (l->has_build_shape && F != l->build_shape.dim[2])
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': the layer was built for %lld input features, got an input of shape %s",
                         cn, l->name, (long long)l->build_shape.dim[2],
                         rnnc_shape_str(&seq->shape, a1, sizeof a1));
    RNNC_TRY(as_layer_dtype(l, cx, seq, "the input", &la.sequences));

    /* Initial state: given, else the stored one (stateful), else zeros. */
    const int n_given = args->n_inputs - 1;
    if (n_given > 0 && n_given != rnn->n_states)
        return rnnc_fail(RNNC_E_ARG, "%s '%s': initial_state must hold %d tensor(s) (one per state), got %d",
                         cn, l->name, rnn->n_states, n_given);
    if (rnn->opt.stateful && rnn->states[0] && rnn->states[0]->shape.dim[0] != B)
        return rnnc_fail(RNNC_E_SHAPE, "%s '%s': this stateful layer expects batch size %lld (its stored state is %s), received an input of shape %s",
                         cn, l->name, (long long)rnn->states[0]->shape.dim[0],
                         rnnc_shape_str(&rnn->states[0]->shape, a1, sizeof a1),
                         rnnc_shape_str(&seq->shape, a2, sizeof a2));
    for (int i = 0; i < rnn->n_states; i++) {
        const int64_t S = ops->state_size(rnn->cell, i);
        if (n_given > 0) {
            rnnc_tensor *h = args->inputs[1 + i];
            rnnc_shape want = RNNC_SHAPE(B, S);
            if (!rnnc_shape_eq(&h->shape, &want))
                return rnnc_fail(RNNC_E_SHAPE, "%s '%s': initial_state[%d] must have shape %s (batch, state size), got %s",
                                 cn, l->name, i, rnnc_shape_str(&want, a1, sizeof a1),
                                 rnnc_shape_str(&h->shape, a2, sizeof a2));
            RNNC_TRY(as_layer_dtype(l, cx, h, "initial_state", &la.initial_states[i]));
        } else if (rnn->opt.stateful && rnn->states[i]) {
            /* A copy: the stored state is overwritten after the call, before
             * backward reads it. */
            RNNC_TRY(rnnc_tensor_clone(rnn->states[i], &la.initial_states[i]));
            RNNC_TRY(rnnc_ctx_adopt(cx, la.initial_states[i]));
        } else {
            rnnc_shape ss = RNNC_SHAPE(B, S);
            RNNC_TRY(rnnc_ctx_tensor(cx, l->dtype, &ss, &la.initial_states[i]));
        }
    }

    if (args->mask) {
        const rnnc_tensor *m = args->mask;
        rnnc_shape want = RNNC_SHAPE(B, T);
        if (!rnnc_shape_eq(&m->shape, &want))
            return rnnc_fail(RNNC_E_SHAPE, "%s '%s': mask must have shape %s (batch, timesteps), got %s",
                             cn, l->name, rnnc_shape_str(&want, a1, sizeof a1),
                             rnnc_shape_str(&m->shape, a2, sizeof a2));
        if (m->dtype == RNNC_U8) {
            la.mask = m;
        } else {
            /* Keras converts any mask to bool: non-zero = keep. */
            rnnc_tensor *mu;
            RNNC_TRY(rnnc_ctx_tensor(cx, RNNC_U8, &m->shape, &mu));
            for (size_t i = 0; i < m->numel; i++)
                ((uint8_t *)mu->data)[i] = rnnc_tensor_get(m, i) != 0.0;
            la.mask = mu;
        }
    }
    la.training = args->training;

    RNNC_TRY(rnnc_rnn_inner_loop(rnn, cx, &la, &lr));

    if (rnn->opt.stateful)
        for (int i = 0; i < rnn->n_states; i++)
            if (rnn->states[i])
                RNNC_TRY(rnnc_tensor_copy(rnn->states[i], lr.states[i]));

    res->n_outputs = 0;
    res->outputs[res->n_outputs++] = rnn->opt.return_sequences ? lr.outputs : lr.last_output;
    if (rnn->opt.return_state)
        for (int i = 0; i < lr.n_states; i++)
            res->outputs[res->n_outputs++] = lr.states[i];
    /* Keras v3.15.1 compute_mask: the input mask goes on with sequences only. */
    res->mask = rnn->opt.return_sequences ? (rnnc_tensor *)args->mask : NULL;
    return RNNC_OK;
}

/* ---- config -------------------------------------------------------------- */

rnnc_status rnnc__rnn_read_options(const rnnc_cfg *config, const char *what,
                                   rnnc_rnn_options *opt)
{
    *opt = rnnc_rnn_options_default();
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "return_sequences", false, &opt->return_sequences));
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "return_state", false, &opt->return_state));
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "go_backwards", false, &opt->go_backwards));
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "stateful", false, &opt->stateful));
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "unroll", false, &opt->unroll));
    RNNC_TRY(rnnc_cfg_read_bool(config, what, "zero_output_for_mask", false,
                                &opt->zero_output_for_mask));
    return RNNC_OK;
}

rnnc_status rnnc__rnn_get_config(const rnnc_layer *l, rnnc_cfg *c)
{
    const rnnc_rnn *rnn = (const rnnc_rnn *)l;
    const rnnc_rnn_class *cls = rnn_class(rnn);
    RNNC_TRY(rnnc_cfg_set_bool(c, "return_sequences", rnn->opt.return_sequences));
    RNNC_TRY(rnnc_cfg_set_bool(c, "return_state", rnn->opt.return_state));
    RNNC_TRY(rnnc_cfg_set_bool(c, "go_backwards", rnn->opt.go_backwards));
    RNNC_TRY(rnnc_cfg_set_bool(c, "stateful", rnn->opt.stateful));
    RNNC_TRY(rnnc_cfg_set_bool(c, "unroll", rnn->opt.unroll));
    RNNC_TRY(rnnc_cfg_set_bool(c, "zero_output_for_mask", rnn->opt.zero_output_for_mask));
    if (cls->get_config)
        return cls->get_config(l, c);
    rnnc_cfg *cell;
    RNNC_TRY(rnnc_layer_serialize(rnn->cell, &cell));
    return rnnc_cfg_set(c, "cell", cell);
}

/* ---- Keras's plain RNN(cell) ---------------------------------------------- */

static const rnnc_rnn_class rnn_plain_class = {
    .layer = {
        .class_name = "RNN",
        .module = "keras.layers",
        .build = rnnc__rnn_build,
        .call = rnnc__rnn_call,
        .compute_output_spec = rnnc__rnn_output_spec,
        .get_config = rnnc__rnn_get_config,
        .destroy = rnnc__rnn_destroy,
        .supports_masking = false, /* the call sets the output mask itself */
    },
    .inner_loop = NULL,
    .get_config = NULL,
};

rnnc_status rnnc_rnn_create(rnnc_layer *cell, const rnnc_rnn_options *opt, const char *name,
                            rnnc_layer **out)
{
    *out = NULL;
    rnnc_rnn *rnn = calloc(1, sizeof *rnn);
    if (!rnn) {
        rnnc_layer_destroy(cell);
        return rnnc_fail(RNNC_E_NOMEM, "out of memory");
    }
    rnnc_status s = rnnc_rnn_init(rnn, &rnn_plain_class, name, cell ? cell->dtype : RNNC_F32,
                                  cell, opt);
    if (s != RNNC_OK) {
        rnnc_layer_destroy(&rnn->base);
        return s;
    }
    *out = &rnn->base;
    return RNNC_OK;
}
